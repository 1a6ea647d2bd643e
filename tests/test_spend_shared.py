"""Every spend file of the shared collection (``../shared/data/spend``: West Yorkshire
2018/19, Manchester 2010–2021, Salford, Darlington, Calderdale) read, counted and totalled
as an independent reading of the same file says.

The shared collection is not part of the repository: these tests run where it is (a
developer's machine beside the data) and are skipped in a bare clone. The bundled sample
gets the same check in test_spend.py.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from locality.enrich import load
from locality.store.db import connect
from tests.conftest import ROOT
from tests.test_spend import _pounds

SHARED = ROOT.parent / "shared" / "data" / "spend"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/spend is absent")

# Column names as the files publish them, found by looking at each council's files (not
# from the library's column map), best first.
AMOUNT = ("Net Amount", "Net", "Invoice Line Value (net of VAT)", "Amount")
DATE = ("Date", "Transaction Date", "Payment Date", "Invoice Payment Date", "Date of Payment")
SUPPLIER = (
    "Supplier(Beneficiary) Name",
    "Supplier Name",
    "Supplier",
    "Beneficiary Name",
    "Vendor Name",
)


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _is_date(text: str) -> bool:
    text = text.strip()
    for pattern, order in (
        (r"(\d{4})-(\d\d)-(\d\d)", "ymd"),
        (r"(\d\d)[./](\d\d)[./](\d{4})", "dmy"),
    ):
        found = re.fullmatch(pattern, text)
        if found:
            a, b, c = (int(g) for g in found.groups())
            try:
                date(a, b, c) if order == "ymd" else date(c, b, a)
            except ValueError:
                return False
            return True
    return False


def _column(header: list[str], names: tuple[str, ...]) -> int:
    stripped = [h.strip() for h in header]
    for name in names:
        if name in stripped:
            return stripped.index(name)
    raise AssertionError(f"none of {names} in {header}")


def _independent(path: Path) -> dict[str, Any]:
    rows = list(csv.reader(io.StringIO(_text(path), newline="")))
    header, body = rows[0], rows[1:]
    if body and {"Gross", "Net"} <= {c.strip() for c in body[0]}:
        # Salford's second header line: ",,,Gross,VAT,Net,,,"
        header = [low or top for top, low in zip(header, body[0], strict=False)]
        body = body[1:]
    amount_at = _column(header, AMOUNT)
    date_at, supplier_at = _column(header, DATE), _column(header, SUPPLIER)
    read = kept = 0
    total = 0.0
    for row in body:
        if not any(cell.strip() for cell in row):
            continue
        read += 1
        cell = row[amount_at] if amount_at < len(row) else ""
        day = row[date_at] if date_at < len(row) else ""
        supplier = row[supplier_at] if supplier_at < len(row) else ""
        if not cell.strip() or not _is_date(day):
            continue
        if supplier.strip().lower() in ("total", "grand total"):
            continue
        kept += 1
        total += _pounds(cell)
    return {"records_read": read, "kept": kept, "total": round(total, 2)}


def _files() -> list[Path]:
    if not SHARED.is_dir():
        return []
    return sorted(
        p
        for p in SHARED.rglob("*")
        if p.name.endswith((".csv", ".csv.gz")) and p.name != "provenance.csv"
    )


@pytest.fixture(scope="module")
def shared_summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    con = connect(tmp_path_factory.mktemp("shared") / "spend.duckdb")
    summary = load(con, _files())
    con.close()
    return {str(Path(f.file).resolve()): f for f in summary.files}


def test_every_shared_file_is_loaded(shared_summary: dict[str, Any]) -> None:
    files = _files()
    assert len(files) > 180
    assert sum(f.records_read for f in shared_summary.values()) > 800_000
    assert not [f.file for f in shared_summary.values() if f.error]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SHARED)))
def test_counts_and_total_match_an_independent_reading(
    path: Path, shared_summary: dict[str, Any]
) -> None:
    found = shared_summary[str(path.resolve())]
    if found.skipped:
        pytest.skip(f"a copy of {found.duplicate_of}")
    expected = _independent(path)
    assert found.records_read == expected["records_read"]
    assert found.kept == expected["kept"]
    assert found.rejected == expected["records_read"] - expected["kept"]
    assert found.total_amount == pytest.approx(expected["total"], abs=0.005)
