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

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from locality.domain.places import Place, body_key, place_body_keys
from locality.domain.thresholds import spend_threshold
from locality.reference import local_authority
from locality.spend.themes import UNMAPPED, ThemeRule, load_rules, theme_table
from locality.spend.transfers import KIND_LABELS, normalise_payee, transfer_table
from locality.store import sql

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


# The measures of ``metrics.payment_reach`` the ``shares`` section shows, in its order.
SHARE_MEASURES = (
    "sme_share",
    "known_scale_coverage",
    "vcse_share",
    "known_vcse_coverage",
    "local_share",
    "known_location_coverage",
    "resolved_coverage",
    "redacted_share",
)
# Every section reads the place's payments, computed once per view (_make_payments_table).
_PAY = "WITH pay AS (SELECT * FROM _place_pay)"
# Temporary names of the view's own relations on the connection (dropped after the view).
_PAY_TABLE = "_place_pay"
_PLACE_VIEW = "_place_payments"  # the place's payments, whatever the threshold
_THEMES_TABLE = "_place_themes"
_TRANSFERS_TABLE = "_place_transfers"
_BODY_NAMES_TABLE = "_place_body_names"
_COUNCILS_TABLE = "_place_councils"
_COUNCILS = {"code": "string"}  # the schema of _COUNCILS_TABLE


def _schema(con: duckdb.DuckDBPyConnection, name: str) -> Any:
    from locality.metrics import duckdb_backend

    return duckdb_backend(con).table(name).schema()


def _place_payments_sql(con: duckdb.DuckDBPyConnection, place: Place) -> str:
    """The place's payments (``metrics.facts.payments_in_place``: councils by registry code,
    other bodies by name) as a SQL query, whatever the threshold."""
    return _compiled_place_payments(
        tuple(sorted(place.councils)),
        tuple(place_body_keys(place)),
        _schema(con, "spend_payments"),
    )


@functools.lru_cache(maxsize=64)
def _compiled_place_payments(
    councils: tuple[str, ...], bodies: tuple[str, ...], schema: Any
) -> str:
    import ibis

    from locality.metrics.facts import payments_in_place

    payments = ibis.table(schema, name="spend_payments")
    return str(ibis.to_sql(payments_in_place(payments, councils, bodies), dialect="duckdb"))


_DUCKDB_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN"}


def _temp_table(
    con: duckdb.DuckDBPyConnection, name: str, rows: Sequence[Mapping[str, Any]], schema: Any
) -> None:
    """Rows as a temporary table with the columns of an Ibis schema (of text and flags),
    passed as one list parameter (no Arrow or pandas conversion on the way)."""
    fields = ", ".join(
        f"{column} {_DUCKDB_TYPES[str(dtype).lstrip('!')]}" for column, dtype in schema.items()
    )
    values = [{column: row.get(column) for column in schema} for row in rows]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS "
        f"SELECT unnest($rows::STRUCT({fields})[], recursive := true)",
        {"rows": values},
    )


def _make_payments_table(
    con: duckdb.DuckDBPyConnection, place_sql: str, params: dict[str, Any]
) -> None:
    """The place's payments over the threshold, once (``metrics.facts.payment_facts``: each
    joined to what is known of its supplier, its theme and, when its payee is a public body,
    the kind of body), as a temporary table for every section: the joins cost more than all
    the sections' sums together (0.1 s a section for West Yorkshire's 340,000 payments).
    Temporary tables and views live in memory, so this works on a read-only store too.

    What differs between places (their payments, the rules' results applied in Python, their
    councils) reaches the query as relations with fixed names, so the facts compile to one
    SQL statement once per process (Ibis takes longer to compile it than DuckDB to run it
    on most places) and DuckDB runs it in place."""
    from locality.metrics import duckdb_spend_tables
    from locality.metrics.facts import (
        BODY_NAMES_SCHEMA,
        THEME_LABELS_SCHEMA,
        TRANSFER_PAYEES_SCHEMA,
    )

    con.execute(f"CREATE OR REPLACE TEMP VIEW {_PLACE_VIEW} AS {place_sql}")
    _temp_table(con, _THEMES_TABLE, params["themes"], THEME_LABELS_SCHEMA)
    _temp_table(con, _TRANSFERS_TABLE, params["transfers"], TRANSFER_PAYEES_SCHEMA)
    _temp_table(con, _BODY_NAMES_TABLE, params["body_names"], BODY_NAMES_SCHEMA)
    _temp_table(con, _COUNCILS_TABLE, [{"code": c} for c in params["codes"]], _COUNCILS)
    tables = duckdb_spend_tables(con, _PLACE_VIEW)
    query = _compiled_facts(
        bool(params["include_transfers"]),
        tables.spend_payments.schema(),
        tables.spend_suppliers.schema(),
    )
    # The threshold is a filter on the payments DuckDB pushes below the joins.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_PAY_TABLE} AS "
        f"SELECT * FROM ({query}) WHERE abs(amount_net) >= $min_amount",
        {"min_amount": params["min_amount"]},
    )


@functools.lru_cache(maxsize=8)
def _compiled_facts(include_transfers: bool, payments: Any, suppliers: Any) -> str:
    """``payment_facts`` of the place's payments as SQL over the relations of fixed names
    ``_make_payments_table`` sets up. Calendar and financial-year labels are left out: the
    sections group on ``fy_start`` and label after grouping (text for every payment is slow).
    """
    import ibis

    from locality.metrics.facts import (
        BODY_NAMES_SCHEMA,
        THEME_LABELS_SCHEMA,
        TRANSFER_PAYEES_SCHEMA,
        SpendTables,
        payment_facts,
    )
    from locality.metrics.registry import SPEND_SUPPLIERS_VIEW

    councils = ibis.table(_COUNCILS, name=_COUNCILS_TABLE)
    facts = payment_facts(
        SpendTables(
            spend_payments=ibis.table(payments, name=_PLACE_VIEW),
            spend_suppliers=ibis.table(suppliers, name=SPEND_SUPPLIERS_VIEW),
        ),
        themes=ibis.table(THEME_LABELS_SCHEMA, name=_THEMES_TABLE),
        transfers=ibis.table(TRANSFER_PAYEES_SCHEMA, name=_TRANSFERS_TABLE),
        body_names=ibis.table(BODY_NAMES_SCHEMA, name=_BODY_NAMES_TABLE),
        include_transfers=include_transfers,
        local_councils=councils.code,
    )
    facts = facts.mutate(theme=facts.theme.fill_null(UNMAPPED)).drop("year", "financial_year")
    return str(ibis.to_sql(facts, dialect="duckdb"))


def _place_bodies_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The place's payments, whatever the threshold, each with the body that paid
    (``metrics.facts.with_bodies``), as a SQL query (after ``_make_payments_table``)."""
    return _compiled_bodies(_schema(con, _PLACE_VIEW))


@functools.lru_cache(maxsize=8)
def _compiled_bodies(payments: Any) -> str:
    import ibis

    from locality.metrics.facts import BODY_NAMES_SCHEMA, with_bodies

    facts = with_bodies(
        ibis.table(payments, name=_PLACE_VIEW),
        ibis.table(BODY_NAMES_SCHEMA, name=_BODY_NAMES_TABLE),
    )
    return str(ibis.to_sql(facts, dialect="duckdb"))


def _drop_payments_table(con: duckdb.DuckDBPyConnection) -> None:
    for table in (_PAY_TABLE, _THEMES_TABLE, _TRANSFERS_TABLE, _BODY_NAMES_TABLE, _COUNCILS_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"DROP VIEW IF EXISTS {_PLACE_VIEW}")


def payment_labels(
    con: duckdb.DuckDBPyConnection | Any, rules: Sequence[ThemeRule] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The theme of every (service area, expense type) of the store's payments and the
    payees that are public bodies (none of them "within" a place), on any engine (a DuckDB
    connection or an Ibis backend): the rows ``metrics.run_payments`` takes as ``themes``
    and ``transfers``. ``rules`` default to the bundled ones."""
    from locality.metrics import duckdb_backend

    backend = duckdb_backend(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
    payments = backend.table("spend_payments")
    pairs = payments.select("service_area", "expense_type").distinct().to_pyarrow().to_pylist()
    named = payments.filter(payments.supplier_name_normalised.notnull())
    names = named.select(name=named.supplier_name_normalised).distinct().to_pyarrow()
    themes = theme_table(
        sorted(
            ((r["service_area"], r["expense_type"]) for r in pairs),
            key=lambda pair: (pair[0] or "", pair[1] or ""),
        ),
        load_rules() if rules is None else rules,
    )
    transfers = [
        {**row, "within_place": False}
        for row in transfer_table(sorted(names.column("name").to_pylist()))
    ]
    return list(themes), transfers


def _body_names(place: Place) -> list[dict[str, str]]:
    """Each named body's match key and the name the places file gives it."""
    names = {body_key(name): name.strip() for name in sorted(place.bodies)}
    return [{"key": key, "name": name} for key, name in sorted(names.items())]


def like_for_like_threshold(
    con: duckdb.DuckDBPyConnection, place: Place
) -> tuple[float, list[str]]:
    """The highest published threshold of the place's non-card spend files, and the bodies
    publishing at it: counting only payments at least that large compares like with like.
    (0.0, []) when the place has no spend."""
    rows = sql.dicts(
        con,
        f"""
        SELECT f.published_threshold AS threshold, list(DISTINCT f.body ORDER BY f.body) AS bodies
        FROM ingested_files f
        WHERE f.kind = 'spend' AND f.published_threshold IS NOT NULL
          AND f.source_file IN (
              SELECT p.source_file FROM ({_place_payments_sql(con, place)}) p WHERE NOT p.is_card
          )
        GROUP BY 1 ORDER BY 1 DESC LIMIT 1
        """,
    )
    return (float(rows[0]["threshold"]), list(rows[0]["bodies"])) if rows else (0.0, [])


def _theme_labels(
    con: duckdb.DuckDBPyConnection, place_sql: str, rules: Sequence[ThemeRule]
) -> list[dict[str, str | None]]:
    """The theme of every (service area, expense type) the place's payments carry."""
    labels = sql.dicts(con, f"SELECT DISTINCT p.service_area, p.expense_type FROM ({place_sql}) p")
    return theme_table(((r["service_area"], r["expense_type"]) for r in labels), rules)


def _transfer_payees(
    con: duckdb.DuckDBPyConnection, place_sql: str, place: Place
) -> list[dict[str, Any]]:
    """Every payee of the place's payments that is a public body (``spend.transfers``), and
    whether it is one of the place's own bodies (a council of the place, or a body its
    places file names): money the place counts again when that body spends it."""
    names = sql.dicts(
        con,
        f"SELECT DISTINCT p.supplier_name_normalised AS name FROM ({place_sql}) p "
        "WHERE p.supplier_name_normalised IS NOT NULL",
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
    totals = sql.dicts(
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
        place_total AS (SELECT sum(amount_net) AS total FROM pay)
        SELECT t.theme, t.payments, round(t.amount, 2) AS amount,
               CASE WHEN place_total.total <> 0 THEN t.amount / place_total.total END
                   AS share_of_total,
               round(t.by_service_area, 2) AS by_service_area,
               round(t.redacted_amount, 2) AS redacted_amount,
               round(t.transfer_amount, 2) AS transfer_amount
        FROM totals t CROSS JOIN place_total
        ORDER BY t.theme = '{UNMAPPED}', t.amount DESC, t.theme
        """,
        params,
    )
    # Each theme's concentration: the registered family (metrics.concentration), the same
    # HHI and top-n as the contract measures.
    concentration = {
        row["theme"]: row for row in _place_measures(con, "payment_concentration", "theme")
    }
    rows = [_theme_row(row, concentration.get(row["theme"])) for row in totals]
    if not any(r["theme"] == UNMAPPED for r in rows):
        rows.append(_empty_theme(UNMAPPED))
    return rows


def _theme_row(totals: dict[str, Any], concentration: dict[str, Any] | None) -> dict[str, Any]:
    c = concentration or {}
    return {
        "theme": totals["theme"],
        "payments": totals["payments"],
        "amount": totals["amount"],
        "share_of_total": totals["share_of_total"],
        "by_service_area": totals["by_service_area"],
        "distinct_suppliers": c.get("distinct_suppliers") or 0,
        "hhi": c.get("hhi"),
        "top1_share": c.get("top1_share"),
        "top3_share": c.get("top3_share"),
        "redacted_amount": totals["redacted_amount"],
        "transfer_amount": totals["transfer_amount"],
    }


def _place_measures(con: duckdb.DuckDBPyConnection, family: str, by: str) -> list[dict[str, Any]]:
    """A registered payment family's measures of the place's payments (``_place_pay``)."""
    from locality.metrics import duckdb_backend

    schema = duckdb_backend(con).table(_PAY_TABLE).schema()
    return sql.dicts(con, _measures_sql(family, by, schema))


@functools.lru_cache(maxsize=32)
def _measures_sql(family: str, by: str, schema: Any) -> str:
    """A payment family's query over ``_place_pay``, compiled once per process: Ibis takes
    longer to compile it (0.1-0.2 s) than DuckDB to run it on a large place."""
    import ibis

    from locality.metrics import payments_expr

    facts = ibis.table(schema, name=_PAY_TABLE)
    return str(ibis.to_sql(payments_expr(facts, by, [family]), dialect="duckdb"))


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
    min_amount = spend_threshold(min_amount, like_for_like)
    if like_for_like:
        amount, bodies = like_for_like_threshold(con, place)
        return {
            "min_amount": amount,
            "basis": "like for like (the highest published threshold of the place's bodies, "
            "card files left out)",
            "set_by": bodies,
        }
    if min_amount is not None:
        return {"min_amount": min_amount, "basis": "as given", "set_by": []}
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
        "bodies": place_body_keys(place),
        "body_names": _body_names(place),
        "min_amount": threshold["min_amount"],
        "include_transfers": bool(include_transfers),
    }
    rules = load_rules() if theme_rules is None else theme_rules
    place_sql = _place_payments_sql(con, place)
    params["themes"] = _theme_labels(con, place_sql, rules)
    params["transfers"] = _transfer_payees(con, place_sql, place)
    try:
        _make_payments_table(con, place_sql, params)
        return _sections(con, place, params, threshold, top)
    finally:
        _drop_payments_table(con)


def _sections(
    con: duckdb.DuckDBPyConnection,
    place: Place,
    params: dict[str, Any],
    threshold: dict[str, Any],
    top: int,
) -> dict[str, Any]:
    codes = params["codes"]
    bodies = sql.dicts(
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
    months = sql.dicts(
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
    years = sql.dicts(
        con,
        f"""
        {_PAY}
        SELECT {_fy_label("fy_start")} AS financial_year, any_value(code) AS code,
               any_value(body) AS body, count(*) AS payments, round(sum(amount_net), 2) AS amount
        FROM pay GROUP BY fy_start, body_key ORDER BY fy_start, body_key
        """,
        params,
    )
    suppliers = sql.dicts(
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
    # SME, VCSE and local shares with their coverage: the registered family
    # (metrics.payment_reach) over the place's payments, local meaning the place's councils.
    (reach,) = _place_measures(con, "payment_reach", "all")
    shares = {
        "total_amount": round(float(reach["paid_amount"]), 2),
        "transfer_amount": round(float(reach["transfer_amount"]), 2),
        "supplier_amount": round(float(reach["supplier_amount"]), 2),
        **{name: reach[name] for name in SHARE_MEASURES},
    }
    themes = _themes(con, params)
    theme_years = sql.dicts(
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
    unmapped = sql.dicts(
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
        for row in sql.dicts(
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
    transfer_payees = sql.dicts(
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
    contracted = sql.dicts(
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
        for row in sql.dicts(
            con,
            f"""
            WITH p AS (
                SELECT p.source_file, p.body_name AS body, p.body_key,
                       date_trunc('month', p.payment_date) AS month
                FROM ({_place_bodies_sql(con)}) p
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
