"""SQL that moves one file's releases into the store, inside the caller's transaction.

Flow for a file (see docs/architecture.md):

1. :func:`stage_releases` appends every valid release read, tagged with this load's
   sequence range;
2. :func:`settle_releases` keeps one row per (ocid, release id): an identical re-read is
   dropped (unchanged), a changed one replaces the old row, and the touched OCIDs are listed
   in ``_touched``;
3. the caller recompiles each touched process (:func:`touched_release_batches`) and
   :func:`replace_process_rows` swaps its rows;
4. :func:`rebuild_organisations` re-aggregates the organisations those processes mention.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from locality.store import sql
from locality.store.schema import PROCESS_TABLES

RELEASE_COLUMNS = (
    "seq",
    "ocid",
    "release_id",
    "release_date",
    "tags",
    "content_hash",
    "source_file",
    "source_line",
    "source_pointer",
    "data",
)

# Columns that arrive as text and are typed on insert (DuckDB parses ISO 8601 in bulk).
_TIMESTAMP_COLUMNS = {
    "first_date",
    "last_date",
    "tender_start",
    "tender_end",
    "award_date",
    "observed_date",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "seq": pa.int64(),
    "source_line": pa.int64(),
    "tags": pa.list_(pa.string()),
    "roles": pa.list_(pa.string()),
    "release_count": pa.int32(),
    "lot_count": pa.int32(),
    "award_count": pa.int32(),
    "supplier_count": pa.int32(),
    "position": pa.int32(),
    "value": pa.float64(),
    "value_share": pa.float64(),
    "tender_value": pa.float64(),
    "suitable_sme": pa.bool_(),
    "suitable_vcse": pa.bool_(),
    "vcse": pa.bool_(),
}


def next_seq(con: duckdb.DuckDBPyConnection) -> int:
    row = sql.one(con, "SELECT coalesce(max(seq), 0) FROM releases")
    return int(row[0]) + 1 if row else 1


def _arrow(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pa.table(
        {
            name: pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
            for name, values in zip(columns, data, strict=True)
        }
    )


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert row tuples through Arrow, casting ISO 8601 text to timestamps in bulk."""
    if not rows:
        return
    arrow = _arrow(columns, rows)
    select = ", ".join(
        f"TRY_CAST(NULLIF({c}, '') AS TIMESTAMPTZ) AS {c}" if c in _TIMESTAMP_COLUMNS else c
        for c in columns
    )
    con.register("_batch", arrow)
    try:
        sql.run(con, f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM _batch")
    finally:
        con.unregister("_batch")


def stage_releases(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    insert_rows(con, "releases", RELEASE_COLUMNS, rows)


def settle_releases(con: duckdb.DuckDBPyConnection, first_seq: int) -> dict[str, int]:
    """Deduplicate the releases staged from ``first_seq`` on against the store.

    Returns counts of new, updated and unchanged releases, and fills ``_touched`` with the
    OCIDs whose releases changed.
    """
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _staged AS
        SELECT ocid, release_id, seq, content_hash,
               row_number() OVER (PARTITION BY ocid, release_id ORDER BY seq DESC) AS rank_in_load
        FROM releases WHERE seq >= {first_seq}
        """,
    )
    # The last copy read of each release in this load.
    sql.run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _latest AS
        SELECT s.ocid, s.release_id, s.seq, s.content_hash, old.content_hash AS old_hash
        FROM _staged s
        LEFT JOIN (SELECT ocid, release_id, content_hash FROM releases WHERE seq < ?) old
          USING (ocid, release_id)
        WHERE s.rank_in_load = 1
        """,
        [first_seq],
    )
    counts_row = sql.one(
        con,
        """
        SELECT count(*) FILTER (WHERE old_hash IS NULL),
               count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> content_hash),
               count(*) FILTER (WHERE old_hash = content_hash)
        FROM _latest
        """,
    )
    assert counts_row is not None
    new, updated, unchanged = (int(x) for x in counts_row)
    # Drop earlier copies within this load, and rows identical to what the store holds.
    sql.run(
        con,
        f"""
        DELETE FROM releases WHERE seq >= {first_seq} AND seq NOT IN (
            SELECT seq FROM _latest WHERE old_hash IS NULL OR old_hash <> content_hash
        )
        """,
    )
    # A changed release replaces the stored one.
    sql.run(
        con,
        f"""
        DELETE FROM releases WHERE seq < {first_seq} AND (ocid, release_id) IN (
            SELECT (ocid, release_id) FROM _latest
            WHERE old_hash IS NOT NULL AND old_hash <> content_hash
        )
        """,
    )
    sql.run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT DISTINCT ocid FROM _latest WHERE old_hash IS NULL OR old_hash <> content_hash
        """,
    )
    sql.run(con, "DROP TABLE _staged")
    sql.run(con, "DROP TABLE _latest")
    return {"new": new, "updated": updated, "unchanged": unchanged}


def touched_count(con: duckdb.DuckDBPyConnection) -> int:
    row = sql.one(con, "SELECT count(*) FROM _touched")
    return int(row[0]) if row else 0


def touched_release_batches(
    con: duckdb.DuckDBPyConnection, processes_per_batch: int = 5_000
) -> Iterator[list[tuple[str, str]]]:
    """(ocid, release JSON) of every touched process, grouped by ocid, in reading order.

    Yields one fully fetched batch of processes at a time (DuckDB allows no other statement
    on the connection while a result is open, and the caller inserts between batches).
    """
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _touched_batches AS
        SELECT ocid, (row_number() OVER (ORDER BY ocid) - 1) // {int(processes_per_batch)} AS batch
        FROM _touched
        """,
    )
    batches = int(sql.one(con, "SELECT coalesce(max(batch) + 1, 0) FROM _touched_batches")[0])
    for batch in range(batches):
        yield sql.rows(
            con,
            """
            SELECT r.ocid, r.data FROM releases r
            SEMI JOIN (SELECT ocid FROM _touched_batches WHERE batch = ?) t ON r.ocid = t.ocid
            ORDER BY r.ocid, r.seq
            """,
            [batch],
        )
    sql.run(con, "DROP TABLE _touched_batches")


def begin_process_replacement(con: duckdb.DuckDBPyConnection) -> None:
    """Remember which organisations the touched processes mentioned, then clear their rows."""
    sql.run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _touched_orgs AS
        SELECT DISTINCT org_id FROM process_parties SEMI JOIN _touched USING (ocid)
        UNION
        SELECT DISTINCT org_id FROM award_suppliers SEMI JOIN _touched USING (ocid)
        WHERE org_id IS NOT NULL
        """,
    )
    for table in PROCESS_TABLES:
        sql.run(con, f"DELETE FROM {table} WHERE ocid IN (SELECT ocid FROM _touched)")


def rebuild_organisations(con: duckdb.DuckDBPyConnection) -> None:
    """Re-aggregate every organisation the touched processes mention (before or after)."""
    sql.run(
        con,
        """
        INSERT INTO _touched_orgs
        SELECT DISTINCT org_id FROM process_parties SEMI JOIN _touched USING (ocid)
        """,
    )
    sql.run(con, "DELETE FROM organisations WHERE org_id IN (SELECT org_id FROM _touched_orgs)")
    # Attributes: the latest observation that knows them (a firm's size can change; the
    # most recent notice is the best guess of what it is now).
    sql.run(
        con,
        """
        INSERT INTO organisations
        WITH wanted AS (SELECT DISTINCT org_id FROM _touched_orgs),
        seen AS (
            SELECT p.*, coalesce(p.observed_date, TIMESTAMPTZ '1900-01-01') AS seen_at
            FROM process_parties p SEMI JOIN wanted USING (org_id)
        ),
        agg AS (
            SELECT org_id,
                   any_value(scheme) AS scheme,
                   any_value(identifier) AS identifier,
                   any_value(identity_method) AS identity_method,
                   arg_max(name, seen_at) FILTER (WHERE name IS NOT NULL) AS name,
                   arg_max(postcode, seen_at) FILTER (WHERE postcode IS NOT NULL) AS postcode,
                   coalesce(arg_max(scale, seen_at) FILTER (WHERE scale <> 'unknown'), 'unknown')
                       AS scale,
                   arg_max(vcse, seen_at) FILTER (WHERE vcse IS NOT NULL) AS vcse,
                   count(DISTINCT ocid) FILTER (WHERE list_contains(roles, 'buyer'))
                       AS buyer_processes,
                   count(DISTINCT ocid) FILTER (WHERE list_contains(roles, 'supplier'))
                       AS supplier_processes,
                   min(observed_date) AS first_seen,
                   max(observed_date) AS last_seen
            FROM seen GROUP BY org_id
        ),
        supplied AS (
            SELECT org_id, count(*) AS supplier_awards
            FROM award_suppliers SEMI JOIN wanted USING (org_id) GROUP BY org_id
        )
        SELECT a.org_id, a.scheme, a.identifier, a.identity_method, a.name, a.postcode,
               split_part(a.postcode, ' ', 1) AS outward_code, a.scale, a.vcse,
               d.la_code, d.la_name, d.la_registry_code, d.region_code, d.region_name,
               d.country, a.buyer_processes, a.supplier_processes,
               coalesce(s.supplier_awards, 0), a.first_seen, a.last_seen
        FROM agg a
        LEFT JOIN supplied s USING (org_id)
        LEFT JOIN ref_districts d ON d.outward_code = split_part(a.postcode, ' ', 1)
        """,
    )
    sql.run(con, "DROP TABLE _touched_orgs")


def replace_rejected(
    con: duckdb.DuckDBPyConnection, source_file: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    sql.run(con, "DELETE FROM rejected WHERE source_file = ?", [source_file])
    insert_rows(
        con,
        "rejected",
        ("source_file", "source_line", "source_pointer", "ocid", "reason", "raw"),
        rows,
    )


def loaded_file_counts(
    con: duckdb.DuckDBPyConnection, source_file: str, content_hash: str
) -> tuple[int, int, int] | None:
    """(records read, kept, rejected) if this exact file content is already loaded."""
    found = sql.rows(
        con,
        """
        SELECT records_read, kept, rejected FROM ingested_files
        WHERE source_file = ? AND content_hash = ?
        """,
        [source_file, content_hash],
    )
    if not found:
        return None
    read, kept, rejected = found[0]
    return int(read), int(kept), int(rejected)


def record_file(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    sql.run(con, "DELETE FROM ingested_files WHERE source_file = ?", [values["source_file"]])
    columns = list(values)
    sql.run(
        con,
        f"INSERT INTO ingested_files ({', '.join(columns)}, ingested_at) "
        f"VALUES ({', '.join('?' for _ in columns)}, now())",
        [values[c] for c in columns],
    )
