"""Spend files read whole: :func:`parse_spend_files` (what each file held, and all their
payments as one Arrow table; run in this process or a worker), :func:`explain_spend_file`
(the layout as the reader sees it, without loading), and which files are spend files.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from locality.ingest.spendfile.columns import SpendColumns
from locality.ingest.spendfile.errors import NotSpendError, SpendFileError
from locality.ingest.spendfile.layout import SpendLayout
from locality.ingest.spendfile.reader import SpendFile, SpendParser, SpendStats

SPEND_SUFFIXES = (".csv", ".csv.gz")


@dataclass
class ParsedFile:
    """What reading one spend file found. Plain data: it crosses from a worker process."""

    path: str
    source_file: str
    error: str | None = None  # the file cannot be used at all
    not_spend: bool = False  # ... because it is not a spend file
    encoding: str | None = None
    header_line: int | None = None
    is_card: bool | None = None
    body: str | None = None
    body_la_registry_code: str | None = None
    body_source: str | None = None
    records_read: int = 0
    rejected: list[tuple[int, str | None, str, str]] = field(default_factory=list)
    stats: SpendStats = field(default_factory=SpendStats)
    published_threshold: float | None = None
    threshold_basis: str | None = None
    seconds: float = 0.0
    delimiter: str | None = None
    # canonical field → {"column": the file's column, "why": its header name or content}
    columns: dict[str, dict[str, str]] | None = None
    warnings: list[str] = field(default_factory=list)
    broken: str | None = None  # read up to where the file breaks off (a truncated gzip)


def parse_spend_files(
    files: Sequence[tuple[str, str]],
    columns: SpendColumns,
    body: str | None = None,
    *,
    threads: int | None = None,
) -> tuple[list[ParsedFile], pa.Table]:
    """Read and parse spend files, given as (path, source file name to record).

    Returns what each file held, and the payments of all of them as one Arrow table in
    ``spend_payments``' columns, file by file in line order. A file that cannot be used is
    reported in its :class:`ParsedFile` and leaves no rows. Runs in this process or in a
    worker (``threads``: DuckDB's, 1 in a worker so workers do not crowd each other).
    """
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        parser = SpendParser(con)
        found: list[tuple[ParsedFile, SpendFile | None, float]] = []
        for path, source in files:
            started = time.perf_counter()
            parsed = ParsedFile(path=path, source_file=source)
            try:
                with SpendFile(path, columns, body=body) as reader:
                    reader.read(parser, source)
            except SpendFileError as exc:
                parser.discard(source)
                # A CSV with payments in it is an error even in a folder: its rows are lost.
                parsed.error = str(exc)
                parsed.not_spend = isinstance(exc, NotSpendError) and not exc.payments_seen
                found.append((parsed, None, 0.0))
                continue
            except (OSError, EOFError, zlib.error, UnicodeError) as exc:
                # A file that cannot be read (a truncated gzip, a disk error) fails alone.
                parser.discard(source)
                parsed.error = f"{path}: cannot read the file ({exc})"
                found.append((parsed, None, 0.0))
                continue
            found.append((parsed, reader, time.perf_counter() - started))
        started = time.perf_counter()
        table = parser.finish()
        share = (time.perf_counter() - started) / max(len(found), 1)
        for parsed, done, seconds in found:
            if done is not None:
                _describe(parsed, done, table)
                parsed.seconds = seconds + share
    finally:
        con.close()
    return [parsed for parsed, _, _ in found], table


def _describe(parsed: ParsedFile, reader: SpendFile, payments: pa.Table) -> None:
    """Fill a parsed file's findings from its reader (after the parser has finished)."""
    parsed.encoding = reader.layout.encoding
    parsed.delimiter = reader.layout.delimiter
    parsed.columns = describe_columns(reader.layout)
    parsed.warnings = list(reader.warnings)
    parsed.broken = reader.broken
    parsed.header_line = reader.layout.header_line
    parsed.is_card = reader.layout.is_card
    parsed.body = reader.body.name
    parsed.body_la_registry_code = reader.body.la_registry_code
    parsed.body_source = reader.body.source
    parsed.records_read = reader.records_read
    parsed.rejected = reader.rejections()
    parsed.stats = reader.stats
    if parsed.body is None and parsed.records_read > len(parsed.rejected):
        # Bodies came row by row from the file: report the first one named.
        mine = payments.filter(
            pc.and_(
                pc.equal(payments["source_file"], parsed.source_file),
                pc.is_valid(payments["body"]),
            )
        )
        if mine.num_rows:
            parsed.body = mine["body"][0].as_py()
            parsed.body_la_registry_code = mine["body_la_registry_code"][0].as_py()
    threshold, basis = reader.published_threshold(parsed.body_la_registry_code)
    parsed.published_threshold, parsed.threshold_basis = threshold, basis


def describe_columns(layout: SpendLayout) -> dict[str, dict[str, str]]:
    """Which column was taken as each field, and why (its header name, or its content)."""
    return {
        name: {"column": layout.mapping[name], "why": why} for name, why in layout.reasons.items()
    }


def explain_spend_file(
    path: str | Path, columns: SpendColumns | None = None, body: str | None = None
) -> dict[str, Any]:
    """What the reader makes of a spend file's layout, without loading it: encoding,
    delimiter, header line, each field's column and why, the publishing body, warnings.

    Raises :class:`SpendFileError` (with the candidates when columns are ambiguous) as the
    ingest would."""
    with SpendFile(path, columns, body=body) as reader:
        layout = reader.layout
        return {
            "file": str(path),
            "kind": "spend",
            "encoding": layout.encoding,
            "delimiter": layout.delimiter,
            "header_line": layout.header_line,
            "header_lines": layout.header_lines,
            "file_columns": layout.columns,
            "columns": describe_columns(layout),
            "unused_columns": [c for c in layout.columns if c not in layout.mapping.values()],
            "is_card": layout.is_card,
            "body": reader.body.name,
            "body_la_registry_code": reader.body.la_registry_code,
            "body_source": reader.body.source,
            "body_column": layout.mapping.get("body") or layout.mapping.get("body_code"),
            "warnings": list(reader.warnings),
        }


def payments_of(payments: pa.Table, sources: Sequence[str]) -> pa.Table:
    """The payments of the given source files only."""
    wanted = pa.array(list(sources), pa.string())
    return payments.filter(pc.is_in(payments["source_file"], value_set=wanted))


def looks_like_spend(path: Path) -> bool:
    """By name: ``.csv`` or ``.csv.gz``."""
    return path.name.lower().endswith(SPEND_SUFFIXES)
