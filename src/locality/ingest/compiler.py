"""``locality compile``: one compiled release per OCID, as JSON Lines, like ``ocdskit compile``.

Releases are grouped by OCID out of core (in a scratch DuckDB database that spills to disk),
so the input can be bigger than memory. Output is in order of each OCID's first appearance,
as ocdskit writes it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa

from locality.ingest.merge import compile_releases, default_rules
from locality.ingest.ocds import expand_paths, read_ocds
from locality.ingest.validate import RejectedRelease, check_release
from locality.store import sql

BATCH = 50_000


@dataclass
class CompileSummary:
    files: int = 0
    releases: int = 0
    compiled: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


def compile_files(
    paths: Iterable[str | Path],
    out: IO[bytes],
    *,
    on_problem: Callable[[str], None] | None = None,
) -> CompileSummary:
    """Write the compiled release of every OCID found in ``paths`` to ``out``."""
    summary = CompileSummary()
    files = expand_paths(paths)
    summary.files = len(files)
    rules = default_rules()
    with tempfile.TemporaryDirectory(prefix="locality-compile-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "group.duckdb"))
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
                datas.append(orjson.dumps(record.release).decode())
                if len(seqs) >= BATCH:
                    flush()
        flush()
        summary.releases = seq
        cursor = con.execute(
            """
            SELECT ocid, data FROM (
                SELECT ocid, data, seq, min(seq) OVER (PARTITION BY ocid) AS first_seq FROM r
            ) ORDER BY first_seq, seq
            """
        )
        current: str | None = None
        group: list[Any] = []
        write = out.write
        dumps = orjson.dumps
        loads = orjson.loads
        while rows := cursor.fetchmany(BATCH):
            for ocid, data in rows:
                if ocid != current:
                    if group:
                        write(dumps(compile_releases(group, rules)) + b"\n")
                        summary.compiled += 1
                    current, group = ocid, []
                group.append(loads(data))
        if group:
            write(dumps(compile_releases(group, rules)) + b"\n")
            summary.compiled += 1
        con.close()
    return summary
