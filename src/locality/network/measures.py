"""Structural measures of a network, on igraph graphs (docs/network.md, "Measures").

igraph is the engine: on this machine kind, at 50,000 nodes and 500,000 edges, its exact
betweenness takes about 6 minutes (networkx would take hours), Burt's constraint for every
node a quarter of a second and Leiden a few seconds. These functions take any igraph graph,
so the tests check them on the literature's worked examples.

* Betweenness (Freeman 1977), normalised to [0, 1] by the number of pairs, counting
  shortest paths in steps (a tie is a tie, whatever its money). Exact (Brandes 2001) up to
  ``EXACT_BELOW`` nodes; above, estimated from ``pivots`` random sources (Brandes & Pich
  2007), each source's dependency scaled by n/k. The estimate comes with a bound from
  Hoeffding's inequality: a source's dependency on a node, divided by n − 2, lies in
  [0, 1], so with k sources every node's normalised estimate is within
  ε = n/(n−1) · sqrt(ln(2n/δ) / 2k) of its exact value with probability at least 1 − δ
  (a union bound over the n nodes; δ = 0.05). The bound is a worst case: the errors met in
  practice are far smaller (bench/network.py measures them).
* Burt's (1992) constraint and effective size: constraint c_i = Σ_j (p_ij + Σ_q p_iq p_qj)²
  over i's contacts j, with p_ij the share of i's ties that go to j (igraph's
  implementation); effective size in Borgatti's (1997) form for unvalued ties, n − 2t/n
  for n contacts with t ties among them.
* Gould & Fernandez (1989) brokerage roles, the groups being sectors: for every path
  a → b → c with no tie a → c, b is a coordinator (a, b, c in one group), itinerant
  broker (a and c in one group, b in another), representative (a and b in one group, c in
  another), gatekeeper (b and c in one group, a in another) or liaison (three groups). An
  undirected tie counts in both directions, so on undirected graphs representative and
  gatekeeper counts are equal (as Gould & Fernandez note for symmetric relations).
* Communities: Leiden (Traag, Waltman & van Eck 2019) optimising modularity (igraph's
  default objective is CPM, whose communities at resolution 1 are cliques), run until
  stable, seeded so the same store gives the same communities.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import igraph as ig

EXACT_BELOW = 5000
PIVOTS = 500
CONFIDENCE = 0.95
SEED = 42

# Gould & Fernandez's five roles, in their order (module docstring), each named once.
ROLES = COORDINATOR, ITINERANT, REPRESENTATIVE, GATEKEEPER, LIAISON = (
    "coordinator",
    "itinerant",
    "representative",
    "gatekeeper",
    "liaison",
)


@dataclass(frozen=True)
class Betweenness:
    values: list[float]  # normalised to [0, 1]
    exact: bool
    pivots: int | None = None
    error_bound: float | None = None  # every value within this, with probability confidence
    confidence: float | None = None

    def describe(self) -> str:
        if self.exact:
            return "exact"
        return (
            f"estimated from {self.pivots} random sources, within ±{self.error_bound:.3f} "
            f"of exact for every node with probability {self.confidence:.0%}"
        )


def error_bound(n: int, pivots: int, confidence: float = CONFIDENCE) -> float:
    """Hoeffding + union bound on the normalised betweenness estimate (module docstring)."""
    if n < 3 or pivots <= 0:
        return 0.0
    delta = 1 - confidence
    return n / (n - 1) * math.sqrt(math.log(2 * n / delta) / (2 * pivots))


def betweenness(
    g: ig.Graph,
    *,
    exact_below: int = EXACT_BELOW,
    pivots: int = PIVOTS,
    seed: int = SEED,
) -> Betweenness:
    """Normalised betweenness of every vertex: exact below ``exact_below`` vertices, else
    estimated from ``pivots`` seeded random sources with its error bound."""
    n = g.vcount()
    directed = g.is_directed()
    pairs = (n - 1) * (n - 2) / (1 if directed else 2)
    if n < 3:
        return Betweenness([0.0] * n, True)
    if n < exact_below or pivots >= n:
        raw = _source_betweenness(g, range(n)) if not directed else g.betweenness(directed=True)
        return Betweenness([b / pairs for b in raw], True)
    sources = random.Random(seed).sample(range(n), pivots)
    if directed:
        raw = g.betweenness(directed=True, sources=sources)
    else:
        raw = _source_betweenness(g, sources)
    scale = n / pivots
    return Betweenness(
        [min(1.0, b * scale / pairs) for b in raw],
        False,
        pivots,
        error_bound(n, pivots),
        CONFIDENCE,
    )


def _source_betweenness(g: ig.Graph, sources: Iterable[int]) -> list[float]:
    """igraph's betweenness over paths from ``sources`` (½ Σ_s δ_s(w) on an undirected
    graph), with every leaf source folded into its neighbour: most organisations of a
    place's network supply one buyer, and each such source would cost a search of the whole
    graph. A leaf v with one neighbour u reaches every other vertex through u, so
    δ_v(w) = δ_u(w) for every w other than u and v, and δ_v(u) = |C| − 2 for v's component C
    (Baglioni et al. 2012, "Fast exact computation of betweenness centrality in social
    networks", degree-1 reduction). The sum is the same; only distinct sources are searched,
    weighted by how many sources they stand for."""
    neighbours = g.neighborhood(order=1, mindist=1)
    component = g.connected_components()
    sizes = component.sizes()
    weight: Counter[int] = Counter()
    through = [0.0] * g.vcount()  # δ_v(u) of the leaf sources v folded into u
    for s in sources:
        if len(neighbours[s]) == 1:
            u = neighbours[s][0]
            weight[u] += 1
            through[u] += sizes[component.membership[s]] - 2
        else:
            weight[s] += 1
    by_weight: dict[int, list[int]] = defaultdict(list)
    for s, k in weight.items():
        by_weight[k].append(s)
    raw = [t / 2 for t in through]  # igraph halves an undirected graph's sum: so do we
    for k, group in sorted(by_weight.items()):
        for w, b in enumerate(g.betweenness(directed=False, sources=sorted(group))):
            raw[w] += k * b
    return raw


def constraint(g: ig.Graph, weights: str | Sequence[float] | None = None) -> list[float | None]:
    """Burt's constraint of every vertex (None for an isolate, where it is undefined)."""
    values = g.constraint(weights=weights)
    return [None if math.isnan(v) else float(v) for v in values]


def effective_size(g: ig.Graph) -> list[float]:
    """Burt's effective size for unvalued ties, n − 2t/n (Borgatti 1997): contacts less the
    redundancy among them. Computed from the local clustering coefficient C = t / (n(n−1)/2),
    so n − (n − 1)C, without listing ego networks."""
    simple = g.as_undirected().simplify() if g.is_directed() else g.copy().simplify()
    degree = simple.degree()
    clustering = simple.transitivity_local_undirected(mode="zero")
    return [float(k - (k - 1) * c) if k else 0.0 for k, c in zip(degree, clustering, strict=True)]


def brokerage(g: ig.Graph, groups: Sequence[str]) -> list[dict[str, int]]:
    """Gould–Fernandez brokerage counts of every vertex, groups by vertex (module docstring).

    Directed graphs are read path by path. Undirected graphs (a tie both ways) are counted
    from each vertex's contacts per group, less the closed pairs (triangles), so the cost is
    the number of edges and triangles rather than the sum of squared degrees.
    """
    if g.is_directed():
        return _brokerage_directed(g, groups)
    return _brokerage_undirected(g, groups)


def _role(ga: str, gb: str, gc: str) -> str:
    if ga == gb == gc:
        return COORDINATOR
    if ga == gc:
        return ITINERANT
    if ga == gb:
        return REPRESENTATIVE
    if gb == gc:
        return GATEKEEPER
    return LIAISON


def _brokerage_directed(g: ig.Graph, groups: Sequence[str]) -> list[dict[str, int]]:
    out = [dict.fromkeys(ROLES, 0) for _ in range(g.vcount())]
    succ = [set(s) for s in g.get_adjlist(mode="out")]
    pred = g.get_adjlist(mode="in")
    for b in range(g.vcount()):
        for a in set(pred[b]):
            if a == b:
                continue
            for c in succ[b]:
                if c in (a, b) or c in succ[a]:
                    continue
                out[b][_role(groups[a], groups[b], groups[c])] += 1
    return out


def _brokerage_undirected(g: ig.Graph, groups: Sequence[str]) -> list[dict[str, int]]:
    simple = g.copy().simplify()
    n = simple.vcount()
    labels = sorted(set(groups))
    code = {label: i for i, label in enumerate(labels)}
    gid = np.array([code[x] for x in groups], dtype=np.int64)
    m = len(labels)
    counts = np.zeros((n, m), dtype=np.int64)  # contacts of each vertex per group
    if simple.ecount():
        edges = np.array(simple.get_edgelist(), dtype=np.int64)
        np.add.at(counts, (edges[:, 0], gid[edges[:, 1]]), 1)
        np.add.at(counts, (edges[:, 1], gid[edges[:, 0]]), 1)
    k = counts.sum(axis=1)
    own = counts[np.arange(n), gid] if n else np.zeros(0, dtype=np.int64)
    other = k - own
    squares_other = (counts**2).sum(axis=1) - own**2
    sum_other_pairs = squares_other - other  # Σ_{x≠G} n_x (n_x − 1)
    roles = np.zeros((n, len(ROLES)), dtype=np.int64)
    roles[:, 0] = own * (own - 1)
    roles[:, 1] = sum_other_pairs
    roles[:, 2] = own * other
    roles[:, 3] = own * other
    roles[:, 4] = other * other - squares_other
    # Closed pairs: in a triangle (b; a, c), the ordered pairs (a, c) and (c, a) have a tie.
    triangles = np.array(simple.list_triangles(), dtype=np.int64).reshape(-1, 3)
    if len(triangles):
        for bi, ai, ci in ((0, 1, 2), (1, 0, 2), (2, 0, 1)):
            b, a, c = triangles[:, bi], triangles[:, ai], triangles[:, ci]
            for first, last in ((a, c), (c, a)):
                ga, gb, gc = gid[first], gid[b], gid[last]
                role = np.where(
                    (ga == gb) & (gb == gc),
                    0,
                    np.where(ga == gc, 1, np.where(ga == gb, 2, np.where(gb == gc, 3, 4))),
                )
                np.add.at(roles, (b, role), -1)
    return [dict(zip(ROLES, (int(x) for x in row), strict=True)) for row in roles]


def communities(
    g: ig.Graph, *, weights: str | Sequence[float] | None = None, seed: int = SEED
) -> list[int]:
    """Leiden communities optimising modularity, run until stable, seeded: community ids
    numbered by size, largest first."""
    import igraph as ig

    if g.vcount() == 0:
        return []
    previous = random.getstate()
    ig.set_random_number_generator(random.Random(seed))
    try:
        found = g.community_leiden(
            objective_function="modularity", weights=weights, n_iterations=-1
        )
    finally:
        ig.set_random_number_generator(random)
        random.setstate(previous)
    sizes: dict[int, int] = {}
    for c in found.membership:
        sizes[c] = sizes.get(c, 0) + 1
    order = {c: i for i, c in enumerate(sorted(sizes, key=lambda c: (-sizes[c], c)))}
    return [order[c] for c in found.membership]
