"""Bundled reference tables and typed look-ups over them.

The files live next to this module as package data (see ``README.md`` in this folder for
their origin, licence and caveats). They are located with :mod:`importlib.resources`, so
the look-ups also work from an installed wheel, and every table is read lazily, once, on
first use.

Look-ups:

* :func:`district` — postcode district (outward code) → local authority district.
* :func:`cpv` — CPV code → description, with a fall-back to parent codes.
* :func:`local_authority_code_for_name` — council name variant → registry code.
* :func:`local_authority_code_for_code` — GSS, old ONS (SNAC) or registry code → registry code.
* :func:`local_authority` / :func:`local_authorities` — the mySociety council register.
* :func:`release_schema` — the OCDS 1.1.5 release schema (with merge rules).
* :func:`spend_transfer_rules` — the rows of ``spend-transfers.csv``: payee patterns of
  public bodies whose payments are transfers (compiled by ``locality.spend.transfers``).
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

__all__ = [
    "CentralPurchasingBody",
    "CpvEntry",
    "CpvTheme",
    "District",
    "LocalAuthority",
    "ReferenceDataError",
    "central_purchasing_bodies",
    "cpv",
    "cpv_themes",
    "district",
    "district_table",
    "known_outward_codes",
    "local_authorities",
    "local_authority",
    "local_authority_code_for_code",
    "local_authority_code_for_name",
    "reference_csv_files",
    "reference_path",
    "release_schema",
]

POSTCODE_DISTRICTS = "postcodes/postcode-district-to-lad.csv"
LOCAL_AUTHORITIES = "local-authorities/uk-local-authorities.csv"
LA_NAMES = "local-authorities/lookup-name-to-local-authority-code.csv"
LA_GSS = "local-authorities/lookup-gss-to-local-authority-code.csv"
LAD_NAMES = "local-authorities/lad-codes-names-postcodesio.csv"
REGIONS = "local-authorities/regions.csv"
CPV_CODES = "cpv/cpv-2008-codes.csv"
RELEASE_SCHEMA = "ocds/release-schema.json"
RELEASE_PACKAGE_SCHEMA = "ocds/release-package-schema.json"
RECORD_PACKAGE_SCHEMA = "ocds/record-package-schema.json"


class ReferenceDataError(FileNotFoundError):
    """A bundled reference file is missing (broken install or wrong relative path)."""


# Only used when the package is not on a plain file system (e.g. imported from a zip):
# resources are then extracted to temporary files that live until the interpreter exits.
_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


@lru_cache(maxsize=64)
def reference_path(relative: str) -> Path:
    """Return the file system path of a bundled reference file.

    ``relative`` is a ``/``-separated path inside this package, for example
    ``"cpv/cpv-2008-codes.csv"``. Raises :class:`ReferenceDataError` if the file is missing.
    """
    parts = [part for part in relative.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts or relative.startswith("/"):
        raise ReferenceDataError(f"not a relative path inside locality.reference: {relative!r}")
    resource = files(__name__).joinpath(*parts)
    if not resource.is_file():
        raise ReferenceDataError(
            f"reference file {relative!r} is missing from the locality.reference package "
            f"(looked in {resource}); reinstall locality or check the name"
        )
    if isinstance(resource, Path):
        return resource
    return _EXTRACTED.enter_context(as_file(resource))


def _read_csv(relative: str) -> Iterator[dict[str, str]]:
    # utf-8-sig: tolerate a byte order mark should a table ever be replaced by one with it.
    with reference_path(relative).open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def reference_csv_files() -> dict[str, Path]:
    """Logical table name → bundled CSV file, for loading into DuckDB."""
    return {
        "ref_postcode_districts": reference_path(POSTCODE_DISTRICTS),
        "ref_local_authorities": reference_path(LOCAL_AUTHORITIES),
        "ref_la_names": reference_path(LA_NAMES),
        "ref_cpv": reference_path(CPV_CODES),
    }


# --------------------------------------------------------------------------- OCDS schema


@lru_cache(maxsize=1)
def _release_schema_text() -> str:
    return reference_path(RELEASE_SCHEMA).read_text(encoding="utf-8")


def release_schema() -> dict[str, Any]:
    """The OCDS 1.1.5 release schema, including the merge rules ``ocdsmerge`` reads.

    A fresh dict on every call (the file is read once), so callers may modify it.
    """
    schema: dict[str, Any] = json.loads(_release_schema_text())
    return schema


# --------------------------------------------------------------------- postcode districts


@dataclass(frozen=True)
class District:
    """The local authority a postcode district (outward code) lies in.

    ``lad_code``/``lad_name`` are the ONS LAD **2020** codes of the source table;
    ``la_code``/``la_name``/``la_registry_code`` follow mySociety's replaced-by chain to the
    *current* council (e.g. Harrogate E07000165 → North Yorkshire E06000065).
    ``country`` comes from the LAD code (the source column is wrong for 33 Scottish
    districts). ``mapping_version`` is 1, or 2 for the few districts only the second
    mapping has.
    """

    outward: str
    lad_code: str
    lad_name: str
    la_code: str
    la_name: str
    la_registry_code: str
    region_code: str
    region_name: str
    country: str
    mapping_version: int


# The table's ``country`` column says "England" for 33 Scottish districts (Dumfries and
# Galloway, Scottish Borders: DG*, most TD*, EH38, EH43–46); the GSS code's first letter
# is right.
_COUNTRY_BY_GSS_PREFIX = {
    "E": "England",
    "W": "Wales",
    "S": "Scotland",
    "N": "Northern Ireland",
}


def _normalise_outward(outward: str) -> str:
    return "".join(outward.split()).upper()


@lru_cache(maxsize=1)
def _districts() -> dict[str, District]:
    by_version: dict[int, dict[str, District]] = {1: {}, 2: {}}
    for row in _read_csv(POSTCODE_DISTRICTS):
        if row["is_primary"] != "true":
            continue
        version = int(row["mapping_version"])
        outward = _normalise_outward(row["postcode_district"])
        by_version[version][outward] = District(
            outward=outward,
            lad_code=row["lad20cd"],
            lad_name=row["lad20nm"],
            la_code=row["current_lad_code"],
            la_name=row["current_la_name"],
            la_registry_code=row["current_la_registry_code"],
            region_code=row["region_code"],
            region_name=row["region_name"],
            country=_COUNTRY_BY_GSS_PREFIX.get(row["lad20cd"][:1], row["country"]),
            mapping_version=version,
        )
    # Version 1 is UK-wide and (nearly) one LAD per district; version 2 only fills gaps.
    merged = dict(by_version[2])
    merged.update(by_version[1])
    return merged


def district(outward: str) -> District | None:
    """Look up a postcode district such as ``"LS1"`` (case-insensitive, spaces ignored).

    Uses the primary LAD of ``mapping_version`` 1, falling back to version 2 for districts
    that version 1 lacks. Returns ``None`` for unknown districts. Pass an outward code, not a
    full postcode.
    """
    return _districts().get(_normalise_outward(outward))


@lru_cache(maxsize=1)
def known_outward_codes() -> frozenset[str]:
    """Every postcode district :func:`district` knows (upper case, no spaces)."""
    return frozenset(_districts())


# ------------------------------------------------------------------------------------ CPV


@dataclass(frozen=True)
class CpvEntry:
    """A CPV code found in the bundled list.

    ``code`` is the code that actually matched; ``exact`` is ``False`` when it is a parent
    of the code asked for (see :func:`cpv`).
    """

    code: str
    division: str
    description: str
    exact: bool


@lru_cache(maxsize=1)
def _cpv_descriptions() -> dict[str, str]:
    return {row["code"]: row["description"] for row in _read_csv(CPV_CODES)}


def _normalise_cpv(code: str) -> str | None:
    compact = "".join(code.split())
    head, sep, tail = compact.partition("-")
    if sep and not (len(tail) == 1 and tail.isdigit()):
        return None
    if not head.isascii() or not head.isdigit():
        return None
    if len(head) == 7:
        # A spreadsheet dropped the leading zero of division 03 or 09 ("3200000").
        head = "0" + head
    return head if len(head) == 8 else None


def cpv(code: str) -> CpvEntry | None:
    """Describe a CPV code, falling back to its nearest listed parent.

    Whitespace and a check digit suffix (``"48000000-8"``) are stripped. If the exact code
    is not listed, trailing non-zero digits are replaced by zeros one at a time
    (60112000 → 60110000 → 60100000 → 60000000) and the first listed parent wins, with
    ``exact=False``. Why: the bundled list is a variant of CPV 2008 (the one Contracts
    Finder uses) and lacks a few official codes, e.g. Scottish and Welsh notices use the
    official ``60112000`` where the list has ``60110000`` (shared data README, quirk 10).
    Returns ``None`` for malformed codes and when not even the division is listed.
    """
    normalised = _normalise_cpv(code)
    if normalised is None:
        return None
    table = _cpv_descriptions()
    description = table.get(normalised)
    if description is not None:
        return CpvEntry(normalised, normalised[:2], description, exact=True)
    digits = list(normalised)
    # Never go above the division (the first two digits).
    for position in range(7, 1, -1):
        if digits[position] == "0":
            continue
        digits[position] = "0"
        parent = "".join(digits)
        description = table.get(parent)
        if description is not None:
            return CpvEntry(parent, parent[:2], description, exact=False)
    return None


# ---------------------------------------------------------------------- local authorities


@dataclass(frozen=True)
class LocalAuthority:
    """One council of mySociety's register of UK local authorities (current and former).

    ``code`` is the registry code (usually 3 letters, e.g. ``"LDS"``; former Northern
    Irish councils use ``"NIR-A"`` etc.). ``combined_authority`` is mySociety's registry
    code of the combined authority (``"WYCA"``, ``"GMCA"``, ``"GLA"``), not a GSS code.
    ``replaced_by`` lists successor codes; a council split in two has two (Cumbria →
    Cumberland and Westmorland and Furness).
    """

    code: str
    official_name: str
    nice_name: str
    gss_code: str | None
    nation: str
    region: str | None
    type: str
    type_name: str
    combined_authority: str | None
    current: bool
    replaced_by: tuple[str, ...]


@lru_cache(maxsize=1)
def _local_authorities() -> dict[str, LocalAuthority]:
    result: dict[str, LocalAuthority] = {}
    for row in _read_csv(LOCAL_AUTHORITIES):
        code = row["local-authority-code"].strip()
        result[code] = LocalAuthority(
            code=code,
            official_name=row["official-name"],
            nice_name=row["nice-name"],
            gss_code=row["gss-code"] or None,
            nation=row["nation"],
            region=row["region"] or None,
            type=row["local-authority-type"],
            type_name=row["local-authority-type-name"],
            combined_authority=row["combined-authority"] or None,
            current=row["current-authority"] == "True",
            replaced_by=tuple(c.strip() for c in row["replaced-by"].split(",") if c.strip()),
        )
    return result


def local_authority(code: str) -> LocalAuthority | None:
    """Look up a council by registry code (case-insensitive)."""
    return _local_authorities().get(code.strip().upper())


def local_authorities() -> list[LocalAuthority]:
    """All councils in the register, current and former, in file order."""
    return list(_local_authorities().values())


def _normalise_name(name: str) -> str:
    return " ".join(name.casefold().split())


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _loose_name(name: str) -> str:
    """Case-folded, ``&`` → ``and``, punctuation dropped, no leading "the"."""
    loose = _NOT_ALNUM.sub(" ", name.casefold().replace("&", " and ")).strip()
    return loose.removeprefix("the ")


def _pick(index: dict[str, str], key: str, code: str) -> None:
    previous = index.get(key)
    if previous is None or previous == code:
        index[key] = code
        return
    # Two variants collide after normalising ("Somerset": SOM and SMT, "North Yorkshire":
    # NYK and NYE). Keep the council that exists today.
    councils = _local_authorities()
    old, new = councils.get(previous), councils.get(code)
    if new is not None and new.current and (old is None or not old.current):
        index[key] = code


@lru_cache(maxsize=1)
def _name_indexes() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for row in _read_csv(LA_NAMES):
        code = row["local-authority-code"].strip()
        _pick(exact, _normalise_name(row["la-name"]), code)
        _pick(loose, _loose_name(row["la-name"]), code)
    return exact, loose


def local_authority_code_for_name(name: str) -> str | None:
    """Registry code for a council name variant, e.g. ``"SOMERSET COUNCIL"`` → ``"SMT"``.

    First a case-folded, whitespace-collapsed exact match against mySociety's name → code
    lookup. Failing that, a looser match that ignores punctuation, ``&`` vs ``and``, a
    leading "The" and then a trailing "Council" (the lookup has "Islington" but not
    "Islington Council"). Names shared by a former and a current council resolve to the
    current one. Returns ``None`` when unknown (most non-council buyers, parish councils).
    """
    exact, loose = _name_indexes()
    code = exact.get(_normalise_name(name))
    if code is not None:
        return code
    key = _loose_name(name)
    if not key:
        return None
    code = loose.get(key)
    if code is None and key.endswith(" council"):
        code = loose.get(key.removesuffix(" council"))
    return code


@lru_cache(maxsize=1)
def _code_index() -> dict[str, str]:
    """Present and former GSS codes and old ONS (SNAC) codes → registry code."""
    index: dict[str, str] = {}
    for row in _read_csv(LA_GSS):
        index.setdefault(row["gss-code"].strip().upper(), row["local-authority-code"].strip())
    for row in _read_csv(LOCAL_AUTHORITIES):
        code = row["local-authority-code"].strip()
        for column in ("gss-code", "snac"):
            value = (row.get(column) or "").strip().upper()
            if value:
                index.setdefault(value, code)
    return index


def local_authority_code_for_code(code: str) -> str | None:
    """Registry code for a council code as publishers write it.

    Accepts a registry code (``"CLD"``), a present or former GSS code (``"E08000033"``) or
    an old ONS/SNAC code (``"00CY"``, the last part of the
    ``statistics.data.gov.uk/doc/local-authority-district/00CY`` URIs in spend files).
    Returns ``None`` when unknown.
    """
    key = code.strip().upper()
    if not key:
        return None
    if key in _local_authorities():
        return key
    return _code_index().get(key)


def district_table() -> list[District]:
    """Every postcode district with its local authority, one row each (loaded into the store)."""
    return list(_districts().values())


@dataclass(frozen=True)
class CpvTheme:
    division: str
    theme: str
    why: str


@lru_cache(maxsize=1)
def cpv_themes() -> dict[str, CpvTheme]:
    """CPV division (2 digits) → theme, from ``cpv-themes.csv`` (documented in docs/metrics.md)."""
    return {
        row["division"]: CpvTheme(row["division"], row["theme"], row["why"])
        for row in _read_csv("cpv-themes.csv")
    }


CENTRAL_PURCHASING_BODIES = "central-purchasing-bodies.csv"


@dataclass(frozen=True)
class CentralPurchasingBody:
    """A body that buys for many others (Public Contracts Regulations 2015 reg. 37;
    Procurement Act 2023 s. 1 "centralised procurement"): its frameworks serve many places,
    so they are not the local buying of the place where its office is."""

    name: str
    spellings: tuple[str, ...]
    identifiers: tuple[str, ...]
    kind: str
    note: str


@lru_cache(maxsize=1)
def central_purchasing_bodies() -> list[CentralPurchasingBody]:
    return [
        CentralPurchasingBody(
            name=row["name"],
            spellings=tuple(s.strip() for s in row["spellings"].split("|") if s.strip()),
            identifiers=tuple(i.strip() for i in row["identifiers"].split("|") if i.strip()),
            kind=row["kind"],
            note=row["note"],
        )
        for row in _read_csv(CENTRAL_PURCHASING_BODIES)
    ]


# ---------------------------------------------------------------------- spend transfers

SPEND_TRANSFERS = "spend-transfers.csv"


@dataclass(frozen=True)
class SpendTransferRow:
    """One rule of ``spend-transfers.csv`` as written: ``line`` is its line in the file (so a
    surprising classification can be traced to it), ``pattern`` a regular expression on the
    normalised payee name, ``kind`` the kind of public body (or ``not_transfer``)."""

    line: int
    pattern: str
    kind: str
    note: str


@lru_cache(maxsize=1)
def spend_transfer_rules() -> tuple[SpendTransferRow, ...]:
    """The rows of ``spend-transfers.csv`` in file order, comment (``#``) and blank rows left
    out (a row that is not three cells is a ``ValueError`` naming its line). Checking them
    (a known kind, a pattern that compiles) is ``locality.spend.transfers``' work."""
    rows = []
    with reference_path(SPEND_TRANSFERS).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header: pattern,kind,note
        for cells in reader:
            if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(cells) != 3:
                # A note with an unquoted comma would shift the cells: say where, not guess.
                raise ValueError(
                    f"{SPEND_TRANSFERS}:{reader.line_num}: expected 3 cells (pattern, kind, "
                    f"note), found {len(cells)}"
                )
            pattern, kind, note = (cell.strip() for cell in cells)
            rows.append(SpendTransferRow(reader.line_num, pattern, kind, note))
    return tuple(rows)
