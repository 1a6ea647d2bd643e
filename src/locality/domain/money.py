"""How an amount of money is written, one function per form, for every interface.

The dashboard and report write amounts short (£12.4m) or to the pound (£12,400,000); tables
of the CLI write figures without the sign so columns line up (12,400,000); a process's values
are written to the penny so they can be checked against the notice; a red flag's reason
writes a round amount without pence. Unknown amounts are a dash, never zero.
"""

from __future__ import annotations

from typing import Any

DASH = "–"


def short(value: float | None, currency: str | None = None) -> str:
    """Short: £950, £12.5k, £12.4m, £3.0bn; another currency by its code (EUR 114k)."""
    if value is None:
        return DASH
    symbol = "£" if currency in (None, "GBP") else f"{currency} "
    sign = "-" if value < 0 else ""
    amount = abs(float(value))
    if amount >= 1e9:
        return f"{sign}{symbol}{amount / 1e9:,.1f}bn"
    if amount >= 1e6:
        return f"{sign}{symbol}{amount / 1e6:,.1f}m"
    if amount >= 1e4:
        return f"{sign}{symbol}{amount / 1e3:,.0f}k"
    if amount >= 1e3:
        return f"{sign}{symbol}{amount / 1e3:,.1f}k"
    return f"{sign}{symbol}{amount:,.0f}"


def to_the_pound(value: Any, *, sign: str = "£", unknown: str = DASH) -> str:
    """To the pound: £12,400,000 (``sign=""`` for a table column: 12,400,000)."""
    return unknown if value is None else f"{sign}{float(value):,.0f}"


def to_the_penny(value: float | None, currency: str | None = None, *, unknown: str = "-") -> str:
    """To the penny, with the currency's code where it is not GBP: 12,400,000.00, EUR 950.00."""
    if value is None:
        return unknown
    return f"{'' if currency in (None, 'GBP') else f'{currency} '}{value:,.2f}"


def in_words(value: float) -> str:
    """In a sentence: £30,000, or £29,999.50 where there are pence."""
    return f"£{value:,.0f}" if float(value).is_integer() else f"£{value:,.2f}"
