"""The metrics registry: families composed by ``run`` (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from locality.domain.places import Place, builtin_places
from locality.metrics.dimensions import DIMENSIONS, FILTERABLE, PAYMENT_DIMENSIONS, Dimension
from locality.metrics.facts import (
    BODY_NAMES_SCHEMA,
    THEME_LABELS_SCHEMA,
    TRANSFER_PAYEES_SCHEMA,
    SpendTables,
    Tables,
    award_facts,
    payment_facts,
)

# A family: (grouped facts, key columns) -> one row per key with its measures.
Family = Callable[[ir.Table, Sequence[str]], ir.Table]
FAMILIES: dict[str, Family] = {}
# Output order: the headline family first.
FAMILY_ORDER = (
    "spend_reach",
    "frameworks",
    "concentration",
    "contract_shape",
    "competition",
    "quality",
)
# Families over council payments (``payment_facts``), composed by ``run_payments``.
PAYMENT_FAMILIES: dict[str, Family] = {}
PAYMENT_FAMILY_ORDER = ("payment_reach", "payment_concentration")


def family(name: str) -> Callable[[Family], Family]:
    def register(func: Family) -> Family:
        FAMILIES[name] = func
        return func

    return register


def payment_family(name: str) -> Callable[[Family], Family]:
    """Register a family of measures over ``payment_facts`` (council spend)."""

    def register(func: Family) -> Family:
        PAYMENT_FAMILIES[name] = func
        return func

    return register


def keyed_facts(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Facts with the key columns as text, ``unknown`` for nulls (so groups join cleanly)."""
    return facts.mutate(**{k: facts[k].cast("string").fill_null("unknown") for k in keys})


def apply_filters(facts: ir.Table, where: Mapping[str, Sequence[str]] | None) -> ir.Table:
    """Keep rows whose column equals one of the given values (case-insensitive text)."""
    for column, values in (where or {}).items():
        if column not in FILTERABLE:
            raise KeyError(f"cannot filter on {column!r}; choose from: {', '.join(FILTERABLE)}")
        text = facts[column].cast("string").lower()
        facts = facts.filter(text.isin([v.lower() for v in values]))
    return facts


def share(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator, or null when the denominator is zero or null."""
    return ibis.ifelse(
        denominator.isnull() | (denominator == 0),
        ibis.null().cast("float64"),
        numerator.cast("float64") / denominator.cast("float64"),
    )


def join_on_keys(left: ir.Table, right: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Left join on the key columns, keeping one copy of each key."""
    if not keys:
        return left.cross_join(right)
    return left.left_join(right, list(keys)).drop(*(f"{k}_right" for k in keys))


def groups(facts: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Every group present in the facts (the frame each family's measures are joined to)."""
    if not keys:
        return ibis.memtable({"_all": [1]}).select()
    return facts.select(*keys).distinct()


def in_places(facts: ir.Table, places: Sequence[Place]) -> ir.Table:
    """Facts of buyers in any of the places, each row once (a filter, not a grouping)."""
    codes = sorted({code for place in places for code in place.councils})
    return facts.filter(facts.la_registry_code.isin(codes))


def by_place(facts: ir.Table, places: Sequence[Place]) -> ir.Table:
    """Facts labelled with each place their buyer is in (a buyer in two places counts in both).

    A join with a small (place, council) table rather than a union of filtered copies: one
    plan, which Spark in particular needs (15 unions took it a minute).
    """
    pairs = [(place.name, code) for place in places for code in sorted(place.councils)]
    mapping = ibis.memtable(
        {"place": [p for p, _ in pairs], "place_council": [c for _, c in pairs]},
        schema={"place": "string", "place_council": "string"},
    )
    joined = facts.inner_join(mapping, facts.la_registry_code == mapping.place_council)
    return joined.drop("place_council")


def metrics_expr(
    tables: Tables,
    by: str,
    where: Mapping[str, Sequence[str]] | None = None,
    families: Sequence[str] | None = None,
    *,
    places: Sequence[Place] | None = None,
    within: Sequence[Place] | None = None,
) -> ir.Table:
    """The Ibis expression of every family's measures for dimension ``by``.

    ``places`` are the groups of ``by="place"`` (default: every combined authority);
    ``within`` keeps only buyers in those places.
    """
    if by not in DIMENSIONS:
        raise KeyError(f"unknown dimension {by!r}; choose one of: {', '.join(DIMENSIONS)}")
    keys = list(DIMENSIONS[by].keys)
    facts = apply_filters(award_facts(tables), where)
    if within:
        facts = in_places(facts, within)
    if by == "place":
        facts = by_place(facts, places or list(builtin_places().values()))
    facts = keyed_facts(facts, keys)
    names = list(families or [n for n in FAMILY_ORDER if n in FAMILIES])
    return compose(facts, keys, [FAMILIES[name] for name in names])


def compose(facts: ir.Table, keys: Sequence[str], families: Sequence[Family]) -> ir.Table:
    """Every family's measures of the (keyed) facts, one row per group."""
    if not keys:
        parts = [func(facts, keys) for func in families]
        result = parts[0]
        for part in parts[1:]:
            result = result.cross_join(part)
        return result
    result = groups(facts, keys)
    for func in families:
        result = join_on_keys(result, func(facts, keys), keys)
    return result


def duckdb_backend(con: duckdb.DuckDBPyConnection) -> ibis.BaseBackend:
    return ibis.duckdb.from_connection(con)


def run(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    family_name: str | None = None,
    by: str = "buyer",
    *,
    where: Mapping[str, Sequence[str]] | None = None,
    limit: int | None = None,
    order_by: str = "awarded_value",
    places: Sequence[Place] | None = None,
    within: Sequence[Place] | None = None,
) -> pa.Table:
    """Measures by ``by`` as a pyarrow Table (``.to_pandas()`` for pandas).

    ``family_name`` limits the result to one family (plus the keys); ``None`` gives all.
    """
    backend = duckdb_backend(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
    tables = Tables.from_backend(backend)
    families = [family_name] if family_name else None
    if family_name is not None and family_name not in FAMILIES:
        raise KeyError(f"unknown metric family {family_name!r}; known: {', '.join(FAMILIES)}")
    expr = metrics_expr(tables, by, where, families, places=places, within=within)
    keys = list(DIMENSIONS[by].keys)
    if order_by in expr.columns:
        expr = expr.order_by([ibis.desc(expr[order_by]), *keys])
    elif keys:
        expr = expr.order_by(keys)
    if limit:
        expr = expr.limit(limit)
    result: pa.Table = expr.to_pyarrow()
    return result


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


# --- council payments ------------------------------------------------------------------------

# The name ``payment_facts`` reads a store's spend suppliers by (see ``SpendTables``).
SPEND_SUPPLIERS_VIEW = "spend_suppliers"


def duckdb_spend_tables(
    con: duckdb.DuckDBPyConnection, payments: str = "spend_payments"
) -> SpendTables:
    """The spend relations on a DuckDB connection: ``payments`` (a table or view with
    ``spend_payments``' columns) and the suppliers, as a temporary view of
    ``enrich.resolve.SUPPLIERS_SQL`` (temporary objects work on a read-only store too)."""
    from locality.enrich.resolve import SUPPLIERS_SQL

    con.execute(f"CREATE OR REPLACE TEMP VIEW {SPEND_SUPPLIERS_VIEW} AS {SUPPLIERS_SQL}")
    backend = duckdb_backend(con)
    return SpendTables(
        spend_payments=backend.table(payments),
        spend_suppliers=backend.table(SPEND_SUPPLIERS_VIEW),
    )


def labels_table(rows: Sequence[Mapping[str, Any]] | None, schema: ibis.Schema) -> ir.Table | None:
    """A small table of rules applied in Python (themes, transfer payees, body names) as an
    Ibis memtable any engine can join; None stays None."""
    if rows is None:
        return None
    columns = {name: [row.get(name) for row in rows] for name in schema}
    return ibis.memtable(columns, schema=schema)


def payments_expr(facts: ir.Table, by: str, families: Sequence[str] | None = None) -> ir.Table:
    """Every payment family's measures of ``facts`` (``payment_facts``, filtered as the
    caller needs: a place, a threshold) for payment dimension ``by``."""
    if by not in PAYMENT_DIMENSIONS:
        raise KeyError(
            f"unknown payment dimension {by!r}; choose one of: {', '.join(PAYMENT_DIMENSIONS)}"
        )
    names = list(families or [n for n in PAYMENT_FAMILY_ORDER if n in PAYMENT_FAMILIES])
    for name in names:
        if name not in PAYMENT_FAMILIES:
            raise KeyError(f"unknown payment family {name!r}; known: {', '.join(PAYMENT_FAMILIES)}")
    keys = list(PAYMENT_DIMENSIONS[by].keys)
    return compose(keyed_facts(facts, keys), keys, [PAYMENT_FAMILIES[n] for n in names])


def run_payments(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    family_name: str | None = None,
    by: str = "body",
    *,
    themes: Sequence[Mapping[str, Any]] | None = None,
    transfers: Sequence[Mapping[str, Any]] | None = None,
    include_transfers: bool = False,
    min_amount: float = 0.0,
) -> pa.Table:
    """Payment measures by ``by`` over every payment in the store of at least ``min_amount``
    (absolute, net), as a pyarrow Table.

    ``themes`` and ``transfers`` are the rows ``locality.spend`` classifies
    (``spend.place.payment_labels``): without them every payment's theme is unknown and no
    payee is a transfer. On Spark the store's ``spend_suppliers`` must be a table
    (``engine.spark_backend`` exports it).
    """
    if isinstance(con, duckdb.DuckDBPyConnection):
        tables = duckdb_spend_tables(con)
    else:
        tables = SpendTables.from_backend(con)
    facts = payment_facts(
        tables,
        themes=labels_table(themes, THEME_LABELS_SCHEMA),
        transfers=labels_table(transfers, TRANSFER_PAYEES_SCHEMA),
        include_transfers=include_transfers,
    )
    if min_amount:
        facts = facts.filter(facts.amount_net.abs() >= min_amount)
    expr = payments_expr(facts, by, [family_name] if family_name else None)
    keys = list(PAYMENT_DIMENSIONS[by].keys)
    if "paid_amount" in expr.columns:
        expr = expr.order_by([ibis.desc(expr.paid_amount), *keys])
    elif keys:
        expr = expr.order_by(keys)
    result: pa.Table = expr.to_pyarrow()
    return result


# Register the families (each module registers itself on import).
from locality.metrics import (  # noqa: E402, F401
    competition,
    concentration,
    contract_shape,
    frameworks,
    payment_reach,
    quality,
    spend_reach,
)

__all__ = [
    "BODY_NAMES_SCHEMA",
    "DIMENSIONS",
    "FAMILIES",
    "FILTERABLE",
    "PAYMENT_DIMENSIONS",
    "PAYMENT_FAMILIES",
    "Dimension",
    "SpendTables",
    "Tables",
    "apply_filters",
    "compose",
    "duckdb_spend_tables",
    "keyed_facts",
    "labels_table",
    "metrics_expr",
    "payment_family",
    "payments_expr",
    "run",
    "run_payments",
    "share",
]
