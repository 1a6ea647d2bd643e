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
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

from locality.ingest.identity import is_placeholder, normalise_name, pad_company_number
from locality.ingest.ocds import open_bytes
from locality.reference import (
    local_authority,
    local_authority_code_for_code,
    local_authority_code_for_name,
)
from locality.store.schema import SPEND_COLUMNS

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

_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


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


def _open_text(path: Path, encoding: str) -> IO[str]:
    errors = "locality-latin1" if encoding == "cp1252" else "strict"
    return io.TextIOWrapper(open_bytes(path), encoding=encoding, errors=errors, newline="")


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
    """Running figures of a read, for the summary and the threshold."""

    total: float = 0.0
    positive: int = 0
    below_default: int = 0
    min_positive: float | None = None
    first_date: date | None = None
    last_date: date | None = None

    def add(self, amount: float, day: date, threshold: float) -> None:
        self.total += amount
        if amount > 0:
            self.positive += 1
            if amount < threshold:
                self.below_default += 1
            if self.min_positive is None or amount < self.min_positive:
                self.min_positive = amount
        if self.first_date is None or day < self.first_date:
            self.first_date = day
        if self.last_date is None or day > self.last_date:
            self.last_date = day

    @property
    def total_amount(self) -> float:
        return round(self.total, 2)


_TOTAL_CELL = re.compile(r"(?:grand\s*|sub\s*-?\s*)?totals?:?", re.I)


def _raw(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()[:RAW_LIMIT]


class SpendFile:
    """An open spend file: its layout, and its records streamed by :meth:`records`.

    Raises :class:`NotSpendError` on opening when no spend header is found.
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
        encoding = detect_encoding(self.path)
        self._handle = _open_text(self.path, encoding)
        self._reader = csv.reader(self._handle)
        self._line_end = 0
        self.stats = SpendStats()
        try:
            self._pending = self._read_header(encoding)
        except BaseException:
            self._handle.close()
            raise
        try:
            self.body = self._file_body(body)
        except BaseException:
            self._handle.close()
            raise
        self._bodies: dict[tuple[str, str], tuple[str, str | None]] = {}

    # context manager
    def __enter__(self) -> SpendFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def _next(self) -> tuple[int, list[str]] | None:
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise NotSpendError(
                f"{self.path}: CSV error after line {self._line_end}: {exc}"
            ) from exc
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
        self._width = len(names)

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

    def records(self) -> Iterator[SpendRecord]:
        """Every non-blank data row after the header, as a payment or a rejection."""
        pending = self._pending
        self._pending = []
        for line, cells in pending:
            record = self._record(line, cells)
            if record is not None:
                yield record
        while (item := self._next()) is not None:
            record = self._record(*item)
            if record is not None:
                yield record

    def _reject(self, line: int, cells: list[str], reason: str, column: str | None) -> SpendRecord:
        return SpendRecord(line, None, reason, column, _raw(cells))

    def _amount(self, line: int, cells: list[str]) -> tuple[float | None, SpendRecord | None, bool]:
        """(net amount, rejection, whether any amount cell was filled)."""
        index = self._index
        texts: dict[str, str] = {}
        for name in ("amount_net", "amount_gross", "amount_vat"):
            position = index.get(name)
            if position is not None and position < len(cells):
                texts[name] = cells[position].strip()
        values: dict[str, float] = {}
        for name, text in texts.items():
            if not text:
                continue
            try:
                values[name] = parse_amount(text)
            except ValueError:
                where = self.layout.mapping[name]
                reason = f"amount is not a number: {text!r} in column {where!r}"
                return None, self._reject(line, cells, reason, where), True
        filled = bool(values)
        if "amount_net" in values:
            return values["amount_net"], None, filled
        if "amount_gross" in values:
            return values["amount_gross"] - values.get("amount_vat", 0.0), None, filled
        column = self.layout.mapping.get("amount_net") or self.layout.mapping.get("amount_gross")
        return None, self._reject(line, cells, "amount missing", column), filled

    def _record(self, line: int, cells: list[str]) -> SpendRecord | None:
        if not any(c.strip() for c in cells):
            return None  # a blank line is not a record
        index = self._index

        def text(name: str) -> str:
            position = index.get(name)
            if position is None or position >= len(cells):
                return ""
            return cells[position].strip()

        supplier = text("supplier_name")
        date_text = text("payment_date")
        if _TOTAL_CELL.fullmatch(supplier) or any(
            _TOTAL_CELL.fullmatch(c.strip()) for c in cells if c
        ):
            return self._reject(line, cells, "total row (not a payment)", None)
        amount, rejection, filled = self._amount(line, cells)
        if filled and not supplier and not date_text:
            return self._reject(
                line, cells, "total row (not a payment): an amount with no date or supplier", None
            )
        if rejection is not None:
            return rejection
        assert amount is not None
        day = parse_date(date_text)
        if day is None:
            column = self.layout.mapping["payment_date"]
            reason = (
                f"payment date is not a date: {date_text!r}"
                if date_text
                else "payment date missing"
            )
            return self._reject(line, cells, reason, column)
        body, body_code = self._row_body(text("body"), text("body_code"))
        redacted = bool(supplier) and bool(self.config.redaction.search(supplier))
        normalised = (normalise_name(supplier) or None) if supplier and not redacted else None
        vcse: bool | None = None
        if "vcse_flag" in index:
            # Where a file publishes the flag, an unmarked row is the council saying "no".
            vcse = parse_flag(text("vcse_flag")) or False
        self.stats.add(amount, day, self.config.default_threshold)
        return SpendRecord(
            line,
            (
                line,
                body,
                body_code,
                day.isoformat(),
                amount,
                supplier or None,
                normalised,
                clean_company_number(text("company_number")),
                clean_charity_number(text("charity_number")),
                vcse,
                text("service_area") or None,
                text("expense_type") or None,
                text("transaction_id") or None,
                redacted,
                self.layout.is_card,
            ),
        )

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


def looks_like_spend(path: Path) -> bool:
    """By name: ``.csv`` or ``.csv.gz``."""
    return path.name.lower().endswith(SPEND_SUFFIXES)
