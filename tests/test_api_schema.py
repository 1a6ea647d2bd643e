"""The JSON API against its own OpenAPI schema, fuzzed by schemathesis.

Every operation of ``/openapi.json`` is called in-process (ASGI) over the bundled sample,
with valid parameters generated from the schema and with invalid ones: no response may be
a server error (5xx), valid requests must get responses that conform to the schema (a
documented status code, its content type, a body matching it), and invalid ones a 4xx.
Bounded (``EXAMPLES`` per operation and mode) and derandomised, so a run is repeatable
and takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from locality.web.app import create_app

EXAMPLES = 25

# The operations, from the schema of an app over no store (building it opens nothing).
PATHS = create_app(Path("unused.duckdb")).openapi()["paths"]
OPERATIONS = [(method.upper(), path) for path, item in PATHS.items() for method in item]
# Invalid requests, for the operations that have parameters to get wrong.
NEGATIVE = [(m, p) for m, p in OPERATIONS if PATHS[p][m.lower()].get("parameters")]
CASES = [
    *((m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS),
    *((m, p, GenerationMode.NEGATIVE) for m, p in NEGATIVE),
]


@pytest.fixture(scope="module")
def api_schema(sample_store_file: Path) -> Iterator[Any]:
    app = create_app(sample_store_file)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_api_route_is_fuzzed() -> None:
    paths = {path for _, path in OPERATIONS}
    assert {
        "/api/status",
        "/api/metrics",
        "/api/place/{name}",
        "/api/place/{name}/spend",
        "/api/compare",
    } <= paths
    assert all(path.startswith("/api/") for path in paths)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_api_conforms_to_its_schema(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    # `where=place=NAME` must name a place or council: a name the schema cannot list, so a
    # schema-valid filter may get a 422 (which must then say that).
    positive = mode == GenerationMode.POSITIVE
    excluded = [positive_data_acceptance] if positive and path == "/api/metrics" else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call_and_validate(excluded_checks=excluded)
        assert response.status_code < 500, response.text
        if excluded and response.status_code == 422:
            assert "no place or council called" in response.json()["detail"]

    check()


@pytest.mark.parametrize(
    ("path", "parameters"),
    [
        ("/api/place/{name}", {"path_parameters": {"name": "Manchester"}}),
        ("/api/place/{name}", {"path_parameters": {"name": "West Yorkshire"}}),
        ("/api/place/{name}/spend", {"path_parameters": {"name": "Manchester"}}),
        (
            "/api/place/{name}/spend",
            {
                "path_parameters": {"name": "Leeds"},
                "query": {"format": "csv", "section": "themes", "min_amount": 500},
            },
        ),
        ("/api/compare", {"query": {"names": ["Manchester", "Swindon", "York"]}}),
        ("/api/compare", {"query": {"names": ["WYCA", "York"], "format": "csv"}}),
        ("/api/metrics", {"query": {"by": "place", "where": ["place=Manchester"]}}),
        ("/api/metrics", {"query": {"by": "year", "where": ["region=London"], "limit": 3}}),
        ("/api/search", {"query": {"q": "council"}}),
    ],
)
def test_real_names_conform_to_the_schema(
    api_schema: Any, path: str, parameters: dict[str, Any]
) -> None:
    """Generated names are almost never in the store: real ones check the 200 bodies."""
    case = api_schema[path]["GET"].Case(**parameters)
    response = case.call_and_validate()
    assert response.status_code == 200, response.text
