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

# Lost escapes: "rn" runs glued between a word or punctuation and a capital, digit or bullet.
_LOST_CRLF = re.compile(r"(?<=[a-z0-9.,;:!?)\]A-Z])((?:rn)+)(?=[A-Z0-9•*(\-])")
_LOST_LF = re.compile(r"(?<=[a-z.,;:)])n(?=[A-Z])")
_LOST_TAB = re.compile(r"(?<=[•·])t(?=[A-Z])")
_DAMAGE_HINT = re.compile(r"[a-z.,;:)](?:rn)+[A-Z]|[•·]t[A-Z]")


def repair_mojibake(text: str) -> str:
    if not _MOJIBAKE_HINT.search(text):
        return text
    pattern, table = _mojibake_table()
    return pattern.sub(lambda m: table[m.group(0)], text)


def repair_lost_escapes(text: str) -> str:
    """Put back newlines and tabs whose backslashes were stripped.

    Only text with no real line break and a clear sign of damage ("…rnrnLuton", "•tChildren")
    is touched, so ordinary words such as "Hornby" or "modern" are left alone.
    """
    if "\n" in text or "\r" in text or not _DAMAGE_HINT.search(text):
        return text
    text = _LOST_CRLF.sub(lambda m: "\r\n" * (len(m.group(1)) // 2), text)
    text = _LOST_TAB.sub("\t", text)
    return _LOST_LF.sub("\n", text)


def clean_text(text: str | None) -> str | None:
    """The display form of a published text (``None`` stays ``None``)."""
    if not text:
        return text
    return repair_lost_escapes(repair_mojibake(text))
