"""Whole responses kept per store state, so a page asked for again is not rendered again.

The figures behind a page are precomputed at ingest (``locality.views.precompute``) and
cached per store state (``views.queries.Store``); what is left of a request is rendering
them (Jinja2 for a page, JSON for the API), a few milliseconds of the one core the server
runs on, which under 100 clients is most of the wait. ``ResponseCache`` keeps the bytes of
successful GET and HEAD responses, keyed by the request target and the store's stamp (size
and modification time of the file and its write-ahead log, as the figures' cache), so a
new ingest is seen at once; least recently used first out, within ``max_bytes``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Responses larger than this are not kept (a page of a store's whole flag index, CSVs).
MAX_RESPONSE_BYTES = 2 << 20


class ResponseCache:
    """ASGI middleware: replay the responses of GET/HEAD requests answered 200 before, for
    the same store state."""

    def __init__(
        self, app: ASGIApp, *, stamp: Callable[[], tuple[int, ...]], max_bytes: int = 64 << 20
    ) -> None:
        self.app = app
        self.stamp = stamp
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self._entries: OrderedDict[tuple[object, ...], tuple[Message, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/static/"):  # files: served from disk, already cheap
            await self.app(scope, receive, send)
            return
        key = (self.stamp(), scope["method"], scope.get("raw_path") or path, scope["query_string"])
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if found is not None:
            start, body = found
            await send({**start, "headers": list(start["headers"])})
            await send({"type": "http.response.body", "body": body})
            return
        start_message: Message | None = None
        chunks: list[bytes] = []
        keep = True

        async def capture(message: Message) -> None:
            nonlocal start_message, keep
            if message["type"] == "http.response.start":
                start_message = message
                keep = message["status"] == 200
            elif message["type"] == "http.response.body" and keep:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > MAX_RESPONSE_BYTES:
                    keep = False
                    chunks.clear()
                if not message.get("more_body", False) and keep and start_message is not None:
                    self._put(key, start_message, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)

    def _put(self, key: tuple[object, ...], start: Message, body: bytes) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = ({**start, "headers": list(start["headers"])}, body)
            self.size += len(body)
            while self.size > self.max_bytes and self._entries:
                _, (_, old) = self._entries.popitem(last=False)
                self.size -= len(old)


__all__ = ["ResponseCache"]
