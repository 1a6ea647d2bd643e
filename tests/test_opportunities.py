"""Opportunities: stages from notices, expiring contracts, challenges (issue 13)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.domain.places import builtin_places, buyer_in_councils, resolve
from locality.matching.match import target_from_opportunity
from locality.matching.opportunities import (
    OpportunityError,
    OpportunityFilter,
    contract_end,
    expiring_contracts,
    find_opportunity,
    list_opportunities,
    load_challenges,
    notice_opportunities,
    notice_stage,
    parse_window,
    planning_deadline,
    release_cpv_codes,
)
from tests.conftest import FIXTURES

TODAY = dt.date(2026, 6, 1)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("stage", "form", "status", "end", "awards", "expected"),
    [
        ("pipeline", "UK1", "planned", None, 0, "pipeline"),
        ("engagement", "UK2", "planning", None, 0, "engagement"),
        ("planned", None, "planning", None, 0, "planned"),
        ("tender", "UK4", "active", _at("2026-06-30"), 0, "open"),
        ("tender", "UK4", "active", _at("2026-05-31"), 0, "closed"),
        ("tender", None, "active", None, 0, "open"),
        ("tender", None, "complete", None, 0, "closed"),
        ("tender", None, "active", _at("2026-06-30"), 1, "awarded"),
        ("award", "UK6", "complete", None, 1, "awarded"),
        ("procurement_termination", "UK12", "withdrawn", None, 0, "cancelled"),
        ("tender", None, "unsuccessful", _at("2019-01-01"), 0, "cancelled"),
        ("dynamic_market", "UK15", None, None, 0, "open"),
        ("dynamic_market", "UK16", None, None, 0, "closed"),
    ],
)
def test_notice_stage(
    stage: str, form: str | None, status: str | None, end: Any, awards: int, expected: str
) -> None:
    assert notice_stage(stage, form, status, end, awards, TODAY) == expected


def test_stages_of_the_real_find_a_tender_notices(sample_store: duckdb.DuckDBPyConnection) -> None:
    by_id = {o["id"]: o for o in notice_opportunities(sample_store, TODAY)}
    assert by_id["ocds-h6vhtk-06f1b4"]["stage"] == "pipeline"  # UK1
    assert by_id["ocds-h6vhtk-06f1ad"]["stage"] == "engagement"  # UK2
    assert by_id["ocds-h6vhtk-05f9f4"]["stage"] == "cancelled"  # UK12
    assert by_id["ocds-h6vhtk-04e9fb"]["stage"] == "awarded"  # UK6
    # UK4 tenders: deadlines 2026-05-08 and 2026-09-21.
    assert by_id["ocds-h6vhtk-067fb8"]["stage"] == "closed"
    assert by_id["ocds-h6vhtk-06f1b2"]["stage"] == "open"
    assert by_id["ocds-h6vhtk-06f1b2"]["days_left"] == (dt.date(2026, 9, 21) - TODAY).days
    later = {o["id"]: o for o in notice_opportunities(sample_store, dt.date(2026, 10, 1))}
    assert later["ocds-h6vhtk-06f1b2"]["stage"] == "closed"


def test_open_means_the_deadline_has_not_passed(sample_store: duckdb.DuckDBPyConnection) -> None:
    for day in (dt.date(2019, 4, 1), dt.date(2025, 2, 10), TODAY):
        found = list_opportunities(sample_store, day, OpportunityFilter(stages=("open",)))
        assert found
        for o in found:
            assert o["closes"] is None or o["closes"] >= day


def test_contract_end_sources_in_order() -> None:
    award_date = dt.date(2024, 1, 15)
    release: dict[str, Any] = {
        "awards": [{"id": "1", "contractPeriod": {"durationInMonths": 24}}],
        "contracts": [{"awardID": "1", "period": {"maxExtentDate": "2027-01-31T00:00:00Z"}}],
        "tender": {"contractPeriod": {"endDate": "2030-01-01"}},
    }
    assert contract_end(release, "1", award_date) == (
        dt.date(2027, 1, 31),
        "contracts.period.maxExtentDate",
    )
    release["contracts"][0]["period"]["endDate"] = "2026-12-31"
    assert contract_end(release, "1", award_date) == (
        dt.date(2026, 12, 31),
        "contracts.period.endDate",
    )
    release["contracts"] = []
    # 24 months from 15 January 2024 end the day before 15 January 2026.
    assert contract_end(release, "1", award_date) == (
        dt.date(2026, 1, 14),
        "award date + durationInMonths",
    )
    assert contract_end(release, "1", None) == (
        dt.date(2030, 1, 1),
        "tender.contractPeriod.endDate",
    )
    assert contract_end({}, "1", award_date) == (None, None)


def test_expiring_contracts_on_the_sample(sample_store: duckdb.DuckDBPyConnection) -> None:
    today = dt.date(2026, 12, 7)
    found = expiring_contracts(sample_store, today, 365)
    assert {o["stage"] for o in found} == {"expiring", "expired_unknown"}
    for o in found:
        assert o["end_date_source"]
        assert abs((o["end_date"] - today).days) <= 365
        assert (o["stage"] == "expiring") == (o["end_date"] >= today)
        # Only money is a value: a framework's is its ceiling, never shown as money.
        assert not (o["value_is_ceiling"] and o["value"] is not None)
        assert o["incumbent_sme"] == any(i["scale"] == "sme" for i in o["incumbents"])
    wider = expiring_contracts(sample_store, today, 3650)
    assert len(wider) > len(found)


def test_parse_window() -> None:
    assert parse_window("30d") == 30
    assert parse_window("6w") == 42
    assert parse_window("12m") == 365
    assert parse_window("12", unit_default="m") == 365
    with pytest.raises(OpportunityError, match="30d"):
        parse_window("soon")


def test_challenges_from_yaml_and_csv() -> None:
    yaml_found = load_challenges(FIXTURES / "matching_challenges.yaml")
    assert [c.title for c in yaml_found] == [
        "Community transport for older residents",
        "Retrofit advice for private tenants",
    ]
    assert yaml_found[0].cpv == ["60130000", "85310000"]
    assert yaml_found[0].value == 180000
    assert yaml_found[0].closes == dt.date(2027, 2, 28)
    assert yaml_found[1].cpv == ["09300000", "45321000"]
    csv_found = load_challenges(FIXTURES / "matching_challenges.csv")
    assert csv_found[0].cpv == ["48000000", "60130000"]
    assert csv_found[1].value is None and csv_found[1].closes is None


def test_a_bad_challenge_names_file_record_and_reason(tmp_path: Path) -> None:
    with pytest.raises(OpportunityError, match=r"matching_bad_challenges\.csv, line 3.*'12345'"):
        load_challenges(FIXTURES / "matching_bad_challenges.csv")
    bad = tmp_path / "c.yaml"
    bad.write_text("title: x\ncolour: blue\n", encoding="utf-8")
    with pytest.raises(OpportunityError, match=r"unknown key.*'colour'"):
        load_challenges(bad)
    bad.write_text("description: no title\n", encoding="utf-8")
    with pytest.raises(OpportunityError, match="challenge 1: a challenge needs a title"):
        load_challenges(bad)


def test_filters(sample_store: duckdb.DuckDBPyConnection) -> None:
    challenges = load_challenges(FIXTURES / "matching_challenges.yaml")
    everything = list_opportunities(sample_store, TODAY, OpportunityFilter(), challenges)
    assert {o["stage"] for o in everything} <= {
        "pipeline",
        "engagement",
        "planned",
        "open",
        "challenge",
    }
    assert sum(o["kind"] == "challenge" for o in everything) == 2
    leeds = list_opportunities(
        sample_store,
        TODAY,
        OpportunityFilter(councils=frozenset({"LDS"}), place_name="Leeds"),
        challenges,
    )
    assert leeds and all(o["la_registry_code"] == "LDS" or o["place"] == "Leeds" for o in leeds)
    closing = list_opportunities(
        sample_store, TODAY, OpportunityFilter(closing_within_days=120), challenges
    )
    assert closing and all(0 <= o["days_left"] <= 120 for o in closing)
    sme = list_opportunities(sample_store, TODAY, OpportunityFilter(suitable_for="sme"))
    assert all(o["suitable_sme"] for o in sme)
    with pytest.raises(OpportunityError, match="unknown stage 'live'"):
        list_opportunities(sample_store, TODAY, OpportunityFilter(stages=("live",)))


def test_find_opportunity_reads_every_cpv_code(sample_store: duckdb.DuckDBPyConnection) -> None:
    o = find_opportunity(sample_store, "ocds-h6vhtk-06f1b4", TODAY)
    assert o["stage"] == "pipeline" and o["cpv"]
    assert release_cpv_codes(
        {
            "tender": {
                "classification": {"scheme": "CPV", "id": "72200000"},
                "items": [{"additionalClassifications": [{"scheme": "CPV", "id": "48000000-8"}]}],
            }
        }
    ) == ["72200000", "48000000"]
    with pytest.raises(OpportunityError, match="no process or challenge"):
        find_opportunity(sample_store, "ocds-nothing", TODAY)


def test_cli_opportunities(sample_store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(sample_store_file)]
    result = runner.invoke(app, [*db, "opportunities", "--today", "2026-06-01", "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert {"ocds-h6vhtk-06f1b4", "ocds-h6vhtk-06f1b2"} <= {o["id"] for o in found}
    result = runner.invoke(
        app,
        [
            *db,
            "opportunities",
            "--today",
            "2026-12-07",
            "--expiring-within",
            "12m",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and {r["stage"] for r in rows} <= {"expiring", "expired_unknown"}
    assert all(r["end_date_source"] for r in rows)
    result = runner.invoke(app, [*db, "opportunities", "--closing-within", "soon"])
    assert result.exit_code == 1 and "30d" in result.output
    result = runner.invoke(app, [*db, "opportunities", "--place", "Nowhereshire"])
    assert result.exit_code == 1 and "Nowhereshire" in result.output


def test_a_contract_of_n_months_ends_the_day_before_n_months_on() -> None:
    release = {"awards": [{"id": "1", "contractPeriod": {"durationInMonths": 12}}]}
    assert contract_end(release, "1", dt.date(2024, 4, 1)) == (
        dt.date(2025, 3, 31),
        "award date + durationInMonths",
    )


def test_a_tender_closes_at_its_deadline_not_at_the_end_of_that_day() -> None:
    deadline = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    before = dt.datetime(2026, 6, 1, 11, 59, tzinfo=dt.UTC)
    after = dt.datetime(2026, 6, 1, 12, 1, tzinfo=dt.UTC)
    assert notice_stage("tender", "UK4", "active", deadline, 0, before) == "open"
    assert notice_stage("tender", "UK4", "active", deadline, 0, after) == "closed"
    # A bare date is the start of that day in UK time (BST: 23:00 UTC the day before).
    assert notice_stage("tender", "UK4", "active", deadline, 0, dt.date(2026, 6, 1)) == "open"
    assert notice_stage("tender", "UK4", "active", deadline, 0, dt.date(2026, 6, 2)) == "closed"
    late_evening = dt.datetime(2026, 5, 31, 22, 30, tzinfo=dt.UTC)  # 23:30 in London
    assert notice_stage("tender", "UK4", "active", late_evening, 0, dt.date(2026, 6, 1)) == (
        "closed"
    )


def test_a_real_tender_on_its_deadline_day(sample_store: duckdb.DuckDBPyConnection) -> None:
    # ocds-h6vhtk-06f1b2's deadline is 2026-09-21 (Find a Tender UK4).
    end = sample_store.execute(
        "SELECT tender_end FROM processes WHERE ocid = 'ocds-h6vhtk-06f1b2'"
    ).fetchone()
    assert end is not None and end[0].date() == dt.date(2026, 9, 21)
    after = end[0] + dt.timedelta(minutes=1)
    assert after.date() == dt.date(2026, 9, 21)
    by_id = {o["id"]: o for o in notice_opportunities(sample_store, after)}
    assert by_id["ocds-h6vhtk-06f1b2"]["stage"] == "closed"
    by_id = {o["id"]: o for o in notice_opportunities(sample_store, end[0] - dt.timedelta(hours=1))}
    assert by_id["ocds-h6vhtk-06f1b2"]["stage"] == "open"


def test_planning_deadline_reads_engagement_ends_and_the_planned_start() -> None:
    release = {
        "planning": {
            "milestones": [
                {"type": "engagement", "dueDate": "2022-11-10T23:59:59Z"},
                {"type": "delivery", "dueDate": "2020-01-01T00:00:00Z"},
            ]
        },
        "tender": {"contractPeriod": {"startDate": "2023-04-01T00:00:00+01:00"}},
    }
    assert planning_deadline(release) == dt.datetime(2022, 11, 10, 23, 59, 59, tzinfo=dt.UTC)
    del release["planning"]
    assert planning_deadline(release) == dt.datetime(2023, 3, 31, 23, 0, tzinfo=dt.UTC)
    assert planning_deadline({}) is None and planning_deadline(None) is None


@pytest.mark.parametrize(
    ("published", "expected"),
    [(dt.date(2024, 11, 30), "closed"), (dt.date(2024, 12, 2), "planned")],
)
def test_a_planning_notice_with_no_dates_lasts_18_months(published: dt.date, expected: str) -> None:
    today = dt.date(2026, 6, 1)
    assert notice_stage("planned", None, "planning", None, 0, today, None, published) == expected


def test_old_planning_notices_are_not_live(sample_store: duckdb.DuckDBPyConnection) -> None:
    engagement_2022 = "ocds-b5fd17-04448330-49ca-432b-96b7-b9cfbed6d27b"  # ended 2022-11-10
    memorials = "ocds-b5fd17-1dee76ea-6573-46ae-a48b-1a292d0470a5"  # ended 2022-11-04
    send_transport = "ocds-b5fd17-6dca8686-ca76-4e8e-b3e5-16fc5cef74da"  # starts 2025-02-24
    victims = "ocds-b5fd17-5eb34cca-1ce6-4e36-9061-2a1f984fbd05"  # starts 2026-04-01
    uk1 = "ocds-h6vhtk-06f1b4"  # no date of its own; published 2026-09-03
    live = {
        o["id"] for o in list_opportunities(sample_store, dt.date(2026, 12, 7), OpportunityFilter())
    }
    assert not {engagement_2022, memorials, send_transport, victims} & live
    assert uk1 in live
    early = {o["id"]: o["stage"] for o in notice_opportunities(sample_store, dt.date(2022, 11, 1))}
    assert early[engagement_2022] == "planned" and early[memorials] == "planned"
    assert early[send_transport] == "planned"  # published 2025, but not yet past any date
    in_2026 = {o["id"]: o["stage"] for o in notice_opportunities(sample_store, dt.date(2026, 3, 1))}
    assert in_2026[victims] == "planned" and in_2026[send_transport] == "closed"
    later = {o["id"]: o["stage"] for o in notice_opportunities(sample_store, dt.date(2028, 3, 4))}
    assert later[uk1] == "closed"  # 18 months after publication


def test_a_council_named_buyer_is_in_its_council() -> None:
    nottingham = resolve("Nottingham", builtin_places()).councils
    assert buyer_in_councils("Nottingham City Council", "RUS", nottingham)
    assert not buyer_in_councils("Rushcliffe Medical Practice", "RUS", nottingham)
    assert buyer_in_councils(None, next(iter(nottingham)), nottingham)
    assert not buyer_in_councils(None, None, nottingham)


def test_place_finds_a_councils_contracts_with_an_office_elsewhere(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    councils = frozenset(resolve("Nottingham", builtin_places()).councils)
    flt = OpportunityFilter(councils=councils, place_name="Nottingham", expiring_within_days=365)
    found = list_opportunities(sample_store, dt.date(2026, 12, 7), flt)
    titles = {o["title"] for o in found}
    assert any(t.startswith("CPU 2157 Care at Home") for t in titles), titles
    assert all(o["buyer_name"] == "Nottingham City Council" for o in found)


def test_a_value_in_euros_is_shown_in_euros_and_not_fitted(
    sample_store_file: Path, sample_store: duckdb.DuckDBPyConnection
) -> None:
    euro = "ocds-r6ebe6-0000577987"  # Public Contracts Scotland, EUR 114,000
    o = find_opportunity(sample_store, euro, TODAY)
    assert (o["value"], o["currency"]) == (114000.0, "EUR")
    assert target_from_opportunity(o).value is None
    pounds = find_opportunity(sample_store, "ocds-h6vhtk-06f1b4", TODAY)
    assert target_from_opportunity(pounds).value == 2_500_000
    runner = CliRunner()
    db = ["--db", str(sample_store_file)]
    args = [*db, "opportunities", "--stage", "closed", "--today", "2026-06-01"]
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[euro]["currency"] == "EUR"
    assert rows["ocds-h6vhtk-067fb8"]["currency"] == "GBP"
    result = runner.invoke(app, [*args, "--limit", "1000"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "€114,000" in result.stdout and "£114,000" not in result.stdout
