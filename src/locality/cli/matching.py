"""``locality opportunities``, ``locality match``, ``locality consortium`` and
``locality evaluate matching``: connecting smaller suppliers to opportunities.

No SQL and no rule here: the commands call ``locality.matching`` and print what it returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from locality.cli.common import (
    MetricsFormat,
    OutputFormat,
    TableJsonFormat,
    fail,
    flag,
    open_store,
    out,
    output,
    print_csv_rows,
    print_json,
)

# Options the matching commands share, declared once so their help cannot drift apart.
TodayOption = Annotated[
    str | None, typer.Option(help="The date deadlines are read against (default: now).")
]
OrganisationsOption = Annotated[
    Path | None,
    typer.Option(
        help="A CSV of organisations with no award history yet to rank too "
        "(name, postcode, cpv, description, scale, vcse)."
    ),
]
ChallengesOption = Annotated[
    Path | None, typer.Option(help="A YAML or CSV file of buyers' challenges.")
]
TableJsonCsvHelpFormat = Annotated[
    MetricsFormat, typer.Option("--format", help="table, json or csv.")
]

evaluate_app = typer.Typer(
    help="""Measure how well locality's methods do on the real data in the store.

    Example:

    \b
      locality evaluate matching
      locality evaluate matching --cut-off 2020-01-01 --format json
    """,
    no_args_is_help=True,
)


class Suitable(StrEnum):
    sme = "sme"
    vcse = "vcse"


def _today(text: str | None) -> dt.date:
    """The moment deadlines are read against: now, or the start of the day given."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"--today {text!r} is not a date: write it as 2026-03-31")


def _read_file(
    path: Path | None, read: Callable[[Path], list[Any]], error: type[Exception]
) -> list[Any]:
    """What a file option names, as ``read`` reads it (nothing without the option); a file
    the library refuses (``error``, saying where and why) is a command error."""
    if path is None:
        return []
    try:
        return read(path)
    except error as exc:
        fail(str(exc))


def _challenges(path: Path | None) -> list[Any]:
    from locality.matching.opportunities import OpportunityError, load_challenges

    return _read_file(path, load_challenges, OpportunityError)


def _listed(path: Path | None) -> list[Any]:
    from locality.matching.profiles import OrganisationListError, load_organisation_list

    return _read_file(path, load_organisation_list, OrganisationListError)


_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def _money(value: float | None, currency: str | None = "GBP") -> str:
    """An amount with its currency's symbol (or ISO code); capacities are always pounds."""
    if value is None:
        return ""
    symbol = _SYMBOLS.get(currency or "")
    return f"{symbol}{value:,.0f}" if symbol else f"{currency or '?'} {value:,.0f}"


_CSV_COLUMNS = [
    "kind",
    "id",
    "stage",
    "stage_label",
    "notice_form",
    "title",
    "buyer_id",
    "buyer_name",
    "place",
    "region",
    "theme",
    "cpv",
    "value",
    "currency",
    "value_is_ceiling",
    "closes",
    "days_left",
    "end_date",
    "end_date_source",
    "incumbents",
    "incumbent_sme",
    "incumbent_vcse",
    "suitable_sme",
    "suitable_vcse",
    "url",
]


def opportunities_command(
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help="pipeline, engagement, planned, open, closed, awarded, cancelled, expiring, "
            "expired_unknown or challenge (repeat for several). Default: the live ones "
            "(pipeline to open) and challenges.",
        ),
    ] = None,
    place: Annotated[
        str | None, typer.Option(help="A council or place (combined authority): its buyers.")
    ] = None,
    theme: Annotated[str | None, typer.Option(help="A contract theme, e.g. 'social care'.")] = None,
    closing_within: Annotated[
        str | None, typer.Option(help="Open tenders closing within this window, e.g. 30d.")
    ] = None,
    expiring_within: Annotated[
        str | None,
        typer.Option(
            help="Contracts ending within this window (e.g. 12m), or ended as "
            "recently with no change or termination notice."
        ),
    ] = None,
    suitable_for: Annotated[
        Suitable | None,
        typer.Option(help="Marked suitable for SMEs or VCSEs (expiring: held by one)."),
    ] = None,
    challenges: Annotated[
        Path | None, typer.Option(help="A YAML or CSV file of buyers' challenges to list too.")
    ] = None,
    today: TodayOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (table only).")] = 50,
    output_format: TableJsonCsvHelpFormat = MetricsFormat.table,
) -> None:
    """Opportunities for suppliers: notices by stage, expiring contracts, challenges.

    A notice's stage comes from its latest notice: pipeline (UK1), engagement (UK2),
    planned, open (a tender whose deadline has not passed), closed, awarded, cancelled.
    Expiring contracts are counted awards whose contract ends within the window, with the
    end date's source, the incumbents and whether one is an SME or VCSE; one whose end
    date passed with no change or termination notice is "expired, status unknown".
    Challenges are buyers' own statements of a problem, read from --challenges FILE.

    Example:

    \b
      locality opportunities
      locality opportunities --place Leeds --closing-within 30d --suitable-for sme
      locality opportunities --expiring-within 12m --format csv
      locality opportunities --challenges challenges.yaml --stage challenge --format json
    """
    from locality.domain.places import PlaceError, builtin_places, resolve
    from locality.matching.opportunities import (
        OpportunityError,
        OpportunityFilter,
        list_opportunities,
        parse_window,
    )

    day = _today(today)
    try:
        councils = frozenset(resolve(place, builtin_places()).councils) if place else None
        flt = OpportunityFilter(
            stages=tuple(stage or ()),
            councils=councils,
            place_name=place,
            theme=theme,
            closing_within_days=parse_window(closing_within) if closing_within else None,
            expiring_within_days=parse_window(expiring_within, unit_default="m")
            if expiring_within
            else None,
            suitable_for=suitable_for.value if suitable_for else None,
        )
    except (PlaceError, OpportunityError) as exc:
        fail(str(exc))
    loaded = _challenges(challenges)
    with open_store() as con:
        try:
            found = list_opportunities(con, day, flt, loaded)
        except OpportunityError as exc:
            fail(str(exc))
    output(
        output_format,
        json=lambda: found,
        csv=lambda: (_CSV_COLUMNS, _opportunity_csv_rows(found)),
        table=lambda: _print_opportunities(found, day, limit),
    )


def _print_opportunities(found: list[dict[str, Any]], day: dt.date, limit: int) -> None:
    if not found:
        out.print("No opportunity matches.", highlight=False)
        return
    table = Table(
        title=f"{len(found)} opportunities (read on {str(day)[:16]})", title_justify="left"
    )
    for column in ("stage", "id", "title", "buyer", "place", "theme", "value", "when"):
        table.add_column(
            column,
            justify="right" if column == "value" else "left",
            overflow="fold" if column == "id" else "ellipsis",
            min_width=20 if column == "id" else None,
        )
    for o in found[:limit]:
        if o["kind"] == "expiring":
            when = f"ends {o['end_date']} ({o['end_date_source']})"
        elif o.get("closes"):
            when = f"closes {o['closes']}"
        else:
            when = ""
        value = _money(o["value"], o.get("currency")) + (
            " ceiling" if o.get("value_is_ceiling") else ""
        )
        table.add_row(
            o["stage_label"],
            o["id"],
            (o["title"] or "")[:60],
            o["buyer_name"] or "",
            o["place"] or "",
            o["theme"],
            value,
            when,
        )
    out.print(table)
    if len(found) > limit:
        out.print(f"… and {len(found) - limit} more (--limit, or --format csv for all).")


def _target(con: Any, key: str, day: dt.date, loaded: list[Any]) -> tuple[Any, Any]:
    from locality.matching.match import target_from_opportunity
    from locality.matching.opportunities import OpportunityError, find_opportunity

    try:
        opportunity = find_opportunity(con, key, day, loaded)
    except OpportunityError as exc:
        fail(str(exc))
    return opportunity, target_from_opportunity(opportunity)


def match_command(
    opportunity: Annotated[
        str | None,
        typer.Argument(help="An OCID, or a challenge's title (with --challenges FILE)."),
    ] = None,
    supplier: Annotated[
        str | None,
        typer.Option(help="An organisation id: rank open opportunities for this supplier."),
    ] = None,
    top: Annotated[int, typer.Option(help="How many to show.")] = 20,
    sme_only: bool = flag("--sme-only", "SMEs only."),
    vcse_only: bool = flag("--vcse-only", "VCSEs only."),
    local_only: bool = flag("--local-only", "Suppliers in the delivery place's council."),
    organisations: OrganisationsOption = None,
    challenges: ChallengesOption = None,
    today: TodayOption = None,
    output_format: TableJsonFormat = OutputFormat.table,
) -> None:
    """Rank suppliers for an opportunity, or open opportunities for a supplier.

    The score is a weighted sum of text relevance (BM25 over the supplier's past titles and
    descriptions), CPV similarity through the code hierarchy, distance from the delivery
    place, capacity fit (its largest award of counted money against the value) and past
    work for the same buyer; each result shows its components and the past awards that
    justify it (docs/matching.md).

    Example:

    \b
      locality match ocds-h6vhtk-04e9fb --top 10 --sme-only
      locality match "Community transport for older residents" --challenges challenges.yaml
      locality match --supplier GB-COH-01628868 --format json
    """
    from locality.matching.match import MatchError, SupplierIndex, rank_opportunities
    from locality.matching.opportunities import (
        LIVE_STAGES,
        OpportunityFilter,
        list_opportunities,
    )
    from locality.matching.profiles import load_history

    if (opportunity is None) == (supplier is None):
        fail("give an opportunity (an OCID or a challenge title) or --supplier ORG, not both")
    day = _today(today)
    loaded = _challenges(challenges)
    listed = _listed(organisations)
    with open_store() as con:
        index = SupplierIndex.build(load_history(con), listed=listed)
        if supplier is not None:
            live = list_opportunities(
                con, day, OpportunityFilter(stages=(*LIVE_STAGES, "challenge")), loaded
            )
            try:
                ranked = rank_opportunities(index, supplier, live, top=top)
            except MatchError as exc:
                fail(str(exc))
            _print_supplier_matches(supplier, index, ranked, output_format)
            return
        assert opportunity is not None
        found, target = _target(con, opportunity, day, loaded)
    try:
        results = index.rank(
            target, top=top, sme_only=sme_only, vcse_only=vcse_only, local_only=local_only
        )
    except MatchError as exc:
        fail(str(exc))
    if output_format == OutputFormat.json:
        print_json({"opportunity": found, "suppliers_ranked": index.size, "results": results})
        return
    out.print(
        f"[bold]{found['title']}[/] ({found['stage_label']}, {found['place'] or 'place unknown'})"
        f": {index.size} suppliers ranked",
        highlight=False,
    )
    _print_results(results)


def _print_results(results: list[dict[str, Any]]) -> None:
    table = Table(title_justify="left")
    for column in ("#", "supplier", "scale", "VCSE", "place", "score", "components", "because"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for r in results:
        parts = " ".join(f"{k} {v:.2f}" for k, v in r["components"].items())
        because = "; ".join(
            f"{e['title'][:40]} ({e['buyer'] or '?'}, {e['date'] or '?'})" for e in r["evidence"]
        ) or (f"says: {r['declared'][:80]}" if r.get("declared") else "")
        table.add_row(
            str(r["rank"]),
            r["name"] or r["id"],
            r["scale"],
            {True: "yes", False: "no", None: "?"}[r["vcse"]],
            r["place"] or "",
            f"{r['score']:.3f}",
            parts,
            because,
        )
    out.print(table)


def _print_supplier_matches(
    supplier: str, index: Any, ranked: list[dict[str, Any]], output_format: OutputFormat
) -> None:
    profile = index.profiles[index.position[supplier]]
    if output_format == OutputFormat.json:
        print_json({"supplier": profile.as_dict(), "opportunities": ranked})
        return
    out.print(
        f"[bold]{profile.name or supplier}[/] ({profile.scale}, {profile.place or 'place unknown'}"
        f", {profile.awards} past awards): {len(ranked)} opportunities",
        highlight=False,
    )
    table = Table(title_justify="left")
    for column in ("#", "stage", "opportunity", "buyer", "score", "rank", "components"):
        table.add_column(column, justify="right" if column in ("#", "score", "rank") else "left")
    for r in ranked:
        o = r["opportunity"]
        table.add_row(
            str(r["rank"]),
            o["stage_label"],
            f"{(o['title'] or '')[:50]} ({o['id']})",
            o["buyer_name"] or "",
            f"{r['score']:.3f}",
            f"{r['rank_among_suppliers']} of {r['suppliers_ranked']}",
            " ".join(f"{k} {v:.2f}" for k, v in r["components"].items()),
        )
    out.print(table)


def consortium_command(
    opportunity: Annotated[
        str, typer.Argument(help="An OCID, or a challenge's title (with --challenges FILE).")
    ],
    max_members: Annotated[int, typer.Option(help="At most this many members a team.")] = 5,
    sme_vcse_only: bool = flag("--sme-vcse-only", "Only SMEs and VCSEs as members."),
    local_only: bool = flag("--local-only", "Only suppliers in the delivery place's council."),
    alternatives: Annotated[
        int, typer.Option(help="Also propose this many other teams (each differs by a member).")
    ] = 3,
    time_limit: Annotated[
        float, typer.Option(help="Seconds the solver may take per team before settling.")
    ] = 10.0,
    organisations: OrganisationsOption = None,
    challenges: ChallengesOption = None,
    today: TodayOption = None,
    output_format: TableJsonFormat = OutputFormat.table,
) -> None:
    """Propose teams of smaller suppliers that together cover an opportunity.

    Every CPV group the opportunity names must be covered by a member who has won work in
    it, the members' largest past awards together must reach its value, with the fewest
    members and then the best match scores: an exact integer program (HiGHS) with a time
    limit, a greedy team labelled as such when the solver finds none in time. Alternatives
    differ from earlier teams in at least one member. Each team names its lead (the member
    with the most relevant capacity), who covers what, the past awards behind each member
    and which members have won work together before.

    Example:

    \b
      locality consortium ocds-h6vhtk-06f1b2 --sme-vcse-only
      locality consortium ocds-h6vhtk-06f1b4 --max-members 4 --alternatives 2 --format json
    """
    from locality.matching.consortium import propose_consortia
    from locality.matching.match import MatchError, SupplierIndex
    from locality.matching.profiles import load_history

    day = _today(today)
    loaded = _challenges(challenges)
    listed = _listed(organisations)
    with open_store() as con:
        index = SupplierIndex.build(load_history(con), listed=listed)
        found, target = _target(con, opportunity, day, loaded)
    try:
        result = propose_consortia(
            index,
            target,
            max_members=max_members,
            sme_vcse_only=sme_vcse_only,
            local_only=local_only,
            alternatives=alternatives,
            time_limit=time_limit,
        )
    except MatchError as exc:
        fail(str(exc))
    if output_format == OutputFormat.json:
        print_json(result)
        return
    needs = ", ".join(f"{r['code']} {r['label'] or ''}".strip() for r in result["requirements"])
    out.print(
        f"[bold]{found['title']}[/]: needs {needs}; value "
        f"{_money(result['value']) or 'unknown'}; {result['candidates']} candidates",
        highlight=False,
    )
    if result["uncovered"]:
        out.print(f"No candidate has won work in {', '.join(result['uncovered'])}.")
    if result["single_suppliers_covering_all"]:
        out.print(
            f"{len(result['single_suppliers_covering_all'])} candidate(s) cover everything alone.",
            highlight=False,
        )
    if not result["teams"]:
        out.print(f"No team of at most {max_members} members covers it.")
        return
    for n, team in enumerate(result["teams"], start=1):
        how = "optimal" if team["optimal"] else f"not proven optimal ({team['method']})"
        value = "" if team["covers_value"] else ", capacity short of the value"
        out.print(
            f"\n[bold]Team {n}[/] ({team['size']} members, score {team['score']:.3f}, {how}"
            f"{value})",
            highlight=False,
        )
        table = Table(title_justify="left")
        for column in ("member", "scale", "VCSE", "covers", "largest award", "because"):
            table.add_column(column)
        for m in team["members"]:
            because = "; ".join(f"{e['title'][:40]} ({e['buyer'] or '?'})" for e in m["evidence"])
            table.add_row(
                (m["name"] or m["id"]) + (" (lead)" if m["id"] == team["lead"] else ""),
                m["scale"],
                {True: "yes", False: "no", None: "?"}[m["vcse"]],
                ", ".join(m["covers"]),
                _money(m["capacity"]),
                because,
            )
        out.print(table)
        for pair in team["co_worked"]:
            out.print(f"  worked together before: {' and '.join(pair['members'])}", highlight=False)


_BUYER_SECTIONS = ("suppliers", "incumbents")
_SUPPLIER_SECTIONS = ("buyers", "notices")


class ExchangeSection(StrEnum):
    suppliers = "suppliers"
    incumbents = "incumbents"
    buyers = "buyers"
    notices = "notices"


def _unknown_organisation(con: Any, org_id: str, role: str, message: str, keep: Any = None) -> str:
    """The library's message, with the closest ids of the right role (``keep``: the ids
    that would have an answer) so a typo is one copy and paste away."""
    from locality.store.lookup import near_organisations, organisation

    found = organisation(con, org_id)
    other = "supplier" if role == "buyer" else "buyer"
    if found and (found.get(f"{other}_processes") or 0) > 0:
        # The commonest slip: a supplier's id given as --buyer, or the other way round.
        message += f"; it is a {other} ({found['name']}): try --{other} {org_id}"
    near = [
        f"{o['org_id']} ({o['name']})"
        for o in near_organisations(con, org_id, role=role, limit=20)
        if keep is None or o["org_id"] in keep
    ][:5]
    return message + (f". Did you mean: {', '.join(near)}?" if near else "")


def exchange_command(
    buyer: Annotated[
        str | None,
        typer.Option(
            help="A buyer's organisation id: smaller suppliers near it that it has not met."
        ),
    ] = None,
    supplier: Annotated[
        str | None,
        typer.Option(help="A supplier's organisation id: buyers near it that buy what it sells."),
    ] = None,
    theme: Annotated[
        str | None,
        typer.Option(
            help="With --buyer: a contract theme, e.g. 'health and social care' (default: the "
            "CPV divisions the buyer has bought in)."
        ),
    ] = None,
    radius: Annotated[
        float, typer.Option(help="Near means within this many km (council centres).")
    ] = 50.0,
    expiring_within: Annotated[
        str, typer.Option(help="With --buyer: incumbents' contracts ending within this window.")
    ] = "12m",
    top: Annotated[int, typer.Option(help="At most this many suppliers or buyers.")] = 20,
    today: TodayOption = None,
    section: Annotated[
        ExchangeSection | None,
        typer.Option(
            help="The list --format csv writes: suppliers (default) or incumbents with "
            "--buyer, buyers (default) or notices with --supplier."
        ),
    ] = None,
    output_format: TableJsonCsvHelpFormat = MetricsFormat.table,
) -> None:
    """Introductions a buyer and a smaller supplier have not made yet (knowledge exchange).

    With --buyer: the SMEs and VCSEs near it (within --radius km of its council) that have
    won work in the same CPV divisions (its own, or a --theme's) from other buyers but
    never from it, nearest first; and its own SME and VCSE incumbents whose contracts end
    within --expiring-within (or ended with no change notice), to keep in view before the
    re-procurement. With --supplier: the buyers near it that buy in the CPV divisions it
    has won in, those with live notices first, and those notices, engagement (UK2) and
    pipeline (UK1) first: the moments a small firm can still shape what is bought.

    Example:

    \b
      locality exchange --buyer "name:derby city council"
      locality exchange --buyer GB-CFS-49206 --theme "health and social care" --format json
      locality exchange --supplier "name:avison young gva" --today 2025-01-01
      locality exchange --supplier GB-CFS-160973 --section notices --format csv
    """
    from rich.markup import escape

    from locality.matching.exchange import buyer_exchange, supplier_exchange
    from locality.matching.match import MatchError, SupplierIndex
    from locality.matching.opportunities import OpportunityError, parse_window
    from locality.matching.profiles import load_history

    if (buyer is None) == (supplier is None):
        fail("give --buyer ORG or --supplier ORG (one of them)", 2)
    if supplier is not None and theme is not None:
        fail("--theme goes with --buyer: a supplier's divisions are those it has won in", 2)
    allowed = _BUYER_SECTIONS if buyer is not None else _SUPPLIER_SECTIONS
    if section is not None and section.value not in allowed:
        fail(f"--section {section.value} is not a list of this view: use {' or '.join(allowed)}", 2)
    if radius < 0:
        fail(f"--radius {radius:g} is negative: give a distance in km, e.g. 50", 2)
    try:
        within = parse_window(expiring_within, unit_default="m")
    except OpportunityError as exc:
        fail(str(exc), 2)
    day = _today(today)
    with open_store() as con:
        index = SupplierIndex.build(load_history(con))
        try:
            if buyer is not None:
                result = buyer_exchange(
                    con,
                    index,
                    buyer,
                    day,
                    theme=theme,
                    radius_km=radius,
                    expiring_within_days=within,
                    top=top,
                )
            else:
                assert supplier is not None
                result = supplier_exchange(con, index, supplier, day, radius_km=radius, top=top)
        except MatchError as exc:
            message = str(exc)
            if message.startswith("no theme"):
                fail(escape(message))
            role = "buyer" if buyer is not None else "supplier"
            keep = None if buyer is not None else index.position
            fail(escape(_unknown_organisation(con, buyer or supplier or "", role, message, keep)))
    if output_format == MetricsFormat.json:
        print_json(result)
    elif output_format == MetricsFormat.csv:
        _print_exchange_csv(result, (section.value if section else allowed[0]))
    elif buyer is not None:
        _print_buyer_exchange(result, expiring_within, top)
    else:
        _print_supplier_exchange(result, top)


def _print_exchange_csv(result: dict[str, Any], section: str) -> None:
    from locality.matching.exchange import NEAR_BUYER_FIELDS, NEAR_SUPPLIER_FIELDS

    if section == "suppliers":
        rows = [
            {**r, "buyers_served": ";".join(r["buyers_served"])}
            for r in result["suppliers_never_met"]
        ]
        print_csv_rows(list(NEAR_SUPPLIER_FIELDS), rows)
    elif section == "buyers":
        print_csv_rows(list(NEAR_BUYER_FIELDS), result["buyers"])
    else:
        listed = result["small_incumbents_expiring" if section == "incumbents" else "notices"]
        print_csv_rows(_CSV_COLUMNS, _opportunity_csv_rows(listed))


def _opportunity_csv_rows(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Opportunities as CSV rows: the CPV codes and incumbents' names joined with ';'."""
    return [
        {
            **o,
            "cpv": ";".join(o.get("cpv") or []),
            "incumbents": ";".join(
                str(i.get("name") or i.get("id")) for i in o.get("incumbents") or []
            ),
        }
        for o in listed
    ]


def _nearest(rows: list[Any], top: int) -> str:
    """How many are listed; a list as long as --top may have been cut there, so it says so."""
    return f"the nearest {len(rows)}" if rows and len(rows) >= top else str(len(rows))


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


def _print_buyer_exchange(result: dict[str, Any], window: str, top: int) -> None:
    b = result["buyer"]
    found = result["suppliers_never_met"]
    out.print(
        f"[bold]{b['name'] or b['id']}[/] ({b['place'] or 'place unknown'}): "
        f"{_nearest(found, top)} SMEs and VCSEs within {result['radius_km']:g} km that have "
        f"won work in CPV division(s) {', '.join(result['divisions']) or 'none'} elsewhere "
        "but never from it",
        highlight=False,
    )
    if found:
        table = Table(title_justify="left")
        for column in ("supplier", "id", "scale", "VCSE", "place", "km", "awards", "buyers"):
            table.add_column(column, justify="right" if column in ("km", "awards") else "left")
        for r in found:
            table.add_row(
                r["name"] or "",
                r["id"],
                r["scale"],
                _yes(r["vcse"]),
                r["place"] or "",
                f"{r['distance_km']:g}",
                str(r["awards_in_theme"]),
                str(len(r["buyers_served"])),
            )
        out.print(table)
    expiring = result["small_incumbents_expiring"]
    out.print(
        f"\n{len(expiring)} contract(s) held by an SME or VCSE ending within {window} "
        "(or ended with no change notice)",
        highlight=False,
    )
    if expiring:
        table = Table(title_justify="left")
        for column in ("ends", "end date from", "contract", "ocid", "incumbents", "value"):
            table.add_column(
                column,
                justify="right" if column == "value" else "left",
                overflow="fold" if column == "ocid" else "ellipsis",
            )
        for o in expiring:
            who = "; ".join(
                f"{i.get('name') or i.get('id')}"
                + (" (SME)" if i.get("scale") == "sme" else "")
                + (" (VCSE)" if i.get("vcse") else "")
                for i in o.get("incumbents") or []
            )
            status = "" if o["stage"] == "expiring" else " (ended, status unknown)"
            table.add_row(
                f"{o['end_date']}{status}",
                o["end_date_source"] or "",
                (o["title"] or "")[:50],
                o["ocid"],
                who,
                _money(o["value"], o.get("currency")),
            )
        out.print(table)


def _print_supplier_exchange(result: dict[str, Any], top: int) -> None:
    s = result["supplier"]
    buyers = result["buyers"]
    out.print(
        f"[bold]{s['name'] or s['id']}[/] ({s['scale']}, {s['place'] or 'place unknown'}): "
        f"{_nearest(buyers, top)} buyers within {result['radius_km']:g} km buy in its CPV "
        f"division(s) {', '.join(result['divisions']) or 'none'}",
        highlight=False,
    )
    if buyers:
        table = Table(title_justify="left")
        for column in ("buyer", "id", "place", "km", "processes", "live notices", "served"):
            table.add_column(
                column, justify="right" if column in ("km", "processes", "live notices") else "left"
            )
        for r in buyers:
            table.add_row(
                r["name"] or "",
                r["id"],
                r["place"] or "",
                f"{r['distance_km']:g}",
                str(r["processes_in_its_divisions"]),
                str(r["live_notices"]),
                "yes" if r["served_before"] else "no",
            )
        out.print(table)
    notices = result["notices"]
    out.print(
        f"\n{len(notices)} live notice(s) of those buyers in its divisions, engagement and "
        "pipeline first",
        highlight=False,
    )
    if notices:
        table = Table(title_justify="left")
        for column in ("stage", "notice", "buyer", "value", "closes"):
            table.add_column(column, justify="right" if column == "value" else "left")
        for o in notices:
            value = _money(o["value"], o.get("currency")) + (
                " ceiling" if o.get("value_is_ceiling") else ""
            )
            table.add_row(
                o["stage_label"],
                f"{(o['title'] or '')[:50]} ({o['id']})",
                o["buyer_name"] or "",
                value,
                str(o.get("closes") or ""),
            )
        out.print(table)


@evaluate_app.command("matching")
def evaluate_matching_command(
    cut_off: Annotated[
        str | None,
        typer.Option(help="Replay awards dated on or after this date (default: the latest 30%)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline and tie-breaks.")] = 0,
    output_format: TableJsonFormat = OutputFormat.table,
) -> None:
    """Replay real awards on a time split and say where the real winners landed.

    Every counted award dated on or after the cut-off is replayed with only the awards
    before its date: recall@10 and @50, hit rate@10, mean reciprocal rank and catalogue
    coverage@10, against random, popularity and CPV-only baselines in the same run, for SME
    winners and the others apart. Winners never seen before cannot be found by any method:
    they are counted as missed and reported apart.

    Example:

    \b
      locality evaluate matching
      locality evaluate matching --cut-off 2020-01-01 --format json
    """
    from locality.matching.evaluate import evaluate_matching

    day = None
    if cut_off is not None:
        try:
            day = dt.date.fromisoformat(cut_off)
        except ValueError:
            fail(f"--cut-off {cut_off!r} is not a date: write it as 2024-04-01")
    with open_store() as con:
        result = evaluate_matching(con, cut_off=day, seed=seed)
    if output_format == OutputFormat.json:
        print_json(result)
        return
    out.print(
        f"{result['awards_evaluated']} awards replayed from {result['cut_off']}: "
        f"{result['winners']} winners, {result['winners_without_history']} with no award "
        f"before theirs (no method can find those); "
        f"{result['awards_with_a_winner_with_history']} awards had a winner with history.",
        highlight=False,
    )
    table = Table(title_justify="left")
    for column in ("method", "recall@10", "recall@50", "hit rate@10", "MRR", "coverage@10"):
        table.add_column(column, justify="left" if column == "method" else "right")
    rows = [("locality", result["method"]), *result["baselines"].items()]
    rows += [("locality, SME winners", result["sme_winners"])]
    rows += [("locality, other winners", result["other_winners"])]
    for name, m in rows:
        coverage = m.get("catalogue_coverage_at_10")
        table.add_row(
            name,
            f"{m['recall_at_10']:.3f}",
            f"{m['recall_at_50']:.3f}",
            f"{m['hit_rate_at_10']:.3f}",
            f"{m['mrr']:.3f}",
            "" if coverage is None else f"{coverage:.3f}",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the matching commands to the ``locality`` app."""
    app.command("opportunities")(opportunities_command)
    app.command("match")(match_command)
    app.command("consortium")(consortium_command)
    app.command("exchange")(exchange_command)
    app.add_typer(evaluate_app, name="evaluate")
