"""What every benchmark shares: where its results go, how they are written, and the
temporary directory of a run."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def scratch_dir(
    prefix: str, parent: Path | None, *, keep: bool, log: Callable[[str], None]
) -> Iterator[Path]:
    """A run's temporary directory (under ``parent``, a benchmark's ``--tmpdir``), removed
    however the run ends unless ``keep`` (``--keep``: its path is logged, to look inside)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    finally:
        if keep:
            log(f"kept temporary files in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
