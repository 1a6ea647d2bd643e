"""``locality compile``: one compiled release per OCID, as JSON Lines, like ``ocdskit compile``.

Releases are grouped by OCID out of core (in a scratch DuckDB database that spills to disk),
so the input can be bigger than memory. Output is in order of each OCID's first appearance,
as ocdskit writes it.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import orjson
import pyarrow as pa

from locality.ingest.ocds import expand_paths, read_ocds
from locality.ingest.validate import RejectedRelease, check_release
from locality.ingest.workers import compile_to_lines
from locality.store import sql

BATCH = 10_000
PROCESSES_PER_BATCH = 5_000
# Below this many releases a worker pool costs more (start-up) than it saves.
PARALLEL_MIN_RELEASES = 20_000


@dataclass
class CompileSummary:
    files: int = 0
    releases: int = 0
    compiled: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


def _batches(
    cursor: duckdb.DuckDBPyConnection, processes_per_batch: int
) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    processes = 0
    previous: str | None = None
    while rows := cursor.fetchmany(BATCH):
        for ocid, data in rows:
            if ocid != previous:
                if processes >= processes_per_batch:
                    yield batch
                    batch, processes = [], 0
                processes += 1
                previous = ocid
            batch.append((ocid, data))
    if batch:
        yield batch


def compile_files(
    paths: Iterable[str | Path],
    out: IO[bytes],
    *,
    on_problem: Callable[[str], None] | None = None,
    jobs: int | None = None,
) -> CompileSummary:
    """Write the compiled release of every OCID found in ``paths`` to ``out``."""
    summary = CompileSummary()
    files = expand_paths(paths)
    summary.files = len(files)
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="locality-compile-") as scratch:
        # In memory, spilling to the scratch folder past the limit: bounded memory.
        con = duckdb.connect()
        sql.run(con, f"SET memory_limit = '{os.environ.get('LOCALITY_MEMORY_LIMIT', '1GB')}'")
        sql.run(con, f"SET temp_directory = '{scratch}'")
        sql.run(con, "SET preserve_insertion_order = false")
        sql.run(con, "CREATE TABLE r (seq BIGINT, ocid VARCHAR, data VARCHAR)")
        seqs: list[int] = []
        ocids: list[str] = []
        datas: list[str] = []

        def flush() -> None:
            if not seqs:
                return
            batch = pa.table(
                {
                    "seq": pa.array(seqs, pa.int64()),
                    "ocid": pa.array(ocids, pa.string()),
                    "data": pa.array(datas, pa.string()),
                }
            )
            con.register("_b", batch)
            sql.run(con, "INSERT INTO r SELECT * FROM _b")
            con.unregister("_b")
            seqs.clear()
            ocids.clear()
            datas.clear()

        seq = 0
        for path in files:
            for record in read_ocds(path):
                problem = record.error
                ocid = None
                if problem is None:
                    try:
                        ocid = check_release(record.release)
                    except RejectedRelease as exc:
                        problem = exc.reason
                if problem is not None or ocid is None:
                    summary.rejected += 1
                    message = f"{path}:{record.line}: {problem}"
                    if len(summary.problems) < 100:
                        summary.problems.append(message)
                    if on_problem is not None:
                        on_problem(message)
                    continue
                seq += 1
                seqs.append(seq)
                ocids.append(ocid)
                # A JSON Lines release as read: the workers parse it again anyway, so it
                # need not be written out again first (a dump is a fifth of a parse).
                raw = record.raw if record.pointer is None else None
                datas.append(
                    raw.decode() if raw is not None else orjson.dumps(record.release).decode()
                )
                if len(seqs) >= BATCH:
                    flush()
        flush()
        summary.releases = seq
        # Processes in order of first appearance (as ocdskit writes them), releases in
        # reading order within each (the merge then sorts them by date, stably).
        con.execute(
            """
            SELECT ocid, data FROM (
                SELECT ocid, data, seq, min(seq) OVER (PARTITION BY ocid) AS first_seq FROM r
            ) ORDER BY first_seq, seq
            """
        )
        batches = _batches(con, PROCESSES_PER_BATCH)
        if jobs <= 1 or seq < PARALLEL_MIN_RELEASES:
            for batch in batches:
                text, count = compile_to_lines(batch)
                out.write(text)
                summary.compiled += count
        else:
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                pending: deque[Future[tuple[bytes, int]]] = deque()
                for batch in batches:
                    pending.append(pool.submit(compile_to_lines, batch))
                    if len(pending) > jobs:
                        text, count = pending.popleft().result()
                        out.write(text)
                        summary.compiled += count
                while pending:
                    text, count = pending.popleft().result()
                    out.write(text)
                    summary.compiled += count
        con.close()
    return summary
