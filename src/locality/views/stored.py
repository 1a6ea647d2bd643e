"""What ``locality.views.precompute`` stored in the store, read back: the dashboard's figures
precomputed at ingest, and whether they are current.

The server (``queries.Store``) asks ``stored_keys`` once per store state: the keys of
``dashboard_results`` when ``dashboard_state.data_version`` is the store's ``data_version``,
else none (then every figure is computed on request). Values are JSON with Python's types
tagged (``encode``/``decode``). ``flag_rows``, ``slice_measures`` and ``buyer_risk_row`` read
the red-flag index and the buyer and supplier pages' measures from their tables.
``data_version`` is every table's row count and highest row id (the dashboard's own tables
apart: a load deletes and inserts rows, and DuckDB gives inserted rows new ids), with the
locality version, ``PRECOMPUTE_VERSION`` and a fingerprint of the package's code and rules
(``code_version``), so a store changed by any command, or read by another locality, is
never shown stale figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from locality import __version__
from locality.store import sql

# Bump when what is stored, or how, changes: stores refreshed before are then stale.
PRECOMPUTE_VERSION = 1
RESULTS = "dashboard_results"
STATE = "dashboard_state"
FLAGS = "dashboard_flags"


# --- values as JSON, types kept -------------------------------------------------------------

_TAG = "$"


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data, tagging what JSON would lose: tuples, dates, times,
    decimals, non-finite floats, and dicts whose keys are not all text (or start with $)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG + "f": repr(value)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG + "t": [encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith(_TAG) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {_TAG + "o": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, dt.datetime):
        return {_TAG + "dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG + "d": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG + "dec": str(value)}
    if isinstance(value, set | frozenset):
        return {_TAG + "s": sorted((encode(v) for v in value), key=repr)}
    raise TypeError(f"cannot store a {type(value).__name__}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    _TAG + "f": float,
    _TAG + "t": lambda v: tuple(decode(x) for x in v),
    _TAG + "o": lambda v: {decode(k): decode(x) for k, x in v},
    _TAG + "dt": dt.datetime.fromisoformat,
    _TAG + "d": dt.date.fromisoformat,
    _TAG + "dec": Decimal,
    _TAG + "s": lambda v: {decode(x) for x in v},
}


def decode(data: Any) -> Any:
    """The value ``encode`` made ``data`` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if len(data) == 1:
            ((tag, inner),) = data.items()
            if tag in _DECODERS:
                return _DECODERS[tag](inner)
        return {k: decode(v) for k, v in data.items()}
    return data


def dumps(value: Any) -> str | None:
    """``value`` as stored text, or None when it would not read back equal (a NaN, a type
    JSON cannot carry): such a value is left to be computed on request."""
    try:
        text = orjson.dumps(encode(value)).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None
    return text if loads(text) == value else None


def loads(text: str | bytes) -> Any:
    return decode(orjson.loads(text))


def key_text(key: Sequence[Any]) -> str:
    """A cache key (a tuple of text, numbers, None and tuples) as the stored key."""
    return orjson.dumps(encode(tuple(key))).decode()


# --- the store's data version ----------------------------------------------------------------


@functools.cache
def code_version() -> str:
    """A fingerprint of the code and rules the figures are computed by: every ``.py``,
    ``.toml`` and ``.csv`` file of the installed package (a changed measure, threshold or
    theme rule makes stored figures stale, though the version number did not move)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml", ".csv") and path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of the store's data: each table's row count and highest row id (the
    dashboard's own tables apart), the locality version and ``PRECOMPUTE_VERSION``."""
    tables = [
        name
        for (name,) in sql.rows(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND database_name = current_database() AND NOT temporary "
            "AND table_name NOT LIKE 'dashboard\\_%' ESCAPE '\\' ORDER BY table_name",
        )
    ]
    parts: list[Any] = [__version__, PRECOMPUTE_VERSION, code_version()]
    if tables:
        union = " UNION ALL ".join(
            f"SELECT '{t}' AS t, count(*) AS n, max(rowid) AS r FROM \"{t}\"" for t in tables
        )
        parts += [list(row) for row in sql.rows(con, f"SELECT * FROM ({union}) ORDER BY t")]
    return hashlib.blake2b(orjson.dumps(parts), digest_size=16).hexdigest()


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    found = sql.one(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND database_name = current_database() AND table_name IN (?, ?)",
        [RESULTS, STATE],
    )[0]
    return bool(found == 2)


def state(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The last refresh: ``data_version``, ``refreshed_at``, ``seconds``, ``results``,
    ``places`` and ``current`` (made from the data the store holds now); None if never."""
    if not _has_tables(con):
        return None
    found = sql.dicts(con, f"SELECT * FROM {STATE}")
    if not found:
        return None
    row = found[0]
    return {**row, "current": row["data_version"] == data_version(con)}


def stored_keys(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The keys of the stored results the server may serve: none when they are absent or
    were made from other data than the store holds now."""
    st = state(con)
    if st is None or not st["current"]:
        return frozenset()
    return frozenset(k for (k,) in sql.rows(con, f"SELECT key FROM {RESULTS}"))


def flag_rows(
    con: duckdb.DuckDBPyConnection, column: str, values: Sequence[str]
) -> list[tuple[int, dict[str, Any]]]:
    """The stored red-flag rows whose ``column`` (``buyer_id`` or ``ocid``) is one of
    ``values``, with their rank, most severe first."""
    if column not in ("buyer_id", "ocid"):
        raise ValueError(f"flags are stored by buyer_id or ocid, not {column!r}")
    if not values:
        return []
    found = sql.rows(
        con,
        f"SELECT rank, row FROM {FLAGS} WHERE {column} IN (SELECT unnest(?)) ORDER BY rank",
        [list(values)],
    )
    return [(rank, loads(row)) for rank, row in found]


def slice_table(column: str, by: str) -> str:
    """The table of a slice's measures (``queries.SLICES``): buyer_id, all ->
    ``dashboard_slice_buyer_all``."""
    return f"dashboard_slice_{column.removesuffix('_id')}_{by}"


RISK_TABLE = "dashboard_slice_buyer_risk"
# The stored key of the measures of nothing (``--by all`` of an organisation with no counted
# award): the same whatever the filter.
EMPTY_ALL = ("slice-empty", "all")


def _arrow(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any]) -> pa.Table:
    table = con.sql(query, params=params).to_arrow_table()
    if table is None:  # pragma: no cover - a SELECT always has a result
        raise LookupError(query)
    return table


def slice_measures(
    con: duckdb.DuckDBPyConnection, column: str, by: str, limit: int | None, value: str
) -> tuple[list[str], list[dict[str, Any]]] | None:
    """``metrics.run(con, None, by, where={column: [value]}, limit=limit)`` as (columns,
    rows), read from the slice ``refresh`` stored (rows of every organisation, in order);
    None when it cannot say (the measures of nothing were not stored)."""
    found = _arrow(
        con,
        f"SELECT * EXCLUDE (_key, _rank) FROM {slice_table(column, by)} "
        "WHERE _key = ? ORDER BY _rank",
        [value.lower()],  # run's filters compare case-insensitively (apply_filters)
    )
    if found.num_rows == 0 and by == "all":
        stored, empty = read(con, key_text(EMPTY_ALL))
        if not stored:
            return None  # computed on request
        columns, rows = empty
        return list(columns), list(rows)
    rows = found.to_pylist()
    return found.column_names, rows[:limit] if limit else rows


def buyer_risk_row(con: duckdb.DuckDBPyConnection, org_id: str) -> dict[str, Any] | None:
    """The first row of ``flags.buyer_risk`` whose ``buyer_id`` is ``org_id``, stored."""
    found = _arrow(
        con,
        f"SELECT * EXCLUDE (_key, _rank) FROM {RISK_TABLE} WHERE _key = ? ORDER BY _rank LIMIT 1",
        [org_id],
    )
    rows = found.to_pylist()
    return rows[0] if rows else None


def read(con: duckdb.DuckDBPyConnection, key: str) -> tuple[bool, Any]:
    """(found, value) of one stored result."""
    found = sql.rows(con, f"SELECT value FROM {RESULTS} WHERE key = ?", [key])
    if not found:
        return False, None
    return True, loads(found[0][0])


def needs_refresh_message(con: duckdb.DuckDBPyConnection) -> str | None:
    """What to say when the dashboard's results are absent or stale, else None."""
    st = state(con)
    if st is None:
        return "the dashboard's figures are not precomputed: run `locality refresh`"
    if not st["current"]:
        return "the dashboard's figures are older than the data: run `locality refresh`"
    return None
