"""Read OCDS from any common form, streaming.

Forms: JSON Lines (one release, release package or record package per line), a release
package, a record package (its ``compiledRelease`` when present, otherwise its
``releases``), a JSON array of releases, a single release, and gzip of any of these.
Directories are walked for ``.json``, ``.jsonl``, ``.ndjson`` and their ``.gz``.

Large single documents are streamed with ijson so a 2 GB package never needs 2 GB of
memory; JSON Lines are parsed one line at a time with orjson.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

OCDS_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".gz")
# Single documents up to this size are parsed whole (faster); bigger ones are streamed.
STREAM_THRESHOLD_BYTES = 64 * 1024 * 1024


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
        head = handle.read(size)
        handle.seek(0)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def _is_json_lines(path: Path) -> bool:
    """JSON Lines when the first line is a whole JSON value and another value follows."""
    with open_bytes(path) as handle:
        first = handle.readline(STREAM_THRESHOLD_BYTES)
        if len(first) == STREAM_THRESHOLD_BYTES and not first.endswith(b"\n"):
            return False  # one huge line: a minified package, to be streamed
        try:
            orjson.loads(first.lstrip(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError:
            return False
        for line in handle:
            if line.strip():
                return True
        return True  # a one-line file is read the same either way


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


def _release_record(release: Any, line: int, pointer: str) -> SourceRecord:
    return SourceRecord(line, pointer, release, None)


def _from_record(record: Any, line: int, pointer: str) -> Iterator[SourceRecord]:
    if not isinstance(record, dict):
        yield SourceRecord(line, pointer, None, orjson.dumps(record), "record is not an object")
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
            line, pointer, None, orjson.dumps(record), "record has no compiledRelease or releases"
        )
        return
    for i, release in enumerate(releases):
        where = f"{pointer}/releases/{i}"
        if isinstance(release, dict) and "ocid" not in release and "url" in release:
            yield SourceRecord(
                line,
                where,
                None,
                orjson.dumps(release),
                "linked release (url only): its data is not in the file",
            )
        else:
            yield SourceRecord(line, where, release, None)


def _read_json_lines(path: Path) -> Iterator[SourceRecord]:
    with open_bytes(path) as handle:
        for number, line in enumerate(handle, 1):
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
    with open_bytes(path) as handle:
        data = handle.read()
    try:
        obj = orjson.loads(data.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise NotOcdsError(f"{path}: not valid JSON or JSON Lines ({exc})") from exc
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _from_object(item, i + 1, f"/{i}", None)
    else:
        yield from _from_object(obj, 1, "", None)


def _top_level_kind(path: Path) -> str:
    """For a streamed document: 'array', 'releases', 'records' or 'object'."""
    with open_bytes(path) as handle:
        for prefix, event, value in ijson.parse(handle):
            if prefix == "" and event == "start_array":
                return "array"
            if prefix == "" and event == "map_key" and value in ("releases", "records"):
                return str(value)
    return "object"


def _stream_document(path: Path) -> Iterator[SourceRecord]:
    kind = _top_level_kind(path)
    if kind == "object":
        yield from _read_document(path)
        return
    item_prefix = "item" if kind == "array" else f"{kind}.item"
    with open_bytes(path) as handle:
        items = ijson.items(handle, item_prefix, use_float=True)
        for i, item in enumerate(items):
            if kind == "records":
                yield from _from_record(item, i + 1, f"/records/{i}")
            elif kind == "releases":
                yield _release_record(item, i + 1, f"/releases/{i}")
            else:
                yield from _from_object(item, i + 1, f"/{i}", None)


def read_ocds(path: Path) -> Iterator[SourceRecord]:
    """Yield every release in an OCDS file, with its position; raise NotOcdsError if not OCDS."""
    with open_bytes(path) as handle:
        try:
            head = _first_bytes(handle)
        except OSError as exc:  # e.g. a truncated gzip
            raise NotOcdsError(f"{path}: cannot be read ({exc})") from exc
    if not head:
        raise NotOcdsError(f"{path}: the file is empty")
    if head[:1] not in (b"{", b"["):
        preview = head[:40].decode("utf-8", "replace").splitlines()[0] if head else ""
        raise NotOcdsError(
            f"{path}: not OCDS JSON (it starts with {preview!r}); "
            "expected a release package, record package, JSON Lines of releases, or an array"
        )
    if head[:1] == b"{" and _is_json_lines(path):
        yield from _read_json_lines(path)
    elif _size(path) > STREAM_THRESHOLD_BYTES or path.name.lower().endswith(".gz"):
        yield from _stream_document(path)
    else:
        yield from _read_document(path)
