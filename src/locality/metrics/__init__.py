"""Locality metrics: written once with Ibis, run on DuckDB (the store) or on Spark.

A *dimension* names the columns of ``award_facts`` that rows are grouped by (buyer,
locality, region, ...). A *family* (one module each) turns grouped facts into measures.
``run`` composes every family for a dimension and a filter into one table. Council
payments have their own facts (``payment_facts``), dimensions and families
(``payment_reach``, ``payment_concentration``), composed by ``run_payments``.
``docs/metrics.md`` defines every measure.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from locality.metrics.dimensions import DIMENSIONS, FILTERABLE, PAYMENT_DIMENSIONS, Dimension

if TYPE_CHECKING:
    from locality.metrics.registry import (
        FAMILIES,
        FAMILY_ORDER,
        PAYMENT_FAMILIES,
        SpendTables,
        Tables,
        apply_filters,
        by_place,
        compose,
        duckdb_backend,
        duckdb_spend_tables,
        family,
        groups,
        in_places,
        join_on_keys,
        keyed_facts,
        labels_table,
        metrics_expr,
        payment_family,
        payments_expr,
        rows,
        run,
        run_payments,
        share,
    )


def __getattr__(name: str) -> Any:
    """Everything but the dimensions comes from the registry, imported (with Ibis, about
    0.15 s) on first use, so commands that compute no metrics start faster."""
    if name.startswith("__"):
        raise AttributeError(name)
    registry = importlib.import_module("locality.metrics.registry")
    try:
        return getattr(registry, name)
    except AttributeError:
        raise AttributeError(f"module 'locality.metrics' has no attribute {name!r}") from None


__all__ = [
    "DIMENSIONS",
    "FAMILIES",
    "FAMILY_ORDER",
    "FILTERABLE",
    "PAYMENT_DIMENSIONS",
    "PAYMENT_FAMILIES",
    "Dimension",
    "SpendTables",
    "Tables",
    "apply_filters",
    "by_place",
    "compose",
    "duckdb_backend",
    "duckdb_spend_tables",
    "family",
    "groups",
    "in_places",
    "join_on_keys",
    "keyed_facts",
    "labels_table",
    "metrics_expr",
    "payment_family",
    "payments_expr",
    "rows",
    "run",
    "run_payments",
    "share",
]
