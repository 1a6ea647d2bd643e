"""Places: named sets of councils that metrics can be grouped or filtered by.

Built in: every combined authority in mySociety's register (its ``combined-authority``
column), under its usual name ("West Yorkshire" = Bradford, Calderdale, Kirklees, Leeds,
Wakefield), and every council on its own. A TOML file adds more, e.g.::

    [places."Leeds City Region"]
    councils = ["Leeds", "Bradford", "Calderdale", "Kirklees", "Wakefield", "York", "Harrogate"]

Council names go through the same name lookup as buyer names (alternative names such as
"City of York Council" work); a name that matches nothing is an error naming the file.
A buyer is in a place when its postcode's local authority is one of the place's councils.

A place can also hold public bodies that are not councils, by the name their spend files
carry (``locality ingest --body NAME``); only the whole-place spend view
(``spend.place``) reads them. An entry with only ``bodies`` under the name of a built-in
place or a council extends that place::

    [places."West Yorkshire"]
    bodies = ["West Yorkshire Police", "West Yorkshire Fire and Rescue Authority"]
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Self, TypeVar

from locality.reference import local_authorities, local_authority, local_authority_code_for_name

# mySociety registry code -> the name people use for the combined authority's area.
COMBINED_AUTHORITY_NAMES = {
    "CPCA": "Cambridgeshire and Peterborough",
    "EMCA": "East Midlands",
    "GLA": "Greater London",
    "GLCA": "Greater Lincolnshire",
    "GMCA": "Greater Manchester",
    "HYCA": "Hull and East Yorkshire",
    "LCR": "Liverpool City Region",
    "NECA": "North East",
    "NTCA": "North of Tyne",
    "SCR": "South Yorkshire",
    "TVCA": "Tees Valley",
    "WECA": "West of England",
    "WMCA": "West Midlands",
    "WYCA": "West Yorkshire",
    "YNYC": "York and North Yorkshire",
}


class PlaceError(ValueError):
    """A place or council name that cannot be resolved; the message suggests near names."""


@dataclass(frozen=True)
class Place:
    name: str
    councils: frozenset[str]  # registry codes, e.g. {"LDS", "BRD"}
    source: str  # "combined authority", "council", or the TOML file it came from
    # Other public bodies (police, fire, NHS trusts, universities) by the name their spend
    # files carry. Only the whole-place spend view reads them: contract metrics locate
    # buyers by council, so they are unchanged.
    bodies: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def builtin_places() -> dict[str, Place]:
    members: dict[str, set[str]] = {}
    for council in local_authorities():
        if council.current and council.combined_authority:
            members.setdefault(council.combined_authority, set()).add(council.code)
    return {
        COMBINED_AUTHORITY_NAMES.get(code, code): Place(
            COMBINED_AUTHORITY_NAMES.get(code, code), frozenset(codes), "combined authority"
        )
        for code, codes in sorted(members.items())
    }


def load_places(path: Path | None) -> dict[str, Place]:
    """Built-in places plus those of a TOML file (which win on equal names).

    An entry may list ``councils``, ``bodies`` (non-council bodies by the name their spend
    files carry) or both. An entry with only ``bodies`` whose name is a built-in place or a
    council extends it (its councils are kept) rather than replacing it.
    """
    places = dict(builtin_places())
    if path is None:
        return places
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PlaceError(f"{path}: cannot read places ({exc})") from exc
    table = data.get("places")
    if not isinstance(table, dict):
        raise PlaceError(f'{path}: expected [places."Name"] tables with a councils list')
    for name, spec in table.items():
        where = f"{path}: place {name!r}"
        councils = _names(spec, "councils", where)
        bodies = _names(spec, "bodies", where)
        if not councils and not bodies:
            raise PlaceError(f"{where} needs a non-empty councils list (or bodies list)")
        if councils:
            codes = {_council_code(c, where) for c in councils}
            places[name] = Place(name, frozenset(codes), str(path), frozenset(bodies))
        else:
            extended = _extended(name, frozenset(bodies), places, where, str(path))
            places[extended.name] = extended
    return places


def _names(spec: object, key: str, where: str) -> list[str]:
    """A list of names from a place's TOML table; absent means empty."""
    if not isinstance(spec, dict):
        raise PlaceError(f"{where} must be a table with a councils or bodies list")
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PlaceError(f"{where}: {key} must be a list of names")
    return [v.strip() for v in value]


def _extended(
    name: str, bodies: frozenset[str], places: Mapping[str, Place], where: str, source: str
) -> Place:
    """A built-in place or council with more bodies (an entry with bodies only), under the
    place's own name so that looking the name up finds the extended place."""
    try:
        base = resolve(name, places)
    except PlaceError as exc:
        raise PlaceError(
            f"{where} has bodies but no councils, and is no built-in place or council to "
            f"extend ({exc})"
        ) from exc
    return Place(base.name, base.councils, f"{base.source} + {source}", base.bodies | bodies)


@lru_cache(maxsize=1)
def _councils_by_name() -> dict[str, str]:
    """Case-folded nice and official names → registry code, current councils winning.

    The name lookup misses some councils created since it was made (Westmorland and
    Furness, 2023), so the register's own names are a second way in.
    """
    names: dict[str, str] = {}
    for council in sorted(local_authorities(), key=lambda c: c.current):
        for label in (council.nice_name, council.official_name):
            if label:
                names[label.casefold().strip()] = council.code
    return names


def council_code_for_name(name: str) -> str | None:
    """Registry code of a council by any of its names, or None."""
    return local_authority_code_for_name(name) or _councils_by_name().get(name.casefold().strip())


def _council_code(name: str, where: str) -> str:
    code = council_code_for_name(name)
    if code is None and local_authority(name.upper()) is not None:
        code = name.upper()
    if code is None:
        raise PlaceError(f"{where}: no council called {name!r}{_suggest(name, _council_names())}")
    return code


@lru_cache(maxsize=1)
def _council_names() -> tuple[str, ...]:
    return tuple(sorted({c.nice_name for c in local_authorities() if c.current}))


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def resolve(name: str, places: Mapping[str, Place]) -> Place:
    """A place by name (case-insensitive), a combined authority code, or a single council."""
    folded = name.casefold().strip()
    for place_name, place in places.items():
        if place_name.casefold() == folded:
            return place
    if name.upper() in COMBINED_AUTHORITY_NAMES:
        return places[COMBINED_AUTHORITY_NAMES[name.upper()]]
    code = council_code_for_name(name)
    if code is not None:
        council = local_authority(code)
        label = council.nice_name if council else name
        return Place(label, frozenset({code}), "council")
    raise PlaceError(
        f"no place or council called {name!r}{_suggest(name, [*places, *_council_names()])}"
    )


@lru_cache(maxsize=100_000)
def _council_code_of_buyer(name: str) -> str | None:
    """A council's registry code by a buyer's name (cached: dashboards ask per scope)."""
    return local_authority_code_for_name(name)


def buyer_in_councils(name: str | None, la_code: str | None, councils: frozenset[str]) -> bool:
    """Whether a buyer belongs to one of ``councils``: its postcode's local authority
    (``la_code``, the rule metrics use) is one of them, or it is named as one of them
    ("Nottingham City Council", whose office postcode is in Rushcliffe)."""
    if la_code in councils:
        return True
    return bool(name) and _council_code_of_buyer(name or "") in councils


class _Text(Protocol):
    def strip(self) -> Self: ...
    def lower(self) -> Self: ...


_T = TypeVar("_T", bound=_Text)


def body_key(name: _T) -> _T:
    """How a spend body named in a places file is matched to the body its files name: trimmed
    and lower case. Written once for a Python ``str`` and an Ibis string column alike, so the
    SQL the metrics run (``metrics.facts.payments_in_place``) and the views' Python agree."""
    return name.strip().lower()


def place_body_keys(place: Place) -> list[str]:
    """The place's named (non-council) bodies as matched (``body_key``), sorted."""
    return sorted({body_key(name) for name in place.bodies})


def spend_body_in_place(place: Place, la_code: str | None, body: str | None) -> bool:
    """Whether a spend publisher belongs to ``place``: a council by its registry code, any
    other body by its name (``body_key``); the rule ``payments_in_place`` writes in SQL."""
    return la_code in place.councils or body_key(body or "") in place_body_keys(place)
