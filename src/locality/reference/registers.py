"""Organisation registers shipped as package data (``organisations/*.csv``).

Each row of each register becomes a :class:`RegisterEntry`: the register it came from and
its line, a ``kind`` (what the register says the body is), its registered name and its
identifiers as org-ids (``GB-CHC-…``, ``GB-SC-…``, ``GB-NIC-…``, ``GB-COH-…``,
``GB-MPR-…``, ``GB-SHPE-…``, ``GB-HESA-…``, ``GB-EDU-…``). What a kind means for VCSE
status is policy, decided in ``locality.enrich.classify``, not here. Origins, commits and
licences: README.md of this package.

A bundled row that cannot be read (a missing column, an unknown housing designation)
raises :class:`RegisterDataError` naming the file and line: the install is broken, and a
silently shorter register would quietly change every VCSE share.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from locality.reference import reference_path

__all__ = [
    "ARTS_NPO",
    "CHARITY",
    "FE_COLLEGE",
    "HOUSING_LOCAL_AUTHORITY",
    "HOUSING_NON_PROFIT",
    "HOUSING_PROFIT",
    "KINDS",
    "MUTUAL",
    "REGISTERS",
    "UNIVERSITY",
    "RegisterDataError",
    "RegisterEntry",
    "charity_org_id",
    "company_org_id",
    "register_entries",
]

CHARITY = "charity"
MUTUAL = "mutual"  # co-operative or community benefit society (FCA Mutuals Public Register)
HOUSING_NON_PROFIT = "housing_non_profit"
HOUSING_PROFIT = "housing_profit"
HOUSING_LOCAL_AUTHORITY = "housing_local_authority"
UNIVERSITY = "university"
FE_COLLEGE = "fe_college"
ARTS_NPO = "arts_npo"
KINDS = (
    CHARITY,
    MUTUAL,
    HOUSING_NON_PROFIT,
    HOUSING_PROFIT,
    HOUSING_LOCAL_AUTHORITY,
    UNIVERSITY,
    FE_COLLEGE,
    ARTS_NPO,
)

# Register name -> bundled file. The names are what the store records as evidence.
REGISTERS = {
    "charity-company-numbers": "organisations/charity-company-numbers.csv",
    "dual-registered-charities": "organisations/dual-registered-charities.csv",
    "mutual-companies": "organisations/mutual-companies.csv",
    "social-housing-providers": "organisations/social-housing-providers.csv",
    "university-charity-numbers": "organisations/university-charity-numbers.csv",
    "further-education-colleges": "organisations/further-education-colleges.csv",
    "arts-council-npo-2014-15": "organisations/arts-council-npo-2014-15.csv",
}
# Company and charity numbers of registered housing providers, by RP code (joined to the
# HCA list, which says whether each provider is non-profit).
HOUSING_NUMBERS = "organisations/housing-provider-numbers.csv"

_DESIGNATIONS = {
    "Non-Profit": HOUSING_NON_PROFIT,
    "Profit": HOUSING_PROFIT,
    "Local Authority": HOUSING_LOCAL_AUTHORITY,
}


class RegisterDataError(ValueError):
    """A bundled register row that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class RegisterEntry:
    register: str
    line: int  # line of the bundled file (the header is line 1)
    kind: str
    name: str
    identifiers: tuple[str, ...]  # org-ids, best first


_COMPANY = re.compile(r"^[A-Z0-9]{8}$")
_CHARITY_EW = re.compile(r"^(\d{6,7})(?:-\d{1,3})?$")  # "312832-6": a linked charity
_CHARITY_SC = re.compile(r"^SC\d{6}$")
_CHARITY_NI = re.compile(r"^(?:NIC)?(1\d{5})$")


def company_org_id(number: str | None) -> str | None:
    """``GB-COH-…`` for a Companies House number, else None.

    Digits are left-padded to 8 (``83608`` → ``00083608``: companies from 1904 have short
    numbers); letter prefixes (``IP27662R``, ``SC157602``) must already make 8 characters.
    Nine digits or stray text (``XR12530``, an HMRC charity reference) are not numbers.
    """
    if not number:
        return None
    value = "".join(number.split()).upper().removeprefix("GB-COH-")
    if value.isdigit() and len(value) < 8:
        value = value.zfill(8)
    if not _COMPANY.match(value) or value == "00000000":
        return None
    return f"GB-COH-{value}"


def charity_org_id(number: str | None) -> str | None:
    """The org-id of a registered charity number, else None.

    ``SC`` + 6 digits: Scotland (OSCR), ``GB-SC-SC…``. ``NIC`` + 6 digits, or 6 digits
    from 100000 to 199999: Northern Ireland (CCNI numbers start at 100001), ``GB-NIC-…``.
    Other 6 or 7 digits: England and Wales (the Charity Commission's numbers start at
    200000), ``GB-CHC-…``; a ``-N`` suffix names a linked charity of that number and is
    dropped. Five digits, eight digits or letters (``SC01996``, ``31192R``) are refused:
    they are cut short or another register's number.
    """
    if not number:
        return None
    value = "".join(number.split()).upper()
    for prefix in ("GB-CHC-", "GB-SC-", "GB-NIC-"):
        value = value.removeprefix(prefix)
    if _CHARITY_SC.match(value):
        return f"GB-SC-{value}"
    ni = _CHARITY_NI.match(value)
    if ni:
        return f"GB-NIC-{ni.group(1)}"
    ew = _CHARITY_EW.match(value)
    if ew:
        return f"GB-CHC-{ew.group(1)}"
    return None


def _rows(relative: str) -> Iterator[tuple[int, dict[str, str]]]:
    with reference_path(relative).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                raise RegisterDataError(
                    f"{relative}:{reader.line_num}: expected {len(reader.fieldnames or [])} columns"
                )
            yield reader.line_num, row


def _ids(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _org_id(value: str, relative: str, line: int, prefixes: tuple[str, ...]) -> str:
    if not value.startswith(prefixes):
        raise RegisterDataError(f"{relative}:{line}: {value!r} is not an org-id of {prefixes}")
    if value.startswith("GB-COH-"):
        return company_org_id(value) or value
    return value


_CHARITY_IDS = ("GB-CHC-", "GB-SC-", "GB-NIC-")


def _pairs(register: str, kind: str, left: tuple[str, ...]) -> Iterator[RegisterEntry]:
    """Registers of two org-ids and a name (the charity-lookups files)."""
    relative = REGISTERS[register]
    first, second, _ = _columns(relative)
    for line, row in _rows(relative):
        a = _org_id(row[first], relative, line, left)
        b = _org_id(row[second], relative, line, ("GB-",))
        yield RegisterEntry(register, line, kind, row["name"], _ids(a, b))


def _columns(relative: str) -> list[str]:
    with reference_path(relative).open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def _housing() -> Iterator[RegisterEntry]:
    numbers: dict[str, tuple[str | None, str | None]] = {}
    for _, row in _rows(HOUSING_NUMBERS):
        numbers[row["rp_code"]] = (
            company_org_id(row["company_number"]),
            charity_org_id(row["charity_number"]),
        )
    relative = REGISTERS["social-housing-providers"]
    for line, row in _rows(relative):
        kind = _DESIGNATIONS.get(row["designation"])
        if kind is None:
            raise RegisterDataError(
                f"{relative}:{line}: designation {row['designation']!r} is not one of "
                + ", ".join(_DESIGNATIONS)
            )
        company, charity = numbers.get(row["rp_code"], (None, None))
        ids = _ids(company, charity, f"GB-SHPE-{row['rp_code']}")
        yield RegisterEntry("social-housing-providers", line, kind, row["name"], ids)


def _colleges() -> Iterator[RegisterEntry]:
    for line, row in _rows(REGISTERS["further-education-colleges"]):
        yield RegisterEntry("further-education-colleges", line, FE_COLLEGE, row["name"], ())


def _arts_npos() -> Iterator[RegisterEntry]:
    for line, row in _rows(REGISTERS["arts-council-npo-2014-15"]):
        ids = _ids(company_org_id(row["company_number"]), charity_org_id(row["charity_number"]))
        yield RegisterEntry("arts-council-npo-2014-15", line, ARTS_NPO, row["name"], ids)


@lru_cache(maxsize=1)
def register_entries() -> tuple[RegisterEntry, ...]:
    """Every row of every bundled organisation register, in register then file order."""
    return (
        *_pairs("charity-company-numbers", CHARITY, _CHARITY_IDS),
        *_pairs("dual-registered-charities", CHARITY, ("GB-SC-",)),
        *_pairs("mutual-companies", MUTUAL, ("GB-MPR-",)),
        *_housing(),
        *_pairs("university-charity-numbers", UNIVERSITY, ("GB-HESA-", "GB-EDU-")),
        *_colleges(),
        *_arts_npos(),
    )
