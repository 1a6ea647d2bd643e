"""``locality network``: the innovation network's brokers, communities, gaps and export.

Thin: parses options, calls ``locality.network``, prints. igraph is imported by the library
inside the commands, so ``locality --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from locality.cli.common import (
    MetricsFormat,
    TableJsonCsvFormat,
    fail,
    open_store,
    out,
    output,
    places_option,
    print_csv_rows,
    print_json,
)

if TYPE_CHECKING:
    from locality.network import BrokerReport, CommunityReport, Measured

network_app = typer.Typer(
    help=(
        "The locality innovation network: organisations (public buyers, large companies, "
        "SMEs, VCSEs, universities and colleges, arts and housing bodies) tied by contracts, "
        "framework appointments, joint awards and council payments; who brokers between "
        "them, the communities they form, and where ties are missing (docs/network.md).\n\n"
        "Example:\n\n"
        "\b\n"
        '  locality network brokers --place "West Yorkshire"\n'
        "  locality network communities --locality Leeds --format json\n"
        "  locality network gaps --locality Leeds --section unreached\n"
        "  locality network export --output network.gexf"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

Place = Annotated[
    str | None,
    typer.Option(
        "--place",
        help="A combined authority, a place of --places, or a council: its buyers' network.",
    ),
]
Locality = Annotated[
    str | None, typer.Option("--locality", help="One council (name or registry code).")
]
Theme = Annotated[
    str | None,
    typer.Option("--theme", help="Only processes of this CPV theme (spend edges left out)."),
]
Since = Annotated[
    str | None,
    typer.Option("--since", help="Only awards and payments dated on or after YYYY-MM-DD."),
]
PlacesFile = Annotated[Path | None, places_option("A TOML file of places (see locality place).")]
Top = Annotated[int, typer.Option("--top", min=1, help="Show the first N rows.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of Leiden and sampled betweenness.")]


def _measured(
    place: str | None,
    locality: str | None,
    theme: str | None,
    since: str | None,
    places_file: Path | None,
    seed: int,
) -> Measured:
    """The measured network of the scope options, or a clear failure."""
    from locality.network import NetworkError, build_network, measure, scope_for

    if places_file is not None and not places_file.is_file():
        fail(f"--places {places_file}: no such file", 2)
    try:
        scope = scope_for(
            place=place, locality=locality, theme=theme, since=since, places_file=places_file
        )
        with open_store() as con:
            network = build_network(con, scope)
    except NetworkError as exc:
        fail(str(exc), 2)
    if network.graph.vcount() == 0:
        fail(
            f"no ties in {scope.describe()}: the store has no counted awards or resolved "
            "payments there; try a wider scope (no --theme or --since) or `locality status`",
            1,
        )
    return measure(network, seed=seed)


def _scope_options(
    place: Place = None,
    locality: Locality = None,
    theme: Theme = None,
    since: Since = None,
    places_file: PlacesFile = None,
    seed: Seed = 42,
) -> None:
    """The options every network command takes: its scope and the seed (declared once)."""


def _parameters(options: Callable[..., None]) -> list[inspect.Parameter]:
    return list(inspect.signature(options, eval_str=True).parameters.values())


@dataclass(frozen=True)
class Listing:
    """How a list of the network is printed: ``--format`` and ``--top``."""

    output_format: MetricsFormat
    top: int


def _listing_options(
    output_format: TableJsonCsvFormat = MetricsFormat.table, top: Top = 20
) -> None:
    """The options every list of the network takes (``Listing``; declared once)."""


def _scoped(
    name: str, *, listing: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``name``, a command over a scope: it takes first a function giving the
    measured network (called once its own options are checked), then, for a list
    (``listing``), its ``Listing``, and its own options after; the scope options
    (``_scope_options``) and a list's (``_listing_options``) are added to its signature, so
    Typer shows them as the command's own."""

    def register(func: Callable[..., None]) -> Callable[..., None]:
        # (the first parameter, the measured network, is a type the CLI imports lazily)
        given = 2 if listing else 1
        own = [
            p.replace(annotation=eval(p.annotation, func.__globals__))
            if isinstance(p.annotation, str)
            else p
            for p in list(inspect.signature(func).parameters.values())[given:]
        ]
        scope = _parameters(_scope_options)
        shown = [] if not listing else _parameters(_listing_options)
        required = [p for p in own if p.default is inspect.Parameter.empty]
        optional = [p for p in own if p.default is not inspect.Parameter.empty]
        # required options first, then the scope, the command's own, the list's, the seed last
        ordered = [*required, *scope[:-1], *optional, *shown, scope[-1]]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in ordered]

        @functools.wraps(func)
        def command(**options: Any) -> None:
            chosen = {p.name: options.pop(p.name) for p in scope}
            first: list[Any] = [lambda: _measured(**chosen)]
            if listing:
                first.append(Listing(**{p.name: options.pop(p.name) for p in shown}))
            func(*first, **options)

        del command.__wrapped__  # Typer reads the signature below, not the function's
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        network_app.command(name)(command)
        return func

    return register


def _table(title: str, columns: Iterable[str], right: Iterable[str] = ()) -> Table:
    """A table of the network's lists: title on the left, long cells folded, the ``right``
    columns (numbers) right-aligned."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def _notes(notes: list[str]) -> None:
    for note in notes:
        out.print(f"Note: {escape(note)}", highlight=False)


@_scoped("brokers", listing=True)
def brokers_command(scoped: Callable[[], Measured], shown: Listing) -> None:
    """Organisations that broker between others, most central first.

    Betweenness (exact on small networks, estimated with its error bound on large ones),
    Burt's constraint and effective size, Gould–Fernandez brokerage roles with sectors as
    the groups, and why: which sectors it links and example awards. JSON has id, name,
    sector, betweenness, constraint, effective_size, roles, why, links and examples.

    Example:

    \b
      locality network brokers --place "West Yorkshire"
      locality network brokers --locality Leeds --format json
      locality network brokers --theme construction --since 2020-01-01 --format csv
    """
    from locality.network import brokers

    measured = scoped()
    report = brokers(measured, top=shown.top)
    rows = [b.as_dict() for b in report.brokers]
    columns = ["id", "name", "sector", "buyer_type", "locality", "degree", "strength",
               "betweenness", "constraint", "effective_size", "brokerage",
               "coordinator", "itinerant", "representative", "gatekeeper", "liaison",
               "community", "why"]  # fmt: skip
    output(
        shown.output_format,
        json=lambda: rows,
        csv=lambda: (columns, ({**r, **r["roles"]} for r in rows)),
        table=lambda: _print_brokers(report),
    )


def _print_brokers(report: BrokerReport) -> None:
    table = _table(
        f"Brokers of the network of {report.scope} ({report.nodes:,} organisations, "
        f"{report.edges:,} ties; betweenness {report.betweenness})",
        ("organisation", "sector", "betweenness", "constraint", "roles", "why"),
        right=("betweenness", "constraint"),
    )
    for b in report.brokers:
        roles = ", ".join(f"{k} {v}" for k, v in b.roles.items() if v)
        table.add_row(
            escape(b.name),
            b.sector + (f" ({b.buyer_type})" if b.buyer_type else ""),
            f"{b.betweenness:.3f}",
            "-" if b.constraint is None else f"{b.constraint:.3f}",
            roles or "-",
            escape(b.why),
        )
    out.print(table)
    _notes(report.notes)


@_scoped("communities", listing=True)
def communities_command(scoped: Callable[[], Measured], shown: Listing) -> None:
    """Communities of the network (Leiden, modularity, seeded), largest first.

    Each is described by its main buyers, main suppliers, themes and sector mix, with the
    money on its inner ties and how evenly its members reach other communities
    (participation). JSON also lists the community pairs tied less than chance would tie
    them (observed against K_r K_s / 2m).

    Example:

    \b
      locality network communities --place "Greater Manchester"
      locality network communities --locality Leeds --format json
    """
    from locality.network import communities

    measured = scoped()
    report = communities(measured, top=shown.top)
    rows = [dict(c.__dict__) for c in report.communities]
    output(
        shown.output_format,
        json=lambda: {
            "scope": report.scope,
            "nodes": report.nodes,
            "edges": report.edges,
            "modularity": report.modularity,
            "null_model": report.null_model,
            "communities": rows,
            "gaps": report.gaps,
            "notes": report.notes,
        },
        csv=lambda: (["id", "size", "value", "participation", "description"], rows),
        table=lambda: _print_communities(report),
    )


def _print_communities(report: CommunityReport) -> None:
    table = _table(
        f"Communities of the network of {report.scope} (modularity "
        f"{report.modularity if report.modularity is not None else '-'})",
        ("id", "size", "value £", "participation", "description"),
        right=("id", "size", "value £", "participation"),
    )
    for c in report.communities:
        table.add_row(
            str(c.id), str(c.size), f"{c.value:,.0f}", f"{c.participation:.2f}",
            escape(c.description),
        )  # fmt: skip
    out.print(table)
    null = report.null_model
    if null:
        out.print(
            f"Degree-preserving random copies ({null['copies']}) have modularity "
            f"{null['mean']:.3f} ± {null['sd']:.3f}"
            + (
                f": this network's is {null['z']:+.1f} standard deviations away."
                if "z" in null
                else "."
            ),
            highlight=False,
        )
    _notes(report.notes)


SECTIONS = ("unreached", "buyer_pairs", "connectors", "sparse_buyers", "market_cores")


@_scoped("gaps", listing=True)
def gaps_command(
    scoped: Callable[[], Measured],
    shown: Listing,
    section: Annotated[
        str | None,
        typer.Option("--section", help=f"Only one list: {', '.join(SECTIONS)}."),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", min=1, help="Steps within which an SME counts as reached.")
    ] = 2,
) -> None:
    """Where ties are missing, as questions to ask, not verdicts.

    unreached: SMEs and VCSEs with no path of --k steps to the scope's largest public
    buyers, with the buyers they fit best (theme relevance, Adamic–Adar). buyer_pairs:
    buyers of one place buying the same themes with no shared supplier (a joint, lotted
    procurement?). connectors: suppliers serving buyers in several places. sparse_buyers:
    buyers with fewer suppliers than their contract awards predict (Fazekas & Wachs 2020).
    market_cores: how concentrated each theme's money is.

    Example:

    \b
      locality network gaps --place "West Yorkshire"
      locality network gaps --locality Leeds --section unreached --format json
      locality network gaps --section market_cores --format csv
    """
    from locality.network import gaps

    if section is not None and section not in SECTIONS:
        fail(f"--section {section!r}: use one of {', '.join(SECTIONS)}", 2)
    measured = scoped()
    report = gaps(measured, k=k, top=shown.top)
    sections = report.sections()
    if section is not None:
        sections = {section: sections[section]}
    if shown.output_format == MetricsFormat.json:
        data: dict[str, Any] = {"scope": report.scope, "k": report.k,
                                "large_buyers": report.large_buyers}  # fmt: skip
        print_json({**data, **sections, "notes": report.notes})
        return
    if shown.output_format == MetricsFormat.csv:
        if len(sections) != 1:
            fail("--format csv prints one list: add --section NAME", 2)
        [rows] = sections.values()
        columns = list(rows[0]) if rows else ["empty"]
        # lists and mappings flattened to text; numbers stay numbers for a spreadsheet
        print_csv_rows(
            columns,
            (
                {k: _cell(v) if isinstance(v, (list, dict)) else v for k, v in r.items()}
                for r in rows
            ),
        )
        return
    large = ", ".join(b["name"] for b in report.large_buyers) or "none"
    out.print(f"Gaps in the network of {escape(report.scope)}; largest public buyers: "
              f"{escape(large)}", highlight=False)  # fmt: skip
    for name, rows in sections.items():
        if not rows:
            out.print(f"{name}: none found", highlight=False)
            continue
        columns = [c for c in rows[0] if c not in ("id", "buyer_id")]
        table = _table(f"{name} ({len(rows)})", columns)
        for r in rows:
            table.add_row(*(escape(_cell(r[c])) for c in columns))
        out.print(table)
    _notes(report.notes)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict) and "buyer" in value:  # a best fit of an unreached SME
        return (
            f"{value['buyer']} (theme relevance {value['theme_relevance']:.2f}, "
            f"Adamic–Adar {value['adamic_adar']:.2f})"
        )
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


@_scoped("export")
def export_command(
    scoped: Callable[[], Measured],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="File to write: .gexf (Gephi), .graphml (Gephi, Kumu) or .csv (a "
            "<name>-nodes.csv and <name>-edges.csv pair).",
        ),
    ],
) -> None:
    """Write the network, with every node's measures, for Gephi, Kumu or a spreadsheet.

    Nodes carry sector, place, degree, strength, betweenness, constraint, effective size,
    community and brokerage roles; edges their kind, payer, money, count, weight, first
    and last dates, themes and example awards.

    Example:

    \b
      locality network export --output network.gexf
      locality network export --place "West Yorkshire" --output wy.graphml
      locality network export --locality Leeds --output leeds.csv
    """
    from locality.network import ExportError, export
    from locality.network.export import FORMATS

    if output.suffix.lower() not in FORMATS:
        fail(f"--output {output}: name the file .gexf, .graphml or .csv", 2)
    measured = scoped()
    try:
        written = export(measured.network, output, measured)
    except ExportError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror or exc})")
    graph = measured.network.graph
    out.print(
        f"Wrote {graph.vcount():,} organisations and {graph.ecount():,} ties of "
        f"{escape(measured.network.scope.describe())} to {', '.join(map(str, written))}.",
        highlight=False,
    )
