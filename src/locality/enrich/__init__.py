"""The enrich stage: what the store learns about its organisations after a load.

Council spend suppliers are matched to the organisations of the contract data (company
number, name, then a scored fuzzy match: ``resolve.py``) and classified from the bundled
organisation registers as VCSE or not, with the register and identifier as evidence
(``classify.py``). It reads and writes only the store, after ``locality.ingest`` has loaded
it; ``load`` runs the two stages in order, for the ``locality ingest`` command and for the
Python API.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Unpack

import duckdb

from locality.ingest.pipeline import IngestOptions, IngestSummary, ProgressCallback, ingest
from locality.ingest.spendfile.files import SPEND_SUFFIXES
from locality.store import sql


def _noop(stage: str, name: str, done: int, total: int | None) -> None:
    return None


def enrich(
    con: duckdb.DuckDBPyConnection, *, progress: ProgressCallback = _noop
) -> dict[str, Any] | None:
    """Match spend suppliers again (only names or organisations that are new are scored) and
    classify them from the registers; the resolution's summary, or None when the store holds
    no payments."""
    from locality.enrich.resolve import resolve_suppliers

    if not sql.one(con, "SELECT count(*) > 0 FROM spend_payments")[0]:
        return None
    progress("resolve", "spend suppliers", 0, None)
    return resolve_suppliers(con).as_json()


def _may_hold_spend(paths: Sequence[str | Path], kind: str) -> bool:
    if kind == "spend":
        return True
    if kind == "ocds":
        return False
    return any(Path(p).is_dir() or str(p).lower().endswith(tuple(SPEND_SUFFIXES)) for p in paths)


def load(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path] | Iterable[str | Path],
    **options: Unpack[IngestOptions],
) -> IngestSummary:
    """Ingest files and directories (``locality.ingest.pipeline.ingest``, same options), then
    enrich the store when anything new was loaded. The summary's ``totals`` carry the
    enrich stage's ``supplier_resolution``.

    Example::

        from locality.store.db import connect
        from locality.enrich import load

        load(connect("york.duckdb"), ["data/sample/ocds", "data/sample/spend"])
    """
    given = list(paths)
    prefetch: threading.Thread | None = None
    progress = options.get("progress", _noop)
    if _may_hold_spend(given, options.get("kind", "auto")):
        # The organisation registers the supplier resolution needs, read while the files are
        # (the loading thread mostly waits on workers and DuckDB).
        from locality.enrich.classify import register_index

        prefetch = threading.Thread(target=register_index, daemon=True)
        prefetch.start()
    summary = ingest(con, given, **options)
    # Anything kept (a file broken part way keeps the records before the break) may have
    # brought new payments or organisations to match.
    if any(not f.skipped and (not f.error or f.kept) for f in summary.files):
        if prefetch is not None:
            prefetch.join()
        summary.totals["supplier_resolution"] = enrich(con, progress=progress)
    return summary


__all__ = ["enrich", "load"]
