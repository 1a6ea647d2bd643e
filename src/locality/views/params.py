"""The parameters every interface takes, checked once: the CLI, the dashboard's API and the
report call these, so a rule and its error message exist in one place, and the CLI's CSV of
a section equals the API's.

``NotFound`` and ``BadRequest`` are the view layer's two refusals: the web answers them with
404 and 400, the CLI with an error naming the option. Light on purpose (no DuckDB, no Ibis):
the CLI imports it before any command runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from locality.domain.thresholds import spend_threshold as check_spend_threshold
from locality.reference import cpv_themes


class NotFound(LookupError):
    """No such place, organisation or process; ``suggestions`` are near ones."""

    def __init__(self, message: str, suggestions: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = [dict(s) for s in suggestions]


class BadRequest(ValueError):
    """A query parameter the library refuses; the message says what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_where(items: Iterable[str]) -> dict[str, list[str]]:
    """``COLUMN=VALUE`` strings to filters (``--where`` of the CLI, ``where`` of the API); a
    column given twice keeps both values (either matches)."""
    filters: dict[str, list[str]] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise BadRequest(f"where {item!r}: write COLUMN=VALUE, e.g. region=London")
        filters.setdefault(column.strip().replace("-", "_"), []).append(value.strip())
    return filters


# --- council spend (locality place, /place/NAME/spend) ---------------------------------------


def spend_threshold(min_amount: float | None, like_for_like: bool) -> float | None:
    """``min_amount`` checked by the one rule (``locality.domain.thresholds``), refused with
    ``BadRequest`` saying why."""
    try:
        return check_spend_threshold(min_amount, like_for_like)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


# The contract themes a page's theme may name: each CPV division's theme, and processes of
# no known division.
THEMES = [*sorted({t.theme for t in cpv_themes().values()}), "unclassified"]

# ``locality place --section NAME`` -> the key of ``place_view``'s result.
SPEND_SECTIONS = {
    "bodies": "bodies",
    "years": "years",
    "months": "months",
    "themes": "themes",
    "theme-years": "theme_years",
    "unmapped": "unmapped",
    "suppliers": "suppliers",
    "transfers": "transfers",
    "transfer-payees": "transfer_payees",
    "coverage": "coverage",
    "contracted": "contracted_vs_paid",
}
# The columns of each section (a CSV has its header even when the place has no spend);
# tests/test_web_spend.py checks them against ``place_view``'s rows.
SPEND_SECTION_COLUMNS = {
    "bodies": (
        "code", "body", "files", "payments", "amount", "transfer_amount", "first_date",
        "last_date", "published_threshold",
    ),
    "coverage": (
        "code", "body", "files", "payments", "first_month", "last_month", "months_covered",
        "missing_months", "gaps",
    ),
    "years": ("financial_year", "code", "body", "payments", "amount"),
    "months": ("month", "code", "body", "payments", "amount"),
    "themes": (
        "theme", "payments", "amount", "share_of_total", "by_service_area",
        "distinct_suppliers", "hhi", "top1_share", "top3_share", "redacted_amount",
        "transfer_amount",
    ),
    "theme_years": ("theme", "financial_year", "payments", "amount"),
    "unmapped": ("service_area", "expense_type", "rule", "payments", "amount"),
    "suppliers": (
        "supplier_key", "supplier_name", "org_id", "match_method", "scale", "vcse",
        "supplier_la", "bodies", "body_codes", "payments", "amount",
    ),
    "transfers": (
        "kind", "label", "payments", "payees", "amount", "share_of_total",
        "within_place_amount",
    ),
    "transfer_payees": (
        "payee_key", "payee", "kind", "rule", "council_code", "within_place", "bodies",
        "body_codes", "payments", "amount",
    ),
    "contracted_vs_paid": (
        "code", "council", "financial_year", "awards", "contracted", "payments", "paid",
        "contracted_to_paid",
    ),
}  # fmt: skip


def spend_section(view: Mapping[str, Any], section: str) -> tuple[list[str], list[dict[str, Any]]]:
    """One section of a spend view as CSV columns and rows (lists joined by ";", as the CLI)."""
    key = SPEND_SECTIONS.get(section)
    if key is None:
        raise BadRequest(f"unknown section {section!r}; choose one of: {', '.join(SPEND_SECTIONS)}")
    rows = [
        {k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
        for row in view[key]
    ]
    columns = list(rows[0]) if rows else list(SPEND_SECTION_COLUMNS[key])
    return columns, rows
