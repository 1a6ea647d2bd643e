"""Spend files read in batches: the SQL amount rule equals the Python one, worker processes
load exactly what one process loads, a batch lands whole or not at all, and a file that
breaks part way is reported alone while the rest of its batch lands."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import locality.ingest.pipeline as pipeline
from locality.ingest.pipeline import ingest
from locality.ingest.spendfile.amounts import amounts_sql, parse_amount
from locality.store import loader, sql
from locality.store.db import connect
from tests.conftest import ROOT

SPEND = ROOT / "data" / "sample" / "spend"

# What amount cells are made of: digits, separators, signs, currency, brackets, credit
# markers, spaces (a no-break space too) and a few stray letters.
AMOUNT_PIECES = st.lists(
    st.sampled_from(
        [
            "0",
            "1",
            "7",
            "9",
            "12",
            "4,490",
            ".",
            ",",
            "-",
            "\u2212",
            "+",
            "£",
            "GBP",
            "gbp",
            "(",
            ")",
            "CR",
            "cr",
            " ",
            "\xa0",
            "e",
            "x",
            ".50",
        ]
    ),
    max_size=8,
).map("".join)


def _sql_amounts(texts: list[str]) -> list[float | None]:
    con = duckdb.connect()
    con.register("cells", pa.table({"net_text": [t.strip() for t in texts]}))
    found = con.execute(f"SELECT net_v FROM ({amounts_sql('cells', ['net'])})").fetchall()
    con.close()
    return [row[0] for row in found]


def _python_amount(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        return parse_amount(text)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(AMOUNT_PIECES, min_size=1, max_size=40))
def test_the_sql_amount_rule_is_parse_amount(texts: list[str]) -> None:
    assert _sql_amounts(texts) == [_python_amount(t) for t in texts]


def test_the_sql_amount_rule_on_the_documented_forms() -> None:
    texts = [
        "£4,490.00",
        "(1,234.50)",
        "12.00-",
        "-£95.00",
        "£-95.00",
        "GBP 12",
        "12CR",
        "(12.00CR)",
        ".5",
        "5.",
        "1e5",
        "abc",
        "",
    ]
    assert _sql_amounts(texts) == [
        4490.0,
        -1234.5,
        -12.0,
        -95.0,
        -95.0,
        12.0,
        -12.0,
        12.0,
        0.5,
        5.0,
        None,
        None,
        None,
    ]


def _store_rows(path: Path) -> dict[str, list[Any]]:
    con = connect(path, read_only=True)
    try:
        return {
            "payments": sql.rows(
                con,
                "SELECT * EXCLUDE (source_file), regexp_extract(source_file, '[^/]+$') "
                "FROM spend_payments ORDER BY ALL",
            ),
            "rejected": sql.rows(con, "SELECT source_line, reason, raw FROM rejected ORDER BY ALL"),
            "files": sql.rows(
                con,
                "SELECT regexp_extract(source_file, '[^/]+$'), records_read, kept, rejected, "
                "total_amount, body, published_threshold, threshold_basis, min_amount, "
                "first_payment_date, last_payment_date FROM ingested_files ORDER BY ALL",
            ),
        }
    finally:
        con.close()


def test_worker_processes_load_what_one_process_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tmp_path / "one.duckdb"
    con = connect(one)
    ingest(con, [SPEND], jobs=1)
    con.close()
    # Every file its own group, and workers for a batch of over 1 kB (the sample is MBs).
    monkeypatch.setattr(pipeline, "SPEND_GROUP_BYTES", 1)
    monkeypatch.setattr(pipeline, "SPEND_PARALLEL_MIN_BYTES", 1024)
    calls: list[int] = []
    real = pipeline.ProcessPoolExecutor

    def counting_pool(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["max_workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", counting_pool)
    two = tmp_path / "two.duckdb"
    con = connect(two)
    summary = ingest(con, [SPEND], jobs=2)
    con.close()
    assert calls == [2]
    assert summary.totals["kept"] > 40_000
    assert _store_rows(one) == _store_rows(two)


def test_a_batch_lands_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("salford-city-council-2018-09.csv", "darlington-borough-council-2022-08.csv"):
        shutil.copy(SPEND / name, tmp_path / name)
    monkeypatch.setattr(pipeline, "SPEND_GROUP_BYTES", 1)  # one insert per file
    real = loader.insert_spend
    inserted: list[int] = []

    def failing_second(con: duckdb.DuckDBPyConnection, payments: pa.Table) -> None:
        inserted.append(payments.num_rows)
        if len(inserted) == 2:
            raise OSError("disk full (simulated)")
        real(con, payments)

    monkeypatch.setattr(loader, "insert_spend", failing_second)
    store = tmp_path / "store.duckdb"
    con = connect(store)
    with pytest.raises(OSError, match="disk full"):
        ingest(
            con,
            [
                tmp_path / "salford-city-council-2018-09.csv",
                tmp_path / "darlington-borough-council-2022-08.csv",
            ],
            jobs=1,
        )
    assert inserted[0] > 0  # the first file's rows were in the transaction...
    counts = sql.one(
        con,
        "SELECT (SELECT count(*) FROM spend_payments), (SELECT count(*) FROM ingested_files)",
    )
    assert counts == (0, 0)  # ...and went with it
    monkeypatch.setattr(loader, "insert_spend", real)
    again = ingest(con, [tmp_path / "salford-city-council-2018-09.csv"], jobs=1)
    assert again.files[0].kept > 0 and not again.files[0].skipped
    con.close()


@pytest.fixture
def small_field_limit() -> Iterator[None]:
    """The csv module's default field limit, so a 200,000-character field is a CSV error.

    The reader accepts long fields (issue 15: a long field is data, not a broken file); a
    field over the limit is the way left to break a real file part way."""
    import csv

    limit = csv.field_size_limit(131_072)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


@pytest.mark.usefixtures("small_field_limit")
def test_a_file_broken_part_way_is_reported_and_the_rest_lands(tmp_path: Path) -> None:
    good = tmp_path / "salford-city-council-2018-09.csv"
    shutil.copy(SPEND / "salford-city-council-2018-09.csv", good)
    # A real file whose last line holds a field longer than the csv module accepts.
    broken = tmp_path / "darlington-borough-council-2022-08.csv"
    text = (SPEND / "darlington-borough-council-2022-08.csv").read_bytes()
    lines = text.count(b"\n")
    broken.write_bytes(text + b'"' + b"x" * 200_000 + b'",1\n')
    con = connect(tmp_path / "store.duckdb")
    summary = ingest(con, [good, broken], jobs=1)
    by_name = {Path(f.file).name: f for f in summary.files}
    failed = by_name[broken.name]
    assert failed.error is not None and broken.name in failed.error
    assert "CSV error" in failed.error and str(lines) in failed.error
    assert by_name[good.name].kept > 0 and by_name[good.name].error is None
    loaded = sql.rows(
        con, "SELECT DISTINCT regexp_extract(source_file, '[^/]+$') FROM spend_payments"
    )
    assert loaded == [(good.name,)]
    con.close()


@pytest.mark.parametrize(
    "name", ["manchester-city-council-2012-06.csv.gz", "salford-city-council-2018-04.csv"]
)
def test_a_streamed_file_reads_as_a_whole_one(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over WHOLE_FILE_BYTES are streamed (decoded as they are read), not loaded."""
    from locality.ingest.spendfile import decode, reader

    def read(path: Path) -> list[Any]:
        with reader.SpendFile(path) as spend:
            return [(r.line, r.row, r.reason, r.raw) for r in spend.records()]

    whole = read(SPEND / name)
    monkeypatch.setattr(decode, "WHOLE_FILE_BYTES", 1024)
    monkeypatch.setattr(reader, "CHUNK_ROWS", 500)  # and in many chunks
    assert read(SPEND / name) == whole
    assert len(whole) > 1000


def _payments_of(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, float]:
    found = sql.one(
        con,
        "SELECT count(*), coalesce(round(sum(amount_net), 2), 0) FROM spend_payments "
        "WHERE source_file LIKE ?",
        [f"%/{name}"],
    )
    return int(found[0]), float(found[1])


def test_a_file_named_twice_in_one_run_is_loaded_once(tmp_path: Path) -> None:
    name = "salford-city-council-2018-04.csv"
    folder = tmp_path / "spend"
    folder.mkdir()
    shutil.copy(SPEND / name, folder / name)
    con = connect(tmp_path / "store.duckdb")
    summary = ingest(con, [folder, folder / name, Path(str(folder / ".") + "/" + name)])
    loaded = [f for f in summary.files if not f.skipped]
    assert len(loaded) == 1 and loaded[0].kept > 1000
    assert [f.note for f in summary.files if f.skipped] == ["given twice: read once"] * 2
    assert _payments_of(con, name) == (loaded[0].kept, loaded[0].total_amount)
    assert sql.one(con, "SELECT count(*) FROM ingested_files")[0] == 1
    con.close()


@pytest.mark.usefixtures("small_field_limit")
def test_a_file_that_breaks_on_reingest_keeps_its_last_good_load(tmp_path: Path) -> None:
    name = "salford-city-council-2018-04.csv"
    folder = tmp_path / "spend"
    folder.mkdir()
    path = folder / name
    shutil.copy(SPEND / name, path)
    con = connect(tmp_path / "store.duckdb")
    first = ingest(con, [folder]).files[0]
    before = _payments_of(con, name)
    assert before == (first.kept, first.total_amount) and first.kept > 1000
    # The council republishes the file with a broken last line; found by walking the folder.
    path.write_bytes(path.read_bytes() + b'"' + b"x" * 200_000 + b'",1\n')
    again = ingest(con, [folder]).files[0]
    assert again.error is not None and not again.skipped  # an error, not "not spend"
    assert name in again.error and "none of the file's rows were loaded" in again.error
    assert _payments_of(con, name) == before
    kept = sql.one(con, "SELECT kept FROM ingested_files WHERE source_file LIKE ?", [f"%/{name}"])
    assert kept == (first.kept,)
    con.close()


def test_a_truncated_gzip_fails_alone(tmp_path: Path) -> None:
    good = "salford-city-council-2018-09.csv"
    shutil.copy(SPEND / good, tmp_path / good)
    broken = tmp_path / "manchester-city-council-2012-06.csv.gz"
    data = (SPEND / broken.name).read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    con = connect(tmp_path / "store.duckdb")
    summary = ingest(con, [tmp_path / good, broken])
    by_name = {Path(f.file).name: f for f in summary.files}
    assert by_name[broken.name].error is not None
    assert str(broken) in by_name[broken.name].error
    assert by_name[good].kept > 0 and _payments_of(con, good)[0] == by_name[good].kept
    con.close()
