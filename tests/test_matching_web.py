"""The dashboard's matching pages and their API (issue 13), in-process and in a browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient

from locality.matching.opportunities import OpportunityFilter, list_opportunities
from locality.web.app import create_app

PIPELINE = "ocds-h6vhtk-06f1b4"  # UK1: ServiceNow development (Government Property Agency)


@pytest.fixture(scope="module")
def client(sample_store_file: Path) -> TestClient:
    return TestClient(create_app(sample_store_file))


def test_opportunity_api_and_page(client: TestClient) -> None:
    data = client.get(f"/api/opportunity/{PIPELINE}").json()
    assert data["opportunity"]["stage"] == "pipeline"
    assert len(data["suppliers"]) == 20
    assert all(r["scale"] == "sme" or r["vcse"] for r in data["sme_vcse_suppliers"])
    assert data["consortia"] is not None or data["consortia_note"]
    html = client.get(f"/opportunity/{PIPELINE}").text
    assert data["opportunity"]["title"].replace("&", "&amp;") in html
    for r in data["suppliers"][:5]:
        assert (r["name"] or r["id"]).replace("&", "&amp;") in html
    assert client.get("/opportunity/ocds-none").status_code == 404
    missing = client.get("/api/opportunity/ocds-none")
    assert missing.status_code == 404 and "no process" in missing.json()["detail"]


def test_opportunities_list(client: TestClient, sample_store: duckdb.DuckDBPyConnection) -> None:
    rows = client.get("/api/opportunities", params={"stage": ["pipeline", "engagement"]}).json()
    # Read against the real clock: the sample's planning notices age out (the UK2 one's
    # engagement ended 2026-09-21), so compare with the library at the same moment.
    live = list_opportunities(
        sample_store,
        dt.datetime.now(dt.UTC),
        OpportunityFilter(stages=("pipeline", "engagement")),
    )
    assert {r["id"] for r in rows} == {o["id"] for o in live}
    assert {r["stage"] for r in rows} <= {"pipeline", "engagement"}
    expiring = client.get("/api/opportunities", params={"expiring_within": 120}).json()
    assert expiring and all(r["kind"] == "expiring" for r in expiring)
    page = client.get("/opportunities", params={"stage": "expiring", "expiring_within": "120"})
    assert page.status_code == 200 and "ends " in page.text
    assert client.get("/api/opportunities", params={"stage": "soon"}).status_code == 422
    assert client.get("/api/opportunities", params={"place": "Atlantis"}).status_code == 404


def test_supplier_matches(client: TestClient) -> None:
    supplier = client.get(f"/api/opportunity/{PIPELINE}").json()["suppliers"][0]["id"]
    data = client.get(f"/api/matches/{quote(supplier, safe='')}").json()
    assert data["supplier"]["id"] == supplier
    assert data["opportunities"]
    assert all(
        r["opportunity"]["stage"] in ("pipeline", "engagement", "planned", "open")
        for r in data["opportunities"]
    )
    page = client.get(f"/matches/{quote(supplier, safe='')}")
    assert page.status_code == 200 and "Opportunities for" in page.text
    assert client.get("/api/matches/nobody-at-all").status_code == 404


def test_pages_in_a_browser(sample_store_file: Path) -> None:
    browser_tests = pytest.importorskip("tests.test_browser")
    with (
        browser_tests.serving(sample_store_file) as server,
        browser_tests.launched() as browser,
        browser_tests.watched_page(browser, server) as (
            p,
            _,
        ),
    ):
        p.goto(f"/opportunity/{PIPELINE}", wait_until="load")
        data: Any = p.request.get(f"/api/opportunity/{PIPELINE}").json()
        rows = p.locator("#ranked-suppliers tbody tr")
        assert rows.count() == len(data["suppliers"])
        first = rows.first.locator("td").nth(1).inner_text()
        assert first == (data["suppliers"][0]["name"] or data["suppliers"][0]["id"])
        browser_tests._shot(p, "opportunity")
        # Through to the supplier's matches, from the API's first supplier.
        supplier = data["suppliers"][0]["id"]
        p.goto(f"/matches/{quote(supplier, safe='')}", wait_until="load")
        matches: Any = p.request.get(f"/api/matches/{quote(supplier, safe='')}").json()
        assert p.locator("#supplier-matches tbody tr").count() == len(matches["opportunities"])
        p.goto("/opportunities", wait_until="load")
        listed: Any = p.request.get("/api/opportunities").json()
        assert p.locator("#opportunities tbody tr").count() == len(listed)
        browser_tests._shot(p, "opportunities")
        p.goto("/buyer-matches/GB-CFS-49206", wait_until="load")
        met: Any = p.request.get("/api/buyer-matches/GB-CFS-49206").json()
        assert p.locator("#never-met-table tbody tr").count() == len(met["suppliers_never_met"])
        browser_tests._shot(p, "buyer-matches")


def test_buyer_introductions(client: TestClient) -> None:
    buyer = "GB-CFS-49206"  # Nottingham City Council
    data = client.get(f"/api/buyer-matches/{buyer}").json()
    assert data["buyer"]["name"] == "Nottingham City Council"
    assert data["suppliers_never_met"]
    for r in data["suppliers_never_met"]:
        assert (r["scale"] == "sme" or r["vcse"]) and r["distance_km"] <= data["radius_km"]
        assert buyer not in r["buyers_served"]
    for o in data["small_incumbents_expiring"]:
        assert o["buyer_id"] == buyer and (o["incumbent_sme"] or o["incumbent_vcse"])
    themed = client.get(f"/api/buyer-matches/{buyer}", params={"theme": "health and social care"})
    assert themed.status_code == 200 and "85" in themed.json()["divisions"]
    page = client.get(f"/buyer-matches/{buyer}")
    assert page.status_code == 200 and data["suppliers_never_met"][0]["name"] in page.text
    assert client.get("/api/buyer-matches/nobody").status_code == 404
    assert client.get(f"/api/buyer-matches/{buyer}", params={"theme": "x"}).status_code == 422
    supplier = data["suppliers_never_met"][0]["id"]
    near = client.get(f"/api/matches/{quote(supplier, safe='')}").json()
    assert near["buyers_nearby"] and all(
        b["distance_km"] <= near["radius_km"] for b in near["buyers_nearby"]
    )
    stages = [o["stage"] for o in near["notices_nearby"]]
    order = {"engagement": 0, "pipeline": 1, "planned": 2, "open": 3}
    assert stages == sorted(stages, key=order.__getitem__)
