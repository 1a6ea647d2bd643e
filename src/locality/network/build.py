"""The organisation network of a scope, read from the store (docs/network.md, "The graph").

Nodes are the store's organisations (one node per ``org_id``, so a supplier known by a
company number on Contracts Finder and by a platform id on Find a Tender is one node once the
store has folded the two ids), plus one node per council that publishes spend but never
appears in the contract data (``GB-LAE-<registry code>``, the org-id.guide scheme for English
local authorities; ``GB-LAS``/``GB-LAW``/``GB-LANI`` elsewhere).

Edges, one per (pair, kind):

* ``buyer_supplier``: counted awards (status active or absent) of a contract or call-off:
  ``value`` is the money reaching that supplier (``award_suppliers.value_share`` of awards
  whose value counts as awarded; unknown values add nothing), ``count`` the awards, with
  first and last award dates and example awards;
* ``framework``: appointments to a framework or dynamic purchasing system (``counts_as =
  'ceiling'``): weighted by ``count`` only, never by the ceiling, which is shared by every
  supplier appointed and is not money;
* ``spend``: council payments (spend over £500) whose supplier the store resolved to an
  organisation (``spend_supplier_matches``): ``value`` is the net amount paid, ``count`` the
  payment lines; redacted lines have no supplier and are left out, and a pair whose net
  total is not positive (refunds only) has no edge;
* ``co_supplier``: suppliers named together on one award, framework or DPS (consortia and
  joint bids, fellow appointees), with Newman's (2001) collaboration weight
  ``Σ_k 1/(d_k − 1)`` over the shared awards of ``d_k`` suppliers; awards with more than
  ``max_group`` suppliers (national frameworks listing hundreds) add no co-supplier ties;
* ``co_buyer``: buyers sharing a supplier (the "network of municipal innovators"), with the
  same Newman weight over the shared suppliers' buyer counts, suppliers with more than
  ``max_group`` buyers left out.

Duplicated notices (``duplicate_processes``) count once. Structural measures read the trade
ties only (``buyer_supplier``, ``framework``, ``spend``): the two projections are derived
from them and would close every triad a broker spans.
"""

from __future__ import annotations

import functools
import gc
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import duckdb

from locality.domain.names import normalise_name
from locality.domain.places import PlaceError, buyer_in_councils, load_places, resolve
from locality.network.imported import imported_organisations
from locality.network.sectors import COUNCIL, PUBLIC, OrgFacts, classify
from locality.reference import local_authority, local_authority_code_for_name

if TYPE_CHECKING:
    import igraph as ig
    import networkx as nx

# The kinds of tie (module docstring), each named once.
EDGE_KINDS = BUYER_SUPPLIER, FRAMEWORK, SPEND, CO_SUPPLIER, CO_BUYER = (
    "buyer_supplier",
    "framework",
    "spend",
    "co_supplier",
    "co_buyer",
)
TRADE_KINDS = frozenset({BUYER_SUPPLIER, FRAMEWORK, SPEND})
MAX_GROUP = 50
EXAMPLES = 3

_NATION_SCHEME = {"E": "GB-LAE", "S": "GB-LAS", "W": "GB-LAW", "N": "GB-LANI"}


F = TypeVar("F", bound=Callable[..., Any])


def gc_paused(func: F) -> F:
    """Run ``func`` with the cyclic garbage collector paused. The network's steps make
    hundreds of thousands of small objects (ties, rows, cards) and keep them: the collector
    would walk them again and again for nothing (a quarter of a locality page's time)."""

    @functools.wraps(func)
    def paused(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return cast(F, paused)


class NetworkError(ValueError):
    """A scope that cannot be built (unknown place or theme, bad date); says what to do."""


@dataclass(frozen=True)
class Scope:
    """Which part of the store a network covers: buyers located in (or named as) one of
    ``councils`` (None: everywhere), processes of ``theme``, awards and payments dated on or
    after ``since``."""

    councils: frozenset[str] | None = None
    label: str = "everywhere"
    theme: str | None = None
    since: date | None = None

    def describe(self) -> str:
        parts = [self.label]
        if self.theme:
            parts.append(f"theme {self.theme}")
        if self.since:
            parts.append(f"since {self.since.isoformat()}")
        return ", ".join(parts)


def scope_for(
    *,
    place: str | None = None,
    locality: str | None = None,
    theme: str | None = None,
    since: str | date | None = None,
    places_file: Path | None = None,
) -> Scope:
    """A scope from the command-line words: ``place`` (a combined authority, a place of a
    places file, or a council), ``locality`` (one council), ``theme`` (a CPV theme),
    ``since`` (an ISO date)."""
    if place and locality:
        raise NetworkError("give --place or --locality, not both")
    councils: frozenset[str] | None = None
    label = "everywhere"
    name = place or locality
    if name:
        council = local_authority(name.strip().upper()) if locality else None
        if council is not None:  # a registry code ("LDS")
            councils, label = frozenset({council.code}), council.nice_name
        else:
            try:
                found = resolve(name, load_places(places_file) if place else {})
            except PlaceError as exc:
                raise NetworkError(str(exc)) from exc
            if locality and len(found.councils) != 1:
                raise NetworkError(f"{locality!r} is a place of several councils: use --place")
            councils, label = found.councils, found.name
    when: date | None
    if isinstance(since, str):
        try:
            when = date.fromisoformat(since)
        except ValueError as exc:
            raise NetworkError(f"--since {since!r} is not a date: use YYYY-MM-DD") from exc
    else:
        when = since
    return Scope(councils, label, theme.strip() if theme else None, when)


@dataclass
class Network:
    """A built network: the igraph graph (undirected, one edge per pair and kind) and the
    scope it covers. Vertex attributes: ``name`` (org_id), ``label``, ``sector``,
    ``buyer_type``, ``sector_evidence``, ``sector_source`` (the kind of evidence: imported
    list, register, name pattern, ...), ``sector_list`` (``FILE line N`` of the imported list
    row matched to it, else None), ``locality``, ``la_registry_code``, ``region``;
    edge attributes: ``kind``, ``payer`` (org_id of the buyer or paying body of a trade
    tie), ``value`` (GBP, 0 where not money), ``count``, ``weight``
    (Newman weight for the projections, else ``count``), ``first``, ``last`` (ISO dates),
    ``examples`` (``[{"ocid", "title", "value"}]``), ``themes`` (theme → awards),
    ``theme_values`` (theme → money); ``scope_buyer`` marks the buyers and spend publishers
    the scope selected. ``buyer_awards`` counts each buyer's distinct contract awards
    (org_id → awards; an award of several suppliers once, frameworks left out);
    ``theme_awards`` the distinct awards of each theme whose money counts (theme → awards),
    the base of the theme's concentration."""

    graph: ig.Graph
    scope: Scope
    notes: list[str] = field(default_factory=list)
    buyer_awards: dict[str, int] = field(default_factory=dict)
    theme_awards: dict[str, int] = field(default_factory=dict)
    _trade: ig.Graph | None = field(default=None, repr=False, compare=False)

    def trade_graph(self) -> ig.Graph:
        """The simple graph of trade ties (buyer–supplier, framework, spend) the structural
        measures read: one edge per pair, ``kinds`` listed, ``count`` summed, the money kept
        apart as ``value_awarded`` (contracts) and ``value_paid`` (spend), and ``value`` the
        larger of the two, never their sum (payments under a contract are the contract's
        money, docs/network.md "The graph"); every vertex kept (same indices as ``graph``)."""
        if self._trade is None:
            self._trade = self._merged_trade()
        return self._trade

    @gc_paused
    def _merged_trade(self) -> ig.Graph:
        import igraph as ig

        g = self.graph
        names = ("kind", "payer", "value", "count", "weight", "first", "last", "examples",
                 "themes", "theme_values")  # fmt: skip
        kinds = g.es["kind"] if g.ecount() else []
        edgelist = g.get_edgelist()
        first_of: dict[tuple[int, int], int] = {}  # pair → its first trade edge
        extra: dict[int, list[int]] = {}  # that edge → the pair's other trade edges
        for i, kind in enumerate(kinds):
            if kind not in TRADE_KINDS:
                continue
            a, b = edgelist[i]
            if a == b:
                continue
            key = (a, b) if a < b else (b, a)
            if key in first_of:
                extra.setdefault(first_of[key], []).append(i)
            else:
                first_of[key] = i
        ids = list(first_of.values())
        trade = ig.Graph(g.vcount(), list(first_of))
        for name in g.vs.attributes():
            trade.vs[name] = g.vs[name]
        if not ids:
            return trade
        # Read the trade edges' attributes only: the projections are most of the edges
        # (3 million of 3.7 at 1M releases), and reading a whole column copies them all.
        # ``ids`` ascend (each pair's first edge, in edge order), as a selection keeps them.
        chosen = g.es.select(ids)
        columns = {name: list(chosen[name]) for name in names}
        columns["kinds"] = [[kind] for kind in columns["kind"]]
        first_money = list(zip(columns["kind"], columns["value"], strict=True))
        columns["value_awarded"] = [0.0 if k == SPEND else v for k, v in first_money]
        columns["value_paid"] = [v if k == SPEND else 0.0 for k, v in first_money]
        # A pair tied by more than one kind (a contract and a payment): one tie, counts
        # summed, money kept apart by where it comes from.
        position = {i: p for p, i in enumerate(ids)}
        for i, others in extra.items():
            p = position[i]
            for o in others:
                columns["kinds"][p] = sorted({*columns["kinds"][p], kinds[o]})
                for name in ("count", "weight"):
                    columns[name][p] += g.es[o][name]
                money = "value_paid" if kinds[o] == SPEND else "value_awarded"
                columns[money][p] += g.es[o]["value"]
                first, last = g.es[o]["first"], g.es[o]["last"]
                if first and (columns["first"][p] is None or first < columns["first"][p]):
                    columns["first"][p] = first
                if last and (columns["last"][p] is None or last > columns["last"][p]):
                    columns["last"][p] = last
                columns["examples"][p] = [*columns["examples"][p], *g.es[o]["examples"]][:EXAMPLES]
                for name in ("themes", "theme_values"):
                    combined = Counter(columns[name][p])
                    combined.update(g.es[o][name])
                    columns[name][p] = dict(combined)
        # The money of a pair both contracted and paid is the larger of the two, not the sum:
        # spend files list the payments made under the pair's contracts, so adding them to
        # the award counts that money twice. An award value is the whole contract (which
        # payments to date may not yet reach); payments may also cover contracts the
        # notices do not show; the larger is what both sources agree at least flowed.
        columns["value_awarded"] = [round(v, 2) for v in columns["value_awarded"]]
        columns["value_paid"] = [round(v, 2) for v in columns["value_paid"]]
        columns["value"] = [
            max(a, b) for a, b in zip(columns["value_awarded"], columns["value_paid"], strict=True)
        ]
        for name, values in columns.items():
            trade.es[name] = values
        return trade

    def to_networkx(self) -> nx.MultiGraph:
        """The same network as a networkx ``MultiGraph`` keyed by org_id, one edge per kind
        (keyed by kind), lists and mappings as JSON text: for export and glue (networkx is
        10 to 1,000 times slower than igraph on the measures)."""
        return as_networkx(self.graph)


def scalar(value: Any) -> Any:
    """An attribute GEXF, GraphML and CSV can hold: lists and mappings as JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def as_networkx(
    graph: ig.Graph, node_extra: Sequence[Mapping[str, Any]] | None = None
) -> nx.MultiGraph:
    """An igraph network as a networkx ``MultiGraph`` keyed by org_id (vertex ``name``),
    edges keyed by kind, attributes scalar and missing ones left out (the writers allow no
    None); ``node_extra`` adds attributes per vertex (the measures)."""
    import networkx as nx

    out = nx.MultiGraph()
    columns = [c for c in graph.vs.attributes() if c != "name"]
    for v in graph.vs:
        attrs = {c: scalar(v[c]) for c in columns}
        if node_extra is not None:
            attrs.update(node_extra[v.index])
        out.add_node(v["name"], **{k: x for k, x in attrs.items() if x is not None})
    names = graph.vs["name"] if graph.vcount() else []
    for e in graph.es:
        attrs = {k: scalar(x) for k, x in e.attributes().items() if x is not None}
        out.add_edge(names[e.source], names[e.target], key=e["kind"], **attrs)
    return out


# --- reading the store ----------------------------------------------------------------------


def _scope_buyers(con: duckdb.DuckDBPyConnection, councils: frozenset[str]) -> list[str]:
    """Buyers located in the councils (the postcode rule metrics use) or named as one of
    them ("Nottingham City Council" with an office postcode in Rushcliffe)."""
    rows = con.execute(
        "SELECT org_id, name, la_registry_code FROM organisations WHERE buyer_processes > 0"
    ).fetchall()
    return [org_id for org_id, name, code in rows if buyer_in_councils(name, code, councils)]


def council_ties(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The size of each council's network, by registry code: its buyers' award–supplier
    rows (placed as ``_scope_buyers`` places buyers) and the suppliers its payments are
    resolved to. What building and measuring its network costs: the dashboard stores the
    pages of the largest (``locality.views.network``)."""
    rows = con.execute(
        "SELECT p.buyer_org_id, any_value(o.name), any_value(o.la_registry_code), count(*) "
        "FROM processes p JOIN award_suppliers s ON s.ocid = p.ocid "
        "JOIN organisations o ON o.org_id = p.buyer_org_id "
        "WHERE s.org_id IS NOT NULL GROUP BY p.buyer_org_id"
    ).fetchall()
    ties: Counter[str] = Counter()
    for _, name, code, n in rows:
        for council in {code, _council_code(name) if name else None} - {None}:
            ties[council] += n
    spend = con.execute(
        _SPEND_SQL.format(where=" AND p.body_la_registry_code IS NOT NULL")
    ).fetchall()
    for _, code, *_ in spend:  # one row a paying body and supplier
        ties[code] += 1
    return dict(ties)


@lru_cache(maxsize=100_000)
def _council_code(name: str) -> str | None:
    """A council's registry code by a buyer's name (cached: the dashboard asks per scope)."""
    return local_authority_code_for_name(name)


_AWARDS_SQL = """
    WITH proc AS (
        SELECT p.ocid, p.buyer_org_id, coalesce(t.theme, 'unclassified') AS theme,
               coalesce(p.title_clean, p.title) AS title, p.first_date
        FROM processes p
        LEFT JOIN ref_cpv_themes t ON t.cpv_division = p.cpv_division
        WHERE p.buyer_org_id IS NOT NULL
          AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes)
          {where}
    )
    SELECT proc.buyer_org_id AS buyer, s.org_id AS supplier,
           a.ocid || '|' || a.award_id AS award_key,
           coalesce(a.counts_as, CASE WHEN a.value IS NULL THEN 'unknown' ELSE 'awarded' END)
               AS counts_as,
           s.value_share,
           CAST(coalesce(a.award_date, proc.first_date) AS DATE) AS award_date,
           proc.ocid, proc.title, proc.theme
    FROM awards a
    JOIN proc ON proc.ocid = a.ocid
    JOIN award_suppliers s ON s.ocid = a.ocid AND s.award_id = a.award_id
    WHERE (a.status IS NULL OR a.status = 'active') AND s.org_id IS NOT NULL
      {since}
    ORDER BY award_key, s.position
"""

_SPEND_SQL = """
    SELECT p.body, p.body_la_registry_code AS code, m.org_id,
           sum(p.amount_net) AS value, count(*) AS n,
           min(p.payment_date) AS first, max(p.payment_date) AS last
    FROM spend_payments p
    JOIN spend_supplier_matches m
      ON m.supplier_name_normalised IS NOT DISTINCT FROM p.supplier_name_normalised
     AND m.company_number IS NOT DISTINCT FROM p.company_number
     AND m.charity_number IS NOT DISTINCT FROM p.charity_number
    WHERE NOT p.redacted AND m.org_id IS NOT NULL {where}
    GROUP BY ALL
    HAVING sum(p.amount_net) > 0
"""


class _Edge:
    """A trade tie being summed (a plain class with slots: there are hundreds of thousands)."""

    __slots__ = ("count", "examples", "first", "kind", "last", "payer", "theme_values",
                 "themes", "value", "weight")  # fmt: skip

    def __init__(self, kind: str, payer: str | None = None) -> None:
        self.kind = kind
        self.payer = payer  # the buyer or paying body
        self.value = 0.0
        self.count = 0
        self.weight = 0.0
        self.first: date | None = None
        self.last: date | None = None
        self.examples: list[dict[str, Any]] = []
        self.themes: dict[str, int] = {}
        self.theme_values: dict[str, float] = {}

    def seen(self, when: date | None) -> None:
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when


def themes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The CPV themes a scope may name (and ``unclassified``)."""
    rows = con.execute("SELECT DISTINCT theme FROM ref_cpv_themes ORDER BY theme").fetchall()
    return [r[0] for r in rows] + ["unclassified"]


@gc_paused
def build_network(
    con: duckdb.DuckDBPyConnection,
    scope: Scope | None = None,
    *,
    kinds: Iterable[str] = EDGE_KINDS,
    max_group: int = MAX_GROUP,
) -> Network:
    """The network of ``scope`` (everything by default) as an igraph graph (module
    docstring for nodes and edges). ``kinds`` picks edge kinds."""
    return _build(con, scope, set(kinds), max_group)


def _build(
    con: duckdb.DuckDBPyConnection, scope: Scope | None, wanted: set[str], max_group: int
) -> Network:
    import igraph as ig

    scope = scope or Scope()
    unknown = wanted - set(EDGE_KINDS)
    if unknown:
        raise NetworkError(f"unknown edge kinds {sorted(unknown)}: use {', '.join(EDGE_KINDS)}")
    if scope.theme is not None:
        known = themes(con)
        canonical = {t.casefold(): t for t in known}.get(scope.theme.casefold())
        if canonical is None:
            raise NetworkError(f"no theme {scope.theme!r}: use one of {', '.join(known)}")
        scope = replace(scope, theme=canonical)
    notes: list[str] = []
    edges: dict[tuple[str, str, str], _Edge] = {}

    def edge(a: str, b: str, kind: str, payer: str | None = None) -> _Edge:
        key = (a, b, kind) if a <= b else (b, a, kind)
        found = edges.get(key)
        if found is None:
            found = edges[key] = _Edge(kind, payer)
        return found

    # Awards: buyer–supplier and framework ties, then the co-supplier projection.
    where, params = "", list[Any]()
    if scope.theme is not None:
        where += " AND coalesce(t.theme, 'unclassified') = ?"
        params.append(scope.theme)
    if scope.councils is not None:
        buyers = _scope_buyers(con, scope.councils)
        where += " AND list_contains(?, p.buyer_org_id)"
        params.append(buyers)
    since = ""
    if scope.since is not None:
        since = " AND CAST(coalesce(a.award_date, proc.first_date) AS DATE) >= ?"
        params.append(scope.since)
    rows = con.execute(_AWARDS_SQL.format(where=where, since=since), params).fetchall()
    award_suppliers: dict[str, list[str]] = defaultdict(list)
    buyer_awards: dict[str, set[str]] = defaultdict(set)  # buyer → its contract award keys
    theme_awards: dict[str, set[str]] = defaultdict(set)  # theme → awards with money
    scope_buyers: set[str] = set()
    supplier_buyers: dict[str, set[str]] = defaultdict(set)
    for buyer, supplier, key, counts_as, share, when, ocid, title, theme in rows:
        if supplier not in award_suppliers[key]:
            award_suppliers[key].append(supplier)
        scope_buyers.add(buyer)
        if buyer == supplier:
            continue
        supplier_buyers[supplier].add(buyer)
        kind = FRAMEWORK if counts_as == "ceiling" else BUYER_SUPPLIER
        if kind not in wanted:
            continue
        if kind == BUYER_SUPPLIER:
            # one award of several suppliers is one award of its buyer (rows are per supplier)
            buyer_awards[buyer].add(key)
        e = edge(buyer, supplier, kind, buyer)
        money: float = share if counts_as == "awarded" and share is not None else 0.0
        e.value += money
        e.count += 1
        e.weight += 1
        e.seen(when)
        e.themes[theme] = e.themes.get(theme, 0) + 1
        if money:
            e.theme_values[theme] = e.theme_values.get(theme, 0.0) + money
            theme_awards[theme].add(key)
        if len(e.examples) < EXAMPLES:
            e.examples.append({"ocid": ocid, "title": title, "value": money or None})
    # Projections: the groups whose members are tied pairwise (each group sorted, once),
    # kept apart from the trade ties (they are most of the edges, and carry nothing else).
    groups: dict[str, list[list[str]]] = {CO_SUPPLIER: [], CO_BUYER: []}
    for kind, found in ((CO_SUPPLIER, award_suppliers.values()),
                        (CO_BUYER, supplier_buyers.values())):  # fmt: skip
        if kind in wanted:
            groups[kind] = [sorted(set(g)) for g in found if 2 <= len(g) <= max_group]

    # Spend: council → supplier, for payments resolved to an organisation.
    body_nodes: dict[str, tuple[str, str]] = {}  # synthetic node id → (name, registry code)
    if SPEND in wanted and scope.theme is None:
        where, params = "", list[Any]()
        if scope.councils is not None:
            where += " AND list_contains(?, p.body_la_registry_code)"
            params.append(sorted(scope.councils))
        if scope.since is not None:
            where += " AND p.payment_date >= ?"
            params.append(scope.since)
        spend = con.execute(_SPEND_SQL.format(where=where), params).fetchall()
        councils = _council_orgs(con, {r[1] for r in spend if r[1]})
        for body, code, org_id, value, n, first, last in spend:
            payer = councils.get(code) if code else None
            if payer is None:
                payer = _body_node(body, code)
                body_nodes[payer] = (body, code)
            scope_buyers.add(payer)
            if payer == org_id:
                continue
            e = edge(payer, org_id, SPEND, payer)
            e.value += float(value)
            e.count += int(n)
            e.weight += int(n)
            e.seen(first)
            e.seen(last)
    elif SPEND in wanted:
        notes.append(
            "spend edges left out: payments have no contract theme (their spend themes are "
            "the spend stage's, locality place)"
        )

    trade_keys = list(edges)  # in reading order: the SQL orders awards, so runs agree
    ids = sorted(
        {x for a, b, _ in trade_keys for x in (a, b)}
        | {x for kind in groups.values() for members in kind for x in members}
    )
    index = {org_id: i for i, org_id in enumerate(ids)}
    graph = ig.Graph(len(ids))
    _node_attributes(con, graph, ids, body_nodes)
    values = [edges[k] for k in trade_keys]
    co_ends: list[tuple[int, int]] = []
    co_kinds: list[str] = []
    co_counts: list[int] = []
    co_weights: list[float] = []
    for kind in (CO_SUPPLIER, CO_BUYER):
        ends, counts, weights = _projection(
            [[index[x] for x in members] for members in groups[kind]], len(ids)
        )
        co_ends += ends
        co_kinds += [kind] * len(ends)
        co_counts += counts
        co_weights += weights
    graph.add_edges([(index[a], index[b]) for a, b, _ in trade_keys] + co_ends)
    n = len(co_ends)
    graph.es["kind"] = [e.kind for e in values] + co_kinds
    graph.es["payer"] = [e.payer for e in values] + [None] * n
    graph.es["value"] = [round(e.value, 2) for e in values] + [0.0] * n
    graph.es["count"] = [e.count for e in values] + co_counts
    graph.es["weight"] = [e.weight for e in values] + co_weights
    graph.es["first"] = [e.first.isoformat() if e.first else None for e in values] + [None] * n
    graph.es["last"] = [e.last.isoformat() if e.last else None for e in values] + [None] * n
    graph.es["examples"] = [e.examples for e in values] + [[]] * n
    graph.es["themes"] = [e.themes for e in values] + [{}] * n
    graph.es["theme_values"] = [
        {t: round(v, 2) for t, v in e.theme_values.items()} for e in values
    ] + [{}] * n
    graph.vs["scope_buyer"] = [org_id in scope_buyers for org_id in ids]
    return Network(
        graph,
        scope,
        notes,
        {b: len(keys) for b, keys in buyer_awards.items()},
        {t: len(keys) for t, keys in theme_awards.items()},
    )


def _projection(
    groups: list[list[int]], n: int
) -> tuple[list[tuple[int, int]], list[int], list[float]]:
    """The one-mode projection of ``groups`` (each a sorted list of vertex ids): every pair
    of a group tied, with ``count`` the groups the pair shares and Newman's (2001, Phys. Rev.
    E 64, 016132) collaboration weight Σ_k 1/(d_k − 1) over them, d_k the group's size.
    Pairs in vertex order. Vectorised by group size: the national network has millions."""
    import numpy as np

    by_size: dict[int, list[list[int]]] = defaultdict(list)
    for members in groups:
        by_size[len(members)].append(members)
    keys, shares = [], []
    for d, rows in sorted(by_size.items()):
        block = np.array(rows, dtype=np.int64)
        first, second = np.triu_indices(d, 1)
        keys.append((block[:, first] * n + block[:, second]).ravel())
        shares.append(np.full(keys[-1].size, 1 / (d - 1)))
    if not keys:
        return [], [], []
    pairs, inverse, counts = np.unique(
        np.concatenate(keys), return_inverse=True, return_counts=True
    )
    weights = np.bincount(inverse.ravel(), weights=np.concatenate(shares))
    ends = list(zip((pairs // n).tolist(), (pairs % n).tolist(), strict=True))
    return ends, counts.tolist(), weights.tolist()


def _body_node(body: str, code: str | None) -> str:
    council = local_authority(code) if code else None
    if council is not None and code:
        return f"{_NATION_SCHEME.get((council.nation or 'E')[:1].upper(), 'GB-LAE')}-{code}"
    return f"spend-body:{normalise_name(body)}"


def _council_orgs(con: duckdb.DuckDBPyConnection, codes: set[str]) -> dict[str, str]:
    """Registry code → the organisation of the contract data that is that council (by name),
    the one with most processes as buyer when several are."""
    if not codes:
        return {}
    found: dict[str, str] = {}
    rows = con.execute(
        "SELECT org_id, name FROM organisations WHERE buyer_processes > 0 "
        "ORDER BY buyer_processes DESC, org_id"
    ).fetchall()
    for org_id, name in rows:
        code = _council_code(name) if name else None
        if code in codes and code not in found:
            found[code] = org_id
    return found


_ORGS_SQL = """
    SELECT o.org_id, o.name, o.scheme, o.scale, o.vcse, o.buyer_type, o.la_name,
           o.la_registry_code, o.region_name,
           coalesce(o.buyer_processes, 0) > 0, coalesce(o.supplier_processes, 0) > 0,
           r.kind, r.register
    FROM organisations o
    LEFT JOIN (
        SELECT m.org_id, min(r.kind) AS kind, min(r.register) AS register
        FROM spend_supplier_matches m
        JOIN spend_supplier_registers r
          ON r.supplier_name_normalised IS NOT DISTINCT FROM m.supplier_name_normalised
         AND r.company_number IS NOT DISTINCT FROM m.company_number
         AND r.charity_number IS NOT DISTINCT FROM m.charity_number
        WHERE m.org_id IS NOT NULL
        GROUP BY m.org_id
    ) r ON r.org_id = o.org_id
    WHERE list_contains(?, o.org_id)
"""


def _node_attributes(
    con: duckdb.DuckDBPyConnection,
    graph: ig.Graph,
    ids: list[str],
    body_nodes: dict[str, tuple[str, str]],
) -> None:
    facts: dict[str, tuple[Any, ...]] = {
        row[0]: row for row in con.execute(_ORGS_SQL, [ids]).fetchall()
    }
    imported = imported_organisations(con, ids)
    columns: dict[str, list[Any]] = defaultdict(list)
    for org_id in ids:
        row = facts.get(org_id)
        listed = imported.get(org_id)
        if row is None:
            body, code = body_nodes.get(org_id, (org_id, None))
            council = local_authority(code) if code else None
            sector_attrs: tuple[str, str | None, str] = (
                PUBLIC,
                COUNCIL,
                "publishes council spend",
            )
            if listed is not None and listed.sector is not None:
                buyer_type = COUNCIL if listed.sector == PUBLIC else None
                sector_attrs = (listed.sector, buyer_type, listed.evidence)
            place = (
                council.nice_name if council else None,
                code,
                council.region if council else None,
            )
            label = council.official_name if council else body
        else:
            (_, name, scheme, scale, vcse, buyer_type, la_name, code, region) = row[:9]
            is_buyer, is_supplier, kind, register = row[9:]
            if listed is not None:  # the user's list: its scale and VCSE flag win
                scale = listed.scale or scale
                vcse = listed.vcse if listed.vcse is not None else vcse
            s = classify(
                OrgFacts(
                    org_id,
                    name or org_id,
                    scheme,
                    scale,
                    vcse,
                    buyer_type,
                    is_buyer,
                    is_supplier,
                    kind,
                    register,
                    listed.sector if listed else None,
                    listed.evidence if listed else None,
                )
            )
            sector_attrs = (s.sector, s.buyer_type, s.evidence)
            place = (la_name, code, region)
            label = name or org_id
        columns["name"].append(org_id)
        columns["label"].append(label)
        columns["sector"].append(sector_attrs[0])
        columns["buyer_type"].append(sector_attrs[1])
        columns["sector_evidence"].append(sector_attrs[2])
        columns["sector_source"].append(sector_source(sector_attrs[2]))
        columns["sector_list"].append(listed.source if listed is not None else None)
        columns["locality"].append(place[0])
        columns["la_registry_code"].append(place[1])
        columns["region"].append(place[2])
    for key in (
        "name",
        "label",
        "sector",
        "buyer_type",
        "sector_evidence",
        "sector_source",
        "sector_list",
        "locality",
        "la_registry_code",
        "region",
    ):
        graph.vs[key] = columns[key]


# The kind of evidence behind a sector (the rules of locality.network.sectors, in order), for
# the node's card: an imported list, a register, the publisher, a name pattern, ...
_SOURCES = (
    ("imported list", "imported list"),
    ("register ", "register"),
    ("published buyer type", "publisher's buyer type"),
    ("name:", "name pattern"),
    ("identifier scheme", "identifier scheme"),
    ("published VCSE flag", "publisher's VCSE flag"),
    ("published size", "publisher's size"),
    ("buyer only", "buys only: a contracting authority"),
    ("buyer", "buyer of public contracts"),
    ("publishes council spend", "council spend files"),
)


@lru_cache(maxsize=4096)  # a few dozen distinct evidences, read once per node
def sector_source(evidence: str) -> str:
    """What kind of evidence decided a sector (``sector_evidence`` in words)."""
    return next((kind for prefix, kind in _SOURCES if evidence.startswith(prefix)), "none")
