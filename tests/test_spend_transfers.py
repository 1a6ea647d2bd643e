"""Payments to other public bodies (transfers, not suppliers): the payee classifier of
``locality.spend.transfers`` on names as the bundled real spend files publish them, the
whole-place view that leaves transfers out of the supplier figures, and the months each
body's spend files cover.

Golden amounts were added up by hand from the raw CSV lines of data/sample/spend, never
from the library; each test says which lines.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.domain.places import load_places, resolve
from locality.reference import spend_transfer_rules
from locality.spend.place import place_view
from locality.spend.transfers import (
    KIND_LABELS,
    KINDS,
    NOT_TRANSFER,
    REGISTER_RULE,
    TransferRulesError,
    builtin_rules,
    classify_payee,
    council_named,
    normalise_payee,
    parse_rules,
    transfer_kind,
    transfer_table,
)
from locality.store import sql
from tests.conftest import ROOT

SHARED = ROOT.parent / "shared" / "data" / "spend"


def _view(con: duckdb.DuckDBPyConnection, name: str, **options: Any) -> dict[str, Any]:
    return place_view(con, resolve(name, load_places(None)), **options)


# --- the classifier, on payee names as the sample files publish them ---------------------


@pytest.mark.parametrize(
    ("name", "kind", "code"),
    [
        # Leeds 2018-09, "Strategic Accounts": the business-rates share to government.
        ("The Secretary Of State", "central_government", None),
        ("HMRC - C1X2 CM & TP", "central_government", None),  # Calderdale 2022-08
        ("HM Revenue & Customs", "central_government", None),  # Manchester 2021-11
        ("Department For Work & Pensions", "central_government", None),
        ("HMCTS (Manchester County Court)", "central_government", None),
        ("COMBINED COURT", "central_government", None),  # a court, not a combined authority
        ("Environment Agency", "central_government", None),
        ("Bradford Metropolitan Council", "council", "BRD"),  # Leeds 2018-09
        ("Wakefield Council", "council", "WKF"),  # the register: "wakefield" + "council"
        ("Stockport Metropolitan Borough", "council", "SKP"),
        ("Blackburn With Darwen Borough Counc", "council", "BBD"),  # cut at 35 characters
        ("Oldham Metropolitan Borough Corpora", "council", "OLD"),
        ("City Of Salford", "council", "SLF"),  # Manchester pays Salford under this name
        ("London Borough of Hounslow", "council", "HNS"),
        ("Bolton MBC", "council", "BOL"),
        ("Tameside Metropolitan Bouough", "council", None),  # Manchester's spelling
        ("DURHAM COUNTY COUNCIL (SCHOOLS' M I S)", "council", None),
        ("Greater M/Cr Waste Regulatuon Autho", "council", None),  # a joint authority
        ("Boston Spa Parish Council", "parish_council", None),
        ("West Yorkshire Combined Authority", "combined_authority", None),
        ("GMCA", "combined_authority", None),
        ("Greater Manchester Combined", "combined_authority", None),  # Salford, cut short
        ("Transport for Greater Manchester", "combined_authority", None),
        ("P & Cc For West Yorkshire", "police", None),  # Leeds: the PCC
        ("Greater Manchester Police", "police", None),
        ("Greater Manchester Police Authority", "police", None),
        ("West Yorkshire Fire & Rescue Service", "fire", None),
        ("NHS CCG", "nhs", None),  # Salford 2022-06
        ("Central Mcr Uni Hospital t/a", "nhs", None),  # no "NHS" in the name
        ("Leeds Teaching Hospitals", "nhs", None),
        ("Manchester Mental Health & Social C", "nhs", None),
        ("Pennine Care HNS Trust", "nhs", None),  # as Manchester misspells it
        ("Ashton Leigh & Wigan PCT", "nhs", None),
        ("NHS PENSIONS", "pension_fund", None),  # Darlington: before the NHS rule
        ("Teachers Pensions", "pension_fund", None),
        ("West Yorkshire Pension Fund", "pension_fund", None),
    ],
)
def test_public_bodies_are_transfers(name: str, kind: str, code: str | None) -> None:
    match = classify_payee(name)
    assert match is not None and match.is_transfer, name
    assert (match.kind, match.council_code) == (kind, code)
    assert transfer_kind(name) == kind


@pytest.mark.parametrize(
    "name",
    [
        "Refugee Council",  # a charity (Leeds 2018-09)
        "British Youth Council",  # a charity (Salford)
        "ARTS COUNCIL ENGLAND",  # a funder, not a council of any place
        # The British Council is a charity as well as a public body, and sells services
        # (language assistants); no rule names it: a supplier.
        "British Council",
        "Council For Awards In Children'S Ca",  # an awarding body
        "Citizens Advice Leeds",
        "Durham County Council Services Ltd",  # a firm, whatever its name says
        "Mars Pension Trustees Limited",  # a landlord's pension scheme (Manchester)
        "Legal & General Pensions",
        "PRUDENTIAL LOCAL GOVERNMENT",  # the AVC provider (Darlington)
        "Chubb Fire & Security Ltd",
        "Pains Fireworks Ltd",
        "DURHAM COUNTY CARERS SUPPORT",
        "Arrow County Supplies",
        "City Of Leeds Ymca",  # "City of" + not a council's name
        "Manchester Metropolitan University",
        "Office for Metropolitan Architectur",
        "Leeds Parish Church",
        "St Michaels Parish Community Hall",
        "Manchester City",  # a football club's name, not the council's
        "Bradford",  # a bare place name says nothing
        "Redacted Personal Information",
        "",
    ],
)
def test_lookalikes_are_suppliers(name: str) -> None:
    assert transfer_kind(name) is None, name


@pytest.mark.parametrize(
    ("name", "rule_kind"),
    [
        ("Manchester Uni NHS FT Charity", NOT_TRANSFER),  # a charity, not the trust
        ("Greater Manchester Police Sports &", NOT_TRANSFER),  # the club
        ("NHS Supply Chain", NOT_TRANSFER),  # sells goods
        ("Leeds City Council Trading Ltd", NOT_TRANSFER),  # a company beats the register
    ],
)
def test_exception_rules_say_why(name: str, rule_kind: str) -> None:
    match = classify_payee(name)
    assert match is not None and match.kind == rule_kind and not match.is_transfer
    assert re.fullmatch(r"spend-transfers\.csv:\d+", match.rule)
    assert transfer_table([name]) == []


def test_the_register_names_councils_only_with_a_council_word() -> None:
    assert council_named("bolton mbc") == "BOL"
    assert council_named("city of bradford mdc") == "BRD"
    assert council_named("tameside metropolitan") == "TAM"
    assert council_named("north lanarkshire coun") == "NLK"
    assert council_named("leeds city") is None
    assert council_named("leeds") is None
    assert council_named("city of leeds ymca") is None
    match = classify_payee("Kirklees Council")
    assert match is not None and (match.rule, match.council_code) == (REGISTER_RULE, "KIR")


def test_transfer_table_keeps_only_transfers() -> None:
    rows = transfer_table(["Wakefield Council", "Mears Limited", None, "GMCA"])
    assert [(r["name"], r["kind"], r["council_code"]) for r in rows] == [
        ("Wakefield Council", "council", "WKF"),
        ("GMCA", "combined_authority", None),
    ]


SAMPLE_NAMES = [
    "The Secretary Of State",
    "Bradford Metropolitan Council",
    "Greater Manchester Combined",
    "HM Revenue & Customs",
    "Refugee Council",
    "Durham County Council Services Ltd",
    "City Of Salford",
    "Boston Spa Parish Council",
    "Mears Limited",
]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SAMPLE_NAMES),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.sampled_from(["", " ", "  ", "."]),
)
def test_case_and_spacing_do_not_change_the_kind(
    name: str, upper: list[bool], padding: str
) -> None:
    """Files spell one payee in capitals, title case or with stray spaces ("HMRC -  C2X2
    TS"): the kind must not depend on it."""
    respelt = "".join(c.upper() if up else c.lower() for c, up in zip(name, upper, strict=False))
    respelt = padding + respelt.replace(" ", f" {padding}") + padding
    assert transfer_kind(respelt) == transfer_kind(name)
    assert normalise_payee(normalise_payee(respelt)) == normalise_payee(respelt)


# --- the rules file -------------------------------------------------------------------------


def test_bundled_rules_are_valid_and_every_kind_has_one() -> None:
    rules = builtin_rules()
    assert len(rules) == len(spend_transfer_rules()) > 20
    assert {r.kind for r in rules} == {*KINDS, NOT_TRANSFER}
    assert set(KIND_LABELS) == set(KINDS)
    # Exceptions must come first, or a company named "... Council Services Ltd" would be
    # classified before its exception is read.
    kinds = [r.kind for r in rules]
    first_transfer = next(i for i, kind in enumerate(kinds) if kind != NOT_TRANSFER)
    assert NOT_TRANSFER not in kinds[first_transfer:]
    assert all(r.note for r in rules)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((4, r"\bcouncil\b", "councill", "typo"), r"x\.csv:4: unknown kind 'councill'"),
        ((5, r"(unclosed", "council", "why"), r"x\.csv:5: pattern .* is not a regular"),
        ((6, r"\bcouncil\b", "council", ""), r"x\.csv:6: say why"),
        ((7, "", "council", "why"), r"x\.csv:7: empty pattern"),
    ],
)
def test_bad_rules_name_their_line(row: tuple[int, str, str, str], message: str) -> None:
    with pytest.raises(TransferRulesError, match=message):
        parse_rules([row], "x.csv")


# --- the whole place: transfers out of the supplier figures ------------------------------


def test_west_yorkshire_transfers_leave_the_top_suppliers(
    spend_store: duckdb.DuckDBPyConnection,
) -> None:
    view = _view(spend_store, "West Yorkshire", top=10)
    # leeds-city-council-2018-09.csv, the payee's lines added up:
    # Secretary of State 18,439,298.00 + 69,618.00; Bradford 260,827.00 + 3,716,304.00;
    # WYCA 3,569,334.20 + 415.70 + 415.70; P & CC 15,972.00 + 158,750.00 + 3,381.53
    # + 8,080.00 + 8,397.00 + 3,056,049.00.
    largest = [
        (r["payee"], r["kind"], r["payments"], r["amount"]) for r in view["transfer_payees"][:4]
    ]
    assert largest == [
        ("The Secretary Of State", "central_government", 2, 18_508_916.00),
        ("Bradford Metropolitan Council", "council", 2, 3_977_131.00),
        ("West Yorkshire Combined Authority", "combined_authority", 3, 3_570_165.60),
        ("P & Cc For West Yorkshire", "police", 6, 3_250_629.53),
    ]
    bradford = view["transfer_payees"][1]
    assert bradford["council_code"] == "BRD" and bradford["within_place"] is True
    assert view["transfers_included"] is False
    # 101 lines of Mears Limited in the Leeds file, 2,625,168.42 in all: now the top.
    top = view["suppliers"][0]
    assert (top["supplier_name"], top["payments"], top["amount"]) == (
        "Mears Limited",
        101,
        2_625_168.42,
    )
    transfer_names = {r["payee"] for r in view["transfer_payees"]}
    assert not transfer_names & {r["supplier_name"] for r in view["suppliers"]}


def test_including_transfers_puts_them_back(spend_store: duckdb.DuckDBPyConnection) -> None:
    left_out = _view(spend_store, "West Yorkshire", top=5)
    included = _view(spend_store, "West Yorkshire", top=5, include_transfers=True)
    assert included["transfers_included"] is True
    assert [r["supplier_name"] for r in included["suppliers"][:3]] == [
        "The Secretary Of State",
        "Bradford Metropolitan Council",
        "West Yorkshire Combined Authority",
    ]
    # The transfers are the same either way; only the supplier figures change.
    for row_in, row_out in zip(included["transfers"], left_out["transfers"], strict=True):
        # Amounts are rounded to the penny; the share is a float DuckDB sums in parallel.
        assert {k: v for k, v in row_in.items() if k != "share_of_total"} == {
            k: v for k, v in row_out.items() if k != "share_of_total"
        }
        assert row_in["share_of_total"] == pytest.approx(row_out["share_of_total"])
    assert included["shares"]["total_amount"] == left_out["shares"]["total_amount"]
    for theme_in, theme_out in zip(included["themes"], left_out["themes"], strict=True):
        assert theme_in["theme"] == theme_out["theme"]
        assert theme_in["distinct_suppliers"] >= theme_out["distinct_suppliers"]


def test_greater_manchester_gmca_is_a_transfer(spend_store: duckdb.DuckDBPyConnection) -> None:
    view = _view(spend_store, "Greater Manchester", top=3)
    # manchester-city-council-2021-11.csv: five GMCA lines (levies 3,752,540.00 and
    # 2,394,000.00, a grant of 4,000.00, precepts 3,034,884.00 and 270,060.00), and
    # manchester-city-council-2012-06.csv.gz: its levy, 3,627,100.00.
    gmca = view["transfer_payees"][0]
    assert (gmca["payee"], gmca["kind"], gmca["payments"], gmca["amount"]) == (
        "GMCA",
        "combined_authority",
        6,
        13_082_584.00,
    )
    # Laing O'Rourke's 17 lines in Manchester's three files: 3,329,914.10 (2010-12)
    # + 3,057,373.74 (2012-06) + 3,975,782.26 (2021-11).
    top = view["suppliers"][0]
    assert (top["supplier_name"], top["amount"]) == (
        "Laing O'Rourke Construction Ltd",
        10_363_070.10,
    )
    included = _view(spend_store, "Greater Manchester", top=1, include_transfers=True)
    assert included["suppliers"][0]["supplier_name"] == "GMCA"


@pytest.mark.parametrize("name", ["West Yorkshire", "Greater Manchester", "Leeds", "Darlington"])
@pytest.mark.parametrize("min_amount", [None, 500.0])
@pytest.mark.parametrize("include", [False, True])
def test_supplier_totals_and_transfers_add_up_to_the_place(
    spend_store: duckdb.DuckDBPyConnection, name: str, min_amount: float | None, include: bool
) -> None:
    place = resolve(name, load_places(None))
    view = place_view(
        spend_store, place, top=1_000_000, min_amount=min_amount, include_transfers=include
    )
    shares = view["shares"]
    total, transfers = shares["total_amount"], shares["transfer_amount"]
    assert shares["supplier_amount"] + transfers == pytest.approx(total, abs=0.02)
    assert sum(r["amount"] for r in view["transfers"]) == pytest.approx(transfers, abs=0.05)
    assert sum(r["amount"] for r in view["themes"]) == pytest.approx(total, abs=0.05)
    assert sum(r["transfer_amount"] for r in view["themes"]) == pytest.approx(transfers, abs=0.05)
    assert sum(r["transfer_amount"] for r in view["bodies"]) == pytest.approx(transfers, abs=0.05)
    # Payees with no name to rank (redacted, or no name published), read from the store.
    (unnamed,) = sql.one(
        spend_store,
        "SELECT coalesce(sum(amount_net), 0) FROM spend_payments "
        "WHERE body_la_registry_code IN (SELECT unnest(?::VARCHAR[])) "
        "AND abs(amount_net) >= ? AND (redacted OR supplier_name_normalised IS NULL)",
        [sorted(place.councils), min_amount or 0.0],
    )
    suppliers = sum(r["amount"] for r in view["suppliers"])
    payees = sum(r["amount"] for r in view["transfer_payees"])
    if include:  # transfers are ranked with the suppliers
        assert suppliers + unnamed == pytest.approx(total, abs=0.05)
    else:
        assert suppliers + payees + unnamed == pytest.approx(total, abs=0.05)
    assert sum(r["within_place_amount"] for r in view["transfers"]) == pytest.approx(
        sum(r["amount"] for r in view["transfer_payees"] if r["within_place"]), abs=0.05
    )


def test_shares_are_of_the_supplier_spend(spend_store: duckdb.DuckDBPyConnection) -> None:
    """The known part of each share, in pounds, is the same whichever base it is read
    against once the transfers' own known part is taken out."""
    left_out = _view(spend_store, "Greater Manchester")["shares"]
    included = _view(spend_store, "Greater Manchester", include_transfers=True)["shares"]
    base_out = left_out["supplier_amount"]
    base_in = included["total_amount"]
    for coverage in ("known_scale_coverage", "known_vcse_coverage", "resolved_coverage"):
        assert left_out[coverage] * base_out <= included[coverage] * base_in + 0.01, coverage
    # Greater Manchester's councils are known not to be VCSEs (the housing register):
    # leaving them out must raise the known-VCSE spend's share of VCSEs.
    assert left_out["vcse_share"] > included["vcse_share"]


# --- the months each body's files cover -----------------------------------------------------


def test_coverage_names_councils_without_files_and_the_months_missing(
    spend_store: duckdb.DuckDBPyConnection,
) -> None:
    view = _view(spend_store, "West Yorkshire")
    coverage = {r["code"]: r for r in view["coverage"]}
    assert list(coverage) == ["BRD", "CLD", "KIR", "LDS", "WKF"]
    for code in ("BRD", "KIR", "WKF"):
        assert coverage[code]["files"] == 0 and coverage[code]["first_month"] is None
    # leeds-city-council-2018-09.csv: 14,456 payments dated 2018-09 and 7,649 dated 2018-08
    # (34%), 306 in 2018-07 (1.4%: not a month the file covers).
    leeds = coverage["LDS"]
    assert (leeds["files"], leeds["first_month"], leeds["last_month"], leeds["gaps"]) == (
        1,
        "2018-08",
        "2018-09",
        [],
    )
    # Calderdale: the 2018-12 card file's transactions are 54% 2018-11, 21% 2018-10, 13%
    # 2018-09 (then 4% and less); the 2022-08 return is all 2022-08.
    calderdale = coverage["CLD"]
    assert calderdale["months_covered"] == 4
    assert (calderdale["first_month"], calderdale["last_month"]) == ("2018-09", "2022-08")
    assert calderdale["gaps"] == ["2018-12 to 2022-07"]
    assert len(calderdale["missing_months"]) == 44
    notes = " ".join(view["notes"])
    assert (
        "No spend loaded for: City of Bradford Metropolitan District Council, Kirklees "
        "Council, Wakefield Metropolitan District Council." in notes
    )
    assert "Calderdale Metropolitan Borough Council (2018-12 to 2022-07)" in notes


def test_coverage_of_greater_manchester(spend_store: duckdb.DuckDBPyConnection) -> None:
    coverage = {r["code"]: r for r in _view(spend_store, "Greater Manchester")["coverage"]}
    assert len(coverage) == 10 and sum(1 for r in coverage.values() if r["files"]) == 2
    # One return each for 2010-12, 2012-06 (3 of its 2,749 lines dated 2012-07) and 2021-11.
    assert coverage["MAN"]["gaps"] == ["2011-01 to 2012-05", "2012-07 to 2021-10"]
    assert coverage["SLF"]["gaps"] == ["2018-05 to 2018-08", "2018-10 to 2022-05"]


def test_coverage_ignores_the_threshold_and_names_named_bodies(
    spend_store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    every = _view(spend_store, "Leeds")["coverage"]
    over = _view(spend_store, "Leeds", min_amount=100_000.0)["coverage"]
    assert every == over and every[0]["payments"] == 22_416
    places = tmp_path / "places.toml"
    places.write_text('[places."West Yorkshire"]\nbodies = ["West Yorkshire Police"]\n')
    view = place_view(spend_store, resolve("West Yorkshire", load_places(places)))
    police = view["coverage"][-1]
    assert (police["code"], police["body"], police["files"]) == (None, "West Yorkshire Police", 0)
    assert "West Yorkshire Police." in " ".join(view["notes"])


# --- the command ------------------------------------------------------------------------------


def test_place_command_shows_and_includes_transfers(spend_sample_store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(spend_sample_store_file)]
    table = runner.invoke(app, [*db, "place", "Leeds", "--top", "3"])
    assert table.exit_code == 0, table.output
    assert "Transfers to other public bodies" in table.stdout
    assert "The Secretary Of State" in table.stdout
    assert "Spend files of each body" in table.stdout
    included = json.loads(
        runner.invoke(
            app, [*db, "place", "Leeds", "--include-transfers", "--format", "json"]
        ).stdout
    )
    assert included["transfers_included"] is True
    assert included["suppliers"][0]["supplier_name"] == "The Secretary Of State"
    for section, header in (
        ("transfers", "kind,label,payments,payees,amount,share_of_total,within_place_amount"),
        ("coverage", "code,body,files,payments,first_month,last_month,months_covered,"),
        ("transfer-payees", "payee_key,payee,kind,rule,council_code,within_place,"),
    ):
        out = runner.invoke(app, [*db, "place", "Leeds", "--format", "csv", "--section", section])
        assert out.exit_code == 0, out.output
        assert out.stdout.splitlines()[0].startswith(header), section


# --- the larger shared files (skipped where they are absent) -------------------------------


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/spend is absent")
def test_shared_collection_payees_as_checked_by_hand() -> None:
    """Payees of the shared collection the rules were checked against (the largest
    transfers of Leeds, Wakefield, Calderdale and Manchester, and lookalikes among them),
    each found as published in the raw files first."""
    published = {
        "GMCA": "combined_authority",
        "GMWDA (LEVY)": "council",
        "GMPCC (PRECEPTS)": "police",
        "Dept for Communities and Local Govt": "central_government",
        "Ministry Of Housing  Communities And": "central_government",
        "POLICE AND CRIME COMISSIONER FOR WEST YORKSHIRE": "police",
        "Bury Metro": "council",
        "Morley Parish Precept": "parish_council",
        "Tameside Pension Fund Accountancy G": "pension_fund",
        "North Staffordshire Combined": "nhs",
        "Together Trust": None,
        "Manchester Airport Finance Holdings": None,
        "Quorum Estates Pension Fund Ltd": None,
        "First Pudsey Scout Group (Pudsey Parish)": None,
        "NHS PROPERTY SERVICES LTD": None,
    }
    texts = []
    for path in sorted(SHARED.rglob("*.csv*")):
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        texts.append(data.decode("cp1252", errors="replace").casefold())
    everything = "\n".join(texts)
    for name, kind in published.items():
        assert name.casefold() in everything, f"{name!r} is not in the shared files"
        assert transfer_kind(name) == kind, name
