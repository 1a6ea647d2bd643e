"""An older store is upgraded in place when opened for writing, and keeps its data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import StoreError, connect
from locality.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import CF_RELEASES, FIND_A_TENDER
from tests.helpers import file_counts


def _make_version_1_store(path: Path) -> None:
    con = duckdb.connect(str(path))
    sql.run(con, "CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    for statement in MIGRATIONS[0]:
        sql.run(con, statement)
    sql.run(con, "INSERT INTO meta VALUES ('schema_version', '1')")
    con.close()


def test_version_1_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _make_version_1_store(path)
    with pytest.raises(StoreError, match="schema version 1"):
        connect(path, read_only=True)
    con = connect(path)
    try:
        assert sql.one(con, "SELECT value FROM meta WHERE key = 'schema_version'")[0] == str(
            SCHEMA_VERSION
        )
        columns = {c for (c,) in sql.rows(con, "SELECT column_name FROM (DESCRIBE organisations)")}
        assert "address_has_postcode" in columns
        # The migrated store loads data like a new one.
        ingest(con, [CF_RELEASES])
        processes = sql.one(con, "SELECT count(*) FROM processes")[0]
        assert processes == file_counts(CF_RELEASES)["processes"]
    finally:
        con.close()


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    connect(path).close()
    con = duckdb.connect(str(path))
    sql.run(con, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer locality"):
        connect(path)


def test_upgraded_store_recompiles_every_process_once(tmp_path: Path) -> None:
    """Migration 8 marks a store holding processes for recompiling: the next OCDS ingest fills
    the new columns of the processes already there, then clears the mark."""
    path = tmp_path / "store.duckdb"
    con = connect(path)
    try:
        ingest(con, [CF_RELEASES])
        # As an older store would hold them: processes without the new columns.
        sql.run(con, "UPDATE processes SET agreement_type = NULL, notice_form = NULL")
        sql.run(con, "INSERT INTO meta VALUES ('recompile_all', 'true')")
        ingest(con, [FIND_A_TENDER])
        assert sql.one(con, "SELECT count(*) FROM processes WHERE agreement_type IS NULL")[0] == 0
        assert sql.one(con, "SELECT count(*) FROM processes")[0] == (
            file_counts(CF_RELEASES)["processes"] + file_counts(FIND_A_TENDER)["processes"]
        )
        assert sql.rows(con, "SELECT * FROM meta WHERE key = 'recompile_all'") == []
    finally:
        con.close()
