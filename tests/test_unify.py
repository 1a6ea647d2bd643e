"""One organisation under several ids, and one notice published twice (store/unify.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from locality.store.unify import (
    SAME_AS_IDENTIFIED,
    Alias,
    Sighting,
    decide_aliases,
    resolve_chains,
)
from locality.views.status import store_status
from tests.conftest import CF_LEGACY_AWARDS, SAMPLE

# The ambulance framework published twice (lines 42 and 48 of the legacy award file): the
# later notice is the copy.
FRAMEWORK = "ocds-b5fd17-032e5537-4210-4af3-85ba-81e4bb34074f"
FRAMEWORK_COPY = "ocds-b5fd17-a0638827-288a-4a81-8b72-594359e1f44c"

# Every column of the store that holds an organisation id.
ORG_ID_COLUMNS = (
    ("processes", "buyer_org_id"),
    ("process_parties", "org_id"),
    ("award_suppliers", "org_id"),
    ("organisations", "org_id"),
)


def _aliases(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(sql.rows(con, "SELECT org_id, canonical_org_id FROM organisation_aliases"))


def _duplicates(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(sql.rows(con, "SELECT ocid, duplicate_of FROM duplicate_processes"))


def _alias_ids_left(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of each org id column still holding an id that was folded (should be none)."""
    return {
        f"{table}.{column}": int(
            sql.one(
                con,
                f"SELECT count(*) FROM {table} "
                f"WHERE {column} IN (SELECT org_id FROM organisation_aliases)",
            )[0]
        )
        for table, column in ORG_ID_COLUMNS
    }


# --- the rule, as pure functions -------------------------------------------------------


def _seen(org_id: str, kind: str, district: str, name: str = "acme council") -> Sighting:
    return Sighting(org_id, kind, name, district, area=f"la-of-{district}")


def test_weak_ids_fold_into_the_one_identified_body_of_their_district() -> None:
    seen = [
        _seen("GB-LAE-ACM", "identified", "DH1"),
        _seen("GB-CFS-9", "cfs", "DH1"),
        _seen("name:acme council", "name", "DH1"),
    ]
    got = decide_aliases(seen, {"GB-CFS-9", "name:acme council", "GB-LAE-ACM"})
    reason = SAME_AS_IDENTIFIED.format(district="DH1")
    assert got == {
        "GB-CFS-9": Alias("GB-LAE-ACM", reason),
        "name:acme council": Alias("GB-LAE-ACM", reason),
    }


def test_without_an_identified_body_the_oldest_contracts_finder_id_is_kept() -> None:
    seen = [
        _seen("GB-CFS-187980", "cfs", "HP20"),
        _seen("GB-CFS-148375", "cfs", "HP20"),
        _seen("GB-CFS-99", "cfs", "HP20"),  # shorter number: older account
    ]
    got = decide_aliases(seen, [s.org_id for s in seen])
    assert {o: a.canonical for o, a in got.items()} == {
        "GB-CFS-187980": "GB-CFS-99",
        "GB-CFS-148375": "GB-CFS-99",
    }


def test_never_on_name_alone_nor_two_identifiers() -> None:
    seen = [
        # Two parish councils of one name, in two districts: two bodies.
        _seen("GB-CFS-1", "cfs", "AB1", "parish council"),
        _seen("GB-CFS-2", "cfs", "ZE2", "parish council"),
        # Two real identifiers sharing name and district: never one, and the GB-CFS id
        # seen with them cannot tell which one it is.
        _seen("GB-COH-00000001", "identified", "LS1"),
        _seen("GB-CHC-1000001", "identified", "LS1"),
        _seen("GB-CFS-3", "cfs", "LS1"),
    ]
    assert decide_aliases(seen, [s.org_id for s in seen]) == {}


def test_an_id_pointing_two_ways_stays_itself() -> None:
    seen = [
        _seen("GB-LAE-A", "identified", "DH1"),
        _seen("GB-LAE-B", "identified", "DH2"),
        _seen("GB-CFS-5", "cfs", "DH1"),
        _seen("GB-CFS-5", "cfs", "DH2"),
    ]
    assert decide_aliases(seen, ["GB-CFS-5"]) == {}


def test_a_name_only_id_seen_in_two_council_areas_is_not_folded() -> None:
    seen = [
        _seen("GB-CFS-1", "cfs", "AB1", "parish council"),
        _seen("name:parish council", "name", "AB1", "parish council"),
        _seen("name:parish council", "name", "ZE2", "parish council"),
    ]
    assert decide_aliases(seen, ["name:parish council"]) == {}
    # In one council area (two districts of one council), it is folded.
    same_area = [s._replace(area="one council") for s in seen]
    assert decide_aliases(same_area, ["name:parish council"])["name:parish council"].canonical == (
        "GB-CFS-1"
    )


def test_chains_end_at_an_id_that_is_not_folded() -> None:
    known = {"name:acme": Alias("GB-CFS-9", "first reason")}
    new = {"GB-CFS-9": Alias("GB-LAE-ACM", "second reason")}
    assert resolve_chains(new, known) == {
        "GB-CFS-9": Alias("GB-LAE-ACM", "second reason"),
        "name:acme": Alias("GB-LAE-ACM", "first reason"),
    }


# --- the bundled sample ------------------------------------------------------------------


def test_sample_councils_under_several_ids_are_one(sample_store: duckdb.DuckDBPyConnection) -> None:
    aliases = _aliases(sample_store)
    assert aliases["GB-CFS-107286"] == "GB-LAE-DUR"
    assert aliases["name:durham county council"] == "GB-LAE-DUR"
    assert aliases["name:bristol city council"] == "GB-CFS-51922"
    assert (
        aliases["GB-CFS-186962"] == aliases["name:leeds city council"] == ("GB-PPON-PJYG-6658-PPMY")
    )
    # The figures by buyer list each of them once.
    buyers = dict(
        sql.rows(
            sample_store,
            """
            SELECT lower(o.name), count(DISTINCT p.buyer_org_id) FROM processes p
            JOIN organisations o ON o.org_id = p.buyer_org_id
            WHERE lower(o.name) IN ('bristol city council', 'leeds city council',
                                    'durham county council')
            GROUP BY ALL
            """,
        )
    )
    assert buyers == {
        "bristol city council": 1,
        "leeds city council": 1,
        "durham county council": 1,
    }
    bristol = sql.one(
        sample_store,
        "SELECT buyer_processes FROM organisations WHERE org_id = 'GB-CFS-51922'",
    )[0]
    assert bristol == 7  # 1 under its Contracts Finder id + 6 under its name alone


def test_sample_same_name_in_other_districts_stays_apart(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    # Lincolnshire County Council (LN1 and LN2) and Vinci Construction (WD24 and RM13):
    # nothing but a name links them, so they are not folded.
    rows = sql.rows(
        sample_store,
        """
        SELECT org_id, outward_code FROM organisations
        WHERE lower(name) IN ('lincolnshire county council', 'vinci construction uk ltd')
        ORDER BY ALL
        """,
    )
    assert rows == [
        ("GB-CFS-224565", "WD24"),
        ("GB-CFS-224729", "RM13"),
        ("GB-CFS-51222", "LN1"),
        ("name:lincolnshire county council", "LN2"),
    ]


def test_sample_folds_leave_no_folded_id_behind(sample_store: duckdb.DuckDBPyConnection) -> None:
    assert len(_aliases(sample_store)) >= 20
    assert set(_alias_ids_left(sample_store).values()) == {0}
    chained = sql.one(
        sample_store,
        "SELECT count(*) FROM organisation_aliases "
        "WHERE canonical_org_id IN (SELECT org_id FROM organisation_aliases)",
    )[0]
    assert chained == 0
    # A canonical organisation carries its own identity, not one of the ids folded into it.
    assert sql.one(
        sample_store,
        "SELECT identity_method, scheme, buyer_processes FROM organisations "
        "WHERE org_id = 'GB-LAE-DUR'",
    ) == ("identifier", "GB-LAE", 3)


def test_sample_framework_published_twice_is_one(sample_store: duckdb.DuckDBPyConnection) -> None:
    assert _duplicates(sample_store) == {FRAMEWORK_COPY: FRAMEWORK}
    values = sql.rows(
        sample_store,
        "SELECT ocid, sum(value) FROM awards WHERE ocid IN (?, ?) GROUP BY ocid",
        [FRAMEWORK, FRAMEWORK_COPY],
    )
    assert dict(values) == {FRAMEWORK: 500_000_000, FRAMEWORK_COPY: 500_000_000}
    assert store_status(sample_store)["counts"]["duplicate_processes"] == 1


def _sample_files() -> list[Path]:
    return sorted(SAMPLE.rglob("*.jsonl"))


def test_ingesting_again_gives_the_same_folds_and_duplicates(
    writable_sample_store: duckdb.DuckDBPyConnection,
) -> None:
    con = writable_sample_store
    aliases, duplicates = _aliases(con), _duplicates(con)
    parties = sql.rows(con, "SELECT * FROM process_parties ORDER BY ALL")
    ingest(con, [SAMPLE], force=True)  # every process recompiled with its raw ids
    assert _aliases(con) == aliases
    assert _duplicates(con) == duplicates
    assert sql.rows(con, "SELECT * FROM process_parties ORDER BY ALL") == parties
    assert set(_alias_ids_left(con).values()) == {0}


def test_files_in_another_order_give_the_same_canonical_ids(
    tmp_path: Path, sample_store: duckdb.DuckDBPyConnection
) -> None:
    con = connect(tmp_path / "reversed.duckdb")
    try:
        ingest(con, list(reversed(_sample_files())))
        assert _aliases(con) == _aliases(sample_store)
        assert _duplicates(con) == _duplicates(sample_store)
        query = "SELECT ocid, buyer_org_id FROM processes ORDER BY ALL"
        assert sql.rows(con, query) == sql.rows(sample_store, query)
    finally:
        con.close()


# --- small stores of made-up releases --------------------------------------------------


def _party(party_id: str, name: str, postcode: str | None, role: str, **extra: Any) -> dict:
    address = {"postalCode": postcode} if postcode else {}
    return {"id": party_id, "name": name, "address": address, "roles": [role], **extra}


def _release(ocid: str, *parties: dict[str, Any], date: str = "2024-01-10T00:00:00Z") -> dict:
    buyer = next(p for p in parties if "buyer" in p["roles"])
    return {
        "ocid": ocid,
        "id": f"{ocid}-1",
        "date": date,
        "tag": ["tender"],
        "parties": list(parties),
        "buyer": {"id": buyer["id"], "name": buyer["name"]},
        "tender": {"id": "t", "title": f"Tender {ocid}"},
    }


def _write(path: Path, *releases: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in releases))
    return path


ACME_LAE = {"identifier": {"scheme": "GB-LAE", "id": "ACM"}}


def test_an_identified_body_seen_later_takes_over_the_older_folds(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first = _write(
        tmp_path / "first.jsonl",
        _release("ocds-t-1", _party("GB-CFS-200", "Acme Council", "DH1 5UL", "buyer")),
        _release("ocds-t-2", _party("b", "ACME COUNCIL", "DH1 5UJ", "buyer")),
    )
    second = _write(
        tmp_path / "second.jsonl",
        _release("ocds-t-3", _party("x", "Acme Council", "DH1 5UQ", "buyer", **ACME_LAE)),
    )
    ingest(store, [first])
    assert _aliases(store) == {"name:acme council": "GB-CFS-200"}
    ingest(store, [second])
    assert _aliases(store) == {"name:acme council": "GB-LAE-ACM", "GB-CFS-200": "GB-LAE-ACM"}
    assert set(_alias_ids_left(store).values()) == {0}
    assert sql.rows(store, "SELECT ocid, buyer_org_id FROM processes ORDER BY ocid") == [
        ("ocds-t-1", "GB-LAE-ACM"),
        ("ocds-t-2", "GB-LAE-ACM"),
        ("ocds-t-3", "GB-LAE-ACM"),
    ]
    assert sql.one(
        store,
        "SELECT buyer_processes, identity_method FROM organisations WHERE org_id = ?",
        ["GB-LAE-ACM"],
    ) == (3, "identifier")


def test_one_process_naming_a_body_twice_keeps_one_row_with_both_roles(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "twice.jsonl",
        _release("ocds-t-1", _party("x", "Acme Council", "DH1 5UQ", "buyer", **ACME_LAE)),
        _release(
            "ocds-t-2",
            _party("GB-CFS-200", "Acme Council", "DH1 5UL", "buyer"),
            _party("p", "Acme Council", None, "payer"),  # name only: no postcode here
            _party("s", "Acme Council", "DH1 5UJ", "supplier"),  # another name-only mention
        ),
    )
    ingest(store, [path])
    rows = sql.rows(
        store,
        "SELECT org_id, roles, identity_method, postcode FROM process_parties "
        "WHERE ocid = 'ocds-t-2'",
    )
    assert rows == [("GB-LAE-ACM", ["buyer", "payer", "supplier"], "identifier", "DH1 5UL")]


def test_two_bodies_of_one_name_in_two_places_stay_two(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "parishes.jsonl",
        _release("ocds-t-1", _party("GB-CFS-11", "Parish Council", "DH1 5UL", "buyer")),
        _release("ocds-t-2", _party("GB-CFS-12", "Parish Council", "TR1 1EB", "buyer")),
        _release("ocds-t-3", _party("a", "Parish Council", "DH1 5UQ", "buyer")),
        _release("ocds-t-4", _party("b", "Parish Council", "TR1 2HE", "buyer")),
    )
    ingest(store, [path])
    assert _aliases(store) == {}
    assert sql.one(store, "SELECT count(*) FROM organisations")[0] == 3


def _framework_releases() -> tuple[dict[str, Any], dict[str, Any]]:
    lines = CF_LEGACY_AWARDS.read_text().splitlines()
    original, copy = json.loads(lines[41]), json.loads(lines[47])
    assert (original["ocid"], copy["ocid"]) == (FRAMEWORK, FRAMEWORK_COPY)
    return original, copy


def test_a_copy_whose_twin_changes_is_no_longer_a_copy(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    original, copy = _framework_releases()
    ingest(store, [_write(tmp_path / "both.jsonl", original, copy)])
    assert _duplicates(store) == {FRAMEWORK_COPY: FRAMEWORK}
    changed = json.loads(json.dumps(original))
    changed["id"] += "-update"
    changed["date"] = "2020-03-09T00:00:00Z"
    changed["awards"][0]["value"]["amount"] = 250_000_000
    ingest(store, [_write(tmp_path / "update.jsonl", changed)])
    assert _duplicates(store) == {}
    # Its value published again as it was: a copy again.
    changed["id"] += "-again"
    changed["date"] = "2020-03-10T00:00:00Z"
    changed["awards"][0]["value"]["amount"] = 500_000_000
    ingest(store, [_write(tmp_path / "again.jsonl", changed)])
    assert _duplicates(store) == {FRAMEWORK_COPY: FRAMEWORK}


@pytest.mark.parametrize("order", ["copy first", "original first"])
def test_the_later_notice_is_the_copy_whichever_is_loaded_first(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, order: str
) -> None:
    original, copy = _framework_releases()
    files = [_write(tmp_path / "a.jsonl", original), _write(tmp_path / "b.jsonl", copy)]
    ingest(store, files[::-1] if order == "copy first" else files)
    assert _duplicates(store) == {FRAMEWORK_COPY: FRAMEWORK}
