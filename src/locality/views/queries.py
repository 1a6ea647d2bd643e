"""What each dashboard page and API endpoint shows, as JSON-ready dicts: thin library calls.

Every figure comes from the library (``locality.metrics.run``, ``compare``, ``store_status``,
``locality.store.lookup`` and, when present, ``locality.metrics.flags``); this module only
picks the calls for a page, resolves names, and caches results. The store is opened
read-only, one connection per request, opened only when something is not in the cache.
Cached results are keyed by the store file's size and modification time, so a new ingest
(which needs the server's connections closed between requests) is seen at once. What
``locality.views.precompute`` stored when the data was loaded is served instead of being
computed, while it was made from the data the store holds (its ``data_version``).
"""

from __future__ import annotations

import difflib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import duckdb

from locality.domain.places import Place, PlaceError, load_places, spend_body_in_place
from locality.domain.places import resolve as resolve_place
from locality.domain.values import VALUES_INCLUDE
from locality.metrics import DIMENSIONS
from locality.metrics import run as run_metrics
from locality.metrics.compare import compare as compare_places
from locality.reference import local_authorities, local_authority
from locality.spend.place import place_view
from locality.spend.themes import load_rules
from locality.store import lookup
from locality.store.db import connect
from locality.views.params import (
    BadRequest,
    NotFound,
    parse_where,
    spend_threshold,
)
from locality.views.present import headline_sentences, spend_sentences
from locality.views.status import store_status

T = TypeVar("T")

MAX_NAME = 200  # longest name or id looked up (near-name suggestions cost grows with it)
TOP_SUPPLIERS = 15
TOP_FLAGS = 20
MAX_COMPARE = 6
AWARDS_SHOWN = 100
SPEND_TOP = 20  # top suppliers and largest unmapped lines of the spend view (the CLI's --top)


@dataclass
class Store:
    """One store file, opened read-only, with a bounded cache of computed results.

    Computing is bounded too: at most ``computing`` results are computed at once (every
    connection shares one DuckDB instance and its memory limit, and each query already uses
    every core), and a result being computed is computed once, however many requests ask
    for it at the same time (the others wait for it).

    With ``use_stored`` (the server), a result not in the cache is first looked for among
    those ``locality.views.precompute`` stored, when they are current (checked once per
    store state); ``refresh`` itself computes everything (``use_stored=False``).

    ``computations`` counts the results computed or read from the store (not served from
    the cache), and ``stored`` those read from the store.
    """

    path: Path
    places_file: Path | None = None
    cache_size: int = 20_000
    computing: int = max(1, min(4, os.cpu_count() or 1))
    use_stored: bool = True
    _cache: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pending: dict[tuple[Any, ...], threading.Lock] = field(default_factory=dict, repr=False)
    _slots: threading.Semaphore = field(init=False, repr=False)
    computations: int = field(default=0, init=False)
    stored: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._slots = threading.Semaphore(self.computing)

    def places(self) -> dict[str, Place]:
        return load_places(self.places_file)

    def stamp(self) -> tuple[int, ...]:
        """Size and modification time of the store and its write-ahead log."""
        parts: list[int] = []
        for p in (self.path, Path(f"{self.path}.wal")):
            try:
                st = os.stat(p)
            except FileNotFoundError:
                parts += [0, 0]
            else:
                parts += [st.st_size, st.st_mtime_ns]
        return tuple(parts)

    def session(self) -> Session:
        return Session(self)

    def items(self) -> list[tuple[tuple[Any, ...], Any]]:
        """Every cached (key, value), oldest first."""
        with self._lock:
            return list(self._cache.items())

    def stored_keys(self, s: Session) -> frozenset[str]:
        """The keys of the stored results that are current for the store state ``s`` reads
        (``precompute.stored_keys``), found once per state; none without ``use_stored``."""
        if not self.use_stored:
            return frozenset()
        from locality.views import stored

        key = (s.stamp, "<stored keys>")
        hit, value = self.get(key)
        if hit:
            found: frozenset[str] = value
            return found
        return self.compute_once(key, lambda: stored.stored_keys(s.con), query=False)

    def get(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return True, self._cache[key]
        return False, None

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def compute_once(
        self, key: tuple[Any, ...], compute: Callable[[], T], *, query: bool = True
    ) -> T:
        """The cached value of ``key``, else ``compute()`` (once for concurrent callers).

        A ``query`` takes one of the ``computing`` slots; a value derived from other cached
        values does not (it may need them computed, each in its own slot).
        """
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        try:
            with pending:  # a second caller waits here for the first's result
                hit, value = self.get(key)
                if hit:
                    found: T = value
                    return found
                with self._lock:
                    self.computations += 1
                if query:
                    with self._slots:
                        result = compute()
                else:
                    result = compute()
                self.put(key, result)
                return result
        finally:
            with self._lock:
                if self._pending.get(key) is pending and not pending.locked():
                    del self._pending[key]


class Session:
    """The work of one request: a read-only connection opened on first use, then closed.

    Given ``con`` (``precompute.refresh``'s writable connection), it uses that one and
    leaves it open.
    """

    def __init__(self, store: Store, *, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.store = store
        self._con: duckdb.DuckDBPyConnection | None = con
        self._own = con is None
        self.stamp = store.stamp()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect(self.store.path, read_only=True)
        return self._con

    def cached(self, key: tuple[Any, ...], compute: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return self._value(key, lambda: compute(self.con), query=True)

    def derived(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """Like ``cached``, for a value computed from other cached values (no connection)."""
        return self._value(key, compute, query=False)

    def _value(self, key: tuple[Any, ...], compute: Callable[[], T], *, query: bool) -> T:
        """From the cache, else from the stored results, else computed (once)."""
        full = (self.stamp, *key)
        hit, value = self.store.get(full)
        if hit:
            result: T = value
            return result
        stored = self._stored_key(key)
        if stored is not None:
            return self.store.compute_once(full, lambda: self._read(stored), query=False)
        return self.store.compute_once(full, compute, query=query)

    def has_stored(self, key: tuple[Any, ...]) -> bool:
        """Whether the current stored results hold ``key``."""
        return self._stored_key(key) is not None

    def _stored_key(self, key: tuple[Any, ...]) -> str | None:
        """The stored key of ``key`` when a current stored result has it."""
        if not self.store.use_stored:
            return None
        from locality.views.stored import key_text

        text = key_text(key)
        return text if text in self.store.stored_keys(self) else None

    def _read(self, stored: str) -> Any:
        from locality.views.stored import read

        found, value = read(self.con, stored)
        if not found:  # pragma: no cover - the key set and the rows are one refresh's
            raise LookupError(f"no stored result {stored}")
        with self.store._lock:
            self.store.stored += 1
        return value

    def close(self) -> None:
        if self._con is not None and self._own:
            self._con.close()
        self._con = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- names ---------------------------------------------------------------------------------


def place_names(places: Mapping[str, Place]) -> list[str]:
    councils = {c.nice_name for c in local_authorities() if c.current}
    return sorted({*places, *councils})


def suggest_places(name: str, places: Mapping[str, Place], n: int = 5) -> list[dict[str, str]]:
    """Places and councils whose names are near ``name`` (difflib, as ``locality compare``)."""
    candidates = place_names(places)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    folded = name.casefold().strip()
    if folded:
        close += [c for c in candidates if folded in c.casefold() and c not in close]
    return [{"kind": "place", "name": c, "id": c} for c in close[:n]]


def _check_length(text: str, what: str) -> None:
    if len(text) > MAX_NAME:
        raise BadRequest(f"{what} is too long ({len(text):,} characters; at most {MAX_NAME})")


def place(s: Session, name: str) -> Place:
    """A place or council by name, as ``locality compare`` resolves it; NotFound suggests."""
    _check_length(name, "a place name")
    places = s.store.places()
    try:
        return resolve_place(name, places)
    except PlaceError as exc:
        raise NotFound(str(exc), suggest_places(name, places)) from exc


def place_info(p: Place) -> dict[str, Any]:
    councils = []
    for code in sorted(p.councils):
        council = local_authority(code)
        councils.append({"code": code, "name": council.nice_name if council else code})
    councils.sort(key=lambda c: c["name"])
    return {"name": p.name, "source": p.source, "councils": councils}


# --- metrics -------------------------------------------------------------------------------


class MetricsQuery(TypedDict, total=False):
    """What a ``_run_table`` call asks of ``locality.metrics.run`` besides its dimension."""

    where: Mapping[str, Sequence[str]] | None
    within: Sequence[Place]
    groups: Sequence[Place] | None
    limit: int | None
    family: str | None


def _run_table(
    s: Session, by: str, **query: Unpack[MetricsQuery]
) -> tuple[list[str], list[dict[str, Any]]]:
    """``locality.metrics.run`` as (column names, rows), cached."""
    where, within = query.get("where"), query.get("within", ())
    groups, limit, family = query.get("groups"), query.get("limit"), query.get("family")
    key = _metrics_key(by, **query)
    one = _one_organisation(by, where, within, groups, limit, family)

    def compute(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[dict[str, Any]]]:
        if one is not None and s.has_stored(slice_key(one[0], by, limit)):
            from locality.views.stored import slice_measures

            found = slice_measures(con, one[0], by, limit, one[1])
            if found is not None:
                return found
        try:
            table = run_metrics(
                con,
                family,
                by,
                where=where,
                limit=limit,
                places=groups,
                within=list(within) or None,
            )
        except KeyError as exc:
            raise BadRequest(str(exc.args[0])) from exc
        return table.column_names, table.to_pylist()

    return s.cached(key, compute)


# Measures of one buyer or supplier that ``precompute`` stores for every organisation at once
# (a "slice": filter column, dimension, limit), the buyer and supplier pages' own.
SLICES = (
    ("buyer_id", "all", None),
    ("buyer_id", "supplier", TOP_SUPPLIERS),
    ("supplier_id", "all", None),
    ("supplier_id", "buyer", None),
)


def slice_key(column: str, by: str, limit: int | None) -> tuple[Any, ...]:
    """The stored key saying a slice's measures are stored (and current)."""
    return ("slice", column, by, limit)


def _one_organisation(
    by: str,
    where: Mapping[str, Sequence[str]] | None,
    within: Sequence[Place],
    groups: Sequence[Place] | None,
    limit: int | None,
    family: str | None,
) -> tuple[str, str] | None:
    """(column, id) when a metrics call is one of the stored slices, for one organisation."""
    if within or groups is not None or family is not None or not where or len(where) != 1:
        return None
    ((column, values),) = where.items()
    if len(values) != 1 or (column, by, limit) not in SLICES:
        return None
    return column, values[0]


def _places_key(places: Sequence[Place]) -> tuple[Any, ...]:
    return tuple(sorted((p.name, tuple(sorted(p.councils))) for p in places))


def _metrics_key(by: str, **query: Unpack[MetricsQuery]) -> tuple[Any, ...]:
    """The cache key of a ``_run_table`` call."""
    where_key = tuple(sorted((k, tuple(v)) for k, v in (query.get("where") or {}).items()))
    groups = query.get("groups")
    groups_key = None if groups is None else _places_key(groups)
    within_key = _places_key(query.get("within", ()))
    family, limit = query.get("family"), query.get("limit")
    return ("metrics", family, by, where_key, within_key, groups_key, limit)


def place_measures_key(p: Place, by: str, limit: int | None = None) -> tuple[Any, ...]:
    """The cache key of a place's measures by ``by`` (``_run(s, by, within=[p])``)."""
    return _metrics_key(by, within=[p], limit=limit)


def place_measures(
    s: Session, p: Place, by: str, limit: int | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """A place's measures by ``by``, as the place page asks for them."""
    return _run_table(s, by, within=[p], limit=limit)


def _run(s: Session, by: str, **options: Any) -> list[dict[str, Any]]:
    """The rows of ``_run_table``."""
    return _run_table(s, by, **options)[1]


def metrics(
    s: Session, by: str, where: Iterable[str] = (), limit: int | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """``locality metrics --by BY --where ...``: its columns, and its rows as ``--format json``."""
    if by not in DIMENSIONS:
        raise BadRequest(f"unknown by {by!r}; choose one of: {', '.join(DIMENSIONS)}")
    if limit is not None and limit < 1:
        raise BadRequest("limit must be at least 1")
    filters = parse_where(where)
    places = s.store.places()
    within: list[Place] = []
    for name in filters.pop("place", []):
        _check_length(name, "a place name")
        try:
            within.append(resolve_place(name, places))
        except PlaceError as exc:  # a bad parameter (422), not a missing page
            raise BadRequest(str(exc)) from exc
    # Grouping by place: every combined authority and --places file place, as the CLI.
    groups = list(places.values()) if by == "place" else None
    whole = _metrics_key(by, where=filters, within=within, groups=groups)
    if limit is not None and s.has_stored(whole):
        # The first rows of the stored whole (``run`` orders, then limits).
        columns, rows = _run_table(s, by, where=filters, within=within, groups=groups)
        return columns, rows[:limit]
    return _run_table(s, by, where=filters, within=within, groups=groups, limit=limit)


def status(s: Session) -> dict[str, Any]:
    """``locality status --format json``."""
    return s.cached(("status",), store_status)


# --- red flags (locality.metrics.flags) ---------------------------------------------------
# The flags module is optional here: without it, pages say flags are not available and the
# API gives null. Everything that touches it is in this section.


def _flags_module() -> Any:
    try:
        from locality.metrics import flags
    except ImportError:  # pragma: no cover - only before the flags module exists
        return None
    return flags


def flags_available() -> bool:
    return _flags_module() is not None


def all_flags(s: Session) -> list[dict[str, Any]] | None:
    """Every process with an integrity flag (``kind`` integrity, most severe first), then
    those with only data-quality findings (``kind`` data_quality)."""
    module = _flags_module()
    if module is None:
        return None
    return s.cached(
        ("flags",), lambda con: module.flags_table(con, include_data_quality=True).to_pylist()
    )


def flags_of_buyers(
    s: Session, buyer_ids: set[str]
) -> tuple[list[dict[str, Any]], int, int] | None:
    """Processes of these buyers with an integrity flag, most severe first (top
    ``TOP_FLAGS``), how many there are, and how many have only data-quality findings."""
    if _flags_module() is None:
        return None

    def compute() -> tuple[list[dict[str, Any]], int, int]:
        mine = _flag_rows(s, "buyer_id", buyer_ids)
        flagged = [row for _, row in mine if row["kind"] == "integrity"]
        return flagged[:TOP_FLAGS], len(flagged), len(mine) - len(flagged)

    return s.derived(("flags-of", tuple(sorted(buyer_ids))), compute)


def _flag_rows(s: Session, column: str, values: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """The flags rows whose ``column`` (buyer_id or ocid) is one of ``values``, each with its
    rank in the whole index, most severe first: from the index ``precompute`` stored when it
    is current, else from the whole index computed (once per store state)."""
    wanted = set(values)
    if s.has_stored(FLAGS_STORED):
        from locality.views.stored import flag_rows

        return flag_rows(s.con, column, sorted(wanted))
    index = _flags_by(s, column)
    return sorted((r for v in wanted for r in index.get(v, ())), key=lambda r: r[0])


# The stored key saying the flags index is in ``dashboard_flags``.
FLAGS_STORED = ("flags-index",)


def _flags_by(s: Session, column: str) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """The flags rows grouped by ``column``, each with its rank in the whole table."""

    def compute() -> dict[str, list[tuple[int, dict[str, Any]]]]:
        index: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for rank, row in enumerate(all_flags(s) or []):
            index.setdefault(row[column], []).append((rank, row))
        return index

    return s.derived(("flags-by", column), compute)


def flags_of_process(s: Session, ocid: str) -> dict[str, Any] | None:
    """The flags row of one process ({} when it has no integrity flag and no data-quality
    finding); None without the module."""
    if _flags_module() is None:
        return None

    def compute() -> dict[str, Any]:
        found = _flag_rows(s, "ocid", [ocid])
        return found[0][1] if found else {}

    return s.derived(("process-flags", ocid), compute)


def buyer_risk(s: Session, org_id: str) -> dict[str, Any] | None:
    module = _flags_module()
    if module is None:
        return None

    def compute(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        if s.has_stored(BUYER_RISK_STORED):
            from locality.views.stored import buyer_risk_row

            return buyer_risk_row(con, org_id)
        found = module.buyer_risk(con, buyer=org_id).to_pylist()
        return next((r for r in found if r["buyer_id"] == org_id), None)

    result: dict[str, Any] | None = s.cached(("buyer-risk", org_id), compute)
    return result


# The stored key saying every buyer's risk row is stored (``precompute``).
BUYER_RISK_STORED = ("buyer-risk-index",)


# --- pages ---------------------------------------------------------------------------------


def _with_supplier_places(s: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    orgs = s.cached(
        ("orgs", tuple(sorted(str(r.get("supplier_id")) for r in rows))),
        lambda con: lookup.organisations(con, [r["supplier_id"] for r in rows]),
    )
    out = []
    for row in rows:
        org = orgs.get(row.get("supplier_id") or "", {})
        out.append(
            {
                **row,
                "supplier_scale": org.get("scale"),
                "supplier_vcse": org.get("vcse"),
                "supplier_locality": org.get("la_name"),
                "supplier_region": org.get("region_name"),
            }
        )
    return out


def place_page(s: Session, name: str) -> dict[str, Any]:
    """Everything the place page shows, with the same keys as ``locality metrics``."""
    p = place(s, name)
    return s.derived(("place-page", p.name, tuple(sorted(p.councils))), lambda: _place_page(s, p))


def _place_page(s: Session, p: Place) -> dict[str, Any]:
    headline = _run(s, "all", within=[p])[0]
    by_year = sorted(_run(s, "year", within=[p]), key=lambda r: str(r["year"]))
    by_theme = _run(s, "theme", within=[p])
    suppliers = _with_supplier_places(s, _run(s, "supplier", within=[p], limit=TOP_SUPPLIERS))
    buyers = s.cached(
        ("buyers-in", tuple(sorted(p.councils))),
        lambda con: sorted(lookup.buyer_ids_in_councils(con, p.councils)),
    )
    awards = s.cached(("place-awards", tuple(buyers)), lambda con: lookup.place_awards(con, buyers))
    flagged = flags_of_buyers(s, set(buyers))
    where = f"buyers in {p.name}"
    return {
        "place": place_info(p),
        "values_include": VALUES_INCLUDE,
        "headline": headline,
        "sentences": headline_sentences(where, headline),
        "by_year": by_year,
        "by_theme": by_theme,
        "top_suppliers": suppliers,
        "flags": None if flagged is None else flagged[0],
        "flagged_processes": None if flagged is None else flagged[1],
        "data_quality_only_processes": None if flagged is None else flagged[2],
        "spend_bodies": spend_bodies(s, p),
        "awards": awards,
    }


def compare(s: Session, names: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of ``locality compare NAMES --format json``, in the order given."""
    names = [n.strip() for n in names if n and n.strip()]
    if not 2 <= len(names) <= MAX_COMPARE:
        raise BadRequest(f"compare 2 to {MAX_COMPARE} places or councils (got {len(names)})")
    resolved = [place(s, name) for name in names]  # NotFound with suggestions
    # One row per place, each computed (and cached) on its own, so any set of places that
    # were compared before, in any combination, costs nothing (a place's measures do not
    # depend on the others it is compared with).
    return [compare_row(s, name, p) for name, p in zip(names, resolved, strict=True)]


def compare_row(s: Session, name: str, p: Place) -> dict[str, Any]:
    """The ``locality compare`` row of one place (``name`` as given, resolved to ``p``)."""
    places_file = s.store.places_file

    def compute(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        row: dict[str, Any] = compare_places(con, [name], places_file=places_file).to_pylist()[0]
        return row

    return s.cached(compare_row_key(p), compute)


def compare_row_key(p: Place) -> tuple[Any, ...]:
    return ("compare-row", p.name, tuple(sorted(p.councils)))


def _organisation(s: Session, org_id: str, role: str) -> dict[str, Any]:
    _check_length(org_id, "an organisation id")
    org = s.cached(("org", org_id), lambda con: lookup.organisation(con, org_id))
    count = (org or {}).get(f"{role}_processes") or 0
    if org is None or not count:
        near = s.cached(
            ("near-org", org_id, role),
            lambda con: lookup.near_organisations(con, org_id, role=role),
        )
        suggestions = [
            {"kind": role, "name": n["name"] or n["org_id"], "id": n["org_id"]} for n in near
        ]
        if org is not None:
            other = "supplier" if role == "buyer" else "buyer"
            suggestions.insert(0, {"kind": other, "name": org["name"] or org_id, "id": org_id})
            raise NotFound(f"{org['name'] or org_id} is not a {role} in this store", suggestions)
        raise NotFound(f"no {role} with the id {org_id!r} in this store", suggestions)
    return org


def buyer_page(s: Session, org_id: str) -> dict[str, Any]:
    """A buyer: its measures, its suppliers, its awards, and its red flags."""
    org = _organisation(s, org_id, "buyer")
    where = {"buyer_id": [org_id]}
    headline = _run(s, "all", where=where)[0]
    suppliers = _with_supplier_places(s, _run(s, "supplier", where=where, limit=TOP_SUPPLIERS))
    awards = s.cached(
        ("buyer-awards", org_id), lambda con: lookup.buyer_awards(con, org_id, limit=AWARDS_SHOWN)
    )
    flagged = flags_of_buyers(s, {org_id})
    return {
        "organisation": org,
        "headline": headline,
        "sentences": headline_sentences(org["name"] or org_id, headline),
        "top_suppliers": suppliers,
        "awards": awards,
        "risk": buyer_risk(s, org_id),
        "flags": None if flagged is None else flagged[0],
        "flagged_processes": None if flagged is None else flagged[1],
        "data_quality_only_processes": None if flagged is None else flagged[2],
    }


def supplier_page(s: Session, org_id: str) -> dict[str, Any]:
    """A supplier: where it is, what it won, and which buyers it serves."""
    org = _organisation(s, org_id, "supplier")
    where = {"supplier_id": [org_id]}
    headline = _run(s, "all", where=where)[0]
    buyers = _run(s, "buyer", where=where)
    awards = s.cached(
        ("supplier-awards", org_id),
        lambda con: lookup.supplier_awards(con, org_id, limit=AWARDS_SHOWN),
    )
    return {"organisation": org, "headline": headline, "buyers": buyers, "awards": awards}


def process_page(s: Session, ocid: str) -> dict[str, Any]:
    """A contracting process: compiled release, releases, awards, parties, flags, and
    ``view``: the process as locality understands it (``lookup.process_view``, the JSON of
    ``locality process OCID``)."""
    _check_length(ocid, "an OCID")
    found = s.cached(("process", ocid), lambda con: lookup.process(con, ocid))
    if found is None:
        near = s.cached(("near-ocid", ocid), lambda con: lookup.near_ocids(con, ocid))
        raise NotFound(
            f"no contracting process with the OCID {ocid!r} in this store",
            [{"kind": "process", "name": n, "id": n} for n in near],
        )
    compiled = found["compiled_release"]
    detail = {k: v for k, v in found.items() if k != "compiled_release"}
    return {
        "process": detail,
        "compiled_release": compiled,
        "releases": s.cached(("releases", ocid), lambda con: lookup.process_releases(con, ocid)),
        "awards": s.cached(("awards", ocid), lambda con: lookup.process_awards(con, ocid)),
        "parties": s.cached(("parties", ocid), lambda con: lookup.process_parties(con, ocid)),
        "flags": flags_of_process(s, ocid),
        "view": s.cached(("process-view", ocid), lambda con: lookup.process_view(con, ocid)),
    }


def search(s: Session, q: str) -> dict[str, Any]:
    """Places and councils, then buyers and suppliers, whose names match ``q``."""
    q = q.strip()
    _check_length(q, "a search")
    if not q:
        return {"query": q, "places": [], "organisations": []}
    places = s.store.places()
    found: list[dict[str, str]] = []
    try:
        exact = resolve_place(q, places)
        found.append({"kind": "place", "name": exact.name, "id": exact.name})
    except PlaceError:
        pass
    for suggestion in suggest_places(q, places, n=10):
        if suggestion["name"] not in {f["name"] for f in found}:
            found.append(suggestion)
    organisations = s.cached(
        ("search", q.casefold()), lambda con: lookup.search_organisations(con, q, limit=25)
    )
    return {"query": q, "places": found[:10], "organisations": organisations}


def home(s: Session) -> dict[str, Any]:
    """The home page: what the store holds, and the places and councils with most value."""
    places = s.store.places()
    by_place = _run(s, "place", groups=list(places.values()), family="spend_reach")
    by_locality = _run(s, "locality", limit=20)
    return {
        "status": status(s),
        "values_include": VALUES_INCLUDE,
        "places": by_place,
        "localities": by_locality,
    }


# --- council spend (locality.spend.place) ---------------------------------------------------


def spend_bodies(s: Session, p: Place) -> list[dict[str, Any]]:
    """The spend publishers of a place the store holds (``locality status``'s rows), largest
    first: councils by registry code, a ``--places`` file's other bodies by name."""
    return [
        row
        for row in status(s).get("spend_bodies") or []
        if spend_body_in_place(p, row["la_registry_code"], row["body"])
    ]


def spend_page(
    s: Session,
    name: str,
    *,
    min_amount: float | None = None,
    like_for_like: bool = False,
    include_transfers: bool = False,
) -> dict[str, Any]:
    """The whole-place spend view (``locality place NAME --format json``, top 20), with
    ``spend_loaded`` (does the store hold spend files of the place's bodies?) and a
    plain-language ``sentences`` per headline figure. ``include_transfers`` counts payments
    to other public bodies as supplier spend (``locality place --include-transfers``)."""
    p = place(s, name)
    amount = spend_threshold(min_amount, like_for_like)
    key = (
        p.name,
        tuple(sorted(p.councils)),
        tuple(sorted(p.bodies)),
        amount,
        like_for_like,
        include_transfers,
    )

    def compute(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        try:
            return place_view(
                con,
                p,
                top=SPEND_TOP,
                min_amount=amount,
                like_for_like=like_for_like,
                theme_rules=load_rules(),
                include_transfers=include_transfers,
            )
        except ValueError as exc:  # the library's own check of the threshold
            raise BadRequest(str(exc)) from exc

    def page() -> dict[str, Any]:
        view = s.cached(("spend-view", *key), compute)
        return {
            **view,
            "spend_loaded": bool(spend_bodies(s, p)),
            "sentences": spend_sentences(p.name, view),
        }

    return s.derived(("spend-page", *key), page)


def spend_links(s: Session, view: Mapping[str, Any]) -> dict[str, str]:
    """The page kind of each top supplier of a spend view resolved to an organisation."""
    return organisation_pages(s, (row["org_id"] for row in view["suppliers"]))


def organisation_pages(s: Session, org_ids: Iterable[str | None]) -> dict[str, str]:
    """For each organisation id, the kind of page it has: "supplier" when it won an award,
    else "buyer" when it bought; ids with neither are left out."""
    ids = sorted({i for i in org_ids if i})
    if not ids:
        return {}
    orgs = s.cached(("orgs", tuple(ids)), lambda con: lookup.organisations(con, ids))
    out: dict[str, str] = {}
    for org_id, org in orgs.items():
        if org.get("supplier_processes"):
            out[org_id] = "supplier"
        elif org.get("buyer_processes"):
            out[org_id] = "buyer"
    return out
