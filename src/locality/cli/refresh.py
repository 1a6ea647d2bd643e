"""``locality refresh``: compute what the dashboard shows, as ingest does after every load."""

from __future__ import annotations

import typer

from locality.cli.common import (
    OutputFormat,
    TableJsonFormat,
    err,
    flag,
    open_store,
    out,
    print_json,
)


def refresh_command(
    output_format: TableJsonFormat = OutputFormat.table,
    check: bool = flag("--check", "Compute nothing: say whether the figures are current."),
) -> None:
    """Compute the dashboard's figures and store them, so its first pages answer at once.

    `locality ingest` and `locality fetch` do this after every load; run it after other
    commands that change the data (`locality suppliers add-facts`, `suppliers resolve`), or
    for a store made by an older locality. Stored: the home page's figures, the red-flag
    index by buyer and by process, every place's page, comparison row and council spend
    page, the buyer and supplier pages' measures, and the network pages of everywhere and
    of the largest places. `--check` exits 1 when they are absent or older than the data
    (the dashboard then computes on request).

    Example:

    \b
      locality refresh
      locality --db york.duckdb refresh --check
    """
    from locality.views import precompute

    if check:
        with open_store() as con:
            st = precompute.state(con)
            message = precompute.needs_refresh_message(con)
        if output_format == OutputFormat.json:
            print_json({"state": st, "message": message})
        else:
            out.print(message or "the dashboard's figures are current", highlight=False)
        raise typer.Exit(1 if message else 0)
    with open_store(read_only=False) as con:
        summary = precompute.refresh(con)
    if output_format == OutputFormat.json:
        print_json(summary.as_json())
        return
    out.print(
        f"Stored {summary.results:,} results ({summary.places:,} place pages, "
        f"{summary.spend_pages:,} spend pages, {summary.network_pages:,} network pages) and "
        f"{summary.flags:,} red-flag rows in {summary.seconds:.1f} s.",
        highlight=False,
    )
    for skipped in summary.skipped:
        err.print(f"Not stored (computed on request): {skipped}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("refresh")(refresh_command)
