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

from locality.store import sql
from locality.store.schema import IDENTITY_COLUMNS
from locality.store.schema import PROCESS_COLUMNS as NORMALISED_PROCESS_COLUMNS

# Organisation columns a page shows (``organisations`` has them all; docs/architecture.md).
ORGANISATION_COLUMNS = (
    "org_id",
    "name",
    *IDENTITY_COLUMNS,
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
    return sql.dicts(
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
    return sql.dicts(
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
    found = sql.dicts(
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
    rows = sql.dicts(
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
           a.value_gross, a.value_source, a.value_issue, a.counts_as, a.agreement_type,
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
    rows = sql.dicts(con, query, params)
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
    found = sql.dicts(
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
    return sql.dicts(
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
    return sql.dicts(
        con,
        """
        SELECT pp.org_id, coalesce(pp.name, o.name) AS name, pp.roles, pp.postcode,
               pp.scale, pp.vcse, o.la_name, o.region_name
        FROM process_parties pp LEFT JOIN organisations o USING (org_id)
        WHERE pp.ocid = ? ORDER BY pp.roles, name
        """,
        [ocid],
    )


# --- a process as locality understands it ------------------------------------------------

# Why an award's value is not counted as money, by ``awards.value_issue``
# (``locality.domain.values``); ``{amount}`` is the amount as published.
VALUE_ISSUE_REASONS = {
    "placeholder": "the only amount published ({amount}) is a placeholder, not a price",
    "negative": "the amount published ({amount}) is negative",
    "non_finite": "the amount published is not a number",
    "over_cap": "the amount published ({amount}) is implausibly large for this buyer",
}
AGREEMENT_LABELS = {
    "contract": "contract",
    "framework": "framework agreement",
    "dynamic_purchasing_system": "dynamic purchasing system",
    "call_off": "call-off",
    "other": "other agreement",
}


def _amount(value: float | None, currency: str | None) -> str:
    if value is None:
        return "none"
    return f"{'£' if currency in (None, 'GBP') else f'{currency} '}{value:,.2f}"


def counts_as_reason(award: dict[str, Any], agreement_type: str | None) -> str | None:
    """Why an award's value counts as it does, in words (``counts_as`` says how)."""
    counts_as = award.get("counts_as")
    published = award.get("value_net")
    if published is None:
        published = award.get("value_gross")
    if counts_as == "awarded":
        field = award.get("value_field")
        return f"money awarded, read from {field}" if field else "money awarded"
    if counts_as == "ceiling":
        kind = AGREEMENT_LABELS.get(award.get("agreement_type") or agreement_type or "")
        return (
            f"the value of a {kind or 'framework agreement'} is the most that may be called "
            "off under it, not money awarded"
        )
    if counts_as == "unknown":
        issue = award.get("value_issue")
        if issue:
            reason = VALUE_ISSUE_REASONS.get(issue, f"the amount published has an issue: {issue}")
            return reason.format(amount=_amount(published, award.get("currency")))
        if award.get("value_source") in (None, "none") and published is None:
            return "no value is published"
        return "the value cannot be told from what is published"
    return None


def _publisher(prefix: str | None) -> str | None:
    from locality.domain.notices import PUBLISHERS

    return PUBLISHERS.get(prefix or "", prefix)


def _notice_link(ocid: str, notice_id: str | None, url: str | None) -> str | None:
    """The notice's page: its http(s) url, else (Find a Tender) one built from its id."""
    from locality.domain.notices import notice_url

    return notice_url(ocid, notice_id, [url])


def _bids(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: row[key]
        for key in (
            "bidders",
            "final_stage_bidders",
            "sme_final_stage_bidders",
            "vcse_final_stage_bidders",
        )
    }


def _central_purchasing_body(stored: bool | None, org_id: str | None, name: str | None) -> bool:
    """Whether the buyer is a central purchasing body: as the ingest recorded it, else (a
    store loaded before it was recorded) by the same rule
    (``reference/central-purchasing-bodies.csv``: identifier, else name)."""
    if stored is not None:
        return bool(stored)
    from locality.domain.buyers import is_central_purchasing_body

    return is_central_purchasing_body(org_id, name)


def process_view(con: duckdb.DuckDBPyConnection, ocid: str) -> dict[str, Any] | None:
    """A contracting process as locality understands it, so a figure can be checked against
    the notices (``locality process OCID``, ``/api/process/{ocid}``), or None.

    Keys: ``ocid``, ``publisher`` (its name, else the OCID prefix), ``publisher_prefix``,
    ``title``, ``buyer`` (``id``, ``name``, ``type``, ``central_purchasing_body``),
    ``stage`` and ``notice_form`` (of the latest notice), ``agreement_type`` with
    ``agreement_evidence``, ``procurement_method`` and ``procurement_method_details``,
    ``tender`` (value, gross, currency), ``suitable`` (``sme``, ``vcse``), ``notices`` (the
    timeline, oldest first: ``id``, ``form``, ``stage``, ``date``, ``url``: http(s) only),
    ``bids`` (summed over lots), ``lots`` (each with its suitability, value and bids),
    ``awards`` (``value`` is what a measure may sum, None when unknown; ``value_net`` and
    ``value_gross`` as published; ``value_source``, ``value_field``, ``value_issue``;
    ``counts_as`` awarded | ceiling | unknown with ``counts_as_reason``; ``suppliers`` with
    ``scale``, ``vcse`` and ``vcse_source`` as this process published them) and
    ``duplicate_of`` (the OCID counted instead, when this one is a copy). No data is None.
    """
    found = sql.dicts(
        con,
        """
        SELECT p.ocid, p.publisher_prefix, p.layout, coalesce(p.title_clean, p.title) AS title,
               p.buyer_org_id, p.buyer_name, b.name AS buyer_org_name, p.buyer_type,
               p.stage, p.notice_form, p.agreement_type, p.agreement_evidence,
               p.procurement_method, p.procurement_method_details,
               p.tender_value, p.tender_value_gross, p.tender_currency,
               p.suitable_sme, p.suitable_vcse, p.bidders, p.final_stage_bidders,
               p.sme_final_stage_bidders, p.vcse_final_stage_bidders,
               p.central_purchasing_body,
               (SELECT min(d.duplicate_of) FROM duplicate_processes d WHERE d.ocid = p.ocid)
                   AS duplicate_of
        FROM processes p LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
        WHERE p.ocid = ?
        """,
        [ocid],
    )
    if not found:
        return None
    p = found[0]
    notices = sql.dicts(
        con,
        """
        SELECT notice_id AS id, form, stage, notice_date AS date, url, release_id
        FROM process_notices WHERE ocid = ?
        ORDER BY notice_date NULLS LAST, notice_id, release_id
        """,
        [ocid],
    )
    for n in notices:
        n["url"] = _notice_link(ocid, n["id"], n["url"])
    lots = sql.dicts(
        con,
        """
        SELECT lot_id AS id, title, suitable_sme, suitable_vcse, value, value_gross, currency,
               bidders, final_stage_bidders, sme_final_stage_bidders, vcse_final_stage_bidders
        FROM process_lots WHERE ocid = ?
        ORDER BY try_cast(lot_id AS BIGINT) NULLS LAST, lot_id
        """,
        [ocid],
    )
    awards = sql.dicts(
        con,
        """
        SELECT award_id AS id, status, award_date AS date, value, value_net, value_gross,
               currency, value_source, value_field, value_issue, counts_as, agreement_type,
               related_lots
        FROM awards WHERE ocid = ?
        ORDER BY award_date NULLS LAST, try_cast(award_id AS BIGINT) NULLS LAST, award_id
        """,
        [ocid],
    )
    suppliers: dict[str, list[dict[str, Any]]] = {}
    for s in sql.dicts(
        con,
        """
        SELECT s.award_id, s.org_id AS id, coalesce(o.name, s.supplier_name, pp.name) AS name,
               nullif(pp.scale, 'unknown') AS scale, pp.vcse, pp.vcse_source, s.value_share
        FROM award_suppliers s
        LEFT JOIN process_parties pp ON pp.ocid = s.ocid AND pp.org_id = s.org_id
        LEFT JOIN organisations o ON o.org_id = s.org_id
        WHERE s.ocid = ? ORDER BY s.award_id, s.position
        """,
        [ocid],
    ):
        suppliers.setdefault(s.pop("award_id"), []).append(s)
    return {
        "ocid": p["ocid"],
        "publisher": _publisher(p["publisher_prefix"]),
        "publisher_prefix": p["publisher_prefix"],
        "layout": p["layout"],
        "title": p["title"],
        "buyer": {
            "id": p["buyer_org_id"],
            "name": p["buyer_org_name"] or p["buyer_name"],
            "type": p["buyer_type"],
            "central_purchasing_body": _central_purchasing_body(
                p["central_purchasing_body"], p["buyer_org_id"], p["buyer_name"]
            ),
        },
        "stage": p["stage"],
        "notice_form": p["notice_form"],
        "agreement_type": p["agreement_type"],
        "agreement_evidence": p["agreement_evidence"],
        "procurement_method": p["procurement_method"],
        "procurement_method_details": p["procurement_method_details"],
        "tender": {
            "value": p["tender_value"],
            "value_gross": p["tender_value_gross"],
            "currency": p["tender_currency"],
        },
        "suitable": {"sme": p["suitable_sme"], "vcse": p["suitable_vcse"]},
        "notices": [{k: n[k] for k in ("id", "form", "stage", "date", "url")} for n in notices],
        "bids": _bids(p),
        "lots": [
            {
                "id": lot["id"],
                "title": lot["title"],
                "suitable": {"sme": lot["suitable_sme"], "vcse": lot["suitable_vcse"]},
                "value": lot["value"],
                "value_gross": lot["value_gross"],
                "currency": lot["currency"],
                "bids": _bids(lot),
            }
            for lot in lots
        ],
        "awards": [
            {
                **a,
                "counts_as_reason": counts_as_reason(a, p["agreement_type"]),
                "suppliers": suppliers.get(a["id"], []),
            }
            for a in awards
        ],
        "duplicate_of": p["duplicate_of"],
    }


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
    "counts_as_reason",
    "near_ocids",
    "near_organisations",
    "organisation",
    "organisations",
    "process",
    "process_awards",
    "process_parties",
    "process_releases",
    "process_view",
    "search_organisations",
    "supplier_awards",
]


def place_awards(
    con: duckdb.DuckDBPyConnection, buyer_ids: Iterable[str], *, limit: int | None = 200
) -> list[dict[str, Any]]:
    """The awards behind a place's figures: counted awards of its buyers, largest first,
    each with its agreement type and what its value counts as (money, a framework ceiling,
    or unknown), so a reader can see what a total is made of."""
    ids = sorted(set(buyer_ids))
    if not ids:
        return []
    query = (
        f"{_AWARD_SELECT} WHERE p.buyer_org_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND coalesce(a.status, 'active') = 'active' "
        "AND p.ocid NOT IN (SELECT ocid FROM duplicate_processes) "
        "ORDER BY a.value DESC NULLS LAST, a.ocid, a.award_id"
    )
    params: list[Any] = [ids]
    if limit is not None:
        query += " LIMIT ?"
        params.append(limit)
    rows = sql.dicts(con, query, params)
    for row in rows:
        row["suppliers"] = row["suppliers"] or []
    return rows
