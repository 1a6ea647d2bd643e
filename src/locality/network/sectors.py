"""The sector of an organisation in the network, with the rule that decided it.

A node's sector is what kind of organisation it is, not the role it plays in one contract: a
housing association that buys is still a housing provider, a university that sells is still
higher education. The rules run in a fixed order (the first that fires wins) and each
returns its evidence, so a list can say why an organisation is where it is
(docs/network.md, "Sectors"):

0. an organisation list the user imported (``locality ingest --kind organisations``),
   matched by identifier, else name and postcode district, else name
   (``locality.network.imported``): its sector, or the sector its VCSE flag or scale
   decides; its scale and VCSE flag replace the published ones for the rules below;
1. organisation registers (bundled: universities, further-education colleges, housing
   providers, Arts Council national portfolio organisations, charities, mutual societies) by
   an org-id of the organisation, or by its exact normalised name for the registers that
   publish names only (colleges, arts organisations) unless the name is a public body's;
   then what the spend-supplier registers said of a spend supplier matched to it;
2. the publisher's buyer type when it names a sector (housing association, higher
   education, charity);
3. name patterns: NHS, police and fire; then universities and colleges; then councils (or a
   buyer named as a council in the register of local authorities) and central government.
   Registered companies' names (Ltd, plc, LLP) are never public bodies by name;
4. the publisher's public buyer types (Find a Tender / TED classifications);
5. housing and arts and culture names;
6. the identifier scheme (``GB-CHC``, ``GB-SC``, ``GB-NIC``, ``GB-MPR``), the published VCSE
   flag, charity/CIC/co-operative names: a VCSE;
7. an organisation that only ever appears as a buyer: a contracting authority under the
   Public Contracts Regulations 2015 (reg. 2) is a public body or a body governed by public
   law, so it is a public buyer of type "other";
8. the published size (SME or large), else unknown.

Pure functions: no store, no I/O beyond the bundled registers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from locality.domain.names import normalise_name
from locality.reference import local_authority_code_for_name
from locality.reference.registers import register_entries

PUBLIC = "public_buyer"
LARGE = "large_company"
SME = "sme"
VCSE = "vcse"
EDUCATION = "higher_further_education"
ARTS = "arts_culture"
HOUSING = "housing_provider"
UNKNOWN = "unknown"
SECTORS = (PUBLIC, LARGE, SME, VCSE, EDUCATION, ARTS, HOUSING, UNKNOWN)

# Types of public buyer.
COUNCIL = "council"
NHS = "nhs"
CENTRAL = "central_government"
SCHOOLS = "education"
EMERGENCY = "police_fire"
OTHER = "other"
BUYER_TYPES = (COUNCIL, NHS, CENTRAL, SCHOOLS, EMERGENCY, OTHER)

_REGISTER_SECTOR = {
    "university": EDUCATION,
    "fe_college": EDUCATION,
    "housing_non_profit": HOUSING,
    "housing_profit": HOUSING,
    "housing_local_authority": PUBLIC,  # a council's own housing: the council
    "arts_npo": ARTS,
    "charity": VCSE,
    "mutual": VCSE,
}
# Registers that name specific kinds win over the generic charity/mutual lists: a university
# is a charity too, but it is higher education here.
_REGISTER_ORDER = (
    "university",
    "fe_college",
    "housing_non_profit",
    "housing_profit",
    "housing_local_authority",
    "arts_npo",
    "charity",
    "mutual",
)


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


# Public buyer types by name, checked in this order ("NHS ... Police" is rare; a police
# and crime commissioner is police, "Fire and Rescue Authority" is fire, not a council).
_BUYER_NAME_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (EMERGENCY, _words(r"police", r"constabulary", r"fire (?:and|&) rescue", r"fire authority")),
    (
        NHS,
        _words(
            r"nhs",
            r"clinical commissioning",
            r"integrated care board",
            r"health board",
            r"ambulance service",
            r"hospitals?",
            r"foundation trust",
            r"public health",
        ),
    ),
    (
        COUNCIL,
        _words(
            r"councils?",
            r"borough of",
            r"city of london corporation",
            r"combined authority",
            r"cyngor",
            r"county of",
            r"city (?:and|&) county of",
            r"greater london authority",
            r"transport for (?:london|greater manchester|west midlands)",
        ),
    ),
    (
        CENTRAL,
        _words(
            r"ministry",
            r"department (?:for|of)",
            r"hm ",
            r"his majesty",
            r"her majesty",
            r"government",
            r"crown commercial service",
            r"cabinet office",
            r"office",
            r"agency",
            r"uk research (?:and|&) innovation",
            r"research council",
            r"met office",
            r"natural resources wales",
            r"registers of scotland",
            r"scottish government",
            r"llywodraeth",
        ),
    ),
    (SCHOOLS, _words(r"school", r"academy", r"academies", r"multi[- ]academy", r"education")),
)
_EDUCATION_NAMES = _words(r"university", r"universities", r"college", r"prifysgol", r"coleg")
_HOUSING_NAMES = _words(
    r"housing", r"homes", r"housing association", r"housing trust", r"living", r"habinteg"
)
_ARTS_NAMES = _words(
    r"theatre",
    r"museums?",
    r"gallery",
    r"galleries",
    r"orchestra",
    r"arts",
    r"opera",
    r"ballet",
    r"philharmonic",
    r"festival",
    r"dance",
)
_VCSE_NAMES = _words(
    r"charity",
    r"charitable",
    r"cic",
    r"c\.i\.c",
    r"community interest company",
    r"voluntary",
    r"cvs",
    r"social enterprise",
    r"co-operative",
    r"cooperative",
    r"community benefit society",
    r"foundation",
    r"mencap",
    r"barnardo'?s",
    r"age uk",
    r"citizens advice",
)
_VCSE_SCHEMES = frozenset({"GB-CHC", "GB-SC", "GB-NIC", "GB-MPR"})

# Publishers' buyer types (lower-cased, trimmed) that name a sector or buyer type.
_BUYER_TYPE_RULES: dict[str, tuple[str, str | None]] = {
    "regional or local authority": (PUBLIC, COUNCIL),
    "regional_authority": (PUBLIC, COUNCIL),
    "publicauthoritysubcentralgovernment": (PUBLIC, None),
    "publicauthoritycentralgovernment": (PUBLIC, CENTRAL),
    "ministry or any other national or federal authority, including their regional or local "
    "subdivisions": (PUBLIC, CENTRAL),
    "national or federal agency/office": (PUBLIC, CENTRAL),
    "regional or local agency/office": (PUBLIC, OTHER),
    "body governed by public law": (PUBLIC, None),
    "body_public": (PUBLIC, None),
    "non-departmental public body": (PUBLIC, CENTRAL),
    "trust port": (PUBLIC, OTHER),
    "housing association": (HOUSING, None),
    "higher education": (EDUCATION, None),
    "charity": (VCSE, None),
}


@dataclass(frozen=True)
class OrgFacts:
    """What the store says of an organisation, as the sector rules read it."""

    org_id: str
    name: str
    scheme: str | None = None
    scale: str | None = None  # "sme", "large", "unknown"
    vcse: bool | None = None
    buyer_type: str | None = None  # as published
    is_buyer: bool = False
    is_supplier: bool = False
    # What the store's spend-supplier registers said of a spend supplier matched to it.
    register_kind: str | None = None
    register: str | None = None
    # What an organisation list the user imported said (locality.network.imported): the
    # sector and the rule that decided it ("imported list FILE line N ...").
    imported_sector: str | None = None
    imported_evidence: str | None = None


@dataclass(frozen=True)
class Sector:
    sector: str
    buyer_type: str | None  # only for public buyers
    evidence: str  # the rule that decided it, in words


@lru_cache(maxsize=1)
def _registers() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """org-id → (kind, register) and normalised name → (kind, register), the most specific
    kind winning when a body is in several registers."""
    rank = {kind: i for i, kind in enumerate(_REGISTER_ORDER)}
    by_id: dict[str, tuple[str, str]] = {}
    by_name: dict[str, tuple[str, str]] = {}
    for entry in register_entries():
        value = (entry.kind, entry.register)
        for org_id in entry.identifiers:
            if org_id not in by_id or rank[entry.kind] < rank[by_id[org_id][0]]:
                by_id[org_id] = value
        # Only registers without identifiers are matched by name: a charity's name alone is
        # too weak (many bodies share "Community Association").
        if not entry.identifiers and entry.kind in {"fe_college", "arts_npo"}:
            key = normalise_name(entry.name)
            if key and key not in by_name:
                by_name[key] = value
    return by_id, by_name


def public_buyer_type(name: str, published: str | None = None) -> str:
    """The type of a public buyer: from its name first (the publisher's classification is
    coarse: "Body governed by public law" covers police, NHS and universities), then from the
    publisher's buyer type, else other."""
    for buyer_type, pattern in _BUYER_NAME_RULES:
        if pattern.search(name):
            return buyer_type
    if published:
        rule = _BUYER_TYPE_RULES.get(" ".join(published.lower().split()))
        if rule and rule[0] == PUBLIC and rule[1]:
            return rule[1]
    return OTHER


@lru_cache(maxsize=200_000)  # the dashboard and the bench build many scopes of one store
def classify(org: OrgFacts) -> Sector:
    """The sector of one organisation and the rule that decided it (module docstring)."""
    by_id, by_name = _registers()
    name = org.name or ""
    if org.imported_sector in SECTORS:
        # The user's own list outranks every rule below: they know their place's bodies.
        sector = org.imported_sector
        buyer_type = public_buyer_type(name, org.buyer_type) if sector == PUBLIC else None
        return Sector(sector, buyer_type, org.imported_evidence or "imported list")
    public_by_name = None
    if not _company(name):
        public_by_name = next(
            (t for t, pattern in _BUYER_NAME_RULES if t != SCHOOLS and pattern.search(name)), None
        )
    if public_by_name is None and org.is_buyer and local_authority_code_for_name(name):
        public_by_name = COUNCIL  # a buyer called by a council's name ("East Riding of Yorkshire")
    hit = by_id.get(org.org_id)
    if hit is None and public_by_name is None:
        # A council's museums are an Arts Council portfolio organisation under the council's
        # name ("Bristol City Council"): a name-only register hit never makes a council arts.
        hit = by_name.get(normalise_name(name))
    if hit is None and org.register_kind in _REGISTER_SECTOR:
        hit = (org.register_kind, org.register or "spend supplier register")
    if hit:
        kind, register = hit
        sector = _REGISTER_SECTOR[kind]
        buyer_type = public_buyer_type(org.name, org.buyer_type) if sector == PUBLIC else None
        return Sector(sector, buyer_type, f"register {register}: {kind}")
    published = " ".join((org.buyer_type or "").lower().split())
    rule = _BUYER_TYPE_RULES.get(published)
    if rule and rule[0] != PUBLIC:
        return Sector(rule[0], None, f"published buyer type {org.buyer_type.strip()!r}")  # type: ignore[union-attr]
    # NHS, police and fire names win over "University" ("Velindre University NHS Trust",
    # "University Hospitals"); a university wins over a council or a government office.
    if public_by_name in {NHS, EMERGENCY}:
        return Sector(PUBLIC, public_by_name, f"name: {public_by_name.replace('_', ' ')}")
    if _EDUCATION_NAMES.search(name):
        return Sector(EDUCATION, None, "name: university or college")
    if public_by_name:
        return Sector(PUBLIC, public_by_name, f"name: {public_by_name.replace('_', ' ')}")
    if rule:
        return Sector(
            PUBLIC,
            public_buyer_type(name, org.buyer_type),
            f"published buyer type {org.buyer_type.strip()!r}",  # type: ignore[union-attr]
        )
    if _HOUSING_NAMES.search(name) and (org.is_buyer or "association" in name.lower()):
        return Sector(HOUSING, None, "name: housing provider")
    if _ARTS_NAMES.search(name) and (org.vcse or not _company(name)):
        return Sector(ARTS, None, "name: arts and culture")
    if org.scheme in _VCSE_SCHEMES:
        return Sector(VCSE, None, f"identifier scheme {org.scheme}")
    if org.vcse:
        return Sector(VCSE, None, "published VCSE flag")
    if _VCSE_NAMES.search(name):
        return Sector(VCSE, None, "name: charity, CIC or co-operative")
    if org.is_buyer and not org.is_supplier:
        buyer_type = public_buyer_type(name, org.buyer_type)
        return Sector(PUBLIC, buyer_type, "buyer only: a contracting authority")
    if org.scale == "sme":
        return Sector(SME, None, "published size: SME")
    if org.scale == "large":
        return Sector(LARGE, None, "published size: large")
    if org.is_buyer:
        return Sector(PUBLIC, public_buyer_type(name, org.buyer_type), "buyer")
    return Sector(UNKNOWN, None, "no evidence")


_COMPANY_WORDS = _words(r"ltd", r"limited", r"plc", r"llp", r"inc")


def _company(name: str) -> bool:
    """A registered company's name ("Council Services Ltd", "Police Supplies Limited" are
    suppliers, not public bodies)."""
    return bool(_COMPANY_WORDS.search(name))
