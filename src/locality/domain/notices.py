"""Notice forms and the stage of a procurement they mark.

Under the Procurement Act 2023 (in force 24 February 2025) every notice on Find a Tender
(``ocds-h6vhtk``) carries its form in ``documents[].noticeType`` (``UK1`` … ``UK17``), inside
``planning``, ``tender``, ``awards[]`` or ``contracts[]``. The release ``tag`` is too coarse
(``award,contract`` is a UK5, UK6, UK7 or UK15). Notices under the 2015 regulations and
other publishers' notices have no form: their stage comes from the release tag.

Sources: Procurement Act 2023 Part 8 and the Procurement Regulations 2024; Find a Tender's
"Notice types and sequences" page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from locality.domain.links import web_link

# Form → stage. UK13–UK16 are the four dynamic market notices (intention, establishment,
# modification, cessation).
FORM_STAGES: dict[str, str] = {
    "UK1": "pipeline",
    "UK2": "engagement",
    "UK3": "planned",
    "UK4": "tender",
    "UK5": "direct_award_intention",
    "UK6": "award",
    "UK7": "contract",
    "UK8": "payment",
    "UK9": "performance",
    "UK10": "change",
    "UK11": "termination",
    "UK12": "procurement_termination",
    "UK13": "dynamic_market",
    "UK14": "dynamic_market",
    "UK15": "dynamic_market",
    "UK16": "dynamic_market",
    "UK17": "payments_compliance",
}

# Release tags (OCDS codelist) → stage, for notices with no Procurement Act form.
TAG_STAGES: tuple[tuple[str, str], ...] = (
    ("tenderCancellation", "procurement_termination"),
    ("contractTermination", "termination"),
    ("contractAmendment", "change"),
    ("awardCancellation", "procurement_termination"),
    ("implementation", "performance"),
    ("award", "award"),
    ("awardUpdate", "award"),
    ("contract", "contract"),
    ("tenderAmendment", "tender"),
    ("tenderUpdate", "tender"),
    ("tender", "tender"),
    ("planningUpdate", "planned"),
    ("planning", "planned"),
)

FIND_A_TENDER_PREFIX = "ocds-h6vhtk"
FIND_A_TENDER_NOTICE_URL = "https://www.find-tender.service.gov.uk/Notice/{}"
CONTRACTS_FINDER_PREFIX = "ocds-b5fd17"
CONTRACTS_FINDER_NOTICE_URL = "https://www.contractsfinder.service.gov.uk/Notice/{}"


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def notice_documents(release: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every document of a release that names a notice form (``noticeType``)."""
    holders: list[Any] = [release.get("planning"), release.get("tender")]
    holders += _dicts(release.get("awards")) + _dicts(release.get("contracts"))
    found = []
    for holder in holders:
        if isinstance(holder, Mapping):
            found += [d for d in _dicts(holder.get("documents")) if d.get("noticeType")]
    return found


def notice_form(release: Mapping[str, Any]) -> str | None:
    """The release's Procurement Act form (``UK6``), or None when it names none."""
    for document in notice_documents(release):
        form = str(document.get("noticeType")).strip().upper()
        if form in FORM_STAGES:
            return form
    return None


def stage_of(form: str | None, tags: Sequence[str]) -> str | None:
    """The stage a notice marks: from its form, else from its release tags."""
    if form in FORM_STAGES:
        return FORM_STAGES[form]
    present = set(tags)
    for tag, stage in TAG_STAGES:
        if tag in present:
            return stage
    return None


def safe_url(url: Any) -> str | None:
    """A link from data is a link only when it is http(s) with a host (``links.web_link``:
    never ``javascript:``)."""
    return web_link(url)


_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def legacy_contracts_finder_url(ocid: str) -> str | None:
    """A legacy Contracts Finder notice's page, built from its OCID: before the 2020 OCDS
    1.1 service, Contracts Finder's OCID was its prefix and the notice's GUID, and the
    notice lives at ``/Notice/<GUID>`` (current-format releases publish the link
    themselves, and their OCIDs are procurement ids, not notice ids)."""
    guid = ocid[len(CONTRACTS_FINDER_PREFIX) + 1 :].lower()
    if not ocid.startswith(CONTRACTS_FINDER_PREFIX + "-") or not _GUID.fullmatch(guid):
        return None
    return CONTRACTS_FINDER_NOTICE_URL.format(guid)


def notice_url(ocid: str, notice_id: str | None, documents: Iterable[str | None]) -> str | None:
    """The notice's page: a published http(s) document url, else one built from the id."""
    for url in documents:
        if (safe := safe_url(url)) is not None:
            return safe
    if notice_id and ocid.startswith(FIND_A_TENDER_PREFIX):
        return FIND_A_TENDER_NOTICE_URL.format(notice_id)
    return None


# OCID prefixes registered with the Open Contracting Partnership.
PUBLISHERS = {
    "ocds-b5fd17": "Contracts Finder",
    "ocds-h6vhtk": "Find a Tender",
    "ocds-r6ebe6": "Public Contracts Scotland",
    "ocds-kuma6s": "Sell2Wales",
}
