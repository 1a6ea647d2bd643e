"""What the store holds and how far to trust it: counts, coverage, dates, publishers."""

from __future__ import annotations

from typing import Any

import duckdb

from locality.domain.notices import PUBLISHERS
from locality.enrich.resolve import resolution_coverage
from locality.fetch.state import last_runs
from locality.store import sql


def _one(con: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, ...]:
    return sql.one(con, query)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def store_status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    counts_row = _one(
        con,
        """
        SELECT (SELECT count(*) FROM ingested_files), (SELECT count(*) FROM releases),
               (SELECT count(*) FROM processes), (SELECT count(*) FROM awards),
               (SELECT count(*) FROM award_suppliers), (SELECT count(*) FROM organisations),
               (SELECT count(*) FROM rejected), (SELECT count(*) FROM spend_payments),
               (SELECT count(*) FROM duplicate_processes)
        """,
    )
    keys = ("files", "releases", "processes", "awards", "award_suppliers", "organisations")
    # duplicate_processes: notices published twice under two OCIDs, each copy counted once.
    counts = dict(
        zip(
            (*keys, "rejected", "spend_payments", "duplicate_processes"),
            (int(v) for v in counts_row),
            strict=True,
        )
    )

    suppliers, scale, vcse, postcode, la, with_address, found = (
        int(v)
        for v in _one(
            con,
            """
            SELECT count(*), count(*) FILTER (WHERE scale <> 'unknown'),
                   count(vcse), count(postcode), count(la_code),
                   count(*) FILTER (WHERE address_has_postcode),
                   count(postcode) FILTER (WHERE address_has_postcode)
            FROM organisations WHERE supplier_processes > 0
            """,
        )
    )
    buyers, buyer_postcode, buyer_la = (
        int(v)
        for v in _one(
            con,
            """
            SELECT count(*), count(postcode), count(la_code)
            FROM organisations WHERE buyer_processes > 0
            """,
        )
    )
    coverage = {
        "suppliers": suppliers,
        "supplier_scale": _share(scale, suppliers),
        "supplier_vcse": _share(vcse, suppliers),
        "supplier_postcode": _share(postcode, suppliers),
        # Of the suppliers whose published address holds something postcode-shaped, the
        # share for which a valid postcode was found (the extraction's own success rate).
        "supplier_postcode_where_address_has_one": _share(found, with_address),
        "supplier_local_authority": _share(la, suppliers),
        "buyers": buyers,
        "buyer_postcode": _share(buyer_postcode, buyers),
        "buyer_local_authority": _share(buyer_la, buyers),
    }
    identity = dict(
        sql.rows(
            con, "SELECT identity_method, count(*) FROM organisations GROUP BY ALL ORDER BY ALL"
        )
    )
    first, last = _one(
        con,
        "SELECT min(first_date)::DATE::VARCHAR, max(last_date)::DATE::VARCHAR FROM processes",
    )
    publishers = [
        {
            "prefix": prefix,
            "name": PUBLISHERS.get(prefix, "unknown publisher"),
            "processes": int(n),
            "first_date": start,
            "last_date": end,
        }
        for prefix, n, start, end in sql.rows(
            con,
            """
            SELECT publisher_prefix, count(*), min(first_date)::DATE::VARCHAR,
                   max(last_date)::DATE::VARCHAR
            FROM processes GROUP BY ALL ORDER BY 2 DESC, 1
            """,
        )
    ]
    rejected_reasons = [
        {"reason": reason, "count": int(n)}
        for reason, n in sql.rows(
            con,
            """
            SELECT regexp_replace(reason, ':.*$', '') AS reason, count(*)
            FROM rejected GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 10
            """,
        )
    ]
    # Council spend: per publishing body, with the threshold it publishes at (Leeds: every
    # payment; most councils: over £500), so comparisons can be like with like.
    spend_bodies = [
        {
            "body": body,
            "la_registry_code": code,
            "files": int(files),
            "payments": int(payments),
            "total_amount": round(float(total), 2),
            "first_date": first_date,
            "last_date": last_date,
            "published_threshold": threshold,
        }
        for body, code, files, payments, total, first_date, last_date, threshold in sql.rows(
            con,
            """
            WITH files AS (
                SELECT source_file, published_threshold, threshold_basis
                FROM ingested_files WHERE kind = 'spend'
            )
            SELECT p.body, p.body_la_registry_code, count(DISTINCT p.source_file), count(*),
                   sum(p.amount_net), min(p.payment_date)::VARCHAR, max(p.payment_date)::VARCHAR,
                   -- card files list every transaction; the body's threshold is its main files'
                   coalesce(
                       min(f.published_threshold) FILTER (WHERE f.threshold_basis <> 'card file'),
                       min(f.published_threshold)
                   )
            FROM spend_payments p LEFT JOIN files f USING (source_file)
            GROUP BY ALL ORDER BY 5 DESC, 1
            """,
        )
    ]
    return {
        "counts": counts,
        "coverage": coverage,
        "organisation_identity": identity,
        "date_range": {"first": first, "last": last},
        "publishers": publishers,
        "rejected_reasons": rejected_reasons,
        "spend_bodies": spend_bodies,
        "spend_suppliers": resolution_coverage(con) if counts["spend_payments"] else None,
        # Each source's last `locality fetch` window and where it stopped.
        "fetches": [run.as_json() for run in last_runs(con)],
    }
