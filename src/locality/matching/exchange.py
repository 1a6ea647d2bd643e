"""Knowledge exchange: introductions a buyer and a small supplier have not made yet.

* For a buyer (and a theme): the SMEs and VCSEs near it that already serve similar buyers
  elsewhere (work in the same CPV divisions) but have never won from it, nearest first;
  and its own incumbents that are SMEs or VCSEs whose contracts end soon (keep them in
  view before the re-procurement).
* For a supplier: the buyers near it that buy what it sells (processes in the CPV
  divisions it has won in), with their live notices, engagement (UK2) and pipeline (UK1)
  first: those are the moments a small firm can still be heard.

"Near" is within ``radius_km`` between council centres (``matching.geo``), or the same
council.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import duckdb
import numpy as np

from locality.matching import geo
from locality.matching.match import MatchError, SupplierIndex
from locality.matching.opportunities import (
    LIVE_STAGES,
    OpportunityFilter,
    expiring_contracts,
    list_opportunities,
)
from locality.reference import cpv_themes

DEFAULT_RADIUS_KM = 50.0
STAGE_ORDER = {"engagement": 0, "pipeline": 1, "planned": 2, "open": 3}

# The fields of the rows each view lists (a buyer's suppliers never met, a supplier's buyers
# nearby), in the order a CSV of them gives its columns (``locality exchange --format csv``).
NEAR_SUPPLIER_FIELDS = (
    "id",
    "name",
    "scale",
    "vcse",
    "place",
    "distance_km",
    "awards_in_theme",
    "buyers_served",
)
NEAR_BUYER_FIELDS = (
    "id",
    "name",
    "place",
    "distance_km",
    "processes_in_its_divisions",
    "live_notices",
    "served_before",
)


def _divisions_of_theme(theme: str) -> set[str]:
    found = {d for d, t in cpv_themes().items() if t.theme.lower() == theme.lower()}
    if not found:
        themes = sorted({t.theme for t in cpv_themes().values()})
        raise MatchError(f"no theme {theme!r}: choose from {', '.join(themes)}")
    return found


def _organisation(con: duckdb.DuckDBPyConnection, org_id: str) -> dict[str, Any] | None:
    rows = con.execute(
        "SELECT org_id, name, la_registry_code, la_name, buyer_processes FROM organisations "
        "WHERE org_id = ?",
        [org_id],
    ).fetchall()
    if not rows:
        return None
    r = rows[0]
    return {"id": r[0], "name": r[1], "council": r[2], "place": r[3], "processes": r[4] or 0}


def _near(index: SupplierIndex, council: str | None, radius_km: float) -> np.ndarray:
    """Each supplier's distance (km) from a council's centre, NaN when unknown; the same
    council is 0."""
    centre = geo.centre(council) if council else None
    if centre is None:
        return np.full(index.size, np.nan)
    km = geo.distances_km(centre, index.council_lat, index.council_lon)
    km[index.councils == council] = 0.0
    return km[index.council_of]


def buyer_exchange(
    con: duckdb.DuckDBPyConnection,
    index: SupplierIndex,
    buyer_id: str,
    today: dt.date,
    *,
    theme: str | None = None,
    radius_km: float = DEFAULT_RADIUS_KM,
    expiring_within_days: int = 365,
    top: int = 20,
) -> dict[str, Any]:
    """Smaller suppliers near a buyer it has never met, and its SME/VCSE incumbents whose
    contracts end within ``expiring_within_days`` (module docstring)."""
    buyer = _organisation(con, buyer_id)
    if buyer is None or not buyer["processes"]:
        raise MatchError(
            f"{buyer_id!r} is no buyer in the store: give a buyer's organisation id "
            "(the buyer page's identifier)"
        )
    if theme:
        divisions = _divisions_of_theme(theme)
    else:
        rows = con.execute(
            "SELECT DISTINCT cpv_division FROM processes "
            "WHERE buyer_org_id = ? AND cpv_division IS NOT NULL",
            [buyer_id],
        ).fetchall()
        divisions = {r[0] for r in rows}
    km = _near(index, buyer["council"], radius_km)
    found: list[dict[str, Any]] = []
    for i, p in enumerate(index.profiles):
        if p.scale != "sme" and not p.vcse:
            continue
        if buyer_id in p.buyers or not (km[i] <= radius_km):
            continue
        in_theme = sum(
            n for code, n in p.cpv.items() if code.endswith("000000") and code[:2] in divisions
        )
        if not in_theme:
            continue
        found.append(
            {
                "id": p.id,
                "name": p.name,
                "scale": p.scale,
                "vcse": p.vcse,
                "place": p.place,
                "distance_km": round(float(km[i]), 1),
                "awards_in_theme": in_theme,
                "buyers_served": sorted(p.buyers)[:10],
            }
        )
    found.sort(key=lambda r: (r["distance_km"], -r["awards_in_theme"], r["id"]))
    incumbents = [
        o
        for o in expiring_contracts(con, today, expiring_within_days)
        if o["buyer_id"] == buyer_id and (o["incumbent_sme"] or o["incumbent_vcse"])
    ]
    return {
        "buyer": buyer,
        "divisions": sorted(divisions),
        "radius_km": radius_km,
        "suppliers_never_met": found[:top],
        "small_incumbents_expiring": incumbents,
    }


def supplier_exchange(
    con: duckdb.DuckDBPyConnection,
    index: SupplierIndex,
    supplier_id: str,
    today: dt.date,
    *,
    radius_km: float = DEFAULT_RADIUS_KM,
    top: int = 20,
) -> dict[str, Any]:
    """The buyers near a supplier that buy what it sells, with their live notices,
    engagement and pipeline first (module docstring)."""
    i = index.position.get(supplier_id)
    if i is None:
        raise MatchError(
            f"{supplier_id!r} has won no counted award in the store, so what it sells is "
            "unknown: give an organisation id from `locality match OCID`"
        )
    p = index.profiles[i]
    divisions = sorted({c[:2] for c in p.cpv})
    centre = geo.centre(p.la_registry_code) if p.la_registry_code else None
    rows = con.execute(
        """
        SELECT p.buyer_org_id, any_value(coalesce(b.name, p.buyer_name)),
               any_value(b.la_registry_code), any_value(b.la_name), count(*)
        FROM processes p LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
        WHERE p.cpv_division IN (SELECT unnest(?::VARCHAR[])) AND p.buyer_org_id IS NOT NULL
          AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes)
        GROUP BY p.buyer_org_id
        """,
        [divisions],
    ).fetchall()
    buyers: list[dict[str, Any]] = []
    for buyer_id, name, council, place, processes in rows:
        other = geo.centre(council) if council else None
        if council and council == p.la_registry_code:
            km = 0.0
        elif centre is None or other is None:
            continue
        else:
            km = float(geo.distances_km(centre, np.array([other[0]]), np.array([other[1]]))[0])
        if km <= radius_km:
            buyers.append(
                {
                    "id": buyer_id,
                    "name": name,
                    "place": place,
                    "distance_km": round(km, 1),
                    "processes_in_its_divisions": processes,
                    "served_before": buyer_id in p.buyers,
                }
            )
    near = {b["id"] for b in buyers}
    live = list_opportunities(con, today, OpportunityFilter(stages=LIVE_STAGES))
    notices = [
        o for o in live if o["buyer_id"] in near and o["cpv"] and o["cpv"][0][:2] in divisions
    ]
    notices.sort(key=lambda o: (STAGE_ORDER.get(o["stage"], 9), o.get("closes") or dt.date.max))
    counts = Counter(o["buyer_id"] for o in notices)
    for b in buyers:
        b["live_notices"] = counts.get(b["id"], 0)
    buyers.sort(
        key=lambda b: (-b["live_notices"], b["distance_km"], -b["processes_in_its_divisions"])
    )
    return {
        "supplier": {
            "id": p.id,
            "name": p.name,
            "scale": p.scale,
            "vcse": p.vcse,
            "place": p.place,
        },
        "divisions": divisions,
        "radius_km": radius_km,
        "buyers": buyers[:top],
        "notices": notices,
    }
