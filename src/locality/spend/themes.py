"""Themes of council spend: each payment in one of the themes contracts are read in.

Contracts get their theme from their CPV division (``reference/cpv-themes.csv``). Spend
files carry no CPV code, only what the Local Government Transparency Code 2015 asks for:
an *expenditure category* (``expense_type``: "Electricity", "Agency Staff Provision") and
the *service area* that spent it ("Adult Social Care"). Rules map those words to the same
themes, so that paid and contracted money can be read side by side.

A rule is one row of a CSV file (``reference/spend-themes.csv``, or a user's
``--spend-themes FILE``) with the columns ``field``, ``pattern``, ``theme`` and ``why``:

* ``field``: ``expense_type`` or ``service_area``;
* ``pattern``: a regular expression (Python ``re``), searched in the field's text after
  ``normalise_label`` (lower case, "&" as "and", every other run of punctuation or spaces
  as one space), case not mattering, so ``\\brents?\\b`` matches "RENTS" and "Rent & Rates";
* ``theme``: one of the contract themes, or ``unmapped``, which says "known, and not a
  purchase in any theme" (levies, precepts, loans, tax) and stops any later rule, so a
  levy paid from the highways budget is not counted as construction;
* ``why``: the reason, for people (required: a rule nobody can explain cannot be checked).

Rows whose ``field`` starts with ``#`` are comments; blank rows are skipped.

The expense type says what was bought and the service area only who bought it, so every
``expense_type`` rule is tried before any ``service_area`` rule; within a field the first
matching rule wins, a user's rules before the bundled ones. A payment no rule matches is
``unmapped`` too: the place view always shows that line.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from locality.reference import cpv_themes, reference_path

SPEND_THEMES = "spend-themes.csv"
UNMAPPED = "unmapped"
# Tried in this order: what was bought, then who bought it.
FIELDS = ("expense_type", "service_area")
COLUMNS = ("field", "pattern", "theme", "why")

_PUNCTUATION = re.compile(r"[^0-9a-z]+")


class SpendThemesError(ValueError):
    """A spend themes file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class ThemeRule:
    field: str
    pattern: re.Pattern[str]
    theme: str
    why: str
    source: str  # "file:line", so a surprising theme can be traced to its rule


@dataclass(frozen=True)
class ThemeMatch:
    theme: str
    field: str | None  # the field whose rule decided, None when no rule matched
    rule: ThemeRule | None


@lru_cache(maxsize=1)
def contract_themes() -> frozenset[str]:
    """The themes of the contract metrics (the ``theme`` of ``cpv-themes.csv``)."""
    return frozenset(entry.theme for entry in cpv_themes().values())


def normalise_label(text: str | None) -> str:
    """Lower case, "&" read as "and", punctuation and spacing reduced to single spaces.

    Councils write one category many ways ("Rent & Rates", "RENT AND RATES",
    "Children´s"), so rules are written against this form only.
    """
    if not text:
        return ""
    lowered = text.casefold().replace("&", " and ")
    return _PUNCTUATION.sub(" ", lowered).strip()


def parse_rules(text: str, source: str) -> list[ThemeRule]:
    """The rules of a themes CSV's text; ``source`` names the file in every error."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().casefold() for h in header[:4]] != list(COLUMNS):
        raise SpendThemesError(
            f"{source}:1: expected the header {','.join(COLUMNS)}, found {','.join(header or [])}"
        )
    rules = []
    for cells in reader:
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue
        rules.append(_rule(cells, f"{source}:{reader.line_num}"))
    return rules


def _rule(cells: Sequence[str], where: str) -> ThemeRule:
    if len(cells) != len(COLUMNS):
        raise SpendThemesError(
            f"{where}: expected {len(COLUMNS)} cells ({', '.join(COLUMNS)}), found {len(cells)}"
            " (quote a pattern or reason that holds a comma)"
        )
    field, pattern, theme, why = (cell.strip() for cell in cells)
    if field not in FIELDS:
        raise SpendThemesError(f"{where}: field must be one of {', '.join(FIELDS)}, not {field!r}")
    if not pattern:
        raise SpendThemesError(f"{where}: empty pattern")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)  # labels are lower case: so is "NHS"
    except re.error as exc:
        raise SpendThemesError(
            f"{where}: pattern {pattern!r} is not a regular expression ({exc})"
        ) from exc
    known = sorted(contract_themes() | {UNMAPPED})
    if theme not in known:
        close = difflib.get_close_matches(theme, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from: {', '.join(known)}"
        raise SpendThemesError(f"{where}: unknown theme {theme!r}{hint}")
    if not why:
        raise SpendThemesError(f"{where}: say why in the why column")
    return ThemeRule(field, compiled, theme, why, where)


def read_rules(path: Path) -> list[ThemeRule]:
    """The rules of a themes CSV file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpendThemesError(f"{path}: cannot read spend themes ({exc})") from exc
    return parse_rules(text, str(path))


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[ThemeRule, ...]:
    """The bundled rules (``reference/spend-themes.csv``)."""
    path = reference_path(SPEND_THEMES)
    return tuple(parse_rules(path.read_text(encoding="utf-8"), SPEND_THEMES))


def load_rules(path: Path | None = None) -> tuple[ThemeRule, ...]:
    """A user's rules (tried first), then the bundled ones."""
    extra = read_rules(path) if path is not None else []
    return (*extra, *builtin_rules())


def theme_for(
    expense_type: str | None, service_area: str | None, rules: Sequence[ThemeRule]
) -> ThemeMatch:
    """The theme of a payment: the first expense type rule that matches, else the first
    service area rule, else ``unmapped``."""
    labels = {"expense_type": expense_type, "service_area": service_area}
    for field in FIELDS:
        label = normalise_label(labels[field])
        if not label:
            continue
        for rule in rules:
            if rule.field == field and rule.pattern.search(label):
                return ThemeMatch(rule.theme, field, rule)
    return ThemeMatch(UNMAPPED, None, None)


def theme_table(
    labels: Iterable[tuple[str | None, str | None]], rules: Sequence[ThemeRule]
) -> list[dict[str, str | None]]:
    """One row per (service area, expense type) as published: its theme, the field that
    decided it (``expense_type``, ``service_area`` or None) and the rule's ``file:line``."""
    rows = []
    for service_area, expense_type in labels:
        match = theme_for(expense_type, service_area, rules)
        rows.append(
            {
                "service_area": service_area,
                "expense_type": expense_type,
                "theme": match.theme,
                "decided_by": match.field,
                "rule": match.rule.source if match.rule else None,
            }
        )
    return rows
