"""The dashboard's matching pages: opportunities (``/opportunities``), one opportunity with
its ranked suppliers and proposed consortia (``/opportunity/OCID``), a supplier's matched
opportunities and the buyers near it (``/matches/ORG``), and a buyer's introductions to
smaller suppliers nearby (``/buyer-matches/ORG``), each with its JSON under ``/api/``.

Routes parse, ask ``locality.matching`` (cached per store state, like every figure of the
dashboard) and render; the supplier index is built once per store state and shared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from locality.views.params import THEMES, BadRequest, NotFound
from locality.views.queries import MAX_NAME, Session
from locality.web.routing import JSON, OBJECT, ROWS, Ocid, OrgId, S, page_route, responses

if TYPE_CHECKING:
    from locality.matching.pages import PageContext

STAGES = [
    "pipeline",
    "engagement",
    "planned",
    "open",
    "closed",
    "awarded",
    "cancelled",
    "expiring",
    "expired_unknown",
]

StageParam = Annotated[
    list[str] | None,
    Query(description="Stages to list (default: the live ones, pipeline to open).",
          json_schema_extra={"items": {"type": "string", "enum": STAGES}}),
]  # fmt: skip
PlaceParam = Annotated[
    str | None, Query(max_length=MAX_NAME, description="A council or place: its buyers.")
]
ThemeParam = Annotated[
    str | None, Query(description="A contract theme.", json_schema_extra={"enum": THEMES})
]
Days = Annotated[
    int | None, Query(ge=0, le=3650, description="Open tenders closing within N days.")
]
Months = Annotated[
    int | None,
    Query(ge=0, le=120, description="Contracts ending within N months (or ended as recently)."),
]
Suitable = Annotated[
    str | None,
    Query(description="Marked suitable for", json_schema_extra={"enum": ["sme", "vcse"]}),
]


def _index(s: Session) -> Any:
    from locality.matching.match import SupplierIndex
    from locality.matching.profiles import load_history

    return s.cached(("matching-index",), lambda con: SupplierIndex.build(load_history(con)))


def opportunities_data(
    s: Session,
    stage: list[str] | None,
    place: str | None,
    theme: str | None,
    closing_within: int | None,
    expiring_within: int | None,
    suitable_for: str | None,
) -> list[dict[str, Any]]:
    from locality.domain.places import PlaceError, builtin_places, resolve
    from locality.matching.opportunities import (
        OpportunityError,
        OpportunityFilter,
        list_opportunities,
    )

    for value in stage or []:
        if value not in STAGES:
            raise BadRequest(f"no stage {value!r}: use one of {', '.join(STAGES)}")
    if theme and theme not in THEMES:
        raise BadRequest(f"no theme {theme!r}: use one of {', '.join(THEMES)}")
    if suitable_for not in (None, "sme", "vcse"):
        raise BadRequest("suitable_for must be sme or vcse")
    try:
        councils = frozenset(resolve(place, builtin_places()).councils) if place else None
    except PlaceError as exc:
        raise NotFound(str(exc)) from exc
    today = _now()
    flt = OpportunityFilter(
        stages=tuple(stage or ()),
        councils=councils,
        place_name=place,
        theme=theme,
        closing_within_days=closing_within,
        expiring_within_days=round(expiring_within * 30.44)
        if expiring_within is not None
        else None,
        suitable_for=suitable_for,
    )

    def compute(con: Any) -> list[dict[str, Any]]:
        try:
            return list_opportunities(con, today, flt)
        except OpportunityError as exc:
            raise BadRequest(str(exc)) from exc

    key = ("opportunities", today, tuple(stage or ()), councils and tuple(sorted(councils)),
           theme, closing_within, expiring_within, suitable_for)  # fmt: skip
    return s.cached(key, compute)


def _matched(
    s: Session,
    key: tuple[Any, ...],
    error: type[Exception],
    view: Callable[[PageContext], dict[str, Any]],
) -> dict[str, Any]:
    """A matching view ``view(page)``, read against the store, its supplier index and now,
    cached per store state and minute under ``key``; the library's ``error`` (no such
    process or organisation) is a 404."""
    from locality.matching.pages import PageContext

    index = _index(s)
    today = _now()

    def compute(con: Any) -> dict[str, Any]:
        try:
            return view(PageContext(con, index, today))
        except error as exc:
            raise NotFound(str(exc)) from exc

    return s.cached((*key, today), compute)


def opportunity_data(s: Session, ocid: str) -> dict[str, Any]:
    from locality.matching.opportunities import OpportunityError
    from locality.matching.pages import opportunity_view

    return _matched(
        s,
        ("opportunity", ocid),
        OpportunityError,
        lambda page: opportunity_view(page, ocid),
    )


def matches_data(s: Session, org_id: str) -> dict[str, Any]:
    from locality.matching.match import MatchError
    from locality.matching.pages import supplier_matches_view

    return _matched(
        s,
        ("supplier-matches", org_id),
        MatchError,
        lambda page: supplier_matches_view(page, org_id),
    )


def buyer_matches_data(s: Session, org_id: str, theme: str | None) -> dict[str, Any]:
    from locality.matching.match import MatchError
    from locality.matching.pages import buyer_matches_view

    if theme and theme not in THEMES:
        raise BadRequest(f"no theme {theme!r}: use one of {', '.join(THEMES)}")
    return _matched(
        s,
        ("buyer-matches", org_id, theme),
        MatchError,
        lambda page: buyer_matches_view(page, org_id, theme or None),
    )


def _now() -> dt.datetime:
    """The moment deadlines are read against: now, to the minute (so a tender closes at its
    deadline, not at the end of that day, and the cache still serves a minute's requests)."""
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def register(app: FastAPI, render: Callable[..., HTMLResponse]) -> None:
    """Add the matching pages and their API to the dashboard (``render(request, template,
    **context)`` is the app's page renderer)."""

    @app.get(
        "/api/opportunities",
        summary="Opportunities by stage, and expiring contracts (locality opportunities)",
        description="As `locality opportunities --format json`, read against today's date.",
        responses=responses(ROWS, not_found=True, invalid=True),
    )
    def api_opportunities(
        s: S,
        stage: StageParam = None,
        place: PlaceParam = None,
        theme: ThemeParam = None,
        closing_within: Days = None,
        expiring_within: Months = None,
        suitable_for: Suitable = None,
    ) -> Response:
        return JSON(
            opportunities_data(
                s, stage, place, theme, closing_within, expiring_within, suitable_for
            )
        )

    @app.get(
        "/api/opportunity/{ocid:path}",
        summary="An opportunity with its ranked suppliers and proposed consortia",
        description="As `locality match OCID --format json` (top 20, and the top 10 SMEs and "
        "VCSEs) and `locality consortium OCID --sme-vcse-only --format json`.",
        responses=responses(OBJECT, not_found=True, invalid=True),
    )
    def api_opportunity(s: S, ocid: Ocid) -> Response:
        return JSON(opportunity_data(s, ocid))

    @app.get(
        "/api/matches/{org_id:path}",
        summary="The live opportunities ranked for one supplier (locality match --supplier)",
        responses=responses(OBJECT, not_found=True, invalid=True),
    )
    def api_matches(s: S, org_id: OrgId) -> Response:
        return JSON(matches_data(s, org_id))

    @app.get(
        "/api/buyer-matches/{org_id:path}",
        summary="Smaller suppliers near a buyer it has never met, and its SME/VCSE "
        "incumbents whose contracts end within a year",
        responses=responses(OBJECT, not_found=True, invalid=True),
    )
    def api_buyer_matches(s: S, org_id: OrgId, theme: ThemeParam = None) -> Response:
        return JSON(buyer_matches_data(s, org_id, theme))

    @page_route(app, "/buyer-matches/{org_id:path}")
    def buyer_matches_page(
        request: Request, s: S, org_id: str, theme: Annotated[str, Query(max_length=MAX_NAME)] = ""
    ) -> HTMLResponse:
        data = buyer_matches_data(s, org_id, theme.strip() or None)
        return render(request, "matches_buyer.html", data=data, themes=THEMES, theme=theme)

    @page_route(app, "/opportunities")
    def opportunities_page(
        request: Request,
        s: S,
        stage: Annotated[str, Query(max_length=40)] = "",
        place: Annotated[str, Query(max_length=MAX_NAME)] = "",
        theme: Annotated[str, Query(max_length=MAX_NAME)] = "",
        expiring_within: Annotated[str, Query(max_length=4)] = "",
    ) -> HTMLResponse:
        months = None
        if expiring_within.strip():
            if not expiring_within.strip().isdigit():
                raise BadRequest("expiring_within is a number of months")
            months = int(expiring_within)
        rows = opportunities_data(
            s,
            [stage] if stage.strip() else None,
            place.strip() or None,
            theme.strip() or None,
            None,
            months,
            None,
        )
        query = {"stage": stage, "place": place, "theme": theme, "expiring_within": expiring_within}
        return render(
            request,
            "opportunities.html",
            rows=rows,
            query=query,
            stages=STAGES,
            themes=THEMES,
        )

    @page_route(app, "/opportunity/{ocid:path}")
    def opportunity_page(request: Request, s: S, ocid: str) -> HTMLResponse:
        return render(request, "opportunity.html", data=opportunity_data(s, ocid))

    @page_route(app, "/matches/{org_id:path}")
    def matches_page(request: Request, s: S, org_id: str) -> HTMLResponse:
        return render(request, "matches.html", data=matches_data(s, org_id))
