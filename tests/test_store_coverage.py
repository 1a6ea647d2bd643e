"""The store finds postcodes and places for the organisations that publish them."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import orjson

from locality.domain.identity import identify
from locality.store import sql
from locality.views.status import store_status
from tests.conftest import CF_LEGACY_AWARDS, CF_RELEASES
from tests.helpers import store_counts

# A deliberately loose, independent pattern: "this address has something postcode-shaped".
LOOSE_POSTCODE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}", re.I)


def _suppliers_with_postcode_in_address(path: Path) -> set[str]:
    org_ids: set[str] = set()
    for line in path.open("rb"):
        release = orjson.loads(line)
        parties = list(release.get("parties") or [])
        if "parties" not in release:  # legacy: suppliers are embedded in awards
            parties = [s for a in release.get("awards") or [] for s in a.get("suppliers") or []]
        for party in parties:
            if "parties" in release and "supplier" not in (party.get("roles") or []):
                continue
            address = party.get("address") or {}
            text = " ".join(str(address.get(k) or "") for k in ("streetAddress", "postalCode"))
            if LOOSE_POSTCODE.search(text):
                who = identify(party)
                assert who is not None
                org_ids.add(who.org_id)
    return org_ids


def test_supplier_postcode_coverage_is_at_least_95_percent(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    """Done criterion of the foundation issue, over both Contracts Finder award layouts."""
    expected = _suppliers_with_postcode_in_address(
        CF_RELEASES
    ) | _suppliers_with_postcode_in_address(CF_LEGACY_AWARDS)
    assert len(expected) > 900
    found = {
        org_id
        for (org_id,) in sql.rows(
            sample_store, "SELECT org_id FROM organisations WHERE postcode IS NOT NULL"
        )
    }
    coverage = len(expected & found) / len(expected)
    assert coverage >= 0.95, coverage


def test_postcodes_map_to_current_councils(sample_store: duckdb.DuckDBPyConnection) -> None:
    """A Leatherhead supplier (KT22, glued into "…LEATHERHEADSURREYKT22 7TWGB") is in Mole
    Valley, South East; the FCA (postalCode "E201JN", no space) is in Newham, London."""
    rows = dict(
        (org_id, (postcode, la, region))
        for org_id, postcode, la, region in sql.rows(
            sample_store,
            """
            SELECT org_id, postcode, la_name, region_name FROM organisations
            WHERE org_id IN ('GB-COH-01616977', 'GB-GOR-OT1085')
            """,
        )
    )
    assert rows["GB-COH-01616977"] == ("KT22 7TW", "Mole Valley", "South East")
    assert rows["GB-GOR-OT1085"] == ("E20 1JN", "Newham", "London")


def test_status_reports_counts_and_coverage(sample_store: duckdb.DuckDBPyConnection) -> None:
    status = store_status(sample_store)
    expected = store_counts()
    for table in ("releases", "processes", "awards", "organisations", "rejected"):
        assert status["counts"][table] == expected[table], table
    coverage = status["coverage"]
    for key in ("supplier_scale", "supplier_vcse", "supplier_postcode", "supplier_local_authority"):
        assert 0 < coverage[key] <= 1
    assert {p["name"] for p in status["publishers"]} == {
        "Contracts Finder",
        "Find a Tender",
        "Public Contracts Scotland",
        "Sell2Wales",
    }
    assert status["date_range"] == {"first": "2014-12-17", "last": "2026-10-06"}


def test_status_shows_postcode_coverage_where_addresses_have_one(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    coverage = store_status(sample_store)["coverage"]
    assert coverage["supplier_postcode_where_address_has_one"] >= 0.95
    # …which is higher than over all suppliers, many of which publish no postcode at all.
    assert coverage["supplier_postcode"] < coverage["supplier_postcode_where_address_has_one"]
