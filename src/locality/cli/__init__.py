"""The ``locality`` command. Thin: every command calls the library and formats its result."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import duckdb
import pyarrow as pa
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from locality import __version__
from locality.cli.common import (
    MetricsFormat,
    OutputFormat,
    PlacesFile,
    State,
    TableJsonCsvFormat,
    TableJsonFormat,
    connect_store,
    err,
    flag,
    open_store,
    out,
    output,
    output_arrow,
    places_option,
)
from locality.cli.common import fail as _fail
from locality.cli.common import print_csv as _print_csv
from locality.cli.common import print_json as _print_json
from locality.cli.fetch import fetch_app, print_fetches
from locality.cli.matching import register as _register_matching
from locality.cli.network import network_app
from locality.cli.refresh import register as _register_refresh
from locality.domain.money import to_the_penny, to_the_pound
from locality.domain.places import PlaceError, load_places
from locality.domain.places import resolve as resolve_place
from locality.metrics import DIMENSIONS, FILTERABLE
from locality.store.db import StoreError, default_db_path
from locality.views.params import BadRequest, parse_where, spend_section, spend_threshold
from locality.views.status import store_status

if TYPE_CHECKING:
    from locality.ingest.pipeline import IngestSummary

# Ingest, compile and metrics code (Ibis alone takes 0.15 s) is imported by the commands that
# use it, so the others start faster.

app = typer.Typer(
    name="locality",
    help=(
        "Where a place's public money goes, and whom it reaches.\n\n"
        "Load OCDS contract data into a local DuckDB store, then ask who wins it.\n\n"
        "Example:\n\n"
        "\b\n"
        "  locality ingest data/sample/ocds\n"
        "  locality metrics --by buyer"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


class IngestKind(StrEnum):
    auto = "auto"
    ocds = "ocds"
    spend = "spend"
    organisations = "organisations"


def _out_of_memory(exc: Exception) -> str:
    limit = os.environ.get("LOCALITY_MEMORY_LIMIT", "1GB")
    return (
        f"DuckDB ran out of memory within its limit of {limit} ({str(exc).splitlines()[0]}). "
        "The store is unchanged. Run again with a higher limit, e.g. LOCALITY_MEMORY_LIMIT=4GB."
    )


def _figure(value: Any) -> str:
    """An amount in a table column: to the pound, no sign (12,400,000)."""
    return to_the_pound(value, sign="", unknown="-")


def _version(value: bool) -> None:
    if value:
        out.print(f"locality {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="The store file (DuckDB). Default: $LOCALITY_DB, else ./locality.duckdb.",
            envvar="LOCALITY_DB",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Global options."""
    State.db = db if db is not None else default_db_path()


def _ingest_progress(progress: Progress) -> Any:
    tasks: dict[str, Any] = {}

    def update(stage: str, name: str, done: int, total: int | None) -> None:
        if stage == "file":
            return
        key = f"{stage}:{name}"
        label = {"read": "Reading", "compile": "Compiling", "apply": "Saving"}.get(
            stage, stage
        ) + f" {name}"
        if key not in tasks:
            tasks[key] = progress.add_task(label, total=total)
        progress.update(tasks[key], completed=done, total=total)

    return update


def _short(path: str | Path) -> str:
    """The last two parts of a path: enough to tell monthly files of councils apart."""
    return "/".join(Path(path).parts[-2:])


# Past this many files, files loaded cleanly are summed per folder: a table of hundreds of
# monthly files is neither readable nor quick to print.
SUMMARY_FILE_ROWS = 40


def _summary_table(summary: IngestSummary) -> Table:
    from locality.ingest.pipeline import GIVEN_TWICE

    table = Table(title="Ingest summary", title_justify="left")
    spend = any(f.kind == "spend" for f in summary.files)
    names = ("file", "read", "kept", "rejected", "new", "updated", "processes")
    for name in (*names, *(("£ net",) if spend else ()), "s"):
        table.add_column(name, justify="left" if name == "file" else "right")
    files = list(summary.files)
    folders: dict[str, list[Any]] = {}
    if len(files) > SUMMARY_FILE_ROWS:
        clean = [f for f in files if not (f.error or f.skipped or f.rejected)]
        for f in clean:
            folders.setdefault(str(Path(f.file).parent), []).append(f)
        shown = {id(f) for f in clean}
        files = [f for f in files if id(f) not in shown]
    for folder, group in folders.items():
        money = (f"{sum(f.total_amount or 0 for f in group):,.2f}",) if spend else ()
        ocds = [f for f in group if f.kind != "spend"]
        counts = ("new_releases", "updated_releases", "processes")
        table.add_row(
            f"{_short(folder)}/ ({len(group)} files, none rejected)",
            f"{sum(f.records_read for f in group):,}",
            f"{sum(f.kept for f in group):,}",
            "0",
            *(f"{sum(getattr(f, c) for f in ocds):,}" if ocds else "" for c in counts),
            *money,
            f"{sum(f.seconds for f in group):.2f}",
        )
    label = _short if folders else (lambda file: Path(file).name)
    for f in files:
        money = (f"{f.total_amount:,.2f}" if f.total_amount is not None else "",) if spend else ()
        if f.error:
            table.add_row(label(f.file), *["-"] * (len(names) + len(money)), style="red")
        elif f.skipped:
            why = (
                "given twice"
                if f.note == GIVEN_TWICE
                else "not spend: skipped"
                if f.note
                else "a copy: skipped"
                if f.duplicate_of
                else "unchanged: skipped"
            )
            table.add_row(label(f.file), why, "", "", "", "", "", *money, f"{f.seconds:.2f}")
        elif f.kind in ("spend", "organisations"):
            table.add_row(
                label(f.file),
                f"{f.records_read:,}",
                f"{f.kept:,}",
                f"{f.rejected:,}",
                "",
                "",
                "",
                *money,
                f"{f.seconds:.2f}",
            )
        else:
            table.add_row(
                label(f.file),
                f"{f.records_read:,}",
                f"{f.kept:,}",
                f"{f.rejected:,}",
                f"{f.new_releases:,}",
                f"{f.updated_releases:,}",
                f"{f.processes:,}",
                *money,
                f"{f.seconds:.2f}",
            )
    return table


@app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="OCDS files (.json, .jsonl, .gz), council spend CSVs (.csv, .csv.gz) or folders."
        ),
    ],
    output_format: TableJsonFormat = OutputFormat.table,
    strict: bool = flag("--strict", "Exit non-zero if any record is rejected."),
    force: bool = flag("--force", "Re-read files already loaded with the same content."),
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="Worker processes for compiling OCDS and reading spend files "
            "(default: one per core).",
        ),
    ] = None,
    kind: Annotated[
        IngestKind,
        typer.Option(
            "--kind",
            help="auto: spend for .csv/.csv.gz, OCDS for JSON; or force one kind "
            "(organisations: a CSV list of name, identifiers, postcode, sector, scale, vcse).",
        ),
    ] = IngestKind.auto,
    body: Annotated[
        str | None,
        typer.Option(
            "--body", help="Publishing body of spend files that do not name it (e.g. LDS)."
        ),
    ] = None,
    columns: Annotated[
        Path | None,
        typer.Option("--columns", help="TOML file of extra spend column names (see docs)."),
    ] = None,
    explain: bool = flag(
        "--explain",
        "Load nothing: say how each spend file would be read (delimiter, encoding, "
        "header line, which column is taken as what and why).",
    ),
) -> None:
    """Load OCDS releases and council spend files ("spend over £500") into the store.

    Reads release packages, record packages, JSON Lines, JSON arrays of releases, gzip of
    any of these, and directories of such files, including the legacy Contracts Finder
    layouts. Council spend CSVs (any encoding, header layout and amount format the
    councils use) become payments with body, date, net amount and supplier. Each OCDS file,
    and each batch of spend files, is one transaction; invalid records go to the `rejected`
    table with file, line and reason, and everything valid is kept. Re-ingesting a file
    changes nothing; a file that cannot be read is reported and keeps its last good load.
    `--kind organisations` loads a CSV list of organisations (name, identifiers, postcode,
    sector, scale, vcse) whose sectors the network takes as its strongest evidence.

    Example:

    \b
      locality --db place.duckdb ingest data/sample/ocds releases-2025.jsonl.gz --format json
      locality ingest data/sample/spend
      locality ingest --kind spend --body "Leeds City Council" payments.txt
      locality ingest --explain new-council-2024-04.csv
      locality ingest --kind organisations local-vcse-list.csv
    """
    if explain:
        _explain_files(paths, output_format, columns, body)
        return
    con = connect_store(read_only=False)
    from locality.ingest.spendfile.errors import SpendColumnsError
    from locality.views.precompute import load

    show_progress = output_format == OutputFormat.table and err.is_terminal
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not show_progress,
        ) as progress:
            summary = load(
                con,
                paths,
                force=force,
                progress=_ingest_progress(progress),
                jobs=jobs,
                kind=kind.value,
                body=body,
                columns=columns,
            )
    except SpendColumnsError as exc:
        _ingest_failed(output_format, str(exc))
    except FileNotFoundError as exc:
        _ingest_failed(
            output_format,
            f"{exc}. Check the path, or run `locality ingest --help` for the formats read.",
        )
    except duckdb.OutOfMemoryException as exc:
        _ingest_failed(output_format, _out_of_memory(exc))
    finally:
        con.close()
    failed = [f for f in summary.files if f.error]
    for f in failed:
        err.print(f"[bold red]Error:[/] {f.error}", highlight=False)
    for f in summary.files:
        for warning in f.warnings:
            err.print(f"[yellow]Warning:[/] {f.file}: {warning}", highlight=False)
    if output_format == OutputFormat.json:
        _print_json(summary.as_json())
    else:
        out.print(_summary_table(summary))
        t = summary.totals
        out.print(
            f"{t['files']} file(s), {t['records_read']:,} records read, {t['kept']:,} kept, "
            f"{t['rejected']:,} rejected in {t['seconds']:.2f}s. "
            f"The store ({State.db}) now holds {t['releases']:,} releases, "
            f"{t['processes']:,} processes, {t['awards']:,} awards, "
            f"{t['organisations']:,} organisations, {t['spend_payments']:,} spend payments.",
            highlight=False,
        )
        if t["rejected"]:
            out.print(
                "Rejected records are in the `rejected` table; "
                "`locality status` lists the reasons.",
                highlight=False,
            )
    if failed:
        raise typer.Exit(1)
    if summary.totals["rejected"]:
        # Exit 0 means every record was read and kept; a rejection is worth a script's notice.
        err.print(
            f"{summary.totals['rejected']:,} record(s) rejected "
            "(see the `rejected` table, or `locality status`).",
            highlight=False,
        )
        raise typer.Exit(1)
    held = summary.totals["rejected_in_store_for_these_files"]
    if strict and held:
        err.print(
            f"--strict: {held} record(s) of these files are rejected "
            "(see the `rejected` table, or `locality status`)."
        )
        raise typer.Exit(1)


def _ingest_failed(output_format: OutputFormat, message: str) -> NoReturn:
    """The whole run failed: with --format json a summary saying so is still printed."""
    if output_format == OutputFormat.json:
        _print_json({"files": [], "totals": None, "error": message})
    _fail(message)


def _explain_files(
    paths: list[Path], output_format: OutputFormat, columns: Path | None, body: str | None
) -> None:
    """``locality ingest --explain``: each spend file's layout as the reader sees it."""
    from locality.ingest.ocds import expand_paths
    from locality.ingest.spendfile.columns import load_columns
    from locality.ingest.spendfile.errors import SpendColumnsError, SpendFileError
    from locality.ingest.spendfile.files import (
        SPEND_SUFFIXES,
        explain_spend_file,
        looks_like_spend,
    )

    try:
        files = expand_paths(paths, SPEND_SUFFIXES)
        config = load_columns(columns)
    except (FileNotFoundError, SpendColumnsError) as exc:
        _fail(str(exc))
    found: list[dict[str, Any]] = []
    for path in files:
        if not looks_like_spend(path) and not path.name.lower().endswith(".txt"):
            found.append({"file": str(path), "kind": "not spend", "error": None})
            continue
        try:
            found.append(explain_spend_file(path, config, body))
        except (SpendFileError, OSError, EOFError, UnicodeError) as exc:
            found.append({"file": str(path), "kind": "spend", "error": str(exc)})
    if output_format == OutputFormat.json:
        _print_json(found)
    else:
        for item in found:
            out.print(f"[bold]{item['file']}[/]", highlight=False)
            if item.get("error"):
                out.print(f"  cannot be read: {item['error']}", highlight=False)
                continue
            if item["kind"] != "spend":
                out.print("  not a spend CSV: --explain describes spend files", highlight=False)
                continue
            delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
            body = (
                f"body {item['body']!r} (from the {item['body_source']})"
                if item["body"]
                else f"body per row, from column {item['body_column']!r}"
            )
            out.print(
                f"  {item['encoding']}, {delimiter.get(item['delimiter'], item['delimiter'])}-"
                f"separated, header at line {item['header_line']}; {body}",
                highlight=False,
            )
            for name, taken in item["columns"].items():
                out.print(f"  {name:<15} ← {taken['column']!r}: {taken['why']}", highlight=False)
            if item["unused_columns"]:
                out.print(f"  not used: {', '.join(item['unused_columns'])}", highlight=False)
            for warning in item["warnings"]:
                out.print(f"  warning: {warning}", highlight=False)
    if any(item.get("error") for item in found):
        raise typer.Exit(1)


@app.command("compile")
def compile_command(
    paths: Annotated[list[Path], typer.Argument(help="OCDS files or directories.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write JSON Lines here instead of standard output."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Worker processes (default: one per core)."),
    ] = None,
) -> None:
    """Write one compiled release per OCID as JSON Lines (the objects `ocdskit compile` makes).

    Merges every release of a contracting process by the OCDS merge rules of the release
    schema (identifier merge by `id`, `wholeListMerge`, `omitWhenMerged`, null removes a
    field). Does not touch the store.

    Example:

    \b
      locality compile data/sample/ocds/contracts-finder-releases.jsonl -o compiled.jsonl
    """

    from locality.ingest.compiler import compile_files
    from locality.ingest.ocds import NotOcdsError

    def problem(message: str) -> None:
        err.print(f"[yellow]Skipped[/] {message}", highlight=False)

    try:
        if output is None:
            summary = compile_files(paths, sys.stdout.buffer, on_problem=problem, jobs=jobs)
        else:
            with open(output, "wb") as handle:
                summary = compile_files(paths, handle, on_problem=problem, jobs=jobs)
    except (FileNotFoundError, NotOcdsError) as exc:
        _fail(str(exc))
    except duckdb.OutOfMemoryException as exc:
        _fail(_out_of_memory(exc))
    err.print(
        f"Compiled {summary.compiled:,} processes from {summary.releases:,} releases "
        f"({summary.rejected:,} skipped).",
        highlight=False,
    )


def _fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@app.command("status")
def status_command(
    output_format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """What the store holds and how far to trust it.

    Counts (including `rejected`), coverage of supplier scale, VCSE flag, postcode and local
    authority, the date range, the publishers, council spend by publishing body, and each
    source's last `locality fetch` (window, pages, where it stopped).

    Example:

    \b
      locality status --format json
    """
    con = connect_store()
    try:
        status = store_status(con)
    finally:
        con.close()
    if output_format == OutputFormat.json:
        _print_json(status)
        return
    counts = Table(title=f"Store {State.db}", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, value in status["counts"].items():
        counts.add_row(name, f"{value:,}")
    out.print(counts)
    cov = status["coverage"]
    coverage = Table(title="Coverage (share of organisations)", title_justify="left")
    coverage.add_column("field")
    coverage.add_column("share", justify="right")
    for label, key in (
        ("supplier size (SME/large)", "supplier_scale"),
        ("supplier VCSE flag", "supplier_vcse"),
        ("supplier postcode", "supplier_postcode"),
        ("  where the address has one", "supplier_postcode_where_address_has_one"),
        ("supplier local authority", "supplier_local_authority"),
        ("buyer postcode", "buyer_postcode"),
        ("buyer local authority", "buyer_local_authority"),
    ):
        coverage.add_row(label, _fmt_share(cov[key]))
    out.print(coverage)
    dates = status["date_range"]
    out.print(f"Dates: {dates['first']} to {dates['last']}", highlight=False)
    publishers = Table(title="Publishers", title_justify="left")
    for name in ("prefix", "publisher", "processes", "from", "to"):
        publishers.add_column(name)
    for p in status["publishers"]:
        publishers.add_row(
            p["prefix"], p["name"], f"{p['processes']:,}", p["first_date"], p["last_date"]
        )
    out.print(publishers)
    if status["spend_bodies"]:
        spend = Table(title="Council spend by body", title_justify="left")
        for name in ("body", "code", "files", "payments", "£ net", "from", "to", "threshold £"):
            spend.add_column(name, justify="left" if name in ("body", "code") else "right")
        for b in status["spend_bodies"]:
            threshold = b["published_threshold"]
            spend.add_row(
                b["body"] or "(unknown)",
                b["la_registry_code"] or "",
                f"{b['files']:,}",
                f"{b['payments']:,}",
                f"{b['total_amount']:,.2f}",
                b["first_date"],
                b["last_date"],
                "all payments" if threshold == 0 else f"{threshold:,.0f}",
            )
        out.print(spend)
    resolved = status["spend_suppliers"]
    if resolved:
        methods = ", ".join(
            f"{method} {v['suppliers']:,}" for method, v in resolved["by_method"].items()
        )
        out.print(
            f"Spend suppliers resolved to organisations: {_fmt_share(resolved['resolved_share'])}"
            f" of net spend, {resolved['resolved_suppliers']:,} of {resolved['suppliers']:,} "
            f"suppliers ({methods or 'none'}; fuzzy at score >= {resolved['fuzzy_cutoff']:g}).",
            highlight=False,
        )
        registers = resolved.get("by_register") or {}
        if registers:
            table = Table(title="Spend suppliers the organisation registers know")
            for column in ("register", "suppliers", "VCSE", "not VCSE", "£ net"):
                table.add_column(column, justify="left" if column == "register" else "right")
            for name, counts in sorted(registers.items(), key=lambda item: -item[1]["amount"]):
                table.add_row(
                    name,
                    f"{counts['suppliers']:,}",
                    f"{counts['vcse']:,}",
                    f"{counts['not_vcse']:,}",
                    f"{counts['amount']:,.0f}",
                )
            out.print(table)
    if status["rejected_reasons"]:
        reasons = Table(title="Rejected records by reason", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("count", justify="right")
        for r in status["rejected_reasons"]:
            reasons.add_row(r["reason"], f"{r['count']:,}")
        out.print(reasons)
    print_fetches(status.get("fetches") or [])


# Columns shown in the table view (every column is in --format json and csv).
TABLE_COLUMNS = (
    ("awards", "awards"),
    ("awarded_value", "awarded £"),
    ("sme_share", "SME"),
    ("known_scale_share", "size known"),
    ("vcse_share", "VCSE"),
    ("local_share", "local"),
    ("known_location_share", "place known"),
    ("hhi", "HHI"),
    ("top3_share", "top 3"),
    ("median_award_value", "median £"),
)


def _parse_where(where: list[str]) -> dict[str, list[str]]:
    try:
        return parse_where(where)
    except BadRequest as exc:
        _fail(f"--{exc.message}", 2)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_share") or name.startswith("suitability_gap"):
        return f"{value:.1%}"
    if name.endswith("_value"):
        return f"{value:,.0f}"
    if name == "hhi":
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@app.command("metrics")
def metrics_command(
    by: Annotated[str, typer.Option("--by", help=f"Group by: {', '.join(DIMENSIONS)}.")] = "buyer",
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="Keep only rows where COLUMN=VALUE (repeat to combine; same column twice "
            f"means either). Columns: place, {', '.join(FILTERABLE)}.",
        ),
    ] = None,
    output_format: TableJsonCsvFormat = MetricsFormat.table,
    limit: Annotated[int | None, typer.Option("--limit", help="Show the first N rows.")] = None,
    places_file: Annotated[
        Path | None,
        places_option(
            "TOML file of named places (sets of councils) for --by place and "
            "--where place=NAME; combined authorities are built in."
        ),
    ] = None,
) -> None:
    """Who public money reaches: SME, VCSE and local shares, concentration, contract shape.

    One row per group, largest awarded value first. Values are GBP; an award counts when
    active or without status; an award's value is split equally among its suppliers; every
    share comes with the share of value it could be computed on (`known_*_share`).
    `docs/metrics.md` defines each column.

    Example:

    \b
      locality metrics --by locality --where region=London --format csv > london.csv
      locality metrics --by theme --where place="West Yorkshire"
      locality metrics --by place --places my-places.toml
    """
    if by not in DIMENSIONS:
        _fail(f"unknown --by {by!r}; choose one of: {', '.join(DIMENSIONS)}", 2)
    filters = _parse_where(where or [])
    try:
        known = load_places(places_file)
        for name in filters.pop("place", []):
            resolve_place(name, known)
    except PlaceError as exc:
        _fail(str(exc), 2)
    from locality.views import queries

    # The dashboard's own path (/api/metrics): the figures `locality ingest` stored when
    # they are current (a national store's measures take seconds to compute), else computed.
    with open_store() as con, queries.Session(queries.Store(State.db, places_file), con=con) as s:
        try:
            columns, rows = queries.metrics(s, by, where or [], limit)
        except BadRequest as exc:
            _fail(exc.message, 2)
    output(
        output_format,
        json=lambda: rows,
        csv=lambda: (columns, rows),
        table=lambda: _print_metrics(rows, by),
    )


def _print_metrics(rows: list[dict[str, Any]], by: str) -> None:
    keys = list(DIMENSIONS[by].keys)
    view = Table(title=f"Locality metrics by {by}", title_justify="left")
    label = keys[0] if keys else None
    if label:
        view.add_column(label, overflow="ellipsis", max_width=48, no_wrap=True)
    for _, header in TABLE_COLUMNS:
        view.add_column(header, justify="right")
    for row in rows:
        cells = [str(row[label])] if label else []
        cells += [
            # An HHI over a handful of awards or suppliers is small, not concentrated
            # (metrics/concentration.py: small_base).
            "few" if name == "hhi" and row.get("small_base") else _cell(name, row.get(name))
            for name, _ in TABLE_COLUMNS
        ]
        view.add_row(*cells)
    out.print(view)
    out.print(
        "Shares are of value where the supplier's size, VCSE status or place is known; "
        "HHI 'few': too few awards or suppliers to read concentration; "
        "`--format json` has every column.",
        highlight=False,
    )


@app.command("compare")
def compare_command(
    names: Annotated[
        list[str], typer.Argument(help="Two or more councils or places (combined authorities).")
    ],
    output_format: TableJsonCsvFormat = MetricsFormat.table,
    places_file: PlacesFile = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Compare within COLUMN=VALUE only, e.g. year=2024."),
    ] = None,
) -> None:
    """Headline measures of councils or places side by side.

    Names resolve through the council name lookup (alternative names such as "City of York
    Council" work) and the places: combined authorities by their usual name ("West
    Yorkshire") or code (WYCA), and those of a --places file. A buyer belongs to a council
    by its postcode.

    Example:

    \b
      locality compare York Swindon Bristol
      locality compare "West Yorkshire" "Greater Manchester" --format csv
    """
    filters = _parse_where(where or [])
    with open_store() as con:
        from locality.metrics.compare import compare as compare_places

        try:
            table = compare_places(con, names, places_file=places_file, where=filters)
        except PlaceError as exc:
            _fail(str(exc), 2)
        except KeyError as exc:
            _fail(str(exc.args[0]), 2)
    output_arrow(output_format, table, _print_compared)


def _print_compared(rows: list[dict[str, Any]]) -> None:
    from locality.metrics.compare import HEADLINE

    view = Table(title="Compared", title_justify="left")
    view.add_column("measure")
    for row in rows:
        view.add_column(str(row["place"]), justify="right")
    for measure in HEADLINE:
        view.add_row(measure, *[_cell(measure, row.get(measure)) for row in rows])
    out.print(view)
    out.print(
        "Shares are of value where the supplier's size, VCSE status or place is known; "
        "`--format json` has every measure.",
        highlight=False,
    )


@app.command("flags")
def flags_command(
    buyer: Annotated[
        str | None, typer.Option("--buyer", help="Only this buyer: its name or id.")
    ] = None,
    locality: Annotated[
        str | None,
        typer.Option("--locality", help="Only buyers in this local authority: name or code."),
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option(
            "--thresholds",
            help="A TOML file whose keys replace the default thresholds (see flags.toml).",
        ),
    ] = None,
    include_data_quality: bool = flag(
        "--include-data-quality",
        "Also list the processes whose only findings are data-quality ones (missing "
        "key fields, award dated before the tender closed, an amount that is not money), "
        "after those with integrity flags; the `kind` column tells them apart.",
    ),
    output_format: TableJsonCsvFormat = MetricsFormat.table,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Show the first N processes.")
    ] = None,
) -> None:
    """Contracting processes with integrity red flags and their reasons, most severe first.

    Integrity flags: direct award above a value threshold, advertisement shorter than the
    legal minimum, decision period outside the usual range, value just under a threshold,
    award value growth, single bidder (where bid counts are published). risk = share of the
    computable integrity flags raised, with how many were computable. A flag is a reason to
    look closer, not a finding. Data-quality findings (missing key fields, an award dated
    before the tender closed, a placeholder or otherwise unusable amount) are for the
    publisher to fix: they are never in the risk index, shown in the `data_quality` column,
    and their processes are listed only with --include-data-quality. `docs/metrics.md`
    ("Red flags") defines each one.

    Example:

    \b
      locality flags --locality Leeds --limit 20
      locality flags --buyer "Cabinet Office" --thresholds strict.toml --format csv > flags.csv
      locality flags --buyer "Cabinet Office" --include-data-quality --format json
    """
    from rich.markup import escape

    from locality.metrics.flags import flags_table

    if thresholds is not None and not thresholds.is_file():
        _fail(f"--thresholds {thresholds}: no such file", 2)
    with open_store() as con:
        try:
            table = flags_table(
                con,
                buyer=buyer,
                locality=locality,
                thresholds=thresholds,
                limit=limit,
                include_data_quality=include_data_quality,
            )
        except ValueError as exc:
            _fail(escape(str(exc)), 2)
    output_arrow(output_format, table, lambda rows: _print_flags(rows, include_data_quality))


def _print_flags(rows: list[dict[str, Any]], include_data_quality: bool) -> None:
    view = Table(title="Red flags, most severe first", title_justify="left")
    view.add_column("ocid", no_wrap=True)
    view.add_column("buyer", overflow="ellipsis", max_width=32, no_wrap=True)
    view.add_column("value £", justify="right")
    view.add_column("risk", justify="right")
    view.add_column("reasons", ratio=1)
    view.add_column("data quality", ratio=1)
    for row in rows:
        risk = row["risk_index"]
        view.add_row(
            row["ocid"],
            str(row["buyer_name"] or "-"),
            _cell("awarded_value", row["value"]),
            f"{'-' if risk is None else f'{risk:.2f}'} ({row['flags_raised']}/{row['flags_used']})",
            row["reasons"] or "-",
            row["data_quality"] or "-",
        )
    out.print(view)
    flagged = sum(1 for row in rows if row["kind"] == "integrity")
    summary = f"{flagged:,} process(es) with integrity flags"
    if include_data_quality:
        summary += f", {len(rows) - flagged:,} with only data-quality findings"
    out.print(
        f"{summary}. risk = integrity flags raised / computable; "
        "`--format json` has every flag and finding, the fields behind them and why any "
        "flag is not computable"
        + (
            "."
            if include_data_quality
            else "; --include-data-quality adds those with only data-quality findings."
        ),
        highlight=False,
    )


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _text(value: Any) -> str:
    """Data as a table cell: never read as Rich markup."""
    from rich.markup import escape

    return "-" if value is None else escape(str(value))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else _text(value)


COUNTS_AS = {"awarded": "awarded", "ceiling": "framework ceiling (not money)", "unknown": "unknown"}


@app.command("process")
def process_command(
    ocid: Annotated[str, typer.Argument(help="The OCID of a contracting process.")],
    output_format: TableJsonFormat = OutputFormat.table,
) -> None:
    """A contracting process as locality understands it, to check a figure against the notice.

    Its buyer (and whether it is a central purchasing body), its stage, the kind of
    agreement it sets up with the evidence that decided it, suitability for SMEs and VCSEs,
    the timeline of its notices (form, stage, date, link), bids and lots, and each award:
    the value a measure sums (none when unknown), the gross value, which published field it
    came from, and whether it counts as money awarded, a framework ceiling (not money) or
    unknown, with the reason; then each supplier's size and VCSE status as published. The
    dashboard's process page (`/process/OCID`, `/api/process/OCID`) shows the same.

    Example:

    \b
      locality process ocds-h6vhtk-04e9fb
      locality process ocds-b5fd17-b9541ef8-1235-4765-b44f-d21ae154d761 --format json
    """
    from rich.markup import escape

    from locality.store.lookup import near_ocids, process_view

    con = connect_store()
    try:
        view = process_view(con, ocid)
        near = near_ocids(con, ocid) if view is None else []
    finally:
        con.close()
    if view is None:
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        _fail(escape(f"no contracting process with the OCID {ocid!r} in this store.{hint}"))
    assert view is not None
    if output_format == OutputFormat.json:
        _print_json(view)
        return
    _print_process(view)


def _print_process(view: dict[str, Any]) -> None:
    def line(label: str, text: str) -> None:
        out.print(f"[bold]{label}:[/] {text}", highlight=False)

    out.print(f"[bold]{_text(view['title'] or view['ocid'])}[/]", highlight=False)
    publisher = view["publisher"] or "unknown publisher"
    line("Process", _text(f"{view['ocid']} ({publisher}, {view['layout']} layout)"))
    buyer = view["buyer"]
    cpb = buyer["central_purchasing_body"]
    line(
        "Buyer",
        _text(f"{buyer['name'] or 'unknown'} ({buyer['id'] or 'no id'})")
        + ("" if cpb is None else f"; central purchasing body: {_yes_no(cpb)}")
        + (f"; type {_text(buyer['type'])}" if buyer["type"] else ""),
    )
    stage = _text(view["stage"] or "unknown")
    line(
        "Stage",
        stage + (f" (latest notice {_text(view['notice_form'])})" if view["notice_form"] else ""),
    )
    agreement = view["agreement_type"] or "unknown"
    evidence = view["agreement_evidence"]
    line("Agreement", _text(agreement) + (f", because {_text(evidence)}" if evidence else ""))
    method = view["procurement_method"] or "unknown"
    details = view["procurement_method_details"]
    line("Procedure", _text(method) + (f" ({_text(details)})" if details else ""))
    tender = view["tender"]
    line(
        "Tender value",
        f"{to_the_penny(tender['value'], tender['currency'])} net, "
        f"{to_the_penny(tender['value_gross'], tender['currency'])} gross",
    )
    suitable = view["suitable"]
    line(
        "Suitable for",
        f"SMEs {_yes_no(suitable['sme'])}, VCSEs {_yes_no(suitable['vcse'])}",
    )
    bids = view["bids"]
    line(
        "Bids",
        f"{_cell('n', bids['bidders'])} bidders, {_cell('n', bids['final_stage_bidders'])} at "
        f"the final stage, of which {_cell('n', bids['sme_final_stage_bidders'])} SMEs and "
        f"{_cell('n', bids['vcse_final_stage_bidders'])} VCSEs",
    )
    if view["duplicate_of"]:
        line("Copy of", _text(f"{view['duplicate_of']} (this process is not counted)"))

    notices = Table(title="Notices, oldest first", title_justify="left")
    for column in ("date", "form", "stage", "notice", "link"):
        notices.add_column(column, overflow="fold")
    for n in view["notices"]:
        notices.add_row(
            _when(n["date"]), _text(n["form"]), _text(n["stage"]), _text(n["id"]), _text(n["url"])
        )
    if view["notices"]:
        out.print(notices)
    else:
        out.print("No notice of this process is recorded.", highlight=False)

    if view["lots"]:
        lots = Table(title="Lots", title_justify="left")
        for column in (
            "lot",
            "title",
            "SME",
            "VCSE",
            "value",
            "gross",
            "bids",
            "final",
            "SME final",
            "VCSE final",
        ):
            lots.add_column(column, justify="left" if column in ("lot", "title") else "right")
        for lot in view["lots"]:
            b = lot["bids"]
            lots.add_row(
                _text(lot["id"]),
                _text(lot["title"]),
                _yes_no(lot["suitable"]["sme"]),
                _yes_no(lot["suitable"]["vcse"]),
                to_the_penny(lot["value"], lot["currency"]),
                to_the_penny(lot["value_gross"], lot["currency"]),
                *(
                    _cell("n", b[k])
                    for k in (
                        "bidders",
                        "final_stage_bidders",
                        "sme_final_stage_bidders",
                        "vcse_final_stage_bidders",
                    )
                ),
            )
        out.print(lots)

    if not view["awards"]:
        out.print("No award is published for this process.", highlight=False)
        return
    awards = Table(title="Awards", title_justify="left")
    for column in ("award", "status", "value", "gross", "from", "counts as"):
        awards.add_column(
            column, justify="right" if column in ("value", "gross") else "left", overflow="fold"
        )
    for a in view["awards"]:
        counts_as = COUNTS_AS.get(a["counts_as"] or "", a["counts_as"] or "-")
        if a["counts_as"] != "awarded" and a["counts_as_reason"]:
            counts_as += f": {a['counts_as_reason']}"
        source = a["value_source"]
        origin = f"{source} ({a['value_field']})" if source and a["value_field"] else source
        awards.add_row(
            _text(a["id"]),
            _text(a["status"] or "no status"),
            to_the_penny(a["value"], a["currency"]),
            to_the_penny(a["value_gross"], a["currency"]),
            _text(origin),
            _text(counts_as),
        )
    out.print(awards)
    suppliers = Table(title="Suppliers of each award", title_justify="left")
    for column in ("award", "supplier", "id", "size", "VCSE"):
        suppliers.add_column(column, overflow="fold")
    for a in view["awards"]:
        for s in a["suppliers"]:
            vcse = _yes_no(s["vcse"]) + (f" ({s['vcse_source']})" if s["vcse_source"] else "")
            suppliers.add_row(
                _text(a["id"]),
                _text(s["name"]),
                _text(s["id"]),
                _text(s["scale"] or "unknown"),
                _text(vcse),
            )
        if not a["suppliers"]:
            suppliers.add_row(_text(a["id"]), "none named", "", "", "")
    out.print(suppliers)


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the dashboard: a place's picture in a browser, and its figures as a JSON API.

    Pages for each council or place (headline figures in plain words, shares by year,
    value by theme, top suppliers, red flags, council spend), side-by-side comparison,
    buyers, suppliers and contracting processes, with every chart's data as CSV; the API is
    under /api/ (schema at /openapi.json). The store is only read, never written; nothing
    is loaded from outside this server. Stop with Ctrl+C. Pages answer from the figures
    `locality ingest` stored (`locality refresh` stores them again); a store whose figures
    are missing or stale is computed on request instead. While the server reads the store,
    `locality ingest` cannot write it: stop the server first.

    Example:

    \b
      locality --db data/sample.duckdb serve --port 8765
      locality serve --host 0.0.0.0    # reachable from other machines
    """
    import uvicorn

    from locality.web.app import SERVER_LIMITS, create_app

    connect_store().close()  # a missing or unreadable store fails here, not in a request
    shown = f"[{host}]" if ":" in host else host
    out.print(f"locality dashboard: http://{shown}:{port}/", highlight=False)
    uvicorn.run(
        create_app(State.db),
        host=host,
        port=port,
        log_level="warning",
        **SERVER_LIMITS,
    )


@app.command("report")
def report_command(
    name: Annotated[str, typer.Argument(help="A council or place (combined authority).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare", help="A council or place to compare with (repeat, up to 5 times)."
        ),
    ] = None,
    places_file: PlacesFile = None,
) -> None:
    """Write a place's report: one self-contained HTML file to publish, open offline or print.

    The sections of the dashboard's place page (headline figures in plain words, shares by
    year, value by theme, top suppliers, red flags), then the data-quality caveats, the
    definitions of the measures, the data sources with their licences, and the date it was
    made. Charts and data are inside the file; it prints to A4 one section per page.
    --compare adds the headline measures of other places side by side.

    Example:

    \b
      locality report Manchester -o manchester.html
      locality report "West Yorkshire" -o wy.html --compare "Greater Manchester" --compare York
    """
    from locality.report import BadRequest, NotFound, write_report

    try:
        path = write_report(State.db, name, output, compare=compare or [], places_file=places_file)
    except StoreError as exc:
        _fail(str(exc))
    except (NotFound, BadRequest, PlaceError) as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    out.print(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False, markup=False)


class PlaceSection(StrEnum):
    bodies = "bodies"
    years = "years"
    months = "months"
    themes = "themes"
    theme_years = "theme-years"
    unmapped = "unmapped"
    suppliers = "suppliers"
    transfers = "transfers"
    transfer_payees = "transfer-payees"
    coverage = "coverage"
    contracted = "contracted"


@app.command("place")
def place_command(
    name: Annotated[str, typer.Argument(help="A place (combined authority) or a council.")],
    output_format: TableJsonCsvFormat = MetricsFormat.table,
    section: Annotated[
        PlaceSection, typer.Option("--section", help="The table written by --format csv.")
    ] = PlaceSection.years,
    top: Annotated[
        int,
        typer.Option("--top", min=1, help="How many top suppliers (and largest unmapped lines)."),
    ] = 20,
    places_file: Annotated[
        Path | None, places_option("TOML file of named places: councils, and other bodies by name.")
    ] = None,
    min_amount: Annotated[
        float | None,
        typer.Option(
            "--min-amount",
            min=0,
            help="Count only payments whose absolute net amount is at least this (GBP).",
        ),
    ] = None,
    like_for_like: bool = flag(
        "--like-for-like",
        "Set --min-amount to the highest threshold the place's bodies publish at "
        "(card files left out), so every body is counted alike.",
    ),
    spend_themes: Annotated[
        Path | None,
        typer.Option(
            "--spend-themes",
            help="CSV of extra theme rules (field,pattern,theme,why), tried before the "
            "bundled ones.",
        ),
    ] = None,
    include_transfers: bool = flag(
        "--include-transfers",
        "Count payments to other public bodies (councils, the Secretary of State, "
        "HMRC, combined authorities, police, fire, NHS, pension funds) as supplier spend "
        "in the top suppliers, concentration and shares; by default they are left out "
        "and shown on their own.",
    ),
) -> None:
    """The whole place: what every public body in it pays, to whom, for what, and what its
    notices show.

    Spend of each body (councils, plus police, fire, NHS or other bodies a --places file
    names) by month and financial year, with the months each body's spend files cover (and
    the councils with none), spend by theme (the contract themes, from each payment's
    expense type or service area; an "unmapped" line always shown) with each theme's
    supplier concentration, the top suppliers across the place with how many bodies each
    serves, the shares to SMEs, VCSEs and local suppliers with their coverage, the
    transfers to other public bodies by kind and payee (left out of the suppliers,
    concentration and shares unless --include-transfers), and per council the contracted
    value (OCDS awards of buyers in it) against the value paid, by financial year. Names
    resolve as in `locality compare`.

    Example:

    \b
      locality place "West Yorkshire"
      locality place "Greater Manchester" --format csv --section suppliers > gm.csv
      locality place "West Yorkshire" --like-for-like --format json
      locality place Leeds --min-amount 500 --section themes --format csv
      locality place "West Yorkshire" --places wy.toml   # wy.toml: [places."West Yorkshire"]
                                                         #   bodies = ["West Yorkshire Police"]
      locality place Salford --spend-themes my-themes.csv --section unmapped --format csv
      locality place Leeds --section transfer-payees --format csv
      locality place "Greater Manchester" --include-transfers --section suppliers --format csv
    """
    from locality.spend.place import place_view
    from locality.spend.themes import SpendThemesError, load_rules

    try:
        spend_threshold(min_amount, like_for_like)
    except BadRequest as exc:
        _fail(
            exc.message.replace("min_amount", "--min-amount").replace(
                "like_for_like", "--like-for-like"
            ),
            2,
        )
    try:
        target = resolve_place(name, load_places(places_file))
        rules = load_rules(spend_themes)
    except (PlaceError, SpendThemesError) as exc:
        _fail(str(exc), 2)
    con = connect_store()
    try:
        view = place_view(
            con,
            target,
            top=top,
            min_amount=min_amount,
            like_for_like=like_for_like,
            theme_rules=rules,
            include_transfers=include_transfers,
        )
    finally:
        con.close()
    output(
        output_format,
        json=lambda: view,
        csv=lambda: spend_section(view, section.value),
        table=lambda: _print_place(view),
    )


def _body_key(row: dict[str, Any]) -> str:
    """A body's column label: its council code, else (a non-council body) its name."""
    return str(row["code"] or row["body"])


def _print_place(view: dict[str, Any]) -> None:
    named = f"; other bodies {', '.join(view['named_bodies'])}" if view["named_bodies"] else ""
    out.print(
        f"{view['place']} ({view['source']}): councils {', '.join(view['councils'])}{named}",
        highlight=False,
    )
    threshold = view["threshold"]
    counted = (
        f"payments of £{threshold['min_amount']:,.2f} or more, {threshold['basis']}"
        + (f"; set by {', '.join(threshold['set_by'])}" if threshold["set_by"] else "")
        if threshold["min_amount"]
        else "every published payment"
    )
    out.print(f"Counted: {counted}.", highlight=False)
    if not view["bodies"]:
        out.print("No spend loaded for this place.", highlight=False)
    bodies = Table(title="Spend by body", title_justify="left")
    for column in ("body", "code", "payments", "£ net", "from", "to", "threshold £"):
        bodies.add_column(column, justify="left" if column in ("body", "code") else "right")
    for b in view["bodies"]:
        threshold = b["published_threshold"]
        bodies.add_row(
            b["body"],
            b["code"] or "-",
            f"{b['payments']:,}",
            _figure(b["amount"]),
            b["first_date"],
            b["last_date"],
            "all" if threshold == 0 else _figure(threshold),
        )
    out.print(bodies)
    _print_place_coverage(view)
    s = view["shares"]
    treated = (
        "counted as suppliers (--include-transfers)"
        if view["transfers_included"]
        else "left out of the suppliers and shares"
    )
    out.print(
        f"Paid £{s['total_amount']:,.0f}: £{s['supplier_amount']:,.0f} to suppliers, "
        f"£{s['transfer_amount']:,.0f} to other public bodies (transfers, {treated}).",
        highlight=False,
    )
    shares = Table(title="Who the money reaches", title_justify="left")
    for column in ("measure", "share", "coverage"):
        shares.add_column(column, justify="left" if column == "measure" else "right")
    for label, share, coverage in (
        ("SMEs", "sme_share", "known_scale_coverage"),
        ("VCSEs", "vcse_share", "known_vcse_coverage"),
        ("suppliers in the place", "local_share", "known_location_coverage"),
        ("suppliers resolved to an organisation", None, "resolved_coverage"),
        ("redacted payees", "redacted_share", None),
    ):
        shares.add_row(
            label,
            _fmt_share(s[share]) if share else "",
            _fmt_share(s[coverage]) if coverage else "",
        )
    out.print(shares)
    years = Table(title="Spend by financial year", title_justify="left")
    codes = [_body_key(b) for b in view["bodies"]]
    years.add_column("year")
    for code in codes:
        years.add_column(code, justify="right")
    by_year: dict[str, dict[str, float]] = {}
    for row in view["years"]:
        by_year.setdefault(row["financial_year"], {})[_body_key(row)] = row["amount"]
    for year, amounts in sorted(by_year.items()):
        years.add_row(year, *[_figure(amounts.get(code)) for code in codes])
    out.print(years)
    _print_place_themes(view)
    suppliers = Table(title="Top suppliers across the place", title_justify="left")
    for column in ("supplier", "bodies", "payments", "£ net", "matched", "scale", "VCSE"):
        suppliers.add_column(column, justify="left" if column == "supplier" else "right")
    for r in view["suppliers"]:
        suppliers.add_row(
            str(r["supplier_name"]),
            str(r["bodies"]),
            f"{r['payments']:,}",
            _figure(r["amount"]),
            r["match_method"] or "-",
            r["scale"] or "-",
            "-" if r["vcse"] is None else ("yes" if r["vcse"] else "no"),
        )
    out.print(suppliers)
    _print_place_transfers(view)
    contracted = Table(title="Contracted (notices) against paid (spend)", title_justify="left")
    for column in ("council", "year", "awards", "contracted £", "paid £", "contracted/paid"):
        contracted.add_column(column, justify="left" if column == "council" else "right")
    for r in view["contracted_vs_paid"]:
        ratio = r["contracted_to_paid"]
        contracted.add_row(
            r["council"],
            r["financial_year"],
            f"{r['awards']:,}",
            _figure(r["contracted"]),
            _figure(r["paid"]),
            "-" if ratio is None else f"{ratio:.1%}",
        )
    out.print(contracted)
    for note in view["notes"]:
        out.print(note, highlight=False)


def _print_place_coverage(view: dict[str, Any]) -> None:
    coverage = Table(title="Spend files of each body: months covered", title_justify="left")
    for column in ("body", "code", "files", "first month", "last month", "months missing"):
        coverage.add_column(column, justify="right" if column == "files" else "left")
    for r in view["coverage"]:
        coverage.add_row(
            str(r["body"]),
            r["code"] or "-",
            f"{r['files']:,}",
            r["first_month"] or "-",
            r["last_month"] or "-",
            ", ".join(r["gaps"]) if r["files"] else "no spend files loaded",
        )
    out.print(coverage)


def _print_place_transfers(view: dict[str, Any]) -> None:
    left_out = "" if view["transfers_included"] else " (not in the suppliers or shares above)"
    kinds = Table(title=f"Transfers to other public bodies{left_out}", title_justify="left")
    for column in ("kind", "payees", "payments", "£ net", "share", "to the place's own £"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for r in view["transfers"]:
        kinds.add_row(
            r["label"],
            f"{r['payees']:,}",
            f"{r['payments']:,}",
            _figure(r["amount"]),
            _fmt_share(r["share_of_total"]),
            _figure(r["within_place_amount"]),
        )
    out.print(kinds)
    payees = Table(title="Largest transfer payees", title_justify="left")
    for column in ("payee", "kind", "bodies", "payments", "£ net", "rule"):
        payees.add_column(
            column, justify="left" if column in ("payee", "kind", "rule") else "right"
        )
    for r in view["transfer_payees"]:
        payees.add_row(
            str(r["payee"]),
            r["kind"],
            str(r["bodies"]),
            f"{r['payments']:,}",
            _figure(r["amount"]),
            r["rule"],
        )
    out.print(payees)


def _print_place_themes(view: dict[str, Any]) -> None:
    themes = Table(title="Spend by theme, and how concentrated", title_justify="left")
    columns = (
        "theme",
        "payments",
        "£ net",
        "share",
        "by service area £",
        "suppliers",
        "HHI",
        "top 1",
        "top 3",
        "redacted £",
        "transfers £",
    )
    for column in columns:
        themes.add_column(column, justify="left" if column == "theme" else "right")
    for r in view["themes"]:
        themes.add_row(
            r["theme"],
            f"{r['payments']:,}",
            _figure(r["amount"]),
            _fmt_share(r["share_of_total"]),
            _figure(r["by_service_area"]),
            f"{r['distinct_suppliers']:,}",
            _figure(r["hhi"]),
            _fmt_share(r["top1_share"]),
            _fmt_share(r["top3_share"]),
            _figure(r["redacted_amount"]),
            _figure(r["transfer_amount"]),
            style="italic" if r["theme"] == "unmapped" else None,
        )
    out.print(themes)
    by_theme: dict[str, dict[str, float]] = {}
    for row in view["theme_years"]:
        by_theme.setdefault(row["theme"], {})[row["financial_year"]] = row["amount"]
    years = sorted({row["financial_year"] for row in view["theme_years"]})
    theme_years = Table(title="Spend by theme and financial year (£ net)", title_justify="left")
    theme_years.add_column("theme")
    for year in years:
        theme_years.add_column(year, justify="right")
    for theme in [r["theme"] for r in view["themes"]]:
        amounts = by_theme.get(theme, {})
        theme_years.add_row(theme, *[_figure(amounts.get(year)) for year in years])
    out.print(theme_years)
    unmapped = Table(title="Largest unmapped lines", title_justify="left")
    for column in ("service area", "expense type", "rule", "payments", "£ net"):
        unmapped.add_column(column, justify="right" if column in ("payments", "£ net") else "left")
    for r in view["unmapped"]:
        unmapped.add_row(
            r["service_area"] or "-",
            r["expense_type"] or "-",
            r["rule"],
            f"{r['payments']:,}",
            _figure(r["amount"]),
        )
    out.print(unmapped)


suppliers_app = typer.Typer(
    help=(
        "Spend suppliers: resolve them to organisations, classify them from the bundled "
        "organisation registers (charities, mutual societies, housing providers, "
        "universities, colleges), add what you know about them.\n\n"
        "Example:\n\n"
        "\b\n"
        "  locality suppliers resolve\n"
        '  locality suppliers show "Royal Mencap Society"\n'
        "  locality suppliers add-facts my-suppliers.csv"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(suppliers_app, name="suppliers")


@suppliers_app.command("add-facts")
def suppliers_add_facts_command(
    files: Annotated[list[Path], typer.Argument(help="CSV files of supplier facts.")],
) -> None:
    """Add supplier facts: a CSV of name or company_number -> postcode, scale, vcse.

    Columns (header names without case or punctuation): name or company_number (at least
    one), and any of postcode, scale (sme, micro, small, medium, large) and vcse (yes/no).
    A fact given by company number applies by number, else by normalised name; it wins over
    what the contract data knows. A later fact for the same supplier replaces the earlier.

    Example:

    \b
      locality suppliers add-facts my-suppliers.csv
    """
    from locality.enrich.resolve import SupplierFactsError, add_supplier_facts

    con = connect_store(read_only=False)
    try:
        added = add_supplier_facts(con, files)
    except SupplierFactsError as exc:
        _fail(str(exc), 2)
    finally:
        con.close()
    out.print(f"Added {added:,} supplier fact(s).", highlight=False)


@suppliers_app.command("resolve")
def suppliers_resolve_command(
    output_format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """Match spend suppliers to organisations again (ingest does it after each load).

    By company or charity number, then a number of the same body in the bundled registers
    (method `register`), then normalised name, then a fuzzy score; each match is recorded in
    `spend_supplier_matches` with its method, score and evidence. The registers also say
    what each supplier is (charity, mutual society, non-profit housing provider,
    university...) and so whether it is a VCSE, with the register and identifier as
    evidence (`spend_supplier_registers`). Names already scored without a match against
    the same organisations are not scored again (`fuzzy_unchanged`).

    Example:

    \b
      locality suppliers resolve
      locality suppliers resolve --format json
    """
    from locality.enrich.resolve import resolve_suppliers

    con = connect_store(read_only=False)
    try:
        summary = resolve_suppliers(con).as_json()
    finally:
        con.close()
    if output_format == OutputFormat.json:
        _print_json(summary)
        return
    methods = ", ".join(f"{k} {v:,}" for k, v in summary["matched"].items()) or "none"
    out.print(
        f"{summary['suppliers']:,} spend suppliers: matched {methods}; "
        f"{summary['unmatched']:,} unmatched.",
        highlight=False,
    )
    registers = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["registers"].items()))
    status = summary["vcse_from_registers"]
    out.print(
        f"Classified from registers: {sum(summary['registers'].values()):,} "
        f"({registers or 'none'}): VCSE {status.get('vcse', 0):,}, "
        f"not VCSE {status.get('not_vcse', 0):,}, kind only {status.get('unknown', 0):,}.",
        highlight=False,
    )
    out.print(
        f"Fuzzy matching: {summary['fuzzy_scored']:,} names scored against every "
        f"organisation, {summary['fuzzy_rechecked']:,} against new or changed ones only, "
        f"{summary['fuzzy_unchanged']:,} unchanged (not scored).",
        highlight=False,
    )


@suppliers_app.command("show")
def suppliers_show_command(
    name: Annotated[str, typer.Argument(help="Supplier name as published (any case).")],
    output_format: TableJsonCsvFormat = MetricsFormat.table,
) -> None:
    """What is known of a spend supplier, and from where.

    Every spend supplier key (name, company number, charity number) with this normalised
    name: its net spend, the organisation it matched (method, score, evidence), what the
    registers say it is (kind, VCSE, register, identifier, how it was found) and the VCSE
    status used, with its source (fact, register or organisation).

    Example:

    \b
      locality suppliers show "Royal Mencap Society"
      locality suppliers show "Dimensions UK Ltd" --format json
    """
    from locality.enrich.resolve import supplier_evidence

    con = connect_store()
    try:
        rows = supplier_evidence(con, name)
    finally:
        con.close()
    if output_format == MetricsFormat.json:
        _print_json(rows)
        return
    if output_format == MetricsFormat.csv:
        _print_csv(pa.Table.from_pylist(rows) if rows else pa.table({}))
        return
    if not rows:
        out.print(f"No spend supplier is called {name!r}.", highlight=False)
        return
    table = Table(title=f"Spend suppliers called {name!r}", title_justify="left")
    columns = ("company", "charity", "net £", "organisation", "match", "registers", "VCSE")
    for column in columns:
        table.add_column(column, justify="right" if column == "net £" else "left")
    for r in rows:
        match = f"{r['method']} {r['score']:g}" if r["method"] else "-"
        if r["match_evidence"]:
            match += f" ({r['match_evidence']})"
        said = "-"
        if r["register"]:
            said = f"{r['register_kind']}: {r['register']} {r['register_identifier'] or ''}"
            said += f" by {r['register_matched_by']}"
            if r["linked_company_number"]:
                said += f", company {r['linked_company_number']}"
        vcse = "unknown" if r["vcse"] is None else ("yes" if r["vcse"] else "no")
        table.add_row(
            r["company_number"] or "",
            r["charity_number"] or "",
            _figure(r["amount"]),
            r["org_id"] or "",
            match,
            said,
            f"{vcse} ({r['vcse_source']})" if r["vcse_source"] else vcse,
        )
    out.print(table)


app.add_typer(fetch_app, name="fetch")
_register_matching(app)  # opportunities, match, consortium, evaluate (cli/matching.py)
app.add_typer(network_app, name="network")  # brokers, communities, gaps, export (cli/network.py)
_register_refresh(app)  # the dashboard's precomputed figures (cli/refresh.py)


def main() -> None:
    import duckdb

    from locality.store.db import out_of_memory_hint

    try:
        app()
    except duckdb.OutOfMemoryException:
        # Any command over a store too large for the memory limit: say what to change.
        err.print(f"[bold red]Error:[/] {out_of_memory_hint()}", highlight=False)
        raise SystemExit(1) from None
