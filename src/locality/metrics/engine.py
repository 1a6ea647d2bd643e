"""Engines for the metric definitions: DuckDB (the store) and Spark.

The measures in ``locality.metrics`` are Ibis expressions over the store's tables, read by
name (``Tables.from_backend``: processes, awards, award_suppliers, process_parties,
organisations, ref_local_authorities, ref_cpv_themes). Any Ibis backend that has tables
with those names and columns runs them unchanged::

    from locality.metrics import run
    from locality.metrics.engine import spark_backend

    run(store_con, None, "region")                        # DuckDB, the store itself
    run(spark_backend("locality.duckdb"), None, "region")  # the same on Spark, local mode

``spark_backend`` copies the tables from a store to Parquet, starts (or reuses) a local
SparkSession, registers each file as a temporary view with the table's name and returns
``ibis.pyspark.connect(session)``. Install it with ``pip install 'locality[spark]'``; Spark
needs Java 17 or newer.

The payment measures (``run_payments``) read ``spend_payments`` and ``spend_suppliers``
(one row per spend supplier with what is known of it: ``enrich.resolve.SUPPLIERS_SQL``,
exported as a table).

On a cluster, skip the copy: make the tables of ``STORE_TABLES`` visible to your own
SparkSession under the same names, then connect Ibis to it. For example, with the tables
already written as Parquet (``locality`` can write them with ``export_parquet``) or kept in
a catalog::

    import ibis
    from pyspark.sql import SparkSession

    from locality.metrics import run
    from locality.metrics.engine import STORE_TABLES

    spark = SparkSession.builder.getOrCreate()            # your cluster's session
    for name in STORE_TABLES:
        spark.read.parquet(f"s3://bucket/locality/{name}.parquet").createOrReplaceTempView(name)
    # or, for tables in a catalog database: spark.catalog.setCurrentDatabase("locality")
    run(ibis.pyspark.connect(spark), None, "buyer")

Set ``spark.sql.session.timeZone`` to UTC (``ibis.pyspark.connect`` does) so years and
financial years are counted as the store counts them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import ibis

from locality.enrich.resolve import SUPPLIERS_SQL
from locality.metrics import duckdb_backend
from locality.metrics.facts import SpendTables, Tables
from locality.store import sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The store tables the metric definitions read, by name.
# What the metrics (Tables), the red flags (FlagTables) and the payment measures
# (SpendTables) read.
STORE_TABLES: tuple[str, ...] = (
    *Tables.__dataclass_fields__,
    "award_versions",
    "releases",
    *SpendTables.__dataclass_fields__,
)
# Tables exported only in part: the flags need a release's date and tags, not its JSON.
EXPORT_COLUMNS: dict[str, str] = {"releases": "ocid, release_date, tags"}
# Relations exported as a query's result: what is known of each spend supplier is the
# enrichment stage's result (matches, registers, user facts), read as one table.
EXPORT_QUERIES: dict[str, str] = {"spend_suppliers": SUPPLIERS_SQL}

# A small local session: two cores, few shuffle partitions (the store's tables are small
# next to what Spark is built for), no web UI, UTC like the store.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "1g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def duckdb_tables(con: duckdb.DuckDBPyConnection) -> Tables:
    """The store's tables on a DuckDB connection, as the metric definitions read them."""
    return Tables.from_backend(duckdb_backend(con))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_parquet(
    con: duckdb.DuckDBPyConnection, directory: str | PathLike[str]
) -> dict[str, Path]:
    """Write each table in ``STORE_TABLES`` to ``directory/NAME.parquet``; return the paths.

    Whole tables (``releases`` without its JSON; ``spend_suppliers``: one row per spend
    supplier, ``enrich.resolve.SUPPLIERS_SQL``), every column as the store has it (Spark
    reads DuckDB's JSON columns as text, its TIMESTAMP WITH TIME ZONE as timestamps and its
    lists as arrays).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    present = {row[0] for row in sql.rows(con, "SELECT table_name FROM information_schema.tables")}
    paths: dict[str, Path] = {}
    for name in STORE_TABLES:
        if name in EXPORT_QUERIES:
            query = EXPORT_QUERIES[name]
        elif name not in present:
            raise KeyError(f"the store has no table {name!r}")
        else:
            query = f'SELECT {EXPORT_COLUMNS.get(name, "*")} FROM "{name}"'
        path = out / f"{name}.parquet"
        sql.run(con, f"COPY ({query}) TO {_quote(str(path))} (FORMAT parquet)")
        paths[name] = path
    return paths


def local_spark_session(
    master: str = "local[2]", conf: dict[str, str] | None = None
) -> SparkSession:
    """Start (or reuse, if one is running in this process) a local SparkSession."""
    from pyspark.sql import SparkSession

    settings = {**LOCAL_SPARK_CONF, **(conf or {})}
    builder: Any = SparkSession.builder.master(master).appName("locality")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session: SparkSession = builder.getOrCreate()
    # A session that was already running keeps its static settings (memory, UI); the
    # SQL settings can still be changed, and these matter for the results or the speed.
    for key in ("spark.sql.session.timeZone", "spark.sql.shuffle.partitions"):
        session.conf.set(key, settings[key])
    return session


def _temporary_directory() -> Path:
    path = Path(tempfile.mkdtemp(prefix="locality-spark-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def spark_backend(
    store: str | PathLike[str] | duckdb.DuckDBPyConnection,
    session: SparkSession | None = None,
    workdir: str | PathLike[str] | None = None,
) -> ibis.BaseBackend:
    """An Ibis PySpark backend holding the store's tables, for ``locality.metrics.run``.

    ``store`` is a store path or an open DuckDB connection to one. The tables are copied
    to Parquet in ``workdir`` (a temporary directory removed at exit when not given; Spark
    reads the files lazily, so keep ``workdir`` while the backend is in use) and
    registered in ``session`` (a local ``local[2]`` session when not given) as temporary
    views with the tables' names, replacing views of the same names.
    """
    directory = Path(workdir) if workdir is not None else _temporary_directory()
    if isinstance(store, duckdb.DuckDBPyConnection):
        paths = export_parquet(store, directory)
    else:
        from locality.store.db import connect

        con = connect(store, read_only=True)
        try:
            paths = export_parquet(con, directory)
        finally:
            con.close()
    spark = session if session is not None else local_spark_session()
    for name, path in paths.items():
        spark.read.parquet(str(path)).createOrReplaceTempView(name)
    return ibis.pyspark.connect(spark)


__all__ = [
    "LOCAL_SPARK_CONF",
    "STORE_TABLES",
    "duckdb_tables",
    "export_parquet",
    "local_spark_session",
    "spark_backend",
]
