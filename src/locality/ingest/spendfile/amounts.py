"""The values of a spend file's cells: amounts (``£4,490.00``, ``(1,234.50)``, ``12.00-``),
dates as UK councils write them, company and charity numbers; and the amount rule again in
SQL (:func:`amounts_sql`), which parses whole chunks in DuckDB exactly as
:func:`parse_amount` parses one cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from locality.domain.identity import is_placeholder, pad_company_number
from locality.domain.values import CAP_SUB_CENTRAL

# One council payment over this is a typing error, not money (values.py: a council's whole
# annual budget is rarely over £5bn); it would overflow a place's totals to infinity.
PAYMENT_CAP = CAP_SUB_CENTRAL

# ASCII digits only, as the SQL form of the rule (spend_amount) reads them.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def parse_amount(text: str) -> float:
    """``"£4,490.00"`` → 4490.0, ``"(1,234.50)"`` → -1234.5; ``ValueError`` if not a number."""
    text = text.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    negative = False
    value = text
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1].strip()
    upper = value.upper()
    if upper.endswith("CR"):
        negative, value = not negative, value[:-2].strip()
    elif value.endswith("-"):
        negative, value = not negative, value[:-1].strip()
    value = value.replace(",", "").replace(" ", "").replace("\u00a0", "")
    for _ in range(2):  # a sign and a currency sign, in either order: -£95.00, £-95.00
        if value[:1] in ("-", "\u2212"):
            negative, value = not negative, value[1:]
        elif value[:1] == "+":
            value = value[1:]
        if value[:1] == "£" or value[:3].upper() == "GBP":
            value = value[1:] if value[:1] == "£" else value[3:]
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"not an amount: {text!r}")
    number = float(value)
    return -number if negative else number


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_YMD_SLASH = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?: .*)?")
_DMY = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?: .*)?")
_DMY_NAMED = re.compile(r"(\d{1,2})[ -]([A-Za-z]{3,9})[ ,-]+(\d{4}|\d{2})")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}


def parse_date(text: str) -> date | None:
    """A payment date as UK councils write it; ``None`` if it is not a real date."""
    text = text.strip()
    year = month = day = 0
    if match := _ISO_DATE.fullmatch(text) or _YMD_SLASH.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    elif match := _DMY_NAMED.fullmatch(text):
        found = _MONTHS.get(match.group(2).casefold())
        if found is None:
            return None
        day, month, year = int(match.group(1)), found, int(match.group(3))
    else:
        return None
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def clean_company_number(text: str) -> str | None:
    """Companies House number, left-padded to 8 when numeric; placeholders are ``None``."""
    value = "".join(text.split()).upper()
    if not value or is_placeholder(value):
        return None
    return pad_company_number(value)


def clean_charity_number(text: str) -> str | None:
    value = " ".join(text.split()).upper()
    if not value or is_placeholder(value):
        return None
    return value


# What Python's str.strip() removes, so the SQL side trims cells exactly as the reader did.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


def _trim(column: str) -> str:
    """SQL: the column stripped as str.strip() would. (trim() with a set of characters
    costs about 1 µs a cell: cells are stripped in Python, and this is for the rare cells
    that held parentheses or a trailing sign.)"""
    return f"trim({column}, '{WHITESPACE}')"


# The amount rule of parse_amount, in SQL, one step per query level so that no step is
# written (and evaluated) twice. {f} is a column prefix: net, gross or vat.
_AMOUNT_STEPS = (
    "coalesce({f}_text, '') AS {f}_t",
    # Most cells are plain numbers (1234.50); only the others take the steps below.
    "{f}_t <> '' AND NOT regexp_full_match({f}_t, '-?[0-9]+(\\.[0-9]+)?') AS {f}_odd",
    # (1,234.50) is negative, its parentheses dropped
    "{f}_odd AND {f}_t LIKE '(%)' AS {f}_paren, CASE WHEN {f}_odd AND {f}_t LIKE '(%)' THEN "
    + _trim("substr({f}_t, 2, length({f}_t) - 2)")
    + " ELSE {f}_t END AS {f}_inner",
    # 12.00CR and 12.00- are negative, the marker dropped
    "{f}_odd AND (upper({f}_inner) LIKE '%CR' OR {f}_inner LIKE '%-') AS {f}_trailing, "
    "CASE WHEN NOT {f}_odd THEN {f}_inner WHEN upper({f}_inner) LIKE '%CR' THEN "
    + _trim("substr({f}_inner, 1, length({f}_inner) - 2)")
    + " WHEN {f}_inner LIKE '%-' THEN "
    + _trim("substr({f}_inner, 1, length({f}_inner) - 1)")
    + " ELSE {f}_inner END AS {f}_bare",
    # separators go; up to two (sign, currency) prefixes: -£95.00, £-95.00, GBP 95
    "CASE WHEN {f}_odd THEN regexp_extract("
    "replace(replace(replace({f}_bare, ',', ''), ' ', ''), chr(160), ''), "
    "'^([-\u2212+]?)(?:£|[Gg][Bb][Pp])?([-\u2212+]?)(?:£|[Gg][Bb][Pp])?"
    "([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)$', ['s1', 's2', 'n']) END AS {f}_parts",
    "CASE WHEN {f}_t = '' THEN NULL WHEN NOT {f}_odd THEN {f}_t::DOUBLE "
    "WHEN {f}_parts.n = '' THEN NULL "
    "WHEN ({f}_paren::INT + {f}_trailing::INT + ({f}_parts.s1 IN ('-', '\u2212'))::INT "
    "+ ({f}_parts.s2 IN ('-', '\u2212'))::INT) % 2 = 1 THEN -({f}_parts.n::DOUBLE) "
    "ELSE {f}_parts.n::DOUBLE END AS {f}_v",
)
AMOUNT_PREFIXES = ("net", "gross", "vat")  # the amount_net, amount_gross, amount_vat cells


def amounts_sql(source: str, prefixes: Iterable[str] = AMOUNT_PREFIXES) -> str:
    """A query over ``source`` (with ``<prefix>_text`` columns, stripped) adding
    ``<prefix>_t`` ('' for NULL) and ``<prefix>_v`` (the amount, NULL when empty or not a
    number). Prefixes not in ``prefixes`` are taken to be empty: no file of the chunk
    maps them, and even empty cells cost time."""
    used = [f for f in AMOUNT_PREFIXES if f in set(prefixes)]
    unused = [f"'' AS {f}_t, NULL::DOUBLE AS {f}_v" for f in AMOUNT_PREFIXES if f not in used]
    query = f"SELECT * FROM {source}"
    for step in _AMOUNT_STEPS:
        if used:
            added = ", ".join(step.replace("{f}", f) for f in used)
            query = f"SELECT *, {added} FROM ({query})"
    if unused:
        query = f"SELECT *, {', '.join(unused)} FROM ({query})"
    return query
