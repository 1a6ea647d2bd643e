"""Market concentration: how much of a market sits with a few suppliers.

Over the value each supplier received in the group (only suppliers who received a positive
amount count):

* ``hhi``: Herfindahl-Hirschman Index, the sum of squared percentage shares, 0-10,000
  (the UK Competition and Markets Authority reads above 1,000 as concentrated and above
  2,000 as highly concentrated);
* ``top1_share``, ``top3_share``: share of value with the largest one and three suppliers;
* ``distinct_suppliers``;
* ``hhi_base``: the awards (contracts) or payment lines (spend) the measures rest on, and
  ``small_base``: true when fewer than ``MIN_SUPPLIERS`` suppliers or ``MIN_BASE`` awards or
  payments. A market is not concentrated because it is small: the HHI of n suppliers is at
  least 10,000 / n (n equal shares), so below ten suppliers it is 1,000 or more, "concentrated"
  by the CMA's reading whatever the shares, and a single award to one supplier is 10,000
  (Leeds construction in the sample: £66,802 of awards, HHI 10,000). Such a figure is shown
  with "too few to read", not as a finding (docs/metrics.md, "Concentration").

Defined once (``supplier_concentration``) and registered twice: ``concentration`` over
contracts (``award_facts``: GBP, counted awards, value split equally among an award's
suppliers, awards without a named supplier left out) and ``payment_concentration`` over
council payments (``payment_facts``: suppliers' net payments, credit notes included;
redacted payees and, unless counted, transfers to other public bodies left out).

Group by buyer × CPV division or place × theme by filtering one and grouping by the other
(``locality metrics --by cpv-division --where buyer_id=...``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from locality.metrics import family, payment_family, share

# Below ten suppliers the HHI cannot read "not concentrated" (its floor is 10,000 / n ≥ 1,000);
# below ten awards or payments the market is a handful of decisions (module docstring).
MIN_SUPPLIERS = 10
MIN_BASE = 10


def supplier_concentration(
    facts: ir.Table, keys: Sequence[str], supplier: str, value: str, unit: str | None = None
) -> ir.Table:
    """HHI, top-1 and top-3 shares and distinct suppliers per group of ``keys``, over the
    sum of column ``value`` per ``supplier``; ``hhi_base`` counts the distinct ``unit``s
    (awards; rows when None) with a positive value behind them, ``small_base`` flags a base
    too small to read (module docstring)."""
    by_supplier = list(dict.fromkeys([*keys, supplier]))
    per_supplier = facts.group_by(by_supplier).aggregate(value=facts[value].sum())
    per_supplier = per_supplier.filter(per_supplier.value > 0)
    window = ibis.window(group_by=list(keys), order_by=ibis.desc(per_supplier.value))
    ranked = per_supplier.mutate(
        rank=ibis.row_number().over(window),
        total=per_supplier.value.sum().over(ibis.window(group_by=list(keys))),
    )
    pct = ranked.value * 100.0 / ranked.total
    grouped = ranked.group_by(list(keys)) if keys else ranked
    agg = grouped.aggregate(
        hhi=(pct * pct).sum(),
        top1_value=ranked.value.sum(where=ranked.rank == 0),
        top3_value=ranked.value.sum(where=ranked.rank < 3),
        supplier_value=ranked.value.sum(),
        distinct_suppliers=ranked[supplier].nunique(),
    )
    # The awards (or payment lines) behind the shares: those of suppliers counted above.
    counted = facts.filter(facts[value] > 0)
    counted = counted.semi_join(per_supplier, by_supplier)
    base_of = counted[unit].nunique() if unit else counted.count()
    base = (
        counted.group_by(list(keys)).aggregate(hhi_base=base_of)
        if keys
        else counted.aggregate(hhi_base=base_of)
    )
    joined = agg.left_join(base, list(keys)) if keys else agg.cross_join(base)
    joined = joined.select(*agg.columns, "hhi_base")
    return joined.select(
        *keys,
        "hhi",
        top1_share=share(joined.top1_value, joined.supplier_value),
        top3_share=share(joined.top3_value, joined.supplier_value),
        distinct_suppliers=joined.distinct_suppliers,
        hhi_base=joined.hhi_base.fill_null(0),
        small_base=(joined.distinct_suppliers < MIN_SUPPLIERS)
        | (joined.hhi_base.fill_null(0) < MIN_BASE),
    )


@family("concentration")
def concentration(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    named = facts.filter((facts.currency == "GBP") & facts.named_supplier)
    return supplier_concentration(named, keys, "supplier_id", "part", "award_key")


@payment_family("payment_concentration")
def payment_concentration(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    suppliers = facts.filter(facts.supplier_key.notnull() & ~facts.transfer_excluded)
    return supplier_concentration(suppliers, keys, "supplier_key", "amount_net")
