"""A place's report as one self-contained HTML file (``locality report``).

The report has the sections of the dashboard's place page (headline figures in plain
words, shares by year, value by theme, concentration, top suppliers, red flags), and what a
reader outside the project needs to judge them: the data-quality caveats, the definitions
of the measures used, the data sources with their licences, and the date it was made.
``compare`` adds the headline measures of other places side by side.

Everything is inside the file: the stylesheet, the vendored vega, vega-lite and vega-embed
scripts, the chart specifications (JSON script tags, data inline) and a small script that
draws them. It opens offline from disk and prints to A4 (one section per page, no contents
list, charts no wider than the page). The figures come from the same calls as the dashboard
(``locality.views.queries``) and are written by the same functions (``locality.views.present``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from locality import __version__, views
from locality.metrics.compare import HEADLINE
from locality.views import charts, present, queries
from locality.views.params import BadRequest, NotFound
from locality.views.queries import MAX_COMPARE, Session, Store

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
# The macros the dashboard and the report share (one headline, one chart): the view layer's.
SHARED_TEMPLATES = Path(views.__file__).resolve().parent / "templates"
WEB_STATIC = HERE.parent / "web" / "static"
VENDOR = WEB_STATIC / "vendor"
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")

# Charts are drawn this wide (CSS pixels): inside an A4 page's 180 mm of text width.
CHART_WIDTH = 640

METRICS_DOC = "docs/metrics.md"

# One line per measure the report shows, drawn from docs/metrics.md (which has the full
# definitions, the OCDS fields read and the edge cases).
GLOSSARY: dict[str, str] = {
    "awards": (
        "Counted awards of money (contracts and call-offs): an award counts when its status "
        "is active or missing; appointments to frameworks are counted apart."
    ),
    "awarded_value": (
        "The sum of the counted awards' values, in GBP; an award's value is split equally "
        "among its suppliers. Framework and DPS ceilings are not money and are not in it; "
        "placeholder or impossible amounts are unknown, not zero."
    ),
    "sme_share": "Value to SME suppliers over the value to suppliers whose size is known.",
    "known_scale_share": "Value to suppliers whose size is known, over the awarded value.",
    "vcse_share": (
        "Value to voluntary, community and social enterprise (VCSE) suppliers over the value "
        "to suppliers whose VCSE status is known."
    ),
    "known_vcse_share": "Value to suppliers whose VCSE status is known, over the awarded value.",
    "local_share": (
        "Value to suppliers in the buyer's own council area over the value where both the "
        "buyer's and the supplier's councils are known (from their postcodes)."
    ),
    "combined_authority_share": (
        "Value to suppliers in the buyer's combined authority, over the value with both places "
        "known whose buyer is in a combined authority."
    ),
    "region_share": "Value to suppliers in the buyer's region, over the value with both regions "
    "known.",
    "known_location_share": (
        "Value where both the buyer's and the supplier's councils are known, over the awarded "
        "value."
    ),
    "hhi": (
        "Herfindahl-Hirschman Index: the sum of the suppliers' squared percentage shares of "
        "value, 0 to 10,000. The Competition and Markets Authority reads above 1,000 as "
        "concentrated and above 2,000 as highly concentrated."
    ),
    "top1_share": "Share of the value to named suppliers that went to the largest one.",
    "top3_share": "Share of the value to named suppliers that went to the three largest.",
    "distinct_suppliers": "Suppliers that received value.",
    "median_award_value": "The median value of a counted award, in GBP.",
    "over_1m_share": "Share of the awarded value in awards over £1m (large, bundled contracts).",
    "framework_share": (
        "Share of counted awards (by number) that are appointments to a framework agreement "
        "or dynamic purchasing system."
    ),
    "frameworks": "Frameworks and dynamic purchasing systems set up, with a counted appointment.",
    "framework_ceiling_value": (
        "The most that could be bought through those frameworks and DPS, in GBP: a ceiling "
        "shared by the appointed suppliers, not money awarded, never added to the awarded value."
    ),
    "call_off_share": "Share of the awarded value in call-offs from a framework or DPS.",
    "direct_award_share": (
        "Of the value whose procedure is published, the share in processes whose procurement "
        "method is direct: awarded without competition (OCDS 'limited', restricted "
        "competition, is not counted)."
    ),
    "direct_award_known_share": "Share of the awarded value whose procedure is published.",
    "single_bidder_share": (
        "Of the processes that publish a bid count (Find a Tender), the share that drew one bid."
    ),
    "innovation_share": (
        "Share of value in innovation procurement: research and development services (CPV "
        "division 73), or an innovation partnership, competitive dialogue, competitive "
        "procedure with negotiation, pre-commercial procurement or SBRI."
    ),
    "suitability_gap_sme": (
        "Of the value awarded (to suppliers of known size) in processes the buyer marked "
        "suitable for SMEs, the share that went to large firms."
    ),
    "risk_index": (
        "Of the integrity red flags that can be computed for a process, the share raised "
        "(direct award over £30,000, short advertisement, decision-period outlier, value just "
        "under a threshold, award value growth, single bidder). Missing key fields are a "
        "data-quality finding, not a red flag."
    ),
    "coverage": (
        "Share of the counted awards that publish what a measure needs (a value, a date, "
        "named suppliers, their size and place, the buyer's place, a CPV code, a procedure)."
    ),
}

# The quality family's coverage columns, as the caveats table names them.
COVERAGE_LABELS: dict[str, str] = {
    "coverage_value": "an award value (every value measure)",
    "coverage_award_date": "an award date (shares by year)",
    "coverage_supplier": "at least one named supplier (shares, concentration)",
    "coverage_supplier_size": "every supplier's size (SME share)",
    "coverage_supplier_place": "every supplier's council (local share)",
    "coverage_buyer_place": "the buyer's council (which place an award belongs to)",
    "coverage_cpv": "a CPV code (themes, innovation)",
    "coverage_method": "a procurement method (direct-award share)",
}

OGL3 = (
    "Open Government Licence v3.0",
    "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
)
CC_BY_4 = ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/")
BSD3 = ("BSD 3-Clause", "https://opensource.org/license/bsd-3-clause")

# Licences of the OCDS publishers (by OCID prefix, as ``store_status`` lists them).
PUBLISHER_LICENCES: dict[str, tuple[str, str]] = {
    "ocds-b5fd17": OGL3,  # Contracts Finder (Cabinet Office); older releases OGL v2.0
    "ocds-h6vhtk": OGL3,  # Find a Tender (Cabinet Office)
    "ocds-r6ebe6": OGL3,  # Public Contracts Scotland (Scottish Government)
    "ocds-kuma6s": OGL3,  # Sell2Wales (Welsh Government)
}
PUBLISHER_NOTES: dict[str, str] = {
    "ocds-b5fd17": "some older Contracts Finder releases were published under OGL v2.0",
}

# The reference tables behind places and themes (src/locality/reference/README.md).
REFERENCE_SOURCES: tuple[dict[str, Any], ...] = (
    {
        "what": "Councils, their names, regions and combined authorities",
        "origin": "mySociety, UK local authority names and codes",
        "licence": CC_BY_4,
        "attribution": "Contains data from mySociety's UK local authority names and codes "
        "(https://github.com/mysociety/uk_local_authority_names_and_codes), CC-BY-4.0.",
    },
    {
        "what": "Postcode district to council",
        "origin": "ONS and NHS data, via the NHS COVID-19 app's public postcode lookup",
        "licence": OGL3,
        "attribution": "Contains public sector information licensed under the Open "
        "Government Licence v3.0.",
    },
    {
        "what": "Council and region codes and names",
        "origin": "ONS data, via postcodes.io",
        "licence": OGL3,
        "attribution": "",
    },
    {
        "what": "CPV 2008 codes (themes of contracts)",
        "origin": "EU Common Procurement Vocabulary, regulations 2195/2002 and 213/2008",
        "licence": ("free to reuse", ""),
        "attribution": "",
    },
)


def _vendor_files() -> list[dict[str, str]]:
    """The vendored chart libraries, each with its licence text."""
    out = []
    for name in VENDOR_SCRIPTS:
        licence = VENDOR / name.replace(".min.js", ".LICENSE")
        out.append(
            {
                "name": name.removesuffix(".min.js"),
                "licence": licence.read_text(encoding="utf-8"),
            }
        )
    return out


def _inline_script(path: Path) -> Markup:
    """A script's text, safe inside a ``<script>`` element."""
    text = path.read_text(encoding="utf-8")
    return Markup(text.replace("</script", "<\\/script"))  # our own vendored files


def _inline_style(path: Path) -> Markup:
    return Markup(path.read_text(encoding="utf-8").replace("</style", "<\\/style"))


def _sized(spec: dict[str, Any]) -> dict[str, Any]:
    """A dashboard chart spec at a fixed width that fits an A4 page."""
    return {**spec, "width": CHART_WIDTH}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader([TEMPLATES, SHARED_TEMPLATES]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    present.register_filters(env)
    return env


def _comparators(s: Session, name: str, others: Sequence[str]) -> list[str]:
    """The report's place first, then the others, by their resolved names, each once.

    ``NotFound`` (with near names) for a name that is neither a council nor a place,
    ``BadRequest`` for more than ``MAX_COMPARE - 1`` others: all before anything is computed.
    """
    given = [n.strip() for n in others if n and n.strip()]
    if len(given) > MAX_COMPARE - 1:
        raise BadRequest(
            f"a report compares its place with at most {MAX_COMPARE - 1} others (got {len(given)})"
        )
    names: list[str] = []
    for each in (name, *given):
        resolved = queries.place(s, each).name
        if resolved not in names:
            names.append(resolved)
    return names


def report_data(s: Session, name: str, compare: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready values (``NotFound`` for unknown names)."""
    names = _comparators(s, name, compare)
    data = queries.place_page(s, name)
    label = data["place"]["name"]
    specs = {
        "years": _sized(
            charts.shares_by(
                data["by_year"],
                "year",
                "year",
                f"SME, VCSE and local share of value by year, buyers in {label}",
            )
        ),
        "themes": _sized(
            charts.value_by(
                data["by_theme"], "theme", "theme", f"Awarded value by theme, buyers in {label}"
            )
        ),
    }
    rows: list[dict[str, Any]] = []
    if len(names) > 1:
        rows = queries.compare(s, names)
        specs["compare_shares"] = _sized(
            charts.compare_shares(
                rows, "SME, VCSE, local, top-3 and direct-award shares of each place"
            )
        )
        specs["compare_values"] = _sized(charts.compare_values(rows, "Awarded value of each place"))
    status = queries.status(s)
    publishers = [
        {
            **p,
            "licence": PUBLISHER_LICENCES.get(p["prefix"], ("as its publisher states", "")),
            "note": PUBLISHER_NOTES.get(p["prefix"], ""),
        }
        for p in status["publishers"]
    ]
    headline = data["headline"]
    return {
        **data,
        "specs": specs,
        "compare": rows,
        "status": status,
        "publishers": publishers,
        "coverage": [
            {"key": key, "label": text, "value": headline.get(key)}
            for key, text in COVERAGE_LABELS.items()
        ],
    }


def render_report(data: Mapping[str, Any], made: dt.datetime | None = None) -> str:
    """The report's HTML for ``report_data``'s result."""
    made = made or dt.datetime.now(dt.UTC)
    return (
        _environment()
        .get_template("report.html")
        .render(
            **data,
            made=made,
            made_day=f"{made.day} {made:%B %Y}",
            version=__version__,
            glossary=GLOSSARY,
            headline_measures=HEADLINE,
            measure_labels=present.MEASURE_LABELS,
            metrics_doc=METRICS_DOC,
            chart_width=CHART_WIDTH,
            reference_sources=REFERENCE_SOURCES,
            vendor=_vendor_files(),
            style=_inline_style(WEB_STATIC / "style.css"),
            scripts=[_inline_script(VENDOR / name) for name in VENDOR_SCRIPTS],
        )
    )


def build_report(
    db_path: str | os.PathLike[str],
    name: str,
    *,
    compare: Sequence[str] = (),
    places_file: Path | None = None,
    made: dt.datetime | None = None,
) -> str:
    """The report of the place or council ``name`` from the store at ``db_path`` (read-only).

    Raises ``NotFound`` (with near names in ``suggestions``) for a name that is neither a
    council nor a place, ``BadRequest`` for too many comparators, and ``StoreError`` when
    the store cannot be opened.
    """
    store = Store(Path(db_path), places_file)
    with store.session() as s:
        data = report_data(s, name, compare)
    return render_report(data, made)


def write_report(
    db_path: str | os.PathLike[str],
    name: str,
    output: str | os.PathLike[str],
    *,
    compare: Sequence[str] = (),
    places_file: Path | None = None,
    made: dt.datetime | None = None,
) -> Path:
    """``build_report`` written to ``output`` (UTF-8); returns the path written."""
    html = build_report(db_path, name, compare=compare, places_file=places_file, made=made)
    path = Path(output)
    path.write_text(html, encoding="utf-8")
    return path


__all__ = [
    "GLOSSARY",
    "BadRequest",
    "NotFound",
    "build_report",
    "render_report",
    "report_data",
    "write_report",
]
