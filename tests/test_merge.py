"""The merge gives exactly what ocdsmerge (Open Contracting's reference) gives."""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import ocdsmerge
import orjson
import pytest

from locality.ingest.merge import compile_releases, default_rules
from locality.reference import release_schema
from tests.conftest import ESCAPE_STRIPPED, SAMPLE_FILES


@pytest.fixture(scope="module")
def merger() -> ocdsmerge.Merger:
    return ocdsmerge.Merger(release_schema())


def _by_ocid(path: Path) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in path.open("rb"):
        release = orjson.loads(line)
        groups[release["ocid"]].append(release)
    return groups


@pytest.mark.parametrize("path", [*SAMPLE_FILES, ESCAPE_STRIPPED], ids=lambda p: p.name)
def test_every_ocid_compiles_as_ocdsmerge_does(path: Path, merger: ocdsmerge.Merger) -> None:
    groups = _by_ocid(path)
    assert groups
    with warnings.catch_warnings():
        # Legacy Contracts Finder suppliers all have id 0; ocdsmerge warns, and so merges them.
        warnings.simplefilter("ignore", ocdsmerge.exceptions.DuplicateIdValueWarning)
        expected = {ocid: merger.create_compiled_release(rs) for ocid, rs in groups.items()}
    for ocid, releases in groups.items():
        ours = compile_releases(releases)
        assert ours == expected[ocid], ocid
        # Same key order too, so `locality compile` output is byte-identical.
        assert orjson.dumps(ours) == orjson.dumps(expected[ocid]), ocid


def test_sample_has_multi_release_processes() -> None:
    """The check above covers real merges, not only single releases."""
    groups = _by_ocid(SAMPLE_FILES[0])
    assert sum(1 for rs in groups.values() if len(rs) > 1) == 18


def _release(date: str, **fields: Any) -> dict[str, Any]:
    return {"ocid": "ocds-x-1", "id": f"r-{date}", "date": date, "tag": ["tender"], **fields}


# Small cases of the merge rules, each checked against ocdsmerge rather than hand-written.
CASES: dict[str, list[dict[str, Any]]] = {
    "null removes a field": [
        _release("2024-01-01", tender={"title": "A", "description": "D"}),
        _release("2024-02-01", tender={"description": None}),
    ],
    "later date wins whatever the order given": [
        _release("2024-03-01", tender={"title": "late"}),
        _release("2024-01-01", tender={"title": "early", "status": "active"}),
    ],
    "awards merge by id": [
        _release("2024-01-01", awards=[{"id": "1", "value": {"amount": 5, "currency": "GBP"}}]),
        _release(
            "2024-02-01",
            awards=[{"id": "1", "status": "active"}, {"id": "2", "status": "pending"}],
        ),
    ],
    "objects without id are appended": [
        _release("2024-01-01", tender={"milestones": [{"title": "a"}]}),
        _release("2024-02-01", tender={"milestones": [{"title": "b"}]}),
    ],
    "wholeListMerge arrays are replaced": [
        _release("2024-01-01", tender={"submissionMethod": ["electronicSubmission", "written"]}),
        _release("2024-02-01", tender={"submissionMethod": ["inPerson"]}),
    ],
    "empty objects and arrays add nothing": [
        _release("2024-01-01", tender={"items": [], "value": {}}, parties=[]),
    ],
    "null over an object keeps what was merged": [
        _release("2024-01-01", tender={"title": "A"}),
        _release("2024-02-01", tender=None),
    ],
    "extension fields merge by the defaults": [
        _release("2024-01-01", x_ext={"list": [{"id": "a", "v": 1}], "flag": True}),
        _release("2024-02-01", x_ext={"list": [{"id": "a", "w": 2}, {"id": "b"}]}),
    ],
    "an id of null is one object": [
        _release("2024-01-01", awards=[{"id": None, "title": "x"}, {"id": None, "status": "y"}]),
    ],
    "objects with only null fields are kept empty": [
        _release("2024-01-01", tender={"value": {"amount": None}}),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_merge_rules_match_ocdsmerge(name: str, merger: ocdsmerge.Merger) -> None:
    releases = CASES[name]
    ours = compile_releases(releases, default_rules())
    expected = merger.create_compiled_release(releases)
    assert ours == expected
    assert list(ours) == list(expected)


def test_integer_and_string_ids_are_one_object() -> None:
    """An ``id`` of 1 and of "1" name the same object (ocdsmerge's result depends on field
    order here: it merges fields both copies have and splits the rest; we always merge)."""
    compiled = compile_releases(
        [
            _release("2024-01-01", awards=[{"id": 1, "title": "int"}]),
            _release("2024-02-01", awards=[{"id": "1", "status": "active"}]),
        ]
    )
    assert compiled["awards"] == [{"id": 1, "title": "int", "status": "active"}]


def test_compiled_release_metadata() -> None:
    compiled = compile_releases(CASES["null removes a field"])
    assert compiled["tag"] == ["compiled"]
    assert compiled["id"] == "ocds-x-1-2024-02-01"
    assert compiled["date"] == "2024-02-01"
    assert compiled["tender"] == {"title": "A"}
