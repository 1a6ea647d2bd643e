"""Open the store: one DuckDB file, created and migrated on first use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from locality.domain.names import normalise_name
from locality.reference import (
    central_purchasing_bodies,
    cpv_themes,
    district_table,
    local_authorities,
)
from locality.store import sql
from locality.store.schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_DB = "locality.duckdb"


class StoreError(RuntimeError):
    """A store problem a user can fix; the message says how."""


def default_db_path() -> Path:
    return Path(os.environ.get("LOCALITY_DB") or DEFAULT_DB)


def memory_limit() -> str:
    """DuckDB's memory limit for queries: ``LOCALITY_MEMORY_LIMIT`` (e.g. ``4GB``), else half
    this machine's memory and at least 1 GB.

    Why not a fixed 1 GB: the measures over a national store (1M releases) hash more than
    that (``locality metrics --by buyer`` and the dashboard's refresh ran out of memory at
    1 GB). Why not DuckDB's own 80%: the dashboard's server, Python and the ingest's workers
    need the rest. A load keeps its own, smaller limits (``ingest.pipeline``)."""
    given = os.environ.get("LOCALITY_MEMORY_LIMIT")
    if given:
        return given
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: DuckDB's old default
        return "1GB"
    return f"{max(1024, total // 2 // (1 << 20))}MB"


def out_of_memory_hint() -> str:
    """What to say when DuckDB ran out of memory: the limit, and how to raise it."""
    return (
        f"the store's queries ran out of memory (limit {memory_limit()}): set "
        "LOCALITY_MEMORY_LIMIT higher (e.g. LOCALITY_MEMORY_LIMIT=8GB), or narrow the question "
        "(--where, --places)"
    )


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = sql.one(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    )
    if not exists or not exists[0]:
        return 0
    found = sql.rows(con, "SELECT value FROM meta WHERE key = 'schema_version'")
    return int(found[0][0]) if found else 0


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    con.register("_reference_in", data)
    try:
        sql.run(con, f"DELETE FROM {table}")
        sql.run(con, f"INSERT INTO {table} SELECT * FROM _reference_in")
    finally:
        con.unregister("_reference_in")


def _columns(rows: list[Any], fields: list[tuple[str, str]]) -> pa.Table:
    return pa.table({name: [getattr(r, attr) for r in rows] for name, attr in fields})


def _load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Copy the package's reference tables into the store, for joins in SQL and metrics."""
    _replace_table(
        con,
        "ref_districts",
        _columns(
            district_table(),
            [
                ("outward_code", "outward"),
                ("lad_code", "lad_code"),
                ("lad_name", "lad_name"),
                ("la_code", "la_code"),
                ("la_name", "la_name"),
                ("la_registry_code", "la_registry_code"),
                ("region_code", "region_code"),
                ("region_name", "region_name"),
                ("country", "country"),
            ],
        ),
    )
    if _has_table(con, "ref_local_authorities"):
        _replace_table(
            con,
            "ref_local_authorities",
            _columns(
                local_authorities(),
                [
                    ("la_registry_code", "code"),
                    ("official_name", "official_name"),
                    ("nice_name", "nice_name"),
                    ("gss_code", "gss_code"),
                    ("nation", "nation"),
                    ("region", "region"),
                    ("la_type", "type"),
                    ("combined_authority", "combined_authority"),
                    ("is_current", "current"),
                ],
            ),
        )
    if _has_table(con, "ref_central_purchasing_bodies"):
        _replace_table(con, "ref_central_purchasing_bodies", _central_purchasing_table())
    if _has_table(con, "ref_cpv_themes"):
        themes = list(cpv_themes().values())
        _replace_table(
            con,
            "ref_cpv_themes",
            _columns(themes, [("cpv_division", "division"), ("theme", "theme")]),
        )


def _central_purchasing_table() -> pa.Table:
    bodies = central_purchasing_bodies()
    rows = [(body, spelling) for body in bodies for spelling in body.spellings]
    return pa.table(
        {
            "name": [body.name for body, _ in rows],
            "name_normalised": [normalise_name(spelling) for _, spelling in rows],
            "identifiers": [list(body.identifiers) for body, _ in rows],
            "kind": [body.kind for body, _ in rows],
            "note": [body.note for body, _ in rows],
        }
    )


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        sql.one(
            con,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            [table],
        )[0]
    )


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
    sql.run(con, f"SET memory_limit = '{memory_limit()}'")
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
