"""Red flags, worked out by hand from the real bundled sample.

Every expected flag below was read off the raw releases in ``data/sample/ocds`` (dates,
values, procedure), with the arithmetic written out. Days are counted between UTC calendar
dates, as ``locality.metrics.flags`` counts them. Defaults are those of ``flags.toml``:
direct awards above £30,000, open tenders advertised at least 25 days, Tukey fences at
1.5 IQR, a 5% band below each threshold, growth above 50%, one bid at most, one day's
tolerance before an award dated before its tender closed is a data-quality finding.
The sample includes the 16 Find a Tender releases (``data/sample/ocds/find-a-tender``), the
only ones that publish bid counts (``bids.statistics``).
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
from locality.metrics.facts import Tables, process_facts
from locality.metrics.flags import (
    DATA_QUALITY_FINDINGS,
    DIRECT_AWARD_METHODS,
    FLAGS,
    INTEGRITY_FLAGS,
    RED_FLAGS,
    FlagColumns,
    FlagTables,
    buyer_risk,
    default_thresholds,
    flags_expr,
    flags_table,
    load_thresholds,
    red_flag,
)
from locality.store import sql
from locality.store.db import connect
from tests.conftest import read_only
from tests.helpers import nonempty, store_counts

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
PPF_OFFICE_WORKS = "ocds-b5fd17-ce1fe07e-fe0b-4f21-b59d-78883fec46b5"
LINCS_TAXIS = "ocds-b5fd17-32cdd35a-994a-41ef-9d26-4550365c4bcf"
# Find a Tender (data/sample/ocds/find-a-tender/find-a-tender-releases.jsonl, line numbers).
FTS_KYOCERA = "ocds-h6vhtk-06f0ca"  # line 6
FTS_PASSENGER_TRANSPORT = "ocds-h6vhtk-06f19e"  # line 4
FTS_OPEN_8_BIDS = "ocds-h6vhtk-04e9fb"  # line 10
FTS_PROCESS_CHEMICALS = "ocds-h6vhtk-02874c"  # line 11
FTS_OPEN_2_BIDS = "ocds-h6vhtk-059c19"  # line 12


@pytest.fixture(scope="module")
def sample_con(sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from read_only(sample_store_file)


@pytest.fixture(scope="module")
def every_process(sample_con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Every process of the whole sample with its flags (default thresholds)."""
    expr = flags_expr(FlagTables.from_backend(duckdb_backend(sample_con)))
    return {row["ocid"]: row for row in expr.to_pyarrow().to_pylist()}


@pytest.fixture(scope="module")
def flagged(sample_con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = flags_table(sample_con).to_pylist()
    return rows


@pytest.fixture(scope="module")
def with_data_quality(sample_con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = flags_table(sample_con, include_data_quality=True).to_pylist()
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


def test_growth_and_bunching_ignore_ceilings(every_process: dict[str, dict[str, Any]]) -> None:
    """A framework's or DPS's value is a ceiling, not money (awards.counts_as = ceiling).

    * Leicestershire County Council's "Reactive Maintenance: Air Conditioning 2019"
      framework: one award of £1,600,000 (the framework's value): no growth is measured
      on it (before, growth 0: "checked, not raised").
    * North Lincolnshire Council's taxi DPS, "Lot 1 - Taxi's": one award of £29,000 to
      three firms (Crosby Cabz, Axholme Private Hire, Ash Taxis), legacy 2020 layout, tender
      value 0. 28,500 <= 29,000 < 30,000 would be "just under £30k", but £29,000 is the
      DPS's ceiling: not bunched (the tender value 0 is under no threshold's band).
    """
    leicestershire = every_process[LEICESTERSHIRE]
    assert leicestershire["awarded_value"] is None  # no money awarded, only a ceiling
    assert leicestershire["award_value_growth"] is None
    assert "award_value_growth: no award value that is money" in (leicestershire["not_computable"])
    taxis = every_process[LINCS_TAXIS]
    assert taxis["awarded_value"] is None
    assert taxis["tender_value"] == 0
    assert taxis["value_bunched_below_threshold"] is False
    assert taxis["bunched_value"] is None


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


def test_limited_procedures_are_not_direct_awards(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """A direct award is procurementMethod `direct`, the one definition the direct-award
    share uses too. Both of these are `limited`, so neither is a direct award, whatever
    their details say: Durham University's "Negotiated procedure without prior
    publication" (£511,360) and Richmond Housing Partnership's "Competitive quotation"
    (£30,792). (Before, the flag also read phrases in the details and raised Durham's.)"""
    assert DIRECT_AWARD_METHODS == ("direct",)
    assert every_process[NPWPP]["procurement_method"] == "limited"
    assert every_process[NPWPP]["awarded_value"] == 511_360
    assert every_process[NPWPP]["direct_award_over_threshold"] is False
    assert every_process[QUOTATION]["procurement_method"] == "limited"
    assert every_process[QUOTATION]["direct_award_over_threshold"] is False


def test_direct_award_flag_and_share_use_one_definition(
    sample_con: duckdb.DuckDBPyConnection, every_process: dict[str, dict[str, Any]]
) -> None:
    """Every process the flag calls a direct award is one for ``process_facts.is_direct``
    (which ``contract_shape.direct_award_share`` sums), and no other. 18 on the sample:
    13 "Single tender action (below threshold)" and 4 "Direct award" on Contracts Finder,
    1 "Below threshold - without competition" on Find a Tender."""
    facts = process_facts(Tables.from_backend(duckdb_backend(sample_con)))
    shared = {
        row["ocid"]: bool(row["is_direct"])
        for row in facts.select("ocid", "is_direct").to_pyarrow().to_pylist()
    }
    assert shared and all(every_process[o]["is_direct"] == d for o, d in shared.items())
    assert sum(row["is_direct"] for row in every_process.values()) == 18


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
        "WHERE (a.status IS NULL OR a.status = 'active') "
        "AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes) "
        "GROUP BY p.ocid, p.tender_end",
    )
    return [(award - end).days for end, award in found if end is not None and award is not None]


def test_decision_period_outlier(
    sample_con: duckdb.DuckDBPyConnection, every_process: dict[str, dict[str, Any]]
) -> None:
    """177 processes of the sample have both dates (a notice published twice under two
    OCIDs counts once). Four awards are dated more than the one day's tolerance before
    their tender closed (-365, -31, -23, -8 days: data errors, see below) and are left out,
    so the fences are over 173: Q1 = 1 day, Q3 = 63 days (linear interpolation), IQR = 62,
    fences 1 - 1.5 x 62 = -92 and 63 + 1.5 x 62 = 156 days.

    * Leicestershire County Council (legacy layout): tender end 2019-04-08, award
      2020-01-07: 22 + 31 + 30 + 31 + 31 + 30 + 31 + 30 + 31 + 7 = 274 days > 156.
    * DSTL's PhD: tender end 2022-09-30 22:59:59 UTC, award 2022-10-05 23:00 UTC: 5 days.
    * Richmond Housing Partnership's "Alarm Monitoring": tender closes
      2024-05-01T17:00:00+01:00, award dated 2024-05-01T00:00:00+01:00 (23:00 UTC on 30
      April): -1 UTC calendar day, an award on the closing day, within the tolerance: a
      decision period like any other, in the fences and not an outlier.
    """
    periods = _decision_periods(sample_con)
    assert len(periods) == 177
    kept = [days for days in periods if days >= -1]
    assert sorted(days for days in periods if days < -1) == [-365, -31, -23, -8]
    q1, _, q3 = statistics.quantiles(kept, n=4, method="inclusive")
    assert len(kept) == 173
    assert (q1, q3) == (1.0, 63.0)
    row = every_process[LEICESTERSHIRE]
    assert row["decision_fence_low"] == pytest.approx(q1 - 1.5 * (q3 - q1))  # -92
    assert row["decision_fence_high"] == pytest.approx(q3 + 1.5 * (q3 - q1))  # 156
    assert row["decision_days"] == 274
    assert row["decision_period_outlier"] is True
    assert every_process[DSTL_PHD]["decision_days"] == 5
    assert every_process[DSTL_PHD]["decision_period_outlier"] is False
    quotation = every_process[QUOTATION]
    assert quotation["decision_days"] == -1
    assert quotation["award_before_tender_end"] is False
    assert quotation["decision_period_outlier"] is False
    # Without an award there is no decision period: not computable.
    assert every_process[VIVID]["decision_period_outlier"] is None
    assert "decision_period_outlier: no award yet" in every_process[VIVID]["not_computable"]


def test_award_before_tender_end_is_a_data_quality_finding(
    every_process: dict[str, dict[str, Any]], with_data_quality: list[dict[str, Any]]
) -> None:
    """An award dated before its tender closed is a data error, not a short decision.

    * "Choose GP Marketing Campaign" (buyer "UK"): tender closes 2022-06-09T23:59:59+01:00,
      award dated 2021-06-10T00:00:00+01:00 (2021-06-09 23:00 UTC): -365 days, a year
      before (a typo in the year, most likely). It was the decision-period outlier; now it
      is a data-quality finding, with no integrity flag raised.
    * Pension Protection Fund, "Office Improvement Works", a single tender action of
      £109,409: tenderPeriod.endDate 2024-12-20T17:00:00Z, award dated
      2024-12-12T00:00:00Z: 20 - 12 = 8 days before. The finding sits beside its
      integrity flag (a direct award above £30,000).
    """
    gp = every_process[GP_CAMPAIGN]
    assert gp["decision_days"] == -365
    assert gp["award_before_tender_end"] is True
    assert gp["decision_period_outlier"] is None
    assert "decision_period_outlier: award dated before the tender closed" in (gp["not_computable"])
    assert gp["flags_raised"] == 0
    assert gp["kind"] == "data_quality"
    listed = _by_ocid(with_data_quality)
    assert listed[GP_CAMPAIGN]["reasons"] == ""
    assert listed[GP_CAMPAIGN]["data_quality"] == (
        "missing procedure; award dated 365 days before the tender closed"
    )
    ppf = listed[PPF_OFFICE_WORKS]
    assert ppf["decision_days"] == -8
    assert ppf["award_before_tender_end"] is True
    assert ppf["decision_period_outlier"] is None
    assert ppf["kind"] == "integrity"
    assert ppf["reasons"] == "direct award of £109,409 above £30,000"
    assert ppf["data_quality"] == "award dated 8 days before the tender closed"


def test_tolerance_of_award_before_tender_end(sample_con: duckdb.DuckDBPyConnection) -> None:
    """With no tolerance, the award of the "Alarm Monitoring" quotation, dated 00:00 BST on
    the closing day (-1 UTC calendar day), is before the tender end too."""
    rows = flags_table(
        sample_con,
        thresholds={"award_before_tender_end": {"tolerance_days": 0}},
        include_data_quality=True,
    ).to_pylist()
    row = _by_ocid(rows)[QUOTATION]
    assert row["award_before_tender_end"] is True
    assert row["data_quality"] == "award dated 1 day before the tender closed"


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


def test_single_bidder_is_not_computable_without_bid_counts(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """Only Find a Tender publishes bids.statistics: every other process of the sample has
    no bid count, so the flag is null ("not computable") for it, never false."""
    # Every process, less one notice published twice under two OCIDs (duplicate_processes).
    assert len(every_process) == store_counts()["processes"] - 1
    for ocid, row in every_process.items():
        if not ocid.startswith("ocds-h6vhtk-"):
            assert row["bid_count"] is None
            assert row["single_bidder"] is None
            assert "single_bidder: no bid count published" in row["not_computable"]


def test_single_bid_in_a_non_competitive_procedure_is_not_flagged(
    every_process: dict[str, dict[str, Any]],
) -> None:
    """Find a Tender, KYOCERA Document Solutions: procurementMethod `limited`, "Award
    procedure without prior publication of a call for competition", bids.statistics
    {"measure": "bids", "relatedLot": "1", "value": 1}. One bid is what an award without
    competition expects: checked, not raised."""
    row = every_process[FTS_KYOCERA]
    assert row["procurement_method"] == "limited"
    assert row["bidders"] == 1
    assert row["bid_count"] == 1
    assert row["single_bidder"] is False
    assert "single_bidder" not in (row["not_computable"] or "")


def test_single_bidder_in_competitive_procedures(
    sample_con: duckdb.DuckDBPyConnection, every_process: dict[str, dict[str, Any]]
) -> None:
    """No competitive procedure of the sample drew a single bid.

    * Open procedure, lot 1: bids 8, finalStageBids 8: 8 bids, not raised.
    * "Negotiated procedure with prior call for competition" (process chemicals framework,
      4 lots): bid counts 4, 4, 4, 2, 1, 1 are published, but with no relatedLot, so no lot
      can be said to have drawn one bid; the process's count is above one: not raised.
    * Open procedure, lot 1: the statistic "bids" = 2 published twice (ids 69 and 72): 2
      bids. With ``max_bidders = 2`` it is raised.
    """
    assert every_process[FTS_OPEN_8_BIDS]["bid_count"] == 8
    assert every_process[FTS_OPEN_8_BIDS]["single_bidder"] is False
    chemicals = every_process[FTS_PROCESS_CHEMICALS]
    assert chemicals["procurement_method"] == "selective"
    assert chemicals["bid_count"] > 1
    assert chemicals["single_bidder"] is False
    two = every_process[FTS_OPEN_2_BIDS]
    assert (two["procurement_method"], two["bid_count"]) == ("open", 2)
    assert two["single_bidder"] is False
    assert not any(row["single_bidder"] for row in every_process.values())

    overrides = {"single_bidder": {"max_bidders": 2}}
    rows = _by_ocid(flags_table(sample_con, thresholds=overrides).to_pylist())
    assert rows[FTS_OPEN_2_BIDS]["single_bidder"] is True
    assert rows[FTS_OPEN_2_BIDS]["reasons"] == "2 bids in a competitive procedure"
    assert FTS_KYOCERA not in rows  # limited: never competitive


# --- data-quality findings ----------------------------------------------------------------


def test_missing_key_fields(every_process: dict[str, dict[str, Any]]) -> None:
    """Met Office's 2014 tender (legacy layout) has no procurementMethod or details and no
    value. It has no award yet, so supplier and award date are not expected. Missing
    fields are a data-quality finding: no integrity flag can be computed for it."""
    row = every_process[MET_OFFICE_2014]
    assert row["missing_fields"] == "value, procedure"
    assert row["missing_key_fields"] is True
    assert row["kind"] == "data_quality"
    assert (row["flags_used"], row["flags_raised"], row["risk_index"]) == (0, 0, None)
    # Buyer, title, value, supplier, procedure and award date all present.
    assert every_process[DSTL_PHD]["missing_fields"] is None
    assert every_process[DSTL_PHD]["missing_key_fields"] is False


def test_invalid_award_value(
    every_process: dict[str, dict[str, Any]], with_data_quality: list[dict[str, Any]]
) -> None:
    """Find a Tender, West Northamptonshire Council, "Passenger Transport Services 2026 -
    Area Based" (limited competition, to star cab daventry limited): the award has no value
    and no date; its contract publishes {"amountGross": 0.01, "amount": 0.01}: a
    placeholder, so the award's value is unknown."""
    row = every_process[FTS_PASSENGER_TRANSPORT]
    assert row["invalid_award_value"] is True
    assert row["value_issues"] == "placeholder"
    assert row["invalid_amount"] == 0.01
    assert row["awarded_value"] is None
    assert row["kind"] == "data_quality"
    listed = _by_ocid(with_data_quality)[FTS_PASSENGER_TRANSPORT]
    assert listed["data_quality"] == (
        "missing value, award_date; award value not usable: placeholder (published £0.01)"
    )
    # A process without a counted award has nothing to check; DSTL's £41,700 is money.
    assert every_process[VIVID]["invalid_award_value"] is None
    assert every_process[DSTL_PHD]["invalid_award_value"] is False


# --- the risk index and the table --------------------------------------------------------


def test_risk_index(every_process: dict[str, dict[str, Any]]) -> None:
    """The index is over the integrity flags only: data-quality findings never raise it."""
    assert (*INTEGRITY_FLAGS, *DATA_QUALITY_FINDINGS) == FLAGS
    for row in nonempty(every_process.values(), "processes"):
        available = [row[name] for name in INTEGRITY_FLAGS if row[name] is not None]
        assert row["flags_used"] == len(available)
        assert row["flags_raised"] == sum(available)
        assert row["findings_raised"] == sum(bool(row[n]) for n in DATA_QUALITY_FINDINGS)
        if available:
            assert row["risk_index"] == pytest.approx(sum(available) / len(available))
        else:
            assert row["risk_index"] is None
        kind = "integrity" if row["flags_raised"] else "data_quality"
        assert row["kind"] == (kind if row["flags_raised"] or row["findings_raised"] else None)
    # DSTL's PhD: five flags available (single_bidder is not: no bid count), one raised
    # (direct award): 1/5.
    assert every_process[DSTL_PHD]["flags_used"] == 5
    assert every_process[DSTL_PHD]["risk_index"] == pytest.approx(1 / 5)
    # The switchgear tender: short advertisement raised, missing value found; of the two
    # integrity flags computable (short advertisement, direct award) one is raised: 1/2.
    assert every_process[SWITCHGEAR]["risk_index"] == pytest.approx(1 / 2)


def test_flags_table_rows_and_reasons(
    flagged: list[dict[str, Any]], with_data_quality: list[dict[str, Any]]
) -> None:
    assert flagged
    for row in flagged:
        assert row["kind"] == "integrity"
        assert any(row[name] for name in INTEGRITY_FLAGS)
        assert row["reasons"]
    keys = [(-row["flags_raised"], -row["risk_index"]) for row in flagged]
    assert keys == sorted(keys)
    rows = _by_ocid(flagged)
    assert rows[DSTL_PHD]["reasons"] == "direct award of £41,700 above £30,000"
    assert rows[GROWTH]["reasons"] == "award value grew from £1,350 to £4,050 (+200%)"
    # The switchgear notice gives no estimated value either: a finding, apart.
    assert rows[SWITCHGEAR]["reasons"] == "advertised 14 days (minimum 25)"
    assert rows[SWITCHGEAR]["data_quality"] == "missing value"
    assert rows[AKER]["reasons"] == "awarded value £29,500 within 5% below the £30,000 threshold"
    assert rows[AKER]["data_quality"] == ""
    assert VIVID not in rows  # nothing raised
    # Missing fields alone are not a red flag: listed only with the data-quality findings,
    # after every process with an integrity flag.
    assert MET_OFFICE_2014 not in rows
    assert with_data_quality[: len(flagged)] == flagged
    rest = with_data_quality[len(flagged) :]
    assert rest and all(row["kind"] == "data_quality" for row in rest)
    assert all(row["flags_raised"] == 0 and row["data_quality"] for row in rest)
    assert _by_ocid(rest)[MET_OFFICE_2014]["data_quality"] == "missing value, procedure"
    assert VIVID not in _by_ocid(with_data_quality)


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
    assert rows[0]["data_quality_only_processes"] == sum(
        row["kind"] == "data_quality" for row in mine
    )
    for row in nonempty(buyer_risk(sample_con).to_pylist(), "buyers"):
        assert row["risk_index"] is None or 0 <= row["risk_index"] <= 1
        assert row["flagged_processes"] <= row["assessed_processes"] <= row["processes"]
        assert row["flagged_processes"] + row["data_quality_only_processes"] <= row["processes"]


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
    # Only its missing value is left: a data-quality finding, not a flagged process.
    assert SWITCHGEAR not in rows
    every = flags_table(sample_con, thresholds=user, include_data_quality=True).to_pylist()
    switchgear = _by_ocid(every)[SWITCHGEAR]
    assert switchgear["short_advertisement"] is False
    assert (switchgear["kind"], switchgear["reasons"]) == ("data_quality", "")
    assert switchgear["data_quality"] == "missing value"
    merged = load_thresholds(user)
    assert merged["direct_award_over_threshold"]["threshold"] == 25_000
    # Keys the file does not set keep their defaults.
    defaults = default_thresholds()
    assert merged["value_bunched_below_threshold"] == defaults["value_bunched_below_threshold"]
    assert merged["single_bidder"]["non_competitive_methods"] == ["direct", "limited"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"direct_award": {"threshold": 1}}, "unknown section"),
        ({"direct_award_over_threshold": {"treshold": 1}}, "unknown key"),
        ({"direct_award_over_threshold": {"threshold": "high"}}, "expected a value like"),
        ({"missing_key_fields": {"fields": ["buyer", "colour"]}}, "unknown field"),
        ({"value_bunched_below_threshold": {"band": -0.1}}, "must not be negative"),
        # What a direct award is is one definition, not a threshold.
        ({"direct_award_over_threshold": {"methods": ["limited"]}}, "unknown key"),
        ({"invalid_award_value": {"issues": ["zero"]}}, "unknown issue"),
        ({"award_before_tender_end": {"tolerance_days": -1}}, "must not be negative"),
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


@pytest.mark.slow
def test_cli_flags(cf_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(cf_store)]
    result = runner.invoke(app, [*db, "flags", "--format", "json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert 0 < len(rows) <= 5
    assert all(row["reasons"] and 0 <= row["risk_index"] <= 1 for row in rows)
    assert {row["kind"] for row in rows} == {"integrity"}

    result = runner.invoke(app, [*db, "flags", "--format", "json"])
    integrity = json.loads(result.stdout)
    result = runner.invoke(app, [*db, "flags", "--include-data-quality", "--format", "json"])
    assert result.exit_code == 0, result.output
    every = json.loads(result.stdout)
    assert every[: len(integrity)] == integrity
    assert every[len(integrity) :]
    assert all(row["kind"] == "data_quality" for row in every[len(integrity) :])

    result = runner.invoke(app, [*db, "flags", "--buyer", "GB-GOR-EA42", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ocid,buyer_name,buyer_id,locality,title,value,kind,")
    found = list(csv.DictReader(io.StringIO(result.stdout)))
    assert found and {row["buyer_id"] for row in found} == {"GB-GOR-EA42"}
    assert DSTL_PHD in {row["ocid"] for row in found}

    result = runner.invoke(app, [*db, "flags", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "risk" in result.stdout
    assert "--include-data-quality" in result.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("[short_advertisement]\nminimum = 3\n", encoding="utf-8")
    result = runner.invoke(app, [*db, "flags", "--thresholds", str(bad)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "unknown key 'minimum' in [short_advertisement]" in message


# --- the registry --------------------------------------------------------------------------


def test_every_registered_flag_is_in_the_output(
    sample_con: duckdb.DuckDBPyConnection, with_data_quality: list[dict[str, Any]]
) -> None:
    """Each registered flag gives its column, its measures, its count per buyer and its words;
    the tuples other modules import are the registry's."""
    assert set(RED_FLAGS) == set(FLAGS)
    assert tuple(n for n, f in RED_FLAGS.items() if f.kind == "integrity") == INTEGRITY_FLAGS
    assert (
        tuple(n for n, f in RED_FLAGS.items() if f.kind == "data_quality") == DATA_QUALITY_FINDINGS
    )
    columns = list(with_data_quality[0])
    for name, flag in RED_FLAGS.items():
        assert name in columns
        assert set(flag.measures) <= set(columns), name
        # Integrity flags sit between kind and reasons; findings after not_computable.
        if flag.kind == "integrity":
            assert columns.index("kind") < columns.index(name) < columns.index("reasons")
        else:
            assert columns.index("not_computable") < columns.index(name)
            assert columns.index(name) < columns.index("data_quality")
        # (single_bidder is raised by no process of the sample, only in a test store)
        raised = [row for row in with_data_quality if row[name]]
        text = "reasons" if flag.kind == "integrity" else "data_quality"
        for row in raised:
            assert flag.reason(row, default_thresholds()[name]) in row[text]
    risk = buyer_risk(sample_con).column_names
    assert all(f"{name}_processes" in risk for name in RED_FLAGS)
    notes = " ".join(row["not_computable"] or "" for row in with_data_quality)
    assert all(f"{name}: " in notes for name in INTEGRITY_FLAGS)


@pytest.fixture
def extra_flag() -> Iterator[str]:
    """A registered flag for the test only (a tender of at least £1m), removed after."""
    name = "tender_over_a_million"

    def reason(row: dict[str, Any], th: Any) -> str:
        return f"tender value {row['tender_millions']:.1f}m"

    @red_flag(
        name,
        kind="integrity",
        needs=("tender_value",),
        measures=("tender_millions",),
        reason=reason,
    )
    def _over(b: Any, th: Any) -> FlagColumns:
        return FlagColumns(
            flag=b.tender_value >= 1_000_000,
            measures={"tender_millions": b.tender_value / 1_000_000},
        )

    try:
        yield name
    finally:
        RED_FLAGS.pop(name)


def test_a_new_registered_flag_is_picked_up(
    sample_con: duckdb.DuckDBPyConnection,
    every_process: dict[str, dict[str, Any]],
    extra_flag: str,
) -> None:
    """Registering a flag is all it takes: its column, measures, words, risk-index share and
    per-buyer count appear, and the other flags are unchanged."""
    rows = _by_ocid(flags_table(sample_con, include_data_quality=True).to_pylist())
    big = {
        ocid
        for ocid, row in every_process.items()
        if row["tender_value"] is not None and row["tender_value"] >= 1_000_000
    }
    assert big and big <= set(rows)
    for ocid, row in rows.items():
        before = every_process[ocid]
        assert row[extra_flag] == (ocid in big if before["tender_value"] is not None else None)
        assert all(row[name] == before[name] for name in FLAGS)
        assert row["flags_used"] == before["flags_used"] + (row[extra_flag] is not None)
        assert row["flags_raised"] == before["flags_raised"] + bool(row[extra_flag])
        if row[extra_flag]:
            assert row["kind"] == "integrity"
            assert f"tender value {row['tender_millions']:.1f}m" in row["reasons"]
    risk = buyer_risk(sample_con).to_pylist()
    assert sum(r[f"{extra_flag}_processes"] for r in risk) == len(big)


def test_a_flag_needing_a_missing_column_is_refused(sample_con: duckdb.DuckDBPyConnection) -> None:
    name = "needs_nothing_there"

    @red_flag(name, kind="data_quality", needs=("no_such_column",), reason=lambda r, t: "")
    def _bad(b: Any, th: Any) -> FlagColumns:
        return FlagColumns(flag=b.no_such_column.notnull())

    try:
        with pytest.raises(ValueError, match=r"needs_nothing_there.*no_such_column"):
            flags_table(sample_con)
    finally:
        RED_FLAGS.pop(name)
    with pytest.raises(ValueError, match="already registered"):
        red_flag("single_bidder", kind="integrity", needs=(), reason=lambda r, t: "")(
            lambda b, th: FlagColumns(flag=b.ocid.isnull())
        )
