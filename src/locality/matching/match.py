"""Ranking suppliers for an opportunity, and opportunities for a supplier.

The score of a supplier for an opportunity is a weighted sum of five components, each in
[0, 1] (``WEIGHTS``; ``docs/matching.md``):

* ``text``: BM25 relevance of the opportunity's title and description to the supplier's
  past titles, descriptions and CPV labels (``matching.text``), divided by the best score
  for this opportunity, so 1 is the most relevant supplier;
* ``cpv``: how deep the opportunity's CPV code and the nearest code the supplier has won
  agree in the CPV hierarchy: shared significant digits over the opportunity code's
  significant digits (division only 2/8 of a full 8-digit code; the same code 1). This is
  the signal of the CPV-based matchmakers (Mynarz 2018: hit rate@10 0.26 on Czech awards);
* ``distance``: proximity of the supplier's council to the delivery place (the buyer's
  council, or a challenge's place): 1 in the same council, ``exp(-km/50)`` between council
  centres (``matching.geo``), 0 when either is unknown;
* ``capacity``: the supplier's largest single award of counted money against the
  opportunity's value, ``min(1, largest / value)``; 0.5 when either is unknown (a framework
  ceiling is never a value to fit, and never a capacity; nor is a value in a currency other
  than pounds, as the metrics count GBP only);
* ``buyer``: 1 when the supplier has won from this buyer before (incumbency is the
  strongest single predictor of who wins, and a small supplier's route back in), else 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from locality.matching import geo
from locality.matching.profiles import (
    History,
    Profile,
    cpv_label,
    cpv_with_parents,
    profiles,
)
from locality.matching.text import BM25, tokens

WEIGHTS: dict[str, float] = {
    "text": 0.35,
    "cpv": 0.30,
    "distance": 0.10,
    "capacity": 0.10,
    "buyer": 0.15,
}
COMPONENTS = tuple(WEIGHTS)
UNKNOWN_CAPACITY = 0.5


class MatchError(ValueError):
    """A match that cannot be made as asked (says why and what to do)."""


@dataclass
class Target:
    """What an opportunity asks for, as matching reads it."""

    id: str
    title: str
    text: str
    cpv: list[str] = field(default_factory=list)
    councils: list[str] = field(default_factory=list)  # delivery place: registry codes
    value: float | None = None  # money (never a framework ceiling)
    buyer_id: str | None = None
    before: dt.date | None = None  # replay: only what was known before this date

    @property
    def centre(self) -> tuple[float, float] | None:
        return geo.centre(self.councils) if self.councils else None


def _significant(code: str) -> int:
    return max(len(code[:8].rstrip("0")), 2)


def cpv_similarity(target: str, other: str) -> float:
    """Shared leading digits of two CPV codes over the target's significant digits (the
    hierarchy: ``cpv_with_parents``); 0 unless they share a division."""
    depth = _significant(target)
    shared = 0
    for a, b in zip(target[:depth], other[:8], strict=False):
        if a != b:
            break
        shared += 1
    return 0.0 if shared < 2 else shared / depth


def target_from_opportunity(opportunity: Mapping[str, Any]) -> Target:
    """The matching view of an opportunity from ``matching.opportunities``."""
    councils: list[str] = []
    if opportunity.get("la_registry_code"):
        councils = [opportunity["la_registry_code"]]
    elif opportunity.get("place"):
        from locality.domain.places import PlaceError, builtin_places, resolve

        try:
            councils = sorted(resolve(str(opportunity["place"]), builtin_places()).councils)
        except PlaceError:
            councils = []
    value = opportunity.get("value")
    # Capacity is counted pounds (the metrics' currency == "GBP" rule): a ceiling, or a value
    # in another currency, is no value to fit.
    if opportunity.get("value_is_ceiling") or opportunity.get("currency") != "GBP":
        value = None
    text = " ".join(str(opportunity.get(k) or "") for k in ("title", "description"))
    return Target(
        id=str(opportunity["id"]),
        title=str(opportunity.get("title") or ""),
        text=text,
        cpv=[c for c in opportunity.get("cpv") or [] if c],
        councils=councils,
        value=float(value) if isinstance(value, int | float) and value > 0 else None,
        buyer_id=opportunity.get("buyer_id"),
    )


class SupplierIndex:
    """Every supplier's profile as arrays, ready to score all of them at once."""

    def __init__(
        self,
        history: History,
        supplier_profiles: Mapping[str, Profile],
        listed: Sequence[Profile] = (),
    ):
        self.history = history
        self.profiles = list(supplier_profiles.values())
        # Listed organisations with no award history yet (``load_organisation_list``).
        self.profiles += [p for p in listed if p.id not in supplier_profiles]
        self.ids = [p.id for p in self.profiles]
        self.position = {sid: n for n, sid in enumerate(self.ids)}
        n = len(self.profiles)
        self.size = n
        self.scale = np.array([p.scale for p in self.profiles], dtype=object)
        self.vcse = np.array([bool(p.vcse) for p in self.profiles], dtype=bool)
        self.council = np.array([p.la_registry_code or "" for p in self.profiles], dtype=object)
        # Distances are computed per council (a few hundred), then spread to suppliers.
        self.councils, self.council_of = np.unique(self.council, return_inverse=True)
        centres = [geo.centre(c) if c else None for c in self.councils]
        self.council_lat = np.array([c[0] if c else np.nan for c in centres], dtype=np.float64)
        self.council_lon = np.array([c[1] if c else np.nan for c in centres], dtype=np.float64)
        self.capacity = np.array(
            [p.largest if p.largest is not None else np.nan for p in self.profiles],
            dtype=np.float64,
        )
        self.awards = np.array([p.awards for p in self.profiles], dtype=np.float64)
        row_terms, vocabulary = history.row_terms()
        if any(p.declared for p in self.profiles):
            vocabulary = dict(vocabulary)  # the history's own stays as it is

        def document(p: Profile) -> npt.NDArray[np.int64]:
            parts = [row_terms[r] for r in p.rows]
            if p.declared:
                words = tokens(p.declared)
                parts.append(
                    np.asarray(
                        [vocabulary.setdefault(t, len(vocabulary)) for t in words], dtype=np.int64
                    )
                )
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        self.bm25 = BM25.from_term_ids([document(p) for p in self.profiles], vocabulary)
        cpv_lists: dict[str, list[int]] = {}
        buyer_lists: dict[str, list[int]] = {}
        for i, p in enumerate(self.profiles):
            for code in p.cpv:
                cpv_lists.setdefault(code, []).append(i)
            for buyer in p.buyers:
                buyer_lists.setdefault(buyer, []).append(i)
        self.cpv_postings = {c: np.asarray(v, dtype=np.int64) for c, v in cpv_lists.items()}
        self.buyer_postings = {b: np.asarray(v, dtype=np.int64) for b, v in buyer_lists.items()}
        if n == 0:
            self.capacity = self.awards = np.zeros(0)
            self.council_of = np.zeros(0, dtype=np.int64)

    @classmethod
    def build(
        cls, history: History, before: dt.date | None = None, listed: Sequence[Profile] = ()
    ) -> SupplierIndex:
        return cls(history, profiles(history, before), listed)

    # --- components ---------------------------------------------------------------------

    def text_scores(self, target: Target) -> npt.NDArray[np.float64]:
        raw = self.bm25.scores(tokens(target.text))
        top = float(raw.max()) if raw.size else 0.0
        return raw / top if top > 0 else raw

    def cpv_scores(self, target: Target) -> npt.NDArray[np.float64]:
        best = np.zeros(self.size, dtype=np.float64)
        for code in target.cpv:
            depth = _significant(code)
            # Shallowest ancestor first, so deeper agreement overwrites with a higher score.
            for ancestor in reversed(cpv_with_parents(code)):
                holders = self.cpv_postings.get(ancestor)
                if holders is not None:
                    score = _significant(ancestor) / depth
                    best[holders] = np.maximum(best[holders], score)
        return best

    def distance_km(self, target: Target) -> npt.NDArray[np.float64]:
        centre = target.centre
        if centre is None:
            return np.full(self.size, np.nan)
        return geo.distances_km(centre, self.council_lat, self.council_lon)[self.council_of]

    def distance_scores(self, target: Target) -> npt.NDArray[np.float64]:
        centre = target.centre
        if centre is None:
            per_council = np.zeros(self.councils.size, dtype=np.float64)
        else:
            km = geo.distances_km(centre, self.council_lat, self.council_lon)
            per_council = geo.proximity(km)
        if target.councils:
            per_council[np.isin(self.councils, target.councils)] = 1.0
        return per_council[self.council_of]

    def capacity_scores(self, target: Target) -> npt.NDArray[np.float64]:
        if target.value is None or target.value <= 0:
            return np.full(self.size, UNKNOWN_CAPACITY)
        fit = np.minimum(1.0, self.capacity / target.value)
        return np.where(np.isnan(fit), UNKNOWN_CAPACITY, fit)

    def buyer_scores(self, target: Target) -> npt.NDArray[np.float64]:
        score = np.zeros(self.size, dtype=np.float64)
        if target.buyer_id and target.buyer_id in self.buyer_postings:
            score[self.buyer_postings[target.buyer_id]] = 1.0
        return score

    def components(self, target: Target) -> dict[str, npt.NDArray[np.float64]]:
        return {
            "text": self.text_scores(target),
            "cpv": self.cpv_scores(target),
            "distance": self.distance_scores(target),
            "capacity": self.capacity_scores(target),
            "buyer": self.buyer_scores(target),
        }

    def scores(
        self, target: Target, weights: Mapping[str, float] = WEIGHTS
    ) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
        parts = self.components(target)
        total = np.zeros(self.size, dtype=np.float64)
        for name, weight in weights.items():
            if weight:
                total += weight * parts[name]
        return total, parts

    def mask(
        self,
        target: Target,
        *,
        sme_only: bool = False,
        vcse_only: bool = False,
        local_only: bool = False,
        sme_or_vcse: bool = False,
    ) -> npt.NDArray[np.bool_]:
        keep = np.ones(self.size, dtype=bool)
        if sme_only:
            keep &= self.scale == "sme"
        if vcse_only:
            keep &= self.vcse
        if sme_or_vcse:
            keep &= (self.scale == "sme") | self.vcse
        if local_only:
            if not target.councils:
                raise MatchError(
                    f"the place of {target.id!r} is unknown, so no supplier can be called "
                    "local to it: leave out --local-only"
                )
            keep &= np.isin(self.council, target.councils)
        return keep

    # --- results ------------------------------------------------------------------------

    def evidence(self, supplier: int, target: Target, limit: int = 3) -> list[dict[str, Any]]:
        """The supplier's past awards most like the opportunity (CPV depth, shared words)."""
        h = self.history
        query = set(tokens(target.text))
        scored = []
        for row in self.profiles[supplier].rows:
            cpv = max(
                (cpv_similarity(c, h.cpv[row] or "") for c in target.cpv if h.cpv[row]),
                default=0.0,
            )
            words = set(tokens(f"{h.title[row]} {h.description[row][:2000]}"))
            shared = sorted(query & words)
            overlap = len(shared) / len(query) if query else 0.0
            same_buyer = bool(target.buyer_id) and h.buyer_id[row] == target.buyer_id
            scored.append((cpv + overlap + 0.5 * same_buyer, row, shared))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [
            {
                "ocid": h.ocid[row],
                "award_id": h.award_id[row],
                "title": h.title[row],
                "buyer": h.buyer_name[row],
                "date": h.date[row],
                "value": h.part[row],
                "counts_as": h.counts_as[row],
                "cpv": h.cpv[row],
                "cpv_label": cpv_label(h.cpv[row]),
                "shared_words": shared[:8],
            }
            for _, row, shared in scored[:limit]
        ]

    def result(
        self,
        i: int,
        rank: int,
        total: npt.NDArray[np.float64],
        parts: Mapping[str, npt.NDArray[np.float64]],
        km: npt.NDArray[np.float64],
        target: Target,
    ) -> dict[str, Any]:
        p = self.profiles[i]
        distance = km[i]
        return {
            "rank": rank,
            "id": p.id,
            "name": p.name,
            "scale": p.scale,
            "vcse": p.vcse,
            "place": p.place,
            "region": p.region,
            "score": round(float(total[i]), 4),
            "components": {k: round(float(parts[k][i]), 4) for k in COMPONENTS},
            "distance_km": None if np.isnan(distance) else round(float(distance), 1),
            "capacity": p.largest,
            "awards": p.awards,
            "evidence": self.evidence(i, target),
            "declared": p.declared or None,
        }

    def rank(
        self,
        target: Target,
        *,
        top: int = 20,
        sme_only: bool = False,
        vcse_only: bool = False,
        local_only: bool = False,
        sme_or_vcse: bool = False,
        weights: Mapping[str, float] = WEIGHTS,
    ) -> list[dict[str, Any]]:
        """The ``top`` suppliers for ``target``, best first, each with its components and
        the past awards that justify it (ties: more awards first, then id)."""
        total, parts = self.scores(target, weights)
        keep = self.mask(
            target,
            sme_only=sme_only,
            vcse_only=vcse_only,
            local_only=local_only,
            sme_or_vcse=sme_or_vcse,
        )
        candidates = np.flatnonzero(keep)
        if top < candidates.size:
            # Only those scoring at least the top-th best can be shown (ties included).
            kth = np.partition(total[candidates], candidates.size - top)[candidates.size - top]
            candidates = candidates[total[candidates] >= kth]
        order = candidates[np.lexsort((-self.awards[candidates], -total[candidates]))][:top]
        km = self.distance_km(target)
        return [
            self.result(int(i), n, total, parts, km, target) for n, i in enumerate(order, start=1)
        ]


def rank_opportunities(
    index: SupplierIndex,
    supplier_id: str,
    opportunities: Sequence[Mapping[str, Any]],
    *,
    top: int = 20,
) -> list[dict[str, Any]]:
    """Opportunities for one supplier, best score first: each with the supplier's score,
    components, its rank among all suppliers for that opportunity, and the past awards that
    justify it."""
    i = index.position.get(supplier_id)
    if i is None:
        raise MatchError(
            f"{supplier_id!r} has won no counted award in the store, so it has no profile to "
            "match: give an organisation id from `locality match OCID` or the supplier page"
        )
    found = []
    for o in opportunities:
        target = target_from_opportunity(o)
        total, parts = index.scores(target)
        km = index.distance_km(target)
        row = index.result(i, 0, total, parts, km, target)
        found.append(
            {
                "opportunity": {
                    k: o.get(k)
                    for k in (
                        "id",
                        "kind",
                        "stage",
                        "stage_label",
                        "title",
                        "buyer_name",
                        "place",
                        "value",
                        "closes",
                        "days_left",
                        "end_date",
                        "url",
                    )
                },
                "score": row["score"],
                "components": row["components"],
                "distance_km": row["distance_km"],
                "rank_among_suppliers": int((total > total[i]).sum()) + 1,
                "suppliers_ranked": index.size,
                "evidence": row["evidence"],
            }
        )
    found.sort(key=lambda r: (-r["score"], str(r["opportunity"]["id"])))
    for n, r in enumerate(found[:top], start=1):
        r["rank"] = n
    return found[:top]


def supplier_ids(index: SupplierIndex, ids: Iterable[str]) -> list[int]:
    return [index.position[s] for s in ids if s in index.position]
