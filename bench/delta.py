"""Benchmark a daily delta: 5,000 releases into a store of 1M (issue 14, "Update by the day").

1. build (or reuse, ``--base``) a store of the synthetic corpus (``bench/synth.py``);
2. make a delta of ``--delta`` releases: half new processes (``bench/synth.py`` with another
   seed), a quarter new releases of existing processes (an amendment a day later), a
   quarter existing releases published again with other content (same id, a changed
   title and values);
3. copy the store and time ``locality --db COPY ingest DELTA --format json``;
4. check the result equals a full rebuild for every touched process: its compiled release
   equals ``locality compile`` of all its releases, and its rows (processes, awards,
   suppliers, parties, notices, lots, award versions) equal those of a store built from
   those releases alone.

Target: under 10 s on 2 cores, with only the touched processes recompiled. Results go to
``bench/results/delta-<UTC>.json``.

Usage: ``python bench/delta.py [--releases N] [--delta D] [--base STORE] [--tmpdir DIR]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from locality.store.schema import PROCESS_TABLES

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import synth  # noqa: E402
from common import scratch_dir, write_results  # noqa: E402
from ingest import machine_info, run_measured  # noqa: E402

DELTA_SEED = 20261207
TARGET_SECONDS = 10.0
# The tables a process becomes (store.schema.PROCESS_TABLES) are compared for the touched
# processes; their columns that name organisations are compared after the store's aliases,
# since folds into other processes' organisations may differ from a store of the touched
# processes alone.


def log(message: str) -> None:
    print(message, flush=True)


def _locality() -> str:
    found = shutil.which("locality") or str(Path(sys.executable).parent / "locality")
    return found


def _random_lines(corpus: Path, count: int, rng: random.Random) -> list[bytes]:
    """``count`` distinct whole lines at random byte offsets of the corpus."""
    size = corpus.stat().st_size
    seen: set[int] = set()
    lines: list[bytes] = []
    with corpus.open("rb") as handle:
        while len(lines) < count:
            handle.seek(rng.randrange(size))
            handle.readline()  # the rest of a line cut part way
            start = handle.tell()
            line = handle.readline()
            if not line or start in seen:
                continue
            seen.add(start)
            lines.append(line)
    return lines


def _later(value: str, days: int = 1) -> str:
    """An ISO date-time ``days`` later, written as published (offset kept)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(days=days)
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def make_delta(corpus: Path, count: int, out: Path, seed: int = DELTA_SEED) -> dict[str, int]:
    """Write the delta file; how many releases of each kind it holds."""
    rng = random.Random(seed)
    new_count = count // 2
    existing = _random_lines(corpus, count - new_count, rng)
    amended = existing[: len(existing) // 2]
    republished = existing[len(existing) // 2 :]
    lines: list[bytes] = []
    for line in synth.generate(new_count, seed):
        lines.append(line)
    for n, line in enumerate(amended):
        release = orjson.loads(line)
        release["id"] = f"{release['id']}-delta{n}"
        if isinstance(release.get("date"), str):
            release["date"] = _later(release["date"])
        release["tag"] = ["tenderAmendment"]
        tender = release.setdefault("tender", {})
        tender["title"] = f"{tender.get('title') or 'Untitled'} (amended)"
        lines.append(orjson.dumps(release) + b"\n")
    for line in republished:
        release = orjson.loads(line)
        tender = release.setdefault("tender", {})
        tender["title"] = f"{tender.get('title') or 'Untitled'} (corrected)"
        for award in release.get("awards") or []:
            value = award.get("value") if isinstance(award, dict) else None
            if isinstance(value, dict) and isinstance(value.get("amount"), int | float):
                value["amount"] = round(value["amount"] * 1.1, 2)
        lines.append(orjson.dumps(release) + b"\n")
    out.write_bytes(b"".join(lines))
    return {
        "new_process_releases": new_count,
        "new_releases_of_existing_processes": len(amended),
        "changed_releases": len(republished),
    }


def _touched(delta: Path) -> list[str]:
    return sorted({orjson.loads(line)["ocid"] for line in delta.read_bytes().splitlines()})


def _export_touched(db: Path, ocids: list[str], out: Path) -> int:
    """Every stored release of the touched processes, in reading order, as JSON Lines."""
    from locality.ingest.packing import Unpacker

    con = duckdb.connect(str(db), read_only=True)
    try:
        dictionaries = con.execute("SELECT dict_id, data FROM release_dictionaries").fetchall()
        unpacker = Unpacker({int(i): bytes(d) for i, d in dictionaries})
        rows = con.execute(
            """
            SELECT packed, dict_id, data::VARCHAR FROM releases
            WHERE ocid IN (SELECT unnest(?)) ORDER BY seq
            """,
            [ocids],
        ).fetchall()
    finally:
        con.close()
    out.write_bytes(b"".join(unpacker.text(p, d, t).encode() + b"\n" for p, d, t in rows))
    return len(rows)


# Columns that say how an organisation was identified: a fold learnt from processes the
# delta did not touch (a name seen with an identifier elsewhere) rewrites them.
IDENTITY_COLUMNS = ("scheme", "identifier", "identity_method")


def _aliases(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(
            con.execute("SELECT org_id, canonical_org_id FROM organisation_aliases").fetchall()
        )
    finally:
        con.close()


def _rows(
    db: Path, table: str, ocids: list[str], aliases: dict[str, str] | None = None
) -> list[tuple[Any, ...]]:
    """A table's rows for the touched processes, as text. With ``aliases``, org ids are put
    through them and the identity columns left out: the big store folds organisations on
    evidence from processes a store of the touched ones alone never sees."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = [c for (c, *_) in con.execute(f'DESCRIBE "{table}"').fetchall()]
        if aliases is not None:
            columns = [c for c in columns if c not in IDENTITY_COLUMNS]
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        found = con.execute(
            f'SELECT {select} FROM "{table}" WHERE ocid IN (SELECT unnest(?))', [ocids]
        ).fetchall()
    finally:
        con.close()
    org_columns = [i for i, c in enumerate(columns) if c in ("org_id", "buyer_org_id")]
    out = []
    for row in found:
        values = list(row)
        for i in org_columns if aliases else ():
            values[i] = aliases.get(values[i], values[i])
        out.append(tuple("" if v is None else v for v in values))
    return sorted(out)


def verify(db: Path, delta: Path, workdir: Path, locality: str) -> dict[str, Any]:
    """Compare the touched processes with a rebuild from their releases alone."""
    ocids = _touched(delta)
    releases_file = workdir / "touched-releases.jsonl"
    releases = _export_touched(db, ocids, releases_file)
    compiled_file = workdir / "touched-compiled.jsonl"
    subprocess.run(
        [locality, "compile", str(releases_file), "-o", str(compiled_file)],
        check=True,
        capture_output=True,
    )
    expected = {c["ocid"]: c for c in map(orjson.loads, compiled_file.read_bytes().splitlines())}
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = dict(
            con.execute(
                "SELECT ocid, compiled_release FROM processes WHERE ocid IN (SELECT unnest(?))",
                [ocids],
            ).fetchall()
        )
    finally:
        con.close()
    compiled_mismatch = [
        o for o in ocids if o not in stored or orjson.loads(stored[o]) != expected.get(o)
    ]
    rebuild = workdir / "rebuild.duckdb"
    subprocess.run(
        [locality, "--db", str(rebuild), "ingest", str(releases_file), "--format", "json"],
        check=True,
        capture_output=True,
    )
    tables: dict[str, dict[str, int]] = {}
    aliases = _aliases(db)
    for table in PROCESS_TABLES:
        exact = _rows(db, table, ocids) == _rows(rebuild, table, ocids)
        ours = _rows(db, table, ocids, aliases)
        theirs = _rows(rebuild, table, ocids, aliases)
        a, b = set(ours), set(theirs)
        tables[table] = {
            "rows": len(ours),
            "identical": exact,  # False: organisations folded on the rest of the store
            "only_delta": len(a - b),
            "only_rebuild": len(b - a),
        }
    return {
        "touched_processes": len(ocids),
        "releases_of_touched": releases,
        "compiled_equal": len(ocids) - len(compiled_mismatch),
        "compiled_mismatched": compiled_mismatch[:20],
        "tables": tables,
        "equal": not compiled_mismatch
        and all(t["only_delta"] == 0 and t["only_rebuild"] == 0 for t in tables.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=synth.DEFAULT_RELEASES)
    parser.add_argument("--delta", type=int, default=5_000, help="releases in the delta")
    parser.add_argument("--base", type=Path, help="a store of the corpus to reuse (copied)")
    parser.add_argument("--tmpdir", type=Path, help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="also time `locality refresh` of the dashboard's figures after the delta",
    )
    args = parser.parse_args(argv)
    # The ingest is timed alone: `locality ingest` would also store the dashboard's figures
    # (views/precompute.py), a whole-store step timed on its own with --refresh.
    os.environ["LOCALITY_REFRESH"] = "0"
    locality = _locality()
    corpus, meta = synth.ensure_corpus(args.releases, log=log)
    results: dict[str, Any] = {
        "benchmark": "delta",
        "timestamp_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "corpus": {"path": str(corpus), "releases": args.releases, "bytes": meta.get("bytes")},
    }
    with scratch_dir("locality-delta-", args.tmpdir, keep=args.keep, log=log) as tmp:
        base = args.base
        if base is None or not base.exists():
            base = base or tmp / "base.duckdb"
            log(f"building the base store {base} ...")
            results["base_build"] = run_measured(
                "base_build",
                [locality, "--db", base, "ingest", corpus, "--format", "json"],
                tmp,
            )
        delta = tmp / "delta.jsonl"
        results["delta"] = {"releases": args.delta, **make_delta(corpus, args.delta, delta)}
        store = tmp / "store.duckdb"
        log(f"copying {base} ({base.stat().st_size / 1e6:,.0f} MB) ...")
        shutil.copyfile(base, store)
        run = run_measured(
            "delta_ingest", [locality, "--db", store, "ingest", delta, "--format", "json"], tmp
        )
        results["delta_ingest"] = run
        if args.refresh:
            results["delta_refresh"] = run_measured(
                "delta_refresh", [locality, "--db", store, "refresh", "--format", "json"], tmp
            )
            log(f"locality refresh after the delta: {results['delta_refresh']['wall_seconds']} s")
        out = orjson.loads(Path(run["stdout"]).read_bytes() or b"{}")
        totals = out.get("totals", {})
        results["delta_totals"] = {
            k: totals.get(k)
            for k in (
                "new_releases",
                "updated_releases",
                "processes_compiled",
                "releases",
                "processes",
                "seconds",
            )
        }
        log("checking the touched processes against a rebuild ...")
        started = time.perf_counter()
        results["check"] = verify(store, delta, tmp, locality)
        results["check"]["seconds"] = round(time.perf_counter() - started, 1)
        wall = run["wall_seconds"]
        results["target"] = {
            "seconds": wall,
            "required": f"< {TARGET_SECONDS:.0f} s",
            "status": "PASS" if wall < TARGET_SECONDS and results["check"]["equal"] else "FAIL",
        }
        log(
            f"delta of {args.delta:,} releases into {args.releases:,}: {wall:.2f} s wall "
            f"({totals.get('seconds')} s in ingest), {totals.get('processes_compiled')} "
            f"processes recompiled, peak {run['peak_rss_mib']:,.0f} MiB; equal to a rebuild: "
            f"{results['check']['equal']} ({results['check']['tables']})"
        )
        path = write_results("delta", results)
        log(f"results written to {path}")
    return 0 if results.get("target", {}).get("status") == "PASS" else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
