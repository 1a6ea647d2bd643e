"""Look-ups of single things in the store: an organisation, its awards, a process, a search.

The measures (shares, concentration, ...) are in ``locality.metrics``; this module only
finds and lists rows, for the dashboard's buyer, supplier and process pages and its
search box. Every query is parameterised: user input never reaches the SQL text.
Results are plain dicts and lists (JSON-ready apart from timestamps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import orjson

from locality.ingest.normalise import PROCESS_COLUMNS as NORMALISED_PROCESS_COLUMNS
from locality.store import sql

# Organisation columns a page shows (``organisations`` has them all; docs/architecture.md).
ORGANISATION_COLUMNS = (
    "org_id",
    "name",
    "scheme",
    "identifier",
    "identity_method",
    "postcode",
    "scale",
    "vcse",
    "la_code",
    "la_name",
    "la_registry_code",
    "region_name",
    "country",
    "buyer_processes",
    "supplier_processes",
    "supplier_awards",
    "first_seen",
    "last_seen",
)

# The processes table's columns less the published texts (pages show the cleaned ones) and
# the compiled release (fetched on its own).
PROCESS_COLUMNS = tuple(
    c for c in NORMALISED_PROCESS_COLUMNS if c not in ("title", "description", "compiled_release")
)


def _dicts(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    result = con.execute(query, list(params))
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_organisations(
    con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 20
) -> list[dict[str, Any]]:
    """Buyers and suppliers whose name contains ``text`` (or whose id is ``text``).

    Case-insensitive; the most active organisations first. Each row: ``org_id``, ``name``,
    ``buyer_processes``, ``supplier_processes``, ``la_name``, ``region_name``.
    """
    text = text.strip()
    if not text:
        return []
    return _dicts(
        con,
        """
        SELECT org_id, name, buyer_processes, supplier_processes, la_name, region_name
        FROM organisations
        WHERE (buyer_processes > 0 OR supplier_processes > 0)
          AND (name ILIKE ? ESCAPE '\\' OR lower(org_id) = lower(?))
        ORDER BY lower(org_id) = lower(?) DESC,
                 buyer_processes + supplier_processes DESC, name, org_id
        LIMIT ?
        """,
        [_like(text), text, text, limit],
    )


def near_organisations(
    con: duckdb.DuckDBPyConnection, text: str, *, role: str | None = None, limit: int = 5
) -> list[dict[str, Any]]:
    """Organisations whose id or name is closest to ``text`` (for "did you mean").

    ``role`` is ``buyer`` or ``supplier`` to keep only those. Jaro-Winkler similarity of
    the lower-cased id and name; only reasonably close ones (similarity at least 0.8).
    """
    if role not in (None, "buyer", "supplier"):
        raise ValueError(f"role must be buyer or supplier, not {role!r}")
    column = {"buyer": "buyer_processes", "supplier": "supplier_processes"}.get(role or "")
    active = f"{column} > 0" if column else "(buyer_processes > 0 OR supplier_processes > 0)"
    folded = text.strip().lower()
    return _dicts(
        con,
        f"""
        SELECT org_id, name, similarity FROM (
            SELECT org_id, name,
                   greatest(jaro_winkler_similarity(lower(org_id), ?),
                            jaro_winkler_similarity(lower(coalesce(name, '')), ?)) AS similarity
            FROM organisations WHERE {active}
        ) WHERE similarity >= 0.8
        ORDER BY similarity DESC, org_id LIMIT ?
        """,
        [folded, folded, limit],
    )


def organisation(con: duckdb.DuckDBPyConnection, org_id: str) -> dict[str, Any] | None:
    """One organisation with its place, or None."""
    found = _dicts(
        con,
        f"""
        SELECT {", ".join(f"o.{c}" for c in ORGANISATION_COLUMNS)},
               la.combined_authority
        FROM organisations o
        LEFT JOIN ref_local_authorities la USING (la_registry_code)
        WHERE o.org_id = ?
        """,
        [org_id],
    )
    return found[0] if found else None


def organisations(
    con: duckdb.DuckDBPyConnection, org_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Several organisations by id: ``{org_id: row}`` (ids not in the store are left out)."""
    ids = sorted({i for i in org_ids if i is not None})
    if not ids:
        return {}
    rows = _dicts(
        con,
        f"""
        SELECT {", ".join(ORGANISATION_COLUMNS)} FROM organisations
        WHERE org_id IN (SELECT unnest(?::VARCHAR[]))
        """,
        [ids],
    )
    return {row["org_id"]: row for row in rows}


def buyer_ids_in_councils(con: duckdb.DuckDBPyConnection, councils: Iterable[str]) -> set[str]:
    """Ids of buyers whose place is one of these councils (registry codes, e.g. ``YOR``).

    The same membership as ``--where place=``: a buyer is in a council by its postcode.
    """
    codes = sorted(set(councils))
    if not codes:
        return set()
    rows = sql.rows(
        con,
        """
        SELECT org_id FROM organisations
        WHERE buyer_processes > 0 AND la_registry_code IN (SELECT unnest(?::VARCHAR[]))
        """,
        [codes],
    )
    return {r[0] for r in rows}


_AWARD_SELECT = """
    SELECT a.ocid, a.award_id, a.award_date, a.status, a.value, a.currency,
           a.supplier_count, coalesce(p.title_clean, p.title) AS title,
           p.buyer_org_id AS buyer_id, coalesce(b.name, p.buyer_name) AS buyer_name,
           coalesce(a.status IS NULL OR a.status = 'active', false) AS counted,
           (SELECT list({'org_id': s.org_id, 'name': s.supplier_name,
                         'value_share': s.value_share} ORDER BY s.position)
            FROM award_suppliers s
            WHERE s.ocid = a.ocid AND s.award_id = a.award_id) AS suppliers
    FROM awards a
    JOIN processes p ON p.ocid = a.ocid
    LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
"""


def _awards(
    con: duckdb.DuckDBPyConnection, where: str, params: Sequence[Any], limit: int | None
) -> list[dict[str, Any]]:
    query = (
        f"{_AWARD_SELECT} WHERE {where} "
        "ORDER BY a.award_date DESC NULLS LAST, a.value DESC NULLS LAST, a.ocid, a.award_id"
    )
    if limit is not None:
        query += " LIMIT ?"
        params = [*params, limit]
    rows = _dicts(con, query, params)
    for row in rows:
        row["suppliers"] = row["suppliers"] or []
    return rows


def buyer_awards(
    con: duckdb.DuckDBPyConnection, org_id: str, *, limit: int | None = 100
) -> list[dict[str, Any]]:
    """Awards made by a buyer, newest first, each with its suppliers.

    ``counted`` says whether the award counts in the measures (status active or missing);
    ``value`` is the whole award's, in ``currency``.
    """
    return _awards(con, "p.buyer_org_id = ?", [org_id], limit)


def supplier_awards(
    con: duckdb.DuckDBPyConnection, org_id: str, *, limit: int | None = 100
) -> list[dict[str, Any]]:
    """Awards won by a supplier, newest first, with the buyer and every supplier of each."""
    return _awards(
        con,
        "EXISTS (SELECT 1 FROM award_suppliers s "
        "WHERE s.ocid = a.ocid AND s.award_id = a.award_id AND s.org_id = ?)",
        [org_id],
        limit,
    )


def process(con: duckdb.DuckDBPyConnection, ocid: str) -> dict[str, Any] | None:
    """A contracting process: its columns and its compiled release (parsed), or None."""
    found = _dicts(
        con,
        f"SELECT {', '.join(PROCESS_COLUMNS)}, compiled_release FROM processes WHERE ocid = ?",
        [ocid],
    )
    if not found:
        return None
    row = found[0]
    compiled = row["compiled_release"]
    row["compiled_release"] = orjson.loads(compiled) if isinstance(compiled, str) else compiled
    return row


def process_releases(con: duckdb.DuckDBPyConnection, ocid: str) -> list[dict[str, Any]]:
    """The releases of a process as published, in reading order, with file and line."""
    return _dicts(
        con,
        """
        SELECT release_id, release_date, tags, source_file, source_line, source_pointer
        FROM releases WHERE ocid = ? ORDER BY release_date, seq
        """,
        [ocid],
    )


def process_awards(con: duckdb.DuckDBPyConnection, ocid: str) -> list[dict[str, Any]]:
    """The awards of a process, each with its suppliers."""
    return _awards(con, "a.ocid = ?", [ocid], None)


def process_parties(con: duckdb.DuckDBPyConnection, ocid: str) -> list[dict[str, Any]]:
    """The organisations of a process with their roles, size and place as published there."""
    return _dicts(
        con,
        """
        SELECT pp.org_id, coalesce(pp.name, o.name) AS name, pp.roles, pp.postcode,
               pp.scale, pp.vcse, o.la_name, o.region_name
        FROM process_parties pp LEFT JOIN organisations o USING (org_id)
        WHERE pp.ocid = ? ORDER BY pp.roles, name
        """,
        [ocid],
    )


def near_ocids(con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 5) -> list[str]:
    """OCIDs closest to ``text`` (for "did you mean"), most similar first."""
    rows = sql.rows(
        con,
        """
        SELECT ocid FROM (
            SELECT ocid, jaro_winkler_similarity(lower(ocid), ?) AS similarity FROM processes
        ) WHERE similarity >= 0.85 ORDER BY similarity DESC, ocid LIMIT ?
        """,
        [text.strip().lower(), limit],
    )
    return [r[0] for r in rows]


__all__ = [
    "buyer_awards",
    "buyer_ids_in_councils",
    "near_ocids",
    "near_organisations",
    "organisation",
    "organisations",
    "process",
    "process_awards",
    "process_parties",
    "process_releases",
    "search_organisations",
    "supplier_awards",
]
