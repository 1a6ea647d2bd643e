"""Spend suppliers classified from organisation registers: VCSE or not, and why.

The bundled registers (``locality.reference.registers``: charity ↔ company numbers, dual
registered charities, mutual societies, registered social housing providers, universities,
further education colleges, Arts Council national portfolio organisations) are joined into
**bodies**: rows of any register that share an identifier (a charity number, a company
number, an RP code) are one body. A body's kinds are its rows' kinds, plus ``charity`` when
it has a registered charity number.

A body's VCSE status follows ``VCSE_RULES``, first rule that applies (docs/metrics.md,
"VCSE from registers"): universities, further education colleges and council housing
providers are anchor or public institutions, not VCSEs; for-profit registered providers
are not VCSEs; non-profit registered providers, mutual societies (co-operatives and
community benefit societies) and charities are; an arts NPO is only what its numbers say.

A spend supplier (name, company number, charity number) is classified by, in order:

1. ``company_number`` / ``charity_number``: a number it publishes belongs to a body;
2. ``charity_number``, register ``published-charity-number``: it publishes a well-formed
   charity number no bundled register holds (the number is itself the Charity
   Commission's, OSCR's or CCNI's registration). Not for names with the word "NHS": NHS
   trusts publish their linked charitable fund's number;
3. ``organisation``: the organisation it was matched to has an identifier of a body;
4. ``name``: its normalised name (``identity.normalise_name``, and each side of a "t/a")
   equals a registered name exactly, every body of that name agrees, and no number the
   supplier publishes contradicts the body's. Never fuzzy.

The evidence kept is the deciding register, its identifier and how the supplier reached
it. A body also links a supplier that publishes only a charity number to the company
number of the same body (``linked_company_number``), and so to contract organisations
with that ``GB-COH`` identifier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from locality.domain.identity import normalise_name
from locality.reference.registers import (
    ARTS_NPO,
    CHARITY,
    FE_COLLEGE,
    HOUSING_LOCAL_AUTHORITY,
    HOUSING_NON_PROFIT,
    HOUSING_PROFIT,
    MUTUAL,
    UNIVERSITY,
    RegisterEntry,
    charity_org_id,
    company_org_id,
    register_entries,
)

PUBLISHED_CHARITY = "published-charity-number"

# First rule whose kind a body has decides its VCSE status (None: the kind says nothing).
VCSE_RULES: tuple[tuple[str, bool | None], ...] = (
    (UNIVERSITY, False),
    (FE_COLLEGE, False),
    (HOUSING_LOCAL_AUTHORITY, False),
    (HOUSING_PROFIT, False),
    (HOUSING_NON_PROFIT, True),
    (MUTUAL, True),
    (CHARITY, True),
    (ARTS_NPO, None),
)
_CHARITY_PREFIXES = ("GB-CHC-", "GB-SC-", "GB-NIC-")
# Schemes an organisation of the contract data can be found by (``by_number`` keys).
LINK_SCHEMES = ("GB-COH", "GB-CHC", "GB-SC", "GB-NIC")


@dataclass(frozen=True)
class Body:
    """One organisation as the registers know it."""

    identifiers: tuple[str, ...]
    entries: tuple[RegisterEntry, ...]

    @property
    def company_ids(self) -> tuple[str, ...]:
        return tuple(i for i in self.identifiers if i.startswith("GB-COH-"))

    @property
    def charity_ids(self) -> tuple[str, ...]:
        return tuple(i for i in self.identifiers if i.startswith(_CHARITY_PREFIXES))


@dataclass(frozen=True)
class Decision:
    kind: str
    vcse: bool | None
    register: str
    identifier: str | None


@dataclass(frozen=True)
class Classification:
    kind: str
    vcse: bool | None
    register: str
    identifier: str | None
    matched_by: str  # company_number | charity_number | organisation | name
    linked_company_number: str | None


@dataclass(frozen=True)
class RegisterIndex:
    by_id: dict[str, Body]
    by_name: dict[str, tuple[Body, ...]]


def _bodies(entries: Iterable[RegisterEntry]) -> list[Body]:
    """Join rows that share an identifier (union-find over identifiers)."""
    rows = list(entries)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_row: dict[str, int] = {}
    for i, entry in enumerate(rows):
        for identifier in entry.identifiers:
            j = first_row.setdefault(identifier, i)
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[RegisterEntry]] = {}
    for i, entry in enumerate(rows):
        groups.setdefault(root(i), []).append(entry)
    return [
        Body(tuple(dict.fromkeys(i for e in group for i in e.identifiers)), tuple(group))
        for group in groups.values()
    ]


@lru_cache(maxsize=1)
def register_index() -> RegisterIndex:
    """Bodies by identifier and by normalised registered name (built once per process)."""
    by_id: dict[str, Body] = {}
    names: dict[str, list[Body]] = {}
    for body in _bodies(register_entries()):
        for identifier in body.identifiers:
            by_id[identifier] = body
        for entry in body.entries:
            key = normalise_name(entry.name)
            if key and body not in names.setdefault(key, []):
                names[key].append(body)
    return RegisterIndex(by_id, {k: tuple(v) for k, v in names.items()})


def decide(body: Body, matched: str | None = None) -> Decision:
    """A body's VCSE status by ``VCSE_RULES``, with the register row that decided it."""
    for kind, vcse in VCSE_RULES:
        for entry in body.entries:
            if entry.kind == kind:
                return Decision(kind, vcse, entry.register, _evidence_id(entry, matched))
        if kind == CHARITY:
            # A charity number in any register row makes the body a registered charity.
            for entry in body.entries:
                for identifier in entry.identifiers:
                    if identifier.startswith(_CHARITY_PREFIXES):
                        return Decision(CHARITY, True, entry.register, identifier)
    entry = body.entries[0]
    return Decision(entry.kind, None, entry.register, _evidence_id(entry, matched))


def _evidence_id(entry: RegisterEntry, matched: str | None) -> str | None:
    if matched and matched in entry.identifiers:
        return matched
    return entry.identifiers[0] if entry.identifiers else None


def _linked_company(body: Body, company: str | None) -> str | None:
    """The body's company number for a supplier that publishes none (only when unique)."""
    if company or len(body.company_ids) != 1:
        return None
    return body.company_ids[0].removeprefix("GB-COH-")


def _names_nhs_body(name: str | None) -> bool:
    # NHS trusts are public bodies; the charity number published beside one is its
    # charitable fund's (Wakefield: Mid Yorkshire Hospitals NHS Trust, 1067163).
    return "nhs" in (name or "").split()


def published_ids(
    name: str | None, company: str | None, charity: str | None
) -> list[tuple[str, str]]:
    """(how, org-id) of the numbers a supplier publishes, company number first."""
    ids = []
    company_id = company_org_id(company)
    if company_id:
        ids.append(("company_number", company_id))
    charity_id = None if _names_nhs_body(name) else charity_org_id(charity)
    if charity_id:
        ids.append(("charity_number", charity_id))
    return ids


def _contradicts(body: Body, company: str | None, charity: str | None) -> bool:
    """A number the supplier publishes that the body, which has numbers of that kind, lacks."""
    company_id = company_org_id(company)
    if company_id and body.company_ids and company_id not in body.company_ids:
        return True
    charity_id = charity_org_id(charity)
    return bool(charity_id and body.charity_ids and charity_id not in body.charity_ids)


def bodies_by_name(index: RegisterIndex, variants: Iterable[str]) -> tuple[Body, ...]:
    """Bodies registered under the first of the supplier's name variants (its exact
    normalised name, then each side of a "t/a") that any register holds."""
    for variant in variants:
        bodies = index.by_name.get(variant)
        if bodies:
            return bodies
    return ()


def classify(
    index: RegisterIndex,
    name: str | None,
    company: str | None,
    charity: str | None,
    org_id: str | None = None,
    variants: Iterable[str] = (),
) -> Classification | None:
    """What the registers say a spend supplier is; None when they say nothing.
    ``variants`` are the names to look up (``resolve.name_variants`` of ``name``)."""
    for how, identifier in published_ids(name, company, charity):
        body = index.by_id.get(identifier)
        if body is not None:
            d = decide(body, identifier)
            linked = _linked_company(body, company)
            return Classification(d.kind, d.vcse, d.register, d.identifier, how, linked)
    charity_id = None if _names_nhs_body(name) else charity_org_id(charity)
    if charity_id:
        return Classification(CHARITY, True, PUBLISHED_CHARITY, charity_id, "charity_number", None)
    if org_id:
        body = index.by_id.get(org_id)
        if body is not None:
            d = decide(body, org_id)
            linked = _linked_company(body, company)
            return Classification(d.kind, d.vcse, d.register, d.identifier, "organisation", linked)
    bodies = [b for b in bodies_by_name(index, variants) if not _contradicts(b, company, charity)]
    decisions = [decide(b) for b in bodies]
    if not decisions or len({d.vcse for d in decisions}) != 1:
        # No body, or bodies of one name that disagree: the name alone cannot say.
        return None
    d = decisions[0]
    linked = _linked_company(bodies[0], company) if len(bodies) == 1 else None
    return Classification(d.kind, d.vcse, d.register, d.identifier, "name", linked)


def linked_org_keys(
    index: RegisterIndex, name: str | None, company: str | None, charity: str | None
) -> list[tuple[tuple[str, str], str]]:
    """Identifiers of the same body as the numbers a supplier publishes, as organisation
    keys (scheme, identifier) with the evidence: "register: published = linked"."""
    keys: list[tuple[tuple[str, str], str]] = []
    for _, identifier in published_ids(name, company, charity):
        body = index.by_id.get(identifier)
        if body is not None:
            keys += _keys(body, identifier)
    return keys


def linked_org_keys_by_name(
    index: RegisterIndex, variants: Iterable[str], company: str | None, charity: str | None
) -> list[tuple[tuple[str, str], str]]:
    """Identifiers of the one body registered under the supplier's exact name."""
    bodies = [b for b in bodies_by_name(index, variants) if not _contradicts(b, company, charity)]
    if len(bodies) != 1:
        return []
    return _keys(bodies[0], "name")


def _keys(body: Body, via: str) -> list[tuple[tuple[str, str], str]]:
    keys = []
    # Company numbers first: contract data identifies suppliers by them far more often.
    for identifier in (*body.company_ids, *body.charity_ids):
        if identifier == via:
            continue
        scheme, _, value = identifier.rpartition("-")
        if scheme not in LINK_SCHEMES:
            continue
        registers = sorted({e.register for e in body.entries if identifier in e.identifiers})
        keys.append(((scheme, value), f"{'+'.join(registers)}: {via} = {identifier}"))
    return keys
