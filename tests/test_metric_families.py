"""Local shares, concentration, contract shape, places and compare, worked out by hand
from the real Contracts Finder releases (supplier places from their published addresses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from locality.cli import app
from locality.domain.places import PlaceError, load_places, resolve
from locality.metrics import DIMENSIONS, run
from locality.metrics.compare import compare
from locality.store.db import connect
from tests.helpers import measures


@pytest.fixture(scope="module")
def by_buyer(cf_store: Path) -> dict[str, dict[str, Any]]:
    return measures(cf_store, None, "buyer", "buyer_id")


def test_merton_local_circles(by_buyer: dict[str, dict[str, Any]]) -> None:
    """London Borough of Merton (buyer postcode SM4 5DX, Merton, London, GLA):

    DDS Demolition £100,000, CT9 4JW (Thanet, South East); Commonplace Digital £37,500,
    M3 5FS (Salford, North West); Marstons holdings plc £93,007, EC3N 2LB (Tower Hamlets,
    London, GLA). No supplier is in Merton; one is in London and in the GLA.
    """
    row = by_buyer["GB-CFS-18525"]
    assert row["known_location_share"] == pytest.approx(1.0)
    assert row["local_share"] == pytest.approx(0.0)
    assert row["region_share"] == pytest.approx(93_007 / 230_507)  # 0.4035
    assert row["combined_authority_share"] == pytest.approx(93_007 / 230_507)


def test_merton_concentration(by_buyer: dict[str, dict[str, Any]]) -> None:
    """HHI = sum of squared percentage shares: 43.38² + 40.35² + 16.27² ≈ 3,775."""
    row = by_buyer["GB-CFS-18525"]
    shares = [100 * v / 230_507 for v in (100_000, 93_007, 37_500)]
    assert row["hhi"] == pytest.approx(sum(s * s for s in shares))
    assert row["hhi"] == pytest.approx(3_775, abs=1)
    assert row["top1_share"] == pytest.approx(100_000 / 230_507)
    assert row["top3_share"] == pytest.approx(1.0)
    assert row["distinct_suppliers"] == 3


def test_cabinet_office_shape(by_buyer: dict[str, dict[str, Any]]) -> None:
    """Cabinet Office: £29,500 (Cherwell) and £20,760 (Oxford); buyer in Westminster.

    Median of two awards = (20,760 + 29,500) / 2 = 25,130; nothing over £1m; suppliers
    outside London, so every local circle is 0. HHI = 58.69² + 41.31² ≈ 5,151.
    """
    row = by_buyer["GB-SRS-sid4gov.cabinetoffice.gov.uk/3A4AmUm4"]
    assert row["median_award_value"] == pytest.approx(25_130)
    assert row["over_1m_share"] == pytest.approx(0.0)
    assert row["local_share"] == pytest.approx(0.0)
    assert row["region_share"] == pytest.approx(0.0)
    assert row["hhi"] == pytest.approx((100 * 29_500 / 50_260) ** 2 + (100 * 20_760 / 50_260) ** 2)


def test_unknown_places_are_not_counted_as_elsewhere(by_buyer: dict[str, dict[str, Any]]) -> None:
    """University Of Worcester's suppliers publish no details: sizes unknown, shares null."""
    row = by_buyer["GB-CFS-41126"]  # GB-CFS-44290 folded into it (store/unify.py)
    assert row["sme_share"] is None
    assert row["known_scale_share_count"] == pytest.approx(0.0)


@pytest.mark.slow
def test_every_dimension_runs_and_shares_are_bounded(cf_store: Path) -> None:
    con = connect(cf_store, read_only=True)
    try:
        total = run(con, None, "all").to_pylist()[0]["awarded_value"]
        for by in DIMENSIONS:
            rows = run(con, None, by).to_pylist()
            assert rows, by
            for row in rows:
                for key, value in row.items():
                    if key.endswith("_share") or key.startswith("suitability_gap"):
                        assert value is None or -1e-9 <= value <= 1 + 1e-9, (by, key, row)
                    if key == "hhi" and value is not None:
                        assert 0 < value <= 10_000 + 1e-6
            if by not in ("place", "all"):
                # Every award is in exactly one group: the groups add up to the whole.
                assert sum(r["awarded_value"] or 0 for r in rows) == pytest.approx(total)
    finally:
        con.close()


def test_places_resolve_names() -> None:
    places = load_places(None)
    assert resolve("West Yorkshire", places).councils == {"BRD", "CLD", "KIR", "LDS", "WKF"}
    assert resolve("wyca", places).name == "West Yorkshire"
    assert resolve("City of York Council", places).councils == {"YOR"}
    # A 2023 council missing from the name lookup is still found by its register name.
    assert resolve("Westmorland and Furness", places).councils == {"WAF"}
    with pytest.raises(PlaceError, match="did you mean 'York'"):
        resolve("Yrok", places)


def test_places_file(tmp_path: Path) -> None:
    path = tmp_path / "places.toml"
    path.write_text('[places."Two Cities"]\ncouncils = ["Leeds", "Bradford"]\n')
    assert load_places(path)["Two Cities"].councils == {"LDS", "BRD"}
    path.write_text('[places."Nowhere"]\ncouncils = ["Atlantis"]\n')
    with pytest.raises(PlaceError, match="Atlantis"):
        load_places(path)


def test_compare_keeps_order_and_empty_places(cf_store: Path) -> None:
    """York has no award in this file: it keeps its column, empty, rather than vanishing."""
    con = connect(cf_store, read_only=True)
    try:
        table = compare(con, ["York", "Swindon", "London Borough of Merton"]).to_pylist()
    finally:
        con.close()
    assert [r["place"] for r in table] == ["York", "Swindon", "Merton"]
    assert table[0]["awards"] is None
    assert table[2]["awards"] == 3
    assert table[2]["awarded_value"] == pytest.approx(230_507)


def test_where_place_filters_buyers(cf_store: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--db",
            str(cf_store),
            "metrics",
            "--by",
            "buyer",
            "--where",
            "place=Merton",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"buyer_id": "GB-CFS-18525"' in result.output
    assert "GB-CFS-41126" not in result.output  # University Of Worcester is not in Merton
    result = CliRunner().invoke(app, ["--db", str(cf_store), "compare", "Yrok", "York"])
    assert result.exit_code == 2
    assert "did you mean 'York'" in result.output


@pytest.fixture(scope="module")
def by_locality(cf_store: Path) -> dict[str, dict[str, Any]]:
    return measures(cf_store, None, "locality", "locality")


def test_manchester_locality(by_locality: dict[str, dict[str, Any]]) -> None:
    """Buyers in Manchester: Transport for Greater Manchester, two bus awards of four
    suppliers each (all large, all in Greater Manchester, North West).

    Award 1: £2,564,782 / 4 = £641,195.50 each: First Manchester (Oldham), Go North West
    (Manchester), Stagecoach Manchester (Manchester), Stotts Tours (Oldham).
    Award 2: £1,983,706 / 4 = £495,926.50 each: Diamond Bus (Bolton), Nexus Move (Tameside),
    Stagecoach Manchester (Manchester), Stotts Tours (Oldham).
    """
    row = by_locality["Manchester"]
    total = 2_564_782 + 1_983_706  # 4,548,488
    local = 2 * 641_195.5 + 495_926.5  # 1,778,317.50 to suppliers in Manchester itself
    assert row["awards"] == 2
    assert row["awarded_value"] == pytest.approx(total)
    assert row["local_share"] == pytest.approx(local / total)  # 0.3910
    assert row["combined_authority_share"] == pytest.approx(1.0)  # all in GMCA
    assert row["region_share"] == pytest.approx(1.0)
    assert row["sme_share"] == pytest.approx(0.0)
    by_supplier = [
        641_195.5 + 495_926.5,  # Stagecoach Manchester
        641_195.5 + 495_926.5,  # Stotts Tours
        641_195.5,  # First Manchester
        641_195.5,  # Go North West
        495_926.5,  # Diamond Bus
        495_926.5,  # Nexus Move
    ]
    assert row["hhi"] == pytest.approx(sum((100 * v / total) ** 2 for v in by_supplier))
    assert row["top1_share"] == pytest.approx(1_137_122 / total)
    assert row["top3_share"] == pytest.approx((2 * 1_137_122 + 641_195.5) / total)
    assert row["distinct_suppliers"] == 6


def test_rutland_locality(by_locality: dict[str, dict[str, Any]]) -> None:
    """Welland Procurement Unit (Rutland, East Midlands, no combined authority).

    A taxi framework of £776,888.48 over 12 SME suppliers (£64,740.71 each): one in Rutland,
    nine in the East Midlands; £24,125.75 to Lexis Nexis (Westminster); £134,326 to a
    software firm (West Berkshire). All suppliers are SMEs.
    """
    row = by_locality["Rutland"]
    total = 776_888.48 + 24_125.75 + 134_326  # 935,340.23
    each = 776_888.48 / 12
    assert row["awards"] == 3
    assert row["awarded_value"] == pytest.approx(total)
    assert row["local_share"] == pytest.approx(each / total)  # 0.0692
    assert row["region_share"] == pytest.approx(9 * each / total)  # 0.6229
    assert row["combined_authority_share"] is None  # Rutland is in no combined authority
    assert row["sme_share"] == pytest.approx(1.0)
    assert row["median_award_value"] == pytest.approx(134_326)


def test_quality_coverage(by_buyer: dict[str, dict[str, Any]]) -> None:
    """University Of Worcester: 5 awards (4 under GB-CFS-44290, folded into GB-CFS-41126),
    values and suppliers published, no sizes."""
    row = by_buyer["GB-CFS-41126"]
    assert row["counted_awards"] == 5
    assert row["coverage_value"] == pytest.approx(1.0)
    assert row["coverage_supplier"] == pytest.approx(1.0)
    assert row["coverage_supplier_size"] == pytest.approx(0.0)
    merton = by_buyer["GB-CFS-18525"]
    assert merton["coverage_supplier_size"] == pytest.approx(1.0)
    assert merton["coverage_supplier_place"] == pytest.approx(1.0)
