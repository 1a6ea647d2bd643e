"""Brokers and communities of a network, each explaining itself (docs/network.md).

``brokers``: the organisations whose position links others, ranked by betweenness, with
their constraint, effective size, Gould–Fernandez roles (sectors as groups) and a ``why``:
which sectors they link, whom, and example awards. ``communities``: Leiden communities of
the trade ties, each described by its main buyers, themes and sector mix, with its
participation and the pairs of communities tied less than chance would tie them.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from locality.network import measures
from locality.network.build import Network, gc_paused
from locality.network.sectors import PUBLIC

if TYPE_CHECKING:
    import igraph as ig

NULL_COPIES = 5
NULL_MAX_EDGES = 200_000
SECTOR_WORDS = {
    "public_buyer": "public buyers",
    "large_company": "large companies",
    "sme": "SMEs",
    "vcse": "VCSEs",
    "higher_further_education": "universities and colleges",
    "arts_culture": "arts and culture",
    "housing_provider": "housing providers",
    "unknown": "organisations of unknown sector",
}
SECTOR_WORD = {
    "public_buyer": "public buyer",
    "large_company": "large company",
    "sme": "SME",
    "vcse": "VCSE",
    "higher_further_education": "university or college",
    "arts_culture": "arts and culture organisation",
    "housing_provider": "housing provider",
    "unknown": "organisation of unknown sector",
}


@dataclass
class Measured:
    """A network with its trade graph and every node measure computed once."""

    network: Network
    trade: ig.Graph
    degree: list[int]
    strength: list[float]
    betweenness: measures.Betweenness
    constraint: list[float | None]
    effective_size: list[float]
    roles: list[dict[str, int]]
    community: list[int]
    seed: int = measures.SEED
    _columns: dict[str, list[Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def sectors(self) -> list[str]:
        return list(self.trade.vs["sector"])

    def column(self, name: str) -> list[Any]:
        """A vertex attribute of the trade graph as a list (``label``, ``sector``), or, as
        ``edge:NAME``, an edge attribute; ``incident`` lists each vertex's edges. Read once:
        igraph's per-vertex and per-edge attribute access costs a call each, and the lists,
        cards and page read them thousands of times."""
        found = self._columns.get(name)
        if found is None:
            g = self.trade
            if name == "incident":
                found = g.get_inclist()
            elif name == "across":  # brokerage paths across sectors, per vertex
                found = [_across(roles) for roles in self.roles]
            elif name == "edgelist":
                found = g.get_edgelist()
            elif name.startswith("edge:"):
                found = g.es[name[5:]] if g.ecount() else []
            else:
                found = g.vs[name] if g.vcount() else []
            self._columns[name] = found
        return found

    def other_end(self, e: int, v: int) -> int:
        """The vertex at the other end of edge ``e`` from ``v``."""
        a, b = self.column("edgelist")[e]
        return b if a == v else a


@gc_paused
def measure(
    network: Network,
    *,
    seed: int = measures.SEED,
    pivots: int = measures.PIVOTS,
    exact_below: int = measures.EXACT_BELOW,
) -> Measured:
    """Every node measure of the network's trade graph (``Network.trade_graph``)."""
    trade = network.trade_graph()
    values = trade.es["value"] if trade.ecount() else []
    return Measured(
        network=network,
        trade=trade,
        degree=trade.degree(),
        strength=[round(s, 2) for s in trade.strength(weights=values)]
        if values
        else [0.0] * trade.vcount(),
        betweenness=measures.betweenness(trade, exact_below=exact_below, pivots=pivots, seed=seed),
        constraint=measures.constraint(trade),
        effective_size=measures.effective_size(trade),
        roles=measures.brokerage(trade, trade.vs["sector"]) if trade.vcount() else [],
        community=measures.communities(trade, seed=seed),
        seed=seed,
    )


# --- brokers --------------------------------------------------------------------------------


@dataclass
class Broker:
    id: str
    name: str
    sector: str
    buyer_type: str | None
    locality: str | None
    degree: int
    strength: float
    betweenness: float
    constraint: float | None
    effective_size: float
    roles: dict[str, int]
    brokerage: int  # paths it brokers between different sectors (all roles but coordinator)
    community: int
    links: dict[str, list[str]]  # sector → names of the contacts of that sector it links
    examples: list[dict[str, Any]]
    why: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class BrokerReport:
    scope: str
    betweenness: str  # how it was computed (exact, or the estimate's bound)
    nodes: int
    edges: int
    brokers: list[Broker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@gc_paused
def brokers(measured: Measured, *, top: int | None = 25) -> BrokerReport:
    """Organisations that broker between others, most central first: a positive
    betweenness or at least one Gould–Fernandez brokerage path across sectors."""
    g = measured.trade
    names, labels = measured.column("name"), measured.column("label")
    ranked = []
    across_of = measured.column("across")
    for v in range(g.vcount()):
        across = across_of[v]
        between = round(measured.betweenness.values[v], 6)
        if between > 0 or across > 0:
            ranked.append(((-between, -across, labels[v], names[v]), v))
    ranked.sort()
    chosen = ranked[:top] if top else ranked
    return BrokerReport(
        scope=measured.network.scope.describe(),
        betweenness=measured.betweenness.describe(),
        nodes=g.vcount(),
        edges=g.ecount(),
        brokers=[broker(measured, v) for _, v in chosen],
        notes=list(measured.network.notes),
    )


def _across(roles: dict[str, int]) -> int:
    return sum(n for role, n in roles.items() if role != measures.COORDINATOR)


def is_broker(measured: Measured, v: int) -> bool:
    return measured.betweenness.values[v] > 0 or measured.column("across")[v] > 0


def broker(measured: Measured, v: int) -> Broker:
    """One organisation as a broker, with why (whether or not it brokers)."""
    return _broker(measured, v, measured.roles[v], measured.column("across")[v])


def _broker(measured: Measured, v: int, roles: dict[str, int], across: int) -> Broker:
    column = measured.column
    labels, sectors = column("label"), column("sector")
    edge_kinds, edge_examples = column("edge:kinds"), column("edge:examples")
    links: dict[str, list[str]] = defaultdict(list)
    candidates: list[tuple[Any, ...]] = []  # (order, example, other end, edge): hubs have many
    edgelist = column("edgelist")
    for e in column("incident")[v]:
        a, b = edgelist[e]
        other = b if a == v else a
        links[sectors[other]].append(labels[other])
        for example in edge_examples[e] or []:
            order = (-(example["value"] or 0), example["ocid"], len(candidates))
            candidates.append((order, example, other, e))
    examples = [
        {**example, "with": labels[other], "kind": ", ".join(edge_kinds[e])}
        for _, example, other, e in heapq.nsmallest(3, candidates, key=lambda x: x[0])
    ]
    for names in links.values():
        names.sort()
    betweenness = measured.betweenness.values[v]
    constraint = measured.constraint[v]
    return Broker(
        id=column("name")[v],
        name=labels[v],
        sector=sectors[v],
        buyer_type=column("buyer_type")[v],
        locality=column("locality")[v],
        degree=measured.degree[v],
        strength=measured.strength[v],
        betweenness=round(betweenness, 6),
        constraint=None if constraint is None else round(constraint, 4),
        effective_size=round(measured.effective_size[v], 3),
        roles=roles,
        brokerage=across,
        community=measured.community[v],
        links=dict(sorted(links.items())),
        examples=examples[:3],
        why=_why(sectors[v], links, roles, examples[:2]),
    )


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _why(
    sector: str, links: dict[str, list[str]], roles: dict[str, int], examples: list[dict[str, Any]]
) -> str:
    """One sentence saying which groups the organisation links, its main roles and
    example awards."""
    groups = [
        f"{len(names)} {(SECTOR_WORDS if len(names) > 1 else SECTOR_WORD).get(s, s)} "
        f"({_names(names)})"
        for s, names in sorted(links.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    word = SECTOR_WORD.get(sector, sector)
    vowel = word[:1].lower() in "aeiou" and not word.startswith("uni")
    article = "An" if vowel or word == "SME" else "A"
    text = f"{article} {word} tied to " + "; ".join(groups)
    main = [f"{role} {n}" for role, n in sorted(roles.items(), key=lambda kv: -kv[1]) if n]
    if main:
        text += f". Brokerage paths (Gould–Fernandez): {', '.join(main)}"
    if examples:
        parts = []
        for x in examples:
            value = f", £{x['value']:,.0f}" if x["value"] else ""
            parts.append(f"{x['title'] or x['ocid']} ({x['ocid']}, with {x['with']}{value})")
        text += ". For example: " + "; ".join(parts)
    return text + "."


# --- communities ----------------------------------------------------------------------------


@dataclass
class Community:
    id: int
    size: int
    sectors: dict[str, int]
    main_buyers: list[str]
    main_suppliers: list[str]
    themes: dict[str, int]
    value: float  # money on the ties inside it (per tie the larger of awarded and paid)
    participation: float  # mean participation coefficient of its members (Guimerà & Amaral)
    description: str


@dataclass
class CommunityReport:
    scope: str
    nodes: int
    edges: int
    modularity: float | None
    communities: list[Community]
    # Pairs of communities with fewer ties than expected (K_r K_s / 2m), fewest first.
    gaps: list[dict[str, Any]]
    # Modularity of degree-preserving random copies: raw measures grow with size, so a
    # place's modularity means something only against graphs with the same degrees.
    null_model: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def participation(g: ig.Graph, membership: list[int]) -> list[float]:
    """Participation coefficient P_i = 1 − Σ_s (k_is / k_i)² (Guimerà & Amaral 2005): 0 for
    a node whose ties all stay in its community, towards 1 when they spread evenly."""
    import numpy as np

    n = g.vcount()
    if not g.ecount():
        return [0.0] * n
    edges = np.array(g.get_edgelist(), dtype=np.int64)
    community = np.array(membership, dtype=np.int64)
    # each tie counted from both ends: (vertex, the other end's community)
    ends = np.concatenate([edges, edges[:, ::-1]])
    pairs, ties = np.unique(
        ends[:, 0] * (int(community.max()) + 1) + community[ends[:, 1]], return_counts=True
    )
    vertex = pairs // (int(community.max()) + 1)
    k = np.bincount(vertex, weights=ties, minlength=n)
    squares = np.bincount(vertex, weights=ties.astype(float) ** 2, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(k > 0, 1 - squares / np.where(k > 0, k, 1) ** 2, 0.0)
    return [float(x) for x in p]


@gc_paused
def communities(
    measured: Measured,
    *,
    top: int | None = 20,
    min_size: int = 2,
    null_copies: int = NULL_COPIES,
) -> CommunityReport:
    """The network's Leiden communities (of ``min_size`` nodes or more), largest first, each
    described, with the community pairs tied least against chance."""
    g = measured.trade
    membership = measured.community
    p = participation(g, membership)
    members: dict[int, list[int]] = defaultdict(list)
    for v, c in enumerate(membership):
        members[c].append(v)
    inside_value: Counter[int] = Counter()
    inside_themes: dict[int, Counter[str]] = defaultdict(Counter)
    between: Counter[tuple[int, int]] = Counter()
    values, edge_themes = measured.column("edge:value"), measured.column("edge:themes")
    for e, (source, target) in enumerate(measured.column("edgelist")):
        a, b = membership[source], membership[target]
        if a == b:
            inside_value[a] += values[e] or 0
            counts = inside_themes[a]
            for theme, n in (edge_themes[e] or {}).items():
                counts[theme] = counts.get(theme, 0) + n
        else:
            between[(min(a, b), max(a, b))] += 1
    labels, sector_of = measured.column("label"), measured.column("sector")
    found = []
    for c in sorted(members, key=lambda c: (-len(members[c]), c)):
        vs = members[c]
        if len(vs) < min_size:
            continue
        sectors = Counter(sector_of[v] for v in vs)
        ranked = sorted(vs, key=lambda v: (-measured.strength[v], -measured.degree[v], labels[v]))
        buyers = [labels[v] for v in ranked if sector_of[v] == PUBLIC][:3]
        suppliers = [labels[v] for v in ranked if sector_of[v] != PUBLIC][:3]
        themes = dict(inside_themes[c].most_common(3))
        found.append(
            Community(
                id=c,
                size=len(vs),
                sectors=dict(sectors.most_common()),
                main_buyers=buyers,
                main_suppliers=suppliers,
                themes=themes,
                value=round(inside_value[c], 2),
                participation=round(sum(p[v] for v in vs) / len(vs), 3),
                description=_describe(len(vs), sectors, buyers, suppliers, themes),
            )
        )
    modularity = g.modularity(membership) if g.ecount() else None
    null = (
        null_model(g, copies=null_copies, seed=measured.seed)
        if null_copies and modularity is not None and g.ecount() <= NULL_MAX_EDGES
        else None
    )
    if null and null["sd"]:
        null["z"] = round((modularity - null["mean"]) / null["sd"], 2)
    return CommunityReport(
        scope=measured.network.scope.describe(),
        nodes=g.vcount(),
        edges=g.ecount(),
        modularity=None if modularity is None else round(modularity, 4),
        communities=found[:top] if top else found,
        gaps=_community_gaps(g, membership, members, between, {x.id for x in found}),
        null_model=null,
        notes=list(measured.network.notes),
    )


def null_model(
    g: ig.Graph, *, copies: int = NULL_COPIES, seed: int = measures.SEED
) -> dict[str, Any]:
    """Leiden modularity of ``copies`` degree-preserving random rewirings of ``g`` (10 swaps
    per edge each, seeded): its mean and standard deviation (Maslov & Sneppen 2002)."""
    import random

    import igraph

    values = []
    previous = random.getstate()
    igraph.set_random_number_generator(random.Random(seed))
    try:
        for i in range(copies):
            copy = g.copy()
            copy.rewire(n=10 * g.ecount())
            membership = measures.communities(copy, seed=seed + i + 1)
            igraph.set_random_number_generator(random.Random(seed + 1000 + i))
            values.append(copy.modularity(membership))
    finally:
        igraph.set_random_number_generator(random)
        random.setstate(previous)
    mean = sum(values) / len(values)
    sd = (
        (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        if len(values) > 1
        else 0.0
    )
    return {"copies": copies, "mean": round(mean, 4), "sd": round(sd, 4)}


def _describe(
    size: int,
    sectors: Counter[str],
    buyers: list[str],
    suppliers: list[str],
    themes: dict[str, int],
) -> str:
    mix = ", ".join(f"{n} {SECTOR_WORDS.get(s, s)}" for s, n in sectors.most_common(3))
    text = f"{size} organisations ({mix})"
    if buyers:
        text += f" around {_names(buyers)}"
    if suppliers:
        text += f"; main suppliers {_names(suppliers)}"
    if themes:
        text += f"; buying {', '.join(themes)}"
    return text + "."


def _community_gaps(
    g: ig.Graph,
    membership: list[int],
    members: dict[int, list[int]],
    between: Counter[tuple[int, int]],
    shown: set[int],
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Community pairs whose observed ties fall furthest below the configuration-model
    expectation K_r K_s / 2m (K: the sum of the degrees in a community, m: ties)."""
    m = g.ecount()
    if not m:
        return []
    degree = g.degree()
    k: Counter[int] = Counter()
    for v, c in enumerate(membership):
        k[c] += degree[v]
    ids = sorted(shown)
    rows = []
    for i, r in enumerate(ids):
        for s in ids[i + 1 :]:
            expected = k[r] * k[s] / (2 * m)
            observed = between[(r, s)]
            if expected >= 1 and observed < expected:
                rows.append(
                    {
                        "communities": [r, s],
                        "observed": observed,
                        "expected": round(expected, 2),
                        "ratio": round(observed / expected, 3),
                    }
                )
    rows.sort(key=lambda x: (x["ratio"], -x["expected"]))
    return rows[:limit]
