"""Council spend files: every bundled real file read, counted and totalled as an independent
reading of the same file says; encodings, header layouts, amounts, flags; idempotent loads;
rejections with line and reason; one clear error for a file that is not spend."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.enrich import load
from locality.ingest.spendfile.amounts import parse_amount, parse_date
from locality.ingest.spendfile.columns import load_columns
from locality.ingest.spendfile.errors import NoBodyError, NotSpendError, SpendColumnsError
from locality.ingest.spendfile.reader import SpendFile
from locality.store import sql
from locality.store.db import connect
from tests.conftest import ROOT
from tests.helpers import file_counts

SPEND = ROOT / "data" / "sample" / "spend"

# How an analyst would read each file by hand: how many header lines, and which columns
# hold the net amount (or gross and VAT), the date and the supplier. Written from looking
# at the files, not from the library's column map.
LAYOUTS: dict[str, dict[str, Any]] = {
    "calderdale-council-2018-12-card.csv": {
        "header_lines": 1,
        "amount": "Net Amount",
        "date": "Transaction Date",
        "supplier": "Supplier Name",
    },
    "calderdale-council-2022-08.csv": {
        "header_lines": 1,
        "amount": "Net Amount",
        "date": "Date",
        "supplier": "Supplier(Beneficiary) Name",
    },
    "darlington-borough-council-2022-08.csv": {
        "header_lines": 1,
        "amount": "Invoice Line Value (net of VAT)",
        "date": "Transaction Date",
        "supplier": "Supplier",
    },
    "leeds-city-council-2018-09.csv": {
        "header_lines": 1,
        "amount": "Amount",
        "date": "Payment Date",
        "supplier": "Beneficiary Name",
    },
    "manchester-city-council-2010-12.csv.gz": {
        "header_lines": 1,
        "amount": "Amount",
        "date": "Invoice Payment Date",
        "supplier": "Supplier Name",
    },
    "manchester-city-council-2012-06.csv.gz": {
        "header_lines": 1,
        "amount": "Net Amount",
        "date": "Invoice Payment Date",
        "supplier": "Supplier Name",
    },
    "manchester-city-council-2021-11.csv": {
        "header_lines": 1,
        "amount": "Net Amount",
        "date": "Invoice Payment Date",
        "supplier": "Supplier Name",
    },
    # Two header lines: "Amount,," over ",,,Gross,VAT,Net,,,"; Net is the 6th column.
    "salford-city-council-2018-04.csv": {
        "header_lines": 2,
        "amount": 5,
        "date": "Date of Payment",
        "supplier": "Supplier Name",
    },
    "salford-city-council-2018-09.csv": {
        "header_lines": 1,
        "amount": "Net",
        "date": "Date of Payment",
        "supplier": "Supplier Name",
    },
    "salford-city-council-2022-06.csv": {
        "header_lines": 1,
        "amount": "Net",
        "date": "Date of Payment",
        "supplier": "Vendor Name",
    },
}


def _pounds(text: str) -> float:
    """The test's own amount reader: pound sign, thousands commas, minus sign."""
    cleaned = text.strip().replace("\xa3", "").replace(",", "")
    sign = -1.0 if cleaned.startswith("-") else 1.0
    return sign * float(cleaned.lstrip("-"))


def _is_date(text: str) -> bool:
    text = text.strip()
    iso = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", text)
    uk = re.fullmatch(r"(\d\d)\.(\d\d)\.(\d{4})", text)
    try:
        if iso:
            date(int(iso[1]), int(iso[2]), int(iso[3]))
            return True
        if uk:
            date(int(uk[3]), int(uk[2]), int(uk[1]))
            return True
    except ValueError:
        return False
    return False


def _independent(path: Path) -> dict[str, Any]:
    """records read / kept / rejected and the kept total, with the csv module alone."""
    layout = LAYOUTS[path.name]
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="cp1252", newline="") as handle:  # type: ignore[operator]
        rows = list(csv.reader(handle))
    header = rows[0]
    body = rows[layout["header_lines"] :]

    def column(key: str) -> int:
        spec = layout[key]
        return spec if isinstance(spec, int) else header.index(spec)

    amount_at, date_at, supplier_at = column("amount"), column("date"), column("supplier")
    read = kept = 0
    total = 0.0
    for row in body:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are not records
        read += 1
        cell = row[amount_at] if amount_at < len(row) else ""
        day = row[date_at] if date_at < len(row) else ""
        supplier = row[supplier_at] if supplier_at < len(row) else ""
        if not cell.strip() or not _is_date(day):
            continue  # an amount with no date and no supplier is a total line; bad dates
        if supplier.strip().lower() in ("total", "grand total"):
            continue
        kept += 1
        total += _pounds(cell)
    return {"records_read": read, "kept": kept, "rejected": read - kept, "total": total}


@pytest.fixture(scope="module")
def spend_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """Every bundled spend file ingested once; yields (store path, ingest summary)."""
    path = tmp_path_factory.mktemp("spend") / "spend.duckdb"
    con = connect(path)
    summary = load(con, [SPEND])
    con.close()
    yield path, summary


@pytest.fixture
def spend_con(spend_store: tuple[Path, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(spend_store[0], read_only=True)
    yield con
    con.close()


def _file(spend_store: tuple[Path, Any], name: str) -> Any:
    [found] = [f for f in spend_store[1].files if Path(f.file).name == name]
    return found


def _payments(con: duckdb.DuckDBPyConnection, name: str, where: str = "true") -> list[Any]:
    return sql.rows(
        con,
        f"SELECT * FROM spend_payments WHERE source_file LIKE ? AND ({where}) ORDER BY source_line",
        [f"%/{name}"],
    )


# --- every bundled file ----------------------------------------------------------------------


def test_the_sample_is_what_the_readme_lists() -> None:
    names = sorted(p.name for p in SPEND.iterdir() if p.name != "README.md")
    assert names == sorted(LAYOUTS)
    readme = (SPEND / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert name in readme
    assert sum(p.stat().st_size for p in SPEND.iterdir()) < 8_000_000


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_counts_and_total_match_an_independent_reading(
    spend_store: tuple[Path, Any], spend_con: duckdb.DuckDBPyConnection, name: str
) -> None:
    expected = _independent(SPEND / name)
    summary = _file(spend_store, name)
    assert summary.error is None and summary.kind == "spend"
    assert summary.records_read == expected["records_read"]
    assert summary.kept == expected["kept"]
    assert summary.rejected == expected["rejected"]
    assert summary.total_amount == pytest.approx(expected["total"], abs=0.005)
    stored_rows, stored_total = sql.one(
        spend_con,
        "SELECT count(*), sum(amount_net) FROM spend_payments WHERE source_file LIKE ?",
        [f"%/{name}"],
    )
    assert stored_rows == expected["kept"]
    assert stored_total == pytest.approx(expected["total"], abs=0.005)
    rejected = sql.one(
        spend_con, "SELECT count(*) FROM rejected WHERE source_file LIKE ?", [f"%/{name}"]
    )[0]
    assert rejected == expected["rejected"]


# Rows as the shared data's README counts them (header lines excluded): a second source
# beside the golden file (tests/fixtures/sample_counts.json), which must agree with it.
README_ROWS = {
    "manchester-city-council-2021-11.csv": 3119,
    "calderdale-council-2022-08.csv": 1956,
    "salford-city-council-2022-06.csv": 1809,
    "darlington-borough-council-2022-08.csv": 1863,
    # 894 rows have more values than the 12 headers: all kept.
    "salford-city-council-2018-09.csv": 1124,
}


@pytest.mark.parametrize("name", sorted(README_ROWS))
def test_known_row_counts_from_the_data_readme(spend_store: tuple[Path, Any], name: str) -> None:
    assert _file(spend_store, name).kept == README_ROWS[name] == file_counts(SPEND / name)["kept"]


# --- encodings, headers, layouts --------------------------------------------------------------


def test_windows_1252_pound_amounts_and_dd_mm_yyyy(
    spend_store: tuple[Path, Any], spend_con: duckdb.DuckDBPyConnection
) -> None:
    name = "manchester-city-council-2021-11.csv"
    assert b"\xa3" in (SPEND / name).read_bytes()  # the raw file has cp1252 pound signs
    summary = _file(spend_store, name)
    assert summary.encoding == "cp1252"
    [row] = _payments(spend_con, name, "transaction_id = '1907374276'")
    assert row[4] == date(2021, 11, 1)  # "01.11.2021"
    assert row[5] == pytest.approx(4143.58)  # "£4,143.58"
    assert row[6] == "Lime Tree Foods Ltd"


def test_encodings_are_detected_not_assumed(tmp_path: Path) -> None:
    text = (
        "Body Name,Payment Date,Net Amount,Supplier Name\n"
        "Leeds City Council,2018-09-03,£1,Café Noir\n"
    )
    cells = {
        "cp1252.csv": text.replace("£1", '"£1,234.50"').encode("cp1252"),
        "utf8.csv": text.replace("£1", '"£1,234.50"').encode("utf-8"),
        "bom.csv": b"\xef\xbb\xbf" + text.replace("£1", '"£1,234.50"').encode("utf-8"),
    }
    seen = {}
    for name, data in cells.items():
        path = tmp_path / name
        path.write_bytes(data)
        with SpendFile(path) as spend:
            [record] = list(spend.records())
            seen[name] = (spend.layout.encoding, record.row)
    assert seen["cp1252.csv"][0] == "cp1252"
    assert seen["utf8.csv"][0] == "utf-8"
    assert seen["bom.csv"][0] == "utf-8-sig"
    rows = {row for _, row in seen.values()}
    assert len(rows) == 1  # the same payment whatever the encoding
    [row] = rows
    assert row[4] == pytest.approx(1234.5) and row[5] == "Café Noir"


def test_two_line_header(spend_con: duckdb.DuckDBPyConnection) -> None:
    path = SPEND / "salford-city-council-2018-04.csv"
    with SpendFile(path) as spend:
        assert spend.layout.header_lines == 2 and spend.layout.header_line == 2
        assert spend.layout.mapping["amount_net"] == "Net"
        assert spend.layout.mapping["amount_gross"] == "Gross"
        first = next(spend.records())
    assert first.line == 3
    assert first.row is not None and first.row[4] == 3540.0
    # The header's second line is not a payment.
    lines = {r[1] for r in _payments(spend_con, path.name)}
    assert 2 not in lines and 3 in lines


def test_blank_and_misspelt_header_cells() -> None:
    with SpendFile(SPEND / "darlington-borough-council-2022-08.csv") as spend:
        columns = spend.layout.columns
        assert columns[:3] == ["column 1", "column 2", "Directotate"]
        assert spend.layout.mapping["supplier_name"] == "Supplier"
        assert spend.body.la_registry_code == "DAL" and spend.body.source == "file name"


def test_a_misspelt_header_is_a_variant(tmp_path: Path) -> None:
    path = tmp_path / "darlington.csv"
    path.write_text(
        "Directotate,Supplier,Transaction Date,Invoice Line Value (net of VAT)\n"
        "People,ACME LTD,2022-08-01,600.00\n"
    )
    with SpendFile(path) as spend:
        assert spend.layout.mapping["service_area"] == "Directotate"
        [record] = list(spend.records())
    assert record.row is not None and record.row[10] == "People"


def test_duplicate_names_preamble_short_and_long_rows(tmp_path: Path) -> None:
    path = tmp_path / "wakefield-council-2019-q4.csv"
    path.write_text(
        "Spend over £500, Q4\n"
        "Published 2019-04-30\n"
        "\n"
        "Organisation Name,Payment Date,Supplier Name,Net Amount,Class Code,Class Code,,\n"
        "Wakefield MDC,2019-01-29,LEEDS COMMERCIAL LTD,539.25,CAT10,SUBCAT1010,,\n"
        "Wakefield MDC,2019-01-30,ACME LTD,600.00,CAT10,SUBCAT1010,,,X1,Y2\n"
        "Wakefield MDC,2019-01-31,BETA LTD,700.00\n",
        encoding="utf-8",
    )
    with SpendFile(path) as spend:
        assert spend.layout.header_line == 4
        assert spend.layout.columns[4:] == ["Class Code", "Class Code (2)", "column 7", "column 8"]
        records = list(spend.records())
    assert [r.line for r in records] == [5, 6, 7]
    assert all(r.row is not None for r in records)
    assert [r.row[4] for r in records if r.row] == [539.25, 600.0, 700.0]
    # "Wakefield MDC" is Wakefield Metropolitan District Council.
    assert {r.row[2] for r in records if r.row} == {"WKF"}


# --- canonical fields ------------------------------------------------------------------------


def test_credit_notes_are_negative(spend_con: duckdb.DuckDBPyConnection) -> None:
    rows = _payments(spend_con, "calderdale-council-2022-08.csv", "amount_net < 0")
    assert len(rows) == 81
    first = _payments(spend_con, "calderdale-council-2022-08.csv", "source_line = 2")[0]
    assert first[5] == pytest.approx(-438.80) and first[6] == "Achieve Together Ltd"


def test_redacted_names_are_flagged(spend_con: duckdb.DuckDBPyConnection) -> None:
    rows = _payments(spend_con, "manchester-city-council-2021-11.csv", "redacted")
    assert len(rows) == 203  # "Redacted Personal Information", as the data README counts
    assert {r[6] for r in rows} == {"Redacted Personal Information"}
    assert {r[7] for r in rows} == {None}  # no normalised name: not one supplier
    leeds = _payments(spend_con, "leeds-city-council-2018-09.csv", "redacted")
    assert {r[6] for r in leeds} >= {"REDACTED PERSONAL DATA"}
    assert not _payments(
        spend_con,
        "manchester-city-council-2021-11.csv",
        "NOT redacted AND supplier_name ILIKE '%redacted%'",
    )


def test_company_numbers_are_padded_and_vcse_flag_read(
    spend_con: duckdb.DuckDBPyConnection,
) -> None:
    name = "calderdale-council-2022-08.csv"
    numbers = [r[8] for r in _payments(spend_con, name, "company_number IS NOT NULL")]
    assert len(numbers) == 326
    assert all(len(n) == 8 for n in numbers)
    vcse = _payments(spend_con, name, "vcse_flag")
    assert len(vcse) == 165 and len({r[6] for r in vcse}) == 29
    assert len(_payments(spend_con, name, "vcse_flag IS NULL")) == 0  # published: Y or not
    # A file without the column says nothing either way.
    assert (
        len(_payments(spend_con, "salford-city-council-2022-06.csv", "vcse_flag IS NULL"))
        == file_counts(SPEND / "salford-city-council-2022-06.csv")["kept"]
    )


def test_company_number_cleaning(tmp_path: Path) -> None:
    path = tmp_path / "wakefield.csv"
    path.write_text(
        "Payment Date,Supplier Name,Net Amount,Company Registraation Number,Charity Number\n"
        "2018-10-01,A LTD,600,2227962,N/A\n"
        "2018-10-02,B LTD,700,02227962,EXEMPT\n"
        "2018-10-03,C LTD,800,SC123456,1012345\n"
        "2018-10-04,D LTD,900,N/A,\n"
    )
    with SpendFile(path) as spend:
        rows = [r.row for r in spend.records() if r.row]
    assert [(r[7], r[8]) for r in rows] == [
        ("02227962", None),
        ("02227962", None),
        ("SC123456", "1012345"),
        (None, None),
    ]


def test_bodies_from_uri_column_name_and_option(
    spend_store: tuple[Path, Any], tmp_path: Path
) -> None:
    calderdale = _file(spend_store, "calderdale-council-2022-08.csv")
    assert calderdale.body_la_registry_code == "CLD"  # …/local-authority-district/00CY
    assert calderdale.body == "Calderdale Metropolitan Borough Council"
    leeds = _file(spend_store, "leeds-city-council-2018-09.csv")
    assert (leeds.body_la_registry_code, leeds.body_source) == ("LDS", "file name")
    path = tmp_path / "payments.csv"
    path.write_text("Payment Date,Supplier Name,Net Amount\n2018-10-01,A LTD,600\n")
    with pytest.raises(NoBodyError, match="--body"):
        SpendFile(path)
    with SpendFile(path, body="Leeds City Council") as spend:
        assert spend.body.la_registry_code == "LDS" and spend.body.source == "option"
    with SpendFile(path, body="West Yorkshire Fire and Rescue Authority") as spend:
        assert spend.body.name == "West Yorkshire Fire and Rescue Authority"
        assert spend.body.la_registry_code is None


def test_thresholds_and_card_files(spend_store: tuple[Path, Any]) -> None:
    leeds = _file(spend_store, "leeds-city-council-2018-09.csv")
    assert (leeds.published_threshold, leeds.threshold_basis) == (0, "configured")
    assert leeds.min_amount is not None and leeds.min_amount < 500
    card = _file(spend_store, "calderdale-council-2018-12-card.csv")
    assert card.is_card and (card.published_threshold, card.threshold_basis) == (0, "card file")
    manchester = _file(spend_store, "manchester-city-council-2021-11.csv")
    assert (manchester.published_threshold, manchester.threshold_basis) == (500, "default")
    assert not manchester.is_card


def test_status_counts_spend(spend_con: duckdb.DuckDBPyConnection) -> None:
    from locality.views.status import store_status

    status = store_status(spend_con)
    assert (
        status["counts"]["spend_payments"]
        == sql.one(spend_con, "SELECT count(*) FROM spend_payments")[0]
    )
    bodies = {b["la_registry_code"]: b for b in status["spend_bodies"]}
    assert set(bodies) == {"CLD", "DAL", "LDS", "MAN", "SLF"}
    assert bodies["LDS"]["published_threshold"] == 0
    assert bodies["CLD"]["published_threshold"] == 500  # card files list everything


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4490", 4490.0),
        ("£4,490.00", 4490.0),
        ("-£95.00", -95.0),
        ("£-95.00", -95.0),
        ("(1,234.50)", -1234.5),
        ("12.00-", -12.0),
        ("1,000.00 CR", -1000.0),
        (" 0.5 ", 0.5),
    ],
)
def test_parse_amount(text: str, value: float) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "1e5", "£", "12..3"])
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2022-08-17", date(2022, 8, 17)),
        ("2022-08-17 00:00:00", date(2022, 8, 17)),
        ("01.11.2021", date(2021, 11, 1)),
        ("01/11/2021", date(2021, 11, 1)),
        ("1-11-21", date(2021, 11, 1)),
        ("01 Nov 2021", date(2021, 11, 1)),
        ("1-April-2018", date(2018, 4, 1)),
        ("214", None),
        ("31.02.2021", None),
        ("", None),
    ],
)
def test_parse_date(text: str, value: date | None) -> None:
    assert parse_date(text) == value


# --- rejections and errors -------------------------------------------------------------------


def test_bad_rows_are_rejected_with_line_and_reason(
    spend_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    [(line, column, reason, raw)] = sql.rows(
        spend_con,
        "SELECT source_line, source_pointer, reason, raw FROM rejected WHERE source_file LIKE ?",
        ["%/leeds-city-council-2018-09.csv"],
    )
    assert (line, column) == (20878, "Payment Date")
    assert reason == "payment date is not a date: '214'"
    assert raw.startswith("214,26.61,")
    [(line, reason)] = sql.rows(
        spend_con,
        "SELECT source_line, reason FROM rejected WHERE source_file LIKE ?",
        ["%/manchester-city-council-2012-06.csv.gz"],
    )
    assert line == 2753 and reason.startswith("total row")

    path = tmp_path / "salford-city-council-2022-07.csv"
    path.write_text(
        "Authority Name,Date of Payment,Net,Vendor Name\n"
        "Salford City Council,2022-07-01,600.00,A Ltd\n"
        "Salford City Council,2022-07-01,six hundred,B Ltd\n"
        "Salford City Council,2022-07-02,,C Ltd\n"
        "Salford City Council,2022-07-03,700.00,Total Gas & Power\n"
        ",,Total,\n"
        ",,1300.00,\n"
    )
    con = connect(tmp_path / "s.duckdb")
    try:
        [summary] = load(con, [path]).files
        kept = sql.rows(con, "SELECT supplier_name FROM spend_payments ORDER BY source_line")
        rejected = sql.rows(con, "SELECT source_line, reason FROM rejected ORDER BY 1")
    finally:
        con.close()
    assert (summary.records_read, summary.kept, summary.rejected) == (6, 2, 4)
    assert summary.total_amount == 1300.0
    assert kept == [("A Ltd",), ("Total Gas & Power",)]  # a supplier called Total is real
    assert [line for line, _ in rejected] == [3, 4, 6, 7]
    reasons = dict(rejected)
    assert reasons[3] == "amount is not a number: 'six hundred' in column 'Net'"
    assert reasons[4] == "amount missing"
    assert reasons[6].startswith("total row") and reasons[7].startswith("total row")


def test_a_file_that_is_not_spend_gives_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cpv-codes.csv"
    shutil.copy(ROOT / "src" / "locality" / "reference" / "cpv" / "cpv-2008-codes.csv", path)
    with pytest.raises(NotSpendError, match=re.escape(str(path))):
        SpendFile(path)
    con = connect(tmp_path / "s.duckdb")
    try:
        [summary] = load(con, [path]).files
        leftovers = sql.one(
            con, "SELECT (SELECT count(*) FROM spend_payments) + (SELECT count(*) FROM rejected)"
        )[0]
    finally:
        con.close()
    assert summary.error is not None and str(path) in summary.error
    assert "not a council spend file" in summary.error
    assert leftovers == 0
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "c.duckdb"), "ingest", str(path)])
    assert result.exit_code == 1 and path.name in result.stderr
    assert "Traceback" not in result.output


def test_a_folder_csv_that_is_not_spend_is_skipped_with_a_note(tmp_path: Path) -> None:
    folder = tmp_path / "spend"
    folder.mkdir()
    shutil.copy(SPEND / "salford-city-council-2022-06.csv", folder)
    (folder / "provenance.csv").write_text("file,rows,source_repo\nx.csv,3,a/b\n")
    con = connect(tmp_path / "s.duckdb")
    try:
        summary = load(con, [folder])
    finally:
        con.close()
    notes = {Path(f.file).name: f for f in summary.files}
    assert notes["provenance.csv"].skipped and "not a council spend file" in str(
        notes["provenance.csv"].note
    )
    salford = file_counts(SPEND / "salford-city-council-2022-06.csv")["kept"]
    assert notes["salford-city-council-2022-06.csv"].kept == salford
    assert summary.totals["files_failed"] == 0


# --- idempotence -----------------------------------------------------------------------------


def _snapshot(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    return (
        sql.rows(con, "SELECT * FROM spend_payments ORDER BY source_file, source_line"),
        sql.rows(con, "SELECT * FROM rejected ORDER BY source_file, source_line"),
        sql.rows(
            con,
            "SELECT source_file, content_hash, records_read, kept, rejected, total_amount "
            "FROM ingested_files ORDER BY 1",
        ),
    )


def test_reingesting_changes_nothing_and_new_content_replaces(tmp_path: Path) -> None:
    folder = tmp_path / "leeds-city-council"
    folder.mkdir()
    path = folder / "2022-06.csv"
    shutil.copy(SPEND / "salford-city-council-2022-06.csv", path)
    con = connect(tmp_path / "s.duckdb")
    try:
        first = load(con, [path, SPEND / "leeds-city-council-2018-09.csv"])
        before = _snapshot(con)
        again = load(con, [path, SPEND / "leeds-city-council-2018-09.csv"])
        assert all(f.skipped for f in again.files)
        assert _snapshot(con) == before
        forced = load(con, [path], force=True)
        assert not forced.files[0].skipped
        assert _snapshot(con) == before
        # The same path with new content: its rows are replaced, not added to.
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:-10]))
        [changed] = load(con, [path]).files
        count = sql.one(
            con, "SELECT count(*) FROM spend_payments WHERE source_file = ?", [str(path.resolve())]
        )[0]
    finally:
        con.close()
    kept = file_counts(SPEND / "salford-city-council-2022-06.csv")["kept"]
    assert first.files[0].kept == kept
    assert changed.kept == count == kept - 10
    assert changed.total_amount != first.files[0].total_amount


def test_a_gzip_copy_of_a_loaded_file_is_not_counted_twice(tmp_path: Path) -> None:
    source = SPEND / "manchester-city-council-2021-11.csv"
    copy = tmp_path / "2021-11.csv.gz"
    copy.write_bytes(gzip.compress(source.read_bytes()))
    con = connect(tmp_path / "s.duckdb")
    try:
        summary = load(con, [source, copy])
        count = sql.one(con, "SELECT count(*) FROM spend_payments")[0]
    finally:
        con.close()
    assert count == file_counts(source)["kept"]
    assert summary.files[1].skipped and summary.files[1].duplicate_of == str(source.resolve())


# --- the column map and the command ------------------------------------------------------------


def test_user_columns_file_extends_the_map(tmp_path: Path) -> None:
    columns = tmp_path / "my-council.toml"
    columns.write_text(
        '[fields]\nsupplier_name = ["Paid To"]\namount_net = ["Sum Excl Tax"]\n'
        'payment_date = ["When"]\n\n[threshold]\nby_body = { YOR = 250 }\n'
    )
    path = tmp_path / "york-2020-01.csv"
    path.write_text('When,Paid To,Sum Excl Tax\n03/01/2020,Acme Ltd,"£1,000.00"\n')
    with pytest.raises(NotSpendError):
        SpendFile(path)
    config = load_columns(columns)
    with SpendFile(path, config, body="City of York Council") as spend:
        [record] = list(spend.records())
        assert spend.published_threshold(spend.body.la_registry_code) == (250, "configured")
    assert record.row is not None
    assert record.row[3:6] == ("2020-01-03", 1000.0, "Acme Ltd")

    bad = tmp_path / "bad.toml"
    bad.write_text('[fields]\nsuplier = ["Paid To"]\n')
    with pytest.raises(SpendColumnsError, match="suplier"):
        load_columns(bad)


def test_cli_spend_json_summary_and_options(tmp_path: Path) -> None:
    path = tmp_path / "payments.txt"
    path.write_text("Date,Beneficiary,Amount\n2018-09-03,Acme Ltd,1200.50\n2018-09-04,Beta,-200\n")
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["--db", db, "ingest", str(path), "--kind", "spend", "--body", "LDS", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    [file] = json.loads(result.stdout)["files"]
    assert {"file", "kind", "records_read", "kept", "rejected", "total_amount"} <= set(file)
    assert file["kind"] == "spend" and "new_releases" not in file
    assert (file["records_read"], file["kept"], file["rejected"]) == (2, 2, 0)
    assert file["total_amount"] == 1000.5
    assert file["body"] == "Leeds City Council"
    columns = tmp_path / "broken.toml"
    columns.write_text("[fields\n")
    result = runner.invoke(app, ["--db", db, "ingest", str(path), "--columns", str(columns)])
    assert result.exit_code == 1 and "broken.toml" in result.stderr
    status = runner.invoke(app, ["--db", db, "status", "--format", "json"])
    assert json.loads(status.stdout)["counts"]["spend_payments"] == 2


def test_ocds_summaries_keep_their_shape(tmp_path: Path) -> None:
    from tests.conftest import CF_RELEASES

    con = connect(tmp_path / "s.duckdb")
    try:
        [summary] = load(con, [CF_RELEASES]).files
    finally:
        con.close()
    data = summary.as_json()
    assert data["kind"] == "ocds" and "total_amount" not in data and "new_releases" in data


def test_the_reader_works_without_a_store() -> None:
    # The reader is usable on its own (Python API): rows in PAYMENT_FIELDS order.
    from locality.ingest.spendfile.columns import PAYMENT_FIELDS

    with SpendFile(SPEND / "calderdale-council-2018-12-card.csv") as spend:
        first = next(spend.records())
    assert first.row is not None and len(first.row) == len(PAYMENT_FIELDS)
    assert dict(zip(PAYMENT_FIELDS, first.row, strict=True))["is_card"] is True
