"""A daily delta: a store fed half of the sample, then the rest with some releases changed,
holds what a store fed everything at once holds, and only the touched processes are
recompiled (issue 14, "Update by the day")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from locality.ingest.packing import Unpacker
from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import SAMPLE_FILES
from tests.helpers import read_jsonl

# Columns that say where and when a row was read, not what the data is.
WHERE_READ = {
    # Releases are compared by their JSON, unpacked (_release_texts).
    "releases": {
        "seq",
        "source_file",
        "source_line",
        "source_pointer",
        "data",
        "packed",
        "dict_id",
    },
    "release_dictionaries": None,  # trained on whichever file came first
    # A fold found in two steps (a name into an older Contracts Finder id, which then folds
    # into an identified body) keeps its first step's reason (unify.resolve_chains): the
    # same canonical id, told as it was learnt.
    "organisation_aliases": {"reason"},
    "ingested_files": None,  # the files differ by design
    "rejected": None,
    "meta": None,
}


def _all_releases() -> list[dict[str, Any]]:
    return [release for path in SAMPLE_FILES for release in read_jsonl(path)]


def _changed(release: dict[str, Any], n: int) -> dict[str, Any]:
    """The same release (ocid and id) published again with other content."""
    changed = copy.deepcopy(release)
    tender = changed.setdefault("tender", {})
    tender["title"] = f"{tender.get('title') or 'Untitled'} (amended {n})"
    for award in changed.get("awards") or []:
        value = award.get("value")
        if isinstance(value, dict) and isinstance(value.get("amount"), int | float):
            value["amount"] = value["amount"] + 1000
    return changed


def _write(path: Path, releases: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in releases))
    return path


def _table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sorted, as text), less the columns that say where rows were read."""
    tables = [
        str(t)
        for (t,) in sql.rows(
            con,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1",
        )
    ]
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        if table in WHERE_READ and WHERE_READ[table] is None:
            continue
        skip = WHERE_READ.get(table) or set()
        columns = [str(c) for (c, *_) in sql.rows(con, f'DESCRIBE "{table}"') if c not in skip]
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        found[table] = sorted(
            tuple("" if v is None else v for v in row)
            for row in sql.rows(con, f'SELECT {select} FROM "{table}"')
        )
    return found


def _release_texts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, bytes]]:
    """(ocid, release id, JSON) of every stored release, unpacked."""
    dictionaries = sql.rows(con, "SELECT dict_id, data FROM release_dictionaries")
    unpacker = Unpacker({int(i): bytes(d) for i, d in dictionaries})
    return sorted(
        (ocid, release_id, unpacker.text(packed, dict_id, data).encode())
        for ocid, release_id, packed, dict_id, data in sql.rows(
            con, "SELECT ocid, release_id, packed, dict_id, data::VARCHAR FROM releases"
        )
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("delta")
    releases = _all_releases()
    half = len(releases) // 2
    first, rest = releases[:half], releases[half:]
    # Every seventh release of the first half is published again, changed, in the delta.
    changed = [_changed(r, n) for n, r in enumerate(first[::7])]
    replaced = {(r["ocid"], r["id"]) for r in changed}
    first_file = _write(folder / "first.jsonl", first)
    delta_file = _write(folder / "delta.jsonl", rest + changed)
    # All at once: what the store holds in the end, in one file.
    final = [r for r in first if (r["ocid"], r["id"]) not in replaced] + rest + changed
    whole_file = _write(folder / "whole.jsonl", final)

    in_steps = connect(folder / "steps.duckdb")
    ingest(in_steps, [first_file])
    summary = ingest(in_steps, [delta_file])
    at_once = connect(folder / "once.duckdb")
    ingest(at_once, [whole_file])
    found = {
        "steps": _table_rows(in_steps),
        "once": _table_rows(at_once),
        "steps_releases": _release_texts(in_steps),
        "once_releases": _release_texts(at_once),
        "delta": summary.files[0],
        "touched": len({r["ocid"] for r in rest + changed}),
        "changed": len(changed),
        "new": len(rest),
    }
    in_steps.close()
    at_once.close()
    return found


def test_delta_equals_ingesting_everything_at_once(stores: dict[str, Any]) -> None:
    steps, once = stores["steps"], stores["once"]
    assert set(steps) == set(once)
    assert len(once["processes"]) > 500
    differ = [table for table in sorted(once) if steps[table] != once[table]]
    assert differ == [], f"tables that differ after a delta: {differ}"
    assert stores["steps_releases"] == stores["once_releases"]


def test_delta_counts_new_and_changed_releases(stores: dict[str, Any]) -> None:
    delta = stores["delta"]
    assert delta.updated_releases == stores["changed"] > 0
    assert delta.new_releases == stores["new"]
    assert delta.unchanged_releases == 0


def test_delta_recompiles_only_the_touched_processes(stores: dict[str, Any]) -> None:
    # The cost of a delta is in proportion to it: the processes it names, not the store's.
    delta = stores["delta"]
    assert delta.processes == stores["touched"]
    assert delta.processes < len(stores["once"]["processes"])
