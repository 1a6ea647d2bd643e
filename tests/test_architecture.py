"""docs/architecture.md's import graph is the code's own: each package's imports of other
locality packages, as grimp (import-linter's graph) reads them. `make lint` checks the layers
contract itself; this keeps the picture in the docs from drifting."""

from __future__ import annotations

import re
from collections import defaultdict

import grimp

from tests.conftest import ROOT


def _code_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("locality", cache_dir=None)
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        parts = module.split(".")
        if len(parts) < 2:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            other = imported.split(".")
            if len(other) >= 2 and other[0] == "locality" and other[1] != parts[1]:
                edges[parts[1]].add(other[1])
    return dict(edges)


def _documented_graph() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("Import graph between packages", 1)[1].split("\n\n", 2)[1]
    edges = {}
    for line in block.splitlines():
        match = re.fullmatch(r"\s+(\w+)\s+→ (.+)", line)
        assert match, f"not a graph line: {line!r}"
        edges[match.group(1)] = {name.strip() for name in match.group(2).split(",")}
    return edges


def test_the_documented_import_graph_is_the_codes() -> None:
    documented, code = _documented_graph(), _code_graph()
    assert len(documented) >= 10
    differ = {
        package: {
            "documented only": sorted(documented.get(package, set()) - code.get(package, set())),
            "code only": sorted(code.get(package, set()) - documented.get(package, set())),
        }
        for package in set(documented) | set(code)
        if documented.get(package) != code.get(package)
    }
    assert not differ, f"docs/architecture.md's import graph differs from the code's: {differ}"
