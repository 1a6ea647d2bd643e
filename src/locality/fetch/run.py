"""``locality fetch``: get a window of releases from a UK OCDS API, page by page, keeping
every page and ingesting it as it arrives.

A window is the releases updated (Find a Tender) or published (Contracts Finder) in
[from, to). Each page is saved, gzip-compressed, as
``<download dir>/<source>/<from>_<to>/p<number>-<cursor>.json.gz`` before it is ingested,
so ``locality ingest <download dir>`` rebuilds the same store offline (the folders and pages
sort in the order they were fetched). After each page the store's ``fetch_runs`` row says
which page comes next: a run stopped anywhere carries on from there, never losing a page
nor asking for one twice (a page saved but not yet recorded is read back from its file).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from locality import __version__
from locality.fetch.http import (
    REQUEST_TIMEOUT,
    Clock,
    FetchError,
    Pacer,
    Page,
    PageClient,
    Sleep,
    read_page,
)
from locality.fetch.sources import Source, api_time
from locality.fetch.state import FetchRun, last_run, next_run_id, save_progress, start_run
from locality.ingest.ocds import NotOcdsError
from locality.ingest.pipeline import FileSummary, ingest_file


@dataclass
class FetchProgress:
    """What a progress display shows, sent after every page and before every wait."""

    source: str
    pages: int
    releases: int
    rejected: int
    covered: float  # share of the window's time covered, by the latest release date seen
    waiting: str | None = None  # why the fetch is waiting (pacing, HTTP 429, ...), if it is
    wait_seconds: float = 0.0


ProgressCallback = Callable[[FetchProgress], None]
# Rejected releases listed in a summary (all are in the store's `rejected` table).
REJECTIONS_LISTED = 100


@dataclass
class FetchSummary:
    source: str
    window_from: str | None
    window_to: str | None
    resumed: bool  # carried on an unfinished window
    complete: bool
    pages: int = 0  # pages ingested by this run
    releases: int = 0  # releases kept by this run
    rejected: int = 0
    new_releases: int = 0
    updated_releases: int = 0
    pages_read_back: int = 0  # pages saved by a run that stopped before recording them
    requests: int = 0
    retries: int = 0
    download_dir: str | None = None
    note: str | None = None
    # Releases rejected, with the page (number and file) and their index on it.
    rejections: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] | None = None  # the fetch_runs row after this run

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_download_dir(store: Path) -> Path:
    """Pages are kept beside the store: ``york.duckdb`` → ``york-pages/``."""
    return store.parent / f"{store.stem}-pages"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def window_folder(source: Source, run_id: int, window_from: datetime, window_to: datetime) -> str:
    """``find-a-tender/000003_20250224T000000Z_20250301T000000Z``: the run's number first, so
    folders sort in the order they were fetched (``locality ingest`` of the download folder
    then applies pages in the same order as the fetch did), and a window fetched again gets
    a folder of its own (its pages never overwrite, nor stand in for, the earlier ones)."""
    return f"{source.name}/{run_id:06d}_{_stamp(window_from)}_{_stamp(window_to)}"


def cursor_of(url: str) -> str | None:
    return httpx.URL(url).params.get("cursor")


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def page_file_name(number: int, url: str, first: bool) -> str:
    """``p000003-<cursor>.json.gz``: the page's place in the window, then its cursor (made safe
    for file names and kept short, with a hash of the whole so two cursors never collide)."""
    if first:
        tag = "first"
    else:
        cursor = cursor_of(url) or httpx.URL(url).query.decode()
        digest = hashlib.blake2b(cursor.encode(), digest_size=4).hexdigest()
        tag = f"{_UNSAFE.sub('_', cursor)[:40].strip('_')}-{digest}"
    return f"p{number:06d}-{tag}.json.gz"


def first_url(
    source: Source,
    base_url: str,
    window_from: datetime,
    window_to: datetime,
    stages: Sequence[str],
    page_size: int,
) -> str:
    params: dict[str, str] = {
        source.from_param: api_time(window_from),
        source.to_param: api_time(window_to),
        "limit": str(page_size),
    }
    if stages:
        params["stages"] = ",".join(stages)
    return str(httpx.URL(base_url.rstrip("/") + source.path, params=params))


def _release_date(release: Any) -> datetime | None:
    date = release.get("date") if isinstance(release, dict) else None
    if not isinstance(date, str):
        return None
    try:
        moment = datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _saved_page(path: Path, url: str) -> Page | None:
    """A page a stopped run saved (whole: pages are written then renamed), if it is there."""
    if not path.exists():
        return None
    try:
        body = gzip.decompress(path.read_bytes())
        releases, next_url = read_page(url, body)
    except (OSError, EOFError, ValueError):
        return None  # unreadable: get it again
    return Page(url, body, releases, next_url, 0)


def _save_page(path: Path, body: bytes) -> None:
    """Write the page's bytes as sent, compressed (mtime 0: the same page, the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as handle:
        handle.write(gzip.compress(body, compresslevel=6, mtime=0))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _plan(
    con: Any,
    source: Source,
    since: datetime | None,
    until: datetime | None,
    stages: Sequence[str] | None,
    base_url: str | None,
    download_dir: Path,
    page_size: int,
    now: datetime,
) -> tuple[FetchRun | None, bool, str | None]:
    """The run to carry on or to start, whether it is carried on, or why there is none."""
    last = last_run(con, source.name)
    if since is None:
        if last is None:
            raise FetchError(
                f"this store has no {source.title} fetch to carry on from: give --since, "
                f"e.g. `locality fetch {source.name} --since 2025-02-24`"
            )
        if not last.complete:
            if (until is not None and until != last.window_to) or (
                stages is not None and ",".join(stages) != (last.stages or "")
            ):
                raise FetchError(
                    f"an unfinished {source.title} fetch of {last.window_from} to "
                    f"{last.window_to} is recorded: run without --until and --stages to carry "
                    "it on, or give --since to start a new window"
                )
            return last, True, None
        since = last.window_to
        if stages is None and last.stages:
            stages = tuple(last.stages.split(","))
    until = until or now
    if until <= since:
        return None, False, f"nothing to fetch: the window {since} to {until} is empty"
    stages = tuple(stages or ())
    run_id = next_run_id(con)
    folder = (download_dir / window_folder(source, run_id, since, until)).resolve()
    base = base_url or source.base_url
    run = FetchRun(
        run_id=run_id,
        source=source.name,
        base_url=base,
        window_from=since,
        window_to=until,
        stages=",".join(stages) or None,
        page_size=page_size,
        download_dir=str(folder),
        next_url=first_url(source, base, since, until, stages, page_size),
    )
    return start_run(con, run, now), False, None


def fetch(
    con: Any,
    source: Source,
    *,
    download_dir: Path,
    since: datetime | None = None,
    until: datetime | None = None,
    stages: Sequence[str] | None = None,
    base_url: str | None = None,
    page_size: int | None = None,
    pace: float | None = None,
    client: httpx.Client | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
    max_attempts: int | None = None,
    now: Callable[[], datetime] = _utcnow,
    progress: ProgressCallback | None = None,
    max_pages: int | None = None,
) -> FetchSummary:
    """Fetch a window of ``source`` into the store ``con``, page by page.

    With no ``since``, an unfinished window is carried on from its next page, else a new one
    starts where the last ended. ``until`` defaults to now; ``stages`` to every stage (or,
    carrying on, the last window's). ``pace`` is the seconds between requests (default: the
    source's, under its published limit); ``max_pages`` stops after that many pages (the rest
    is carried on by the next run).
    """
    page_size = page_size or source.page_size
    run, resumed, note = _plan(
        con, source, since, until, stages, base_url, download_dir, page_size, now()
    )
    if run is None:
        return FetchSummary(source.name, None, None, False, True, note=note)
    summary = FetchSummary(
        source=source.name,
        window_from=run.window_from.isoformat(),
        window_to=run.window_to.isoformat(),
        resumed=resumed,
        complete=run.complete,
        download_dir=run.download_dir,
    )
    span = max((run.window_to - run.window_from).total_seconds(), 1.0)

    def report(waiting: str | None = None, seconds: float = 0.0) -> None:
        if progress is None:
            return
        covered = 1.0 if run.complete else 0.0
        if run.last_date is not None and not run.complete:
            covered = (run.last_date - run.window_from).total_seconds() / span
        progress(
            FetchProgress(
                source.name,
                run.pages,
                run.releases,
                run.rejected,
                min(1.0, max(0.0, covered)),
                waiting,
                seconds,
            )
        )

    owned = client is None
    http = client or httpx.Client(
        timeout=REQUEST_TIMEOUT,
        follow_redirects=True,
        headers={"Accept": "application/json", "User-Agent": f"locality/{__version__}"},
    )
    pages = PageClient(
        http,
        Pacer(pace if pace is not None else source.pace_seconds, clock, sleep),
        rng=rng,
        on_wait=lambda seconds, why: report(why, seconds),
        **({"max_attempts": max_attempts} if max_attempts else {}),
    )
    folder = Path(run.download_dir)
    report()
    try:
        while run.next_url is not None:
            if max_pages is not None and summary.pages >= max_pages:
                break
            url = run.next_url
            number = run.pages + 1
            path = folder / page_file_name(number, url, first=run.last_cursor is None)
            page = _saved_page(path, url)
            if page is not None:
                summary.pages_read_back += 1
            else:
                page = pages.get(url)
                if page.releases:
                    _save_page(path, page.body)
            if page.releases:
                loaded = _ingest_page(con, path)
                if loaded.skipped:
                    # Ingested by a run stopped before it could record the page.
                    loaded.rejected = loaded.rejected_in_store
                    loaded.kept = len(page.releases) - loaded.rejected
                summary.pages += 1
                summary.releases += loaded.kept
                summary.rejected += loaded.rejected
                summary.new_releases += loaded.new_releases
                summary.updated_releases += loaded.updated_releases
                summary.rejections.extend(
                    {
                        "page": number,
                        "file": str(path),
                        "index": _index(r["pointer"]),
                        "ocid": r["ocid"],
                        "reason": r["reason"],
                    }
                    for r in loaded.rejections
                )
                del summary.rejections[REJECTIONS_LISTED:]
                run.pages = number
                run.releases += loaded.kept
                run.rejected += loaded.rejected
                run.last_cursor = cursor_of(url) or "first"
                dates = [d for d in map(_release_date, page.releases) if d is not None]
                if dates:
                    run.last_date = max([*dates, *([run.last_date] if run.last_date else [])])
            if page.next_url == url:
                raise FetchError(f"{url}: the service links this page to itself; stopped")
            # A page with no releases ends the window even if it links on (some APIs link
            # an empty last page).
            run.next_url = page.next_url if page.releases else None
            if run.next_url is None:
                run.completed_at = now()
            save_progress(con, run, now())
            report()
    finally:
        summary.requests = pages.requests
        summary.retries = pages.retries
        if owned:
            http.close()
    summary.complete = run.complete
    summary.run = run.as_json()
    return summary


def _ingest_page(con: Any, path: Path) -> FileSummary:
    try:
        return ingest_file(con, path, jobs=1)
    except NotOcdsError as exc:
        # Every release on the page was unreadable: nothing of it is kept, say so and go on.
        summary = FileSummary(file=str(path), error=str(exc))
        summary.rejections = [{"pointer": None, "ocid": None, "reason": str(exc)}]
        summary.rejected = 1
        return summary


def _index(pointer: str | None) -> int | None:
    """``/releases/3`` → 3: a rejected release's place on its page."""
    if pointer and pointer.startswith("/releases/"):
        head = pointer.split("/")[2]
        return int(head) if head.isdigit() else None
    return None
