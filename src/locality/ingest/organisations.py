"""Organisation lists a user imports: ``locality ingest --kind organisations FILE.csv``.

A list says what kind of organisation each body is (docs/network.md, "Sectors"): a
council's own list of local VCSEs, the Arts Council's national portfolio, the colleges of a
region. The network takes an imported sector as its strongest evidence, because the user
knows their place better than any name pattern.

The CSV's columns are found by header, case, spaces and punctuation ignored:

* ``name`` (required);
* ``identifiers``: one or more org-ids (``GB-COH-01234567``, ``GB-CHC-1234567``),
  ``;``-separated (company numbers padded to 8 as everywhere in the store);
* ``postcode``;
* ``sector``: one of the network's sectors (:data:`SECTORS`);
* ``scale`` (``sme`` or ``large``; micro, small and medium are SMEs) and ``vcse`` (yes/no).

A row needs a name and at least one of sector, scale and VCSE (else it says nothing the
network could use). Lines starting with ``#`` before the header are comments (a list's
provenance). Each bad row is one rejection with file, line and reason; the good rows of a
file replace that file's earlier rows in ``organisation_facts``, in one transaction.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from locality.domain.identity import is_placeholder, normalise_scheme_id
from locality.domain.names import normalise_name
from locality.domain.postcodes import normalise_postcode
from locality.domain.text import header_positions, parse_flag
from locality.store import loader, sql
from locality.store.schema import ORGANISATION_FACT_COLUMNS

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

# The network's sectors (locality.network.sectors.SECTORS less "unknown", which a list has
# no reason to state; tests/test_organisation_lists.py checks the two agree). The network
# package sits above ingest, so the names are repeated here rather than imported.
SECTORS = (
    "public_buyer",
    "large_company",
    "sme",
    "vcse",
    "higher_further_education",
    "arts_culture",
    "housing_provider",
)

_HEADERS = {
    "name": ("name", "organisationname", "organisation", "organizationname", "orgname"),
    "identifiers": ("identifiers", "identifier", "orgid", "orgids", "ids"),
    "postcode": ("postcode", "postalcode"),
    "sector": ("sector",),
    "scale": ("scale", "size"),
    "vcse": ("vcse", "isvcse"),
}
_SCALES = {"sme": "sme", "micro": "sme", "small": "sme", "medium": "sme", "large": "large"}
_ORG_ID = re.compile(r"^([A-Z]{2}-[A-Z0-9]{2,})-(\S+)$")
RAW_LIMIT = 2_000


class OrganisationListError(ValueError):
    """A whole file that cannot be read as an organisation list (no name column, empty)."""


@dataclass
class ReadList:
    rows: list[tuple[Any, ...]]  # organisation_facts rows
    rejected: list[tuple[int, str, str]]  # (line, reason, raw)
    records: int


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # lists saved from Excel


def parse_sector(text: str) -> str | None:
    """``"Arts culture"``, ``"arts-culture"``, ``"ARTS_CULTURE"`` → ``"arts_culture"``."""
    value = re.sub(r"[\s\-]+", "_", text.strip().casefold())
    return value if value in SECTORS else None


def parse_identifiers(text: str) -> tuple[list[str], str | None]:
    """The org-ids of a cell and the first bad one (None when all are good)."""
    found: list[str] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        match = _ORG_ID.match(part.upper()) if part[:2].isalpha() else None
        if match is None or is_placeholder(match.group(2)):
            return found, part
        scheme = match.group(1)
        value = normalise_scheme_id(scheme, part[len(scheme) + 1 :])
        org_id = f"{scheme}-{value}"
        if org_id not in found:
            found.append(org_id)
    return found, None


def read_organisation_list(path: Path, source: str | None = None) -> ReadList:
    """Read a list into ``organisation_facts`` rows and rejections (module docstring)."""
    source = source or str(path.resolve())
    lines = _decode(path).splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    if skip == len(lines):
        raise OrganisationListError(f"{path}: empty file (no header line)")
    header_line = lines[skip]
    delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
    reader = csv.reader(lines[skip:], delimiter=delimiter)
    header = next(reader)
    index = header_positions(header, _HEADERS)
    if "name" not in index:
        raise OrganisationListError(
            f"{path}: line {skip + 1}: needs a name column (and any of identifiers, postcode, "
            "sector, scale, vcse); found: " + ", ".join(header)
        )
    rows: list[tuple[Any, ...]] = []
    rejected: list[tuple[int, str, str]] = []
    records = 0
    previous = reader.line_num  # physical lines read so far (a quoted cell may span lines)
    for cells in reader:
        start, previous = skip + previous + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        records += 1

        def cell(column: str, cells: list[str] = cells) -> str:
            i = index.get(column)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        raw = delimiter.join(cells)[:RAW_LIMIT]
        try:
            rows.append((source, start, *_row(cell)))
        except ValueError as exc:
            rejected.append((start, str(exc), raw))
    return ReadList(rows, rejected, records)


def _optional(text: str, parse: Callable[[str], T | None], complaint: str) -> T | None:
    """An optional cell's value: None when blank, else ``parse(text)``; a cell given but not
    understood is a ValueError, ``complaint`` with the cell in it (``{!r}``)."""
    if not text:
        return None
    value = parse(text)
    if value is None:
        raise ValueError(complaint.format(text))
    return value


def _row(cell: Any) -> tuple[Any, ...]:
    """The columns of one row after source_file and source_line; ValueError says why not."""
    name = " ".join(cell("name").split())
    name_key = normalise_name(name) if name else ""
    if not name_key:
        raise ValueError("no name")
    identifiers, bad = parse_identifiers(cell("identifiers"))
    if bad is not None:
        raise ValueError(
            f"identifier {bad!r} is not SCHEME-ID (e.g. GB-COH-01234567, GB-CHC-1234567; "
            "separate several with ;)"
        )
    postcode = _optional(cell("postcode"), normalise_postcode, "postcode {!r} is not a UK postcode")
    sector = _optional(
        cell("sector"), parse_sector, f"unknown sector {{!r}}: use one of {', '.join(SECTORS)}"
    )
    scale = _optional(
        cell("scale"), lambda text: _SCALES.get(text.casefold()), "scale {!r}: write sme or large"
    )
    vcse = _optional(cell("vcse"), parse_flag, "vcse {!r}: write yes or no")
    if sector is None and scale is None and vcse is None:
        raise ValueError("no sector, scale or vcse: the row says nothing of the organisation")
    if (sector, scale) in {("sme", "large"), ("large_company", "sme")}:
        raise ValueError(f"sector {sector} contradicts scale {scale}")
    if sector == "vcse" and vcse is False:
        raise ValueError("sector vcse contradicts vcse no")
    outward = postcode.partition(" ")[0] if postcode else None
    return (name, name_key, identifiers, postcode, outward, sector, scale, vcse)


def _insert_facts(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa

    if not rows:
        return
    types = {
        "source_line": pa.int64(),
        "identifiers": pa.list_(pa.string()),
        "vcse": pa.bool_(),
    }
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            name: pa.array(values, type=types.get(name, pa.string()))
            for name, values in zip(ORGANISATION_FACT_COLUMNS, columns, strict=True)
        }
    )
    names = ", ".join(ORGANISATION_FACT_COLUMNS)
    con.register("_organisation_facts", table)
    try:
        sql.run(
            con,
            f"INSERT INTO organisation_facts ({names}) SELECT {names} FROM _organisation_facts",
        )
    finally:
        con.unregister("_organisation_facts")


def load_organisation_list(
    con: duckdb.DuckDBPyConnection, path: Path, source: str, digest: str
) -> ReadList:
    """Read one list and put it in the store: its rows replace the file's earlier rows (and
    rejections) in one transaction, and the file is recorded in ``ingested_files`` (kind
    ``organisations``). Raises :class:`OrganisationListError` (or ``OSError``) for a file
    that cannot be read, leaving its last good load."""
    found = read_organisation_list(path, source)
    con.begin()
    try:
        for table in ("organisation_facts", "rejected"):
            sql.run(con, f"DELETE FROM {table} WHERE source_file = ?", [source])
        _insert_facts(con, found.rows)
        loader.insert_rejected(
            con, [(source, line, None, None, reason, raw) for line, reason, raw in found.rejected]
        )
        loader.record_file(
            con,
            {
                "source_file": source,
                "content_hash": digest,
                "size_bytes": path.stat().st_size,
                "kind": "organisations",
                "records_read": found.records,
                "kept": len(found.rows),
                "rejected": len(found.rejected),
            },
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return found
