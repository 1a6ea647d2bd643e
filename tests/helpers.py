"""Helpers shared by the tests (fixtures stay in ``conftest.py``; paths to the sample too).

One place for what several test modules did each in their own copy: run the command, read
the sample's releases, ask the dashboard for JSON/HTML/CSV, compare numbers the way the
pages show them, and the sample's expected counts (``tests/fixtures/sample_counts.json``,
the one golden file every test that asserts a count of the bundled sample reads).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from typer.testing import CliRunner, Result

from locality.cli import app
from locality.store.db import connect
from tests.conftest import FIXTURES, ROOT

if TYPE_CHECKING:
    from locality.matching.match import SupplierIndex

T = TypeVar("T")

# --- the sample's expected counts -------------------------------------------------------------

SAMPLE_COUNTS: dict[str, Any] = json.loads(
    (FIXTURES / "sample_counts.json").read_text(encoding="utf-8")
)


def file_counts(path: Path) -> dict[str, int]:
    """The expected counts of one bundled sample file (``records_read``, ``kept``,
    ``rejected``; ``processes`` for OCDS), from the golden file."""
    key = path.resolve().relative_to(ROOT / "data" / "sample").as_posix()
    counts: dict[str, int] = SAMPLE_COUNTS["files"][key]
    return counts


def store_counts(*, with_spend: bool = False) -> dict[str, int]:
    """The expected row counts of a store holding the whole sample's contracts (and, with
    ``with_spend``, its council spend files too)."""
    counts: dict[str, int] = SAMPLE_COUNTS["store_with_spend" if with_spend else "store"]
    return counts


# --- loops that must not pass on nothing -------------------------------------------------------


def nonempty(items: Iterable[T], what: str) -> list[T]:
    """``items`` as a list, failing when there are none: a loop of assertions over nothing
    checks nothing, so every such loop runs over ``nonempty(...)``."""
    found = list(items)
    assert found, f"no {what}: the loop would check nothing"
    return found


# --- what the ingest fills --------------------------------------------------------------------

# Every table an OCDS ingest fills (``ingested_files``, which records when, apart).
INGEST_TABLES = (
    "releases",
    "processes",
    "awards",
    "award_suppliers",
    "process_parties",
    "organisations",
    "rejected",
)


# --- the command -------------------------------------------------------------------------------


def cli(*args: str) -> Result:
    """``locality ARGS`` in-process (stdout and stderr apart)."""
    return CliRunner().invoke(app, list(args))


def cli_json(db: Path | str, *args: str) -> Any:
    """``locality --db DB ARGS --format json``'s stdout read as JSON, the command having
    succeeded."""
    result = cli("--db", str(db), *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@functools.cache
def gen_commands() -> ModuleType:
    """``docs/gen_commands.py`` (a script, not a package module) loaded as a module: its
    walk of the command tree is the one the tests check every command's help with."""
    path = ROOT / "docs" / "gen_commands.py"
    spec = importlib.util.spec_from_file_location("gen_commands", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- files and stores --------------------------------------------------------------------------


def digest(path: Path) -> str:
    """A file's content hash: a store only read must be byte for byte what it was."""
    return hashlib.blake2b(path.read_bytes()).hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every release (one JSON object a line) of a JSON Lines file, blank lines skipped."""
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def group_by_ocid(releases: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Releases grouped by OCID, in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for release in releases:
        groups[release["ocid"]].append(release)
    return groups


def dicts(con: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> list[dict[str, Any]]:
    """A query's rows as dicts keyed by column name."""
    result = con.execute(query, params)
    names = [d[0] for d in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def measures(store: Path, family: str | None, by: str, key: str) -> dict[Any, dict[str, Any]]:
    """The metric registry's rows for a store by one dimension (``family`` None: every
    family), keyed by the column ``key``."""
    from locality.metrics import run

    con = connect(store, read_only=True)
    try:
        return {row[key]: row for row in run(con, family, by).to_pylist()}
    finally:
        con.close()


def load_with_release(store: Path, spend_file: Path, release: dict[str, Any]) -> Any:
    """A new store holding one council spend file and one OCDS release (``award_release``),
    loaded and enriched as ``locality ingest`` does; the open connection is returned."""
    from locality.enrich import load

    ocds = store.parent / "release.json"
    ocds.write_text(json.dumps(release), encoding="utf-8")
    con = connect(store)
    try:
        load(con, [spend_file, ocds])
    except BaseException:
        con.close()
        raise
    return con


def close_and_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file of a connection's store, the connection closed (so a command may open it)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    assert row is not None
    con.close()
    return str(row[0])


# --- the dashboard without a browser ----------------------------------------------------------


class Dashboard(TestClient):
    """FastAPI's test client of the dashboard, with the checked GETs the tests make: each
    asserts a 200 of the expected content type before returning what it holds."""

    def get_json(self, url: str) -> Any:
        """The API's JSON answer at ``url`` (200, ``application/json``)."""
        response = self.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def get_page(self, url: str) -> str:
        """The HTML page at ``url`` (200, ``text/html``)."""
        response = self.get(url)
        assert response.status_code == 200, response.text[:2000]
        assert response.headers["content-type"].startswith("text/html")
        return response.text

    def get_csv(self, url: str) -> tuple[list[str], list[dict[str, str]]]:
        """The CSV download at ``url``: its header and its rows (a header even with no
        rows)."""
        response = self.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        reader = csv.DictReader(io.StringIO(response.text))
        assert reader.fieldnames, "a CSV always has its header, even with no rows"
        return list(reader.fieldnames), list(reader)


@contextmanager
def dashboard(store_file: Path) -> Iterator[Dashboard]:
    """The dashboard over a store through FastAPI's test client; checks on the way out that
    the store was only read."""
    from locality.web.app import create_app

    before = digest(store_file)
    with Dashboard(create_app(store_file)) as client:
        yield client
    # The server only reads: the store is byte for byte what it was.
    assert digest(store_file) == before


def close_enough(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 (DuckDB sums floats in parallel: the last digit may differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(close_enough(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close_enough(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-9)
    return bool(a == b)


def on_page(text: str, value: str) -> bool:
    """``value`` is on the page, as Jinja escapes it."""
    return str(escape(value)) in text


def csv_says(text: str, value: Any) -> bool:
    """A CSV cell says ``value`` (the JSON's): empty for none, ``;`` between list items."""
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == str(value)
    if isinstance(value, float):
        return float(text) == pytest.approx(value)
    if isinstance(value, list):
        return text == ";".join(map(str, value))
    return text == str(value)


# --- matching ---------------------------------------------------------------------------------


def supplier_index(store_file: Path) -> SupplierIndex:
    """The matching index of a store built once, read through a read-only connection closed
    when the index is built (for a module's fixture)."""
    from locality.matching.match import SupplierIndex
    from locality.matching.profiles import load_history

    con = connect(store_file, read_only=True)
    try:
        return SupplierIndex.build(load_history(con))
    finally:
        con.close()


# --- files a reader refuses -------------------------------------------------------------------


def refuses(
    read: Callable[[Path], Any], path: Path, text: str, error: type[Exception], says: str
) -> None:
    """``read`` refuses ``path`` holding ``text``: it raises ``error`` with a message matching
    ``says`` (a regular expression, as ``pytest.raises(match=...)`` takes it)."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error, match=says):
        read(path)


def corpus_fixture(name: str, cases: Iterable[Any], file_name: Callable[[Any], str]) -> Any:
    """A module-scoped fixture ``name`` for a module's corpus of test files: each case's
    ``data`` (bytes) written to a fresh folder as ``file_name(case)``, the paths by the case's
    ``name`` (``corpus = corpus_fixture("corpus", CASES.values(), ...)``)."""
    kept = tuple(cases)

    @pytest.fixture(scope="module", name=name)
    def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
        folder = tmp_path_factory.mktemp(name)
        paths = {}
        for case in kept:
            path = folder / file_name(case)
            path.write_bytes(case.data)
            paths[case.name] = path
        return paths

    return corpus
