"""Consortia: exact team selection with HiGHS, alternatives, greedy fallback (issue 13)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.matching.consortium import (
    Candidate,
    greedy_team,
    propose_consortia,
    requirement_groups,
    solve_teams,
)
from locality.matching.match import MatchError, SupplierIndex, Target
from tests.helpers import supplier_index


def _c(name: str, covers: str, capacity: float = 0.0, score: float = 0.5) -> Candidate:
    return Candidate(id=name, covers=frozenset(covers.split()), capacity=capacity, score=score)


def test_requirement_groups() -> None:
    assert requirement_groups(["45233141", "45210000", "85000000", "45236000"]) == [
        "45200000",
        "85000000",
    ]


def test_one_member_who_covers_everything_beats_a_better_scored_pair() -> None:
    candidates = [_c("A", "r1", score=1.0), _c("B", "r2", score=1.0), _c("C", "r1 r2", score=0.1)]
    teams = solve_teams(candidates, ["r1", "r2"], None, alternatives=0)
    assert [m.id for m in teams[0].members] == ["C"]
    assert teams[0].optimal and teams[0].method == "integer program"


def test_among_equal_sizes_the_best_matched_team_wins() -> None:
    candidates = [
        _c("A", "r1", score=0.2),
        _c("B", "r1", score=0.9),
        _c("C", "r2", score=0.4),
        _c("D", "r2", score=0.8),
    ]
    teams = solve_teams(candidates, ["r1", "r2"], None, alternatives=3)
    assert sorted(teams[0].ids) == ["B", "D"]
    # Alternatives differ from every earlier team in at least one member, best next.
    assert [sorted(t.ids) for t in teams] == [["B", "D"], ["B", "C"], ["A", "D"], ["A", "C"]]
    assert len({t.ids for t in teams}) == len(teams)


def test_capacity_needs_a_bigger_team_and_the_lead_has_the_capacity() -> None:
    candidates = [
        _c("small", "r1 r2", capacity=50_000, score=1.0),
        _c("big", "r1", capacity=400_000, score=0.3),
        _c("mid", "r2", capacity=200_000, score=0.3),
    ]
    teams = solve_teams(candidates, ["r1", "r2"], 500_000, alternatives=1)
    assert sorted(teams[0].ids) == ["big", "mid"]
    assert teams[0].covers_value and teams[0].lead().id == "big"
    assert sorted(teams[1].ids) == ["big", "mid", "small"] or not teams[1].covers_value


def test_a_value_no_team_can_reach_is_said() -> None:
    candidates = [_c("A", "r1", capacity=10), _c("B", "r2", capacity=10)]
    teams = solve_teams(candidates, ["r1", "r2"], 1_000_000, alternatives=0)
    assert sorted(teams[0].ids) == ["A", "B"] and not teams[0].covers_value


def test_no_team_within_the_member_limit() -> None:
    candidates = [_c("A", "r1"), _c("B", "r2"), _c("C", "r3")]
    assert solve_teams(candidates, ["r1", "r2", "r3"], None, max_members=2) == []
    assert solve_teams(candidates, ["r1", "r4"], None) == []
    with pytest.raises(MatchError):
        solve_teams(candidates, ["r1"], None, max_members=0)


def test_greedy_team() -> None:
    candidates = [_c("A", "r1 r2", score=0.5), _c("B", "r3"), _c("C", "r1")]
    chosen = greedy_team(candidates, ["r1", "r2", "r3"], None, 5)
    assert chosen is not None and sorted(candidates[i].id for i in chosen) == ["A", "B"]
    assert greedy_team(candidates, ["r1", "r9"], None, 5) is None


def _cost(team: list[Candidate], max_members: int) -> float:
    return sum(1 - c.score / (max_members + 1) for c in team)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sets(st.sampled_from(["r1", "r2", "r3", "r4"]), max_size=3),
            st.integers(0, 100),
            st.integers(0, 10),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 250)),
)
def test_the_integer_program_is_optimal_against_brute_force(
    raw: list[tuple[set[str], int, int]], max_members: int, value: int | None
) -> None:
    candidates = [
        Candidate(id=f"s{n}", covers=frozenset(c), capacity=float(cap), score=s / 10)
        for n, (c, cap, s) in enumerate(raw)
    ]
    requirements = ["r1", "r2"]
    best = None
    for k in range(1, max_members + 1):
        for team in itertools.combinations(candidates, k):
            covered = set().union(*(c.covers for c in team))
            if not set(requirements) <= covered:
                continue
            if value is not None and sum(c.capacity for c in team) < value:
                continue
            cost = _cost(list(team), max_members)
            best = cost if best is None else min(best, cost)
    teams = solve_teams(candidates, requirements, value, max_members=max_members, alternatives=0)
    if best is None:
        # Nothing reaches the value (or covers): at most a cover marked short of the value.
        assert not teams or not teams[0].covers_value
        return
    assert teams and teams[0].optimal and teams[0].covers_value
    assert _cost(teams[0].members, max_members) == pytest.approx(best, abs=1e-6)


@pytest.fixture(scope="module")
def index(sample_store_file: Path) -> SupplierIndex:
    return supplier_index(sample_store_file)


def test_teams_on_the_real_sample(index: SupplierIndex) -> None:
    # Social care and building repair: two CPV groups the sample's suppliers have won.
    target = Target(
        id="t",
        title="Supported living with adapted housing repairs",
        text="supported living care home adaptations repairs maintenance",
        cpv=["85310000", "45450000"],
        councils=["LDS"],
        value=300_000,
    )
    result = propose_consortia(index, target, max_members=4, alternatives=2)
    assert [r["code"] for r in result["requirements"]] == ["85300000", "45400000"]
    assert result["teams"], result
    first = result["teams"][0]
    assert first["optimal"] and first["method"] == "integer program"
    covered = set().union(*(m["covers"] for m in first["members"]))
    assert covered == {"85300000", "45400000"}
    assert first["lead"] in {m["id"] for m in first["members"]}
    for m in first["members"]:
        assert set(m) >= {"id", "name", "scale", "vcse", "covers"}
        assert m["evidence"]
    member_sets = [frozenset(m["id"] for m in t["members"]) for t in result["teams"]]
    assert len(set(member_sets)) == len(member_sets)
    small = propose_consortia(index, target, sme_vcse_only=True, alternatives=0)
    for team in small["teams"]:
        assert all(m["scale"] == "sme" or m["vcse"] for m in team["members"])


def test_cli_consortium(sample_store_file: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(sample_store_file)]
    result = runner.invoke(
        app, [*db, "consortium", "ocds-h6vhtk-06f1b4", "--alternatives", "1", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # HiGHS's banner must not reach stdout
    assert "teams" in data
    for team in data["teams"]:
        assert set(team) >= {"members", "lead", "score", "optimal"}
    result = runner.invoke(app, [*db, "consortium", "ocds-h6vhtk-06f1b4"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*db, "consortium", "ocds-missing"])
    assert result.exit_code == 1 and "no process" in result.output


def test_no_team_in_time_falls_back_to_a_labelled_greedy_team(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from locality.matching import consortium

    # The solver stopping at its time limit with no team (what a huge instance can do).
    monkeypatch.setattr(consortium, "_solve", lambda *args, **kwargs: (None, False))
    candidates = [_c("A", "r1 r2", capacity=100, score=0.5), _c("B", "r3", capacity=100)]
    teams = solve_teams(candidates, ["r1", "r2", "r3"], 150, alternatives=1)
    assert len(teams) == 1  # the greedy team once; the same team is no alternative
    assert sorted(teams[0].ids) == ["A", "B"]
    assert teams[0].method == "greedy" and not teams[0].optimal and teams[0].covers_value


def test_a_time_limited_team_is_not_called_optimal() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    requirements = [f"r{n}" for n in range(30)]
    candidates = [
        Candidate(
            id=f"c{n}",
            covers=frozenset(rng.choice(requirements, size=3, replace=False)),
            capacity=float(rng.integers(1, 100)),
            score=float(rng.random()),
        )
        for n in range(3000)
    ]
    teams = solve_teams(
        candidates, requirements, 400.0, max_members=15, alternatives=0, time_limit=0.01
    )
    assert teams, "the warm start (greedy) is a team even when the solver is stopped"
    assert teams[0].method == "integer program" and not teams[0].optimal


def test_the_help_example_proposes_a_team_on_the_sample(sample_store_file: Path) -> None:
    import re

    result = CliRunner().invoke(app, ["consortium", "--help"], env={"COLUMNS": "200"})
    example = re.search(r"locality consortium (\S+) --sme-vcse-only\s*$", result.stdout, re.M)
    assert example, result.stdout
    db = ["--db", str(sample_store_file)]
    args = [*db, "consortium", example.group(1), "--sme-vcse-only", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    teams = json.loads(result.stdout)["teams"]
    assert teams
    for team in teams:
        assert all(m["scale"] == "sme" or m["vcse"] for m in team["members"])
