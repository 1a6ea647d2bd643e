"""Find a Tender (Procurement Act 2023) read notice by notice: each of the 16 real releases in
the bundled sample gets its form, stage, values (net and gross), suitability, bid statistics
and supplier flags.

``tests/fixtures/find_a_tender_<form>.json`` hold, per notice form, the real releases and what
locality must read from them (checked by hand against the notices); the tests below also
state the key facts one by one, each read off the raw release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from locality.ingest.pipeline import ingest
from locality.store.db import connect
from tests.conftest import FIND_A_TENDER, FIXTURES
from tests.helpers import dicts, file_counts

FORMS = ("UK1", "UK2", "UK4", "UK5", "UK6", "UK7", "UK10", "UK12", "UK15", "2015-rules")


def _read(con: duckdb.DuckDBPyConnection, ocid: str) -> dict[str, Any]:
    process = dicts(
        con,
        """
        SELECT notice_form, stage, agreement_type, agreement_evidence, suitable_sme,
               suitable_vcse, bidders, final_stage_bidders, sme_final_stage_bidders,
               vcse_final_stage_bidders, buyer_type, tender_value, tender_value_gross, notice_url
        FROM processes WHERE ocid = ?
        """,
        [ocid],
    )[0]
    awards = dicts(
        con,
        """
        SELECT award_id, status, value, value_net, value_gross, currency, value_source,
               value_field, value_issue, counts_as
        FROM awards WHERE ocid = ? ORDER BY award_id
        """,
        [ocid],
    )
    suppliers = dicts(
        con,
        """
        SELECT s.award_id, s.org_id, p.scale, p.vcse, p.vcse_source
        FROM award_suppliers s JOIN process_parties p USING (ocid, org_id)
        WHERE ocid = ? ORDER BY s.award_id, s.position
        """,
        [ocid],
    )
    lots = dicts(
        con,
        """
        SELECT lot_id, suitable_sme, suitable_vcse, bidders, final_stage_bidders,
               sme_final_stage_bidders, vcse_final_stage_bidders
        FROM process_lots WHERE ocid = ? ORDER BY lot_id
        """,
        [ocid],
    )
    return {"process": process, "awards": awards, "suppliers": suppliers, "lots": lots}


@pytest.fixture(scope="module")
def fts(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("fts") / "store.duckdb"
    con = connect(path)
    ingest(con, [FIND_A_TENDER])
    yield con
    con.close()


@pytest.mark.parametrize("form", FORMS)
def test_each_notice_form_reads_as_its_golden_file(form: str, tmp_path: Path) -> None:
    cases = json.loads((FIXTURES / f"find_a_tender_{form}.json").read_text())
    source = tmp_path / f"{form}.jsonl"
    source.write_text("".join(json.dumps(case["release"]) + "\n" for case in cases))
    con = connect(tmp_path / "store.duckdb")
    try:
        ingest(con, [source])
        for case in cases:
            assert _read(con, case["release"]["ocid"]) == case["expected"], case["release"]["id"]
    finally:
        con.close()


def test_every_release_has_a_golden_file() -> None:
    ocids = {json.loads(line)["ocid"] for line in FIND_A_TENDER.read_text().splitlines()}
    covered = {
        case["release"]["ocid"]
        for form in FORMS
        for case in json.loads((FIXTURES / f"find_a_tender_{form}.json").read_text())
    }
    assert covered == ocids
    assert len(ocids) == file_counts(FIND_A_TENDER)["processes"]


def test_notice_forms_and_stages(fts: duckdb.DuckDBPyConnection) -> None:
    got = dict(fts.execute("SELECT notice_form, count(*) FROM processes GROUP BY ALL").fetchall())
    # ../shared/data/README.md 1.5: UK1 1, UK2 1, UK4 2, UK5 1, UK6 3, UK7 1, UK10 1, UK12 1,
    # UK15 1 and 4 notices under the 2015 regulations.
    assert got == {
        "UK1": 1,
        "UK2": 1,
        "UK4": 2,
        "UK5": 1,
        "UK6": 3,
        "UK7": 1,
        "UK10": 1,
        "UK12": 1,
        "UK15": 1,
        "2015-rules": 4,
    }
    stages = dict(fts.execute("SELECT ocid, stage FROM processes").fetchall())
    assert stages["ocds-h6vhtk-06f1b4"] == "pipeline"
    assert stages["ocds-h6vhtk-06f1ad"] == "engagement"
    assert stages["ocds-h6vhtk-06f0c7"] == "direct_award_intention"
    assert stages["ocds-h6vhtk-065444"] == "change"
    assert stages["ocds-h6vhtk-05f9f4"] == "procurement_termination"
    assert stages["ocds-h6vhtk-0510f8"] == "dynamic_market"


def test_values_come_from_where_they_are_published(fts: duckdb.DuckDBPyConnection) -> None:
    awards = {
        (ocid, award_id): (value, net, gross, source, issue, counts_as)
        for ocid, award_id, value, net, gross, source, issue, counts_as in fts.execute(
            """
            SELECT ocid, award_id, value, value_net, value_gross, value_source, value_issue,
                   counts_as FROM awards
            """
        ).fetchall()
    }
    # UK6: net and gross on awards[].value; the net amount is the value.
    assert awards[("ocds-h6vhtk-04e9fb", "1")] == (
        126294.0,
        126294.0,
        151552.8,
        "award",
        None,
        "awarded",
    )
    # Only amountGross published: kept, and marked as gross.
    assert awards[("ocds-h6vhtk-06e832", "1")] == (
        256378.74,
        None,
        256378.74,
        "gross-only",
        None,
        "awarded",
    )
    # A 2015-rules award whose value sits only on contracts[].value (awardID links them).
    assert awards[("ocds-h6vhtk-06f0ca", "083257-2026-1")][:4] == (
        109801.97,
        109801.97,
        None,
        "contract",
    )
    # UK7 contract details with the placeholder 0.01: unknown, never a penny.
    assert awards[("ocds-h6vhtk-06f19e", "1")] == (
        None,
        0.01,
        0.01,
        "contract",
        "placeholder",
        "unknown",
    )


def test_dynamic_market_modification_adds_no_award(fts: duckdb.DuckDBPyConnection) -> None:
    """The UK15 release carries 34 delta-only awards ({id, amendments}): none is an award."""
    assert fts.execute(
        "SELECT count(*) FROM awards WHERE ocid = 'ocds-h6vhtk-0510f8'"
    ).fetchone() == (0,)
    roles = fts.execute(
        "SELECT roles FROM process_parties WHERE ocid = 'ocds-h6vhtk-0510f8' "
        "AND name = 'UNIVERSITY OF WARWICK'"
    ).fetchone()
    assert roles == (["removedSupplier"],)


def test_suitability_is_read_per_lot(fts: duckdb.DuckDBPyConnection) -> None:
    rows = fts.execute(
        "SELECT ocid, suitable_sme, suitable_vcse FROM processes "
        "WHERE ocid IN ('ocds-h6vhtk-06f1b2', 'ocds-h6vhtk-06f1ad')"
    ).fetchall()
    # 06f1b2: lot 1 {sme: true, vcse: true}; 06f1ad: lot 1 {sme: true}, vcse not stated.
    assert dict((o, (s, v)) for o, s, v in rows) == {
        "ocds-h6vhtk-06f1b2": (True, True),
        "ocds-h6vhtk-06f1ad": (True, None),
    }


def test_bid_statistics(fts: duckdb.DuckDBPyConnection) -> None:
    bids = {
        ocid: rest
        for ocid, *rest in fts.execute(
            """
            SELECT ocid, bidders, final_stage_bidders, sme_final_stage_bidders,
                   vcse_final_stage_bidders FROM processes
            """
        ).fetchall()
    }
    assert bids["ocds-h6vhtk-04e9fb"] == [8, 8, 3, 0]
    assert bids["ocds-h6vhtk-06e832"] == [15, 13, 8, 0]
    assert bids["ocds-h6vhtk-06d285"] == [13, 5, 5, 5]
    # "bids" 2 is published twice for lot 1 (once per award): two bids, not four.
    assert bids["ocds-h6vhtk-059c19"] == [2, None, None, None]
    assert bids["ocds-h6vhtk-06f0ca"] == [1, None, None, None]
    assert bids["ocds-h6vhtk-06f1b2"] == [None, None, None, None]


def test_supplier_flags_and_their_evidence(fts: duckdb.DuckDBPyConnection) -> None:
    flags = {
        org: (vcse, source)
        for org, vcse, source in fts.execute(
            "SELECT org_id, vcse, vcse_source FROM organisations"
        ).fetchall()
    }
    # A registered charity listed by the publisher with vcse false and scale large.
    assert flags["GB-CHC-1159512"] == (True, "charity number (GB-CHC)")
    # A community interest company; its platform id (PPON) is an additional identifier.
    assert flags["GB-COH-08522643"] == (True, "community interest company (name)")
    assert flags["GB-COH-02025063"] == (False, "published (details.vcse)")
    assert "GB-PPON-PNXT-9936-XCTQ" not in flags
    # The buyer's type from details.classifications (UK_CA_TYPE).
    assert fts.execute(
        "SELECT buyer_type FROM organisations WHERE org_id = 'GB-PPON-PJYG-6658-PPMY'"
    ).fetchone() == ("publicAuthoritySubCentralGovernment",)


def test_notice_links(fts: duckdb.DuckDBPyConnection) -> None:
    rows = dict(fts.execute("SELECT ocid, notice_url FROM processes").fetchall())
    # A 2015-rules notice has no notice document: the link is built from its id.
    assert rows["ocds-h6vhtk-06f0ca"] == "https://www.find-tender.service.gov.uk/Notice/083257-2026"
    # The tender's first document is an attachment; the process links to the UK4 notice.
    assert rows["ocds-h6vhtk-067fb8"] == "https://www.find-tender.service.gov.uk/Notice/032703-2026"
    assert all(url and url.startswith("https://") for url in rows.values())
