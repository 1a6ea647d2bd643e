"""Checks that decide whether a release is kept or goes to the ``rejected`` table.

A rejected release is stored with its file, line and reason; everything valid around it
is kept. The checks are the ones a figure depends on: an ``ocid`` to group by, amounts that
are numbers, and currencies that are ISO 4217 codes (so a value is never summed in the
wrong currency).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# ISO 4217 active codes (list one, 2024), plus the funds and precious-metal codes OCDS allows.
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HRK",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XAG",
        "XAU",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XCD",
        "XCG",
        "XDR",
        "XOF",
        "XPD",
        "XPF",
        "XPT",
        "XSU",
        "XTS",
        "XUA",
        "XXX",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    ]
)


class RejectedRelease(ValueError):
    """A record that cannot be kept; ``reason`` says why, in words a user can act on."""

    def __init__(self, reason: str, ocid: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.ocid = ocid


def _values(release: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (path, Value object) for every place a release carries a monetary value."""
    planning = release.get("planning")
    if isinstance(planning, dict):
        budget = planning.get("budget")
        if isinstance(budget, dict):
            yield "planning.budget.amount", budget.get("amount")
    tender = release.get("tender")
    if isinstance(tender, dict):
        for field in ("value", "minValue"):
            yield f"tender.{field}", tender.get(field)
        lots = tender.get("lots")
        if isinstance(lots, list):
            for i, lot in enumerate(lots):
                if isinstance(lot, dict):
                    yield f"tender.lots[{i}].value", lot.get("value")
    for array in ("awards", "contracts"):
        items = release.get(array)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            yield f"{array}[{i}].value", item.get("value")
            suppliers = item.get("suppliers") if array == "awards" else None
            if isinstance(suppliers, list):
                for j, supplier in enumerate(suppliers):
                    if isinstance(supplier, dict):
                        # Contracts Finder's legacy per-supplier value.
                        yield (
                            f"{array}[{i}].suppliers[{j}].x_awardValue",
                            supplier.get("x_awardValue"),
                        )


def check_release(release: Any) -> str:
    """Return the release's ``ocid``, or raise :class:`RejectedRelease` saying what is wrong."""
    if not isinstance(release, dict):
        raise RejectedRelease(f"not a JSON object but a {type(release).__name__}")
    ocid = release.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        raise RejectedRelease("release has no ocid")
    for path, value in _values(release):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise RejectedRelease(f"{path} is not an object: {value!r:.60}", ocid)
        amount = value.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)):
            raise RejectedRelease(f"{path}.amount is not a number: {amount!r:.60}", ocid)
        currency = value.get("currency")
        if currency is not None and currency not in ISO_4217:
            raise RejectedRelease(
                f"{path}.currency is not an ISO 4217 code: {currency!r:.60}", ocid
            )
    date = release.get("date")
    if date is not None and not isinstance(date, str):
        raise RejectedRelease(f"date is not a string: {date!r:.60}", ocid)
    return ocid


# Parts of a release that the figures read as arrays of objects (OCDS 1.1 schema). A part of
# another shape is skipped by the reader (normalise.py reads only arrays of objects), so it
# is reported, per record, instead of vanishing without a word.
_ARRAYS = ("awards", "contracts", "parties", "tag")
_TENDER_ARRAYS = ("lots", "items", "tenderers", "documents")
_AWARD_ARRAYS = ("suppliers", "items", "documents", "relatedLots")
_OBJECTS = ("tender", "buyer", "planning")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def malformed_parts(release: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, what was skipped) for each part of a kept release of the wrong shape:
    an array given as an object (``"awards": {...}``), an object given as a string, an
    array's item that is not an object. The rest of the release is kept."""
    found: list[tuple[str, str]] = []

    def array(pointer: str, value: Any, items_are_objects: bool = True) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            found.append((pointer, f"{pointer[1:]} is {_kind(value)}, not an array"))
            return []
        if items_are_objects:
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    found.append(
                        (f"{pointer}/{i}", f"{pointer[1:]}/{i} is {_kind(item)}, not an object")
                    )
        return value

    for name in _OBJECTS:
        value = release.get(name)
        if value is not None and not isinstance(value, dict):
            found.append((f"/{name}", f"{name} is {_kind(value)}, not an object"))
    for name in _ARRAYS:
        array(f"/{name}", release.get(name), items_are_objects=name != "tag")
    tender = release.get("tender")
    if isinstance(tender, dict):
        for name in _TENDER_ARRAYS:
            array(f"/tender/{name}", tender.get(name))
    awards = release.get("awards")
    if isinstance(awards, list):
        for i, award in enumerate(awards):
            if isinstance(award, dict):
                for name in _AWARD_ARRAYS:
                    array(
                        f"/awards/{i}/{name}",
                        award.get(name),
                        items_are_objects=name != "relatedLots",
                    )
    return found


def unstorable_reason(exc: BaseException) -> str:
    """Why a parsed release cannot be written back as JSON (``orjson.dumps`` refused it)."""
    text = str(exc)
    if "Recursion" in text or "recursion" in text:
        # orjson writes at most 254 levels (it reads up to 1,024); no OCDS release nests
        # beyond a few dozen, so a deeper one is a broken or hostile record.
        return "nested more than 254 levels deep: not a release"
    if "64-bit" in text or "Integer" in text:
        return f"holds an integer too large to store ({text})"
    return f"cannot be stored as JSON ({text})"
