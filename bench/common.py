"""What every benchmark shares: where its results go, and how they are written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(benchmark: str, result: dict[str, Any], *, latest: bool = False) -> Path:
    """Write ``bench/results/<benchmark>-<UTC timestamp>.json`` (the run's own
    ``timestamp_utc`` when it has one, else now) and return its path; with ``latest``, also
    ``<benchmark>-latest.json``."""
    started = result.get("timestamp_utc")
    stamp = (
        started.replace("-", "").replace(":", "")
        if isinstance(started, str)
        else dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}-{stamp}.json"
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
    path.write_bytes(data)
    if latest:
        (RESULTS_DIR / f"{benchmark}-latest.json").write_bytes(data)
    return path
