"""Spend supplier resolution benchmark: re-resolution cost, and the same matches as before.

Run by hand (also a line of ``make bench``)::

    .venv/bin/python bench/resolve.py [--data ../shared/data/spend] [--ocds data/sample/ocds]

1. ingest every spend file under ``--data`` into a temporary store (resolution runs at the
   end, with no organisations yet), then the OCDS files under ``--ocds`` (resolution runs
   again, now against their organisations, registers included): the resolution times and
   counters ``locality ingest`` reports;
2. resolve again with nothing new (what every later ingest of unrelated data costs);
3. the method as it was before fuzzy results were remembered (``reference_matches``: every
   name without a number or exact-name match scored with ``process.extract`` against every
   organisation name), timed, against ``resolve_suppliers(registers=False)`` on the same
   store with its memory cleared, timed cold and then again warm; the two match tables
   must be identical;
4. write bench/results/resolve-<UTC timestamp>.json and print a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_DATA = REPO_DIR.parent / "shared" / "data" / "spend"
DEFAULT_OCDS = REPO_DIR / "data" / "sample" / "ocds"

MatchRow = tuple[Any, ...]


def reference_matches(con: Any) -> list[MatchRow]:
    """Spend supplier matches by the method before remembering: numbers, exact names, then
    ``_fuzzy`` (rapidfuzz ``process.extract``) for every other named supplier. No registers,
    no earlier fuzzy matches kept (the store's table is ignored)."""
    from locality.enrich import resolve
    from locality.store import sql

    keys = sql.rows(
        con,
        f"""
        SELECT DISTINCT {", ".join(resolve.KEY)} FROM spend_payments
        WHERE NOT redacted AND (supplier_name_normalised IS NOT NULL
              OR company_number IS NOT NULL OR charity_number IS NOT NULL)
        """,
    )
    by_number, by_name = resolve._organisations(con)
    choices = list(by_name)
    rows: list[MatchRow] = []
    for name, company, charity in keys:
        found = resolve._known_match((name, company, charity), by_number, by_name, None)
        if found is not None:
            org, method, _ = found
            rows.append((name, company, charity, org.org_id, method, 100.0, org.name))
        elif name:
            best = resolve._fuzzy(name, choices, by_name, company, resolve.FUZZY_CUTOFF)
            if best is not None:
                org, score = best
                rows.append((name, company, charity, org.org_id, "fuzzy", score, org.name))
    return sorted(rows, key=repr)


def stored_matches(con: Any) -> list[MatchRow]:
    from locality.enrich.resolve import KEY
    from locality.store import sql

    columns = ", ".join((*KEY, "org_id", "method", "score", "matched_name"))
    rows = sql.rows(con, f"SELECT {columns} FROM spend_supplier_matches")
    return sorted(rows, key=repr)


def _timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ocds", type=Path, default=DEFAULT_OCDS)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data}: no such spend data (pass --data FOLDER)")
    sys.path.insert(0, str(REPO_DIR / "src"))
    from locality.enrich.resolve import resolve_suppliers
    from locality.ingest.pipeline import ingest
    from locality.store import sql
    from locality.store.db import connect

    with tempfile.TemporaryDirectory(prefix="locality-resolve-bench-") as tmp:
        db = Path(tmp) / "resolve.duckdb"
        con = connect(db)
        spend = ingest(con, [args.data])
        after_spend = spend.totals.get("supplier_resolution") or {}
        after_ocds = ingest(con, [args.ocds]).totals.get("supplier_resolution") or {}
        rerun, rerun_seconds = _timed(resolve_suppliers, con)
        organisations = sql.one(con, "SELECT count(*) FROM organisations")[0]
        con.close()

        # The comparison runs on a copy, without registers, from no memory at all.
        copy = Path(tmp) / "compare.duckdb"
        shutil.copy(db, copy)
        con = connect(copy)
        reference, reference_seconds = _timed(reference_matches, con)
        for table in ("spend_supplier_matches", "spend_fuzzy_unmatched", "spend_fuzzy_choices"):
            sql.run(con, f"DELETE FROM {table}")
        cold, cold_seconds = _timed(resolve_suppliers, con, registers=False)
        new = stored_matches(con)
        warm, warm_seconds = _timed(resolve_suppliers, con, registers=False)
        con.close()

    only_reference = [row for row in reference if row not in set(new)]
    only_new = [row for row in new if row not in set(reference)]
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "data": str(args.data),
        "ocds": str(args.ocds),
        "suppliers": rerun.suppliers,
        "organisations": organisations,
        "ingest_resolution": {"after_spend": after_spend, "after_ocds": after_ocds},
        "rerun_without_new_data": {**rerun.as_json(), "wall_seconds": round(rerun_seconds, 3)},
        "comparison": {
            "reference_seconds": round(reference_seconds, 3),
            "new_cold_seconds": round(cold_seconds, 3),
            "new_warm_seconds": round(warm_seconds, 3),
            "new_cold": cold.as_json(),
            "new_warm": warm.as_json(),
            "matches": len(new),
            "identical": reference == new,
            "only_reference": [list(r) for r in only_reference[:10]],
            "only_new": [list(r) for r in only_new[:10]],
        },
    }
    out = write_results("resolve", result)
    c = result["comparison"]
    print(
        f"{result['suppliers']:,} spend suppliers, {organisations:,} organisations: "
        f"resolution after the OCDS ingest {after_ocds.get('seconds')}s "
        f"(scored {after_ocds.get('fuzzy_scored')}, "
        f"rechecked {after_ocds.get('fuzzy_rechecked')}), "
        f"again with nothing new {rerun_seconds:.2f}s (scored {rerun.fuzzy.scored})"
    )
    print(
        f"before (every name scored): {c['reference_seconds']:.2f}s; now, from no memory: "
        f"{c['new_cold_seconds']:.2f}s, then {c['new_warm_seconds']:.2f}s; "
        f"{c['matches']:,} matches, identical: {c['identical']}"
    )
    print(f"results: {out}")
    if not c["identical"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
