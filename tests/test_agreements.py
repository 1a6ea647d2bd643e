"""Frameworks and DPS ceilings are never money awarded; every award's value says what it is.

On the bundled real sample: the frameworks named in the issue are read as frameworks, with
their evidence, their ceilings leave ``awarded_value`` and every place total, and
``metrics --by buyer`` reports them as ``framework_ceiling_value``."""

from __future__ import annotations

import math

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from locality.domain.agreements import classify
from locality.domain.values import award_value, value_issue
from locality.metrics import run

# (OCID, buyer, what the release says). Lines of contracts-finder-legacy-2020-award-releases.
NAMED_FRAMEWORKS = {
    # YPO 000942 "Managing Temporary and Permanent Recruitment": £3bn, 34 suppliers.
    "ocds-b5fd17-b0592f8d-ebf4-4424-a970-4704ff70d052": "appointed onto a framework",
    # Hyde "Main Contractor Framework": £2bn.
    "ocds-b5fd17-8948ec0b-b1bc-4505-9f79-8a6197d82495": "title: 'framework'",
    # South East Coast Ambulance "Ambulance and Specialist Vehicle Supply Framework", twice.
    "ocds-b5fd17-032e5537-4210-4af3-85ba-81e4bb34074f": "title: 'framework'",
    "ocds-b5fd17-a0638827-288a-4a81-8b72-594359e1f44c": "title: 'framework'",
    # Crown Commercial Service "Payment Acceptance": a "Pan Government Agreement".
    "ocds-b5fd17-9c8e7ec5-c110-4107-9ea7-b0534f55ff76": "pan government agreement",
}
NORTHERN_HOUSING = "Asbestos, Legionella and Mould Management"


def test_named_frameworks_are_frameworks_with_evidence(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    rows = dict(
        (ocid, (kind, evidence))
        for ocid, kind, evidence in sample_store.execute(
            "SELECT ocid, agreement_type, agreement_evidence FROM processes "
            "WHERE ocid IN (SELECT unnest(?))",
            [list(NAMED_FRAMEWORKS)],
        ).fetchall()
    )
    for ocid, phrase in NAMED_FRAMEWORKS.items():
        kind, evidence = rows[ocid]
        assert kind == "framework", ocid
        assert phrase in evidence, (ocid, evidence)
    nhc = sample_store.execute(
        "SELECT agreement_type, agreement_evidence, central_purchasing_body FROM processes "
        "WHERE title = ?",
        [NORTHERN_HOUSING],
    ).fetchone()
    assert nhc == ("framework", "description: 'a framework for'", True)


def test_no_ceiling_is_money(sample_store: duckdb.DuckDBPyConnection) -> None:
    by_buyer = {r["buyer_id"]: r for r in run(sample_store, None, "buyer").to_pylist()}
    ypo = next(r for r in by_buyer.values() if r["buyer_name"] == "YPO")
    assert ypo["framework_ceiling_value"] == 3_000_000_000
    assert ypo["frameworks"] == 1
    assert ypo["awarded_value"] < 1_000_000_000
    # No buyer's awarded value holds any framework or DPS award.
    ceilings = dict(
        sample_store.execute(
            """
            SELECT p.buyer_org_id, sum(a.value) FROM awards a JOIN processes p USING (ocid)
            WHERE a.counts_as = 'ceiling' AND a.value IS NOT NULL GROUP BY ALL
            """
        ).fetchall()
    )
    money = dict(
        sample_store.execute(
            """
            SELECT p.buyer_org_id, coalesce(sum(a.value), 0) FROM awards a
            JOIN processes p USING (ocid)
            WHERE a.counts_as = 'awarded' AND a.currency = 'GBP'
              AND coalesce(a.status, 'active') = 'active'
              AND ocid NOT IN (SELECT ocid FROM duplicate_processes)
            GROUP BY ALL
            """
        ).fetchall()
    )
    assert ceilings, "the sample has framework ceilings"
    for buyer, row in by_buyer.items():
        assert math.isclose(row["awarded_value"], money.get(buyer, 0), abs_tol=0.01), buyer
    # The largest award counted as money anywhere is well under any of the named ceilings.
    top = max(r["awarded_value"] for r in by_buyer.values())
    assert top < 450_000_000


def test_places_count_no_ceiling(sample_store: duckdb.DuckDBPyConnection) -> None:
    rows = {r["place"]: r for r in run(sample_store, None, "place").to_pylist()}
    west_yorkshire = rows["West Yorkshire"]
    # Before: £3.1bn from 11 awards, YPO's £3bn ceiling among them.
    assert west_yorkshire["awarded_value"] < 100_000_000
    assert west_yorkshire["framework_ceiling_value"] >= 3_000_000_000
    assert west_yorkshire["framework_ceiling_cpb_value"] >= 3_000_000_000


def test_call_offs_are_money(sample_store: duckdb.DuckDBPyConnection) -> None:
    counts = dict(
        sample_store.execute(
            "SELECT counts_as, count(*) FROM awards WHERE agreement_type = 'call_off' GROUP BY ALL"
        ).fetchall()
    )
    assert counts.get("ceiling", 0) == 0
    assert counts["awarded"] > 0


def test_text_rules_read_real_notices() -> None:
    # Real titles and descriptions from the sample.
    assert classify(
        techniques=[],
        method_details="Call off from a Framework Agreement",
        notice_forms=[],
        title="Asbestos Management",
        description=None,
    )[0] == ("call_off")
    assert classify(
        techniques=[{"hasFrameworkAgreement": True}],
        method_details="Negotiated procedure with prior call for competition",
        notice_forms=[],
        title="Goods-Framework-Supply",
        description=None,
    ) == ("framework", "tender.techniques.hasFrameworkAgreement")
    # A framework's description says members will call off from it: still a framework.
    assert (
        classify(
            techniques=[],
            method_details="Open procedure",
            notice_forms=[],
            title="Reactive Maintenance: Air Conditioning 2019",
            description="The Client intends to appoint up to 4 (four) Suppliers to each lot of "
            "the Framework. ... where new Customer's call off from the Framework",
        )[0]
        == "framework"
    )
    # A contract bought through one is a call-off.
    assert (
        classify(
            techniques=[],
            method_details=None,
            notice_forms=[],
            title="Demolition services Farm Road",
            description="Demolition of old church. Procured through L&Q framework.",
        )[0]
        == "call_off"
    )
    assert classify(
        techniques=[], method_details=None, notice_forms=["UK15"], title="Space", description=""
    )[0] == ("dynamic_purchasing_system")
    assert classify(
        techniques=[],
        method_details="Open procedure",
        notice_forms=[],
        title="Transport Services - Tender Batch 1052",
        description="",
        max_suppliers_on_one_award=8,
    ) == ("framework", "shape: 8 suppliers on one award with one value")
    assert classify(
        techniques=[],
        method_details="Open procedure",
        notice_forms=[],
        title="Paper",
        description="",
    )[0] == ("contract")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_value_a_measure_may_sum_is_plausible_money(amount: float) -> None:
    chosen = award_value(
        {"id": "1", "value": {"amount": amount, "currency": "GBP"}}, [], only_award=True
    )
    if chosen.value is not None:
        assert math.isfinite(chosen.value) and 1 < chosen.value <= 100e9
        assert chosen.issue is None
    else:
        assert chosen.issue == value_issue(amount)


def test_gross_is_never_mixed_with_net() -> None:
    contracts = [
        {"awardID": "1", "value": {"amount": 100.0, "amountGross": 120.0, "currency": "GBP"}},
        {"awardID": "1", "value": {"amountGross": 60.0, "currency": "GBP"}},
    ]
    chosen = award_value({"id": "1"}, contracts, only_award=True)
    # One contract publishes no net amount: the net sum is unknown, the gross sum is kept.
    assert (chosen.value, chosen.net, chosen.gross, chosen.source) == (
        180.0,
        None,
        180.0,
        "gross-only",
    )
    assert (
        award_value(
            {"id": "1", "value": {"amount": -5e6, "currency": "GBP"}}, [], only_award=True
        ).issue
        == "negative"
    )
