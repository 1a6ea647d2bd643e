"""The dashboard's figures precomputed at ingest (``locality.views.precompute``).

One refreshed copy of the bundled sample (contracts and council spend) for the module. What
the server serves from the stored results must be what it computes on request: exactly for
the contract figures; to the last digit or so for council spend, whose sums DuckDB adds in
parallel, in an order that differs between runs. Stored results are served only while the
data they were made from is what the store holds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locality.domain.places import load_places
from locality.metrics.dimensions import DIMENSIONS
from locality.store import sql
from locality.store.db import connect
from locality.views import network as views_network
from locality.views import precompute, queries
from locality.views.queries import Store
from tests.conftest import CF_RELEASES
from tests.helpers import cli, cli_json, dashboard

PLACES = ("Leeds", "West Yorkshire", "Isles of Scilly")  # awards and spend; a CA; nothing
# Ties: Bristol 116 (awards), Leeds 102 (54 awards, 48 suppliers paid), not Cambridge (95).
NETWORK_STORE_ABOVE = 100
FAILING_SCOPE = "West Yorkshire"  # stored but for its page failing at refresh


@pytest.fixture(scope="module")
def refreshed(
    spend_sample_store_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("precompute") / "store.duckdb"
    shutil.copy(spend_sample_store_file, path)
    con = connect(path)
    try:
        # The sample's councils are small: store the network pages of the largest few; one
        # of them fails, as a page might run out of memory on a national store.
        scope_page = views_network.scope_page

        def failing(s: queries.Session, scope: Any) -> dict[str, Any]:
            if scope.label == FAILING_SCOPE:
                raise RuntimeError("out of memory")
            return scope_page(s, scope)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(views_network, "STORE_ABOVE", NETWORK_STORE_ABOVE)
            mp.setattr(views_network, "scope_page", failing)
            summary = precompute.refresh(con).as_json()
    finally:
        con.close()
    return path, summary


@pytest.fixture(scope="module")
def organisations(refreshed: tuple[Path, dict[str, Any]]) -> dict[str, list[str]]:
    """The buyers and suppliers with most processes, and a flagged and an unflagged OCID."""
    con = connect(refreshed[0], read_only=True)
    try:
        top = "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        flagged = {o for (o,) in sql.rows(con, "SELECT ocid FROM dashboard_flags")}
        ocids = [o for (o,) in sql.rows(con, "SELECT ocid FROM processes ORDER BY ocid")]
        return {
            "buyers": [b for (b,) in sql.rows(con, f"SELECT buyer_org_id FROM processes {top}")],
            "suppliers": [s for (s,) in sql.rows(con, f"SELECT org_id FROM award_suppliers {top}")],
            "ocids": [min(flagged), next(o for o in ocids if o not in flagged)],
        }
    finally:
        con.close()


@contextmanager
def both(path: Path) -> Iterator[tuple[queries.Session, queries.Session]]:
    """A session reading stored results, and one computing everything."""
    stored, computed = Store(path), Store(path, use_stored=False)
    with stored.session() as a, computed.session() as b:
        yield a, b


def close(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (DuckDB's parallel sums differ in the last digits)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


# --- what is stored ---------------------------------------------------------------------------


def test_refresh_stores_every_place(refreshed: tuple[Path, dict[str, Any]]) -> None:
    path, summary = refreshed
    assert summary["places"] == len(queries.place_names(load_places(None)))
    # Leeds, Calderdale, Salford ... and the combined authorities holding them.
    assert summary["spend_pages"] >= 4
    assert summary["flags"] > 0 and summary["not_stored"] == 0
    # everywhere, Bristol, Leeds, and the combined authorities holding them, but one
    assert summary["network_pages"] >= 3
    assert summary["skipped"] == [f"network page of {FAILING_SCOPE}: out of memory"]
    con = connect(path, read_only=True)
    try:
        state = precompute.state(con)
        assert state is not None and state["current"]
        assert state["results"] == summary["results"]
        flags = sql.one(con, "SELECT count(*) FROM dashboard_flags")[0]
        assert flags == summary["flags"]
    finally:
        con.close()


def test_served_equals_computed_on_request(
    refreshed: tuple[Path, dict[str, Any]], organisations: dict[str, list[str]]
) -> None:
    """Every kind of figure, read from the store and computed as before, is the same."""
    path = refreshed[0]
    with both(path) as (a, b):
        close(queries.home(a), queries.home(b), "home")
        for by in DIMENSIONS:  # locality metrics --by BY, with and without --limit
            close(queries.metrics(a, by), queries.metrics(b, by), by)
            close(queries.metrics(a, by, limit=3), queries.metrics(b, by, limit=3), by)
        for name in PLACES:
            assert queries.place_page(a, name) == queries.place_page(b, name), name
            p = queries.place(a, name)
            assert queries.compare_row(a, name, p) == queries.compare_row(b, name, p), name
            close(queries.spend_page(a, name), queries.spend_page(b, name), name)
        for org in organisations["buyers"]:
            assert queries.buyer_page(a, org) == queries.buyer_page(b, org), org
        for org in organisations["suppliers"]:
            assert queries.supplier_page(a, org) == queries.supplier_page(b, org), org
        for ocid in organisations["ocids"]:
            assert queries.process_page(a, ocid) == queries.process_page(b, ocid), ocid
        for words in ({}, {"locality": "BST"}, {"place": "West of England"}, {"locality": "CAB"}):
            assert views_network.network_data(a, **words) == views_network.network_data(
                b, **words
            ), words
        assert a.store.stored > 0  # the first side did read from the store
        assert b.store.stored == 0


def test_the_largest_network_pages_are_stored(
    refreshed: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everywhere first, then the councils and combined authorities of most award ties; the
    words naming a scope are the request's, not the first requester's."""
    monkeypatch.setattr(views_network, "STORE_ABOVE", NETWORK_STORE_ABOVE)
    with Store(refreshed[0]).session() as s:
        scopes = views_network.stored_scopes(s)
        assert scopes[0].councils is None  # everywhere
        labels = [scope.label for scope in scopes]
        assert "City of Bristol" in labels and "Cambridge" not in labels
        assert "Leeds" in labels  # its payments count: most of its network is spend
        assert "West of England" in labels  # a combined authority of Bristol
        for scope in scopes:  # the one that failed is computed on request
            stored = s.has_stored(views_network.network_page_key(scope))
            assert stored == (scope.label != FAILING_SCOPE), scope.label
        assert views_network.network_data(s, place=FAILING_SCOPE)["nodes_total"] > 0
        assert not s.has_stored(
            views_network.network_page_key(views_network.network_scope(s, locality="CAB"))
        )
        by_code = views_network.network_data(s, locality="BST")
        by_name = views_network.network_data(s, locality="City of Bristol")
        assert by_code["query"]["locality"] == "BST"
        assert by_name["query"]["locality"] == "City of Bristol"
        assert {**by_code, "query": None} == {**by_name, "query": None}


def test_the_red_flag_index_is_stored_whole(refreshed: tuple[Path, dict[str, Any]]) -> None:
    path = refreshed[0]
    with both(path) as (_, b):
        computed = list(enumerate(queries.all_flags(b) or []))
        con = connect(path, read_only=True)
        try:
            ocids = [row["ocid"] for _, row in computed]
            assert precompute.flag_rows(con, "ocid", ocids) == computed
            buyers = sorted({row["buyer_id"] for _, row in computed if row["buyer_id"]})
            mine = [r for r in computed if r[1]["buyer_id"] in buyers]
            assert precompute.flag_rows(con, "buyer_id", buyers) == mine
        finally:
            con.close()


def test_pages_compute_nothing_when_the_store_has_them(
    refreshed: tuple[Path, dict[str, Any]],
    organisations: dict[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request of every page kind is read, not computed: every costly library
    call fails here, and the pages still answer."""
    from locality import network
    from locality.metrics import flags

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("computed on request")

    for name in ("run_metrics", "compare_places", "place_view"):
        monkeypatch.setattr(queries, name, refuse)
    monkeypatch.setattr(flags, "flags_table", refuse)
    monkeypatch.setattr(flags, "buyer_risk", refuse)
    monkeypatch.setattr(network, "build_network", refuse)
    urls = ["/", "/compare?names=Leeds&names=York", "/api/metrics?by=place"]
    urls += [f"/api/metrics?by={by}&limit=5" for by in DIMENSIONS]
    urls += [f"/place/{quote(n)}" for n in PLACES] + ["/place/Leeds/spend"]
    urls += [f"/buyer/{quote(b, safe='')}" for b in organisations["buyers"]]
    urls += [f"/supplier/{quote(s, safe='')}" for s in organisations["suppliers"]]
    urls += [f"/process/{quote(o, safe='')}" for o in organisations["ocids"]]
    urls += ["/network", "/api/network", "/network?locality=BST", "/api/network?place=Leeds"]
    with dashboard(refreshed[0]) as c:
        for url in urls:
            c.get_json(url) if url.startswith("/api/") else c.get_page(url)
        assert c.app.state.store.stored > 0  # type: ignore[attr-defined]


# --- staleness --------------------------------------------------------------------------------


def test_stale_results_are_not_served(
    refreshed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    copy = tmp_path / "changed.duckdb"
    shutil.copy(refreshed[0], copy)
    assert cli_json(copy, "refresh", "--check")["message"] is None
    con = connect(copy)
    try:
        sql.run(con, "DELETE FROM awards WHERE ocid = (SELECT min(ocid) FROM awards)")
        assert not precompute.state(con)["current"]
        assert precompute.stored_keys(con) == frozenset()
    finally:
        con.close()
    result = cli("--db", str(copy), "refresh", "--check")
    assert result.exit_code == 1
    assert "older than the data: run `locality refresh`" in result.stdout
    store = Store(copy)
    with store.session() as s:
        queries.status(s)
    assert store.stored == 0 and store.computations > 0  # computed, not read


def test_a_store_never_refreshed_is_served_computed(spend_sample_store_file: Path) -> None:
    con = connect(spend_sample_store_file, read_only=True)
    try:
        assert precompute.state(con) is None
        assert "not precomputed" in (precompute.needs_refresh_message(con) or "")
    finally:
        con.close()
    with dashboard(spend_sample_store_file) as c:
        assert c.get_json("/api/place/York")["place"]["name"] == "York"
        assert c.app.state.store.stored == 0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_ingest_refreshes_and_a_second_ingest_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALITY_REFRESH", "1")  # whatever the test session chose
    db, releases = tmp_path / "cf.duckdb", tmp_path / "some.jsonl"
    releases.write_bytes(b"".join(CF_RELEASES.read_bytes().splitlines(keepends=True)[:20]))
    first = cli_json(db, "ingest", str(releases))
    dashboard_summary = first["totals"]["dashboard"]
    assert dashboard_summary["places"] > 0 and dashboard_summary["not_stored"] == 0
    again = cli_json(db, "ingest", str(releases))  # nothing new: results still current
    assert again["totals"]["dashboard"] is None
    assert cli_json(db, "refresh", "--check")["state"]["current"] is True
    # Left to `locality refresh`: the store's figures are then stale, and say so.
    monkeypatch.setenv("LOCALITY_REFRESH", "0")
    more = tmp_path / "more.jsonl"
    more.write_bytes(b"".join(CF_RELEASES.read_bytes().splitlines(keepends=True)[20:25]))
    assert cli_json(db, "ingest", str(more))["totals"]["dashboard"] is None
    stale = cli("--db", str(db), "refresh", "--check", "--format", "json")
    assert stale.exit_code == 1 and json.loads(stale.stdout)["state"]["current"] is False


# --- the stored form --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 9), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_stored_values_read_back_equal(value: Any) -> None:
    text = precompute.dumps(value)
    assert text is not None
    back = precompute.loads(text)
    assert back == value
    assert type(back) is type(value)
    json.loads(text)  # plain JSON


def test_values_that_cannot_read_back_equal_are_not_stored() -> None:
    assert precompute.dumps({"share": float("nan")}) is None
    assert precompute.dumps(object()) is None
    assert precompute.loads(precompute.dumps((1, Decimal("1.50"), {"$t": 1})) or "") == (
        1,
        Decimal("1.50"),
        {"$t": 1},
    )
