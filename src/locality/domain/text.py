"""Repair published text for display; the original is always kept as published.

Two kinds of damage occur in Contracts Finder text (``../shared/data/README.md``, quirks 3-4):

* lost escapes: a copy of the data had the backslashes of ``\\r\\n``, ``\\n`` and ``\\t``
  stripped, so text reads ``"councils.rnrnLuton"``, ``"plcnOne America Square"``,
  ``"•tChildren"``;
* mojibake: UTF-8 decoded as Windows-1252 before publishing (``"â€™"`` for ``"’"``,
  ``"Â£"`` for ``"£"``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache


@lru_cache(maxsize=1)
def _mojibake_table() -> tuple[re.Pattern[str], dict[str, str]]:
    table: dict[str, str] = {}
    # Latin-1 supplement, general punctuation, currency symbols and a few letter-like symbols:
    # the characters that appear in UK notices.
    ranges = [(0xA0, 0x180), (0x2000, 0x2070), (0x20A0, 0x20C0), (0x2100, 0x2130)]
    for start, end in ranges:
        for code in range(start, end):
            char = chr(code)
            try:
                garbled = char.encode("utf-8").decode("cp1252")
            except UnicodeDecodeError:
                continue  # contains a byte cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
            if garbled != char:
                table[garbled] = char
    keys = sorted(table, key=len, reverse=True)
    return re.compile("|".join(re.escape(k) for k in keys)), table


_MOJIBAKE_HINT = re.compile("[ÂÃâ][\u0080-\u02ff\u2000-\u20ff]")

# Lost escapes. No English word contains "rnrn", starts with "rn", or has "rn" right after
# punctuation, so those are safe to read as a lost "\r\n"; "rn" at a word's end counts only
# when a capital, digit, bullet or an indent follows ("Insurancern      The").
_CRLF_RUN = re.compile(r"(?:rn){2,}")
_CRLF_AFTER_BREAK = re.compile(r"(?<=[\s.,;:!?)\]])rn")
_CRLF_AT_WORD_END = re.compile(r"(?<=[A-Za-z0-9])rn(?=\s{2,}|[A-Z0-9•·£(*-])")
_LOST_LF = re.compile(r"(?<=[a-z.,;:)])n(?=[A-Z])")
_LOST_TAB = re.compile(r"(?<=[•·])t(?=[A-Z0-9])")
_DAMAGE_HINT = re.compile(
    r"(?:rn){2}|[\s.,;:]rn|rn\s{2}|[a-z]rn[A-Z]|[•·]t[A-Z0-9]|[a-z.]n[A-Z][a-z]"
)


def repair_mojibake(text: str) -> str:
    if not _MOJIBAKE_HINT.search(text):
        return text
    pattern, table = _mojibake_table()
    return pattern.sub(lambda m: table[m.group(0)], text)


def repair_lost_escapes(text: str) -> str:
    """Put back newlines and tabs whose backslashes were stripped.

    Only text with no real line break and a clear sign of damage ("…rnrnLuton", "•tChildren")
    is touched, and ordinary words such as "Hornby" or "modern" are left alone.
    """
    if "\n" in text or "\r" in text or not _DAMAGE_HINT.search(text):
        return text
    text = _CRLF_RUN.sub(lambda m: "\r\n" * (len(m.group(0)) // 2), text)
    text = _CRLF_AFTER_BREAK.sub("\r\n", text)
    text = _CRLF_AT_WORD_END.sub("\r\n", text)
    text = _LOST_TAB.sub("\t", text)
    return _LOST_LF.sub("\n", text)


def clean_text(text: str | None) -> str | None:
    """The display form of a published text (``None`` stays ``None``)."""
    if not text:
        return text
    return repair_lost_escapes(repair_mojibake(text))


def parse_flag(text: str) -> bool | None:
    """A yes/no cell as published (Y/N, yes/no, true/false, 1/0, t/f, any case), else None:
    one rule for spend files' flags and users' supplier facts."""
    value = text.strip().casefold()
    if value in ("y", "yes", "true", "1", "t"):
        return True
    if value in ("n", "no", "false", "0", "f"):
        return False
    return None


def header_key(name: str) -> str:
    """The comparison key of a CSV header: case-folded letters and digits only, so that
    ``Company No.``, ``company_no`` and ``COMPANY NO`` are one heading."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


def header_positions(
    header: Sequence[str], variants: Mapping[str, Collection[str]]
) -> dict[str, int]:
    """Where each field's column is: ``variants`` maps a field to the header keys it may be
    published under; the first column whose key matches wins."""
    positions: dict[str, int] = {}
    for position, heading in enumerate(header):
        key = header_key(heading)
        for field, keys in variants.items():
            if key in keys and field not in positions:
                positions[field] = position
    return positions
