"""SQL that moves one file into the store.

A file is first read, checked and compiled into a *staging* database (an in-memory DuckDB
database attached as ``stg``, which spills to disk), committing as it goes so memory stays
bounded however big the file is. Only then does one short transaction on the store apply it:

1. :func:`stage_releases` appends each batch of valid releases to ``stg.incoming``;
2. :func:`plan_releases` keeps the last copy of each (ocid, release id) and compares it
   with the store: identical means unchanged, different means it replaces the stored one.
   OCIDs with new or changed releases go to ``stg.touched``;
3. in the caller's transaction, :func:`begin_apply` swaps the releases and takes out the
   rows of every touched process; :func:`touched_release_batches` gives every release of
   each touched process (stored ones and new ones), so the caller recompiles it and
   :func:`insert_rows` writes its rows straight into the store (each row written once:
   staging them first cost as much again);
4. :func:`finish_apply` re-aggregates the organisations the touched processes mention.

A ``kill -9`` before the final commit leaves the store untouched: the staging database is
only scratch, and DuckDB discards the uncommitted transaction (whose big appends it writes
to the store file as it goes, so memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from locality.store import sql
from locality.store.schema import PROCESS_TABLES, SPEND_COLUMNS

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
    "packed",  # the release's JSON, zstd (locality/ingest/packing.py)
    "dict_id",
)

# Columns that arrive as text and are typed on insert (DuckDB parses ISO 8601 in bulk).
_TIMESTAMP_COLUMNS = {
    "first_date",
    "last_date",
    "tender_start",
    "tender_end",
    "award_date",
    "observed_date",
    "notice_date",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "seq": pa.int64(),
    "packed": pa.binary(),
    "dict_id": pa.int32(),
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
    "address_has_postcode": pa.bool_(),
    "amount_net": pa.float64(),
    "vcse_flag": pa.bool_(),
    "redacted": pa.bool_(),
    "is_card": pa.bool_(),
    "central_purchasing_body": pa.bool_(),
    "value_net": pa.float64(),
    "value_gross": pa.float64(),
    "tender_value_gross": pa.float64(),
    "bidders": pa.int32(),
    "final_stage_bidders": pa.int32(),
    "sme_final_stage_bidders": pa.int32(),
    "vcse_final_stage_bidders": pa.int32(),
    "related_lots": pa.list_(pa.string()),
    "additional_ids": pa.list_(pa.string()),
}

# Columns that arrive as ISO ``yyyy-mm-dd`` text and are stored as DATE.
_DATE_COLUMNS = {"payment_date"}

STAGING = "stg"


def next_seq(con: duckdb.DuckDBPyConnection) -> int:
    return int(sql.one(con, "SELECT coalesce(max(seq), 0) FROM releases")[0]) + 1


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
        f"TRY_CAST(NULLIF({c}, '') AS TIMESTAMPTZ) AS {c}"
        if c in _TIMESTAMP_COLUMNS
        else f"CAST({c} AS DATE) AS {c}"
        if c in _DATE_COLUMNS
        else c
        for c in columns
    )
    # Read by DuckDB's replacement scan (this frame's local), not con.register(): a view
    # registered and dropped inside an open transaction keeps its Arrow table alive until
    # the commit, so a file's whole rows would stay in memory (they do not this way).
    _arrow_batch = arrow  # named in the SQL below
    con.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM _arrow_batch"
    ).complete()


def open_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Attach a fresh in-memory staging database.

    It lives outside the store's transaction, so each batch is committed as it comes and
    DuckDB spills it to its temporary directory under the memory limit: memory stays
    bounded however large the file. A killed ingest leaves nothing behind in the store.
    """
    main = sql.one(con, "SELECT current_database()")[0]
    sql.run(con, f"ATTACH ':memory:' AS {STAGING}")
    for table in ("releases", "release_dictionaries"):
        name = {"releases": "incoming", "release_dictionaries": "dictionaries"}[table]
        sql.run(con, f'CREATE TABLE {STAGING}.{name} AS SELECT * FROM "{main}".{table} LIMIT 0')


def close_staging(con: duckdb.DuckDBPyConnection) -> None:
    sql.run(con, f"DETACH DATABASE IF EXISTS {STAGING}")


def stage_releases(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    insert_rows(con, f"{STAGING}.incoming", RELEASE_COLUMNS, rows)


def dictionaries(con: duckdb.DuckDBPyConnection) -> dict[int, bytes]:
    """Every dictionary releases are packed with: the store's, and one staged by this file."""
    found = sql.rows(
        con,
        f"SELECT dict_id, data FROM release_dictionaries "
        f"UNION ALL SELECT dict_id, data FROM {STAGING}.dictionaries",
    )
    return {int(dict_id): bytes(data) for dict_id, data in found}


def store_dictionary(con: duckdb.DuckDBPyConnection) -> tuple[int, bytes] | None:
    """The dictionary new releases are packed with (the latest), if the store has one."""
    found = sql.rows(
        con, "SELECT dict_id, data FROM release_dictionaries ORDER BY dict_id DESC LIMIT 1"
    )
    return (int(found[0][0]), bytes(found[0][1])) if found else None


def first_releases(
    con: duckdb.DuckDBPyConnection, limit: int
) -> list[tuple[bytes | None, int | None, str | None]]:
    """(packed, dict_id, data) of the store's first ``limit`` releases, to train on."""
    return [
        (None if packed is None else bytes(packed), dict_id, data)
        for packed, dict_id, data in sql.rows(
            con,
            "SELECT packed, dict_id, data::VARCHAR FROM releases ORDER BY seq LIMIT ?",
            [limit],
        )
    ]


def stage_dictionary(con: duckdb.DuckDBPyConnection, trained_on: int, data: bytes) -> int:
    """Stage a newly trained dictionary (saved with the file's releases); its id."""
    dict_id = int(sql.one(con, "SELECT coalesce(max(dict_id), 0) FROM release_dictionaries")[0])
    sql.run(
        con,
        f"INSERT INTO {STAGING}.dictionaries VALUES (?, ?, ?)",
        [dict_id + 1, trained_on, data],
    )
    return dict_id + 1


def plan_releases(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Compare the staged releases with the store; list touched OCIDs in ``stg.touched``.

    Returns the counts of new, updated and unchanged releases.
    """
    # The last copy read of each release, and what the store holds for it.
    sql.run(
        con,
        f"""
        CREATE TABLE {STAGING}.latest AS
        SELECT i.ocid, i.release_id, i.seq, i.content_hash, r.content_hash AS old_hash
        FROM (
            SELECT ocid, release_id, seq, content_hash FROM {STAGING}.incoming
            QUALIFY row_number() OVER (PARTITION BY ocid, release_id ORDER BY seq DESC) = 1
        ) i
        LEFT JOIN releases r USING (ocid, release_id)
        """,
    )
    new, updated, unchanged = (
        int(x)
        for x in sql.one(
            con,
            f"""
            SELECT count(*) FILTER (WHERE old_hash IS NULL),
                   count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> content_hash),
                   count(*) FILTER (WHERE old_hash = content_hash)
            FROM {STAGING}.latest
            """,
        )
    )
    sql.run(
        con,
        f"""
        CREATE TABLE {STAGING}.changed AS
        SELECT ocid, release_id, seq FROM {STAGING}.latest
        WHERE old_hash IS NULL OR old_hash <> content_hash
        """,
    )
    sql.run(con, f"CREATE TABLE {STAGING}.touched AS SELECT DISTINCT ocid FROM {STAGING}.changed")
    if sql.rows(con, "SELECT 1 FROM meta WHERE key = 'recompile_all'"):
        # A store upgraded to new process columns: every stored process is recompiled once.
        sql.run(
            con,
            f"INSERT INTO {STAGING}.touched SELECT DISTINCT ocid FROM processes "
            f"WHERE ocid NOT IN (SELECT ocid FROM {STAGING}.touched)",
        )
    return {"new": new, "updated": updated, "unchanged": unchanged}


def touched_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(sql.one(con, f"SELECT count(*) FROM {STAGING}.touched")[0])


# A stored release as the compile step reads it: ocid, packed JSON and its dictionary id,
# or (rows loaded before releases were packed) the JSON text (``ingest.workers`` too).
StoredRelease = tuple[str, bytes | None, int | None, str | None]


def touched_release_batches(
    con: duckdb.DuckDBPyConnection, processes_per_batch: int = 5_000
) -> Iterator[list[StoredRelease]]:
    """Every release of every touched process, grouped by ocid, in reading order.

    A process's releases are those the store keeps (less any this file replaces) and the
    new or changed ones from this file. They are streamed in one ordered scan on a second
    cursor (its own transaction: it sees the store as committed, whatever the caller's
    open transaction has changed), so the caller can write rows on ``con`` between
    batches; a batch never splits a process.
    """
    reader = con.cursor()
    try:
        reader.execute(
            f"""
            SELECT r.ocid, r.seq, r.packed, r.dict_id, r.data::VARCHAR FROM releases r
            SEMI JOIN {STAGING}.touched USING (ocid)
            ANTI JOIN {STAGING}.changed c USING (ocid, release_id)
            UNION ALL
            SELECT i.ocid, i.seq, i.packed, i.dict_id, NULL FROM {STAGING}.incoming i
            SEMI JOIN {STAGING}.changed c USING (seq)
            ORDER BY 1, 2
            """
        )
        batch: list[StoredRelease] = []
        processes = 0
        previous: str | None = None
        while chunk := reader.fetchmany(10_000):
            for ocid, _, packed, dict_id, data in chunk:
                if ocid != previous:
                    if processes >= processes_per_batch:
                        yield batch
                        batch, processes = [], 0
                    processes += 1
                    previous = ocid
                batch.append((ocid, packed, dict_id, data))
        if batch:
            yield batch
    finally:
        reader.close()


def begin_apply(con: duckdb.DuckDBPyConnection) -> None:
    """Swap the staged releases into the store and take out the rows of every touched
    process, to be written again as it is recompiled (caller holds a transaction)."""
    # Organisations the touched processes mentioned before this file, to re-aggregate.
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _touched_orgs AS
        SELECT org_id FROM process_parties SEMI JOIN {STAGING}.touched USING (ocid)
        UNION
        SELECT org_id FROM award_suppliers SEMI JOIN {STAGING}.touched USING (ocid)
        WHERE org_id IS NOT NULL
        """,
    )
    sql.run(con, f"INSERT INTO release_dictionaries SELECT * FROM {STAGING}.dictionaries")
    sql.run(
        con,
        f"""
        DELETE FROM releases WHERE (ocid, release_id) IN (
            SELECT (ocid, release_id) FROM {STAGING}.latest
            WHERE old_hash IS NOT NULL AND old_hash <> content_hash
        )
        """,
    )
    columns = ", ".join(RELEASE_COLUMNS)
    sql.run(
        con,
        f"""
        INSERT INTO releases ({columns})
        SELECT {columns} FROM {STAGING}.incoming SEMI JOIN {STAGING}.changed USING (seq)
        """,
    )
    for table in PROCESS_TABLES:
        sql.run(con, f"DELETE FROM {table} WHERE ocid IN (SELECT ocid FROM {STAGING}.touched)")


def finish_apply(con: duckdb.DuckDBPyConnection) -> None:
    """Once the touched processes are written again: re-aggregate their organisations."""
    sql.run(
        con,
        f"""
        INSERT INTO _touched_orgs
        SELECT org_id FROM process_parties SEMI JOIN {STAGING}.touched USING (ocid)
        """,
    )
    rebuild_organisations(con)
    sql.run(con, "DELETE FROM meta WHERE key = 'recompile_all'")


def rebuild_organisations(con: duckdb.DuckDBPyConnection) -> None:
    """Re-aggregate every organisation listed in ``_touched_orgs`` from ``process_parties``."""
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
                   arg_max(vcse_source, seen_at) FILTER (WHERE vcse IS NOT NULL)
                       AS vcse_source,
                   arg_max(buyer_type, seen_at) FILTER (WHERE buyer_type IS NOT NULL)
                       AS buyer_type,
                   count(DISTINCT ocid) FILTER (WHERE list_contains(roles, 'buyer'))
                       AS buyer_processes,
                   count(DISTINCT ocid) FILTER (WHERE list_contains(roles, 'supplier'))
                       AS supplier_processes,
                   min(observed_date) AS first_seen,
                   max(observed_date) AS last_seen,
                   bool_or(address_has_postcode) AS address_has_postcode
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
               coalesce(s.supplier_awards, 0), a.first_seen, a.last_seen,
               a.address_has_postcode, a.vcse_source, a.buyer_type
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
    insert_rejected(con, rows)


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


def loaded_files(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, int]]:
    """(source file, content hash, kind, rejected) of every file loaded."""
    return [
        (str(source), str(digest), str(kind), int(rejected or 0))
        for source, digest, kind, rejected in sql.rows(
            con, "SELECT source_file, content_hash, kind, rejected FROM ingested_files"
        )
    ]


def record_files(con: duckdb.DuckDBPyConnection, records: Sequence[dict[str, Any]]) -> None:
    """Record (replace) several loaded files at once; every record has the same keys."""
    if not records:
        return
    sql.run(
        con,
        "DELETE FROM ingested_files WHERE source_file IN (SELECT unnest(?))",
        [[r["source_file"] for r in records]],
    )
    columns = ", ".join(records[0])
    con.register("_files", pa.Table.from_pylist(list(records)))
    try:
        sql.run(
            con,
            f"INSERT INTO ingested_files ({columns}, ingested_at) "
            f"SELECT {columns}, now() FROM _files",
        )
    finally:
        con.unregister("_files")


def record_file(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> None:
    record_files(con, [values])


# ------------------------------------------------------------------------- spend files


def delete_spend(con: duckdb.DuckDBPyConnection, source_files: Sequence[str]) -> None:
    """Remove the files' payments and rejected lines (caller holds a transaction)."""
    for table in ("spend_payments", "rejected"):
        sql.run(con, f"DELETE FROM {table} WHERE source_file IN (SELECT unnest(?))", [source_files])


def insert_spend(con: duckdb.DuckDBPyConnection, payments: pa.Table) -> None:
    """Insert an Arrow table of payments in ``spend_payments``' columns."""
    if payments.num_rows == 0:
        return
    con.register("_payments", payments)
    try:
        columns = ", ".join(SPEND_COLUMNS)
        sql.run(con, f"INSERT INTO spend_payments ({columns}) SELECT {columns} FROM _payments")
    finally:
        con.unregister("_payments")


def insert_rejected(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    insert_rows(
        con,
        "rejected",
        ("source_file", "source_line", "source_pointer", "ocid", "reason", "raw"),
        rows,
    )
