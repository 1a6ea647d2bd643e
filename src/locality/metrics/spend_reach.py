"""Spend reach: how much awarded value reaches SMEs and VCSEs, and how far the data says so.

Definitions (``docs/metrics.md`` has the full text and edge cases):

* an award counts when its ``status`` is ``active`` or missing; values are summed in GBP
  only, and awards in other currencies are counted apart (``other_currency_awards``);
* value to a supplier = award value / number of the award's suppliers;
* SME: ``details.scale`` in {sme, micro} (legacy Contracts Finder: ``sme`` true), as the
  process itself published it, else the organisation's latest known scale;
  large: ``large`` (legacy ``sme`` false); otherwise unknown. Missing is never "large":
  the UK government's SME target (PPN 001/25) is measured over suppliers whose size is known;
* ``sme_share`` = value to SMEs / value to suppliers of known scale;
  ``known_scale_share`` = value to suppliers of known scale / all awarded value;
  ``vcse_share`` and ``known_vcse_share`` likewise with ``details.vcse`` (legacy ``vco``).

Shares are null where their denominator is zero.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from locality.metrics import Dimension, family

# One row per counted award and supplier (an award without suppliers gives one row with a
# null supplier), with what the measures and dimensions need.
AWARD_FACTS = """
    SELECT a.ocid, a.award_id, a.award_date, a.value AS award_value, a.currency,
           p.buyer_org_id, coalesce(bo.name, p.buyer_name) AS buyer_name,
           bo.la_name AS buyer_la_name, bo.la_code AS buyer_la_code,
           bo.region_name AS buyer_region_name, p.publisher_prefix,
           s.org_id AS supplier_org_id, s.value_share,
           coalesce(nullif(pp.scale, 'unknown'), so.scale, 'unknown') AS scale,
           coalesce(pp.vcse, so.vcse) AS vcse
    FROM awards a
    JOIN processes p USING (ocid)
    LEFT JOIN organisations bo ON bo.org_id = p.buyer_org_id
    LEFT JOIN award_suppliers s ON s.ocid = a.ocid AND s.award_id = a.award_id
    LEFT JOIN process_parties pp ON pp.ocid = s.ocid AND pp.org_id = s.org_id
    LEFT JOIN organisations so ON so.org_id = s.org_id
    WHERE coalesce(a.status, 'active') = 'active'
"""


@family("spend_reach")
def spend_reach(
    con: duckdb.DuckDBPyConnection, by: Dimension, limit: int | None = None
) -> pa.Table:
    keys = ", ".join(f"{expr} AS {name}" for name, expr in by.keys)
    names = ", ".join(name for name, _ in by.keys)
    limit_sql = f"LIMIT {int(limit)}" if limit else ""
    # One pass: a supplier row carries its share of the award; an award without suppliers
    # carries its whole value (so awarded value is kept, with its scale unknown).
    sql = f"""
        WITH facts AS ({AWARD_FACTS}),
        keyed AS (
            SELECT {keys}, *, coalesce(value_share, award_value) AS part FROM facts
        ),
        totals AS (
            SELECT {names},
                   count(DISTINCT (ocid, award_id)) FILTER (WHERE currency = 'GBP') AS awards,
                   coalesce(sum(part) FILTER (WHERE currency = 'GBP'), 0) AS awarded_value,
                   coalesce(sum(part) FILTER (WHERE currency = 'GBP' AND scale = 'sme'), 0)
                       AS sme_value,
                   coalesce(sum(part) FILTER (WHERE currency = 'GBP' AND scale <> 'unknown'), 0)
                       AS known_scale_value,
                   coalesce(sum(part) FILTER (WHERE currency = 'GBP' AND vcse), 0) AS vcse_value,
                   coalesce(sum(part) FILTER (WHERE currency = 'GBP' AND vcse IS NOT NULL), 0)
                       AS known_vcse_value,
                   count(DISTINCT (ocid, award_id)) FILTER (WHERE currency IS DISTINCT FROM 'GBP')
                       AS other_currency_awards
            FROM keyed GROUP BY ALL
        )
        SELECT {names}, awards, awarded_value,
               sme_value / nullif(known_scale_value, 0) AS sme_share,
               vcse_value / nullif(known_vcse_value, 0) AS vcse_share,
               known_scale_value / nullif(awarded_value, 0) AS known_scale_share,
               known_vcse_value / nullif(awarded_value, 0) AS known_vcse_share,
               sme_value, known_scale_value, vcse_value, known_vcse_value,
               other_currency_awards
        FROM totals
        ORDER BY awarded_value DESC, {names}
        {limit_sql}
    """
    return con.sql(sql).to_arrow_table()
