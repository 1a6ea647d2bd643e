"""Frameworks and dynamic purchasing systems: ceilings, never money awarded.

A framework agreement's or DPS's published value is the most its members may later buy
through it, shared by every appointed supplier (YPO's recruitment framework: £3bn across 34
suppliers). It is reported here and never added to ``awarded_value``, to the SME, VCSE or
local value shares, to place totals or to a headline. Call-offs from a framework are money
and count in ``spend_reach`` like any contract.

* ``frameworks``: framework and DPS processes with a counted appointment;
* ``framework_ceiling_value``: the sum over those processes of each one's largest GBP
  ceiling (one award per supplier often repeats the whole ceiling: it is counted once);
* ``framework_ceiling_cpb_value``: the part set up by central purchasing bodies
  (``reference/central-purchasing-bodies.csv``): buying for many places, not the local
  buying of the place where the body's office is;
* ``framework_places``: (appointment, supplier) pairs, named suppliers only;
* ``framework_sme_place_share``, ``framework_vcse_place_share``,
  ``framework_local_place_share``: of those places, the share held by SMEs (of places whose
  supplier's size is known), by VCSEs (of places whose VCSE status is known) and by
  suppliers in the buyer's own local authority (of places with both ends located).
  These are shares of *places on the framework*, by count, not of money.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import family, groups, join_on_keys, share


@family("frameworks")
def frameworks(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    ceilings = facts.filter(facts.counts_as == "ceiling")
    per_process = ceilings.group_by([*keys, "ocid"]).aggregate(
        ceiling=ceilings.ceiling_value.max(where=ceilings.currency == "GBP"),
        cpb=ceilings.central_purchasing_body.max(),
    )
    grouped = per_process.group_by(list(keys)) if keys else per_process
    totals = grouped.aggregate(
        frameworks=per_process.count(),
        framework_ceiling_value=per_process.ceiling.sum().fill_null(0),
        framework_ceiling_cpb_value=per_process.ceiling.sum(where=per_process.cpb).fill_null(0),
    )
    places = ceilings.filter(ceilings.named_supplier)
    places_grouped = places.group_by(list(keys)) if keys else places
    counts = places_grouped.aggregate(
        framework_places=places.count(),
        sme=(places.scale == "sme").sum(),
        known_scale=(places.scale != "unknown").sum(),
        vcse=places.vcse.fill_null(False).sum(),
        known_vcse=places.vcse.notnull().sum(),
        local=places.same_locality.sum(),
        known_location=places.location_known.sum(),
    )
    shares = counts.select(
        *keys,
        "framework_places",
        framework_sme_place_share=share(counts.sme, counts.known_scale),
        framework_vcse_place_share=share(counts.vcse, counts.known_vcse),
        framework_local_place_share=share(counts.local, counts.known_location),
    )
    if not keys:
        return totals.cross_join(shares)
    result = join_on_keys(groups(facts, keys), totals, keys)
    result = join_on_keys(result, shares, keys)
    return result.mutate(
        frameworks=result.frameworks.fill_null(0),
        framework_ceiling_value=result.framework_ceiling_value.fill_null(0),
        framework_ceiling_cpb_value=result.framework_ceiling_cpb_value.fill_null(0),
        framework_places=result.framework_places.fill_null(0),
    )
