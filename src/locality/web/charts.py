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
                    {
                        "field": "awarded_value",
                        "type": "quantitative",
                        "format": ",.0f",
                        "title": "awarded £",
                    },
                ],
            },
            "layer": [
                {"mark": {"type": "bar", "tooltip": True}},
                {
                    # The value on each bar, so a 0% share is seen, not just absent.
                    "mark": {"type": "text", "dy": -7, "fontSize": 11},
                    "encoding": {
                        "text": {"field": "share", "format": ".0%"},
                        "color": {"value": "#1b1b1b"},
                    },
                },
            ],
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
            "awards": row.get("awards"),
            "sme_share": row.get("sme_share"),
            "hhi": row.get("hhi"),
        }
        for row in rows
    ]
    spec = _base(description, values)
    spec.update(
        {
            # A number, not {"step": ...}: a discrete height with a container width
            # makes Vega-Lite warn in the browser's console.
            "height": ROW_HEIGHT * max(len(values), 1),
            "mark": {"type": "bar", "tooltip": True, "color": OKABE_ITO[0]},
            "encoding": {
                "y": {"field": label, "type": "nominal", "title": None, "sort": "-x"},
                "x": {
                    "field": "awarded_value",
                    "type": "quantitative",
                    "title": "awarded value",
                    "axis": MONEY_AXIS,
                },
                "tooltip": [
                    {"field": label, "type": "nominal"},
                    {
                        "field": "awarded_value",
                        "type": "quantitative",
                        "format": ",.0f",
                        "title": "awarded £",
                    },
                    {"field": "awards", "type": "quantitative"},
                    {"field": "sme_share", "type": "quantitative", "format": ".1%"},
                    {"field": "hhi", "type": "quantitative", "format": ",.0f", "title": "HHI"},
                ],
            },
        }
    )
    return spec


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
            "layer": [
                {"mark": {"type": "bar", "tooltip": True}},
                {
                    "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10},
                    "encoding": {
                        "text": {"field": "share", "format": ".0%"},
                        "color": {"value": "#1b1b1b"},
                    },
                },
            ],
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
    spec = _base(description, values)
    spec.update(
        {
            "height": ROW_HEIGHT * max(len(values), 1),
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "place", "type": "nominal", "title": None, "sort": places},
                "x": {
                    "field": "awarded_value",
                    "type": "quantitative",
                    "title": "awarded value",
                    "axis": MONEY_AXIS,
                },
                "color": {
                    "field": "place",
                    "type": "nominal",
                    "legend": None,
                    "scale": {"domain": places, "range": list(OKABE_ITO[: len(places)])},
                },
                "tooltip": [
                    {"field": "place", "type": "nominal"},
                    {
                        "field": "awarded_value",
                        "type": "quantitative",
                        "format": ",.0f",
                        "title": "awarded £",
                    },
                ],
            },
        }
    )
    return spec
