"""Tests for the bundled reference tables and their look-ups (real data only)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from locality import reference
from locality.reference import (
    CpvEntry,
    ReferenceDataError,
    cpv,
    district,
    district_table,
    known_outward_codes,
    local_authorities,
    local_authority,
    local_authority_code_for_name,
    reference_csv_files,
    reference_path,
    release_schema,
)
from tests.helpers import nonempty, read_jsonl

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "ocds"


def _walk(value: Any) -> Any:
    """Every dict nested anywhere in a JSON value."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


# ------------------------------------------------------------------------------- files


def test_reference_path_finds_bundled_files() -> None:
    path = reference_path("cpv/cpv-2008-codes.csv")
    assert path.is_file()
    assert path.name == "cpv-2008-codes.csv"
    assert reference_path("./ocds//release-schema.json") == reference_path(
        "ocds/release-schema.json"
    )


@pytest.mark.parametrize(
    "relative", ["cpv/missing.csv", "ocds/dereferenced-release-schema.json", "../pyproject.toml"]
)
def test_reference_path_rejects_missing_or_outside_files(relative: str) -> None:
    with pytest.raises(ReferenceDataError, match=r"locality\.reference"):
        reference_path(relative)


def test_reference_csv_files_point_at_tables_with_headers() -> None:
    files = reference_csv_files()
    assert set(files) == {
        "ref_postcode_districts",
        "ref_local_authorities",
        "ref_la_names",
        "ref_cpv",
    }
    expected_columns = {
        "ref_postcode_districts": {"postcode_district", "mapping_version", "current_lad_code"},
        "ref_local_authorities": {"local-authority-code", "gss-code", "replaced-by"},
        "ref_la_names": {"la-name", "local-authority-code"},
        "ref_cpv": {"code", "parent_code", "description"},
    }
    for name, path in files.items():
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert expected_columns[name] <= set(header), name


# ------------------------------------------------------------------------ OCDS schema


def test_release_schema_is_ocds_1_1_5_with_merge_rules() -> None:
    schema = release_schema()
    assert (
        schema["id"] == "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"
    )
    assert schema["properties"]["id"]["omitWhenMerged"] is True
    assert any(node.get("wholeListMerge") is True for node in _walk(schema))
    assert "Award" in schema["definitions"]


def test_release_schema_returns_an_independent_copy() -> None:
    release_schema()["properties"].clear()
    assert "ocid" in release_schema()["properties"]


# ------------------------------------------------------------------ postcode districts


def test_district_leeds() -> None:
    leeds = district("LS1")
    assert leeds is not None
    assert (leeds.lad_code, leeds.lad_name) == ("E08000035", "Leeds")
    assert (leeds.la_code, leeds.la_name, leeds.la_registry_code) == ("E08000035", "Leeds", "LDS")
    assert leeds.region_code == "E12000003"
    assert leeds.region_name == "Yorkshire and The Humber"
    assert leeds.country == "England"
    assert leeds.mapping_version == 1


def test_district_is_case_and_space_insensitive() -> None:
    assert district(" ls 1 ") == district("LS1")
    assert district("hg1") == district("HG1")


@pytest.mark.parametrize(
    ("outward", "lad_2020", "current_code", "current_name", "registry"),
    [
        ("HG1", "Harrogate", "E06000065", "North Yorkshire", "NYE"),
        ("CA14", "Allerdale", "E06000063", "Cumberland", "CBD"),
        ("LA9", "South Lakeland", "E06000064", "Westmorland and Furness", "WAF"),
        ("TA1", "Somerset West and Taunton", "E06000066", "Somerset", "SMT"),
    ],
)
def test_district_resolves_2020_districts_to_current_councils(
    outward: str, lad_2020: str, current_code: str, current_name: str, registry: str
) -> None:
    found = district(outward)
    assert found is not None
    assert found.lad_name == lad_2020
    assert (found.la_code, found.la_name, found.la_registry_code) == (
        current_code,
        current_name,
        registry,
    )
    assert found.lad_code != found.la_code


def test_district_unknown_and_full_postcodes_give_none() -> None:
    assert district("JE2") is None  # Jersey is not in the ONS table
    assert district("LS1 4AP") is None  # a full postcode, not a district
    assert district("") is None


def test_district_covers_the_uk() -> None:
    belfast = district("BT1")
    assert belfast is not None and belfast.country == "Northern Ireland"
    cardiff = district("CF10")
    assert cardiff is not None and cardiff.country == "Wales"


def test_district_country_follows_the_lad_code_not_the_source_column() -> None:
    # The source table says "England" for Dumfries and Galloway and Scottish Borders.
    dumfries = district("DG1")
    assert dumfries is not None
    assert dumfries.lad_name == "Dumfries and Galloway"
    assert (dumfries.country, dumfries.region_name) == ("Scotland", "Scotland")
    galashiels = district("TD1")
    assert galashiels is not None and galashiels.country == "Scotland"
    berwick = district("TD15")
    assert berwick is not None and berwick.country == "England"


def test_version_2_fallback_only_adds_two_source_typos() -> None:
    from_version_2 = {
        outward
        for outward in known_outward_codes()
        if (found := district(outward)) is not None and found.mapping_version == 2
    }
    assert from_version_2 == {"LE39", "Y01"}
    y01 = district("Y01")
    assert y01 is not None and y01.lad_name == "York"


def test_known_outward_codes() -> None:
    codes = known_outward_codes()
    assert len(codes) == 2951 + 2
    assert {"LS1", "KT22", "E20", "BT78", "ZE1", "CA15"} <= codes
    assert all(code == code.upper().strip() and " " not in code for code in codes)


def test_district_table_has_one_row_per_known_district() -> None:
    rows = district_table()
    assert sorted(row.outward for row in rows) == sorted(known_outward_codes())
    assert all(district(row.outward) == row for row in rows)


def test_every_district_points_at_a_current_council() -> None:
    for outward in nonempty(known_outward_codes(), "known outward codes"):
        found = district(outward)
        assert found is not None
        council = local_authority(found.la_registry_code)
        assert council is not None, outward
        assert council.current, (outward, council.code)


# -------------------------------------------------------------------------------- CPV


def test_cpv_exact() -> None:
    assert cpv("60110000") == CpvEntry("60110000", "60", "Public road transport services", True)


def test_cpv_falls_back_to_parent() -> None:
    # Official CPV 2008 code used by Scottish and Welsh notices, absent from the list.
    found = cpv("60112000")
    assert found == CpvEntry("60110000", "60", "Public road transport services", False)


def test_cpv_strips_check_digit_and_whitespace() -> None:
    expected = CpvEntry("48000000", "48", "Software package and information systems", True)
    assert cpv("48000000-8") == expected
    assert cpv(" 48000000 - 8\n") == expected


def test_cpv_restores_a_dropped_leading_zero() -> None:
    found = cpv("3000000")
    assert found is not None and (found.code, found.division, found.exact) == (
        "03000000",
        "03",
        True,
    )


@pytest.mark.parametrize("code", ["", "CPV", "6011200", "601120000", "60112000-12", "99999999"])
def test_cpv_rejects_malformed_or_unknown(code: str) -> None:
    assert cpv(code) is None


def test_cpv_every_sample_code_resolves() -> None:
    seen: dict[str, CpvEntry | None] = {}
    for path in sorted(SAMPLE.rglob("*.jsonl")):
        for release in read_jsonl(path):
            for node in _walk(release):
                if node.get("scheme") == "CPV" and node.get("id"):
                    seen[str(node["id"])] = cpv(str(node["id"]))
    assert len(seen) > 100
    assert all(entry is not None for entry in seen.values())
    inexact = {code for code, entry in seen.items() if entry is not None and not entry.exact}
    assert inexact == {"60112000"}


# ------------------------------------------------------------------- local authorities


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("SOMERSET COUNCIL", "SMT"),
        ("Somerset Council", "SMT"),
        ("Somerset County Council", "SOM"),
        ("Somerset", "SMT"),  # ambiguous in the lookup: the current council wins
        ("North Yorkshire", "NYE"),
        ("London Borough of Merton", "MRT"),
        ("  london   borough of MERTON ", "MRT"),
        ("Leeds City Council", "LDS"),
        ("Harrogate Borough Council", "HAG"),
        # Not in the lookup as written; found by the looser second pass.
        ("Islington Council", "ISL"),
        ("The North Yorkshire Council", "NYE"),
        ("The City of Edinburgh Council", "EDH"),
        ("Cambridgeshire & Peterborough Combined Authority", "CPCA"),
    ],
)
def test_local_authority_code_for_name(name: str, code: str) -> None:
    assert local_authority_code_for_name(name) == code


@pytest.mark.parametrize(
    "name",
    [
        "Lancing Parish Council",
        "NURSING AND MIDWIFERY COUNCIL",
        "General Dental Council",
        "DfTc - Department for Transport",
        "",
    ],
)
def test_local_authority_code_for_name_misses_non_councils(name: str) -> None:
    assert local_authority_code_for_name(name) is None


def test_real_buyer_names_match_councils() -> None:
    names = {
        party["name"]
        for release in read_jsonl(SAMPLE / "contracts-finder-releases.jsonl")
        for party in release["parties"]
        if "buyer" in party["roles"]
    }
    matched = {name: local_authority_code_for_name(name) for name in names}
    assert matched["SOMERSET COUNCIL"] == "SMT"
    assert matched["London Borough of Merton"] == "MRT"
    councils = {code for code in matched.values() if code is not None}
    assert len(councils) >= 20
    assert all(local_authority(code) is not None for code in councils)


def test_local_authority_record() -> None:
    leeds = local_authority("lds")
    assert leeds is not None
    assert leeds.code == "LDS"
    assert leeds.official_name == "Leeds City Council"
    assert leeds.nice_name == "Leeds"
    assert leeds.gss_code == "E08000035"
    assert (leeds.nation, leeds.region) == ("England", "Yorkshire and The Humber")
    assert (leeds.type, leeds.type_name) == ("MD", "Metropolitan district")
    assert leeds.combined_authority == "WYCA"
    assert leeds.current is True
    assert leeds.replaced_by == ()


def test_local_authority_replaced_councils() -> None:
    cumbria = local_authority("CMA")
    assert cumbria is not None
    assert cumbria.current is False
    assert cumbria.replaced_by == ("CBD", "WAF")
    harrogate = local_authority("HAG")
    assert harrogate is not None and harrogate.replaced_by == ("NYE",)
    assert local_authority("XXX") is None


def test_local_authorities_register_is_consistent() -> None:
    councils = local_authorities()
    assert len(councils) == 470
    codes = {council.code for council in councils}
    assert len(codes) == len(councils)
    for council in councils:
        assert set(council.replaced_by) <= codes, council.code
        # Only current councils have no successor, bar the 25 pre-2015 Northern Irish
        # districts, which the register lists without one.
        if not council.current and not council.replaced_by:
            assert council.code.startswith("NIR-"), council.code
        if council.current:
            assert council.replaced_by == (), council.code
    assert sum(council.current for council in councils) == 397
    assert reference.local_authorities() is not reference.local_authorities()  # fresh list
