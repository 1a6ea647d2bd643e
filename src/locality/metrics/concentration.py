"""Market concentration: how much of a market sits with a few suppliers.

Over the value each supplier received in the group (GBP, counted awards; value split
equally among an award's suppliers; awards without a named supplier left out):

* ``hhi``: Herfindahl-Hirschman Index, the sum of squared percentage shares, 0-10,000
  (the UK Competition and Markets Authority reads above 1,000 as concentrated and above
  2,000 as highly concentrated);
* ``top1_share``, ``top3_share``: share of value with the largest one and three suppliers;
* ``distinct_suppliers``.

Group by buyer × CPV division or place × theme by filtering one and grouping by the other
(``locality metrics --by cpv-division --where buyer_id=...``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from locality.metrics import family, share


@family("concentration")
def concentration(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    named = facts.filter((facts.currency == "GBP") & facts.named_supplier)
    by_supplier = list(dict.fromkeys([*keys, "supplier_id"]))
    per_supplier = named.group_by(by_supplier).aggregate(value=named.part.sum())
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
        distinct_suppliers=ranked.supplier_id.nunique(),
    )
    return agg.select(
        *keys,
        "hhi",
        top1_share=share(agg.top1_value, agg.supplier_value),
        top3_share=share(agg.top3_value, agg.supplier_value),
        distinct_suppliers=agg.distinct_suppliers,
    )
