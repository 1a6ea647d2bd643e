"""The dashboard's network page (``/network``) and its data (``/api/network``).

Routes read the page's words and ask ``locality.views.network`` for the page data (cached
per store state and scope, like every figure of the dashboard, and stored at refresh for the
largest scopes) and render; the layout is computed in Python
(``locality.network.page``), so the page only paints it with the vendored Cytoscape.js.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from locality.views.network import network_data
from locality.views.params import THEMES, BadRequest
from locality.views.queries import MAX_NAME
from locality.web.routing import JSON, OBJECT, S, responses

# 200, 404 for an unknown place or council, 422 for a parameter the library refuses.
RESPONSES = responses(OBJECT, not_found=True, invalid=True)

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
        return JSON(network_data(s, place=place, locality=locality, theme=theme, since=since))

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
        data = network_data(
            s, place=place.strip(), locality=locality.strip(), theme=theme.strip(), since=when
        )
        return render(request, "network.html", data=data)
