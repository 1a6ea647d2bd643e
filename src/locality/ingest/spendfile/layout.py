"""The layout of a spend file: its header row (after any preamble lines, a second header
line merged into the first), its delimiter and which column holds each canonical field,
with why (:class:`SpendLayout`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from locality.domain.text import header_key
from locality.ingest.spendfile.amounts import parse_amount, parse_date
from locality.ingest.spendfile.columns import SpendColumns
from locality.ingest.spendfile.errors import AmbiguousColumnsError, NotSpendError
from locality.ingest.spendfile.infer import (
    CONTENT_MIN_ROWS,
    CONTENT_SAMPLE_ROWS,
    _header_like,
    _payments_seen,
    infer_columns,
)

if TYPE_CHECKING:
    from _csv import Reader


HEADER_SEARCH_ROWS = 50
# Delimiters tried, in order, when a file read with commas has no spend header.
OTHER_DELIMITERS = (";", "\t", "|")


@dataclass
class SpendLayout:
    encoding: str
    header_line: int  # 1-based line of the header (its last line when it has two)
    header_lines: int
    columns: list[str]
    mapping: dict[str, str]  # canonical field → column name used
    is_card: bool
    delimiter: str = ","
    # canonical field → why its column was taken: its header name, or its content
    reasons: dict[str, str] = field(default_factory=dict)


class LayoutSearch:
    """The header search of an open spend file (the base of
    :class:`~locality.ingest.spendfile.reader.SpendFile`, which opens the file and sets
    these attributes): the header row found among the first lines, by header names
    first, then by the columns' content, with commas, else the other delimiters."""

    path: Path
    config: SpendColumns
    layout: SpendLayout
    _handle: IO[str]
    _reader: Reader
    _line_end: int
    _index: dict[str, int]

    def _csv_error(self, exc: csv.Error) -> NotSpendError:
        """A CSV error before the header was found: not a spend file we can read."""
        return NotSpendError(f"{self.path}: CSV error after line {self._line_end}: {exc}")

    def _next(self) -> tuple[int, list[str]] | None:
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise self._csv_error(exc) from exc
        start = self._line_end + 1
        self._line_end = self._reader.line_num
        return start, cells

    def _fields_in(self, cells: list[str]) -> dict[str, int]:
        """Canonical field → column index, the best variant winning, one field per column."""
        keys = [header_key(c) for c in cells]
        found: dict[str, int] = {}
        used: set[int] = set()
        for name, variants in self.config.fields.items():
            for variant in variants:
                index = next(
                    (i for i, k in enumerate(keys) if k == variant and i not in used), None
                )
                if index is not None:
                    found[name] = index
                    used.add(index)
                    break
        return found

    @staticmethod
    def _is_spend_header(found: dict[str, int]) -> bool:
        has_amount = bool({"amount_net", "amount_gross"} & set(found))
        return has_amount and "supplier_name" in found and "payment_date" in found

    def _is_continuation(self, cells: list[str]) -> bool:
        """A second header line: only known header words, no amounts or dates."""
        values = [c.strip() for c in cells if c.strip()]
        if not values:
            return False
        known = self.config.all_keys
        for value in values:
            if header_key(value) not in known or parse_date(value) is not None:
                return False
            try:
                parse_amount(value)
            except ValueError:
                continue
            return False
        return True

    def _find_layout(self, encoding: str) -> list[tuple[int, list[str]]]:
        """Find the header with commas, else with the other delimiters councils use
        (semicolon, tab, pipe): by header names first, then by the columns' content."""
        try:
            return self._read_header(encoding)
        except NotSpendError as first:
            self._handle.seek(0)
            sample = self._handle.read(1 << 16)
            for delimiter in OTHER_DELIMITERS:
                if delimiter not in sample:
                    continue
                self._handle.seek(0)
                self._reader = csv.reader(self._handle, delimiter=delimiter)
                self._line_end = 0
                try:
                    pending = self._read_header(encoding)
                except NotSpendError:
                    continue
                self.layout.delimiter = delimiter
                return pending
            raise first

    def _read_header(self, encoding: str) -> list[tuple[int, list[str]]]:
        seen: list[tuple[int, list[str]]] = []
        while len(seen) < HEADER_SEARCH_ROWS + 1 + CONTENT_SAMPLE_ROWS:
            item = self._next()
            if item is None:
                break
            seen.append(item)
        best: tuple[int, dict[str, int]] | None = None
        for i, (line, cells) in enumerate(seen[:HEADER_SEARCH_ROWS]):
            header, lines, last_line = cells, 1, line
            if i + 1 < len(seen) and self._is_continuation(seen[i + 1][1]):
                below = seen[i + 1][1]
                width = max(len(cells), len(below))
                top = [*cells, *[""] * (width - len(cells))]
                sub = [*below, *[""] * (width - len(below))]
                header = [s if s.strip() else t for t, s in zip(top, sub, strict=True)]
                lines, last_line = 2, seen[i + 1][0]
            found = self._fields_in(header)
            if self._is_spend_header(found):
                self._set_layout(encoding, header, found, lines, last_line)
                return seen[i + lines :]
            if best is None or len(found) > len(best[1]):
                best = (line, found)
        # No header names a date, an amount and a supplier: read the columns' content.
        for i, (line, cells) in enumerate(seen[:HEADER_SEARCH_ROWS]):
            if not _header_like(cells):
                continue
            sample = [row for _, row in seen[i + 1 :] if "".join(row).strip()]
            if len(sample) < CONTENT_MIN_ROWS:
                break
            named = self._fields_in(cells)
            try:
                inferred = infer_columns(cells, sample, named)
            except AmbiguousColumnsError as exc:
                raise AmbiguousColumnsError(f"{self.path}: header at line {line}: {exc}") from exc
            if inferred is None:
                continue
            found, reasons = inferred
            self._set_layout(encoding, cells, found, 1, line, reasons)
            return seen[i + 1 :]
        hint = (
            f"; the closest, line {best[0]}, has {', '.join(sorted(best[1]))}"
            if best and best[1]
            else ""
        )
        raise NotSpendError(
            f"{self.path}: not a council spend file: no header row with a payment date, an "
            f"amount and a supplier column in its first {HEADER_SEARCH_ROWS} lines{hint}. "
            "A new layout can be described with --columns FILE (see spend_columns.toml).",
            payments_seen=_payments_seen([row for _, row in seen]),
        )

    def _set_layout(
        self,
        encoding: str,
        header: list[str],
        found: dict[str, int],
        lines: int,
        last_line: int,
        reasons: dict[str, str] | None = None,
    ) -> None:
        names: list[str] = []
        counts: dict[str, int] = {}
        for number, cell in enumerate(header, 1):
            name = " ".join(cell.split()) or f"column {number}"
            key = name.casefold()
            counts[key] = counts.get(key, 0) + 1
            names.append(name if counts[key] == 1 else f"{name} ({counts[key]})")
        keys = {header_key(n) for n in names}
        is_card = bool(keys & self.config.card_markers) or bool(
            re.search(r"(?:^|[^a-z])card(?:[^a-z]|$)", self.path.name.casefold())
        )
        self.layout = SpendLayout(
            encoding=encoding,
            header_line=last_line,
            header_lines=lines,
            columns=names,
            mapping={name: names[index] for name, index in found.items()},
            is_card=is_card,
            reasons={
                name: (reasons or {}).get(name, "its header name")
                for name in sorted(found, key=found.__getitem__)
            },
        )
        self._index = found
