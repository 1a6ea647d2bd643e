"""Small helpers over the DuckDB connection.

DuckDB 2.x refuses new work on a connection while a result from ``execute()`` is
unfinished (a ``fetchone()`` of a one-row result still leaves it open). Every statement
here is therefore run to its end.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def one(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> tuple[Any, ...]:
    """The single row of a query (an aggregate, a count)."""
    result = rows(con, sql, params)
    if len(result) != 1:
        raise ValueError(f"expected one row, got {len(result)}")
    return result[0]
