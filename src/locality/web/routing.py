"""What every dashboard route is built from: the store session each request gets, JSON
written as the CLI writes it, the path parameters shared by pages and API, and the OpenAPI
description of responses (FastAPI cannot infer them: routes return Response objects).

``app.py`` and the route modules beside it (``network.py``, ``matching.py``) import from
here, never from each other, so the web package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from locality.views.queries import MAX_NAME, Session, Store

PlaceName = Annotated[
    str,
    Path(
        max_length=MAX_NAME,
        description="A council or place, as `locality compare` takes it: York, WYCA.",
    ),
]
OrgId = Annotated[
    str, Path(max_length=MAX_NAME, description="An organisation id, e.g. GB-COH-06841377.")
]
Ocid = Annotated[str, Path(max_length=MAX_NAME, description="The OCID of a contracting process.")]

# The OpenAPI of the responses (FastAPI cannot infer them: routes return Response objects).
OBJECT: dict[str, Any] = {"type": "object"}
ROWS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
CSV_TEXT: dict[str, Any] = {"type": "string"}
STRING: dict[str, Any] = {"type": "string"}
STRINGS: dict[str, Any] = {"type": "array", "items": STRING}


def object_schema(
    properties: dict[str, Any], required: Sequence[str] | None = None
) -> dict[str, Any]:
    """A JSON Schema object of ``properties``, each required unless ``required`` names fewer."""
    names = list(properties if required is None else required)
    return {"type": "object", "required": names, "properties": properties}


ERROR = object_schema(
    {
        "detail": STRING,
        "suggestions": {
            "type": "array",
            "items": object_schema({"kind": STRING, "name": STRING, "id": STRING}),
        },
    },
    required=["detail"],
)


def responses(
    body: dict[str, Any],
    *,
    csv: bool = False,
    not_found: bool = False,
    invalid: bool = False,
    description: str = "OK",
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of an API route: 200 (JSON, or CSV too), 404 and 422."""
    content: dict[str, Any] = {"application/json": {"schema": body}}
    if csv:
        content["text/csv"] = {"schema": CSV_TEXT}
    out: dict[int | str, dict[str, Any]] = {200: {"description": description, "content": content}}
    error = {"application/json": {"schema": ERROR}}
    if not_found:
        out[404] = {
            "description": "Not in the store; `suggestions` lists near names",
            "content": error,
        }
    if invalid:
        out[422] = {"description": "A parameter the library refuses; `detail` says why"}
        out[422]["content"] = error
    return out


class JSON(JSONResponse):
    """JSON by orjson, as the CLI writes it (timestamps ISO 8601, NaN as null)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def session(request: Request) -> Iterator[Session]:
    """One request's access to the store (read-only, opened on first use, then closed)."""
    store: Store = request.app.state.store
    with store.session() as s:
        yield s


S = Annotated[Session, Depends(session)]

Route = TypeVar("Route", bound=Callable[..., Any])


def page_route(router: APIRouter | FastAPI, path: str) -> Callable[[Route], Route]:
    """The route of a dashboard page: GET and HEAD (link checkers and proxies ask HEAD), HTML,
    and left out of the OpenAPI description, where its ``/api/`` twin stands instead."""
    return router.api_route(
        path, methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )


# The spend view's threshold options, as ``locality place --min-amount / --like-for-like``.
MinAmount = Annotated[
    float | None,
    Query(
        ge=0,
        allow_inf_nan=False,
        description="Count only payments whose absolute net amount is at least this (GBP). "
        "Not with like_for_like.",
    ),
]


LikeForLike = Annotated[
    bool,
    Query(
        description="Count only payments at or above the highest threshold the place's bodies "
        "publish at (card files left out), so every body is counted alike.",
    ),
]


IncludeTransfers = Annotated[
    bool,
    Query(
        description="Count payments to other public bodies (councils, the Secretary of State, "
        "HMRC, combined authorities, police, fire, NHS, pension funds) as supplier spend in "
        "the top suppliers, concentration and shares (locality place --include-transfers); "
        "by default they are left out and shown on their own.",
    ),
]
