"""UK postcodes: normalise them, and find them inside free-text addresses.

Contracts Finder suppliers have no ``postalCode``; the postcode sits somewhere in
``streetAddress`` (shared data README, quirks 1 and 3), often without separators:

* ``"Randalls WayLEATHERHEADSURREYKT22 7TWGB"`` (fields glued together),
* ``"ScarboroughnYO11 3TU"``, ``"ReadingrnRG7 4SArnUnited Kingdom"`` (``\\n``/``\\r\\n``
  escapes that lost their backslash),
* ``"Fieldhouse Lane, Marlow, … Sl7 1LW"``, ``"ln6 7he"`` (lower or mixed case).

So the search cannot use ``\\b`` anchors. Instead a candidate is tried at every position
(overlapping matches) and the candidates are ranked: see :func:`extract_postcode`.

Shape: the outward code must follow the Royal Mail letter rules for each position (no Q,
V or X first, no I, J or Z second, …); the inward code is a digit and two letters. The
stricter inward letter rule (never C, I, K, M, O or V) is applied only to candidates that
the district table cannot corroborate: real data has typos such as ``"SG19 2BC"`` whose
district is still right, while the rule rejects foreign codes such as Canada's
``"K2K 2MB"``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from locality.reference import known_outward_codes

__all__ = ["extract_postcode", "normalise_postcode", "outward_code"]

# Royal Mail position rules for the outward code.
_A1 = "[A-PR-UWYZ]"  # first letter of the area: not Q, V, X
_A2 = "[A-HK-Y]"  # second letter of the area: not I, J, Z
_A9A = "[ABCDEFGHJKPSTUW]"  # letter after the digit in A9A districts (W1A, E1W)
_AA9A = "[ABEHMNPRVWXY]"  # letter after the digit in AA9A districts (SW1A, EC2M)
_OUTWARD = rf"(?:{_A1}{_A2}?[0-9][0-9]?|{_A1}[0-9]{_A9A}|{_A1}{_A2}[0-9]{_AA9A})"
_INWARD = "[0-9][A-Z]{2}"
# Royal Mail never uses C, I, K, M, O or V in the inward code.
_STRICT_INWARD_LETTERS = frozenset("ABDEFGHJLNPQRSTUWXYZ")

_COMPACT = re.compile(rf"({_OUTWARD})({_INWARD})")
# Zero-width lookahead: one (possibly overlapping) candidate per start position.
# Between the halves allow up to two spaces, including no-break spaces.
_SEPARATOR = "[ \u00a0\u202f]{0,2}"
_CANDIDATE = re.compile(rf"(?=({_OUTWARD}){_SEPARATOR}({_INWARD}))")
# Last resort: a letter O typed for the digit zero that starts the inward code.
_CANDIDATE_O_FOR_ZERO = re.compile(rf"(?=({_OUTWARD}){_SEPARATOR}(O[A-Z]{{2}}))")
_HAS_DIGIT = re.compile(r"[0-9]")

# A single-letter postcode area glued to the letter before it is ambiguous:
# "LONDONE1 8FA" reads as NE1 (Newcastle) or E1 (London), "ESSEXCM6 2JN" as CM6 or M6.
# The two-letter reading wins unless the text just before the one-letter area ends with
# that area's main post town.
_SINGLE_LETTER_AREA_TOWNS: dict[str, tuple[str, ...]] = {
    "B": ("BIRMINGHAM",),
    "E": ("LONDON",),
    "G": ("GLASGOW",),
    "L": ("LIVERPOOL",),
    "M": ("MANCHESTER", "SALFORD"),
    "N": ("LONDON",),
    "S": ("SHEFFIELD",),
    "W": ("LONDON",),
}

# Real postcode areas that the ONS district table does not cover.
_CROWN_DEPENDENCY_AREAS = frozenset({"GY", "IM", "JE"})

_Candidate = tuple[int, str, str]  # (start, outward, inward)


def normalise_postcode(text: str) -> str | None:
    """Return ``"OUTWARD INWARD"`` for a UK postcode, or ``None`` if ``text`` is not one.

    Case and whitespace are ignored: ``"E201JN"`` → ``"E20 1JN"``, ``"ln6 7he"`` →
    ``"LN6 7HE"``. A letter O where the inward code's digit belongs is read as zero
    (``"LL17 OJD"`` → ``"LL17 0JD"``). ``"GIR 0AA"`` is accepted. Nothing else may
    surround the postcode; use :func:`extract_postcode` for free text.
    """
    compact = "".join(text.split()).upper()
    if not 5 <= len(compact) <= 7:
        return None
    if compact[-3] == "O":
        # The inward code starts with a digit, so an O there is a typed zero.
        compact = f"{compact[:-3]}0{compact[-2:]}"
    if compact == "GIR0AA":
        return "GIR 0AA"
    match = _COMPACT.fullmatch(compact)
    if match is None:
        return None
    return f"{match.group(1)} {match.group(2)}"


def outward_code(postcode: str) -> str:
    """The outward code (postcode district) of a postcode: ``"KT22 7TW"`` → ``"KT22"``.

    Accepts any spelling :func:`normalise_postcode` accepts. Raises ``ValueError`` if
    ``postcode`` is not a UK postcode.
    """
    normalised = normalise_postcode(postcode)
    if normalised is None:
        raise ValueError(f"not a UK postcode: {postcode!r}")
    return normalised.partition(" ")[0]


def extract_postcode(text: str | None) -> str | None:
    """Find a UK postcode anywhere in free text; return it normalised, or ``None``.

    In order:

    1. the text as it is, with an upper-case pattern, so that lower-case words cannot make
       false matches when a proper postcode is present;
    2. an upper-cased copy, for lower- and mixed-case postcodes (``"Sl7 1LW"``);
    3. the text as it is again, reading a letter O as the inward zero (``"NG15 OHT"``).

    Each step only accepts postcodes in a known district
    (:func:`locality.reference.known_outward_codes`), the last one in the text winning
    (postcodes end addresses). Candidates ending at the same place are rival readings of
    the same letters (``"NE1 8FA"`` / ``"E1 8FA"``): a real district beats one that does
    not exist (Jersey, Guernsey and the Isle of Man count as real), then one with a clean
    start beats one glued to the letter before it. If no step finds a known district, a
    well-formed postcode in an unknown one (``"JE2 3QS"``) from step 1 or 2 is returned.

    The result always satisfies ``normalise_postcode(result) == result``.
    """
    if not text:
        return None
    return _extract_cached(text)


@lru_cache(maxsize=1 << 16)
def _extract_cached(text: str) -> str | None:
    if _HAS_DIGIT.search(text) is None:
        return None
    known = known_outward_codes()
    known_hit, other_hit = _best_candidates(_CANDIDATE, text, known)
    if known_hit is not None:
        return known_hit
    upper = text.upper()
    if upper != text:
        known_hit, other_upper = _best_candidates(_CANDIDATE, upper, known)
        if known_hit is not None:
            return known_hit
        other_hit = other_hit or other_upper
    if "O" in text:
        known_hit, _ = _best_candidates(_CANDIDATE_O_FOR_ZERO, text, known)
        if known_hit is not None:
            return f"{known_hit[:-3]}0{known_hit[-2:]}"
    return other_hit


def _best_candidates(
    pattern: re.Pattern[str], text: str, known: frozenset[str]
) -> tuple[str | None, str | None]:
    """The last candidate in a known district, and the last strictly valid other one."""
    readings: dict[int, _Candidate] = {}  # end → the chosen reading ending there
    for match in pattern.finditer(text):
        end = match.end(2)
        candidate = (match.start(), match.group(1), match.group(2))
        earlier = readings.get(end)
        readings[end] = candidate if earlier is None else _reading(text, earlier, candidate, known)
    best_known: tuple[int, str] | None = None  # (end, "OUTWARD INWARD")
    best_other: tuple[int, str] | None = None
    for end, (_, outward, inward) in readings.items():
        if outward in known:
            if best_known is None or end > best_known[0]:
                best_known = (end, f"{outward} {inward}")
        elif _STRICT_INWARD_LETTERS.issuperset(inward[1:]) and (
            best_other is None or end > best_other[0]
        ):
            best_other = (end, f"{outward} {inward}")
    return (
        None if best_known is None else best_known[1],
        None if best_other is None else best_other[1],
    )


def _glued(text: str, start: int) -> bool:
    return start > 0 and "A" <= text[start - 1] <= "Z"


def _reading(
    text: str, longer: _Candidate, shorter: _Candidate, known: frozenset[str]
) -> _Candidate:
    """Choose between a two-letter-area candidate and the one-letter one inside it."""
    longer_real = longer[1] in known or longer[1][:2] in _CROWN_DEPENDENCY_AREAS
    shorter_real = shorter[1] in known
    if longer_real != shorter_real:
        # "BB13 0AA" is B13 (BB13 does not exist); "JE2 3QS" is Jersey, not London E2.
        return longer if longer_real else shorter
    if not _glued(text, longer[0]):
        # A clean start: the shorter one is a fragment ("NE1 1LE" is not "E1 1LE").
        return longer
    # Both plausible and glued: keep the two-letter area unless the one-letter area
    # follows its main post town ("…LONDONE1 8FA").
    towns = _SINGLE_LETTER_AREA_TOWNS.get(shorter[1][0])
    if towns is not None and text[: shorter[0]].upper().endswith(towns):
        return shorter
    return longer
