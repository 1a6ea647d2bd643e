"""Dashboard benchmark: ``locality serve`` from its first request, then under concurrent load.

1. the store: the bundled sample (``--sample``: data/sample/ocds and data/sample/spend) or
   the synthetic corpus of N releases (bench/synth.py, fixed seed), built once with
   ``locality ingest`` (which precomputes the dashboard's figures) into
   ``bench/corpus/web/``, reused while its sidecar matches; a reused store whose figures are
   not current gets ``locality refresh``, timed (``refresh``);
2. ``locality --db <store> serve`` starts as a child process on 127.0.0.1 (a free port);
   readiness is polled on ``/favicon.ico``, which reads nothing, so no figure is computed
   or read before the first requests;
3. first requests, one of each page kind right after start (no warm-up): home, a combined
   authority's and a council's place page and API, a spend page (when the store holds spend
   files), a comparison, a buyer, a supplier, a process (one with red flags) and a search;
4. from a second process (``bench/web.py --drive``), C client threads, each with its own
   keep-alive ``http.client`` connection, send requests for D seconds: the place page,
   ``/api/place/``, the compare page and ``/api/compare``, over random places and random
   sets of 2-4 places; once for each C of ``--clients`` (default 20 and 100);
5. report, against the targets (first request of every page under 1 s; p95 under 200 ms at
   20 clients and under 500 ms at 100; no errors): latency p50/p95/p99, throughput and
   errors (any status but 200, or a failed connection), overall and per endpoint. Writes
   ``bench/results/web-<UTC timestamp>.json``.

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
from common import write_results
from ingest import log, machine_info

BENCH_DIR = Path(__file__).resolve().parent
STORE_DIR = BENCH_DIR / "corpus" / "web"
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"

DEFAULT_CLIENTS = (20, 100)
DEFAULT_DURATION = 30.0
# The targets (issue 15): every page's first request after start, and the load.
TARGET_FIRST_MS = 1000.0
TARGET_P95_MS = {20: 200.0, 100: 500.0}
KINDS = ("place_page", "place_api", "compare_page", "compare_api")
SAMPLE = BENCH_DIR.parent / "data" / "sample"


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


def _run_json(command: list[str]) -> tuple[int, Any, float]:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    try:
        data = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        data = None
    return done.returncode, data, seconds


def ensure_store(
    locality: str, sources: list[Path], corpus_meta: dict[str, Any], path: Path, *, rebuild: bool
) -> tuple[Path, dict[str, Any]]:
    """The store of ``sources``: reused when its sidecar matches (migrated and refreshed
    when it must be), else built by ``locality ingest`` (which refreshes at its end)."""
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
            log(f"reusing store {path}")
            meta["refresh"] = ensure_refreshed(locality, path)
            meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
            return path, {**meta, "reused": True}
    STORE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for stale in (path, Path(f"{path}.wal"), partial, Path(f"{partial}.wal"), meta_path):
        stale.unlink(missing_ok=True)
    log(f"building the store with locality ingest {' '.join(map(str, sources))} ...")
    totals: list[Any] = []
    seconds = 0.0
    for source in sources:  # one ingest per source, as a user would load them
        code, data, took = _run_json(
            [locality, "--db", str(partial), "ingest", str(source), "--format", "json"]
        )
        seconds += took
        if code not in (0, 1) or data is None:  # 1: some records rejected (the sample's)
            raise SystemExit(f"locality ingest {source} failed (exit {code})")
        totals.append(data.get("totals"))
    os.replace(partial, path)
    if Path(f"{partial}.wal").exists():
        os.replace(f"{partial}.wal", f"{path}.wal")
    refreshes = [t.get("dashboard") for t in totals if t and t.get("dashboard")]
    meta = {
        **expected,
        "ingest_seconds": round(seconds, 1),
        "ingest_totals": totals,
        # The refresh each ingest ran at its end (part of ingest_seconds).
        "refresh": {"at_ingest": refreshes},
    }
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    log(f"built {path} in {seconds:.0f} s")
    return path, {**meta, "reused": False}


def ensure_refreshed(locality: str, path: Path) -> dict[str, Any]:
    """``locality refresh`` when the store's figures are not current, timed."""
    code, data, _ = _run_json(
        [locality, "--db", str(path), "refresh", "--check", "--format", "json"]
    )
    if code == 0:
        return {"current": True, "state": (data or {}).get("state")}
    log(f"refreshing the dashboard's figures of {path} ...")
    code, data, seconds = _run_json([locality, "--db", str(path), "refresh", "--format", "json"])
    if code != 0:
        raise SystemExit(f"locality refresh failed (exit {code})")
    return {"current": False, "refreshed": data, "command_seconds": round(seconds, 2)}


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
    """Seconds until the server answers ``/favicon.ico`` (which reads nothing)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}) before answering")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            status, _ = get(conn, "/favicon.ico")
            conn.close()
            if status == 204:
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def timed(conn: http.client.HTTPConnection, url: str) -> tuple[int, float]:
    start = time.perf_counter()
    status, _ = get(conn, url)
    return status, time.perf_counter() - start


def pick(store: Path) -> dict[str, Any]:
    """What the first requests ask for, read from the store before the server starts: the
    buyer and the supplier with most processes, a process with red flags (else any), a
    council with most processes, and whether spend files are loaded."""
    con = connect(store, read_only=True)
    try:

        def one(query: str) -> Any:
            found = con.execute(query).fetchall()
            return found[0][0] if found else None

        return {
            "buyer": one(
                "SELECT buyer_org_id FROM processes WHERE buyer_org_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ),
            "supplier": one(
                "SELECT org_id FROM award_suppliers WHERE org_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ),
            "process": one("SELECT min(ocid) FROM dashboard_flags")
            or one("SELECT min(ocid) FROM processes"),
            "council": one(
                "SELECT o.la_name FROM processes p JOIN organisations o "
                "ON o.org_id = p.buyer_org_id WHERE o.la_name IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
            ),
            "spend_body_council": one(
                "SELECT body_la_registry_code FROM spend_payments "
                "WHERE body_la_registry_code IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ),
        }
    finally:
        con.close()


def first_requests(port: int, chosen: dict[str, Any]) -> dict[str, Any]:
    """One request of each page kind, in this order, right after start (each a new kind of
    figure: nothing asked before could have cached it)."""
    from locality.reference import local_authority

    council = chosen["council"] or "Leeds"
    urls: dict[str, str] = {
        "home": "/",
        "place_page (combined authority)": place_url("West Yorkshire", api=False),
        "place_api (council)": place_url(council, api=True),
        "place_page (council)": place_url(council, api=False),
        "compare_page": compare_url(["Greater Manchester", "York", "Swindon"], api=False),
        "search": "/search?q=council",
    }
    code = chosen.get("spend_body_council")
    spend_council = local_authority(code) if code else None
    if spend_council is not None:
        urls["spend_page"] = place_url(spend_council.nice_name, api=False) + "/spend"
    for kind in ("buyer", "supplier", "process"):
        if chosen.get(kind):
            urls[f"{kind}_page"] = f"/{kind}/{quote(chosen[kind], safe='')}"
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    out: dict[str, Any] = {}
    for kind, url in urls.items():
        status, seconds = timed(conn, url)
        out[kind] = {"url": url, "status": status, "ms": round(seconds * 1000, 1)}
        log(f"  first {kind:<32} {status}  {seconds * 1000:8.1f} ms  {url}")
    conn.close()
    return out


def discover_places(port: int, limit: int | None) -> list[str]:
    """Combined authorities and buyers' councils in the store with counted awards."""
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    found: list[str] = []
    for by in ("place", "locality"):
        status, body = get(conn, f"/api/metrics?by={by}")
        if status != 200:
            raise SystemExit(f"/api/metrics?by={by} gave {status}: {body[:300]!r}")
        for row in orjson.loads(body):
            name = row.get(by)
            if name and name != "unknown" and (row.get("awards") or 0) > 0 and name not in found:
                found.append(str(name))
    conn.close()
    return found[:limit] if limit else found


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


def evaluate(first: dict[str, Any], loads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    slowest = max((f["ms"] for f in first.values()), default=None)
    failed = [k for k, f in first.items() if f["status"] != 200]
    targets = [
        {
            "target": f"first request of every page < {TARGET_FIRST_MS:.0f} ms",
            "value": slowest,
            "status": "PASS"
            if slowest is not None and slowest < TARGET_FIRST_MS and not failed
            else "FAIL",
        }
    ]
    for load in loads:
        p95 = load["latency_ms"]["p95"]
        limit = TARGET_P95_MS.get(load["clients"])
        if limit is not None:
            targets.append(
                {
                    "target": f"p95 < {limit:.0f} ms at {load['clients']} clients",
                    "value": p95,
                    "status": "PASS" if p95 is not None and p95 < limit else "FAIL",
                }
            )
        targets.append(
            {
                "target": f"no errors at {load['clients']} clients",
                "value": load["errors"],
                "status": "PASS" if load["errors"] == 0 else "FAIL",
            }
        )
    return targets


# Issue 14: `locality metrics --by buyer` on a national store in under 2 s, from a cold start.
TARGET_CLI_SECONDS = 2.0
CLI_READS = (
    ["metrics", "--by", "buyer", "--format", "json"],
    ["metrics", "--by", "supplier", "--limit", "20", "--format", "json"],
)


def cli_reads(locality: str, store: Path) -> list[dict[str, Any]]:
    """Each of ``CLI_READS`` as a user runs it: a new process each time (cold), twice."""
    out = []
    for command in CLI_READS:
        for _ in range(2):
            code, _data, seconds = _run_json([locality, "--db", str(store), *command])
            out.append({"command": " ".join(command), "ok": code == 0,
                        "seconds": round(seconds, 2)})  # fmt: skip
            log(f"  locality {' '.join(command)}: {seconds:.2f} s (exit {code})")
    return out


def print_report(r: dict[str, Any]) -> None:
    print(f"locality web benchmark  {r['corpus']['name']}  places={len(r['places'])}")
    print(f"  server ready in {r['server']['ready_seconds']:.1f} s")
    for kind, f in r["first_requests"].items():
        print(f"  first {kind:<32} {f['status']}  {f['ms']:8.1f} ms")
    for load in r["loads"]:
        lat = load["latency_ms"]
        print(
            f"  {load['clients']:>3} clients, {load['duration_seconds']:.0f} s: "
            f"{load['requests']:,} requests, {load['throughput_rps']:,.1f}/s, "
            f"{load['errors']} errors; p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
            f"p99 {lat['p99']} ms, max {lat['max']} ms"
        )
        for kind, s in load["by_endpoint_ms"].items():
            print(f"      {kind:<13} n={s['count']:>6,}  p50 {s['p50']} ms  p95 {s['p95']} ms")
    for t in r["targets"]:
        print(f"  {t['status']:<4} {t['target']}: {t['value']}")


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
    parser.add_argument(
        "--sample", action="store_true", help="the bundled sample (contracts and spend)"
    )
    parser.add_argument(
        "--clients",
        default=",".join(map(str, DEFAULT_CLIENTS)),
        help="concurrent clients, one load run each (comma-separated)",
    )
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
    clients = [int(c) for c in str(args.clients).split(",") if c.strip()]

    locality = shutil.which("locality", path=str(BIN_DIR)) or shutil.which("locality")
    if locality is None:
        log("the locality command is not installed (make venv)")
        return 2
    timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if args.sample:
        sources = [SAMPLE / "ocds", SAMPLE / "spend"]
        corpus_meta: dict[str, Any] = {"name": "bundled sample", "releases": None}
        path = STORE_DIR / "store-sample.duckdb"
    else:
        corpus, corpus_meta = synth.ensure_corpus(args.releases, args.seed, log=log)
        corpus_meta = {**corpus_meta, "name": f"synthetic N={args.releases:,}"}
        sources = [corpus]
        path = store_path(args.releases, args.seed)
    store, store_meta = ensure_store(locality, sources, corpus_meta, path, rebuild=args.rebuild)
    chosen = pick(store)
    cli = cli_reads(locality, store)

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
    loads: list[dict[str, Any]] = []
    try:
        ready = wait_ready(port, server)
        log(f"server ready in {ready:.1f} s; first requests:")
        first = first_requests(port, chosen)
        names = discover_places(port, args.max_places)
        if len(names) < 2:
            log(f"too few places with awards ({names})")
            return 1
        for c in clients:
            log(f"{c} clients for {args.duration:.0f} s over {len(names)} places ...")
            loads.append(
                run_load(
                    {
                        "port": port,
                        "places": names,
                        "clients": c,
                        "duration": args.duration,
                        "seed": args.seed,
                    }
                )
            )
    finally:
        stop(server)

    result = {
        "benchmark": "web",
        "timestamp_utc": timestamp,
        "machine": machine_info(),
        "corpus": {k: v for k, v in corpus_meta.items() if k != "source"},
        "store": {"path": str(store), "bytes": store.stat().st_size, **store_meta},
        "server": {"ready_seconds": round(ready, 2)},
        "chosen": chosen,
        "first_requests": first,
        "cli": cli,
        "places": names,
        "loads": loads,
        "targets": evaluate(first, loads)
        + [
            {
                "target": f"`locality {c['command']}` < {TARGET_CLI_SECONDS:.0f} s (whole command)",
                "value": c["seconds"],
                "status": "PASS" if c["ok"] and c["seconds"] < TARGET_CLI_SECONDS else "FAIL",
            }
            for c in cli
        ],
    }
    path = write_results("web", result)
    print_report(result)
    log(f"results: {path}")
    failed = any(t["status"] == "FAIL" for t in result["targets"])
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
