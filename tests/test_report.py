"""``locality report``: one self-contained HTML file with the place page's figures and more.

The report must show the numbers the dashboard's API gives for the place, formatted as the
dashboard formats them (``locality.views.present``), load nothing from anywhere, and carry
its caveats, definitions, sources with licences and the date it was made. Drawing its
charts in a real browser is tested in ``tests/test_browser.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from locality.metrics.compare import HEADLINE
from locality.report import (
    CHART_WIDTH,
    GLOSSARY,
    NotFound,
    build_report,
    report_data,
    write_report,
)
from locality.views import present, queries
from tests.helpers import cli, digest, nonempty

MADE = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def api(sample_store_file: Path) -> dict[str, Any]:
    """What the dashboard's API gives for Manchester and its comparison, and the status."""
    with queries.Store(sample_store_file).session() as s:
        return {
            "place": queries.place_page(s, "Manchester"),
            "compare": queries.compare(s, ["Manchester", "York", "Swindon"]),
            "status": queries.status(s),
        }


@pytest.fixture(scope="module")
def report(sample_store_file: Path) -> str:
    before = digest(sample_store_file)
    html = build_report(sample_store_file, "Manchester", compare=["York", "Swindon"], made=MADE)
    assert digest(sample_store_file) == before  # the store is only read
    return html


def _specs(html: str) -> list[dict[str, Any]]:
    found = re.findall(
        r'<script type="application/json" class="chart-spec"[^>]*>(.*?)</script>', html, re.S
    )
    return [json.loads(text) for text in found]


def test_report_is_one_self_contained_file(report: str) -> None:
    assert report.startswith("<!doctype html>")
    assert '<html lang="en-GB">' in report
    # Nothing to load: no external script, stylesheet, image or font.
    assert all("src=" not in attrs for attrs in re.findall(r"<script\b([^>]*)>", report))
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", report, flags=re.S)
    assert not re.search(r"<(img|iframe|object|embed|link)\b", markup)
    assert "/static/" not in markup
    assert "@import" not in markup and "url(" not in markup
    # The vendored chart libraries and the dashboard's stylesheet are inside.
    vendor = Path(__file__).resolve().parent.parent / "src/locality/web/static/vendor"
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        assert vendor.joinpath(name).read_text(encoding="utf-8")[:500] in report, name
    assert ".figures {" in report


def test_report_prints_to_a4(report: str) -> None:
    assert "@page { size: A4" in report
    assert "@media print" in report
    assert "break-before: page" in report
    assert "nav.contents" in report
    # Each chart is drawn no wider than an A4 page's text.
    specs = _specs(report)
    assert specs and all(spec["width"] == CHART_WIDTH for spec in specs)
    assert CHART_WIDTH * 25.4 / 96 <= 180  # mm, at CSS's 96 px per inch


def test_report_shows_the_place_page_figures(report: str, api: dict[str, Any]) -> None:
    data = api["place"]
    head = data["headline"]
    assert head["awards"] > 0
    assert (
        f'<data value="{head["awarded_value"]}">{present.money(head["awarded_value"])}</data>'
        in (report)
    )
    for key in ("sme_share", "vcse_share", "local_share", "top3_share", "direct_award_share"):
        shown = "" if head[key] is None else head[key]
        assert f'<data value="{shown}">{present.pct(head[key])}</data>' in report, key
    assert "Values include awarded contracts and call-offs" in report
    for sentence in nonempty(data["sentences"].values(), "sentences"):
        assert str(escape(sentence)) in report
    for row in nonempty(data["by_year"], "years"):
        assert f"<td>{row['year']}</td>" in report
    for row in nonempty(data["by_theme"], "themes"):
        assert f"<td>{row['theme']}</td>" in report
    for row in nonempty(data["top_suppliers"], "top suppliers"):
        assert str(escape(row["supplier_name"])) in report
    for flag in nonempty(data["flags"], "red flags"):
        assert f"<code>{flag['ocid']}</code>" in report
    for section in ("headline", "years", "themes", "suppliers", "flags", "compare"):
        assert f'<section id="{section}">' in report


def test_report_charts_carry_the_data(report: str, api: dict[str, Any]) -> None:
    specs = _specs(report)
    assert len(specs) == 4  # years, themes, and the two comparison charts
    years = {v["year"] for v in specs[0]["data"]["values"]}
    # A year with no award of money (only framework appointments) has no share to draw.
    assert years == {str(r["year"]) for r in api["place"]["by_year"] if r["awards"]}
    themes = {v["theme"]: v["awarded_value"] for v in specs[1]["data"]["values"]}
    assert themes == {r["theme"]: r["awarded_value"] for r in api["place"]["by_theme"]}
    assert [v["place"] for v in specs[3]["data"]["values"]] == ["Manchester", "York", "Swindon"]


def test_report_compares_like_the_compare_page(report: str, api: dict[str, Any]) -> None:
    rows = api["compare"]
    assert [r["place"] for r in rows] == ["Manchester", "York", "Swindon"]
    compare = report[report.index('<section id="compare">') :]
    compare = compare[: compare.index("</section>")]
    for row in rows:
        for measure in HEADLINE:
            value = row[measure]
            cell = "" if value is None else value
            shown = present.measure(measure, value)
            assert f'<data value="{cell}">{shown}</data>' in compare, measure


def test_report_has_caveats_definitions_sources_and_date(report: str, api: dict[str, Any]) -> None:
    head = api["place"]["headline"]
    quality = report[report.index('<section id="quality">') :]
    for key in ("coverage_value", "coverage_supplier_size", "coverage_buyer_place"):
        assert f'<data value="{head[key]}">{present.pct(head[key])}</data>' in quality, key
    coverage = api["status"]["coverage"]
    assert present.pct(coverage["supplier_scale"]) in quality
    assert present.pct(coverage["buyer_local_authority"]) in quality
    # A definition for every measure the report shows, and the full definitions' place.
    assert set(HEADLINE) <= set(GLOSSARY)
    definitions = report[report.index('<section id="definitions">') :]
    for text in GLOSSARY.values():
        assert str(escape(text)) in definitions
    assert "docs/metrics.md" in definitions
    # Each publisher in the store with its licence; the reference data's licences.
    sources = report[report.index('<section id="sources">') :]
    for publisher in nonempty(api["status"]["publishers"], "publishers"):
        assert publisher["name"] in sources
    assert "Open Government Licence v3.0" in sources
    assert "CC-BY-4.0" in sources and "mySociety" in sources
    assert "BSD 3-Clause" in sources
    # The date it was made.
    assert "14 March 2025" in report
    assert "2025-03-14T09:30:00+00:00" in report


@pytest.mark.slow
def test_report_of_a_combined_authority_without_compare(sample_store_file: Path) -> None:
    html = build_report(sample_store_file, "WYCA", made=MADE)
    assert "<h1>West Yorkshire: where its public money goes" in html
    assert "Combined authority of 5 councils" in html
    assert '<section id="compare">' not in html
    assert len(_specs(html)) == 2


@pytest.mark.slow
def test_report_of_a_place_without_awards(sample_store_file: Path) -> None:
    html = build_report(sample_store_file, "York", made=MADE)
    assert "No counted award by buyers in York is in this store." in html
    assert all(spec["data"]["values"] == [] for spec in _specs(html))


def test_report_refuses_unknown_names_with_suggestions(sample_store_file: Path) -> None:
    with pytest.raises(NotFound) as caught:
        build_report(sample_store_file, "Mancester")
    assert "Manchester" in {s["name"] for s in caught.value.suggestions}


@pytest.mark.slow
def test_write_report(sample_store_file: Path, tmp_path: Path, report: str) -> None:
    path = write_report(
        sample_store_file,
        "Manchester",
        tmp_path / "m.html",
        compare=["York", "Swindon"],
        made=MADE,
    )
    assert path.read_text(encoding="utf-8") == report


# --- the command -----------------------------------------------------------------------------


@pytest.mark.slow
def test_report_command_writes_the_file(sample_store_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "manchester.html"
    result = cli(
        "--db", str(sample_store_file), "report", "Manchester", "-o", str(out), "--compare", "York"
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stdout and out.name in result.stdout
    html = out.read_text(encoding="utf-8")
    assert '<section id="compare">' in html
    assert dt.date.today().strftime("%B %Y") in html


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["Mancester"], 2, "did you mean 'Manchester'"),
        (
            [
                "York",
                *[
                    a
                    for n in ("Leeds", "Bath", "Derby", "Hull", "Bury", "Wigan")
                    for a in ("--compare", n)
                ],
            ],
            2,
            "at most 5 others",
        ),
        (["York", "--compare", "Nowhere At All"], 2, "no place or council called"),
    ],
)
def test_report_command_errors(
    sample_store_file: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "r.html"
    result = cli("--db", str(sample_store_file), "report", *args, "-o", str(out))
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not out.exists()


def test_report_command_needs_a_store(tmp_path: Path) -> None:
    result = cli(
        "--db", str(tmp_path / "none.duckdb"), "report", "York", "-o", str(tmp_path / "r.html")
    )
    assert result.exit_code == 1
    assert "locality ingest" in " ".join(result.output.split())


def test_report_help_has_an_example() -> None:
    result = cli("report", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "locality report Manchester -o manchester.html" in result.output


@pytest.mark.slow
def test_report_compares_each_place_once(sample_store_file: Path) -> None:
    with queries.Store(sample_store_file).session() as s:
        data = report_data(s, "Manchester", ["manchester", "City of York Council", "York", " "])
    assert [r["place"] for r in data["compare"]] == ["Manchester", "York"]
