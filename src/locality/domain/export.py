"""Cells written to CSV (or Excel) files that people open in a spreadsheet.

A supplier name or a notice title is published by someone else; one that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice and
Google Sheets as a formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(...)``),
which can leak data or run commands when the file is opened. OWASP's CSV-injection rule
(https://owasp.org/www-community/attacks/CSV_Injection): prefix such a cell with a single
quote, so it is shown as the text it is. Numbers are left as numbers: a negative amount
(``-1234.5``) is data, not a formula, and exports must keep it summable.

A pure function with no imports from the rest of locality: every exporter (the CLI's
``--format csv``, the dashboard's CSV downloads, the API) calls it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# The characters a spreadsheet reads as the start of a formula (OWASP), plus the full-width
# equals and plus signs that some spreadsheets also accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b")

# A plain number as an exporter writes it: `-12`, `-1234.50`, `+3.5e6`, `-1,234.50`. Such a
# cell is a value, never a formula, and is left unchanged.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?")


def neutralise_cell(value: Any) -> Any:
    """Return ``value`` safe to write in a CSV cell: a string that a spreadsheet would read as a
    formula gets a leading ``'``; numbers, numeric strings and everything else are unchanged.

    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("-1234.50"), neutralise_cell(-5)
    ('-1234.50', -5)
    """
    if not isinstance(value, str) or not value:
        return value
    if not value.startswith(FORMULA_STARTS):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    """A row of cells, each through :func:`neutralise_cell`."""
    return [neutralise_cell(cell) for cell in row]


def neutralise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A dict row (as ``csv.DictWriter`` writes) with every value neutralised."""
    return {key: neutralise_cell(value) for key, value in record.items()}
