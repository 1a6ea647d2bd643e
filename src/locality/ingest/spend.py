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

from locality.ingest.gc_pause import paused_gc
from locality.ingest.identity import is_placeholder, normalise_name, pad_company_number
from locality.ingest.ocds import open_bytes
from locality.reference import (
    local_authority,
    local_authority_code_for_code,
    local_authority_code_for_name,
)
from locality.store.schema import SPEND_COLUMNS, SPEND_PAYMENTS_DDL

SPEND_SUFFIXES = (".csv", ".csv.gz")
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
    """The file is not a spend file."""


class NoBodyError(SpendFileError):
    """The publishing body is neither in the file, nor in its name, nor given."""


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


def parse_flag(text: str) -> bool | None:
    value = text.strip().casefold()
    if value in ("y", "yes", "true", "1", "t"):
        return True
    if value in ("n", "no", "false", "0", "f"):
        return False
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
    """``utf-8-sig`` (BOM), ``utf-8`` (the whole file decodes), else ``cp1252``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_bytes(path) as handle:
        first = True
        while chunk := handle.read(1 << 20):
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


def _decode_whole(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a whole file: the rule of :func:`detect_encoding`, in one pass."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="locality-latin1"), "cp1252"


def _open_text(path: Path) -> tuple[IO[str], str]:
    """The file as text for the csv module (newlines untranslated), and its encoding."""
    if path.stat().st_size <= WHOLE_FILE_BYTES:
        with open_bytes(path) as raw:
            data = raw.read(WHOLE_FILE_BYTES + 1)
            more = raw.read(1)
        if len(data) <= WHOLE_FILE_BYTES and not more:  # a gzip file may inflate past it
            text, encoding = _decode_whole(data)
            return io.StringIO(text, newline=""), encoding
    encoding = detect_encoding(path)
    errors = "locality-latin1" if encoding == "cp1252" else "strict"
    stream = io.TextIOWrapper(open_bytes(path), encoding=encoding, errors=errors, newline="")
    return stream, encoding


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
         WHEN payment_date IS NULL THEN 'date'
    END AS problem,
    coalesce(net_v, gross_v - coalesce(vat_v, 0)) AS amount_net
FROM b
"""


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
        self._handle, encoding = _open_text(self.path)
        self._reader = csv.reader(self._handle)
        self._line_end = 0
        self.stats = SpendStats()
        self.records_read = 0
        try:
            self._pending = self._read_header(encoding)
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

    def _read_header(self, encoding: str) -> list[tuple[int, list[str]]]:
        seen: list[tuple[int, list[str]]] = []
        while len(seen) < HEADER_SEARCH_ROWS + 1:
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
        hint = (
            f"; the closest, line {best[0]}, has {', '.join(sorted(best[1]))}"
            if best and best[1]
            else ""
        )
        raise NotSpendError(
            f"{self.path}: not a council spend file: no header row with a payment date, an "
            f"amount and a supplier column in its first {HEADER_SEARCH_ROWS} lines{hint}. "
            "A new layout can be described with --columns FILE (see spend_columns.toml)."
        )

    def _set_layout(
        self,
        encoding: str,
        header: list[str],
        found: dict[str, int],
        lines: int,
        last_line: int,
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
                if "total" in joined.lower() and self._is_total(cells):
                    self._rejected.append((start, None, _TOTAL_CELL_REASON, _raw(cells)))
                    continue
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
        if "total" in joined.lower() and self._is_total(cells):
            self._rejected.append((start, None, _TOTAL_CELL_REASON, _raw(cells)))
            return False
        chunk.lines.append(start)
        chunk.picked.append(pick(cells) if len(cells) >= width else pick(cells + padding))
        chunk.cells.append(cells)
        return len(chunk.lines) >= CHUNK_ROWS

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
    return _PARSE_SQL.replace("{amounts}", amounts_sql("_spend_chunk", prefixes))


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
                parsed.error, parsed.not_spend = str(exc), isinstance(exc, NotSpendError)
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


def looks_like_spend(path: Path) -> bool:
    """By name: ``.csv`` or ``.csv.gz``."""
    return path.name.lower().endswith(SPEND_SUFFIXES)
