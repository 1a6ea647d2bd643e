"""Buyers that buy for many places: central purchasing bodies.

A central purchasing body (Procurement Act 2023 s.1; Public Contracts Regulations 2015 reg. 37)
sets up frameworks and dynamic purchasing systems that other authorities call off. Their
frameworks are shown as "buying for many places", never as the local buying of the place where
their office is (YPO's £3bn recruitment framework is not Wakefield's spend). The list, with
identifiers and spellings, is ``reference/central-purchasing-bodies.csv``.
"""

from __future__ import annotations

from functools import lru_cache

from locality.domain.names import normalise_name
from locality.reference import central_purchasing_bodies


@lru_cache(maxsize=1)
def _central_purchasing_index() -> tuple[frozenset[str], tuple[str, ...]]:
    bodies = central_purchasing_bodies()
    ids = frozenset(i for body in bodies for i in body.identifiers)
    keys = tuple(sorted({normalise_name(s) for body in bodies for s in body.spellings}))
    return ids, keys


def is_central_purchasing_body(org_id: str | None, name: str | None) -> bool:
    """Whether a buyer is a central purchasing body (``reference/central-purchasing-bodies.csv``):
    by identifier, else by its name or a name that begins with one of the list's spellings
    ("HealthTrust Europe LLP (HTE) acting as agent for …")."""
    ids, keys = _central_purchasing_index()
    if org_id is not None and org_id in ids:
        return True
    key = normalise_name(name) if name else ""
    return bool(key) and any(key == k or key.startswith(k + " ") for k in keys)
