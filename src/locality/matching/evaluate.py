"""The honest test of matching: replay real awards on a time split.

For every counted award dated on or after the cut-off, every supplier is ranked using only
the awards dated before that award (profiles, text index and popularity are rebuilt as of
each award date), and the real winners' ranks are recorded. Measures, averaged over awards:

* ``recall_at_10`` / ``recall_at_50``: the share of an award's winners ranked in the top
  10 / 50 (a winner never seen before cannot be ranked by any method and counts as missed;
  how many there were is reported apart, ``winners_without_history``);
* ``hit_rate_at_10``: the share of awards with at least one winner in the top 10 (Mynarz's
  "hit rate");
* ``mrr``: mean reciprocal rank of the best-ranked winner (0 when none could be ranked);
* ``catalogue_coverage_at_10``: the share of suppliers that were candidates at least once
  that appear in at least one top 10 (do the same few large winners take every list?).

Ties are broken uniformly at random (a seeded generator), so a method that gives many
suppliers the same score is not flattered by the order of the index. Baselines in the same
run: ``random``, ``popularity`` (most awards before the date) and ``cpv_only`` (the CPV
component alone, ties by popularity). The same measures are given per winner for SME
winners and for the others (``sme_winners``, ``other_winners``), and again among the
winners who had history (``among_winners_with_history``: SMEs more often have none, which
no ranking can fix, so this is the fair comparison of how the method treats them).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from locality.matching.match import WEIGHTS, SupplierIndex, Target
from locality.matching.profiles import History, load_history

METHODS = ("method", "random", "popularity", "cpv_only")
DEFAULT_CUT_OFF_SHARE = 0.7  # the latest 30% of dated awards are replayed


@dataclass
class _Award:
    ocid: str
    award_id: str
    date: dt.date
    rows: list[int] = field(default_factory=list)


@dataclass
class _Tally:
    awards: int = 0
    recall10: float = 0.0
    recall50: float = 0.0
    hit10: int = 0
    rr: float = 0.0

    def add(self, ranks: list[int | None]) -> None:
        """One award (or one winner): the ranks of its winners, None for no history."""
        found = [r for r in ranks if r is not None]
        n = len(ranks)
        self.awards += 1
        self.recall10 += sum(r <= 10 for r in found) / n
        self.recall50 += sum(r <= 50 for r in found) / n
        self.hit10 += any(r <= 10 for r in found)
        self.rr += 1.0 / min(found) if found else 0.0

    def result(self) -> dict[str, Any]:
        n = self.awards or 1
        return {
            "recall_at_10": round(self.recall10 / n, 4),
            "recall_at_50": round(self.recall50 / n, 4),
            "hit_rate_at_10": round(self.hit10 / n, 4),
            "mrr": round(self.rr / n, 4),
        }


def _rank(scores: npt.NDArray[np.float64], i: int, rng: np.random.Generator) -> int:
    """Rank of item ``i`` (1 = best), its place among equal scores drawn at random."""
    mine = scores[i]
    above = int((scores > mine).sum())
    ties = int((scores == mine).sum()) - 1
    return above + 1 + (int(rng.integers(0, ties + 1)) if ties else 0)


def _top(scores: npt.NDArray[np.float64], k: int, rng: np.random.Generator) -> npt.NDArray[Any]:
    noise = rng.random(scores.size)
    return np.lexsort((noise, -scores))[:k]


def replay_awards(history: History, cut_off: dt.date | None) -> tuple[dt.date | None, list[_Award]]:
    """The awards to replay (dated on or after the cut-off), with their rows."""
    awards: dict[tuple[str, str], _Award] = {}
    for i in range(len(history)):
        day = history.date[i]
        if day is None:
            continue
        key = (history.ocid[i], history.award_id[i])
        if key not in awards:
            awards[key] = _Award(key[0], key[1], day)
        awards[key].rows.append(i)
    dated = sorted(awards.values(), key=lambda a: (a.date, a.ocid, a.award_id))
    if not dated:
        return cut_off, []
    if cut_off is None:
        cut_off = dated[min(int(len(dated) * DEFAULT_CUT_OFF_SHARE), len(dated) - 1)].date
    return cut_off, [a for a in dated if a.date >= cut_off]


def evaluate_matching(
    con: duckdb.DuckDBPyConnection,
    *,
    cut_off: dt.date | None = None,
    seed: int = 0,
    weights: Mapping[str, float] = WEIGHTS,
) -> dict[str, Any]:
    """The replay (module docstring) over the store: ``awards_evaluated``, ``method``,
    ``baselines`` (``random``, ``popularity``, ``cpv_only``), ``sme_winners`` and
    ``other_winners`` (each method's measures per winner), and the counts that say what the
    figures rest on."""
    return evaluate_history(load_history(con), cut_off=cut_off, seed=seed, weights=weights)


def evaluate_history(
    history: History,
    *,
    cut_off: dt.date | None = None,
    seed: int = 0,
    weights: Mapping[str, float] = WEIGHTS,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    cut_off, awards = replay_awards(history, cut_off)
    tallies = {m: _Tally() for m in METHODS}
    tallies_known = {m: _Tally() for m in METHODS}
    sme = {m: _Tally() for m in METHODS}
    other = {m: _Tally() for m in METHODS}
    # The same per winner, only for winners with history (a fair SME/other comparison).
    sme_known = {m: _Tally() for m in METHODS}
    other_known = {m: _Tally() for m in METHODS}
    covered: set[str] = set()
    catalogue: set[str] = set()
    winners = winners_unknown = sme_winners = sme_unknown = awards_with_history = 0
    by_date: dict[dt.date, list[_Award]] = defaultdict(list)
    for award in awards:
        by_date[award.date].append(award)
    orgs = history.organisations
    for day in sorted(by_date):
        index = SupplierIndex.build(history, before=day)
        catalogue.update(index.ids)
        popularity = index.awards
        top_popularity = float(popularity.max()) if index.size else 1.0
        for award in by_date[day]:
            row = award.rows[0]
            target = Target(
                id=award.ocid,
                title=history.title[row],
                text=f"{history.title[row]} {history.description[row]}",
                cpv=[history.cpv[row]] if history.cpv[row] else [],  # type: ignore[list-item]
                councils=[history.buyer_la[row]] if history.buyer_la[row] else [],  # type: ignore[list-item]
                value=history.tender_value[row]
                if history.tender_value[row] and history.counts_as[row] == "awarded"
                else None,
                buyer_id=history.buyer_id[row],
                before=day,
            )
            scores: dict[str, npt.NDArray[np.float64]] = {}
            if index.size:
                scores["method"] = index.scores(target, weights)[0]
                scores["random"] = rng.random(index.size)
                scores["popularity"] = popularity.copy()
                scores["cpv_only"] = index.cpv_scores(target) + 1e-6 * popularity / max(
                    top_popularity, 1.0
                )
                covered.update(index.ids[int(i)] for i in _top(scores["method"], 10, rng))
            suppliers = sorted({history.supplier[r] for r in award.rows})
            positions = [index.position.get(s) for s in suppliers]
            winners += len(suppliers)
            winners_unknown += sum(p is None for p in positions)
            known = any(p is not None for p in positions)
            awards_with_history += known
            for m in METHODS:
                ranks = [None if p is None else _rank(scores[m], p, rng) for p in positions]
                tallies[m].add(ranks)
                if known:
                    tallies_known[m].add(ranks)
                for s, r in zip(suppliers, ranks, strict=True):
                    is_sme = (orgs.get(s) or {}).get("scale") == "sme"
                    (sme if is_sme else other)[m].add([r])
                    if r is not None:
                        (sme_known if is_sme else other_known)[m].add([r])
            for s, p in zip(suppliers, positions, strict=True):
                if (orgs.get(s) or {}).get("scale") == "sme":
                    sme_winners += 1
                    sme_unknown += p is None

    def block(t: dict[str, _Tally], with_coverage: bool = False) -> dict[str, Any]:
        out = {"method": t["method"].result()}
        if with_coverage:
            out["method"]["catalogue_coverage_at_10"] = (
                round(len(covered) / len(catalogue), 4) if catalogue else 0.0
            )
        out["baselines"] = {m: t[m].result() for m in METHODS if m != "method"}
        return out

    main = block(tallies, with_coverage=True)
    sme_block = block(sme)
    other_block = block(other)
    return {
        "awards_evaluated": len(awards),
        "cut_off": cut_off,
        "method": main["method"],
        "baselines": main["baselines"],
        "sme_winners": {
            "winners": sme_winners,
            "winners_without_history": sme_unknown,
            **sme_block["method"],
            "baselines": sme_block["baselines"],
            "among_winners_with_history": block(sme_known),
        },
        "other_winners": {
            "winners": winners - sme_winners,
            "winners_without_history": winners_unknown - sme_unknown,
            **other_block["method"],
            "baselines": other_block["baselines"],
            "among_winners_with_history": block(other_known),
        },
        "winners": winners,
        "winners_without_history": winners_unknown,
        "awards_with_a_winner_with_history": awards_with_history,
        "among_awards_with_history": block(tallies_known),
        "suppliers_in_catalogue": len(catalogue),
        "weights": dict(weights),
        "seed": seed,
    }
