"""``locality ingest``: read files, keep what is valid, compile processes, fill the store.

Each OCDS file is loaded in one transaction, and spend files in batches (``SpendBatch``), a
transaction each: an interrupted ingest (even ``kill -9``) leaves the store as it was before
that file or batch, because DuckDB discards an uncommitted transaction when the store is
next opened. Files already loaded with the same content are skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import multiprocessing
import multiprocessing.forkserver
import os
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

import duckdb
import orjson

from locality.ingest import contracts_finder
from locality.ingest.gc_pause import paused_gc
from locality.ingest.normalise import Rows
from locality.ingest.ocds import (
    OCDS_SUFFIXES,
    NotOcdsError,
    expand_paths,
    head_bytes,
    open_bytes,
    read_ocds,
)
from locality.ingest.organisations import OrganisationListError, load_organisation_list
from locality.ingest.packing import (
    MIN_TRAIN_SAMPLES,
    NO_DICTIONARY,
    TRAIN_SAMPLES,
    Packer,
    Unpacker,
    train,
)
from locality.ingest.spendfile.columns import SpendColumns, load_columns
from locality.ingest.spendfile.files import (
    SPEND_SUFFIXES,
    ParsedFile,
    looks_like_spend,
    parse_spend_files,
    payments_of,
)
from locality.ingest.validate import (
    RejectedRelease,
    check_release,
    malformed_parts,
    unstorable_reason,
)
from locality.ingest.workers import compile_batch
from locality.store import loader, sql, unify
from locality.store.schema import (
    AWARD_COLUMNS,
    AWARD_SUPPLIER_COLUMNS,
    AWARD_VERSION_COLUMNS,
    LOT_COLUMNS,
    NOTICE_COLUMNS,
    PARTY_COLUMNS,
    PROCESS_COLUMNS,
)

STAGE_BATCH = 10_000
# Processes a worker compiles at a time: small enough that a batch's parsed releases (about
# 30 KB of Python objects each) stay a few tens of MB a worker.
PROCESS_BATCH = 1_000
RAW_LIMIT = 100_000  # characters of a rejected record kept for inspection

# progress(stage, file name, done, total or None)
ProgressCallback = Callable[[str, str, int, int | None], None]

# Rejection reasons that mean "this is not OCDS" rather than "this release is broken".
_NOT_OCDS_REASONS = ("invalid JSON", "release has no ocid", "not a JSON object")


@dataclass
class FileSummary:
    file: str
    kind: str = "ocds"
    records_read: int = 0
    kept: int = 0
    rejected: int = 0
    new_releases: int = 0
    updated_releases: int = 0
    unchanged_releases: int = 0
    processes: int = 0
    skipped: bool = False
    parts_skipped: int = 0  # malformed parts of kept records, each a row of `rejected`
    duplicate_ids: int = 0  # (ocid, id) read twice with different content: later ones rejected
    rejected_in_store: int = 0  # this file's rows in `rejected` after the ingest
    error: str | None = None  # set when the whole file could not be used (e.g. not OCDS)
    seconds: float = 0.0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    # Spend files only.
    total_amount: float | None = None  # net, GBP, of the payments kept
    body: str | None = None
    body_la_registry_code: str | None = None
    body_source: str | None = None  # option | column | file name
    published_threshold: float | None = None
    threshold_basis: str | None = None  # configured | card file | observed | default
    min_amount: float | None = None  # smallest positive payment seen
    encoding: str | None = None
    header_line: int | None = None
    is_card: bool | None = None
    duplicate_of: str | None = None  # skipped: the same content is loaded from this file
    note: str | None = None  # skipped: why (a folder's CSV that is not a spend file)
    delimiter: str | None = None
    columns: dict[str, dict[str, str]] | None = None  # field → its column, and why
    warnings: list[str] = field(default_factory=list)  # read, but worth a look (bad bytes)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        drop = {
            "spend": _OCDS_ONLY,
            "organisations": _OCDS_ONLY | _SPEND_ONLY,  # organisation lists: counts only
        }.get(self.kind, _SPEND_ONLY)
        return {k: v for k, v in data.items() if k not in drop}


_OCDS_ONLY = {"new_releases", "updated_releases", "unchanged_releases", "processes"}
_SPEND_ONLY = {
    "total_amount",
    "body",
    "body_la_registry_code",
    "body_source",
    "published_threshold",
    "threshold_basis",
    "min_amount",
    "encoding",
    "header_line",
    "is_card",
    "duplicate_of",
    "note",
    "delimiter",
    "columns",
}


@dataclass
class IngestSummary:
    files: list[FileSummary]
    totals: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"files": [f.as_json() for f in self.files], "totals": self.totals}


def file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(path: Path) -> str:
    """Hash of a file's content after gzip: a spend file and its ``.gz`` copy are one file."""
    digest = hashlib.blake2b(digest_size=20)
    with open_bytes(path) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _noop(stage: str, name: str, done: int, total: int | None) -> None:
    return None


def _raw_text(raw: bytes | None, release: Any) -> str | None:
    if raw is None:
        if release is None:
            return None
        try:
            raw = orjson.dumps(release)
        except TypeError:
            try:
                raw = repr(release).encode()
            except RecursionError:  # nested too deep even for repr
                return None
    return raw[:RAW_LIMIT].decode("utf-8", "replace")


def _dictionary_from_store(con: duckdb.DuckDBPyConnection) -> tuple[int, bytes] | None:
    """A dictionary trained on the releases a store already holds, when no file so far was
    big enough to train one (``locality fetch`` loads pages of 100 releases); staged, to be
    saved with this file."""
    stored = loader.first_releases(con, TRAIN_SAMPLES)
    if len(stored) < MIN_TRAIN_SAMPLES:
        return None
    unpacker = Unpacker(loader.dictionaries(con))
    samples = [unpacker.text(packed, dict_id, data).encode() for packed, dict_id, data in stored]
    dictionary = train(samples)
    if dictionary is None:
        return None
    return loader.stage_dictionary(con, len(samples), dictionary), dictionary


def _stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    summary: FileSummary,
    progress: ProgressCallback,
) -> list[tuple[Any, ...]]:
    """Read one file into the staging table ``incoming``; return the rejected records.

    Each release's JSON is packed (``locality.ingest.packing``) as it is read. A store with
    no dictionary yet gets one trained on this file's first releases, which wait unpacked
    until it is made."""
    seq = loader.next_seq(con)
    batch: list[tuple[Any, ...]] = []
    rejected: list[tuple[Any, ...]] = []
    dumps = orjson.dumps
    blake = hashlib.blake2b
    known = loader.store_dictionary(con) or _dictionary_from_store(con)
    packer: Packer | None = Packer(*known) if known is not None else None
    waiting: list[bytes] = []  # JSON of the releases read before the dictionary is trained

    def make_packer() -> Packer:
        dictionary = train(waiting)
        if dictionary is None:
            made = Packer(NO_DICTIONARY, None)
        else:
            made = Packer(loader.stage_dictionary(con, len(waiting), dictionary), dictionary)
        for i, row in enumerate(batch):
            batch[i] = (*row[:-2], made.pack(row[-2]), made.dict_id)
        waiting.clear()
        return made

    for record in read_ocds(path):
        if record.fatal:  # the file breaks off: keep what was read, report the file
            summary.error = f"{path}: {record.error}"
            break
        summary.records_read += 1
        release = record.release
        if record.error is not None:
            rejected.append(
                (
                    source,
                    record.line,
                    record.pointer,
                    None,
                    record.error,
                    _raw_text(record.raw, None),
                )
            )
            continue
        try:
            ocid = check_release(release)
        except RejectedRelease as exc:
            rejected.append(
                (
                    source,
                    record.line,
                    record.pointer,
                    exc.ocid,
                    exc.reason,
                    _raw_text(record.raw, release),
                )
            )
            continue
        assert isinstance(release, dict)
        try:
            data = dumps(release)
        except TypeError as exc:
            raw = _raw_text(record.raw, None)
            rejected.append(
                (source, record.line, record.pointer, ocid, unstorable_reason(exc), raw)
            )
            continue
        content_hash = blake(data, digest_size=16).hexdigest()
        release_id = release.get("id")
        release_id = str(release_id) if release_id not in (None, "") else f"hash:{content_hash}"
        for pointer, what in malformed_parts(release):
            summary.parts_skipped += 1
            where = (record.pointer or "") + pointer
            reason = f"part skipped, the rest of the release kept: {what}"
            rejected.append((source, record.line, where, ocid, reason, None))
        date = release.get("date")
        tags = release.get("tag")
        if packer is None:
            waiting.append(data)
            packed: bytes = data
            dict_id = None
        else:
            packed = packer.pack(data)
            dict_id = packer.dict_id
        batch.append(
            (
                seq,
                ocid,
                release_id,
                date if isinstance(date, str) else None,
                [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else None,
                content_hash,
                source,
                record.line,
                record.pointer,
                packed,
                dict_id,
            )
        )
        seq += 1
        summary.kept += 1
        if packer is None and len(waiting) >= TRAIN_SAMPLES:
            packer = make_packer()
        if len(batch) >= STAGE_BATCH and packer is not None:
            loader.stage_releases(con, batch)
            batch.clear()
            progress("read", path.name, summary.records_read, None)
    if packer is None and batch:
        make_packer()
    loader.stage_releases(con, batch)
    progress("read", path.name, summary.records_read, None)
    conflicts = _conflicting_copies(con)
    summary.duplicate_ids = len(conflicts)
    summary.kept -= len(conflicts)
    return sorted(rejected + conflicts, key=lambda r: r[1])


def _conflicting_copies(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Take out of the staged file every later copy of an (ocid, release id) whose content
    differs from the first copy read, as rejections: OCDS release ids are unique within a
    process, so the first is kept rather than the last silently preferred. In SQL over the
    staging table, so memory stays bounded however many releases a file holds."""
    incoming = f"{loader.STAGING}.incoming"
    found = sql.rows(
        con,
        f"""
        WITH first AS (
            SELECT ocid, release_id, arg_min(content_hash, seq) AS first_hash,
                   arg_min(source_line, seq) AS first_line
            FROM {incoming} GROUP BY ocid, release_id HAVING count(DISTINCT content_hash) > 1
        )
        SELECT i.seq, i.source_file, i.source_line, i.source_pointer, i.ocid, i.release_id,
               f.first_line, i.packed, i.dict_id
        FROM {incoming} i JOIN first f USING (ocid, release_id)
        WHERE i.content_hash <> f.first_hash
        ORDER BY i.seq
        """,
    )
    if not found:
        return []
    sql.run(con, f"DELETE FROM {incoming} WHERE seq IN (SELECT unnest(?))", [[r[0] for r in found]])
    unpacker = Unpacker(loader.dictionaries(con))
    return [
        (
            source,
            line,
            pointer,
            ocid,
            "release read again with other content (the first copy is kept): "
            f"id {release_id!r} of {ocid}, first at line {first_line}",
            unpacker.unpack(packed, dict_id)[:RAW_LIMIT].decode("utf-8", "replace"),
        )
        for _, source, line, pointer, ocid, release_id, first_line, packed, dict_id in found
    ]


# Below this many processes a worker pool costs more (start-up, pickling) than it saves.
PARALLEL_MIN_PROCESSES = 20_000


def _write_process_rows(con: duckdb.DuckDBPyConnection, rows: Rows) -> None:
    """Write a batch's rows into the store (inside the file's transaction)."""
    loader.insert_rows(con, "processes", PROCESS_COLUMNS, rows.processes)
    loader.insert_rows(con, "awards", AWARD_COLUMNS, rows.awards)
    loader.insert_rows(con, "award_suppliers", AWARD_SUPPLIER_COLUMNS, rows.award_suppliers)
    loader.insert_rows(con, "process_parties", PARTY_COLUMNS, rows.parties)
    loader.insert_rows(con, "award_versions", AWARD_VERSION_COLUMNS, rows.award_versions)
    loader.insert_rows(con, "process_notices", NOTICE_COLUMNS, rows.notices)
    loader.insert_rows(con, "process_lots", LOT_COLUMNS, rows.lots)


def compile_touched(
    con: duckdb.DuckDBPyConnection,
    progress: ProgressCallback,
    name: str,
    jobs: int = 1,
) -> int:
    """Recompile every touched process into the store's tables; return how many.

    With ``jobs`` > 1 and enough processes, batches are compiled in worker processes while
    this one fetches the next batch and stages finished rows.
    """
    total = loader.touched_count(con)
    if total == 0:
        return 0
    done = 0
    dictionaries = loader.dictionaries(con)
    batches = loader.touched_release_batches(con, PROCESS_BATCH)
    if jobs <= 1 or total < PARALLEL_MIN_PROCESSES:
        for batch in batches:
            rows = compile_batch(batch, dictionaries)
            _write_process_rows(con, rows)
            done += len(rows)
            progress("compile", name, done, total)
        return done
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending: deque[Future[Rows]] = deque()
        for batch in batches:
            pending.append(pool.submit(compile_batch, batch, dictionaries))
            if len(pending) > jobs:
                rows = pending.popleft().result()
                _write_process_rows(con, rows)
                done += len(rows)
                progress("compile", name, done, total)
        while pending:
            rows = pending.popleft().result()
            _write_process_rows(con, rows)
            done += len(rows)
            progress("compile", name, done, total)
    return done


def _ingest_organisations(
    con: duckdb.DuckDBPyConnection, path: Path, *, force: bool = False
) -> FileSummary:
    """Load one organisation list (``locality.ingest.organisations``) unless unchanged."""
    started = time.perf_counter()
    source = str(path.resolve())
    summary = FileSummary(file=str(path), kind="organisations")
    try:
        digest = file_hash(path)
        loaded = None if force else loader.loaded_file_counts(con, source, digest)
        if loaded is not None:
            summary.skipped = True
            summary.rejected_in_store = loaded[2]
        else:
            found = load_organisation_list(con, path, source, digest)
            summary.records_read = found.records
            summary.kept = len(found.rows)
            summary.rejected = summary.rejected_in_store = len(found.rejected)
            summary.rejections = [
                {"line": line, "reason": reason} for line, reason, _ in found.rejected[:20]
            ]
    except OrganisationListError as exc:
        summary.error = str(exc)
    except OSError as exc:  # unreadable (permissions, vanished): this file alone fails
        summary.error = f"{path}: cannot be read ({exc.strerror or exc})"
    summary.seconds = time.perf_counter() - started
    return summary


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    force: bool = False,
    progress: ProgressCallback = _noop,
    jobs: int = 1,
) -> FileSummary:
    """Load one OCDS file: staged and compiled outside the store, applied in one transaction."""
    started = time.perf_counter()
    source = str(path.resolve())
    summary = FileSummary(file=str(path))
    content_hash = file_hash(path)
    loaded = None if force else loader.loaded_file_counts(con, source, content_hash)
    if loaded is not None:
        # Nothing is read this time, but the file's rejected records are still in the store,
        # so --strict fails on a re-run just as it did on the first.
        summary.skipped = True
        summary.rejected_in_store = loaded[2]
        summary.seconds = time.perf_counter() - started
        return summary
    loader.open_staging(con)
    try:
        with paused_gc(), _ingest_memory(con):
            rejected = _stage_file(con, path, source, summary, progress)
        if summary.kept == 0 and summary.records_read > 0:
            reasons = {r[4].split(":")[0] for r in rejected}
            if all(reason.startswith(_NOT_OCDS_REASONS) for reason in reasons):
                raise NotOcdsError(
                    f"{path}: no OCDS release found ({summary.records_read} records read, "
                    f"none with an ocid; first problem: {rejected[0][4]})"
                )
        counts = loader.plan_releases(con)
        summary.new_releases = counts["new"]
        summary.updated_releases = counts["updated"]
        summary.unchanged_releases = counts["unchanged"]
        summary.rejected = summary.rejected_in_store = len(rejected) - summary.parts_skipped
        summary.rejections = [
            {"line": r[1], "pointer": r[2], "ocid": r[3], "reason": r[4]} for r in rejected[:20]
        ]
        with _ingest_memory(con), _one_transaction(con):
            loader.begin_apply(con)
            summary.processes = compile_touched(con, progress, path.name, jobs)
            progress("apply", path.name, 0, None)
            loader.finish_apply(con)
            unify.after_apply(con)  # folded organisations, duplicate notices
            loader.replace_rejected(con, source, rejected)
            # A file that breaks off is not recorded as loaded, so the next run reads it
            # again (its records apply idempotently) and reports it again.
            if summary.error is None:
                loader.record_file(
                    con,
                    {
                        "source_file": source,
                        "content_hash": content_hash,
                        "size_bytes": path.stat().st_size,
                        "kind": summary.kind,
                        "records_read": summary.records_read,
                        "kept": summary.kept,
                        "rejected": summary.rejected,
                        "new_releases": summary.new_releases,
                        "updated_releases": summary.updated_releases,
                        "unchanged_releases": summary.unchanged_releases,
                    },
                )
    finally:
        loader.close_staging(con)
    summary.seconds = time.perf_counter() - started
    return summary


# Spend files are read in batches of about this many bytes, each applied in one
# transaction (a commit per file cost about 10 ms: most of the time for a folder of small
# monthly files), and handed to worker processes in groups of about GROUP bytes.
SPEND_BATCH_BYTES = 256 << 20
SPEND_GROUP_BYTES = 8 << 20
# Below this many bytes in a batch, starting worker processes costs more than it saves.
SPEND_PARALLEL_MIN_BYTES = 16 << 20
# gzip spend files inflate about this much (for sizing groups).
GZIP_RATIO = 8


# The note of a file named twice in one run (a folder and a file in it).
GIVEN_TWICE = "given twice: read once"


def _forkserver() -> Any:
    """The forkserver context, its server started: workers fork from a server that has
    imported the reader once, rather than each importing it (a third of a second) as it
    starts. Starting it early lets that import overlap other work."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["locality.ingest.spendfile"])
    multiprocessing.forkserver.ensure_running()
    return context


@dataclass
class _PendingSpend:
    path: Path
    source: str
    digest: str
    summary: FileSummary
    walked: bool  # found by walking a folder: not a spend file → skipped, not failed
    size: int


class SpendBatch:
    """Council spend files read together, then applied in one transaction.

    Each file's payments replace any it had before; re-ingesting the same content is a
    no-op, and a copy of a file already loaded (e.g. the ``.csv.gz`` of a ``.csv``) is
    skipped so nothing is counted twice. Files are read by ``parse_spend_files`` in groups:
    in worker processes once the batch holds ``SPEND_PARALLEL_MIN_BYTES``, each group
    handed over as soon as it is full (so reading overlaps checking the next files), else
    in this process at :meth:`flush`. :meth:`flush` completes the files' summaries and
    applies them: the files of one batch land together, or on any error none of them. It
    runs by itself once ``SPEND_BATCH_BYTES`` are waiting; :meth:`close` stops the workers.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        force: bool = False,
        progress: ProgressCallback = _noop,
        body: str | None = None,
        columns: SpendColumns,
        kind: str = "auto",
        jobs: int = 1,
    ) -> None:
        self.con = con
        self.force = force
        self.progress = progress
        self.body = body
        self.columns = columns
        self.kind = kind
        self.jobs = jobs
        self._pending: list[_PendingSpend] = []
        self._bytes = 0
        self._pool: ProcessPoolExecutor | None = None
        self._submitted: deque[Future[tuple[list[ParsedFile], Any]]] = deque()
        self._unsubmitted: list[_PendingSpend] = []
        # What the store holds, looked up once rather than twice a file.
        self._loaded: dict[tuple[str, str], int] = {}  # (file, content hash) → rejected
        self._spend_copies: dict[str, set[str]] = {}  # content hash → spend files
        self._broken: set[str] = set()  # files read up to a break: loaded, not recorded
        for source, digest, kind_loaded, rejected in loader.loaded_files(con):
            self._note_loaded(source, digest, kind_loaded, rejected)

    def _note_loaded(self, source: str, digest: str, kind: str, rejected: int) -> None:
        self._loaded[(source, digest)] = rejected
        if kind == "spend":
            self._spend_copies.setdefault(digest, set()).add(source)

    def add(self, path: Path, *, walked: bool = False) -> FileSummary:
        """Check one file and queue it; its summary is complete once the batch is flushed."""
        started = time.perf_counter()
        source = str(path.resolve())
        summary = FileSummary(file=str(path), kind="spend")
        if any(item.source == source for item in self._pending):
            # Named twice in one run (a folder and a file in it): read once.
            summary.skipped, summary.note = True, GIVEN_TWICE
            return summary
        try:
            digest = content_hash(path)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            # A gzip that breaks off: its reader keeps the lines before the break.
            digest = file_hash(path)
        except OSError as exc:
            summary.error = f"{path}: cannot read the file ({exc})"
            return summary
        loaded = None if self.force else self._loaded.get((source, digest))
        copies = sorted(self._spend_copies.get(digest, set()) - {source})
        if loaded is not None or copies:
            summary.skipped = True
            summary.duplicate_of = copies[0] if loaded is None else None
            summary.rejected_in_store = loaded or 0
            summary.seconds = time.perf_counter() - started
            return summary
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if handle.read(2) == b"\x1f\x8b":
                size *= GZIP_RATIO
        self._spend_copies.setdefault(digest, set()).add(source)
        item = _PendingSpend(path, source, digest, summary, walked, size)
        self._pending.append(item)
        self._unsubmitted.append(item)
        self._bytes += size
        if self.jobs > 1 and self._bytes >= SPEND_PARALLEL_MIN_BYTES:
            self._submit(final=False)
        if self._bytes >= SPEND_BATCH_BYTES:
            self.flush()
        return summary

    def _submit(self, *, final: bool) -> None:
        """Hand full groups (and, when ``final``, the rest) to the worker processes."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=_forkserver())
        groups = self._groups(self._unsubmitted)
        if not final and sum(item.size for item in groups[-1]) < SPEND_GROUP_BYTES:
            self._unsubmitted = groups.pop()  # not full yet
        else:
            self._unsubmitted = []
        for group in groups:
            if group:
                task = [(str(item.path), item.source) for item in group]
                # One DuckDB thread a worker: the workers are the parallelism.
                self._submitted.append(
                    self._pool.submit(parse_spend_files, task, self.columns, self.body, threads=1)
                )

    @contextmanager
    def _workers_closed(self) -> Iterator[None]:
        try:
            yield
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker processes (any work not collected is dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._submitted.clear()
        self._unsubmitted = []

    @staticmethod
    def _groups(pending: list[_PendingSpend]) -> list[list[_PendingSpend]]:
        groups: list[list[_PendingSpend]] = [[]]
        size = 0
        for item in pending:
            if groups[-1] and size + item.size > SPEND_GROUP_BYTES:
                groups.append([])
                size = 0
            groups[-1].append(item)
            size += item.size
        return groups

    def _parsed(self, pending: list[_PendingSpend]) -> Iterator[tuple[list[ParsedFile], Any]]:
        """(findings, payments table) of each group of the files, in order."""
        if self._pool is not None:
            self._submit(final=True)
            while self._submitted:
                yield self._submitted.popleft().result()
            return
        for group in self._groups(pending):
            task = [(str(item.path), item.source) for item in group]
            yield parse_spend_files(task, self.columns, self.body)

    def flush(self) -> None:
        """Read every queued file and apply the batch in one transaction."""
        pending, self._pending, self._bytes = self._pending, [], 0
        if not pending:
            return
        by_source = {item.source: item for item in pending}
        con = self.con
        rejected: list[tuple[Any, ...]] = []
        records: list[dict[str, Any]] = []
        with self._workers_closed(), _one_transaction(con):
            for findings, table in self._parsed(pending):
                read: list[str] = []
                for parsed in findings:
                    item = by_source[parsed.source_file]
                    record = self._complete(item, parsed)
                    if record is not None:
                        read.append(item.source)
                        records.append(record)
                        rejected.extend(
                            (item.source, line, column, None, reason, raw)
                            for line, column, reason, raw in parsed.rejected
                        )
                # Only files read replace what they had: a file that fails now keeps the
                # payments of its last good load (and its record says so).
                loader.delete_spend(con, read)
                loader.insert_spend(con, payments_of(table, read))
            self.progress("apply", f"{len(records)} spend file(s)", 0, None)
            loader.insert_rejected(con, rejected)
            # A file read up to a break is not recorded as loaded: the next run reads it
            # (and reports it) again.
            records = [r for r in records if r["source_file"] not in self._broken]
            loader.record_files(con, records)
        for record in records:
            self._note_loaded(
                record["source_file"], record["content_hash"], "spend", record["rejected"]
            )
        for item in pending:
            if item.summary.error or item.summary.skipped:
                self._spend_copies.get(item.digest, set()).discard(item.source)

    def _complete(self, item: _PendingSpend, parsed: ParsedFile) -> dict[str, Any] | None:
        """Fill a read file's summary; its ingested_files record, None if it failed."""
        summary = item.summary
        summary.seconds += parsed.seconds
        if parsed.error is not None:
            if parsed.not_spend and item.walked and self.kind == "auto":
                # A folder's CSV that is not a spend file (a provenance.csv beside the data).
                summary.skipped, summary.note = True, parsed.error
            else:
                summary.error = parsed.error
            return None
        if parsed.broken is not None:
            summary.error = f"{item.path}: {parsed.broken}"
            if any(source == item.source for source, _ in self._loaded):
                summary.error += "; its last good load is kept"
                return None
            summary.error += "; the rows before the break are loaded"
            self._broken.add(item.source)
        self.progress("read", item.path.name, parsed.records_read, None)
        stats = parsed.stats
        summary.encoding = parsed.encoding
        summary.delimiter = parsed.delimiter
        summary.columns = parsed.columns
        summary.warnings = parsed.warnings
        summary.header_line = parsed.header_line
        summary.is_card = parsed.is_card
        summary.body = parsed.body
        summary.body_la_registry_code = parsed.body_la_registry_code
        summary.body_source = parsed.body_source
        summary.records_read = parsed.records_read
        summary.rejected = summary.rejected_in_store = len(parsed.rejected)
        summary.kept = summary.records_read - summary.rejected
        summary.total_amount = stats.total_amount
        summary.published_threshold = parsed.published_threshold
        summary.threshold_basis = parsed.threshold_basis
        summary.min_amount = stats.min_positive
        summary.rejections = [
            {"line": line, "column": column, "reason": reason}
            for line, column, reason, _ in parsed.rejected[:20]
        ]
        return {
            "source_file": item.source,
            "content_hash": item.digest,
            "size_bytes": item.path.stat().st_size,
            "kind": "spend",
            "records_read": summary.records_read,
            "kept": summary.kept,
            "rejected": summary.rejected,
            "total_amount": summary.total_amount,
            "body": summary.body,
            "body_la_registry_code": summary.body_la_registry_code,
            "published_threshold": parsed.published_threshold,
            "threshold_basis": parsed.threshold_basis,
            "min_amount": stats.min_positive,
            "below_default_threshold": stats.below_default,
            "first_payment_date": stats.first_date,
            "last_payment_date": stats.last_date,
        }


def _spend_bytes(files: Sequence[tuple[Path, bool]]) -> int:
    return sum(path.stat().st_size for path, _ in files if looks_like_spend(path))


def detect_kind(path: Path) -> str:
    """``ocds`` for Contracts Finder's exports (by content, CSV too), ``spend`` for
    ``.csv``/``.csv.gz`` names, ``ocds`` for JSON names, else by content."""
    if contracts_finder.detect(head_bytes(path, contracts_finder.HEAD_BYTES)) is not None:
        return "ocds"
    if looks_like_spend(path):
        return "spend"
    name = path.name.lower()
    if name.endswith(OCDS_SUFFIXES[:-1]):  # .json, .jsonl, .ndjson, and their .gz
        return "ocds"
    # What can be read: a gzip broken early is still sent to its reader, which reports it.
    head = head_bytes(path)
    return "ocds" if head[:1] in (b"{", b"[") or not head else "spend"


# DuckDB's memory limit while an OCDS file loads (LOCALITY_INGEST_MEMORY_LIMIT): DuckDB
# spills its sorts and the open transaction's rows to disk past it, and with the worker
# processes and Python's own objects the whole process tree then stays near 1 GB (issue
# 14: at most 1.5 GB for a national load). Queries keep LOCALITY_MEMORY_LIMIT.
INGEST_MEMORY_LIMIT = "512MB"
# DuckDB's memory limit for the rest of a load (folding organisations, spend batches), unless
# LOCALITY_MEMORY_LIMIT says otherwise: 1 GB keeps a national load's process tree near 1 GB,
# where the store's default for queries (store.db.memory_limit) grows with the machine.
LOAD_MEMORY_LIMIT = "1GB"


@contextmanager
def _ingest_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    with _memory_limit(con, os.environ.get("LOCALITY_INGEST_MEMORY_LIMIT", INGEST_MEMORY_LIMIT)):
        yield


@contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, wanted: str) -> Iterator[None]:
    before = sql.one(con, "SELECT current_setting('memory_limit')")[0]
    sql.run(con, f"SET memory_limit = '{wanted}'")
    try:
        yield
    finally:
        sql.run(con, f"SET memory_limit = '{before}'")


@contextmanager
def _one_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Apply a file's staged rows in one transaction: all of it, or (on any error) none."""
    con.begin()
    try:
        yield
        _pause_before_commit_for_tests()
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _pause_before_commit_for_tests() -> None:
    """Let the kill -9 test stop an ingest at its most fragile moment, deterministically.

    When ``LOCALITY_PAUSE_BEFORE_COMMIT`` names a file, the ingest writes that file once all
    of a file's rows are in the open transaction, then waits, so the test can kill it.
    """
    marker = os.environ.get("LOCALITY_PAUSE_BEFORE_COMMIT")
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("LOCALITY_PAUSE_SECONDS", "60")))


def store_totals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    row = sql.one(
        con,
        """
        SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM processes),
               (SELECT count(*) FROM awards), (SELECT count(*) FROM organisations),
               (SELECT count(*) FROM rejected), (SELECT count(*) FROM spend_payments)
        """,
    )
    assert row is not None
    keys = ("releases", "processes", "awards", "organisations", "rejected", "spend_payments")
    return dict(zip(keys, (int(v) for v in row), strict=True))


class IngestOptions(TypedDict, total=False):
    """The options of :func:`ingest`, declared once: ``locality.enrich.load`` takes the
    same keywords and passes them on."""

    force: bool
    progress: ProgressCallback
    jobs: int | None
    kind: str
    body: str | None
    columns: str | Path | SpendColumns | None


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str | Path] | Iterable[str | Path],
    **options: Unpack[IngestOptions],
) -> IngestSummary:
    """Ingest files and directories: each OCDS file, and each batch of spend files, is its
    own transaction.

    ``kind`` is ``auto`` (spend for ``.csv``/``.csv.gz`` names, OCDS for JSON, else by
    content), ``ocds``, ``spend`` or ``organisations`` (organisation lists, CSV:
    ``locality.ingest.organisations``). ``body`` names the publishing body of spend files that
    do not name it; ``columns`` is a column-mapping TOML file extending the built-in one.

    This is the ingest stage alone: matching spend suppliers to organisations and registers
    is the enrich stage's (``locality.enrich``); ``locality.enrich.load`` runs both, as
    ``locality ingest`` does.
    """
    force = options.get("force", False)
    progress = options.get("progress", _noop)
    jobs = options.get("jobs")
    kind = options.get("kind", "auto")
    body = options.get("body")
    columns = options.get("columns")
    unknown = set(options) - set(IngestOptions.__annotations__)
    if unknown:
        raise TypeError(
            f"ingest() got unexpected keyword argument(s): {', '.join(sorted(unknown))}"
        )
    if kind not in ("auto", "ocds", "spend", "organisations"):
        raise ValueError(f"kind must be auto, ocds, spend or organisations, not {kind!r}")
    started = time.perf_counter()
    # (file, found by walking a folder): a folder's CSV files that turn out not to be spend
    # files (a provenance.csv beside the data) are skipped with a note, not failed.
    files = [
        (path, Path(given).is_dir())
        for given in paths
        for path in expand_paths([given], OCDS_SUFFIXES + SPEND_SUFFIXES)
    ]
    if not files:
        raise FileNotFoundError(
            "no OCDS files (.json, .jsonl, .ndjson, .gz) or spend files (.csv, .csv.gz) "
            "found in the paths given"
        )
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    spend_columns: SpendColumns | None = None
    spend: SpendBatch | None = None
    summaries = []
    load_limit = os.environ.get("LOCALITY_MEMORY_LIMIT", LOAD_MEMORY_LIMIT)
    with _memory_limit(con, load_limit):
        try:
            for index, (path, walked) in enumerate(files, 1):
                progress("file", path.name, index, len(files))
                file_kind = detect_kind(path) if kind == "auto" else kind
                if file_kind == "spend":
                    if spend is None:
                        spend_columns = (
                            columns if isinstance(columns, SpendColumns) else load_columns(columns)
                        )
                        if jobs > 1 and _spend_bytes(files) >= SPEND_PARALLEL_MIN_BYTES:
                            _forkserver()  # workers will be wanted: start their server now
                        spend = SpendBatch(
                            con,
                            force=force,
                            progress=progress,
                            body=body,
                            columns=spend_columns,
                            kind=kind,
                            jobs=jobs,
                        )
                    summaries.append(spend.add(path, walked=walked))
                    continue
                if spend is not None:
                    spend.flush()  # files land in the order given
                if file_kind == "organisations":  # only when asked: a list is a CSV like spend
                    summaries.append(_ingest_organisations(con, path, force=force))
                    continue
                try:
                    summaries.append(
                        ingest_file(con, path, force=force, progress=progress, jobs=jobs)
                    )
                except NotOcdsError as exc:
                    summaries.append(FileSummary(file=str(path), error=str(exc)))
                except OSError as exc:  # unreadable (permissions, vanished): this file alone fails
                    summaries.append(
                        FileSummary(file=str(path), error=f"{path}: cannot be read ({exc})")
                    )
                except (duckdb.Error, MemoryError):
                    raise  # the store or the machine, not the file: stop
                except Exception as exc:  # one bad file must not stop the others
                    message = f"{path}: cannot be read ({type(exc).__name__}: {exc})"
                    summaries.append(FileSummary(file=str(path), error=message))
            if spend is not None:
                spend.flush()
        finally:
            if spend is not None:
                spend.close()  # worker processes, after an error too
    store = store_totals(con)
    totals: dict[str, Any] = {
        "files": len(summaries),
        "files_skipped": sum(1 for s in summaries if s.skipped),
        "files_failed": sum(1 for s in summaries if s.error),
        "records_read": sum(s.records_read for s in summaries),
        "kept": sum(s.kept for s in summaries),
        "rejected": sum(s.rejected for s in summaries),
        "rejected_in_store_for_these_files": sum(s.rejected_in_store for s in summaries),
        "new_releases": sum(s.new_releases for s in summaries),
        "updated_releases": sum(s.updated_releases for s in summaries),
        "processes_compiled": sum(s.processes for s in summaries),
        "total_amount": round(sum(s.total_amount or 0.0 for s in summaries), 2),
        "store": store,
        # The headline counts of the store after this ingest.
        "releases": store["releases"],
        "processes": store["processes"],
        "awards": store["awards"],
        "organisations": store["organisations"],
        "spend_payments": store["spend_payments"],
        # Filled by the enrich stage (``locality.enrich.load``) when it runs after this.
        "supplier_resolution": None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return IngestSummary(summaries, totals)
