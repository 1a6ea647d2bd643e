"""Organisation names as keys: one spelling for "The Leeds City Council", "LEEDS CITY COUNCIL"
and "Leeds City Council Ltd"-style variants, so names match across publishers."""

from __future__ import annotations

import html
import re

_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_SUFFIXES = (
    (re.compile(r"\blimited\b"), "ltd"),
    (re.compile(r"\bpublic limited company\b"), "plc"),
    (re.compile(r"\band\b"), "&"),
    (re.compile(r"\bthe\b"), ""),
    (re.compile(r"\bco\b"), "company"),
)


def normalise_name(name: str) -> str:
    """A name key for matching: case-folded, &/and and Ltd/Limited unified, no punctuation."""
    if "&" in name and ";" in name:
        name = html.unescape(name)  # "L&amp;Q" is "L&Q": entities decoded before the key
    text = name.casefold().replace("&", " and ")
    text = _NON_WORD.sub(" ", text)
    for pattern, replacement in _SUFFIXES:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()
