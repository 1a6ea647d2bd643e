"""Side-by-side headline measures for places and councils (``locality compare``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from locality.domain.places import Place, load_places, resolve
from locality.metrics import run

# The measures a comparison shows first, in this order (every measure is in the table).
HEADLINE = (
    "awards",
    "awarded_value",
    "sme_share",
    "known_scale_share",
    "vcse_share",
    "known_vcse_share",
    "local_share",
    "combined_authority_share",
    "region_share",
    "known_location_share",
    "hhi",
    "top3_share",
    "median_award_value",
    "over_1m_share",
    "framework_share",
    "frameworks",
    "framework_ceiling_value",
    "call_off_share",
    "direct_award_share",
    "direct_award_known_share",
    "single_bidder_share",
    "innovation_share",
    "suitability_gap_sme",
)


def resolve_all(names: Sequence[str], places_file: Path | None = None) -> list[Place]:
    places = load_places(places_file)
    return [resolve(name, places) for name in names]


def compare(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    names: Sequence[str],
    *,
    places_file: Path | None = None,
    where: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """One row per named place or council, in the order given, with every measure.

    A place with no counted award in the store still gets a row (all measures empty), so a
    comparison never silently drops a name.
    """
    resolved = resolve_all(names, places_file)
    table = run(con, None, "place", where=where, places=resolved, order_by="")
    found = {row["place"]: row for row in table.to_pylist()}
    rows = [found.get(p.name, {"place": p.name}) for p in resolved]
    columns = table.column_names
    return pa.Table.from_pylist(
        [{c: row.get(c) for c in columns} for row in rows], schema=table.schema
    )
