"""The council spend measures as registered Ibis families over ``payment_facts``.

HHI and top-n are defined once (``metrics.concentration.supplier_concentration``) for
contracts and payments alike; the whole-place view's shares and themes' concentration are
the payment families, so ``locality place`` and ``run_payments`` agree. Spark parity is in
``tests/test_spark_parity.py``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locality.domain.places import Place
from locality.enrich.resolve import SUPPLIERS_SQL
from locality.metrics import PAYMENT_FAMILIES, payments_expr, run_payments
from locality.metrics.concentration import supplier_concentration
from locality.spend.place import payment_labels, place_view
from locality.store import sql


@pytest.fixture(scope="module")
def labels(
    spend_store: duckdb.DuckDBPyConnection,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return payment_labels(spend_store)


def _by(table: Any, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in table.to_pylist()}


# --- one definition of HHI and top-n ----------------------------------------------------


def _concentration_by_hand(values: dict[str, float]) -> dict[str, Any]:
    positive = sorted((v for v in values.values() if v > 0), reverse=True)
    total = sum(positive)
    return {
        "hhi": sum((100 * v / total) ** 2 for v in positive),
        "top1_share": positive[0] / total,
        "top3_share": sum(positive[:3]) / total,
        "distinct_suppliers": len(positive),
    }


_payments = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # group
        st.sampled_from(["s1", "s2", "s3", "s4", "s5"]),  # supplier
        st.integers(min_value=-50_000, max_value=200_000).map(lambda pence: pence / 100),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payments)
def test_supplier_concentration_is_hhi_and_top_shares(rows: list[tuple[str, str, float]]) -> None:
    """Net amounts per supplier (credit notes included), suppliers at zero or below left
    out: the HHI and top shares worked out by hand, for any payments."""
    table = ibis.memtable(
        {
            "grp": [r[0] for r in rows],
            "supplier": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
        },
        schema={"grp": "string", "supplier": "string", "amount": "float64"},
    )
    got = _by(
        ibis.duckdb.connect().to_pyarrow(
            supplier_concentration(table, ["grp"], "supplier", "amount")
        ),
        "grp",
    )
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for group, supplier, amount in rows:
        sums[group][supplier] += amount
    expected = {g: _concentration_by_hand(v) for g, v in sums.items() if max(v.values()) > 0}
    assert set(got) == set(expected)
    for group, measures in expected.items():
        for name, value in measures.items():
            assert got[group][name] == pytest.approx(value, rel=1e-9, abs=1e-6), (group, name)


def test_both_concentration_families_use_the_one_definition() -> None:
    import inspect

    from locality.metrics import FAMILIES

    for func in (FAMILIES["concentration"], PAYMENT_FAMILIES["payment_concentration"]):
        assert "supplier_concentration(" in inspect.getsource(func)


# --- payment families over the sample -----------------------------------------------------


def test_payment_reach_by_body_adds_up(
    spend_store: duckdb.DuckDBPyConnection, labels: tuple[list[Any], list[Any]]
) -> None:
    themes, transfers = labels
    table = run_payments(spend_store, "payment_reach", "body", themes=themes, transfers=transfers)
    bodies = _by(table, "body_key")
    paid = {
        r["code"]: (r["n"], r["amount"])
        for r in sql.dicts(
            spend_store,
            "SELECT body_la_registry_code AS code, count(*) AS n, sum(amount_net) AS amount "
            "FROM spend_payments GROUP BY 1",
        )
    }
    assert set(bodies) == set(paid) == {"CLD", "DAL", "LDS", "MAN", "SLF"}
    for code, (count, amount) in paid.items():
        row = bodies[code]
        assert row["payments"] == count
        assert row["paid_amount"] == pytest.approx(amount, abs=0.01)
        assert row["supplier_amount"] + row["transfer_amount"] == pytest.approx(amount, abs=0.01)
        # Transfers are left out of what the shares are of.
        assert row["counted_amount"] == pytest.approx(row["supplier_amount"], abs=0.01)
        for share, coverage in (
            ("sme_share", "known_scale_coverage"),
            ("vcse_share", "known_vcse_coverage"),
            ("known_location_coverage", "resolved_coverage"),
        ):
            for name in (share, coverage):
                assert row[name] is None or 0 <= row[name] <= 1, (code, name)
        assert row["known_scale_coverage"] > 0
    # Leeds pays other public bodies (the Secretary of State, combined authority levies).
    assert bodies["LDS"]["transfer_amount"] > 0


def test_local_is_the_paying_council_without_a_place(
    spend_store: duckdb.DuckDBPyConnection,
) -> None:
    """By body, a local supplier is one located in the paying council (as a contract's
    ``same_locality``), counted over suppliers whose place is known: checked by hand."""
    rows = sql.dicts(
        spend_store,
        f"""
        WITH s AS ({SUPPLIERS_SQL})
        SELECT p.body_la_registry_code AS code, p.amount_net, s.la_registry_code AS la
        FROM spend_payments p
        LEFT JOIN s ON s.supplier_name_normalised IS NOT DISTINCT FROM p.supplier_name_normalised
                   AND s.company_number IS NOT DISTINCT FROM p.company_number
                   AND s.charity_number IS NOT DISTINCT FROM p.charity_number
        """,
    )
    known: dict[str, float] = defaultdict(float)
    local: dict[str, float] = defaultdict(float)
    for row in rows:
        if row["la"] is not None:
            known[row["code"]] += row["amount_net"]
            if row["la"] == row["code"]:
                local[row["code"]] += row["amount_net"]
    # No transfer rules given and transfers counted: every payment is counted.
    got = _by(run_payments(spend_store, "payment_reach", "body", include_transfers=True), "body")
    got = {row["body_key"]: row for row in got.values()}
    assert local["MAN"] > 0
    for code in known:
        assert got[code]["known_location_value"] == pytest.approx(known[code], abs=0.01)
        if local[code]:
            assert got[code]["local_share"] == pytest.approx(local[code] / known[code])


def test_place_view_runs_the_payment_families(
    spend_store: duckdb.DuckDBPyConnection, labels: tuple[list[Any], list[Any]]
) -> None:
    """A place holding every body: the view's shares and themes' concentration are the
    families' results over all the payments (local meaning the place's councils)."""
    themes, transfers = labels
    codes = {"CLD", "DAL", "LDS", "MAN", "SLF"}
    view = place_view(spend_store, Place("Sample", frozenset(codes), "test"))
    reach = run_payments(spend_store, "payment_reach", "all", themes=themes, transfers=transfers)
    (row,) = reach.to_pylist()
    shares = view["shares"]
    assert shares["total_amount"] == pytest.approx(row["paid_amount"], abs=0.01)
    assert shares["transfer_amount"] == pytest.approx(row["transfer_amount"], abs=0.01)
    for name in ("sme_share", "known_scale_coverage", "vcse_share", "known_vcse_coverage"):
        assert shares[name] == pytest.approx(row[name], rel=1e-9), name
    by_theme = _by(
        run_payments(
            spend_store, "payment_concentration", "theme", themes=themes, transfers=transfers
        ),
        "theme",
    )
    for theme in view["themes"]:
        if theme["hhi"] is None:
            assert theme["theme"] not in by_theme
            continue
        got = by_theme[theme["theme"]]
        assert theme["distinct_suppliers"] == got["distinct_suppliers"]
        for name in ("hhi", "top1_share", "top3_share"):
            assert theme[name] == pytest.approx(got[name], rel=1e-9), (theme["theme"], name)


def test_threshold_and_transfers_change_what_is_counted(
    spend_store: duckdb.DuckDBPyConnection, labels: tuple[list[Any], list[Any]]
) -> None:
    themes, transfers = labels
    options: dict[str, Any] = {"themes": themes, "transfers": transfers}
    (every,) = run_payments(spend_store, "payment_reach", "all", **options).to_pylist()
    (over,) = run_payments(
        spend_store, "payment_reach", "all", min_amount=500.0, **options
    ).to_pylist()
    (counted,) = run_payments(
        spend_store, "payment_reach", "all", include_transfers=True, **options
    ).to_pylist()
    (small,) = sql.one(
        spend_store, "SELECT count(*) FROM spend_payments WHERE abs(amount_net) < 500"
    )
    assert small > 0 and over["payments"] == every["payments"] - small
    assert every["transfer_amount"] > 0
    assert counted["counted_amount"] == pytest.approx(every["paid_amount"], abs=0.01)
    assert every["counted_amount"] == pytest.approx(every["supplier_amount"], abs=0.01)


def test_unknown_names_are_refused(spend_store: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(KeyError, match="unknown payment dimension 'buyer'; choose one of: body"):
        run_payments(spend_store, None, "buyer")
    with pytest.raises(KeyError, match="unknown payment family 'spend_reach'"):
        payments_expr(ibis.table({"x": "int64"}, name="t"), "all", ["spend_reach"])


def test_spark_export_holds_the_spend_suppliers(
    spend_store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """What Spark reads for the payment families: the payments and one row per supplier."""
    from locality.metrics.engine import STORE_TABLES, export_parquet

    assert {"spend_payments", "spend_suppliers"} <= set(STORE_TABLES)
    paths = export_parquet(spend_store, tmp_path)
    (exported,) = sql.one(spend_store, f"SELECT count(*) FROM '{paths['spend_suppliers']}'")
    (suppliers,) = sql.one(spend_store, f"SELECT count(*) FROM ({SUPPLIERS_SQL})")
    assert exported == suppliers > 1000


def test_a_known_zero_share_is_zero_not_unknown(
    spend_store: duckdb.DuckDBPyConnection,
) -> None:
    """Darlington's sample spend: some of it goes to suppliers whose place is known, none of
    them local, so its local share is 0% (a finding), not unknown (a gap)."""
    view = place_view(spend_store, Place("Darlington", frozenset({"DAL"}), "test"))
    shares = view["shares"]
    assert shares["known_location_coverage"] > 0
    assert shares["local_share"] == 0.0
