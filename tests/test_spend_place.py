"""Spend suppliers resolved to organisations (number, name, fuzzy: each recorded with its
method and score), supplier facts, and the whole-place view of `locality place`, on the
bundled real sample (data/sample/ocds and data/sample/spend)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.domain.places import load_places, resolve
from locality.enrich.resolve import (
    FUZZY_CUTOFF,
    SUPPLIERS_SQL,
    SupplierFactsError,
    add_supplier_facts,
    name_variants,
    resolve_suppliers,
    words_agree,
)
from locality.spend.place import place_view
from locality.store import sql
from tests.conftest import ROOT, award_release, writable_copy
from tests.helpers import cli_json, close_and_path, load_with_release

SPEND = ROOT / "data" / "sample" / "spend"
CALDERDALE = SPEND / "calderdale-council-2022-08.csv"


@pytest.fixture
def writable(spend_sample_store_file: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from writable_copy(spend_sample_store_file, tmp_path)


def _match(con: duckdb.DuckDBPyConnection, name: str) -> tuple[object, ...] | None:
    found = sql.rows(
        con,
        "SELECT org_id, method, score, matched_name FROM spend_supplier_matches "
        "WHERE supplier_name_normalised = ?",
        [name],
    )
    assert len(found) <= 1
    return found[0] if found else None


# --- resolution -----------------------------------------------------------------------------


def test_exact_company_number_match(tmp_path: Path) -> None:
    # No company number Calderdale publishes occurs in the OCDS sample, so this case pairs
    # Calderdale's real file with one release naming a real supplier of that file under the
    # number Calderdale publishes for it ("8911274", unpadded, line 77), and a name unlike
    # the spend file's, so only the number can match.
    release = award_release(
        "calderdale-1",
        "Calderdale Metropolitan Borough Council",
        "ABILITY WETROOMS LIMITED (TRADING)",
        "8911274",
        5460,
        "2022-07-01T00:00:00Z",
    )
    con = load_with_release(tmp_path / "store.duckdb", CALDERDALE, release)
    try:
        assert _match(con, "ability wetrooms ltd") == (
            "GB-COH-08911274",
            "exact_number",
            100.0,
            "ABILITY WETROOMS LIMITED (TRADING)",
        )
        row = sql.one(
            con,
            "SELECT company_number FROM spend_supplier_matches WHERE org_id = 'GB-COH-08911274'",
        )
        assert row == ("08911274",)
    finally:
        con.close()


def test_name_matches_are_recorded_with_their_method(
    spend_store: duckdb.DuckDBPyConnection,
) -> None:
    org_id, method, score, matched = _match(spend_store, "aggregate industries uk ltd") or ()
    assert method == "name" and score == 100.0
    assert matched == "Aggregate Industries UK Ltd"
    assert sql.one(spend_store, "SELECT count(*) FROM organisations WHERE org_id = ?", [org_id])
    methods = dict(
        sql.rows(spend_store, "SELECT method, count(*) FROM spend_supplier_matches GROUP BY 1")
    )
    assert set(methods) <= {"exact_number", "name", "fuzzy"} and methods["name"] > 50


def test_fuzzy_matches_carry_their_score(spend_store: duckdb.DuckDBPyConnection) -> None:
    _, method, score, matched = _match(spend_store, "enviroment agency") or ()
    assert method == "fuzzy" and matched == "Environment Agency"
    assert FUZZY_CUTOFF <= score < 100
    scores = sql.rows(
        spend_store,
        "SELECT min(score), max(score) FROM spend_supplier_matches WHERE method='fuzzy'",
    )[0]
    assert scores[0] >= FUZZY_CUTOFF
    # A near-identical whole name with one different place word is not the same council.
    assert _match(spend_store, "warrington borough council") is None
    assert not words_agree("warrington borough council", "darlington borough council")
    assert words_agree(
        "societe generale equipment fin ltd", "societe generale equipment finance ltd"
    )


def test_trading_as_names_try_each_side() -> None:
    assert name_variants("john smith t a smith plumbing") == [
        "john smith t a smith plumbing",
        "john smith",
        "smith plumbing",
    ]
    assert name_variants("t a smith ltd") == ["t a smith ltd"]


def test_resolution_is_stable_and_reported(writable: duckdb.DuckDBPyConnection) -> None:
    before = sql.rows(
        writable, "SELECT * EXCLUDE (resolved_at) FROM spend_supplier_matches ORDER BY ALL"
    )
    resolve_suppliers(writable)
    after = sql.rows(
        writable, "SELECT * EXCLUDE (resolved_at) FROM spend_supplier_matches ORDER BY ALL"
    )
    assert before == after
    status = cli_json(close_and_path(writable), "status")
    coverage = status["spend_suppliers"]
    assert 0 < coverage["resolved_share"] < 1
    assert coverage["resolved_suppliers"] == len(after)


# --- facts ----------------------------------------------------------------------------------


def test_supplier_facts_apply(writable: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "Supplier Name,Company Number,Postcode,Scale,VCSE\n"
        "Locala Community Partnerships CIC,,hx1 1ab,small,yes\n"
        ",2723797,LS1 1UR,large,no\n",
        encoding="utf-8",
    )
    assert add_supplier_facts(writable, [facts]) == 2
    assert add_supplier_facts(writable, [facts]) == 2  # replaced, not doubled
    assert sql.one(writable, "SELECT count(*) FROM supplier_facts") == (2,)
    known = {
        row[0]: row[1:]
        for row in sql.rows(
            writable,
            f"SELECT supplier_name_normalised, scale, vcse, postcode, la_registry_code, has_facts "
            f"FROM ({SUPPLIERS_SQL}) WHERE supplier_name_normalised IN "
            "('locala community partnerships cic', 'alliance leisure services ltd')",
        )
    }
    assert known["locala community partnerships cic"] == ("sme", True, "HX1 1AB", "CLD", True)
    assert known["alliance leisure services ltd"] == ("large", False, "LS1 1UR", "LDS", True)
    view = place_view(writable, resolve("Calderdale", load_places(None)))
    assert view["shares"]["known_scale_coverage"] > 0


def test_bad_facts_name_the_line(writable: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    facts = tmp_path / "bad.csv"
    facts.write_text("name,postcode\nAcme Ltd,not a postcode\n", encoding="utf-8")
    with pytest.raises(SupplierFactsError, match=r"bad\.csv:2: not a UK postcode"):
        add_supplier_facts(writable, [facts])


# --- the whole place ------------------------------------------------------------------------


def test_place_totals_are_the_bodies_payments(spend_store: duckdb.DuckDBPyConnection) -> None:
    view = place_view(spend_store, resolve("Greater Manchester", load_places(None)))
    expected, payments = sql.one(
        spend_store,
        "SELECT sum(amount_net), count(*) FROM spend_payments "
        "WHERE body_la_registry_code IN ('MAN', 'SLF')",
    )
    assert {b["code"] for b in view["bodies"]} == {"MAN", "SLF"}
    assert view["shares"]["total_amount"] == pytest.approx(expected, abs=0.01)
    # Transfers to other public bodies leave the supplier figures, not the total.
    shares = view["shares"]
    assert shares["transfer_amount"] > 0
    assert shares["supplier_amount"] + shares["transfer_amount"] == pytest.approx(
        expected, abs=0.02
    )
    for section in ("bodies", "years", "months", "themes", "theme_years"):
        assert sum(r["amount"] for r in view[section]) == pytest.approx(expected, abs=0.05)
        assert sum(r["payments"] for r in view[section]) == payments
    assert view["themes"][-1]["theme"] == "unmapped"
    assert view["threshold"]["min_amount"] == 0.0
    paid = sum(r["paid"] for r in view["contracted_vs_paid"])
    assert paid == pytest.approx(expected, abs=0.05)
    for name in ("sme_share", "vcse_share", "local_share"):
        share = view["shares"][name]
        assert share is None or 0 <= share <= 1
    assert 0 <= view["shares"]["known_scale_coverage"] <= 1
    top = view["suppliers"]
    assert top and all(r["bodies"] == len(r["body_codes"]) for r in top)
    assert [r["amount"] for r in top] == sorted((r["amount"] for r in top), reverse=True)


def test_place_cli_formats(spend_sample_store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(spend_sample_store_file)]
    table = runner.invoke(app, [*db, "place", "West Yorkshire"])
    assert table.exit_code == 0, table.output
    assert "Leeds City Council" in table.stdout and "Contracted" in table.stdout
    as_json = json.loads(runner.invoke(app, [*db, "place", "GMCA", "--format", "json"]).stdout)
    assert as_json["place"] == "Greater Manchester"
    csv_out = runner.invoke(
        app, [*db, "place", "Salford", "--format", "csv", "--section", "months"]
    )
    assert csv_out.stdout.splitlines()[0] == "month,code,body,payments,amount"
    unknown = runner.invoke(app, [*db, "place", "Nowhereshire"])
    assert unknown.exit_code == 2
