"""The dashboard's pages: each renders the same data as its ``/api/`` twin
(``locality.views``) with the Jinja2 templates. ``render`` is the one page renderer, also
handed to the route modules beside this one (``network.py``, ``matching.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from locality.spend.themes import UNMAPPED
from locality.views import charts, params, queries
from locality.web.routing import (
    IncludeTransfers,
    LikeForLike,
    MinAmount,
    S,
    page_route,
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered for a request (the environment is the app's, ``create_app``)."""
    html = request.app.state.env.get_template(template).render(
        request=request, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code)


router = APIRouter()


@page_route(router, "/")
def home(request: Request, s: S) -> HTMLResponse:
    return render(request, "home.html", data=queries.home(s))


@page_route(router, "/search")
def search(
    request: Request, s: S, q_: Annotated[str, Query(alias="q", max_length=200)] = ""
) -> HTMLResponse:
    return render(request, "search.html", data=queries.search(s, q_))


@page_route(router, "/place/{name}")
def place(request: Request, s: S, name: str) -> HTMLResponse:
    data = queries.place_page(s, name)
    label = data["place"]["name"]
    specs = {
        "years": charts.shares_by(
            data["by_year"],
            "year",
            "year",
            f"SME, VCSE and local share of value by year, buyers in {label}",
        ),
        "themes": charts.value_by(
            data["by_theme"],
            "theme",
            "theme",
            f"Awarded value by theme, buyers in {label}",
        ),
    }
    return render(request, "place.html", data=data, specs=specs)


@page_route(router, "/place/{name}/spend")
def place_spend(
    request: Request,
    s: S,
    name: str,
    min_amount: MinAmount = None,
    like_for_like: LikeForLike = False,
    include_transfers: IncludeTransfers = False,
) -> HTMLResponse:
    p = queries.place(s, name)
    params.spend_threshold(min_amount, like_for_like)  # a bad one is a 422 first
    info = queries.place_info(p)
    label = p.name
    specs = {}
    links: dict[str, str] = {}
    data: dict[str, Any] = {"place": p.name, "spend_loaded": False}
    if queries.spend_bodies(s, p):  # else the page says how to load spend files
        data = queries.spend_page(
            s,
            name,
            min_amount=min_amount,
            like_for_like=like_for_like,
            include_transfers=include_transfers,
        )
        specs = {
            "years": charts.spend_by_year(
                data["years"], f"Spend paid by financial year and body, {label}"
            ),
            "themes": charts.spend_by_theme(
                data["themes"], f"Spend by theme, {label}", unmapped=UNMAPPED
            ),
            "contracted": charts.contracted_vs_paid(
                data["contracted_vs_paid"],
                f"Contracted (award notices) against paid (spend files), councils of {label}",
            ),
        }
        links = queries.spend_links(s, data)
    threshold = {
        "min_amount": min_amount,
        "like_for_like": like_for_like,
        "include_transfers": include_transfers,
    }
    return render(
        request,
        "spend.html",
        data=data,
        info=info,
        specs=specs,
        org_pages=links,
        threshold=threshold,
    )


@page_route(router, "/compare")
def compare(
    request: Request,
    s: S,
    names: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    given = [n.strip() for n in names or [] if n.strip()]
    rows = queries.compare(s, given) if given else []
    specs = {}
    if rows:
        specs = {
            "shares": charts.compare_shares(
                rows, "SME, VCSE, local, top-3 and direct-award shares of each place"
            ),
            "values": charts.compare_values(rows, "Awarded value of each place"),
        }
    options = sorted(queries.place_names(request.app.state.store.places()))
    return render(request, "compare.html", names=given, rows=rows, specs=specs, options=options)


@page_route(router, "/buyer/{org_id:path}")
def buyer(request: Request, s: S, org_id: str) -> HTMLResponse:
    return render(request, "buyer.html", data=queries.buyer_page(s, org_id))


@page_route(router, "/supplier/{org_id:path}")
def supplier(request: Request, s: S, org_id: str) -> HTMLResponse:
    return render(request, "supplier.html", data=queries.supplier_page(s, org_id))


@page_route(router, "/process/{ocid:path}")
def process(request: Request, s: S, ocid: str) -> HTMLResponse:
    data = queries.process_page(s, ocid)
    compiled = orjson.dumps(
        data["compiled_release"], option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    ).decode()
    return render(request, "process.html", data=data, compiled=compiled)


@page_route(router, "/docs")
def docs(request: Request) -> HTMLResponse:
    return render(request, "api.html", openapi=request.app.openapi())


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)
