"""How the dashboard writes figures: money, shares, counts, dates, and plain-language sentences.

The same functions format the pages and the tests' expectations, so a figure on a page can
be checked against the API's number formatted here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from locality.domain import money as amounts
from locality.domain.values import VALUES_INCLUDE

DASH = amounts.DASH


def money(value: float | None, currency: str | None = None) -> str:
    """Short: £950, £12.5k, £12.4m, £3.0bn (another currency by its code: EUR 114k)."""
    return amounts.short(value, currency)


def money_exact(value: float | None) -> str:
    """GBP to the pound: £12,400,000."""
    return amounts.to_the_pound(value)


def pct(value: float | None) -> str:
    """A share as a percentage: 31.2%."""
    return DASH if value is None else f"{float(value):.1%}"


def number(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:,}" if isinstance(value, int) else f"{float(value):,.0f}"


def date(value: Any) -> str:
    """A date (ISO, day precision); text dates are cut to their first ten characters."""
    if value is None:
        return DASH
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def scale(value: str | None) -> str:
    return {"sme": "SME", "large": "large"}.get(value or "", "unknown")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def headline_sentences(where: str, row: Mapping[str, Any]) -> dict[str, str]:
    """One plain-language sentence per headline figure of a metrics row.

    ``where`` completes "awarded by ...": "buyers in York", "London Borough of Merton".
    A share whose denominator is empty says why it cannot be given.
    """
    awards = int(row.get("awards") or 0)
    value = row.get("awarded_value") or 0.0
    out: dict[str, str] = {}
    other = int(row.get("other_currency_awards") or 0)
    extra = f" ({_plural(other, 'award')} in other currencies are not summed)" if other else ""
    out["awarded_value"] = (
        f"{money(value)} was awarded by {where} in {_plural(awards, 'counted award')}{extra}."
    )

    out.update(
        _reach_sentences(
            row,
            "both the buyer's and the supplier's council are known",
            "suppliers in the buyer's own council area",
            empty=lambda condition: (
                f"No value awarded by {where} has {condition}, so there is no share."
            ),
            # The denominator: the value whose supplier's size (or VCSE status, or council)
            # is known, and its share of all value.
            known=lambda stem, condition: (
                f"Of {money(row.get(f'known_{stem}_value') or 0.0)} awarded by {where} where "
                f"{condition} ({pct(row.get(f'known_{stem}_share'))} of value)"
            ),
        )
    )
    hhi = row.get("hhi")
    if hhi is None:
        out["top3_share"] = f"No value awarded by {where} went to a named supplier."
    else:
        reading = (
            "highly concentrated"
            if hhi > 2000
            else "concentrated"
            if hhi > 1000
            else "not concentrated"
        )
        if row.get("small_base"):  # a small market is small, not concentrated (metrics.md)
            reading = (
                f"from {_plural(int(row.get('hhi_base') or 0), 'award')} and "
                f"{_plural(int(row.get('distinct_suppliers') or 0), 'supplier')}: "
                "too few to read"
            )
        else:
            reading += " by the CMA's reading"
        out["top3_share"] = (
            f"The three largest of {_plural(int(row.get('distinct_suppliers') or 0), 'supplier')}"
            f" received {pct(row.get('top3_share'))} of the value to named suppliers "
            f"(HHI {number(hhi)}: {reading})."
        )
    direct = row.get("direct_award_share")
    out["direct_award_share"] = (
        f"{pct(direct)} of the value awarded by {where} whose procedure is published "
        f"({pct(row.get('direct_award_known_share'))} of value) was awarded directly, "
        "without competition."
        if direct is not None
        else f"No value awarded by {where} has a known procedure."
    )
    unknown = int(row.get("unknown_value_awards") or 0)
    if unknown:
        out["awarded_value"] += f" {_plural(unknown, 'award')} published no usable value."
    frameworks = int(row.get("frameworks") or 0)
    out["framework_ceiling_value"] = (
        f"{_plural(frameworks, 'framework or dynamic purchasing system')} set up by {where} "
        f"could buy up to {money(row.get('framework_ceiling_value') or 0.0)} in all: a ceiling "
        "shared by the appointed suppliers, not money awarded, so it is not in the awarded "
        "value"
        + (
            f" ({money(row.get('framework_ceiling_cpb_value'))} of it by central purchasing "
            "bodies, buying for many places)."
            if row.get("framework_ceiling_cpb_value")
            else "."
        )
        if frameworks
        else f"No framework or dynamic purchasing system was set up by {where}."
    )
    return out


def _bodies(n: int) -> str:
    return f"{n:,} public body" if n == 1 else f"{n:,} public bodies"


def counted(threshold: Mapping[str, Any]) -> str:
    """What a spend view counts, from its ``threshold``: "every published payment", or
    "payments of £500 or more (net, either sign)"."""
    amount = float(threshold.get("min_amount") or 0.0)
    if not amount:
        return "every published payment"
    pounds = f"£{amount:,.0f}" if amount.is_integer() else f"£{amount:,.2f}"
    return f"payments of {pounds} or more (net, either sign)"


def spend_sentences(where: str, view: Mapping[str, Any]) -> dict[str, str]:
    """One plain-language sentence per headline figure of a whole-place spend view
    (``locality.spend.place.place_view``); ``where`` is the place's name.

    Each share says the part of spend it is computed on: "Of the 4.8% of spend where the
    supplier's size is known, 29.4% went to SMEs."
    """
    shares = view["shares"]
    bodies = view.get("bodies") or []
    payments = sum(int(b.get("payments") or 0) for b in bodies)
    out = {
        "total_amount": (
            f"{money(shares.get('total_amount') or 0.0)} was paid by {_bodies(len(bodies))} in "
            f"{where} in {_plural(payments, 'payment')}, net of VAT, counting "
            f"{counted(view['threshold'])}."
        )
    }

    out.update(
        _reach_sentences(
            shares,
            "the supplier's council is known",
            f"suppliers located in {where}",
            empty=lambda condition: f"No spend in {where} has {condition}, so there is no share.",
            known=lambda stem, condition: (
                f"Of the {pct(shares.get(f'known_{stem}_coverage'))} of spend where {condition}"
            ),
        )
    )
    return out


def _reach_sentences(
    shares: Mapping[str, Any],
    local_condition: str,
    local_outcome: str,
    *,
    empty: Callable[[str], str],
    known: Callable[[str, str], str],
) -> dict[str, str]:
    """The sentences of the three reach shares (SME, VCSE, local), each saying what must be
    known for a pound to count in it: ``known(stem, condition)`` opens the sentence with its
    denominator (``stem`` names its ``known_<stem>_*`` columns), ``empty(condition)`` is the
    whole sentence when nothing is known. Awards and payments are placed differently (the
    buyer's council, the place), so the local share's condition and outcome are given."""
    out: dict[str, str] = {}
    for key, stem, condition, outcome in (
        ("sme_share", "scale", "the supplier's size is known", "SMEs"),
        ("vcse_share", "vcse", "the supplier's VCSE status is known", "VCSEs"),
        ("local_share", "location", local_condition, local_outcome),
    ):
        share = shares.get(key)
        out[key] = (
            empty(condition)
            if share is None
            else f"{known(stem, condition)}, {pct(share)} went to {outcome}."
        )
    return out


__all__ = [
    "counted",
    "headline_sentences",
    "money",
    "money_exact",
    "number",
    "pct",
    "spend_sentences",
]


# Labels of the measures a comparison shows (``metrics.compare.HEADLINE``), for people.
MEASURE_LABELS = {
    "awards": "counted awards",
    "awarded_value": "awarded value",
    "sme_share": "SME share",
    "known_scale_share": "supplier size known (share of value)",
    "vcse_share": "VCSE share",
    "known_vcse_share": "VCSE status known (share of value)",
    "local_share": "local share (buyer's own council)",
    "combined_authority_share": "combined authority share",
    "region_share": "region share",
    "known_location_share": "both places known (share of value)",
    "hhi": "concentration (HHI, 0 to 10,000)",
    "top3_share": "top 3 suppliers' share",
    "median_award_value": "median award",
    "over_1m_share": "share in awards over £1m",
    "framework_share": "framework and DPS appointments (share of awards)",
    "frameworks": "frameworks and DPS set up",
    "framework_ceiling_value": "framework and DPS ceilings (not money)",
    "call_off_share": "share of value in call-offs",
    "direct_award_share": "direct award share (of value with a known procedure)",
    "direct_award_known_share": "procedure known (share of value)",
    "single_bidder_share": "single-bidder share",
    "innovation_share": "innovation share",
    "suitability_gap_sme": "suitable-for-SME value won by large firms",
}


def measure(name: str, value: Any) -> str:
    """A measure as the tables show it (the CLI's rules: shares %, values £, HHI whole)."""
    if value is None:
        return DASH
    if name.endswith("_share") or name.startswith(("suitability_gap", "coverage_")):
        return pct(value)
    if name.endswith("_value"):
        return money(value)
    if name == "hhi":
        return number(float(value))
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, int | float):
        return number(value)
    return str(value)


def register_filters(env: Any) -> None:
    """The formatting filters the dashboard's and the report's templates share."""
    env.globals["values_include"] = VALUES_INCLUDE
    # Each filter is the function of its name here (``{{ x|money }}`` is ``money(x)``).
    shared = (money, money_exact, pct, number, date, yes_no, scale, measure, counted)
    env.filters.update({f.__name__: f for f in shared})
    env.filters["hhi"] = lambda value: measure("hhi", value)
