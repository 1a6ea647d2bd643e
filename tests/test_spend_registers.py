"""Spend suppliers classified from the bundled organisation registers (VCSE or not, with
the register and identifier as evidence), linked through them to contract organisations,
and fuzzy re-resolution that scores only what changed.

Real data only: the bundled sample (data/sample/ocds, data/sample/spend) and eight lines of
Wakefield Council's 2019 Q4 spend file copied unchanged (tests/fixtures, see
data/sample/README.md), which publishes charity and company numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.enrich import load
from locality.enrich.classify import classify, register_index
from locality.enrich.resolve import (
    SUPPLIERS_SQL,
    add_supplier_facts,
    name_variants,
    resolution_coverage,
    resolve_suppliers,
    supplier_evidence,
)
from locality.reference.registers import (
    KINDS,
    RegisterEntry,
    charity_org_id,
    company_org_id,
    register_entries,
)
from locality.store import sql
from locality.store.db import connect
from tests.conftest import (
    CF_LEGACY_AWARDS,
    CF_RELEASES,
    FIXTURES,
    ROOT,
    SAMPLE,
    award_release,
    read_only,
    writable_copy,
)
from tests.helpers import close_and_path, dicts, load_with_release

SPEND = ROOT / "data" / "sample" / "spend"
WAKEFIELD = FIXTURES / "wakefield-council-2019-01_2019-03-excerpt.csv"


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registers") / "store.duckdb"
    con = connect(path)
    load(con, [SAMPLE, SPEND, WAKEFIELD])
    con.close()
    return path


@pytest.fixture
def store(store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from read_only(store_file)


@pytest.fixture
def writable(store_file: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from writable_copy(store_file, tmp_path)


def _said(
    con: duckdb.DuckDBPyConnection, name: str, company: str | None = None
) -> dict[str, Any] | None:
    """What the registers said of the supplier key with this name (and company number)."""
    found = dicts(
        con,
        "SELECT * EXCLUDE (resolved_at) FROM spend_supplier_registers "
        "WHERE supplier_name_normalised = ? AND company_number IS NOT DISTINCT FROM ?",
        [name, company],
    )
    assert len(found) <= 1
    return found[0] if found else None


def _supplier(
    con: duckdb.DuckDBPyConnection, name: str, company: str | None = None
) -> dict[str, Any]:
    found = dicts(
        con,
        f"SELECT * FROM ({SUPPLIERS_SQL}) "
        "WHERE supplier_name_normalised = ? AND company_number IS NOT DISTINCT FROM ?",
        [name, company],
    )
    assert len(found) == 1
    return found[0]


# --- the bundled registers ------------------------------------------------------------------


def test_every_bundled_register_row_is_read_with_a_kind() -> None:
    entries = register_entries()
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        assert entry.kind in KINDS
        counts[entry.register, entry.kind] = counts.get((entry.register, entry.kind), 0) + 1
    # The row counts of src/locality/reference/README.md.
    assert counts == {
        ("charity-company-numbers", "charity"): 4399,
        ("dual-registered-charities", "charity"): 1503,
        ("mutual-companies", "mutual"): 12252,
        ("social-housing-providers", "housing_non_profit"): 1522,
        ("social-housing-providers", "housing_profit"): 35,
        ("social-housing-providers", "housing_local_authority"): 198,
        ("university-charity-numbers", "university"): 30,
        ("further-education-colleges", "fe_college"): 312,
        ("arts-council-npo-2014-15", "arts_npo"): 700,
    }
    # A housing provider carries the numbers of the charity-lookups RP table, joined by code.
    assert RegisterEntry(
        "social-housing-providers",
        3,
        "housing_non_profit",
        "20-20 Housing Co-operative Limited",
        ("GB-COH-IP24566R", "GB-SHPE-C3489"),
    ) in set(entries)


def test_a_broken_register_row_names_its_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from locality.reference import registers

    real = registers.reference_path
    bad = tmp_path / "providers.csv"
    # The HCA list's first row, with a designation it never uses.
    bad.write_text("rp_code,name,designation\n4636,180 Housing Ltd,Charitable\n", "utf-8")
    monkeypatch.setattr(
        registers,
        "reference_path",
        lambda relative: (
            bad if relative == registers.REGISTERS["social-housing-providers"] else real(relative)
        ),
    )
    with pytest.raises(
        registers.RegisterDataError,
        match=r"social-housing-providers\.csv:2: designation 'Charitable' is not one of",
    ):
        list(registers._housing())
    bad.write_text("rp_code,name,designation\n4636,180 Housing Ltd\n", "utf-8")
    with pytest.raises(registers.RegisterDataError, match=r"providers\.csv:2: expected 3 columns"):
        list(registers._housing())


@pytest.mark.parametrize(
    ("published", "org_id"),
    [
        ("1088415", "GB-CHC-1088415"),  # Wakefield Girls High School
        ("222377", "GB-CHC-222377"),  # Royal Mencap Society
        ("312832-6", "GB-CHC-312832"),  # City & Guilds: a linked charity of 312832
        ("SC016040", "GB-SC-SC016040"),  # Abertay University
        ("100002", "GB-NIC-100002"),  # Northern Ireland numbers start at 100001
        ("SC01996", None),  # Wakefield's "Rossie Young People's Trust": cut short
        ("31192R", None),  # Dimensions (UK) Ltd's FCA society number, not a charity's
        ("10927778", None),  # eight digits: a company number in the wrong column
        ("EXEMPT", None),
    ],
)
def test_charity_numbers(published: str, org_id: str | None) -> None:
    assert charity_org_id(published) == org_id


@pytest.mark.parametrize(
    ("published", "org_id"),
    [
        ("83608", "GB-COH-00083608"),  # London Symphony Orchestra (1904), ACE NPO list
        ("IP27662R", "GB-COH-IP27662R"),
        ("RC000391", "GB-COH-RC000391"),  # The Open University (royal charter)
        ("XR12530", None),  # an HMRC charity reference (Stanley Picker Gallery)
        ("576909584", None),  # nine digits (The Artangel Trust)
    ],
)
def test_company_numbers(published: str, org_id: str | None) -> None:
    assert company_org_id(published) == org_id


# --- classification -------------------------------------------------------------------------


def test_a_published_charity_number_makes_a_vcse_with_its_evidence(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # Wakefield line 6444: no register holds 1088415, the number itself is the evidence.
    assert _said(store, "wakefield girls high school") == {
        "supplier_name_normalised": "wakefield girls high school",
        "company_number": None,
        "charity_number": "1088415",
        "kind": "charity",
        "vcse": True,
        "register": "published-charity-number",
        "identifier": "GB-CHC-1088415",
        "matched_by": "charity_number",
        "linked_company_number": None,
    }
    supplier = _supplier(store, "wakefield girls high school")
    assert (supplier["vcse"], supplier["vcse_source"]) == (True, "register")
    # Line 5858: the company number is a known charity's in charity-lookups.
    said = _said(store, "royal mencap society", "00550457") or {}
    assert (said["register"], said["identifier"], said["matched_by"], said["vcse"]) == (
        "charity-company-numbers",
        "GB-COH-00550457",
        "company_number",
        True,
    )
    # Line 4245: "312832-6", a linked charity of City & Guilds (dual registered).
    said = _said(store, "city & guilds of london institute", "RC000117") or {}
    assert (said["register"], said["identifier"], said["vcse"]) == (
        "dual-registered-charities",
        "GB-CHC-312832",
        True,
    )


def test_a_charity_number_alone_finds_the_company_number_of_the_same_body(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # Line 161 publishes only 1136594; charity-lookups: GB-CHC-1136594 = GB-COH-14342158.
    said = _said(store, "families & babies") or {}
    assert said["register"] == "charity-company-numbers"
    assert said["identifier"] == "GB-CHC-1136594"
    assert said["linked_company_number"] == "14342158"
    assert said["vcse"] is True


def test_company_numbers_of_mutual_societies_are_vcse(store: duckdb.DuckDBPyConnection) -> None:
    for name, number in (
        ("humberside independent care association ltd", "IP27662R"),  # line 6332
        ("leeds city credit union ltd", "IP00088C"),  # line 4996
    ):
        said = _said(store, name, number) or {}
        assert (said["kind"], said["vcse"], said["register"], said["matched_by"]) == (
            "mutual",
            True,
            "mutual-companies",
            "company_number",
        )
        assert said["identifier"] == f"GB-COH-{number}"


def test_universities_colleges_and_councils_are_not_vcse(store: duckdb.DuckDBPyConnection) -> None:
    # The Open University by its royal charter number (Wakefield line 9965) and by name
    # (Manchester, December 2010): a charity, but an anchor institution.
    for company, matched_by in (("RC000391", "company_number"), (None, "name")):
        said = _said(store, "open university", company) or {}
        assert (said["kind"], said["vcse"], said["register"], said["matched_by"]) == (
            "university",
            False,
            "university-charity-numbers",
            matched_by,
        )
    said = _said(store, "kirklees college") or {}  # paid by Calderdale, August 2022
    assert (said["kind"], said["vcse"]) == ("fe_college", False)
    # Councils are registered housing providers too, of the Local Authority designation.
    said = _said(store, "leeds city council") or {}
    assert (said["kind"], said["vcse"]) == ("housing_local_authority", False)


def test_housing_providers_follow_their_designation(store: duckdb.DuckDBPyConnection) -> None:
    said = _said(store, "great places housing association") or {}  # non-profit, and large
    assert (said["kind"], said["vcse"], said["register"]) == (
        "housing_non_profit",
        True,
        "social-housing-providers",
    )
    said = _said(store, "cromwood housing ltd") or {}  # Salford, June 2022
    assert (said["kind"], said["vcse"]) == ("housing_profit", False)


def test_an_nhs_trust_is_not_a_charity_by_its_funds_number() -> None:
    index = register_index()
    # Wakefield 2018 Q1 publishes 1067163 (the trust's charitable fund) for the trust.
    name = "mid yorkshire hospitals nhs trust"
    assert classify(index, name, None, "1067163", variants=name_variants(name)) is None
    found = classify(index, "wakefield girls high school", None, "1088415")
    assert found is not None and found.vcse is True


def test_register_names_match_exactly_and_never_against_a_number() -> None:
    index = register_index()
    name = "great places housing association"
    found = classify(index, name, None, None, variants=name_variants(name))
    assert found is not None and found.matched_by == "name"
    # One word short is not the same name: registers are never matched fuzzily.
    near = "great places housing assoc"
    assert classify(index, near, None, None, variants=name_variants(near)) is None
    # A company number the body does not have refuses the name (Ability Wetrooms Ltd's,
    # Calderdale August 2022, line 77: in no register).
    assert classify(index, name, "08911274", None, variants=name_variants(name)) is None


# --- precedence ---------------------------------------------------------------------------


def test_registers_beat_the_organisations_flag_and_user_facts_beat_both(
    writable: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A 2020 Contracts Finder award marks NACRO "not VCSE"; the housing register and its
    # charity number say otherwise.
    organisation_flag = sql.one(
        writable,
        "SELECT o.vcse FROM spend_supplier_matches m JOIN organisations o USING (org_id) "
        "WHERE m.supplier_name_normalised = 'nacro'",
    )[0]
    assert organisation_flag is False
    supplier = _supplier(writable, "nacro")
    assert (supplier["vcse"], supplier["vcse_source"]) == (True, "register")
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "name,company_number,vcse\nNACRO,,no\n,14342158,no\n",
        encoding="utf-8",
    )
    add_supplier_facts(writable, [facts])
    supplier = _supplier(writable, "nacro")
    assert (supplier["vcse"], supplier["vcse_source"]) == (False, "fact")
    # A fact by company number reaches a supplier that publishes only its charity number.
    supplier = _supplier(writable, "families & babies")
    assert (supplier["vcse"], supplier["vcse_source"], supplier["has_facts"]) == (
        False,
        "fact",
        True,
    )


# --- linking through registers --------------------------------------------------------------


def test_a_charity_number_reaches_the_contract_organisation_of_its_company(
    tmp_path: Path,
) -> None:
    # No OCDS sample release names this body, so one release names it under the company
    # number charity-lookups gives for the charity number Wakefield publishes (line 161).
    release = award_release(
        "wakefield-1",
        "Wakefield Council",
        "FAMILIES AND BABIES (FAB) LTD",
        "14342158",
        52491,
        "2019-01-01T00:00:00Z",
    )
    con = load_with_release(tmp_path / "store.duckdb", WAKEFIELD, release)
    try:
        assert sql.rows(
            con,
            "SELECT org_id, method, score, evidence FROM spend_supplier_matches "
            "WHERE supplier_name_normalised = 'families & babies'",
        ) == [
            (
                "GB-COH-14342158",
                "register",
                100.0,
                "charity-company-numbers: GB-CHC-1136594 = GB-COH-14342158",
            )
        ]
        coverage = resolution_coverage(con)
        assert coverage["by_method"]["register"]["suppliers"] == 1
        assert coverage["by_register"]["charity-company-numbers"]["vcse"] >= 1
    finally:
        con.close()


# --- re-resolution --------------------------------------------------------------------------


def _matches(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return sql.rows(con, "SELECT * EXCLUDE (resolved_at) FROM spend_supplier_matches ORDER BY ALL")


def test_resolving_again_without_new_data_scores_nothing(
    writable: duckdb.DuckDBPyConnection,
) -> None:
    before = _matches(writable)
    summary = resolve_suppliers(writable)
    assert (summary.fuzzy.scored, summary.fuzzy.rechecked) == (0, 0)
    assert summary.fuzzy.unchanged > 7000
    assert _matches(writable) == before
    assert summary.as_json()["fuzzy_scored"] == 0


def test_new_organisations_rescore_only_names_near_them_with_the_same_result(
    tmp_path: Path,
) -> None:
    con = connect(tmp_path / "store.duckdb")
    try:
        load(con, [SPEND, CF_RELEASES])
        pairs = sql.one(con, "SELECT count(*) FROM spend_fuzzy_unmatched")[0]
        summary = load(con, [CF_LEGACY_AWARDS]).totals["supplier_resolution"]
        # The 2020 awards bring new organisations: remembered names are checked against
        # those only, and scored in full only where one comes near.
        assert summary["fuzzy_rechecked"] > 0.9 * pairs
        assert 0 < summary["fuzzy_scored"] < 0.01 * pairs
        incremental = _matches(con)
        # Forgetting everything and scoring every name against every organisation agrees.
        sql.run(con, "DELETE FROM spend_fuzzy_unmatched")
        sql.run(con, "DELETE FROM spend_fuzzy_choices")
        full = resolve_suppliers(con)
        assert full.fuzzy.scored > 0.9 * pairs
        assert _matches(con) == incremental
    finally:
        con.close()


# --- the command ----------------------------------------------------------------------------


def test_suppliers_commands_show_registers_and_evidence(
    writable: duckdb.DuckDBPyConnection,
) -> None:
    db = close_and_path(writable)
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "suppliers", "resolve", "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["registers"]["mutual-companies"] >= 2
    assert summary["vcse_from_registers"]["not_vcse"] > 0
    assert summary["fuzzy_scored"] == 0
    result = runner.invoke(app, ["--db", db, "suppliers", "resolve"])
    assert "Classified from registers" in result.stdout
    assert "unchanged (not scored)" in result.stdout
    shown = json.loads(
        runner.invoke(
            app, ["--db", db, "suppliers", "show", "Families and Babies", "--format", "json"]
        ).stdout
    )
    assert [(r["register"], r["linked_company_number"], r["vcse_source"]) for r in shown] == [
        ("charity-company-numbers", "14342158", "register")
    ]
    table = runner.invoke(app, ["--db", db, "suppliers", "show", "Open University"]).stdout
    assert "university-charity-numbers" in table
    status = json.loads(runner.invoke(app, ["--db", db, "status", "--format", "json"]).stdout)
    by_register = status["spend_suppliers"]["by_register"]
    assert by_register["published-charity-number"]["vcse"] == 1
    printed = runner.invoke(app, ["--db", db, "status"]).stdout
    assert "Spend suppliers the organisation registers know" in printed
    assert "published-charity-number" in printed


def test_supplier_evidence_of_an_unknown_name_is_empty(store: duckdb.DuckDBPyConnection) -> None:
    assert supplier_evidence(store, "No Such Supplier Ltd") == []
    assert supplier_evidence(store, "  ") == []
