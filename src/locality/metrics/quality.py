"""Data quality for the same scope as the measures: how far to trust a figure.

Each ``coverage_*`` column is the share of counted awards (any currency) in the group for
which the field a measure needs is published:

* ``coverage_value``: a usable value (money or a framework ceiling; see docs/metrics.md,
  "Values"); ``placeholder_value_awards`` and ``impossible_value_awards`` (negative, not
  finite, over the cap) count the awards whose published amount was set aside;
* ``coverage_award_date``: ``awards[].date`` (years, financial years);
* ``coverage_supplier``: at least one named supplier (shares, concentration);
* ``coverage_supplier_size``: every supplier's size known (SME share);
* ``coverage_supplier_place``: every supplier's local authority known (local shares);
* ``coverage_buyer_place``: the buyer's local authority known (locality, places);
* ``coverage_cpv``: a CPV code (themes, CPV divisions, innovation);
* ``coverage_method``: ``tender.procurementMethod`` (direct-award share).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import family, share


@family("quality")
def quality(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    per_award = facts.group_by([*keys, "award_key"]).aggregate(
        has_value=(facts.award_value.notnull() | facts.ceiling_value.notnull()).max(),
        placeholder=(facts.value_issue == "placeholder").fill_null(False).max(),
        impossible=facts.value_issue.isin(["negative", "non_finite", "over_cap"])
        .fill_null(False)
        .max(),
        has_date=facts.award_date_known.max(),
        has_supplier=facts.named_supplier.max(),
        all_sizes=(facts.named_supplier & (facts.scale != "unknown")).min(),
        all_places=(facts.named_supplier & facts.supplier_locality.notnull()).min(),
        buyer_place=facts.buyer_place_known.max(),
        has_cpv=facts.cpv_known.max(),
        has_method=facts.method_known.max(),
    )
    grouped = per_award.group_by(list(keys)) if keys else per_award
    counts = grouped.aggregate(
        counted_awards=per_award.count(),
        n_value=per_award.has_value.sum(),
        n_award_date=per_award.has_date.sum(),
        n_supplier=per_award.has_supplier.sum(),
        n_supplier_size=per_award.all_sizes.sum(),
        n_supplier_place=per_award.all_places.sum(),
        n_buyer_place=per_award.buyer_place.sum(),
        n_cpv=per_award.has_cpv.sum(),
        n_method=per_award.has_method.sum(),
        placeholder_value_awards=per_award.placeholder.sum(),
        impossible_value_awards=per_award.impossible.sum(),
    )
    fields = (
        "value",
        "award_date",
        "supplier",
        "supplier_size",
        "supplier_place",
        "buyer_place",
        "cpv",
        "method",
    )
    return counts.select(
        *keys,
        "counted_awards",
        "placeholder_value_awards",
        "impossible_value_awards",
        **{f"coverage_{f}": share(counts[f"n_{f}"], counts.counted_awards) for f in fields},
    )
