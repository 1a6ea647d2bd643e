"""Reading a spend file's data rows: :class:`SpendFile` (its layout found by
:class:`~locality.ingest.spendfile.layout.LayoutSearch`) hands its rows to a
:class:`SpendParser` a chunk at a time, which parses the rows of many files together in
DuckDB into ``spend_payments`` rows; "Total" lines, unreadable amounts and dates are
rejected with their reason, and a quote left open is read back into its rows.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from locality.domain.identity import normalise_name
from locality.domain.text import parse_flag
from locality.ingest.gc_pause import paused_gc
from locality.ingest.spendfile.amounts import (
    PAYMENT_CAP,
    amounts_sql,
    clean_charity_number,
    clean_company_number,
    parse_amount,
    parse_date,
)
from locality.ingest.spendfile.bodies import Body, body_from_path, resolve_body
from locality.ingest.spendfile.columns import PAYMENT_FIELDS, SpendColumns, load_columns
from locality.ingest.spendfile.decode import _open_text
from locality.ingest.spendfile.errors import NoBodyError, SpendFileError
from locality.ingest.spendfile.layout import LayoutSearch
from locality.store.schema import SPEND_COLUMNS, SPEND_PAYMENTS_DDL

# A cell may be as long as the file (a long description, a free-text field): the csv
# module's default limit (131,072 characters) made such a file "not a spend file".
csv.field_size_limit(1 << 30)
RAW_LIMIT = 10_000
# Data rows handled at a time: their cells are held in memory until the chunk is staged.
CHUNK_ROWS = 100_000


@dataclass(slots=True)
class SpendRecord:
    """One data row: a payment (``row``, in :data:`PAYMENT_FIELDS` order) or a rejection."""

    line: int
    row: tuple[Any, ...] | None
    reason: str | None = None
    column: str | None = None
    raw: str | None = None


@dataclass
class SpendStats:
    """Figures of the payments kept, for the summary and the threshold."""

    total: float | None = None
    positive: int = 0
    below_default: int = 0
    min_positive: float | None = None
    first_date: date | None = None
    last_date: date | None = None

    @property
    def total_amount(self) -> float:
        return round(self.total or 0.0, 2)


_TOTAL_CELL = re.compile(r"(?:grand\s*|sub\s*-?\s*)?totals?:?", re.I)


def _raw(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()[:RAW_LIMIT]


# Why a row is rejected, by the code the chunk query gives it (see _PARSE_SQL).
_TOTAL_CELL_REASON = "total row (not a payment)"
_TOTAL_NO_DATE = "total row (not a payment): an amount with no date or supplier"

_PARSE_SQL = """
WITH v AS ({amounts}),
b AS (
    SELECT *,
        CASE WHEN net_t <> '' AND net_v IS NULL THEN 'amount_net'
             WHEN gross_t <> '' AND gross_v IS NULL THEN 'amount_gross'
             WHEN vat_t <> '' AND vat_v IS NULL THEN 'amount_vat' END AS bad_amount
    FROM v
)
SELECT piece, source_file, is_card, pos, source_line, body,
       body_la_registry_code, payment_date,
       supplier_name, supplier_name_normalised, company_number, charity_number, vcse_flag,
       nullif(service_area, '') AS service_area, nullif(expense_type, '') AS expense_type,
       nullif(transaction_id, '') AS transaction_id, redacted, bad_amount,
    CASE WHEN (bad_amount IS NOT NULL OR net_v IS NOT NULL OR gross_v IS NOT NULL
               OR vat_v IS NOT NULL) AND supplier_name IS NULL AND NOT date_given
             THEN 'total'
         WHEN bad_amount IS NOT NULL THEN 'amount'
         WHEN net_v IS NULL AND gross_v IS NULL THEN 'missing'
         WHEN NOT (abs(coalesce(net_v, 0)) <= {cap} AND abs(coalesce(gross_v, 0)) <= {cap}
                   AND abs(coalesce(vat_v, 0)) <= {cap}) THEN 'implausible'
         WHEN payment_date IS NULL THEN 'date'
    END AS problem,
    coalesce(net_v, gross_v - coalesce(vat_v, 0)) AS amount_net
FROM b
"""


_LINE_BREAK = re.compile(r"\r\n|\n|\r")


class SpendFile(LayoutSearch):
    """An open spend file: its layout, and its payments parsed a chunk at a time.

    Raises :class:`NotSpendError` on opening when no spend header is found. The header and
    layout are found row by row in Python; the data rows are then read with the csv module
    into columns, the few distinct values of each column (dates, supplier names, numbers,
    bodies) are cleaned once each in Python, and the amounts are parsed in DuckDB over a
    whole chunk (:func:`amounts_sql`, the same rule as :func:`parse_amount`).
    """

    def __init__(
        self,
        path: str | Path,
        columns: SpendColumns | None = None,
        *,
        body: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.config = columns or load_columns()
        self._handle, encoding, self.warnings, self.broken = _open_text(self.path)
        self._reader = csv.reader(self._handle)
        self._line_end = 0
        self.stats = SpendStats()
        self.records_read = 0
        try:
            self._pending = self._find_layout(encoding)
            self.body = self._file_body(body)
        except BaseException:
            self._handle.close()
            raise
        self._bodies: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self._rejected: list[tuple[int, str | None, str, str]] = []

    # context manager
    def __enter__(self) -> SpendFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def _file_body(self, given: str | None) -> Body:
        if given:
            return Body(*resolve_body(given), "option")
        from_path = body_from_path(self.path)
        if "body" in self._index or "body_code" in self._index:
            # Rows with an empty body cell fall back to the council the file name gives.
            if from_path is None:
                return Body(None, None, "column")
            return Body(from_path[0], from_path[1], "column")
        if from_path is not None:
            return Body(from_path[0], from_path[1], "file name")
        raise NoBodyError(
            f"{self.path}: no publishing body: the file has no body column and its name "
            "names no council; give one with --body NAME"
        )

    def _row_body(self, text: str, code_text: str) -> tuple[str | None, str | None]:
        if self.body.source != "column" or not (text or code_text):
            return self.body.name, self.body.la_registry_code
        key = (text, code_text)
        found = self._bodies.get(key)
        if found is None:
            found = self._bodies[key] = resolve_body(text or code_text, code_text)
        return found

    # ---------------------------------------------------------------------- data rows

    def _chunks(self) -> Iterator[_Chunk]:
        """The data rows after the header, CHUNK_ROWS at a time; blank lines are skipped and
        "Total" lines rejected here (they are not records of a payment)."""
        fields = list(self._index)
        positions = [self._index[f] for f in fields]
        pick = operator.itemgetter(*positions)
        width = max(positions) + 1
        padding = [""] * width
        chunk = _Chunk(fields)
        pending = self._pending
        self._pending = []
        rows: Iterator[tuple[int, list[str]]] = iter(pending)
        for start, cells in rows:
            if self._take(chunk, start, cells, pick, width, padding):
                yield chunk
                chunk = _Chunk(fields)
        # The hot loop: an ordinary row is taken inline, so it costs no method call; a row
        # that may be blank, span lines or be a total line goes to _take, which decides.
        reader = self._reader
        line_end = self._line_end
        lines, picked, kept_cells = chunk.lines, chunk.picked, chunk.cells
        try:
            for cells in reader:
                start = line_end + 1
                line_end = reader.line_num
                joined = "".join(cells)
                if (
                    not joined.strip()
                    or "\n" in joined
                    or "\r" in joined
                    or "total" in joined.lower()
                ):
                    full = self._take(chunk, start, cells, pick, width, padding)
                else:
                    self.records_read += 1
                    lines.append(start)
                    picked.append(pick(cells) if len(cells) >= width else pick(cells + padding))
                    kept_cells.append(cells)
                    full = len(lines) >= CHUNK_ROWS
                if full:
                    self._line_end = line_end
                    yield chunk
                    chunk = _Chunk(fields)
                    lines, picked, kept_cells = chunk.lines, chunk.picked, chunk.cells
        except csv.Error as exc:
            # A spend file broken part way: an error (never skipped as "not spend"), and
            # none of its rows are loaded.
            raise SpendFileError(
                f"{self.path}: CSV error after line {line_end}: {exc}; none of the file's "
                "rows were loaded: mend the line and ingest the file again"
            ) from exc
        self._line_end = line_end
        if chunk.lines:
            yield chunk

    def _take(
        self,
        chunk: _Chunk,
        start: int,
        cells: list[str],
        pick: Any,
        width: int,
        padding: list[str],
    ) -> bool:
        """Add one row to the chunk (the rows read while looking for the header); True when
        the chunk is full."""
        joined = "".join(cells)
        if not joined.strip():
            return False
        self.records_read += 1
        if ("\n" in joined or "\r" in joined) and (
            recovered := self._swallowed(start, cells)
        ) is not None:
            for number, row in recovered:
                self._take(chunk, number, row, pick, width, padding)
            return len(chunk.lines) >= CHUNK_ROWS
        if "total" in joined.lower() and self._is_total(cells):
            self._rejected.append((start, None, _TOTAL_CELL_REASON, _raw(cells)))
            return False
        chunk.lines.append(start)
        chunk.picked.append(pick(cells) if len(cells) >= width else pick(cells + padding))
        chunk.cells.append(cells)
        return len(chunk.lines) >= CHUNK_ROWS

    def _swallowed(self, start: int, cells: list[str]) -> list[tuple[int, list[str]]] | None:
        """The rows an unterminated quote swallowed into one cell, read again; None when the
        row's line breaks are ordinary multi-line text.

        A quote opened and never closed makes the csv module read every following line
        into one cell, up to the next quote or the end of the file: a supplier called
        ``Unterminated Ltd,,\r\n2024-04-06,…``. A cell whose inner lines have a date
        where this layout's date is, is such a cell. Its opening line is rejected (its
        cells are lost in the quote); the lines inside are rows of their own, read again
        (returned with their line numbers); a last line where a later quote closes the
        run is rejected too."""
        date_index = self._index["payment_date"]
        amount_index = self._index.get("amount_net", self._index.get("amount_gross", 0))
        supplier_index = self._index["supplier_name"]
        reach = max(date_index, amount_index, supplier_index)
        delimiter = self.layout.delimiter

        def is_payment(row: list[str]) -> bool:
            """A whole payment line of this layout: a date, an amount and a supplier where
            the header puts them (ordinary multi-line text is not)."""
            if len(row) <= reach or not row[supplier_index].strip():
                return False
            if parse_date(row[date_index]) is None:
                return False
            try:
                parse_amount(row[amount_index])
            except ValueError:
                return False
            return True

        for k, cell in enumerate(cells):
            if "\n" not in cell and "\r" not in cell:
                continue
            parts = _LINE_BREAK.split(cell)
            rows = [next(csv.reader([part], delimiter=delimiter), []) for part in parts[1:]]
            if not any(is_payment(row) for row in rows):
                continue
            column = self.layout.columns[k] if k < len(self.layout.columns) else None
            rest = cells[k + 1 :]
            end = start + len(parts) - 1 - (not rest and parts[-1] == "")
            complete = rows if not rest else rows[:-1]  # the last line closes the quote
            self._rejected.append(
                (
                    start,
                    column,
                    f"unterminated quote in column {column!r}: it ran over lines "
                    f"{start + 1}–{end}, which are read as rows of their own; this line's "
                    "cells are lost in the quote: mend it and ingest the file again",
                    _raw([*cells[:k], parts[0]]),
                )
            )
            if rest:
                self.records_read += 1
                closing = delimiter.join([parts[-1], *rest])
                self._rejected.append(
                    (
                        end,
                        column,
                        f"a quote on this line closes the quote left open at line {start}: "
                        "the line cannot be read as published",
                        closing[:RAW_LIMIT],
                    )
                )
            return [(start + i, row) for i, row in enumerate(complete, 1) if "".join(row).strip()]
        return None

    def _is_total(self, cells: list[str]) -> bool:
        # "Total", "Grand Total", "Sub-total:" in any cell (the supplier's included).
        return any(_TOTAL_CELL.fullmatch(c.strip()) for c in cells if c)

    def _columns(self, chunk: _Chunk) -> pa.Table:
        """The chunk as Arrow columns: texts as published (stripped), and each distinct value
        of the date, supplier, number, flag and body columns cleaned once. Columns the file
        does not map are all null, and constants are repeated in Arrow: turning Python
        values into Arrow ones is a good part of the reader's time."""
        count = len(chunk.lines)
        by_field = dict(zip(chunk.fields, zip(*chunk.picked, strict=True), strict=True))
        string = pa.string()

        def stripped(name: str) -> pa.Array:
            if name not in by_field:
                return pa.nulls(count, string)
            return pa.array(list(map(str.strip, by_field[name])), string)

        def encoded(name: str, clean: Any) -> tuple[pa.Array, list[Any]]:
            """(index of each row's distinct value, each distinct value cleaned)."""
            values = by_field[name]
            distinct = list(set(values))
            index = {value: i for i, value in enumerate(distinct)}
            codes = pa.array(list(map(index.__getitem__, values)), pa.int32())
            return codes, [clean(value.strip()) for value in distinct]

        def part(codes: pa.Array, cleaned: list[Any], at: int, kind: pa.DataType) -> pa.Array:
            """One part of the cleaned values, dictionary-encoded by the codes."""
            values = pa.array([value[at] for value in cleaned], kind)
            return pa.DictionaryArray.from_arrays(codes, values)

        def cleaned(name: str, clean: Any, kind: pa.DataType) -> pa.Array:
            if name not in by_field:
                return pa.nulls(count, kind)
            codes, values = encoded(name, clean)
            return pa.DictionaryArray.from_arrays(codes, pa.array(values, kind))

        redaction = self.config.redaction
        supplier_codes, suppliers = encoded(
            "supplier_name", lambda name: _clean_supplier(name, redaction)
        )
        day_codes, days = encoded(
            "payment_date", lambda text: (bool(text), _parse_date_cached(text))
        )
        if self.body.source == "column" and ("body" in by_field or "body_code" in by_field):
            names = by_field.get("body", ("",) * count)
            codes = by_field.get("body_code", ("",) * count)
            pairs = list(zip(names, codes, strict=True))
            distinct_pairs = list(set(pairs))
            pair_index = {pair: i for i, pair in enumerate(distinct_pairs)}
            body_codes = pa.array(list(map(pair_index.__getitem__, pairs)), pa.int32())
            found = [self._row_body(n.strip(), c.strip()) for n, c in distinct_pairs]
            body = part(body_codes, found, 0, string)
            body_code = part(body_codes, found, 1, string)
        else:
            body = _repeat(self.body.name, count, string)
            body_code = _repeat(self.body.la_registry_code, count, string)
        return pa.table(
            {
                "pos": pa.array(range(count), pa.int64()),
                "source_line": pa.array(chunk.lines, pa.int64()),
                "body": body,
                "body_la_registry_code": body_code,
                "date_given": part(day_codes, days, 0, pa.bool_()),
                "payment_date": part(day_codes, days, 1, pa.date32()),
                "net_text": stripped("amount_net"),
                "gross_text": stripped("amount_gross"),
                "vat_text": stripped("amount_vat"),
                "supplier_name": part(supplier_codes, suppliers, 0, string),
                "supplier_name_normalised": part(supplier_codes, suppliers, 1, string),
                "company_number": cleaned("company_number", clean_company_number, string),
                "charity_number": cleaned("charity_number", clean_charity_number, string),
                # Where a file publishes the flag, an unmarked row is the council saying "no".
                "vcse_flag": cleaned("vcse_flag", lambda t: parse_flag(t) or False, pa.bool_()),
                "service_area": stripped("service_area"),
                "expense_type": stripped("expense_type"),
                "transaction_id": stripped("transaction_id"),
                "redacted": part(supplier_codes, suppliers, 2, pa.bool_()),
            }
        )

    def read(self, parser: SpendParser, source_file: str) -> None:
        """Hand every data row to ``parser``; once it has finished, :attr:`stats`,
        :attr:`records_read` and :meth:`rejections` describe the whole file."""
        with paused_gc():
            for chunk in self._chunks():
                if chunk.lines:
                    parser.add(self, chunk, source_file)

    def rejections(self) -> list[tuple[int, str | None, str, str]]:
        """The rejected rows as (line, column, reason, raw), in line order."""
        self._rejected.sort(key=lambda r: r[0])
        return self._rejected

    def _rejection(
        self, chunk: _Chunk, pos: int, problem: str, bad_amount: str | None
    ) -> tuple[int, str | None, str, str]:
        cells = chunk.cells[pos]
        mapping = self.layout.mapping

        def text(name: str) -> str:
            index = self._index[name]
            return cells[index].strip() if index < len(cells) else ""

        column: str | None
        if problem == "total":
            reason, column = _TOTAL_NO_DATE, None
        elif problem == "amount":
            assert bad_amount is not None
            column = mapping[bad_amount]
            reason = f"amount is not a number: {text(bad_amount)!r} in column {column!r}"
        elif problem == "implausible":
            column = mapping.get("amount_net") or mapping.get("amount_gross")
            shown = text("amount_net" if "amount_net" in self._index else "amount_gross")
            reason = (
                f"amount is not plausible: {shown[:40]!r} (over £{PAYMENT_CAP:,.0f}, or "
                "not finite): a typing error, never summed"
            )
        elif problem == "missing":
            column = mapping.get("amount_net") or mapping.get("amount_gross")
            reason = "amount missing"
        else:
            column = mapping["payment_date"]
            date_text = text("payment_date")
            reason = "payment date missing"
            if date_text:
                reason = f"payment date is not a date: {date_text!r}"
        return chunk.lines[pos], column, reason, _raw(cells)

    def records(self) -> Iterator[SpendRecord]:
        """Every non-blank data row after the header, as a payment or a rejection, in line
        order (parsed through a private in-memory DuckDB; the ingest uses :meth:`read`)."""
        con = duckdb.connect()
        try:
            parser = SpendParser(con)
            self.read(parser, str(self.path))
            payments = parser.finish().select(list(PAYMENT_FIELDS))
            rows = list(zip(*(payments[name].to_pylist() for name in PAYMENT_FIELDS), strict=True))
        finally:
            con.close()
        merged = [SpendRecord(r[0], (*r[:3], r[3].isoformat(), *r[4:])) for r in rows]
        merged += [
            SpendRecord(line, None, why, column, raw)
            for line, column, why, raw in self.rejections()
        ]
        yield from sorted(merged, key=lambda r: r.line)

    def published_threshold(self, body_code: str | None) -> tuple[float, str]:
        """(threshold, basis): configured for the body, card file, observed, or default."""
        config = self.config
        if body_code and body_code in config.thresholds:
            return config.thresholds[body_code], "configured"
        if self.layout.is_card:
            return 0.0, "card file"
        stats = self.stats
        if stats.positive and stats.below_default / stats.positive > 0.5:
            return 0.0, "observed"
        return config.default_threshold, "default"


_CHUNK_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("source_line", pa.int64()),
        ("body", pa.string()),
        ("body_la_registry_code", pa.string()),
        ("date_given", pa.bool_()),
        ("payment_date", pa.date32()),
        ("net_text", pa.string()),
        ("gross_text", pa.string()),
        ("vat_text", pa.string()),
        ("supplier_name", pa.string()),
        ("supplier_name_normalised", pa.string()),
        ("company_number", pa.string()),
        ("charity_number", pa.string()),
        ("vcse_flag", pa.bool_()),
        ("service_area", pa.string()),
        ("expense_type", pa.string()),
        ("transaction_id", pa.string()),
        ("redacted", pa.bool_()),
    ]
)


def _repeat(value: Any, count: int, kind: pa.DataType) -> pa.Array:
    """``count`` times ``value`` as an Arrow array, made in Arrow, not from a Python list."""
    return pa.repeat(pa.scalar(value, kind), count)


# Monthly files of one council repeat most supplier names and dates: clean each once.
@lru_cache(maxsize=1 << 17)
def _clean_supplier(name: str, redaction: re.Pattern[str]) -> tuple[str | None, str | None, bool]:
    """(name as published, normalised name, redacted) of a stripped supplier cell."""
    redacted = bool(name) and bool(redaction.search(name))
    normalised = (normalise_name(name) or None) if name and not redacted else None
    return name or None, normalised, redacted


_parse_date_cached = lru_cache(maxsize=1 << 14)(parse_date)


@dataclass
class _Chunk:
    """Data rows read but not yet parsed: the mapped fields' cells, and the whole rows."""

    fields: list[str]
    lines: list[int] = field(default_factory=list)
    picked: list[Any] = field(default_factory=list)  # the fields' cells, one tuple per row
    cells: list[list[str]] = field(default_factory=list)


def _parse_sql(pieces: Sequence[tuple[SpendFile, _Chunk, str]]) -> str:
    """The parse of a chunk, for the amount columns its files map."""
    prefixes = {
        field.removeprefix("amount_")
        for reader, _, _ in pieces
        for field in reader.layout.mapping
        if field.startswith("amount_")
    }
    return _PARSE_SQL.replace("{amounts}", amounts_sql("_spend_chunk", prefixes)).replace(
        "{cap}", repr(float(PAYMENT_CAP))
    )


class SpendParser:
    """Parses the data rows of spend files in DuckDB into Arrow tables of payments.

    Rows of several files are parsed together, ``CHUNK_ROWS`` at a time: planning the
    parse query costs about 10 ms, as much as parsing 20,000 rows, and a folder holds many
    small monthly files. The readers handed to one parser share one column map. Each
    file's figures and rejections are complete after :meth:`finish`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._pieces: list[tuple[SpendFile, _Chunk, str]] = []
        self._rows = 0
        self._readers: dict[str, SpendFile] = {}
        self._payments: list[pa.Table] = []
        shape = SPEND_PAYMENTS_DDL.replace("CREATE TABLE spend_payments", "CREATE TEMP TABLE")
        con.execute(shape.replace("CREATE TEMP TABLE", "CREATE TEMP TABLE _spend_shape", 1))
        self.schema = con.sql("SELECT * FROM _spend_shape").to_arrow_table().schema

    def add(self, reader: SpendFile, chunk: _Chunk, source_file: str) -> None:
        self._readers[source_file] = reader
        self._pieces.append((reader, chunk, source_file))
        self._rows += len(chunk.lines)
        if self._rows >= CHUNK_ROWS:
            self.flush()

    def discard(self, source_file: str) -> None:
        """Forget a file that failed part way: its rows parsed or not."""
        self._pieces = [p for p in self._pieces if p[2] != source_file]
        self._rows = sum(len(p[1].lines) for p in self._pieces)
        self._readers.pop(source_file, None)
        self._payments = [
            table.filter(pc.not_equal(table["source_file"], source_file))
            for table in self._payments
        ]

    def flush(self) -> None:
        """Parse every row handed over so far."""
        pieces, self._pieces, self._rows = self._pieces, [], 0
        if not pieces:
            return
        with paused_gc():
            self._parse(pieces)

    def _parse(self, pieces: list[tuple[SpendFile, _Chunk, str]]) -> None:
        con = self.con
        tables = []
        for number, (reader, chunk, source_file) in enumerate(pieces):
            # One schema for every piece (dictionary-encoded columns decoded, in Arrow).
            table = reader._columns(chunk).cast(_CHUNK_SCHEMA)
            count = table.num_rows
            tables.append(
                table.append_column("piece", _repeat(number, count, pa.int32()))
                .append_column("source_file", _repeat(source_file, count, pa.string()))
                .append_column("is_card", _repeat(reader.layout.is_card, count, pa.bool_()))
            )
        con.register("_spend_chunk", pa.concat_tables(tables))
        try:
            parsed = con.sql(_parse_sql(pieces)).to_arrow_table()
        finally:
            con.unregister("_spend_chunk")
        ok = pc.is_null(parsed["problem"])
        self._payments.append(parsed.filter(ok).select(SPEND_COLUMNS).cast(self.schema))
        problems = parsed.filter(pc.invert(ok)).select(["piece", "pos", "problem", "bad_amount"])
        for piece, pos, problem, bad_amount in zip(
            *(problems[name].to_pylist() for name in problems.column_names), strict=True
        ):
            reader, chunk, _ = pieces[piece]
            reader._rejected.append(reader._rejection(chunk, pos, problem, bad_amount))

    def finish(self) -> pa.Table:
        """Parse what is left, fill every file's :attr:`SpendFile.stats`, and return the
        payments of every file (``spend_payments``' columns), in the order read."""
        self.flush()
        payments = pa.concat_tables(self._payments) if self._payments else self.schema.empty_table()
        self._payments = []
        if self._readers:
            threshold = next(iter(self._readers.values())).config.default_threshold
            self.con.register("_spend_payments", payments)
            try:
                figures = self.con.execute(
                    """
                    SELECT source_file, fsum(amount_net), count(*) FILTER (WHERE amount_net > 0),
                           count(*) FILTER (WHERE amount_net > 0 AND amount_net < ?),
                           min(amount_net) FILTER (WHERE amount_net > 0),
                           min(payment_date), max(payment_date)
                    FROM _spend_payments GROUP BY source_file
                    """,
                    [threshold],
                ).fetchall()
            finally:
                self.con.unregister("_spend_payments")
            for source_file, *values in figures:
                self._readers[source_file].stats = SpendStats(*values)
        self._readers = {}
        return payments
