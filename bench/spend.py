"""Council spend benchmark: locality's spend ingest against pandas, and `locality place`.

Run by hand (also the last line of ``make bench``)::

    .venv/bin/python bench/spend.py [--data ../shared/data/spend]

1. ingest every spend file under ``--data`` into a fresh temporary store (the library's
   ``ingest``, in process, supplier resolution included), three times, and report the
   median: rows read per second (target 200,000), also before the supplier resolution;
2. the baseline a council analyst would write, on the same files: detect the encoding
   (UTF-8, else Windows-1252), ``pandas.read_csv`` from the header line the reader found,
   and parse the amount column (``£``, thousands commas, ``(1,234.50)``, trailing minus);
3. load the bundled OCDS sample (untimed) and time the whole-place view of
   "West Yorkshire" in the library (best of 5) and as a command (target under 1 s);
4. print the ratios and write bench/results/spend-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_DATA = REPO_DIR.parent / "shared" / "data" / "spend"
TARGET_ROWS_PER_SECOND = 200_000
TARGET_PLACE_SECONDS = 1.0
PLACE = "West Yorkshire"
RUNS = 3

# The analyst's amount column: the first header matching, in this order.
_AMOUNT_HEADERS = [
    re.compile(p, re.I)
    for p in (r"^net\s*amount", r"^net$", r"amount", r"^value", r"^total", r"gross")
]


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _parse_amounts(column: Any) -> Any:
    import pandas as pd

    text = column.fillna("").astype(str).str.strip()
    negative = text.str.startswith("(") | text.str.endswith("-") | text.str.startswith("-")
    cleaned = text.str.replace(r"[£,()\s-]", "", regex=True)
    values = pd.to_numeric(cleaned, errors="coerce")
    return values.where(~negative, -values)


def pandas_baseline(files: list[tuple[Path, int]]) -> dict[str, Any]:
    """Read each file as an analyst would, from its header line; parse the amounts."""
    import pandas as pd

    started = time.perf_counter()
    rows = 0
    total = 0.0
    for path, header_line in files:
        text = _decode(_read_bytes(path))
        lines = text.splitlines()
        header = next(csv.reader([lines[header_line - 1]])) if header_line else []
        amount_at = next(
            (
                i
                for pattern in _AMOUNT_HEADERS
                for i, name in enumerate(header)
                if pattern.search(name.strip())
            ),
            None,
        )
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=header_line,
            names=list(range(max(len(header), 1) + 16)),
            dtype=str,
            skip_blank_lines=True,
        )
        rows += len(frame)
        if amount_at is not None:
            total += float(_parse_amounts(frame[amount_at]).sum())
    return {"seconds": time.perf_counter() - started, "rows": rows, "amount_sum": round(total, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_DIR / "src"))
    from locality.domain.places import load_places, resolve
    from locality.ingest.pipeline import ingest
    from locality.spend.place import place_view
    from locality.store.db import connect

    with tempfile.TemporaryDirectory(prefix="locality-spend-bench-") as tmp:
        # The ingest into a fresh store, RUNS times (timings on 2 shared cores vary by
        # 10-15%): the median is reported, every run kept.
        runs = []
        for run in range(RUNS):
            db = Path(tmp) / f"spend-{run}.duckdb"
            con = connect(db)
            started = time.perf_counter()
            summary = ingest(con, [args.data], kind="auto")
            seconds = time.perf_counter() - started
            resolution = summary.totals.get("supplier_resolution") or {}
            runs.append((seconds, float(resolution.get("seconds") or 0.0)))
            if run < RUNS - 1:
                con.close()
        ingest_seconds = statistics.median(seconds for seconds, _ in runs)
        resolve_seconds = statistics.median(resolve for _, resolve in runs)
        loaded = [f for f in summary.files if f.kind == "spend" and not f.skipped and not f.error]
        rows_read = sum(f.records_read for f in loaded)
        kept = sum(f.kept for f in loaded)
        # Contracts for the place view (untimed); its ingest resolves the suppliers again.
        after_ocds = ingest(con, [REPO_DIR / "data" / "sample" / "ocds"])
        con.close()

        baseline = pandas_baseline([(Path(f.file), f.header_line or 1) for f in loaded])

        con = connect(db, read_only=True)
        place = resolve(PLACE, load_places(None))
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            view = place_view(con, place)
            timings.append(time.perf_counter() - t)
        con.close()
        t = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "locality"),
                "--db",
                str(db),
                "place",
                PLACE,
                "--format",
                "json",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        command_seconds = time.perf_counter() - t

    rate = rows_read / ingest_seconds if ingest_seconds else 0.0
    load_rate = rows_read / (ingest_seconds - resolve_seconds) if ingest_seconds else 0.0
    baseline_rate = baseline["rows"] / baseline["seconds"] if baseline["seconds"] else 0.0
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "data": str(args.data),
        "files": len(loaded),
        "ingest": {
            "seconds": round(ingest_seconds, 3),
            "rows_read": rows_read,
            "kept": kept,
            "runs_seconds": [round(seconds, 3) for seconds, _ in runs],
            "supplier_resolution_seconds": round(resolve_seconds, 3),
            "rows_per_second": round(rate),
            "rows_per_second_before_supplier_resolution": round(load_rate),
            "target_rows_per_second": TARGET_ROWS_PER_SECOND,
            "meets_target": rate >= TARGET_ROWS_PER_SECOND,
            "total_amount": round(sum(f.total_amount or 0 for f in loaded), 2),
            "supplier_resolution": resolution,
            "supplier_resolution_after_ocds": after_ocds.totals.get("supplier_resolution"),
        },
        "pandas_baseline": {
            **baseline,
            "rows_per_second": round(baseline_rate),
            "locality_vs_pandas": round(rate / baseline_rate, 2) if baseline_rate else None,
        },
        "place": {
            "name": PLACE,
            "bodies": [b["code"] for b in view["bodies"]],
            # How much of the place's spend the theme rules place in a contract theme.
            "theme_mapped_share": round(
                1.0
                - sum(
                    t["share_of_total"] or 0.0 for t in view["themes"] if t["theme"] == "unmapped"
                ),
                4,
            ),
            "vcse_share": view["shares"]["vcse_share"],
            "known_vcse_coverage": view["shares"]["known_vcse_coverage"],
            "library_seconds_best_of_5": round(min(timings), 3),
            "command_seconds": round(command_seconds, 3),
            "target_seconds": TARGET_PLACE_SECONDS,
            "meets_target": min(timings) < TARGET_PLACE_SECONDS,
        },
    }
    out = write_results("spend", result)
    i, b, p = result["ingest"], result["pandas_baseline"], result["place"]
    print(
        f"ingest: {i['rows_read']:,} rows from {len(loaded)} files in {i['seconds']:.2f}s "
        f"(median of {RUNS}) = {i['rows_per_second']:,} rows/s (target "
        f"{TARGET_ROWS_PER_SECOND:,}: {'met' if i['meets_target'] else 'NOT met'}); "
        f"{i['rows_per_second_before_supplier_resolution']:,} rows/s before the supplier "
        f"resolution ({i['supplier_resolution_seconds']:.2f}s)"
    )
    print(
        f"pandas baseline: {b['rows']:,} rows in {b['seconds']:.2f}s = "
        f"{b['rows_per_second']:,} rows/s; locality/pandas = {b['locality_vs_pandas']}x"
    )
    print(
        f"place {PLACE!r}: library {p['library_seconds_best_of_5']:.3f}s, command "
        f"{p['command_seconds']:.3f}s (target < {TARGET_PLACE_SECONDS}s: "
        f"{'met' if p['meets_target'] else 'NOT met'}); {p['theme_mapped_share']:.1%} of its "
        "spend has a theme"
    )
    print(f"wrote {out.relative_to(REPO_DIR)}")


if __name__ == "__main__":
    main()
