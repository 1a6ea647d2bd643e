"""The spend threshold a whole-place view counts from, checked once.

Councils publish payments over different thresholds (the Local Government Transparency Code
2015 sets £500; some publish from £250 or £0, card files everything), so comparing bodies
needs one threshold: either an amount the reader gives, or "like for like" (the highest
published threshold of the place's bodies). Never both.
"""

from __future__ import annotations

import math


def spend_threshold(min_amount: float | None, like_for_like: bool) -> float | None:
    """``min_amount`` checked: None, or a finite amount in GBP of 0 or more, and never given
    with ``like_for_like``. ``ValueError`` says what is wrong."""
    if min_amount is None:
        return None
    if like_for_like:
        raise ValueError("give min_amount or like_for_like, not both")
    if not math.isfinite(min_amount) or min_amount < 0:
        raise ValueError(f"min_amount must be an amount in GBP, 0 or more (got {min_amount})")
    return float(min_amount)
