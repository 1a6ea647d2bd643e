"""Council spend payees that are other public bodies: their payments are transfers, not
purchases from suppliers.

The Local Government Transparency Code 2015 asks councils to publish every payment over
£500 to *any* payee, so the returns mix purchases with money passed to other public bodies:
the business-rates share paid to the Secretary of State, levies to a combined authority,
precepts handed to parish councils, pooled budgets with the NHS, pension contributions, tax.
None of these payees is a firm or a voluntary organisation a council could choose instead,
so counting them as suppliers would put the Secretary of State at the top of Leeds' supplier
ranking and hide a place's SME and VCSE shares behind money that never reached a market.
Payments between the bodies of one place are also counted again when the body receiving
them spends them.

A payee is classified from its name alone, as published, after ``normalise_payee`` (lower
case, "&" read as "and", every run of punctuation or spaces one space):

1. the rules of ``reference/spend-transfers.csv`` (``pattern,kind,note``), first match wins.
   Rows of kind ``not_transfer`` come first: names that carry a public body's words and are
   not one (a company, "... County Council Services Ltd"; a charity, "Manchester Uni NHS FT
   Charity"; a club, "Greater Manchester Police Sports & Social");
2. else a council the bundled local-authority register knows (``council_named``): a
   council's name with its type after it ("Wakefield Council", "Stockport Metropolitan
   Borough Coun", cut short as files cut it) or before it ("City of Salford"). A bare place
   name is not enough: "Manchester City" and "Bradford City" are football clubs.

Kinds (``KINDS``): other councils, parish and town councils, combined authorities (and their
transport executives), police, fire and rescue, NHS bodies, central government, and public
service pension funds. NHS trusts count as transfers as well as commissioners: they are public
bodies, paid through pooled budgets (section 75 of the NHS Act 2006, the Better Care Fund) or
as public-public arrangements outside the procurement rules (regulation 12 of the Public
Contracts Regulations 2015), and they are neither the SMEs nor the VCSEs the shares measure.
Pension funds count too: the Local Government Pension Scheme funds are run by councils, the
teachers' and NHS schemes by government, and employer contributions are pay, not purchases.
Universities and academy trusts are not classified: they are charities in law and stay
suppliers (``spend.registers`` reads them as anchor institutions).

Nothing is stored: ``locality.spend.place`` classifies the distinct payee names of a place's
payments when a view is made, so changing a rule needs no re-ingest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from locality.reference import (
    SPEND_TRANSFERS,
    local_authority_code_for_name,
    spend_transfer_rules,
)

NOT_TRANSFER = "not_transfer"
# The kinds of public body, with the words a page or table shows them by.
KIND_LABELS = {
    "council": "other councils and their joint authorities",
    "parish_council": "parish and town councils",
    "combined_authority": "combined authorities and their transport bodies",
    "police": "police and crime commissioners and police forces",
    "fire": "fire and rescue authorities",
    "nhs": "NHS bodies",
    "central_government": "central government and its agencies",
    "pension_fund": "public service pension funds",
}
KINDS = tuple(KIND_LABELS)
REGISTER_RULE = "local-authority register"

_PUNCTUATION = re.compile(r"[^0-9a-z]+")
# Words that say a name is a council's when they follow a council's name: whole, cut short
# as fixed-width exports cut them ("Borough Counc", "Metropolitan Borough Corpora"), or
# abbreviated (MBC, MDC).
_COUNCIL_WORDS = (("council", 4), ("metropolitan", 5), ("borough", 4), ("corporation", 5))
_COUNCIL_ABBREVIATIONS = frozenset({"mbc", "mdc", "bc", "dc", "cncl"})
# Words a council's name may also carry after it that say nothing alone: "Leeds City" or
# "Durham County" is as likely a football or cricket club as the council.
_WEAK_WORDS = frozenset({"city", "county", "district", "of", "the"})
# Forms that put the council's type first; any of them is evidence, when what follows is
# exactly a council's name ("City of Salford", "London Borough of Hounslow").
_COUNCIL_PREFIXES = (
    "council of the city of",
    "city and county of",
    "london borough of",
    "royal borough of",
    "metropolitan borough of",
    "borough of",
    "county of",
    "city of",
)


class TransferRulesError(ValueError):
    """A transfer rule that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class TransferRule:
    pattern: re.Pattern[str]
    kind: str  # one of KINDS, or NOT_TRANSFER
    note: str
    source: str  # "spend-transfers.csv:LINE"


@dataclass(frozen=True)
class TransferMatch:
    """What decided a payee: ``kind`` (one of ``KINDS``, or ``NOT_TRANSFER`` when an
    exception rule says it is a supplier), the rule (``file:line`` or the register) and,
    for a council the register knows, its registry code."""

    kind: str
    rule: str
    council_code: str | None = None

    @property
    def is_transfer(self) -> bool:
        return self.kind != NOT_TRANSFER


def normalise_payee(name: str | None) -> str:
    """Lower case, "&" read as "and", punctuation and spacing reduced to single spaces: the
    text the rules are written against ("H.M. Revenue & Customs" → "h m revenue and
    customs")."""
    if not name:
        return ""
    return _PUNCTUATION.sub(" ", name.casefold().replace("&", " and ")).strip()


def parse_rules(rows: Iterable[tuple[int, str, str, str]], source: str) -> list[TransferRule]:
    """Rules from (line, pattern, kind, note) rows; ``source`` names the file in errors."""
    rules = []
    for line, pattern, kind, note in rows:
        where = f"{source}:{line}"
        if kind not in KINDS and kind != NOT_TRANSFER:
            choices = ", ".join((*KINDS, NOT_TRANSFER))
            raise TransferRulesError(f"{where}: unknown kind {kind!r}; choose from: {choices}")
        if not pattern:
            raise TransferRulesError(f"{where}: empty pattern")
        if not note:
            raise TransferRulesError(f"{where}: say why in the note column")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise TransferRulesError(
                f"{where}: pattern {pattern!r} is not a regular expression ({exc})"
            ) from exc
        rules.append(TransferRule(compiled, kind, note, where))
    return rules


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[TransferRule, ...]:
    """The bundled rules (``reference/spend-transfers.csv``), in file order."""
    rows = ((r.line, r.pattern, r.kind, r.note) for r in spend_transfer_rules())
    return tuple(parse_rules(rows, SPEND_TRANSFERS))


def _is_council_word(token: str) -> bool:
    if token in _COUNCIL_ABBREVIATIONS:
        return True
    return any(len(token) >= least and word.startswith(token) for word, least in _COUNCIL_WORDS)


def council_named(text: str) -> str | None:
    """The registry code of the council a normalised payee name names, else None.

    The name less a prefix of ``_COUNCIL_PREFIXES`` and less the council words and weak
    words after it must be a name of the local-authority register
    (``locality.reference.local_authority_code_for_name``), and a prefix or at least one
    council word must have been taken off: "bolton council", "tameside metropolitan",
    "city of bradford mdc", "city of salford"; not "leeds city", "bradford", "leeds city
    council int" (that one the rules catch)."""
    tokens = text.split()
    evidence = False
    for prefix in _COUNCIL_PREFIXES:
        if text.startswith(prefix + " "):
            tokens = tokens[len(prefix.split()) :]
            evidence = True
            break
    while tokens and (_is_council_word(tokens[-1]) or tokens[-1] in _WEAK_WORDS):
        evidence = evidence or _is_council_word(tokens[-1])
        tokens.pop()
    if not evidence or not tokens:
        return None
    return local_authority_code_for_name(" ".join(tokens))


def _classify_text(text: str, rules: Sequence[TransferRule]) -> TransferMatch | None:
    for rule in rules:
        if rule.pattern.search(text):
            code = council_named(text) if rule.kind == "council" else None
            return TransferMatch(rule.kind, rule.source, code)
    code = council_named(text)
    return TransferMatch("council", REGISTER_RULE, code) if code else None


# The place view classifies every distinct payee of a place (38,000 names in the shared
# files, 0.6 s of regular expressions), and the dashboard makes many views in one process:
# each name is classified once by the bundled rules.
@lru_cache(maxsize=1 << 17)
def _classify_builtin(text: str) -> TransferMatch | None:
    return _classify_text(text, builtin_rules())


def classify_payee(
    name: str | None, rules: Sequence[TransferRule] | None = None
) -> TransferMatch | None:
    """What decides a payee's name: the first rule that matches (an exception rule gives
    kind ``NOT_TRANSFER``), else a council the register knows, else None (a supplier).
    ``rules`` default to the bundled ones."""
    text = normalise_payee(name)
    if not text:
        return None
    return _classify_builtin(text) if rules is None else _classify_text(text, rules)


def transfer_kind(name: str | None, rules: Sequence[TransferRule] | None = None) -> str | None:
    """The kind of public body a payee is (one of ``KINDS``), None for a supplier."""
    match = classify_payee(name, rules)
    return match.kind if match is not None and match.is_transfer else None


def transfer_table(
    names: Iterable[str | None], rules: Sequence[TransferRule] | None = None
) -> list[dict[str, str | None]]:
    """One row per name that is a transfer payee: the name as given, its ``kind``, the
    ``rule`` that decided and the ``council_code`` where the register names the council.
    Names of suppliers are left out, so the table stays as small as the transfers."""
    rows = []
    for name in names:
        match = classify_payee(name, rules)
        if match is not None and match.is_transfer:
            rows.append(
                {
                    "name": name,
                    "kind": match.kind,
                    "rule": match.rule,
                    "council_code": match.council_code,
                }
            )
    return rows
