"""Bridges and gaps of a network: where ties between small enterprises and public institutions
are missing, who connects places, and which buyers' supplier ties look thin
(docs/network.md, "Gaps"). Every list is a question to ask, not a verdict.

* ``unreached``: SMEs and VCSEs with no path of ``k`` steps or fewer to the scope's largest
  public buyers (by money), with the large buyers they are most likely to fit: theme
  relevance (the overlap of the two theme profiles, Σ_t min(share_s(t), share_b(t))), then a
  bipartite Adamic–Adar score (Adamic & Adar 2003): Σ over the buyer's suppliers y of
  Σ over buyers z shared by the SME and y of 1 / log(degree z), so a shared buyer with few
  suppliers counts more than a shared national buyer.
* ``buyer_pairs``: public buyers of one place that buy the same themes and share no
  supplier: candidates for a joint, lotted procurement.
* ``connectors``: suppliers serving public buyers in several places.
* ``sparse_buyers``: Fazekas & Wachs (2020, "Corruption and the network structure of public
  contracting markets across government change", Politics and Governance 8(2)) found that
  buyers with high corruption-risk scores have fewer suppliers than their volume of contracts
  would predict. Here log(suppliers) is fitted on log(contract awards) across the scope's
  buyers (distinct awards, one award of several suppliers counted once; ordinary least
  squares, buyers with ``MIN_AWARDS`` awards or more), and buyers
  with fewer suppliers than expected are listed with the ratio.
* ``market_cores``: for each theme, how concentrated its money is: suppliers, the top four's
  share, HHI (0–10,000) and the core (fewest suppliers holding half the money), with
  ``small_base`` when the theme has fewer than ten suppliers or awards: such a market is
  small, not concentrated (its HHI is at least 10,000 / n; docs/metrics.md, "Concentration").
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from locality.network.analysis import Measured
from locality.network.build import BUYER_SUPPLIER, gc_paused
from locality.network.sectors import PUBLIC, SME, VCSE

K_STEPS = 2
LARGE_BUYERS = 5
MIN_AWARDS = 2
MIN_BUYERS_FOR_FIT = 5
# The small-base rule of locality.metrics.concentration (imported there with Ibis, too heavy
# for a page; tests/test_network.py checks the two agree).
MIN_SUPPLIERS = 10
MIN_BASE = 10


@dataclass
class GapReport:
    scope: str
    large_buyers: list[dict[str, Any]]
    k: int
    unreached: list[dict[str, Any]]
    buyer_pairs: list[dict[str, Any]]
    connectors: list[dict[str, Any]]
    sparse_buyers: list[dict[str, Any]]
    market_cores: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "unreached": self.unreached,
            "buyer_pairs": self.buyer_pairs,
            "connectors": self.connectors,
            "sparse_buyers": self.sparse_buyers,
            "market_cores": self.market_cores,
        }


def _profile(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {t: n / total for t, n in counts.items()} if total else {}


@gc_paused
def gaps(
    measured: Measured,
    *,
    k: int = K_STEPS,
    large_buyers: int = LARGE_BUYERS,
    top: int | None = 25,
) -> GapReport:
    """Every gap list of a measured network (module docstring)."""
    g = measured.trade
    n = g.vcount()
    vs = g.vs
    themes: list[Counter[str]] = [Counter() for _ in range(n)]
    edge_themes = g.es["themes"] if g.ecount() else []
    for (a, b), found in zip(g.get_edgelist(), edge_themes, strict=True):
        for t, c in (found or {}).items():
            themes[a][t] += c
            themes[b][t] += c
    neighbours = [set(x) for x in g.get_adjlist()]
    notes = list(measured.network.notes)
    scope_councils = measured.network.scope.councils
    sectors, in_scope, labels = g.vs["sector"], g.vs["scope_buyer"], g.vs["label"]
    public_buyers = [v for v in range(n) if sectors[v] == PUBLIC and in_scope[v]]
    large = sorted(public_buyers, key=lambda v: (-measured.strength[v], labels[v]))
    large = [v for v in large if measured.strength[v] > 0][:large_buyers]
    clip = (lambda rows: rows[:top]) if top else (lambda rows: rows)
    return GapReport(
        scope=measured.network.scope.describe(),
        large_buyers=[
            {"id": vs[v]["name"], "name": vs[v]["label"], "strength": measured.strength[v]}
            for v in large
        ],
        k=k,
        unreached=_unreached(measured, large, k, themes, neighbours, scope_councils, top),
        buyer_pairs=_buyer_pairs(measured, public_buyers, themes, neighbours, top),
        connectors=clip(_connectors(measured, neighbours)),
        sparse_buyers=clip(_sparse_buyers(measured, notes)),
        market_cores=clip(_market_cores(measured)),
        notes=notes,
    )


def _unreached(
    measured: Measured,
    large: list[int],
    k: int,
    themes: list[Counter[str]],
    neighbours: list[set[int]],
    councils: frozenset[str] | None,
    top: int | None,
) -> list[dict[str, Any]]:
    g = measured.trade
    names, labels, sectors = g.vs["name"], g.vs["label"], g.vs["sector"]
    localities, codes = g.vs["locality"], g.vs["la_registry_code"]
    small = [v for v in range(g.vcount()) if sectors[v] in (SME, VCSE)]
    if not large or not small:
        return []
    distances = g.distances(source=large, target=small)
    large_profiles = {b: _profile(themes[b]) for b in large}
    # The order needs only each SME's best theme relevance; the Adamic–Adar scores and the
    # rows are made for the rows kept (the page keeps ten of thousands).
    nearest = [min(column) for column in zip(*distances, strict=True)]
    far = [(j, s) for j, s in enumerate(small) if nearest[j] > k]
    best = _best_relevance([themes[s] for _, s in far], [large_profiles[b] for b in large])
    found = []  # (sort key, SME, its distance, its theme profile)
    for (j, s), relevance in zip(far, best, strict=True):
        local = bool(councils and codes[s] in councils)
        key = (not local, -round(relevance, 3), labels[s], j)
        found.append((key, s, nearest[j], _profile(themes[s]), local))
    found.sort(key=lambda x: x[0])
    degree = measured.degree
    reach: dict[int, Counter[int]] = {}
    rows = []
    for _, s, nearest, profile, local in found[:top] if top else found:
        fits = []
        for b in large:
            if b not in reach:
                # Adamic–Adar rewritten per shared buyer z: Σ_{z ∈ N(s)} |{y ∈ N(b): z ∈
                # N(y)}| / log deg z, so each large buyer's counts are made once (cost
                # Σ_y deg y), not once per SME.
                counts: Counter[int] = Counter()
                for y in neighbours[b]:
                    counts.update(neighbours[y])
                reach[b] = counts
            score = 0.0
            for z in neighbours[s]:
                if degree[z] > 1 and z in reach[b]:
                    score += reach[b][z] / math.log(degree[z])
            fits.append(
                {
                    "buyer": labels[b],
                    "buyer_id": names[b],
                    "theme_relevance": round(_relevance(profile, large_profiles[b]), 3),
                    "adamic_adar": round(score, 3),
                }
            )
        fits.sort(key=lambda f: (-f["theme_relevance"], -f["adamic_adar"], f["buyer"]))
        rows.append(
            {
                "id": names[s],
                "name": labels[s],
                "sector": sectors[s],
                "locality": localities[s],
                "local": local,
                "distance": None if math.isinf(nearest) else int(nearest),
                "buyers": sorted(labels[x] for x in neighbours[s]),
                "themes": dict(themes[s].most_common(3)),
                "best_fits": fits[:2],
            }
        )
    return rows


def _best_relevance(counts: list[Counter[str]], profiles: list[dict[str, float]]) -> list[float]:
    """Each SME's best theme relevance to the large buyers (``_relevance``), as matrices:
    thousands of SMEs against five buyers."""
    import numpy as np

    if not counts:
        return []
    columns = {t: i for i, t in enumerate(sorted({t for c in counts for t in c}))}
    shares = np.zeros((len(counts), len(columns) + 1))
    for i, c in enumerate(counts):
        total = sum(c.values())
        for t, n in c.items():
            if total:
                shares[i, columns[t]] = n / total
    best = np.zeros(len(counts))
    for profile in profiles:
        theirs = np.zeros(len(columns) + 1)
        for t, p in profile.items():
            theirs[columns.get(t, len(columns))] = p if t in columns else 0.0
        best = np.maximum(best, np.minimum(shares, theirs).sum(axis=1))
    return [float(x) for x in best]


def _relevance(profile: dict[str, float], other: dict[str, float]) -> float:
    """The overlap of two theme profiles, Σ_t min(share_a(t), share_b(t))."""
    return sum(min(p, other.get(t, 0.0)) for t, p in profile.items())


def _buyer_pairs(
    measured: Measured,
    buyers: list[int],
    themes: list[Counter[str]],
    neighbours: list[set[int]],
    top: int | None,
) -> list[dict[str, Any]]:
    g = measured.trade
    labels = g.vs["label"]
    codes = g.vs["la_registry_code"]
    localities = g.vs["locality"]
    bought = {b: set(themes[b]) - {"unclassified"} for b in buyers}
    by_place: dict[str, list[int]] = defaultdict(list)
    for b in buyers:
        if codes[b] and bought[b]:
            by_place[codes[b]].append(b)
    # A council's buyers are compared pair by pair (hundreds of buyers: tens of thousands of
    # pairs), so the pairs are matrices: shared themes M·Mᵀ, their awards C·Mᵀ + M·Cᵀ, and
    # the pairs sharing a supplier marked from each supplier's buyers.
    rank = {label: i for i, label in enumerate(sorted({labels[b] for b in buyers}))}
    found = []  # (sort key, a, b); rows are made for the kept ones only
    for order, members in enumerate(by_place.values()):
        members.sort(key=lambda v: labels[v])
        found.extend(_pairs_of(members, order, bought, themes, neighbours, labels, rank, top))
    kept = heapq.nsmallest(top, found) if top else sorted(found)
    rows = []
    for *_, a, b in kept:
        names = sorted(bought[a] & bought[b])
        rows.append(
            {
                "place": localities[a],
                "buyer_a": labels[a],
                "buyer_b": labels[b],
                "shared_themes": names,
                "awards_a": sum(themes[a][t] for t in names),
                "awards_b": sum(themes[b][t] for t in names),
            }
        )
    return rows


def _pairs_of(
    members: list[int],
    order: int,
    bought: dict[int, set[str]],
    themes: list[Counter[str]],
    neighbours: list[set[int]],
    labels: list[str],
    rank: dict[str, int],
    top: int | None,
) -> list[tuple[int, ...]]:
    """The pairs of one place's buyers (in label order) that share a theme and no supplier,
    each as (−shared themes, −their awards, label ranks, place order, i, j, a, b): the
    first ``top`` of them (all when None), since the first of all places are among them."""
    import numpy as np

    size = len(members)
    if size < 2:
        return []
    columns = {t: i for i, t in enumerate(sorted(set().union(*(bought[b] for b in members))))}
    has = np.zeros((size, len(columns)), dtype=np.int64)
    awards = np.zeros_like(has)
    for i, b in enumerate(members):
        for t in bought[b]:
            has[i, columns[t]] = 1
            awards[i, columns[t]] = themes[b][t]
    shared = has @ has.T
    shared_awards = awards @ has.T + has @ awards.T
    suppliers: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(members):
        for y in neighbours[b]:
            suppliers[y].append(i)
    blocked = np.zeros((size, size), dtype=bool)
    for sharing in suppliers.values():
        if len(sharing) > 1:
            index = np.array(sharing)
            blocked[np.ix_(index, index)] = True
    rows, cols = np.nonzero(np.triu((shared > 0) & ~blocked, k=1))
    ranks = np.array([rank[labels[b]] for b in members], dtype=np.int64)
    keys = (-shared[rows, cols], -shared_awards[rows, cols], ranks[rows], ranks[cols])
    # the first ``top`` in the order of the keys (i, j break ties as the pairs' order would)
    first = np.lexsort((cols, rows, *reversed(keys)))[:top] if top else np.arange(len(rows))
    return [
        (*(int(k[x]) for k in keys), order, int(rows[x]), int(cols[x]),
         members[rows[x]], members[cols[x]])
        for x in first
    ]  # fmt: skip


def _connectors(measured: Measured, neighbours: list[set[int]]) -> list[dict[str, Any]]:
    g = measured.trade
    names, labels, sectors, localities = (g.vs[a] for a in ("name", "label", "sector", "locality"))
    rows = []
    for v in range(g.vcount()):
        if sectors[v] == PUBLIC:
            continue
        places = sorted(
            {localities[u] for u in neighbours[v] if sectors[u] == PUBLIC and localities[u]}
        )
        if len(places) < 2:
            continue
        rows.append(
            {
                "id": names[v],
                "name": labels[v],
                "sector": sectors[v],
                "locality": localities[v],
                "places": len(places),
                "place_names": places,
                "strength": measured.strength[v],
            }
        )
    rows.sort(key=lambda r: (-r["places"], -r["strength"], r["name"]))
    return rows


def _contract_ties(full: Any) -> list[tuple[int, int, int]]:
    """(edge, buyer, supplier) of every buyer–supplier tie of the full graph."""
    if not full.ecount():
        return []
    names = full.vs["name"]
    return [
        (i, a, b) if names[a] == payer else (i, b, a)
        for i, ((a, b), kind, payer) in enumerate(
            zip(full.get_edgelist(), full.es["kind"], full.es["payer"], strict=True)
        )
        if kind == BUYER_SUPPLIER
    ]


def _sparse_buyers(measured: Measured, notes: list[str]) -> list[dict[str, Any]]:
    network = measured.network
    full = network.graph
    vs = full.vs
    # Contract awards per buyer, each award once however many suppliers it names (a tie's
    # count is per supplier, so summing ties would count a 14-supplier award 14 times and
    # make a buyer's supplier count follow its award count by construction).
    index = {name: v for v, name in enumerate(vs["name"])} if full.vcount() else {}
    awards: Counter[int] = Counter(
        {index[b]: n for b, n in network.buyer_awards.items() if b in index}
    )
    suppliers: dict[int, set[int]] = defaultdict(set)
    value: Counter[int] = Counter()
    values = full.es["value"] if full.ecount() else []
    for i, buyer, supplier in _contract_ties(full):
        suppliers[buyer].add(supplier)
        value[buyer] += values[i] or 0
    buyers = [b for b in awards if awards[b] >= MIN_AWARDS]
    if len(buyers) < MIN_BUYERS_FOR_FIT:
        notes.append(
            f"sparse buyers: {len(buyers)} buyers with {MIN_AWARDS} or more contract awards, "
            f"{MIN_BUYERS_FOR_FIT} needed to fit the expected number of suppliers"
        )
        return []
    xs = [math.log(awards[b]) for b in buyers]
    ys = [math.log(len(suppliers[b])) for b in buyers]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    rows = []
    for b, x in zip(buyers, xs, strict=True):
        expected = math.exp(intercept + slope * x)
        observed = len(suppliers[b])
        if observed >= expected:
            continue
        rows.append(
            {
                "id": vs[b]["name"],
                "name": vs[b]["label"],
                "locality": vs[b]["locality"],
                "awards": awards[b],
                "suppliers": observed,
                "expected_suppliers": round(expected, 2),
                "ratio": round(observed / expected, 3),
                "value": round(value[b], 2),
                "question": (
                    f"{observed} supplier{'s' if observed != 1 else ''} for {awards[b]} contract "
                    f"awards where buyers of "
                    f"this scope have {expected:.1f}: why so few?"
                ),
            }
        )
    rows.sort(key=lambda r: (r["ratio"], r["name"]))
    return rows


def _market_cores(measured: Measured) -> list[dict[str, Any]]:
    full = measured.network.graph
    vs = full.vs
    money: dict[str, Counter[int]] = defaultdict(Counter)
    theme_values = full.es["theme_values"] if full.ecount() else []
    awards = measured.network.theme_awards
    for i, _, supplier in _contract_ties(full):
        for theme, v in (theme_values[i] or {}).items():
            money[theme][supplier] += v
    rows = []
    for theme, by_supplier in money.items():
        total = sum(by_supplier.values())
        if total <= 0:
            continue
        shares = sorted((v / total for v in by_supplier.values()), reverse=True)
        running, core = 0.0, 0
        for share in shares:
            running += share
            core += 1
            if running >= 0.5:
                break
        top = by_supplier.most_common(1)[0][0]
        hhi = round(sum((s * 100) ** 2 for s in shares), 1)
        base = awards.get(theme, 0)
        small = len(shares) < MIN_SUPPLIERS or base < MIN_BASE
        reading = (
            f"{base} award{'s' if base != 1 else ''} to {len(shares)} supplier"
            f"{'s' if len(shares) != 1 else ''}, £{total:,.0f}: too few to read"
            if small
            else "highly concentrated"
            if hhi > 2000
            else "concentrated"
            if hhi > 1000
            else "not concentrated"
        )
        rows.append(
            {
                "theme": theme,
                "value": round(total, 2),
                "suppliers": len(shares),
                "top4_share": round(sum(shares[:4]), 4),
                "hhi": hhi,
                "core_suppliers": core,
                "largest_supplier": vs[top]["label"],
                "awards": base,
                "small_base": small,
                # the CMA's reading (above 1,000 concentrated, above 2,000 highly), or none
                "reading": reading,
            }
        )
    # Markets large enough to read first, then by concentration.
    rows.sort(key=lambda r: (r["small_base"], -r["hhi"], r["theme"]))
    return rows
