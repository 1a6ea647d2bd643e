"""Contract size and shape, and innovation procurement: where big bundled contracts,
frameworks and direct awards shut small suppliers out, and where public money buys
research and innovation.

Measured over counted GBP awards, one row per award (not per supplier):

* ``median_award_value``; ``over_1m_share`` and ``over_10m_share``: share of awarded value in
  awards over £1m and £10m;
* ``framework_share``: share of counted awards (by number: a ceiling is not money) that are
  appointments to a framework agreement or dynamic purchasing system (agreement types:
  ``locality.domain.agreements``); ``call_off_share``: share of awarded value in call-offs
  from a framework or DPS; ``direct_award_share``: share of awarded value in processes
  with ``procurementMethod`` = ``direct`` (awarded without competition; OCDS's ``limited``
  is restricted competition and not counted here), computed over the value whose
  procedure is published (``direct_award_known_share`` says how much that is);
* ``mean_lots``: mean lots per process, over processes that publish lots;
* ``innovation_share`` and ``innovation_awards``: value and count in research and
  innovation procurement: CPV division 73 (R&D services), or procedures recognised in the
  method details, title or description (innovation partnership, competitive dialogue,
  competitive procedure with negotiation, pre-commercial procurement, SBRI);
* ``suitability_gap_sme``: of value awarded (to suppliers of known size) in processes the
  buyer marked suitable for SMEs (``tender.suitability.sme``, legacy ``isSuitableForSme``),
  the share that went to large firms; null when there is no such value. ``_vcse`` likewise
  with ``suitability.vcse`` and the VCSE flag.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import family, groups, join_on_keys, share

MILLION = 1_000_000


@family("contract_shape")
def contract_shape(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    appointments = facts.select(*keys, "award_key", "is_framework").distinct()
    appointments_grouped = appointments.group_by(list(keys)) if keys else appointments
    framework_counts = appointments_grouped.aggregate(
        framework_share=share(appointments.is_framework.sum(), appointments.count())
    )
    gbp = facts.filter((facts.currency == "GBP") & facts.award_value.notnull())
    award_columns = [
        *keys,
        "award_key",
        "award_value",
        "is_call_off",
        "is_direct",
        "method_known",
        "is_innovation",
    ]
    awards = gbp.select(*award_columns).distinct()
    value = awards.award_value
    grouped = awards.group_by(list(keys)) if keys else awards
    per_award = grouped.aggregate(
        shape_value=value.sum().fill_null(0),
        median_award_value=value.median(),
        over_1m_value=value.sum(where=value > MILLION).fill_null(0),
        over_10m_value=value.sum(where=value > 10 * MILLION).fill_null(0),
        call_off_value=value.sum(where=awards.is_call_off).fill_null(0),
        method_known_value=value.sum(where=awards.method_known).fill_null(0),
        direct_value=value.sum(where=awards.is_direct & awards.method_known).fill_null(0),
        innovation_value=value.sum(where=awards.is_innovation).fill_null(0),
        innovation_awards=awards.is_innovation.sum(),
    )
    shape = per_award.select(
        *keys,
        "median_award_value",
        over_1m_share=share(per_award.over_1m_value, per_award.shape_value),
        over_10m_share=share(per_award.over_10m_value, per_award.shape_value),
        call_off_share=share(per_award.call_off_value, per_award.shape_value),
        direct_award_share=share(per_award.direct_value, per_award.method_known_value),
        direct_award_known_share=share(per_award.method_known_value, per_award.shape_value),
        innovation_share=share(per_award.innovation_value, per_award.shape_value),
        innovation_awards=per_award.innovation_awards,
    )

    processes = facts.select(*keys, "ocid", "lot_count").distinct()
    lots_grouped = processes.group_by(list(keys)) if keys else processes
    lots = lots_grouped.aggregate(mean_lots=processes.lot_count.mean())

    known_size = gbp.scale != "unknown"
    known_vcse = gbp.vcse.notnull()
    suit_grouped = gbp.group_by(list(keys)) if keys else gbp
    suit = suit_grouped.aggregate(
        suitable_sme_known=gbp.part.sum(where=gbp.suitable_sme.fill_null(False) & known_size),
        suitable_sme_large=gbp.part.sum(
            where=gbp.suitable_sme.fill_null(False) & (gbp.scale == "large")
        ),
        suitable_vcse_known=gbp.part.sum(where=gbp.suitable_vcse.fill_null(False) & known_vcse),
        suitable_vcse_missed=gbp.part.sum(
            where=gbp.suitable_vcse.fill_null(False) & ~gbp.vcse.fill_null(True)
        ),
    )
    suitability = suit.select(
        *keys,
        suitability_gap_sme=share(suit.suitable_sme_large, suit.suitable_sme_known),
        suitability_gap_vcse=share(suit.suitable_vcse_missed, suit.suitable_vcse_known),
    )
    if not keys:
        return shape.cross_join(framework_counts).cross_join(lots).cross_join(suitability)
    result = join_on_keys(groups(facts, keys), shape, keys)
    result = join_on_keys(result, framework_counts, keys)
    result = join_on_keys(result, lots, keys)
    return join_on_keys(result, suitability, keys)
