"""An ingest killed with SIGKILL leaves the store as it was before the file it was loading."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_LEGACY_AWARDS, CF_RELEASES
from tests.helpers import INGEST_TABLES, file_counts

TABLES = (*INGEST_TABLES, "ingested_files")


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every table."""
    snapshot = {}
    for table in TABLES:
        count, digest = sql.one(
            con, f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {table} t"
        )
        snapshot[table] = (count, digest)
    return snapshot


def test_kill_9_during_a_file_keeps_the_store_as_before(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    con = connect(db)
    ingest(con, [CF_RELEASES])
    before = _snapshot(con)
    con.close()
    assert before["releases"][0] == file_counts(CF_RELEASES)["kept"]

    marker = tmp_path / "paused"
    env = {**os.environ, "LOCALITY_PAUSE_BEFORE_COMMIT": str(marker)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from locality.cli import main; main()",
            "--db",
            str(db),
            "ingest",
            str(CF_RELEASES),  # unchanged: skipped, no transaction
            str(CF_LEGACY_AWARDS),  # paused inside its transaction, then killed
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the ingest never reached its commit"
            time.sleep(0.05)
        # All of the file's rows are in the open transaction now.
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    con = connect(db)
    try:
        assert _snapshot(con) == before
        # The store is usable: the same file now loads completely.
        summary = ingest(con, [CF_LEGACY_AWARDS])
        legacy = file_counts(CF_LEGACY_AWARDS)["kept"]
        assert summary.files[0].kept == legacy
        assert sql.one(con, "SELECT count(*) FROM releases")[0] == (
            file_counts(CF_RELEASES)["kept"] + legacy
        )
    finally:
        con.close()
