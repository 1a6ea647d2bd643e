"""``locality fetch``: against a stand-in for Find a Tender and Contracts Finder on 127.0.0.1.

The stand-in serves the bundled sample's real releases as release packages with opaque
cursors and ``links.next``, and can answer a request with a fault (429 with or without
Retry-After, 503, a connection dropped mid-body, a body cut short). Time is simulated: the
fetcher's clock and sleep are a fake, so the real pacing and backoff run without waiting.
"""

from __future__ import annotations

import base64
import copy
import gzip
import http.server
import json
import os
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import duckdb
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import locality.fetch.run as fetch_run
from locality.cli import app
from locality.fetch import (
    SOURCES,
    FetchError,
    default_download_dir,
    fetch,
    last_run,
    parse_moment,
    parse_stages,
)
from locality.fetch.http import backoff, retry_after
from locality.fetch.run import page_file_name
from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from locality.store.schema import PROCESS_TABLES
from tests.conftest import CF_RELEASES, FIND_A_TENDER

FTS = SOURCES["find-a-tender"]
CF = SOURCES["contracts-finder"]
SINCE = datetime(2021, 1, 1, tzinfo=UTC)
UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2027, 1, 2, tzinfo=UTC)


def _when(release: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(release["date"].replace("Z", "+00:00")).astimezone(UTC)


def _read(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class StandIn:
    """What the stand-in serves and how it misbehaves; shared with the handler thread."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
            FTS.path: (FTS.from_param, FTS.to_param, sorted(_read(FIND_A_TENDER), key=_key)),
            CF.path: (CF.from_param, CF.to_param, sorted(_read(CF_RELEASES), key=_key)),
        }
        self.faults: dict[int, str] = {}  # request number (1-based) → fault
        self.log: list[tuple[str, dict[str, str], int]] = []  # path, query, status sent
        self.lock = threading.Lock()
        self.base = ""

    def fault_for(self) -> str | None:
        with self.lock:
            return self.faults.get(len(self.log) + 1)

    def served(self) -> list[str | None]:
        """Cursors of the pages answered with 200 (None for a first page)."""
        return [query.get("cursor") for _, query, status in self.log if status == 200]


def _key(release: dict[str, Any]) -> tuple[datetime, str, str]:
    return (_when(release), release["ocid"], release["id"])


def _cursor(offset: int, window: tuple[str, str], stages: str) -> str:
    # Opaque to the client: base64 of where the next page starts, with a few odd characters.
    text = json.dumps([offset, *window, stages])
    return base64.urlsafe_b64encode(text.encode()).decode() + "~="


def _uncursor(cursor: str) -> tuple[int, tuple[str, str], str]:
    offset, start, end, stages = json.loads(base64.urlsafe_b64decode(cursor[:-2]))
    return offset, (start, end), stages


class Handler(http.server.BaseHTTPRequestHandler):
    stand_in: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        stand_in = self.stand_in
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        fault = stand_in.fault_for()
        status = 200 if fault in (None, "drop", "truncate") else int(fault[:3])
        with stand_in.lock:
            stand_in.log.append((url.path, query, status if fault is None else -1))
        if fault == "429-after":
            self._send(429, b'{"error": "too many requests"}', {"Retry-After": "7"})
            return
        if fault in ("429", "503"):
            self._send(status, b'{"error": "try later"}')
            return
        if url.path not in stand_in.data:
            self._send(404, b'{"error": "not found"}')
            return
        from_param, to_param, releases = stand_in.data[url.path]
        limit = int(query.get("limit", "100"))
        if "cursor" in query:
            offset, window, stages = _uncursor(query["cursor"])
        else:
            offset, window, stages = 0, (query[from_param], query[to_param]), query.get("stages")
            stages = stages or ""
        start, end = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in window)
        chosen = [r for r in releases if start <= _when(r) < end]
        page = chosen[offset : offset + limit]
        package: dict[str, Any] = {
            "uri": f"{stand_in.base}{self.path}",
            "publishedDate": "2027-01-01T00:00:00Z",
            "publisher": {"name": "stand-in"},
            "version": "1.1",
            "releases": page,
        }
        if offset + limit < len(chosen):
            next_query = {"cursor": _cursor(offset + limit, window, stages), "limit": limit}
            package["links"] = {"next": f"{stand_in.base}{url.path}?{urlencode(next_query)}"}
        body = json.dumps(package).encode()
        if fault == "drop":
            # Promise the whole body, send half, hang up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "truncate":
            body = body[: len(body) * 2 // 3]  # a whole HTTP message whose JSON is cut short
        self._send(200, body)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()
    handler = type("StandInHandler", (Handler,), {"stand_in": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class FakeTime:
    """The fetcher's clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _fetch(
    con: duckdb.DuckDBPyConnection,
    stand_in: StandIn,
    folder: Path,
    fake: FakeTime | None = None,
    **options: Any,
) -> Any:
    fake = fake or FakeTime()
    options.setdefault("since", SINCE)
    options.setdefault("until", UNTIL)
    options.setdefault("page_size", 5)
    options.setdefault("base_url", stand_in.base)
    return fetch(
        con,
        options.pop("source", FTS),
        download_dir=folder,
        clock=fake.clock,
        sleep=fake.sleep,
        rng=random.Random(14),
        now=lambda: NOW,
        **options,
    )


def _pages(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json.gz"))


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(sql.one(con, f"SELECT count(*) FROM {table}")[0])


# --- pages, cursors, files, state --------------------------------------------------------


def test_every_page_is_followed_saved_and_ingested(stand_in: StandIn, tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    summary = _fetch(con, stand_in, tmp_path / "pages")
    assert summary.complete and summary.pages == 4 and summary.releases == 16
    assert summary.requests == 4 and summary.retries == 0
    assert _count(con, "releases") == 16
    assert _count(con, "processes") == len({r["ocid"] for r in _read(FIND_A_TENDER)})
    # The first request names the window; the others follow links.next's opaque cursor.
    first = stand_in.log[0][1]
    assert first == {"updatedFrom": "2021-01-01T00:00:00", "updatedTo": "2027-01-01T00:00:00"} | {
        "limit": "5"
    }
    assert all("cursor" in query for _, query, _ in stand_in.log[1:])
    # Pages are kept compressed, named by window and cursor, in the order fetched.
    pages = _pages(tmp_path / "pages")
    assert [p.parent.name for p in pages] == ["000001_20210101T000000Z_20270101T000000Z"] * 4
    assert pages[0].name == "p000001-first.json.gz"
    assert [p.name[:7] for p in pages] == ["p000001", "p000002", "p000003", "p000004"]
    assert sum(len(json.loads(gzip.decompress(p.read_bytes()))["releases"]) for p in pages) == 16
    run = last_run(con, "find-a-tender")
    assert run is not None and run.complete and run.next_url is None
    assert run.pages == 4 and run.releases == 16
    assert run.last_cursor == stand_in.log[-1][1]["cursor"]
    assert run.last_date == max(_when(r) for r in _read(FIND_A_TENDER))
    con.close()


def test_a_store_built_by_fetching_equals_one_built_from_the_saved_pages(
    stand_in: StandIn, tmp_path: Path
) -> None:
    fetched = connect(tmp_path / "fetched.duckdb")
    _fetch(fetched, stand_in, tmp_path / "pages")
    # A release is changed at the source, then an earlier-starting window is fetched again:
    # its pages go to a folder of their own, which sorts after the first run's.
    releases = copy.deepcopy(stand_in.data[FTS.path][2])
    changed = releases[3]
    changed["tender"]["title"] = "Changed at the source"
    stand_in.data[FTS.path] = (FTS.from_param, FTS.to_param, releases)
    again = _fetch(fetched, stand_in, tmp_path / "pages", since=datetime(2020, 1, 1, tzinfo=UTC))
    assert again.pages == 4 and again.updated_releases == 1 and again.pages_read_back == 0
    assert len(_pages(tmp_path / "pages")) == 8
    title = "SELECT title FROM processes WHERE ocid = ?"
    assert sql.one(fetched, title, [changed["ocid"]]) == ("Changed at the source",)
    rebuilt = connect(tmp_path / "rebuilt.duckdb")
    ingest(rebuilt, [tmp_path / "pages"], jobs=1)
    for table in ("releases", *PROCESS_TABLES, "organisations", "rejected"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert sql.rows(fetched, query) == sql.rows(rebuilt, query), table
    files = "SELECT source_file, content_hash, kept FROM ingested_files ORDER BY ALL"
    assert sql.rows(fetched, files) == sql.rows(rebuilt, files)
    fetched.close()
    rebuilt.close()


def test_requests_are_paced_under_12_in_2_minutes(stand_in: StandIn, tmp_path: Path) -> None:
    fake = FakeTime()
    sent: list[float] = []
    client = httpx.Client(event_hooks={"request": [lambda _: sent.append(fake.now)]})
    con = connect(tmp_path / "s.duckdb")
    summary = _fetch(con, stand_in, tmp_path / "pages", fake, page_size=1, client=client)
    assert summary.pages == 16 and len(sent) == 16
    # Any 12 requests in a row span more than two minutes (the service's limit).
    assert all(sent[i + 11] - sent[i] > 120 for i in range(len(sent) - 11))
    con.close()


def test_429_503_a_dropped_connection_and_a_cut_body_are_retried(
    stand_in: StandIn, tmp_path: Path
) -> None:
    stand_in.faults = {2: "429-after", 3: "429", 4: "503", 5: "drop", 6: "truncate"}
    waits: list[float] = []

    def progress(event: Any) -> None:
        if event.waiting is not None and event.waiting != "pacing":
            waits.append(event.wait_seconds)

    con = connect(tmp_path / "s.duckdb")
    summary = _fetch(con, stand_in, tmp_path / "pages", progress=progress)
    assert summary.complete and summary.pages == 4 and summary.retries == 5
    assert summary.requests == 9
    # Retry-After is honoured to the second; without it, backoff grows, with jitter.
    assert waits[0] == 7.0
    assert 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    assert 40 <= waits[3] <= 80 and 80 <= waits[4] <= 160
    # Nothing lost, nothing twice: each page answered whole once, every release once.
    cursors = stand_in.served()
    assert len(cursors) == len(set(cursors)) == 4
    assert _count(con, "releases") == 16 and len(_pages(tmp_path / "pages")) == 4
    con.close()


def test_a_client_error_stops_at_once_with_the_url(stand_in: StandIn, tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    with pytest.raises(FetchError, match=r"HTTP 404.*--base-url"):
        _fetch(con, stand_in, tmp_path / "pages", source=CF, base_url=stand_in.base + "/nope")
    con.close()


def test_backoff_stays_within_its_bounds() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        delay = min(300.0, 10.0 * 2 ** (attempt - 1))
        assert delay / 2 <= backoff(attempt, rng) <= delay


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert retry_after("30") == 30.0
    assert retry_after("Mon, 07 Dec 2026 12:01:30 GMT", now) == 90.0
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after(None) is None and retry_after("soon") is None


# --- bad releases ----------------------------------------------------------------------------


def test_a_bad_release_is_rejected_with_its_page_and_index(
    stand_in: StandIn, tmp_path: Path
) -> None:
    releases = copy.deepcopy(stand_in.data[FTS.path][2])
    bad = releases[7]  # page 2 (of 5 a page), index 2
    bad["awards"] = [{"id": "1", "value": {"amount": "lots", "currency": "GBP"}}]
    stand_in.data[FTS.path] = (FTS.from_param, FTS.to_param, releases)
    con = connect(tmp_path / "s.duckdb")
    summary = _fetch(con, stand_in, tmp_path / "pages")
    assert summary.complete and summary.rejected == 1 and summary.releases == 15
    [rejection] = summary.rejections
    page_two = _pages(tmp_path / "pages")[1]
    assert rejection["page"] == 2 and rejection["index"] == 2
    assert rejection["ocid"] == bad["ocid"] and "amount is not a number" in rejection["reason"]
    assert rejection["file"] == str(page_two)
    stored = sql.rows(con, "SELECT source_file, source_pointer, ocid FROM rejected")
    assert stored == [(str(page_two.resolve()), "/releases/2", bad["ocid"])]
    assert _count(con, "releases") == 15  # the rest of the page is kept
    con.close()


# --- stopping and carrying on ----------------------------------------------------------------


def test_giving_up_keeps_every_page_and_the_next_run_carries_on(
    stand_in: StandIn, tmp_path: Path
) -> None:
    stand_in.faults = {n: "503" for n in range(3, 6)}
    con = connect(tmp_path / "s.duckdb")
    with pytest.raises(FetchError, match=r"gave up after 3 attempts.*run the same command"):
        _fetch(con, stand_in, tmp_path / "pages", max_attempts=3)
    run = last_run(con, "find-a-tender")
    assert run is not None and not run.complete and run.pages == 2
    assert _count(con, "releases") == 10
    with pytest.raises(FetchError, match="unfinished Find a Tender fetch"):
        _fetch(con, stand_in, tmp_path / "pages", since=None, until=NOW)
    # No --since: the same window, from the page it stopped at.
    summary = _fetch(con, stand_in, tmp_path / "pages", since=None, until=None)
    assert summary.resumed and summary.complete and summary.pages == 2
    assert _count(con, "releases") == 16
    cursors = stand_in.served()
    assert len(cursors) == len(set(cursors)) == 4
    assert _count(con, "fetch_runs") == 1
    con.close()


def test_max_pages_stops_early_and_the_next_run_carries_on(
    stand_in: StandIn, tmp_path: Path
) -> None:
    con = connect(tmp_path / "s.duckdb")
    first = _fetch(con, stand_in, tmp_path / "pages", max_pages=3)
    assert not first.complete and first.pages == 3 and first.releases == 15
    rest = _fetch(con, stand_in, tmp_path / "pages", since=None)
    assert rest.resumed and rest.complete and rest.pages == 1 and rest.releases == 1
    assert len(stand_in.served()) == 4 and _count(con, "releases") == 16
    con.close()


def _interrupted(con: Any, stand_in: StandIn, folder: Path, step: str, call: int) -> None:
    """A fetch stopped by Ctrl+C at the ``call``-th call of ``locality.fetch.run.<step>``
    (before that call does anything); the step is the real one again afterwards."""
    real = getattr(fetch_run, step)
    calls = 0

    def interrupting(*args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            raise KeyboardInterrupt
        return real(*args, **kw)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(fetch_run, step, interrupting)
        with pytest.raises(KeyboardInterrupt):
            _fetch(con, stand_in, folder)


def test_a_run_killed_after_saving_a_page_reads_it_back(stand_in: StandIn, tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    # Ctrl+C after page 3 was saved, before it was loaded.
    _interrupted(con, stand_in, tmp_path / "pages", "ingest_file", 3)
    assert _count(con, "releases") == 10 and len(_pages(tmp_path / "pages")) == 3
    summary = _fetch(con, stand_in, tmp_path / "pages", since=None)
    assert summary.resumed and summary.complete and summary.pages_read_back == 1
    assert _count(con, "releases") == 16
    cursors = stand_in.served()
    assert len(cursors) == len(set(cursors)) == 4  # page 3 was not asked for again
    con.close()


def test_a_page_loaded_but_not_recorded_is_not_counted_twice(
    stand_in: StandIn, tmp_path: Path
) -> None:
    con = connect(tmp_path / "s.duckdb")
    # Ctrl+C when page 2 is in the store and its record is not.
    _interrupted(con, stand_in, tmp_path / "pages", "save_progress", 2)
    summary = _fetch(con, stand_in, tmp_path / "pages", since=None)
    assert summary.complete and summary.pages_read_back == 1
    run = last_run(con, "find-a-tender")
    assert run is not None and run.pages == 4 and run.releases == 16
    assert _count(con, "releases") == 16
    con.close()


def test_the_next_window_starts_where_the_last_ended(stand_in: StandIn, tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    with pytest.raises(FetchError, match="give --since"):
        _fetch(con, stand_in, tmp_path / "pages", since=None)
    _fetch(con, stand_in, tmp_path / "pages", until=datetime(2026, 1, 1, tzinfo=UTC))
    first = _count(con, "releases")
    summary = _fetch(con, stand_in, tmp_path / "pages", since=None, until=None)
    assert not summary.resumed and summary.complete
    assert summary.window_from == "2026-01-01T00:00:00+00:00"
    assert summary.window_to == NOW.isoformat()
    assert first + summary.releases == _count(con, "releases") == 16
    # A window already reached is nothing to do.
    stand_in.log.clear()
    done = _fetch(con, stand_in, tmp_path / "pages", since=None, until=NOW)
    assert done.pages == 0 and done.note and "nothing to fetch" in done.note
    assert stand_in.log == []
    con.close()


# --- Contracts Finder ----------------------------------------------------------------------


def test_contracts_finder_search_by_published_date_and_stages(
    stand_in: StandIn, tmp_path: Path
) -> None:
    con = connect(tmp_path / "s.duckdb")
    summary = _fetch(
        con,
        stand_in,
        tmp_path / "pages",
        source=CF,
        since=datetime(2025, 1, 1, tzinfo=UTC),
        until=datetime(2025, 2, 1, tzinfo=UTC),
        stages=("tender", "award"),
        page_size=50,
    )
    in_window = [r for r in _read(CF_RELEASES) if r["date"].startswith("2025-01")]
    assert summary.complete and summary.releases == len(in_window) == 100
    assert summary.pages == 2
    path, first, _ = stand_in.log[0]
    assert path == "/Published/Notices/OCDS/Search"
    assert first == {
        "publishedFrom": "2025-01-01T00:00:00",
        "publishedTo": "2025-02-01T00:00:00",
        "limit": "50",
        "stages": "tender,award",
    }
    assert _count(con, "releases") == 100
    con.close()


# --- small parts ---------------------------------------------------------------------------


def test_user_times_and_stages_are_checked() -> None:
    assert parse_moment("2025-02-24") == datetime(2025, 2, 24, tzinfo=UTC)
    assert parse_moment("2025-02-24T07:00:00+01:00") == datetime(2025, 2, 24, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_moment("yesterday")
    assert parse_stages(FTS, "award, tender") == ("award", "tender")
    with pytest.raises(ValueError, match="no stage 'implementation'"):
        parse_stages(FTS, "implementation")
    assert default_download_dir(Path("/data/york.duckdb")) == Path("/data/york-pages")


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_page_names_are_safe_and_tell_cursors_apart(one: str, two: str) -> None:
    def name(cursor: str) -> str:
        return page_file_name(7, "http://x/p?" + urlencode({"cursor": cursor}), first=False)

    assert name(one).startswith("p000007-") and name(one).endswith(".json.gz")
    assert all(c.isalnum() or c in "_-." for c in name(one)) and len(name(one)) < 80
    if one != two:
        assert name(one) != name(two)


# --- the command ---------------------------------------------------------------------------


def test_the_command_fetches_and_status_shows_the_last_fetch(
    stand_in: StandIn, tmp_path: Path
) -> None:
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "--db",
            str(db),
            "fetch",
            "find-a-tender",
            "--since",
            "2021-01-01",
            "--until",
            "2027-01-01T00:00:00Z",
            "--base-url",
            stand_in.base,
            "--pace",
            "0",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["complete"] and summary["releases"] == 16 and summary["pages"] == 1
    assert summary["download_dir"].startswith(str(tmp_path / "cli-pages" / "find-a-tender"))
    status = runner.invoke(app, ["--db", str(db), "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    [last] = json.loads(status.stdout)["fetches"]
    assert last["source"] == "find-a-tender" and last["pages"] == 1 and last["completed_at"]
    table = runner.invoke(app, ["--db", str(db), "status"])
    assert "Last fetch by source" in table.stdout and "find-a-tender" in table.stdout
    bad = runner.invoke(app, ["--db", str(db), "fetch", "find-a-tender", "--stages", "bids"])
    assert bad.exit_code == 1 and "no stage 'bids'" in bad.output


@pytest.mark.skipif(
    not os.environ.get("LOCALITY_LIVE_FETCH"),
    reason="reaches the real Find a Tender: set LOCALITY_LIVE_FETCH=1 to run it",
)
def test_live_find_a_tender_smoke(tmp_path: Path) -> None:
    """One real page of the last day (run by hand; tests never reach the internet)."""
    con = connect(tmp_path / "live.duckdb")
    until = datetime.now(UTC).replace(microsecond=0)
    summary = fetch(
        con,
        FTS,
        download_dir=tmp_path / "pages",
        since=until - timedelta(days=1),
        until=until,
        max_pages=1,
    )
    assert summary.pages == 1 and summary.releases > 0
    con.close()
