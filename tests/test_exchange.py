"""``locality exchange``: the knowledge exchange of issue 13 on the command line, on the
bundled real sample (read against a fixed date so the answers do not move with the clock)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from locality.cli import app
from locality.matching.exchange import NEAR_BUYER_FIELDS

TODAY = "2026-12-07"
BIRMINGHAM = "GB-CFS-41105"  # Birmingham City Council
TENCER = "GB-CFS-160973"  # Tencer Ltd, an SME in Buckinghamshire (CPV division 50)


def _run(store: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", str(store), "exchange", *args, "--today", TODAY])


def _json(store: Path, *args: str) -> dict[str, Any]:
    result = _run(store, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_buyers_exchange_checked_by_hand(sample_store_file: Path) -> None:
    # Birmingham City Council bought in CPV divisions 70, 71, 79 and 98. Of the suppliers
    # with a (counted or framework) award in those divisions, the SMEs and VCSEs of the West
    # Midlands are ecoCarbon (Solihull, 13 km; appointed by Wiltshire Council) and The Supply
    # Register (Stoke-on-Trent, 62 km: beyond 50); Building Services NOW (Dudley) has won from
    # Birmingham itself and its size is unknown; the others are large. Anthony Consulting and
    # James Andrews Recruitment are SMEs in Leicester, 53 km away.
    data = _json(sample_store_file, "--buyer", BIRMINGHAM)
    assert set(data) == {
        "buyer",
        "divisions",
        "radius_km",
        "suppliers_never_met",
        "small_incumbents_expiring",
    }
    assert data["buyer"]["name"] == "Birmingham City Council"
    assert data["buyer"]["council"] == "BIR"
    assert data["divisions"] == ["70", "71", "79", "98"]
    assert [
        (s["id"], s["scale"], s["place"], s["distance_km"]) for s in data["suppliers_never_met"]
    ] == [("name:ecocarbon", "sme", "Solihull", 13.1)]
    assert data["suppliers_never_met"][0]["buyers_served"] == ["name:wiltshire council"]
    assert data["small_incumbents_expiring"] == []

    wider = _json(sample_store_file, "--buyer", BIRMINGHAM, "--radius", "70")
    found = [(s["id"], s["distance_km"]) for s in wider["suppliers_never_met"]]
    assert found == [
        ("name:ecocarbon", 13.1),
        ("GB-COH-14182020", 53.1),
        ("name:james andrews recruitment solutions ltd", 53.1),
        ("name:supply register ltd", 62.0),
    ]
    # Nearest first, and never one the buyer has already met.
    assert [d for _, d in found] == sorted(d for _, d in found)
    assert all(BIRMINGHAM not in s["buyers_served"] for s in wider["suppliers_never_met"])
    assert all(s["scale"] == "sme" or s["vcse"] for s in wider["suppliers_never_met"])


def test_a_theme_narrows_the_divisions(sample_store_file: Path) -> None:
    data = _json(sample_store_file, "--buyer", BIRMINGHAM, "--theme", "IT and digital")
    assert data["divisions"] and all(d in {"30", "32", "48", "64", "72"} for d in data["divisions"])
    result = _run(sample_store_file, "--buyer", BIRMINGHAM, "--theme", "social care")
    assert result.exit_code == 1
    assert "no theme 'social care'" in result.output and "health and social care" in result.output


def test_small_incumbents_whose_contracts_end(sample_store_file: Path) -> None:
    # UK Research and Innovation's small research contracts, each held by an SME.
    ukri = "GB-SRS-sid4gov.cabinetoffice.gov.uk/Zj5uFppq"
    data = _json(sample_store_file, "--buyer", ukri)
    expiring = data["small_incumbents_expiring"]
    assert len(expiring) == 9
    for o in expiring:
        assert o["buyer_id"] == ukri
        assert o["incumbent_sme"] or o["incumbent_vcse"]
        assert o["stage"] in ("expiring", "expired_unknown")
        assert o["end_date_source"]
    shorter = _json(sample_store_file, "--buyer", ukri, "--expiring-within", "3m")
    assert len(shorter["small_incumbents_expiring"]) < len(expiring)
    table = _run(sample_store_file, "--buyer", ukri)
    assert table.exit_code == 0
    assert "9 contract(s) held by an SME or VCSE" in table.stdout


def test_a_suppliers_exchange(sample_store_file: Path) -> None:
    data = _json(sample_store_file, "--supplier", TENCER)
    assert set(data) == {"supplier", "divisions", "radius_km", "buyers", "notices"}
    assert data["supplier"]["name"] == "Tencer Ltd" and data["supplier"]["scale"] == "sme"
    assert data["divisions"] == ["50"]
    buyers = data["buyers"]
    # Every field of a near buyer is a column of its CSV (test_csv_sections), and no other.
    assert set(buyers[0]) == set(NEAR_BUYER_FIELDS)
    assert {"distance_km", "processes_in_its_divisions", "served_before"} < set(buyers[0])
    # Buyers with live notices come first; every notice is a near buyer's, in its divisions.
    assert buyers[0]["live_notices"] == 2 and buyers[-1]["live_notices"] == 0
    near = {b["id"] for b in buyers}
    assert [n["id"] for n in data["notices"]] == ["ocds-kuma6s-148236", "ocds-kuma6s-148283"]
    assert all(n["buyer_id"] in near and n["cpv"][0][:2] == "50" for n in data["notices"])
    assert all(b["distance_km"] <= 50 for b in buyers)


def test_pipeline_notices_come_first(sample_store_file: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("--db", str(sample_store_file), "exchange", "--supplier", "name:avison young gva"),
            *("--today", "2025-01-01", "--format", "json"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(n["id"], n["stage"]) for n in data["notices"]][:1] == [
        ("ocds-h6vhtk-06f1b4", "pipeline")
    ]
    order = {"engagement": 0, "pipeline": 1, "planned": 2, "open": 3}
    stages = [order[n["stage"]] for n in data["notices"]]
    assert stages == sorted(stages)
    assert data["buyers"][0]["id"] == "GB-PPON-PGHR-3329-MDGL"  # its one live notice


def test_csv_sections(sample_store_file: Path) -> None:
    result = _run(sample_store_file, "--supplier", TENCER, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and list(rows[0]) == list(NEAR_BUYER_FIELDS)
    assert rows[0]["id"] == "name:lhc procurement group for welsh procurement alliance wpa"
    result = _run(
        sample_store_file, "--supplier", TENCER, "--section", "notices", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["stage"] for r in rows] == ["open", "open"] and rows[0]["cpv"].startswith("50")
    result = _run(sample_store_file, "--supplier", TENCER, "--section", "incumbents")
    assert result.exit_code == 2 and "buyers or notices" in result.output


def test_bad_organisations_name_the_near_ids(sample_store_file: Path) -> None:
    result = _run(sample_store_file, "--buyer", "GB-CFS-4120")
    assert result.exit_code == 1
    assert "'GB-CFS-4120' is no buyer in the store" in result.output
    assert "Did you mean: " in result.output and "GB-CFS-41205" not in result.output
    assert "GB-CFS-41105 (Birmingham City Council)" in result.output

    result = _run(sample_store_file, "--supplier", "GB-CFS-16097")
    assert result.exit_code == 1
    assert "has won no counted award" in result.output and f"{TENCER} (Tencer Ltd)" in result.output

    # A buyer's id given as a supplier (and the other way round) says which option to use.
    result = _run(sample_store_file, "--supplier", BIRMINGHAM)
    assert result.exit_code == 1 and f"try --buyer {BIRMINGHAM}" in result.output
    result = _run(sample_store_file, "--buyer", TENCER)
    assert result.exit_code == 1 and f"try --supplier {TENCER}" in result.output

    result = _run(sample_store_file, "--buyer", "no-such-organisation-anywhere")
    assert result.exit_code == 1 and "Did you mean" not in result.output


def test_usage_errors(sample_store_file: Path) -> None:
    assert _run(sample_store_file).exit_code == 2
    assert _run(sample_store_file, "--buyer", BIRMINGHAM, "--supplier", TENCER).exit_code == 2
    result = _run(sample_store_file, "--supplier", TENCER, "--theme", "facilities")
    assert result.exit_code == 2 and "--theme goes with --buyer" in result.output
    result = _run(sample_store_file, "--buyer", BIRMINGHAM, "--expiring-within", "soon")
    assert result.exit_code == 2 and "cannot read the window 'soon'" in result.output
