"""What the dashboard's matching pages show, assembled here so the web layer holds no rule:
an opportunity with its ranked suppliers and proposed consortia, and a supplier's matched
opportunities (the alert a small firm wants)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from locality.matching.consortium import propose_consortia
from locality.matching.exchange import buyer_exchange, supplier_exchange
from locality.matching.match import MatchError, SupplierIndex, rank_opportunities
from locality.matching.match import target_from_opportunity as _target
from locality.matching.opportunities import (
    LIVE_STAGES,
    Challenge,
    OpportunityFilter,
    day_of,
    find_opportunity,
    list_opportunities,
)

PAGE_TOP = 20
PAGE_TIME_LIMIT = 5.0  # seconds per consortium team on a page


@dataclass(frozen=True)
class PageContext:
    """What every matching page is read against: the store, the supplier index built from
    it, the day (or moment) deadlines are read at, and buyers' challenges to list too."""

    con: duckdb.DuckDBPyConnection
    index: SupplierIndex
    today: dt.date
    challenges: tuple[Challenge, ...] = ()


def opportunity_view(page: PageContext, key: str) -> dict[str, Any]:
    """An opportunity, the suppliers ranked for it (all, and SMEs and VCSEs only) and teams
    of SMEs and VCSEs that could cover it (or why none is proposed). Raises
    ``OpportunityError`` for an unknown key."""
    index, today = page.index, page.today
    opportunity = find_opportunity(page.con, key, today, page.challenges)
    target = _target(opportunity)
    suppliers = index.rank(target, top=PAGE_TOP)
    small = index.rank(target, top=10, sme_or_vcse=True)
    consortia: dict[str, Any] | None = None
    note = None
    try:
        consortia = propose_consortia(
            index, target, sme_vcse_only=True, alternatives=2, time_limit=PAGE_TIME_LIMIT
        )
    except MatchError as exc:
        note = str(exc)
    return {
        "opportunity": opportunity,
        "suppliers_ranked": index.size,
        "suppliers": suppliers,
        "sme_vcse_suppliers": small,
        "consortia": consortia,
        "consortia_note": note,
        "today": day_of(today),
    }


def supplier_matches_view(page: PageContext, org_id: str) -> dict[str, Any]:
    """A supplier's profile and the live opportunities (pipeline to open, and challenges)
    ranked for it. Raises ``MatchError`` when it has no counted award to build a profile."""
    con, index, today = page.con, page.index, page.today
    live = list_opportunities(
        con, today, OpportunityFilter(stages=(*LIVE_STAGES, "challenge")), page.challenges
    )
    ranked = rank_opportunities(index, org_id, live, top=PAGE_TOP)
    profile = index.profiles[index.position[org_id]]
    nearby = supplier_exchange(con, index, org_id, today)
    return {
        "supplier": profile.as_dict(),
        "opportunities": ranked,
        "buyers_nearby": nearby["buyers"],
        "notices_nearby": nearby["notices"],
        "radius_km": nearby["radius_km"],
        "today": day_of(today),
    }


def buyer_matches_view(
    page: PageContext, buyer_id: str, theme: str | None = None
) -> dict[str, Any]:
    """For a buyer (and a theme): smaller suppliers near it it has never met, and its SME
    and VCSE incumbents whose contracts end within a year. Raises ``MatchError`` for an
    organisation that is no buyer or an unknown theme."""
    found = buyer_exchange(page.con, page.index, buyer_id, page.today, theme=theme)
    return {**found, "today": day_of(page.today)}
