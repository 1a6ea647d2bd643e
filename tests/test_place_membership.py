"""One rule for which spend publishers belong to a place: the Python check the views use
(``domain.places.spend_body_in_place``) and the SQL the metrics run
(``metrics.facts.payments_in_place``) keep the same payments (issue 11: place membership was
written in SQL and again in Python)."""

from __future__ import annotations

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from locality.domain.places import Place, body_key, place_body_keys, spend_body_in_place
from locality.metrics.facts import payments_in_place

_CODES = ["LDS", "BRD", "YOR", None]
_NAMES = ["West Yorkshire Police", "  west yorkshire police ", "WEST YORKSHIRE FIRE", "Leeds"]

_con = ibis.duckdb.connect()


def test_body_key_is_one_rule_for_text_and_columns() -> None:
    assert body_key("  West Yorkshire Police ") == "west yorkshire police"
    column = ibis.memtable({"body": ["  West Yorkshire Police "]}).body
    assert _con.execute(body_key(column).name("k")).tolist() == ["west yorkshire police"]


@settings(max_examples=40, deadline=None)
@given(
    councils=st.frozensets(st.sampled_from(["LDS", "BRD", "YOR"])),
    bodies=st.frozensets(st.sampled_from(_NAMES)),
    payments=st.lists(
        st.tuples(st.sampled_from(_CODES), st.sampled_from([*_NAMES, "Leeds City Council"])),
        min_size=1,
        max_size=8,
    ),
)
def test_python_and_sql_agree(
    councils: frozenset[str], bodies: frozenset[str], payments: list[tuple[str | None, str]]
) -> None:
    place = Place("Somewhere", councils, "test", bodies)
    table = ibis.memtable(
        {
            "i": list(range(len(payments))),
            "body_la_registry_code": [code for code, _ in payments],
            "body": [body for _, body in payments],
        },
        schema={"i": "int64", "body_la_registry_code": "string", "body": "string"},
    )
    kept = payments_in_place(table, sorted(councils), place_body_keys(place))
    in_sql = set(_con.execute(kept.i).tolist())
    in_python = {
        i for i, (code, body) in enumerate(payments) if spend_body_in_place(place, code, body)
    }
    assert in_sql == in_python
