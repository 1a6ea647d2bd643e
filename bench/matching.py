"""Matching benchmark: real replays for ranking quality, synthetic scale for speed.

Run by hand::

    .venv/bin/python bench/matching.py [--suppliers 100000] [--queries 200]
        [--candidates 10000] [--requirements 50] [--shared ../shared/data]

1. **Real data only for quality.** The time-split replay (``locality evaluate matching``)
   on the OCDS files under ``--shared``/ocds ingested into a temporary store, and on the
   Contracts Finder notices of the 15 Lancashire councils
   (``contracts-finder-notices/…jsonl``: real awards with supplier names, SME flags, CPV
   codes and dates, read by hand into the replay's history since ``locality ingest`` does
   not read that export). Skipped, and said, when the shared data is absent.
2. **Synthetic data only for speed** (never a recall from it): ``--suppliers`` suppliers
   with 1-6 awards each, words drawn from a Zipf law over a vocabulary, real CPV codes;
   the index build time, then ranking every supplier for ``--queries`` opportunities (p50,
   p95; target p95 < 50 ms) against brute-force scoring (every supplier scored one by one
   from the definitions) on the same queries, whose scores must agree.
3. **Consortium at scale**: ``--candidates`` candidates, ``--requirements`` CPV groups,
   capacities and a value, at most 20 members: the integer program (HiGHS) to optimality
   (target < 5 s) against the greedy team's cost in the same run, and exhaustive search
   on small instances to check optimality.
4. Results to bench/results/matching-<UTC timestamp>.json and a summary on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import write_results

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_SHARED = REPO_DIR.parent / "shared" / "data"
LANCASHIRE = (
    "contracts-finder-notices/lancashire-councils-cf-notices-published-2015-03-to-2023-09.jsonl"
)


# --- real data ------------------------------------------------------------------------------


def replay_shared_ocds(shared: Path) -> dict[str, Any]:
    """The replay over the shared OCDS files (without the escape-stripped duplicates)."""
    from locality.ingest.pipeline import ingest
    from locality.matching.evaluate import evaluate_matching
    from locality.store.db import connect

    ocds = shared / "ocds"
    files = sorted(p for p in ocds.rglob("*.jsonl") if "escape-stripped" not in p.name)
    tmp = Path(tempfile.mkdtemp(prefix="locality-matching-"))
    try:
        con = connect(tmp / "store.duckdb")
        ingest(con, files)
        out: dict[str, Any] = {"files": [str(p.relative_to(shared)) for p in files]}
        for label, cut_off in (
            ("default_cut_off", None),
            ("cut_off_2020_01_01", dt.date(2020, 1, 1)),
        ):
            started = time.perf_counter()
            result = evaluate_matching(con, cut_off=cut_off)
            result["seconds"] = round(time.perf_counter() - started, 2)
            out[label] = result
        con.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lancashire_history(path: Path) -> Any:
    """The Lancashire councils' awarded notices as the replay's history (one row per award:
    these notices name one supplier each)."""
    from locality.domain.names import normalise_name
    from locality.matching.profiles import History
    from locality.reference import local_authority_code_for_name

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    awarded = [
        r
        for r in rows
        if r.get("awarded_supplier") and (r.get("awarded_date") or r.get("published_date"))
    ]
    awarded.sort(key=lambda r: (r.get("awarded_date") or r["published_date"], r["id"]))
    h = History.empty()
    for r in awarded:
        name = r["awarded_supplier"].strip()
        sid = f"name:{normalise_name(name)}"
        value = r.get("awarded_value") or None
        codes = str(r.get("cpv_codes") or "").split()
        h.supplier.append(sid)
        h.ocid.append(r["id"])
        h.award_id.append("1")
        h.date.append(dt.date.fromisoformat((r.get("awarded_date") or r["published_date"])[:10]))
        h.part.append(float(value) if value else None)
        h.counts_as.append("awarded" if value else "unknown")
        h.buyer_id.append(r["organisation"])
        h.buyer_name.append(r["organisation"])
        h.cpv.append(codes[0][:8] if codes else None)
        h.title.append(r.get("title") or "")
        h.description.append(r.get("description") or "")
        h.tender_value.append(float(r["value_low"]) if r.get("value_low") else None)
        h.buyer_la.append(local_authority_code_for_name(r["organisation"]))
        h.organisations.setdefault(
            sid,
            {
                "id": sid,
                "name": name,
                "scale": "sme" if r.get("awarded_to_sme") else "large",
                "vcse": None,
                "la_registry_code": None,
                "place": None,
                "region": None,
            },
        )
    return h, len(rows), len(awarded)


def replay_lancashire(shared: Path) -> dict[str, Any]:
    from locality.matching.evaluate import evaluate_history

    history, notices, awarded = lancashire_history(shared / LANCASHIRE)
    out: dict[str, Any] = {"notices": notices, "awarded_notices": awarded}
    for label, cut_off in (("default_cut_off", None), ("cut_off_2020_01_01", dt.date(2020, 1, 1))):
        started = time.perf_counter()
        result = evaluate_history(history, cut_off=cut_off)
        result["seconds"] = round(time.perf_counter() - started, 2)
        out[label] = result
    return out


# --- synthetic scale ------------------------------------------------------------------------

SYNTH_WORDS = [
    "care",
    "home",
    "support",
    "adult",
    "child",
    "school",
    "transport",
    "road",
    "repair",
    "maintenance",
    "cleaning",
    "catering",
    "meal",
    "waste",
    "recycling",
    "housing",
    "advice",
    "legal",
    "audit",
    "software",
    "licence",
    "network",
    "cloud",
    "data",
    "security",
    "training",
    "consultancy",
    "design",
    "construction",
    "roof",
    "heating",
    "lighting",
    "energy",
    "solar",
    "insulation",
    "park",
    "grounds",
    "tree",
    "library",
    "museum",
    "theatre",
    "youth",
    "employment",
    "skills",
    "health",
    "mental",
    "wellbeing",
    "dementia",
    "carer",
    "domestic",
    "abuse",
    "refuge",
    "homeless",
    "hostel",
    "supported",
    "living",
    "translation",
    "interpreting",
    "print",
    "postage",
    "vehicle",
    "fleet",
    "fuel",
    "tyre",
    "bus",
    "taxi",
    "community",
    "garden",
    "allotment",
    "flood",
    "drainage",
    "bridge",
    "highway",
    "signage",
    "parking",
    "enforcement",
    "cctv",
    "alarm",
    "fire",
    "lift",
    "asbestos",
    "survey",
    "valuation",
    "planning",
    "ecology",
    "archaeology",
    "survey",
    "events",
    "marketing",
    "research",
    "evaluation",
    "coaching",
    "mentoring",
    "apprenticeship",
    "digital",
    "inclusion",
    "telecare",
    "equipment",
    "furniture",
    "uniform",
    "laundry",
    "pest",
    "control",
    "graffiti",
    "market",
    "leisure",
    "pool",
    "gym",
    "sport",
    "coaching",
    "music",
    "arts",
]


def synthetic_history(suppliers: int, seed: int) -> Any:
    from locality.matching.profiles import History
    from locality.reference import cpv_themes

    rng = np.random.default_rng(seed)
    divisions = sorted(cpv_themes())
    codes = [
        f"{d}{rng.integers(0, 10)}{rng.integers(0, 10)}0000" for d in divisions for _ in range(6)
    ]
    councils = ["LDS", "BRD", "MAN", "SLF", "CLD", "YOR", "KIR", "WKF", "LIV", "BIR", "BST", "NET"]
    zipf = 1.0 / np.arange(1, len(SYNTH_WORDS) + 1)
    zipf /= zipf.sum()
    h = History.empty()
    start = dt.date(2018, 1, 1)
    n_awards = rng.integers(1, 7, size=suppliers)
    for s in range(suppliers):
        sid = f"synthetic:{s}"
        h.organisations[sid] = {
            "id": sid,
            "name": f"Supplier {s}",
            "scale": "sme" if rng.random() < 0.6 else "large",
            "vcse": bool(rng.random() < 0.1),
            "la_registry_code": councils[int(rng.integers(0, len(councils)))],
            "place": None,
            "region": None,
        }
        for a in range(int(n_awards[s])):
            words = rng.choice(SYNTH_WORDS, size=int(rng.integers(4, 14)), p=zipf)
            h.supplier.append(sid)
            h.ocid.append(f"synthetic-{s}-{a}")
            h.award_id.append("1")
            h.date.append(start + dt.timedelta(days=int(rng.integers(0, 2500))))
            h.part.append(float(rng.lognormal(11, 1.5)))
            h.counts_as.append("awarded")
            buyer = int(rng.integers(0, 400))
            h.buyer_id.append(f"buyer-{buyer}")
            h.buyer_name.append(f"Buyer {buyer}")
            h.cpv.append(codes[int(rng.integers(0, len(codes)))])
            h.title.append(" ".join(words[:5]))
            h.description.append(" ".join(words[5:]))
            h.tender_value.append(None)
            h.buyer_la.append(councils[buyer % len(councils)])
    return h, codes, councils, zipf


def brute_force_scores(index: Any, target: Any, documents: list[list[str]]) -> np.ndarray:
    """Every supplier scored one at a time from the definitions (no index)."""
    from locality.matching import geo
    from locality.matching.match import UNKNOWN_CAPACITY, WEIGHTS, cpv_similarity
    from locality.matching.text import tokens

    text = np.array(index.bm25.brute_force_scores(documents, tokens(target.text)))
    text = text / text.max() if text.max() > 0 else text
    centre = target.centre
    out = np.zeros(index.size)
    for i, p in enumerate(index.profiles):
        cpv = max((cpv_similarity(t, c) for t in target.cpv for c in p.cpv), default=0.0)
        if p.la_registry_code in target.councils:
            distance = 1.0
        else:
            other = geo.centre(p.la_registry_code)
            if centre is None or other is None:
                distance = 0.0
            else:
                km = geo.distances_km(centre, np.array([other[0]]), np.array([other[1]]))[0]
                distance = float(np.exp(-km / geo.DISTANCE_SCALE_KM))
        if target.value and p.largest:
            capacity = min(1.0, p.largest / target.value)
        else:
            capacity = UNKNOWN_CAPACITY
        buyer = 1.0 if target.buyer_id in p.buyers else 0.0
        parts = {
            "text": text[i],
            "cpv": cpv,
            "distance": distance,
            "capacity": capacity,
            "buyer": buyer,
        }
        out[i] = sum(WEIGHTS[k] * v for k, v in parts.items())
    return out


def bench_ranking(suppliers: int, queries: int, brute: int, seed: int) -> dict[str, Any]:
    from locality.matching.match import SupplierIndex, Target
    from locality.matching.profiles import profiles

    started = time.perf_counter()
    history, codes, councils, zipf = synthetic_history(suppliers, seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    history.row_terms()
    tokenised = time.perf_counter() - started
    started = time.perf_counter()
    index = SupplierIndex(history, profiles(history))
    built = time.perf_counter() - started
    rng = np.random.default_rng(seed + 1)
    targets = []
    for q in range(queries):
        words = rng.choice(SYNTH_WORDS, size=int(rng.integers(5, 25)), p=zipf)
        targets.append(
            Target(
                id=f"q{q}",
                title=" ".join(words[:6]),
                text=" ".join(words),
                cpv=[codes[int(rng.integers(0, len(codes)))]],
                councils=[councils[int(rng.integers(0, len(councils)))]],
                value=float(rng.lognormal(12, 1.5)),
                buyer_id=f"buyer-{int(rng.integers(0, 400))}",
            )
        )
    times = []
    for target in targets:
        t0 = time.perf_counter()
        index.rank(target, top=20)
        times.append((time.perf_counter() - t0) * 1000)
    times_scores = []
    for target in targets:
        t0 = time.perf_counter()
        index.scores(target)
        times_scores.append((time.perf_counter() - t0) * 1000)
    # Brute force on the first few queries: same scores, and how long it takes.
    from locality.matching.profiles import supplier_text
    from locality.matching.text import tokens

    row_docs = [tokens(supplier_text(history, [i])) for i in range(len(history))]
    documents = [[t for r in p.rows for t in row_docs[r]] for p in index.profiles]
    brute_times, max_diff, same_top = [], 0.0, True
    for target in targets[:brute]:
        t0 = time.perf_counter()
        slow = brute_force_scores(index, target, documents)
        brute_times.append((time.perf_counter() - t0) * 1000)
        fast, _ = index.scores(target)
        max_diff = max(max_diff, float(np.abs(fast - slow).max()))
        same_top &= set(np.argsort(-fast, kind="stable")[:20]) == set(
            np.argsort(-slow, kind="stable")[:20]
        )
    q = np.percentile(times, [50, 95])
    return {
        "suppliers": index.size,
        "awards": len(history),
        "generate_seconds": round(generated, 2),
        "tokenise_seconds": round(tokenised, 2),
        "index_build_seconds": round(built, 2),
        "queries": queries,
        "rank_top20_ms_p50": round(float(q[0]), 2),
        "rank_top20_ms_p95": round(float(q[1]), 2),
        "scores_only_ms_p95": round(float(np.percentile(times_scores, 95)), 2),
        "target_p95_ms": 50,
        "brute_force_queries": brute,
        "brute_force_ms_mean": round(statistics.mean(brute_times), 1) if brute_times else None,
        "brute_force_max_abs_difference": max_diff,
        "brute_force_same_top20": same_top,
    }


def bench_consortium(
    candidates: int, requirements: int, seed: int, scores: str = "skewed"
) -> dict[str, Any]:
    """``scores``: "skewed" (beta(1, 4): a few good matches and a long tail, as match
    scores are) or "uniform" (every score equally likely: the hardest case for the solver,
    many near-equal teams)."""
    from locality.matching.consortium import Candidate, greedy_team, prefilter, solve_teams

    rng = np.random.default_rng(seed)

    def draw() -> float:
        return float(rng.beta(1, 4) if scores == "skewed" else rng.random())

    reqs = [f"r{n}" for n in range(requirements)]
    pool = [
        Candidate(
            id=f"c{n}",
            covers=frozenset(rng.choice(reqs, size=int(rng.integers(1, 6)), replace=False)),
            capacity=float(rng.lognormal(11, 1.2)),
            score=draw(),
        )
        for n in range(candidates)
    ]
    max_members = 20
    value = 1_500_000.0

    def cost(team: list[Candidate]) -> float:
        return sum(1 - c.score / (max_members + 1) for c in team)

    started = time.perf_counter()
    teams = solve_teams(pool, reqs, value, max_members=max_members, alternatives=0, time_limit=60)
    solved = time.perf_counter() - started
    considered = len(prefilter(pool, reqs, value, max_members))
    started = time.perf_counter()
    greedy = greedy_team(pool, reqs, value, max_members)
    greedy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with_alternatives = solve_teams(
        pool, reqs, value, max_members=max_members, alternatives=3, time_limit=60
    )
    alternatives_seconds = time.perf_counter() - started
    # Exhaustive search on small instances: the solver's cost must equal the best.
    checked = mismatches = 0
    small_rng = np.random.default_rng(seed + 7)
    for _ in range(30):
        small_reqs = ["a", "b", "c"]
        small = [
            Candidate(
                id=f"s{n}",
                covers=frozenset(
                    small_rng.choice(small_reqs, size=int(small_rng.integers(1, 3)), replace=False)
                ),
                capacity=float(small_rng.integers(0, 100)),
                score=float(small_rng.random()),
            )
            for n in range(10)
        ]
        best = None
        for k in range(1, 4):
            for team in itertools.combinations(small, k):
                if (
                    set(small_reqs) <= set().union(*(c.covers for c in team))
                    and sum(c.capacity for c in team) >= 120
                ):
                    c = sum(1 - m.score / 4 for m in team)
                    best = c if best is None else min(best, c)
        found = solve_teams(small, small_reqs, 120, max_members=3, alternatives=0)
        if best is not None:
            checked += 1
            got = (
                sum(1 - m.score / 4 for m in found[0].members)
                if found and found[0].covers_value
                else None
            )
            mismatches += got is None or abs(got - best) > 1e-6
    team = teams[0] if teams else None
    return {
        "scores": scores,
        "candidates": candidates,
        "candidates_after_prefilter": considered,
        "requirements": requirements,
        "max_members": max_members,
        "value": value,
        "solve_seconds": round(solved, 2),
        "target_seconds": 5,
        "optimal": bool(team and team.optimal),
        "members": len(team.members) if team else None,
        "covers_value": bool(team and team.covers_value),
        "cost": round(cost(team.members), 4) if team else None,
        "greedy_seconds": round(greedy_seconds, 2),
        "greedy_members": len(greedy) if greedy else None,
        "greedy_covers_value": bool(greedy) and sum(pool[i].capacity for i in greedy) >= value,
        "greedy_cost": round(cost([pool[i] for i in greedy]), 4) if greedy else None,
        "four_teams_seconds": round(alternatives_seconds, 2),
        "four_teams_distinct": len({t.ids for t in with_alternatives}) == len(with_alternatives),
        "brute_force_instances_checked": checked,
        "brute_force_mismatches": mismatches,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suppliers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--brute-force-queries", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--requirements", type=int, default=50)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if args.skip_real or not (args.shared / "ocds").is_dir():
        results["real"] = {
            "skipped": f"no shared data at {args.shared}" if not args.skip_real else "--skip-real"
        }
    else:
        results["real"] = {"shared_ocds": replay_shared_ocds(args.shared)}
        if (args.shared / LANCASHIRE).is_file():
            results["real"]["lancashire_contracts_finder_notices"] = replay_lancashire(args.shared)
    results["ranking"] = bench_ranking(
        args.suppliers, args.queries, args.brute_force_queries, args.seed
    )
    results["consortium"] = bench_consortium(args.candidates, args.requirements, args.seed)
    results["consortium_uniform_scores"] = bench_consortium(
        args.candidates, args.requirements, args.seed, scores="uniform"
    )
    path = write_results("matching", results)

    def brief(r: dict[str, Any]) -> str:
        m, b = r["method"], r["baselines"]
        return (
            f"{r['awards_evaluated']} awards from {r['cut_off']}, {r['winners_without_history']}"
            f"/{r['winners']} winners without history; recall@10 {m['recall_at_10']:.3f} "
            f"(random {b['random']['recall_at_10']:.3f}, popularity "
            f"{b['popularity']['recall_at_10']:.3f}, cpv_only {b['cpv_only']['recall_at_10']:.3f})"
            f", MRR {m['mrr']:.3f}, coverage@10 {m['catalogue_coverage_at_10']:.3f}"
        )

    real = results["real"]
    for name, block in real.items():
        if isinstance(block, dict) and "default_cut_off" in block:
            for label in ("default_cut_off", "cut_off_2020_01_01"):
                print(f"{name} [{label}]: {brief(block[label])}")
    r = results["ranking"]
    print(
        f"ranking {r['suppliers']:,} suppliers: index {r['index_build_seconds']} s, "
        f"p50 {r['rank_top20_ms_p50']} ms, p95 {r['rank_top20_ms_p95']} ms (target < 50); "
        f"brute force {r['brute_force_ms_mean']} ms/query, max |diff| "
        f"{r['brute_force_max_abs_difference']:.2e}, same top 20: {r['brute_force_same_top20']}"
    )
    for key in ("consortium", "consortium_uniform_scores"):
        c = results[key]
        print(
            f"consortium ({c['scores']} scores) {c['candidates']:,} candidates "
            f"({c['candidates_after_prefilter']} after the pre-filter) x {c['requirements']} "
            f"requirements: {c['solve_seconds']} s (target < 5), optimal {c['optimal']}, "
            f"{c['members']} members cost {c['cost']}; greedy {c['greedy_members']} members "
            f"cost {c['greedy_cost']}; 4 teams {c['four_teams_seconds']} s; brute-force checks "
            f"{c['brute_force_instances_checked']}, mismatches {c['brute_force_mismatches']}"
        )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
