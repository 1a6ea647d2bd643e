"""The golden file of the sample's counts (``tests/fixtures/sample_counts.json``) is what the
real ingest of the bundled sample gives: every file it read, and every table's row count.

Tests that assert a count of the sample read it from there (``tests.helpers``) instead of
writing the number again; this test keeps the file true. Nothing here regenerates it: when
the sample or an ingest rule changes, the file is edited by hand, on purpose.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from locality.store import sql
from tests.conftest import ROOT
from tests.helpers import SAMPLE_COUNTS, store_counts

TABLES = ("releases", "processes", "awards", "organisations", "rejected", "spend_payments")


def _table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {table: sql.one(con, f"SELECT count(*) FROM {table}")[0] for table in TABLES}


def test_the_golden_file_names_every_table() -> None:
    assert set(store_counts()) == set(TABLES)
    assert set(store_counts(with_spend=True)) == set(TABLES)


def test_store_counts_of_the_contracts(sample_store: duckdb.DuckDBPyConnection) -> None:
    assert _table_counts(sample_store) == store_counts()


def test_store_counts_with_spend(spend_store: duckdb.DuckDBPyConnection) -> None:
    assert _table_counts(spend_store) == store_counts(with_spend=True)


def test_file_counts(spend_store: duckdb.DuckDBPyConnection) -> None:
    """Every file the ingest read is in the golden file with its counts, and no other."""
    sample = ROOT / "data" / "sample"
    got = {}
    for source, kind, records_read, kept, rejected in sql.rows(
        spend_store,
        "SELECT source_file, kind, records_read, kept, rejected FROM ingested_files",
    ):
        counts = {"records_read": records_read, "kept": kept, "rejected": rejected}
        if kind == "ocds":
            counts["processes"] = sql.one(
                spend_store,
                "SELECT count(DISTINCT ocid) FROM releases WHERE source_file = ?",
                [source],
            )[0]
        got[Path(source).resolve().relative_to(sample).as_posix()] = counts
    assert got == SAMPLE_COUNTS["files"]
    # The files add up to the store: one file's processes are no other file's.
    ocds = [c for name, c in got.items() if name.startswith("ocds/")]
    assert sum(c["kept"] for c in ocds) == store_counts()["releases"]
    assert sum(c["processes"] for c in ocds) == store_counts()["processes"]
    spend = [c for name, c in got.items() if name.startswith("spend/")]
    assert sum(c["kept"] for c in spend) == store_counts(with_spend=True)["spend_payments"]
    assert sum(c["rejected"] for c in got.values()) == store_counts(with_spend=True)["rejected"]
