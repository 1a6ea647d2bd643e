"""Turn one contracting process (its releases, compiled) into rows of the store's tables.

Reads both the current OCDS 1.1 layout and the two legacy Contracts Finder layouts:

* 2020 award notices: ``buyer`` embedded with its address, suppliers embedded in
  ``awards[].suppliers[]`` with ``sme``/``vco`` flags, an ``id`` that is always ``0``;
* 2014-15 tender notices (OCDS 1.0): ``buyer`` embedded, ``tender.xClassifications``
  with ``isSuitableForSme``/``isSuitableForVco``, CPV in ``tender.items[].classification``.

Because legacy suppliers all have ``id`` 0, the identifier merge would fold every supplier
of an award into one (this is what ocdsmerge does, and what ``locality compile`` keeps for
fidelity). For the tables, such releases are compiled again from a copy whose suppliers are
keyed by name, so no supplier is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from locality.ingest.identity import identify
from locality.ingest.merge import RuleTree, compile_releases
from locality.ingest.postcodes import extract_postcode
from locality.ingest.text import clean_text
from locality.reference import cpv as cpv_lookup

SME_SCALES = frozenset({"sme", "micro"})
LARGE_SCALES = frozenset({"large"})

PROCESS_COLUMNS = (
    "ocid",
    "publisher_prefix",
    "layout",
    "release_count",
    "first_date",
    "last_date",
    "buyer_org_id",
    "buyer_name",
    "title",
    "title_clean",
    "description",
    "description_clean",
    "cpv_code",
    "cpv_division",
    "cpv_description",
    "procurement_method",
    "procurement_method_details",
    "main_procurement_category",
    "tender_status",
    "tender_start",
    "tender_end",
    "suitable_sme",
    "suitable_vcse",
    "tender_value",
    "tender_currency",
    "lot_count",
    "award_count",
    "notice_url",
    "compiled_release",
)
AWARD_COLUMNS = (
    "ocid",
    "award_id",
    "award_date",
    "status",
    "value",
    "currency",
    "supplier_count",
    "title",
)
AWARD_SUPPLIER_COLUMNS = (
    "ocid",
    "award_id",
    "position",
    "org_id",
    "supplier_name",
    "value_share",
    "currency",
)
AWARD_VERSION_COLUMNS = ("ocid", "award_id", "release_id", "release_date", "value", "currency")
PARTY_COLUMNS = (
    "ocid",
    "org_id",
    "party_id",
    "name",
    "roles",
    "scheme",
    "identifier",
    "identity_method",
    "postcode",
    "scale",
    "vcse",
    "observed_date",
    "address_has_postcode",
)


@dataclass(slots=True)
class Rows:
    """Row tuples for each table, in the column orders above."""

    processes: list[tuple[Any, ...]] = field(default_factory=list)
    awards: list[tuple[Any, ...]] = field(default_factory=list)
    award_suppliers: list[tuple[Any, ...]] = field(default_factory=list)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    award_versions: list[tuple[Any, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.processes)

    def clear(self) -> None:
        self.processes.clear()
        self.awards.clear()
        self.award_suppliers.clear()
        self.parties.clear()
        self.award_versions.clear()


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _amount(value: Any) -> tuple[float | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    amount = value.get("amount")
    number = float(amount) if isinstance(amount, int | float) and amount is not True else None
    return number, _str(value.get("currency"))


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def is_legacy_award_layout(release: Mapping[str, Any]) -> bool:
    """Contracts Finder 2020 layout: suppliers embedded with ``sme``/``vco``, ids of 0."""
    for award in _list(release.get("awards")):
        for supplier in _list(_dict(award).get("suppliers")):
            if isinstance(supplier, dict) and (
                "sme" in supplier or "vco" in supplier or supplier.get("id") in (0, "0", "")
            ):
                return True
    return False


def _keyed_by_name(release: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a legacy release whose embedded suppliers are keyed by name, not by 0."""
    copy = dict(release)
    awards = []
    for award in _list(release.get("awards")):
        if not isinstance(award, dict):
            awards.append(award)
            continue
        award = dict(award)
        suppliers = []
        for position, supplier in enumerate(_list(award.get("suppliers"))):
            if isinstance(supplier, dict) and supplier.get("id") in (0, "0", "", None):
                key = identify(supplier)
                supplier = {**supplier, "id": key.org_id if key else f"position:{position}"}
            suppliers.append(supplier)
        award["suppliers"] = suppliers
        awards.append(award)
    copy["awards"] = awards
    return copy


def _scale(party: Mapping[str, Any]) -> str:
    details = _dict(party.get("details"))
    scale = details.get("scale")
    if isinstance(scale, str):
        lowered = scale.strip().lower()
        if lowered in SME_SCALES:
            return "sme"
        if lowered in LARGE_SCALES:
            return "large"
    legacy = party.get("sme")
    if isinstance(legacy, bool):
        return "sme" if legacy else "large"
    return "unknown"


def _vcse(party: Mapping[str, Any]) -> bool | None:
    details = _dict(party.get("details"))
    flag = details.get("vcse")
    if isinstance(flag, bool):
        return flag
    legacy = party.get("vco")
    return legacy if isinstance(legacy, bool) else None


# Loose on purpose: "does this address hold anything postcode-shaped at all?", the
# denominator of the postcode coverage figure in `locality status`.
_POSTCODE_SHAPED = re.compile(r"[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}")


def _address_has_postcode(party: Mapping[str, Any]) -> bool:
    address = _dict(party.get("address"))
    return any(
        isinstance(text := address.get(key), str) and _POSTCODE_SHAPED.search(text) is not None
        for key in ("postalCode", "streetAddress", "locality")
    )


def _postcode(party: Mapping[str, Any]) -> str | None:
    address = _dict(party.get("address"))
    for key in ("postalCode", "streetAddress", "locality"):
        text = address.get(key)
        if isinstance(text, str) and text:
            found = extract_postcode(text)
            if found:
                return found
    return None


def _cpv(tender: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """Main CPV code: tender.classification, else the first item's (additional) classification."""
    candidates: list[Any] = [tender.get("classification")]
    for item in _list(tender.get("items")):
        item = _dict(item)
        candidates.append(item.get("classification"))
        candidates.extend(_list(item.get("additionalClassifications")))
    for classification in candidates:
        classification = _dict(classification)
        scheme = _str(classification.get("scheme"))
        code = _str(classification.get("id"))
        if code and (scheme is None or scheme.upper() == "CPV"):
            entry = cpv_lookup(code)
            if entry is not None:
                return entry.code, entry.division, entry.description
            digits = code.split("-")[0].strip()
            return digits, digits[:2] if digits[:2].isdigit() else None, None
    return None, None, None


def _notice_url(compiled: Mapping[str, Any]) -> str | None:
    holders = [_dict(compiled.get("tender"))] + [_dict(a) for a in _list(compiled.get("awards"))]
    for holder in reversed(holders):
        for document in _list(holder.get("documents")):
            url = _str(_dict(document).get("url"))
            if url:
                return url
    return None


class _PartyIndex:
    """Parties of one process keyed by organisation, merging roles of repeated parties."""

    def __init__(self, ocid: str, observed: str | None):
        self.ocid = ocid
        self.observed = observed
        self.by_party_id: dict[str, str] = {}
        self.rows: dict[str, list[Any]] = {}

    def add(self, party: Mapping[str, Any], roles: Sequence[str]) -> str | None:
        who = identify(party)
        if who is None:
            return None
        party_id = _str(party.get("id"))
        if party_id is not None and party_id != "0":
            self.by_party_id.setdefault(party_id, who.org_id)
        row = self.rows.get(who.org_id)
        if row is None:
            self.rows[who.org_id] = [
                self.ocid,
                who.org_id,
                party_id,
                _str(party.get("name")) or _str(_dict(party.get("identifier")).get("legalName")),
                list(dict.fromkeys(roles)),
                who.scheme,
                who.identifier,
                who.method,
                _postcode(party),
                _scale(party),
                _vcse(party),
                self.observed,
                _address_has_postcode(party),
            ]
        else:
            row[4] = list(dict.fromkeys([*row[4], *roles]))
            # Fill what an earlier mention of the same organisation left unknown.
            if row[8] is None:
                row[8] = _postcode(party)
            if row[9] == "unknown":
                row[9] = _scale(party)
            if row[10] is None:
                row[10] = _vcse(party)
            if not row[12]:
                row[12] = _address_has_postcode(party)
        return who.org_id

    def org_for_reference(self, reference: Mapping[str, Any], role: str) -> str | None:
        """The organisation an ``OrganizationReference`` (``{id, name}``) points to."""
        party_id = _str(reference.get("id"))
        if party_id is not None and party_id in self.by_party_id:
            org_id = self.by_party_id[party_id]
            row = self.rows[org_id]
            if role not in row[4]:
                row[4] = [*row[4], role]
            return org_id
        return self.add(reference, [role])


def normalise_process(
    ocid: str,
    releases: Sequence[Mapping[str, Any]],
    compiled: Mapping[str, Any],
    compiled_json: str,
    rules: RuleTree,
    rows: Rows,
) -> None:
    """Append the rows of one contracting process to ``rows``."""
    legacy_awards = any(is_legacy_award_layout(r) for r in releases)
    view: Mapping[str, Any] = compiled
    if legacy_awards:
        view = compile_releases([_keyed_by_name(r) for r in releases], rules)
    tender = _dict(view.get("tender"))
    is_legacy_tender = "xClassifications" in tender
    layout = (
        "cf-legacy-award" if legacy_awards else "cf-legacy-tender" if is_legacy_tender else "ocds"
    )

    dates = sorted(d for r in releases if isinstance(d := r.get("date"), str) and d)
    award_dates = sorted(
        d for a in _list(view.get("awards")) if isinstance(d := _dict(a).get("date"), str) and d
    )
    first_date = dates[0] if dates else (award_dates[0] if award_dates else None)
    last_date = dates[-1] if dates else (award_dates[-1] if award_dates else None)

    parties = _PartyIndex(ocid, last_date)
    for party in _list(view.get("parties")):
        if isinstance(party, dict):
            roles = [r for r in _list(party.get("roles")) if isinstance(r, str)]
            parties.add(party, roles)

    buyer = _dict(view.get("buyer"))
    buyer_org = parties.org_for_reference(buyer, "buyer") if buyer else None
    if buyer_org is None:
        for org_id, row in parties.rows.items():
            if "buyer" in row[4]:
                buyer_org = org_id
                break
    buyer_name = _str(buyer.get("name"))
    if buyer_name is None and buyer_org is not None:
        buyer_name = parties.rows[buyer_org][3]

    awards = [a for a in _list(view.get("awards")) if isinstance(a, dict)]
    for award in awards:
        award_id: str = _str(award.get("id")) or ""
        value, currency = _amount(award.get("value"))
        suppliers = [s for s in _list(award.get("suppliers")) if isinstance(s, dict)]
        rows.awards.append(
            (
                ocid,
                award_id,
                _str(award.get("date")),
                _str(award.get("status")),
                value,
                currency,
                len(suppliers),
                _str(award.get("title")),
            )
        )
        share = value / len(suppliers) if value is not None and suppliers else None
        for position, supplier in enumerate(suppliers):
            supplier_org = (
                parties.add(supplier, ["supplier"])
                if legacy_awards
                else parties.org_for_reference(supplier, "supplier")
            )
            rows.award_suppliers.append(
                (
                    ocid,
                    award_id,
                    position,
                    supplier_org,
                    _str(supplier.get("name")),
                    share,
                    currency,
                )
            )

    cpv_code, cpv_division, cpv_description = _cpv(tender)
    suitability = _dict(tender.get("suitability"))
    legacy_flags = _dict(tender.get("xClassifications"))
    suitable_sme = _bool(suitability.get("sme"))
    if suitable_sme is None:
        suitable_sme = _bool(legacy_flags.get("isSuitableForSme"))
    suitable_vcse = _bool(suitability.get("vcse"))
    if suitable_vcse is None:
        suitable_vcse = _bool(legacy_flags.get("isSuitableForVco"))
    tender_value, tender_currency = _amount(tender.get("value"))
    period = _dict(tender.get("tenderPeriod"))
    title = _str(tender.get("title")) or _str(view.get("title"))
    description = _str(tender.get("description")) or _str(view.get("description"))
    lots = tender.get("lots")
    prefix = ocid.split("-")
    rows.processes.append(
        (
            ocid,
            "-".join(prefix[:2]) if len(prefix) >= 2 else ocid,
            layout,
            len(releases),
            first_date,
            last_date,
            buyer_org,
            buyer_name,
            title,
            clean_text(title),
            description,
            clean_text(description),
            cpv_code,
            cpv_division,
            cpv_description,
            _str(tender.get("procurementMethod")),
            _str(tender.get("procurementMethodDetails")),
            _str(tender.get("mainProcurementCategory")),
            _str(tender.get("status")),
            _str(period.get("startDate")),
            _str(period.get("endDate")),
            suitable_sme,
            suitable_vcse,
            tender_value,
            tender_currency,
            len(lots) if isinstance(lots, list) else None,
            len(awards),
            _notice_url(view),
            compiled_json,
        )
    )
    rows.parties.extend(tuple(row) for row in parties.rows.values())
    # Each published version of each award's value, for the value-growth red flag.
    for release in releases:
        release_id = _str(release.get("id"))
        release_date = _str(release.get("date"))
        for award in _list(release.get("awards")):
            if isinstance(award, dict) and "value" in award:
                value, currency = _amount(award.get("value"))
                rows.award_versions.append(
                    (ocid, _str(award.get("id")) or "", release_id, release_date, value, currency)
                )
