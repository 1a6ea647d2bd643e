"""The innovation network: measures on hand-made graphs whose values the literature defines
(Burt 1992 constraint, Freeman betweenness, Gould & Fernandez 1989 roles), sector rules, and
the network of the real sample (money counted once, frameworks never money, Leeds' brokers
checked by hand in tests/fixtures/network_leeds_brokers.json)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import igraph as ig
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locality.network import (
    Measured,
    Network,
    NetworkError,
    brokers,
    build_network,
    communities,
    gaps,
    measure,
    scope_for,
)
from locality.network import measures as m
from locality.network.sectors import OrgFacts, classify
from locality.store.db import connect
from tests.conftest import FIXTURES

# --- Burt's constraint and effective size, by hand --------------------------------------------


def test_constraint_of_a_star_and_a_triangle() -> None:
    # Star: the centre's 3 contacts are untied, each p = 1/3: 3 x (1/3)^2 = 1/3; a leaf has
    # one contact, p = 1: constraint 1. Triangle: p = 1/2 direct plus 1/2 x 1/2 through the
    # third: 2 x (3/4)^2 = 9/8 (Burt 1992, ch. 2).
    assert m.constraint(ig.Graph.Star(4)) == pytest.approx([1 / 3, 1, 1, 1])
    assert m.constraint(ig.Graph.Full(3)) == pytest.approx([9 / 8] * 3)
    assert m.effective_size(ig.Graph.Star(4)) == pytest.approx([3, 1, 1, 1])
    assert m.effective_size(ig.Graph.Full(3)) == pytest.approx([1, 1, 1])


def test_constraint_of_a_kite() -> None:
    # a tied to b, c, d; b tied to c. a: p = 1/3 each; to b directly 1/3 and through c
    # 1/3 x 1/2: (1/2)^2 twice, plus (1/3)^2 for d: 11/18. b: to a 1/2 + 1/2 x 1/2 = 3/4,
    # to c 1/2 + 1/2 x 1/3 = 2/3: 9/16 + 4/9 = 145/144. d: 1. Effective size of a:
    # 3 contacts with 1 tie among them: 3 - 2 x 1/3 = 7/3.
    g = ig.Graph([(0, 1), (0, 2), (0, 3), (1, 2)])
    assert m.constraint(g) == pytest.approx([11 / 18, 145 / 144, 145 / 144, 1])
    assert m.effective_size(g)[0] == pytest.approx(7 / 3)
    assert m.constraint(ig.Graph([(0, 1)]) + 1)[2] is None  # an isolate has no constraint


# --- betweenness ------------------------------------------------------------------------------


def test_betweenness_of_a_star_and_a_path() -> None:
    # The centre of a star lies on every path between leaves: normalised 1. On a path of 5,
    # the middle lies between {1, 2} and {4, 5}: 4 of 6 pairs; the second node on 3 of 6.
    assert m.betweenness(ig.Graph.Star(5)).values == pytest.approx([1, 0, 0, 0, 0])
    path = m.betweenness(ig.Graph([(0, 1), (1, 2), (2, 3), (3, 4)]))
    assert path.exact
    assert path.values == pytest.approx([0, 3 / 6, 4 / 6, 3 / 6, 0])


def test_betweenness_of_zacharys_karate_club() -> None:
    # Zachary (1977): the instructor (node 1) and the administrator (node 34) have the
    # highest betweenness, 0.4376 and 0.3041 normalised (as networkx and UCINET report).
    values = m.betweenness(ig.Graph.Famous("Zachary")).values
    assert values[0] == pytest.approx(0.43763528, abs=1e-6)
    assert values[33] == pytest.approx(0.30407497, abs=1e-6)


def test_sampled_betweenness_is_within_its_bound() -> None:
    g = ig.Graph.Barabasi(1500, 2, directed=False)
    exact = m.betweenness(g).values
    sampled = m.betweenness(g, exact_below=1000, pivots=200, seed=7)
    assert not sampled.exact and sampled.pivots == 200
    assert sampled.error_bound == pytest.approx(m.error_bound(1500, 200))
    worst = max(abs(a - b) for a, b in zip(exact, sampled.values, strict=True))
    assert worst <= sampled.error_bound
    assert "±" in sampled.describe()
    top = max(range(1500), key=exact.__getitem__)
    assert sampled.values[top] == pytest.approx(exact[top], rel=0.25)
    # seeded: the same estimate twice
    assert m.betweenness(g, exact_below=1000, pivots=200, seed=7).values == sampled.values


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 60),
    edges=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), max_size=90),
    leaves=st.lists(st.integers(0, 59), max_size=40),
    sample=st.integers(1, 30),
)
def test_leaf_sources_folded_give_igraphs_sums(
    n: int, edges: list[tuple[int, int]], leaves: list[int], sample: int
) -> None:
    """Leaves hung on random graphs (several components, isolates, pairs of leaves): the
    sums over every source and over a sample, with leaf sources counted as their neighbour,
    are igraph's own."""
    g = ig.Graph(n, [(a % n, b % n) for a, b in edges if a % n != b % n])
    for anchor in leaves:  # a new vertex tied to one existing one
        g.add_vertices(1)
        g.add_edge(g.vcount() - 1, anchor % g.vcount())
    g.simplify()
    every = range(g.vcount())
    assert m._source_betweenness(g, every) == pytest.approx(g.betweenness(), abs=1e-9)
    sources = sorted(set(range(0, g.vcount(), max(1, g.vcount() // sample))))
    assert m._source_betweenness(g, sources) == pytest.approx(
        g.betweenness(sources=sources), abs=1e-9
    )


# --- Gould & Fernandez brokerage roles --------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        ("XXX", m.COORDINATOR),  # a, b, c in one group
        ("XYX", m.ITINERANT),  # a and c in one group, b in another
        ("XXY", m.REPRESENTATIVE),  # b speaks for its group (a) to another (c)
        ("XYY", m.GATEKEEPER),  # b lets a outsider (a) into its group (c)
        ("XYZ", m.LIAISON),  # three groups
    ],
)
def test_each_role_on_a_directed_two_path(groups: str, role: str) -> None:
    g = ig.Graph([(0, 1), (1, 2)], directed=True)  # a -> b -> c
    roles = m.brokerage(g, list(groups))
    assert roles[1] == {r: int(r == role) for r in m.ROLES}
    assert sum(roles[0].values()) == sum(roles[2].values()) == 0


def test_a_closed_triad_has_no_broker() -> None:
    g = ig.Graph([(0, 1), (1, 2), (0, 2)], directed=True)
    assert all(sum(r.values()) == 0 for r in m.brokerage(g, ["X", "Y", "Z"]))


def test_undirected_ties_count_both_ways() -> None:
    # A star whose centre is public, two SMEs and a VCSE around it: the 6 ordered pairs of
    # leaves: SME-SME both ways itinerant (2), SME-VCSE both ways liaison (4).
    g = ig.Graph.Star(4)
    roles = m.brokerage(g, ["public", "sme", "sme", "vcse"])
    assert roles[0] == {m.COORDINATOR: 0, m.ITINERANT: 2, m.REPRESENTATIVE: 0,
                        m.GATEKEEPER: 0, m.LIAISON: 4}  # fmt: skip
    # a broker in the group of one end: representative and gatekeeper, one each way
    roles = m.brokerage(ig.Graph([(0, 1), (1, 2)]), ["X", "X", "Y"])
    assert roles[1][m.REPRESENTATIVE] == roles[1][m.GATEKEEPER] == 1


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 18),
    p=st.floats(0.05, 0.6),
    seed=st.integers(0, 10_000),
    labels=st.lists(st.sampled_from("ABC"), min_size=18, max_size=18),
)
def test_undirected_counting_equals_the_path_by_path_definition(
    n: int, p: float, seed: int, labels: list[str]
) -> None:
    """The fast count (contacts per group less triangles) is the definition applied to every
    path of the graph read as ties both ways."""
    import random

    rng = random.Random(seed)
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    g = ig.Graph(n, edges)
    groups = labels[:n]
    assert m.brokerage(g, groups) == m.brokerage(g.as_directed("mutual"), groups)


# --- communities ------------------------------------------------------------------------------


def test_leiden_finds_two_cliques_joined_by_a_bridge_and_is_seeded() -> None:
    g = ig.Graph.Full(5) + ig.Graph.Full(5)
    g.add_edge(0, 5)
    found = m.communities(g)
    assert found[:5] == [found[0]] * 5 and found[5:] == [found[5]] * 5
    assert found[0] != found[5]
    zachary = ig.Graph.Famous("Zachary")
    first = m.communities(zachary, seed=3)
    assert first == m.communities(zachary, seed=3)
    assert zachary.modularity(first) > 0.4  # best known partition: 0.4198 (Newman 2006)


# --- sectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "sector", "buyer_type"),
    [
        (OrgFacts("x1", "Leeds City Council", is_buyer=True), "public_buyer", "council"),
        (OrgFacts("x2", "East Riding of Yorkshire", is_buyer=True), "public_buyer", "council"),
        # a council's museums are in the Arts Council portfolio under the council's name
        (OrgFacts("x3", "Bristol City Council", is_buyer=True), "public_buyer", "council"),
        (OrgFacts("x4", "University of Leeds", is_buyer=True), "higher_further_education", None),
        (
            OrgFacts("x5", "Velindre University NHS Trust", is_buyer=True),
            "public_buyer",
            "nhs",
        ),
        (OrgFacts("x6", "Thames Valley Police", is_buyer=True), "public_buyer", "police_fire"),
        (
            OrgFacts("x7", "Ministry of Justice", is_buyer=True),
            "public_buyer",
            "central_government",
        ),
        (
            OrgFacts("x8", "Council Cleaning Supplies Ltd", scale="sme", is_supplier=True),
            "sme",
            None,
        ),
        (OrgFacts("GB-CHC-1000611", "Denton Burn Community Association"), "vcse", None),
        (OrgFacts("x9", "Helping Hands", scale="sme", vcse=True, is_supplier=True), "vcse", None),
        (OrgFacts("x10", "Acme Holdings", scale="large", is_supplier=True), "large_company", None),
        (OrgFacts("x11", "YPO", is_buyer=True), "public_buyer", "other"),
        (OrgFacts("x12", "Opera North", is_supplier=True), "arts_culture", None),
        (OrgFacts("x13", "Someone", is_supplier=True), "unknown", None),
        (
            OrgFacts("x14", "Trivallis", buyer_type="Housing Association", is_buyer=True),
            "housing_provider",
            None,
        ),
    ],
)
def test_sector_rules(facts: OrgFacts, sector: str, buyer_type: str | None) -> None:
    found = classify(facts)
    assert (found.sector, found.buyer_type) == (sector, buyer_type), found.evidence
    assert found.evidence


# --- the real sample --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spend_con(spend_sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(spend_sample_store_file, read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def everything(spend_con: duckdb.DuckDBPyConnection) -> Network:
    return build_network(spend_con)


@pytest.fixture(scope="module")
def leeds(spend_con: duckdb.DuckDBPyConnection) -> Measured:
    return measure(build_network(spend_con, scope_for(locality="Leeds")))


def test_money_is_counted_once_and_frameworks_are_never_money(
    everything: Network, spend_con: duckdb.DuckDBPyConnection
) -> None:
    g = everything.graph
    kinds = g.es["kind"]
    frameworks = [e for e in g.es if e["kind"] == "framework"]
    assert frameworks and all(e["value"] == 0 and e["count"] >= 1 for e in frameworks)
    contracted = sum(e["value"] for e in g.es if e["kind"] == "buyer_supplier")
    # the same money read straight from the tables: each awarded award's value share to
    # each supplier, duplicates of a notice left out, buyers paying themselves excluded
    [(expected,)] = spend_con.execute(
        """
        SELECT sum(s.value_share) FROM awards a
        JOIN processes p USING (ocid)
        JOIN award_suppliers s USING (ocid, award_id)
        WHERE a.counts_as = 'awarded' AND (a.status IS NULL OR a.status = 'active')
          AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes)
          AND s.org_id IS NOT NULL AND s.org_id <> p.buyer_org_id
        """
    ).fetchall()
    assert contracted == pytest.approx(expected, rel=1e-9)
    [(paid,)] = spend_con.execute(
        """
        SELECT sum(v) FROM (
            SELECT sum(p.amount_net) AS v FROM spend_payments p
            JOIN spend_supplier_matches mm
              ON mm.supplier_name_normalised IS NOT DISTINCT FROM p.supplier_name_normalised
             AND mm.company_number IS NOT DISTINCT FROM p.company_number
             AND mm.charity_number IS NOT DISTINCT FROM p.charity_number
            WHERE NOT p.redacted GROUP BY p.body, mm.org_id HAVING sum(p.amount_net) > 0)
        """
    ).fetchall()
    spend = sum(e["value"] for e in g.es if e["kind"] == "spend")
    assert spend == pytest.approx(paid, rel=1e-6)
    assert {"buyer_supplier", "framework", "spend", "co_supplier", "co_buyer"} <= set(kinds)
    # one node per organisation
    assert len(set(g.vs["name"])) == g.vcount()
    assert not any(g.is_loop())


def test_a_contract_and_the_payments_under_it_are_not_added(
    spend_con: duckdb.DuckDBPyConnection,
) -> None:
    """Leeds City Council awarded LA International Computer Consultants 625,000 and paid it
    39,222.14: the merged tie carries both, apart, and its money is the larger (the review
    found 664,222.14, the same money counted twice)."""
    measured = measure(build_network(spend_con, scope_for(place="West Yorkshire")))
    trade, full = measured.trade, measured.network.graph
    labels = trade.vs["label"]
    both = [e for e in trade.es if len(e["kinds"]) > 1]
    [tie] = [e for e in both if "LA International" in labels[e.source] + labels[e.target]]
    assert tie["kinds"] == ["buyer_supplier", "spend"]
    assert (tie["value_awarded"], tie["value_paid"]) == (625_000.0, pytest.approx(39_222.14))
    assert tie["value"] == 625_000.0
    # every merged tie: awarded = its contract ties, paid = its spend tie, value the larger
    for e in trade.es:
        pair = {e.source, e.target}
        parts = [f for f in full.es.select(_between=(pair, pair)) if f["kind"] in e["kinds"]]
        awarded = sum(f["value"] for f in parts if f["kind"] != "spend")
        paid = sum(f["value"] for f in parts if f["kind"] == "spend")
        assert (e["value_awarded"], e["value_paid"]) == (
            pytest.approx(awarded, abs=0.01),
            pytest.approx(paid, abs=0.01),
        )
        assert e["value"] == max(e["value_awarded"], e["value_paid"])
    # strength and community money read that value, never the sum
    leeds = labels.index("Leeds City Council")
    own = sum(e["value"] for e in trade.es[trade.incident(leeds)])
    assert measured.strength[leeds] == pytest.approx(own, abs=0.01)
    summed = sum(f["value"] for f in full.es[full.incident(leeds)] if f["kind"] != "co_buyer")
    assert measured.strength[leeds] == pytest.approx(summed - 39_222.14, abs=0.01)
    inside = sum(c.value for c in communities(measured, top=None, null_copies=0).communities)
    assert inside <= sum(trade.es["value"]) + 0.01


def test_sparse_buyers_count_distinct_awards(
    everything: Network, spend_con: duckdb.DuckDBPyConnection
) -> None:
    """One award naming 14 suppliers is one award of Hull City Council, not 14."""
    expected = dict(
        spend_con.execute(
            """
            SELECT p.buyer_org_id, count(DISTINCT a.ocid || '|' || a.award_id)
            FROM awards a JOIN processes p USING (ocid)
            JOIN award_suppliers s USING (ocid, award_id)
            WHERE (a.status IS NULL OR a.status = 'active') AND s.org_id IS NOT NULL
              AND coalesce(a.counts_as, '') <> 'ceiling' AND s.org_id <> p.buyer_org_id
              AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes)
            GROUP BY 1
            """
        ).fetchall()
    )
    assert everything.buyer_awards == expected
    assert expected["name:hull city council"] == 1 and expected["GB-CFS-75840"] == 2
    rows = gaps(measure(everything), top=None).sparse_buyers
    assert rows and all(r["awards"] == expected[r["id"]] for r in rows)
    assert "name:hull city council" not in {r["id"] for r in rows}  # one award: not fitted


def test_co_supplier_ties_carry_newman_weights(everything: Network) -> None:
    g = everything.graph
    co = [e for e in g.es if e["kind"] == "co_supplier"]
    assert co
    # each shared award of d suppliers adds 1/(d - 1), so the weight is at most the count
    assert all(0 < e["weight"] <= e["count"] for e in co)


def test_scope_filters(spend_con: duckdb.DuckDBPyConnection, everything: Network) -> None:
    wy = build_network(spend_con, scope_for(place="West Yorkshire"))
    assert 0 < wy.graph.vcount() < everything.graph.vcount()
    assert set(wy.graph.vs["name"]) <= set(everything.graph.vs["name"])
    construction = build_network(spend_con, scope_for(theme="CONSTRUCTION"))
    assert construction.scope.theme == "construction"
    assert "spend" not in construction.graph.es["kind"] and construction.notes
    themes = {t for e in construction.graph.es for t in (e["themes"] or {})}
    assert themes == {"construction"}
    late = build_network(spend_con, scope_for(since="2022-01-01"))
    assert all(e["first"] is None or e["first"] >= "2022-01-01" for e in late.graph.es)
    with pytest.raises(NetworkError, match="did you mean"):
        scope_for(place="Leedz City")
    with pytest.raises(NetworkError, match="YYYY-MM-DD"):
        scope_for(since="last year")
    with pytest.raises(NetworkError, match="no theme"):
        build_network(spend_con, scope_for(theme="astrology"))


def test_to_networkx_keeps_every_node_and_edge(everything: Network) -> None:
    nxg = everything.to_networkx()
    assert nxg.number_of_nodes() == everything.graph.vcount()
    assert nxg.number_of_edges() == everything.graph.ecount()


def test_leeds_brokers_match_the_hand_checked_list(leeds: Measured) -> None:
    golden = json.loads((FIXTURES / "network_leeds_brokers.json").read_text(encoding="utf-8"))
    report = brokers(leeds, top=len(golden["brokers"]))
    assert report.nodes == golden["network"]["organisations"]
    assert report.betweenness == "exact"
    assert sorted(len(c) for c in leeds.trade.connected_components()) == [3, 29, 72]
    for got, want in zip(report.brokers, golden["brokers"], strict=True):
        assert (got.id, got.name, got.sector) == (want["id"], want["name"], want["sector"])
        if "roles" in want:
            assert got.roles == want["roles"]
        if "betweenness" in want:
            assert got.betweenness == pytest.approx(want["betweenness"], abs=1e-6)
        if "constraint" in want:
            assert got.constraint == pytest.approx(want["constraint"], abs=1e-4)
    council, university, dla, _ = report.brokers
    assert all(council.roles[r] > 0 for r in m.ROLES)
    assert "University of Leeds" in dla.why and "Leeds City Council" in dla.why
    assert "ocds-b5fd17-28239682-d6ea-4c5f-a986-8a1a1e0af410" in university.why
    assert university.links == {"large_company": sorted(university.links["large_company"])}


def test_communities_are_described(leeds: Measured) -> None:
    report = communities(leeds)
    assert report.modularity is not None and report.modularity > 0.3
    sizes = [c.size for c in report.communities]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) <= report.nodes
    council = next(c for c in report.communities if "Leeds City Council" in c.main_buyers)
    assert council.description.startswith(f"{council.size} organisations")
    assert council.value > 0 and council.themes
    neupc = next(c for c in report.communities if c.main_buyers == ["NEUPC Ltd"])
    assert neupc.size == 29 and neupc.participation == 0
    assert all(gap["observed"] < gap["expected"] for gap in report.gaps)
    # against degree-preserving random copies (seeded: the same twice)
    null = report.null_model
    assert null is not None and null["copies"] == 5 and 0 < null["mean"] < 1
    assert null == communities(leeds).null_model


def test_gaps_on_west_yorkshire(spend_con: duckdb.DuckDBPyConnection) -> None:
    measured = measure(build_network(spend_con, scope_for(place="West Yorkshire")))
    report = gaps(measured, k=2, top=None)
    large = [b["name"] for b in report.large_buyers]
    assert large[0] == "Leeds City Council"
    index = {v["name"]: v.index for v in measured.trade.vs}
    large_ids = [index[b["id"]] for b in report.large_buyers]
    for row in report.unreached:
        assert row["sector"] in ("sme", "vcse")
        d = measured.trade.distances(source=large_ids, target=[index[row["id"]]])
        assert min(x[0] for x in d) > 2
        assert row["best_fits"] and 0 <= row["best_fits"][0]["theme_relevance"] <= 1
    connectors = {r["name"]: r for r in report.connectors}
    assert connectors["Mears Limited"]["place_names"] == ["Bradford", "Leeds"]
    for core in report.market_cores:
        assert 0 < core["top4_share"] <= 1 and 0 < core["hhi"] <= 10_000
        assert 1 <= core["core_suppliers"] <= core["suppliers"]


def test_sparse_buyers_fit_suppliers_on_awards(everything: Network) -> None:
    report = gaps(measure(everything), top=None)
    assert report.sparse_buyers
    for row in report.sparse_buyers:
        assert row["suppliers"] < row["expected_suppliers"]
        assert row["ratio"] == pytest.approx(row["suppliers"] / row["expected_suppliers"], 1e-2)
        assert "why so few?" in row["question"]
    ratios = [r["ratio"] for r in report.sparse_buyers]
    assert ratios == sorted(ratios)
    assert not math.isnan(ratios[0])


# --- gaps on a hand-made network --------------------------------------------------------------


def _hand_network() -> Network:
    """A large buyer B (suppliers Y1 construction, Y2 IT), a small buyer Z buying from Y1 and
    from the SME S (construction): S is 3 steps from B (S - Z - Y1 - B)."""
    from locality.network.build import Scope

    names = ["B", "Y1", "Y2", "Z", "S"]
    sectors = ["public_buyer", "large_company", "large_company", "public_buyer", "sme"]
    g = ig.Graph(5)
    g.vs["name"] = names
    g.vs["label"] = names
    g.vs["sector"] = sectors
    g.vs["buyer_type"] = ["council", None, None, "council", None]
    g.vs["sector_evidence"] = ["hand"] * 5
    g.vs["locality"] = ["Here"] * 5
    g.vs["la_registry_code"] = ["HRE"] * 5
    g.vs["region"] = [None] * 5
    g.vs["scope_buyer"] = [True, False, False, True, False]
    ties = [("B", "Y1", 900.0, "construction"), ("B", "Y2", 600.0, "IT and digital"),
            ("Z", "Y1", 50.0, "construction"), ("Z", "S", 40.0, "construction")]  # fmt: skip
    g.add_edges([(names.index(a), names.index(b)) for a, b, _, _ in ties])
    g.es["kind"] = ["buyer_supplier"] * 4
    g.es["payer"] = [a for a, _, _, _ in ties]
    g.es["value"] = [v for _, _, v, _ in ties]
    g.es["count"] = [1] * 4
    g.es["weight"] = [1.0] * 4
    g.es["first"] = g.es["last"] = ["2024-01-01"] * 4
    g.es["examples"] = [[] for _ in ties]
    g.es["themes"] = [{t: 1} for _, _, _, t in ties]
    g.es["theme_values"] = [{t: v} for _, _, v, t in ties]
    return Network(g, Scope(frozenset({"HRE"}), "Here"))


def test_unreached_smes_with_theme_relevance_and_adamic_adar() -> None:
    report = gaps(measure(_hand_network()), k=2, large_buyers=1, top=None)
    assert [b["name"] for b in report.large_buyers] == ["B"]
    [row] = report.unreached
    assert (row["name"], row["distance"], row["local"], row["buyers"]) == ("S", 3, True, ["Z"])
    [fit] = row["best_fits"]
    # B buys construction and IT half and half; S sells construction only: overlap 0.5.
    # Shared buyer Z (2 ties) buys from one of B's suppliers (Y1): 1 / ln 2.
    assert fit["theme_relevance"] == pytest.approx(0.5)
    assert fit["adamic_adar"] == pytest.approx(1 / math.log(2), abs=1e-3)
    # with k = 3 the SME counts as reached
    assert gaps(measure(_hand_network()), k=3, large_buyers=1).unreached == []
    # B and Z both buy construction in one place but share Y1: no pair
    assert report.buyer_pairs == []
    [core] = [c for c in report.market_cores if c["theme"] == "construction"]
    # construction money: Y1 950, S 40: HHI = (950/990)^2 + (40/990)^2 in points
    assert core["hhi"] == pytest.approx(((950 / 990) ** 2 + (40 / 990) ** 2) * 10_000, abs=0.1)
    assert core["core_suppliers"] == 1 and core["largest_supplier"] == "Y1"


def test_an_empty_store_gives_an_empty_network(store: duckdb.DuckDBPyConnection) -> None:
    measured = measure(build_network(store))
    assert measured.trade.vcount() == 0
    assert brokers(measured).brokers == [] and communities(measured).communities == []
    assert all(rows == [] for rows in gaps(measured).sections().values())


def test_disparity_filter_keeps_the_significant_tie() -> None:
    """Serrano, Boguñá & Vespignani (2009): a tie is kept when (1 − w/s)^(k−1) < 0.05 for
    either end. A and B (3 ties each) put 20 of their 22 on each other: (2/22)^2 = 0.008,
    kept; every tie of weight 1 is at best (2/3)^2 = 0.44 for C or D, dropped. A leaf (one
    tie) keeps its tie."""
    from locality.network.page import disparity_backbone

    a, b, c, d = range(4)
    edges = [(a, b, 20.0), (a, c, 1.0), (a, d, 1.0), (b, c, 1.0), (b, d, 1.0), (c, d, 1.0)]
    assert disparity_backbone([3, 3, 3, 3], edges) == [0]
    assert disparity_backbone([1, 1], [(0, 1, 1.0)]) == [0]


# --- small markets are small, not concentrated ------------------------------------------------


def test_small_markets_are_small_not_concentrated(
    leeds: Measured, everything: Network, spend_con: duckdb.DuckDBPyConnection
) -> None:
    from locality.metrics import concentration
    from locality.metrics.registry import run
    from locality.network.gaps import MIN_BASE, MIN_SUPPLIERS
    from locality.views.present import headline_sentences

    # one rule for the network's market cores and the metrics' concentration family
    assert (MIN_SUPPLIERS, MIN_BASE) == (concentration.MIN_SUPPLIERS, concentration.MIN_BASE)
    # Leeds construction: one award of £66,802 to WSP, HHI 10,000, is one award, not a monopoly
    cores = {c["theme"]: c for c in gaps(leeds, top=None).market_cores}
    construction = cores["construction"]
    assert construction["hhi"] == 10_000 and construction["small_base"]
    assert construction["reading"] == "1 award to 1 supplier, £66,802: too few to read"
    assert all(c["small_base"] for c in cores.values())  # the sample's Leeds is small
    # everywhere, professional services has 39 suppliers of 40 awards: read by the CMA's bands
    national = gaps(measure(everything), top=None).market_cores
    professional = next(c for c in national if c["theme"] == "professional services")
    assert not professional["small_base"] and professional["awards"] >= MIN_BASE
    assert professional["reading"] in ("concentrated", "highly concentrated", "not concentrated")
    flags = [c["small_base"] for c in national]
    assert flags == sorted(flags)  # the markets large enough to read come first
    # the metrics family says the same of Leeds construction, and the sentence says so
    rows = run(spend_con, "concentration", "theme", where={"locality": ["Leeds"]}).to_pylist()
    [row] = [r for r in rows if r["theme"] == "construction"]
    assert (row["hhi"], row["hhi_base"], row["distinct_suppliers"], row["small_base"]) == (
        pytest.approx(10_000),
        1,
        1,
        True,
    )
    sentence = headline_sentences("buyers in Leeds", row)["top3_share"]
    assert "from 1 award and 1 supplier: too few to read" in sentence
    assert "CMA" not in sentence
    [big] = [r for r in run(spend_con, "concentration", "theme").to_pylist()
             if r["theme"] == "professional services"]  # fmt: skip
    assert big["hhi_base"] == 39 and not big["small_base"]
    assert "by the CMA's reading" in headline_sentences("all buyers", big)["top3_share"]


# --- the page draws the ties it says it draws -------------------------------------------------


def test_drawn_ties_carry_their_own_kinds_and_money(
    everything: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    from locality.network import page

    # force the disparity backbone on the sample, so drawn ties are a subset of the shown
    monkeypatch.setattr(page, "BACKBONE_ABOVE", 10)
    measured = measure(everything)
    data = page.page_data(measured)
    assert data["backbone"]
    trade = measured.trade
    index = {name: v for v, name in enumerate(trade.vs["name"])}
    edges = data["elements"]["edges"]
    shown = trade.subgraph([index[n["data"]["id"]] for n in data["elements"]["nodes"]])
    assert 0 < len(edges) < shown.ecount()
    for edge in edges:
        tie = trade.es[trade.get_eid(index[edge["data"]["source"]], index[edge["data"]["target"]])]
        assert edge["data"]["kinds"] == " ".join(tie["kinds"])
        assert (edge["data"]["value"], edge["data"]["count"]) == (tie["value"], tie["count"])
