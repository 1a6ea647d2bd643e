"""The dashboard's council spend pages (``/place/NAME/spend``) and their API, without a browser.

One app over the bundled real sample, contracts (data/sample/ocds) and council spend files
(data/sample/spend) together. The API must be ``place_view``'s result (the numbers of
``locality place NAME --format json``), and the page must show those numbers, formatted as
``locality.views.present`` formats them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import schemathesis
from markupsafe import escape

from locality.domain.places import load_places, resolve
from locality.spend.place import place_view
from locality.spend.themes import UNMAPPED
from locality.store.db import connect
from locality.views import params, present, queries
from locality.web.app import SECURITY_HEADERS, create_app
from tests.helpers import (
    Dashboard,
    close_enough,
    csv_says,
    dashboard,
    nonempty,
    on_page,
)

WITH_SPEND = ("West Yorkshire", "Greater Manchester", "Leeds")
EXTRAS = ("spend_loaded", "sentences")  # what the API adds to place_view's result


@pytest.fixture(scope="module")
def client(spend_sample_store_file: Path) -> Iterator[Dashboard]:
    with dashboard(spend_sample_store_file) as c:
        yield c


def _view(db: Path, name: str, **options: Any) -> Any:
    """``place_view`` as the API serialises it (JSON)."""
    con = connect(db, read_only=True)
    try:
        view = place_view(con, resolve(name, load_places(None)), top=queries.SPEND_TOP, **options)
    finally:
        con.close()
    return json.loads(orjson.dumps(view))


def _data(value: Any, shown: str) -> str:
    return f'<data value="{"" if value is None else value}">{shown}</data>'


def _specs(text: str) -> dict[str, Any]:
    return {
        target: json.loads(body)
        for target, body in re.findall(
            r'<script type="application/json" class="chart-spec" '
            r'data-target="([^"]+)">(.*?)</script>',
            text,
            flags=re.S,
        )
    }


# --- the API is place_view ---------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_SPEND)
def test_api_is_the_place_view(client: Dashboard, spend_sample_store_file: Path, name: str) -> None:
    api = client.get_json(f"/api/place/{quote(name)}/spend")
    assert api["spend_loaded"] is True
    view = _view(spend_sample_store_file, name)
    assert close_enough({k: v for k, v in api.items() if k not in EXTRAS}, view)
    assert api["bodies"] and api["shares"]["total_amount"] > 0
    assert [t["theme"] for t in api["themes"]][-1] == UNMAPPED


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("like_for_like=true", {"like_for_like": True}),
        ("min_amount=1000", {"min_amount": 1000.0}),
        ("min_amount=0.5&like_for_like=false", {"min_amount": 0.5}),
        (
            "min_amount=1000&include_transfers=true",
            {"min_amount": 1000.0, "include_transfers": True},
        ),
    ],
)
def test_api_threshold_options(
    client: Dashboard, spend_sample_store_file: Path, query: str, options: dict[str, Any]
) -> None:
    api = client.get_json(f"/api/place/West%20Yorkshire/spend?{query}")
    view = _view(spend_sample_store_file, "West Yorkshire", **options)
    assert close_enough({k: v for k, v in api.items() if k not in EXTRAS}, view)
    every = client.get_json("/api/place/West%20Yorkshire/spend")
    assert api["shares"]["total_amount"] < every["shares"]["total_amount"]


def test_like_for_like_is_the_highest_published_threshold(client: Dashboard) -> None:
    api = client.get_json("/api/place/West%20Yorkshire/spend?like_for_like=true")
    # Leeds publishes every payment, Calderdale those of £500 or more.
    assert api["threshold"]["min_amount"] == 500.0
    assert api["threshold"]["set_by"] == ["Calderdale Metropolitan Borough Council"]
    text = client.get_page("/place/West%20Yorkshire/spend?like_for_like=true")
    assert on_page(text, present.counted(api["threshold"]))
    assert "payments of £500 or more" in text
    assert "set by Calderdale Metropolitan Borough Council" in text
    assert 'href="/place/West%20Yorkshire/spend">Show every published payment</a>' in text
    plain = client.get_page("/place/West%20Yorkshire/spend")
    assert 'href="/place/West%20Yorkshire/spend?like_for_like=true">Compare like with like' in plain
    assert 'name="min_amount" type="number" min="0"' in plain


def test_transfers_are_left_out_unless_included(
    client: Dashboard, spend_sample_store_file: Path
) -> None:
    left_out = client.get_json("/api/place/West%20Yorkshire/spend")
    included = client.get_json("/api/place/West%20Yorkshire/spend?include_transfers=true")
    assert close_enough(
        {k: v for k, v in included.items() if k not in EXTRAS},
        _view(spend_sample_store_file, "West Yorkshire", include_transfers=True),
    )
    assert (left_out["transfers_included"], included["transfers_included"]) == (False, True)
    # Leeds' two payments to the Secretary of State (18,439,298.00 + 69,618.00) top the
    # ranking only when transfers count as suppliers.
    assert included["suppliers"][0]["supplier_name"] == "The Secretary Of State"
    assert included["suppliers"][0]["amount"] == 18_508_916.00
    assert "The Secretary Of State" not in {r["supplier_name"] for r in left_out["suppliers"]}
    assert left_out["transfer_payees"][0]["payee"] == "The Secretary Of State"
    shares = left_out["shares"]
    assert shares["supplier_amount"] + shares["transfer_amount"] == pytest.approx(
        shares["total_amount"], abs=0.02
    )


def test_page_shows_transfers_and_the_months_covered(client: Dashboard) -> None:
    data = client.get_json("/api/place/West%20Yorkshire/spend")
    text = client.get_page("/place/West%20Yorkshire/spend")
    assert '<h2 id="transfers">Transfers to other public bodies</h2>' in text
    for row in nonempty(data["transfers"], "transfers"):
        assert f"<td>{escape(row['label'])}</td>" in text
        assert _data(row["amount"], present.money(row["amount"])) in text
    for row in nonempty(data["transfer_payees"], "transfer payees"):
        assert f'<td class="wrap">{escape(row["payee"])}</td><td>{row["kind"]}</td>' in text
    shares = data["shares"]
    for key in ("supplier_amount", "transfer_amount"):
        assert _data(shares[key], present.money(shares[key])) in text
    # Bradford, Kirklees and Wakefield publish no file in the sample.
    without = [r["body"] for r in data["coverage"] if not r["files"]]
    assert len(without) == 3
    assert on_page(text, f"No spend files loaded for {', '.join(without)}")
    gaps = [row for row in data["coverage"] if row["gaps"]]
    for row in nonempty(gaps, "bodies with months missing"):
        assert f'<td class="wrap">{", ".join(row["gaps"])}</td>' in text
    toggle = (
        'href="/place/West%20Yorkshire/spend?include_transfers=true">Count transfers as suppliers'
    )
    assert toggle in text
    included = client.get_page(
        "/place/West%20Yorkshire/spend?include_transfers=true&min_amount=500"
    )
    assert (
        'href="/place/West%20Yorkshire/spend?min_amount=500.0">Leave transfers out</a>' in included
    )
    assert '<input type="hidden" name="include_transfers" value="true">' in included
    links = [
        link.replace("&amp;", "&")
        for link in re.findall(r'<a href="([^"]*format=csv[^"]*)" download>', included)
    ]
    assert links and all("include_transfers=true" in link for link in links)
    columns, rows = client.get_csv(next(u for u in links if "section=transfer-payees" in u))
    assert columns == list(params.SPEND_SECTION_COLUMNS["transfer_payees"]) and rows


def test_section_columns_are_the_place_views(client: Dashboard) -> None:
    api = client.get_json("/api/place/West%20Yorkshire/spend")
    for section, key in params.SPEND_SECTIONS.items():
        assert api[key], section
        assert list(api[key][0]) == list(params.SPEND_SECTION_COLUMNS[key]), section


def test_csv_sections_have_the_same_numbers(client: Dashboard) -> None:
    api = client.get_json("/api/place/Greater%20Manchester/spend?min_amount=500")
    for section, key in params.SPEND_SECTIONS.items():
        url = f"/api/place/Greater%20Manchester/spend?min_amount=500&format=csv&section={section}"
        columns, rows = client.get_csv(url)
        assert columns == list(params.SPEND_SECTION_COLUMNS[key])
        assert len(rows) == len(api[key]), section
        for row, expected in zip(rows, api[key], strict=True):
            for column, value in expected.items():
                assert csv_says(row[column], value), (section, column)


# --- the page shows the API's numbers ----------------------------------------------------------


@pytest.mark.parametrize("name", WITH_SPEND)
def test_page_shows_the_api_figures(client: Dashboard, name: str) -> None:
    data = client.get_json(f"/api/place/{quote(name)}/spend")
    text = client.get_page(f"/place/{quote(name)}/spend")
    assert f"<h1>Council spend in {escape(name)}</h1>" in text
    shares = data["shares"]
    assert _data(shares["total_amount"], present.money(shares["total_amount"])) in text
    for key, coverage in (
        ("sme_share", "known_scale_coverage"),
        ("vcse_share", "known_vcse_coverage"),
        ("local_share", "known_location_coverage"),
    ):
        assert _data(shares[key], present.pct(shares[key])) in text, key
        assert f"of the {present.pct(shares[coverage])} of spend where" in text, key
    assert data["sentences"]["sme_share"] == (
        f"Of the {present.pct(shares['known_scale_coverage'])} of spend where the supplier's "
        f"size is known, {present.pct(shares['sme_share'])} went to SMEs."
    )
    for sentence in nonempty(data["sentences"].values(), "sentences"):
        assert on_page(text, sentence)
    assert on_page(text, f"{present.money(shares['total_amount'])} was paid by")
    assert on_page(text, present.counted(data["threshold"]))
    for body in nonempty(data["bodies"], "bodies"):
        assert on_page(text, body["body"])
        assert _data(body["amount"], present.money(body["amount"])) in text
    for row in nonempty(data["years"], "years"):
        assert f"<td>{row['financial_year']}</td>" in text
        assert _data(row["amount"], present.money(row["amount"])) in text
    themes = [r["theme"] for r in data["themes"]]
    assert UNMAPPED in themes
    for row in data["themes"]:
        assert f"<td>{escape(row['theme'])}</td>" in text
        assert _data(row["amount"], present.money(row["amount"])) in text
        assert present.measure("hhi", row["hhi"]) in text
        assert present.pct(row["top1_share"]) in text and present.pct(row["top3_share"]) in text
    assert '<tr class="unmapped"><td>unmapped</td>' in text
    bodies = len(data["bodies"])
    for row in nonempty(data["suppliers"], "suppliers"):
        assert on_page(text, row["supplier_name"])
        assert f'data-sort="{row["bodies"]}">{row["bodies"]} of {bodies}</td>' in text
    for row in nonempty(data["contracted_vs_paid"], "contracted vs paid rows"):
        assert _data(row["paid"], present.money(row["paid"])) in text
        assert _data(row["contracted"], present.money(row["contracted"])) in text
        assert present.pct(row["contracted_to_paid"]) in text
    assert "Contracted ÷ paid</strong> is how much of the money paid the notices reveal" in text


def test_charts_carry_the_api_data_and_link_their_csv(client: Dashboard) -> None:
    url = "/place/West%20Yorkshire/spend?min_amount=100"
    data = client.get_json("/api" + url)
    text = client.get_page(url)
    specs = _specs(text)
    assert set(specs) == {"chart-years", "chart-themes", "chart-contracted"}
    years = specs["chart-years"]["data"]["values"]
    assert [(v["financial year"], v["body"], v["amount"]) for v in years] == [
        (r["financial_year"], r["body"], r["amount"]) for r in data["years"]
    ]
    themes = specs["chart-themes"]["data"]["values"]
    assert [(v["theme"], v["amount"], v["hhi"]) for v in themes] == [
        (r["theme"], r["amount"], r["hhi"]) for r in data["themes"]
    ]
    assert {v["kind"] for v in themes if v["theme"] == UNMAPPED} == {"unmapped"}
    contracted = specs["chart-contracted"]["data"]["values"]
    assert len(contracted) == 2 * len(data["contracted_vs_paid"])
    paid = [v["amount"] for v in contracted if v["measure"].startswith("paid")]
    assert paid == [r["paid"] for r in data["contracted_vs_paid"]]
    for spec in specs.values():
        assert "$schema" not in spec and "url" not in spec["data"]
        assert spec["description"]
    links = [
        link.replace("&amp;", "&")
        for link in re.findall(r'<a href="([^"]*format=csv[^"]*)" download>', text)
    ]
    assert len(links) >= len(specs)
    for section in ("years", "themes", "contracted"):
        link = next(u for u in links if f"section={section}&" in u or u.endswith(section))
        assert "min_amount=100" in link  # the CSV is of the payments the page counts
        _, rows = client.get_csv(link)
        key = params.SPEND_SECTIONS[section]
        assert len(rows) == len(data[key]) and rows, section


@pytest.mark.slow
def test_suppliers_link_to_their_organisation_pages(client: Dashboard) -> None:
    data = client.get_json("/api/place/West%20Yorkshire/spend")
    text = client.get_page("/place/West%20Yorkshire/spend")
    resolved = [r for r in data["suppliers"] if r["org_id"]]
    assert resolved, "the sample resolves some of West Yorkshire's top suppliers"
    for row in resolved:
        href = quote(row["org_id"], safe="")
        if client.get(f"/api/supplier/{href}").status_code == 200:
            assert f'<a href="/supplier/{href}">{escape(row["supplier_name"])}</a>' in text
        elif client.get(f"/api/buyer/{href}").status_code == 200:
            assert f'<a href="/buyer/{href}">{escape(row["supplier_name"])}</a>' in text
    for row in nonempty(data["suppliers"], "suppliers"):
        if not row["org_id"]:
            assert f'<td class="wrap">{escape(row["supplier_name"])}</td>' in text


@pytest.mark.slow
def test_place_page_links_to_its_spend(client: Dashboard) -> None:
    text = client.get_page("/place/West%20Yorkshire")
    assert 'href="/place/West%20Yorkshire/spend">Council spend in West Yorkshire</a>' in text
    data = client.get_json("/api/place/West%20Yorkshire")
    assert {b["la_registry_code"] for b in data["spend_bodies"]} == {"CLD", "LDS"}
    york = client.get_page("/place/York")
    assert "/place/York/spend" not in york
    assert "no spend files loaded for this place" in york
    assert client.get_json("/api/place/York")["spend_bodies"] == []


# --- no spend, unknown places, bad parameters ------------------------------------------------


def test_place_without_spend_says_how_to_load_it(
    client: Dashboard, spend_sample_store_file: Path
) -> None:
    text = client.get_page("/place/York/spend")
    assert "No spend files loaded for this place" in text
    assert "<code>locality ingest FILE.csv</code>" in text
    assert 'class="chart-spec"' not in text and "vega.min.js" not in text
    api = client.get_json("/api/place/York/spend")
    assert api["spend_loaded"] is False
    assert api["bodies"] == [] and api["years"] == [] and api["suppliers"] == []
    assert close_enough(
        {k: v for k, v in api.items() if k not in EXTRAS}, _view(spend_sample_store_file, "York")
    )
    columns, rows = client.get_csv("/api/place/York/spend?format=csv&section=suppliers")
    assert rows == [] and columns == list(params.SPEND_SECTION_COLUMNS["suppliers"])


def test_a_store_without_spend_says_so_too(sample_store_file: Path) -> None:
    with dashboard(sample_store_file) as c:
        assert "No spend files loaded for this place" in c.get_page("/place/Manchester/spend")
        assert c.get_json("/api/place/Manchester/spend")["spend_loaded"] is False


def test_unknown_place_is_a_404_that_suggests_near_names(client: Dashboard) -> None:
    page = client.get("/place/West%20Yorkshre/spend")
    assert page.status_code == 404
    assert 'href="/place/West%20Yorkshire"' in page.text
    assert "Traceback" not in page.text
    api = client.get("/api/place/West%20Yorkshre/spend")
    assert api.status_code == 404
    body = api.json()
    assert "West Yorkshre" in body["detail"]
    near = {"kind": "place", "name": "West Yorkshire", "id": "West Yorkshire"}
    assert near in body["suggestions"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("min_amount=abc", "min_amount: Input should be a valid number"),
        ("min_amount=-1", "min_amount: Input should be greater than or equal to 0"),
        ("min_amount=", "min_amount: Input should be a valid number"),
        ("min_amount=inf", "min_amount: Input should be a finite number"),
        ("min_amount=nan", "min_amount: Input should be a finite number"),
        ("min_amount=500&like_for_like=true", "give min_amount or like_for_like, not both"),
        ("like_for_like=perhaps", "like_for_like: Input should be a valid boolean"),
        ("include_transfers=perhaps", "include_transfers: Input should be a valid boolean"),
        ("format=csv&section=nonsense", "section: Input should be"),
    ],
)
def test_bad_threshold_is_a_422_with_a_message(client: Dashboard, query: str, message: str) -> None:
    api = client.get(f"/api/place/Leeds/spend?{query}")
    assert api.status_code == 422, api.text
    assert message in api.json()["detail"]
    if not query.startswith("format"):
        page = client.get(f"/place/Leeds/spend?{query}")
        assert page.status_code == 422
        assert "Cannot show that" in page.text and on_page(page.text, message)


def test_spend_threshold_check() -> None:
    assert params.spend_threshold(None, True) is None
    assert params.spend_threshold(500, False) == 500.0
    for amount, like in ((-1.0, False), (float("inf"), False), (float("nan"), False), (1.0, True)):
        with pytest.raises(params.BadRequest):
            params.spend_threshold(amount, like)


# --- schema, headers ------------------------------------------------------------------


def test_openapi_describes_the_spend_api(client: Dashboard) -> None:
    schema = client.get_json("/openapi.json")
    operation = schema["paths"]["/api/place/{name}/spend"]["get"]
    assert "locality place" in operation["summary"]
    ok = operation["responses"]["200"]
    assert ok["description"].startswith("The whole-place spend view")
    assert {"application/json", "text/csv"} <= set(ok["content"])
    assert "spend_loaded" in ok["content"]["application/json"]["schema"]["required"]
    assert {"404", "422"} <= set(operation["responses"])
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"name", "min_amount", "like_for_like", "include_transfers", "format", "section"} <= set(
        params
    )
    assert params["min_amount"]["description"] and params["include_transfers"]["description"]
    assert not any(p.startswith("/place") for p in schema["paths"])


@pytest.mark.parametrize(
    "parameters",
    [
        {"path_parameters": {"name": "West Yorkshire"}},
        {"path_parameters": {"name": "Greater Manchester"}, "query": {"like_for_like": True}},
        {"path_parameters": {"name": "Salford"}, "query": {"include_transfers": True}},
        {
            "path_parameters": {"name": "Leeds"},
            "query": {"format": "csv", "section": "suppliers", "min_amount": 250.5},
        },
    ],
)
def test_spend_responses_conform_to_the_schema(
    spend_sample_store_file: Path, parameters: dict[str, Any]
) -> None:
    """The 200 bodies of places with spend (the fuzzing in test_api_schema.py runs over a
    store without spend) match the documented schema."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(spend_sample_store_file))
    case = schema["/api/place/{name}/spend"]["GET"].Case(**parameters)
    response = case.call_and_validate()
    assert response.status_code == 200, response.text


def test_security_headers_on_spend_responses(client: Dashboard) -> None:
    for url in (
        "/place/Leeds/spend",
        "/place/York/spend",
        "/api/place/Leeds/spend",
        "/api/place/Leeds/spend?format=csv&section=themes",
        "/api/place/Leeds/spend?min_amount=abc",
        "/place/Yrok/spend",
    ):
        response = client.get(url)
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (url, header)
    text = client.get_page("/place/Leeds/spend")
    for attrs in re.findall(r"<script([^>]*)>", text):
        assert 'src="/static/' in attrs or 'type="application/json"' in attrs, attrs
    assert "http://" not in text and "https://" not in text
