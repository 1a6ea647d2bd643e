"""The council spend page in a real browser: Playwright driving Debian's chromium, as
``tests/test_browser.py`` (same launch options, guards and skips), over the bundled sample's
contracts and council spend files.

The page must show the headline total the API gives, draw its charts, follow its
like-for-like and transfers toggles, log no console error and make no request that leaves
127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from locality.views import present
from tests.test_browser import (
    Watch,
    _api,
    _charts_drawn,
    _figures,
    _open,
    _same,
    _shot,
    launched,
    serving,
    watched_page,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def spend_dashboard(spend_sample_store_file: Path) -> Iterator[tuple[Any, str]]:
    """A browser, and the dashboard over the sample with spend (its base URL)."""
    with serving(spend_sample_store_file) as url, launched() as instance:
        yield instance, url


@pytest.fixture
def spend_page(spend_dashboard: tuple[Any, str]) -> Iterator[tuple[Any, Watch]]:
    with watched_page(*spend_dashboard) as opened:
        yield opened


def test_spend_page(spend_page: tuple[Any, Watch]) -> None:
    p, _ = spend_page
    _open(p, "/place/West%20Yorkshire/spend")
    data = _api(p, "/api/place/West%20Yorkshire/spend")
    assert p.locator("h1").inner_text() == "Council spend in West Yorkshire"
    shares = data["shares"]
    shown = _figures(p)
    assert len(shown) == 4
    total_value, total_text = shown[0]
    assert _same(total_value, shares["total_amount"])
    assert total_text == present.money(shares["total_amount"])
    for (value, text), key in zip(
        shown[1:], ("sme_share", "vcse_share", "local_share"), strict=True
    ):
        assert _same(value, shares[key]) and text == present.pct(shares[key]), key
    assert _charts_drawn(p) == 3
    _shot(p, "spend-west-yorkshire")
    # The like-for-like toggle: a link to the same page at the highest published threshold.
    with p.expect_navigation():
        p.get_by_role("link", name="Compare like with like").click()
    assert urlsplit(p.url).query == "like_for_like=true"
    like = _api(p, "/api/place/West%20Yorkshire/spend?like_for_like=true")
    total_value, total_text = _figures(p)[0]
    assert _same(total_value, like["shares"]["total_amount"])
    assert total_text == present.money(like["shares"]["total_amount"])
    assert _charts_drawn(p) == 3
    # The transfers toggle keeps the threshold and counts transfers as suppliers: the shares
    # shown are then those of the API with include_transfers=true.
    with p.expect_navigation():
        p.get_by_role("link", name="Count transfers as suppliers").click()
    assert urlsplit(p.url).query == "like_for_like=true&include_transfers=true"
    included = _api(
        p, "/api/place/West%20Yorkshire/spend?like_for_like=true&include_transfers=true"
    )
    assert included["transfers_included"] is True
    for (value, text), key in zip(
        _figures(p)[1:], ("sme_share", "vcse_share", "local_share"), strict=True
    ):
        assert _same(value, included["shares"][key]), key
        assert text == present.pct(included["shares"][key]), key
    assert p.get_by_role("heading", name="Transfers to other public bodies").is_visible()
