"""What the dashboard's network page draws: nodes with positions computed here (so the page
only paints), sizes by strength, colours by sector, a card per node, and the lists.

Pictures of large networks keep (docs/network.md, "The picture"):

* the ``MAX_NODES`` organisations of most ties (then money), so a national picture stays
  readable and fast; the lists and the JSON keep every node;
* the backbone of the trade ties when there are more than ``BACKBONE_ABOVE`` of them: the
  disparity filter of Serrano, Boguñá & Vespignani (2009, PNAS 106(16)), which keeps a tie
  when it is significant for either end at α < 0.05 against a uniform split of that end's
  strength, α_ij = (1 − w_ij / s_i)^(k_i − 1), weights being the number of awards,
  appointments and payments; an organisation with one tie keeps it.

The layout is igraph's Fruchterman–Reingold, seeded, so the same network is drawn the same
way on every load.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Any

from locality.network.analysis import (
    NULL_COPIES,
    Measured,
    broker,
    brokers,
    communities,
    is_broker,
)
from locality.network.build import gc_paused
from locality.network.gaps import gaps
from locality.network.measures import SEED
from locality.network.sectors import SECTORS

MAX_NODES = 400
BACKBONE_ABOVE = 1500
ALPHA = 0.05
TOP_TIES = 6
NULL_PAGE_EDGES = 2_000  # random copies on the page only where they keep it under a second

# Colour-blind safe (Okabe & Ito 2008), one per sector, grey for unknown.
SECTOR_COLOURS = {
    "public_buyer": "#0072B2",
    "large_company": "#D55E00",
    "sme": "#E69F00",
    "vcse": "#009E73",
    "higher_further_education": "#CC79A7",
    "arts_culture": "#F0E442",
    "housing_provider": "#56B4E9",
    "unknown": "#999999",
}


def disparity_backbone(degree: list[int], edges: list[tuple[int, int, float]]) -> list[int]:
    """Indices of the edges the disparity filter keeps (module docstring)."""
    strength: dict[int, float] = defaultdict(float)
    for a, b, w in edges:
        strength[a] += w
        strength[b] += w
    kept = []
    for i, (a, b, w) in enumerate(edges):
        for end in (a, b):
            k = degree[end]
            if k <= 1 or (1 - w / strength[end]) ** (k - 1) < ALPHA:
                kept.append(i)
                break
    return kept


@gc_paused
def page_data(
    measured: Measured, *, max_nodes: int = MAX_NODES, seed: int = SEED
) -> dict[str, Any]:
    """The page's data: ``elements`` for Cytoscape.js (positions preset), the legend, each
    node's card, and the brokers, communities and gaps lists."""
    import igraph as ig

    g = measured.trade
    n = g.vcount()
    order = sorted(range(n), key=lambda v: (-measured.degree[v], -measured.strength[v], v))
    shown = sorted(order[:max_nodes])
    sub = g.subgraph(shown)
    weights = [float(c or 1) for c in sub.es["count"]] if sub.ecount() else []
    edge_ids = list(range(sub.ecount()))
    backbone = sub.ecount() > BACKBONE_ABOVE
    if backbone:
        edge_ids = disparity_backbone(
            sub.degree(), [(e.source, e.target, weights[e.index]) for e in sub.es]
        )
    drawn = sub.subgraph_edges(edge_ids, delete_vertices=False)
    previous = random.getstate()
    ig.set_random_number_generator(random.Random(seed))
    try:
        layout = drawn.layout_fruchterman_reingold(niter=250) if drawn.vcount() else None
    finally:
        ig.set_random_number_generator(random)
        random.setstate(previous)
    coords = _scaled(layout.coords if layout else [])
    max_strength = max((measured.strength[v] for v in shown), default=0) or 1
    broker_report = brokers(measured, top=20)
    names, labels, sectors = (measured.column(a) for a in ("name", "label", "sector"))
    whys = {names[v]: broker(measured, v).why for v in shown if is_broker(measured, v)}
    nodes = []
    for i, v in enumerate(shown):
        strength = measured.strength[v]
        nodes.append(
            {
                "data": {
                    "id": names[v],
                    "label": labels[v],
                    "sector": sectors[v],
                    "colour": SECTOR_COLOURS.get(sectors[v], "#999999"),
                    # area proportional to money: the side grows with its square root
                    "size": round(14 + 46 * math.sqrt(max(strength, 0) / max_strength), 1),
                    "community": measured.community[v],
                },
                "position": {"x": coords[i][0], "y": coords[i][1]},
            }
        )
    edges = []
    # The drawn graph keeps its edges' attributes (its edge i is the i-th kept edge of sub).
    ends = drawn.get_edgelist()
    kinds, values, counts = (drawn.es[a] if ends else [] for a in ("kinds", "value", "count"))
    for i, (a, b) in enumerate(ends):
        edges.append(
            {
                "data": {
                    "id": f"e{i}",
                    "source": names[shown[a]],
                    "target": names[shown[b]],
                    "kinds": " ".join(kinds[i]),
                    "value": values[i],
                    "count": counts[i],
                    "width": round(1 + math.log10(1 + (counts[i] or 1)), 2),
                }
            }
        )
    return {
        "scope": measured.network.scope.describe(),
        "nodes_total": n,
        "edges_total": g.ecount(),
        "nodes_shown": len(shown),
        "edges_shown": len(edges),
        "backbone": backbone,
        "betweenness": measured.betweenness.describe(),
        "legend": [
            {"sector": s, "colour": SECTOR_COLOURS[s], "count": c}
            for s, c in sorted(Counter(g.vs["sector"]).items(), key=lambda kv: SECTORS.index(kv[0]))
        ],
        "elements": {"nodes": nodes, "edges": edges},
        "cards": {names[v]: _card(measured, v, whys.get(names[v])) for v in shown},
        "brokers": [b.as_dict() for b in broker_report.brokers],
        "communities": [
            dict(c.__dict__)
            # random copies only where they keep the page fast
            for c in communities(
                measured, top=12, null_copies=NULL_COPIES if g.ecount() <= NULL_PAGE_EDGES else 0
            ).communities
        ],
        "gaps": gaps(measured, top=10).sections(),
        "notes": list(measured.network.notes),
    }


def empty_page(scope: Any) -> dict[str, Any]:
    """The page data of a scope with no tie: what ``page_data`` returns, empty, with a note."""
    return {
        "scope": scope.describe(),
        "nodes_total": 0,
        "edges_total": 0,
        "nodes_shown": 0,
        "edges_shown": 0,
        "backbone": False,
        "betweenness": "exact",
        "legend": [],
        "elements": {"nodes": [], "edges": []},
        "cards": {},
        "brokers": [],
        "communities": [],
        "gaps": {},
        "notes": [f"no ties in {scope.describe()}: no counted awards or resolved payments"],
    }


def _scaled(coords: list[list[float]], size: float = 1000.0) -> list[tuple[float, float]]:
    if not coords:
        return []
    xs = [c[0] for c in coords]
    ys = [c[1] for c in coords]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    return [
        (round((x - min(xs)) / span * size, 1), round((y - min(ys)) / span * size, 1))
        for x, y in zip(xs, ys, strict=True)
    ]


def _card(measured: Measured, v: int, why: str | None) -> dict[str, Any]:
    column = measured.column
    names, labels, sectors = column("name"), column("label"), column("sector")
    fields = ("kinds", "value", "value_awarded", "value_paid", "count", "first", "last")
    edge = {name: column(f"edge:{name}") for name in fields}
    values, counts = edge["value"], edge["count"]
    incident = sorted(column("incident")[v], key=lambda e: (-(values[e] or 0), -(counts[e] or 0)))
    ties = []
    for e in incident[:TOP_TIES]:
        other = measured.other_end(e, v)
        ties.append(
            {
                "id": names[other],
                "name": labels[other],
                "sector": sectors[other],
                **{name: edge[name][e] for name in fields},
            }
        )
    constraint = measured.constraint[v]
    return {
        "id": names[v],
        "name": labels[v],
        "sector": sectors[v],
        "buyer_type": column("buyer_type")[v],
        "sector_evidence": column("sector_evidence")[v],
        "sector_source": column("sector_source")[v],
        "sector_list": column("sector_list")[v],
        "locality": column("locality")[v],
        "degree": measured.degree[v],
        "strength": measured.strength[v],
        "betweenness": round(measured.betweenness.values[v], 4),
        "constraint": None if constraint is None else round(constraint, 3),
        "effective_size": round(measured.effective_size[v], 2),
        "roles": measured.roles[v],
        "community": measured.community[v],
        "why": why,
        "ties": ties,
        "more_ties": max(0, len(incident) - TOP_TIES),
    }
