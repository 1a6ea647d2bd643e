"""The dashboard: server-rendered pages and a JSON API over one store, read-only.

``create_app(db_path)`` builds the FastAPI application; ``locality serve`` runs it with
uvicorn. Nothing is computed at start-up: what the pages show was computed when the data
was loaded (``locality.views.precompute``) and is read from the store. Routes only parse
parameters, call
``locality.views.queries`` (which calls the library) and render: no SQL here. Every response
carries a strict Content-Security-Policy (scripts and everything else from this server
only); charts are Vega-Lite specs in JSON script tags, drawn by the vendored vega,
vega-lite and vega-embed in ``static/vendor/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locality import __version__, views
from locality.domain.links import web_link
from locality.metrics.compare import HEADLINE
from locality.reference import local_authority
from locality.spend.themes import UNMAPPED
from locality.store.db import StoreError
from locality.views import present, queries
from locality.views.params import BadRequest, NotFound
from locality.views.queries import MAX_COMPARE, Store
from locality.web import api, pages
from locality.web.cache import ResponseCache
from locality.web.routing import (
    ERROR,
    JSON,
)

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


class HttpMiddleware:
    """An ASGI middleware that acts on HTTP requests (``http``) and passes anything else
    (lifespan, websockets) straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: the security headers on every response."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
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


class RequestGuard(HttpMiddleware):
    """ASGI middleware: refuse oversize requests (414, 431) and unknown hosts (400)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
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


def create_app(db_path: str | os.PathLike[str], *, places_file: FilePath | None = None) -> FastAPI:
    """The dashboard application over the store at ``db_path`` (opened read-only).

    Building the app opens nothing, and starting it computes nothing: pages read what
    ``locality.views.precompute`` stored at ingest, else compute on request (and cache).
    """
    store = Store(FilePath(db_path), places_file)
    env = _environment()

    app = FastAPI(
        title="locality",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # Swagger UI would load from a CDN; /docs is served below instead
        redoc_url=None,
        default_response_class=JSON,
        responses=GUARD_RESPONSES,
    )
    app.state.store = store
    app.state.env = env
    # Innermost: a response kept for this store state is replayed once the guard let it in.
    app.add_middleware(ResponseCache, stamp=store.stamp)
    app.add_middleware(RequestGuard)
    app.add_middleware(SecurityHeaders)  # outermost: the guard's answers get the headers too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

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
            response = pages.render(
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

    app.include_router(api.router)
    app.include_router(pages.router)
    from locality.web.network import register as register_network

    register_network(app, pages.render)  # /network and /api/network (web/network.py)
    from locality.web.matching import register as register_matching

    register_matching(app, pages.render)  # opportunities, matches (web/matching.py)
    return app


__all__ = ["SECURITY_HEADERS", "SERVER_LIMITS", "create_app"]
