"""The publishing body of a spend file: ``--body``, else the file's body column (a name, or a
URI/code such as ``…/local-authority-district/00CY``), else the file or folder name
(``leeds-city-council/2018-09.csv``), mapped to a council's registry code through
:mod:`locality.reference` where possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from locality.reference import (
    local_authority,
    local_authority_code_for_code,
    local_authority_code_for_name,
)


@dataclass(frozen=True)
class Body:
    name: str | None
    la_registry_code: str | None
    source: str  # option | column | file name | none


_ABBREVIATIONS = (
    (re.compile(r"\bMDC\b", re.I), "Metropolitan District Council"),
    (re.compile(r"\bMBC\b", re.I), "Metropolitan Borough Council"),
    (re.compile(r"\bBC\b", re.I), "Borough Council"),
    (re.compile(r"\bDC\b", re.I), "District Council"),
    (re.compile(r"\bCC\b", re.I), "City Council"),
)


def resolve_body(text: str, code_text: str = "") -> tuple[str, str | None]:
    """(display name, council registry code or None) for a body as published or given.

    ``code_text`` is a body code column's value (``E08000036``), tried first.
    """
    value = " ".join(text.split())
    code = local_authority_code_for_code(code_text) if code_text.strip() else None
    if code is None and "/" in value:  # a URI such as …/local-authority-district/00CY
        code = local_authority_code_for_code(value.rstrip("/").rsplit("/", 1)[-1])
    elif code is None and value:
        code = local_authority_code_for_name(value)
        if code is None and " " not in value and len(value) <= 12:
            code = local_authority_code_for_code(value)
        if code is None:
            expanded = value
            for pattern, replacement in _ABBREVIATIONS:
                expanded = pattern.sub(replacement, expanded)
            if expanded != value:
                code = local_authority_code_for_name(expanded)
    council = local_authority(code) if code else None
    return (council.official_name if council else value), code


_NAME_NOISE = re.compile(
    r"\b(?:card|cards|spend|spending|payments?|over|transparency|data|archive|latest)\b"
)


def body_from_path(path: Path) -> tuple[str, str] | None:
    """A council named by the file or its folder (``leeds-city-council/2018-09.csv``)."""
    stem = path.name
    for suffix in (".gz", ".csv"):
        stem = stem.removesuffix(suffix)
    for candidate in (stem, path.parent.name):
        words = re.sub(r"[\d_\-.\s]+", " ", candidate.casefold())
        words = " ".join(_NAME_NOISE.sub(" ", words).split())
        if not words:
            continue
        code = local_authority_code_for_name(words)
        council = local_authority(code) if code else None
        if council is not None:
            return council.official_name, council.code
    return None
