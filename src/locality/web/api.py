"""The dashboard's JSON API (``/api/...``): one route per figure the pages show, each the
same assembly as the CLI's ``--format json`` (``locality.views``), with CSV where a page
draws a chart. Routes parse parameters, call the view layer and answer; no SQL, no rule.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import StringConstraints

from locality.domain.export import neutralise_record
from locality.metrics import DIMENSIONS, FILTERABLE
from locality.views import params, queries
from locality.views.queries import MAX_COMPARE, MAX_NAME
from locality.web.routing import (
    JSON,
    OBJECT,
    ROWS,
    STRING,
    STRINGS,
    IncludeTransfers,
    LikeForLike,
    MinAmount,
    Ocid,
    OrgId,
    PlaceName,
    S,
    object_schema,
    responses,
)

Format = Literal["json", "csv"]
FormatParam = Annotated[Format, Query(description="json or csv.")]


# A `where` filter: one of the filterable columns (or place; `-` for `_` too), `=`, a value.
WHERE_COLUMNS = sorted(
    {c for name in ["place", *FILTERABLE] for c in (name, name.replace("_", "-"))}
)


WHERE_PATTERN = "^ *(" + "|".join(WHERE_COLUMNS) + ") *="


Where = Annotated[str, StringConstraints(pattern=WHERE_PATTERN, max_length=MAX_NAME + 50)]


MAX_LIMIT = 1_000_000


# A name to compare: something other than blanks.
NonBlank = Annotated[str, StringConstraints(pattern=r"\S", max_length=MAX_NAME)]


SpendSection = Literal[
    "bodies", "years", "months", "themes", "theme-years", "unmapped", "suppliers",
    "transfers", "transfer-payees", "coverage", "contracted",
]  # fmt: skip


# The whole-place spend view (``locality place NAME --format json``) and what the page adds.
SPEND_VIEW: dict[str, Any] = {
    "type": "object",
    "required": [
        "place", "source", "councils", "named_bodies", "threshold", "transfers_included",
        "bodies", "coverage", "shares", "years", "months", "themes", "theme_years",
        "unmapped", "suppliers", "transfers", "transfer_payees", "contracted_vs_paid",
        "notes", "spend_loaded", "sentences",
    ],
    "properties": {
        "place": STRING,
        "source": STRING,
        "councils": STRINGS,
        "named_bodies": STRINGS,
        "threshold": object_schema(
            {"min_amount": {"type": "number"}, "basis": STRING, "set_by": STRINGS}
        ),
        "transfers_included": {"type": "boolean"},
        "shares": {
            "type": "object",
            "required": ["total_amount", "transfer_amount", "supplier_amount"],
        },
        **{
            key: ROWS
            for key in (
                "bodies", "coverage", "years", "months", "themes", "theme_years", "unmapped",
                "suppliers", "transfers", "transfer_payees", "contracted_vs_paid",
            )
        },
        "notes": STRINGS,
        "spend_loaded": {"type": "boolean"},
        "sentences": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}  # fmt: skip


SPEND_DESCRIPTION = (
    "The whole place's council spend, as `locality place NAME --format json` (top 20 "
    "suppliers): its bodies, spend by month and financial year, by theme (with an "
    "`unmapped` row always, and each theme's concentration), top suppliers with how many "
    "of the place's bodies pay them, SME/VCSE/local shares each with its coverage, the "
    "transfers to other public bodies by kind and payee (left out of the suppliers, "
    "concentration and shares unless `include_transfers=true`: `transfers_included`), the "
    "months each body's spend files cover (`coverage`, councils without files too), and per "
    "council contracted (OCDS awards) against paid; `threshold` says which payments were "
    "counted. Added: `spend_loaded` (false when no spend file of the place's bodies is "
    "loaded: every section is then empty) and a plain-language `sentences` per headline "
    "figure. With format=csv, one section (`section`) as `locality place --format csv "
    "--section`."
)


PROCESS_DESCRIPTION = (
    "A contracting process: its columns (`process`), the compiled release, the releases as "
    "published, its awards, parties and red flags, and `view`: the process as locality "
    "understands it, as `locality process OCID --format json` (buyer and whether it is a "
    "central purchasing body, stage, agreement type with its evidence, suitability, the "
    "notices in date order, bids, lots, and each award's value, gross value, where the "
    "value came from and whether it counts as money awarded, a framework ceiling or "
    "unknown, with the reason)."
)


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], filename: str) -> Response:
    """Rows as CSV, as the CLI's ``--format csv`` writes them (a header even with no rows)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    # Cells a spreadsheet would run as formulas are neutralised (OWASP CSV injection).
    writer.writerows(neutralise_record(row) for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _table(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], output: Format, filename: str
) -> Response:
    return _csv(columns, rows, filename) if output == "csv" else JSON(list(rows))


router = APIRouter()

PAGE = responses(OBJECT, not_found=True, invalid=True)
TABLE = responses(ROWS, csv=True, not_found=True, invalid=True)  # rows as JSON, or CSV


@router.get(
    "/api/status",
    summary="What the store holds (locality status --format json)",
    responses=responses(OBJECT),
)
def api_status(s: S) -> Response:
    return JSON(queries.status(s))


@router.get(
    "/api/metrics",
    summary="Measures by a dimension (locality metrics --format json|csv)",
    responses=TABLE,
)
def api_metrics(
    s: S,
    by: Annotated[
        str,
        Query(
            description=f"Group by: {', '.join(DIMENSIONS)}.",
            json_schema_extra={"enum": list(DIMENSIONS)},
        ),
    ] = "buyer",
    where: Annotated[
        list[Where] | None,
        Query(
            description="COLUMN=VALUE filters (repeat; the same column twice means "
            f"either). Columns: place, {', '.join(FILTERABLE)}.",
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="The first N rows.")] = None,
    format: FormatParam = "json",
) -> Response:
    columns, rows = queries.metrics(s, by, where or [], limit)
    return _table(columns, rows, format, f"metrics-by-{by}.csv")


@router.get(
    "/api/place/{name}",
    summary="Everything the place page shows",
    responses=PAGE,
)
def api_place(s: S, name: PlaceName) -> Response:
    return JSON(queries.place_page(s, name))


@router.get(
    "/api/place/{name}/spend",
    summary="A place's council spend (locality place NAME --format json|csv)",
    description=SPEND_DESCRIPTION,
    responses=responses(
        SPEND_VIEW,
        csv=True,
        not_found=True,
        invalid=True,
        description="The whole-place spend view as JSON, or one section as CSV",
    ),
)
def api_spend(
    s: S,
    name: PlaceName,
    min_amount: MinAmount = None,
    like_for_like: LikeForLike = False,
    include_transfers: IncludeTransfers = False,
    format: FormatParam = "json",
    section: Annotated[
        SpendSection, Query(description="The table of format=csv (as --section).")
    ] = "years",
) -> Response:
    data = queries.spend_page(
        s,
        name,
        min_amount=min_amount,
        like_for_like=like_for_like,
        include_transfers=include_transfers,
    )
    if format == "csv":
        columns, rows = params.spend_section(data, section)
        slug = quote(data["place"].lower().replace(" ", "-"), safe="-")
        return _csv(columns, rows, f"spend-{section}-{slug}.csv")
    return JSON(data)


@router.get(
    "/api/compare",
    summary="Headline measures side by side (locality compare --format json|csv)",
    responses=TABLE,
)
def api_compare(
    s: S,
    names: Annotated[
        list[NonBlank],
        Query(
            min_length=2,
            max_length=MAX_COMPARE,
            description=f"2 to {MAX_COMPARE} councils or places (repeat the parameter).",
        ),
    ],
    format: FormatParam = "json",
) -> Response:
    rows = queries.compare(s, names)
    return _table(list(rows[0]), rows, format, "compare.csv")


@router.get("/api/buyer/{org_id:path}", summary="A buyer's page", responses=PAGE)
def api_buyer(s: S, org_id: OrgId) -> Response:
    return JSON(queries.buyer_page(s, org_id))


@router.get("/api/supplier/{org_id:path}", summary="A supplier's page", responses=PAGE)
def api_supplier(s: S, org_id: OrgId) -> Response:
    return JSON(queries.supplier_page(s, org_id))


@router.get(
    "/api/process/{ocid:path}",
    summary="A contracting process",
    description=PROCESS_DESCRIPTION,
    responses=PAGE,
)
def api_process(s: S, ocid: Ocid) -> Response:
    return JSON(queries.process_page(s, ocid))


@router.get(
    "/api/search",
    summary="Councils, places, buyers and suppliers by name",
    responses=responses(OBJECT, invalid=True),
)
def api_search(
    s: S, q_: Annotated[str, Query(alias="q", max_length=200, description="A name.")] = ""
) -> Response:
    return JSON(queries.search(s, q_))
