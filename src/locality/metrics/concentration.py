"""Market concentration: how much of a market sits with a few suppliers.

Over the value each supplier received in the group (only suppliers who received a positive
amount count):

* ``hhi``: Herfindahl-Hirschman Index, the sum of squared percentage shares, 0-10,000
  (the UK Competition and Markets Authority reads above 1,000 as concentrated and above
  2,000 as highly concentrated);
* ``top1_share``, ``top3_share``: share of value with the largest one and three suppliers;
* ``distinct_suppliers``.

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


def supplier_concentration(
    facts: ir.Table, keys: Sequence[str], supplier: str, value: str
) -> ir.Table:
    """HHI, top-1 and top-3 shares and distinct suppliers per group of ``keys``, over the
    sum of column ``value`` per ``supplier``."""
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
    return agg.select(
        *keys,
        "hhi",
        top1_share=share(agg.top1_value, agg.supplier_value),
        top3_share=share(agg.top3_value, agg.supplier_value),
        distinct_suppliers=agg.distinct_suppliers,
    )


@family("concentration")
def concentration(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    named = facts.filter((facts.currency == "GBP") & facts.named_supplier)
    return supplier_concentration(named, keys, "supplier_id", "part")


@payment_family("payment_concentration")
def payment_concentration(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    suppliers = facts.filter(facts.supplier_key.notnull() & ~facts.transfer_excluded)
    return supplier_concentration(suppliers, keys, "supplier_key", "amount_net")
