"""Consortia: teams of smaller suppliers that together cover an opportunity.

Where no single small supplier covers an opportunity (its CPV groups, or its value against
their largest past award), third-sector consortia and SME partnerships bid together. A
team is chosen as a weighted set cover, solved exactly as an integer program by HiGHS
(``highspy``; a 10k-candidate, 50-requirement cover with capacity and a member limit
solves to optimality in seconds, ``bench/matching.py``):

    minimise    sum_i c_i x_i,   c_i = 1 - s_i / (M + 1)
    subject to  sum_{i covers r} x_i >= 1        for every required CPV group r
                sum_i capacity_i x_i >= value    (when the value is known)
                sum_i x_i <= M                   (--max-members)
                sum_{i in T} x_i <= |T| - 1      for every team T already proposed
                x_i in {0, 1}

``s_i`` is the candidate's match score scaled to [0, 1]; with costs in (1 - 1/(M+1), 1] a
team of k members always costs less than any team of k + 1 (k < M), so the solver finds
the fewest members first and, among those, the best-matched. The last constraints are
no-good cuts: each alternative differs from every earlier team in at least one member.
When the members cannot reach the value, the cover is solved without it and the team says
``covers_value: false``. If the solver stops at its time limit with a team, that team is
given with ``optimal: false``; with none, a greedy team (most new requirements and
capacity per cost) is given, labelled ``method: greedy`` and ``optimal: false``.

Candidates are pre-filtered by match score (``matching.match``): the top ``pool`` of the
suppliers who cover at least one requirement, then (``prefilter``) the best
``per_requirement`` for each requirement and the ``by_capacity`` largest; a team is optimal
among those (a 10k-candidate, 50-requirement cover then solves in seconds,
``bench/matching.py``; a greedy team starts the solver).
A candidate covers a requirement when it has won an award in that CPV group (the code's
first three digits: a "group" of the CPV 2008 hierarchy) or, for a requirement given only
as a division, in that division.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from locality.matching.match import MatchError, SupplierIndex, Target
from locality.matching.profiles import cpv_label

DEFAULT_TIME_LIMIT = 10.0
DEFAULT_POOL = 300
# Candidates the integer program sees: the best few per requirement, and the largest.
DEFAULT_PER_REQUIREMENT = 10
DEFAULT_BY_CAPACITY = 50


@dataclass(frozen=True)
class Candidate:
    id: str
    covers: frozenset[str]
    capacity: float  # largest single counted award (0 when none)
    score: float  # match score in [0, 1]
    name: str | None = None
    scale: str = "unknown"
    vcse: bool | None = None


@dataclass
class Team:
    members: list[Candidate]
    optimal: bool
    method: str  # "integer program" | "greedy"
    covers_value: bool
    requirements: list[str] = field(default_factory=list)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(m.id for m in self.members)

    @property
    def capacity(self) -> float:
        return sum(m.capacity for m in self.members)

    @property
    def score(self) -> float:
        return sum(m.score for m in self.members) / len(self.members) if self.members else 0.0

    def lead(self) -> Candidate:
        """The member with the most relevant capacity: most requirements covered, then the
        largest past award."""
        return max(self.members, key=lambda m: (len(m.covers), m.capacity, m.score, m.id))


def requirement_groups(codes: Sequence[str]) -> list[str]:
    """The CPV groups an opportunity needs covered: each code's group (3 digits), or its
    division when the code names only a division; as 8-digit codes (``45200000``)."""
    found = []
    for code in codes:
        code = code[:8]
        depth = min(max(len(code.rstrip("0")), 2), 3)
        group = code[:depth].ljust(8, "0")
        if group not in found:
            found.append(group)
    return found


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS prints a banner to the process's standard output the first time a solver is
    made; JSON on stdout must stay JSON, so the file descriptor is pointed away meanwhile."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        fd = 1
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def _warm_start(
    candidates: Sequence[Candidate],
    requirements: Sequence[str],
    value: float | None,
    max_members: int,
    cuts: Sequence[frozenset[int]],
) -> list[int] | None:
    """A feasible team to start the solver from: the greedy one, else (it is a team already
    proposed) the greedy one without one of the last team's members."""
    tries: list[frozenset[int]] = [frozenset()]
    if cuts:
        tries += [frozenset({m}) for m in sorted(cuts[-1])]
    for excluded in tries:
        team = greedy_team(candidates, requirements, value, max_members, cuts, excluded)
        if team is not None and (
            value is None or sum(candidates[i].capacity for i in team) >= value
        ):
            return team
    return None


def _solve(
    candidates: Sequence[Candidate],
    requirements: Sequence[str],
    value: float | None,
    max_members: int,
    cuts: Sequence[frozenset[int]],
    time_limit: float,
) -> tuple[list[int] | None, bool]:
    """One integer program (module docstring): the chosen candidates and whether optimal."""
    import highspy

    n = len(candidates)
    rows: list[tuple[list[int], list[float], float, float]] = []
    for r in requirements:
        idx = [i for i, c in enumerate(candidates) if r in c.covers]
        if not idx:
            return None, True
        rows.append((idx, [1.0] * len(idx), 1.0, highspy.kHighsInf))
    if value is not None:
        rows.append(
            (list(range(n)), [c.capacity for c in candidates], float(value), highspy.kHighsInf)
        )
    rows.append((list(range(n)), [1.0] * n, 0.0, float(max_members)))
    for cut in cuts:
        rows.append((sorted(cut), [1.0] * len(cut), 0.0, float(len(cut) - 1)))
    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.array([1.0 - c.score / (max_members + 1) for c in candidates])
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.array([r[2] for r in rows])
    lp.row_upper_ = np.array([r[3] for r in rows])
    starts = np.cumsum([0] + [len(r[0]) for r in rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = np.concatenate([np.asarray(r[0], dtype=np.int32) for r in rows])
    lp.a_matrix_.value_ = np.concatenate([np.asarray(r[1], dtype=np.float64) for r in rows])
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(rows)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h.passModel(lp)
    start = _warm_start(candidates, requirements, value, max_members, cuts)
    if start is not None:
        # A feasible team to start from: the solver prunes against it from the first node.
        warm = highspy.HighsSolution()
        x = np.zeros(n)
        x[start] = 1.0
        warm.col_value = list(x)
        warm.value_valid = True
        h.setSolution(warm)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None, True
    solution = h.getSolution()
    if not solution.value_valid:
        return None, False
    chosen = [i for i, x in enumerate(solution.col_value) if x > 0.5]
    return (chosen or None), status == highspy.HighsModelStatus.kOptimal


def greedy_team(
    candidates: Sequence[Candidate],
    requirements: Sequence[str],
    value: float | None,
    max_members: int,
    banned: Sequence[frozenset[int]] = (),
    excluded: frozenset[int] = frozenset(),
) -> list[int] | None:
    """A team chosen one member at a time (most new requirements and capacity per cost),
    or None when it cannot cover every requirement within the member limit."""
    uncovered = set(requirements)
    chosen: list[int] = []
    capacity = 0.0
    while len(chosen) < max_members and (uncovered or (value and capacity < value)):
        best, gain = None, 0.0
        for i, c in enumerate(candidates):
            if i in chosen or i in excluded:
                continue
            new = len(uncovered & c.covers)
            short = (value - capacity) if value else 0.0
            progress = min(c.capacity, short) / value if value and short > 0 else 0.0
            g = (new + progress) / (1.0 - c.score / (max_members + 1))
            if g > gain:
                best, gain = i, g
        if best is None:
            break
        chosen.append(best)
        uncovered -= candidates[best].covers
        capacity += candidates[best].capacity
    if uncovered or not chosen or frozenset(chosen) in banned:
        return None
    return chosen


def prefilter(
    candidates: Sequence[Candidate],
    requirements: Sequence[str],
    value: float | None = None,
    max_members: int = 5,
    per_requirement: int = DEFAULT_PER_REQUIREMENT,
    by_capacity: int = DEFAULT_BY_CAPACITY,
) -> list[int]:
    """The candidates the integer program chooses among: for each requirement the
    ``per_requirement`` best covering it (match score, then capacity), the ``by_capacity``
    largest (who can carry the value) and as many of the broadest (most requirements
    covered), and the greedy team's members. Teams are optimal among these."""
    keep: set[int] = set()
    wanted = set(requirements)
    # The broadest (most requirements at once) and a greedy team from the whole pool, so the
    # chosen team is never worse than the greedy one.
    broadest = sorted(
        range(len(candidates)),
        key=lambda i: (-len(candidates[i].covers & wanted), -candidates[i].score, i),
    )
    keep.update(broadest[:by_capacity])
    keep.update(greedy_team(candidates, requirements, value, max_members) or [])
    for r in requirements:
        covering = [i for i, c in enumerate(candidates) if r in c.covers]
        covering.sort(key=lambda i: (-candidates[i].score, -candidates[i].capacity, i))
        keep.update(covering[:per_requirement])
    biggest = sorted(range(len(candidates)), key=lambda i: (-candidates[i].capacity, i))
    keep.update(biggest[:by_capacity])
    return sorted(keep)


def solve_teams(
    candidates: Sequence[Candidate],
    requirements: Sequence[str],
    value: float | None,
    *,
    max_members: int = 5,
    alternatives: int = 3,
    time_limit: float = DEFAULT_TIME_LIMIT,
    per_requirement: int = DEFAULT_PER_REQUIREMENT,
) -> list[Team]:
    """The best team and up to ``alternatives`` more, each differing from every earlier
    one in at least one member (module docstring). Empty when no team can cover every
    requirement within ``max_members``."""
    if max_members < 1:
        raise MatchError("--max-members must be at least 1")
    pool = prefilter(candidates, requirements, value, max_members, per_requirement)
    candidates = [candidates[i] for i in pool]
    teams: list[Team] = []
    cuts: list[frozenset[int]] = []
    for _ in range(1 + max(alternatives, 0)):
        chosen, optimal = _solve(candidates, requirements, value, max_members, cuts, time_limit)
        covers_value, method = True, "integer program"
        if chosen is None and optimal and value is not None:
            # The members cannot reach the value: the cover alone, marked as short.
            chosen, optimal = _solve(candidates, requirements, None, max_members, cuts, time_limit)
            covers_value = False
        if chosen is None and not optimal:
            chosen = greedy_team(candidates, requirements, value, max_members, cuts)
            method = "greedy"
            if chosen is not None and value is not None:
                covers_value = sum(candidates[i].capacity for i in chosen) >= value
        if chosen is None:
            break
        cuts.append(frozenset(chosen))
        teams.append(
            Team(
                members=[candidates[i] for i in chosen],
                optimal=optimal and method == "integer program",
                method=method,
                covers_value=covers_value and (value is None or value > 0),
                requirements=list(requirements),
            )
        )
    return teams


def _co_working(index: SupplierIndex, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Pairs of members that have won the same award before (co-suppliers), with it."""
    h = index.history
    awards: dict[str, set[tuple[str, str]]] = {}
    for sid in ids:
        i = index.position.get(sid)
        if i is not None:
            awards[sid] = {(h.ocid[r], h.award_id[r]) for r in index.profiles[i].rows}
    pairs = []
    for n, a in enumerate(ids):
        for b in ids[n + 1 :]:
            shared = sorted(awards.get(a, set()) & awards.get(b, set()))
            if shared:
                pairs.append({"members": [a, b], "awards": [f"{o}/{w}" for o, w in shared[:5]]})
    return pairs


def propose_consortia(
    index: SupplierIndex,
    target: Target,
    *,
    max_members: int = 5,
    sme_vcse_only: bool = False,
    local_only: bool = False,
    alternatives: int = 3,
    pool: int = DEFAULT_POOL,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> dict[str, Any]:
    """Teams for an opportunity from the store's suppliers, explained: who covers what,
    each member's past awards that justify it, and past co-working."""
    requirements = requirement_groups(target.cpv)
    if not requirements:
        raise MatchError(
            f"{target.id!r} names no CPV code, so there is nothing to cover: give the "
            "challenge a cpv list"
        )
    total, _ = index.scores(target)
    keep = index.mask(target, sme_or_vcse=sme_vcse_only, local_only=local_only)
    covering = np.zeros(index.size, dtype=bool)
    for r in requirements:
        holders = index.cpv_postings.get(r)
        if holders is not None:
            covering[holders] = True
    eligible = np.flatnonzero(keep & covering)
    order = eligible[np.lexsort((-index.awards[eligible], -total[eligible]))][:pool]
    top = float(total[order].max()) if order.size else 0.0
    candidates = []
    for i in order:
        p = index.profiles[int(i)]
        candidates.append(
            Candidate(
                id=p.id,
                covers=frozenset(r for r in requirements if r in p.cpv),
                capacity=p.largest or 0.0,
                score=float(total[i]) / top if top > 0 else 0.0,
                name=p.name,
                scale=p.scale,
                vcse=p.vcse,
            )
        )
    uncovered = [r for r in requirements if not any(r in c.covers for c in candidates)]
    teams = solve_teams(
        candidates,
        requirements,
        target.value,
        max_members=max_members,
        alternatives=alternatives,
        time_limit=time_limit,
    )
    single = [
        c.id
        for c in candidates
        if c.covers == set(requirements) and (target.value is None or c.capacity >= target.value)
    ]
    result_teams = []
    for team in teams:
        lead = team.lead()
        members = []
        for m in team.members:
            i = index.position[m.id]
            members.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "scale": m.scale,
                    "vcse": m.vcse,
                    "covers": sorted(m.covers),
                    "capacity": m.capacity or None,
                    "match_score": round(m.score, 4),
                    "evidence": index.evidence(i, target, limit=2),
                }
            )
        result_teams.append(
            {
                "members": members,
                "lead": lead.id,
                "score": round(team.score, 4),
                "optimal": team.optimal,
                "method": team.method,
                "size": len(members),
                "capacity": team.capacity,
                "covers_value": team.covers_value,
                "co_worked": _co_working(index, [m.id for m in team.members]),
            }
        )
    return {
        "opportunity": target.id,
        "requirements": [{"code": r, "label": cpv_label(r)} for r in requirements],
        "value": target.value,
        "candidates": len(candidates),
        "uncovered": uncovered,
        "single_suppliers_covering_all": single[:10],
        "teams": result_teams,
    }
