"""The one value of an award that a measure may sum, and where it came from.

Publishers put an award's money in different places (``../shared/data/README.md`` 1.5):

* ``awards[].value`` (Contracts Finder; Find a Tender UK5/UK6 notices);
* only ``contracts[].value`` (Find a Tender UK7 contract details, 2015-rules notices), linked
  to the award by ``contracts[].awardID``;
* ``amount`` (net of VAT) beside ``amountGross`` (with VAT), or only ``amountGross``.

Order: the award's own value, else the sum of its contracts' values, else (one award in the
process) the release's contract values. Net ``amount`` where published, else
``amountGross``, marked as gross so the two are never mixed silently. A placeholder
(0.01, 1, 0), a negative, non-finite or implausibly large amount is *unknown*: never zero,
never huge, and counted in the coverage figures with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Amounts publishers type when a form wants a number they do not have: 0.01 is common on Find
# a Tender, 1 and 0 on Contracts Finder ("Town and Country Housing Group" framework: £1).
PLACEHOLDER_MAX = 1.0

# Above this an award value is a typing error, not money (the largest UK public contracts,
# e.g. the Dreadnought submarine programme, are tens of billions; no single award reaches
# £100bn). Local public bodies' awards are capped lower: a council's whole annual budget
# is rarely over £5bn (Birmingham's gross budget, the largest, is about £3.5bn).
CAP_ANY_BUYER = 100e9
CAP_SUB_CENTRAL = 10e9
SUB_CENTRAL_BUYER_TYPES = frozenset(
    {"publicAuthoritySubCentralGovernment", "REGIONAL_AUTHORITY", "REGIONAL_AGENCY"}
)

VALUE_ISSUES = ("placeholder", "negative", "non_finite", "over_cap")

# What every figure of value includes: said on every page, report and API response.
VALUES_INCLUDE = (
    "awarded contracts and call-offs; framework and dynamic purchasing system ceilings are "
    "shown separately and never added; values published as placeholders (0.01, £1) or "
    "impossible amounts are unknown, not zero"
)


@dataclass(frozen=True, slots=True)
class AwardValue:
    """An award's value as locality reads it."""

    value: float | None  # the value a measure may sum (None when unknown)
    net: float | None  # ``amount`` as published
    gross: float | None  # ``amountGross`` as published
    currency: str | None
    source: str  # award | contract | gross-only | none
    field: str | None  # the published field the value came from
    issue: str | None  # why a published amount is unknown: placeholder | negative | ...


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _parts(value: Any) -> tuple[float | None, float | None, str | None]:
    if not isinstance(value, Mapping):
        return None, None, None
    currency = value.get("currency")
    return (
        _number(value.get("amount")),
        _number(value.get("amountGross")),
        currency.strip() if isinstance(currency, str) and currency.strip() else None,
    )


def value_issue(amount: float, buyer_type: str | None = None) -> str | None:
    """Why an amount is not money a measure may sum, or None when it is."""
    if not math.isfinite(amount):
        return "non_finite"
    if amount < 0:
        return "negative"
    if amount <= PLACEHOLDER_MAX:
        return "placeholder"
    cap = CAP_SUB_CENTRAL if buyer_type in SUB_CENTRAL_BUYER_TYPES else CAP_ANY_BUYER
    if amount > cap:
        return "over_cap"
    return None


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known and len(known) == len(values) else None


def _candidate(
    where: str, values: Sequence[Any]
) -> tuple[str, float | None, float | None, str | None] | None:
    """(where, net, gross, currency) of one or more value objects, summed; None if empty
    or in mixed currencies."""
    parts = [_parts(v) for v in values]
    parts = [p for p in parts if p[0] is not None or p[1] is not None]
    if not parts:
        return None
    currencies = {p[2] for p in parts}
    if len(currencies) > 1:
        return None
    return where, _sum([p[0] for p in parts]), _sum([p[1] for p in parts]), currencies.pop()


def award_value(
    award: Mapping[str, Any],
    contracts: Sequence[Mapping[str, Any]],
    *,
    only_award: bool,
    buyer_type: str | None = None,
) -> AwardValue:
    """Choose an award's value: the award's own, else its contracts', else (the process's
    only award) the release's contracts'. The first candidate with a usable amount wins;
    if none has one, the first published amount is kept with its issue."""
    award_id = award.get("id")
    linked = [
        c.get("value") for c in contracts if award_id is not None and c.get("awardID") == award_id
    ]
    candidates = [
        _candidate("awards[].value", [award.get("value")]),
        _candidate("contracts[].value", linked),
    ]
    if only_award and not linked:
        candidates.append(_candidate("contracts[].value", [c.get("value") for c in contracts]))
    first: AwardValue | None = None
    for found in candidates:
        if found is None:
            continue
        where, net, gross, currency = found
        amount, field = (
            (net, f"{where}.amount") if net is not None else (gross, f"{where}.amountGross")
        )
        assert amount is not None
        source = "gross-only" if net is None else where.split("[")[0].rstrip("s")
        issue = value_issue(amount, buyer_type)
        chosen = AwardValue(None if issue else amount, net, gross, currency, source, field, issue)
        if issue is None:
            return chosen
        first = first or chosen
    return first or AwardValue(None, None, None, None, "none", None, None)
