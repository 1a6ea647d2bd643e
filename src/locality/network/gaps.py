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
  share, HHI (0–10,000) and the core (fewest suppliers holding half the money).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from locality.network.analysis import Measured
from locality.network.build import BUYER_SUPPLIER
from locality.network.sectors import PUBLIC, SME, VCSE

K_STEPS = 2
LARGE_BUYERS = 5
MIN_AWARDS = 2
MIN_BUYERS_FOR_FIT = 5


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
        unreached=clip(_unreached(measured, large, k, themes, neighbours, scope_councils)),
        buyer_pairs=_buyer_pairs(measured, public_buyers, themes, neighbours, top),
        connectors=clip(_connectors(measured)),
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
) -> list[dict[str, Any]]:
    g = measured.trade
    names, labels, sectors = g.vs["name"], g.vs["label"], g.vs["sector"]
    localities, codes = g.vs["locality"], g.vs["la_registry_code"]
    small = [v for v in range(g.vcount()) if sectors[v] in (SME, VCSE)]
    if not large or not small:
        return []
    distances = g.distances(source=large, target=small)
    degree = measured.degree
    large_profiles = {b: _profile(themes[b]) for b in large}
    # Adamic–Adar rewritten per shared buyer z: Σ_{z ∈ N(s)} |{y ∈ N(b): z ∈ N(y)}| / log deg z,
    # so each large buyer's counts are made once (cost Σ_y deg y), not once per SME.
    reach: dict[int, Counter[int]] = {}
    for b in large:
        counts: Counter[int] = Counter()
        for y in neighbours[b]:
            counts.update(neighbours[y])
        reach[b] = counts
    rows = []
    for j, s in enumerate(small):
        nearest = min(distances[i][j] for i in range(len(large)))
        if nearest <= k:
            continue
        profile = _profile(themes[s])
        fits = []
        for b in large:
            b_profile = large_profiles[b]
            relevance = sum(min(p, b_profile.get(t, 0.0)) for t, p in profile.items())
            score = 0.0
            for z in neighbours[s]:
                if degree[z] > 1 and z in reach[b]:
                    score += reach[b][z] / math.log(degree[z])
            fits.append(
                {
                    "buyer": labels[b],
                    "buyer_id": names[b],
                    "theme_relevance": round(relevance, 3),
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
                "local": bool(councils and codes[s] in councils),
                "distance": None if math.isinf(nearest) else int(nearest),
                "buyers": sorted(labels[x] for x in neighbours[s]),
                "themes": dict(themes[s].most_common(3)),
                "best_fits": fits[:2],
            }
        )
    rows.sort(
        key=lambda r: (
            not r["local"],
            -(r["best_fits"][0]["theme_relevance"] if r["best_fits"] else 0),
            r["name"],
        )
    )
    return rows


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
    found = []  # (sort key, a, b, shared themes); rows are made for the kept ones only
    for members in by_place.values():
        members.sort(key=lambda v: labels[v])
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                shared = bought[a] & bought[b]
                if not shared or not neighbours[a].isdisjoint(neighbours[b]):
                    continue
                awards = sum(themes[a][t] + themes[b][t] for t in shared)
                found.append(((-len(shared), -awards, labels[a], labels[b]), a, b, shared))
    kept = (
        heapq.nsmallest(top, found, key=lambda x: x[0])
        if top
        else sorted(found, key=lambda x: x[0])
    )
    rows = []
    for _, a, b, shared in kept:
        names = sorted(shared)
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


def _connectors(measured: Measured) -> list[dict[str, Any]]:
    g = measured.trade
    vs = g.vs
    rows = []
    for v in range(g.vcount()):
        if vs[v]["sector"] == PUBLIC:
            continue
        places = sorted(
            {
                vs[u]["locality"]
                for u in g.neighbors(v)
                if vs[u]["sector"] == PUBLIC and vs[u]["locality"]
            }
        )
        if len(places) < 2:
            continue
        rows.append(
            {
                "id": vs[v]["name"],
                "name": vs[v]["label"],
                "sector": vs[v]["sector"],
                "locality": vs[v]["locality"],
                "places": len(places),
                "place_names": places,
                "strength": measured.strength[v],
            }
        )
    rows.sort(key=lambda r: (-r["places"], -r["strength"], r["name"]))
    return rows


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
    for e in full.es:
        if e["kind"] != BUYER_SUPPLIER:
            continue
        a, b = e.source, e.target
        buyer, supplier = (a, b) if vs[a]["name"] == e["payer"] else (b, a)
        suppliers[buyer].add(supplier)
        value[buyer] += e["value"] or 0
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
    for e in full.es:
        if e["kind"] != BUYER_SUPPLIER:
            continue
        supplier = e.target if vs[e.source]["name"] == e["payer"] else e.source
        for theme, v in (e["theme_values"] or {}).items():
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
        rows.append(
            {
                "theme": theme,
                "value": round(total, 2),
                "suppliers": len(shares),
                "top4_share": round(sum(shares[:4]), 4),
                "hhi": round(sum((s * 100) ** 2 for s in shares), 1),
                "core_suppliers": core,
                "largest_supplier": vs[top]["label"],
            }
        )
    rows.sort(key=lambda r: (-r["hhi"], r["theme"]))
    return rows
