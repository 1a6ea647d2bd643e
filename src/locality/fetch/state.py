"""Where each fetch stopped, kept in the store's ``fetch_runs`` table (one row per window).

A row is written when a window starts and updated after every page is ingested, so after a
crash or Ctrl+C the last row of a source says which page to get next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from locality.store import sql

_COLUMNS = (
    "run_id",
    "source",
    "base_url",
    "window_from",
    "window_to",
    "stages",
    "page_size",
    "download_dir",
    "pages",
    "releases",
    "rejected",
    "last_cursor",
    "next_url",
    "last_date",
    "started_at",
    "updated_at",
    "completed_at",
)


@dataclass
class FetchRun:
    run_id: int
    source: str
    base_url: str
    window_from: datetime
    window_to: datetime
    stages: str | None
    page_size: int
    download_dir: str
    pages: int = 0
    releases: int = 0
    rejected: int = 0
    last_cursor: str | None = None
    next_url: str | None = None
    last_date: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.completed_at is not None

    def as_json(self) -> dict[str, Any]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((c, getattr(self, c)) for c in _COLUMNS)
        }


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def last_run(con: duckdb.DuckDBPyConnection, source: str) -> FetchRun | None:
    """The latest window of ``source`` (finished or not), or None if never fetched."""
    found = sql.rows(
        con,
        f"SELECT {', '.join(_COLUMNS)} FROM fetch_runs WHERE source = ? "
        "ORDER BY run_id DESC LIMIT 1",
        [source],
    )
    if not found:
        return None
    return FetchRun(*(_utc(v) for v in found[0]))


def last_runs(con: duckdb.DuckDBPyConnection) -> list[FetchRun]:
    """The latest window of every source fetched, by source name."""
    found = sql.rows(
        con,
        f"SELECT {', '.join(_COLUMNS)} FROM fetch_runs "
        "QUALIFY row_number() OVER (PARTITION BY source ORDER BY run_id DESC) = 1 ORDER BY source",
    )
    return [FetchRun(*(_utc(v) for v in row)) for row in found]


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(sql.one(con, "SELECT coalesce(max(run_id), 0) + 1 FROM fetch_runs")[0])


def start_run(con: duckdb.DuckDBPyConnection, run: FetchRun, now: datetime) -> FetchRun:
    """Record a new window (``run.run_id`` from ``next_run_id``)."""
    run.started_at = run.updated_at = now
    values = [getattr(run, c) for c in _COLUMNS]
    sql.run(
        con,
        f"INSERT INTO fetch_runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(values))})",
        values,
    )
    return run


def save_progress(con: duckdb.DuckDBPyConnection, run: FetchRun, now: datetime) -> None:
    """Record the pages done and the next page to get (None with ``completed_at``: done)."""
    run.updated_at = now
    sql.run(
        con,
        """
        UPDATE fetch_runs SET pages = ?, releases = ?, rejected = ?, last_cursor = ?,
            next_url = ?, last_date = ?, updated_at = ?, completed_at = ?
        WHERE run_id = ?
        """,
        [
            run.pages,
            run.releases,
            run.rejected,
            run.last_cursor,
            run.next_url,
            run.last_date,
            run.updated_at,
            run.completed_at,
            run.run_id,
        ],
    )
