"""Polite HTTP for the procurement APIs: paced requests, ``Retry-After`` honoured, backoff
with jitter on 429, 5xx and network errors, and a page read whole or not at all.

The clock, the sleep and the random source are parameters so tests run the real schedule
in simulated time (no test sleeps).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

Clock = Callable[[], float]
Sleep = Callable[[float], None]
# wait(seconds, reason): told before every pause, so a progress display can say why.
WaitCallback = Callable[[float, str], None]

# Exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
# BACKOFF_BASE * 2^(attempt-1), at most BACKOFF_CAP, each wait drawn in its upper half so
# retries from many clients spread out but never come back at once.
BACKOFF_BASE = 10.0
BACKOFF_CAP = 300.0
MAX_ATTEMPTS = 8
# A Retry-After beyond this is a service saying "not today": give up rather than hang.
RETRY_AFTER_CAP = 3600.0
REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


class FetchError(RuntimeError):
    """A page could not be had; the message names the URL and what to do."""


@dataclass
class Page:
    """One page as the API sent it: its exact bytes, its releases and its next link."""

    url: str
    body: bytes
    releases: list[Any]
    next_url: str | None
    attempts: int


class Pacer:
    """At most one request every ``interval`` seconds (measured start to start)."""

    def __init__(self, interval: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self, on_wait: WaitCallback | None = None) -> None:
        if self._last is not None:
            gap = self.interval - (self.clock() - self._last)
            if gap > 0:
                if on_wait is not None:
                    on_wait(gap, "pacing")
                self.sleep(gap)
        self._last = self.clock()


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or an
    HTTP date), or None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, rng: random.Random) -> float:
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return delay / 2 + rng.random() * delay / 2


def read_page(url: str, body: bytes) -> tuple[list[Any], str | None]:
    """The releases and next link of a release package; ValueError when the body is not one
    (cut short, an HTML error page)."""
    try:
        package = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not whole JSON ({len(body):,} bytes: {exc})") from exc
    if not isinstance(package, dict) or not isinstance(package.get("releases"), list):
        raise ValueError("the body is not an OCDS release package (no 'releases' list)")
    links = package.get("links")
    next_url = links.get("next") if isinstance(links, dict) else None
    if next_url is not None and not isinstance(next_url, str):
        raise ValueError("links.next is not a URL")
    return package["releases"], str(httpx.URL(url).join(next_url)) if next_url else None


class PageClient:
    """Gets pages: paced, retried, each read whole."""

    def __init__(
        self,
        client: httpx.Client,
        pacer: Pacer,
        *,
        rng: random.Random | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        on_wait: WaitCallback | None = None,
    ):
        self.client = client
        self.pacer = pacer
        self.rng = rng or random.Random()
        self.max_attempts = max_attempts
        self.on_wait = on_wait
        self.requests = 0
        self.retries = 0

    def _pause(self, seconds: float, reason: str) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds, reason)
        # The next request still keeps the pace: it waits for whichever ends later.
        self.pacer.sleep(seconds)

    def get(self, url: str) -> Page:
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            self.pacer.wait(self.on_wait)
            self.requests += 1
            try:
                response = self.client.get(url)
            except httpx.TransportError as exc:  # refused, reset, dropped mid-body, timeout
                problem = f"network error: {type(exc).__name__}: {exc}"
                wait = backoff(attempt, self.rng)
            else:
                status = response.status_code
                if status == 200:
                    try:
                        releases, next_url = read_page(url, response.content)
                    except ValueError as exc:
                        problem = str(exc)
                        wait = backoff(attempt, self.rng)
                    else:
                        return Page(url, response.content, releases, next_url, attempt)
                elif status == 429 or status >= 500:
                    problem = f"HTTP {status}"
                    asked = retry_after(response.headers.get("Retry-After"))
                    if asked is not None and asked > RETRY_AFTER_CAP:
                        raise FetchError(
                            f"{url}: HTTP {status}, the service asks to wait {asked:,.0f} s; "
                            "run the same command later to carry on"
                        )
                    wait = asked if asked is not None else backoff(attempt, self.rng)
                    if asked is not None:
                        problem += f", Retry-After {asked:g} s"
                else:
                    raise FetchError(
                        f"{url}: HTTP {status} {response.reason_phrase}: "
                        f"{response.text[:200].strip()!r}; check --base-url, --since and --until"
                    )
            if attempt == self.max_attempts:
                break
            self.retries += 1
            self._pause(wait, problem)
        raise FetchError(
            f"{url}: gave up after {self.max_attempts} attempts (last: {problem}); "
            "what was fetched is kept: run the same command again to carry on"
        )
