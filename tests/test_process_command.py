"""``locality process OCID``: one contracting process as locality reads it.

Every expected value here was read by hand from the raw releases of the bundled sample
(``data/sample/ocds``), so the command can be trusted to check a figure against the notice.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from locality.store.db import connect
from tests.helpers import cli, cli_json, nonempty

FTS_AWARD = "ocds-h6vhtk-04e9fb"  # UK6 contract award notice, 5 awards, net and gross
FTS_PLACEHOLDER = "ocds-h6vhtk-06f19e"  # UK7 whose only value is contracts[].value 0.01
FTS_DYNAMIC_MARKET = "ocds-h6vhtk-0510f8"  # UK15 modification: amends awards, makes none
CF_CALL_OFF = "ocds-b5fd17-b9541ef8-1235-4765-b44f-d21ae154d761"  # award + 2 awardUpdates
CF_LEGACY = "ocds-b5fd17-d72762d9-d49d-413b-9e1f-99e1b3b5430d"  # 2020 layout, 6 suppliers

TOP_KEYS = {
    "ocid",
    "publisher",
    "title",
    "buyer",
    "stage",
    "agreement_type",
    "agreement_evidence",
    "suitable",
    "notices",
    "bids",
    "lots",
    "awards",
}
BIDS = {"bidders", "final_stage_bidders", "sme_final_stage_bidders", "vcse_final_stage_bidders"}
AWARD_KEYS = {
    "id",
    "status",
    "value",
    "value_gross",
    "currency",
    "value_source",
    "counts_as",
    "suppliers",
}


def _json(db: Path, ocid: str) -> dict[str, Any]:
    data: dict[str, Any] = cli_json(db, "process", ocid)
    return data


def _table(db: Path, ocid: str) -> str:
    result = cli("--db", str(db), "process", ocid)
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())  # wrapping by column width does not matter


@pytest.fixture(scope="module")
def fts_award(sample_store_file: Path) -> dict[str, Any]:
    return _json(sample_store_file, FTS_AWARD)


# --- the JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ocid", [FTS_AWARD, FTS_PLACEHOLDER, FTS_DYNAMIC_MARKET, CF_CALL_OFF, CF_LEGACY]
)
def test_json_has_every_documented_key(sample_store_file: Path, ocid: str) -> None:
    data = _json(sample_store_file, ocid)
    assert set(data) >= TOP_KEYS
    assert data["ocid"] == ocid
    assert {"id", "name", "central_purchasing_body"} <= set(data["buyer"])
    assert set(data["suitable"]) == {"sme", "vcse"}
    assert set(data["bids"]) == BIDS
    for notice in nonempty(data["notices"], "notices"):
        assert set(notice) == {"id", "form", "stage", "date", "url"}
        assert notice["url"] is None or notice["url"].startswith("https://")
    dates = [n["date"] for n in data["notices"] if n["date"] is not None]
    assert dates == sorted(dates)  # the timeline, oldest first
    # Every case but the modification notice (which makes no award) has awards to check.
    assert bool(data["awards"]) == (ocid != FTS_DYNAMIC_MARKET)
    for award in data["awards"]:
        assert set(award) >= AWARD_KEYS
        assert award["counts_as"] in ("awarded", "ceiling", "unknown")
        for supplier in award["suppliers"]:
            assert {"id", "name", "scale", "vcse", "vcse_source"} <= set(supplier)


def test_find_a_tender_contract_award(fts_award: dict[str, Any]) -> None:
    data = fts_award
    assert data["publisher"] == "Find a Tender"
    assert data["title"] == (
        "pEPR Efficiency & Effectiveness (E&E) LA Improvement Action Process (IAP) Pilot Scheme"
    )
    assert data["buyer"] == {
        "id": "GB-PPON-PNBD-3289-CDGX",
        "name": "DEPARTMENT OF ENVIRONMENT, FOOD AND RURAL AFFAIRS",
        "type": "publicAuthorityCentralGovernment",
        "central_purchasing_body": False,
    }
    assert data["stage"] == "award"
    assert data["notice_form"] == "UK6"
    assert data["notices"] == [
        {
            "id": "029664-2025",
            "form": "UK6",
            "stage": "award",
            "date": "2025-06-03T21:01:02+00:00",  # 22:01:02+01:00 as published
            "url": "https://www.find-tender.service.gov.uk/Notice/029664-2025",
        }
    ]
    bids = {
        "bidders": 8,
        "final_stage_bidders": 8,
        "sme_final_stage_bidders": 3,
        "vcse_final_stage_bidders": 0,
    }
    assert data["bids"] == bids
    assert [(lot["id"], lot["bids"]) for lot in data["lots"]] == [("1", bids)]
    # (award id, status, net, gross, supplier) as published in awards[].value
    published = [
        ("1", "pending", 126294.0, 151552.8, "Ricardo-AEA Limited"),
        ("2", "pending", 125200.0, 150240.0, "PA Consulting Services Ltd"),
        ("3", "pending", 129188.0, 155025.6, "SLR Consulting Limited"),
        ("4", "active", 99133.0, 118959.6, "Waste and Resources Action Programme (WRAP)"),
        ("5", "active", 86974.0, 104368.8, "Eunomia Research & Consulting Ltd"),
    ]
    awards = data["awards"]
    assert [a["id"] for a in awards] == [p[0] for p in published]
    for award, (_, status, net, gross, supplier) in zip(awards, published, strict=True):
        assert award["status"] == status
        assert award["value"] == net  # the net amount is the value a measure sums
        assert award["value_net"] == net
        assert award["value_gross"] == gross
        assert award["currency"] == "GBP"
        assert award["value_source"] == "award"
        assert award["value_field"] == "awards[].value.amount"
        assert award["value_issue"] is None
        assert award["counts_as"] == "awarded"
        assert [s["name"] for s in award["suppliers"]] == [supplier]
        assert award["suppliers"][0]["scale"] == "large"
        assert award["related_lots"] == ["1"]
    vcse = {a["suppliers"][0]["name"]: a["suppliers"][0]["vcse"] for a in awards}
    # WRAP publishes vcse false but is a registered charity (GB-CHC-1159512).
    assert vcse["Waste and Resources Action Programme (WRAP)"] is True
    assert awards[3]["suppliers"][0]["vcse_source"] == "charity number (GB-CHC)"
    assert vcse["Ricardo-AEA Limited"] is False
    assert awards[0]["suppliers"][0]["vcse_source"] == "published (details.vcse)"


def test_find_a_tender_contract_award_is_a_contract(fts_award: dict[str, Any]) -> None:
    """An open procedure awarding a pilot: "using the IAP framework provided by the Scheme
    Administrator" names a method of work, not a framework agreement it is called off."""
    assert fts_award["agreement_type"] == "contract"


def test_find_a_tender_placeholder_value_is_unknown(sample_store_file: Path) -> None:
    data = _json(sample_store_file, FTS_PLACEHOLDER)
    assert data["stage"] == "contract"
    assert [(n["id"], n["form"], n["url"]) for n in data["notices"]] == [
        ("083608-2026", "UK7", "https://www.find-tender.service.gov.uk/Notice/083608-2026")
    ]
    assert data["buyer"]["name"] == "West Northamptonshire Council"
    [award] = data["awards"]
    assert award["value"] is None  # 0.01 is no price: never zero, never summed
    assert award["value_net"] == 0.01
    assert award["value_gross"] == 0.01
    assert award["value_source"] == "contract"
    assert award["value_field"] == "contracts[].value.amount"
    assert award["value_issue"] == "placeholder"
    assert award["counts_as"] == "unknown"
    assert "placeholder" in award["counts_as_reason"]
    assert "£0.01" in award["counts_as_reason"]
    assert [(s["name"], s["scale"], s["vcse"]) for s in award["suppliers"]] == [
        ("star cab daventry limited", "large", False)
    ]


def test_find_a_tender_dynamic_market_modification_has_no_award(sample_store_file: Path) -> None:
    data = _json(sample_store_file, FTS_DYNAMIC_MARKET)
    assert data["awards"] == []  # its awards[] only name the awards the notice amends
    assert data["stage"] == "dynamic_market"
    assert data["notice_form"] == "UK15"
    assert data["agreement_type"] == "dynamic_purchasing_system"
    assert "UK15" in data["agreement_evidence"]
    # The Government Commercial Agency is the Crown Commercial Service renamed (2025).
    assert data["buyer"]["name"] == "Government Commercial Agency"
    assert data["buyer"]["central_purchasing_body"] is True
    assert [n["form"] for n in data["notices"]] == ["UK15"]


def test_contracts_finder_call_off(sample_store_file: Path) -> None:
    data = _json(sample_store_file, CF_CALL_OFF)
    assert data["publisher"] == "Contracts Finder"
    assert data["title"] == "HMPPS Norwich-A'Wing Refurbishment-BPRN No.580/20/6189"
    assert data["buyer"]["name"] == "Ministry of Justice"
    assert data["buyer"]["central_purchasing_body"] is False
    assert data["agreement_type"] == "call_off"  # "Call-off from a framework agreement"
    assert "call-off" in data["agreement_evidence"].lower()
    assert data["suitable"] == {"sme": False, "vcse": False}
    assert data["tender"]["value"] == 22682504.94
    # One award notice, then two award updates the same afternoon (16:14, 16:41, 16:44 BST).
    notices = data["notices"]
    assert [n["date"] for n in notices] == [
        "2022-10-19T15:14:05+00:00",
        "2022-10-19T15:41:07+00:00",
        "2022-10-19T15:44:56+00:00",
    ]
    assert all(n["stage"] == "award" for n in notices)
    link = "https://www.contractsfinder.service.gov.uk/Notice/cbe8c5c5-929b-4fe1-9dc2-87125e4ad652"
    assert {n["url"] for n in notices} == {link}
    assert set(data["bids"].values()) == {None}  # Contracts Finder publishes no bid counts
    [award] = data["awards"]  # the award and its two updates are one award
    assert award["status"] == "active"
    assert award["value"] == 22682504.94
    assert award["value_gross"] is None
    assert award["value_source"] == "award"
    assert award["counts_as"] == "awarded"  # a call-off is money, not a ceiling
    assert [(s["id"], s["name"], s["scale"], s["vcse"]) for s in award["suppliers"]] == [
        ("GB-CFS-224729", "Vinci Construction UK LTD", "large", False)
    ]


def test_contracts_finder_legacy_award(sample_store_file: Path) -> None:
    data = _json(sample_store_file, CF_LEGACY)
    assert data["layout"] == "cf-legacy-award"
    assert data["title"] == "UID7919 Trafford Healthy Lifestyle Request For Quotation (RFQ)"
    assert data["buyer"]["name"] == "Trafford Council"
    assert data["suitable"] == {"sme": True, "vcse": True}  # xClassifications
    assert data["tender"]["value"] == 585000.0
    [notice] = data["notices"]
    assert notice["date"] is None  # the release's date is "" as published
    [award] = data["awards"]
    assert award["value"] == 579093.0
    # One value for six suppliers: an appointment to a list, its value a ceiling.
    assert data["agreement_type"] == "framework"
    assert data["agreement_evidence"].startswith("shape: 6 suppliers")
    assert award["counts_as"] == "ceiling"
    assert "not money awarded" in award["counts_as_reason"]
    # (name, sme, vco) as each supplier is published
    published = [
        ("Age UK Trafford", False, True),
        ("LIVA Healthcare", False, False),
        ("The Manchester Deaf Centre", True, True),
        ("Pakistani Resource Centre", True, True),
        ("Unlimited Potential", True, True),
        ("Voice of BME Trafford", True, True),
    ]
    got = [(s["name"], s["scale"] == "sme", s["vcse"]) for s in award["suppliers"]]
    assert got == published
    assert {s["vcse_source"] for s in award["suppliers"]} == {"published (vco)"}


# --- the table -----------------------------------------------------------------------------


def test_table_reads_like_the_notice(sample_store_file: Path) -> None:
    text = _table(sample_store_file, FTS_AWARD)
    for shown in (
        "pEPR Efficiency & Effectiveness",
        "DEPARTMENT OF ENVIRONMENT, FOOD AND RURAL AFFAIRS",
        "Stage: award (latest notice UK6)",
        "Agreement:",
        "8 bidders, 8 at the final stage, of which 3 SMEs and 0 VCSEs",
        "2025-06-03 21:01 UTC",
        "029664-2025",
        "126,294.00",
        "151,552.80",
        "awards[].value.amount",
        "awarded",
        "Ricardo-AEA Limited",
        "charity number (GB-CHC)",
    ):
        assert shown in text, shown


def test_table_gives_the_reason_a_value_is_unknown(sample_store_file: Path) -> None:
    text = _table(sample_store_file, FTS_PLACEHOLDER)
    assert "unknown: the only amount published (£0.01) is a placeholder" in text
    assert "0.01" in text and "contracts[].value.amount" in text


def test_table_of_a_process_without_awards(sample_store_file: Path) -> None:
    text = _table(sample_store_file, FTS_DYNAMIC_MARKET)
    assert "No award is published for this process." in text
    assert "central purchasing body: yes" in text


def test_table_of_a_framework_says_ceiling(sample_store_file: Path) -> None:
    text = _table(sample_store_file, CF_LEGACY)
    assert "framework ceiling (not money)" in text
    assert "Voice of BME Trafford" in text


def test_published_text_is_never_read_as_markup(sample_store_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_store_file, copy)
    con = connect(copy)
    con.execute(
        "UPDATE processes SET title_clean = '[red]Not red[/red] [link=x]y[/link]' WHERE ocid = ?",
        [FTS_AWARD],
    )
    con.close()
    assert "[red]Not red[/red] [link=x]y[/link]" in _table(copy, FTS_AWARD)


# --- errors --------------------------------------------------------------------------------


def test_unknown_ocid_suggests_near_ones(sample_store_file: Path) -> None:
    result = cli("--db", str(sample_store_file), "process", "ocds-h6vhtk-04e9fc")
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "no contracting process with the OCID 'ocds-h6vhtk-04e9fc'" in message
    assert "Did you mean:" in message and FTS_AWARD in message
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_unknown_ocid_with_nothing_near(sample_store_file: Path) -> None:
    result = cli(
        "--db", str(sample_store_file), "process", "[b]nothing like it", "--format", "json"
    )
    assert result.exit_code == 1
    assert "'[b]nothing like it'" in result.stderr  # said as given, not read as markup
    assert "Did you mean" not in result.stderr
    assert result.stdout == ""


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    result = cli("--db", str(missing), "process", FTS_AWARD)
    assert result.exit_code == 1
    assert "locality ingest" in " ".join(result.stderr.split())
    assert not missing.exists()


def test_help_has_an_example() -> None:
    result = cli("process", "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and "locality process ocds-" in result.stdout
