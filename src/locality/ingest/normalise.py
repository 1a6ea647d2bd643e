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

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from locality.domain import agreements, notices
from locality.domain.buyers import is_central_purchasing_body
from locality.domain.identity import (
    CHARITY_SCHEMES,
    identifiers_of,
    identify,
    preferred_identity,
)
from locality.domain.postcodes import extract_postcode
from locality.domain.text import clean_text
from locality.domain.values import award_value
from locality.ingest.merge import RuleTree, compile_releases
from locality.reference import cpv as cpv_lookup

SME_SCALES = frozenset({"sme", "micro"})
LARGE_SCALES = frozenset({"large"})

# bids.statistics measures (OCDS bid extension; Find a Tender) → lot columns.
BID_MEASURES = {
    "bids": "bidders",
    "finalStageBids": "final_stage_bidders",
    "smeFinalStageBids": "sme_final_stage_bidders",
    "vcseFinalStageBids": "vcse_final_stage_bidders",
}


@dataclass(slots=True)
class Rows:
    """Row tuples for each table, in the column orders above."""

    processes: list[tuple[Any, ...]] = field(default_factory=list)
    awards: list[tuple[Any, ...]] = field(default_factory=list)
    award_suppliers: list[tuple[Any, ...]] = field(default_factory=list)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    award_versions: list[tuple[Any, ...]] = field(default_factory=list)
    notices: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[tuple[Any, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.processes)

    def clear(self) -> None:
        self.processes.clear()
        self.awards.clear()
        self.award_suppliers.clear()
        self.parties.clear()
        self.award_versions.clear()
        self.notices.clear()
        self.lots.clear()


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def _text(value: Any) -> str | None:
    """Published text with HTML entities decoded once (``&amp;`` → ``&``, ``&#039;`` → ``'``):
    Contracts Finder escapes some names and titles before publishing."""
    text = _str(value)
    if text is not None and "&" in text and ";" in text:
        text = html.unescape(text)
    return text


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


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _suitability(holder: Mapping[str, Any]) -> tuple[bool | None, bool | None]:
    """``suitability.sme``/``.vcse`` of a tender or a lot (Find a Tender publishes them per
    lot), else the legacy Contracts Finder ``xClassifications``."""
    suitability = _dict(holder.get("suitability"))
    legacy = _dict(holder.get("xClassifications"))
    sme = _bool(suitability.get("sme"))
    vcse = _bool(suitability.get("vcse"))
    if sme is None:
        sme = _bool(legacy.get("isSuitableForSme"))
    if vcse is None:
        vcse = _bool(legacy.get("isSuitableForVco"))
    return sme, vcse


def _any_lot(flags: Sequence[bool | None]) -> bool | None:
    """A process is suitable when any lot is; not suitable only when every lot says not."""
    if any(f is True for f in flags):
        return True
    if flags and all(f is False for f in flags):
        return False
    return None


def _bid_statistics(view: Mapping[str, Any], lot_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Lot id (``""`` for the process) → bid measure → count, from ``bids.statistics``.

    A statistic without ``relatedLot`` belongs to the only lot when there is one. Find a
    Tender repeats a lot's statistic once per award (ocds-h6vhtk-059c19: "bids" 2 twice for
    lot 1), so a lot's count is the largest published, never their sum.
    """
    found: dict[str, dict[str, int]] = {}
    for stat in _list(_dict(view.get("bids")).get("statistics")):
        stat = _dict(stat)
        column = BID_MEASURES.get(str(stat.get("measure")))
        count = _int(stat.get("value"))
        if column is None or count is None:
            continue
        lot = _str(stat.get("relatedLot")) or (lot_ids[0] if len(lot_ids) == 1 else "")
        per_lot = found.setdefault(lot, {})
        per_lot[column] = max(per_lot.get(column, 0), count)
    return found


def _lot_rows(ocid: str, tender: Mapping[str, Any], view: Mapping[str, Any]) -> list[list[Any]]:
    lots = [_dict(lot) for lot in _list(tender.get("lots")) if isinstance(lot, dict)]
    lot_ids = [_str(lot.get("id")) or str(i) for i, lot in enumerate(lots)]
    stats = _bid_statistics(view, lot_ids)
    rows = []
    for lot_id, lot in zip(lot_ids, lots, strict=True):
        sme, vcse = _suitability(lot)
        value = _dict(lot.get("value"))
        counts = stats.get(lot_id, {})
        rows.append(
            [
                ocid,
                lot_id,
                _text(lot.get("title")),
                sme,
                vcse,
                _number(value.get("amount")),
                _number(value.get("amountGross")),
                _str(value.get("currency")),
                *(counts.get(column) for column in BID_MEASURES.values()),
            ]
        )
    if "" in stats:  # statistics that name no lot of a several-lot process
        rows.append([ocid, "", None, None, None, None, None, None])
        rows[-1].extend(stats[""].get(column) for column in BID_MEASURES.values())
    return rows


def _bid_totals(lot_rows: Sequence[Sequence[Any]]) -> list[int | None]:
    """Each bid measure summed over the lots that publish it (NULL when none does)."""
    totals: list[int | None] = []
    for offset in range(len(BID_MEASURES)):
        known = [row[8 + offset] for row in lot_rows if row[8 + offset] is not None]
        totals.append(sum(known) if known else None)
    return totals


def _notice_rows(
    ocid: str, releases: Sequence[Mapping[str, Any]], *, legacy: bool = False
) -> list[tuple[Any, ...]]:
    """One row per release: its notice form and stage (``domain.notices``), date and link
    (a legacy Contracts Finder notice's link built from its OCID, which holds its id)."""
    find_a_tender = ocid.startswith(notices.FIND_A_TENDER_PREFIX)
    contracts_finder = ocid.startswith(notices.CONTRACTS_FINDER_PREFIX)
    rows = []
    for release in releases:
        tags = [t for t in _list(release.get("tag")) if isinstance(t, str)]
        documents = notices.notice_documents(release)
        form = notices.notice_form(release)
        notice_id = next((_str(d.get("id")) for d in documents if d.get("id")), None)
        if notice_id is None and find_a_tender:
            notice_id = _str(release.get("id"))  # Find a Tender's release id is its notice id
        if form is None and find_a_tender:
            form = "2015-rules"  # published under the Public Contracts Regulations 2015
        elif form is None and contracts_finder:
            form = "contracts-finder"
        urls = [d.get("url") for d in documents]
        urls += [
            _dict(d).get("url")
            for holder in [_dict(release.get("tender")), *map(_dict, _list(release.get("awards")))]
            for d in _list(holder.get("documents"))
        ]
        rows.append(
            (
                ocid,
                _str(release.get("id")),
                notice_id or _str(release.get("id")),
                form,
                notices.stage_of(form, tags),
                _str(release.get("date")),
                notices.notice_url(ocid, notice_id, urls)
                or (notices.legacy_contracts_finder_url(ocid) if legacy else None),
                tags,
            )
        )
    return rows


def _is_delta_only(award: Mapping[str, Any]) -> bool:
    """A Find a Tender UK15 award names only ``id`` and ``amendments``: it amends the award it
    names and is no award of its own."""
    return set(award) <= {"id", "amendments"}


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


# A community interest company is a social enterprise by its legal form (Companies (Audit,
# Investigations and Community Enterprise) Act 2004); its name must end "C.I.C." or "CIC".
_CIC = re.compile(r"\bC\.?\s?I\.?\s?C\.?(?=\s|$|\))|community interest company", re.I)


def _vcse(party: Mapping[str, Any]) -> tuple[bool | None, str | None]:
    """Whether a party is a VCSE, and the evidence: a charity number or a community interest
    company wins over the publisher's flag (Find a Tender lists charities with ``vcse``
    false); otherwise ``details.vcse`` (legacy ``vco``)."""
    for who in identifiers_of(party):
        if who.scheme in CHARITY_SCHEMES:
            return True, f"charity number ({who.scheme})"
    name = _str(party.get("name")) or _str(_dict(party.get("identifier")).get("legalName"))
    if name and _CIC.search(name):
        return True, "community interest company (name)"
    details = _dict(party.get("details"))
    flag = details.get("vcse")
    if isinstance(flag, bool):
        return flag, "published (details.vcse)"
    legacy = party.get("vco")
    if isinstance(legacy, bool):
        return legacy, "published (vco)"
    return None, None


def _buyer_type(party: Mapping[str, Any]) -> str | None:
    """``details.classifications``: the Procurement Act's ``UK_CA_TYPE``, else TED's."""
    found: dict[str, str] = {}
    for item in _list(_dict(party.get("details")).get("classifications")):
        item = _dict(item)
        scheme, code = _str(item.get("scheme")), _str(item.get("id"))
        if scheme and code:
            found.setdefault(scheme.upper(), code)
    return found.get("UK_CA_TYPE") or found.get("TED_CA_TYPE")


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
            url = notices.safe_url(_dict(document).get("url"))
            if url:
                return url
    return None


def _process_notice_url(
    ocid: str, view: Mapping[str, Any], latest_notice: Sequence[Any] | None
) -> str | None:
    """Find a Tender: the latest notice's page (its tender documents are attachments);
    elsewhere the compiled release's notice document."""
    latest = latest_notice[6] if latest_notice else None
    if ocid.startswith(notices.FIND_A_TENDER_PREFIX) and latest:
        return str(latest)
    return _notice_url(view) or latest


class _PartyIndex:
    """Parties of one process keyed by organisation, merging roles of repeated parties."""

    def __init__(self, ocid: str, observed: str | None):
        self.ocid = ocid
        self.observed = observed
        self.by_party_id: dict[str, str] = {}
        self.rows: dict[str, list[Any]] = {}

    def add(self, party: Mapping[str, Any], roles: Sequence[str]) -> str | None:
        who = preferred_identity(party)
        if who is None:
            return None
        party_id = _str(party.get("id"))
        if party_id is not None and party_id != "0":
            self.by_party_id.setdefault(party_id, who.org_id)
        row = self.rows.get(who.org_id)
        vcse, vcse_source = _vcse(party)
        if row is None:
            self.rows[who.org_id] = [
                self.ocid,
                who.org_id,
                party_id,
                _text(party.get("name")) or _text(_dict(party.get("identifier")).get("legalName")),
                list(dict.fromkeys(roles)),
                who.scheme,
                who.identifier,
                who.method,
                _postcode(party),
                _scale(party),
                vcse,
                self.observed,
                _address_has_postcode(party),
                vcse_source,
                _buyer_type(party),
                [i.org_id for i in identifiers_of(party) if i.org_id != who.org_id] or None,
            ]
        else:
            row[4] = list(dict.fromkeys([*row[4], *roles]))
            # Fill what an earlier mention of the same organisation left unknown.
            if row[8] is None:
                row[8] = _postcode(party)
            if row[9] == "unknown":
                row[9] = _scale(party)
            if row[10] is None or (vcse and not row[10]):
                row[10], row[13] = vcse, vcse_source
            if not row[12]:
                row[12] = _address_has_postcode(party)
            if row[14] is None:
                row[14] = _buyer_type(party)
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


# Words one of which every title and description rule of ``agreements.classify`` needs
# (each of its patterns' alternatives contains one, as ``tests/test_ingest_fastpath.py``
# checks): a text with none of them cannot match, so the rules' regexes (a fifth of the
# whole ingest, 200 us a release on long descriptions) are skipped, and the result is the
# same. Letters that re.IGNORECASE matches to ASCII but str.lower() does not map to it
# (dotted and dotless i, long s) send the text to the regexes.
AGREEMENT_WORDS = (
    "framework",
    "government agreement",
    "dynamic",
    "dps",
    "approved",
    "accredit",
    "call",
    "competition",
)
_IGNORECASE_ONLY = re.compile("[\u0130\u0131\u017f]")


def _may_name_agreement(text: str | None) -> str | None:
    """``text`` if the agreement rules could match it, else None (no evidence there)."""
    if not text or _IGNORECASE_ONLY.search(text):
        return text
    lowered = text.lower()
    return text if any(word in lowered for word in AGREEMENT_WORDS) else None


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
    buyer_name = _text(buyer.get("name"))
    if buyer_name is None and buyer_org is not None:
        buyer_name = parties.rows[buyer_org][3]
    buyer_type = parties.rows[buyer_org][14] if buyer_org is not None else None

    title = _text(tender.get("title")) or _text(view.get("title"))
    description = _text(tender.get("description")) or _text(view.get("description"))
    awards = [a for a in _list(view.get("awards")) if isinstance(a, dict) and not _is_delta_only(a)]
    contracts = [c for c in _list(view.get("contracts")) if isinstance(c, dict)]
    values = [
        award_value(a, contracts, only_award=len(awards) == 1, buyer_type=buyer_type)
        for a in awards
    ]
    lot_rows = _lot_rows(ocid, tender, view)
    notice_rows = sorted(
        _notice_rows(ocid, releases, legacy=layout != "ocds"), key=lambda row: row[5] or ""
    )
    # A process's kind of agreement, from its tender, notices, text and award shape.
    agreement_type, agreement_evidence = agreements.classify(
        techniques=[_dict(tender.get("techniques"))]
        + [_dict(_dict(lot).get("techniques")) for lot in _list(tender.get("lots"))],
        method_details=_str(tender.get("procurementMethodDetails")),
        notice_forms=[row[3] for row in notice_rows if row[3]],
        title=_may_name_agreement(title),
        description=_may_name_agreement(description),
        max_suppliers_on_one_award=max(
            (
                len(_list(a.get("suppliers")))
                for a, v in zip(awards, values, strict=True)
                if v.value is not None
            ),
            default=0,
        ),
    )
    for award, chosen in zip(awards, values, strict=True):
        award_id: str = _str(award.get("id")) or ""
        value, currency = chosen.value, chosen.currency
        suppliers = [s for s in _list(award.get("suppliers")) if isinstance(s, dict)]
        if agreement_type in agreements.CEILING_TYPES:
            counts_as = "ceiling"  # a framework's or DPS's value is shared, not money
        else:
            counts_as = "awarded" if value is not None else "unknown"
        rows.awards.append(
            (
                ocid,
                award_id,
                _str(award.get("date")),
                _str(award.get("status")),
                value,
                currency,
                len(suppliers),
                _text(award.get("title")),
                chosen.net,
                chosen.gross,
                chosen.source,
                chosen.field,
                chosen.issue,
                counts_as,
                agreement_type,
                [str(x) for x in _list(award.get("relatedLots"))] or None,
            )
        )
        share = (
            value / len(suppliers)
            if value is not None and suppliers and counts_as == "awarded"
            else None
        )
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
                    _text(supplier.get("name")),
                    share,
                    currency,
                )
            )

    cpv_code, cpv_division, cpv_description = _cpv(tender)
    suitable_sme, suitable_vcse = _suitability(tender)
    if suitable_sme is None:
        suitable_sme = _any_lot([row[3] for row in lot_rows if row[1]])
    if suitable_vcse is None:
        suitable_vcse = _any_lot([row[4] for row in lot_rows if row[1]])
    tender_value, tender_currency = _amount(tender.get("value"))
    period = _dict(tender.get("tenderPeriod"))
    lots = tender.get("lots")
    prefix = ocid.split("-")
    # The process is at the stage its latest notice marks.
    latest_notice = notice_rows[-1] if notice_rows else None
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
            _process_notice_url(ocid, view, latest_notice)
            or (notices.legacy_contracts_finder_url(ocid) if layout != "ocds" else None),
            compiled_json,
            agreement_type,
            agreement_evidence,
            latest_notice[3] if latest_notice else None,
            latest_notice[4] if latest_notice else None,
            buyer_type,
            _number(_dict(tender.get("value")).get("amountGross")),
            *_bid_totals(lot_rows),
            is_central_purchasing_body(buyer_org, buyer_name),
        )
    )
    rows.lots.extend(tuple(row) for row in lot_rows)
    rows.notices.extend(notice_rows)
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
