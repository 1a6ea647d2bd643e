"""Spend themes, like-for-like thresholds and non-council bodies in the whole-place view, on
the bundled real sample (data/sample/spend). Golden values are worked out here with the
csv module from the files themselves and from the documented meaning of the rules."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.domain.places import PlaceError, builtin_places, load_places, resolve
from locality.enrich import load
from locality.spend.place import like_for_like_threshold, place_view
from locality.spend.themes import (
    UNMAPPED,
    SpendThemesError,
    ThemeRule,
    builtin_rules,
    contract_themes,
    load_rules,
    normalise_label,
    read_rules,
    theme_for,
)
from locality.store import sql
from locality.store.db import connect
from tests.conftest import ROOT
from tests.helpers import refuses

SPEND = ROOT / "data" / "sample" / "spend"
SALFORD = SPEND / "salford-city-council-2022-06.csv"
LEEDS = SPEND / "leeds-city-council-2018-09.csv"
CALDERDALE = SPEND / "calderdale-council-2022-08.csv"
CALDERDALE_CARD = SPEND / "calderdale-council-2018-12-card.csv"
# A real council file ingested under a stated non-council body: no police spend file is
# bundled, and what matters here is that a named body's real rows join its place.
POLICE_FILE = SPEND / "darlington-borough-council-2022-08.csv"
POLICE = "West Yorkshire Police"
RULES_FILE = ROOT / "src" / "locality" / "reference" / "spend-themes.csv"


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("themes") / "themes.duckdb"
    con = connect(path)
    load(con, [SALFORD, LEEDS, CALDERDALE, CALDERDALE_CARD])
    con.close()
    result = CliRunner().invoke(
        app, ["--db", str(path), "ingest", "--body", POLICE, str(POLICE_FILE)]
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def store(store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(store_file, read_only=True)
    yield con
    con.close()


@pytest.fixture
def places_toml(tmp_path: Path) -> Path:
    path = tmp_path / "places.toml"
    path.write_text(f'[places."West Yorkshire"]\nbodies = ["{POLICE}"]\n', encoding="utf-8")
    return path


def _themes(view: dict[str, object]) -> dict[str, dict[str, object]]:
    return {row["theme"]: row for row in view["themes"]}  # type: ignore[attr-defined,index]


# --- the rules, by their documented meaning ----------------------------------------------


def _rules_by_hand() -> list[tuple[str, re.Pattern[str], str]]:
    with RULES_FILE.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if not r["field"].startswith("#")]
    return [(r["field"], re.compile(r["pattern"]), r["theme"]) for r in rows]


def _theme_by_hand(
    expense_type: str, service_area: str, rules: list[tuple[str, re.Pattern[str], str]]
) -> str:
    """docs/metrics.md: the text in lower case, & as "and", other punctuation as spaces;
    every expense type rule before any service area rule; the first match wins."""
    for field, text in (("expense_type", expense_type), ("service_area", service_area)):
        label = " ".join(re.findall(r"[0-9a-z]+", text.lower().replace("&", " and ")))
        for rule_field, pattern, theme in rules:
            if label and rule_field == field and pattern.search(label):
                return theme
    return UNMAPPED


def _salford_rows() -> list[dict[str, str]]:
    with SALFORD.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_bundled_rules_use_the_contract_themes() -> None:
    rules = builtin_rules()
    assert {rule.field for rule in rules} == {"expense_type", "service_area"}
    assert {rule.theme for rule in rules} <= contract_themes() | {UNMAPPED}
    # Every contract theme is reachable from spend.
    assert {rule.theme for rule in rules} >= contract_themes() - {"research and innovation"}
    assert all(rule.why and rule.source.startswith("spend-themes.csv:") for rule in rules)


def test_labels_are_normalised() -> None:
    assert normalise_label("Rent & Rates") == "rent and rates"
    assert normalise_label("  IT  Licence Fee") == "it licence fee"
    assert normalise_label("Children´s Services") == "children s services"
    assert normalise_label(None) == ""


def test_expense_type_before_service_area() -> None:
    rules = builtin_rules()
    assert theme_for("Electricity", "Adult Social Care", rules).theme == "energy"
    by_area = theme_for("Private Contractors", "Adult Social Care", rules)
    assert (by_area.theme, by_area.field) == ("health and social care", "service_area")
    # An explicit "unmapped" rule stops the service area: a levy is not construction.
    levy = theme_for("Levies", "Highways Services", rules)
    assert (levy.theme, levy.field) == (UNMAPPED, "expense_type")
    nothing = theme_for("Payments for services", "Corporate Services", rules)
    assert (nothing.theme, nothing.field, nothing.rule) == (UNMAPPED, None, None)
    # Leeds publishes no expense type: the service area alone decides.
    assert theme_for(None, "Adults and Health", rules).theme == "health and social care"


def test_user_rules_come_first(tmp_path: Path) -> None:
    extra = tmp_path / "mine.csv"
    extra.write_text(
        "field,pattern,theme,why\nexpense_type,\\brents?\\b,construction,our rents are works\n",
        encoding="utf-8",
    )
    rules = load_rules(extra)
    match = theme_for("Rents", "Place Directorate", rules)
    assert (match.theme, match.rule.source if match.rule else None) == (
        "construction",
        f"{extra}:2",
    )
    assert theme_for("Rents", "Place Directorate", builtin_rules()).theme == "facilities"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("field,pattern,theme\n", r"bad\.csv:1: expected the header field,pattern,theme,why"),
        (
            "field,pattern,theme,why\n# fine\nexpense_type,rent,helth and social care,x\n",
            r"bad\.csv:3: unknown theme 'helth and social care'; did you mean "
            r"'health and social care'\?",
        ),
        ("field,pattern,theme,why\nexpense_type,(rent,facilities,x\n", r"bad\.csv:2: pattern"),
        ("field,pattern,theme,why\nsupplier,rent,facilities,x\n", r"bad\.csv:2: field must"),
        ("field,pattern,theme,why\nexpense_type,rent,facilities,\n", r"bad\.csv:2: say why"),
        ("field,pattern,theme,why\nexpense_type,a,b,facilities,x\n", r"bad\.csv:2: expected 4"),
    ],
)
def test_bad_themes_file_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.csv"
    refuses(read_rules, bad, text, SpendThemesError, message)


def test_bad_themes_file_on_the_command_line(store_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("field,pattern,theme,why\n\nservice_area,x,nope,y\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--db", str(store_file), "place", "Salford", "--spend-themes", str(bad)]
    )
    assert result.exit_code == 2
    assert "bad.csv:3: unknown theme 'nope'" in " ".join(result.stderr.split())


# --- themes of a real file, worked out with the csv module --------------------------------


def test_theme_totals_of_a_real_file(store: duckdb.DuckDBPyConnection) -> None:
    rules = _rules_by_hand()
    expected: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in _salford_rows():
        theme = _theme_by_hand(row["GL Description"], row["Service Area"], rules)
        expected[theme] += float(row["Net"])
        counts[theme] += 1
    view = place_view(store, resolve("Salford", load_places(None)))
    themes = _themes(view)
    assert set(themes) == set(expected)
    for theme, amount in expected.items():
        assert themes[theme]["amount"] == pytest.approx(amount, abs=0.01), theme
        assert themes[theme]["payments"] == counts[theme], theme
    # Golden values of this file (Salford, June 2022), net GBP.
    assert themes["energy"]["amount"] == pytest.approx(767_640.18, abs=0.01)
    assert themes["health and social care"]["amount"] == pytest.approx(6_164_753.94, abs=0.01)
    assert themes[UNMAPPED]["amount"] == pytest.approx(3_540_607.75, abs=0.01)
    assert view["themes"][-1]["theme"] == UNMAPPED  # shown, and last
    assert sum(r["amount"] for r in view["themes"]) == pytest.approx(
        view["shares"]["total_amount"], abs=0.05
    )


def test_theme_concentration_by_hand(store: duckdb.DuckDBPyConnection) -> None:
    """HHI of the energy theme: suppliers' net payments, squared percentage shares."""
    rules = _rules_by_hand()
    per_supplier: dict[str, float] = defaultdict(float)
    redacted = 0.0
    for row in _salford_rows():
        theme = _theme_by_hand(row["GL Description"], row["Service Area"], rules)
        supplier = row["Vendor Name"].strip().casefold()
        if theme == "energy":
            per_supplier[supplier] += float(row["Net"])
        if theme == "transport" and supplier == "redacted data":
            redacted += float(row["Net"])
    values = sorted((v for v in per_supplier.values() if v > 0), reverse=True)
    total = sum(values)
    hhi = sum((100 * v / total) ** 2 for v in values)
    energy = _themes(place_view(store, resolve("Salford", load_places(None))))["energy"]
    assert energy["distinct_suppliers"] == len(values) == 11
    assert energy["hhi"] == pytest.approx(hhi)
    assert 4_000 < hhi < 4_500  # Haven Power takes 64% of it: highly concentrated
    assert energy["top1_share"] == pytest.approx(values[0] / total)
    assert energy["top3_share"] == pytest.approx(sum(values[:3]) / total)
    transport = _themes(place_view(store, resolve("Salford", load_places(None))))["transport"]
    assert redacted > 0 and transport["redacted_amount"] == pytest.approx(redacted, abs=0.01)


def test_unmapped_lines_are_listed(store: duckdb.DuckDBPyConnection) -> None:
    view = place_view(store, resolve("Salford", load_places(None)), top=5)
    unmapped = view["unmapped"]
    assert len(unmapped) == 5
    assert [abs(r["amount"]) for r in unmapped] == sorted(
        (abs(r["amount"]) for r in unmapped), reverse=True
    )
    top = unmapped[0]
    assert (top["expense_type"], top["rule"]) == ("Ext Fees-Other", "no rule")


# --- like for like ------------------------------------------------------------------------


def _leeds_payments_at_least(amount: float) -> int:
    with LEEDS.open(encoding="cp1252", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Line 20878's payment date "214" is rejected by the reader (data/sample/spend/README.md).
    kept = [r for r in rows if r["Payment Date"] != "214"]
    return sum(1 for r in kept if abs(float(r["Amount"])) >= amount)


def test_min_amount_counts_only_payments_that_large(store: duckdb.DuckDBPyConnection) -> None:
    place = resolve("West Yorkshire", load_places(None))
    every = {b["code"]: b for b in place_view(store, place)["bodies"]}
    view = place_view(store, place, min_amount=500)
    over = {b["code"]: b for b in view["bodies"]}
    assert every["LDS"]["payments"] == _leeds_payments_at_least(0) == 22_416
    assert over["LDS"]["payments"] == _leeds_payments_at_least(500)
    assert over["LDS"]["payments"] < every["LDS"]["payments"] * 0.4  # most Leeds lines are small
    card = sql.one(
        store,
        "SELECT count(*) FILTER (WHERE abs(amount_net) >= 500), count(*) FROM spend_payments "
        "WHERE is_card",
    )
    calderdale = sql.one(
        store,
        "SELECT count(*) FROM spend_payments WHERE body_la_registry_code = 'CLD' "
        "AND abs(amount_net) >= 500",
    )
    assert over["CLD"]["payments"] == calderdale[0] and card[0] < card[1]
    assert view["threshold"] == {"min_amount": 500.0, "basis": "as given", "set_by": []}
    for section in ("months", "years", "themes", "theme_years"):
        assert sum(r["payments"] for r in view[section]) == sum(
            b["payments"] for b in over.values()
        ), section
    assert view["shares"]["total_amount"] == pytest.approx(
        sum(b["amount"] for b in over.values()), abs=0.05
    )


def test_like_for_like_uses_the_highest_published_threshold(
    store: duckdb.DuckDBPyConnection,
) -> None:
    place = resolve("West Yorkshire", load_places(None))
    # Leeds publishes every payment (0), Calderdale's card file everything (0, left out),
    # Calderdale's main file over £500.
    assert like_for_like_threshold(store, place) == (
        500.0,
        ["Calderdale Metropolitan Borough Council"],
    )
    alike = place_view(store, place, like_for_like=True)
    given = place_view(store, place, min_amount=500)
    assert alike["threshold"]["min_amount"] == 500.0
    assert alike["threshold"]["set_by"] == ["Calderdale Metropolitan Borough Council"]
    for section in ("bodies", "themes"):
        # Same rows; sums in parallel may differ in the last bits, hence approx.
        assert [r["payments"] for r in alike[section]] == [r["payments"] for r in given[section]]
        assert [r["amount"] for r in alike[section]] == pytest.approx(
            [r["amount"] for r in given[section]]
        )
    with pytest.raises(ValueError, match="not both"):
        place_view(store, place, like_for_like=True, min_amount=100)


def test_like_for_like_on_the_command_line(store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(store_file)]
    data = json.loads(
        runner.invoke(
            app, [*db, "place", "West Yorkshire", "--like-for-like", "--format", "json"]
        ).stdout
    )
    assert data["threshold"]["min_amount"] == 500.0
    table = runner.invoke(app, [*db, "place", "West Yorkshire", "--min-amount", "250"])
    assert table.exit_code == 0, table.output
    assert "Counted: payments of £250.00 or more" in table.stdout
    both = runner.invoke(app, [*db, "place", "Leeds", "--min-amount", "5", "--like-for-like"])
    assert both.exit_code == 2 and "not both" in both.stderr


# --- bodies that are not councils ----------------------------------------------------------


def test_places_file_adds_bodies_to_a_builtin_place(places_toml: Path) -> None:
    places = load_places(places_toml)
    west = resolve("west yorkshire", places)
    assert west.councils == builtin_places()["West Yorkshire"].councils
    assert west.bodies == {POLICE}
    assert str(places_toml) in west.source
    # A new place may hold bodies next to its councils.
    places_toml.write_text(
        '[places."Calder Valley"]\ncouncils = ["Calderdale"]\nbodies = ["Calderdale CCG"]\n',
        encoding="utf-8",
    )
    assert load_places(places_toml)["Calder Valley"].bodies == {"Calderdale CCG"}
    for text, says in (
        (
            '[places."Atlantis"]\nbodies = ["Atlantis Police"]\n',
            "no built-in place or council to extend",
        ),
        (
            '[places."West Yorkshire"]\nbodies = "West Yorkshire Police"\n',
            "bodies must be a list of names",
        ),
    ):
        refuses(load_places, places_toml, text, PlaceError, says)


def test_a_non_council_body_joins_its_place(
    store: duckdb.DuckDBPyConnection, places_toml: Path
) -> None:
    with POLICE_FILE.open(encoding="utf-8", newline="") as handle:
        police_total = sum(float(row[7]) for row in list(csv.reader(handle))[1:] if row and row[7])
    alone = place_view(store, resolve("West Yorkshire", load_places(None)))
    view = place_view(store, resolve("West Yorkshire", load_places(places_toml)))
    police = [b for b in view["bodies"] if b["body"] == POLICE]
    assert POLICE not in {b["body"] for b in alone["bodies"]}
    assert len(police) == 1 and police[0]["code"] is None
    assert police[0]["amount"] == pytest.approx(police_total, abs=0.01)
    assert police[0]["payments"] == 1_863
    total = view["shares"]["total_amount"]
    assert total == pytest.approx(alone["shares"]["total_amount"] + police_total, abs=0.05)
    for section in ("bodies", "months", "years", "themes", "theme_years"):
        assert sum(r["amount"] for r in view[section]) == pytest.approx(total, abs=0.05)
    assert any(r["body"] == POLICE for r in view["months"])
    assert any(r["body"] == POLICE for r in view["years"])
    assert any(POLICE in r["body_codes"] for r in view["suppliers"])
    assert view["named_bodies"] == [POLICE]
    # Contracted against paid stays per council.
    assert {r["code"] for r in view["contracted_vs_paid"]} <= {"LDS", "CLD"}


def test_a_non_council_body_on_the_command_line(store_file: Path, places_toml: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(store_file)]
    result = runner.invoke(app, [*db, "place", "West Yorkshire", "--places", str(places_toml)])
    assert result.exit_code == 0, result.output
    assert POLICE in result.stdout and "Spend by theme" in result.stdout
    assert "unmapped" in result.stdout
    places = ["--places", str(places_toml)]
    body_csv = runner.invoke(
        app, [*db, "place", "West Yorkshire", *places, "--format", "csv", "--section", "bodies"]
    ).stdout
    assert POLICE in body_csv


# --- output ---------------------------------------------------------------------------------


def test_theme_sections_as_csv_and_help(store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(store_file)]
    themes = runner.invoke(
        app, [*db, "place", "Salford", "--format", "csv", "--section", "themes"]
    ).stdout.splitlines()
    assert themes[0] == (
        "theme,payments,amount,share_of_total,by_service_area,distinct_suppliers,hhi,"
        "top1_share,top3_share,redacted_amount,transfer_amount"
    )
    assert themes[-1].startswith("unmapped,")
    years = runner.invoke(
        app, [*db, "place", "Salford", "--format", "csv", "--section", "theme-years"]
    ).stdout.splitlines()
    assert years[0] == "theme,financial_year,payments,amount"
    unmapped = runner.invoke(
        app, [*db, "place", "Salford", "--format", "csv", "--section", "unmapped"]
    ).stdout.splitlines()
    assert unmapped[0] == "service_area,expense_type,rule,payments,amount"
    help_text = runner.invoke(app, ["place", "--help"]).stdout
    for example in ("--like-for-like", "--min-amount 500", "--spend-themes", "bodies = ["):
        assert example in help_text, example


# --- invariants -----------------------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rules=st.lists(st.sampled_from(builtin_rules()), max_size=40),
    min_amount=st.one_of(st.none(), st.floats(min_value=0, max_value=20_000)),
    with_police=st.booleans(),
    name=st.sampled_from(["West Yorkshire", "Salford", "Leeds"]),
)
def test_theme_totals_are_the_place_total(
    store: duckdb.DuckDBPyConnection,
    places_toml: Path,
    rules: list[ThemeRule],
    min_amount: float | None,
    with_police: bool,
    name: str,
) -> None:
    """Whatever the rules (any subset, any order), threshold and bodies, every payment is in
    exactly one theme, and every share is a share."""
    place = resolve(name, load_places(places_toml if with_police else None))
    view = place_view(store, place, min_amount=min_amount, theme_rules=rules)
    total = view["shares"]["total_amount"]
    themes = view["themes"]
    assert sum(r["amount"] for r in themes) == pytest.approx(total, abs=0.05)
    assert sum(r["payments"] for r in themes) == sum(b["payments"] for b in view["bodies"])
    assert UNMAPPED in {r["theme"] for r in themes}
    by_theme: dict[str, float] = defaultdict(float)
    for row in view["theme_years"]:
        by_theme[row["theme"]] += row["amount"]
    for row in themes:
        assert by_theme[row["theme"]] == pytest.approx(row["amount"], abs=0.05)
        for share in ("top1_share", "top3_share"):
            assert row[share] is None or 0 <= row[share] <= 1 + 1e-9
        if row["top1_share"] is not None:
            assert row["top1_share"] <= row["top3_share"] + 1e-9
            assert 0 <= row["hhi"] <= 10_000 + 1e-6
    if total:
        assert sum(r["share_of_total"] or 0 for r in themes) == pytest.approx(1.0)
    for name_ in ("sme_share", "vcse_share", "local_share", "known_scale_coverage"):
        share = view["shares"][name_]
        assert share is None or 0 <= share <= 1


def test_a_named_body_spelt_two_ways_is_one_body(tmp_path: Path, places_toml: Path) -> None:
    """Files of one body given with different case or spacing are one body of the place,
    shown by the name the places file gives it."""
    path = tmp_path / "two.duckdb"
    for spelling, source in ((POLICE.upper(), POLICE_FILE), (f"  {POLICE.lower()} ", SALFORD)):
        result = CliRunner().invoke(
            app, ["--db", str(path), "ingest", "--body", spelling, str(source)]
        )
        assert result.exit_code == 0, result.output
    con = connect(path, read_only=True)
    try:
        view = place_view(con, resolve("West Yorkshire", load_places(places_toml)))
    finally:
        con.close()
    assert [b["body"] for b in view["bodies"]] == [POLICE]
    assert view["bodies"][0]["files"] == 2
    assert {r["body"] for r in view["years"]} == {POLICE}
    assert all(r["body_codes"] == [POLICE] for r in view["suppliers"])
