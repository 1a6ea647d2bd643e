"""Every legacy Contracts Finder process links to its notice (issue 10): its OCID holds the
notice's GUID; current-format releases publish their own link, and a link from data is a
link only when it is http(s)."""

from __future__ import annotations

import duckdb
import pytest

from locality.domain.notices import legacy_contracts_finder_url, notice_url
from tests.conftest import CF_LEGACY_AWARDS, CF_LEGACY_TENDERS
from tests.helpers import file_counts


def test_legacy_processes_and_notices_link_to_the_notice(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    rows = sample_store.execute(
        """
        SELECT p.ocid, p.notice_url, n.url
        FROM processes p JOIN process_notices n USING (ocid)
        WHERE p.layout IN ('cf-legacy-award', 'cf-legacy-tender')
        """
    ).fetchall()
    # One notice per legacy release of the sample.
    assert len(rows) == sum(file_counts(f)["kept"] for f in (CF_LEGACY_AWARDS, CF_LEGACY_TENDERS))
    for ocid, process_url, notice_link in rows:
        guid = ocid.removeprefix("ocds-b5fd17-")
        expected = f"https://www.contractsfinder.service.gov.uk/Notice/{guid}"
        assert process_url == expected and notice_link == expected, ocid


def test_current_contracts_finder_links_are_their_own(
    sample_store: duckdb.DuckDBPyConnection,
) -> None:
    """A current-format OCID is a procurement id, not a notice id: never a link built from it."""
    rows = sample_store.execute(
        "SELECT ocid, notice_url FROM processes WHERE layout = 'ocds' "
        "AND publisher_prefix = 'ocds-b5fd17' AND notice_url IS NOT NULL"
    ).fetchall()
    assert len(rows) > 100
    assert all(url != legacy_contracts_finder_url(ocid) for ocid, url in rows)


@pytest.mark.parametrize(
    ("ocid", "expected"),
    [
        (
            "ocds-b5fd17-2C330CF9-adc8-11e6-9901-0019b9f3037b",
            "https://www.contractsfinder.service.gov.uk/Notice/2c330cf9-adc8-11e6-9901-0019b9f3037b",
        ),
        ("ocds-b5fd17-not-a-guid", None),
        ("ocds-h6vhtk-04e9fb", None),
    ],
)
def test_legacy_url_is_built_only_from_a_guid(ocid: str, expected: str | None) -> None:
    assert legacy_contracts_finder_url(ocid) == expected


def test_only_http_links_from_data() -> None:
    assert notice_url("ocds-b5fd17-x", None, ["javascript:alert(1)", "https://example.org/n"]) == (
        "https://example.org/n"
    )
    assert notice_url("ocds-b5fd17-x", None, ["javascript:alert(1)"]) is None
