"""Spend suppliers resolved to the organisations of the contract data, never silently.

A spend supplier is a distinct (``supplier_name_normalised``, ``company_number``,
``charity_number``) of ``spend_payments`` (redacted payees are never resolved). Evidence, in
order, recorded in ``spend_supplier_matches`` with its ``method`` and ``score``:

1. ``exact_number``: the company number (zero-padded to 8 by the reader) equals an
   organisation's ``GB-COH`` identifier, or the charity number its ``GB-CHC`` (``SC…``:
   ``GB-SC``) identifier. Score 100.
2. ``register``: a number the supplier publishes belongs, in the bundled organisation
   registers (``spend.registers``), to a body with another number that is an
   organisation's identifier: a charity number → the same charity's company number. The
   ``evidence`` column names the register and both identifiers. Score 100.
3. ``name``: the normalised name (``identity.normalise_name``: case, punctuation, Ltd/Limited,
   &/and) equals an organisation's normalised name; a "t/a" or "trading as" name is tried
   whole, then each side of it. Score 100.
4. ``register`` by name: the exact normalised name is one registered body's, and that
   body's number is an organisation's identifier (``evidence``: "register: name = id").
5. ``fuzzy``: rapidfuzz ``token_sort_ratio`` of the normalised names at least
   ``FUZZY_CUTOFF`` (92 of 100: word order and a letter or two may differ, not a word),
   only for names of ``FUZZY_MIN_LENGTH`` characters or more, and only when every word has
   a counterpart in the other name (``words_agree``). Score as computed.

A name, register or fuzzy match is refused when both sides carry different company
numbers. Several organisations with one normalised name: the one with an identifier, then
the most supplier processes, then the smallest ``org_id``.

``resolve_suppliers`` runs at the end of every ``locality ingest`` that loaded something
while the store holds spend, and on demand. Exact, register and name matches are recomputed
each run (cheap); fuzzy matches already recorded are kept while the key has no better
match. Fuzzy scoring is the costly part, so it is remembered: ``spend_fuzzy_unmatched``
holds the (name, company number) pairs scored without a match against the organisation
names listed in ``spend_fuzzy_choices``. A later run scores a remembered pair again only
if an organisation name it comes close to (within the cutoff) was added, removed or
changed company number since, or if it had more close names than were checked and their
order moved; new pairs are scored in full. Candidates are found in one
``process.cdist`` pass (all cores) before the exact per-name scoring, so the result is the
same as scoring every name against every organisation.

What the registers say each supplier is (charity, mutual society, housing provider,
university...) and so whether it is a VCSE, with the register and identifier as evidence,
is written to ``spend_supplier_registers`` (``spend.registers.classify``).

A supplier's facts (``SUPPLIERS_SQL``), each from the first source that has it:

* scale (SME/large), postcode and local authority: the user's facts (``add_supplier_facts``,
  a CSV of name or company number → postcode, scale, VCSE; by company number, then by
  name), then the matched organisation's;
* VCSE: the user's facts, then the registers' classification, then the matched
  organisation's published flag. Registers come before the organisation's flag because a
  registration is a legal form, while a buyer's flag is one notice's opinion; user facts
  come first because they are the user's decision (to count a large housing association
  out, say). ``vcse_source`` says which source decided.

Facts apply to unresolved suppliers too. A supplier publishing only a charity number finds
company-number facts through the company number the registers link it to.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from rapidfuzz import fuzz, process

from locality.domain.identity import normalise_name, pad_company_number
from locality.domain.postcodes import normalise_postcode
from locality.domain.text import header_positions, parse_flag
from locality.enrich.classify import (
    RegisterIndex,
    classify,
    linked_org_keys,
    linked_org_keys_by_name,
    register_index,
)
from locality.reference import district
from locality.store import sql

FUZZY_CUTOFF = 92.0
FUZZY_MIN_LENGTH = 6
FUZZY_LIMIT = 5  # candidates over the cutoff checked per name, best first
WORD_CUTOFF = 85.0
_NOISE_WORDS = frozenset({"ltd", "plc", "llp", "company", "group", "amp", "uk"})
# The candidate pass scores a little under the cutoff: it must find a superset of what the
# exact scoring accepts, whatever the rounding of its float32 matrix.
_CANDIDATE_MARGIN = 0.5
_CDIST_CELLS = 4_000_000  # names x organisations scored per cdist call (16 MB of float32)
# Bump when the fuzzy rules change, so remembered "no match" results are scored again.
_FUZZY_RULES_VERSION = 1

# "t/a" and "trading as" after normalise_name ("/" became a space).
_TRADING_AS = re.compile(r"^(.+?) (?:t a|t as|trading as) (.+)$")

KEY = ("supplier_name_normalised", "company_number", "charity_number")
_KEY_JOIN = " AND ".join(f"m.{c} IS NOT DISTINCT FROM k.{c}" for c in KEY)
_REGISTER_JOIN = " AND ".join(f"r.{c} IS NOT DISTINCT FROM k.{c}" for c in KEY)

# One row per spend supplier key, with the organisation it resolved to and what the
# supplier is known to be (precedence in the module docstring). ``scale`` is
# sme | large | NULL (unknown).
SUPPLIERS_SQL = f"""
    SELECT k.supplier_name_normalised, k.company_number, k.charity_number,
           m.org_id, m.method, m.score,
           coalesce(fc.scale, fn.scale,
                    CASE WHEN o.scale IN ('sme', 'large') THEN o.scale END) AS scale,
           coalesce(fc.vcse, fn.vcse, r.vcse, o.vcse) AS vcse,
           CASE WHEN fc.vcse IS NOT NULL OR fn.vcse IS NOT NULL THEN 'fact'
                WHEN r.vcse IS NOT NULL THEN 'register'
                WHEN o.vcse IS NOT NULL THEN 'organisation' END AS vcse_source,
           m.evidence AS match_evidence,
           r.kind AS register_kind, r.register, r.identifier AS register_identifier,
           r.matched_by AS register_matched_by, r.linked_company_number,
           coalesce(fc.postcode, fn.postcode, o.postcode) AS postcode,
           coalesce(fc.la_registry_code, fn.la_registry_code, o.la_registry_code)
               AS la_registry_code,
           coalesce(fc.la_name, fn.la_name, o.la_name) AS la_name,
           (fc.source_file IS NOT NULL OR fn.source_file IS NOT NULL) AS has_facts
    FROM (SELECT DISTINCT {", ".join(KEY)} FROM spend_payments WHERE NOT redacted) k
    LEFT JOIN spend_supplier_matches m ON {_KEY_JOIN}
    LEFT JOIN organisations o ON o.org_id = m.org_id
    LEFT JOIN spend_supplier_registers r ON {_REGISTER_JOIN}
    LEFT JOIN supplier_facts fc
           ON fc.company_number = coalesce(k.company_number, r.linked_company_number)
    LEFT JOIN supplier_facts fn
           ON fn.name_normalised = k.supplier_name_normalised AND fn.company_number IS NULL
"""


class SupplierFactsError(ValueError):
    """A supplier facts CSV that cannot be used; the message names the file and line."""


@dataclass
class FuzzyCounts:
    """What fuzzy matching did this run, in (name, company number) pairs."""

    scored: int = 0  # scored against every organisation name
    rechecked: int = 0  # remembered, scored only against names added or changed since
    unchanged: int = 0  # remembered, nothing they come close to changed: not scored


@dataclass
class ResolveSummary:
    suppliers: int = 0
    matched: dict[str, int] = field(default_factory=dict)  # method -> suppliers
    registers: dict[str, int] = field(default_factory=dict)  # register -> suppliers classified
    vcse: dict[str, int] = field(default_factory=dict)  # vcse / not_vcse / unknown, by registers
    fuzzy: FuzzyCounts = field(default_factory=FuzzyCounts)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "suppliers": self.suppliers,
            "matched": dict(self.matched),
            "unmatched": self.suppliers - sum(self.matched.values()),
            "registers": dict(self.registers),
            "vcse_from_registers": dict(self.vcse),
            "fuzzy_cutoff": FUZZY_CUTOFF,
            "fuzzy_scored": self.fuzzy.scored,
            "fuzzy_rechecked": self.fuzzy.rechecked,
            "fuzzy_unchanged": self.fuzzy.unchanged,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Org:
    org_id: str
    name: str
    company_number: str | None


Key = tuple[str | None, str | None, str | None]  # name, company number, charity number
Pair = tuple[str, str | None]  # the part of a key fuzzy matching depends on
# A row of spend_supplier_matches: key, org_id, method, score, matched_name, evidence.
Match = tuple[str | None, str | None, str | None, str, str, float, str, str | None]


def name_variants(key: str) -> list[str]:
    """The normalised name, then each side of a "t/a" (trading as) in it."""
    variants = [key]
    match = _TRADING_AS.match(key)
    if match:
        variants += [match.group(1).strip(), match.group(2).strip()]
    return [v for v in variants if v]


def _organisations(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[tuple[str, str], _Org], dict[str, _Org]]:
    by_number: dict[tuple[str, str], _Org] = {}
    by_name: dict[str, _Org] = {}
    # Best first: organisations known by an identifier, then the most supplier processes.
    for org_id, scheme, identifier, name in sql.rows(
        con,
        """
        SELECT org_id, scheme, identifier, name FROM organisations
        ORDER BY identity_method = 'name', coalesce(supplier_processes, 0) DESC, org_id
        """,
    ):
        number = identifier if scheme == "GB-COH" else None
        org = _Org(org_id, name or "", number)
        if scheme and identifier:
            by_number.setdefault((scheme, identifier), org)
        key = normalise_name(name) if name else ""
        if key:
            by_name.setdefault(key, org)
    return by_number, by_name


def _number_keys(company: str | None, charity: str | None) -> list[tuple[str, str]]:
    keys = []
    if company:
        keys.append(("GB-COH", pad_company_number(company)))
    if charity:
        value = charity.strip().upper()
        keys.append(("GB-SC" if value.startswith("SC") else "GB-CHC", value))
    return keys


def _conflicts(company: str | None, org: _Org) -> bool:
    return bool(company and org.company_number and org.company_number != company)


def _known_match(
    key: Key,
    by_number: dict[tuple[str, str], _Org],
    by_name: dict[str, _Org],
    index: RegisterIndex | None,
) -> tuple[_Org, str, str | None] | None:
    """The organisation a supplier's numbers or exact name point to: (org, method, evidence)."""
    name, company, charity = key
    for number_key in _number_keys(company, charity):
        if number_key in by_number:
            return by_number[number_key], "exact_number", None
    if index is not None:
        for org_key, evidence in linked_org_keys(index, name, company, charity):
            org = by_number.get(org_key)
            if org is not None and not _conflicts(company, org):
                return org, "register", evidence
    if not name:
        return None
    variants = name_variants(name)
    for variant in variants:
        org = by_name.get(variant)
        if org is not None and not _conflicts(company, org):
            return org, "name", None
    if index is not None:
        for org_key, evidence in linked_org_keys_by_name(index, variants, company, charity):
            org = by_number.get(org_key)
            if org is not None and not _conflicts(company, org):
                return org, "register", evidence
    return None


def resolve_suppliers(
    con: duckdb.DuckDBPyConnection,
    *,
    fuzzy_cutoff: float = FUZZY_CUTOFF,
    registers: bool = True,
) -> ResolveSummary:
    """Match every spend supplier to an organisation where the evidence allows, classify it
    from the organisation registers (``registers=False`` leaves them out); record how."""
    started = time.perf_counter()
    summary = ResolveSummary()
    keys: list[Key] = [
        (name, company, charity)
        for name, company, charity in sql.rows(
            con,
            f"""
            SELECT DISTINCT {", ".join(KEY)} FROM spend_payments
            WHERE NOT redacted AND (supplier_name_normalised IS NOT NULL
                  OR company_number IS NOT NULL OR charity_number IS NOT NULL)
            """,
        )
    ]
    summary.suppliers = len(keys)
    by_number, by_name = _organisations(con)
    index = register_index() if registers else None
    known_ids = {org.org_id for org in by_name.values()} | {o.org_id for o in by_number.values()}
    earlier = {
        (name, company, charity): (org_id, score, matched)
        for name, company, charity, org_id, score, matched in sql.rows(
            con,
            f"SELECT {', '.join(KEY)}, org_id, score, matched_name "
            "FROM spend_supplier_matches WHERE method = 'fuzzy'",
        )
    }
    matches: list[Match] = []
    waiting: list[Key] = []
    for key in keys:
        found = _known_match(key, by_number, by_name, index)
        if found is not None:
            org, method, evidence = found
            matches.append((*key, org.org_id, method, 100.0, org.name, evidence))
            continue
        if not key[0]:
            continue
        kept = earlier.get(key)
        if kept is not None and kept[0] in known_ids:
            matches.append((*key, kept[0], "fuzzy", kept[1], kept[2], None))
        else:
            waiting.append(key)
    choices = list(by_name)
    pairs = list(dict.fromkeys((name or "", company) for name, company, _ in waiting))
    state = _FuzzyState.load(con, choices, by_name, fuzzy_cutoff)
    found_fuzzy, unmatched = _fuzzy_pairs(pairs, choices, by_name, fuzzy_cutoff, state)
    for name, company, charity in waiting:
        best = found_fuzzy.get((name or "", company))
        if best is not None:
            org, score = best
            matches.append((name, company, charity, org.org_id, "fuzzy", score, org.name, None))
    classified = _classify(keys, matches, index) if index is not None else []
    _replace_results(con, matches, classified, unmatched, state)
    for match in matches:
        summary.matched[match[4]] = summary.matched.get(match[4], 0) + 1
    for said in classified:
        summary.registers[said[5]] = summary.registers.get(said[5], 0) + 1
        status = {True: "vcse", False: "not_vcse", None: "unknown"}[said[4]]
        summary.vcse[status] = summary.vcse.get(status, 0) + 1
    summary.fuzzy = state.counts
    summary.seconds = time.perf_counter() - started
    return summary


def _classify(keys: list[Key], matches: list[Match], index: RegisterIndex) -> list[tuple[Any, ...]]:
    """``spend_supplier_registers`` rows: what the registers say each supplier is."""
    org_of = {row[:3]: row[3] for row in matches}
    rows: list[tuple[Any, ...]] = []
    for key in keys:
        name, company, charity = key
        found = classify(
            index,
            name,
            company,
            charity,
            org_of.get(key),
            variants=name_variants(name) if name else (),
        )
        if found is not None:
            rows.append(
                (
                    *key,
                    found.kind,
                    found.vcse,
                    found.register,
                    found.identifier,
                    found.matched_by,
                    found.linked_company_number,
                )
            )
    return rows


# Fuzzy matching ------------------------------------------------------------------------


@dataclass
class _FuzzyState:
    """What earlier runs scored (``spend_fuzzy_*``) against the organisation names now."""

    signature: str
    choices: list[tuple[str, str | None]]  # (name, company number), in scoring order
    unchanged_choices: bool  # the same names, company numbers and order as last time
    changed_names: list[str]  # names added, removed or with another company number
    remembered: dict[Pair, bool]  # pair scored without a match -> crowded
    counts: FuzzyCounts = field(default_factory=FuzzyCounts)
    unmatched: list[tuple[str, str | None, bool]] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        con: duckdb.DuckDBPyConnection,
        choices: list[str],
        by_name: dict[str, _Org],
        cutoff: float,
    ) -> _FuzzyState:
        signature = (
            f"v{_FUZZY_RULES_VERSION} cutoff={cutoff:g} min={FUZZY_MIN_LENGTH} "
            f"limit={FUZZY_LIMIT} word={WORD_CUTOFF:g} noise={','.join(sorted(_NOISE_WORDS))}"
        )
        current = [(c, by_name[c].company_number) for c in choices]
        previous = [
            (name, company)
            for name, company in sql.rows(
                con, "SELECT name, company_number FROM spend_fuzzy_choices ORDER BY position"
            )
        ]
        remembered = {
            (name, company): bool(crowded)
            for name, company, crowded in sql.rows(
                con,
                "SELECT supplier_name_normalised, company_number, crowded "
                "FROM spend_fuzzy_unmatched WHERE signature = ?",
                [signature],
            )
        }
        changed = sorted({name for name, _ in set(previous) ^ set(current)})
        return cls(signature, current, previous == current, changed, remembered)


def _fuzzy_pairs(
    pairs: list[Pair],
    choices: list[str],
    by_name: dict[str, _Org],
    cutoff: float,
    state: _FuzzyState,
) -> tuple[dict[Pair, tuple[_Org, float]], list[tuple[str, str | None, bool]]]:
    """Fuzzy matches of (name, company number) pairs; only pairs whose result may have
    changed since it was remembered are scored. Returns the matches and the pairs still
    without one (with their crowded flag), to remember."""
    fresh: list[Pair] = []
    recheck: list[Pair] = []
    for pair in pairs:
        crowded = state.remembered.get(pair)
        if crowded is None or (crowded and not state.unchanged_choices):
            fresh.append(pair)
        elif state.unchanged_choices or not state.changed_names:
            # Nothing it was scored against changed (at most the order, which only matters
            # to a crowded pair): still no match.
            state.unmatched.append((*pair, crowded))
            state.counts.unchanged += 1
        else:
            recheck.append(pair)
    state.counts.rechecked = len(recheck)
    near_changed = _candidate_counts([p[0] for p in recheck], state.changed_names, cutoff)
    for pair, near in zip(recheck, near_changed, strict=True):
        if near:
            fresh.append(pair)
        else:
            state.unmatched.append((*pair, False))
    state.counts.scored = len(fresh)
    found: dict[Pair, tuple[_Org, float]] = {}
    near_any = _candidate_counts([p[0] for p in fresh], choices, cutoff)
    for (name, company), near in zip(fresh, near_any, strict=True):
        best = _fuzzy(name, choices, by_name, company, cutoff) if near else None
        if best is not None:
            found[(name, company)] = best
        else:
            state.unmatched.append((name, company, near > FUZZY_LIMIT))
    return found, state.unmatched


def _candidate_counts(names: list[str], choices: list[str], cutoff: float) -> list[int]:
    """For each name, the most choices any of its variants scores near the cutoff with
    (a superset of what ``_fuzzy``'s ``process.extract`` finds): 0 means no match is
    possible, more than ``FUZZY_LIMIT`` that the best-first order decides."""
    counts = [0] * len(names)
    variants: list[str] = []
    owners: list[int] = []
    for i, name in enumerate(names):
        for variant in name_variants(name):
            if len(variant) >= FUZZY_MIN_LENGTH:
                variants.append(variant)
                owners.append(i)
    low = cutoff - _CANDIDATE_MARGIN
    if not variants or not choices:
        return counts
    if low <= 0:
        # Every score passes: nothing to prefilter (and a score of 0 would read as none).
        return [len(choices)] * len(names)
    step = max(1, _CDIST_CELLS // len(choices))
    for start in range(0, len(variants), step):
        matrix = process.cdist(
            variants[start : start + step],
            choices,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=low,
            workers=-1,
        )
        for offset, near in enumerate((matrix > 0).sum(axis=1).tolist()):
            owner = owners[start + offset]
            counts[owner] = max(counts[owner], int(near))
    return counts


def words_agree(left: str, right: str) -> bool:
    """Every word of each name has a counterpart in the other: the same word, a spelling
    within ``WORD_CUTOFF`` (``enviroment``/``environment``), or an abbreviation of three
    letters or more (``fin``/``finance``); legal and noise words (``ltd``, ``amp`` of an
    escaped ``&amp;``) need none. Keeps "Warrington Borough Council" from "Darlington
    Borough Council", which a whole-name score alone passes."""
    a = [w for w in left.split() if w not in _NOISE_WORDS]
    b = [w for w in right.split() if w not in _NOISE_WORDS]
    return _covered(a, b) and _covered(b, a)


def _covered(words: list[str], others: list[str]) -> bool:
    for word in words:
        if word in others:
            continue
        if not any(
            fuzz.ratio(word, other) >= WORD_CUTOFF
            or (
                min(len(word), len(other)) >= 3
                and (other.startswith(word) or word.startswith(other))
            )
            for other in others
        ):
            return False
    return True


def _fuzzy(
    name: str,
    choices: list[str],
    by_name: dict[str, _Org],
    company: str | None,
    cutoff: float,
) -> tuple[_Org, float] | None:
    best: tuple[_Org, float] | None = None
    for variant in name_variants(name):
        if len(variant) < FUZZY_MIN_LENGTH:
            continue
        for choice, score, _ in process.extract(
            variant,
            choices,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=cutoff,
            limit=FUZZY_LIMIT,
        ):
            if len(choice) < FUZZY_MIN_LENGTH:
                continue
            org = by_name[choice]
            if _conflicts(company, org) or not words_agree(variant, choice):
                continue
            if best is None or score > best[1]:
                best = (org, round(float(score), 2))
            break
    return best


# Writing the results ---------------------------------------------------------------------

_MATCH_COLUMNS = (*KEY, "org_id", "method", "score", "matched_name", "evidence")
_REGISTER_COLUMNS = (
    *KEY,
    "kind",
    "vcse",
    "register",
    "identifier",
    "matched_by",
    "linked_company_number",
)
_TYPES = {"score": pa.float64(), "vcse": pa.bool_(), "crowded": pa.bool_(), "position": pa.int32()}


def _arrow(names: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> pa.Table:
    rows = list(rows)
    return pa.table(
        {
            n: pa.array([row[i] for row in rows], type=_TYPES.get(n, pa.string()))
            for i, n in enumerate(names)
        }
    )


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    names: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
    *,
    stamped: bool = False,
) -> None:
    """Insert rows through Arrow; ``stamped`` sets ``resolved_at`` to now."""
    con.register("new_rows", _arrow(names, rows))
    try:
        columns = ", ".join(names)
        into, select = (
            (f"{columns}, resolved_at", f"{columns}, now()") if stamped else (columns, columns)
        )
        sql.run(con, f"INSERT INTO {table} ({into}) SELECT {select} FROM new_rows")
    finally:
        con.unregister("new_rows")


def _replace_results(
    con: duckdb.DuckDBPyConnection,
    matches: list[Match],
    classified: list[tuple[Any, ...]],
    unmatched: list[tuple[str, str | None, bool]],
    state: _FuzzyState,
) -> None:
    """Replace the matches, the classifications and the fuzzy memory in one transaction."""
    con.begin()
    try:
        sql.run(con, "DELETE FROM spend_supplier_matches")
        _insert(con, "spend_supplier_matches", _MATCH_COLUMNS, matches, stamped=True)
        sql.run(con, "DELETE FROM spend_supplier_registers")
        _insert(con, "spend_supplier_registers", _REGISTER_COLUMNS, classified, stamped=True)
        sql.run(con, "DELETE FROM spend_fuzzy_unmatched")
        _insert(
            con,
            "spend_fuzzy_unmatched",
            ("supplier_name_normalised", "company_number", "crowded", "signature"),
            ((*row, state.signature) for row in unmatched),
        )
        if not state.unchanged_choices:
            sql.run(con, "DELETE FROM spend_fuzzy_choices")
            _insert(
                con,
                "spend_fuzzy_choices",
                ("position", "name", "company_number"),
                ((i, name, company) for i, (name, company) in enumerate(state.choices)),
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def resolution_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How much spend reached a resolved supplier, by method; and how much the registers
    classified, by register (suppliers, net amount, VCSE or not)."""
    total_suppliers, total_amount, named_amount = sql.one(
        con,
        f"""
        SELECT (SELECT count(*) FROM (SELECT DISTINCT {", ".join(KEY)} FROM spend_payments
                                      WHERE NOT redacted)),
               coalesce(sum(amount_net), 0),
               coalesce(sum(amount_net) FILTER (WHERE NOT redacted), 0)
        FROM spend_payments
        """,
    )
    by_key = f"""
        k AS (
            SELECT {", ".join(KEY)}, sum(amount_net) AS amount
            FROM spend_payments WHERE NOT redacted GROUP BY ALL
        )
    """
    by_method = {
        method: {"suppliers": int(n), "amount": round(float(amount), 2)}
        for method, n, amount in sql.rows(
            con,
            f"""
            WITH {by_key}
            SELECT m.method, count(*), sum(k.amount)
            FROM k JOIN spend_supplier_matches m ON {_KEY_JOIN}
            GROUP BY ALL ORDER BY 1
            """,
        )
    }
    by_register = {
        register: {
            "suppliers": int(n),
            "amount": round(float(amount), 2),
            "vcse": int(vcse),
            "not_vcse": int(not_vcse),
        }
        for register, n, amount, vcse, not_vcse in sql.rows(
            con,
            f"""
            WITH {by_key}
            SELECT r.register, count(*), sum(k.amount),
                   count(*) FILTER (WHERE r.vcse), count(*) FILTER (WHERE NOT r.vcse)
            FROM k JOIN spend_supplier_registers r ON {_REGISTER_JOIN}
            GROUP BY ALL ORDER BY 1
            """,
        )
    }
    resolved = sum(v["amount"] for v in by_method.values())
    return {
        "suppliers": int(total_suppliers),
        "resolved_suppliers": sum(v["suppliers"] for v in by_method.values()),
        "total_amount": round(float(total_amount), 2),
        "named_amount": round(float(named_amount), 2),
        "resolved_amount": round(resolved, 2),
        "resolved_share": resolved / float(total_amount) if total_amount else None,
        "by_method": by_method,
        "by_register": by_register,
        "fuzzy_cutoff": FUZZY_CUTOFF,
    }


def supplier_evidence(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    """Every spend supplier key with ``name``'s normalised name, biggest net spend first:
    what ``SUPPLIERS_SQL`` knows of it (match and its evidence, the registers' kind,
    register, identifier and how it was found, VCSE and its source), its payments and
    net amount. For ``locality suppliers show``."""
    key = normalise_name(name)
    if not key:
        return []
    join = " AND ".join(f"s.{c} IS NOT DISTINCT FROM p.{c}" for c in KEY)
    result = con.execute(
        f"""
        WITH s AS ({SUPPLIERS_SQL}),
        p AS (
            SELECT {", ".join(KEY)}, count(*) AS payments, round(sum(amount_net), 2) AS amount
            FROM spend_payments WHERE NOT redacted AND supplier_name_normalised = ?
            GROUP BY ALL
        )
        SELECT s.*, p.payments, p.amount FROM p JOIN s ON {join}
        ORDER BY p.amount DESC, s.company_number NULLS LAST, s.charity_number NULLS LAST
        """,
        [key],
    )
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


# Supplier facts CSV ------------------------------------------------------------------

_FACT_COLUMNS = {
    "name": ("name", "suppliername", "supplier"),
    "company_number": ("companynumber", "companyno", "company", "companieshousenumber"),
    "postcode": ("postcode", "postalcode"),
    "scale": ("scale", "size", "sme"),
    "vcse": ("vcse", "isvcse", "charity"),
}
_SCALES = {"sme": "sme", "small": "sme", "micro": "sme", "medium": "sme", "large": "large"}


def read_supplier_facts(path: Path) -> list[tuple[Any, ...]]:
    """Rows of a facts CSV as ``supplier_facts`` rows; errors name the file and line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("cp1252", errors="replace")
    except OSError as exc:
        raise SupplierFactsError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise SupplierFactsError(f"{path}: empty file")
    index = header_positions(header, _FACT_COLUMNS)
    if "name" not in index and "company_number" not in index:
        raise SupplierFactsError(
            f"{path}: needs a name or company_number column "
            "(and any of postcode, scale, vcse); found: " + ", ".join(header)
        )
    rows: list[tuple[Any, ...]] = []
    source = str(path.resolve())
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(column: str, cells: list[str] = cells) -> str:
            i = index.get(column)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        number = pad_company_number(cell("company_number")) or None
        name_key = normalise_name(cell("name")) or None
        if number is None and name_key is None:
            raise SupplierFactsError(f"{path}:{line}: no name or company number")
        postcode = None
        la: tuple[str | None, str | None, str | None] = (None, None, None)
        if cell("postcode"):
            postcode = normalise_postcode(cell("postcode"))
            if postcode is None:
                raise SupplierFactsError(f"{path}:{line}: not a UK postcode: {cell('postcode')!r}")
            found = district(postcode.partition(" ")[0])
            if found is not None:
                la = (found.la_code, found.la_name, found.la_registry_code)
        scale = None
        if cell("scale"):
            scale = _SCALES.get(cell("scale").casefold())
            if scale is None:
                raise SupplierFactsError(
                    f"{path}:{line}: scale {cell('scale')!r}: write sme, micro, small, "
                    "medium or large"
                )
        vcse = None
        if cell("vcse"):
            vcse = parse_flag(cell("vcse"))
            if vcse is None:
                raise SupplierFactsError(f"{path}:{line}: vcse {cell('vcse')!r}: write yes or no")
        rows.append(
            (number, None if number else name_key, postcode, scale, vcse, *la, source, line)
        )
    return rows


def add_supplier_facts(con: duckdb.DuckDBPyConnection, paths: Iterable[Path]) -> int:
    """Load facts CSVs: a later fact for the same company number or name replaces the earlier."""
    rows = [row for path in paths for row in read_supplier_facts(Path(path))]
    con.begin()
    try:
        for row in rows:
            sql.run(
                con,
                "DELETE FROM supplier_facts WHERE company_number IS NOT DISTINCT FROM ? "
                "AND name_normalised IS NOT DISTINCT FROM ?",
                [row[0], row[1]],
            )
            sql.run(con, "INSERT INTO supplier_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return len(rows)
