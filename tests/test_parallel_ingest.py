"""Compiling in worker processes gives exactly the rows compiling in this process gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from locality.ingest import pipeline
from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import SAMPLE
from tests.helpers import store_counts

TABLES = ("releases", "processes", "awards", "award_suppliers", "process_parties", "organisations")


def _contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = connect(path, read_only=True)
    try:
        return {
            table: sql.rows(con, f"SELECT * EXCLUDE (seq) FROM {table} ORDER BY ALL")
            if table == "releases"
            else sql.rows(con, f"SELECT * FROM {table} ORDER BY ALL")
            for table in TABLES
        }
    finally:
        con.close()


@pytest.mark.slow
def test_worker_processes_give_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial, parallel = tmp_path / "serial.duckdb", tmp_path / "parallel.duckdb"
    con = connect(serial)
    ingest(con, [SAMPLE], jobs=1)
    con.close()

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_PROCESSES", 0)
    monkeypatch.setattr(pipeline, "PROCESS_BATCH", 40)  # many batches in flight
    con = connect(parallel)
    summary = ingest(con, [SAMPLE], jobs=2)
    con.close()
    assert summary.totals["processes"] == store_counts()["processes"]

    assert _contents(serial) == _contents(parallel)
