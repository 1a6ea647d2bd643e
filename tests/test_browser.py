"""The dashboard and the report in a real browser: Playwright driving Debian's chromium.

The dashboard is served by uvicorn (in a thread, on a free 127.0.0.1 port) over the
bundled sample. Every page must show the headline numbers its API gives, log no console
error, and make no request that leaves 127.0.0.1 (every request is routed: any other host
is refused and fails the test). Screenshots go to ``test-artifacts/browser/``.

Only the system's chromium is used (``.ci/run`` installs Debian's package); a browser
downloaded by ``playwright install`` never is. Without chromium or Playwright the tests
are skipped, saying which is missing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from locality.metrics.compare import HEADLINE
from locality.report import write_report
from locality.views import present
from locality.web.app import create_app
from tests.helpers import digest

CHROMIUM = Path(os.environ.get("LOCALITY_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
COMPARED = ("York", "Swindon", "Manchester")

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (pip install -e '.[dev]')",
)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no chromium at {CHROMIUM} (apt-get install chromium; never `playwright install`)",
        allow_module_level=True,
    )


# --- the server and the browser ----------------------------------------------------------


@contextmanager
def serving(store_file: Path) -> Iterator[str]:
    """The dashboard over a store, served by uvicorn in a thread: yields its base URL, and
    checks on the way out that the store was only read."""
    import uvicorn

    before = digest(store_file)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(store_file), log_level="warning", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()
    # The server only reads: the store is byte for byte what it was.
    assert digest(store_file) == before


@pytest.fixture(scope="module")
def server(sample_store_file: Path) -> Iterator[str]:
    """The dashboard over the sample; yields its base URL."""
    with serving(sample_store_file) as url:
        yield url


@contextmanager
def launched() -> Iterator[Any]:
    """The system's chromium, headless, with the launch options above."""
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as instance:
        yield instance


class Watch:
    """One page's console errors, and every request refused for leaving 127.0.0.1."""

    def __init__(self, page: Any, allowed: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.allowed = allowed
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def _request(self, request: Any) -> None:
        if not self.allowed_url(request.url):
            self.outside.append(request.url)

    def allowed_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        if self.allowed == "file":
            return parts.scheme == "file"
        return parts.scheme == "http" and parts.netloc == self.allowed

    def route(self, route: Any) -> None:
        # Every request is also seen by ``_request``, which records those refused here.
        if self.allowed_url(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def check(self) -> None:
        assert not self.outside, f"requests left 127.0.0.1: {self.outside}"
        assert not self.errors, "\n".join(self.errors)


@contextmanager
def watched_page(browser: Any, server: str) -> Iterator[tuple[Any, Watch]]:
    """A fresh page on the server, every request routed, checked when the test ends."""
    context = browser.new_context(
        base_url=server, viewport={"width": 1280, "height": 900}, service_workers="block"
    )
    p = context.new_page()
    watch = Watch(p, urlsplit(server).netloc)
    context.route("**/*", watch.route)
    yield p, watch
    context.close()
    watch.check()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[tuple[Any, Watch]]:
    """A fresh page on the dashboard over the sample."""
    with watched_page(browser, server) as opened:
        yield opened


def _api(page: Any, url: str) -> Any:
    """The API's answer, fetched with the page's own request context."""
    response = page.request.get(url)
    assert response.ok, f"{url}: {response.status} {response.text()[:500]}"
    return response.json()


def _open(page: Any, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    assert page.locator("h1").count() == 1


def _charts_drawn(page: Any) -> int:
    """Waits until every chart container holds an SVG or canvas; returns how many there are."""
    count = int(page.locator("script.chart-spec").count())
    page.wait_for_function(
        "n => document.querySelectorAll('.vega.chart-drawn, .vega.chart-empty').length === n",
        arg=count,
        timeout=15_000,
    )
    drawn = page.eval_on_selector_all(
        ".vega.chart-drawn", "els => els.map(e => !!e.querySelector('svg, canvas'))"
    )
    assert all(drawn)
    return count


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _figures(page: Any) -> list[tuple[str, str]]:
    """The headline figures: (value attribute, text) of each ``.figures .big data``."""
    return [
        (str(v), str(t))
        for v, t in page.eval_on_selector_all(
            ".figures .figure .big data", "els => els.map(e => [e.value, e.textContent])"
        )
    ]


def _same(value: str, expected: Any) -> bool:
    if expected is None:
        return value == ""
    if isinstance(expected, float):
        return float(value) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    return value == str(expected)


def _check_headline(page: Any, head: dict[str, Any]) -> None:
    """The seven headline figures of a place or buyer page, against the API's row: money
    awarded, five shares, then framework ceilings (shown apart: not money, not added)."""
    expected = [
        (head["awarded_value"], present.money(head["awarded_value"])),
        *(
            (head[k], present.pct(head[k]))
            for k in ("sme_share", "vcse_share", "local_share", "top3_share", "direct_award_share")
        ),
        (head["framework_ceiling_value"], present.money(head["framework_ceiling_value"])),
    ]
    shown = _figures(page)
    assert len(shown) == len(expected)
    for (value, text), (want, want_text) in zip(shown, expected, strict=True):
        assert _same(value, want) and text == want_text


# --- pages ---------------------------------------------------------------------------------


def test_home(page: tuple[Any, Watch]) -> None:
    p, _ = page
    _open(p, "/")
    status = _api(p, "/api/status")
    counts = status["counts"]
    shown = _figures(p)
    for (value, text), key in zip(shown, ("processes", "awards", "organisations"), strict=False):
        assert value == str(counts[key]) and text == present.number(counts[key]), key
    assert status["date_range"]["first"] in p.locator(".figures").inner_text()
    _shot(p, "home")


def test_place(page: tuple[Any, Watch]) -> None:
    p, _ = page
    _open(p, "/place/Manchester")
    data = _api(p, "/api/place/Manchester")
    assert p.locator("h1").inner_text() == "Manchester"
    _check_headline(p, data["headline"])
    assert _charts_drawn(p) == 2
    _shot(p, "place-manchester")


def test_compare(page: tuple[Any, Watch]) -> None:
    p, _ = page
    query = "&".join(f"names={quote(n)}" for n in COMPARED)
    _open(p, f"/compare?{query}")
    rows = _api(p, f"/api/compare?{query}")
    assert [r["place"] for r in rows] == list(COMPARED)
    cells = p.eval_on_selector_all(
        "#table ~ .table-wrap tbody tr",
        "trs => trs.map(tr => Array.from(tr.querySelectorAll('data')).map(d => d.value))",
    )
    assert len(cells) == len(HEADLINE)
    for measure, values in zip(HEADLINE, cells, strict=True):
        for row, value in zip(rows, values, strict=True):
            assert _same(value, row[measure]), (measure, row["place"])
    assert _charts_drawn(p) == 2
    _shot(p, "compare")


def _a_supplier_award(p: Any) -> tuple[str, dict[str, Any]]:
    place = _api(p, "/api/place/Manchester")
    supplier = place["top_suppliers"][0]["supplier_id"]
    award = _api(p, f"/api/supplier/{quote(supplier, safe='')}")["awards"][0]
    return supplier, award


def test_buyer(page: tuple[Any, Watch]) -> None:
    p, _ = page
    _, award = _a_supplier_award(p)
    url = f"/buyer/{quote(award['buyer_id'], safe='')}"
    _open(p, url)
    data = _api(p, "/api" + url)
    assert p.locator("h1").inner_text() == (data["organisation"]["name"] or award["buyer_id"])
    _check_headline(p, data["headline"])
    _shot(p, "buyer")


def test_supplier(page: tuple[Any, Watch]) -> None:
    p, _ = page
    supplier, _ = _a_supplier_award(p)
    url = f"/supplier/{quote(supplier, safe='')}"
    _open(p, url)
    data = _api(p, "/api" + url)
    head = data["headline"]
    shown = _figures(p)
    assert _same(shown[0][0], head["awarded_value"])
    assert shown[0][1] == present.money(head["awarded_value"])
    assert shown[1] == (str(len(data["buyers"])), present.number(len(data["buyers"])))
    assert _same(shown[2][0], head["local_share"])
    _shot(p, "supplier")


def test_process(page: tuple[Any, Watch]) -> None:
    p, _ = page
    _, award = _a_supplier_award(p)
    url = f"/process/{quote(award['ocid'], safe='')}"
    _open(p, url)
    data = _api(p, "/api" + url)
    process = data["process"]
    assert p.locator("h1").inner_text() == (process["title_clean"] or process["ocid"])
    assert process["ocid"] in p.locator(".lede").inner_text()
    values = p.eval_on_selector_all(
        "#awards ~ .table-wrap tbody tr td.num data", "els => els.map(e => e.value)"
    )
    assert len(values) == len(data["awards"])
    for value, a in zip(values, data["awards"], strict=True):
        assert _same(value, a["value"])
    _shot(p, "process")


def _process_title(p: Any) -> str:
    data = _api(p, "/api" + urlsplit(p.url).path)
    process = data["process"]
    return str(process["title_clean"] or process["ocid"])


def test_click_through_home_place_supplier_process(page: tuple[Any, Watch]) -> None:
    p, _ = page
    _open(p, "/")
    p.get_by_label("Find a council, combined authority, buyer or supplier").fill("Manchester")
    with p.expect_navigation():
        p.locator("form.search-big button[type=submit]").click()
    assert urlsplit(p.url).path == "/search"
    with p.expect_navigation():
        p.locator("#places + ul a", has_text="Manchester").first.click()
    assert urlsplit(p.url).path == "/place/Manchester"
    assert p.locator("h1").inner_text() == "Manchester"
    supplier = p.locator("#suppliers ~ .table-wrap tbody a[href^='/supplier/']").first
    name = supplier.inner_text()
    with p.expect_navigation():
        supplier.click()
    assert urlsplit(p.url).path.startswith("/supplier/")
    assert p.locator("h1").inner_text() == name
    process = p.locator("#awards ~ .table-wrap tbody a[href^='/process/']").first
    with p.expect_navigation():
        process.click()
    assert urlsplit(p.url).path.startswith("/process/")
    assert p.locator("h1").inner_text() == _process_title(p)
    _shot(p, "click-through-process")


def test_the_guards_see_outside_requests_and_console_errors(page: tuple[Any, Watch]) -> None:
    """The checks themselves work: another host is refused and recorded, errors are seen."""
    p, watch = page
    _open(p, "/")
    p.evaluate("() => console.error('a console error')")
    assert any("a console error" in e for e in watch.errors)
    with pytest.raises(sync_api.Error, match="ERR_BLOCKED_BY_CLIENT"):
        p.goto("http://example.invalid/x")
    assert watch.outside == ["http://example.invalid/x"]
    watch.outside.clear()
    watch.errors.clear()


# --- the report ----------------------------------------------------------------------------


def test_report_opens_offline_and_draws_its_charts(
    browser: Any, sample_store_file: Path, tmp_path: Path
) -> None:
    out = write_report(
        sample_store_file,
        "Manchester",
        tmp_path / "manchester.html",
        compare=["York", "Swindon"],
        made=dt.datetime(2025, 3, 14, tzinfo=dt.UTC),
    )
    context = browser.new_context(offline=True, viewport={"width": 1000, "height": 900})
    p = context.new_page()
    watch = Watch(p, "file")
    context.route("**/*", watch.route)
    try:
        response = p.goto(out.as_uri(), wait_until="load")
        assert response is None or response.ok
        assert _charts_drawn(p) == 4
        sizes = p.eval_on_selector_all(
            ".vega svg", "els => els.map(e => e.getBoundingClientRect().width)"
        )
        assert len(sizes) == 4 and all(0 < w <= 660 for w in sizes)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, ARTIFACTS / "report-manchester.html")
        _shot(p, "report-manchester")
        # Printed: no contents list, and a PDF comes out.
        p.emulate_media(media="print")
        assert p.locator("nav.contents").is_hidden()
        pdf = p.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF")
        (ARTIFACTS / "report-manchester.pdf").write_bytes(pdf)
    finally:
        context.close()
    watch.check()
