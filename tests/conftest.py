"""Shared fixtures: the bundled real sample, and fresh DuckDB stores."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from locality.enrich import load
from locality.ingest.pipeline import ingest
from locality.store.db import connect

# tests/helpers.py asserts too: let pytest explain its failures as it does the tests' own.
pytest.register_assert_rewrite("tests.helpers")

# `locality ingest` stores the dashboard's figures after loading (views/precompute.py), about
# 15 s on the sample. tests/test_web_precompute.py asks for that step and proves its figures
# equal to those computed on request, which is what every other test reads.
os.environ.setdefault("LOCALITY_REFRESH", "0")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "ocds"
SPEND_SAMPLE = ROOT / "data" / "sample" / "spend"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CF_RELEASES = SAMPLE / "contracts-finder-releases.jsonl"
CF_LEGACY_AWARDS = SAMPLE / "contracts-finder-legacy-2020-award-releases.jsonl"
CF_LEGACY_TENDERS = SAMPLE / "contracts-finder-legacy-2014-2015-tender-releases.jsonl"
SCOTLAND = SAMPLE / "other-publishers" / "public-contracts-scotland-tender-releases.jsonl"
WALES = SAMPLE / "other-publishers" / "sell2wales-tender-releases.jsonl"
FIND_A_TENDER = SAMPLE / "find-a-tender" / "find-a-tender-releases.jsonl"
ESCAPE_STRIPPED = FIXTURES / "clean_escape_stripped_variants.jsonl"
SAMPLE_FILES = (CF_RELEASES, CF_LEGACY_AWARDS, CF_LEGACY_TENDERS, SCOTLAND, WALES, FIND_A_TENDER)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A path for a new, empty store."""
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(store_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh, migrated, empty store."""
    con = connect(store_path)
    yield con
    con.close()


@pytest.fixture(scope="session")
def sample_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole bundled sample ingested once per test session (copy it before writing)."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    con = connect(path)
    load(con, [SAMPLE])
    con.close()
    return path


@pytest.fixture(scope="session")
def spend_sample_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample's contracts (OCDS) and council spend files ingested once per test
    session, suppliers resolved (copy it before writing)."""
    path = tmp_path_factory.mktemp("spend-sample") / "spend-sample.duckdb"
    con = connect(path)
    load(con, [SAMPLE, SPEND_SAMPLE])
    con.close()
    return path


@pytest.fixture(scope="session")
def cf_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Contracts Finder's releases alone (``CF_RELEASES``), ingested once per test session
    and not enriched: the store of the measures checked by hand (only read it)."""
    path = tmp_path_factory.mktemp("cf") / "cf.duckdb"
    con = connect(path)
    ingest(con, [CF_RELEASES])
    con.close()
    return path


def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a store built once for many tests (for fixtures)."""
    con = connect(path, read_only=True)
    yield con
    con.close()


def writable_copy(path: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a private copy of a store built once, for a test that writes."""
    copy = tmp_path / f"copy-of-{path.name}"
    shutil.copy(path, copy)
    con = connect(copy)
    yield con
    con.close()


@pytest.fixture
def sample_store(sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the ingested sample."""
    yield from read_only(sample_store_file)


@pytest.fixture(scope="module")
def spend_store(spend_sample_store_file: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the ingested sample with its council spend."""
    yield from read_only(spend_sample_store_file)


@pytest.fixture
def writable_sample_store(
    sample_store_file: Path, tmp_path: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private, writable copy of the ingested sample."""
    yield from writable_copy(sample_store_file, tmp_path)


def award_release(
    tag: str, buyer: str, supplier: str, company_number: str, amount: float, date: str
) -> dict[str, Any]:
    """One OCDS award release naming a real buyer and a real supplier under a company
    number, for tests that link a spend file's supplier when no sample release names it."""
    ocid = f"ocds-test-{tag}"
    return {
        "ocid": ocid,
        "id": f"{ocid}-award",
        "date": date,
        "tag": ["award"],
        "parties": [
            {"id": "b", "name": buyer, "roles": ["buyer"]},
            {
                "id": "s",
                "name": supplier,
                "roles": ["supplier"],
                "identifier": {"scheme": "GB-COH", "id": company_number},
            },
        ],
        "buyer": {"id": "b", "name": buyer},
        "awards": [
            {
                "id": "1",
                "status": "active",
                "value": {"amount": amount, "currency": "GBP"},
                "suppliers": [{"id": "s", "name": supplier}],
            }
        ],
    }
