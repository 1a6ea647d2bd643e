"""Display cleaning: lost escapes and mojibake, checked against the real damaged copies."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from locality.domain.text import clean_text, repair_lost_escapes, repair_mojibake
from tests.conftest import CF_RELEASES, ESCAPE_STRIPPED


def _texts(release: dict) -> list[str | None]:
    tender = release.get("tender", {})
    return [tender.get("title"), tender.get("description")]


def test_damaged_copies_are_repaired_to_the_published_text() -> None:
    """The 60 escape-stripped copies, cleaned, read as the intact releases do.

    The intact file still carries its publisher's mojibake, which cleaning also repairs, so
    both sides are compared in display form.
    """
    intact = {(r["ocid"], r["id"]): r for r in map(orjson.loads, CF_RELEASES.open("rb"))}
    damaged_texts = exact = compared = 0
    for damaged in map(orjson.loads, ESCAPE_STRIPPED.open("rb")):
        original = intact[(damaged["ocid"], damaged["id"])]
        for broken, good in zip(_texts(damaged), _texts(original), strict=True):
            if broken is None:
                continue
            compared += 1
            damaged_texts += broken != good
            exact += clean_text(broken) == repair_mojibake(good)
    assert compared == 120
    assert damaged_texts == 46
    # Measured: 114 of 120. The rest lost characters no rule can restore (stripped quotes,
    # a doubled backslash), so a drop below this means a rule broke.
    assert exact >= 114


@pytest.mark.parametrize(
    ("damaged", "repaired"),
    [
        ("councils.rnrnLuton Council", "councils.\r\n\r\nLuton Council"),
        ("Aviva plcnOne America Square", "Aviva plc\nOne America Square"),
        ("Services:•tChildren", "Services:•\tChildren"),
        ("the rnpurchase", "the \r\npurchase"),
        ("Insurancern      The", "Insurance\r\n      The"),
    ],
)
def test_lost_escapes(damaged: str, repaired: str) -> None:
    assert repair_lost_escapes(damaged) == repaired


@pytest.mark.parametrize(
    "text",
    [
        "Hornby Road, Blackpool",
        "A modern concern. The governance pattern",
        "Line one\nLine two rnrn stays as published because it has real newlines",
        "Eastern Region",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert clean_text(text) == text


@pytest.mark.parametrize(
    ("garbled", "fixed"),
    [
        ("the supplierâ€™s", "the supplier’s"),
        ("up to Â£60,000", "up to £60,000"),
        ("â€¢ bullet", "• bullet"),
        ("valueâ€¯Â£5m", "value\u202f£5m"),
    ],
)
def test_mojibake(garbled: str, fixed: str) -> None:
    assert repair_mojibake(garbled) == fixed


@given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\r\n\t"), max_size=200))
def test_cleaning_never_removes_letters_other_than_escape_marks(text: str) -> None:
    """Cleaning only turns lost-escape letters into whitespace; the rest survives in order."""
    cleaned = clean_text(text)
    assert cleaned is not None
    kept = [c for c in cleaned if c not in "\r\n\t"]
    # Every character of the cleaned text (minus the restored whitespace) comes from the
    # input in order; at most the 'r', 'n', 't' letters of lost escapes are dropped.
    it = iter(text)
    for char in kept:
        for source in it:
            if source == char:
                break
            assert source in "rnt"
        else:
            pytest.fail(f"{char!r} does not come from the input")


def test_none_and_empty() -> None:
    assert clean_text(None) is None
    assert clean_text("") == ""
