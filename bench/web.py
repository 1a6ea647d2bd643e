"""Dashboard load benchmark: ``locality serve`` on the synthetic corpus, under concurrent load.

1. generate or reuse the synthetic corpus (bench/synth.py; N releases, fixed seed);
2. build, or reuse from ``bench/corpus/web/``, a store of it with ``locality ingest``;
3. start ``locality --db <store> serve`` as a child process on 127.0.0.1 (a free port);
4. find the places to ask for: the combined authorities and the councils of the buyers in
   the store (``/api/metrics?by=place`` and ``?by=locality``), keeping those whose place
   page answers; warm the server (each place page and its API once, and comparisons that
   cover every place), timing those first requests;
5. from a second process (``bench/web.py --drive``), C client threads, each with its own
   keep-alive ``http.client`` connection to 127.0.0.1, send requests for D seconds: the
   place page, ``/api/place/``, the compare page and ``/api/compare``, over random places
   and random sets of 2-4 places;
6. report p50/p95/p99 latency, throughput and errors (any status but 200, or a failed
   connection), overall and per endpoint, against the target: p95 < 200 ms at 20
   clients with no errors. Writes ``bench/results/web-<UTC timestamp>.json``.

The benchmark only talks to 127.0.0.1. The server opens the store read-only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from locality.store.db import connect
from locality.store.schema import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth
from ingest import log, machine_info

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
STORE_DIR = BENCH_DIR / "corpus" / "web"
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"

DEFAULT_CLIENTS = 20
DEFAULT_DURATION = 30.0
TARGET_P95_MS = 200.0
TARGET_CLIENTS = 20
TARGET_SCALE = 1_000_000
KINDS = ("place_page", "place_api", "compare_page", "compare_api")


# --- the store ------------------------------------------------------------------------------


def store_path(n: int, seed: int) -> Path:
    return STORE_DIR / f"store-n{n}-seed{seed}.duckdb"


def _store_meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def expected_store_meta(corpus_meta: dict[str, Any]) -> dict[str, Any]:
    """What a reusable store must have been built from: this corpus, this locality."""
    from importlib.metadata import version

    keys = ("releases", "seed", "source_sha256", "generator_sha256", "bytes")
    return {
        "corpus": {k: corpus_meta.get(k) for k in keys},
        "locality": version("locality"),
        "schema_version": SCHEMA_VERSION,
    }


def ensure_store(
    locality: str, corpus: Path, corpus_meta: dict[str, Any], *, rebuild: bool
) -> tuple[Path, dict[str, Any]]:
    """The store of ``corpus``: reused when its sidecar matches, else built by ``ingest``."""
    n, seed = corpus_meta["releases"], corpus_meta["seed"]
    path = store_path(n, seed)
    meta_path = _store_meta_path(path)
    expected = expected_store_meta(corpus_meta)
    if not rebuild and path.exists() and meta_path.exists():
        meta = orjson.loads(meta_path.read_bytes())
        if all(meta.get(k) == v for k, v in expected.items() if k != "schema_version"):
            if meta.get("schema_version") != SCHEMA_VERSION:
                # Built by an older locality: migrate it (the bench writes, never the server).
                log(f"migrating store {path} to schema version {SCHEMA_VERSION} ...")
                connect(path).close()
                meta["schema_version"] = SCHEMA_VERSION
                meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
            log(f"reusing store {path}")
            return path, {**meta, "reused": True}
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for stale in (path, Path(f"{path}.wal"), partial, Path(f"{partial}.wal"), meta_path):
        stale.unlink(missing_ok=True)
    log(f"building the store of {n:,} releases with locality ingest (minutes for 1M) ...")
    start = time.perf_counter()
    done = subprocess.run(
        [locality, "--db", str(partial), "ingest", str(corpus), "--format", "json"],
        stdout=subprocess.PIPE,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"locality ingest failed (exit {done.returncode})")
    os.replace(partial, path)
    if Path(f"{partial}.wal").exists():
        os.replace(f"{partial}.wal", f"{path}.wal")
    try:
        totals = orjson.loads(done.stdout).get("totals")
    except orjson.JSONDecodeError:
        totals = None
    meta = {**expected, "ingest_seconds": round(seconds, 1), "ingest_totals": totals}
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    log(f"built {path} in {seconds:.0f} s")
    return path, {**meta, "reused": False}


# --- HTTP -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def get(conn: http.client.HTTPConnection, url: str) -> tuple[int, bytes]:
    conn.request("GET", url)
    response = conn.getresponse()
    return response.status, response.read()


def place_url(name: str, api: bool) -> str:
    return f"{'/api' if api else ''}/place/{quote(name, safe='')}"


def compare_url(names: Sequence[str], api: bool) -> str:
    return f"{'/api' if api else ''}/compare?{urlencode([('names', n) for n in names])}"


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 300.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}) before answering")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            status, _ = get(conn, "/api/status")
            conn.close()
            if status == 200:
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def timed(conn: http.client.HTTPConnection, url: str) -> tuple[int, float]:
    start = time.perf_counter()
    status, _ = get(conn, url)
    return status, time.perf_counter() - start


def discover_places(conn: http.client.HTTPConnection, limit: int | None) -> dict[str, Any]:
    """Combined authorities and buyers' councils in the store whose place page answers."""
    found: list[str] = []
    for by in ("place", "locality"):
        status, body = get(conn, f"/api/metrics?by={by}")
        if status != 200:
            raise SystemExit(f"/api/metrics?by={by} gave {status}: {body[:300]!r}")
        for row in orjson.loads(body):
            name = row.get(by)
            if name and (row.get("awards") or 0) > 0 and name not in found:
                found.append(str(name))
    return {"candidates": found[:limit] if limit else found}


def warm(port: int, names: list[str], seed: int) -> dict[str, Any]:
    """First requests: each place page and its API, then comparisons covering every place."""
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    usable: list[str] = []
    first: list[float] = []
    rejected: dict[str, int] = {}
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        status, seconds = timed(conn, place_url(name, api=True))
        if status != 200:
            rejected[name] = status
            continue
        usable.append(name)
        first.append(seconds)
        status, _ = timed(conn, place_url(name, api=False))
        if status != 200:
            raise SystemExit(f"/place/{name} gave {status} after its API gave 200")
        if i % 10 == 0:
            log(f"  warmed {i}/{len(names)} places ({time.perf_counter() - start:.0f} s)")
    rng = random.Random(seed)
    shuffled = usable[:]
    rng.shuffle(shuffled)
    compare_first: list[float] = []
    for i in range(0, len(shuffled), 3):
        group = shuffled[i : i + 3]
        if len(group) < 2:
            group = [*group, shuffled[0]] if group[0] != shuffled[0] else [*group, shuffled[1]]
        for api in (True, False):
            status, seconds = timed(conn, compare_url(group, api))
            if status != 200:
                raise SystemExit(f"{compare_url(group, api)} gave {status}")
            if api:
                compare_first.append(seconds)
    conn.close()
    return {
        "places": usable,
        "rejected": rejected,
        "seconds": round(time.perf_counter() - start, 2),
        "first_place_api_ms": summary(first),
        "first_compare_api_ms": summary(compare_first),
    }


# --- the load: a second process -------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank, of already-sorted values."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    values = sorted(s * 1000 for s in seconds)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {
        "count": len(values),
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "p99": ms(percentile(values, 99)),
        "max": ms(values[-1] if values else None),
        "mean": ms(sum(values) / len(values) if values else None),
    }


def drive(config: dict[str, Any]) -> dict[str, Any]:
    """C threads, each with one keep-alive connection, requesting for D seconds."""
    port, names = config["port"], config["places"]
    deadline_box: list[float] = []
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[dict[str, Any]] = []
    lock = threading.Lock()
    ready = threading.Barrier(config["clients"] + 1)

    def client(index: int) -> None:
        rng = random.Random(config["seed"] * 1000 + index)
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        mine: dict[str, list[float]] = {k: [] for k in KINDS}
        ready.wait()
        deadline = deadline_box[0]
        while time.perf_counter() < deadline:
            kind = rng.choice(KINDS)
            if kind.startswith("place"):
                url = place_url(rng.choice(names), api=kind == "place_api")
            else:
                group = rng.sample(names, rng.randint(2, min(4, len(names))))
                url = compare_url(group, api=kind == "compare_api")
            start = time.perf_counter()
            try:
                status, _ = get(conn, url)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
                status, detail = -1, f"{type(exc).__name__}: {exc}"
            else:
                detail = ""
            elapsed = time.perf_counter() - start
            if status == 200:
                mine[kind].append(elapsed)
            else:
                with lock:
                    errors.append({"url": url, "status": status, "detail": detail})
        conn.close()
        with lock:
            for k, values in mine.items():
                latencies[k].extend(values)

    threads = [
        threading.Thread(target=client, args=(i,), daemon=True) for i in range(config["clients"])
    ]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline_box.append(start + config["duration"])
    ready.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    every = [v for values in latencies.values() for v in values]
    return {
        "clients": config["clients"],
        "duration_seconds": round(wall, 2),
        "requests": len(every) + len(errors),
        "ok": len(every),
        "errors": len(errors),
        "error_examples": errors[:10],
        "throughput_rps": round((len(every) + len(errors)) / wall, 1),
        "latency_ms": summary(every),
        "by_endpoint_ms": {k: summary(v) for k, v in latencies.items()},
    }


def run_load(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--drive"],
        input=json.dumps(config).encode(),
        stdout=subprocess.PIPE,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the load process failed (exit {done.returncode})")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


# --- report ---------------------------------------------------------------------------------


def evaluate(load: dict[str, Any], n: int) -> list[dict[str, Any]]:
    p95 = load["latency_ms"]["p95"]
    return [
        {
            "target": f"p95 < {TARGET_P95_MS:.0f} ms at {TARGET_CLIENTS} clients",
            "value": p95,
            "status": "n/a"
            if load["clients"] != TARGET_CLIENTS or p95 is None
            else ("PASS" if p95 < TARGET_P95_MS else "FAIL"),
            "indicative_only": n < TARGET_SCALE,
        },
        {
            "target": "no errors",
            "value": load["errors"],
            "status": "PASS" if load["errors"] == 0 else "FAIL",
            "indicative_only": n < TARGET_SCALE,
        },
    ]


def print_report(r: dict[str, Any]) -> None:
    load = r["load"]
    lat = load["latency_ms"]
    print(
        f"locality web benchmark  N={r['corpus']['releases']:,}  places={len(r['places'])}  "
        f"clients={load['clients']}  {load['duration_seconds']:.0f} s"
    )
    print(f"  server ready in {r['server']['ready_seconds']:.1f} s")
    warm = r["warm"]
    print(
        f"  warm-up {warm['seconds']:.0f} s: first /api/place p50 "
        f"{warm['first_place_api_ms']['p50']} ms, max {warm['first_place_api_ms']['max']} ms; "
        f"first /api/compare p50 {warm['first_compare_api_ms']['p50']} ms"
    )
    print(
        f"  {load['requests']:,} requests, {load['throughput_rps']:,.1f}/s, "
        f"{load['errors']} errors; latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
        f"p99 {lat['p99']} ms, max {lat['max']} ms"
    )
    for kind, s in load["by_endpoint_ms"].items():
        print(f"    {kind:<13} n={s['count']:>6,}  p50 {s['p50']} ms  p95 {s['p95']} ms")
    for t in r["targets"]:
        note = " (indicative: N < 1M)" if t["indicative_only"] else ""
        print(f"  {t['status']:<4} {t['target']}: {t['value']}{note}")


def write_results(r: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = r["timestamp_utc"].replace("-", "").replace(":", "")
    path = RESULTS_DIR / f"web-{stamp}.json"
    path.write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2) + b"\n")
    return path


# --- main -----------------------------------------------------------------------------------


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=synth.DEFAULT_RELEASES, help="corpus N")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds of load")
    parser.add_argument("--max-places", type=int, help="use at most this many places")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached store")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED, help=argparse.SUPPRESS)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:  # the load process: config on stdin, results on stdout
        sys.stdout.buffer.write(orjson.dumps(drive(json.loads(sys.stdin.read()))))
        return 0

    locality = shutil.which("locality", path=str(BIN_DIR)) or shutil.which("locality")
    if locality is None:
        log("the locality command is not installed (make venv)")
        return 2
    timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    corpus, corpus_meta = synth.ensure_corpus(args.releases, args.seed, log=log)
    store, store_meta = ensure_store(locality, corpus, corpus_meta, rebuild=args.rebuild)

    port = free_port()
    log(f"starting locality serve on {HOST}:{port} ...")
    server_log = STORE_DIR / "serve.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            [locality, "--db", str(store), "serve", "--host", HOST, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ready = wait_ready(port, server)
        log(f"server ready in {ready:.1f} s; finding places ...")
        conn = http.client.HTTPConnection(HOST, port, timeout=600)
        start = time.perf_counter()
        candidates = discover_places(conn, args.max_places)["candidates"]
        discover_seconds = time.perf_counter() - start
        conn.close()
        log(f"{len(candidates)} candidate places ({discover_seconds:.1f} s); warming ...")
        warmed = warm(port, candidates, args.seed)
        names = warmed["places"]
        if len(names) < 2:
            log(f"too few places answer ({names}); rejected: {warmed['rejected']}")
            return 1
        log(
            f"warmed {len(names)} places in {warmed['seconds']:.0f} s; "
            f"{args.clients} clients for {args.duration:.0f} s ..."
        )
        load = run_load(
            {
                "port": port,
                "places": names,
                "clients": args.clients,
                "duration": args.duration,
                "seed": args.seed,
            }
        )
    finally:
        stop(server)

    result = {
        "benchmark": "web",
        "timestamp_utc": timestamp,
        "machine": machine_info(),
        "corpus": {k: v for k, v in corpus_meta.items() if k != "source"},
        "store": {"path": str(store), "bytes": store.stat().st_size, **store_meta},
        "server": {
            "ready_seconds": round(ready, 2),
            "discover_seconds": round(discover_seconds, 2),
        },
        "places": names,
        "warm": {k: v for k, v in warmed.items() if k != "places"},
        "load": load,
        "targets": evaluate(load, corpus_meta["releases"]),
    }
    path = write_results(result)
    print_report(result)
    log(f"results: {path}")
    failed = any(t["status"] == "FAIL" for t in result["targets"])
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
