"""A network written for other tools: GEXF (Gephi), GraphML (Gephi, Kumu, yEd), or a pair of
node and edge CSV files (Kumu, spreadsheets), chosen by the output file's extension.

Lists and mappings (example awards, themes) are written as JSON text, and missing values are
left out of GEXF/GraphML, whose attribute types allow neither. Nodes carry their measures
(degree, strength, betweenness, constraint, effective size, community, brokerage roles)
when the network was measured.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locality.domain.export import neutralise_record
from locality.network.analysis import Measured
from locality.network.build import Network, as_networkx, scalar
from locality.network.measures import ROLES

if TYPE_CHECKING:
    import networkx as nx

FORMATS = {".gexf": "gexf", ".graphml": "graphml", ".csv": "csv"}

NODE_COLUMNS = (
    "id",
    "label",
    "sector",
    "buyer_type",
    "sector_evidence",
    "locality",
    "la_registry_code",
    "region",
)
MEASURE_COLUMNS = (
    "degree",
    "strength",
    "betweenness",
    "constraint",
    "effective_size",
    "community",
    *ROLES,
)
EDGE_COLUMNS = (
    "source",
    "target",
    "kind",
    "payer",
    "value",
    "count",
    "weight",
    "first",
    "last",
    "themes",
    "examples",
)


class ExportError(ValueError):
    """An output path whose extension names no format."""


def node_rows(network: Network, measured: Measured | None = None) -> list[dict[str, Any]]:
    g = network.graph
    rows = []
    for v in g.vs:
        row: dict[str, Any] = {"id": v["name"], **{c: v[c] for c in NODE_COLUMNS[1:]}}
        if measured is not None:
            i = v.index
            row.update(
                degree=measured.degree[i],
                strength=measured.strength[i],
                betweenness=round(measured.betweenness.values[i], 6),
                constraint=measured.constraint[i],
                effective_size=round(measured.effective_size[i], 3),
                community=measured.community[i],
                **measured.roles[i],
            )
        rows.append(row)
    return rows


def edge_rows(network: Network) -> list[dict[str, Any]]:
    g = network.graph
    names = g.vs["name"]
    return [
        {
            "source": names[e.source],
            "target": names[e.target],
            **{c: scalar(e[c]) for c in EDGE_COLUMNS[2:]},
        }
        for e in g.es
    ]


def to_networkx(network: Network, measured: Measured | None = None) -> nx.MultiGraph:
    """The network as a networkx MultiGraph with only scalar attributes (for writers), with
    every node's measures when ``measured`` is given."""
    extra = None
    if measured is not None:
        extra = [
            {k: v for k, v in row.items() if k not in NODE_COLUMNS}
            for row in node_rows(network, measured)
        ]
    return as_networkx(network.graph, extra)


def export(network: Network, path: Path, measured: Measured | None = None) -> list[Path]:
    """Write the network to ``path`` in the format its extension names; returns the files
    written (two for ``.csv``: ``<stem>-nodes.csv`` and ``<stem>-edges.csv``)."""
    import networkx as nx

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"{path}: cannot tell the format from {path.suffix or 'no extension'!r}; "
            f"name the file .gexf, .graphml or .csv"
        )
    if fmt == "csv":
        nodes = path.with_name(f"{path.stem}-nodes.csv")
        edges = path.with_name(f"{path.stem}-edges.csv")
        columns = [*NODE_COLUMNS, *(MEASURE_COLUMNS if measured is not None else ())]
        _write_csv(nodes, columns, node_rows(network, measured))
        _write_csv(edges, list(EDGE_COLUMNS), edge_rows(network))
        return [nodes, edges]
    graph = to_networkx(network, measured)
    if fmt == "gexf":
        nx.write_gexf(graph, path)
    else:
        nx.write_graphml(graph, path)
    return [path]


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        # Names come from published data: a cell beginning =, +, -, @ is neutralised so a
        # spreadsheet opening the export runs no formula (OWASP CSV injection).
        writer.writerows(neutralise_record(row) for row in rows)
