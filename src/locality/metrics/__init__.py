"""Locality metrics: one module per family, composed through a registry.

A *dimension* says how rows are grouped (buyer, locality, region, ...); a *family* turns a
dimension into a table of measures. ``docs/metrics.md`` defines every measure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class Dimension:
    """A grouping: SQL expressions over the ``award_facts`` columns, and their output names."""

    name: str
    keys: tuple[tuple[str, str], ...]  # (output column, SQL expression)
    help: str


DIMENSIONS: dict[str, Dimension] = {}
FAMILIES: dict[str, Callable[..., pa.Table]] = {}


def dimension(dim: Dimension) -> Dimension:
    DIMENSIONS[dim.name] = dim
    return dim


def family(name: str) -> Callable[[Callable[..., pa.Table]], Callable[..., pa.Table]]:
    def register(func: Callable[..., pa.Table]) -> Callable[..., pa.Table]:
        FAMILIES[name] = func
        return func

    return register


dimension(
    Dimension(
        "buyer",
        (("buyer_name", "buyer_name"), ("buyer_id", "buyer_org_id")),
        "each buyer organisation",
    )
)
dimension(
    Dimension(
        "locality",
        (("locality", "coalesce(buyer_la_name, 'unknown')"), ("la_code", "buyer_la_code")),
        "the buyer's local authority (from the buyer's postcode)",
    )
)
dimension(
    Dimension(
        "region",
        (("region", "coalesce(buyer_region_name, 'unknown')"),),
        "the buyer's region",
    )
)
dimension(
    Dimension(
        "publisher",
        (("publisher_prefix", "publisher_prefix"),),
        "the OCID prefix of the publishing system",
    )
)
dimension(
    Dimension(
        "year",
        (("year", "year(award_date)"),),
        "calendar year of the award date",
    )
)


def run(
    con: duckdb.DuckDBPyConnection, family_name: str, by: str, limit: int | None = None
) -> pa.Table:
    if family_name not in FAMILIES:
        raise KeyError(f"unknown metric family {family_name!r}; known: {', '.join(FAMILIES)}")
    if by not in DIMENSIONS:
        raise KeyError(f"unknown dimension {by!r}; choose one of: {', '.join(DIMENSIONS)}")
    return FAMILIES[family_name](con, DIMENSIONS[by], limit=limit)


# Register the families.
from locality.metrics import spend_reach as _spend_reach  # noqa: E402,F401
