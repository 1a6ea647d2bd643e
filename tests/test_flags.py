"""Red flags, worked out by hand from the real bundled sample.

Every expected flag below was read off the raw releases in ``data/sample/ocds`` (dates,
values, procedure), with the arithmetic written out. Days are counted between UTC calendar
dates, as ``locality.metrics.flags`` counts them. Defaults are those of ``flags.toml``:
direct awards above £30,000, open tenders advertised at least 25 days, Tukey fences at
1.5 IQR, a 5% band below each threshold, growth above 50%.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.ingest.pipeline import ingest
from locality.metrics import duckdb_backend
from locality.metrics.flags import (
    FLAGS,
    FlagTables,
    buyer_risk,
    default_thresholds,
    flags_expr,
    flags_table,
    load_thresholds,
)
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_RELEASES

GROWTH = "ocds-b5fd17-9acd68ad-792b-4018-834f-ae3b047c8a7d"
DSTL_PHD = "ocds-b5fd17-e4ce9534-df42-4903-8af1-13f860df9939"
AKER = "ocds-b5fd17-f80f9edd-ca2a-443a-a237-22e7b8b92a65"
NPWPP = "ocds-b5fd17-194ee8dc-3539-4ac1-bdd6-8b36b014f525"
QUOTATION = "ocds-b5fd17-baf18c1f-2745-4874-a86a-525ec2625841"
SWITCHGEAR = "ocds-b5fd17-0cfd831c-e806-46ef-98b6-ecbbe651f440"
VIVID = "ocds-b5fd17-aa2f9687-ea75-4285-acdb-baff85637e43"
WALES_MENTAL_HEALTH = "ocds-kuma6s-148107"
TRAFFORD_LEGACY = "ocds-b5fd17-d72762d9-d49d-413b-9e1f-99e1b3b5430d"
GP_CAMPAIGN = "ocds-b5fd17-616ba0f3-97db-4bae-91ba-1cd9d50f9e29"
LEICESTERSHIRE = "ocds-b5fd17-bd86d0e6-8941-48e9-87fd-94f9289b9e7e"
NUTRIENTS = "ocds-b5fd17-81c29e70-03bd-443f-89b9-893b5558fd4c"
MET_OFFICE_2014 = "ocds-b5fd17-2c330cf9-adc8-11e6-9901-0019b9f3037b"


@pytest.fixture(scope="module")
def sample_con(sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(sample_store_file, read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def every_process(sample_con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Every process of the whole sample with its flags (default thresholds)."""
    expr = flags_expr(FlagTables.from_backend(duckdb_backend(sample_con)))
    return {row["ocid"]: row for row in expr.to_pyarrow().to_pylist()}


@pytest.fixture(scope="module")
def flagged(sample_con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = flags_table(sample_con).to_pylist()
    return rows


def _by_ocid(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["ocid"]: row for row in rows}


# --- 5. award value growth ----------------------------------------------------------------


def test_award_value_growth(every_process: dict[str, dict[str, Any]]) -> None:
    """UK Research & Innovation, a DPS call-off. Award -1 was published at £1,350
    (release of 2022-10-20T09:12:34+01:00), then an awardUpdate at 09:27:24 the same
    morning gave £4,050 (the title now names three projects): 4,050 / 1,350 - 1 = 2.0,
    i.e. +200% > 50%."""
    row = every_process[GROWTH]
    assert row["value_first"] == 1_350
    assert row["value_latest"] == 4_050
    assert row["value_growth"] == pytest.approx(4_050 / 1_350 - 1)  # 2.0
    assert row["award_value_growth"] is True


def test_growth_is_false_for_a_single_version(every_process: dict[str, dict[str, Any]]) -> None:
    """DSTL's PhD award was published once (£41,700): growth 0, checked and not raised."""
    row = every_process[DSTL_PHD]
    assert row["value_growth"] == 0
    assert row["award_value_growth"] is False


# --- 1. direct award over the threshold --------------------------------------------------


def test_direct_award_over_threshold(every_process: dict[str, dict[str, Any]]) -> None:
    """DSTL, "Single tender action (below threshold)", procurementMethod direct: one award
    of £41,700 to the University of Nottingham. 41,700 > 30,000."""
    row = every_process[DSTL_PHD]
    assert row["procurement_method"] == "direct"
    assert row["awarded_value"] == 41_700
    assert row["direct_award_over_threshold"] is True


def test_direct_award_at_or_under_threshold_is_not_flagged(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """Cabinet Office, direct award of £29,500 to Aker Systems: 29,500 <= 30,000, so not
    this flag; but 30,000 x 0.95 = 28,500 <= 29,500 < 30,000: bunched under £30k."""
    row = every_process[AKER]
    assert row["direct_award_over_threshold"] is False
    assert row["value_bunched_below_threshold"] is True
    assert row["bunched_threshold"] == 30_000


def test_which_limited_procedures_count_as_direct(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """Both are procurementMethod `limited`. Durham University's "Negotiated procedure
    without prior publication" (£511,360) is a direct award by its details; Richmond
    Housing Partnership's "Competitive quotation" (£30,792) is a competition."""
    assert every_process[NPWPP]["procurement_method"] == "limited"
    assert every_process[NPWPP]["direct_award_over_threshold"] is True  # 511,360 > 30,000
    assert every_process[QUOTATION]["procurement_method"] == "limited"
    assert every_process[QUOTATION]["direct_award_over_threshold"] is False


# --- 2. short advertisement --------------------------------------------------------------


def test_short_advertisement(every_process: dict[str, dict[str, Any]]) -> None:
    """London North West University Healthcare NHS Trust, open procedure: datePublished
    2022-10-20T07:44:05+01:00 (06:44 UTC, 20 October), tenderPeriod.endDate
    2022-11-03T23:59:59Z: 11 days left in October + 3 = 14 days < 25."""
    row = every_process[SWITCHGEAR]
    assert row["advert_start"].date() == date(2022, 10, 20)
    assert row["tender_end"].date() == date(2022, 11, 3)
    assert row["advertised_days"] == 14
    assert row["advert_minimum_days"] == 25
    assert row["short_advertisement"] is True


def test_short_advertisement_other_publisher(every_process: dict[str, dict[str, Any]]) -> None:
    """Sell2Wales, NHS Wales Shared Services, open procedure, £340,000: the tender release
    of 2025-02-12 (no startDate) closes 2025-02-26T12:00Z: 26 - 12 = 14 days < 25."""
    row = every_process[WALES_MENTAL_HEALTH]
    assert row["advertised_days"] == 14
    assert row["short_advertisement"] is True


def test_advertisement_counts_from_date_published(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """VIVID's tender reached Contracts Finder in a release of 2022-10-19, but the notice
    says datePublished 2022-09-23T14:35:37+01:00; it closes 2022-10-28T23:59:59+01:00
    (22:59 UTC, 28 October). From the release it would be 9 days; from publication it is
    7 days left in September + 28 = 35 days >= 25: not flagged."""
    row = every_process[VIVID]
    assert row["advert_start"].date() == date(2022, 9, 23)
    assert row["advertised_days"] == 35
    assert row["short_advertisement"] is False


def test_short_advertisement_not_computable_without_the_notice(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """Trafford Council (legacy 2020 award layout, "Open procedure"): only the award
    release is published, so when the tender was advertised is unknown."""
    row = every_process[TRAFFORD_LEGACY]
    assert row["short_advertisement"] is None
    assert "short_advertisement: tender notice not in the store" in row["not_computable"]
    # A direct award is never "advertised too short": checked, false.
    assert every_process[DSTL_PHD]["short_advertisement"] is False


# --- 3. decision period outliers ---------------------------------------------------------


def _decision_periods(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Independently of the module: tender end to first counted award, UTC calendar days."""
    found = sql.rows(
        con,
        "SELECT CAST(p.tender_end AS DATE), min(CAST(a.award_date AS DATE)) "
        "FROM processes p JOIN awards a USING (ocid) "
        "WHERE a.status IS NULL OR a.status = 'active' GROUP BY p.ocid, p.tender_end",
    )
    return [(award - end).days for end, award in found if end is not None and award is not None]


def test_decision_period_outlier(
    sample_con: duckdb.DuckDBPyConnection, every_process: dict[str, dict[str, Any]]
) -> None:
    """Fences over the 178 processes of the sample with both dates: Q1 = 1 day,
    Q3 = 61.75 days (linear interpolation), IQR = 60.75, so the fences are
    1 - 1.5 x 60.75 = -90.125 and 61.75 + 1.5 x 60.75 = 152.875 days.

    * "Choose GP Marketing Campaign" (buyer "UK"): tender closes 2022-06-09T23:59:59+01:00,
      award dated 2021-06-10T00:00:00+01:00 (2021-06-09 23:00 UTC): -365 days, a year
      before the tender closed (a typo in the year, most likely): outlier.
    * Leicestershire County Council (legacy layout): tender end 2019-04-08, award
      2020-01-07: 22 + 31 + 30 + 31 + 31 + 30 + 31 + 30 + 31 + 7 = 274 days > 152.875.
    * DSTL's PhD: tender end 2022-09-30 22:59:59 UTC, award 2022-10-05 23:00 UTC: 5 days.
    """
    periods = _decision_periods(sample_con)
    q1, _, q3 = statistics.quantiles(periods, n=4, method="inclusive")
    assert len(periods) == 178
    assert (q1, q3) == (1.0, 61.75)
    row = every_process[GP_CAMPAIGN]
    assert row["decision_fence_low"] == pytest.approx(q1 - 1.5 * (q3 - q1))  # -90.125
    assert row["decision_fence_high"] == pytest.approx(q3 + 1.5 * (q3 - q1))  # 152.875
    assert row["decision_days"] == -365
    assert row["decision_period_outlier"] is True
    assert every_process[LEICESTERSHIRE]["decision_days"] == 274
    assert every_process[LEICESTERSHIRE]["decision_period_outlier"] is True
    assert every_process[DSTL_PHD]["decision_days"] == 5
    assert every_process[DSTL_PHD]["decision_period_outlier"] is False
    # Without an award there is no decision period: not computable.
    assert every_process[VIVID]["decision_period_outlier"] is None
    assert "decision_period_outlier: no award yet" in every_process[VIVID]["not_computable"]


# --- 4. values bunched under a threshold -------------------------------------------------


def test_value_bunched_below_threshold(every_process: dict[str, dict[str, Any]]) -> None:
    """Natural England, competitive quotation, tender value £24,999 (no award yet):
    25,000 x 0.95 = 23,750 <= 24,999 < 25,000 (the pre-2022 Contracts Finder value)."""
    row = every_process[NUTRIENTS]
    assert row["tender_value"] == 24_999
    assert row["value_bunched_below_threshold"] is True
    assert row["bunched_threshold"] == 25_000
    assert row["bunched_value"] == 24_999
    # £41,700 is not within 5% below any threshold (nearest above it: 139,688).
    assert every_process[DSTL_PHD]["value_bunched_below_threshold"] is False


# --- 6. single bidder ---------------------------------------------------------------------


def test_single_bidder_is_never_computable_here(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """No publisher in the sample gives bids.statistics: null ("not computable") for every
    process, never false ("no flag")."""
    assert len(every_process) == 573
    for row in every_process.values():
        assert row["single_bidder"] is None
        assert "single_bidder: no bid counts" in row["not_computable"]


# --- 7. missing key fields ----------------------------------------------------------------


def test_missing_key_fields(every_process: dict[str, dict[str, Any]]) -> None:
    """Met Office's 2014 tender (legacy layout) has no procurementMethod or details and no
    value. It has no award yet, so supplier and award date are not expected."""
    row = every_process[MET_OFFICE_2014]
    assert row["missing_fields"] == "value, procedure"
    assert row["missing_key_fields"] is True
    # Buyer, title, value, supplier, procedure and award date all present.
    assert every_process[DSTL_PHD]["missing_fields"] is None
    assert every_process[DSTL_PHD]["missing_key_fields"] is False


# --- the risk index and the table --------------------------------------------------------


def test_risk_index(every_process: dict[str, dict[str, Any]]) -> None:
    for row in every_process.values():
        available = [row[name] for name in FLAGS if row[name] is not None]
        assert row["flags_used"] == len(available)
        assert 1 <= row["flags_used"] <= 6  # single_bidder is never available here
        assert 0 <= row["risk_index"] <= 1
        assert row["risk_index"] == pytest.approx(sum(available) / len(available))
    # DSTL's PhD: six flags available, one raised (direct award): 1/6.
    assert every_process[DSTL_PHD]["flags_used"] == 6
    assert every_process[DSTL_PHD]["risk_index"] == pytest.approx(1 / 6)


def test_flags_table_rows_and_reasons(flagged: list[dict[str, Any]]) -> None:
    assert flagged
    for row in flagged:
        assert any(row[name] for name in FLAGS)
        assert row["reasons"]
    keys = [(-row["flags_raised"], -row["risk_index"]) for row in flagged]
    assert keys == sorted(keys)
    rows = _by_ocid(flagged)
    assert rows[DSTL_PHD]["reasons"] == "direct award of £41,700 above £30,000"
    assert rows[GROWTH]["reasons"] == "award value grew from £1,350 to £4,050 (+200%)"
    # The switchgear notice gives no estimated value either.
    assert rows[SWITCHGEAR]["reasons"] == "advertised 14 days (minimum 25); missing value"
    assert rows[AKER]["reasons"] == "awarded value £29,500 within 5% below the £30,000 threshold"
    assert rows[MET_OFFICE_2014]["reasons"] == "missing value, procedure"
    assert VIVID not in rows  # nothing raised


def test_filters_select_rows_without_changing_flags(
    sample_con: duckdb.DuckDBPyConnection, flagged: list[dict[str, Any]]
) -> None:
    dstl = flags_table(sample_con, buyer="defence science and technology laboratory")
    assert {row["buyer_id"] for row in dstl.to_pylist()} == {"GB-GOR-EA42"}
    by_id = flags_table(sample_con, buyer="GB-GOR-EA42")
    assert by_id.to_pylist() == dstl.to_pylist()
    leicester = flags_table(sample_con, locality="leicester").to_pylist()
    assert leicester and {row["locality"] for row in leicester} == {"Leicester"}
    # The decision-period fences stay those of the whole store.
    assert _by_ocid(leicester)[LEICESTERSHIRE] == _by_ocid(flagged)[LEICESTERSHIRE]
    assert flags_table(sample_con, limit=5).num_rows == 5


def test_buyer_risk(
    sample_con: duckdb.DuckDBPyConnection, every_process: dict[str, dict[str, Any]]
) -> None:
    rows = buyer_risk(sample_con, buyer="GB-GOR-EA42").to_pylist()
    assert len(rows) == 1
    mine = [row for row in every_process.values() if row["buyer_id"] == "GB-GOR-EA42"]
    assert rows[0]["processes"] == len(mine)
    expected = sum(row["risk_index"] for row in mine) / len(mine)
    assert rows[0]["risk_index"] == pytest.approx(expected)
    assert rows[0]["direct_award_over_threshold_processes"] == sum(
        bool(row["direct_award_over_threshold"]) for row in mine
    )
    for row in buyer_risk(sample_con).to_pylist():
        assert 0 <= row["risk_index"] <= 1
        assert row["flagged_processes"] <= row["assessed_processes"] <= row["processes"]


# --- thresholds ---------------------------------------------------------------------------


def test_user_thresholds_override_the_defaults(
    sample_con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Lowering the direct-award threshold to £25,000 catches Aker (£29,500 > 25,000);
    a 14-day minimum clears the 14-day switchgear tender (14 < 14 is false)."""
    user = tmp_path / "strict.toml"
    user.write_text(
        "[direct_award_over_threshold]\nthreshold = 25000\n\n"
        "[short_advertisement]\nminimum_days = 14\n",
        encoding="utf-8",
    )
    rows = _by_ocid(flags_table(sample_con, thresholds=user).to_pylist())
    assert rows[AKER]["direct_award_over_threshold"] is True
    assert "direct award of £29,500 above £25,000" in rows[AKER]["reasons"]
    assert rows[SWITCHGEAR]["short_advertisement"] is False
    assert rows[SWITCHGEAR]["reasons"] == "missing value"
    merged = load_thresholds(user)
    assert merged["direct_award_over_threshold"]["threshold"] == 25_000
    # Keys the file does not set keep their defaults.
    defaults = default_thresholds()
    assert merged["value_bunched_below_threshold"] == defaults["value_bunched_below_threshold"]
    assert merged["direct_award_over_threshold"]["methods"] == ["direct"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"direct_award": {"threshold": 1}}, "unknown section"),
        ({"direct_award_over_threshold": {"treshold": 1}}, "unknown key"),
        ({"direct_award_over_threshold": {"threshold": "high"}}, "expected a value like"),
        ({"missing_key_fields": {"fields": ["buyer", "colour"]}}, "unknown field"),
        ({"value_bunched_below_threshold": {"band": -0.1}}, "must not be negative"),
    ],
)
def test_bad_thresholds_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_thresholds(overrides)


def test_planning_notice_shortens_the_minimum(tmp_path: Path) -> None:
    """A constructed process (the sample has no planning notice sharing an OCID with its
    tender): planning release 2024-01-02, tender release 2024-03-01 closing 2024-03-15.
    59 days' notice is within 40-365, so the minimum is 10 days: 14 days is enough."""
    buyer = {"id": "GB-TEST-1", "name": "Test Council"}
    party = {**buyer, "roles": ["buyer"]}
    tender = {"id": "t1", "title": "Grounds maintenance"}
    releases = [
        {"ocid": "ocds-test01-1", "id": "p1", "date": "2024-01-02T10:00:00Z",
         "tag": ["planning"], "buyer": buyer, "parties": [party], "tender": tender},
        {"ocid": "ocds-test01-1", "id": "t1", "date": "2024-03-01T10:00:00Z",
         "tag": ["tender"], "buyer": buyer, "parties": [party],
         "tender": {**tender, "procurementMethod": "open",
                    "value": {"amount": 50000, "currency": "GBP"},
                    "tenderPeriod": {"endDate": "2024-03-15T12:00:00Z"}}},
    ]  # fmt: skip
    path = tmp_path / "planned.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in releases) + "\n", encoding="utf-8")
    con = connect(tmp_path / "planned.duckdb")
    try:
        ingest(con, [path])
        (row,) = flags_expr(FlagTables.from_backend(duckdb_backend(con))).to_pyarrow().to_pylist()
    finally:
        con.close()
    assert row["advertised_days"] == 14
    assert row["advert_minimum_days"] == 10
    assert row["short_advertisement"] is False
    # Only one process: no fences can be set from the data.
    assert row["decision_period_outlier"] is None


# --- the command --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cf_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flags") / "cf.duckdb"
    con = connect(path)
    ingest(con, [CF_RELEASES])
    con.close()
    return path


def test_cli_flags(cf_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(cf_store)]
    result = runner.invoke(app, [*db, "flags", "--format", "json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert 0 < len(rows) <= 5
    assert all(row["reasons"] and 0 <= row["risk_index"] <= 1 for row in rows)

    result = runner.invoke(app, [*db, "flags", "--buyer", "GB-GOR-EA42", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ocid,buyer_name,buyer_id,locality,title,value,")
    found = list(csv.DictReader(io.StringIO(result.stdout)))
    assert found and {row["buyer_id"] for row in found} == {"GB-GOR-EA42"}
    assert DSTL_PHD in {row["ocid"] for row in found}

    result = runner.invoke(app, [*db, "flags", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "risk" in result.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("[short_advertisement]\nminimum = 3\n", encoding="utf-8")
    result = runner.invoke(app, [*db, "flags", "--thresholds", str(bad)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "unknown key 'minimum' in [short_advertisement]" in message
