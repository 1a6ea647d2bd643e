"""The dashboard (``locality serve``) without a browser: pages, API, CSV, errors, headers.

One app over the bundled real sample for the whole module (its cache makes repeated
figures cheap). Every page must show the numbers the API gives for it, formatted as the
page formats them (``locality.views.present``); the API's keys are the CLI's.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from locality.cli import app as cli_app
from locality.metrics.compare import HEADLINE
from locality.store.db import connect
from locality.views import present
from locality.web.app import SECURITY_HEADERS
from tests.helpers import (
    Dashboard,
    cli_json,
    close_enough,
    csv_says,
    dashboard,
    nonempty,
    on_page,
)

COMPARED = ("Manchester", "West Yorkshire", "Swindon")


@pytest.fixture(scope="module")
def client(sample_store_file: Path) -> Iterator[Dashboard]:
    # A store without precomputed figures (tests/test_web_precompute.py has them): every
    # figure is computed on request.
    with dashboard(sample_store_file) as c:
        yield c


@pytest.fixture(scope="module")
def manchester(client: Dashboard) -> dict[str, Any]:
    data: dict[str, Any] = client.get_json("/api/place/Manchester")
    return data


@pytest.fixture(scope="module")
def pages(client: Dashboard, manchester: dict[str, Any]) -> dict[str, str]:
    """URL -> HTML of one page of each kind, reached by following the API's own links."""
    supplier = manchester["top_suppliers"][0]["supplier_id"]
    award = client.get_json(f"/api/supplier/{quote(supplier, safe='')}")["awards"][0]
    buyer = award["buyer_id"]
    urls = [
        "/",
        "/place/Manchester",
        "/place/West%20Yorkshire",
        "/place/York",
        "/compare",
        "/compare?" + "&".join(f"names={quote(n)}" for n in COMPARED),
        f"/buyer/{quote(buyer, safe='')}",
        f"/supplier/{quote(supplier, safe='')}",
        f"/process/{quote(award['ocid'], safe='')}",
        "/search?q=council",
        "/docs",
    ]
    return {url: client.get_page(url) for url in urls}


# --- pages -----------------------------------------------------------------------------------


def test_every_page_renders(pages: dict[str, str]) -> None:
    for url, text in pages.items():
        assert text.startswith("<!doctype html>"), url
        assert '<html lang="en-GB">' in text
        assert 'name="viewport"' in text
        assert "<h1>" in text, url
        assert "Traceback" not in text


def test_home_shows_what_the_store_holds(client: Dashboard, pages: dict[str, str]) -> None:
    status = client.get_json("/api/status")
    text = pages["/"]
    for key in ("processes", "awards", "organisations"):
        value = status["counts"][key]
        assert f'<data value="{value}">{present.number(value)}</data>' in text
    assert status["date_range"]["first"] in text
    for publisher in nonempty(status["publishers"], "publishers"):
        assert publisher["name"] in text
    assert present.pct(status["coverage"]["supplier_scale"]) in text
    assert 'action="/search"' in text and 'for="home-search"' in text


@pytest.mark.parametrize("name", ["Manchester", "West Yorkshire"])
def test_place_page_shows_the_api_figures(client: Dashboard, name: str) -> None:
    data = client.get_json(f"/api/place/{quote(name)}")
    text = client.get_page(f"/place/{quote(name)}")
    head = data["headline"]
    assert head["awards"] > 0
    money = present.money(head["awarded_value"])
    assert f'<data value="{head["awarded_value"]}">{money}</data>' in text
    for key in ("sme_share", "vcse_share", "local_share", "top3_share"):
        assert f'<data value="{head[key]}">{present.pct(head[key])}</data>' in text, key
    # A plain-language sentence for each figure, with the figure in it.
    sentences = data["sentences"]
    assert sentences["sme_share"].startswith(f"Of {present.money(head['known_scale_value'])}")
    assert f"{present.pct(head['sme_share'])} went to SMEs" in sentences["sme_share"]
    for sentence in nonempty(sentences.values(), "sentences"):
        assert on_page(text, sentence)
    for row in nonempty(data["by_year"], "years"):
        assert f"<td>{row['year']}</td>" in text
    for row in nonempty(data["by_theme"], "themes"):
        assert f"<td>{row['theme']}</td>" in text
        assert present.measure("hhi", row["hhi"]) in text
    for row in nonempty(data["top_suppliers"], "top suppliers"):
        assert on_page(text, row["supplier_name"])
        assert f'<data value="{row["awarded_value"]}">' in text


def test_place_sentence_reads_like_the_issue(manchester: dict[str, Any]) -> None:
    head = manchester["headline"]
    assert manchester["sentences"]["sme_share"] == (
        f"Of {present.money(head['known_scale_value'])} awarded by buyers in Manchester where "
        f"the supplier's size is known ({present.pct(head['known_scale_share'])} of value), "
        f"{present.pct(head['sme_share'])} went to SMEs."
    )


def test_place_without_awards_is_a_page_not_an_error(pages: dict[str, str]) -> None:
    assert "No counted award by buyers in York" in pages["/place/York"]


def test_place_names_resolve_like_compare(client: Dashboard) -> None:
    data = client.get_json("/api/place/WYCA")
    assert data["place"]["name"] == "West Yorkshire"
    assert {c["code"] for c in data["place"]["councils"]} == {"BRD", "CLD", "KIR", "LDS", "WKF"}
    assert client.get_json("/api/place/City%20of%20York%20Council")["place"]["name"] == "York"


def test_compare_page_shows_the_api_figures(client: Dashboard, pages: dict[str, str]) -> None:
    query = "&".join(f"names={quote(n)}" for n in COMPARED)
    rows = client.get_json(f"/api/compare?{query}")
    assert [r["place"] for r in rows] == list(COMPARED)
    text = pages[f"/compare?{query}"]
    for row in rows:
        for measure in HEADLINE:
            value = row[measure]
            shown = present.measure(measure, value)
            cell = "" if value is None else value
            assert f'<data value="{cell}">{shown}</data>' in text, measure
    assert text.count('class="chart-spec"') == 2
    assert 'for="name-1"' in text and 'list="place-names"' in text


def test_buyer_supplier_and_process_pages(client: Dashboard, pages: dict[str, str]) -> None:
    buyer_url = next(u for u in pages if u.startswith("/buyer/"))
    buyer = client.get_json("/api" + buyer_url)
    text = pages[buyer_url]
    assert on_page(text, buyer["organisation"]["name"])
    value = buyer["headline"]["awarded_value"]
    assert f'<data value="{value}">{present.money(value)}</data>' in text
    for award in nonempty(buyer["awards"][:5], "awards of the buyer"):
        assert f'href="/process/{quote(award["ocid"], safe="")}"' in text

    supplier_url = next(u for u in pages if u.startswith("/supplier/"))
    supplier = client.get_json("/api" + supplier_url)
    text = pages[supplier_url]
    org = supplier["organisation"]
    assert on_page(text, org["name"])
    if org["la_name"]:
        assert on_page(text, org["la_name"])
    won = supplier["headline"]["awarded_value"]
    assert f'<data value="{won}">{present.money(won)}</data>' in text
    for row in nonempty(supplier["buyers"], "buyers of the supplier"):
        assert f'href="/buyer/{quote(row["buyer_id"], safe="")}"' in text

    process_url = next(u for u in pages if u.startswith("/process/"))
    process = client.get_json("/api" + process_url)
    text = pages[process_url]
    assert process["compiled_release"]["ocid"] == process["process"]["ocid"]
    assert on_page(text, f'"ocid": "{process["process"]["ocid"]}"')
    for release in nonempty(process["releases"], "releases of the process"):
        assert Path(release["source_file"]).name in text
        assert f'<td class="num">{release["source_line"]}</td>' in text
    for award in nonempty(process["awards"], "awards of the process"):
        for s in nonempty(award["suppliers"], "suppliers of an award"):
            assert f'href="/supplier/{quote(s["org_id"], safe="")}"' in text
    if process["process"]["notice_url"]:
        assert f'href="{html.escape(process["process"]["notice_url"])}"' in text


def test_process_page_links_to_the_publishers_notice(client: Dashboard) -> None:
    ocid = "ocds-r6ebe6-0000570588"
    data = client.get_json(f"/api/process/{ocid}")
    url = data["process"]["notice_url"]
    assert url.startswith("https://www.publiccontractsscotland.gov.uk/")
    text = client.get_page(f"/process/{ocid}")
    assert (
        f'<a class="notice-link" href="{html.escape(url)}" rel="noopener noreferrer external">'
        in (text)
    )


PROCESS_KEYS = {"process", "compiled_release", "releases", "awards", "parties", "flags"}
FTS_AWARD = "ocds-h6vhtk-04e9fb"  # UK6 contract award: 5 awards with net and gross values
FTS_PLACEHOLDER = "ocds-h6vhtk-06f19e"  # UK7: its only value, 0.01, is a placeholder
CF_CALL_OFF = "ocds-b5fd17-b9541ef8-1235-4765-b44f-d21ae154d761"
CF_LEGACY = "ocds-b5fd17-d72762d9-d49d-413b-9e1f-99e1b3b5430d"  # one value, six suppliers


@pytest.mark.parametrize("ocid", [FTS_AWARD, FTS_PLACEHOLDER, CF_CALL_OFF, CF_LEGACY])
def test_process_api_has_the_cli_view(
    client: Dashboard, sample_store_file: Path, ocid: str
) -> None:
    data = client.get_json(f"/api/process/{quote(ocid, safe='')}")
    assert set(data) >= PROCESS_KEYS | {"view"}
    assert data["view"] == cli_json(sample_store_file, "process", ocid)


def test_process_page_shows_how_locality_reads_it(client: Dashboard) -> None:
    view = client.get_json(f"/api/process/{FTS_AWARD}")["view"]
    text = client.get_page(f"/process/{FTS_AWARD}")
    # The timeline: each notice with its form, stage, date and a link to it.
    for notice in nonempty(view["notices"], "notices"):
        assert f'href="{notice["url"]}"' in text
        assert f"<td>{notice['form']}</td><td>{notice['stage']}</td>" in text
    assert "https://www.find-tender.service.gov.uk/Notice/029664-2025" in text
    assert '<time datetime="2025-06-03T21:01:02+00:00">2025-06-03 21:01 UTC</time>' in text
    assert on_page(text, f"{view['agreement_type']}, because {view['agreement_evidence']}")
    assert "8 bidders, 8 at the final stage, of which 3 SMEs and 0 VCSEs" in text
    assert text.count('<tr class="award-value">') == len(view["awards"]) == 5
    for award in view["awards"]:
        net, gross = award["value"], award["value_gross"]
        assert f'<data value="{net}">£{net:,.2f}</data>' in text
        assert f'<data value="{gross}">£{gross:,.2f}</data>' in text
    assert "award (<code>awards[].value.amount</code>)" in text
    assert "<strong>awarded</strong>" in text
    assert "Waste and Resources Action Programme (WRAP)</a> (large; VCSE: yes" in text


def test_process_page_says_why_a_value_is_unknown(client: Dashboard) -> None:
    [award] = client.get_json(f"/api/process/{FTS_PLACEHOLDER}")["view"]["awards"]
    text = client.get_page(f"/process/{FTS_PLACEHOLDER}")
    assert award["counts_as"] == "unknown"
    assert "<strong>unknown</strong>: " + str(escape(award["counts_as_reason"])) in text
    assert '<td class="num"><data value="">–</data></td>' in text  # no value to sum
    assert '<data value="0.01">£0.01</data>' in text  # the gross as published
    assert "contract (<code>contracts[].value.amount</code>)" in text


def test_process_page_says_a_framework_value_is_a_ceiling(client: Dashboard) -> None:
    view = client.get_json(f"/api/process/{CF_LEGACY}")["view"]
    text = client.get_page(f"/process/{CF_LEGACY}")
    assert view["awards"][0]["counts_as"] == "ceiling"
    assert "<strong>framework ceiling (not money)</strong>" in text
    assert on_page(text, view["agreement_evidence"])


def test_process_page_never_links_to_a_script(sample_store_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_store_file, copy)
    con = connect(copy)
    for ocid in (FTS_AWARD, CF_CALL_OFF):
        con.execute(
            "UPDATE process_notices SET url = ' JavaScript:alert(1)' WHERE ocid = ?", [ocid]
        )
        con.execute(
            "UPDATE processes SET notice_url = 'javascript:alert(2)' WHERE ocid = ?", [ocid]
        )
    con.close()
    with dashboard(copy) as c:
        fts = c.get_json(f"/api/process/{FTS_AWARD}")["view"]["notices"]
        # Find a Tender: the link is built from the notice id instead.
        assert [n["url"] for n in fts] == [
            "https://www.find-tender.service.gov.uk/Notice/029664-2025"
        ]
        cf = c.get_json(f"/api/process/{quote(CF_CALL_OFF, safe='')}")["view"]["notices"]
        assert {n["url"] for n in cf} == {None}
        for ocid in (FTS_AWARD, CF_CALL_OFF):
            text = c.get_page(f"/process/{quote(ocid, safe='')}")
            hrefs = re.findall(r'href="([^"]*)"', text)
            assert hrefs and not [h for h in hrefs if "alert" in h or "script:" in h.lower()]
            assert "alert(" not in text  # not even as text: the urls are dropped


def test_search_finds_places_and_organisations(client: Dashboard) -> None:
    found = client.get_json("/api/search?q=manchester")
    assert {"kind": "place", "name": "Manchester", "id": "Manchester"} in found["places"]
    assert found["places"][0]["name"] == "Manchester"
    text = client.get_page("/search?q=merton")
    assert "London Borough of Merton" in text
    assert 'href="/buyer/GB-CFS-18525"' in text
    assert client.get_json("/api/search?q=%25")["organisations"] == []  # wildcards are literal


# --- red flags ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_red_flags_on_place_buyer_and_process_pages(client: Dashboard) -> None:
    flags = pytest.importorskip("locality.metrics.flags")
    data = client.get_json("/api/place/South%20Gloucestershire")
    assert data["flagged_processes"] and data["flags"]
    first = data["flags"][0]
    text = client.get_page("/place/South%20Gloucestershire")
    assert on_page(text, first["reasons"])
    assert f'href="/process/{quote(first["ocid"], safe="")}"' in text
    # The same rows as the library's flags table, filtered to the place's buyers.
    buyers = {f["buyer_id"] for f in data["flags"]}
    assert all(f["locality"] == "South Gloucestershire" for f in data["flags"])
    assert buyers
    # Integrity flags only are listed; processes with only data-quality findings (missing
    # key fields, ...) are counted apart, and the page says how many.
    assert all(f["kind"] == "integrity" and f["flags_raised"] for f in data["flags"])
    only_data_quality = data["data_quality_only_processes"]
    assert only_data_quality and only_data_quality > data["flagged_processes"]
    assert f"{only_data_quality} processes of buyers in South Gloucestershire have only " in (
        html.unescape(text)
    )
    process = client.get_json(f"/api/process/{quote(first['ocid'], safe='')}")
    assert process["flags"]["reasons"] == first["reasons"]
    assert set(flags.FLAGS) <= set(process["flags"])
    buyer = client.get_json(f"/api/buyer/{quote(first['buyer_id'], safe='')}")
    assert buyer["risk"]["flagged_processes"] >= 1
    assert buyer["risk"]["data_quality_only_processes"] == buyer["data_quality_only_processes"]
    # A process with only data-quality findings: no red flag, its findings said apart.
    placeholder = client.get_json("/api/process/ocds-h6vhtk-06f19e")["flags"]
    assert (placeholder["kind"], placeholder["flags_raised"]) == ("data_quality", 0)
    shown = client.get_page("/process/ocds-h6vhtk-06f19e")
    assert "No red flag is raised for this process." in shown
    assert on_page(shown, placeholder["data_quality"])


# --- API ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_api_keys_and_values_match_the_cli(client: Dashboard, sample_store_file: Path) -> None:
    for by in ("buyer", "year", "theme"):
        api = client.get_json(f"/api/metrics?by={by}")
        cli = cli_json(sample_store_file, "metrics", "--by", by)
        assert list(api[0]) == list(cli[0])
        assert close_enough(api, cli), by
    api = client.get_json("/api/metrics?by=year&where=place%3DManchester")
    cli = cli_json(sample_store_file, "metrics", "--by", "year", "--where", "place=Manchester")
    assert close_enough(api, cli)
    assert client.get_json("/api/status") == cli_json(sample_store_file, "status")
    query = "&".join(f"names={quote(n)}" for n in COMPARED)
    assert close_enough(
        client.get_json(f"/api/compare?{query}"), cli_json(sample_store_file, "compare", *COMPARED)
    )


@pytest.mark.slow
def test_place_api_uses_the_cli_keys(manchester: dict[str, Any], sample_store_file: Path) -> None:
    cli_all = cli_json(sample_store_file, "metrics", "--by", "all", "--where", "place=Manchester")
    assert close_enough(manchester["headline"], cli_all[0])
    cli_years = cli_json(
        sample_store_file, "metrics", "--by", "year", "--where", "place=Manchester"
    )
    assert close_enough(
        sorted(manchester["by_year"], key=lambda r: r["year"]),
        sorted(cli_years, key=lambda r: r["year"]),
    )
    assert list(manchester["by_theme"][0]) == list(
        cli_json(sample_store_file, "metrics", "--by", "theme")[0]
    )
    supplier_keys = set(
        cli_json(sample_store_file, "metrics", "--by", "supplier", "--limit", "1")[0]
    )
    assert supplier_keys <= set(manchester["top_suppliers"][0])


def test_openapi_schema_and_local_docs(client: Dashboard, pages: dict[str, str]) -> None:
    schema = client.get_json("/openapi.json")
    paths = set(schema["paths"])
    for path in (
        "/api/status",
        "/api/metrics",
        "/api/place/{name}",
        "/api/compare",
        "/api/buyer/{org_id}",
        "/api/supplier/{org_id}",
        "/api/process/{ocid}",
    ):
        assert path in paths
    assert not any(p.startswith(("/place", "/buyer", "/static")) for p in paths)
    by = next(p for p in schema["paths"]["/api/metrics"]["get"]["parameters"] if p["name"] == "by")
    assert "year" in by["schema"]["enum"]
    assert "/api/metrics" in pages["/docs"]
    assert client.get("/redoc").status_code == 404


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_chart_links_its_data_as_csv(client: Dashboard, pages: dict[str, str]) -> None:
    checked = 0
    for url, text in pages.items():
        charts = text.count('class="chart-spec"')
        links = re.findall(r'<a href="([^"]*format=csv[^"]*)" download>', text)
        assert len(links) >= charts, url
        for link in links:
            rows = client.get_csv(html.unescape(link))[1]
            assert rows or "York" in link, link
            checked += 1
    assert checked >= 4, "the pages link fewer CSV downloads than their charts"


def test_csv_has_the_same_numbers(client: Dashboard, manchester: dict[str, Any]) -> None:
    years = client.get_csv("/api/metrics?by=year&where=place%3DManchester&format=csv")[1]
    assert len(years) == len(manchester["by_year"])
    by_year = {str(r["year"]): r for r in manchester["by_year"]}
    for row in nonempty(years, "years in the CSV"):
        expected = by_year[row["year"]]
        assert list(row) == list(expected)
        for key, value in expected.items():
            assert csv_says(row[key], value), key
    themes = client.get_csv("/api/metrics?by=theme&where=place%3DManchester&format=csv")[1]
    assert [r["theme"] for r in themes] == [r["theme"] for r in manchester["by_theme"]]
    for row, expected in zip(nonempty(themes, "themes"), manchester["by_theme"], strict=True):
        assert csv_says(row["awarded_value"], expected["awarded_value"])
        assert csv_says(row["hhi"], expected["hhi"])
    query = "&".join(f"names={quote(n)}" for n in COMPARED)
    compared = client.get_csv(f"/api/compare?{query}&format=csv")[1]
    expected_rows = client.get_json(f"/api/compare?{query}")
    assert len(nonempty(compared, "compared places")) == len(COMPARED)
    for row, expected in zip(compared, expected_rows, strict=True):
        for key in HEADLINE:
            assert csv_says(row[key], expected[key]), key


def test_chart_specs_carry_the_api_data(pages: dict[str, str], manchester: dict[str, Any]) -> None:
    text = pages["/place/Manchester"]
    specs = {
        target: json.loads(body)
        for target, body in re.findall(
            r'<script type="application/json" class="chart-spec" '
            r'data-target="([^"]+)">(.*?)</script>',
            text,
            flags=re.S,
        )
    }
    assert set(specs) == {"chart-years", "chart-themes"}
    themes = {v["theme"]: v["awarded_value"] for v in specs["chart-themes"]["data"]["values"]}
    assert themes == {r["theme"]: r["awarded_value"] for r in manchester["by_theme"]}
    shares = specs["chart-years"]["data"]["values"]
    sme = {v["year"]: v["share"] for v in shares if v["measure"] == "SME"}
    # A year with no award of money (only framework appointments) has nothing to draw.
    assert sme == {str(r["year"]): r["sme_share"] for r in manchester["by_year"] if r["awards"]}
    for spec in specs.values():
        assert "$schema" not in spec and "url" not in spec["data"]
        assert spec["description"]


# --- errors ------------------------------------------------------------------------------------


def test_unknown_place_is_a_404_that_suggests_near_names(client: Dashboard) -> None:
    response = client.get("/place/Yrok")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/place/York"' in response.text
    assert "did you mean" in response.text
    assert "Traceback" not in response.text
    api = client.get("/api/place/Yrok")
    assert api.status_code == 404
    assert {"kind": "place", "name": "York", "id": "York"} in api.json()["suggestions"]
    compare = client.get("/compare?names=Yrok&names=Swindon")
    assert compare.status_code == 404 and 'href="/place/York"' in compare.text


def test_unknown_organisation_and_process_are_404s(client: Dashboard) -> None:
    response = client.get("/buyer/GB-CFS-18526")
    assert response.status_code == 404
    assert "GB-CFS-18526" in response.text
    near = client.get("/api/buyer/GB-CFS-1852").json()["suggestions"]
    assert any(s["id"] == "GB-CFS-18525" for s in near)
    # A supplier asked for as a buyer points to its supplier page.
    supplier = client.get("/api/buyer/GB-COH-06841377")
    assert supplier.status_code == 404
    assert supplier.json()["suggestions"][0] == {
        "kind": "supplier",
        "name": "SANDHILLS MANAGEMENT CONSULTANCY LTD",
        "id": "GB-COH-06841377",
    }
    ocid = "ocds-r6ebe6-0000570589"
    process = client.get(f"/process/{ocid}")
    assert process.status_code == 404
    assert 'href="/process/ocds-r6ebe6-0000570588"' in process.text
    assert client.get("/no/such/page").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/metrics?by=nonsense",
        "/api/metrics?format=xml",
        "/api/metrics?where=region",
        "/api/metrics?where=colour%3Dred",
        "/api/metrics?where=place%3DYrok",
        "/api/metrics?limit=0",
        "/api/compare?names=York",
        "/api/compare",
        "/compare?names=York",
        "/api/place/" + "x" * 201,
        "/api/process/" + "x" * 201,
    ],
)
def test_bad_parameters_are_422_with_a_message(client: Dashboard, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422, response.text
    if url.startswith("/api/"):
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail
    else:
        assert "Cannot show that" in response.text


def test_bad_by_names_the_dimensions(client: Dashboard) -> None:
    detail = client.get("/api/metrics?by=nonsense").json()["detail"]
    assert "unknown by 'nonsense'" in detail and "locality" in detail


# --- safety ------------------------------------------------------------------------------------


def test_security_headers_on_every_response(client: Dashboard) -> None:
    for url in (
        "/",
        "/place/Manchester",
        "/api/status",
        "/api/metrics?by=year&format=csv",
        "/static/style.css",
        "/static/vendor/vega-embed.min.js",
        "/place/Yrok",
        "/api/metrics?by=nonsense",
        "/openapi.json",
        "/nowhere",
    ):
        response = client.get(url)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp


_EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I
)


def test_nothing_loads_from_outside(pages: dict[str, str], client: Dashboard) -> None:
    for url, text in pages.items():
        # The only absolute links are to publishers' notices, never an asset.
        external = [m.start() for m in _EXTERNAL.finditer(text)]
        for start in external:
            tag = text[text.rfind("<", 0, start) : start]
            assert tag.startswith('<a class="notice-link"'), (url, text[start - 80 : start + 80])
        assert "url(http" not in text and "@import" not in text
        # No inline script: scripts come from /static, chart specs are inert JSON.
        for attrs in re.findall(r"<script([^>]*)>", text):
            assert 'src="/static/' in attrs or 'type="application/json"' in attrs, attrs
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", text), url
    for asset in ("/static/style.css", "/static/app.js"):
        body = client.get(asset).text
        assert "http://" not in body and "https://" not in body


def test_vendored_charts_are_served_and_small(client: Dashboard) -> None:
    total = 0
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        response = client.get(f"/static/vendor/{name}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        total += len(response.content)
        assert (
            client.get(f"/static/vendor/{name.replace('.min.js', '.LICENSE')}").status_code == 200
        )
    assert total < 2_000_000
    text = client.get("/place/Manchester").text
    assert text.index("vega.min.js") < text.index("vega-lite.min.js") < text.index("vega-embed")


# --- the command -------------------------------------------------------------------------------


def test_serve_prints_its_address_and_serves_read_only(
    sample_store_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, **kwargs: Any) -> None:
        seen.update(app=app, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(
        cli_app, ["--db", str(sample_store_file), "serve", "--port", "8765"]
    )
    assert result.exit_code == 0, result.output
    assert "locality dashboard: http://127.0.0.1:8765/" in result.stdout
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8765
    assert seen["app"].state.store.path == sample_store_file
    assert not hasattr(seen["app"].state, "warmer")  # nothing is computed at start-up


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["--db", str(tmp_path / "none.duckdb"), "serve"])
    assert result.exit_code == 1
    assert "no store at" in result.output
    assert not (tmp_path / "none.duckdb").exists()
