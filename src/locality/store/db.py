"""Open the store: one DuckDB file, created and migrated on first use."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from locality.reference import district_table
from locality.store import sql
from locality.store.schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_DB = "locality.duckdb"


class StoreError(RuntimeError):
    """A store problem a user can fix; the message says how."""


def default_db_path() -> Path:
    return Path(os.environ.get("LOCALITY_DB") or DEFAULT_DB)


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = sql.one(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    )
    if not exists or not exists[0]:
        return 0
    found = sql.rows(con, "SELECT value FROM meta WHERE key = 'schema_version'")
    return int(found[0][0]) if found else 0


def _load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Copy the postcode-district → local authority table into the store, for joins."""
    rows = district_table()
    table = pa.table(
        {
            name: [getattr(d, attr) for d in rows]
            for name, attr in (
                ("outward_code", "outward"),
                ("lad_code", "lad_code"),
                ("lad_name", "lad_name"),
                ("la_code", "la_code"),
                ("la_name", "la_name"),
                ("la_registry_code", "la_registry_code"),
                ("region_code", "region_code"),
                ("region_name", "region_name"),
                ("country", "country"),
            )
        }
    )
    con.register("_ref_districts_in", table)
    sql.run(con, "DELETE FROM ref_districts")
    sql.run(con, "INSERT INTO ref_districts SELECT * FROM _ref_districts_in")
    con.unregister("_ref_districts_in")


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    version = _schema_version(con)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"this store was written by a newer locality (schema {version}, "
            f"this version knows {SCHEMA_VERSION}): upgrade locality"
        )
    if version == SCHEMA_VERSION:
        return
    con.begin()
    try:
        sql.run(con, "CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)")
        for number, statements in enumerate(MIGRATIONS, 1):
            if number <= version:
                continue
            for statement in statements:
                sql.run(con, statement)
        _load_reference(con)
        sql.run(con, "DELETE FROM meta WHERE key = 'schema_version'")
        sql.run(con, "INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        con.commit()
    except BaseException:
        con.rollback()
        raise


def connect(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (and if needed create and migrate) the store at ``path``."""
    db = Path(path) if path is not None else default_db_path()
    if read_only and not db.exists():
        raise StoreError(
            f"no store at {db}: load data first, e.g. `locality ingest data/sample/ocds`"
        )
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise StoreError(
                f"{db} is in use by another locality process; wait for it to finish"
            ) from exc
        raise StoreError(f"cannot open the store {db}: {message}") from exc
    sql.run(con, "SET TimeZone = 'UTC'")
    sql.run(con, f"SET memory_limit = '{os.environ.get('LOCALITY_MEMORY_LIMIT', '1GB')}'")
    if read_only:
        version = _schema_version(con)
        if version != SCHEMA_VERSION:
            con.close()
            raise StoreError(
                f"{db} has schema version {version}, expected {SCHEMA_VERSION}: "
                "open it once for writing (e.g. `locality ingest`) to migrate it"
            )
    else:
        migrate(con)
    return con
