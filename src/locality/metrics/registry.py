"""The metrics registry: families composed by ``run`` (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from locality.metrics.dimensions import DIMENSIONS, FILTERABLE, Dimension
from locality.metrics.facts import Tables, award_facts
from locality.metrics.places import Place, builtin_places

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


def family(name: str) -> Callable[[Family], Family]:
    def register(func: Family) -> Family:
        FAMILIES[name] = func
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
    if not keys:
        parts = [FAMILIES[name](facts, keys) for name in names]
        result = parts[0]
        for part in parts[1:]:
            result = result.cross_join(part)
        return result
    result = groups(facts, keys)
    for name in names:
        result = join_on_keys(result, FAMILIES[name](facts, keys), keys)
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


# Register the families (each module registers itself on import).
from locality.metrics import (  # noqa: E402, F401
    competition,
    concentration,
    contract_shape,
    frameworks,
    quality,
    spend_reach,
)

__all__ = [
    "DIMENSIONS",
    "FAMILIES",
    "FILTERABLE",
    "Dimension",
    "Tables",
    "apply_filters",
    "keyed_facts",
    "metrics_expr",
    "run",
    "share",
]
