"""Organisation lists: `locality ingest --kind organisations FILE.csv` (issue 12), and the
network taking an imported sector as its strongest evidence."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.ingest.organisations import (
    SECTORS,
    OrganisationListError,
    parse_identifiers,
    parse_sector,
    read_organisation_list,
)
from locality.ingest.pipeline import ingest
from locality.network import build_network
from locality.network import sectors as network_sectors
from tests.helpers import refuses

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = FIXTURES / "organisations_arts_colleges.csv"
BAD = FIXTURES / "organisations_bad_rows.csv"
SAMPLE = FIXTURES / "organisations_sample_overrides.csv"


def test_sector_names_are_the_networks() -> None:
    assert set(SECTORS) == set(network_sectors.SECTORS) - {network_sectors.UNKNOWN}


def test_real_list_read() -> None:
    found = read_organisation_list(REAL)
    assert found.records == 10 and not found.rejected
    by_name = {row[2]: row for row in found.rows}
    new_direction = by_name["A New Direction"]
    # source_line counts the provenance comment and the header: the first row is line 3.
    assert by_name["20 Stories High"][1] == 3
    assert new_direction[4] == ["GB-COH-06627531", "GB-CHC-1126216"]  # padded to 8
    assert new_direction[5:] == ("N1 6DZ", "N1", "arts_culture", None, True)
    assert by_name["Leeds City College"][7] == "higher_further_education"


def test_bad_rows_one_rejection_each() -> None:
    found = read_organisation_list(BAD)
    assert [row[2] for row in found.rows] == ["Good Start Ltd", "Good End, Multi-line Name Ltd"]
    assert found.rows[1][1] == 13  # a quoted name over two lines starts at line 13
    assert found.records == 11
    reasons = dict((line, reason) for line, reason, _ in found.rejected)
    assert sorted(reasons) == list(range(4, 13))
    assert reasons[4] == "no name"
    assert "'01234567' is not SCHEME-ID" in reasons[5]
    assert "'GB-COH-0' is not SCHEME-ID" in reasons[6]
    assert "not a UK postcode" in reasons[7]
    assert reasons[8].startswith("unknown sector 'charity shop': use one of public_buyer,")
    assert all(name in reasons[8] for name in SECTORS)
    assert "write sme or large" in reasons[9]
    assert "write yes or no" in reasons[10]
    assert "says nothing" in reasons[11]
    assert "contradicts" in reasons[12]


def test_no_name_column_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    for text, says in (
        ("company,sector\nAcme,sme\n", "needs a name column"),
        ("# only a comment\n", "empty file"),
    ):
        refuses(read_organisation_list, path, text, OrganisationListError, says)


@given(st.sampled_from(SECTORS), st.sampled_from(["", " ", "  "]), st.booleans())
def test_sector_spelling_free(sector: str, pad: str, upper: bool) -> None:
    text = pad + sector.replace("_", " " if upper else "-") + pad
    assert parse_sector(text.upper() if upper else text) == sector


@given(st.text(min_size=1, max_size=30))
def test_identifiers_never_crash(text: str) -> None:
    found, bad = parse_identifiers(text)
    assert all("-" in org_id for org_id in found)
    assert bad is None or bad.strip()


def test_ingest_replaces_a_files_rows(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(BAD.read_bytes())
    summary = ingest(store, [path], kind="organisations").as_json()
    (f,) = summary["files"]
    assert (f["kind"], f["records_read"], f["kept"], f["rejected"]) == ("organisations", 11, 2, 9)
    assert "new_releases" not in f and "total_amount" not in f
    assert store.execute("SELECT count(*) FROM rejected").fetchone() == (9,)
    assert ingest(store, [path], kind="organisations").files[0].skipped  # unchanged
    path.write_text("name,sector\nOnly One,vcse\n")
    ingest(store, [path], kind="organisations")
    assert store.execute("SELECT name, sector FROM organisation_facts").fetchall() == [
        ("Only One", "vcse")
    ]
    assert store.execute("SELECT count(*) FROM rejected").fetchone() == (0,)
    assert store.execute(
        "SELECT kind, records_read, kept, rejected FROM ingested_files"
    ).fetchall() == [("organisations", 1, 1, 0)]


def _node(net: object, org_id: str) -> dict[str, object]:
    graph = net.graph  # type: ignore[attr-defined]
    return graph.vs.find(name=org_id).attributes()  # type: ignore[no-any-return]


def test_imported_sector_decides_the_node(writable_sample_store: duckdb.DuckDBPyConnection) -> None:
    con = writable_sample_store
    before = build_network(con)
    assert _node(before, "GB-COH-09438364")["sector"] == "sme"
    assert _node(before, "GB-COH-14182020")["sector"] == "sme"
    assert _node(before, "GB-COH-OC301540")["sector"] == "large_company"
    smith = con.execute(
        "SELECT org_id FROM organisations WHERE name = 'Smith and Byford'"
    ).fetchone()
    assert smith is not None
    ingest(con, [SAMPLE, REAL], kind="organisations")
    after = build_network(con)
    # By identifier (the list's company number unpadded), its sector given.
    oakheart = _node(after, "GB-COH-09438364")
    assert oakheart["sector"] == "vcse"
    assert oakheart["sector_evidence"] == (
        "imported list organisations_sample_overrides.csv line 3: vcse "
        "(matched by identifier GB-COH-09438364)"
    )
    # By name and postcode district (LE2), the VCSE flag deciding the sector.
    anthony = _node(after, "GB-COH-14182020")
    assert anthony["sector"] == "vcse"
    assert "line 4: vcse (matched by name and postcode district LE2)" in str(
        anthony["sector_evidence"]
    )
    # The same name in another district is another body: KPMG keeps its published size.
    assert _node(after, "GB-COH-OC301540")["sector"] == "large_company"
    assert "imported" not in str(_node(after, "GB-COH-OC301540")["sector_evidence"])
    # By name alone (neither side has a postcode), the scale deciding the sector.
    byford = _node(after, smith[0])
    assert byford["sector"] == "large_company"
    assert "(matched by name (the organisation has no postcode))" in str(byford["sector_evidence"])
    # Listed organisations with no ties are nowhere in the graph.
    names = set(after.graph.vs["label"])
    assert "20 Stories High" not in names and "A New Direction" not in names
    assert after.graph.vcount() == before.graph.vcount()


def test_cli_ingest_organisations(sample_store_file: Path, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_store_file, db)
    result = CliRunner().invoke(
        app,
        ["--db", str(db), "ingest", "--kind", "organisations", str(BAD), "--format", "json"],
    )
    assert result.exit_code == 1, result.output  # rows were rejected
    summary = json.loads(result.stdout)
    assert summary["files"][0]["rejected"] == 9
    assert summary["files"][0]["rejections"][0] == {"line": 4, "reason": "no name"}
    result = CliRunner().invoke(
        app, ["--db", str(db), "ingest", "--kind", "organisations", str(REAL)]
    )
    assert result.exit_code == 0, result.output
    assert "organisations_arts_colleges.csv" in result.stdout
