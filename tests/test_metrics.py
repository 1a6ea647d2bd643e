"""Spend reach, worked out by hand from the real Contracts Finder releases.

Each expected figure below was read off the raw file (the latest version of every award,
its value and its suppliers' ``details.scale``/``details.vcse``), and the arithmetic is
written out so a reviewer can check it without running anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locality.ingest.pipeline import ingest
from locality.metrics import run
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_LEGACY_AWARDS, CF_RELEASES
from tests.helpers import measures


@pytest.fixture(scope="module")
def by_buyer(cf_store: Path) -> dict[str, dict[str, Any]]:
    return measures(cf_store, "spend_reach", "buyer", "buyer_id")


def test_merton_mixed_sizes(by_buyer: dict[str, dict[str, Any]]) -> None:
    """London Borough of Merton (GB-CFS-18525): three single-supplier awards.

    DDS Demolition (sme) £100,000; Commonplace Digital Ltd. (sme) £37,500;
    Marstons holdings plc (large) £93,007. All three publish vcse = false.
    """
    row = by_buyer["GB-CFS-18525"]
    assert row["buyer_name"] == "London Borough of Merton"
    assert row["awards"] == 3
    assert row["awarded_value"] == pytest.approx(100_000 + 37_500 + 93_007)  # 230,507
    assert row["sme_share"] == pytest.approx((100_000 + 37_500) / 230_507)  # 0.5965
    assert row["known_scale_share"] == pytest.approx(1.0)
    assert row["vcse_share"] == pytest.approx(0.0)
    assert row["known_vcse_share"] == pytest.approx(1.0)


def test_cabinet_office(by_buyer: dict[str, dict[str, Any]]) -> None:
    """Cabinet Office: Aker Systems Limited (sme) £29,500; NOMINET UK (large) £20,760."""
    row = by_buyer["GB-SRS-sid4gov.cabinetoffice.gov.uk/3A4AmUm4"]
    assert row["awards"] == 2
    assert row["awarded_value"] == pytest.approx(29_500 + 20_760)  # 50,260
    assert row["sme_share"] == pytest.approx(29_500 / 50_260)  # 0.5869


def test_size_is_taken_from_each_process(by_buyer: dict[str, dict[str, Any]]) -> None:
    """Buckinghamshire Council bought from Tencer Ltd twice: one notice says large
    (£10,335.30), the other sme (£5,505.85). Each award keeps its own notice's size.

    Those two notices name the council GB-CFS-187980, a third (£45,826, large) names it
    GB-CFS-148375, both at HP20: one council, under the older id (store/unify.py).
    """
    assert "GB-CFS-187980" not in by_buyer
    row = by_buyer["GB-CFS-148375"]
    assert row["awards"] == 3
    assert row["awarded_value"] == pytest.approx(10_335.30 + 5_505.85 + 45_826)  # 61,667.15
    assert row["sme_share"] == pytest.approx(5_505.85 / 61_667.15)  # 0.0893


def test_unknown_sizes_are_not_counted_as_large(by_buyer: dict[str, dict[str, Any]]) -> None:
    """University Of Worcester: five awards, no supplier publishes details.

    Under GB-CFS-44290: £3,380.86 (three flooring suppliers) + £837,000 + £60,000 + £80,000
    = £980,380.86; under GB-CFS-41126 (the older id, same WR2 address, store/unify.py):
    £160,000. Together £1,140,380.86.
    """
    row = by_buyer["GB-CFS-41126"]
    assert row["awards"] == 5
    assert row["awarded_value"] == pytest.approx(3_380.86 + 837_000 + 60_000 + 80_000 + 160_000)
    assert row["sme_share"] is None  # no supplier of known size: no share, not 0%
    assert row["known_scale_share"] == pytest.approx(0.0)
    assert row["vcse_share"] is None
    assert row["known_vcse_share"] == pytest.approx(0.0)


def test_award_updates_are_not_double_counted(by_buyer: dict[str, dict[str, Any]]) -> None:
    """UK Research & Innovation: 21 awards, all to SMEs.

    Process …ae3b047c8a7d has an award (£1,350) and an awardUpdate of the same award id
    (£4,050): it counts once, at £4,050. Process …33d72b40514d repeats £10,800 in its update.
    """
    values = [
        7_875, 9_000, 6_400, 4_664, 9_720, 3_600, 5_280, 4_800, 3_160, 4_050, 3_950,
        4_900, 10_800, 24_990, 10_800, 3_160, 1_350, 1_350, 1_350, 1_350, 2_700,
    ]  # fmt: skip
    row = by_buyer["GB-SRS-sid4gov.cabinetoffice.gov.uk/Zj5uFppq"]
    assert row["awards"] == len(values) == 21
    assert row["awarded_value"] == pytest.approx(sum(values))  # 125,249
    assert sum(values) == 125_249
    assert row["sme_share"] == pytest.approx(1.0)


def test_value_is_split_equally_among_suppliers(cf_store: Path) -> None:
    """University Of Worcester's flooring award: £3,380.86 / 3 suppliers = £1,126.95 each."""
    con = connect(cf_store, read_only=True)
    try:
        shares = sql.rows(
            con,
            """
            SELECT s.supplier_name, s.value_share FROM award_suppliers s
            WHERE s.ocid LIKE '%2a6c3f9a2cb4' ORDER BY s.position
            """,
        )
    finally:
        con.close()
    assert [name for name, _ in shares] == [
        "Hennessy Flooring Ltd",
        "LGM Limited",
        "McManus Flooring",
    ]
    for _, share in shares:
        assert share == pytest.approx(3_380.86 / 3)


def test_legacy_vcse_flags_reach_the_measure(tmp_path: Path) -> None:
    """Legacy 2020 notices publish ``vco``: the VCSE share is computable there."""
    con = connect(tmp_path / "legacy.duckdb")
    try:
        ingest(con, [CF_LEGACY_AWARDS])
        rows = run(con, "spend_reach", "buyer").to_pylist()
    finally:
        con.close()
    assert any(r["vcse_share"] and r["vcse_share"] > 0 for r in rows)
    assert all(r["known_vcse_share"] is not None for r in rows if r["awarded_value"] > 0)


# --- invariants over random real subsets --------------------------------------------------

LINES = CF_RELEASES.read_bytes().splitlines()


def _check_invariants(con: duckdb.DuckDBPyConnection) -> None:
    for by in ("buyer", "region", "publisher", "year"):
        for row in run(con, "spend_reach", by).to_pylist():
            for key in ("sme_share", "vcse_share", "known_scale_share", "known_vcse_share"):
                value = row[key]
                assert value is None or -1e-9 <= value <= 1 + 1e-9, (by, key, row)
    # Totals are preserved: supplier shares add up to their award's value.
    off = sql.rows(
        con,
        """
        SELECT a.ocid, a.award_id FROM awards a JOIN award_suppliers s USING (ocid, award_id)
        WHERE a.value IS NOT NULL GROUP BY a.ocid, a.award_id, a.value
        HAVING abs(sum(s.value_share) - a.value) > 1e-6 * greatest(1, abs(a.value))
        """,
    )
    assert off == []
    # And the by-buyer total equals the total of counted GBP awards of money (a framework's
    # ceiling is not money; a duplicated notice counts once).
    total_by_buyer = sum(r["awarded_value"] for r in run(con, "spend_reach", "buyer").to_pylist())
    (total,) = sql.one(
        con,
        """
        SELECT coalesce(sum(value), 0) FROM awards
        WHERE coalesce(status, 'active') = 'active' AND currency = 'GBP'
          AND counts_as = 'awarded'
          AND ocid NOT IN (SELECT ocid FROM duplicate_processes)
        """,
    )
    assert total_by_buyer == pytest.approx(total)


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sets(st.integers(min_value=0, max_value=len(LINES) - 1), min_size=1, max_size=80))
def test_invariants_hold_on_any_subset(
    tmp_path_factory: pytest.TempPathFactory, picks: set[int]
) -> None:
    folder = tmp_path_factory.mktemp("subset")
    path = folder / "subset.jsonl"
    path.write_bytes(b"\n".join(LINES[i] for i in sorted(picks)) + b"\n")
    con = connect(folder / "s.duckdb")
    try:
        ingest(con, [path])
        _check_invariants(con)
    finally:
        con.close()


def test_invariants_hold_on_the_whole_sample(sample_store: duckdb.DuckDBPyConnection) -> None:
    _check_invariants(sample_store)
