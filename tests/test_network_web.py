"""``/api/network`` and the ``/network`` page, without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from locality.web.app import create_app


@pytest.fixture(scope="module")
def client(spend_sample_store_file: Path) -> Iterator[TestClient]:
    with TestClient(create_app(spend_sample_store_file)) as c:
        yield c


def test_api_network_gives_positions_cards_and_lists(client: TestClient) -> None:
    response = client.get("/api/network", params={"locality": "Leeds"})
    assert response.status_code == 200
    data = response.json()
    assert data["scope"] == "Leeds" and data["nodes_total"] == 104
    nodes = data["elements"]["nodes"]
    assert len(nodes) == data["nodes_shown"] == len(data["cards"])
    assert all(0 <= n["position"]["x"] <= 1000 and 0 <= n["position"]["y"] <= 1000 for n in nodes)
    ids = {n["data"]["id"] for n in nodes}
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids
               for e in data["elements"]["edges"])  # fmt: skip
    # the biggest circle is the organisation with most money on its ties
    biggest = max(nodes, key=lambda n: n["data"]["size"])
    card = data["cards"][biggest["data"]["id"]]
    assert card["strength"] == max(c["strength"] for c in data["cards"].values())
    assert data["brokers"][0]["name"] == "Leeds City Council"
    assert {"unreached", "buyer_pairs", "connectors", "sparse_buyers", "market_cores"} == set(
        data["gaps"]
    )
    # the same layout twice (seeded)
    again = client.get("/api/network", params={"locality": "LDS"}).json()
    assert again["elements"] == data["elements"]


def test_network_page_and_its_errors(client: TestClient) -> None:
    page = client.get("/network", params={"place": "", "locality": "Leeds", "theme": "",
                                          "since": ""})  # fmt: skip
    assert page.status_code == 200
    assert "Innovation network: Leeds" in page.text and "network-elements" in page.text
    assert "/static/vendor/cytoscape.min.js" in page.text
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
    assert client.get("/api/network", params={"place": "Leedz"}).status_code == 404
    assert client.get("/api/network", params={"theme": "astrology"}).status_code == 422
    assert client.get("/network", params={"since": "2020-13-40"}).status_code == 422
    empty = client.get("/network", params={"since": "2099-01-01"})
    assert empty.status_code == 200 and "no ties" in empty.text
    assert "network-elements" not in empty.text


def test_node_card_names_the_imported_list_behind_a_sector(
    writable_sample_store: duckdb.DuckDBPyConnection,
) -> None:
    from locality.ingest.pipeline import ingest
    from tests.helpers import close_and_path, dashboard

    lists = Path(__file__).resolve().parent / "fixtures"
    ingest(writable_sample_store, [lists / "organisations_sample_overrides.csv"],
           kind="organisations")  # fmt: skip
    with dashboard(Path(close_and_path(writable_sample_store))) as client:
        data = client.get("/api/network", params={"locality": "Swindon"}).json()
    # Oakheart Services, published as an SME, is a VCSE by line 3 of the imported list
    card = data["cards"]["GB-COH-09438364"]
    assert (card["sector"], card["sector_source"]) == ("vcse", "imported list")
    assert card["sector_list"] == "organisations_sample_overrides.csv line 3"
    # a node no list names says where its sector came from instead
    council = next(c for c in data["cards"].values() if c["sector"] == "public_buyer")
    assert council["sector_list"] is None and council["sector_source"] != "imported list"


def test_small_markets_read_too_few_on_the_place_page(client: TestClient) -> None:
    # Leeds construction in the sample: one £66,802 award to one supplier, HHI 10,000
    page = client.get("/place/Leeds")
    assert page.status_code == 200
    assert "too few to read" in page.text and "1 award to 1 supplier: below ten" in page.text
    cores = client.get("/api/network", params={"locality": "Leeds"}).json()["gaps"]["market_cores"]
    construction = next(c for c in cores if c["theme"] == "construction")
    assert construction["reading"] == "1 award to 1 supplier, £66,802: too few to read"
