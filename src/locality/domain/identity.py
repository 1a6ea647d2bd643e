"""Who is who: one organisation key per real organisation across releases and publishers.

Order of evidence (recorded as ``identity_method``):

1. ``identifier``: the party's ``identifier.scheme`` + ``identifier.id`` (org-id.guide schemes,
   e.g. ``GB-COH-04142000``);
2. ``party_id``: a party ``id`` that is itself an org-id (Contracts Finder gives buyers
   without an identifier ids like ``GB-CFS-12345``);
3. ``name``: the normalised name, only when nothing better exists (legacy Contracts
   Finder suppliers, Sell2Wales' release-local ids such as ``org-3``).

Placeholder numbers (``GB-COH`` ``"0"``, ``"N/A"``) are not identifiers: two different
firms both given company number 0 must stay two organisations.

Companies House numbers lose leading zeros in some publications (``GB-COH-4142000``);
they are left-padded to 8 characters so both spellings are one organisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from locality.domain.names import normalise_name

_ORG_ID = re.compile(r"^([A-Z]{2}-[A-Z0-9]{2,})-(\S.*)$")

# Placeholders publishers put where they have no number: not identifiers at all.
_PLACEHOLDER = re.compile(r"^(?:0+|n/?a|none|null|nil|unknown|not applicable|exempt|-+|\.+)$", re.I)


def is_placeholder(value: str) -> bool:
    """``"0"``, ``"N/A"``, ``"EXEMPT"``…: a field filled in with no real identifier."""
    return bool(_PLACEHOLDER.match(value.strip()))


class Identity(NamedTuple):
    org_id: str
    scheme: str | None
    identifier: str | None
    method: str  # identifier | party_id | name


def pad_company_number(number: str) -> str:
    """``4142000`` → ``04142000``: Companies House numbers are 8 characters."""
    number = number.strip().upper()
    if number.isdigit() and len(number) < 8:
        return number.zfill(8)
    return number


def normalise_scheme_id(scheme: str, identifier: str) -> str:
    scheme = scheme.strip().upper()
    identifier = identifier.strip()
    if scheme == "GB-COH":
        identifier = pad_company_number(identifier)
    return identifier


def identify(party: Mapping[str, Any]) -> Identity | None:
    """The organisation key of an OCDS party (or embedded buyer / legacy supplier)."""
    identifier = party.get("identifier")
    if isinstance(identifier, dict):
        scheme = identifier.get("scheme")
        number = identifier.get("id")
        if (
            isinstance(scheme, str)
            and scheme.strip()
            and number not in (None, "")
            and not is_placeholder(str(number))
        ):
            scheme = scheme.strip().upper()
            value = normalise_scheme_id(scheme, str(number))
            if value:
                return Identity(f"{scheme}-{value}", scheme, value, "identifier")
    party_id = party.get("id")
    if isinstance(party_id, str):
        match = _ORG_ID.match(party_id.strip())
        if match and not is_placeholder(match.group(2)):
            scheme, value = match.group(1), normalise_scheme_id(match.group(1), match.group(2))
            return Identity(f"{scheme}-{value}", scheme, value, "party_id")
    name = party.get("name")
    if not isinstance(name, str) or not name.strip():
        if isinstance(identifier, dict) and isinstance(identifier.get("legalName"), str):
            name = identifier["legalName"]
        else:
            return None
    key = normalise_name(name)
    if not key:
        return None
    return Identity(f"name:{key}", None, None, "name")


# When a party lists several identifiers (``identifier`` and ``additionalIdentifiers``), the
# organisation key is the one of the most widely published scheme, so a supplier seen as
# ``GB-COH-…`` on Contracts Finder and as ``GB-PPON-…`` (Find a Tender's own platform id)
# with that company number among its additional identifiers is one organisation.
SCHEME_PREFERENCE = ("GB-COH", "GB-CHC", "GB-SC", "GB-NIC", "GB-UKPRN", "GB-MPR", "GB-PPON")

# Charity registers of England and Wales, Scotland and Northern Ireland: a body registered
# on one is a voluntary or community organisation (VCSE) whatever its size.
CHARITY_SCHEMES = frozenset({"GB-CHC", "GB-SC", "GB-NIC"})


def identifiers_of(party: Mapping[str, Any]) -> list[Identity]:
    """Every real identifier a party publishes: ``identifier`` first, then the additional."""
    found = []
    for item in [party.get("identifier"), *_as_list(party.get("additionalIdentifiers"))]:
        if isinstance(item, dict):
            who = identify({"identifier": item})
            if who is not None and who.method == "identifier":
                found.append(who)
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def preferred_identity(party: Mapping[str, Any]) -> Identity | None:
    """The party's organisation key, preferring the most widely published scheme."""
    known = identifiers_of(party)
    if len(known) > 1:
        rank = {scheme: i for i, scheme in enumerate(SCHEME_PREFERENCE)}
        return min(known, key=lambda who: rank.get(who.scheme or "", len(rank)))
    return identify(party)
