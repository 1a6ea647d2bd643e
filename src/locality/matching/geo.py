"""Where an organisation is, as far as matching needs it: the centre of its council.

A supplier's place is its postcode's local authority (``organisations.la_registry_code``,
from ``locality.reference``'s postcode districts). Distance is measured between council
centres (the latitude and longitude columns of mySociety's register of local authorities,
bundled in ``locality.reference``): coarse, but it needs no postcode-level table and says
"same council" and "next door" apart from "across the country", which is what a delivery
place asks.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from locality.reference import reference_path

LOCAL_AUTHORITIES = "local-authorities/uk-local-authorities.csv"
# Proximity halves every ~35 km (exp(-d/50)): a supplier in the next council (20-30 km)
# keeps about 0.6, one 150 km away 0.05. Same council is 1.
DISTANCE_SCALE_KM = 50.0


@lru_cache(maxsize=1)
def council_centres() -> dict[str, tuple[float, float]]:
    """Registry code (``LDS``) → (latitude, longitude) of the council's centre."""
    centres: dict[str, tuple[float, float]] = {}
    with reference_path(LOCAL_AUTHORITIES).open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                lat, lon = float(row["lat"]), float(row["long"])
            except (KeyError, ValueError):
                continue
            if math.isfinite(lat) and math.isfinite(lon):
                centres[row["local-authority-code"].strip().upper()] = (lat, lon)
    return centres


def centre(codes: str | list[str] | None) -> tuple[float, float] | None:
    """The centre of a council, or the mean centre of several (a place); None if unknown."""
    if codes is None:
        return None
    known = [
        council_centres().get(c.upper()) for c in ([codes] if isinstance(codes, str) else codes)
    ]
    points = [p for p in known if p is not None]
    if not points:
        return None
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def distances_km(
    origin: tuple[float, float], lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Great-circle distance (haversine, Earth radius 6371 km) from ``origin`` to each point;
    NaN where a point is unknown."""
    lat1, lon1 = np.radians(origin[0]), np.radians(origin[1])
    lat2, lon2 = np.radians(lat), np.radians(lon)
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def proximity(distance_km: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Distance → proximity in [0, 1] (1 at the same centre); unknown distance → 0."""
    score = np.exp(-distance_km / DISTANCE_SCALE_KM)
    return np.where(np.isnan(score), 0.0, score)
