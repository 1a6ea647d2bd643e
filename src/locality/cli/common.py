"""What every ``locality`` command shares: the store option's state, the consoles, errors that
say what to do next, one way to print JSON and CSV, and a store opened for a command.

Command modules (``locality.cli.<name>``) import from here, never from ``locality.cli``
itself, so a sub-command group can live in its own module without an import cycle.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import duckdb
import orjson
import pyarrow as pa
import typer
from rich.console import Console

from locality.domain.export import neutralise_record
from locality.store.db import StoreError, connect, default_db_path

# Errors are not hard-wrapped: a long path in a message stays whole, to copy and paste.
err = Console(stderr=True, soft_wrap=True)
# Piped output is not squeezed to 80 columns: tables stay readable in files and CI logs.
out = Console(width=None if sys.stdout.isatty() else 140)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class MetricsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# The options many commands declare alike, declared once (sqlite-utils' ``output_options`` is
# the model): a command names the type, and its help text cannot drift between commands.
TableJsonFormat = Annotated[
    OutputFormat, typer.Option("--format", help="table for people, json for scripts.")
]
TableJsonCsvFormat = Annotated[MetricsFormat, typer.Option("--format")]


def places_option(help: str = "TOML file of named places.") -> Any:
    """``--places FILE``, the named places of ``locality.domain.places``
    (``Annotated[Path | None, places_option("...")] = None``): a command whose use of them
    needs saying says it in ``help``."""
    return typer.Option("--places", help=help)


PlacesFile = Annotated[Path | None, places_option()]


def flag(name: str, help: str) -> Any:
    """An on/off option, off unless given (``strict: bool = flag("--strict", "...")``):
    every command's flags are declared alike, and only their name and help differ."""
    return typer.Option(False, name, help=help)


class State:
    """The global options, set by the ``locality`` callback before any command runs."""

    db: Path = default_db_path()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error (which should say what to do next) and leave with ``code``."""
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    )
    sys.stdout.write("\n")


def print_csv(table: pa.Table) -> None:
    print_csv_rows(table.column_names, table.to_pylist())


def print_csv_rows(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows as CSV; text cells a spreadsheet would run as formulas are neutralised (OWASP)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(neutralise_record(row) for row in rows)
    sys.stdout.write(buffer.getvalue())


def output(
    output_format: str,
    *,
    json: Callable[[], Any],
    table: Callable[[], None],
    csv: Callable[[], tuple[Sequence[str], Iterable[Mapping[str, Any]]]] | None = None,
) -> None:
    """Print a command's result in the ``--format`` asked for: ``json`` and ``csv`` give the
    data and its rows, anything else the Rich table (sqlite-utils' ``output_rows`` is the
    model). Each is a callable so only the chosen form is built."""
    if output_format == "json":
        print_json(json())
    elif output_format == "csv" and csv is not None:
        columns, rows = csv()
        print_csv_rows(list(columns), rows)
    else:
        table()


def output_arrow(
    output_format: str, table: pa.Table, show: Callable[[list[dict[str, Any]]], None]
) -> None:
    """An Arrow table result in the ``--format`` asked for: JSON and CSV are its rows (CSV
    with its columns, a header even with no rows), anything else ``show(rows)``."""
    rows = table.to_pylist()
    output(
        output_format,
        json=lambda: rows,
        csv=lambda: (table.column_names, rows),
        table=lambda: show(rows),
    )


def connect_store(*, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """The store named by ``--db``; a store that cannot be opened (missing, locked by an
    ingest, written by a newer locality) is a command error saying what to do, not a
    traceback. The caller closes it (or uses ``open_store``)."""
    try:
        return connect(State.db, read_only=read_only)
    except StoreError as exc:
        fail(str(exc))


@contextmanager
def open_store(*, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store named by ``--db``, closed afterwards; a store that cannot be opened is a
    command error naming it, not a traceback."""
    con = connect_store(read_only=read_only)
    try:
        yield con
    finally:
        con.close()
