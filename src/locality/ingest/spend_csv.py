"""Read council "spend over £500" CSV files, streaming, into canonical payment rows.

Councils publish these returns under the Local Government Transparency Code, each in its
own layout. The reader copes with what real files do:

* encodings: UTF-8 with or without a byte order mark, else Windows-1252 (never assumed
  UTF-8: the whole file is checked first); gzip by its magic bytes;
* the header row is found among the first lines (preamble lines before it are skipped) by
  matching cells against the column map; a second header line (Salford's
  ``,,,Gross,VAT,Net,,,`` under ``Amount,,``) is merged into the first;
* blank header cells become ``column N``, repeated names are kept as ``Name (2)``, rows
  longer than the header keep their extra values (ignored), shorter rows are padded;
* every layout is mapped onto the canonical fields of :data:`PAYMENT_FIELDS` through
  ``spend_columns.toml`` (package data, extendable with a user file): header variants are
  compared ignoring case, spaces and punctuation, so misspelt headers are variants too;
* amounts like ``£4,490.00``, ``-£95.00``, ``(1,234.50)`` and ``12.00-``; net of VAT from a
  net column, else gross less VAT, else gross;
* dates as ISO ``yyyy-mm-dd``, ``dd/mm/yyyy``, ``dd.mm.yyyy``, ``dd-mm-yy`` and ``1 Apr 2018``;
* "Total" lines (a cell reading "Total", or an amount with neither date nor supplier) are
  not payments: they are rejected with that reason, as are rows whose amount or date cannot
  be read. Wholly blank lines are not records at all.

The publishing body comes from ``--body`` (``body=``), else from the file's body column
(a name, or a URI/code such as ``…/local-authority-district/00CY``), else from the file or
folder name (``leeds-city-council/2018-09.csv``); it is mapped to a council's registry code
through :mod:`locality.reference` where possible.
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
import re
import time
import tomllib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from locality.domain.identity import is_placeholder, normalise_name, pad_company_number
from locality.domain.text import parse_flag
from locality.domain.values import CAP_SUB_CENTRAL
from locality.ingest.gc_pause import paused_gc
from locality.ingest.ocds import open_bytes
from locality.reference import (
    local_authority,
    local_authority_code_for_code,
    local_authority_code_for_name,
)
from locality.store.schema import SPEND_COLUMNS, SPEND_PAYMENTS_DDL

SPEND_SUFFIXES = (".csv", ".csv.gz")
# One council payment over this is a typing error, not money (values.py: a council's whole
# annual budget is rarely over £5bn); it would overflow a place's totals to infinity.
PAYMENT_CAP = CAP_SUB_CENTRAL
# A cell may be as long as the file (a long description, a free-text field): the csv
# module's default limit (131,072 characters) made such a file "not a spend file".
csv.field_size_limit(1 << 30)
HEADER_SEARCH_ROWS = 50
RAW_LIMIT = 10_000

# The canonical fields of one payment, in the order of the rows the reader yields (the
# columns of ``spend_payments`` after ``source_file``).
PAYMENT_FIELDS = SPEND_COLUMNS[1:]  # the spend_payments columns after source_file

# Fields the column map may name (the amount parts are combined into ``amount_net``).
MAPPED_FIELDS = (
    "body",
    "body_code",
    "payment_date",
    "amount_net",
    "amount_gross",
    "amount_vat",
    "supplier_name",
    "company_number",
    "charity_number",
    "vcse_flag",
    "service_area",
    "expense_type",
    "transaction_id",
)


class SpendFileError(ValueError):
    """A spend file cannot be used at all (one clear error naming it)."""


class NotSpendError(SpendFileError):
    """The file is not a spend file (``payments_seen``: yet it holds a column of dates and
    a column of money, so it is reported as an error even inside a folder, where other
    CSVs, such as a provenance.csv, are skipped)."""

    def __init__(self, message: str, *, payments_seen: bool = False) -> None:
        super().__init__(message)
        self.payments_seen = payments_seen


class NoBodyError(SpendFileError):
    """The publishing body is neither in the file, nor in its name, nor given."""


class AmbiguousColumnsError(SpendFileError):
    """A spend file whose columns could be read more than one way (the message lists the
    candidates): refused rather than guessed, so no payment is read from the wrong column."""


class SpendColumnsError(ValueError):
    """A column-mapping TOML file is malformed; the message names the file and the problem."""


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    # The five bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as the
    # Latin-1 control characters of the same value instead of failing the file.
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("locality-latin1", _latin1_fallback)


def header_key(name: str) -> str:
    """The comparison key of a header: case-folded letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


# ------------------------------------------------------------------------------ column map


@dataclass(frozen=True)
class SpendColumns:
    """The column map and the settings that go with it (see ``spend_columns.toml``)."""

    fields: dict[str, tuple[str, ...]]  # canonical field → header keys, best first
    card_markers: frozenset[str]
    redaction: re.Pattern[str]
    default_threshold: float
    thresholds: dict[str, float]  # council registry code → published threshold
    sources: tuple[str, ...] = ()

    @property
    def all_keys(self) -> frozenset[str]:
        return frozenset(k for keys in self.fields.values() for k in keys) | self.card_markers


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpendColumnsError(f"{source}: not valid TOML ({exc})") from exc


def _strings(value: Any, where: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpendColumnsError(f"{source}: {where} must be a list of strings")
    return value


def load_columns(extra: str | Path | None = None) -> SpendColumns:
    """The package's column map, extended by a user's TOML file when given.

    A user file's header variants are tried before the package's; its ``[card]``,
    ``[redaction]`` and ``[threshold]`` entries are added to (thresholds: replace) them.
    """
    base_text = files("locality.ingest").joinpath("spend_columns.toml").read_text("utf-8")
    layers = [(_toml(base_text, "spend_columns.toml"), "spend_columns.toml")]
    if extra is not None:
        path = Path(extra)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise SpendColumnsError(f"{path}: cannot read the column map ({exc})") from exc
        layers.insert(0, (_toml(text, str(path)), str(path)))
    fields: dict[str, list[str]] = {name: [] for name in MAPPED_FIELDS}
    markers: set[str] = set()
    patterns: list[str] = []
    default_threshold: float | None = None
    thresholds: dict[str, float] = {}
    for data, source in layers:
        unknown = set(data) - {"fields", "card", "redaction", "threshold"}
        if unknown:
            raise SpendColumnsError(f"{source}: unknown section(s) {sorted(unknown)}")
        for name, variants in data.get("fields", {}).items():
            if name not in fields:
                raise SpendColumnsError(
                    f"{source}: unknown canonical field {name!r}; "
                    f"known fields: {', '.join(MAPPED_FIELDS)}"
                )
            for variant in _strings(variants, f"fields.{name}", source):
                key = header_key(variant)
                if key and key not in fields[name]:
                    fields[name].append(key)
        card = data.get("card", {})
        markers.update(header_key(m) for m in _strings(card.get("markers", []), "card", source))
        redaction = data.get("redaction", {})
        patterns.extend(_strings(redaction.get("patterns", []), "redaction.patterns", source))
        threshold = data.get("threshold", {})
        if default_threshold is None and "default" in threshold:
            default_threshold = float(threshold["default"])
        for code, value in threshold.get("by_body", {}).items():
            thresholds.setdefault(code.strip().upper(), float(value))
    try:
        redaction_re = re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.I)
    except re.error as exc:
        raise SpendColumnsError(f"a redaction pattern is not a regular expression: {exc}") from exc
    return SpendColumns(
        fields={name: tuple(keys) for name, keys in fields.items()},
        card_markers=frozenset(markers),
        redaction=redaction_re,
        default_threshold=500.0 if default_threshold is None else default_threshold,
        thresholds=thresholds,
        sources=tuple(source for _, source in reversed(layers)),
    )


# ----------------------------------------------------------------------------- values

# ASCII digits only, as the SQL form of the rule (spend_amount) reads them.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def parse_amount(text: str) -> float:
    """``"£4,490.00"`` → 4490.0, ``"(1,234.50)"`` → -1234.5; ``ValueError`` if not a number."""
    text = text.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    negative = False
    value = text
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1].strip()
    upper = value.upper()
    if upper.endswith("CR"):
        negative, value = not negative, value[:-2].strip()
    elif value.endswith("-"):
        negative, value = not negative, value[:-1].strip()
    value = value.replace(",", "").replace(" ", "").replace("\u00a0", "")
    for _ in range(2):  # a sign and a currency sign, in either order: -£95.00, £-95.00
        if value[:1] in ("-", "\u2212"):
            negative, value = not negative, value[1:]
        elif value[:1] == "+":
            value = value[1:]
        if value[:1] == "£" or value[:3].upper() == "GBP":
            value = value[1:] if value[:1] == "£" else value[3:]
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"not an amount: {text!r}")
    number = float(value)
    return -number if negative else number


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_YMD_SLASH = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?: .*)?")
_DMY = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?: .*)?")
_DMY_NAMED = re.compile(r"(\d{1,2})[ -]([A-Za-z]{3,9})[ ,-]+(\d{4}|\d{2})")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}


def parse_date(text: str) -> date | None:
    """A payment date as UK councils write it; ``None`` if it is not a real date."""
    text = text.strip()
    year = month = day = 0
    if match := _ISO_DATE.fullmatch(text) or _YMD_SLASH.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    elif match := _DMY_NAMED.fullmatch(text):
        found = _MONTHS.get(match.group(2).casefold())
        if found is None:
            return None
        day, month, year = int(match.group(1)), found, int(match.group(3))
    else:
        return None
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def clean_company_number(text: str) -> str | None:
    """Companies House number, left-padded to 8 when numeric; placeholders are ``None``."""
    value = "".join(text.split()).upper()
    if not value or is_placeholder(value):
        return None
    return pad_company_number(value)


def clean_charity_number(text: str) -> str | None:
    value = " ".join(text.split()).upper()
    if not value or is_placeholder(value):
        return None
    return value


# ------------------------------------------------------------------------------- bodies


@dataclass(frozen=True)
class Body:
    name: str | None
    la_registry_code: str | None
    source: str  # option | column | file name | none


_ABBREVIATIONS = (
    (re.compile(r"\bMDC\b", re.I), "Metropolitan District Council"),
    (re.compile(r"\bMBC\b", re.I), "Metropolitan Borough Council"),
    (re.compile(r"\bBC\b", re.I), "Borough Council"),
    (re.compile(r"\bDC\b", re.I), "District Council"),
    (re.compile(r"\bCC\b", re.I), "City Council"),
)


def resolve_body(text: str, code_text: str = "") -> tuple[str, str | None]:
    """(display name, council registry code or None) for a body as published or given.

    ``code_text`` is a body code column's value (``E08000036``), tried first.
    """
    value = " ".join(text.split())
    code = local_authority_code_for_code(code_text) if code_text.strip() else None
    if code is None and "/" in value:  # a URI such as …/local-authority-district/00CY
        code = local_authority_code_for_code(value.rstrip("/").rsplit("/", 1)[-1])
    elif code is None and value:
        code = local_authority_code_for_name(value)
        if code is None and " " not in value and len(value) <= 12:
            code = local_authority_code_for_code(value)
        if code is None:
            expanded = value
            for pattern, replacement in _ABBREVIATIONS:
                expanded = pattern.sub(replacement, expanded)
            if expanded != value:
                code = local_authority_code_for_name(expanded)
    council = local_authority(code) if code else None
    return (council.official_name if council else value), code


_NAME_NOISE = re.compile(
    r"\b(?:card|cards|spend|spending|payments?|over|transparency|data|archive|latest)\b"
)


def body_from_path(path: Path) -> tuple[str, str] | None:
    """A council named by the file or its folder (``leeds-city-council/2018-09.csv``)."""
    stem = path.name
    for suffix in (".gz", ".csv"):
        stem = stem.removesuffix(suffix)
    for candidate in (stem, path.parent.name):
        words = re.sub(r"[\d_\-.\s]+", " ", candidate.casefold())
        words = " ".join(_NAME_NOISE.sub(" ", words).split())
        if not words:
            continue
        code = local_authority_code_for_name(words)
        council = local_authority(code) if code else None
        if council is not None:
            return council.official_name, council.code
    return None


# ------------------------------------------------------------------------------ reading

# Files up to this size are decoded whole (one pass); larger ones are streamed.
WHOLE_FILE_BYTES = 256 << 20
# Data rows handled at a time: their cells are held in memory until the chunk is staged.
CHUNK_ROWS = 100_000

# What Python's str.strip() removes, so the SQL side trims cells exactly as the reader did.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


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


@dataclass(slots=True)
class SpendRecord:
    """One data row: a payment (``row``, in :data:`PAYMENT_FIELDS` order) or a rejection."""

    line: int
    row: tuple[Any, ...] | None
    reason: str | None = None
    column: str | None = None
    raw: str | None = None


@dataclass
class SpendLayout:
    encoding: str
    header_line: int  # 1-based line of the header (its last line when it has two)
    header_lines: int
    columns: list[str]
    mapping: dict[str, str]  # canonical field → column name used
    is_card: bool
    delimiter: str = ","
    # canonical field → why its column was taken: its header name, or its content
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class SpendStats:
    """Figures of the payments kept, for the summary and the threshold."""

    total: float | None = None
    positive: int = 0
    below_default: int = 0
    min_positive: float | None = None
    first_date: date | None = None
    last_date: date | None = None

    @property
    def total_amount(self) -> float:
        return round(self.total or 0.0, 2)


_TOTAL_CELL = re.compile(r"(?:grand\s*|sub\s*-?\s*)?totals?:?", re.I)


def _raw(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()[:RAW_LIMIT]


def _trim(column: str) -> str:
    """SQL: the column stripped as str.strip() would. (trim() with a set of characters
    costs about 1 µs a cell: cells are stripped in Python, and this is for the rare cells
    that held parentheses or a trailing sign.)"""
    return f"trim({column}, '{WHITESPACE}')"


# The amount rule of parse_amount, in SQL, one step per query level so that no step is
# written (and evaluated) twice. {f} is a column prefix: net, gross or vat.
_AMOUNT_STEPS = (
    "coalesce({f}_text, '') AS {f}_t",
    # Most cells are plain numbers (1234.50); only the others take the steps below.
    "{f}_t <> '' AND NOT regexp_full_match({f}_t, '-?[0-9]+(\\.[0-9]+)?') AS {f}_odd",
    # (1,234.50) is negative, its parentheses dropped
    "{f}_odd AND {f}_t LIKE '(%)' AS {f}_paren, CASE WHEN {f}_odd AND {f}_t LIKE '(%)' THEN "
    + _trim("substr({f}_t, 2, length({f}_t) - 2)")
    + " ELSE {f}_t END AS {f}_inner",
    # 12.00CR and 12.00- are negative, the marker dropped
    "{f}_odd AND (upper({f}_inner) LIKE '%CR' OR {f}_inner LIKE '%-') AS {f}_trailing, "
    "CASE WHEN NOT {f}_odd THEN {f}_inner WHEN upper({f}_inner) LIKE '%CR' THEN "
    + _trim("substr({f}_inner, 1, length({f}_inner) - 2)")
    + " WHEN {f}_inner LIKE '%-' THEN "
    + _trim("substr({f}_inner, 1, length({f}_inner) - 1)")
    + " ELSE {f}_inner END AS {f}_bare",
    # separators go; up to two (sign, currency) prefixes: -£95.00, £-95.00, GBP 95
    "CASE WHEN {f}_odd THEN regexp_extract("
    "replace(replace(replace({f}_bare, ',', ''), ' ', ''), chr(160), ''), "
    "'^([-\u2212+]?)(?:£|[Gg][Bb][Pp])?([-\u2212+]?)(?:£|[Gg][Bb][Pp])?"
    "([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)$', ['s1', 's2', 'n']) END AS {f}_parts",
    "CASE WHEN {f}_t = '' THEN NULL WHEN NOT {f}_odd THEN {f}_t::DOUBLE "
    "WHEN {f}_parts.n = '' THEN NULL "
    "WHEN ({f}_paren::INT + {f}_trailing::INT + ({f}_parts.s1 IN ('-', '\u2212'))::INT "
    "+ ({f}_parts.s2 IN ('-', '\u2212'))::INT) % 2 = 1 THEN -({f}_parts.n::DOUBLE) "
    "ELSE {f}_parts.n::DOUBLE END AS {f}_v",
)
AMOUNT_PREFIXES = ("net", "gross", "vat")  # the amount_net, amount_gross, amount_vat cells


def amounts_sql(source: str, prefixes: Iterable[str] = AMOUNT_PREFIXES) -> str:
    """A query over ``source`` (with ``<prefix>_text`` columns, stripped) adding
    ``<prefix>_t`` ('' for NULL) and ``<prefix>_v`` (the amount, NULL when empty or not a
    number). Prefixes not in ``prefixes`` are taken to be empty: no file of the chunk
    maps them, and even empty cells cost time."""
    used = [f for f in AMOUNT_PREFIXES if f in set(prefixes)]
    unused = [f"'' AS {f}_t, NULL::DOUBLE AS {f}_v" for f in AMOUNT_PREFIXES if f not in used]
    query = f"SELECT * FROM {source}"
    for step in _AMOUNT_STEPS:
        if used:
            added = ", ".join(step.replace("{f}", f) for f in used)
            query = f"SELECT *, {added} FROM ({query})"
    if unused:
        query = f"SELECT *, {', '.join(unused)} FROM ({query})"
    return query


# Why a row is rejected, by the code the chunk query gives it (see _PARSE_SQL).
_TOTAL_CELL_REASON = "total row (not a payment)"
_TOTAL_NO_DATE = "total row (not a payment): an amount with no date or supplier"

_PARSE_SQL = """
WITH v AS ({amounts}),
b AS (
    SELECT *,
        CASE WHEN net_t <> '' AND net_v IS NULL THEN 'amount_net'
             WHEN gross_t <> '' AND gross_v IS NULL THEN 'amount_gross'
             WHEN vat_t <> '' AND vat_v IS NULL THEN 'amount_vat' END AS bad_amount
    FROM v
)
SELECT piece, source_file, is_card, pos, source_line, body,
       body_la_registry_code, payment_date,
       supplier_name, supplier_name_normalised, company_number, charity_number, vcse_flag,
       nullif(service_area, '') AS service_area, nullif(expense_type, '') AS expense_type,
       nullif(transaction_id, '') AS transaction_id, redacted, bad_amount,
    CASE WHEN (bad_amount IS NOT NULL OR net_v IS NOT NULL OR gross_v IS NOT NULL
               OR vat_v IS NOT NULL) AND supplier_name IS NULL AND NOT date_given
             THEN 'total'
         WHEN bad_amount IS NOT NULL THEN 'amount'
         WHEN net_v IS NULL AND gross_v IS NULL THEN 'missing'
         WHEN NOT (abs(coalesce(net_v, 0)) <= {cap} AND abs(coalesce(gross_v, 0)) <= {cap}
                   AND abs(coalesce(vat_v, 0)) <= {cap}) THEN 'implausible'
         WHEN payment_date IS NULL THEN 'date'
    END AS problem,
    coalesce(net_v, gross_v - coalesce(vat_v, 0)) AS amount_net
FROM b
"""


# Delimiters tried, in order, when a file read with commas has no spend header.
OTHER_DELIMITERS = (";", "\t", "|")
# Rows below a candidate header read to recognise columns by their content.
CONTENT_SAMPLE_ROWS = 200
CONTENT_MIN_ROWS = 3
# Share of a column's non-empty values that must have a kind for the column to be taken.
CONTENT_SHARE = 0.9

# Words that mark an organisation's name (a supplier), as registered bodies are named.
_ORGANISATION = re.compile(
    r"\b(?:ltd|limited|plc|llp|lp|cic|cio|inc|co|company|group|trust|council|services?|"
    r"association|society|partnership|solutions|consult\w*|university|college|school|"
    r"academy|nhs|foundation|charity|centre|center|church|club|holdings|uk|sons|"
    r"enterprises?|industries|systems|supplies|contractors?|agency|homes?|housing)\b",
    re.I,
)
# Money as councils write it: pence (``4852.06``), a pound sign, thousands separators.
_MONEY_SHAPE = re.compile(
    r"£|[0-9]\.[0-9]{2}\)?-?$|^[^0-9]*[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?\D*$"
)
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_LETTERS = re.compile(r"[A-Za-z]{2}")


def _payments_seen(rows: list[list[str]]) -> bool:
    """Whether rows hold a column of dates and a column of money (nine values in ten)."""
    rows = [row for row in rows if "".join(row).strip()]
    if len(rows) < CONTENT_MIN_ROWS:
        return False
    dates = money = False
    for index in range(max(len(r) for r in rows)):
        values = [r[index].strip() for r in rows if index < len(r) and r[index].strip()]
        if len(values) < len(rows) // 2 or not values:
            continue
        kind = _column_kind(values)
        dates = dates or kind.dates >= CONTENT_SHARE * kind.values
        money = money or (
            kind.amounts >= CONTENT_SHARE * kind.values and kind.money >= 0.5 * kind.values
        )
    return dates and money


def _header_like(cells: list[str]) -> bool:
    """A row that can be a header: three or more labels, none a date or an amount."""
    labels = [c.strip() for c in cells if c.strip()]
    if len(labels) < 3:
        return False
    for label in labels:
        if parse_date(label) is not None:
            return False
        try:
            parse_amount(label)
        except ValueError:
            continue
        return False
    return True


@dataclass(frozen=True)
class _ColumnKind:
    values: int  # non-empty values in the sample
    dates: int
    amounts: int  # values that read as amounts
    money: int  # of which money-shaped: pence, £, thousands separators
    names: int  # organisation-like names
    texts: int  # values with letters and no amount or date reading
    distinct: int


def _column_kind(values: list[str]) -> _ColumnKind:
    dates = amounts = money = names = texts = 0
    for value in values:
        if parse_date(value) is not None:
            dates += 1
            continue
        try:
            parse_amount(value)
        except ValueError:
            if _LETTERS.search(value):
                texts += 1
                if _ORGANISATION.search(value):
                    names += 1
            continue
        amounts += 1
        if _MONEY_SHAPE.search(value):
            money += 1
    return _ColumnKind(len(values), dates, amounts, money, names, texts, len(set(values)))


def _gross_vat_net(
    rows: list[list[str]], columns: list[int]
) -> tuple[tuple[int, int, int], int] | None:
    """(gross, VAT, net) column indexes when, on nine rows in ten, one amount column is the sum
    of two others: the pair's larger (by total) is net, the smaller VAT."""

    for gross in columns:
        others = [c for c in columns if c != gross]
        for a in others:
            for b in others:
                if b <= a:
                    continue
                agree = _sum_agrees(rows, gross, a, b)
                if agree >= CONTENT_SHARE * len(rows):
                    total_a = sum(abs(_amount_at(row, a) or 0.0) for row in rows)
                    total_b = sum(abs(_amount_at(row, b) or 0.0) for row in rows)
                    if total_a != total_b:
                        net, vat = (a, b) if total_a > total_b else (b, a)
                        return (gross, vat, net), agree
    return None


def _amount_at(row: list[str], index: int) -> float | None:
    try:
        return parse_amount(row[index]) if index < len(row) and row[index].strip() else None
    except ValueError:
        return None


def _sum_agrees(rows: list[list[str]], total: int, a: int, b: int) -> int:
    """Rows on which the amount in column ``total`` is the sum of those in ``a`` and ``b``."""
    agree = 0
    for row in rows:
        t, x, y = _amount_at(row, total), _amount_at(row, a), _amount_at(row, b)
        if t is not None and x is not None and y is not None and abs(t - x - y) < 0.011:
            agree += 1
    return agree


def infer_columns(
    header: list[str], rows: list[list[str]], named: dict[str, int]
) -> tuple[dict[str, int], dict[str, str]] | None:
    """Recognise the payment date, amount and supplier columns of a layout by content.

    ``named`` are the fields recognised by header name (kept). A date column has dates in
    nine of ten non-empty cells; an amount column has amounts there, mostly money-shaped
    (pence, ``£``, thousands separators: a column of whole numbers is an id); a supplier
    column has text in nine of ten cells, varied (not a service area repeated), with the
    most organisation-like names (Ltd, Council, Trust, …). Returns (field → column index,
    field → reason), None when a field has no candidate, and raises
    :class:`AmbiguousColumnsError` (listing the candidates) when two columns fit equally.
    """
    width = max(len(header), *(len(r) for r in rows))
    kinds: dict[int, _ColumnKind] = {}
    taken = set(named.values())
    for index in range(width):
        if index in taken:
            continue
        values = [r[index].strip() for r in rows if index < len(r) and r[index].strip()]
        if len(values) >= max(CONTENT_MIN_ROWS, len(rows) // 2):
            kinds[index] = _column_kind(values)

    def label(index: int) -> str:
        name = header[index].strip() if index < len(header) else ""
        return repr(name) if name else f"column {index + 1}"

    found = dict(named)
    reasons: dict[str, str] = {}
    picks: list[tuple[str, list[tuple[float, int, str]]]] = []
    if "payment_date" not in found:
        picks.append(
            (
                "payment_date",
                [
                    (k.dates / k.values, i, f"{k.dates} of {k.values} values are dates")
                    for i, k in kinds.items()
                    if k.dates >= CONTENT_SHARE * k.values
                ],
            )
        )
    money = [
        (
            k.money / k.values,
            i,
            f"{k.amounts} of {k.values} values are amounts, "
            f"{k.money} money-shaped (pence, £ or thousands separators)",
        )
        for i, k in kinds.items()
        if k.amounts >= CONTENT_SHARE * k.values and k.money >= 0.5 * k.values
    ]
    if "amount_net" not in found and {"amount_gross", "amount_vat"} <= set(found):
        # Gross and VAT named, the net column not: the one that is gross less VAT.
        for _, index, _ in money:
            agree = _sum_agrees(rows, found["amount_gross"], index, found["amount_vat"])
            if agree >= CONTENT_SHARE * len(rows):
                found["amount_net"] = index
                reasons["amount_net"] = (
                    f"its content: gross = net + VAT on {agree} of {len(rows)} rows"
                )
                break
    elif not {"amount_net", "amount_gross"} & set(found):
        picks.append(("amount_net", money))
    if "supplier_name" not in found:
        picks.append(
            (
                "supplier_name",
                [
                    (
                        k.names / k.values,
                        i,
                        f"{k.texts} of {k.values} values are names, {k.distinct} distinct, "
                        f"{k.names} organisation-like (Ltd, Council, Trust, …)",
                    )
                    for i, k in kinds.items()
                    if k.texts >= CONTENT_SHARE * k.values
                    # varied: a service area or directorate repeats a handful of names
                    and k.distinct >= min(max(0.1 * k.values, 10), 0.5 * k.values)
                    and k.names >= 0.2 * k.values
                ],
            )
        )
    for name, candidates in picks:
        candidates = [c for c in candidates if c[1] not in found.values()]
        if not candidates:
            return None
        if name == "amount_net" and len(candidates) >= 3:
            parts = _gross_vat_net(rows, [i for _, i, _ in candidates])
            if parts is not None:
                (gross, vat, net), agree = parts
                why = f"its content: gross = net + VAT on {agree} of {len(rows)} rows"
                for field_name, index in (("amount_gross", gross), ("amount_vat", vat)):
                    found[field_name] = index
                    reasons[field_name] = why
                candidates = [c for c in candidates if c[1] == net]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        best = candidates[0]
        close = [c for c in candidates if c[0] >= best[0] - 0.1]
        if name == "payment_date" and len(close) > 1:
            # Payments fall on many days; a period or effective date repeats a few (one a
            # month): a date column with three times the distinct dates of every other is
            # the payment date.
            close.sort(key=lambda c: -kinds[c[1]].distinct)
            most, second = kinds[close[0][1]].distinct, kinds[close[1][1]].distinct
            if most >= 3 * second:
                pick = close[0]
                close = [
                    (
                        pick[0],
                        pick[1],
                        f"{pick[2]}, {most} distinct (the other date columns have at most "
                        f"{second}: periods, not payment days)",
                    )
                ]
                best = close[0]
        if len(close) > 1:
            listed = "; ".join(f"{label(i)} ({why})" for _, i, why in close)
            raise AmbiguousColumnsError(
                f"the {name.replace('_', ' ')} column is ambiguous: {listed}. Name the right "
                "column in a --columns FILE (see spend_columns.toml)"
            )
        found[name] = best[1]
        reasons[name] = f"its content: {best[2]}"
    return found, reasons


class SpendFile:
    """An open spend file: its layout, and its payments parsed a chunk at a time.

    Raises :class:`NotSpendError` on opening when no spend header is found. The header and
    layout are found row by row in Python; the data rows are then read with the csv module
    into columns, the few distinct values of each column (dates, supplier names, numbers,
    bodies) are cleaned once each in Python, and the amounts are parsed in DuckDB over a
    whole chunk (:func:`amounts_sql`, the same rule as :func:`parse_amount`).
    """

    def __init__(
        self,
        path: str | Path,
        columns: SpendColumns | None = None,
        *,
        body: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.config = columns or load_columns()
        self._handle, encoding, self.warnings, self.broken = _open_text(self.path)
        self._reader = csv.reader(self._handle)
        self._line_end = 0
        self.stats = SpendStats()
        self.records_read = 0
        try:
            self._pending = self._find_layout(encoding)
            self.body = self._file_body(body)
        except BaseException:
            self._handle.close()
            raise
        self._bodies: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self._rejected: list[tuple[int, str | None, str, str]] = []

    # context manager
    def __enter__(self) -> SpendFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def _csv_error(self, exc: csv.Error) -> NotSpendError:
        """A CSV error before the header was found: not a spend file we can read."""
        return NotSpendError(f"{self.path}: CSV error after line {self._line_end}: {exc}")

    def _next(self) -> tuple[int, list[str]] | None:
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise self._csv_error(exc) from exc
        start = self._line_end + 1
        self._line_end = self._reader.line_num
        return start, cells

    def _fields_in(self, cells: list[str]) -> dict[str, int]:
        """Canonical field → column index, the best variant winning, one field per column."""
        keys = [header_key(c) for c in cells]
        found: dict[str, int] = {}
        used: set[int] = set()
        for name, variants in self.config.fields.items():
            for variant in variants:
                index = next(
                    (i for i, k in enumerate(keys) if k == variant and i not in used), None
                )
                if index is not None:
                    found[name] = index
                    used.add(index)
                    break
        return found

    @staticmethod
    def _is_spend_header(found: dict[str, int]) -> bool:
        has_amount = bool({"amount_net", "amount_gross"} & set(found))
        return has_amount and "supplier_name" in found and "payment_date" in found

    def _is_continuation(self, cells: list[str]) -> bool:
        """A second header line: only known header words, no amounts or dates."""
        values = [c.strip() for c in cells if c.strip()]
        if not values:
            return False
        known = self.config.all_keys
        for value in values:
            if header_key(value) not in known or parse_date(value) is not None:
                return False
            try:
                parse_amount(value)
            except ValueError:
                continue
            return False
        return True

    def _find_layout(self, encoding: str) -> list[tuple[int, list[str]]]:
        """Find the header with commas, else with the other delimiters councils use
        (semicolon, tab, pipe): by header names first, then by the columns' content."""
        try:
            return self._read_header(encoding)
        except NotSpendError as first:
            self._handle.seek(0)
            sample = self._handle.read(1 << 16)
            for delimiter in OTHER_DELIMITERS:
                if delimiter not in sample:
                    continue
                self._handle.seek(0)
                self._reader = csv.reader(self._handle, delimiter=delimiter)
                self._line_end = 0
                try:
                    pending = self._read_header(encoding)
                except NotSpendError:
                    continue
                self.layout.delimiter = delimiter
                return pending
            raise first

    def _read_header(self, encoding: str) -> list[tuple[int, list[str]]]:
        seen: list[tuple[int, list[str]]] = []
        while len(seen) < HEADER_SEARCH_ROWS + 1 + CONTENT_SAMPLE_ROWS:
            item = self._next()
            if item is None:
                break
            seen.append(item)
        best: tuple[int, dict[str, int]] | None = None
        for i, (line, cells) in enumerate(seen[:HEADER_SEARCH_ROWS]):
            header, lines, last_line = cells, 1, line
            if i + 1 < len(seen) and self._is_continuation(seen[i + 1][1]):
                below = seen[i + 1][1]
                width = max(len(cells), len(below))
                top = [*cells, *[""] * (width - len(cells))]
                sub = [*below, *[""] * (width - len(below))]
                header = [s if s.strip() else t for t, s in zip(top, sub, strict=True)]
                lines, last_line = 2, seen[i + 1][0]
            found = self._fields_in(header)
            if self._is_spend_header(found):
                self._set_layout(encoding, header, found, lines, last_line)
                return seen[i + lines :]
            if best is None or len(found) > len(best[1]):
                best = (line, found)
        # No header names a date, an amount and a supplier: read the columns' content.
        for i, (line, cells) in enumerate(seen[:HEADER_SEARCH_ROWS]):
            if not _header_like(cells):
                continue
            sample = [row for _, row in seen[i + 1 :] if "".join(row).strip()]
            if len(sample) < CONTENT_MIN_ROWS:
                break
            named = self._fields_in(cells)
            try:
                inferred = infer_columns(cells, sample, named)
            except AmbiguousColumnsError as exc:
                raise AmbiguousColumnsError(f"{self.path}: header at line {line}: {exc}") from exc
            if inferred is None:
                continue
            found, reasons = inferred
            self._set_layout(encoding, cells, found, 1, line, reasons)
            return seen[i + 1 :]
        hint = (
            f"; the closest, line {best[0]}, has {', '.join(sorted(best[1]))}"
            if best and best[1]
            else ""
        )
        raise NotSpendError(
            f"{self.path}: not a council spend file: no header row with a payment date, an "
            f"amount and a supplier column in its first {HEADER_SEARCH_ROWS} lines{hint}. "
            "A new layout can be described with --columns FILE (see spend_columns.toml).",
            payments_seen=_payments_seen([row for _, row in seen]),
        )

    def _set_layout(
        self,
        encoding: str,
        header: list[str],
        found: dict[str, int],
        lines: int,
        last_line: int,
        reasons: dict[str, str] | None = None,
    ) -> None:
        names: list[str] = []
        counts: dict[str, int] = {}
        for number, cell in enumerate(header, 1):
            name = " ".join(cell.split()) or f"column {number}"
            key = name.casefold()
            counts[key] = counts.get(key, 0) + 1
            names.append(name if counts[key] == 1 else f"{name} ({counts[key]})")
        keys = {header_key(n) for n in names}
        is_card = bool(keys & self.config.card_markers) or bool(
            re.search(r"(?:^|[^a-z])card(?:[^a-z]|$)", self.path.name.casefold())
        )
        self.layout = SpendLayout(
            encoding=encoding,
            header_line=last_line,
            header_lines=lines,
            columns=names,
            mapping={name: names[index] for name, index in found.items()},
            is_card=is_card,
            reasons={
                name: (reasons or {}).get(name, "its header name")
                for name in sorted(found, key=found.__getitem__)
            },
        )
        self._index = found

    def _file_body(self, given: str | None) -> Body:
        if given:
            return Body(*resolve_body(given), "option")
        from_path = body_from_path(self.path)
        if "body" in self._index or "body_code" in self._index:
            # Rows with an empty body cell fall back to the council the file name gives.
            if from_path is None:
                return Body(None, None, "column")
            return Body(from_path[0], from_path[1], "column")
        if from_path is not None:
            return Body(from_path[0], from_path[1], "file name")
        raise NoBodyError(
            f"{self.path}: no publishing body: the file has no body column and its name "
            "names no council; give one with --body NAME"
        )

    def _row_body(self, text: str, code_text: str) -> tuple[str | None, str | None]:
        if self.body.source != "column" or not (text or code_text):
            return self.body.name, self.body.la_registry_code
        key = (text, code_text)
        found = self._bodies.get(key)
        if found is None:
            found = self._bodies[key] = resolve_body(text or code_text, code_text)
        return found

    # ---------------------------------------------------------------------- data rows

    def _chunks(self) -> Iterator[_Chunk]:
        """The data rows after the header, CHUNK_ROWS at a time; blank lines are skipped and
        "Total" lines rejected here (they are not records of a payment)."""
        fields = list(self._index)
        positions = [self._index[f] for f in fields]
        pick = operator.itemgetter(*positions)
        width = max(positions) + 1
        padding = [""] * width
        chunk = _Chunk(fields)
        pending = self._pending
        self._pending = []
        rows: Iterator[tuple[int, list[str]]] = iter(pending)
        for start, cells in rows:
            if self._take(chunk, start, cells, pick, width, padding):
                yield chunk
                chunk = _Chunk(fields)
        # The hot loop: the same as _take, inlined.
        reader = self._reader
        line_end = self._line_end
        lines, picked, kept_cells = chunk.lines, chunk.picked, chunk.cells
        try:
            for cells in reader:
                start = line_end + 1
                line_end = reader.line_num
                joined = "".join(cells)
                if not joined.strip():
                    continue  # a blank line is not a record
                self.records_read += 1
                if ("\n" in joined or "\r" in joined) and (
                    recovered := self._swallowed(start, cells)
                ) is not None:
                    for number, row in recovered:
                        self._take(chunk, number, row, pick, width, padding)
                elif "total" in joined.lower() and self._is_total(cells):
                    self._rejected.append((start, None, _TOTAL_CELL_REASON, _raw(cells)))
                    continue
                else:
                    lines.append(start)
                    picked.append(pick(cells) if len(cells) >= width else pick(cells + padding))
                    kept_cells.append(cells)
                if len(lines) >= CHUNK_ROWS:
                    self._line_end = line_end
                    yield chunk
                    chunk = _Chunk(fields)
                    lines, picked, kept_cells = chunk.lines, chunk.picked, chunk.cells
        except csv.Error as exc:
            # A spend file broken part way: an error (never skipped as "not spend"), and
            # none of its rows are loaded.
            raise SpendFileError(
                f"{self.path}: CSV error after line {line_end}: {exc}; none of the file's "
                "rows were loaded: mend the line and ingest the file again"
            ) from exc
        self._line_end = line_end
        if chunk.lines:
            yield chunk

    def _take(
        self,
        chunk: _Chunk,
        start: int,
        cells: list[str],
        pick: Any,
        width: int,
        padding: list[str],
    ) -> bool:
        """Add one row to the chunk (the rows read while looking for the header); True when
        the chunk is full."""
        joined = "".join(cells)
        if not joined.strip():
            return False
        self.records_read += 1
        if ("\n" in joined or "\r" in joined) and (
            recovered := self._swallowed(start, cells)
        ) is not None:
            for number, row in recovered:
                self._take(chunk, number, row, pick, width, padding)
            return len(chunk.lines) >= CHUNK_ROWS
        if "total" in joined.lower() and self._is_total(cells):
            self._rejected.append((start, None, _TOTAL_CELL_REASON, _raw(cells)))
            return False
        chunk.lines.append(start)
        chunk.picked.append(pick(cells) if len(cells) >= width else pick(cells + padding))
        chunk.cells.append(cells)
        return len(chunk.lines) >= CHUNK_ROWS

    def _swallowed(self, start: int, cells: list[str]) -> list[tuple[int, list[str]]] | None:
        """The rows an unterminated quote swallowed into one cell, read again; None when the
        row's line breaks are ordinary multi-line text.

        A quote opened and never closed makes the csv module read every following line
        into one cell, up to the next quote or the end of the file: a supplier called
        ``Unterminated Ltd,,\r\n2024-04-06,…``. A cell whose inner lines have a date
        where this layout's date is, is such a cell. Its opening line is rejected (its
        cells are lost in the quote); the lines inside are rows of their own, read again
        (returned with their line numbers); a last line where a later quote closes the
        run is rejected too."""
        date_index = self._index["payment_date"]
        amount_index = self._index.get("amount_net", self._index.get("amount_gross", 0))
        supplier_index = self._index["supplier_name"]
        reach = max(date_index, amount_index, supplier_index)
        delimiter = self.layout.delimiter

        def is_payment(row: list[str]) -> bool:
            """A whole payment line of this layout: a date, an amount and a supplier where
            the header puts them (ordinary multi-line text is not)."""
            if len(row) <= reach or not row[supplier_index].strip():
                return False
            if parse_date(row[date_index]) is None:
                return False
            try:
                parse_amount(row[amount_index])
            except ValueError:
                return False
            return True

        for k, cell in enumerate(cells):
            if "\n" not in cell and "\r" not in cell:
                continue
            parts = _LINE_BREAK.split(cell)
            rows = [next(csv.reader([part], delimiter=delimiter), []) for part in parts[1:]]
            if not any(is_payment(row) for row in rows):
                continue
            column = self.layout.columns[k] if k < len(self.layout.columns) else None
            rest = cells[k + 1 :]
            end = start + len(parts) - 1 - (not rest and parts[-1] == "")
            complete = rows if not rest else rows[:-1]  # the last line closes the quote
            self._rejected.append(
                (
                    start,
                    column,
                    f"unterminated quote in column {column!r}: it ran over lines "
                    f"{start + 1}–{end}, which are read as rows of their own; this line's "
                    "cells are lost in the quote: mend it and ingest the file again",
                    _raw([*cells[:k], parts[0]]),
                )
            )
            if rest:
                self.records_read += 1
                closing = delimiter.join([parts[-1], *rest])
                self._rejected.append(
                    (
                        end,
                        column,
                        f"a quote on this line closes the quote left open at line {start}: "
                        "the line cannot be read as published",
                        closing[:RAW_LIMIT],
                    )
                )
            return [(start + i, row) for i, row in enumerate(complete, 1) if "".join(row).strip()]
        return None

    def _is_total(self, cells: list[str]) -> bool:
        # "Total", "Grand Total", "Sub-total:" in any cell (the supplier's included).
        return any(_TOTAL_CELL.fullmatch(c.strip()) for c in cells if c)

    def _columns(self, chunk: _Chunk) -> pa.Table:
        """The chunk as Arrow columns: texts as published (stripped), and each distinct value
        of the date, supplier, number, flag and body columns cleaned once. Columns the file
        does not map are all null, and constants are repeated in Arrow: turning Python
        values into Arrow ones is a good part of the reader's time."""
        count = len(chunk.lines)
        by_field = dict(zip(chunk.fields, zip(*chunk.picked, strict=True), strict=True))
        string = pa.string()

        def stripped(name: str) -> pa.Array:
            if name not in by_field:
                return pa.nulls(count, string)
            return pa.array(list(map(str.strip, by_field[name])), string)

        def encoded(name: str, clean: Any) -> tuple[pa.Array, list[Any]]:
            """(index of each row's distinct value, each distinct value cleaned)."""
            values = by_field[name]
            distinct = list(set(values))
            index = {value: i for i, value in enumerate(distinct)}
            codes = pa.array(list(map(index.__getitem__, values)), pa.int32())
            return codes, [clean(value.strip()) for value in distinct]

        def part(codes: pa.Array, cleaned: list[Any], at: int, kind: pa.DataType) -> pa.Array:
            """One part of the cleaned values, dictionary-encoded by the codes."""
            values = pa.array([value[at] for value in cleaned], kind)
            return pa.DictionaryArray.from_arrays(codes, values)

        def cleaned(name: str, clean: Any, kind: pa.DataType) -> pa.Array:
            if name not in by_field:
                return pa.nulls(count, kind)
            codes, values = encoded(name, clean)
            return pa.DictionaryArray.from_arrays(codes, pa.array(values, kind))

        redaction = self.config.redaction
        supplier_codes, suppliers = encoded(
            "supplier_name", lambda name: _clean_supplier(name, redaction)
        )
        day_codes, days = encoded(
            "payment_date", lambda text: (bool(text), _parse_date_cached(text))
        )
        if self.body.source == "column" and ("body" in by_field or "body_code" in by_field):
            names = by_field.get("body", ("",) * count)
            codes = by_field.get("body_code", ("",) * count)
            pairs = list(zip(names, codes, strict=True))
            distinct_pairs = list(set(pairs))
            pair_index = {pair: i for i, pair in enumerate(distinct_pairs)}
            body_codes = pa.array(list(map(pair_index.__getitem__, pairs)), pa.int32())
            found = [self._row_body(n.strip(), c.strip()) for n, c in distinct_pairs]
            body = part(body_codes, found, 0, string)
            body_code = part(body_codes, found, 1, string)
        else:
            body = _repeat(self.body.name, count, string)
            body_code = _repeat(self.body.la_registry_code, count, string)
        return pa.table(
            {
                "pos": pa.array(range(count), pa.int64()),
                "source_line": pa.array(chunk.lines, pa.int64()),
                "body": body,
                "body_la_registry_code": body_code,
                "date_given": part(day_codes, days, 0, pa.bool_()),
                "payment_date": part(day_codes, days, 1, pa.date32()),
                "net_text": stripped("amount_net"),
                "gross_text": stripped("amount_gross"),
                "vat_text": stripped("amount_vat"),
                "supplier_name": part(supplier_codes, suppliers, 0, string),
                "supplier_name_normalised": part(supplier_codes, suppliers, 1, string),
                "company_number": cleaned("company_number", clean_company_number, string),
                "charity_number": cleaned("charity_number", clean_charity_number, string),
                # Where a file publishes the flag, an unmarked row is the council saying "no".
                "vcse_flag": cleaned("vcse_flag", lambda t: parse_flag(t) or False, pa.bool_()),
                "service_area": stripped("service_area"),
                "expense_type": stripped("expense_type"),
                "transaction_id": stripped("transaction_id"),
                "redacted": part(supplier_codes, suppliers, 2, pa.bool_()),
            }
        )

    def read(self, parser: SpendParser, source_file: str) -> None:
        """Hand every data row to ``parser``; once it has finished, :attr:`stats`,
        :attr:`records_read` and :meth:`rejections` describe the whole file."""
        with paused_gc():
            for chunk in self._chunks():
                if chunk.lines:
                    parser.add(self, chunk, source_file)

    def rejections(self) -> list[tuple[int, str | None, str, str]]:
        """The rejected rows as (line, column, reason, raw), in line order."""
        self._rejected.sort(key=lambda r: r[0])
        return self._rejected

    def _rejection(
        self, chunk: _Chunk, pos: int, problem: str, bad_amount: str | None
    ) -> tuple[int, str | None, str, str]:
        cells = chunk.cells[pos]
        mapping = self.layout.mapping

        def text(name: str) -> str:
            index = self._index[name]
            return cells[index].strip() if index < len(cells) else ""

        column: str | None
        if problem == "total":
            reason, column = _TOTAL_NO_DATE, None
        elif problem == "amount":
            assert bad_amount is not None
            column = mapping[bad_amount]
            reason = f"amount is not a number: {text(bad_amount)!r} in column {column!r}"
        elif problem == "implausible":
            column = mapping.get("amount_net") or mapping.get("amount_gross")
            shown = text("amount_net" if "amount_net" in self._index else "amount_gross")
            reason = (
                f"amount is not plausible: {shown[:40]!r} (over £{PAYMENT_CAP:,.0f}, or "
                "not finite): a typing error, never summed"
            )
        elif problem == "missing":
            column = mapping.get("amount_net") or mapping.get("amount_gross")
            reason = "amount missing"
        else:
            column = mapping["payment_date"]
            date_text = text("payment_date")
            reason = "payment date missing"
            if date_text:
                reason = f"payment date is not a date: {date_text!r}"
        return chunk.lines[pos], column, reason, _raw(cells)

    def records(self) -> Iterator[SpendRecord]:
        """Every non-blank data row after the header, as a payment or a rejection, in line
        order (parsed through a private in-memory DuckDB; the ingest uses :meth:`read`)."""
        con = duckdb.connect()
        try:
            parser = SpendParser(con)
            self.read(parser, str(self.path))
            payments = parser.finish().select(list(PAYMENT_FIELDS))
            rows = list(zip(*(payments[name].to_pylist() for name in PAYMENT_FIELDS), strict=True))
        finally:
            con.close()
        merged = [SpendRecord(r[0], (*r[:3], r[3].isoformat(), *r[4:])) for r in rows]
        merged += [
            SpendRecord(line, None, why, column, raw)
            for line, column, why, raw in self.rejections()
        ]
        yield from sorted(merged, key=lambda r: r.line)

    def published_threshold(self, body_code: str | None) -> tuple[float, str]:
        """(threshold, basis): configured for the body, card file, observed, or default."""
        config = self.config
        if body_code and body_code in config.thresholds:
            return config.thresholds[body_code], "configured"
        if self.layout.is_card:
            return 0.0, "card file"
        stats = self.stats
        if stats.positive and stats.below_default / stats.positive > 0.5:
            return 0.0, "observed"
        return config.default_threshold, "default"


_CHUNK_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("source_line", pa.int64()),
        ("body", pa.string()),
        ("body_la_registry_code", pa.string()),
        ("date_given", pa.bool_()),
        ("payment_date", pa.date32()),
        ("net_text", pa.string()),
        ("gross_text", pa.string()),
        ("vat_text", pa.string()),
        ("supplier_name", pa.string()),
        ("supplier_name_normalised", pa.string()),
        ("company_number", pa.string()),
        ("charity_number", pa.string()),
        ("vcse_flag", pa.bool_()),
        ("service_area", pa.string()),
        ("expense_type", pa.string()),
        ("transaction_id", pa.string()),
        ("redacted", pa.bool_()),
    ]
)


def _repeat(value: Any, count: int, kind: pa.DataType) -> pa.Array:
    """``count`` times ``value`` as an Arrow array, made in Arrow, not from a Python list."""
    return pa.repeat(pa.scalar(value, kind), count)


# Monthly files of one council repeat most supplier names and dates: clean each once.
@lru_cache(maxsize=1 << 17)
def _clean_supplier(name: str, redaction: re.Pattern[str]) -> tuple[str | None, str | None, bool]:
    """(name as published, normalised name, redacted) of a stripped supplier cell."""
    redacted = bool(name) and bool(redaction.search(name))
    normalised = (normalise_name(name) or None) if name and not redacted else None
    return name or None, normalised, redacted


_parse_date_cached = lru_cache(maxsize=1 << 14)(parse_date)


@dataclass
class _Chunk:
    """Data rows read but not yet parsed: the mapped fields' cells, and the whole rows."""

    fields: list[str]
    lines: list[int] = field(default_factory=list)
    picked: list[Any] = field(default_factory=list)  # the fields' cells, one tuple per row
    cells: list[list[str]] = field(default_factory=list)


def _parse_sql(pieces: Sequence[tuple[SpendFile, _Chunk, str]]) -> str:
    """The parse of a chunk, for the amount columns its files map."""
    prefixes = {
        field.removeprefix("amount_")
        for reader, _, _ in pieces
        for field in reader.layout.mapping
        if field.startswith("amount_")
    }
    return _PARSE_SQL.replace("{amounts}", amounts_sql("_spend_chunk", prefixes)).replace(
        "{cap}", repr(float(PAYMENT_CAP))
    )


class SpendParser:
    """Parses the data rows of spend files in DuckDB into Arrow tables of payments.

    Rows of several files are parsed together, ``CHUNK_ROWS`` at a time: planning the
    parse query costs about 10 ms, as much as parsing 20,000 rows, and a folder holds many
    small monthly files. The readers handed to one parser share one column map. Each
    file's figures and rejections are complete after :meth:`finish`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._pieces: list[tuple[SpendFile, _Chunk, str]] = []
        self._rows = 0
        self._readers: dict[str, SpendFile] = {}
        self._payments: list[pa.Table] = []
        shape = SPEND_PAYMENTS_DDL.replace("CREATE TABLE spend_payments", "CREATE TEMP TABLE")
        con.execute(shape.replace("CREATE TEMP TABLE", "CREATE TEMP TABLE _spend_shape", 1))
        self.schema = con.sql("SELECT * FROM _spend_shape").to_arrow_table().schema

    def add(self, reader: SpendFile, chunk: _Chunk, source_file: str) -> None:
        self._readers[source_file] = reader
        self._pieces.append((reader, chunk, source_file))
        self._rows += len(chunk.lines)
        if self._rows >= CHUNK_ROWS:
            self.flush()

    def discard(self, source_file: str) -> None:
        """Forget a file that failed part way: its rows parsed or not."""
        self._pieces = [p for p in self._pieces if p[2] != source_file]
        self._rows = sum(len(p[1].lines) for p in self._pieces)
        self._readers.pop(source_file, None)
        self._payments = [
            table.filter(pc.not_equal(table["source_file"], source_file))
            for table in self._payments
        ]

    def flush(self) -> None:
        """Parse every row handed over so far."""
        pieces, self._pieces, self._rows = self._pieces, [], 0
        if not pieces:
            return
        with paused_gc():
            self._parse(pieces)

    def _parse(self, pieces: list[tuple[SpendFile, _Chunk, str]]) -> None:
        con = self.con
        tables = []
        for number, (reader, chunk, source_file) in enumerate(pieces):
            # One schema for every piece (dictionary-encoded columns decoded, in Arrow).
            table = reader._columns(chunk).cast(_CHUNK_SCHEMA)
            count = table.num_rows
            tables.append(
                table.append_column("piece", _repeat(number, count, pa.int32()))
                .append_column("source_file", _repeat(source_file, count, pa.string()))
                .append_column("is_card", _repeat(reader.layout.is_card, count, pa.bool_()))
            )
        con.register("_spend_chunk", pa.concat_tables(tables))
        try:
            parsed = con.sql(_parse_sql(pieces)).to_arrow_table()
        finally:
            con.unregister("_spend_chunk")
        ok = pc.is_null(parsed["problem"])
        self._payments.append(parsed.filter(ok).select(SPEND_COLUMNS).cast(self.schema))
        problems = parsed.filter(pc.invert(ok)).select(["piece", "pos", "problem", "bad_amount"])
        for piece, pos, problem, bad_amount in zip(
            *(problems[name].to_pylist() for name in problems.column_names), strict=True
        ):
            reader, chunk, _ = pieces[piece]
            reader._rejected.append(reader._rejection(chunk, pos, problem, bad_amount))

    def finish(self) -> pa.Table:
        """Parse what is left, fill every file's :attr:`SpendFile.stats`, and return the
        payments of every file (``spend_payments``' columns), in the order read."""
        self.flush()
        payments = pa.concat_tables(self._payments) if self._payments else self.schema.empty_table()
        self._payments = []
        if self._readers:
            threshold = next(iter(self._readers.values())).config.default_threshold
            self.con.register("_spend_payments", payments)
            try:
                figures = self.con.execute(
                    """
                    SELECT source_file, fsum(amount_net), count(*) FILTER (WHERE amount_net > 0),
                           count(*) FILTER (WHERE amount_net > 0 AND amount_net < ?),
                           min(amount_net) FILTER (WHERE amount_net > 0),
                           min(payment_date), max(payment_date)
                    FROM _spend_payments GROUP BY source_file
                    """,
                    [threshold],
                ).fetchall()
            finally:
                self.con.unregister("_spend_payments")
            for source_file, *values in figures:
                self._readers[source_file].stats = SpendStats(*values)
        self._readers = {}
        return payments


@dataclass
class ParsedFile:
    """What reading one spend file found. Plain data: it crosses from a worker process."""

    path: str
    source_file: str
    error: str | None = None  # the file cannot be used at all
    not_spend: bool = False  # ... because it is not a spend file
    encoding: str | None = None
    header_line: int | None = None
    is_card: bool | None = None
    body: str | None = None
    body_la_registry_code: str | None = None
    body_source: str | None = None
    records_read: int = 0
    rejected: list[tuple[int, str | None, str, str]] = field(default_factory=list)
    stats: SpendStats = field(default_factory=SpendStats)
    published_threshold: float | None = None
    threshold_basis: str | None = None
    seconds: float = 0.0
    delimiter: str | None = None
    # canonical field → {"column": the file's column, "why": its header name or content}
    columns: dict[str, dict[str, str]] | None = None
    warnings: list[str] = field(default_factory=list)
    broken: str | None = None  # read up to where the file breaks off (a truncated gzip)


def parse_spend_files(
    files: Sequence[tuple[str, str]],
    columns: SpendColumns,
    body: str | None = None,
    *,
    threads: int | None = None,
) -> tuple[list[ParsedFile], pa.Table]:
    """Read and parse spend files, given as (path, source file name to record).

    Returns what each file held, and the payments of all of them as one Arrow table in
    ``spend_payments``' columns, file by file in line order. A file that cannot be used is
    reported in its :class:`ParsedFile` and leaves no rows. Runs in this process or in a
    worker (``threads``: DuckDB's, 1 in a worker so workers do not crowd each other).
    """
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        parser = SpendParser(con)
        found: list[tuple[ParsedFile, SpendFile | None, float]] = []
        for path, source in files:
            started = time.perf_counter()
            parsed = ParsedFile(path=path, source_file=source)
            try:
                with SpendFile(path, columns, body=body) as reader:
                    reader.read(parser, source)
            except SpendFileError as exc:
                parser.discard(source)
                # A CSV with payments in it is an error even in a folder: its rows are lost.
                parsed.error = str(exc)
                parsed.not_spend = isinstance(exc, NotSpendError) and not exc.payments_seen
                found.append((parsed, None, 0.0))
                continue
            except (OSError, EOFError, zlib.error, UnicodeError) as exc:
                # A file that cannot be read (a truncated gzip, a disk error) fails alone.
                parser.discard(source)
                parsed.error = f"{path}: cannot read the file ({exc})"
                found.append((parsed, None, 0.0))
                continue
            found.append((parsed, reader, time.perf_counter() - started))
        started = time.perf_counter()
        table = parser.finish()
        share = (time.perf_counter() - started) / max(len(found), 1)
        for parsed, done, seconds in found:
            if done is not None:
                _describe(parsed, done, table)
                parsed.seconds = seconds + share
    finally:
        con.close()
    return [parsed for parsed, _, _ in found], table


def _describe(parsed: ParsedFile, reader: SpendFile, payments: pa.Table) -> None:
    """Fill a parsed file's findings from its reader (after the parser has finished)."""
    parsed.encoding = reader.layout.encoding
    parsed.delimiter = reader.layout.delimiter
    parsed.columns = describe_columns(reader.layout)
    parsed.warnings = list(reader.warnings)
    parsed.broken = reader.broken
    parsed.header_line = reader.layout.header_line
    parsed.is_card = reader.layout.is_card
    parsed.body = reader.body.name
    parsed.body_la_registry_code = reader.body.la_registry_code
    parsed.body_source = reader.body.source
    parsed.records_read = reader.records_read
    parsed.rejected = reader.rejections()
    parsed.stats = reader.stats
    if parsed.body is None and parsed.records_read > len(parsed.rejected):
        # Bodies came row by row from the file: report the first one named.
        mine = payments.filter(
            pc.and_(
                pc.equal(payments["source_file"], parsed.source_file),
                pc.is_valid(payments["body"]),
            )
        )
        if mine.num_rows:
            parsed.body = mine["body"][0].as_py()
            parsed.body_la_registry_code = mine["body_la_registry_code"][0].as_py()
    threshold, basis = reader.published_threshold(parsed.body_la_registry_code)
    parsed.published_threshold, parsed.threshold_basis = threshold, basis


def describe_columns(layout: SpendLayout) -> dict[str, dict[str, str]]:
    """Which column was taken as each field, and why (its header name, or its content)."""
    return {
        name: {"column": layout.mapping[name], "why": why} for name, why in layout.reasons.items()
    }


def explain_spend_file(
    path: str | Path, columns: SpendColumns | None = None, body: str | None = None
) -> dict[str, Any]:
    """What the reader makes of a spend file's layout, without loading it: encoding,
    delimiter, header line, each field's column and why, the publishing body, warnings.

    Raises :class:`SpendFileError` (with the candidates when columns are ambiguous) as the
    ingest would."""
    with SpendFile(path, columns, body=body) as reader:
        layout = reader.layout
        return {
            "file": str(path),
            "kind": "spend",
            "encoding": layout.encoding,
            "delimiter": layout.delimiter,
            "header_line": layout.header_line,
            "header_lines": layout.header_lines,
            "file_columns": layout.columns,
            "columns": describe_columns(layout),
            "unused_columns": [c for c in layout.columns if c not in layout.mapping.values()],
            "is_card": layout.is_card,
            "body": reader.body.name,
            "body_la_registry_code": reader.body.la_registry_code,
            "body_source": reader.body.source,
            "body_column": layout.mapping.get("body") or layout.mapping.get("body_code"),
            "warnings": list(reader.warnings),
        }


def payments_of(payments: pa.Table, sources: Sequence[str]) -> pa.Table:
    """The payments of the given source files only."""
    wanted = pa.array(list(sources), pa.string())
    return payments.filter(pc.is_in(payments["source_file"], value_set=wanted))


def looks_like_spend(path: Path) -> bool:
    """By name: ``.csv`` or ``.csv.gz``."""
    return path.name.lower().endswith(SPEND_SUFFIXES)
