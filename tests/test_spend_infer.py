"""Spend columns recognised by their content (issue 15), on real files in unseen layouts.

Each real sample file is rewritten with header spellings the column map has never seen
("Paid To", "When", "Sum"): the reader must find the date, amount and supplier columns
from what they hold, say why, and load exactly the payments the original file gives.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.ingest.spendfile.errors import AmbiguousColumnsError
from locality.ingest.spendfile.files import explain_spend_file
from locality.ingest.spendfile.infer import infer_columns
from locality.ingest.spendfile.reader import SpendFile
from tests.conftest import SPEND_SAMPLE

# file → (encoding, {published header: unseen spelling}) for the three fields a payment needs.
UNSEEN = {
    "leeds-city-council-2018-09.csv": (
        "cp1252",
        {"Payment Date": "Paid On", "Amount": "Sum", "Beneficiary Name": "Paid To"},
    ),
    "salford-city-council-2022-06.csv": (
        "utf-8",
        {"Date of Payment": "When", "Vendor Name": "Recipient Organisation", "Net": "Cost"},
    ),
    "darlington-borough-council-2022-08.csv": (
        "utf-8",
        {
            "Supplier": "Trader",
            "Transaction Date": "Posted",
            "Invoice Line Value (net of VAT)": "Line Value",
        },
    ),
    "manchester-city-council-2021-11.csv": (
        "cp1252",
        {"Invoice Payment Date": "Settled", "Net Amount": "Sterling", "Supplier Name": "Paid To"},
    ),
}


def _renamed(name: str, folder: Path, delimiter: str = ",") -> Path:
    encoding, renames = UNSEEN[name]
    text = (SPEND_SAMPLE / name).read_bytes().decode(encoding)
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert set(renames) <= set(header), header
    header = [renames.get(cell, cell) for cell in header]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    path = folder / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _payments(path: Path) -> list[tuple[object, ...]]:
    with SpendFile(path) as reader:
        return [
            (r.line, r.row[3], r.row[4], r.row[5]) if r.row else (r.line, r.reason)
            for r in reader.records()
        ]


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_headers_read_by_content_give_the_same_payments(name: str, tmp_path: Path) -> None:
    path = _renamed(name, tmp_path)
    _, renames = UNSEEN[name]
    with SpendFile(path) as reader:
        layout = reader.layout
    by_content = {f for f, why in layout.reasons.items() if why.startswith("its content")}
    assert {"payment_date", "supplier_name"} <= by_content
    assert {"amount_net", "amount_gross"} & by_content
    assert set(layout.mapping.values()) >= set(renames.values())
    # The same rows kept and rejected, with the same dates, amounts and suppliers.
    assert _payments(path) == _payments(SPEND_SAMPLE / name)


def test_reasons_say_what_the_content_was(tmp_path: Path) -> None:
    found = explain_spend_file(_renamed("salford-city-council-2022-06.csv", tmp_path))
    columns = found["columns"]
    assert columns["supplier_name"]["column"] == "Recipient Organisation"
    assert "organisation-like" in columns["supplier_name"]["why"]
    assert columns["payment_date"] == {"column": "When", "why": columns["payment_date"]["why"]}
    assert "are dates" in columns["payment_date"]["why"]
    # Gross and VAT keep their names; the unseen "Cost" is the net by its content.
    assert columns["amount_net"]["column"] == "Cost"
    assert columns["amount_gross"]["why"] == "its header name"


def test_gross_vat_and_net_told_apart_by_their_sums(tmp_path: Path) -> None:
    name = "salford-city-council-2022-06.csv"
    renames = {
        "Gross": "Total Cost",
        "VAT": "Tax",
        "Net": "Cost",
        "Date of Payment": "When",
        "Vendor Name": "Paid To",
    }
    header, *rows = list(csv.reader(io.StringIO((SPEND_SAMPLE / name).read_text(), newline="")))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [[renames.get(c, c) for c in header], *rows]
    )
    path = tmp_path / name
    path.write_text(buffer.getvalue())
    with SpendFile(path) as reader:
        mapping, reasons = reader.layout.mapping, reader.layout.reasons
    assert (mapping["amount_gross"], mapping["amount_vat"], mapping["amount_net"]) == (
        "Total Cost",
        "Tax",
        "Cost",
    )
    assert "gross = net + VAT" in reasons["amount_vat"]
    assert _payments(path) == _payments(SPEND_SAMPLE / name)


def test_semicolon_file_in_an_unseen_layout(tmp_path: Path) -> None:
    path = _renamed("leeds-city-council-2018-09.csv", tmp_path, delimiter=";")
    assert explain_spend_file(path)["delimiter"] == ";"
    assert _payments(path) == _payments(SPEND_SAMPLE / "leeds-city-council-2018-09.csv")


def _salford(columns: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Real Salford rows: the named published columns, under new names."""
    text = (SPEND_SAMPLE / "salford-city-council-2022-06.csv").read_text("utf-8")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    picks = [header.index(c) for c in columns]
    return list(columns.values()), [[row[i] for i in picks] for row in rows[:200]]


def test_two_equally_likely_supplier_columns_are_refused_with_the_candidates() -> None:
    # Vendor Name twice (a file with a payee and an invoicing party that are the same firms).
    header, rows = _salford(
        {"Date of Payment": "When", "Net": "Sum", "Vendor Name": "Paid To", "DocumentNo": "Ref"}
    )
    header.append("Ordered By")
    rows = [[*row, row[2]] for row in rows]
    with pytest.raises(AmbiguousColumnsError) as caught:
        infer_columns(header, rows, {})
    message = str(caught.value)
    assert "'Paid To'" in message and "'Ordered By'" in message and "--columns" in message


def test_a_period_date_is_not_the_payment_date() -> None:
    """Wakefield's layout: an effective date (the month's end) beside the payment date."""
    header, rows = _salford({"Date of Payment": "When", "Net": "Sum", "Vendor Name": "Paid To"})
    header.insert(0, "Period")
    rows = [["2022-06-30", *row] for row in rows]
    found, reasons = infer_columns(header, rows, {}) or ({}, {})
    assert found["payment_date"] == 1
    assert "periods, not payment days" in reasons["payment_date"]


def test_no_candidate_is_not_a_spend_file() -> None:
    header, rows = _salford({"Service Area": "Area", "GL Description": "What", "DocumentNo": "Ref"})
    assert infer_columns(header, rows, {}) is None


def test_explain_cli_shows_each_column_and_why(tmp_path: Path) -> None:
    path = _renamed("darlington-borough-council-2022-08.csv", tmp_path)
    runner = CliRunner()
    table = runner.invoke(
        app, ["--db", str(tmp_path / "none.duckdb"), "ingest", "--explain", str(path)]
    )
    assert table.exit_code == 0, table.output
    assert "supplier_name" in table.stdout and "'Trader'" in table.stdout
    assert "its content" in table.stdout
    assert not (tmp_path / "none.duckdb").exists()  # nothing loaded, no store made
    data = runner.invoke(app, ["ingest", "--explain", str(path), "--format", "json"])
    assert data.exit_code == 0, data.output
    [found] = json.loads(data.stdout)
    assert found["columns"]["payment_date"]["column"] == "Posted"
    assert found["body"] == "Darlington Borough Council"
    assert found["body_source"] == "file name"


def test_explain_cli_exits_1_on_a_file_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["ingest", "--explain", str(path), "--format", "json"])
    assert result.exit_code == 1
    [found] = json.loads(result.stdout)
    assert "not a council spend file" in found["error"]
