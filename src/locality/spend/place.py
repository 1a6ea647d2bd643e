"""The whole-place view: what every public body in a place pays, to whom, for what, against
what its contract notices show.

A place (``metrics.places``: a combined authority, a council, or a ``--places`` TOML set)
is a set of councils plus, optionally, other public bodies named as their spend files name
them (police, fire, NHS trusts, universities: ``Place.bodies``). Its payments are those whose
``body_la_registry_code`` is one of the councils, or whose ``body`` is one of the named
bodies (case-insensitive), each payment once. A body is keyed by its council code, else by
its name. Every figure is net of VAT in GBP, credit notes included (negative).

Bodies publish at different thresholds (Leeds every payment, most councils those over
£500, card files everything): ``min_amount`` keeps only payments whose absolute net amount
is at least that much, in every section, and ``like_for_like`` sets it to the highest
published threshold among the place's bodies' non-card files. ``threshold`` in the result
says which was applied and why.

* ``bodies``, ``months``, ``years``: spend by body, and by body and calendar month /
  financial year (April–March).
* ``coverage``: every council of the place and every named body, with the spend files
  loaded for it (none: the body has no spend in the store) and the months they cover: first
  and last, and the months missing in between.
* ``transfers``, ``transfer_payees``: payments to other public bodies (``spend.transfers``:
  other councils, the Secretary of State, HMRC, combined authorities, police, fire, NHS
  bodies, pension funds), by kind and by payee. They are transfers, not purchases, so by
  default they are left out of ``suppliers``, the themes' concentration and ``shares``;
  ``include_transfers`` counts them as suppliers. Every other section counts them.
* ``suppliers``: top suppliers across the place, one row per resolved organisation (else
  per company number, else per normalised name), with how many of the place's bodies paid
  it. Redacted payees are left out of this list (they are in the totals).
* ``shares``: to SMEs (of spend whose supplier's scale is known), to VCSEs (of spend whose
  VCSE status is known: the spend file's own flag, a user fact or the organisation's flag;
  VCSE when any of them says so) and to suppliers located in the place's councils (of spend
  whose supplier's local authority is known), each with its coverage: the known part / the
  spend the shares are of (``supplier_amount``, the place's total less transfers; the total
  with ``include_transfers``). Supplier facts come from ``spend.resolve`` (``SUPPLIERS_SQL``).
* ``themes``: spend by contract theme (``spend.themes``: expense type, then service area),
  always with an ``unmapped`` row, and each theme's concentration: HHI, top-1 and top-3
  shares and distinct suppliers over suppliers' net payments, suppliers keyed as in
  ``suppliers`` (redacted payees and transfers left out, their amounts shown as
  ``redacted_amount`` and ``transfer_amount``).
  ``theme_years`` splits the themes by financial year; ``unmapped`` lists the largest
  labels in the unmapped row, so rules can be added for them.
* ``contracted_vs_paid``: per council and financial year, the value of contract awards
  (OCDS; active or status-less, GBP, by award date) of buyers located in that council,
  against the value its spend files show paid. ``contracted_to_paid`` is their ratio: how
  much of the money paid the notices reveal (roughly: awards are multi-year, payments are
  not all contracted). Non-council bodies have no place in the awards data and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from locality.metrics.places import Place
from locality.reference import local_authority
from locality.spend.resolve import KEY, SUPPLIERS_SQL
from locality.spend.themes import UNMAPPED, ThemeRule, load_rules, theme_table
from locality.spend.transfers import KIND_LABELS, normalise_payee, transfer_table

# The place's payments: council bodies by registry code, other bodies by name.
_IN_PLACE = """
    (p.body_la_registry_code IN (SELECT unnest($codes::VARCHAR[]))
     OR lower(trim(p.body)) IN (SELECT unnest($bodies::VARCHAR[])))
"""
_THEMES_TYPE = (
    "STRUCT(service_area VARCHAR, expense_type VARCHAR, theme VARCHAR, decided_by VARCHAR,"
    " rule VARCHAR)[]"
)
_TRANSFERS_TYPE = (
    "STRUCT(name VARCHAR, kind VARCHAR, rule VARCHAR, council_code VARCHAR, within_place BOOLEAN)[]"
)
# A spend return for a month also carries a few lines dated in other months (late lines,
# card transactions made earlier, Leeds' files hold a third of the month before): a month
# counts as covered by a file when it holds at least this share of the file's payments.
COVERED_MONTH_SHARE = 0.1


def _fy_start(column: str) -> str:
    """The year a date's UK financial year (April–March) starts in."""
    return f"(CASE WHEN month({column}) >= 4 THEN year({column}) ELSE year({column}) - 1 END)"


def _fy_label(start: str) -> str:
    """2018 → '2018-19'. Labels are made after grouping: text for every payment is slow."""
    return f"({start}::VARCHAR || '-' || lpad((({start} + 1) % 100)::VARCHAR, 2, '0'))"


def _fy(column: str) -> str:
    return _fy_label(_fy_start(column))


# Every section reads the place's payments, computed once per view (_make_payments_table).
_PAY = "WITH pay AS (SELECT * FROM _place_pay)"


def _make_payments_table(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
    """The place's payments once, as a temporary table for every section: joining each
    to what is known of its supplier costs more than all the sections' sums together
    (0.1 s a section for West Yorkshire's 340,000 payments). Temporary tables live in
    memory, so this works on a read-only store too."""
    query = f"CREATE OR REPLACE TEMP TABLE _place_pay AS {_with_payments()} SELECT * FROM pay"
    used = {name: value for name, value in params.items() if f"${name}" in query}
    con.execute(query, used)


def _with_payments() -> str:
    """``WITH`` the place's payments (``pay``), over the threshold, each joined to what is
    known of its supplier, to its theme and, when its payee is a public body, to the kind
    of body (``transfer_kind``; ``transfer_excluded`` when transfers are left out of the
    supplier figures)."""
    join = " AND ".join(f"s.{c} IS NOT DISTINCT FROM p.{c}" for c in KEY)
    return f"""
        WITH s AS ({SUPPLIERS_SQL}),
        labels AS (SELECT unnest($themes::{_THEMES_TYPE}, recursive := true)),
        named AS (
            SELECT unnest($body_names::STRUCT(key VARCHAR, name VARCHAR)[], recursive := true)
        ),
        transfers AS (SELECT unnest($transfers::{_TRANSFERS_TYPE}, recursive := true)),
        pay AS (
            -- A named body is one body however its files spell it: keyed and shown by the
            -- name the places file gives it.
            SELECT p.source_file, coalesce(n.name, p.body) AS body,
                   p.body_la_registry_code AS code,
                   coalesce(p.body_la_registry_code, n.name, p.body) AS body_key,
                   p.payment_date, {_fy_start("p.payment_date")} AS fy_start, p.amount_net,
                   p.supplier_name, p.supplier_name_normalised, p.redacted, p.vcse_flag,
                   p.service_area, p.expense_type,
                   CASE WHEN NOT p.redacted AND p.supplier_name_normalised IS NOT NULL
                        THEN coalesce(s.org_id, 'GB-COH-' || p.company_number,
                                      'name:' || p.supplier_name_normalised)
                   END AS supplier_key,
                   s.org_id, s.method, s.scale, s.vcse AS known_vcse,
                   s.la_registry_code AS supplier_la,
                   coalesce(t.theme, '{UNMAPPED}') AS theme, t.decided_by, t.rule,
                   x.kind AS transfer_kind, x.rule AS transfer_rule,
                   x.council_code AS transfer_council,
                   coalesce(x.within_place, false) AS transfer_within_place,
                   (x.kind IS NOT NULL AND NOT $include_transfers) AS transfer_excluded
            FROM spend_payments p
            LEFT JOIN s ON {join}
            LEFT JOIN named n
                   ON p.body_la_registry_code IS NULL AND n.key = lower(trim(p.body))
            LEFT JOIN labels t ON t.service_area IS NOT DISTINCT FROM p.service_area
                              AND t.expense_type IS NOT DISTINCT FROM p.expense_type
            -- Redacted payees have no normalised name, so they are never transfers.
            LEFT JOIN transfers x ON x.name = p.supplier_name_normalised
            WHERE {_IN_PLACE} AND abs(p.amount_net) >= $min_amount
        )
    """


def _dicts(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    # DuckDB refuses named parameters a query does not use, so pass only those it names.
    used = {name: value for name, value in params.items() if f"${name}" in query}
    result = con.execute(query, used)
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _share(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def place_bodies(place: Place) -> list[str]:
    """The place's named (non-council) bodies as matched: trimmed, lower case."""
    return sorted({name.strip().lower() for name in place.bodies})


def _body_names(place: Place) -> list[dict[str, str]]:
    """Each named body's match key and the name the places file gives it."""
    names = {name.strip().lower(): name.strip() for name in sorted(place.bodies)}
    return [{"key": key, "name": name} for key, name in sorted(names.items())]


def like_for_like_threshold(
    con: duckdb.DuckDBPyConnection, place: Place
) -> tuple[float, list[str]]:
    """The highest published threshold of the place's non-card spend files, and the bodies
    publishing at it: counting only payments at least that large compares like with like.
    (0.0, []) when the place has no spend."""
    rows = _dicts(
        con,
        f"""
        SELECT f.published_threshold AS threshold, list(DISTINCT f.body ORDER BY f.body) AS bodies
        FROM ingested_files f
        WHERE f.kind = 'spend' AND f.published_threshold IS NOT NULL
          AND f.source_file IN (
              SELECT p.source_file FROM spend_payments p WHERE {_IN_PLACE} AND NOT p.is_card
          )
        GROUP BY 1 ORDER BY 1 DESC LIMIT 1
        """,
        {"codes": sorted(place.councils), "bodies": place_bodies(place)},
    )
    return (float(rows[0]["threshold"]), list(rows[0]["bodies"])) if rows else (0.0, [])


def _theme_labels(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], rules: Sequence[ThemeRule]
) -> list[dict[str, str | None]]:
    """The theme of every (service area, expense type) the place's payments carry."""
    labels = _dicts(
        con,
        f"SELECT DISTINCT p.service_area, p.expense_type FROM spend_payments p WHERE {_IN_PLACE}",
        params,
    )
    return theme_table(((r["service_area"], r["expense_type"]) for r in labels), rules)


def _transfer_payees(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], place: Place
) -> list[dict[str, Any]]:
    """Every payee of the place's payments that is a public body (``spend.transfers``), and
    whether it is one of the place's own bodies (a council of the place, or a body its
    places file names): money the place counts again when that body spends it."""
    names = _dicts(
        con,
        f"SELECT DISTINCT p.supplier_name_normalised AS name FROM spend_payments p "
        f"WHERE {_IN_PLACE} AND p.supplier_name_normalised IS NOT NULL",
        params,
    )
    own_bodies = {normalise_payee(name) for name in place.bodies}
    rows: list[dict[str, Any]] = list(transfer_table(r["name"] for r in names))
    for row in rows:
        row["within_place"] = (
            row["council_code"] in place.councils or normalise_payee(row["name"]) in own_bodies
        )
    return rows


def _themes(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Spend and concentration by theme, largest first, the unmapped row always last."""
    rows = _dicts(
        con,
        f"""
        {_PAY},
        totals AS (
            SELECT theme, count(*) AS payments, sum(amount_net) AS amount,
                   coalesce(sum(amount_net) FILTER (WHERE decided_by = 'service_area'), 0)
                       AS by_service_area,
                   coalesce(sum(amount_net) FILTER (WHERE redacted), 0) AS redacted_amount,
                   coalesce(sum(amount_net) FILTER (WHERE transfer_kind IS NOT NULL), 0)
                       AS transfer_amount
            FROM pay GROUP BY theme
        ),
        per_supplier AS (
            SELECT theme, supplier_key, sum(amount_net) AS value
            FROM pay WHERE supplier_key IS NOT NULL AND NOT transfer_excluded
            GROUP BY ALL HAVING sum(amount_net) > 0
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY theme ORDER BY value DESC, supplier_key)
                          AS rank,
                      sum(value) OVER (PARTITION BY theme) AS supplier_value
            FROM per_supplier
        ),
        concentration AS (
            SELECT theme, sum(power(value * 100.0 / supplier_value, 2)) AS hhi,
                   sum(value) FILTER (WHERE rank = 1) / any_value(supplier_value) AS top1_share,
                   sum(value) FILTER (WHERE rank <= 3) / any_value(supplier_value) AS top3_share,
                   count(*) AS distinct_suppliers
            FROM ranked GROUP BY theme
        ),
        place_total AS (SELECT sum(amount_net) AS total FROM pay)
        SELECT t.theme, t.payments, round(t.amount, 2) AS amount,
               CASE WHEN place_total.total <> 0 THEN t.amount / place_total.total END
                   AS share_of_total,
               round(t.by_service_area, 2) AS by_service_area,
               coalesce(c.distinct_suppliers, 0) AS distinct_suppliers,
               c.hhi, c.top1_share, c.top3_share,
               round(t.redacted_amount, 2) AS redacted_amount,
               round(t.transfer_amount, 2) AS transfer_amount
        FROM totals t CROSS JOIN place_total LEFT JOIN concentration c USING (theme)
        ORDER BY t.theme = '{UNMAPPED}', t.amount DESC, t.theme
        """,
        params,
    )
    if not any(r["theme"] == UNMAPPED for r in rows):
        rows.append(_empty_theme(UNMAPPED))
    return rows


def _empty_theme(theme: str) -> dict[str, Any]:
    return {
        "theme": theme,
        "payments": 0,
        "amount": 0.0,
        "share_of_total": None,
        "by_service_area": 0.0,
        "distinct_suppliers": 0,
        "hhi": None,
        "top1_share": None,
        "top3_share": None,
        "redacted_amount": 0.0,
        "transfer_amount": 0.0,
    }


def _threshold(
    con: duckdb.DuckDBPyConnection, place: Place, min_amount: float | None, like_for_like: bool
) -> dict[str, Any]:
    """The minimum absolute net amount counted, and why."""
    if like_for_like and min_amount is not None:
        raise ValueError("give min_amount or like_for_like, not both")
    if like_for_like:
        amount, bodies = like_for_like_threshold(con, place)
        return {
            "min_amount": amount,
            "basis": "like for like (the highest published threshold of the place's bodies, "
            "card files left out)",
            "set_by": bodies,
        }
    if min_amount is not None:
        if min_amount < 0:
            raise ValueError(f"min_amount must be 0 or more, not {min_amount}")
        return {"min_amount": float(min_amount), "basis": "as given", "set_by": []}
    return {"min_amount": 0.0, "basis": "every published payment", "set_by": []}


def place_view(
    con: duckdb.DuckDBPyConnection,
    place: Place,
    *,
    top: int = 20,
    min_amount: float | None = None,
    like_for_like: bool = False,
    theme_rules: Sequence[ThemeRule] | None = None,
    include_transfers: bool = False,
) -> dict[str, Any]:
    """Every section of the whole-place view as JSON-ready data.

    ``min_amount`` counts only payments of at least that absolute net amount;
    ``like_for_like`` sets it to the highest published threshold of the place's bodies.
    ``theme_rules`` default to the bundled ones (``spend.themes.load_rules``).
    ``include_transfers`` counts payments to other public bodies as supplier spend (in the
    top suppliers, the themes' concentration and the shares); by default they are left
    out of those and shown on their own (``transfers``, ``transfer_payees``).
    """
    codes = sorted(place.councils)
    threshold = _threshold(con, place, min_amount, like_for_like)
    params: dict[str, Any] = {
        "codes": codes,
        "bodies": place_bodies(place),
        "body_names": _body_names(place),
        "min_amount": threshold["min_amount"],
        "include_transfers": bool(include_transfers),
    }
    rules = load_rules() if theme_rules is None else theme_rules
    params["themes"] = _theme_labels(con, params, rules)
    params["transfers"] = _transfer_payees(con, params, place)
    _make_payments_table(con, params)
    try:
        return _sections(con, place, params, threshold, top)
    finally:
        con.execute("DROP TABLE IF EXISTS _place_pay")


def _sections(
    con: duckdb.DuckDBPyConnection,
    place: Place,
    params: dict[str, Any],
    threshold: dict[str, Any],
    top: int,
) -> dict[str, Any]:
    codes = params["codes"]
    bodies = _dicts(
        con,
        f"""
        {_PAY},
        files AS (
            SELECT source_file, published_threshold, threshold_basis
            FROM ingested_files WHERE kind = 'spend'
        )
        SELECT any_value(p.code) AS code, any_value(p.body) AS body,
               count(DISTINCT p.source_file) AS files, count(*) AS payments,
               round(sum(p.amount_net), 2) AS amount,
               round(coalesce(sum(p.amount_net) FILTER (WHERE p.transfer_kind IS NOT NULL), 0), 2)
                   AS transfer_amount,
               min(p.payment_date)::VARCHAR AS first_date,
               max(p.payment_date)::VARCHAR AS last_date,
               coalesce(min(f.published_threshold) FILTER (WHERE f.threshold_basis <> 'card file'),
                        min(f.published_threshold)) AS published_threshold
        FROM pay p LEFT JOIN files f USING (source_file)
        GROUP BY p.body_key ORDER BY amount DESC, p.body_key
        """,
        params,
    )
    months = _dicts(
        con,
        f"""
        {_PAY}
        SELECT strftime(date_trunc('month', payment_date), '%Y-%m') AS month,
               any_value(code) AS code, any_value(body) AS body, count(*) AS payments,
               round(sum(amount_net), 2) AS amount
        FROM pay GROUP BY date_trunc('month', payment_date), body_key
        ORDER BY month, body_key
        """,
        params,
    )
    years = _dicts(
        con,
        f"""
        {_PAY}
        SELECT {_fy_label("fy_start")} AS financial_year, any_value(code) AS code,
               any_value(body) AS body, count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay GROUP BY fy_start, body_key ORDER BY fy_start, body_key
        """,
        params,
    )
    suppliers = _dicts(
        con,
        f"""
        {_PAY}
        SELECT supplier_key, mode(supplier_name) AS supplier_name, any_value(org_id) AS org_id,
               any_value(method) AS match_method, any_value(scale) AS scale,
               any_value(known_vcse) AS vcse, any_value(supplier_la) AS supplier_la,
               count(DISTINCT body_key) AS bodies,
               list(DISTINCT body_key ORDER BY body_key) AS body_codes,
               count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay WHERE supplier_key IS NOT NULL AND NOT transfer_excluded
        GROUP BY supplier_key ORDER BY amount DESC, supplier_key LIMIT {int(top)}
        """,
        params,
    )
    (shares_row,) = _dicts(
        con,
        f"""
        {_PAY},
        v AS (
            -- ``counted``: the amount the shares are of; NULL for a transfer left out.
            SELECT *, CASE WHEN vcse_flag OR known_vcse THEN true
                           WHEN vcse_flag IS NOT NULL OR known_vcse IS NOT NULL THEN false
                      END AS is_vcse,
                   CASE WHEN NOT transfer_excluded THEN amount_net END AS counted
            FROM pay
        )
        SELECT coalesce(sum(amount_net), 0) AS total,
               coalesce(sum(amount_net) FILTER (WHERE transfer_kind IS NOT NULL), 0)
                   AS transfers,
               coalesce(sum(amount_net) FILTER (WHERE transfer_kind IS NULL), 0) AS suppliers,
               coalesce(sum(counted), 0) AS counted,
               sum(counted) FILTER (WHERE scale = 'sme') AS sme,
               sum(counted) FILTER (WHERE scale IS NOT NULL) AS known_scale,
               sum(counted) FILTER (WHERE is_vcse) AS vcse,
               sum(counted) FILTER (WHERE is_vcse IS NOT NULL) AS known_vcse,
               sum(counted) FILTER (WHERE supplier_la IN (SELECT unnest($codes::VARCHAR[])))
                   AS local,
               sum(counted) FILTER (WHERE supplier_la IS NOT NULL) AS known_location,
               sum(counted) FILTER (WHERE org_id IS NOT NULL) AS resolved,
               sum(counted) FILTER (WHERE redacted) AS redacted
        FROM v
        """,
        params,
    )
    counted = float(shares_row["counted"])
    shares = {
        "total_amount": round(float(shares_row["total"]), 2),
        "transfer_amount": round(float(shares_row["transfers"]), 2),
        "supplier_amount": round(float(shares_row["suppliers"]), 2),
        "sme_share": _share(shares_row["sme"], shares_row["known_scale"]),
        "known_scale_coverage": _share(shares_row["known_scale"] or 0.0, counted),
        "vcse_share": _share(shares_row["vcse"], shares_row["known_vcse"]),
        "known_vcse_coverage": _share(shares_row["known_vcse"] or 0.0, counted),
        "local_share": _share(shares_row["local"], shares_row["known_location"]),
        "known_location_coverage": _share(shares_row["known_location"] or 0.0, counted),
        "resolved_coverage": _share(shares_row["resolved"] or 0.0, counted),
        "redacted_share": _share(shares_row["redacted"] or 0.0, counted),
    }
    themes = _themes(con, params)
    theme_years = _dicts(
        con,
        f"""
        {_PAY}
        SELECT theme, {_fy_label("fy_start")} AS financial_year, count(*) AS payments,
               round(sum(amount_net), 2) AS amount
        FROM pay GROUP BY theme, fy_start
        ORDER BY theme = '{UNMAPPED}', theme, fy_start
        """,
        params,
    )
    unmapped = _dicts(
        con,
        f"""
        {_PAY}
        SELECT service_area, expense_type, coalesce(rule, 'no rule') AS rule,
               count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay WHERE theme = '{UNMAPPED}'
        GROUP BY ALL ORDER BY abs(sum(amount_net)) DESC, service_area, expense_type
        LIMIT {int(top)}
        """,
        params,
    )
    transfers = [
        {"kind": row["kind"], "label": KIND_LABELS[row["kind"]], **row}
        for row in _dicts(
            con,
            f"""
            {_PAY},
            place_total AS (SELECT sum(amount_net) AS total FROM pay)
            SELECT transfer_kind AS kind, count(*) AS payments,
                   count(DISTINCT supplier_name_normalised) AS payees,
                   round(sum(amount_net), 2) AS amount,
                   CASE WHEN any_value(place_total.total) <> 0
                        THEN sum(amount_net) / any_value(place_total.total) END AS share_of_total,
                   round(coalesce(sum(amount_net) FILTER (WHERE transfer_within_place), 0), 2)
                       AS within_place_amount
            FROM pay CROSS JOIN place_total WHERE transfer_kind IS NOT NULL
            GROUP BY transfer_kind ORDER BY sum(amount_net) DESC, transfer_kind
            """,
            params,
        )
    ]
    transfer_payees = _dicts(
        con,
        f"""
        {_PAY}
        SELECT supplier_name_normalised AS payee_key, mode(supplier_name) AS payee,
               any_value(transfer_kind) AS kind, any_value(transfer_rule) AS rule,
               any_value(transfer_council) AS council_code,
               bool_or(transfer_within_place) AS within_place,
               count(DISTINCT body_key) AS bodies,
               list(DISTINCT body_key ORDER BY body_key) AS body_codes,
               count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay WHERE transfer_kind IS NOT NULL
        GROUP BY supplier_name_normalised ORDER BY amount DESC, payee_key LIMIT {int(top)}
        """,
        params,
    )
    contracted = _dicts(
        con,
        f"""
        {_PAY},
        paid AS (
            SELECT code, {_fy_label("fy_start")} AS financial_year, count(*) AS payments,
                   sum(amount_net) AS paid
            FROM pay WHERE code IN (SELECT unnest($codes::VARCHAR[]))
            GROUP BY code, fy_start
        ),
        awarded AS (
            SELECT o.la_registry_code AS code, {_fy("a.award_date")} AS financial_year,
                   count(*) AS awards, sum(a.value) AS contracted
            FROM awards a
            JOIN processes pr USING (ocid)
            JOIN organisations o ON o.org_id = pr.buyer_org_id
            WHERE o.la_registry_code IN (SELECT unnest($codes::VARCHAR[])) AND a.currency = 'GBP'
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
        params,
    )
    coverage = _coverage(con, place, params)
    return {
        "place": place.name,
        "source": place.source,
        "councils": codes,
        "named_bodies": sorted(place.bodies),
        "threshold": threshold,
        "transfers_included": params["include_transfers"],
        "bodies": bodies,
        "coverage": coverage,
        "shares": shares,
        "years": years,
        "months": months,
        "themes": themes,
        "theme_years": theme_years,
        "unmapped": unmapped,
        "suppliers": suppliers,
        "transfers": transfers,
        "transfer_payees": transfer_payees,
        "contracted_vs_paid": contracted,
        "notes": _notes(coverage, threshold, shares, params["include_transfers"]),
    }


def _coverage(
    con: duckdb.DuckDBPyConnection, place: Place, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each council of the place, then each named body: its spend files and the months they
    cover (whatever the threshold: this is about the files), a body without files too."""
    found = {
        row["body_key"]: row
        for row in _dicts(
            con,
            f"""
            WITH named AS (
                SELECT unnest($body_names::STRUCT(key VARCHAR, name VARCHAR)[],
                              recursive := true)
            ),
            p AS (
                SELECT p.source_file, coalesce(n.name, p.body) AS body,
                       coalesce(p.body_la_registry_code, n.name, p.body) AS body_key,
                       date_trunc('month', p.payment_date) AS month
                FROM spend_payments p
                LEFT JOIN named n
                       ON p.body_la_registry_code IS NULL AND n.key = lower(trim(p.body))
                WHERE {_IN_PLACE}
            ),
            per_month AS (
                SELECT body_key, source_file, month, count(*) AS n,
                       sum(count(*)) OVER (PARTITION BY body_key, source_file) AS file_n,
                       max(count(*)) OVER (PARTITION BY body_key, source_file) AS top_n
                FROM p GROUP BY body_key, source_file, month
            ),
            names AS (SELECT body_key, mode(body) AS body FROM p GROUP BY body_key)
            SELECT m.body_key, any_value(names.body) AS body,
                   count(DISTINCT m.source_file) AS files, sum(m.n)::BIGINT AS payments,
                   -- A file's busiest month counts even when the file spreads thinly.
                   list(DISTINCT strftime(m.month, '%Y-%m'))
                       FILTER (WHERE m.n >= $covered_share * m.file_n OR m.n = m.top_n)
                       AS months
            FROM per_month m JOIN names USING (body_key)
            GROUP BY m.body_key
            """,
            {**params, "covered_share": COVERED_MONTH_SHARE},
        )
    }
    rows = []
    for code in sorted(place.councils):
        council = local_authority(code)
        name = council.official_name if council is not None else code
        rows.append(_coverage_row(code, name, found.get(code)))
    for named in _body_names(place):
        rows.append(_coverage_row(None, named["name"], found.get(named["name"])))
    return rows


def _coverage_row(code: str | None, name: str, found: dict[str, Any] | None) -> dict[str, Any]:
    months = sorted(found["months"] or []) if found else []
    first, last = (months[0], months[-1]) if months else (None, None)
    covered = set(months)
    missing = [m for m in _months_between(first, last) if m not in covered]
    return {
        "code": code,
        "body": found["body"] if found else name,
        "files": int(found["files"]) if found else 0,
        "payments": int(found["payments"]) if found else 0,
        "first_month": first,
        "last_month": last,
        "months_covered": len(months),
        "missing_months": missing,
        "gaps": _runs(missing),
    }


def _runs(months: list[str]) -> list[str]:
    """Sorted months as runs of consecutive months: ["2011-01 to 2012-05", "2012-07"]."""
    runs: list[list[str]] = []
    for month in months:
        if runs and _next_month(runs[-1][-1]) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return [run[0] if len(run) == 1 else f"{run[0]} to {run[-1]}" for run in runs]


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + (number == 12):04d}-{number % 12 + 1:02d}"


def _months_between(first: str | None, last: str | None) -> Iterable[str]:
    """Every month from ``first`` to ``last`` ("YYYY-MM"), both included."""
    if first is None or last is None:
        return
    month = first
    while month <= last:
        yield month
        month = _next_month(month)


def _notes(
    coverage: list[dict[str, Any]],
    threshold: dict[str, Any],
    shares: dict[str, Any],
    include_transfers: bool,
) -> list[str]:
    missing = [row["body"] for row in coverage if not row["files"]]
    gaps = [
        f"{row['body']} ({', '.join(row['gaps'])})" for row in coverage if row["missing_months"]
    ]
    counted = (
        "every published payment"
        if not threshold["min_amount"]
        else f"payments of £{threshold['min_amount']:,.2f} or more (net, either sign)"
        + (f", the threshold of {', '.join(threshold['set_by'])}" if threshold["set_by"] else "")
    )
    transfers = (
        f"Transfers to other public bodies (other councils, combined authorities, the "
        f"Secretary of State, HMRC, police, fire, NHS bodies, pension funds: "
        f"reference/spend-transfers.csv), £{shares['transfer_amount']:,.0f}, are "
        + (
            "counted as suppliers here (--include-transfers)."
            if include_transfers
            else "left out of the top suppliers, the themes' concentration and the shares, "
            "and shown on their own; --include-transfers counts them as suppliers."
        )
    )
    notes = [
        f"Net of VAT in GBP; credit notes are negative. Counted: {counted}. Bodies publish "
        "at different thresholds (published_threshold: 0 means every payment); "
        "--like-for-like compares them at the highest.",
        "Shares are of spend where the supplier's scale, VCSE status or place is known; "
        "each *_coverage is that known part of the spend the shares are of (supplier_amount, "
        "or total_amount with transfers included).",
        transfers,
        "Themes: the contract themes, from each payment's expense type, else its service area "
        "(reference/spend-themes.csv, plus --spend-themes). 'unmapped' holds levies, precepts, "
        "loans and other transfers, and lines no rule matches. Concentration is over suppliers' "
        "net payments in the theme, redacted payees and transfers left out (redacted_amount, "
        "transfer_amount).",
        "Contracted: awards (OCDS) of buyers located in the council, by award date; "
        "non-council bodies are not in this table.",
    ]
    if missing:
        notes.append(f"No spend loaded for: {', '.join(missing)}.")
    if gaps:
        notes.append(f"Months missing from the spend files loaded: {'; '.join(gaps)}.")
    return notes
