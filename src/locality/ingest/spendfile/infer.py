"""Columns recognised by their content when no header names them: a column of dates, a
column of money and a column of organisation names (:func:`infer_columns`), and whether a
file that is not read as spend yet holds payments (:func:`_payments_seen`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from locality.ingest.spendfile.amounts import parse_amount, parse_date
from locality.ingest.spendfile.errors import AmbiguousColumnsError

# Rows below a candidate header read to recognise columns by their content.
CONTENT_SAMPLE_ROWS = 200
CONTENT_MIN_ROWS = 3
# Share of a column's non-empty values that must have a kind for the column to be taken.
CONTENT_SHARE = 0.9

# Words that mark an organisation's name (a supplier), as registered bodies are named.
_ORGANISATION = re.compile(
    r"\b(?:ltd|limited|plc|llp|lp|cic|cio|inc|co|company|group|trust|council|services?|"
    r"association|society|partnership|solutions|consult\w*|university|college|school|"
    r"academy|nhs|foundation|charity|centre|center|church|club|holdings|uk|sons|"
    r"enterprises?|industries|systems|supplies|contractors?|agency|homes?|housing)\b",
    re.I,
)
# Money as councils write it: pence (``4852.06``), a pound sign, thousands separators.
_MONEY_SHAPE = re.compile(
    r"£|[0-9]\.[0-9]{2}\)?-?$|^[^0-9]*[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?\D*$"
)
_LETTERS = re.compile(r"[A-Za-z]{2}")


def _payments_seen(rows: list[list[str]]) -> bool:
    """Whether rows hold a column of dates and a column of money (nine values in ten)."""
    rows = [row for row in rows if "".join(row).strip()]
    if len(rows) < CONTENT_MIN_ROWS:
        return False
    dates = money = False
    for index in range(max(len(r) for r in rows)):
        values = [r[index].strip() for r in rows if index < len(r) and r[index].strip()]
        if len(values) < len(rows) // 2 or not values:
            continue
        kind = _column_kind(values)
        dates = dates or kind.dates >= CONTENT_SHARE * kind.values
        money = money or (
            kind.amounts >= CONTENT_SHARE * kind.values and kind.money >= 0.5 * kind.values
        )
    return dates and money


def _header_like(cells: list[str]) -> bool:
    """A row that can be a header: three or more labels, none a date or an amount."""
    labels = [c.strip() for c in cells if c.strip()]
    if len(labels) < 3:
        return False
    for label in labels:
        if parse_date(label) is not None:
            return False
        try:
            parse_amount(label)
        except ValueError:
            continue
        return False
    return True


@dataclass(frozen=True)
class _ColumnKind:
    values: int  # non-empty values in the sample
    dates: int
    amounts: int  # values that read as amounts
    money: int  # of which money-shaped: pence, £, thousands separators
    names: int  # organisation-like names
    texts: int  # values with letters and no amount or date reading
    distinct: int


def _column_kind(values: list[str]) -> _ColumnKind:
    dates = amounts = money = names = texts = 0
    for value in values:
        if parse_date(value) is not None:
            dates += 1
            continue
        try:
            parse_amount(value)
        except ValueError:
            if _LETTERS.search(value):
                texts += 1
                if _ORGANISATION.search(value):
                    names += 1
            continue
        amounts += 1
        if _MONEY_SHAPE.search(value):
            money += 1
    return _ColumnKind(len(values), dates, amounts, money, names, texts, len(set(values)))


def _gross_vat_net(
    rows: list[list[str]], columns: list[int]
) -> tuple[tuple[int, int, int], int] | None:
    """(gross, VAT, net) column indexes when, on nine rows in ten, one amount column is the sum
    of two others: the pair's larger (by total) is net, the smaller VAT."""

    for gross in columns:
        others = [c for c in columns if c != gross]
        for a in others:
            for b in others:
                if b <= a:
                    continue
                agree = _sum_agrees(rows, gross, a, b)
                if agree >= CONTENT_SHARE * len(rows):
                    total_a = sum(abs(_amount_at(row, a) or 0.0) for row in rows)
                    total_b = sum(abs(_amount_at(row, b) or 0.0) for row in rows)
                    if total_a != total_b:
                        net, vat = (a, b) if total_a > total_b else (b, a)
                        return (gross, vat, net), agree
    return None


def _amount_at(row: list[str], index: int) -> float | None:
    try:
        return parse_amount(row[index]) if index < len(row) and row[index].strip() else None
    except ValueError:
        return None


def _sum_agrees(rows: list[list[str]], total: int, a: int, b: int) -> int:
    """Rows on which the amount in column ``total`` is the sum of those in ``a`` and ``b``."""
    agree = 0
    for row in rows:
        t, x, y = _amount_at(row, total), _amount_at(row, a), _amount_at(row, b)
        if t is not None and x is not None and y is not None and abs(t - x - y) < 0.011:
            agree += 1
    return agree


def infer_columns(
    header: list[str], rows: list[list[str]], named: dict[str, int]
) -> tuple[dict[str, int], dict[str, str]] | None:
    """Recognise the payment date, amount and supplier columns of a layout by content.

    ``named`` are the fields recognised by header name (kept). A date column has dates in
    nine of ten non-empty cells; an amount column has amounts there, mostly money-shaped
    (pence, ``£``, thousands separators: a column of whole numbers is an id); a supplier
    column has text in nine of ten cells, varied (not a service area repeated), with the
    most organisation-like names (Ltd, Council, Trust, …). Returns (field → column index,
    field → reason), None when a field has no candidate, and raises
    :class:`AmbiguousColumnsError` (listing the candidates) when two columns fit equally.
    """
    width = max(len(header), *(len(r) for r in rows))
    kinds: dict[int, _ColumnKind] = {}
    taken = set(named.values())
    for index in range(width):
        if index in taken:
            continue
        values = [r[index].strip() for r in rows if index < len(r) and r[index].strip()]
        if len(values) >= max(CONTENT_MIN_ROWS, len(rows) // 2):
            kinds[index] = _column_kind(values)

    def label(index: int) -> str:
        name = header[index].strip() if index < len(header) else ""
        return repr(name) if name else f"column {index + 1}"

    found = dict(named)
    reasons: dict[str, str] = {}
    picks: list[tuple[str, list[tuple[float, int, str]]]] = []
    if "payment_date" not in found:
        picks.append(
            (
                "payment_date",
                [
                    (k.dates / k.values, i, f"{k.dates} of {k.values} values are dates")
                    for i, k in kinds.items()
                    if k.dates >= CONTENT_SHARE * k.values
                ],
            )
        )
    money = [
        (
            k.money / k.values,
            i,
            f"{k.amounts} of {k.values} values are amounts, "
            f"{k.money} money-shaped (pence, £ or thousands separators)",
        )
        for i, k in kinds.items()
        if k.amounts >= CONTENT_SHARE * k.values and k.money >= 0.5 * k.values
    ]
    if "amount_net" not in found and {"amount_gross", "amount_vat"} <= set(found):
        # Gross and VAT named, the net column not: the one that is gross less VAT.
        for _, index, _ in money:
            agree = _sum_agrees(rows, found["amount_gross"], index, found["amount_vat"])
            if agree >= CONTENT_SHARE * len(rows):
                found["amount_net"] = index
                reasons["amount_net"] = (
                    f"its content: gross = net + VAT on {agree} of {len(rows)} rows"
                )
                break
    elif not {"amount_net", "amount_gross"} & set(found):
        picks.append(("amount_net", money))
    if "supplier_name" not in found:
        picks.append(
            (
                "supplier_name",
                [
                    (
                        k.names / k.values,
                        i,
                        f"{k.texts} of {k.values} values are names, {k.distinct} distinct, "
                        f"{k.names} organisation-like (Ltd, Council, Trust, …)",
                    )
                    for i, k in kinds.items()
                    if k.texts >= CONTENT_SHARE * k.values
                    # varied: a service area or directorate repeats a handful of names
                    and k.distinct >= min(max(0.1 * k.values, 10), 0.5 * k.values)
                    and k.names >= 0.2 * k.values
                ],
            )
        )
    for name, candidates in picks:
        candidates = [c for c in candidates if c[1] not in found.values()]
        if not candidates:
            return None
        if name == "amount_net" and len(candidates) >= 3:
            parts = _gross_vat_net(rows, [i for _, i, _ in candidates])
            if parts is not None:
                (gross, vat, net), agree = parts
                why = f"its content: gross = net + VAT on {agree} of {len(rows)} rows"
                for field_name, index in (("amount_gross", gross), ("amount_vat", vat)):
                    found[field_name] = index
                    reasons[field_name] = why
                candidates = [c for c in candidates if c[1] == net]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        best = candidates[0]
        close = [c for c in candidates if c[0] >= best[0] - 0.1]
        if name == "payment_date" and len(close) > 1:
            # Payments fall on many days; a period or effective date repeats a few (one a
            # month): a date column with three times the distinct dates of every other is
            # the payment date.
            close.sort(key=lambda c: -kinds[c[1]].distinct)
            most, second = kinds[close[0][1]].distinct, kinds[close[1][1]].distinct
            if most >= 3 * second:
                pick = close[0]
                close = [
                    (
                        pick[0],
                        pick[1],
                        f"{pick[2]}, {most} distinct (the other date columns have at most "
                        f"{second}: periods, not payment days)",
                    )
                ]
                best = close[0]
        if len(close) > 1:
            listed = "; ".join(f"{label(i)} ({why})" for _, i, why in close)
            raise AmbiguousColumnsError(
                f"the {name.replace('_', ' ')} column is ambiguous: {listed}. Name the right "
                "column in a --columns FILE (see spend_columns.toml)"
            )
        found[name] = best[1]
        reasons[name] = f"its content: {best[2]}"
    return found, reasons
