"""Corrections no single process can make, run after each OCDS file is applied.

:func:`after_apply` runs inside the file's transaction, right after
:func:`locality.store.loader.finish_apply`, and costs in proportion to what the file
touched (``stg.touched``), not to the store:

* **One organisation under several ids.** Contracts Finder gives a buyer without an
  identifier an id of its own platform (``GB-CFS-…``, one per account) and legacy notices
  give none (``name:…``), so one council can be two or three organisations. A ``GB-CFS``
  or name-only id seen with the same normalised name in the same postcode district as one
  identified body (an ``identifier``, or a party id of another org-id scheme) is that body;
  ``GB-CFS`` and name-only ids seen so with no identified body there are the oldest
  ``GB-CFS`` id among them. Each fold is a row of ``organisation_aliases``, and every org id
  column of the store then holds the canonical id. Folds are never undone: a recompiled
  process is written with raw ids again, and the known folds are re-applied to it.
* **One notice published twice.** The same award published under two OCIDs (same buyer,
  title, award dates and values, same suppliers) is listed in ``duplicate_processes``, the
  copy published later (then the larger OCID) pointing at the first, so measures count it
  once. The buyers of the touched processes are re-examined each time, so a copy whose
  twin changes stops being a copy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from locality.domain.identity import normalise_name
from locality.store import loader, sql
from locality.store.loader import STAGING

CFS_SCHEME = "GB-CFS"

# Why an id was folded (the postcode district is filled in).
SAME_AS_IDENTIFIED = "same name and postcode district ({district}) as an identified organisation"
SAME_AS_OLDER_CFS = "same name and postcode district ({district}) as an older Contracts Finder id"
SAME_NOTICE = "same buyer, title, award dates, award values and suppliers as an earlier notice"


class Sighting(NamedTuple):
    """One organisation seen under one name in one postcode district."""

    org_id: str
    kind: str  # identified | cfs | name (see identity_kind)
    name_key: str  # identity.normalise_name of the name published with it
    district: str  # postcode district (outward code)
    area: str  # local authority of the district, the district itself when unknown


class Alias(NamedTuple):
    canonical: str
    reason: str


def identity_kind(identity_method: str | None, scheme: str | None) -> str:
    """``identified`` ids are real registrations and are never folded into anything;
    ``cfs`` (a Contracts Finder account id) and ``name`` ids may be folded into one."""
    if identity_method == "name":
        return "name"
    if identity_method == "party_id" and scheme == CFS_SCHEME:
        return "cfs"
    return "identified"


def cfs_age(org_id: str) -> tuple[int, str]:
    """Sort key putting the oldest Contracts Finder account first: its numbers are given
    in sequence, so the shortest, then smallest, number is the oldest."""
    return len(org_id), org_id


def district_targets(sightings: Iterable[Sighting]) -> dict[tuple[str, str], Alias | None]:
    """What each (name, district) folds into: the one identified body seen there, else the
    oldest ``GB-CFS`` id. ``None`` marks a district where several identified bodies share
    the name: nothing there can tell which one a weaker id is. Absent: nothing to fold to."""
    members: dict[tuple[str, str], dict[str, str]] = {}
    for seen in sightings:
        members.setdefault((seen.name_key, seen.district), {})[seen.org_id] = seen.kind
    targets: dict[tuple[str, str], Alias | None] = {}
    for (name_key, district), kinds in members.items():
        identified = sorted(o for o, kind in kinds.items() if kind == "identified")
        cfs = sorted((o for o, kind in kinds.items() if kind == "cfs"), key=cfs_age)
        if len(identified) > 1:
            targets[(name_key, district)] = None
        elif identified:
            reason = SAME_AS_IDENTIFIED.format(district=district)
            targets[(name_key, district)] = Alias(identified[0], reason)
        elif cfs:
            reason = SAME_AS_OLDER_CFS.format(district=district)
            targets[(name_key, district)] = Alias(cfs[0], reason)
    return targets


def decide_aliases(sightings: Collection[Sighting], deciding: Iterable[str]) -> dict[str, Alias]:
    """The folds of the ``deciding`` ids that the sightings support.

    An id folds only when every district it was seen in points at the same organisation
    (or at none), never when one of them is ambiguous. A name-only id gathers every party
    published under that name with no id at all, so it folds only when all its sightings
    are in one council area: "Parish Council" seen in two places is two parish councils.
    """
    targets = district_targets(sightings)
    keys: dict[str, set[tuple[str, str]]] = {}
    kinds: dict[str, str] = {}
    areas: dict[str, set[str]] = {}
    for seen in sightings:
        keys.setdefault(seen.org_id, set()).add((seen.name_key, seen.district))
        kinds[seen.org_id] = seen.kind
        areas.setdefault(seen.org_id, set()).add(seen.area)
    aliases: dict[str, Alias] = {}
    for org_id in sorted(set(deciding)):
        kind = kinds.get(org_id)
        if kind is None or kind == "identified":
            continue
        if kind == "name" and len(areas[org_id]) > 1:
            continue
        found = [targets[key] for key in sorted(keys[org_id]) if key in targets]
        if None in found:
            continue
        canonicals = {t.canonical: t for t in found if t is not None and t.canonical != org_id}
        if len(canonicals) == 1:
            aliases[org_id] = next(iter(canonicals.values()))
    return aliases


def resolve_chains(new: Mapping[str, Alias], known: Mapping[str, Alias]) -> dict[str, Alias]:
    """The alias rows to write: the new folds, and the known ones whose canonical has just
    been folded itself, each pointing at the end of its chain, so no canonical id is ever
    an alias. (A ``GB-CFS`` canonical folds into an identified body seen later.)

    Chains end: an id folds only into an identified id (which never folds) or into an
    older ``GB-CFS`` id, so no id can lead back to itself.
    """

    def end(org_id: str) -> str:
        while org_id in new:
            org_id = new[org_id].canonical
        return org_id

    changed = {o: Alias(end(a.canonical), a.reason) for o, a in new.items()}
    for org_id, alias in known.items():
        if alias.canonical in new:
            changed[org_id] = Alias(end(alias.canonical), alias.reason)
    return changed


# ------------------------------------------------------------------------ SQL of a fold

_TOUCHED = f"(SELECT ocid FROM {STAGING}.touched)"


def after_apply(con: duckdb.DuckDBPyConnection) -> None:
    """Fold organisations, then find duplicate notices, for what this file touched
    (inside the caller's transaction, after ``loader.finish_apply``)."""
    # Processes whose rows changed: the file's, then any whose org ids a new fold rewrote.
    sql.run(con, f"CREATE OR REPLACE TEMP TABLE _changed_processes AS SELECT ocid FROM {_TOUCHED}")
    fold_organisations(con)
    mark_duplicates(con)
    sql.run(con, "DROP TABLE _changed_processes")


def fold_organisations(con: duckdb.DuckDBPyConnection) -> None:
    """Re-apply known folds to the touched processes, find new ones, rewrite and
    re-aggregate the organisations concerned."""
    reapplied = _known_in_touched(con)
    _rewrite(con, reapplied, touched_only=True)
    sightings, deciding = _sightings_near_touched(con)
    decided = decide_aliases(sightings, deciding)
    known = _known_aliases(con, sorted(decided))
    new = {o: a for o, a in decided.items() if o not in known}
    changed = resolve_chains(new, known)
    if changed:
        sql.run(
            con,
            "DELETE FROM organisation_aliases WHERE org_id IN (SELECT unnest(?))",
            [sorted(changed)],
        )
        _insert_aliases(con, changed)
        _rewrite(con, {o: a.canonical for o, a in changed.items()}, touched_only=False)
    moved = {**reapplied, **{o: a.canonical for o, a in changed.items()}}
    if moved:
        ids = sorted(set(moved) | set(moved.values()))
        con.register("_moved_orgs", pa.table({"org_id": pa.array(ids, pa.string())}))
        try:
            sql.run(
                con, "CREATE OR REPLACE TEMP TABLE _touched_orgs AS SELECT org_id FROM _moved_orgs"
            )
        finally:
            con.unregister("_moved_orgs")
        loader.rebuild_organisations(con)


def _known_aliases(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, Alias]:
    """Known folds of these ids, or into them (to re-point if they fold in turn)."""
    return {
        org_id: Alias(canonical, reason)
        for org_id, canonical, reason in sql.rows(
            con,
            """
            SELECT org_id, canonical_org_id, reason FROM organisation_aliases
            WHERE org_id IN (SELECT unnest(?)) OR canonical_org_id IN (SELECT unnest(?))
            """,
            [ids, ids],
        )
    }


def _known_in_touched(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Known folds of the ids the recompiled processes were written with (raw again)."""
    return dict(
        sql.rows(
            con,
            f"""
            SELECT org_id, canonical_org_id FROM organisation_aliases
            WHERE org_id IN (
                SELECT org_id FROM process_parties WHERE ocid IN {_TOUCHED}
                UNION SELECT org_id FROM award_suppliers WHERE ocid IN {_TOUCHED}
                UNION SELECT buyer_org_id FROM processes WHERE ocid IN {_TOUCHED}
            )
            """,
        )
    )


def _insert_aliases(con: duckdb.DuckDBPyConnection, aliases: Mapping[str, Alias]) -> None:
    rows = sorted(aliases.items())
    table = pa.table(
        {
            "org_id": pa.array([o for o, _ in rows], pa.string()),
            "canonical_org_id": pa.array([a.canonical for _, a in rows], pa.string()),
            "reason": pa.array([a.reason for _, a in rows], pa.string()),
        }
    )
    con.register("_new_aliases", table)
    try:
        sql.run(
            con,
            "INSERT INTO organisation_aliases (org_id, canonical_org_id, reason) "
            "SELECT org_id, canonical_org_id, reason FROM _new_aliases",
        )
    finally:
        con.unregister("_new_aliases")


# Sightings: a party row's id, kind, name, postcode district and that district's council.
# DISTINCT: a party is seen once per process, and a national load touches every process,
# so without it a million-release file brought every party row (about 2M) into Python at
# once; the rules below treat sightings as a set, so repeats add nothing.
_SIGHTINGS = """
SELECT DISTINCT p.org_id, p.identity_method, p.scheme, p.name,
       split_part(p.postcode, ' ', 1) AS district,
       coalesce(d.la_code, split_part(p.postcode, ' ', 1)) AS area
FROM process_parties p
LEFT JOIN ref_districts d ON d.outward_code = split_part(p.postcode, ' ', 1)
WHERE p.postcode IS NOT NULL AND p.name IS NOT NULL AND {condition}
"""


def _sightings(
    con: duckdb.DuckDBPyConnection,
    condition: str,
    params: list[Any] | None,
    names: dict[str, str],
) -> list[Sighting]:
    """Sightings of the party rows meeting ``condition``; ``names`` caches name keys."""
    found = []
    for org_id, method, scheme, name, district, area in sql.rows(
        con, _SIGHTINGS.format(condition=condition), params
    ):
        key = names.get(name)
        if key is None:
            key = names[name] = normalise_name(name)
        if key:
            found.append(Sighting(org_id, identity_kind(method, scheme), key, district, area))
    return found


def _sightings_near_touched(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[Sighting], set[str]]:
    """The evidence for the ids that share a (name, district) with a touched process, and
    those ids. It is complete for them: every district they were ever seen in, and every
    organisation seen in those districts under their names."""
    names: dict[str, str] = {}
    touched = _sightings(con, f"p.ocid IN {_TOUCHED}", None, names)
    if not touched:
        return [], set()
    touched_keys = {(s.name_key, s.district) for s in touched}
    districts = sorted({s.district for s in touched})
    in_district = "split_part(p.postcode, ' ', 1) IN (SELECT unnest(?))"
    near = _sightings(con, in_district, [districts], names)
    deciding = {s.org_id for s in near if (s.name_key, s.district) in touched_keys}
    theirs = _sightings(con, "p.org_id IN (SELECT unnest(?))", [sorted(deciding)], names)
    elsewhere = sorted({s.district for s in theirs} - set(districts))
    around = _sightings(con, in_district, [elsewhere], names) if elsewhere else []
    return near + theirs + around, deciding


def _party_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        str(name)
        for (name,) in sql.rows(
            con,
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_name = 'process_parties' AND table_schema = 'main'
              AND table_catalog = current_database()
            ORDER BY ordinal_position
            """,
        )
    ]


# How a process's rows of one organisation become one row. The canonical id's own row
# comes first, and gives every column not listed here; the identity columns are the
# canonical id's own (see _identity in _merge_parties).
_ORDER = "ORDER BY _own DESC, _raw_id"
_MERGED: dict[str, str] = {
    "org_id": "_canonical",
    "roles": "list_sort(list_distinct(flatten(list(roles))))",
    "postcode": f"first(postcode {_ORDER}) FILTER (WHERE postcode IS NOT NULL)",
    "scale": f"coalesce(first(scale {_ORDER}) FILTER (WHERE scale <> 'unknown'), 'unknown')",
    # A VCSE flag and where it came from travel together.
    "vcse": f"first(vcse {_ORDER}) FILTER (WHERE vcse IS NOT NULL)",
    "vcse_source": f"first(vcse_source {_ORDER}) FILTER (WHERE vcse IS NOT NULL)",
    "buyer_type": f"first(buyer_type {_ORDER}) FILTER (WHERE buyer_type IS NOT NULL)",
    "observed_date": "max(observed_date)",
    "address_has_postcode": "bool_or(address_has_postcode)",
    "additional_ids": "nullif(list_sort(list_distinct(flatten(list(additional_ids)))), [])",
}
_IDENTITY = ("scheme", "identifier", "identity_method")


def _rewrite(
    con: duckdb.DuckDBPyConnection, remap: Mapping[str, str], *, touched_only: bool
) -> None:
    """Replace each id of ``remap`` by its canonical id in every org id column, in the
    touched processes only or in the whole store, merging the rows of one process that
    become the same organisation; list the processes rewritten in ``_changed_processes``."""
    if not remap:
        return
    table = pa.table(
        {
            "org_id": pa.array(list(remap), pa.string()),
            "canonical_org_id": pa.array(list(remap.values()), pa.string()),
        }
    )
    con.register("_remap_arrow", table)
    try:
        sql.run(con, "CREATE OR REPLACE TEMP TABLE _remap AS SELECT * FROM _remap_arrow")
    finally:
        con.unregister("_remap_arrow")
    scope = f"AND t.ocid IN {_TOUCHED}" if touched_only else ""
    sql.run(
        con,
        f"""
        INSERT INTO _changed_processes
        SELECT DISTINCT t.ocid FROM process_parties t SEMI JOIN _remap m USING (org_id)
        WHERE true {scope}
        UNION SELECT DISTINCT t.ocid FROM award_suppliers t SEMI JOIN _remap m USING (org_id)
        WHERE true {scope}
        """,
    )
    sql.run(
        con,
        f"""
        UPDATE processes t SET buyer_org_id = m.canonical_org_id FROM _remap m
        WHERE t.buyer_org_id = m.org_id {scope}
        """,
    )
    sql.run(
        con,
        f"""
        UPDATE award_suppliers t SET org_id = m.canonical_org_id FROM _remap m
        WHERE t.org_id = m.org_id {scope}
        """,
    )
    # Spend matches hold no process; a match to a folded id follows it (fuzzy matches are
    # kept between resolutions, so they would otherwise point at an id that is gone).
    sql.run(
        con,
        """
        UPDATE spend_supplier_matches t SET org_id = m.canonical_org_id FROM _remap m
        WHERE t.org_id = m.org_id
        """,
    )
    _merge_parties(con, scope)
    sql.run(con, "DROP TABLE _remap")


def _merge_parties(con: duckdb.DuckDBPyConnection, scope: str) -> None:
    """Give the party rows of folded ids their canonical id, one row per process and
    organisation (roles unioned, what one row lacks filled from the others)."""
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _groups AS
        SELECT DISTINCT t.ocid, m.canonical_org_id AS org_id
        FROM process_parties t JOIN _remap m USING (org_id) WHERE true {scope}
        """,
    )
    sql.run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _party_rows AS
        SELECT p.*, g.org_id AS _canonical, p.org_id AS _raw_id, p.org_id = g.org_id AS _own
        FROM process_parties p
        LEFT JOIN _remap m ON m.org_id = p.org_id
        JOIN _groups g ON g.ocid = p.ocid AND g.org_id = coalesce(m.canonical_org_id, p.org_id)
        """,
    )
    # The canonical id's identity, from any row it already has (they all agree). An id
    # with no row left keeps the identity of the rows folded into it.
    sql.run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _identity AS
        SELECT org_id, first(scheme ORDER BY ocid) AS scheme,
               first(identifier ORDER BY ocid) AS identifier,
               first(identity_method ORDER BY ocid) AS identity_method
        FROM process_parties WHERE org_id IN (SELECT org_id FROM _groups)
        GROUP BY org_id
        """,
    )
    columns = _party_columns(con)
    merged = ", ".join(
        f"{_MERGED.get(c, f'first({c} {_ORDER})')} AS {c}" for c in columns if c != "ocid"
    )
    final = ", ".join(
        f"coalesce(i.{c}, r.{c}) AS {c}" if c in _IDENTITY else f"r.{c}" for c in columns
    )
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _merged AS
        SELECT {final}
        FROM (SELECT ocid, {merged} FROM _party_rows GROUP BY ocid, _canonical) r
        LEFT JOIN _identity i USING (org_id)
        """,
    )
    sql.run(
        con,
        """
        DELETE FROM process_parties
        WHERE (ocid, org_id) IN (SELECT (ocid, org_id) FROM _party_rows)
        """,
    )
    names = ", ".join(columns)
    sql.run(con, f"INSERT INTO process_parties ({names}) SELECT {names} FROM _merged")
    for temp in ("_groups", "_party_rows", "_identity", "_merged"):
        sql.run(con, f"DROP TABLE {temp}")


# ------------------------------------------------------------------- duplicate notices

# A title compared without case, punctuation or spacing.
_TITLE_KEY = r"trim(regexp_replace(lower(title), '[^\p{L}\p{N}]+', ' ', 'g'))"


def mark_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute ``duplicate_processes`` among the processes that share a buyer and a title
    with a changed process (``_changed_processes``), or with one it had as a copy or an
    original: a copy has its original's buyer and title, so nothing else can change. (The
    scope was every process of those buyers: a daily delta touches most buyers of a
    national store, and ranking all their processes was a third of its time.)"""
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _dup_keys AS
        SELECT buyer_org_id, {_TITLE_KEY} AS title_key FROM processes
        WHERE ocid IN (SELECT ocid FROM _changed_processes) AND buyer_org_id IS NOT NULL
        UNION
        SELECT p.buyer_org_id, {_TITLE_KEY} AS title_key FROM duplicate_processes d
        JOIN processes p ON p.ocid = d.ocid OR p.ocid = d.duplicate_of
        WHERE (d.ocid IN (SELECT ocid FROM _changed_processes)
               OR d.duplicate_of IN (SELECT ocid FROM _changed_processes))
          AND p.buyer_org_id IS NOT NULL
        """,
    )
    sql.run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _dup_scope AS
        SELECT ocid, buyer_org_id, first_date, title_key FROM (
            SELECT ocid, buyer_org_id, first_date, {_TITLE_KEY} AS title_key FROM processes
            WHERE buyer_org_id IN (SELECT buyer_org_id FROM _dup_keys)
        ) SEMI JOIN _dup_keys USING (buyer_org_id, title_key)
        """,
    )
    sql.run(
        con,
        """
        DELETE FROM duplicate_processes
        WHERE ocid IN (SELECT ocid FROM _dup_scope UNION SELECT ocid FROM _changed_processes)
           OR duplicate_of IN (
               SELECT ocid FROM _dup_scope UNION SELECT ocid FROM _changed_processes
           )
        """,
    )
    # A copy needs evidence: a title, and awards that all have a date and a value.
    sql.run(
        con,
        """
        INSERT INTO duplicate_processes (ocid, duplicate_of, reason)
        WITH award_lists AS (
            SELECT ocid,
                   list((award_date, value, currency) ORDER BY award_date, value, currency)
                       AS awards,
                   bool_and(award_date IS NOT NULL AND value IS NOT NULL) AS complete
            FROM awards SEMI JOIN _dup_scope USING (ocid) GROUP BY ocid
        ),
        supplier_sets AS (
            SELECT ocid, list(DISTINCT org_id ORDER BY org_id) AS suppliers
            FROM award_suppliers SEMI JOIN _dup_scope USING (ocid)
            WHERE org_id IS NOT NULL GROUP BY ocid
        ),
        ranked AS (
            SELECT s.ocid,
                   first_value(s.ocid) OVER notice AS original,
                   row_number() OVER notice AS copy
            FROM _dup_scope s JOIN award_lists a USING (ocid) JOIN supplier_sets u USING (ocid)
            WHERE a.complete AND s.title_key <> ''
            WINDOW notice AS (
                PARTITION BY s.buyer_org_id, s.title_key, a.awards, u.suppliers
                ORDER BY s.first_date NULLS LAST, s.ocid
            )
        )
        SELECT ocid, original, ? FROM ranked WHERE copy > 1
        """,
        [SAME_NOTICE],
    )
    for temp in ("_dup_keys", "_dup_scope"):
        sql.run(con, f"DROP TABLE {temp}")
