"""What the dashboard shows, computed when the data changes rather than when it is asked for.

Computing a place's figures on request costs seconds (every measure family composed by Ibis,
then DuckDB planning one large statement), and the red-flag index more: the first visitor
after ``locality serve`` started waited for it. So ``refresh(con)`` computes, after every
load (``load``: ingest, enrich, then refresh; ``locality ingest``, ``locality fetch`` and
``locality refresh`` run it), what the pages need:

* the home page's figures and what the store holds (``locality status``);
* the red-flag index (every flagged process, most severe first), as rows of
  ``dashboard_flags`` by buyer and process, which the buyer and process pages read;
* every place's page (each combined authority and current council, with or without data),
  its comparison row, and its council spend page when the store holds its bodies' files;
* the buyer and supplier pages' measures of every organisation, and every buyer's risk, as
  tables (``dashboard_slice_*``) the pages read one organisation's rows from.

Place measures are computed for every place at once (one statement per dimension, facts
joined to a (place, council) table as ``metrics.registry.by_place`` does for
``--by place``) and split by place, rather than one statement per place; the page is then
assembled by the same ``locality.views.queries`` functions the server runs, from those
results. A place no counted award reaches gets the measures of an empty set, computed once.

The results are rows of ``dashboard_results``: the view layer's cache key (JSON) and the
value, as JSON with Python's types tagged (``stored.encode``), kept only when it reads back
equal to what was computed. ``dashboard_state`` records the store's ``data_version`` they
were made from; the server (``queries.Store``, reading through ``views.stored``) serves a
stored result only while the store's version is still that one, and otherwise computes on
request as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from locality.domain.places import Place
from locality.domain.places import resolve as resolve_place
from locality.ingest.pipeline import IngestSummary, ProgressCallback
from locality.store import sql
from locality.views.stored import (
    EMPTY_ALL,
    FLAGS,
    PRECOMPUTE_VERSION,
    RESULTS,
    RISK_TABLE,
    STATE,
    buyer_risk_row,
    data_version,
    decode,
    dumps,
    encode,
    flag_rows,
    key_text,
    loads,
    needs_refresh_message,
    read,
    slice_measures,
    slice_table,
    state,
    stored_keys,
)

# The cache keys (their first element) a refresh stores: pages and the figures several
# pages share. Intermediate results (a place's measures, its buyers) are inside its page.
STORED_KINDS = frozenset(
    {"status", "place-page", "compare-row", "spend-page", "orgs", "network-page"}
)


def _stored(key: Sequence[Any]) -> bool:
    """Whether a refresh stores the result of this cache key: a page, a figure several pages
    share, or measures over the whole store (the home page's, ``/api/metrics?by=...``)."""
    if not key:
        return False
    if key[0] == "metrics":
        return key[3] == () and key[4] == ()  # no filter, not within a place
    return key[0] in STORED_KINDS


def filter_measures(
    con: duckdb.DuckDBPyConnection,
    column: str,
    by: str,
    limit: int | None,
    *,
    blank_table: pa.Table | None = None,
) -> Any:
    """``metrics.run(con, None, by, where={column: [x]}, limit=limit)`` for every value ``x``
    of ``column`` at once, as a pyarrow table with ``_key`` (the value, lower case: a filter
    is case-insensitive) and ``_rank`` (the row's place in ``run``'s order for that value)."""
    import ibis

    from locality.metrics.dimensions import DIMENSIONS
    from locality.metrics.registry import compose, keyed_facts

    keys = list(DIMENSIONS[by].keys)
    facts = _award_facts(con)
    facts = facts.filter(facts[column].notnull())
    facts = keyed_facts(facts.mutate(_key=facts[column].cast("string").lower()), keys)
    if by == "all":
        schema, whole, _ = _whole_by(facts, "_key", blank_table or _blank(con))
        table = pa.Table.from_pylist(
            [{**row, "_key": k} for k, row in whole.items()],
            schema=schema.append(pa.field("_key", pa.string())),
        )
        return table.append_column("_rank", pa.array([0] * table.num_rows, pa.int64()))
    expr = compose(facts, ["_key", *keys], _families())
    if "awarded_value" in expr.columns:
        order: list[Any] = [ibis.desc(expr.awarded_value), *keys]
    else:
        order = list(keys)
    rank = ibis.row_number().over(group_by=expr._key, order_by=order) if order else 0
    expr = expr.mutate(_rank=rank)
    if limit:
        expr = expr.filter(expr._rank < limit)
    return expr.to_pyarrow()


# --- refresh ---------------------------------------------------------------------------------


@dataclass
class RefreshSummary:
    """What ``refresh`` stored and how long it took."""

    data_version: str
    results: int = 0
    places: int = 0
    spend_pages: int = 0
    network_pages: int = 0
    flags: int = 0  # rows of the red-flag index stored
    not_stored: int = 0  # results that would not read back equal (computed on request)
    skipped: list[str] = field(default_factory=list)  # pages that failed (computed on request)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Every field, in declaration order; times rounded to the hundredth of a second."""
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "steps": {k: round(v, 2) for k, v in self.steps.items()},
        }


def _noop(stage: str, name: str, done: int, total: int | None) -> None:
    return None


def _blank(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """``--by all`` of no facts: every family's measures of nothing (one row), as ``run``
    gives them for a filter or place no counted award reaches."""
    import ibis

    from locality.metrics.registry import compose

    facts = _award_facts(con)
    table: pa.Table = compose(facts.filter(ibis.literal(False)), [], _families()).to_pyarrow()
    return table


def _award_facts(con: duckdb.DuckDBPyConnection) -> Any:
    """The store's award facts, as Ibis expressions (the metrics' own)."""
    from locality.metrics.registry import Tables, award_facts, duckdb_backend

    return award_facts(Tables.from_backend(duckdb_backend(con)))


def _families() -> list[Any]:
    """The registered metric families, in the order ``metrics.run`` composes them."""
    from locality.metrics.registry import FAMILIES, FAMILY_ORDER

    return [FAMILIES[n] for n in FAMILY_ORDER if n in FAMILIES]


def _whole_by(
    facts: Any, key: str, blank_table: pa.Table
) -> tuple[pa.Schema, dict[str, dict[str, Any]], dict[str, Any]]:
    """``--by all`` (every family's measures of the facts as one row) for each value of
    ``key`` in ``facts``: the schema, the row by value, and the row of no facts at all.

    Not ``compose`` grouped by ``key``: it joins each family's groups to the groups of the
    facts, so a group none of a family's rows reach gets nulls from that family, where
    ``--by all`` of that group's facts alone aggregates nothing (a count of 0). So each
    family's part carries a marker, and a group it does not reach gets that family's
    measures of nothing, as ``run`` gives them (one row, computed once).
    """
    import ibis

    families = _families()
    blank = blank_table.to_pylist()[0]
    result = facts.select(key).distinct()
    parts: list[list[str]] = []
    for i, family in enumerate(families):
        part = family(facts, [key])
        parts.append([c for c in part.columns if c != key])
        part = part.mutate(**{f"_reached_{i}": ibis.literal(True)})
        result = result.left_join(part, [key]).drop(f"{key}_right")
    rows: dict[str, dict[str, Any]] = {}
    for row in result.to_pyarrow().to_pylist():
        out: dict[str, Any] = {}
        for i, columns in enumerate(parts):
            source = row if row[f"_reached_{i}"] else blank
            out.update((c, source[c]) for c in columns)
        rows[row[key]] = {c: out[c] for c in blank_table.column_names}
    return blank_table.schema, rows, blank


def _chunks(
    places: Sequence[Place], facts_by_code: dict[str, int], budget: int
) -> list[list[Place]]:
    """Places in groups whose facts (each repeated for every place its buyer is in) stay
    within ``budget`` rows: the measures of every place at once outgrow DuckDB's memory
    limit at 100k releases."""
    out: list[list[Place]] = []
    size = 0
    for p in places:
        n = sum(facts_by_code.get(c, 0) for c in p.councils)
        if not out or (size + n > budget and out[-1]):
            out.append([])
            size = 0
        out[-1].append(p)
        size += n
    return out


def place_measures(
    con: duckdb.DuckDBPyConnection,
    places: Sequence[Place],
    by: str,
    limit: int | None = None,
    *,
    budget: int = 500_000,
    blank_table: pa.Table | None = None,
) -> tuple[
    dict[str, tuple[list[str], list[dict[str, Any]]]],
    tuple[list[str], list[dict[str, Any]]] | None,
]:
    """``metrics.run(con, None, by, within=[p], limit=limit)`` for every place ``p`` at once,
    as (columns, rows) by place name; places no counted award reaches are left out. With
    them, the result of a place no counted award reaches (None when no place is reached).

    The facts are labelled with each place their buyer is in (``by_place``: the same rows as
    ``within=[p]`` keeps), grouped by place and ``by``'s keys, and ordered as ``run`` orders
    within a place (awarded value descending, then the keys).
    """
    import ibis

    from locality.metrics.dimensions import DIMENSIONS
    from locality.metrics.registry import by_place, compose, keyed_facts

    keys = list(DIMENSIONS[by].keys)
    grouping = ["place", *keys]
    facts = _award_facts(con)
    counted = facts.group_by("la_registry_code").aggregate(n=facts.count()).to_pyarrow()
    by_code = dict(zip(*(counted.column(i).to_pylist() for i in (0, 1)), strict=True))
    reached = [p for p in places if p.councils & by_code.keys()]
    out: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    empty: tuple[list[str], list[dict[str, Any]]] | None = None
    for group in _chunks(reached, by_code, budget):
        labelled = keyed_facts(by_place(facts, group), keys)
        if by == "all":
            schema, whole, blank = _whole_by(labelled, "place", blank_table or _blank(con))
            for name, row in whole.items():
                out[name] = (schema.names, [row])
            empty = (schema.names, [blank])
            continue
        expr = compose(labelled, grouping, _families())
        order: list[Any] = [expr.place]
        if "awarded_value" in expr.columns:
            order += [ibis.desc(expr.awarded_value), *keys]
        else:
            order += keys
        table = expr.order_by(order).to_pyarrow()
        columns = [c for c in table.column_names if c != "place"]
        empty = (columns, [])
        for row in table.to_pylist():
            name = row.pop("place")
            rows = out.setdefault(name, (columns, []))[1]
            if limit is None or len(rows) < limit:
                rows.append(row)
    return out, empty


def compare_rows(
    con: duckdb.DuckDBPyConnection, places: Sequence[Place]
) -> list[tuple[Place, dict[str, Any]]]:
    """Each place's ``locality compare`` row (``metrics.compare.compare(con, [name])``),
    from one ``--by place`` run over every place: a place's row does not depend on the
    others grouped with it, and a place without counted awards gets an empty row."""
    import pyarrow as pa

    from locality.metrics import run

    table = run(con, None, "place", places=list(places), order_by="")
    found = {row["place"]: row for row in table.to_pylist()}
    columns = table.column_names
    out = []
    for p in places:
        row = found.get(p.name, {"place": p.name})
        one = pa.Table.from_pylist([{c: row.get(c) for c in columns}], schema=table.schema)
        out.append((p, one.to_pylist()[0]))
    return out


def _home_measures(s: Any, con: duckdb.DuckDBPyConnection) -> None:
    """``/api/metrics?by=place`` and ``?by=locality`` (every family), and from them the home
    page's: the spend_reach family by place (its columns of the same rows: families are
    joined by key, and both are ordered by awarded value) and the first 20 councils."""
    from locality.metrics.registry import Tables, duckdb_backend, metrics_expr
    from locality.views import queries

    groups = list(s.store.places().values())
    columns, rows = queries.metrics(s, "place")
    mine = metrics_expr(
        Tables.from_backend(duckdb_backend(con)), "place", None, ["spend_reach"], places=groups
    ).columns
    key = queries._metrics_key("place", groups=groups, family="spend_reach")
    s.store.put((s.stamp, *key), (list(mine), [{c: row[c] for c in mine} for row in rows]))
    columns, rows = queries.metrics(s, "locality")
    s.store.put((s.stamp, *queries._metrics_key("locality", limit=20)), (columns, rows[:20]))


def refresh(
    con: duckdb.DuckDBPyConnection,
    *,
    places_file: Path | None = None,
    progress: ProgressCallback = _noop,
) -> RefreshSummary:
    """Compute what the dashboard shows and store it (one transaction), replacing what a
    previous refresh stored; see the module's docstring."""
    from locality.views import queries

    started = time.perf_counter()
    summary = RefreshSummary(data_version(con))
    steps = summary.steps
    store = queries.Store(Path("<refresh>"), places_file, cache_size=10**9, use_stored=False)
    values: dict[str, str] = {}

    def keep(entries: Iterable[tuple[tuple[Any, ...], Any]]) -> None:
        for full, value in entries:
            key = full[1:]  # without the store stamp
            if not _stored(key):
                continue
            text = dumps(value)
            if text is None:
                summary.not_stored += 1
            else:
                values[key_text(key)] = text

    def step(name: str, t0: float) -> float:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - t0
        return now

    with queries.Session(store, con=con) as s:
        t = time.perf_counter()
        progress("dashboard", "home page", 0, None)
        blank = _blank(con)  # the measures of nothing, shared by every empty place and filter
        _home_measures(s, con)
        queries.home(s)
        # `locality metrics --by BY` and /api/metrics?by=BY over the whole store, for every
        # dimension: a national store's take seconds each to compute.
        from locality.metrics.dimensions import DIMENSIONS

        for by in DIMENSIONS:
            queries.metrics(s, by)
        t = step("home", t)
        progress("dashboard", "red flags", 0, None)
        flags: list[tuple[int, str, str | None, str]] | None = None
        if queries.flags_available():
            flags = []
            for rank, row in enumerate(queries.all_flags(s) or []):
                text = dumps(row)
                if text is None:  # a row that would not read back equal: none are stored
                    summary.not_stored += 1
                    flags = None
                    break
                flags.append((rank, row["ocid"], row.get("buyer_id"), text))
        t = step("flags", t)

        places = store.places()
        every = [resolve_place(name, places) for name in queries.place_names(places)]
        every = list({p.name: p for p in every}.values())
        # Each place's measures, all places at once per dimension, under the keys the
        # place page asks for them by.
        progress("dashboard", "place measures", 0, None)
        for by, limit in (("all", None), ("year", None), ("theme", None), ("supplier", 15)):
            assert by != "supplier" or limit == queries.TOP_SUPPLIERS
            found, empty = place_measures(con, every, by, limit, blank_table=blank)
            for p in every:
                result = found.get(p.name)
                if result is None:  # no counted award: the measures of nothing, once
                    if empty is None:
                        empty = queries.place_measures(s, p, by, limit)
                    result = empty
                store.put((s.stamp, *queries.place_measures_key(p, by, limit)), result)
        t = step("place measures", t)

        # Comparison rows: one `--by place` run over every place.
        progress("dashboard", "comparison rows", 0, None)
        for p, row in compare_rows(con, every):
            store.put((s.stamp, *queries.compare_row_key(p)), row)
        t = step("compare rows", t)

        for i, p in enumerate(every):
            progress("dashboard", "place pages", i, len(every))
            queries.place_page(s, p.name)
            summary.places += 1
            if queries.spend_bodies(s, p):
                # A connection of its own (a cursor), as a request has: the spend view keeps
                # temporary tables, and sums over them in another order differ in the last
                # digit.
                with con.cursor() as own, queries.Session(store, con=own) as fresh:
                    queries.spend_links(fresh, queries.spend_page(fresh, p.name))
                summary.spend_pages += 1
        t = step("place pages", t)

        # The network pages that take seconds to compute: everywhere and the largest places.
        from locality.views.network import scope_page, stored_scopes

        scopes = stored_scopes(s)
        for i, scope in enumerate(scopes):
            progress("dashboard", "network pages", i, len(scopes))
            try:
                scope_page(s, scope)
            except Exception as exc:  # one page must not cost every other figure
                # That page is computed on request, where its error shows; the rest stand.
                summary.skipped.append(f"network page of {scope.describe()}: {exc}")
                continue
            summary.network_pages += 1
        t = step("network pages", t)
        keep(store.items())

        # The buyer and supplier pages' measures, every organisation at once per slice.
        progress("dashboard", "buyer and supplier measures", 0, None)
        slices: dict[str, Any] = {}
        for column, by, limit in queries.SLICES:
            slices[slice_table(column, by)] = filter_measures(
                con, column, by, limit, blank_table=blank
            )
            values[key_text(queries.slice_key(column, by, limit))] = "true"
        empty_all = dumps((blank.column_names, blank.to_pylist()))
        if empty_all is not None:  # else an organisation with no award is computed on request
            values[key_text(EMPTY_ALL)] = empty_all
        t = step("organisation measures", t)
        if queries.flags_available():
            from locality.metrics.flags import buyer_risk

            risk = buyer_risk(con)
            risk = risk.append_column("_key", risk.column("buyer_id")).append_column(
                "_rank", pa.array(range(risk.num_rows), pa.int64())
            )
            slices[RISK_TABLE] = risk
            values[key_text(queries.BUYER_RISK_STORED)] = "true"
        t = step("buyer risk", t)

    sql.run(con, "BEGIN TRANSACTION")
    try:
        sql.run(con, f"DELETE FROM {RESULTS}")
        sql.run(con, f"DELETE FROM {STATE}")
        sql.run(con, f"DELETE FROM {FLAGS}")
        for name, table in slices.items():
            con.register("_dashboard_slice", table)
            try:
                sql.run(
                    con,
                    f"CREATE OR REPLACE TABLE {name} AS "
                    "SELECT * FROM _dashboard_slice ORDER BY _key, _rank",
                )
            finally:
                con.unregister("_dashboard_slice")
        if flags is not None:
            values[key_text(queries.FLAGS_STORED)] = str(len(flags))
            table = pa.table(
                {
                    "rank": pa.array([f[0] for f in flags], pa.int64()),
                    "ocid": pa.array([f[1] for f in flags], pa.string()),
                    "buyer_id": pa.array([f[2] for f in flags], pa.string()),
                    "row": pa.array([f[3] for f in flags], pa.string()),
                }
            )
            con.register("_dashboard_flags", table)
            try:
                sql.run(
                    con,
                    f"INSERT INTO {FLAGS} SELECT * FROM _dashboard_flags ORDER BY buyer_id, ocid",
                )
            finally:
                con.unregister("_dashboard_flags")
        summary.flags = 0 if flags is None else len(flags)
        if values:
            rows = pa.table({"key": list(values), "value": list(values.values())})
            con.register("_dashboard_rows", rows)
            try:
                sql.run(con, f"INSERT INTO {RESULTS} SELECT key, value FROM _dashboard_rows")
            finally:
                con.unregister("_dashboard_rows")
        summary.results = len(values)
        summary.seconds = time.perf_counter() - started
        sql.run(
            con,
            f"INSERT INTO {STATE} VALUES (?, now(), ?, ?, ?)",
            [summary.data_version, summary.seconds, summary.results, summary.places],
        )
        sql.run(con, "COMMIT")
    except BaseException:
        sql.run(con, "ROLLBACK")
        raise
    step("write", t)
    return summary


def load(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    *,
    places_file: Path | None = None,
    progress: ProgressCallback = _noop,
    **options: Any,
) -> IngestSummary:
    """``locality.enrich.load`` (ingest, then enrich; same options), then ``refresh`` when
    something was loaded and the dashboard's results are not current. The summary's
    ``totals`` carry the refresh's as ``dashboard`` (None when nothing needed it).
    ``LOCALITY_REFRESH=0`` in the environment leaves the refresh to ``locality refresh``
    (loading many files one command at a time: refresh once at the end).

    Example::

        from locality.store.db import connect
        from locality.views.precompute import load

        load(connect("york.duckdb"), ["data/sample/ocds", "data/sample/spend"])
    """
    from locality.enrich import load as enrich_load

    summary = enrich_load(con, paths, progress=progress, **options)
    # As enrich: only a load that kept something changes the figures (a file broken part
    # way keeps the records before the break).
    loaded = any(not f.skipped and (not f.error or f.kept) for f in summary.files)
    refreshed = None
    if loaded:
        refreshed = refresh_if_stale(con, places_file=places_file, progress=progress)
    summary.totals["dashboard"] = refreshed
    return summary


def enrich_and_refresh(
    con: duckdb.DuckDBPyConnection, *, places_file: Path | None = None
) -> dict[str, Any] | None:
    """After a load done otherwise (``locality fetch``): ``locality.enrich.enrich``, then
    ``refresh_if_stale``; the refresh's summary, or None."""
    from locality.enrich import enrich

    enrich(con)
    return refresh_if_stale(con, places_file=places_file)


def refresh_if_stale(
    con: duckdb.DuckDBPyConnection,
    *,
    places_file: Path | None = None,
    progress: ProgressCallback = _noop,
) -> dict[str, Any] | None:
    """``refresh`` unless the stored results are current, or ``LOCALITY_REFRESH=0`` leaves it
    to ``locality refresh``: its summary, or None."""
    if os.environ.get("LOCALITY_REFRESH", "1") == "0":
        return None
    st = state(con)
    if st is not None and st["current"]:
        return None
    return refresh(con, places_file=places_file, progress=progress).as_json()


__all__ = [
    "PRECOMPUTE_VERSION",
    "RefreshSummary",
    "buyer_risk_row",
    "compare_rows",
    "data_version",
    "decode",
    "dumps",
    "encode",
    "enrich_and_refresh",
    "filter_measures",
    "flag_rows",
    "load",
    "loads",
    "needs_refresh_message",
    "place_measures",
    "read",
    "refresh",
    "refresh_if_stale",
    "slice_measures",
    "state",
    "stored_keys",
]
