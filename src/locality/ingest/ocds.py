"""Read OCDS from any common form, streaming.

Forms: JSON Lines (one release, release package or record package per line), a release
package, a record package (its ``compiledRelease`` when present, otherwise its
``releases``), a JSON array of releases, a single release, and gzip of any of these.
Directories are walked for ``.json``, ``.jsonl``, ``.ndjson`` and their ``.gz``.

Large single documents are streamed with ijson so a 2 GB package never needs 2 GB of
memory; JSON Lines are parsed one line at a time with orjson.

Nothing valid is lost to a bad neighbour: a line that is not JSON (truncated, invalid
UTF-8, nested deeper than orjson reads) is one rejected record, even the first line of a
file; a file that breaks off (an interrupted download: a truncated or corrupt gzip, a
document cut short) yields every record read before the break, then one *fatal* record
saying where and why it broke, which the pipeline reports as the file's error.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from locality.ingest import contracts_finder

OCDS_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".gz")
# Single documents up to this size are parsed whole (faster); bigger ones are streamed.
STREAM_THRESHOLD_BYTES = 64 * 1024 * 1024
# Lines looked at to tell JSON Lines from a pretty-printed document when the first is bad.
SNIFF_LINES = 20

# What reading a broken file raises: a truncated gzip (EOFError), a corrupt one (BadGzipFile,
# an OSError; zlib.error), a document cut short or corrupt part way (ijson's JSONError).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, ijson.JSONError)


class NotOcdsError(ValueError):
    """The file is not OCDS at all (one clear error naming it, instead of many rejections)."""


@dataclass(slots=True)
class SourceRecord:
    """One release read from a file, or the reason it could not be read."""

    line: int  # line number in JSON Lines, or 1-based position in a document's array
    pointer: str | None  # JSON pointer inside the line or document, e.g. /releases/3
    release: dict[str, Any] | None
    raw: bytes | None  # the text as read, kept for rejected records
    error: str | None = None
    fatal: bool = False  # the file breaks off here: nothing after this could be read


def broken_file(exc: BaseException, line: int, kept_before: str) -> SourceRecord:
    """The record that ends a file which breaks off part way, saying where and why."""
    if isinstance(exc, EOFError):
        why = "the compressed data ends early (a truncated or interrupted download?)"
    elif isinstance(exc, gzip.BadGzipFile | zlib.error):
        why = f"the gzip data is corrupt ({exc})"
    elif isinstance(exc, ijson.JSONError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        why = f"the JSON breaks off or is corrupt ({first})"
    else:
        why = f"it cannot be read ({exc})"
    return SourceRecord(
        line, None, None, None, f"file breaks off at {kept_before} {line}: {why}", fatal=True
    )


def expand_paths(
    paths: Iterable[str | os.PathLike[str]], suffixes: tuple[str, ...] = OCDS_SUFFIXES
) -> list[Path]:
    """Files to read: files as given, directories walked in sorted order for ``suffixes``."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)
            )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


def open_bytes(path: Path) -> IO[bytes]:
    """Open a file for binary reading, decompressing gzip (by its magic bytes, not its name)."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.open(handle, "rb")  # type: ignore[return-value]
    return handle


def _first_bytes(handle: IO[bytes], size: int = 4096) -> bytes:
    if isinstance(handle, io.BufferedReader):
        head = handle.peek(size)[:size]
    else:
        head = b""
        try:
            while len(head) < size and (chunk := handle.read(size - len(head))):
                head += chunk
        except READ_ERRORS:
            if not head:
                raise  # nothing at all can be read
            # A gzip that breaks off early: its first bytes are still worth reading.
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def head_bytes(path: Path, size: int = 4096) -> bytes:
    """Up to ``size`` bytes of a file's content (after gzip, BOM and leading blanks), as
    much as can be read: a gzip that breaks off early gives what comes before the break."""
    try:
        with open_bytes(path) as handle:
            return _first_bytes(handle, size)
    except READ_ERRORS:
        return b""


def _one_json_object(line: bytes) -> bool:
    """True when a line is a whole release or package: a JSON object with an ``ocid``,
    ``releases`` or ``records`` (a pretty-printed document's one-line parts have none)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and not {"ocid", "releases", "records"}.isdisjoint(value)


def _is_one_document(path: Path) -> bool:
    """Whether a file small enough to read whole (after gzip) is one JSON document (a
    package, an array, a release), however its lines fall."""
    errors: tuple[type[BaseException], ...] = (orjson.JSONDecodeError, *READ_ERRORS)
    try:
        with open_bytes(path) as handle:
            content = handle.read(STREAM_THRESHOLD_BYTES + 1)
            if len(content) > STREAM_THRESHOLD_BYTES:
                return False
            orjson.loads(content.lstrip(b"\xef\xbb\xbf"))
    except errors:
        return False
    return True


def _is_json_lines(path: Path) -> bool:
    """JSON Lines when the first line is a whole JSON value and another value follows, or,
    when the first line is bad (truncated, invalid UTF-8, nested too deep), when a later line
    among the next few is a whole JSON object: one bad line must not hide the file's other
    records. A pretty-printed document has no line that is a whole object of its own."""
    first = b""
    with open_bytes(path) as handle:
        try:
            first = handle.readline(STREAM_THRESHOLD_BYTES)
            if len(first) == STREAM_THRESHOLD_BYTES and not first.endswith(b"\n"):
                return False  # one huge line: a minified package, to be streamed
            try:
                orjson.loads(first.lstrip(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError:
                if _is_one_document(path):
                    return False  # a package or array written one release a line
                # Two whole objects in a row: lines of a document end in commas, so only
                # its last release would read whole on its own.
                looked, in_a_row = 0, 0
                for line in handle:
                    if not line.strip():
                        continue
                    in_a_row = in_a_row + 1 if _one_json_object(line) else 0
                    if in_a_row >= 2:
                        return True
                    looked += 1
                    if looked >= SNIFF_LINES:
                        break
                return False
            for line in handle:
                if line.strip():
                    return True
        except READ_ERRORS:
            # A file that breaks off after its first line: read it line by line, keeping
            # what comes before the break.
            return first.lstrip().startswith(b"{") and first.endswith(b"\n")
        # One line: an object reads the same either way; a one-line array is a document.
        return first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _from_object(obj: Any, line: int, base: str, raw: bytes | None) -> Iterator[SourceRecord]:
    """Yield the releases an object holds: itself, or a package's releases or records."""
    if isinstance(obj, dict) and "ocid" not in obj:
        if isinstance(obj.get("releases"), list):
            for i, release in enumerate(obj["releases"]):
                yield _release_record(release, line, f"{base}/releases/{i}")
            return
        if isinstance(obj.get("records"), list):
            for i, record in enumerate(obj["records"]):
                yield from _from_record(record, line, f"{base}/records/{i}")
            return
    yield SourceRecord(line, base or None, obj, raw)


def _dump(value: Any) -> bytes | None:
    """A rejected part's JSON text, or None when orjson cannot write it (nested too deep)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


def _release_record(release: Any, line: int, pointer: str) -> SourceRecord:
    return SourceRecord(line, pointer, release, None)


def _from_record(record: Any, line: int, pointer: str) -> Iterator[SourceRecord]:
    if not isinstance(record, dict):
        yield SourceRecord(line, pointer, None, _dump(record), "record is not an object")
        return
    compiled = record.get("compiledRelease")
    if isinstance(compiled, dict):
        if "ocid" not in compiled and isinstance(record.get("ocid"), str):
            compiled = {"ocid": record["ocid"], **compiled}
        yield SourceRecord(line, f"{pointer}/compiledRelease", compiled, None)
        return
    releases = record.get("releases")
    if not isinstance(releases, list) or not releases:
        yield SourceRecord(
            line, pointer, None, _dump(record), "record has no compiledRelease or releases"
        )
        return
    for i, release in enumerate(releases):
        where = f"{pointer}/releases/{i}"
        if isinstance(release, dict) and "ocid" not in release and "url" in release:
            yield SourceRecord(
                line,
                where,
                None,
                _dump(release),
                "linked release (url only): its data is not in the file",
            )
        else:
            yield SourceRecord(line, where, release, None)


def _read_json_lines(path: Path) -> Iterator[SourceRecord]:
    number = 0
    with open_bytes(path) as handle:
        lines = iter(handle)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except READ_ERRORS as exc:
                yield broken_file(exc, number + 1, "line")
                return
            number += 1
            if number == 1:
                line = line.lstrip(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield SourceRecord(number, None, None, line.rstrip(b"\r\n"), f"invalid JSON: {exc}")
                continue
            yield from _from_object(obj, number, "", line.rstrip(b"\r\n"))


def _read_document(path: Path) -> Iterator[SourceRecord]:
    try:
        with open_bytes(path) as handle:
            data = handle.read()
    except READ_ERRORS:
        # A compressed document that breaks off: stream it, keeping what comes before.
        yield from _stream_document(path, whole=False)
        return
    try:
        obj = orjson.loads(data.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        try:
            kind = _top_level_kind(path)
        except NotOcdsError:
            kind = "object"
        if kind != "object":
            # A package or array that nests deeper than orjson reads (1,024 levels), is cut
            # short or is corrupt part way: ijson reads it item by item, so only the broken
            # release is lost, and every one before a break is kept.
            yield from _stream_document(path, whole=False)
            return
        raise NotOcdsError(f"{path}: not valid JSON or JSON Lines ({exc})") from exc
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _from_object(item, i + 1, f"/{i}", None)
    else:
        yield from _from_object(obj, 1, "", None)


class _UntilBroken:
    """A binary file for ijson that reads one decompressed block at a time and, where the
    file breaks off, gives end-of-file instead of the error (kept in ``error``): ijson then
    yields every item complete before the break."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            read1 = getattr(self.handle, "read1", None)
            return read1(size) if read1 is not None and size > 0 else self.handle.read(size)
        except READ_ERRORS as exc:
            self.error = exc
            return b""


def _top_level_kind(path: Path) -> str:
    """For a streamed document: 'array', 'releases', 'records' or 'object'."""
    with open_bytes(path) as handle:
        reader = _UntilBroken(handle)
        try:
            for prefix, event, value in ijson.parse(reader):
                if prefix == "" and event == "start_array":
                    return "array"
                if prefix == "" and event == "map_key" and value in ("releases", "records"):
                    return str(value)
        except ijson.JSONError as exc:
            raise NotOcdsError(f"{path}: cannot be read as JSON ({reader.error or exc})") from exc
    if reader.error is not None:
        raise NotOcdsError(f"{path}: cannot be read ({reader.error})")
    return "object"


def _stream_document(path: Path, *, whole: bool = True) -> Iterator[SourceRecord]:
    """Stream a document's releases; ``whole`` lets a plain object be parsed in one go."""
    kind = _top_level_kind(path)
    if kind == "object":
        if not whole:
            raise NotOcdsError(
                f"{path}: cannot be read: one JSON object that breaks off or nests too deep"
            )
        yield from _read_document(path)
        return
    item_prefix = "item" if kind == "array" else f"{kind}.item"
    position = 0
    with open_bytes(path) as handle:
        reader = _UntilBroken(handle)
        items = ijson.items(reader, item_prefix, use_float=True)
        try:
            for i, item in enumerate(items):
                position = i + 1
                if kind == "records":
                    yield from _from_record(item, i + 1, f"/records/{i}")
                elif kind == "releases":
                    yield _release_record(item, i + 1, f"/releases/{i}")
                else:
                    yield from _from_object(item, i + 1, f"/{i}", None)
        except READ_ERRORS as exc:
            yield broken_file(reader.error or exc, position + 1, "item")
            return
        if reader.error is not None:  # broke off between items
            yield broken_file(reader.error, position + 1, "item")


def _read_contracts_finder(path: Path, form: str) -> Iterator[SourceRecord]:
    line = 0
    with open_bytes(path) as handle:
        try:
            for record in contracts_finder.records(handle, form):
                line = record.line
                yield SourceRecord(*record)
        except READ_ERRORS as exc:
            yield broken_file(exc, line + 1, "record after line")


def read_ocds(path: Path) -> Iterator[SourceRecord]:
    """Yield every release in an OCDS file, with its position; raise NotOcdsError if not OCDS."""
    try:
        with open_bytes(path) as handle:
            head = _first_bytes(handle)
    except READ_ERRORS as exc:  # e.g. a gzip truncated in its first block
        raise NotOcdsError(f"{path}: cannot be read ({exc})") from exc
    if not head:
        raise NotOcdsError(f"{path}: the file is empty")
    form = contracts_finder.detect(head_bytes(path, contracts_finder.HEAD_BYTES))
    if form is not None:  # Contracts Finder's CSV and API exports, converted to releases
        yield from _read_contracts_finder(path, form)
        return
    if head[:1] not in (b"{", b"[") and _is_json_lines(path):
        # JSON Lines whose first line is damaged (cut short, bad bytes): the line is one
        # rejected record, and the lines after it are read.
        yield from _read_json_lines(path)
        return
    if head[:1] not in (b"{", b"["):
        preview = head[:40].decode("utf-8", "replace").splitlines()[0] if head else ""
        raise NotOcdsError(
            f"{path}: not OCDS JSON (it starts with {preview!r}); "
            "expected a release package, record package, JSON Lines of releases, or an array"
        )
    if _is_json_lines(path):
        yield from _read_json_lines(path)
    elif _size(path) > STREAM_THRESHOLD_BYTES or path.name.lower().endswith(".gz"):
        yield from _stream_document(path)
    else:
        yield from _read_document(path)
