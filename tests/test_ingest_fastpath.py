"""The ingest's fast path past the agreement rules' regexes gives the same answer as the
rules themselves (``normalise._may_name_agreement``)."""

from __future__ import annotations

import hashlib
import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from locality.domain import agreements
from locality.ingest.normalise import AGREEMENT_WORDS, _may_name_agreement
from tests.conftest import SAMPLE_FILES
from tests.helpers import read_jsonl

# The patterns AGREEMENT_WORDS was read off. When agreements.py changes them, check that
# every alternative of every title and description rule still contains one of the words,
# then record the new digest here.
RULES = (
    "_CALL_OFF",
    "_CALL_OFF_DESCRIPTION",
    "_CALL_OFF_THROUGH",
    "_FRAMEWORK_MENTION",
    "_DPS",
    "_FRAMEWORK",
    "_FRAMEWORK_DESCRIPTION",
)
RULES_DIGEST = "1824f64a9ce5832c"


def _digest() -> str:
    text = "\n".join(getattr(agreements, name).pattern for name in RULES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _classify(title: str | None, description: str | None) -> tuple[str, str]:
    return agreements.classify(
        techniques=[], method_details=None, notice_forms=[], title=title, description=description
    )


def test_the_rules_are_the_ones_the_words_were_read_off() -> None:
    assert _digest() == RULES_DIGEST, (
        "agreements.py's rules changed: re-derive normalise.AGREEMENT_WORDS"
    )


def test_letters_that_ignorecase_folds_to_ascii_are_sent_to_the_regexes() -> None:
    letter = re.compile("[a-z]", re.IGNORECASE)
    special = [
        chr(cp)
        for cp in range(128, sys.maxunicode + 1)
        if letter.fullmatch(chr(cp)) and not chr(cp).lower().isascii()
    ]
    for char in special:
        assert _may_name_agreement(f"a {char} b") is not None, hex(ord(char))


def test_sample_titles_and_descriptions_classify_the_same() -> None:
    seen = 0
    for path in SAMPLE_FILES:
        for release in read_jsonl(path):
            tender = release.get("tender") or {}
            title, description = tender.get("title"), tender.get("description")
            if not isinstance(title, str) or not isinstance(description, str):
                continue
            fast = _classify(_may_name_agreement(title), _may_name_agreement(description))
            assert fast == _classify(title, description), release["ocid"]
            seen += 1
    assert seen > 400


WORDS = [
    *AGREEMENT_WORDS,
    "call-off",
    "call off from",
    "Framework Agreement",
    "dynamic purchasing system",
    "DPS",
    "approved supplier list",
    "accreditation",
    "further competition under",
    "mini-competition",
    "tendered under the",
    "using the",
    "set up a",
    "the framework will",
    "pan-government agreement",
    "contract",
    "services",
    "council",
    "ſ",
    "İ",
    "ı",
    "K",
    ".",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=12))
def test_any_text_classifies_the_same(parts: list[str]) -> None:
    text = " ".join(parts)
    fast = _classify(_may_name_agreement(text), _may_name_agreement(text))
    assert fast == _classify(text, text)
