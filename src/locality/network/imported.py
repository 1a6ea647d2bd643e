"""Organisation lists a user imported (``organisation_facts``), matched to the network's nodes.

A list row (``locality ingest --kind organisations FILE.csv``) is the strongest evidence of
a node's sector (docs/network.md, "Sectors"): the user knows their place's bodies. It is
matched to a store organisation, in order of strength:

1. by identifier: one of the row's org-ids is the organisation's ``org_id``, an id folded
   into it (``organisation_aliases``) or an additional identifier one of its notices
   published (a Find a Tender platform id's company number);
2. by normalised name and postcode district;
3. by normalised name alone, when the row or the organisation has no postcode district:
   two bodies of one name in different districts are two bodies ("Citizens Advice").

Among rows of one strength the latest loaded file wins, then the later line. A row with
no sector decides one from its VCSE flag (yes: a VCSE) or its scale (SME or large company);
its scale and VCSE flag replace the published ones either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from locality.domain.names import normalise_name

_SCALE_SECTOR = {"sme": "sme", "large": "large_company"}


@dataclass(frozen=True)
class Imported:
    sector: str | None  # None: the row gives only scale/VCSE that decide no sector
    scale: str | None
    vcse: bool | None
    evidence: str  # "imported list FILE line N: ... (matched by ...)"
    source: str = ""  # "FILE line N": the list and row it came from (the node's card)


def _decided(sector: str | None, scale: str | None, vcse: bool | None) -> str | None:
    if sector:
        return sector
    if vcse:
        return "vcse"
    return _SCALE_SECTOR.get(scale or "")


def imported_organisations(
    con: duckdb.DuckDBPyConnection, ids: Iterable[str]
) -> dict[str, Imported]:
    """org_id → what an imported list says of it, for the ``ids`` a list row matches."""
    rows = con.execute(
        """
        SELECT f.source_file, f.source_line, f.name_normalised, f.identifiers,
               f.outward_code, f.sector, f.scale, f.vcse
        FROM organisation_facts f
        LEFT JOIN ingested_files i USING (source_file)
        ORDER BY i.ingested_at NULLS FIRST, f.source_file, f.source_line
        """
    ).fetchall()
    if not rows:
        return {}
    wanted = list(dict.fromkeys(ids))
    rank = {id(row): i for i, row in enumerate(rows)}
    # Later rows overwrite earlier ones: the latest file and line win.
    by_ident: dict[str, tuple[Any, ...]] = {}
    by_place: dict[tuple[str, str], tuple[Any, ...]] = {}
    by_name: dict[str, tuple[Any, ...]] = {}
    by_name_placeless: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        for ident in row[3] or ():
            by_ident[ident] = row
        if row[4]:
            by_place[(row[2], row[4])] = row
        else:
            by_name_placeless[row[2]] = row
        by_name[row[2]] = row
    known: dict[str, set[str]] = defaultdict(set)
    for org_id in wanted:
        known[org_id].add(org_id)
    if by_ident:
        for org_id, ident in con.execute(
            """
            SELECT canonical_org_id, org_id FROM organisation_aliases
            WHERE list_contains(?, canonical_org_id)
            UNION
            SELECT org_id, unnest(additional_ids) FROM process_parties
            WHERE list_contains(?, org_id) AND additional_ids IS NOT NULL
            """,
            [wanted, wanted],
        ).fetchall():
            known[org_id].add(ident)
    orgs = {
        org_id: (name, outward)
        for org_id, name, outward in con.execute(
            "SELECT org_id, name, outward_code FROM organisations WHERE list_contains(?, org_id)",
            [wanted],
        ).fetchall()
    }
    found: dict[str, Imported] = {}
    for org_id in wanted:
        hit: tuple[Any, ...] | None = None
        how = ""
        idents = sorted(i for i in known[org_id] if i in by_ident)
        if idents:
            # The latest row among those naming any of the organisation's identifiers.
            hit = max((by_ident[i] for i in idents), key=lambda r: rank[id(r)])
            how = f"identifier {next(i for i in idents if i in (hit[3] or ()))}"
        elif org_id in orgs and orgs[org_id][0]:
            name, outward = orgs[org_id]
            key = normalise_name(name)
            if outward and (key, outward) in by_place:
                hit, how = by_place[(key, outward)], f"name and postcode district {outward}"
            elif not outward and key in by_name:
                hit, how = by_name[key], "name (the organisation has no postcode)"
            elif key in by_name_placeless:
                hit, how = by_name_placeless[key], "name (the list gives no postcode)"
        if hit is None:
            continue
        source, line, _, _, _, sector, scale, vcse = hit
        decided = _decided(sector, scale, vcse)
        said = decided or ", ".join(
            part
            for part in (
                f"scale {scale}" if scale else "",
                f"vcse {vcse}" if vcse is not None else "",
            )
            if part
        )
        where = f"{Path(source).name} line {line}"
        found[org_id] = Imported(
            decided, scale, vcse, f"imported list {where}: {said} (matched by {how})", where
        )
    return found
