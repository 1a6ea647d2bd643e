"""Ingest and compile benchmark: locality against ocdskit on a synthetic corpus.

Run with ``make bench`` (= ``.venv/bin/python bench/ingest.py``). See bench/README.md.

Steps:

1. generate or reuse the synthetic corpus (bench/synth.py; N releases, fixed seed);
2. time ``locality --db <tmp>/bench.duckdb ingest <corpus> --format json``;
3. time ``locality compile <corpus> -o <tmp>/locality-compiled.jsonl``;
4. cut a prefix subset of whole OCIDs (``--ocdskit-subset``), and time
   ``ocdskit compile --schema <release-schema.json>`` and ``locality compile`` on it;
5. compare both compiled outputs on the subset, release by release, keyed by OCID;
6. print a table with the targets, and write bench/results/ingest-<UTC>.json and
   bench/results/ingest-latest.json.

Each command runs as a child process. Wall time is measured around it. Peak memory is
the larger of the command's exact peak RSS (from GNU time's %M, the largest process) and
the sampled sum of RSS over the command's whole process tree (every 50 ms, from /proc).
See ``run_measured``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth
from common import RESULTS_DIR, scratch_dir, write_results

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

SCHEMA = REPO_DIR / "src" / "locality" / "reference" / "ocds" / "release-schema.json"
BIN_DIR = Path(sys.executable).parent

DEFAULT_OCDSKIT_SUBSET = 50_000
# Issue 14's targets (1M releases, 2 cores): ingest 6x and compile 10x `ocdskit compile`,
# the process tree under 1.5 GB, the store at most 40% of the input's size.
TARGET_INGEST_RATE = 25_000  # releases/s, end to end (about 6x ocdskit on 2 cores)
TARGET_INGEST_VS_OCDSKIT = 6.0
TARGET_COMPILE_VS_OCDSKIT = 10.0
TARGET_PEAK_MIB = 1536  # for N = 1,000,000
TARGET_STORE_SHARE = 0.40  # store file bytes / corpus bytes
TARGET_SCALE = 1_000_000
SAMPLE_SECONDS = 0.05


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- measuring child processes ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, or zeros if it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return rss, hwm


class _TreeSampler(threading.Thread):
    """Sample the memory of a process and all its descendants until stopped.

    Records the peak of the summed RSS of the tree (shared pages count once per
    process, so this errs high for forked workers) and the largest per-process VmHWM.
    With ``skip_root`` the root (a /usr/bin/time wrapper) is left out of both.
    """

    def __init__(
        self,
        pid: int,
        *,
        skip_root: bool = False,
        limit_kib: int | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.skip_root = skip_root
        self.limit_kib = limit_kib
        self.deadline = deadline
        self.killed: str | None = None
        self.tree_peak_kib = 0
        self.hwm_peak_kib = 0
        self.max_processes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                pids.append(pid)
                todo.extend(_children(pid))
            if self.skip_root:
                pids = pids[1:]
            total = 0
            for pid in pids:
                rss, hwm = _memory_kib(pid)
                total += rss
                self.hwm_peak_kib = max(self.hwm_peak_kib, hwm)
            self.tree_peak_kib = max(self.tree_peak_kib, total)
            self.max_processes = max(self.max_processes, len(pids))
            if self.killed is None and self.limit_kib and total > self.limit_kib:
                self.kill(f"memory limit: tree RSS {total // 1024:,} MiB")
            if self.killed is None and self.deadline and time.monotonic() > self.deadline:
                self.kill("timeout")
            self.stop.wait(SAMPLE_SECONDS)

    def kill(self, reason: str) -> None:
        """Kill the command's process group (it was started in a session of its own)."""
        self.killed = reason
        log(f"killing process group {self.pid}: {reason}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


def _gnu_time() -> str | None:
    """Path of GNU time, whose %M is the exact peak RSS of the command (largest process)."""
    path = "/usr/bin/time"
    if not os.access(path, os.X_OK):
        return None
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return path if "GNU" in proc.stdout + proc.stderr else None


GNU_TIME = _gnu_time()


def run_measured(
    name: str,
    cmd: list[Any],
    workdir: Path,
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    max_rss_mib: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` and return its wall time, CPU time, peak memory and exit code.

    stdout goes to ``stdout`` (or ``<workdir>/<name>.stdout``), stderr to
    ``<workdir>/<name>.stderr``; files, not pipes, so nothing has to be drained.

    Peak memory: ``os.wait4``'s ru_maxrss cannot be used alone, because Python starts
    children with vfork, so the exec'd child's ru_maxrss starts at this process's own
    high-water mark. GNU time (if present) wraps the command and reports the command's
    exact ru_maxrss; a sampler also follows the whole process tree through /proc. The
    peak is the larger of GNU time's figure (or the sampled per-process VmHWM without
    GNU time) and the sampled sum of RSS over the tree.

    The command runs in a new session. Its process group is killed if the sampled tree
    RSS goes over ``max_rss_mib`` or it runs longer than ``timeout`` seconds.
    """
    cmd = [str(c) for c in cmd]
    out_path = stdout or workdir / f"{name}.stdout"
    err_path = workdir / f"{name}.stderr"
    time_path = workdir / f"{name}.maxrss"
    full = [GNU_TIME, "-f", "%M", "-o", str(time_path), *cmd] if GNU_TIME else cmd
    log(f"[{name}] {' '.join(cmd)}" + (f" < {stdin}" if stdin else ""))
    with contextlib.ExitStack() as stack:
        fin = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        fout = stack.enter_context(out_path.open("wb"))
        ferr = stack.enter_context(err_path.open("wb"))
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdin=fin, stdout=fout, stderr=ferr, start_new_session=True)
        sampler = _TreeSampler(
            proc.pid,
            skip_root=GNU_TIME is not None,
            limit_kib=max_rss_mib * 1024 if max_rss_mib else None,
            deadline=time.monotonic() + timeout if timeout else None,
        )
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            sampler.stop.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - start
        # Popen must not wait again (the child is reaped); record the status ourselves.
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
    time_kib = _read_gnu_time(time_path) if GNU_TIME else None
    largest_kib = time_kib if time_kib is not None else sampler.hwm_peak_kib
    peak_kib = max(largest_kib, sampler.tree_peak_kib)
    result = {
        "command": cmd,
        "stdin": str(stdin) if stdin else None,
        "returncode": proc.returncode,
        "killed": sampler.killed,
        "wall_seconds": round(wall, 4),
        # A killed GNU time wrapper cannot collect its child's CPU time.
        "user_seconds": None if sampler.killed else round(usage.ru_utime, 3),
        "system_seconds": None if sampler.killed else round(usage.ru_stime, 3),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "gnu_time_maxrss_mib": None if time_kib is None else round(time_kib / 1024, 1),
        "sampled_largest_vmhwm_mib": round(sampler.hwm_peak_kib / 1024, 1),
        "sampled_tree_rss_mib": round(sampler.tree_peak_kib / 1024, 1),
        "max_processes_seen": sampler.max_processes,
        "stdout": str(out_path),
        "stderr": str(err_path),
    }
    log(
        f"[{name}] exit {proc.returncode}, {wall:.2f} s wall, "
        f"{usage.ru_utime + usage.ru_stime:.2f} s CPU, peak {peak_kib / 1024:,.0f} MiB"
    )
    if sampler.killed:
        log(f"[{name}] KILLED by the benchmark: {sampler.killed}")
    if proc.returncode != 0:
        tail = err_path.read_bytes()[-3000:].decode("utf-8", "replace")
        log(f"[{name}] FAILED; last stderr:\n{tail}")
    return result


def best_of(repeat: int, name: str, cmd: list[Any], workdir: Path, **kwargs: Any) -> dict[str, Any]:
    """Run a command ``repeat`` times; return the fastest run, with every wall time."""
    runs = []
    for _ in range(max(repeat, 1)):
        run = run_measured(name, cmd, workdir, **kwargs)
        runs.append(run)
        if run["returncode"] != 0:
            break
    ok = [run for run in runs if run["returncode"] == 0]
    best = dict(min(ok, key=lambda run: run["wall_seconds"]) if ok else runs[-1])
    best["repeats"] = len(runs)
    best["all_wall_seconds"] = [run["wall_seconds"] for run in runs]
    best["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    return best


def _read_gnu_time(path: Path) -> int | None:
    """The %M figure GNU time wrote (its last line; earlier lines may say a signal hit)."""
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    for word in reversed(lines):
        if word.isdigit():
            return int(word)
    return None


# --- tools -------------------------------------------------------------------------------


def find_tool(name: str) -> str | None:
    candidate = BIN_DIR / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def locality_problem(exe: str | None) -> str | None:
    """Return why the locality CLI cannot be benchmarked, or None if it can."""
    if exe is None:
        return f"no `locality` executable in {BIN_DIR} or on PATH (run `make venv`)"
    for args in (["--help"], ["ingest", "--help"], ["compile", "--help"]):
        proc = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return f"`locality {' '.join(args)}` exited {proc.returncode}: {last[0]}"
    return None


# --- corpus helpers ----------------------------------------------------------------------


def _ocid_of(line: bytes) -> bytes:
    """The OCID of a synthetic line, which always starts with {"ocid":"..."."""
    if line.startswith(b'{"ocid":"'):
        return line[9 : line.index(b'"', 9)]
    return orjson.loads(line)["ocid"].encode()


def write_subset(corpus: Path, target: int, out: Path) -> tuple[int, int]:
    """Copy the longest prefix of whole OCIDs with at most ``target`` releases.

    Returns (releases, processes). The synthetic corpus writes each process contiguously.
    """
    releases = processes = 0
    last = b""
    pending: list[bytes] = []  # lines of the current (maybe incomplete) process
    with corpus.open("rb") as src, out.open("wb") as dst:
        for line in src:
            ocid = _ocid_of(line)
            if ocid != last:
                if releases + len(pending) > target:
                    break
                dst.write(b"".join(pending))
                releases += len(pending)
                processes += bool(pending)
                pending = []
                last = ocid
            pending.append(line)
        else:
            if releases + len(pending) <= target:
                dst.write(b"".join(pending))
                releases += len(pending)
                processes += bool(pending)
    return releases, processes


def warm_page_cache(path: Path) -> None:
    """Read a file once so that the first timed reader does not pay for the disk."""
    with path.open("rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


# --- comparing compiled releases ---------------------------------------------------------


def _iter_documents(path: Path) -> Iterator[Any]:
    """Yield the JSON values in a JSON Lines file, or in a single JSON document."""
    with path.open("rb") as f:
        first = f.read(1 << 16).lstrip()[:1]
    if first == b"[" or (first == b"{" and _single_document(path)):
        yield orjson.loads(path.read_bytes())
        return
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


def _single_document(path: Path) -> bool:
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    return True
                return False
    return False


def iter_compiled(path: Path) -> Iterator[dict[str, Any]]:
    """Yield compiled releases from JSON Lines, a JSON array or a record package."""
    for doc in _iter_documents(path):
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if isinstance(item, dict) and "records" in item and "ocid" not in item:
                for record in item["records"]:
                    yield record["compiledRelease"]
            elif isinstance(item, dict) and "compiledRelease" in item:
                yield item["compiledRelease"]
            else:
                yield item


def _diff_paths(a: Any, b: Any, path: str = "", limit: int = 8) -> list[str]:
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            if key not in b:
                out.append(f"{path}.{key} (only locality)")
            elif key not in a:
                out.append(f"{path}.{key} (only ocdskit)")
            else:
                out.extend(_diff_paths(a[key], b[key], f"{path}.{key}", limit))
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(_diff_paths(x, y, f"{path}[{i}]", limit))
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(a, list) and isinstance(b, list):
        return [f"{path} (length {len(a)} vs {len(b)})"]
    return [f"{path}: locality {_short(a)} vs ocdskit {_short(b)}"]


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def compare(locality_path: Path, ocdskit_path: Path) -> dict[str, Any]:
    """Compare two sets of compiled releases keyed by OCID, as parsed JSON objects."""
    ours: dict[str, bytes] = {}
    duplicates = 0
    for release in iter_compiled(locality_path):
        ocid = release.get("ocid") if isinstance(release, dict) else None
        if ocid in ours:
            duplicates += 1
        # Keep serialised bytes, not objects, to bound memory on big subsets.
        ours[str(ocid)] = orjson.dumps(release)
    compared = mismatched = missing = 0
    examples: list[dict[str, Any]] = []
    for theirs in iter_compiled(ocdskit_path):
        ocid = theirs["ocid"]
        raw = ours.pop(ocid, None)
        if raw is None:
            missing += 1
            continue
        compared += 1
        mine = orjson.loads(raw)
        if mine != theirs:
            mismatched += 1
            if len(examples) < 5:
                examples.append({"ocid": ocid, "differences": _diff_paths(mine, theirs)})
    return {
        "compared": compared,
        "mismatched": mismatched,
        "missing_from_locality": missing,
        "only_in_locality": len(ours),
        "duplicate_ocids_in_locality": duplicates,
        "identical": compared - mismatched,
        "examples": examples,
    }


# --- reporting ---------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total_mib = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_total_mib = round(int(line.split()[1]) / 1024)
                break
    try:
        import duckdb

        duckdb_version = duckdb.__version__
    except ImportError:
        duckdb_version = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "mem_total_mib": mem_total_mib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "duckdb": duckdb_version,
        "locality": _version("locality"),
        "ocdskit": _version("ocdskit"),
        "ocdsmerge": _version("ocdsmerge"),
        "orjson": _version("orjson"),
    }


def _rate(count: int, run: dict[str, Any] | None) -> float | None:
    if not run or run["returncode"] != 0 or run["wall_seconds"] <= 0:
        return None
    return count / run["wall_seconds"]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def evaluate_targets(r: dict[str, Any], n: int) -> list[dict[str, Any]]:
    rates = r["rates"]
    runs = r["runs"]
    ingest_peak = runs.get("locality_ingest", {}).get("peak_rss_mib")
    rows = [
        (
            "ingest rate (rel/s)",
            rates["locality_ingest"],
            f">= {TARGET_INGEST_RATE:,}",
            TARGET_INGEST_RATE,
            True,
            ",.0f",
        ),
        (
            "ingest / ocdskit",
            rates["ingest_vs_ocdskit"],
            f">= {TARGET_INGEST_VS_OCDSKIT:.0f}x",
            TARGET_INGEST_VS_OCDSKIT,
            True,
            ".1f",
        ),
        (
            "compile / ocdskit (subset)",
            rates["compile_vs_ocdskit"],
            f">= {TARGET_COMPILE_VS_OCDSKIT:.0f}x",
            TARGET_COMPILE_VS_OCDSKIT,
            True,
            ".1f",
        ),
        (
            "ingest peak RSS (MiB)",
            ingest_peak,
            f"<= {TARGET_PEAK_MIB:,} MiB at 1M",
            TARGET_PEAK_MIB,
            False,
            ",.0f",
        ),
        (
            "store / input size",
            r.get("store_share"),
            f"<= {TARGET_STORE_SHARE:.0%}",
            TARGET_STORE_SHARE,
            False,
            ".2f",
        ),
    ]
    targets = []
    for label, value, text, threshold, higher_is_better, spec in rows:
        if value is None:
            status = "n/a"
        elif higher_is_better:
            status = "PASS" if value >= threshold else "FAIL"
        else:
            status = "PASS" if value <= threshold else "FAIL"
        targets.append(
            {
                "target": label,
                "value": value,
                "required": text,
                "status": status,
                "display": _fmt(value, spec),
            }
        )
    return targets


def print_report(r: dict[str, Any]) -> None:
    n = r["corpus"]["releases"]
    k = r["subset"]["releases"]
    runs = r["runs"]
    rates = r["rates"]

    def row(label: str, run_name: str, count: int, rate: float | None) -> str:
        run = runs.get(run_name)
        if not run:
            return f"  {label:<34} {'not run':>10}"
        wall = f"{run['wall_seconds']:.2f} s"
        status = "" if run["returncode"] == 0 else f"  (exit {run['returncode']})"
        if run.get("killed"):
            status += f"  (killed: {run['killed']})"
        if run.get("repeats", 1) > 1:
            status += f"  best of {run['repeats']}"
        return (
            f"  {label:<34} {count:>10,} {wall:>10} {_fmt(rate):>12} "
            f"{_fmt(run['peak_rss_mib']):>10}{status}"
        )

    print()
    print(f"locality ingest benchmark  N={n:,}  seed={r['corpus']['seed']}  subset={k:,}")
    print(f"  {'step':<34} {'releases':>10} {'wall':>10} {'rel/s':>12} {'peak MiB':>10}")
    print(row("locality ingest (full)", "locality_ingest", n, rates["locality_ingest"]))
    print(row("locality compile (full)", "locality_compile", n, rates["locality_compile"]))
    print(
        row(
            "locality compile (subset)",
            "locality_compile_subset",
            k,
            rates["locality_compile_subset"],
        )
    )
    print(row("ocdskit compile (subset)", "ocdskit_compile", k, rates["ocdskit_compile"]))
    totals = r.get("ingest_totals")
    if totals:
        shown = ", ".join(
            f"{key}={totals[key]:,}" if isinstance(totals[key], int) else f"{key}={totals[key]}"
            for key in ("releases", "processes", "awards", "organisations", "rejected", "seconds")
            if key in totals
        )
        print(f"  ingest totals: {shown}")
    cmp = r.get("comparison")
    if cmp:
        print(
            f"  subset check: {cmp['identical']:,}/{cmp['compared']:,} compiled releases "
            f"identical, {cmp['mismatched']:,} mismatched, "
            f"{cmp['missing_from_locality']:,} missing from locality, "
            f"{cmp['only_in_locality']:,} only in locality"
        )
        for example in cmp["examples"][:3]:
            print(f"    {example['ocid']}: {'; '.join(example['differences'][:4])}")
    print()
    print(f"  {'target':<34} {'value':>10} {'required':>20}  result")
    for t in r["targets"]:
        print(f"  {t['target']:<34} {t['display']:>10} {t['required']:>20}  {t['status']}")
    if n < TARGET_SCALE:
        print(f"  (N={n:,}: the targets are set for N=1,000,000; this run is indicative only)")
    print()


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark locality ingest/compile against ocdskit compile."
    )
    parser.add_argument(
        "--releases",
        type=int,
        default=synth.DEFAULT_RELEASES,
        help="corpus size N (default %(default)s)",
    )
    parser.add_argument(
        "--ocdskit-subset",
        type=int,
        default=DEFAULT_OCDSKIT_SUBSET,
        help="releases (cut at an OCID boundary) compiled by both tools (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="run the two subset compiles this many times and keep the fastest (default 3)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--keep-store", type=Path, help="move the ingested store here (for bench/delta.py --base)"
    )
    parser.add_argument("--tmpdir", type=Path, help="parent of the temporary directory")
    parser.add_argument(
        "--max-rss-mib",
        type=int,
        default=_default_memory_limit(),
        help="kill a command whose process tree RSS exceeds this (default: 80%% of RAM)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="kill a command running longer than this many seconds (default %(default)s)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a target fails or the compiled outputs differ",
    )
    args = parser.parse_args(argv)
    if args.releases < 1 or args.ocdskit_subset < 1:
        parser.error("--releases and --ocdskit-subset must be positive")

    locality = find_tool("locality")
    ocdskit = find_tool("ocdskit")
    problem = locality_problem(locality)
    if problem:
        log(f"ERROR: the locality CLI is not usable: {problem}")
        log("Only the corpus and the ocdskit baseline will run; results will be incomplete.")
    if ocdskit is None:
        log("ERROR: ocdskit not found (pip install -e '.[dev]')")
        return 2
    if not SCHEMA.exists():
        log(f"ERROR: release schema not found at {SCHEMA}")
        return 2

    timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    corpus, meta = synth.ensure_corpus(args.releases, args.seed, log=log)
    n = meta["releases"]
    log(f"warming the page cache with {corpus.name} ({meta['bytes'] / 1e6:,.0f} MB) ...")
    warm_page_cache(corpus)

    runs: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {
        "benchmark": "ingest",
        "timestamp_utc": timestamp,
        "machine": machine_info(),
        "corpus": {
            "path": str(corpus),
            "releases": n,
            "processes": meta.get("processes"),
            "bytes": meta.get("bytes"),
            "seed": meta["seed"],
            "generator_seconds": meta.get("seconds"),
            "reused": meta.get("reused"),
            "source": meta.get("source"),
            "source_sha256": meta.get("source_sha256"),
            "generator_sha256": meta.get("generator_sha256"),
        },
        "runs": runs,
        "locality_problem": problem,
    }
    failed = False
    with scratch_dir("locality-bench-", args.tmpdir, keep=args.keep, log=log) as tmp:
        subset = tmp / "subset.jsonl"
        k, k_processes = write_subset(corpus, min(args.ocdskit_subset, n), subset)
        if k == 0:
            log("ERROR: the subset is empty (the first process is larger than --ocdskit-subset)")
            return 2
        results["subset"] = {
            "requested": args.ocdskit_subset,
            "releases": k,
            "processes": k_processes,
        }
        log(f"subset: first {k:,} releases ({k_processes:,} whole OCIDs)")

        db = tmp / "bench.duckdb"
        limits = {"max_rss_mib": args.max_rss_mib, "timeout": args.timeout}
        ours_path = tmp / "locality-compiled-subset.jsonl"
        ocdskit_out = tmp / "ocdskit-compiled-subset.jsonl"
        if not problem:
            assert locality is not None
            runs["locality_ingest"] = run_measured(
                "locality_ingest",
                [locality, "--db", db, "ingest", corpus, "--format", "json"],
                tmp,
                **limits,
            )
            totals = _ingest_totals(Path(runs["locality_ingest"]["stdout"]))
            results["ingest_totals"] = totals
            if totals and totals.get("releases") != n:
                log(f"WARNING: ingest reports {totals.get('releases')} releases, corpus has {n}")
            runs["locality_compile_subset"] = best_of(
                args.repeat,
                "locality_compile_subset",
                [locality, "compile", subset, "-o", ours_path],
                tmp,
                **limits,
            )
        runs["ocdskit_compile"] = best_of(
            args.repeat,
            "ocdskit_compile",
            [ocdskit, "compile", "--schema", SCHEMA],
            tmp,
            stdin=subset,
            stdout=ocdskit_out,
            **limits,
        )
        ours = runs.get("locality_compile_subset")
        ocdskit_ok = runs["ocdskit_compile"]["returncode"] == 0
        if ours and ours["returncode"] == 0 and ocdskit_ok and ours_path.exists():
            log("comparing compiled releases on the subset ...")
            try:
                results["comparison"] = compare(ours_path, ocdskit_out)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                log(f"ERROR: could not compare the compiled outputs: {e!r}")
                results["comparison_error"] = repr(e)
        if not problem:
            assert locality is not None
            runs["locality_compile"] = run_measured(
                "locality_compile",
                [locality, "compile", corpus, "-o", tmp / "locality-compiled.jsonl"],
                tmp,
                **limits,
            )
        failed = any(run["returncode"] != 0 for run in runs.values())

        rates = {
            "locality_ingest": _rate(n, runs.get("locality_ingest")),
            "locality_compile": _rate(n, runs.get("locality_compile")),
            "locality_compile_subset": _rate(k, runs.get("locality_compile_subset")),
            "ocdskit_compile": _rate(k, runs.get("ocdskit_compile")),
        }
        rates["ingest_vs_ocdskit"] = _ratio(rates["locality_ingest"], rates["ocdskit_compile"])
        rates["compile_vs_ocdskit"] = _ratio(
            rates["locality_compile_subset"], rates["ocdskit_compile"]
        )
        rates["compile_full_vs_ocdskit"] = _ratio(
            rates["locality_compile"], rates["ocdskit_compile"]
        )
        results["rates"] = rates
        if db.exists():
            results["db_bytes"] = db.stat().st_size
            results["store_share"] = round(db.stat().st_size / corpus.stat().st_size, 4)
        results["targets"] = evaluate_targets(results, n)
        print_report(results)
        path = write_results("ingest", results, latest=True)
        log(f"results written to {path} and {RESULTS_DIR / 'ingest-latest.json'}")
        if args.keep_store and db.exists():
            args.keep_store.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(db, args.keep_store)
            log(f"kept the store in {args.keep_store} (bench/delta.py --base reuses it)")

    if problem:
        log(f"ERROR: locality CLI not usable ({problem}); only the ocdskit baseline ran.")
        return 2
    if failed or "comparison_error" in results:
        log("ERROR: at least one command or the comparison failed (see above)")
        return 1
    if args.strict:
        bad = [t["target"] for t in results["targets"] if t["status"] != "PASS"]
        cmp = results.get("comparison") or {}
        if bad or cmp.get("mismatched") or cmp.get("missing_from_locality"):
            log(f"strict: failing targets {bad}, comparison {cmp.get('mismatched')} mismatched")
            return 1
    return 0


def _default_memory_limit() -> int | None:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(int(line.split()[1]) * 0.8 / 1024)
    return None


def _ingest_totals(stdout: Path) -> dict[str, Any] | None:
    """The ``totals`` object of ``locality ingest --format json``, if it printed one."""
    text = stdout.read_bytes().strip()
    if not text:
        return None
    candidates = [text]
    start = text.find(b"{")
    if start > 0:
        candidates.append(text[start:])
    candidates.extend(line for line in reversed(text.splitlines()) if line.startswith(b"{"))
    for candidate in candidates:
        try:
            doc = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            totals = doc.get("totals")
            return totals if isinstance(totals, dict) else {"unparsed": True}
    log("WARNING: could not parse the JSON summary of locality ingest")
    return None


if __name__ == "__main__":
    # What is timed is the load; `locality ingest` would then store the dashboard's figures
    # (views/precompute.py), a whole-store step that bench/web.py measures.
    os.environ["LOCALITY_REFRESH"] = "0"
    sys.exit(main())
