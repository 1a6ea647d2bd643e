"""The dashboard: server-rendered pages and a JSON API over one store, read-only.

``create_app(db_path)`` builds the FastAPI application; ``locality serve`` runs it with
uvicorn. When the server starts (the ASGI lifespan), ``locality.web.warm`` fills the cache
in a background thread unless ``warm=False``. Routes only parse parameters, call
``locality.views.queries`` (which calls the library) and render: no SQL here. Every response
carries a strict Content-Security-Policy (scripts and everything else from this server
only); charts are Vega-Lite specs in JSON script tags, drawn by the vendored vega,
vega-lite and vega-embed in ``static/vendor/``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locality import __version__, views
from locality.domain.export import neutralise_record
from locality.domain.links import web_link
from locality.metrics import DIMENSIONS, FILTERABLE
from locality.metrics.compare import HEADLINE
from locality.reference import local_authority
from locality.spend.themes import UNMAPPED
from locality.store.db import StoreError
from locality.views import charts, params, present, queries
from locality.views.params import BadRequest, NotFound
from locality.views.queries import MAX_COMPARE, MAX_NAME, Store
from locality.web.routing import (
    ERROR,
    JSON,
    OBJECT,
    ROWS,
    Ocid,
    OrgId,
    PlaceName,
    S,
    responses,
)
from locality.web.warm import Warmer

HERE = FilePath(__file__).resolve().parent
TEMPLATES = HERE / "templates"
# The macros the dashboard and the report share (one headline, one chart): the view layer's.
SHARED_TEMPLATES = FilePath(views.__file__).resolve().parent / "templates"
STATIC = HERE / "static"

SECURITY_HEADERS = {
    # base-uri and form-action do not fall back to default-src: without them an injected
    # <base> or <form> could send links or input elsewhere (CSP Level 3).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Format = Literal["json", "csv"]
# A `where` filter: one of the filterable columns (or place; `-` for `_` too), `=`, a value.
WHERE_COLUMNS = sorted(
    {c for name in ["place", *FILTERABLE] for c in (name, name.replace("_", "-"))}
)
WHERE_PATTERN = "^ *(" + "|".join(WHERE_COLUMNS) + ") *="
Where = Annotated[str, StringConstraints(pattern=WHERE_PATTERN, max_length=MAX_NAME + 50)]
MAX_LIMIT = 1_000_000
# A name to compare: something other than blanks.
NonBlank = Annotated[str, StringConstraints(pattern=r"\S", max_length=MAX_NAME)]
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
SpendSection = Literal[
    "bodies", "years", "months", "themes", "theme-years", "unmapped", "suppliers",
    "transfers", "transfer-payees", "coverage", "contracted",
]  # fmt: skip

# What RequestGuard answers on any route, documented on every operation.
GUARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The request names a host this server does not answer to",
        "content": {"application/json": {"schema": ERROR}},
    },
    414: {
        "description": "The address (path and query) is over 8 KB",
        "content": {"application/json": {"schema": ERROR}},
    },
    431: {
        "description": "The request headers are over 16 KB",
        "content": {"application/json": {"schema": ERROR}},
    },
}


# The whole-place spend view (``locality place NAME --format json``) and what the page adds.
SPEND_VIEW: dict[str, Any] = {
    "type": "object",
    "required": [
        "place", "source", "councils", "named_bodies", "threshold", "transfers_included",
        "bodies", "coverage", "shares", "years", "months", "themes", "theme_years",
        "unmapped", "suppliers", "transfers", "transfer_payees", "contracted_vs_paid",
        "notes", "spend_loaded", "sentences",
    ],
    "properties": {
        "place": {"type": "string"},
        "source": {"type": "string"},
        "councils": {"type": "array", "items": {"type": "string"}},
        "named_bodies": {"type": "array", "items": {"type": "string"}},
        "threshold": {
            "type": "object",
            "required": ["min_amount", "basis", "set_by"],
            "properties": {
                "min_amount": {"type": "number"},
                "basis": {"type": "string"},
                "set_by": {"type": "array", "items": {"type": "string"}},
            },
        },
        "transfers_included": {"type": "boolean"},
        "shares": {
            "type": "object",
            "required": ["total_amount", "transfer_amount", "supplier_amount"],
        },
        **{
            key: ROWS
            for key in (
                "bodies", "coverage", "years", "months", "themes", "theme_years", "unmapped",
                "suppliers", "transfers", "transfer_payees", "contracted_vs_paid",
            )
        },
        "notes": {"type": "array", "items": {"type": "string"}},
        "spend_loaded": {"type": "boolean"},
        "sentences": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}  # fmt: skip
SPEND_DESCRIPTION = (
    "The whole place's council spend, as `locality place NAME --format json` (top 20 "
    "suppliers): its bodies, spend by month and financial year, by theme (with an "
    "`unmapped` row always, and each theme's concentration), top suppliers with how many "
    "of the place's bodies pay them, SME/VCSE/local shares each with its coverage, the "
    "transfers to other public bodies by kind and payee (left out of the suppliers, "
    "concentration and shares unless `include_transfers=true`: `transfers_included`), the "
    "months each body's spend files cover (`coverage`, councils without files too), and per "
    "council contracted (OCDS awards) against paid; `threshold` says which payments were "
    "counted. Added: `spend_loaded` (false when no spend file of the place's bodies is "
    "loaded: every section is then empty) and a plain-language `sentences` per headline "
    "figure. With format=csv, one section (`section`) as `locality place --format csv "
    "--section`."
)

PROCESS_DESCRIPTION = (
    "A contracting process: its columns (`process`), the compiled release, the releases as "
    "published, its awards, parties and red flags, and `view`: the process as locality "
    "understands it, as `locality process OCID --format json` (buyer and whether it is a "
    "central purchasing body, stage, agreement type with its evidence, suitability, the "
    "notices in date order, bids, lots, and each award's value, gross value, where the "
    "value came from and whether it counts as money awarded, a framework ceiling or "
    "unknown, with the reason)."
)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Longest request target and header block answered; longer ones get 414 and 431 (RFC 9110
# 15.5.15, RFC 6585 5) rather than a reset connection. Browsers send far less.
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 16384
# The names the dashboard answers to: a request naming any other host is refused, so a
# page on another site cannot reach it through DNS rebinding (a hostile name pointed at
# 127.0.0.1). The host the server listens on is added; LOCALITY_ALLOWED_HOSTS adds more.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# uvicorn options for `locality serve`: h11 drops a request head over 16 KB with a reset;
# reading heads up to 4 MB lets RequestGuard answer a 1 MB query or cookie with 414/431.
SERVER_LIMITS: dict[str, Any] = {"h11_max_incomplete_event_size": 4 << 20}
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def _host_name(value: str) -> str:
    """The host of a ``Host`` header, without its port: ``[::1]:8000`` → ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_host(host: str, served_on: str | None) -> bool:
    """Whether a request's ``Host`` may be answered: a local name, the host the server
    listens on, a name in LOCALITY_ALLOWED_HOSTS, or (when it listens on every address)
    any IP address, never another name."""
    name = _host_name(host).rstrip(".")
    extra = {
        _host_name(h).rstrip(".")
        for h in os.environ.get("LOCALITY_ALLOWED_HOSTS", "").split(",")
        if h.strip()
    }
    served = _host_name(served_on or "")
    if name in LOCAL_HOSTS or name in extra or (name and name == served):
        return True
    return served in ANY_ADDRESS and _is_ip(name)


class RequestGuard:
    """ASGI middleware: refuse oversize requests (414, 431) and unknown hosts (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if target > MAX_URL_BYTES:
            await _refuse(send, 414, f"the address is over {MAX_URL_BYTES:,} bytes")
            return
        headers = scope.get("headers", [])
        if sum(len(k) + len(v) + 4 for k, v in headers) > MAX_HEADER_BYTES:
            await _refuse(send, 431, f"the request headers are over {MAX_HEADER_BYTES:,} bytes")
            return
        hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
        server = scope.get("server")
        if len(hosts) > 1 or (hosts and not allowed_host(hosts[0], server[0] if server else None)):
            await _refuse(send, 400, "this server does not answer to that host name")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"detail": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], filename: str) -> Response:
    """Rows as CSV, as the CLI's ``--format csv`` writes them (a header even with no rows)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    # Cells a spreadsheet would run as formulas are neutralised (OWASP CSV injection).
    writer.writerows(neutralise_record(row) for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _table(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], output: Format, filename: str
) -> Response:
    return _csv(columns, rows, filename) if output == "csv" else JSON(list(rows))


# --- URLs the templates use ---------------------------------------------------------------


def place_url(name: str) -> str:
    return f"/place/{quote(str(name), safe='')}"


def spend_url(name: str, *, api: bool = False, **params: Any) -> str:
    """The spend page of a place (or its API, ``api=True``), with query parameters."""
    path = f"{'/api' if api else ''}{place_url(name)}/spend"
    return api_url(path, **{k: v for k, v in params.items() if v not in (None, False)})


def buyer_url(org_id: str) -> str:
    return f"/buyer/{quote(str(org_id), safe='')}"


def supplier_url(org_id: str) -> str:
    return f"/supplier/{quote(str(org_id), safe='')}"


def process_url(ocid: str) -> str:
    return f"/process/{quote(str(ocid), safe='')}"


def api_url(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    return f"{path}?{query}" if query else path


def suggestion_url(s: Mapping[str, str]) -> str:
    return {
        "place": place_url,
        "buyer": buyer_url,
        "supplier": supplier_url,
        "process": process_url,
    }[s["kind"]](s["id"])


def council_name(code: str | None) -> str:
    """A council's name from its registry code ("LDS" -> "Leeds"); "unknown" without one."""
    if not code:
        return "unknown"
    council = local_authority(code)
    return council.nice_name if council else code


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader([TEMPLATES, SHARED_TEMPLATES]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    present.register_filters(env)
    env.filters.update(
        basename=lambda p: os.path.basename(str(p or "")),
        council=council_name,
    )
    env.globals.update(
        place_url=place_url,
        spend_url=spend_url,
        buyer_url=buyer_url,
        supplier_url=supplier_url,
        process_url=process_url,
        web_link=web_link,
        api_url=api_url,
        suggestion_url=suggestion_url,
        measure_labels=present.MEASURE_LABELS,
        headline_measures=HEADLINE,
        version=__version__,
        max_compare=MAX_COMPARE,
        flags_available=queries.flags_available(),
        unmapped=UNMAPPED,
    )
    return env


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


DESCRIPTION = """
Where a place's public money goes, and whom it reaches: the figures of the locality
dashboard as JSON (and CSV where a page draws a chart). Keys are those of the
`locality` command's `--format json`. Values are GBP; every share comes with the share of
value it could be computed on (`known_*_share`). Definitions: docs/metrics.md.
"""


def create_app(
    db_path: str | os.PathLike[str], *, places_file: FilePath | None = None, warm: bool = True
) -> FastAPI:
    """The dashboard application over the store at ``db_path`` (opened read-only).

    With ``warm`` (the default), starting the server (the ASGI lifespan, which uvicorn
    runs) starts warming the cache in a background thread (``locality.web.warm``), and
    stopping it stops the warming; ``app.state.warmer`` is the ``Warmer`` (None without).
    Building the app opens nothing.
    """
    store = Store(FilePath(db_path), places_file)
    warmer = Warmer(store) if warm else None
    env = _environment()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warmer is not None:
            warmer.start()
        try:
            yield
        finally:
            if warmer is not None:  # interrupts its query, waits a little (off the event loop)
                await run_in_threadpool(warmer.stop)

    app = FastAPI(
        title="locality",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # Swagger UI would load from a CDN; /docs is served below instead
        redoc_url=None,
        default_response_class=JSON,
        lifespan=lifespan,
        responses=GUARD_RESPONSES,
    )
    app.state.store = store
    app.state.warmer = warmer
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeaders)  # outermost: the guard's answers get the headers too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page(
        request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        html = env.get_template(template).render(request=request, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code)

    # --- errors ---------------------------------------------------------------------------

    def error(
        request: Request,
        status_code: int,
        title: str,
        message: str,
        suggestions: Sequence[Mapping[str, str]] = (),
    ) -> Response:
        if _is_api(request):
            body: dict[str, Any] = {"detail": message}
            if suggestions:
                body["suggestions"] = list(suggestions)
            response: Response = JSON(body, status_code=status_code)
        else:
            response = page(
                request,
                "error.html",
                status_code,
                title=title,
                message=message,
                suggestions=suggestions,
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error(request, 404, "Not found", exc.message, exc.suggestions)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return error(request, 422, "Cannot show that", exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return error(request, 422, "Cannot show that", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error(request, 404, "Not found", f"nothing at {request.url.path}")
        response = error(request, exc.status_code, "Error", str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value  # e.g. Allow on a 405 (RFC 9110 15.5.6)
        return response

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return error(request, 503, "The store cannot be read", str(exc))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        return error(
            request,
            500,
            "Something went wrong",
            f"{type(exc).__name__}: the server could not build this page.",
        )

    # --- API ------------------------------------------------------------------------------

    PAGE = responses(OBJECT, not_found=True, invalid=True)

    @app.get(
        "/api/status",
        summary="What the store holds (locality status --format json)",
        responses=responses(OBJECT),
    )
    def api_status(s: S) -> Response:
        return JSON(queries.status(s))

    @app.get(
        "/api/metrics",
        summary="Measures by a dimension (locality metrics --format json|csv)",
        responses=responses(ROWS, csv=True, not_found=True, invalid=True),
    )
    def api_metrics(
        s: S,
        by: Annotated[
            str,
            Query(
                description=f"Group by: {', '.join(DIMENSIONS)}.",
                json_schema_extra={"enum": list(DIMENSIONS)},
            ),
        ] = "buyer",
        where: Annotated[
            list[Where] | None,
            Query(
                description="COLUMN=VALUE filters (repeat; the same column twice means "
                f"either). Columns: place, {', '.join(FILTERABLE)}.",
            ),
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, le=MAX_LIMIT, description="The first N rows.")
        ] = None,
        format: Annotated[Format, Query(description="json or csv.")] = "json",
    ) -> Response:
        columns, rows = queries.metrics(s, by, where or [], limit)
        return _table(columns, rows, format, f"metrics-by-{by}.csv")

    @app.get(
        "/api/place/{name}",
        summary="Everything the place page shows",
        responses=responses(OBJECT, not_found=True, invalid=True),
    )
    def api_place(s: S, name: PlaceName) -> Response:
        return JSON(queries.place_page(s, name))

    @app.get(
        "/api/place/{name}/spend",
        summary="A place's council spend (locality place NAME --format json|csv)",
        description=SPEND_DESCRIPTION,
        responses=responses(
            SPEND_VIEW,
            csv=True,
            not_found=True,
            invalid=True,
            description="The whole-place spend view as JSON, or one section as CSV",
        ),
    )
    def api_spend(
        s: S,
        name: PlaceName,
        min_amount: MinAmount = None,
        like_for_like: LikeForLike = False,
        include_transfers: IncludeTransfers = False,
        format: Annotated[Format, Query(description="json or csv.")] = "json",
        section: Annotated[
            SpendSection, Query(description="The table of format=csv (as --section).")
        ] = "years",
    ) -> Response:
        data = queries.spend_page(
            s,
            name,
            min_amount=min_amount,
            like_for_like=like_for_like,
            include_transfers=include_transfers,
        )
        if format == "csv":
            columns, rows = params.spend_section(data, section)
            slug = quote(data["place"].lower().replace(" ", "-"), safe="-")
            return _csv(columns, rows, f"spend-{section}-{slug}.csv")
        return JSON(data)

    @app.get(
        "/api/compare",
        summary="Headline measures side by side (locality compare --format json|csv)",
        responses=responses(ROWS, csv=True, not_found=True, invalid=True),
    )
    def api_compare(
        s: S,
        names: Annotated[
            list[NonBlank],
            Query(
                min_length=2,
                max_length=MAX_COMPARE,
                description=f"2 to {MAX_COMPARE} councils or places (repeat the parameter).",
            ),
        ],
        format: Annotated[Format, Query(description="json or csv.")] = "json",
    ) -> Response:
        rows = queries.compare(s, names)
        return _table(list(rows[0]), rows, format, "compare.csv")

    @app.get("/api/buyer/{org_id:path}", summary="A buyer's page", responses=PAGE)
    def api_buyer(s: S, org_id: OrgId) -> Response:
        return JSON(queries.buyer_page(s, org_id))

    @app.get("/api/supplier/{org_id:path}", summary="A supplier's page", responses=PAGE)
    def api_supplier(s: S, org_id: OrgId) -> Response:
        return JSON(queries.supplier_page(s, org_id))

    @app.get(
        "/api/process/{ocid:path}",
        summary="A contracting process",
        description=PROCESS_DESCRIPTION,
        responses=PAGE,
    )
    def api_process(s: S, ocid: Ocid) -> Response:
        return JSON(queries.process_page(s, ocid))

    @app.get(
        "/api/search",
        summary="Councils, places, buyers and suppliers by name",
        responses=responses(OBJECT, invalid=True),
    )
    def api_search(
        s: S, q_: Annotated[str, Query(alias="q", max_length=200, description="A name.")] = ""
    ) -> Response:
        return JSON(queries.search(s, q_))

    # --- pages ----------------------------------------------------------------------------

    @app.api_route(
        "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def home(request: Request, s: S) -> HTMLResponse:
        return page(request, "home.html", data=queries.home(s))

    @app.api_route(
        "/search", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def search(
        request: Request, s: S, q_: Annotated[str, Query(alias="q", max_length=200)] = ""
    ) -> HTMLResponse:
        return page(request, "search.html", data=queries.search(s, q_))

    @app.api_route(
        "/place/{name}",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
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
        return page(request, "place.html", data=data, specs=specs)

    @app.api_route(
        "/place/{name}/spend",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
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
        return page(
            request,
            "spend.html",
            data=data,
            info=info,
            specs=specs,
            org_pages=links,
            threshold=threshold,
        )

    @app.api_route(
        "/compare", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
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
        options = sorted(queries.place_names(store.places()))
        return page(request, "compare.html", names=given, rows=rows, specs=specs, options=options)

    @app.api_route(
        "/buyer/{org_id:path}",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def buyer(request: Request, s: S, org_id: str) -> HTMLResponse:
        return page(request, "buyer.html", data=queries.buyer_page(s, org_id))

    @app.api_route(
        "/supplier/{org_id:path}",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def supplier(request: Request, s: S, org_id: str) -> HTMLResponse:
        return page(request, "supplier.html", data=queries.supplier_page(s, org_id))

    @app.api_route(
        "/process/{ocid:path}",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def process(request: Request, s: S, ocid: str) -> HTMLResponse:
        data = queries.process_page(s, ocid)
        compiled = orjson.dumps(
            data["compiled_release"], option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        ).decode()
        return page(request, "process.html", data=data, compiled=compiled)

    @app.api_route(
        "/docs", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def docs(request: Request) -> HTMLResponse:
        return page(request, "api.html", openapi=app.openapi())

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    from locality.web.network import register as register_network

    register_network(app, page)  # /network and /api/network (web/network.py)
    from locality.web.matching import register as register_matching

    register_matching(app, page)  # opportunities, matches (web/matching.py)
    return app


__all__ = ["SECURITY_HEADERS", "SERVER_LIMITS", "create_app"]
