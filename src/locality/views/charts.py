"""Vega-Lite specifications of the dashboard's charts, with their data inline.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); series are also told apart by position and named in tooltips and legends.
Specs carry no ``$schema`` URL: the page's script embeds them in Vega-Lite mode, and
nothing is fetched from outside the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)

# Short names, so a legend fits on one line at 360 px.
SHARES = (
    ("sme_share", "SME"),
    ("vcse_share", "VCSE"),
    ("local_share", "local"),
)

_CONFIG: dict[str, Any] = {
    "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 180},
    "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom"},
    "view": {"stroke": None},
}


# Axis labels in pounds, British style: £400k, £40m, £2bn.
MONEY_AXIS: dict[str, Any] = {
    "tickCount": 6,
    "labelExpr": (
        "'£' + (abs(datum.value) >= 1e9 ? format(datum.value / 1e9, '~g') + 'bn'"
        " : abs(datum.value) >= 1e6 ? format(datum.value / 1e6, '~g') + 'm'"
        " : abs(datum.value) >= 1e3 ? format(datum.value / 1e3, '~g') + 'k'"
        " : format(datum.value, '~g'))"
    ),
}
ROW_HEIGHT = 26


def _tip(
    field: str, kind: str = "quantitative", fmt: str | None = None, title: str | None = None
) -> dict[str, Any]:
    """One tooltip line: a field, its type, and its number format and title where given."""
    line = {"field": field, "type": kind}
    if fmt is not None:
        line["format"] = fmt
    if title is not None:
        line["title"] = title
    return line


def _fields(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The chart data's copy of a row's ``names`` as they are (None where absent)."""
    return {name: row.get(name) for name in names}


def _colours(
    field: str, domain: Sequence[str], colours: Sequence[str], **channel: Any
) -> dict[str, Any]:
    """The colour channel of a nominal ``field``: each of ``domain`` in its colour, in order
    (``channel`` adds its title, sort or legend)."""
    return {
        "field": field,
        "type": "nominal",
        **channel,
        "scale": {"domain": list(domain), "range": list(colours)},
    }


def _money_x(field: str, title: str) -> dict[str, Any]:
    """The x channel of a bar chart of pounds, labelled as MONEY_AXIS writes them."""
    return {"field": field, "type": "quantitative", "title": title, "axis": MONEY_AXIS}


def _labelled_bars(text: dict[str, Any]) -> list[dict[str, Any]]:
    """Bars with their share written on each (mark ``text``), so a 0% share is seen, not
    just absent."""
    return [
        {"mark": {"type": "bar", "tooltip": True}},
        {
            "mark": text,
            "encoding": {
                "text": {"field": "share", "format": ".0%"},
                "color": {"value": "#1b1b1b"},
            },
        },
    ]


def _row_bars(
    description: str,
    values: list[dict[str, Any]],
    *,
    row: str,
    sort: str | list[str],
    money: tuple[str, str],
    tooltip: list[dict[str, Any]],
    color: dict[str, Any] | None = None,
    mark: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Horizontal bars of pounds, one row of ROW_HEIGHT per value: ``row`` names each bar
    (in ``sort`` order), ``money`` is the (field, title) of their length, ``tooltip`` the
    lines on each, ``color`` the colour channel where the bars differ in colour, ``mark``
    what adds to the bar mark. The height is a number, not {"step": ...}: a discrete height
    with a container width makes Vega-Lite warn in the browser's console."""
    encoding: dict[str, Any] = {
        "y": {"field": row, "type": "nominal", "title": None, "sort": sort},
        "x": _money_x(*money),
    }
    if color is not None:
        encoding["color"] = color
    encoding["tooltip"] = tooltip
    spec = _base(description, values)
    spec.update(
        {
            "height": ROW_HEIGHT * max(len(values), 1),
            "mark": {"type": "bar", "tooltip": True, **(mark or {})},
            "encoding": encoding,
        }
    )
    return spec


# The tooltip lines several charts share.
_AWARDED_TIP = _tip("awarded_value", fmt=",.0f", title="awarded £")
_PAID_TIP = _tip("amount", fmt=",.0f", title="paid £")
_PAYMENTS_TIP = _tip("payments", fmt=",")
_HHI_TIP = _tip("hhi", fmt=",.0f", title="HHI")


def _base(description: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "description": description,
        "width": "container",
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": values},
        "config": _CONFIG,
    }


def shares_by(
    rows: Sequence[Mapping[str, Any]], key: str, label: str, description: str
) -> dict[str, Any]:
    """Grouped bars: SME, VCSE and local share for each value of ``key`` (e.g. year)."""
    values = [
        {
            label: str(row[key]),
            "measure": name,
            "share": row.get(column),
            "coverage": row.get(
                {
                    "sme_share": "known_scale_share",
                    "vcse_share": "known_vcse_share",
                    "local_share": "known_location_share",
                }[column]
            ),
            "awarded_value": row.get("awarded_value"),
        }
        for row in rows
        for column, name in SHARES
        if row.get(column) is not None
    ]
    spec = _base(description, values)
    spec.update(
        {
            "height": 240,
            "encoding": {
                "x": {
                    "field": label,
                    "type": "ordinal",
                    "title": label,
                    "sort": "ascending",
                    "axis": {"labelAngle": 0},
                },
                "xOffset": {"field": "measure", "sort": [n for _, n in SHARES]},
                "y": {
                    "field": "share",
                    "type": "quantitative",
                    "title": "share of value (where known)",
                    "axis": {"format": ".0%"},
                    "scale": {"domain": [0, 1]},
                },
                "color": {
                    "field": "measure",
                    "type": "nominal",
                    "title": None,
                    "sort": [n for _, n in SHARES],
                    "scale": {"range": list(OKABE_ITO[:3])},
                },
                "tooltip": [
                    {"field": label, "type": "ordinal"},
                    {"field": "measure", "type": "nominal"},
                    {"field": "share", "type": "quantitative", "format": ".1%"},
                    {
                        "field": "coverage",
                        "type": "quantitative",
                        "format": ".0%",
                        "title": "of value known",
                    },
                    _AWARDED_TIP,
                ],
            },
            "layer": _labelled_bars({"type": "text", "dy": -7, "fontSize": 11}),
        }
    )
    return spec


def value_by(
    rows: Sequence[Mapping[str, Any]], key: str, label: str, description: str
) -> dict[str, Any]:
    """Horizontal bars of awarded value for each value of ``key`` (e.g. theme), largest first."""
    values = [
        {
            label: str(row[key]),
            "awarded_value": row.get("awarded_value") or 0.0,
            **_fields(row, "awards", "sme_share", "hhi"),
        }
        for row in rows
    ]
    return _row_bars(
        description,
        values,
        row=label,
        sort="-x",
        money=("awarded_value", "awarded value"),
        mark={"color": OKABE_ITO[0]},
        tooltip=[
            _tip(label, "nominal"),
            _AWARDED_TIP,
            _tip("awards"),
            _tip("sme_share", fmt=".1%"),
            _HHI_TIP,
        ],
    )


def compare_shares(rows: Sequence[Mapping[str, Any]], description: str) -> dict[str, Any]:
    """Grouped horizontal bars: each share measure, one bar per compared place."""
    places = [str(row["place"]) for row in rows]
    values = [
        {"place": str(row["place"]), "measure": name, "share": row.get(column)}
        for row in rows
        for column, name in (
            *SHARES,
            ("top3_share", "top 3 suppliers"),
            ("direct_award_share", "direct awards"),
        )
        if row.get(column) is not None
    ]
    spec = _base(description, values)
    spec.update(
        {
            "encoding": {
                "y": {"field": "measure", "type": "nominal", "title": None, "sort": None},
                "yOffset": {"field": "place", "sort": places},
                "x": {
                    "field": "share",
                    "type": "quantitative",
                    "title": "share of value",
                    "axis": {"format": ".0%", "tickCount": 5},
                    "scale": {"domain": [0, 1]},
                },
                "color": {
                    "field": "place",
                    "type": "nominal",
                    "title": None,
                    "sort": places,
                    "legend": {"columns": 2, "labelLimit": 160},
                    "scale": {"domain": places, "range": list(OKABE_ITO[: len(places)])},
                },
                "tooltip": [
                    {"field": "place", "type": "nominal"},
                    {"field": "measure", "type": "nominal"},
                    {"field": "share", "type": "quantitative", "format": ".1%"},
                ],
            },
            "layer": _labelled_bars({"type": "text", "align": "left", "dx": 3, "fontSize": 10}),
        }
    )
    measures = len({v["measure"] for v in values})
    spec["height"] = 14 * max(measures * len(places), 1)
    return spec


def compare_values(rows: Sequence[Mapping[str, Any]], description: str) -> dict[str, Any]:
    """Horizontal bars of each compared place's awarded value."""
    places = [str(row["place"]) for row in rows]
    values = [
        {"place": str(row["place"]), "awarded_value": row.get("awarded_value") or 0.0}
        for row in rows
    ]
    return _row_bars(
        description,
        values,
        row="place",
        sort=places,
        money=("awarded_value", "awarded value"),
        color=_colours("place", places, OKABE_ITO[: len(places)], legend=None),
        tooltip=[_tip("place", "nominal"), _AWARDED_TIP],
    )


# --- council spend (the whole-place view, ``locality.spend.place``) ------------------------


def _body_label(row: Mapping[str, Any]) -> str:
    return str(row.get("body") or row.get("code") or "unknown")


def spend_by_year(rows: Sequence[Mapping[str, Any]], description: str) -> dict[str, Any]:
    """Stacked bars: spend paid each financial year, one colour per body (``years`` rows)."""
    bodies: list[str] = []
    for row in rows:
        if _body_label(row) not in bodies:
            bodies.append(_body_label(row))
    values = [
        {
            "financial year": str(row["financial_year"]),
            "body": _body_label(row),
            "amount": row.get("amount") or 0.0,
            "payments": row.get("payments"),
        }
        for row in rows
    ]
    palette = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(bodies))]
    spec = _base(description, values)
    spec.update(
        {
            "height": 240,
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {
                    "field": "financial year",
                    "type": "ordinal",
                    "sort": "ascending",
                    "axis": {"labelAngle": 0},
                },
                "y": {
                    "field": "amount",
                    "type": "quantitative",
                    "title": "paid (net of VAT)",
                    "axis": MONEY_AXIS,
                    "stack": "zero",
                },
                "color": _colours(
                    "body",
                    bodies,
                    palette,
                    title=None,
                    sort=bodies,
                    legend={"columns": 1, "labelLimit": 320},
                ),
                "order": {"field": "body", "sort": "ascending"},
                "tooltip": [
                    {"field": "financial year", "type": "ordinal"},
                    {"field": "body", "type": "nominal"},
                    _PAID_TIP,
                    _PAYMENTS_TIP,
                ],
            },
        }
    )
    return spec


def spend_by_theme(
    rows: Sequence[Mapping[str, Any]], description: str, unmapped: str = "unmapped"
) -> dict[str, Any]:
    """Horizontal bars of spend by theme in the view's order (largest first, the unmapped
    line last and in its own colour), with each theme's concentration in the tooltip."""
    themes = [str(row["theme"]) for row in rows]
    values = [
        {
            "theme": str(row["theme"]),
            "kind": "unmapped" if row["theme"] == unmapped else "a contract theme",
            "amount": row.get("amount") or 0.0,
            **_fields(row, "payments", "share_of_total", "hhi", "top1_share", "top3_share"),
        }
        for row in rows
    ]
    return _row_bars(
        description,
        values,
        row="theme",
        sort=themes,
        money=("amount", "paid (net of VAT)"),
        color=_colours("kind", ["a contract theme", "unmapped"], OKABE_ITO[:2], title=None),
        tooltip=[
            _tip("theme", "nominal"),
            _PAID_TIP,
            _PAYMENTS_TIP,
            _tip("share_of_total", fmt=".1%", title="share of spend"),
            _HHI_TIP,
            _tip("top1_share", fmt=".1%", title="top supplier"),
            _tip("top3_share", fmt=".1%", title="top 3 suppliers"),
        ],
    )


CONTRACTED_PAID = (("contracted", "contracted (notices)"), ("paid", "paid (spend files)"))


def contracted_vs_paid(rows: Sequence[Mapping[str, Any]], description: str) -> dict[str, Any]:
    """Grouped horizontal bars: per council and financial year, the value of contract awards
    against the value paid (``contracted_vs_paid`` rows)."""
    labels = [f"{row['council']} {row['financial_year']}" for row in rows]
    names = [name for _, name in CONTRACTED_PAID]
    values = [
        {
            "council and year": label,
            "measure": name,
            "amount": row.get(column) or 0.0,
            "contracted_to_paid": row.get("contracted_to_paid"),
        }
        for label, row in zip(labels, rows, strict=True)
        for column, name in CONTRACTED_PAID
    ]
    spec = _base(description, values)
    spec.update(
        {
            "height": 14 * max(len(values), 1),
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {
                    "field": "council and year",
                    "type": "nominal",
                    "title": None,
                    "sort": labels,
                },
                "yOffset": {"field": "measure", "sort": names},
                "x": _money_x("amount", "GBP"),
                "color": _colours(
                    "measure", names, [OKABE_ITO[0], OKABE_ITO[2]], title=None, sort=names
                ),
                "tooltip": [
                    {"field": "council and year", "type": "nominal"},
                    {"field": "measure", "type": "nominal"},
                    {"field": "amount", "type": "quantitative", "format": ",.0f", "title": "£"},
                    {
                        "field": "contracted_to_paid",
                        "type": "quantitative",
                        "format": ".1%",
                        "title": "contracted / paid",
                    },
                ],
            },
        }
    )
    return spec
