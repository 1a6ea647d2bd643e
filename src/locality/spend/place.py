"""The whole-place view: what every public body in a place pays, to whom, against what its
contract notices show.

A place (``metrics.places``: a combined authority, a council, or a ``--places`` TOML set)
is a set of councils; its bodies are the spend publishers whose ``body_la_registry_code``
is one of them. Every figure is net of VAT in GBP, credit notes included (negative), over
every published line (Leeds publishes all payments, most councils those over £500: the
``published_threshold`` of each body is shown so comparisons stay like with like).

* ``months`` / ``years``: spend by body and calendar month / financial year (April–March).
* ``suppliers``: top suppliers across the place, one row per resolved organisation (else
  per company number, else per normalised name), with how many of the place's bodies paid
  it. Redacted payees are left out of this list (they are in the totals).
* ``shares``: to SMEs (of spend whose supplier's scale is known), to VCSEs (of spend whose
  VCSE status is known: the spend file's own flag, a user fact or the organisation's flag;
  VCSE when any of them says so) and to suppliers located in the place (of spend whose
  supplier's local authority is known), each with its coverage: the known part / all spend.
  Supplier facts come from ``spend.resolve`` (``SUPPLIERS_SQL``).
* ``contracted_vs_paid``: per council and financial year, the value of contract awards
  (OCDS; active or status-less, GBP, by award date) of buyers located in that council,
  against the value its spend files show paid. ``contracted_to_paid`` is their ratio: how
  much of the money paid the notices reveal (roughly: awards are multi-year, payments are
  not all contracted).

Service areas and expense types are not yet mapped to the contract themes.
"""

from __future__ import annotations

from typing import Any

import duckdb

from locality.metrics.places import Place
from locality.spend.resolve import KEY, SUPPLIERS_SQL
from locality.store import sql


def _fy(column: str) -> str:
    start = f"(CASE WHEN month({column}) >= 4 THEN year({column}) ELSE year({column}) - 1 END)"
    return f"({start}::VARCHAR || '-' || lpad(((({start}) + 1) % 100)::VARCHAR, 2, '0'))"


def _payments(codes_param: str) -> str:
    """Place payments joined to what is known of their supplier."""
    join = " AND ".join(f"s.{c} IS NOT DISTINCT FROM p.{c}" for c in KEY)
    return f"""
        s AS ({SUPPLIERS_SQL}),
        pay AS (
            SELECT p.body, p.body_la_registry_code AS code, p.payment_date, p.amount_net,
                   p.supplier_name, p.supplier_name_normalised, p.company_number, p.redacted,
                   p.vcse_flag, s.org_id, s.method, s.scale, s.vcse AS known_vcse,
                   s.la_registry_code AS supplier_la
            FROM spend_payments p LEFT JOIN s ON {join}
            WHERE p.body_la_registry_code IN (SELECT unnest({codes_param}))
        )
    """


def _dicts(con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> list[dict[str, Any]]:
    result = con.execute(query, params)
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _share(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def place_view(con: duckdb.DuckDBPyConnection, place: Place, *, top: int = 20) -> dict[str, Any]:
    """Every section of the whole-place view as JSON-ready data."""
    codes = sorted(place.councils)
    params: list[Any] = [codes]
    bodies = _dicts(
        con,
        """
        WITH files AS (
            SELECT source_file, published_threshold, threshold_basis
            FROM ingested_files WHERE kind = 'spend'
        )
        SELECT p.body_la_registry_code AS code, any_value(p.body) AS body,
               count(DISTINCT p.source_file) AS files, count(*) AS payments,
               round(sum(p.amount_net), 2) AS amount,
               min(p.payment_date)::VARCHAR AS first_date,
               max(p.payment_date)::VARCHAR AS last_date,
               coalesce(min(f.published_threshold) FILTER (WHERE f.threshold_basis <> 'card file'),
                        min(f.published_threshold)) AS published_threshold
        FROM spend_payments p LEFT JOIN files f USING (source_file)
        WHERE p.body_la_registry_code IN (SELECT unnest(?))
        GROUP BY 1 ORDER BY amount DESC, code
        """,
        params,
    )
    months = _dicts(
        con,
        """
        SELECT strftime(payment_date, '%Y-%m') AS month, body_la_registry_code AS code,
               any_value(body) AS body, count(*) AS payments,
               round(sum(amount_net), 2) AS amount
        FROM spend_payments WHERE body_la_registry_code IN (SELECT unnest(?))
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        params,
    )
    years = _dicts(
        con,
        f"""
        SELECT {_fy("payment_date")} AS financial_year, body_la_registry_code AS code,
               any_value(body) AS body, count(*) AS payments,
               round(sum(amount_net), 2) AS amount
        FROM spend_payments WHERE body_la_registry_code IN (SELECT unnest(?))
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        params,
    )
    suppliers = _dicts(
        con,
        f"""
        WITH {_payments("?")}
        SELECT coalesce(org_id, 'GB-COH-' || company_number, 'name:' || supplier_name_normalised)
                   AS supplier_key,
               mode(supplier_name) AS supplier_name, any_value(org_id) AS org_id,
               any_value(method) AS match_method, any_value(scale) AS scale,
               any_value(known_vcse) AS vcse, any_value(supplier_la) AS supplier_la,
               count(DISTINCT code) AS bodies, list(DISTINCT code ORDER BY code) AS body_codes,
               count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay WHERE NOT redacted AND supplier_name_normalised IS NOT NULL
        GROUP BY 1 ORDER BY amount DESC, supplier_key LIMIT {int(top)}
        """,
        params,
    )
    (
        total,
        sme,
        known_scale,
        vcse,
        known_vcse,
        local,
        known_location,
        resolved,
        redacted,
    ) = sql.one(
        con,
        f"""
        WITH {_payments("?")},
        v AS (
            SELECT *, CASE WHEN vcse_flag OR known_vcse THEN true
                           WHEN vcse_flag IS NOT NULL OR known_vcse IS NOT NULL THEN false
                      END AS is_vcse
            FROM pay
        )
        SELECT coalesce(sum(amount_net), 0),
               sum(amount_net) FILTER (WHERE scale = 'sme'),
               sum(amount_net) FILTER (WHERE scale IS NOT NULL),
               sum(amount_net) FILTER (WHERE is_vcse),
               sum(amount_net) FILTER (WHERE is_vcse IS NOT NULL),
               sum(amount_net) FILTER (WHERE supplier_la IN (SELECT unnest(?))),
               sum(amount_net) FILTER (WHERE supplier_la IS NOT NULL),
               sum(amount_net) FILTER (WHERE org_id IS NOT NULL),
               sum(amount_net) FILTER (WHERE redacted)
        FROM v
        """,
        [codes, codes],
    )
    total = float(total)
    shares = {
        "total_amount": round(total, 2),
        "sme_share": _share(sme, known_scale),
        "known_scale_coverage": _share(known_scale or 0.0, total),
        "vcse_share": _share(vcse, known_vcse),
        "known_vcse_coverage": _share(known_vcse or 0.0, total),
        "local_share": _share(local, known_location),
        "known_location_coverage": _share(known_location or 0.0, total),
        "resolved_coverage": _share(resolved or 0.0, total),
        "redacted_share": _share(redacted or 0.0, total),
    }
    contracted = _dicts(
        con,
        f"""
        WITH paid AS (
            SELECT body_la_registry_code AS code, {_fy("payment_date")} AS financial_year,
                   count(*) AS payments, sum(amount_net) AS paid
            FROM spend_payments WHERE body_la_registry_code IN (SELECT unnest(?))
            GROUP BY ALL
        ),
        awarded AS (
            SELECT o.la_registry_code AS code, {_fy("a.award_date")} AS financial_year,
                   count(*) AS awards, sum(a.value) AS contracted
            FROM awards a
            JOIN processes pr USING (ocid)
            JOIN organisations o ON o.org_id = pr.buyer_org_id
            WHERE o.la_registry_code IN (SELECT unnest(?)) AND a.currency = 'GBP'
              AND a.value IS NOT NULL AND a.award_date IS NOT NULL
              AND (a.status = 'active' OR a.status IS NULL)
            GROUP BY ALL
        )
        SELECT code, coalesce(la.nice_name, la.official_name, code) AS council,
               financial_year, coalesce(awards, 0) AS awards,
               round(coalesce(contracted, 0), 2) AS contracted,
               coalesce(payments, 0) AS payments, round(coalesce(paid, 0), 2) AS paid,
               CASE WHEN paid > 0 THEN coalesce(contracted, 0) / paid END AS contracted_to_paid
        FROM paid FULL JOIN awarded USING (code, financial_year)
        LEFT JOIN ref_local_authorities la ON la.la_registry_code = code
        ORDER BY code, financial_year
        """,
        [codes, codes],
    )
    return {
        "place": place.name,
        "source": place.source,
        "councils": codes,
        "bodies": bodies,
        "shares": shares,
        "years": years,
        "months": months,
        "suppliers": suppliers,
        "contracted_vs_paid": contracted,
        "notes": [
            "Net of VAT in GBP; credit notes are negative. Bodies publish at different "
            "thresholds (published_threshold: 0 means every payment).",
            "Shares are of spend where the supplier's scale, VCSE status or place is known; "
            "each *_coverage is that known part of all the place's spend.",
            "Contracted: awards (OCDS) of buyers located in the council, by award date.",
            "Service areas and expense types are not mapped to themes yet.",
        ],
    }
