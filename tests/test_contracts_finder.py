"""Contracts Finder's CSV and API exports read as OCDS releases (issue 13: "ingest those too").

The fixtures are real records cut from the shared collection
(tests/fixtures/contracts_finder_provenance.md says from where): the search CSV export's
first 30 records, the daily harvester CSV's first 12, the whole API v2 search response (20
notices) and the first 30 Lancashire notices harvested from the search API.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from locality.ingest import contracts_finder as cf
from locality.ingest.ocds import head_bytes, read_ocds
from locality.ingest.pipeline import detect_kind, ingest
from locality.store.db import connect

FIXTURES = Path(__file__).parent / "fixtures"
SEARCH = FIXTURES / "contracts_finder_search_export.csv"
HARVESTER = FIXTURES / "contracts_finder_harvester.csv"
API = FIXTURES / "contracts_finder_api_search_response.json"
NOTICES = FIXTURES / "contracts_finder_notices.jsonl"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# (file, form, records, golden fixture)
FORMS = [
    (SEARCH, cf.SEARCH_CSV, 30, "contracts_finder_search_export_golden.json"),
    (HARVESTER, cf.HARVESTER_CSV, 12, "contracts_finder_harvester_golden.json"),
    (API, cf.API_JSON, 20, "contracts_finder_api_search_response_golden.json"),
    (NOTICES, cf.NOTICES_JSONL, 30, "contracts_finder_notices_golden.json"),
]


def detect(path: Path) -> str | None:
    return cf.detect(head_bytes(path, cf.HEAD_BYTES))


@pytest.fixture(scope="module")
def cf_export_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, Any]]]:
    """The four fixtures ingested once into a store of their own, with the ingest summary."""
    path = tmp_path_factory.mktemp("cf-exports") / "store.duckdb"
    con = connect(path)
    summary = ingest(con, [SEARCH, HARVESTER, API, NOTICES], jobs=1)
    yield con, summary.as_json()
    con.close()


@pytest.mark.parametrize(("path", "form", "records", "golden"), FORMS)
def test_detected_by_content_not_name(
    path: Path, form: str, records: int, golden: str, tmp_path: Path
) -> None:
    assert detect(path) == form
    assert detect_kind(path) == "ocds"  # a .csv name would otherwise go to the spend reader
    renamed = tmp_path / "download.txt"
    shutil.copy(path, renamed)
    assert detect(renamed) == form


def test_other_files_are_not_contracts_finder_exports() -> None:
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    assert detect(sample / "ocds" / "contracts-finder-releases.jsonl") is None
    assert detect(next((sample / "spend").glob("*.csv"))) is None
    assert detect(FIXTURES / "wakefield-council-2019-01_2019-03-excerpt.csv") is None


@pytest.mark.parametrize(("path", "form", "records", "golden"), FORMS)
def test_golden_release(path: Path, form: str, records: int, golden: str) -> None:
    read = list(read_ocds(path))
    assert len(read) == records
    assert all(r.error is None for r in read)
    expected = json.loads((FIXTURES / golden).read_text())
    [record] = [r for r in read if r.line == expected["line"]]
    assert record.pointer == expected["pointer"]
    assert record.release == expected["release"]


def test_every_ocid_is_contracts_finder_with_a_notice_guid() -> None:
    for path, *_ in FORMS:
        for record in read_ocds(path):
            assert record.release is not None
            ocid = record.release["ocid"]
            assert ocid.startswith("ocds-b5fd17-")
            assert cf._GUID.fullmatch(ocid[len("ocds-b5fd17-") :]), ocid


def test_search_export_fields() -> None:
    releases = [r.release for r in read_ocds(SEARCH)]
    assert all(r is not None for r in releases)
    by_type = {r["tag"][0] for r in releases if r}
    assert by_type == {"tender", "planning"}  # Contract 20, Pipeline 9, PreProcurement 1
    for release in releases:
        assert release is not None
        buyer = release["parties"][0]
        assert buyer["roles"] == ["buyer"] and buyer["address"]["postalCode"]
        assert release["tender"]["items"]
        assert release["x_locality_ocidDerived"] is True  # the export carries no GUID
    # "01/01/1" is the export's "no closing date" on pipeline notices: left out, not rejected.
    pipeline = [r for r in releases if r and r["tag"] == ["planning"]]
    assert any("tenderPeriod" not in r["tender"] for r in pipeline)


def test_search_supplier_cell() -> None:
    # The shared export holds open notices only (no awards): the cell's layout is the
    # column's own name, Name|Address|Ref type|Ref Number|Is SME|Is VCSE.
    [supplier] = cf._search_suppliers(
        "ACME LTD|1 High St, York YO1 7HH|CompaniesHouse|123456|Yes|No"
    )
    assert supplier["identifier"] == {"scheme": "GB-COH", "id": "123456", "legalName": "ACME LTD"}
    assert supplier["details"] == {"scale": "sme", "vcse": False}
    assert cf._search_suppliers("") == []


def test_api_awards_carry_supplier_flags() -> None:
    releases = [r.release for r in read_ocds(API)]
    awarded = [r for r in releases if r and "awards" in r]
    assert len(awarded) == 18  # 18 Awarded, 2 Open (data README section 7.1)
    scales = [r["parties"][1]["details"]["scale"] for r in awarded]
    assert scales.count("sme") == 9 and scales.count("large") == 9
    assert all(r["parties"][1]["details"]["vcse"] is False for r in awarded)
    # HTML entities are decoded and the narrow no-break spaces trimmed.
    names = {r["parties"][1]["name"] for r in awarded}
    assert "Centre for Strategy & Evaluation Services LLP" in names


def test_zero_is_not_an_amount() -> None:
    # Lancashire notice line 22 is awarded with awarded_value 0: the award's value is unknown.
    releases = {r.line: r.release for r in read_ocds(NOTICES)}
    zero = [r for r in releases.values() if r and r.get("awards") and "value" not in r["awards"][0]]
    assert zero, "the fixture holds an award published with value 0"


def test_broken_row_is_one_rejection_with_its_line(tmp_path: Path) -> None:
    header, rest = SEARCH.read_bytes().split(b"\r\n", 1)
    # A row cut short after three cells, inserted as line 2: the real records follow it.
    broken = tmp_path / "export.csv"
    broken.write_bytes(header + b"\r\nRM9999,Contract,York Council\r\n" + rest)
    read = list(read_ocds(broken))
    bad = [r for r in read if r.error]
    assert [(r.line, r.error) for r in bad] == [
        (2, "Contracts Finder record: 3 fields where the header has 43")
    ]
    assert bad[0].raw == b"RM9999,Contract,York Council"
    good = [r for r in read if r.error is None]
    assert len(good) == 30
    # Records keep the line they start on, CRLF inside quoted descriptions and all.
    original = [r.line for r in read_ocds(SEARCH)]
    assert [r.line for r in good] == [line + 1 for line in original]
    assert original[:3] == [2, 22, 43]  # the first description spans lines 2-21


def test_bad_value_rejected_with_reason(tmp_path: Path) -> None:
    line = NOTICES.read_text().splitlines()[0].replace('"value_low": 90000', '"value_low": "lots"')
    path = tmp_path / "n.jsonl"
    path.write_text(NOTICES.read_text().splitlines()[1] + "\n" + line + "\n")
    read = list(read_ocds(path))
    assert [(r.line, r.error) for r in read if r.error] == [
        (2, "Contracts Finder record: value_low is not a number: 'lots'")
    ]


def test_ingested_counts_and_measures(
    cf_export_store: tuple[duckdb.DuckDBPyConnection, dict[str, Any]],
) -> None:
    con, summary = cf_export_store
    files = {Path(f["file"]).name: f for f in summary["files"]}
    assert {name: (f["records_read"], f["kept"], f["rejected"]) for name, f in files.items()} == {
        SEARCH.name: (30, 30, 0),
        HARVESTER.name: (12, 12, 0),
        API.name: (20, 20, 0),
        NOTICES.name: (30, 30, 0),
    }
    assert all(f["kind"] == "ocds" for f in files.values())
    [(processes,)] = con.sql("SELECT count(*) FROM processes").fetchall()
    assert processes == 92
    # Buyers are placed from their postcodes; suppliers' SME flags reach the facts.
    [(placed,)] = con.sql(
        "SELECT count(*) FROM processes p JOIN organisations o ON o.org_id = p.buyer_org_id "
        "WHERE o.la_registry_code IS NOT NULL"
    ).fetchall()
    assert placed > 40
    [(awarded, sme)] = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE o.scale = 'sme') FROM award_suppliers s "
        "JOIN organisations o USING (org_id)"
    ).fetchall()
    assert awarded > 20 and sme > 5


@pytest.mark.skipif(not SHARED.exists(), reason="the shared data collection is absent")
def test_shared_files_read_whole() -> None:
    expected = {
        "contracts-finder-csv/cf-search-export-open-notices-published-2017-01-to-2025-06.csv": 608,
        "contracts-finder-csv/cf-daily-harvester-export-2020-08-05.csv": 29,
        "contracts-finder-api/cf-api-v2-search-response-2025-11-08.json": 20,
        "contracts-finder-notices/"
        "lancashire-councils-cf-notices-published-2015-03-to-2023-09.jsonl": 848,
    }
    for name, count in expected.items():
        read = list(read_ocds(SHARED / name))
        assert len(read) == count and not [r for r in read if r.error], name


def test_harvester_flags_and_legacy_suppliers() -> None:
    # The harvester writes sme/vco as "1" or blank: "1" is true, blank is unknown (never
    # false), and suppliers keep the legacy layout (embedded, id "0") the normaliser knows.
    suppliers = [
        supplier
        for record in read_ocds(HARVESTER)
        for award in (record.release or {}).get("awards", [])
        for supplier in award.get("suppliers", [])
    ]
    assert [s["name"] for s in suppliers if s.get("sme") is True] == ["VERIFILE LIMITED"]
    assert all(s.get("sme") in (True, None) and s.get("vco") in (True, None) for s in suppliers)
    assert {s["id"] for s in suppliers} == {"0"}


def test_truncated_gzip_keeps_records_before_the_break(tmp_path: Path) -> None:
    data = gzip.compress(NOTICES.read_bytes())
    cut = tmp_path / "notices.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    read = list(read_ocds(cut))
    assert read[-1].fatal and "breaks off" in (read[-1].error or "")
    kept = [r for r in read if r.error is None]
    assert 0 < len(kept) < 30
    assert [r.line for r in kept] == list(range(1, len(kept) + 1))
