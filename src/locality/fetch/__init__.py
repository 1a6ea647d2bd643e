"""Keep a store current from the UK's OCDS APIs (Find a Tender, Contracts Finder).

``fetch`` gets a window of releases page by page, paced under the service's limit, saves
every page (so ``locality ingest`` can rebuild offline) and ingests it as it arrives;
``fetch_runs`` in the store records where each fetch stopped. A stage of the sources: it
uses ``locality.ingest.pipeline`` to load each page and ``locality.store`` for its state;
matching spend suppliers to the new organisations (``locality.enrich``) is the caller's
next step, as after ``locality ingest``.
"""

from __future__ import annotations

from typing import Any

from locality.fetch.sources import SOURCES, Source, parse_moment, parse_stages
from locality.fetch.state import FetchRun, last_run, last_runs

# The fetching itself (httpx, the ingest pipeline) is imported on first use, so reading the
# state (`locality status`) stays light.
_LAZY = {
    "FetchError": "locality.fetch.http",
    "FetchProgress": "locality.fetch.run",
    "FetchSummary": "locality.fetch.run",
    "default_download_dir": "locality.fetch.run",
    "fetch": "locality.fetch.run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'locality.fetch' has no attribute {name!r}")


__all__ = [
    "SOURCES",
    "FetchError",
    "FetchProgress",
    "FetchRun",
    "FetchSummary",
    "Source",
    "default_download_dir",
    "fetch",
    "last_run",
    "last_runs",
    "parse_moment",
    "parse_stages",
]
