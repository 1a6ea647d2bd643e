"""Warm start: fill the dashboard's cache in the background when the server starts.

The first request for a figure pays for computing it: at 1M releases the red-flag index
takes about 19 s and each place about 2 s. ``Warmer`` computes, in one daemon thread, what
the first visitors are likely to ask for, in this order:

1. the home page (what the store holds, combined authorities, councils);
2. the red-flag index (by buyer and by process), when the flags module is present;
3. each place with data (combined authorities and councils with counted awards, most
   awards first, then places with spend files only): its place page, and its spend page
   when the store holds spend for it;
4. the same places' rows of the comparison page.

It never gets in the way: start-up does not wait for it; it computes outside the store's
computing slots (so a request never waits for a slot it holds, and a request for what it
is computing waits for that result instead of computing it again); before each item it
gives way to the requests in flight (waiting up to ``pause`` seconds for them); and each
item opens its own read-only connection and closes it, so no connection is held between
items (while an item computes, its connection is open, as a request's is: a writer such as
``locality ingest`` cannot open the store then). ``stop()`` (at server shutdown) interrupts
the query running and ends the thread. Errors are logged and skipped; if the store cannot
be opened, warming stops.

On the 1M-release synthetic store (2 cores; measured once by hand, `bench/web.py` does not
time warming) warming takes about 6 minutes (86 places);
once done, the home page, every place page and comparison answer in milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from locality.store.db import StoreError
from locality.views import queries
from locality.views.queries import Session, Store

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised inside the warming thread when ``stop()`` was called."""


class Warmer:
    """The background warming of one store's cache (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        pause: float = 1.0,
        compare: bool = True,
        max_places: int | None = None,
    ) -> None:
        self.store = store
        self.pause = pause  # longest wait for requests in flight before each item (seconds)
        self.compare = compare  # warm the comparison rows too
        self.max_places = max_places  # only the first N places (None: every place with data)
        self.places: list[str] = []  # the places warmed, in order, once known
        self.warmed = 0  # items computed or found in the cache
        self.failed = 0  # items that raised (logged)
        self.seconds: float | None = None  # how long the whole warming took, once done
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Session | None = None
        self._lock = threading.Lock()

    # --- control ------------------------------------------------------------------------

    def start(self) -> None:
        """Start warming in a daemon thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="locality-warm", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop warming: interrupt the query running, wait up to ``timeout`` seconds."""
        self._stop.set()
        with self._lock:
            current = self._current
            thread = self._thread
        if current is not None:
            current.interrupt()
        if thread is not None:
            thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for warming to end (finished, stopped or failed); True if it has."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # --- the work -----------------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self._warm()
        except _Stopped:
            log.info("warming stopped after %d items", self.warmed)
        except StoreError as exc:
            log.warning("warming stopped: %s", exc)
        except Exception:  # pragma: no cover - a bug; requests still compute what they need
            log.exception("warming failed")
        else:
            log.info(
                "warmed %d items in %.1f s (%d failed)",
                self.warmed,
                time.monotonic() - started,
                self.failed,
            )
        finally:
            self.seconds = time.monotonic() - started
            self._done.set()

    def _warm(self) -> None:
        self._item("home", queries.home)
        if queries.flags_available():
            self._item("flags by buyer", _flags_by_buyer)
            self._item("flags by process", _flags_by_process)
        names: list[str] = self._item("places", queries.places_with_data) or []
        self.places = names = names[: self.max_places]
        for name in names:
            page = self._item(f"place {name}", partial(_place_page, name=name))
            if page and page.get("spend_bodies"):
                self._item(f"spend {name}", partial(_spend_page, name=name))
        if self.compare:
            for name in names:
                self._item(f"compare row {name}", partial(_compare_row, name=name))

    def _item(self, what: str, compute: Callable[[Session], Any]) -> Any:
        """``compute`` in a background session of its own, after giving way to requests."""
        self._give_way()
        session = self.store.session(background=True)
        with self._lock:
            if self._stop.is_set():  # stop() has looked for a query to interrupt already
                raise _Stopped
            self._current = session
        log.debug("warming %s", what)
        try:
            result = compute(session)
        except StoreError:
            raise
        except Exception as exc:  # duckdb.InterruptException after stop(), or a failure
            if self._stop.is_set():
                raise _Stopped from exc
            self.failed += 1
            log.warning("warming %s failed: %s: %s", what, type(exc).__name__, exc)
            return None
        finally:
            with self._lock:
                self._current = None
            session.close()
        self.warmed += 1
        return result

    def _give_way(self) -> None:
        """Wait (up to ``pause`` seconds) while requests are in flight; raise if stopped."""
        deadline = time.monotonic() + self.pause
        while self.store.active > 0 and time.monotonic() < deadline:
            if self._stop.wait(0.02):
                break
        if self._stop.is_set():
            raise _Stopped


# What each item computes: the same calls as the pages' and the API's routes.


def _flags_by_buyer(s: Session) -> Any:
    return queries._flags_by(s, "buyer_id")


def _flags_by_process(s: Session) -> Any:
    return queries._flags_by(s, "ocid")


def _place_page(s: Session, *, name: str) -> dict[str, Any]:
    return queries.place_page(s, name)


def _spend_page(s: Session, *, name: str) -> dict[str, str]:
    # The spend page: the view, and which of its top suppliers have a page to link to.
    return queries.spend_links(s, queries.spend_page(s, name))


def _compare_row(s: Session, *, name: str) -> dict[str, Any]:
    return queries.compare_row(s, name, queries.place(s, name))


__all__ = ["Warmer"]
