"""A spend file's bytes as text: gzip by its magic bytes, UTF-8 with or without a byte order
mark, UTF-16 (Excel's "Unicode text"), else Windows-1252 (never assumed UTF-8: the whole
file is checked first); stray bad bytes and NUL bytes with a warning, and a truncated gzip
read up to where it breaks off.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from pathlib import Path
from typing import IO

from locality.ingest.ocds import open_bytes


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    # The five bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as the
    # Latin-1 control characters of the same value instead of failing the file.
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("locality-latin1", _latin1_fallback)


# Files up to this size are decoded whole (one pass); larger ones are streamed.
WHOLE_FILE_BYTES = 256 << 20


def detect_encoding(path: Path) -> str:
    """``utf-16`` or ``utf-8-sig`` (by BOM), ``utf-8`` (the whole file decodes), else
    ``cp1252``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_bytes(path) as handle:
        first = True
        while chunk := handle.read(1 << 20):
            if first and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "utf-16"
            if first and chunk.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "cp1252"
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


# A well-formed UTF-8 sequence of two to four bytes (a non-ASCII character).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# Invalid bytes listed in a warning (the count is always given).
WARN_POSITIONS = 5

# The invalid bytes met by the "locality-utf8-cp1252" error handler while one file is
# decoded (a worker decodes one file at a time).
_invalid_bytes: list[int] = []


def _utf8_with_cp1252_bytes(error: UnicodeError) -> tuple[str, int]:
    # A byte that is not UTF-8 inside a UTF-8 file is almost always one Windows-1252
    # character typed into a UTF-8 export (``Caf\xe9``): decode that byte alone so the
    # rest of the file keeps its UTF-8 characters.
    assert isinstance(error, UnicodeDecodeError)
    _invalid_bytes.append(error.start)
    bad = error.object[error.start : error.start + 1]
    return bad.decode("cp1252", errors="locality-latin1"), error.start + 1


codecs.register_error("locality-utf8-cp1252", _utf8_with_cp1252_bytes)


def _decode_whole(data: bytes) -> tuple[str, str, list[str]]:
    """(text, encoding, warnings) of a whole file: UTF-8 (with or without BOM) when it is
    UTF-8, else Windows-1252, in one pass. A UTF-8 file with a few invalid bytes (at least
    one well-formed UTF-8 character per ten bad bytes) stays UTF-8: each bad byte is read on
    its own, with a warning naming its lines, rather than the whole file turned to
    Windows-1252 mojibake (``Café`` → ``CafÃ©``). NUL bytes are removed, with a warning."""
    warnings: list[str] = []
    encoding = "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with its byte order mark, tab-separated.
        return _without_nul(data.decode("utf-16", errors="replace"), "utf-16", warnings)
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[len(codecs.BOM_UTF8) :], "utf-8-sig"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        valid = sum(1 for _ in _UTF8_SEQUENCE.finditer(data))
        _invalid_bytes.clear()
        text = data.decode("utf-8", errors="locality-utf8-cp1252")
        bad = list(_invalid_bytes)
        _invalid_bytes.clear()
        # Windows-1252 text has (almost) no well-formed UTF-8 sequences; a UTF-8 export with
        # a stray byte has many more of them than bad bytes.
        if encoding == "utf-8" and (valid == 0 or valid * 10 < len(bad)):
            return _decode_whole_cp1252(data)
        lines = sorted({data.count(b"\n", 0, at) + 1 for at in bad[: WARN_POSITIONS + 1]})
        shown = ", ".join(str(n) for n in lines[:WARN_POSITIONS])
        more = " …" if len(bad) > len(lines[:WARN_POSITIONS]) else ""
        warnings.append(
            f"{len(bad)} byte(s) not valid UTF-8 (line {shown}{more}) read as Windows-1252 "
            "characters; the rest of the file is UTF-8"
        )
    return _without_nul(text, encoding, warnings)


def _decode_whole_cp1252(data: bytes) -> tuple[str, str, list[str]]:
    return _without_nul(data.decode("cp1252", errors="locality-latin1"), "cp1252", [])


def _without_nul(text: str, encoding: str, warnings: list[str]) -> tuple[str, str, list[str]]:
    if "\x00" in text:
        # NUL is never text: a byte left by a broken export or a hostile file, it would
        # be kept inside a supplier's name (and cuts strings short in C tools).
        warnings.append(f"{text.count(chr(0))} NUL byte(s) removed")
        text = text.replace("\x00", "")
    return text, encoding, warnings


def _read_until_broken(raw: IO[bytes], limit: int) -> tuple[bytes, BaseException | None]:
    """Up to ``limit`` bytes, a decompressed block at a time; where a gzip breaks off (an
    interrupted download), what came before and the error."""
    parts: list[bytes] = []
    size = 0
    read1 = getattr(raw, "read1", raw.read)
    try:
        while size < limit and (chunk := read1(min(1 << 20, limit - size))):
            parts.append(chunk)
            size += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def _open_text(path: Path) -> tuple[IO[str], str, list[str], str | None]:
    """The file as text for the csv module (newlines untranslated), its encoding, warnings
    about its bytes, and where it breaks off (a truncated gzip: the lines before the break
    are read), else None."""
    if path.stat().st_size <= WHOLE_FILE_BYTES:
        with open_bytes(path) as raw:
            data, error = _read_until_broken(raw, WHOLE_FILE_BYTES + 1)
            more = b"" if error else raw.read(1)
        broken = None
        if error is not None:
            end = max(data.rfind(b"\n"), data.rfind(b"\r"))
            if end < 0:
                raise error  # nothing whole before the break: the file cannot be read
            data = data[: end + 1]
            why = (
                "the compressed data ends early (a truncated or interrupted download?)"
                if isinstance(error, EOFError)
                else f"it is corrupt ({error})"
            )
            lines = data.count(b"\n") or 1
            broken = f"the file breaks off after line {lines}: {why}"
        if len(data) <= WHOLE_FILE_BYTES and not more:  # a gzip file may inflate past it
            text, encoding, warnings = _decode_whole(data)
            return io.StringIO(text, newline=""), encoding, warnings, broken
    encoding = detect_encoding(path)
    errors = "locality-latin1" if encoding == "cp1252" else "strict"
    stream = io.TextIOWrapper(open_bytes(path), encoding=encoding, errors=errors, newline="")
    return stream, encoding, [], None
