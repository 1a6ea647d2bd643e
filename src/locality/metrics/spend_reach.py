"""Spend reach: how much awarded value reaches SMEs, VCSEs and local suppliers.

Definitions (``docs/metrics.md`` has the full text and edge cases):

* an award counts when its ``status`` is ``active`` or missing; only money awarded is
  summed: a framework's or DPS's value is a ceiling (family ``frameworks``), and an unknown
  value (none published, or a placeholder such as 0.01) is never zero nor summed
  (``unknown_value_awards``); values are summed in GBP only, and awards in other
  currencies are counted apart (``other_currency_awards``);
* value to a supplier = award value / number of the award's suppliers;
* SME: ``details.scale`` in {sme, micro} (legacy Contracts Finder: ``sme`` true), as the
  process itself published it, else the organisation's latest known scale; large: ``large``
  (legacy ``sme`` false); otherwise unknown. Missing is never "large": the UK's SME spend
  target (PPN 001/25) is measured over suppliers whose size is known;
* ``sme_share`` = value to SMEs / value to suppliers of known scale, with
  ``known_scale_share`` = value to suppliers of known scale / awarded value; the ``_count``
  variants count (award, supplier) pairs instead of value; VCSE likewise;
* ``local_share`` = value to suppliers in the buyer's own local authority / value where both
  ends' local authorities are known (``known_location_share`` of awarded value);
  ``combined_authority_share`` (over value whose buyer is in a combined authority) and
  ``region_share`` widen "local" to the buyer's combined authority and region (CLES's
  local-spend analysis uses these circles).

Shares are null where their denominator is zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import family, share

# The sums behind the SME, VCSE and local shares, kept in the result beside the shares so a
# share can be summed over groups again (contracts here, payments in ``payment_reach``).
REACH_SUMS = (
    "sme_value",
    "known_scale_value",
    "vcse_value",
    "known_vcse_value",
    "local_value",
    "known_location_value",
)


@family("spend_reach")
def spend_reach(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    money = facts.counts_as != "ceiling"
    gbp = (facts.currency == "GBP") & facts.award_value.notnull()
    part = facts.part
    pair = facts.named_supplier & gbp
    known_scale = facts.scale != "unknown"
    known_vcse = facts.vcse.notnull()
    grouped = facts.group_by(list(keys)) if keys else facts
    agg = grouped.aggregate(
        awards=facts.award_key.nunique(where=money & (gbp | facts.award_value.isnull())),
        awarded_value=part.sum(where=gbp).fill_null(0),
        sme_value=part.sum(where=gbp & (facts.scale == "sme")).fill_null(0),
        known_scale_value=part.sum(where=gbp & known_scale).fill_null(0),
        vcse_value=part.sum(where=gbp & facts.vcse.fill_null(False)).fill_null(0),
        known_vcse_value=part.sum(where=gbp & known_vcse).fill_null(0),
        local_value=part.sum(where=gbp & facts.same_locality).fill_null(0),
        combined_authority_value=part.sum(where=gbp & facts.same_combined_authority).fill_null(0),
        region_value=part.sum(where=gbp & facts.same_region).fill_null(0),
        known_location_value=part.sum(where=gbp & facts.location_known).fill_null(0),
        known_ca_location_value=part.sum(
            where=gbp & facts.combined_authority_location_known
        ).fill_null(0),
        supplier_pairs=pair.sum(),
        sme_pairs=(pair & (facts.scale == "sme")).sum(),
        known_scale_pairs=(pair & known_scale).sum(),
        vcse_pairs=(pair & facts.vcse.fill_null(False)).sum(),
        known_vcse_pairs=(pair & known_vcse).sum(),
        other_currency_awards=facts.award_key.nunique(
            where=facts.award_value.notnull() & (facts.currency != "GBP").fill_null(True)
        ),
        unknown_value_awards=facts.award_key.nunique(where=facts.counts_as == "unknown"),
    )
    return agg.select(
        *keys,
        "awards",
        "awarded_value",
        sme_share=share(agg.sme_value, agg.known_scale_value),
        vcse_share=share(agg.vcse_value, agg.known_vcse_value),
        known_scale_share=share(agg.known_scale_value, agg.awarded_value),
        known_vcse_share=share(agg.known_vcse_value, agg.awarded_value),
        sme_share_count=share(agg.sme_pairs, agg.known_scale_pairs),
        known_scale_share_count=share(agg.known_scale_pairs, agg.supplier_pairs),
        vcse_share_count=share(agg.vcse_pairs, agg.known_vcse_pairs),
        known_vcse_share_count=share(agg.known_vcse_pairs, agg.supplier_pairs),
        local_share=share(agg.local_value, agg.known_location_value),
        combined_authority_share=share(agg.combined_authority_value, agg.known_ca_location_value),
        region_share=share(agg.region_value, agg.known_location_value),
        known_location_share=share(agg.known_location_value, agg.awarded_value),
        **{name: agg[name] for name in REACH_SUMS},
        other_currency_awards=agg.other_currency_awards,
        unknown_value_awards=agg.unknown_value_awards,
    )
