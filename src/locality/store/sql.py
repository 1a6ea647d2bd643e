"""Small helpers over the DuckDB connection.

DuckDB 2.x refuses new work on a connection while a result from ``execute()`` is
unfinished (a ``fetchone()`` of a one-row result still leaves it open). Every statement
here is therefore run to its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> None:
    """Execute a statement whose result is not needed."""
    con.execute(sql, params).complete() if params is not None else con.execute(sql).complete()


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    return (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )


def dicts(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A query's rows as dicts keyed by column name. Named parameters (a mapping) are passed
    only where the query names them (``$name``): DuckDB refuses parameters a query does not
    use, and one mapping often serves several queries."""
    bound: list[Any] | dict[str, Any] | None = None
    if isinstance(params, Mapping):
        bound = {name: value for name, value in params.items() if f"${name}" in sql}
    elif params is not None:
        bound = list(params)
    result = con.execute(sql, bound) if bound is not None else con.execute(sql)
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def one(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> tuple[Any, ...]:
    """The single row of a query (an aggregate, a count)."""
    result = rows(con, sql, params)
    if len(result) != 1:
        raise ValueError(f"expected one row, got {len(result)}")
    return result[0]
