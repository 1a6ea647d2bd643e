"""The dimensions metrics are grouped by, and the columns a filter may name.

Plain data, kept apart from the registry so that commands which only need the names (help
texts, validation) do not import Ibis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    name: str
    keys: tuple[str, ...]  # columns of award_facts, cast to text, nulls shown as "unknown"
    help: str


DIMENSIONS: dict[str, Dimension] = {}


def dimension(name: str, keys: tuple[str, ...], help: str) -> None:
    DIMENSIONS[name] = Dimension(name, keys, help)


dimension("buyer", ("buyer_name", "buyer_id"), "each buyer organisation")
dimension("locality", ("locality", "la_code"), "the buyer's local authority (current councils)")
dimension("region", ("region",), "the buyer's region or nation")
dimension("combined-authority", ("combined_authority",), "the buyer's combined authority")
dimension("cpv-division", ("cpv_division",), "CPV division (2 digits) of the main classification")
dimension("theme", ("theme",), "theme of the CPV division (reference/cpv-themes.csv)")
dimension("year", ("year",), "calendar year of the award date")
dimension("financial-year", ("financial_year",), "UK financial year (April-March) of the award")
dimension("method", ("method",), "procurement method (open, selective, limited, direct)")
dimension("publisher", ("publisher_prefix",), "OCID prefix of the publishing system")
dimension("supplier", ("supplier_name", "supplier_id"), "each supplier organisation")
dimension("place", ("place",), "named places: combined authorities, or a --places TOML file")
dimension("all", (), "everything in the store (or the filter) as one row")

# Columns a --where filter may name.
FILTERABLE = (
    "buyer_id",
    "buyer_name",
    "locality",
    "la_code",
    "la_registry_code",
    "region",
    "combined_authority",
    "cpv_division",
    "theme",
    "year",
    "financial_year",
    "method",
    "publisher_prefix",
    "supplier_id",
    "supplier_name",
    "is_innovation",
    "is_framework",
    "is_direct",
)

# The dimensions of council payments (``payment_facts``): the payment families' groups.
PAYMENT_DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("body", ("body", "body_key"), "each paying body (a council by its code)"),
        Dimension("theme", ("theme",), "theme of the payment (expense type, else service area)"),
        Dimension("year", ("year",), "calendar year of the payment date"),
        Dimension("financial-year", ("financial_year",), "UK financial year of the payment"),
        Dimension("all", (), "every payment given as one row"),
    )
}
