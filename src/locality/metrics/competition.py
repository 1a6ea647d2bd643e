"""Competition: how many bids contracting processes drew, now that Find a Tender publishes
bid counts (``bids.statistics``: ``bids``, ``finalStageBids``, ``smeFinalStageBids``,
``vcseFinalStageBids``, per lot; summed over a process's lots).

Over the processes (with a counted award) that publish a bid count:

* ``single_bidder_share``: share drawing one bid (final-stage bids, else bids): the
  single-bidder indicator of the EU Single Market Scoreboard and the Open Contracting
  red-flags guide, computable on UK data for the first time;
* ``mean_bidders``: mean bids per process;
* ``sme_bid_share``, ``vcse_bid_share``: SME (VCSE) final-stage bids / final-stage bids, over
  processes publishing both;
* ``bid_count_coverage``: processes publishing a bid count / processes with a counted award.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from locality.metrics import family, groups, join_on_keys, share


@family("competition")
def competition(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    processes = facts.select(
        *keys,
        "ocid",
        bids=facts.final_stage_bidders.fill_null(facts.bidders),
        final=facts.final_stage_bidders,
        sme=facts.sme_final_stage_bidders,
        vcse=facts.vcse_final_stage_bidders,
    ).distinct()
    known = processes.bids.notnull()
    grouped = processes.group_by(list(keys)) if keys else processes
    agg = grouped.aggregate(
        processes=processes.count(),
        with_bids=known.sum(),
        single=(processes.bids == 1).fill_null(False).sum(),
        mean_bidders=processes.bids.mean(),
        final_with_sme=processes.final.sum(where=processes.sme.notnull()),
        sme=processes.sme.sum(where=processes.final.notnull()),
        final_with_vcse=processes.final.sum(where=processes.vcse.notnull()),
        vcse=processes.vcse.sum(where=processes.final.notnull()),
    )
    result = agg.select(
        *keys,
        single_bidder_share=share(agg.single, agg.with_bids),
        mean_bidders=agg.mean_bidders.cast("float64"),
        sme_bid_share=share(agg.sme, agg.final_with_sme),
        vcse_bid_share=share(agg.vcse, agg.final_with_vcse),
        bid_count_coverage=share(agg.with_bids, agg.processes),
    )
    if not keys:
        return result
    return join_on_keys(groups(facts, keys), result, keys)
