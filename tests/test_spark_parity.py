"""The whole metric registry on PySpark (local mode) gives what it gives on DuckDB.

Runs every dimension in ``DIMENSIONS`` (and a filtered case) over the bundled real sample
on both engines and compares the tables cell by cell: same columns and types, same groups,
integers and text equal, floats equal to 1e-9 relative and null together. Needs the
``spark`` extra and Java 17+ (``.ci/run`` installs both); skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from locality.metrics import DIMENSIONS, run
from tests.conftest import read_only

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason="pyspark is not installed (pip install -e '.[spark]')",
    ),
    pytest.mark.skipif(
        shutil.which("java") is None,
        reason="no java on PATH (Spark needs Java 17+, e.g. apt-get install default-jre-headless)",
    ),
    # PySpark 4.0 and Ibis call pandas APIs that pandas 3 deprecates; harmless here.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
]

REL_TOL = 1e-9
# Floats summed in a different order may differ in the last bits; a measure that is
# exactly zero on one engine may come out as a few ulps on the other.
ABS_TOL = 1e-12


@pytest.fixture(scope="module")
def duckdb_con(sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from read_only(sample_store_file)


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    """One local SparkSession for the module."""
    from locality.metrics.engine import local_spark_session

    session = local_spark_session()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def spark(
    duckdb_con: duckdb.DuckDBPyConnection,
    spark_session: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The sample's tables on Spark."""
    from locality.metrics.engine import spark_backend

    return spark_backend(duckdb_con, spark_session, tmp_path_factory.mktemp("spark-tables"))


@pytest.fixture(scope="module")
def spend_spark(
    spend_store: duckdb.DuckDBPyConnection,
    spark_session: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The sample with its council spend on Spark, in a session of its own (temporary views
    are per session, so the contract tables above stay as they are)."""
    from locality.metrics.engine import spark_backend

    return spark_backend(
        spend_store, spark_session.newSession(), tmp_path_factory.mktemp("spark-spend")
    )


def _sorted(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys]) if keys else table


def _same(expected: Any, got: Any, dtype: pa.DataType) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if pa.types.is_floating(dtype):
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return math.isclose(expected, got, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(expected == got)


def assert_same_tables(duck: pa.Table, spark: pa.Table, keys: Sequence[str]) -> None:
    assert spark.schema == duck.schema
    assert spark.num_rows == duck.num_rows
    duck, spark = _sorted(duck, keys), _sorted(spark, keys)
    key_rows = duck.select(list(keys)).to_pylist()  # [{}] per row when there are no keys
    assert spark.select(list(keys)).to_pylist() == key_rows, "the engines found other groups"
    differences = []
    for field in duck.schema:
        expected = duck.column(field.name).to_pylist()
        got = spark.column(field.name).to_pylist()
        for row, (e, g) in enumerate(zip(expected, got, strict=True)):
            if not _same(e, g, field.type):
                differences.append(f"{key_rows[row]} {field.name}: duckdb {e!r}, spark {g!r}")
    assert not differences, f"{len(differences)} cells differ:\n" + "\n".join(differences[:40])


CASES: list[tuple[str, Mapping[str, Sequence[str]] | None]] = [
    *((by, None) for by in DIMENSIONS),
    ("buyer", {"region": ["London"]}),
]


@pytest.mark.parametrize(
    ("by", "where"), CASES, ids=[f"{by}-where" if where else by for by, where in CASES]
)
def test_registry_on_spark_equals_duckdb(
    duckdb_con: duckdb.DuckDBPyConnection,
    spark: Any,
    by: str,
    where: Mapping[str, Sequence[str]] | None,
) -> None:
    keys = DIMENSIONS[by].keys
    duck = run(duckdb_con, None, by, where=where)
    assert duck.num_rows > 0
    assert_same_tables(duck, run(spark, None, by, where=where), keys)


def _naive_utc(table: pa.Table) -> pa.Table:
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def test_red_flags_on_spark_equal_duckdb(duckdb_con: duckdb.DuckDBPyConnection, spark: Any) -> None:
    """The red flags (dates, fences, value versions) give the same rows on both engines."""
    from locality.metrics.flags import buyer_risk, flags_table

    duck = _naive_utc(flags_table(duckdb_con))
    assert duck.num_rows > 0
    # Spark returns UTC timestamps without their zone; the instants are what must agree.
    assert_same_tables(duck, _naive_utc(flags_table(spark)), ["ocid"])
    assert_same_tables(buyer_risk(duckdb_con), buyer_risk(spark), ["buyer_id", "buyer_name"])


@pytest.mark.parametrize(("by", "include_transfers"), [("theme", False), ("body", True)])
def test_payment_families_on_spark_equal_duckdb(
    spend_store: duckdb.DuckDBPyConnection, spend_spark: Any, by: str, include_transfers: bool
) -> None:
    """The whole-place spend measures (payment reach, concentration) give the same table on
    both engines, themes and transfer payees classified once and joined on each."""
    from locality.metrics import PAYMENT_DIMENSIONS, run_payments
    from locality.spend.place import payment_labels

    themes, transfers = payment_labels(spend_store)
    assert themes and transfers
    options: dict[str, Any] = {
        "themes": themes,
        "transfers": transfers,
        "include_transfers": include_transfers,
    }
    duck = run_payments(spend_store, None, by, **options)
    assert duck.num_rows > 1
    assert all(v is not None for v in duck.column("hhi").to_pylist())
    keys = PAYMENT_DIMENSIONS[by].keys
    assert_same_tables(duck, run_payments(spend_spark, None, by, **options), keys)
