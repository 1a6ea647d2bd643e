"""Re-ingesting changes nothing; ingesting in steps gives what ingesting at once gives."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_RELEASES, SAMPLE
from tests.helpers import INGEST_TABLES, file_counts, read_jsonl, store_counts

# Every table the ingest fills, compared whole: no table here records when it was ingested
# (``ingested_files`` does, and is compared apart).
TABLES = INGEST_TABLES
PROCESS_TABLES = ("processes", "awards", "award_suppliers", "process_parties", "organisations")


def _snapshot(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> dict[str, Any]:
    return {t: sql.rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


@pytest.fixture
def with_rejection(tmp_path: Path) -> Path:
    """A few real releases (already in the sample) and one bad record, so ``rejected`` is
    not empty."""
    lines = CF_RELEASES.read_bytes().splitlines()[:3]
    broken = json.loads(lines[0])
    broken["awards"][0]["value"]["amount"] = "12,000"
    path = tmp_path / "extra" / "with-rejection.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"\n".join([*lines, json.dumps(broken).encode()]) + b"\n")
    return path


@pytest.mark.parametrize("force", [False, True], ids=["unchanged-skipped", "force"])
def test_ingesting_twice_changes_nothing(tmp_path: Path, with_rejection: Path, force: bool) -> None:
    con = connect(tmp_path / "store.duckdb")
    try:
        first = ingest(con, [SAMPLE, with_rejection])
        before = _snapshot(con, TABLES)
        files_before = sql.rows(
            con, "SELECT source_file, content_hash FROM ingested_files ORDER BY ALL"
        )
        second = ingest(con, [SAMPLE, with_rejection], force=force)
        after = _snapshot(con, TABLES)
        files_after = sql.rows(
            con, "SELECT source_file, content_hash FROM ingested_files ORDER BY ALL"
        )
    finally:
        con.close()
    # Guards: the store is the real sample, with one rejection.
    releases = store_counts()["releases"]
    assert len(before["releases"]) == releases
    assert len(before["processes"]) > 500
    assert len(before["rejected"]) == 1
    assert first.totals["new_releases"] == releases
    if force:
        assert not any(f.skipped for f in second.files)
        assert second.totals["kept"] == first.totals["kept"]
        assert second.totals["new_releases"] == 0
        assert second.totals["updated_releases"] == 0
        assert sum(f.unchanged_releases for f in second.files) == releases + 3
    else:
        assert all(f.skipped for f in second.files)
        assert second.totals["records_read"] == 0
    for table in TABLES:
        assert after[table] == before[table], table
    assert files_after == files_before
    assert len(files_after) == 7


def _split_by_version(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """File 1: each OCID's earliest release; file 2: the later releases of OCIDs with several."""
    lines = [line for line in CF_RELEASES.read_bytes().splitlines() if line.strip()]
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for position, line in enumerate(lines):
        release = json.loads(line)
        groups[release["ocid"]].append((release.get("date") or "", position))
    later = {position for versions in groups.values() for _, position in sorted(versions)[1:]}
    first = tmp_path / "part-1.jsonl"
    second = tmp_path / "part-2.jsonl"
    first.write_bytes(b"".join(ln + b"\n" for i, ln in enumerate(lines) if i not in later))
    second.write_bytes(b"".join(ln + b"\n" for i, ln in enumerate(lines) if i in later))
    updated = {ocid for ocid, versions in groups.items() if len(versions) > 1}
    return first, second, updated


def test_incremental_ingest_equals_ingest_at_once(tmp_path: Path) -> None:
    first, second, updated = _split_by_version(tmp_path)
    tags = {tag for r in read_jsonl(second) for tag in r.get("tag", []) if isinstance(tag, str)}
    assert {"tenderAmendment", "awardUpdate"} <= tags
    assert len(updated) == 18
    cf = file_counts(CF_RELEASES)
    assert len(read_jsonl(first)) == cf["processes"]
    assert len(read_jsonl(second)) == cf["kept"] - cf["processes"]

    con = connect(tmp_path / "steps.duckdb")
    try:
        ingest(con, [first])
        compiled_query = "SELECT ocid, compiled_release FROM processes ORDER BY ocid"
        step_1 = dict(sql.rows(con, compiled_query))
        step_2_summary = ingest(con, [second])
        step_2 = dict(sql.rows(con, compiled_query))
        in_steps = _snapshot(con, PROCESS_TABLES)
    finally:
        con.close()
    assert step_2_summary.files[0].new_releases == 20
    assert step_2_summary.files[0].processes == len(updated)

    con = connect(tmp_path / "at-once.duckdb")
    try:
        ingest(con, [CF_RELEASES])
        at_once = _snapshot(con, PROCESS_TABLES)
    finally:
        con.close()

    for table in PROCESS_TABLES:
        assert in_steps[table] == at_once[table], table
    assert set(step_1) == set(step_2)
    for ocid in step_1:
        if ocid in updated:
            assert step_1[ocid] != step_2[ocid], ocid
        else:
            assert step_1[ocid] == step_2[ocid], ocid


def _repeated_awards() -> dict[tuple[str, str], float]:
    """(ocid, award id) of awards published in several releases -> the latest value."""
    seen: dict[tuple[str, str], list[tuple[str, int, float]]] = defaultdict(list)
    for position, release in enumerate(read_jsonl(CF_RELEASES)):
        for award in release.get("awards") or []:
            amount = float((award.get("value") or {})["amount"])
            seen[(release["ocid"], award["id"])].append((release["date"], position, amount))
    return {key: max(versions)[2] for key, versions in seen.items() if len(versions) > 1}


def test_award_values_are_never_double_counted(sample_store: duckdb.DuckDBPyConnection) -> None:
    repeated = _repeated_awards()
    assert len({ocid for ocid, _ in repeated}) == 6
    rows = sql.rows(
        sample_store,
        """
        SELECT ocid, award_id, count(*), sum(value) FROM awards
        WHERE ocid IN (SELECT unnest(?)) GROUP BY ALL
        """,
        [sorted({ocid for ocid, _ in repeated})],
    )
    got = {(ocid, award_id): (n, value) for ocid, award_id, n, value in rows}
    assert got == {key: (1, value) for key, value in repeated.items()}
    # One award changed its value in the update (1,350 then 4,050): the latest counts.
    assert 4050 in repeated.values()
    naive = sum(
        (a.get("value") or {}).get("amount") or 0
        for r in read_jsonl(CF_RELEASES)
        for a in r.get("awards") or []
        if (r["ocid"], a["id"]) in repeated
    )
    stored = sum(value for _, value in got.values())
    assert stored == pytest.approx(sum(repeated.values()))
    assert naive > stored * 1.5  # summing every release would double count
    total, distinct = sql.one(
        sample_store, "SELECT count(*), count(DISTINCT (ocid, award_id)) FROM awards"
    )
    assert total == distinct
    assert total > 100


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("processes", "ocid"),
        ("organisations", "org_id"),
        ("process_parties", "ocid, org_id"),
        ("releases", "ocid, release_id"),
        ("awards", "ocid, award_id"),
        ("award_suppliers", "ocid, award_id, position"),
    ],
)
def test_uniqueness_invariants(
    sample_store: duckdb.DuckDBPyConnection, table: str, key: str
) -> None:
    total, distinct = sql.one(
        sample_store, f"SELECT count(*), count(DISTINCT ({key})) FROM {table}"
    )
    assert total > 0
    assert total == distinct, f"{table} has duplicate ({key})"
