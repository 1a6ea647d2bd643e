"""The dashboard's network page (``/network``) and its data (``/api/network``).

Routes parse the scope, ask ``locality.network`` for the page data (cached per store state
and scope, like every figure of the dashboard) and render; the layout is computed in Python
(``locality.network.page``), so the page only paints it with the vendored Cytoscape.js.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from locality.reference import cpv_themes
from locality.views.params import BadRequest, NotFound
from locality.views.queries import MAX_NAME, Session
from locality.web.routing import JSON, OBJECT, S, responses

# 200, 404 for an unknown place or council, 422 for a parameter the library refuses.
RESPONSES = responses(OBJECT, not_found=True, invalid=True)


THEMES = [*sorted({t.theme for t in cpv_themes().values()}), "unclassified"]
PlaceWord = Annotated[
    str | None,
    Query(max_length=MAX_NAME, description="A combined authority, a place or a council."),
]
CouncilWord = Annotated[
    str | None,
    Query(
        max_length=MAX_NAME,
        description="One council, by name or registry code (used when place is given too).",
    ),
]
Theme = Annotated[
    str | None,
    Query(description="Only processes of this CPV theme.", json_schema_extra={"enum": THEMES}),
]
Since = Annotated[date | None, Query(description="Only awards and payments from this date.")]

NETWORK_DESCRIPTION = (
    "The innovation network of a scope, as the /network page draws it: `elements` for "
    "Cytoscape.js (nodes with preset positions, colour by sector, size by strength; the "
    "organisations of most ties when there are more than 400, and the disparity-filter "
    "backbone of large pictures), a `card` per drawn node (sector and its evidence, degree, "
    "strength, betweenness, constraint, effective size, brokerage roles, why, main ties), "
    "the `brokers` (as `locality network brokers --format json`), `communities` and `gaps`. "
    "Scope: `place` (a combined authority, a place or a council) or `locality` (one "
    "council, which wins when both are given), `theme`, `since`; none means everywhere. "
    "A place or council the store cannot name is a 404."
)


def network_data(
    s: Session,
    place: str | None = None,
    locality: str | None = None,
    theme: str | None = None,
    since: date | None = None,
) -> dict[str, Any]:
    """The page data of a scope, computed once per store state (a bad scope is a 422)."""
    from locality.network import TRADE_KINDS, NetworkError, build_network, measure, scope_for
    from locality.network.build import themes
    from locality.network.page import page_data

    if theme and theme.casefold() not in {t.casefold() for t in THEMES}:
        raise BadRequest(f"no theme {theme!r}: use one of {', '.join(THEMES)}")
    try:
        scope = scope_for(
            place=None if locality else place or None,  # the council, the narrower, wins
            locality=locality or None,
            theme=theme or None,
            since=since,
            places_file=s.store.places_file,
        )
    except NetworkError as exc:  # no such place or council
        raise NotFound(str(exc)) from exc

    def compute(con: Any) -> dict[str, Any]:
        try:
            # The page reads the trade ties only (the measures, the picture and the lists):
            # the co-supplier and co-buyer projections, most of the edges, are for export.
            network = build_network(con, scope, kinds=TRADE_KINDS)
        except NetworkError as exc:
            raise BadRequest(str(exc)) from exc
        data = page_data(measure(network)) if network.graph.vcount() else _empty(scope)
        data["themes"] = themes(con)
        data["query"] = {
            "place": place,
            "locality": locality,
            "theme": theme,
            "since": since.isoformat() if since else None,
        }
        return data

    key = ("network-page", scope.label, scope.councils and tuple(sorted(scope.councils)),
           scope.theme, scope.since)  # fmt: skip
    return s.cached(key, compute)


def _empty(scope: Any) -> dict[str, Any]:
    return {
        "scope": scope.describe(),
        "nodes_total": 0,
        "edges_total": 0,
        "nodes_shown": 0,
        "edges_shown": 0,
        "backbone": False,
        "betweenness": "exact",
        "legend": [],
        "elements": {"nodes": [], "edges": []},
        "cards": {},
        "brokers": [],
        "communities": [],
        "gaps": {},
        "notes": [f"no ties in {scope.describe()}: no counted awards or resolved payments"],
    }


def register(app: FastAPI, render: Callable[..., HTMLResponse]) -> None:
    """Add the network page and its API to the dashboard (``render(request, template,
    **context)`` is the app's page renderer)."""

    @app.get(
        "/api/network",
        summary="The innovation network of a scope (locality network)",
        description=NETWORK_DESCRIPTION,
        responses=RESPONSES,
    )
    def api_network(
        s: S,
        place: PlaceWord = None,
        locality: CouncilWord = None,
        theme: Theme = None,
        since: Since = None,
    ) -> Response:
        if theme is not None and theme not in THEMES:
            raise BadRequest(f"no theme {theme!r}: use one of {', '.join(THEMES)}")
        return JSON(network_data(s, place, locality, theme, since))

    @app.api_route(
        "/network", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def network_page(
        request: Request,
        s: S,
        place: Annotated[str, Query(max_length=MAX_NAME)] = "",
        locality: Annotated[str, Query(max_length=MAX_NAME)] = "",
        theme: Annotated[str, Query(max_length=MAX_NAME)] = "",
        since: Annotated[str, Query(max_length=10)] = "",
    ) -> HTMLResponse:
        # The page's form sends every field, empty ones too.
        try:
            when = date.fromisoformat(since) if since.strip() else None
        except ValueError as exc:
            raise BadRequest(f"since {since!r} is not a date: use YYYY-MM-DD") from exc
        data = network_data(s, place.strip(), locality.strip(), theme.strip(), when)
        return render(request, "network.html", data=data)
