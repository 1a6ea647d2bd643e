"""The column map (``spend_columns.toml``, extendable with a user's file) and header matching:
every layout's headers are mapped onto the canonical fields of :data:`PAYMENT_FIELDS`,
compared ignoring case, spaces and punctuation (:func:`header_key`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from locality.domain.text import header_key
from locality.ingest.spendfile.errors import SpendColumnsError
from locality.store.schema import SPEND_COLUMNS

# The canonical fields of one payment, in the order of the rows the reader yields (the
# columns of ``spend_payments`` after ``source_file``).
PAYMENT_FIELDS = SPEND_COLUMNS[1:]  # the spend_payments columns after source_file

# The payment's columns a file gives as they are, to be stored unchanged: spend_payments'
# company_number to transaction_id (a column added there is one the column map can name).
_AS_GIVEN = SPEND_COLUMNS[
    SPEND_COLUMNS.index("company_number") : SPEND_COLUMNS.index("transaction_id") + 1
]

# Fields the column map may name: the body (its name or code), the date, the amount parts
# (combined into ``amount_net``), the supplier's name, and the columns given as they are.
MAPPED_FIELDS = (
    "body",
    "body_code",
    "payment_date",
    "amount_net",
    "amount_gross",
    "amount_vat",
    "supplier_name",
    *_AS_GIVEN,
)


@dataclass(frozen=True)
class SpendColumns:
    """The column map and the settings that go with it (see ``spend_columns.toml``)."""

    fields: dict[str, tuple[str, ...]]  # canonical field → header keys, best first
    card_markers: frozenset[str]
    redaction: re.Pattern[str]
    default_threshold: float
    thresholds: dict[str, float]  # council registry code → published threshold
    sources: tuple[str, ...] = ()

    @property
    def all_keys(self) -> frozenset[str]:
        return frozenset(k for keys in self.fields.values() for k in keys) | self.card_markers


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpendColumnsError(f"{source}: not valid TOML ({exc})") from exc


def _strings(value: Any, where: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpendColumnsError(f"{source}: {where} must be a list of strings")
    return value


def load_columns(extra: str | Path | None = None) -> SpendColumns:
    """The package's column map, extended by a user's TOML file when given.

    A user file's header variants are tried before the package's; its ``[card]``,
    ``[redaction]`` and ``[threshold]`` entries are added to (thresholds: replace) them.
    """
    base_text = files("locality.ingest").joinpath("spend_columns.toml").read_text("utf-8")
    layers = [(_toml(base_text, "spend_columns.toml"), "spend_columns.toml")]
    if extra is not None:
        path = Path(extra)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise SpendColumnsError(f"{path}: cannot read the column map ({exc})") from exc
        layers.insert(0, (_toml(text, str(path)), str(path)))
    fields: dict[str, list[str]] = {name: [] for name in MAPPED_FIELDS}
    markers: set[str] = set()
    patterns: list[str] = []
    default_threshold: float | None = None
    thresholds: dict[str, float] = {}
    for data, source in layers:
        unknown = set(data) - {"fields", "card", "redaction", "threshold"}
        if unknown:
            raise SpendColumnsError(f"{source}: unknown section(s) {sorted(unknown)}")
        for name, variants in data.get("fields", {}).items():
            if name not in fields:
                raise SpendColumnsError(
                    f"{source}: unknown canonical field {name!r}; "
                    f"known fields: {', '.join(MAPPED_FIELDS)}"
                )
            for variant in _strings(variants, f"fields.{name}", source):
                key = header_key(variant)
                if key and key not in fields[name]:
                    fields[name].append(key)
        card = data.get("card", {})
        markers.update(header_key(m) for m in _strings(card.get("markers", []), "card", source))
        redaction = data.get("redaction", {})
        patterns.extend(_strings(redaction.get("patterns", []), "redaction.patterns", source))
        threshold = data.get("threshold", {})
        if default_threshold is None and "default" in threshold:
            default_threshold = float(threshold["default"])
        for code, value in threshold.get("by_body", {}).items():
            thresholds.setdefault(code.strip().upper(), float(value))
    try:
        redaction_re = re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.I)
    except re.error as exc:
        raise SpendColumnsError(f"a redaction pattern is not a regular expression: {exc}") from exc
    return SpendColumns(
        fields={name: tuple(keys) for name, keys in fields.items()},
        card_markers=frozenset(markers),
        redaction=redaction_re,
        default_threshold=500.0 if default_threshold is None else default_threshold,
        thresholds=thresholds,
        sources=tuple(source for _, source in reversed(layers)),
    )
