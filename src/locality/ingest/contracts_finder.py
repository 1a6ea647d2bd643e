"""Contracts Finder's own exports, read as OCDS releases.

Contracts Finder publishes more than OCDS: its search page exports a CSV of 43 columns
(``Notice Identifier``, ``Notice Type``, ``Organisation Name``, ... ``Closing Time``), its
daily harvester wrote flattened OCDS as CSV (``releases/0/...`` columns), and its API v2
search answers with ``{"hitCount", "noticeList": [{"item": {...}}]}``; projects that harvest
that API keep its notices one a line (``id``, ``notice_type``, ``organisation``, ...). Each
record of these becomes one OCDS release, so every later stage (merge, measures, network,
matching) reads them like any other release.

The forms are told apart by content (the header row, or the JSON shape), never by file name.
The OCID is Contracts Finder's: ``ocds-b5fd17-<notice GUID>``, the GUID the service gives
every notice (the legacy layout's OCIDs are built the same way, so a notice read from an
export and from OCDS is one process). The search CSV carries no GUID, only the buyer's own
``Notice Identifier``: there the OCID's GUID is a name-based UUID (RFC 4122 version 5) of the
buyer's name and that identifier, so the same notice exported twice is one process, and the
release says so in ``x_locality_ocidDerived``.

A value of 0 is Contracts Finder's "not given" (the search API writes ``valueHigh: 0`` on
most notices), so it is left out, never read as an amount of zero.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson

from locality.domain.notices import CONTRACTS_FINDER_NOTICE_URL

PREFIX = "ocds-b5fd17"
SEARCH_CSV = "contracts-finder-search-csv"
HARVESTER_CSV = "contracts-finder-harvester-csv"
API_JSON = "contracts-finder-api-json"
NOTICES_JSONL = "contracts-finder-notices-jsonl"

# The search export's columns that identify it (of its 43: see the shared data README,
# section 7; these are enough to tell it from a council spend file).
SEARCH_COLUMNS = frozenset(
    {
        "Notice Identifier",
        "Notice Type",
        "Organisation Name",
        "Published Date",
        "Cpv Codes",
        "Suitable for SME",
        "Suitable for VCO",
        "Value Low",
        "Value High",
    }
)
SUPPLIER_COLUMN = "Supplier [Name|Address|Ref type|Ref Number|Is SME|Is VCSE]"
NOTICE_KEYS = frozenset({"id", "notice_type", "organisation", "published_date"})
API_ITEM_KEYS = frozenset({"id", "noticeType", "organisationName", "publishedDate"})

_LONDON = ZoneInfo("Europe/London")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_CPV = re.compile(r"\d{8}")
# Supplier reference types of the search export, as OCDS org-id schemes.
_REF_SCHEMES = {"companieshouse": "GB-COH", "charity": "GB-CHC", "charitycommission": "GB-CHC"}
_CATEGORY = {"works": "works", "services": "services", "supplies": "goods", "products": "goods"}
# The harvester's fields that hold numbers or booleans (everything else stays text).
_NUMBER_FIELDS = ("amount",)
_FLAG_FIELDS = ("sme", "vco")


class BadRow(ValueError):
    """A record that cannot become a release; the message is the rejection's reason."""


# --- detection -----------------------------------------------------------------------------


def _header(head: bytes) -> list[str]:
    text = head.decode("utf-8", "replace")
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        return next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return []


# Bytes of a file's content (after gzip) that ``detect`` needs: the header row, or the
# start of a JSON document.
HEAD_BYTES = 64 * 1024


def detect(head: bytes) -> str | None:
    """Which Contracts Finder export a file is, from its first bytes (``HEAD_BYTES`` of its
    content after gzip, BOM and leading blanks), or None."""
    if not head:
        return None
    if head[:1] == b"{":
        if re.search(rb'"noticeList"\s*:', head) and re.search(rb'"hitCount"\s*:', head):
            return API_JSON
        first = head.split(b"\n", 1)[0]
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        if isinstance(obj, dict) and obj.keys() >= NOTICE_KEYS and "ocid" not in obj:
            return NOTICES_JSONL
        return None
    if head[:1] == b"[":
        return None
    header = set(_header(head))
    if header >= SEARCH_COLUMNS:
        return SEARCH_CSV
    if "releases/0/ocid" in header:
        return HARVESTER_CSV
    return None


# --- shared conversions --------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Text as published, HTML entities decoded (the API writes ``&amp;``), blank is None."""
    if value is None:
        return None
    text = html.unescape(str(value)).strip()
    return text or None


def _amount(value: Any, what: str) -> float | None:
    """A positive amount, or None for blank or 0 (Contracts Finder's "not given")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRow(f"{what} is not a number: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        cleaned = str(value).replace(",", "").replace("£", "").strip()
        if not cleaned:
            return None
        try:
            number = float(cleaned)
        except ValueError:
            raise BadRow(f"{what} is not a number: {value!r:.60}") from None
    if number != number or number < 0:
        raise BadRow(f"{what} is not a positive amount: {value!r:.60}")
    return number or None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("yes", "true", "1", "y"):
        return True
    if text in ("no", "false", "0", "n"):
        return False
    return None


def _iso(value: Any, what: str, *, time: str | None = None) -> str | None:
    """An ISO 8601 date-time from ISO text or the search export's ``dd/mm/yyyy``."""
    text = _text(value)
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{1,4}", text):
            if int(text.rsplit("/", 1)[1]) < 1900:
                return None  # "01/01/1": the export's "no date" (pipeline notices)
            day = datetime.strptime(text, "%d/%m/%Y")
            clock = (time or "").strip()
            if re.fullmatch(r"\d{1,2}:\d{2}", clock):
                hour, minute = (int(part) for part in clock.split(":"))
                day = day.replace(hour=hour, minute=minute)
            # The export's dates and times are UK clock time (GMT or BST).
            return day.replace(tzinfo=_LONDON).isoformat()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"{what} is not a date: {text!r:.60}") from None
    if parsed.tzinfo is None:
        return parsed.isoformat() + "Z"
    return parsed.isoformat().replace("+00:00", "Z")


def _cpv_items(codes: Any) -> list[dict[str, Any]]:
    found = list(dict.fromkeys(_CPV.findall(str(codes or ""))))
    return [
        {"id": str(i), "classification": {"scheme": "CPV", "id": code}}
        for i, code in enumerate(found, 1)
    ]


def _value(amount: float | None) -> dict[str, Any] | None:
    return None if amount is None else {"amount": amount, "currency": "GBP"}


def _prune(value: Any) -> Any:
    """Drop None, empty text, empty objects and lists, so a release holds what was given."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v not in (None, "", {}, [])]
    return value


def _party_id(role: str, name: str) -> str:
    # Contracts Finder exports carry no party ids: this one only links the release's parts;
    # organisations are identified by name (or identifier) as for any release.
    return f"{role}-{uuid.uuid5(uuid.NAMESPACE_URL, name.casefold())}"


def _tender_status(status: str | None) -> str | None:
    return {
        "open": "active",
        "closed": "complete",
        "awarded": "complete",
        "withdrawn": "cancelled",
        "cancelled": "cancelled",
    }.get((status or "").strip().lower())


def _tags(notice_type: str | None, awarded: bool, status: str | None) -> list[str]:
    kind = (notice_type or "").strip().lower()
    if awarded:
        return ["award"]
    if (status or "").strip().lower() == "withdrawn":
        return ["tenderCancellation"]
    if kind in ("pipeline", "preprocurement", "pre-procurement", "earlyengagement"):
        return ["planning"]
    return ["tender"]


def _release(
    *,
    guid: str,
    derived: bool,
    published: str | None,
    notice_type: str | None,
    status: str | None,
    title: str | None,
    description: str | None,
    buyer: dict[str, Any],
    cpv: Any,
    suitable_sme: bool | None,
    suitable_vcse: bool | None,
    value_low: float | None,
    value_high: float | None,
    closing: str | None,
    contract_start: str | None,
    contract_end: str | None,
    award_date: str | None,
    award_value: float | None,
    suppliers: list[dict[str, Any]],
    extra_tender: Mapping[str, Any] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """One OCDS 1.1 release of a Contracts Finder notice."""
    ocid = f"{PREFIX}-{guid.lower()}"
    buyer_name = buyer.get("name") or ""
    buyer_party = {**buyer, "id": _party_id("buyer", buyer_name), "roles": ["buyer"]}
    awarded = bool(award_date or award_value or suppliers) and (
        (status or "").strip().lower() not in ("open", "withdrawn")
    )
    # The high end of a range is the tender's value (what a bidder could win); the low end
    # is kept as minValue. One of them alone is the value.
    tender_value = value_high or value_low
    items = _cpv_items(cpv)
    # The notice's page on Contracts Finder, so a figure can be checked against it (a GUID
    # derived from the search export's identifier has no page).
    link = url or (None if derived else CONTRACTS_FINDER_NOTICE_URL.format(guid.lower()))
    tender: dict[str, Any] = {
        "id": guid,
        "title": title,
        "description": description,
        "status": _tender_status(status),
        "value": _value(tender_value),
        "minValue": _value(value_low) if value_high and value_low else None,
        "items": items,
        "classification": items[0]["classification"] if items else None,
        "suitability": {"sme": suitable_sme, "vcse": suitable_vcse},
        "tenderPeriod": {"endDate": closing},
        "contractPeriod": {"startDate": contract_start, "endDate": contract_end},
        "documents": [{"id": guid, "title": "Contracts Finder notice", "url": link}]
        if link
        else None,
        **(extra_tender or {}),
    }
    parties = [buyer_party]
    award_suppliers = []
    for supplier in suppliers:
        party = {**supplier, "id": _party_id("supplier", supplier["name"]), "roles": ["supplier"]}
        if any(p["id"] == party["id"] for p in parties):
            continue
        parties.append(party)
        award_suppliers.append({"id": party["id"], "name": party["name"]})
    awards = []
    if awarded:
        awards.append(
            {
                "id": f"{guid}-award",
                "status": "active",
                "date": award_date,
                "value": _value(award_value),
                "suppliers": award_suppliers,
                "contractPeriod": {"startDate": contract_start, "endDate": contract_end},
            }
        )
    stamp = re.sub(r"\D", "", published or "")[:14]
    release = {
        "ocid": ocid,
        "id": f"{ocid}-{stamp or 'export'}",
        "date": published,
        "tag": _tags(notice_type, awarded, status),
        "initiationType": "tender",
        "language": "en",
        "parties": parties,
        "buyer": {"id": buyer_party["id"], "name": buyer_name},
        "tender": tender,
        "awards": awards,
        "x_locality_source": "contracts-finder-export",
        "x_locality_ocidDerived": True if derived else None,
    }
    # Suitability flags stay when False: pruning drops only None and empties.
    pruned: dict[str, Any] = _prune(release)
    return pruned


def _needs(value: str | None, what: str) -> str:
    if not value:
        raise BadRow(f"no {what}")
    return value


# --- the search CSV export -----------------------------------------------------------------


def _search_suppliers(cell: str | None) -> list[dict[str, Any]]:
    """The supplier cell: ``Name|Address|Ref type|Ref Number|Is SME|Is VCSE`` per supplier,
    one a line (or ``;`` separated)."""
    suppliers = []
    for entry in re.split(r"[\r\n;]+", cell or ""):
        parts = [p.strip() for p in entry.split("|")]
        name = _text(parts[0]) if parts else None
        if not name:
            continue
        party: dict[str, Any] = {"name": name}
        if len(parts) > 1 and parts[1]:
            party["address"] = {"streetAddress": _text(parts[1])}
        if len(parts) > 3 and parts[3]:
            scheme = _REF_SCHEMES.get(re.sub(r"\W", "", parts[2]).lower())
            if scheme:
                party["identifier"] = {"scheme": scheme, "id": parts[3], "legalName": name}
        sme = _flag(parts[4]) if len(parts) > 4 else None
        vcse = _flag(parts[5]) if len(parts) > 5 else None
        party["details"] = {
            "scale": None if sme is None else ("sme" if sme else "large"),
            "vcse": vcse,
        }
        suppliers.append(party)
    return suppliers


def search_row_release(row: Mapping[str, str | None]) -> dict[str, Any]:
    """One row of the search CSV export as a release."""
    identifier = _needs(_text(row.get("Notice Identifier")), "Notice Identifier")
    organisation = _needs(_text(row.get("Organisation Name")), "Organisation Name")
    published = _needs(_iso(row.get("Published Date"), "Published Date"), "Published Date")
    match = _GUID.fullmatch(identifier)
    guid = (
        match.group(0)
        if match
        else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{organisation}|{identifier}"))
    )
    buyer = {
        "name": organisation,
        "address": {
            "streetAddress": ", ".join(
                p
                for p in (_text(row.get("Contact Address 1")), _text(row.get("Contact Address 2")))
                if p
            ),
            "locality": _text(row.get("Contact Town")),
            "postalCode": _text(row.get("Contact Postcode")),
            "countryName": _text(row.get("Contact Country")),
        },
        "contactPoint": {
            "name": _text(row.get("Contact Name")),
            "email": _text(row.get("Contact Email")),
            "telephone": _text((row.get("Contact Telephone") or "").lstrip("'")),
            "url": _text(row.get("Contact Website")),
        },
    }
    category = _CATEGORY.get((_text(row.get("OJEU Contract Type")) or "").lower())
    # "CallOffFromDynamicPurchasingSystem", "RestrictedOJEU": words, so the agreement-type
    # rules (domain/agreements.py) read a call-off or a DPS in them as in any release.
    method = _text(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", row.get("OJEU Procedure Type") or ""))
    first_word = (method or "").split(" ", 1)[0].lower()
    location = _text(row.get("Postcode"))
    extra: dict[str, Any] = {
        "mainProcurementCategory": category,
        "procurementMethodDetails": method,
        "procurementMethod": {"open": "open", "restricted": "selective"}.get(first_word),
        # Where the work is delivered, when it is not the buyer's own address.
        "deliveryAddresses": [{"postalCode": location}] if location else None,
    }
    return _release(
        guid=guid,
        derived=match is None,
        published=published,
        notice_type=_text(row.get("Notice Type")),
        status=_text(row.get("Status")),
        title=_text(row.get("Title")),
        description=_text(row.get("Description")),
        buyer=buyer,
        cpv=row.get("Cpv Codes"),
        suitable_sme=_flag(row.get("Suitable for SME")),
        suitable_vcse=_flag(row.get("Suitable for VCO")),
        value_low=_amount(row.get("Value Low"), "Value Low"),
        value_high=_amount(row.get("Value High"), "Value High"),
        closing=_iso(row.get("Closing Date"), "Closing Date", time=row.get("Closing Time")),
        contract_start=_iso(row.get("Contract start date") or row.get("Start Date"), "Start Date"),
        contract_end=_iso(row.get("Contract end date") or row.get("End Date"), "End Date"),
        award_date=_iso(row.get("Awarded Date"), "Awarded Date"),
        award_value=_amount(row.get("Awarded Value"), "Awarded Value"),
        suppliers=_search_suppliers(row.get(SUPPLIER_COLUMN)),
        extra_tender=extra,
    )


# --- the daily harvester CSV (flattened OCDS) ----------------------------------------------


def _unflatten(pairs: Mapping[str, str]) -> dict[str, Any]:
    """Rebuild nested OCDS from ``a/0/b`` column paths (blank cells left out)."""
    root: dict[str, Any] = {}
    for path, raw in pairs.items():
        if raw is None or raw == "":
            continue
        keys = path.split("/")
        node: Any = root
        for key, following in itertools.pairwise(keys):
            container: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(key)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None:
                    node[index] = container
                node = node[index]
            else:
                node = node.setdefault(key, container)
        last = keys[-1]
        value: Any = raw
        if last in _NUMBER_FIELDS:
            value = _amount(raw, path) if raw.strip() not in ("0", "0.0") else 0.0
        elif last in _FLAG_FIELDS:
            value = _flag(raw)
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    pruned: dict[str, Any] = _prune(root)
    return pruned


def harvester_row_release(row: Mapping[str, str]) -> dict[str, Any]:
    package = _unflatten(row)
    releases = package.get("releases")
    if not isinstance(releases, list) or not releases or not isinstance(releases[0], dict):
        raise BadRow("no releases/0 columns filled")
    release = releases[0]
    if not release.get("ocid"):
        raise BadRow("releases/0/ocid is empty")
    return release


# --- API v2 search responses and harvested notices -----------------------------------------


def _api_suppliers(name: Any, sme: Any, vcse: Any) -> list[dict[str, Any]]:
    text = _text(name)
    if text is None or text.upper() == "NOT AWARDED TO SUPPLIER":
        return []
    text = text.replace("\u202f", " ").strip()
    sme_flag, vcse_flag = _flag(sme), _flag(vcse)
    return [
        {
            "name": text,
            "details": {
                "scale": None if sme_flag is None else ("sme" if sme_flag else "large"),
                "vcse": vcse_flag,
            },
        }
    ]


# Where each JSON form of a notice keeps a field: the API v2 search response (camelCase) and
# the harvested notices (snake_case); None where that form lacks the field (the harvest
# keeps no contract dates and no notice identifier, the API response no page address). One
# reader (``_json_release``) serves both, so a rule about a field cannot drift between them.
_JSON_FIELDS: dict[str, tuple[str | None, str | None]] = {
    "organisation": ("organisationName", "organisation"),
    "published": ("publishedDate", "published_date"),
    "notice_type": ("noticeType", "notice_type"),
    "status": ("noticeStatus", "status"),
    "postcode": ("postcode", "postcode"),
    "cpv": ("cpvCodes", "cpv_codes"),
    "suitable_sme": ("isSuitableForSme", "suitable_for_sme"),
    "suitable_vcse": ("isSuitableForVco", "suitable_for_vco"),
    "value_low": ("valueLow", "value_low"),
    "value_high": ("valueHigh", "value_high"),
    "closing": ("deadlineDate", "deadline_date"),
    "award_date": ("awardedDate", "awarded_date"),
    "award_value": ("awardedValue", "awarded_value"),
    "supplier": ("awardedSupplier", "awarded_supplier"),
    "supplier_sme": ("awardedToSme", "awarded_to_sme"),
    "supplier_vcse": ("awardedToVcse", "awarded_to_vcse"),
    "contract_start": ("start", None),
    "contract_end": ("end", None),
    "identifier": ("noticeIdentifier", None),
    "url": (None, "url"),
}
_API_KEYS = {field: keys[0] for field, keys in _JSON_FIELDS.items()}
_NOTICE_KEYS = {field: keys[1] for field, keys in _JSON_FIELDS.items()}


def _json_release(row: Mapping[str, Any], keys: Mapping[str, str | None]) -> dict[str, Any]:
    """One notice in a JSON form (``keys``: each field's name in it) as a release."""
    guid = _needs(_text(row.get("id")), "id")
    if not _GUID.fullmatch(guid):
        raise BadRow(f"id is not a Contracts Finder notice GUID: {guid!r:.60}")

    def value(field: str) -> Any:
        key = keys[field]
        return None if key is None else row.get(key)

    def text(field: str) -> str | None:
        return _text(value(field))

    def iso(field: str) -> str | None:
        key = keys[field]
        return None if key is None else _iso(row.get(key), key)

    def amount(field: str) -> float | None:
        return _amount(value(field), str(keys[field]))

    organisation = _needs(text("organisation"), str(keys["organisation"]))
    identifier = keys["identifier"]
    return _release(
        guid=guid,
        derived=False,
        published=iso("published"),
        notice_type=text("notice_type"),
        status=text("status"),
        title=_text(row.get("title")),
        description=_text(row.get("description")),
        # The postcode is the notice's location, given by the buyer: the only address
        # either form has, so it places the buyer.
        buyer={"name": organisation, "address": {"postalCode": text("postcode")}},
        cpv=value("cpv"),
        suitable_sme=_flag(value("suitable_sme")),
        suitable_vcse=_flag(value("suitable_vcse")),
        value_low=amount("value_low"),
        value_high=amount("value_high"),
        closing=iso("closing"),
        contract_start=iso("contract_start"),
        contract_end=iso("contract_end"),
        award_date=iso("award_date"),
        award_value=amount("award_value"),
        suppliers=_api_suppliers(value("supplier"), value("supplier_sme"), value("supplier_vcse")),
        extra_tender=None if identifier is None else {identifier: text("identifier")},
        url=text("url"),
    )


def api_item_release(item: Mapping[str, Any]) -> dict[str, Any]:
    """One ``noticeList[].item`` of an API v2 search response as a release."""
    return _json_release(item, _API_KEYS)


def notice_release(notice: Mapping[str, Any]) -> dict[str, Any]:
    """One harvested API notice (snake_case keys, one a line) as a release."""
    return _json_release(notice, _NOTICE_KEYS)


# --- reading files -------------------------------------------------------------------------


class Record(NamedTuple):
    """One record of an export: its release, or why it has none (``ocds.read_ocds`` turns
    these into its ``SourceRecord`` and reports a file that breaks off part way)."""

    line: int  # the line the record starts on (CSV, JSON Lines), or its position in the list
    pointer: str | None
    release: dict[str, Any] | None
    raw: bytes | None
    error: str | None = None
    fatal: bool = False


def _converted(convert: Any, value: Any, line: int, pointer: str | None, raw: bytes) -> Record:
    try:
        return Record(line, pointer, convert(value), None)
    except BadRow as exc:
        return Record(line, pointer, None, raw, f"Contracts Finder record: {exc}")


def _read_csv(handle: IO[bytes], form: str) -> Iterator[Record]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    end = reader.line_num
    convert = search_row_release if form == SEARCH_CSV else harvester_row_release
    # The search export leaves off its last column (Closing Time) on many rows: one missing
    # trailing cell is published that way; any other count is damage.
    short_ok = 1 if form == SEARCH_CSV else 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield Record(start, None, None, None, f"CSV row cannot be read: {exc}")
            continue
        end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        raw = ",".join(cells).encode()
        if not len(header) - short_ok <= len(cells) <= len(header):
            reason = (
                f"Contracts Finder record: {len(cells)} fields where the header has {len(header)}"
            )
            yield Record(start, None, None, raw, reason)
            continue
        yield _converted(convert, dict(zip(header, cells, strict=False)), start, None, raw)


def _read_api(handle: IO[bytes]) -> Iterator[Record]:
    data = handle.read()
    try:
        document = orjson.loads(data.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        yield Record(1, None, None, None, f"the JSON breaks off or is corrupt ({exc})", True)
        return
    notices = document.get("noticeList") if isinstance(document, dict) else None
    if not isinstance(notices, list):
        yield Record(1, "/noticeList", None, None, "noticeList is not a list", True)
        return
    for i, entry in enumerate(notices):
        pointer = f"/noticeList/{i}/item"
        item = entry.get("item") if isinstance(entry, dict) else None
        raw = orjson.dumps(entry)
        if not isinstance(item, dict):
            yield Record(
                i + 1, pointer, None, raw, "Contracts Finder record: notice has no item object"
            )
            continue
        yield _converted(api_item_release, item, i + 1, pointer, raw)


def _read_notices(handle: IO[bytes]) -> Iterator[Record]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        raw = line.rstrip(b"\r\n")
        try:
            notice = orjson.loads(raw.lstrip(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as exc:
            yield Record(number, None, None, raw, f"invalid JSON: {exc}")
            continue
        if not isinstance(notice, dict):
            yield Record(number, None, None, raw, "Contracts Finder record: not an object")
            continue
        yield _converted(notice_release, notice, number, None, raw)


def records(handle: IO[bytes], form: str) -> Iterator[Record]:
    """Every record of a Contracts Finder export (an open binary file, gzip already undone)
    as a release, or its rejection. Read errors of the file itself propagate."""
    if form in (SEARCH_CSV, HARVESTER_CSV):
        yield from _read_csv(handle, form)
    elif form == API_JSON:
        yield from _read_api(handle)
    elif form == NOTICES_JSONL:
        yield from _read_notices(handle)
    else:
        raise ValueError(f"unknown Contracts Finder form {form!r}")
