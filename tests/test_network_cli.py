"""``locality network brokers|communities|gaps|export`` on the bundled sample."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

from locality.cli import app


def _cli(store: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", str(store), "network", *args])


def test_brokers_json_has_the_documented_fields(spend_sample_store_file: Path) -> None:
    result = _cli(spend_sample_store_file, "brokers", "--locality", "Leeds", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and {"id", "name", "sector", "betweenness", "constraint", "roles", "why"} <= set(
        rows[0]
    )
    assert rows[0]["name"] == "Leeds City Council"
    assert set(rows[0]["roles"]) == {
        "coordinator",
        "itinerant",
        "representative",
        "gatekeeper",
        "liaison",
    }
    betweenness = [r["betweenness"] for r in rows]
    assert betweenness == sorted(betweenness, reverse=True)


def test_brokers_table_and_csv(spend_sample_store_file: Path) -> None:
    table = _cli(spend_sample_store_file, "brokers", "--place", "West Yorkshire", "--top", "3")
    assert table.exit_code == 0, table.output
    assert "Brokers of the network of West Yorkshire" in table.stdout
    assert "betweenness exact" in table.stdout
    result = _cli(spend_sample_store_file, "brokers", "--locality", "Leeds", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[2]["name"] == "DLA Architecture Ltd" and rows[2]["liaison"] == "2"


def test_communities_json(spend_sample_store_file: Path) -> None:
    result = _cli(spend_sample_store_file, "communities", "--locality", "Leeds", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scope"] == "Leeds" and data["modularity"] > 0
    assert {"id", "size", "sectors", "main_buyers", "themes", "description"} <= set(
        data["communities"][0]
    )


def test_gaps_sections_and_csv(spend_sample_store_file: Path) -> None:
    result = _cli(spend_sample_store_file, "gaps", "--place", "West Yorkshire", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"unreached", "buyer_pairs", "connectors", "sparse_buyers", "market_cores"} <= set(data)
    one = _cli(
        spend_sample_store_file, "gaps", "--section", "connectors", "--format", "csv",
        "--place", "West Yorkshire",
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    assert one.stdout.startswith("id,name,sector,locality,places")
    needs_section = _cli(spend_sample_store_file, "gaps", "--format", "csv")
    assert needs_section.exit_code == 2 and "--section" in needs_section.output
    bad = _cli(spend_sample_store_file, "gaps", "--section", "nope")
    assert bad.exit_code == 2 and "market_cores" in bad.output


def test_gaps_csv_keeps_numbers_as_numbers(spend_sample_store_file: Path) -> None:
    """A spreadsheet reads 10000 and 2180950.5 as numbers, "10,000" as text."""
    as_json = _cli(spend_sample_store_file, "gaps", "--section", "market_cores", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    want = json.loads(as_json.stdout)["market_cores"]
    result = _cli(spend_sample_store_file, "gaps", "--section", "market_cores", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["theme"] for r in rows] == [w["theme"] for w in want]
    for got, row in zip(rows, want, strict=True):
        for column in ("value", "suppliers", "top4_share", "hhi", "core_suppliers"):
            assert float(got[column]) == row[column]
    assert any(float(r["hhi"]) >= 1_000 for r in rows)  # where a separator would have gone
    connectors = _cli(
        spend_sample_store_file, "gaps", "--section", "connectors", "--format", "csv",
        "--place", "West Yorkshire",
    )  # fmt: skip
    assert connectors.exit_code == 0, connectors.output
    mears = next(
        r for r in csv.DictReader(io.StringIO(connectors.stdout)) if r["name"] == "Mears Limited"
    )
    assert mears["place_names"] == "Bradford; Leeds"  # lists are still flattened
    assert float(mears["strength"]) > 0 and "," not in mears["strength"]


@pytest.mark.parametrize("suffix", [".gexf", ".graphml"])
def test_export_graph_files_read_back(
    spend_sample_store_file: Path, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"leeds{suffix}"
    result = _cli(spend_sample_store_file, "export", "--locality", "Leeds", "--output", str(path))
    assert result.exit_code == 0, result.output
    graph = nx.read_gexf(path) if suffix == ".gexf" else nx.read_graphml(path)
    assert graph.number_of_nodes() == 104
    node = graph.nodes["GB-CFS-186432"]
    assert node["label"] == "University of Leeds"
    assert node["sector"] == "higher_further_education" and node["itinerant"] == 132


def test_export_csv_pair(spend_sample_store_file: Path, tmp_path: Path) -> None:
    result = _cli(
        spend_sample_store_file, "export", "--locality", "Leeds", "-o", str(tmp_path / "n.csv")
    )
    assert result.exit_code == 0, result.output
    nodes = list(csv.DictReader((tmp_path / "n-nodes.csv").open(encoding="utf-8")))
    edges = list(csv.DictReader((tmp_path / "n-edges.csv").open(encoding="utf-8")))
    ids = {n["id"] for n in nodes}
    assert len(ids) == len(nodes) == 104
    assert all(e["source"] in ids and e["target"] in ids for e in edges)
    framework = [e for e in edges if e["kind"] == "framework"]
    assert framework and all(float(e["value"]) == 0 for e in framework)


def test_bad_input_says_what_to_do(spend_sample_store_file: Path, tmp_path: Path) -> None:
    bad = _cli(spend_sample_store_file, "export", "--output", str(tmp_path / "x.txt"))
    assert bad.exit_code == 2 and ".gexf, .graphml or .csv" in bad.output
    place = _cli(spend_sample_store_file, "brokers", "--place", "Leedz")
    assert place.exit_code == 2 and "did you mean" in place.output
    both = _cli(spend_sample_store_file, "brokers", "--place", "Leeds", "--locality", "Leeds")
    assert both.exit_code == 2 and "not both" in both.output
    empty = _cli(spend_sample_store_file, "brokers", "--since", "2099-01-01")
    assert empty.exit_code == 1 and "wider scope" in empty.output
    missing = CliRunner().invoke(app, ["--db", str(tmp_path / "none.duckdb"), "network", "brokers"])
    assert missing.exit_code != 0
