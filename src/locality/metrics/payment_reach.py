"""Payment reach: how much of a place's council spend reaches SMEs, VCSEs and local
suppliers, each share with its coverage (``docs/metrics.md``, "Whole-place spend").

Over ``payment_facts`` (net of VAT, GBP, credit notes negative):

* ``paid_amount``: every payment; ``transfer_amount``: payments to other public bodies
  (``locality.spend.transfers``); ``supplier_amount``: the rest;
* ``counted_amount``: what the shares are of: ``supplier_amount``, or ``paid_amount``
  when transfers are counted as suppliers (``payment_facts(include_transfers=True)``);
* ``sme_share`` = to SMEs / to suppliers of known scale, ``known_scale_coverage`` = to
  suppliers of known scale / counted; VCSE likewise (VCSE when the file's own flag, a user
  fact, a register or the organisation says so); ``local_share`` = to suppliers located in
  the place (or the paying council) / to suppliers whose place is known. As for contracts
  (``spend_reach``), missing is never "large" nor "not VCSE": the UK's SME spend target
  (PPN 001/25) is measured over suppliers whose size is known;
* ``resolved_coverage``: counted spend whose supplier matched an organisation;
  ``redacted_share``: counted spend to redacted payees.

A share is null where its denominator is zero (nothing is known to take a share of), and
0.0 where something is known and none of it falls in the numerator: Darlington's spend whose
supplier's place is known reaches no local supplier, so its local share is 0%, not unknown
(as for contracts, ``spend_reach``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import payment_family, share
from locality.metrics.spend_reach import REACH_SUMS


@payment_family("payment_reach")
def payment_reach(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    amount = facts.amount_net
    counted = facts.counted
    grouped = facts.group_by(list(keys)) if keys else facts
    agg = grouped.aggregate(
        payments=facts.count(),
        paid_amount=amount.sum().fill_null(0),
        transfer_amount=amount.sum(where=facts.transfer_kind.notnull()).fill_null(0),
        supplier_amount=amount.sum(where=facts.transfer_kind.isnull()).fill_null(0),
        counted_amount=counted.sum().fill_null(0),
        sme_value=counted.sum(where=facts.scale == "sme").fill_null(0),
        known_scale_value=counted.sum(where=facts.scale.notnull()).fill_null(0),
        vcse_value=counted.sum(where=facts.is_vcse).fill_null(0),
        known_vcse_value=counted.sum(where=facts.is_vcse.notnull()).fill_null(0),
        local_value=counted.sum(where=facts.local).fill_null(0),
        known_location_value=counted.sum(where=facts.location_known).fill_null(0),
        resolved_value=counted.sum(where=facts.org_id.notnull()).fill_null(0),
        redacted_value=counted.sum(where=facts.redacted).fill_null(0),
    )
    return agg.select(
        *keys,
        "payments",
        "paid_amount",
        "transfer_amount",
        "supplier_amount",
        "counted_amount",
        sme_share=share(agg.sme_value, agg.known_scale_value),
        known_scale_coverage=share(agg.known_scale_value.fill_null(0), agg.counted_amount),
        vcse_share=share(agg.vcse_value, agg.known_vcse_value),
        known_vcse_coverage=share(agg.known_vcse_value.fill_null(0), agg.counted_amount),
        local_share=share(agg.local_value, agg.known_location_value),
        known_location_coverage=share(agg.known_location_value.fill_null(0), agg.counted_amount),
        resolved_coverage=share(agg.resolved_value.fill_null(0), agg.counted_amount),
        redacted_share=share(agg.redacted_value.fill_null(0), agg.counted_amount),
        **{name: agg[name] for name in REACH_SUMS},
    )
