"""The network page in a real browser (Playwright, Debian's chromium), as tests/test_browser.py
checks the other pages: drawn from the vendored Cytoscape.js at the positions the API gives,
a click on an organisation shows its card, the sector filter hides nodes, no console error
and no request leaving 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import Watch, _api, _open, _shot, launched, serving, watched_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def network_server(spend_sample_store_file: Path) -> Iterator[str]:
    with serving(spend_sample_store_file) as url:
        yield url


@pytest.fixture(scope="module")
def network_browser() -> Iterator[Any]:
    with launched() as instance:
        yield instance


@pytest.fixture
def page(network_browser: Any, network_server: str) -> Iterator[tuple[Any, Watch]]:
    with watched_page(network_browser, network_server) as opened:
        yield opened


def test_network_page_draws_and_shows_a_card(page: tuple[Any, Watch]) -> None:
    p, _ = page
    data = _api(p, "/api/network?locality=Leeds")
    _open(p, "/network?locality=Leeds")
    assert "Innovation network: Leeds" in p.locator("h1").inner_text()
    p.wait_for_selector("#network-graph[data-drawn]", timeout=15_000)
    drawn = int(p.get_attribute("#network-graph", "data-drawn") or 0)
    assert drawn == data["nodes_shown"] == len(data["elements"]["nodes"]) == 104
    assert p.locator("#network-graph canvas").count() > 0
    # positions are the ones computed in Python (preset layout), not a client layout
    first = data["elements"]["nodes"][0]
    position = p.evaluate(
        "id => window.localityNetwork.getElementById(id).position()", first["data"]["id"]
    )
    assert position == pytest.approx(first["position"])
    # click the University of Leeds where it is drawn: its card appears
    target = "GB-CFS-186432"
    box = p.locator("#network-graph").bounding_box()
    at = p.evaluate("id => window.localityNetwork.getElementById(id).renderedPosition()", target)
    p.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    p.wait_for_selector(f"#network-card[data-node='{target}']", timeout=5_000)
    card = p.locator("#network-card").inner_text()
    assert "University of Leeds" in card and "itinerant 132" in card
    assert "higher further education" in card
    assert "Sector source" in card and "no imported list names it" in card
    # the brokers table lists the same first broker as the API
    assert (
        p.locator("#brokers-table tbody tr")
        .first.inner_text()
        .startswith(data["brokers"][0]["name"])
    )
    # unticking a sector hides its organisations
    smes = p.evaluate("window.localityNetwork.nodes(\"[sector = 'sme']\").length")
    assert smes > 0
    p.locator(".network-sectors input[value=sme]").uncheck()
    hidden = p.evaluate("window.localityNetwork.nodes('.hidden').length")
    assert hidden == smes
    _shot(p, "network-leeds")


def test_network_page_with_a_bad_scope_says_why(page: tuple[Any, Watch]) -> None:
    p, watch = page
    response = p.goto("/network?place=Leedz", wait_until="load")
    assert response is not None and response.status == 404
    assert "did you mean" in p.locator("main").inner_text()
    # the browser logs the 404 itself as a console error: it is the expected answer here
    watch.errors = [e for e in watch.errors if "404" not in e]
