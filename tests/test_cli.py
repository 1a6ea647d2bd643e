"""The ``locality`` command: help with examples, documented commands, machine-readable output."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import ocdsmerge
import pytest

from locality.reference import release_schema
from tests.conftest import CF_RELEASES, ROOT
from tests.helpers import (
    cli,
    file_counts,
    gen_commands,
    group_by_ocid,
    read_jsonl,
    store_counts,
)

COMMANDS = ("ingest", "compile", "status", "metrics")


PATHS = gen_commands().command_paths()  # every command and subcommand, walked
IDS = [" ".join(path) for path in PATHS]


def test_the_app_has_the_documented_commands() -> None:
    assert set(COMMANDS) <= {path[0] for path in PATHS}
    # Subcommands are walked too (new groups are picked up without a change here).
    assert {("fetch", "find-a-tender"), ("suppliers", "add-facts")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    name = " ".join(path)
    assert f"Usage: locality {name}" in result.stdout
    assert "Example" in result.stdout, f"`locality {name} --help` shows no example"
    # The example runs this very command (``locality [--db FILE] NAME ...``).
    example = result.stdout[result.stdout.index("Example") :]
    assert re.search(rf"^ +locality (--db \S+ )?{re.escape(name)}\b", example, re.M), example


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_command_is_in_the_docs(path: tuple[str, ...]) -> None:
    # The generated reference (docs/commands.md) does not count: a command is explained
    # somewhere a reader looks for it.
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in docs if p.exists() and p.name != "commands.md"
    )
    name = " ".join(path)
    assert f"locality {name}" in text, f"`locality {name}` is not mentioned in README/docs"


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_json_output(tmp_path: Path) -> None:
    result = cli("--db", str(tmp_path / "s.duckdb"), "ingest", str(CF_RELEASES), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout is the JSON object and nothing else
    assert set(data) >= {"files", "totals"}
    [file] = data["files"]
    assert {"file", "kind", "records_read", "kept", "rejected"} <= set(file)
    assert file["file"] == str(CF_RELEASES)
    counts = file_counts(CF_RELEASES)
    assert (file["records_read"], file["kept"], file["rejected"]) == (
        counts["records_read"],
        counts["kept"],
        counts["rejected"],
    )
    totals = data["totals"]
    assert {"releases", "processes", "awards", "organisations", "rejected", "seconds"} <= set(
        totals
    )
    assert (totals["releases"], totals["processes"], totals["rejected"]) == (
        counts["kept"],
        counts["processes"],
        counts["rejected"],
    )
    assert totals["awards"] > 100 and totals["organisations"] > 100
    assert isinstance(totals["seconds"], int | float) and totals["seconds"] >= 0


# --- status and metrics on the ingested sample -----------------------------------------------


def test_status_json(sample_store_file: Path) -> None:
    result = cli("--db", str(sample_store_file), "status", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    counts = data["counts"]
    assert counts["rejected"] == store_counts()["rejected"]
    assert counts["releases"] == store_counts()["releases"]
    coverage = data["coverage"]
    for key in (
        "supplier_scale",
        "supplier_vcse",
        "supplier_postcode",
        "supplier_local_authority",
    ):
        assert key in coverage
        assert coverage[key] is not None and 0 < coverage[key] <= 1, key


@pytest.fixture(scope="module")
def metrics_json(sample_store_file: Path) -> list[dict[str, Any]]:
    result = cli("--db", str(sample_store_file), "metrics", "--by", "buyer", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) > 10
    return rows


METRIC_KEYS = (
    "buyer_name",
    "buyer_id",
    "awards",
    "awarded_value",
    "sme_share",
    "vcse_share",
    "known_scale_share",
)
SHARES = ("sme_share", "vcse_share", "known_scale_share")


def test_metrics_json(metrics_json: list[dict[str, Any]]) -> None:
    for row in metrics_json:
        assert set(METRIC_KEYS) <= set(row), row
        for share in SHARES:
            value = row[share]
            assert value is None or 0 <= value <= 1 + 1e-9, (share, row)
        # A buyer with only framework appointments has no award of money, but a ceiling.
        assert row["awards"] + row["frameworks"] >= 1
    assert any(row["sme_share"] is not None for row in metrics_json)


def test_metrics_table_calls_a_small_base_few(
    sample_store_file: Path, metrics_json: list[dict[str, Any]]
) -> None:
    """The table never shows an HHI over a handful of awards or suppliers as a number."""
    small = [r for r in metrics_json[:5] if r["small_base"]]
    readable = [r for r in metrics_json if r["hhi"] is not None and not r["small_base"]]
    assert small, "the sample's largest buyers have few awards"
    result = cli("--db", str(sample_store_file), "metrics", "--by", "buyer", "--limit", "5")
    assert result.exit_code == 0, result.output
    table = result.stdout.split("Shares are of value")[0]  # the rows, not the footnote
    assert table.count(" few ") == len(small)
    if readable:  # and a market large enough to read keeps its number
        wide = cli("--db", str(sample_store_file), "metrics", "--by", "buyer")
        assert f"{readable[0]['hhi']:,.0f}" in wide.stdout


def test_metrics_csv_matches_json(
    sample_store_file: Path, metrics_json: list[dict[str, Any]]
) -> None:
    result = cli("--db", str(sample_store_file), "metrics", "--by", "buyer", "--format", "csv")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    assert reader.fieldnames == list(metrics_json[0])
    assert len(rows) == len(metrics_json)
    for got, want in zip(rows, metrics_json, strict=True):
        assert got["buyer_id"] == ("" if want["buyer_id"] is None else want["buyer_id"])
        assert int(got["awards"]) == want["awards"]
        assert float(got["awarded_value"]) == pytest.approx(want["awarded_value"])
        for share in SHARES:
            if want[share] is None:
                assert got[share] == ""
            else:
                assert 0 <= float(got[share]) <= 1 + 1e-9
                assert float(got[share]) == pytest.approx(want[share])


@pytest.mark.parametrize("command", ["status", "metrics"])
def test_missing_store_gives_a_clear_error(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.duckdb"
    result = cli("--db", str(missing), command)
    assert result.exit_code != 0
    message = " ".join(result.stderr.split())
    assert "locality ingest" in message
    assert "Traceback" not in result.output
    assert not missing.exists()  # asking does not create an empty store


# --- compile ---------------------------------------------------------------------------------


def test_compile_matches_ocdsmerge(tmp_path: Path) -> None:
    out = tmp_path / "compiled.jsonl"
    result = cli("compile", str(CF_RELEASES), "-o", str(out))
    assert result.exit_code == 0, result.output
    groups = group_by_ocid(read_jsonl(CF_RELEASES))
    lines = out.read_bytes().splitlines()
    assert len(lines) == file_counts(CF_RELEASES)["processes"]
    compiled = [json.loads(line) for line in lines]
    # One line per OCID, in order of first appearance.
    assert [c["ocid"] for c in compiled] == list(groups)
    merger = ocdsmerge.Merger(release_schema())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ocdsmerge.exceptions.DuplicateIdValueWarning)
        for item in compiled:
            assert item == merger.create_compiled_release(groups[item["ocid"]]), item["ocid"]
