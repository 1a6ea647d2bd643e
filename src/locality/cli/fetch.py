"""``locality fetch find-a-tender`` and ``locality fetch contracts-finder``: keep a store
current from the UK's OCDS APIs. Thin: ``locality.fetch`` does the work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from locality.cli.common import (
    OutputFormat,
    State,
    TableJsonFormat,
    err,
    fail,
    open_store,
    out,
    print_json,
)

if TYPE_CHECKING:
    from locality.fetch import FetchProgress, FetchSummary

fetch_app = typer.Typer(
    name="fetch",
    help=(
        "Fetch releases from Find a Tender or Contracts Finder into the store, page by page.\n\n"
        "Every page is kept under the download folder and ingested as it arrives; with no "
        "--since a fetch carries on where the last one stopped.\n\n"
        "Example:\n\n"
        "\b\n"
        "  locality fetch find-a-tender --since 2025-02-24\n"
        "  locality fetch contracts-finder --since 2025-01-01 --until 2025-02-01"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Start of the window (ISO date or date-time, UTC unless a zone is given). "
        "Default: carry on an unfinished fetch, else start where the last one ended.",
    ),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="End of the window (ISO). Default: now.")
]
BaseUrlOption = Annotated[
    str | None, typer.Option("--base-url", help="The service's address (default: the real one).")
]
DownloadDirOption = Annotated[
    Path | None,
    typer.Option(
        "--download-dir",
        help="Where pages are kept (default: <store>-pages/ beside the store).",
    ),
]
PaceOption = Annotated[
    float | None,
    typer.Option(
        "--pace",
        min=0.0,
        help="Seconds between requests (default 11: under the service's 12 per 2 minutes).",
    ),
]
MaxPagesOption = Annotated[
    int | None,
    typer.Option("--max-pages", min=1, help="Stop after this many pages (carry on later)."),
]


def _progress_bar(progress: Progress, title: str) -> Any:
    task = progress.add_task(title, total=1000, pages=0, releases=0, note="")

    def update(event: FetchProgress) -> None:
        note = ""
        if event.waiting is not None and event.waiting != "pacing":
            note = f"(waiting {event.wait_seconds:.0f} s: {event.waiting})"
        progress.update(
            task,
            completed=round(event.covered * 1000),
            pages=event.pages,
            releases=event.releases,
            note=note,
        )

    return update


def _print_summary(summary: FetchSummary) -> None:
    if summary.window_from is None:
        out.print(summary.note or "Nothing to fetch.", highlight=False)
        return
    state = "complete" if summary.complete else "not finished: run the same command to carry on"
    verb = "Carried on" if summary.resumed else "Fetched"
    out.print(
        f"{verb} {summary.source} {summary.window_from} to {summary.window_to} ({state}).",
        highlight=False,
    )
    table = Table(title="Fetch summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("pages ingested", summary.pages),
        ("releases kept", summary.releases),
        ("  new", summary.new_releases),
        ("  updated", summary.updated_releases),
        ("releases rejected", summary.rejected),
        ("requests", summary.requests),
        ("retries", summary.retries),
    ):
        table.add_row(label, f"{value:,}")
    out.print(table)
    out.print(f"Pages kept in {summary.download_dir}", highlight=False)
    if summary.rejections:
        rejected = Table(title="Rejected releases", title_justify="left")
        for name in ("page", "index", "ocid", "reason"):
            rejected.add_column(name)
        for r in summary.rejections[:20]:
            rejected.add_row(
                str(r["page"]),
                "" if r["index"] is None else str(r["index"]),
                r["ocid"] or "",
                r["reason"],
            )
        out.print(rejected)


def _fetch(
    source_name: str,
    since: str | None,
    until: str | None,
    stages: str | None,
    base_url: str | None,
    download_dir: Path | None,
    pace: float | None,
    max_pages: int | None,
    output_format: OutputFormat,
) -> None:
    from locality.fetch import (
        SOURCES,
        FetchError,
        default_download_dir,
        fetch,
        parse_moment,
        parse_stages,
    )
    from locality.views.precompute import enrich_and_refresh

    source = SOURCES[source_name]
    try:
        window_from = parse_moment(since) if since else None
        window_to = parse_moment(until) if until else None
        chosen = parse_stages(source, stages) if stages is not None else None
    except ValueError as exc:
        fail(str(exc))
    folder = download_dir if download_dir is not None else default_download_dir(State.db)
    show_progress = output_format == OutputFormat.table and err.is_terminal
    with open_store(read_only=False) as con:
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[pages]:,} pages, {task.fields[releases]:,} releases"),
                TimeRemainingColumn(),
                TextColumn("left {task.fields[note]}"),
                console=err,
                transient=True,
                disable=not show_progress,
            ) as progress:
                summary = fetch(
                    con,
                    source,
                    download_dir=folder,
                    since=window_from,
                    until=window_to,
                    stages=chosen,
                    base_url=base_url,
                    pace=pace,
                    max_pages=max_pages,
                    progress=_progress_bar(progress, f"Fetching {source.title}"),
                )
                if summary.pages:
                    # As after `locality ingest`: spend suppliers may match new organisations.
                    enrich_and_refresh(con)  # and the dashboard's figures
        except FetchError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            err.print(
                "Stopped. Every page ingested is kept and recorded: run the same command "
                "(without --since) to carry on.",
                highlight=False,
            )
            raise typer.Exit(130) from None
    if output_format == OutputFormat.json:
        print_json(summary.as_json())
    else:
        _print_summary(summary)


def _source_command(source_name: str, stages_help: str, doc: str) -> Callable[..., None]:
    """The command fetching one source. Both take the same options (only the stages their
    service publishes differ, hence ``stages_help``), so the options are declared once."""
    stages_option = typer.Option(None, "--stages", help=stages_help)

    def command(
        since: SinceOption = None,
        until: UntilOption = None,
        stages: str | None = stages_option,
        base_url: BaseUrlOption = None,
        download_dir: DownloadDirOption = None,
        pace: PaceOption = None,
        max_pages: MaxPagesOption = None,
        output_format: TableJsonFormat = OutputFormat.table,
    ) -> None:
        _fetch(
            source_name,
            since,
            until,
            stages,
            base_url,
            download_dir,
            pace,
            max_pages,
            output_format,
        )

    command.__doc__ = doc
    return command


find_a_tender_command = fetch_app.command("find-a-tender")(
    _source_command(
        "find-a-tender",
        "Comma-separated: planning,tender,award (default: all).",
        """Fetch Find a Tender releases updated in a window and ingest them page by page.

    Reads /api/1.0/ocdsReleasePackages (updatedFrom/updatedTo, 100 a page, following
    links.next), one request every 11 s by default (the service allows 12 per 2 minutes),
    honouring Retry-After and backing off on 429, 5xx and network errors. Every page is kept
    compressed under the download folder, so `locality ingest FOLDER` rebuilds the store
    offline; where the fetch stopped is recorded in the store, and with no --since the next
    run carries on from there (after a crash or Ctrl+C too).

    Example:

    \b
      locality fetch find-a-tender --since 2025-02-24 --until 2025-03-01
      locality fetch find-a-tender --stages award
      locality fetch find-a-tender
    """,
    )
)


contracts_finder_command = fetch_app.command("contracts-finder")(
    _source_command(
        "contracts-finder",
        "Comma-separated: planning,tender,award,implementation (default: all).",
        """Fetch Contracts Finder releases published in a window and ingest them page by page.

    Reads /Published/Notices/OCDS/Search (publishedFrom/publishedTo, stages, limit, cursor),
    paced, retried and kept exactly as `locality fetch find-a-tender` is.

    Example:

    \b
      locality fetch contracts-finder --since 2025-01-01 --until 2025-02-01
      locality fetch contracts-finder --stages award --format json
    """,
    )
)


def print_fetches(runs: list[dict[str, Any]]) -> None:
    """``locality status``: each source's last fetch and where it stopped."""
    if not runs:
        return
    table = Table(title="Last fetch by source", title_justify="left")
    for name in ("source", "window", "pages", "releases", "last release date", "state"):
        table.add_column(name, justify="right" if name in ("pages", "releases") else "left")
    for run in runs:
        state = "complete" if run["completed_at"] else f"stopped after page {run['pages']:,}"
        table.add_row(
            run["source"],
            f"{run['window_from'][:19]} to {run['window_to'][:19]}",
            f"{run['pages']:,}",
            f"{run['releases']:,}",
            (run["last_date"] or "")[:19],
            f"{state} ({(run['updated_at'] or '')[:19]})",
        )
    out.print(table)
