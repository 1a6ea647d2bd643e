"""Red flags per contracting process, a composite risk index, and the same per buyer.

Each flag is true, false or null. Null means *not computable*: the data cannot decide it
(the ``not_computable`` column says why); false means the condition was checked and does
not hold, including where it cannot apply (a direct award is never "advertised too
short"). The flags, with their thresholds in ``flags.toml`` (package data; a user file
overrides the keys it sets):

* ``direct_award_over_threshold``: a direct award (``procurementMethod`` ``direct``, or a
  phrase such as "single tender" in ``procurementMethodDetails``) with awarded GBP value
  above the threshold;
* ``short_advertisement``: an open procedure whose tender period (``tenderPeriod.startDate``,
  else the earlier of ``tender.datePublished`` and the first ``tender`` release, to
  ``tenderPeriod.endDate``) is shorter than the legal minimum;
* ``decision_period_outlier``: days from tender end to the first award date outside Tukey
  fences over every process in the store;
* ``value_bunched_below_threshold``: awarded or tender value just under a publication or
  procurement threshold;
* ``award_value_growth``: an award's latest published value over its first by more than
  the threshold (``award_versions``);
* ``single_bidder``: not computable: the store keeps no bid counts (Contracts Finder
  publishes none);
* ``missing_key_fields``: buyer, title, value, supplier, procedure or award date missing.

``risk_index`` = mean of the available flags (true 1, false 0, null left out), with
``flags_used`` the number available. Every definition is an Ibis expression over the
store's tables (``processes``, ``awards``, ``award_versions``, the ``ocid``,
``release_date`` and ``tags`` of ``releases``, and ``process_facts`` for the buyer's place),
so it runs on DuckDB or Spark (the same results on the sample; Spark needs those two extra
tables registered beside ``engine.STORE_TABLES``). Only the human-readable ``reasons`` text
is formatted in Python, from the result.
``docs/metrics.md`` ("Red flags") has the policy behind each default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from locality.metrics import duckdb_backend
from locality.metrics.facts import Tables, process_facts

FLAGS: tuple[str, ...] = (
    "direct_award_over_threshold",
    "short_advertisement",
    "decision_period_outlier",
    "value_bunched_below_threshold",
    "award_value_growth",
    "single_bidder",
    "missing_key_fields",
)
KEY_FIELDS: tuple[str, ...] = ("buyer", "title", "value", "supplier", "procedure", "award_date")
SINGLE_BIDDER_NOTE = "no bid counts (bids.statistics) in the store"

# procurementMethodDetails that say nothing about the procedure ("Other - ", "Not specified").
_UNSPECIFIED = r"^\s*(other\s*-\s*)?(other|not specified|not applicable)?\s*$"
# Open procedures named only in the details (legacy Contracts Finder has no method).
_OPEN_DETAILS = r"^\s*(other\s*-\s*)?open"
_SECONDS_PER_DAY = 86_400

Thresholds = dict[str, dict[str, Any]]


# --- thresholds -------------------------------------------------------------------------


def default_thresholds() -> Thresholds:
    """The thresholds shipped in ``flags.toml``."""
    text = resources.files("locality.metrics").joinpath("flags.toml").read_text("utf-8")
    return tomllib.loads(text)


def _check_value(section: str, key: str, value: Any, default: Any) -> None:
    where = f"[{section}] {key}"
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(
            isinstance(item, type(default[0]) if default else object)
            or (isinstance(default[0], int | float) and isinstance(item, int | float))
            for item in value
        )
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"thresholds {where}: expected a value like {default!r}, got {value!r}")
    if isinstance(value, int | float) and value < 0:
        raise ValueError(f"thresholds {where}: must not be negative, got {value!r}")
    if key == "fields":
        unknown = sorted(set(value) - set(KEY_FIELDS))
        if unknown:
            raise ValueError(
                f"thresholds {where}: unknown field(s) {', '.join(unknown)}; "
                f"choose from: {', '.join(KEY_FIELDS)}"
            )


def load_thresholds(
    source: str | PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
) -> Thresholds:
    """The default thresholds, with the keys ``source`` sets replacing theirs.

    ``source`` is a TOML file (path) or a mapping of the same shape (``{"section": {"key":
    value}}``). Unknown sections or keys, and values of the wrong type, raise ValueError.
    """
    merged = default_thresholds()
    if source is None:
        return merged
    if isinstance(source, Mapping):
        overrides: Mapping[str, Any] = source
        origin = "thresholds"
    else:
        path = Path(source)
        try:
            overrides = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc
        origin = str(path)
    for section, values in overrides.items():
        if section not in merged:
            raise ValueError(f"{origin}: unknown section [{section}]; known: {', '.join(merged)}")
        if not isinstance(values, Mapping):
            raise ValueError(f"{origin}: [{section}] must be a table of key = value")
        for key, value in values.items():
            if key not in merged[section]:
                known = ", ".join(merged[section])
                raise ValueError(f"{origin}: unknown key {key!r} in [{section}]; known: {known}")
            _check_value(section, key, value, merged[section][key])
            merged[section][key] = value
    return merged


# --- the store's tables -----------------------------------------------------------------


@dataclass(frozen=True)
class FlagTables:
    """What the flags read: the metric tables, plus award versions and release dates/tags."""

    tables: Tables
    award_versions: ir.Table
    releases: ir.Table

    @classmethod
    def from_backend(cls, backend: ibis.BaseBackend) -> FlagTables:
        releases = backend.table("releases")
        return cls(
            tables=Tables.from_backend(backend),
            award_versions=backend.table("award_versions"),
            releases=releases.select("ocid", "release_date", "tags"),
        )


def _backend(con: duckdb.DuckDBPyConnection | ibis.BaseBackend) -> ibis.BaseBackend:
    return duckdb_backend(con) if isinstance(con, duckdb.DuckDBPyConnection) else con


def _day(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Days since 1970-01-01 of the timestamp's UTC calendar date (engine-portable)."""
    return (ts.epoch_seconds() / _SECONDS_PER_DAY).floor()


def _parse_date(text: ir.StringValue) -> ir.TimestampValue:
    """A published ISO 8601 date as a UTC timestamp; null when empty or malformed."""
    return text.try_cast(dt.Timestamp(timezone="UTC"))


def _date_published(compiled_release: ir.Value) -> ir.TimestampValue:
    """``tender.datePublished`` of the compiled release (Contracts Finder's own field for
    when the notice first appeared, which can be weeks before the release that carries it)."""
    published = compiled_release.cast("json")["tender"]["datePublished"]
    # As text without JSON quotes: DuckDB keeps them when casting, Spark's get_json_object
    # drops them; this avoids Ibis's Python UDF for JSON strings on Spark.
    return _parse_date(published.cast("string").replace('"', ""))


def _null_bool() -> ir.BooleanValue:
    return ibis.null().cast("boolean")


# --- the flags --------------------------------------------------------------------------


def _awards(t: Tables) -> ir.Table:
    """Per process: its counted awards (status active or missing), their GBP value, dates."""
    a = t.awards
    counted = a.filter(a.status.isnull() | (a.status == "active"))
    gbp = counted.currency == "GBP"
    return counted.group_by("ocid").aggregate(
        award_count=counted.count(),
        awarded_value=counted.value.sum(where=gbp),
        valued_awards=counted.value.count(),
        dated_awards=counted.award_date.count(),
        supplier_total=counted.supplier_count.fill_null(0).sum(),
        first_award_date=counted.award_date.min(),
    )


def _notices(releases: ir.Table, limits: Mapping[str, Any]) -> ir.Table:
    """Per process: when its tender notice was first published, and whether a qualifying
    planned procurement notice came before it."""
    r = releases.mutate(published=_parse_date(releases.release_date))
    tenders = r.filter(r.tags.contains("tender"))
    tenders = tenders.group_by("ocid").aggregate(tender_published=tenders.published.min())
    planning = r.filter(r.tags.contains("planning")).select(
        p_ocid="ocid", planning_published="published"
    )
    joined = tenders.left_join(planning, tenders.ocid == planning.p_ocid)
    lead = _day(joined.tender_published) - _day(joined.planning_published)
    qualifying = (lead >= limits["planning_notice_min_days_before"]) & (
        lead <= limits["planning_notice_max_days_before"]
    )
    return joined.group_by("ocid").aggregate(
        tender_published=joined.tender_published.min(),
        planning_notice=qualifying.fill_null(False).any(),
    )


def _growth(versions: ir.Table) -> ir.Table:
    """Per process: the award whose value grew most from its first to its latest version."""
    # A version whose release has no usable date (one legacy Contracts Finder release has
    # none) sorts first, so both engines order the versions the same way.
    undated = ibis.timestamp("1970-01-01 00:00:00").cast(dt.Timestamp(timezone="UTC"))
    v = versions.filter(versions.value.notnull()).mutate(
        published=_parse_date(versions.release_date).fill_null(undated)
    )
    per_award = v.group_by(["ocid", "award_id"]).aggregate(
        first_value=v.value.argmin(v.published),
        latest_value=v.value.argmax(v.published),
        versions=v.count(),
    )
    growth = ibis.ifelse(
        per_award.first_value > 0,
        per_award.latest_value / per_award.first_value - 1,
        ibis.null().cast("float64"),
    )
    per_award = per_award.mutate(growth=growth)
    known = per_award.growth.notnull()
    return per_award.group_by("ocid").aggregate(
        value_growth=per_award.growth.max(),
        value_first=per_award.first_value.argmax(per_award.growth, where=known),
        value_latest=per_award.latest_value.argmax(per_award.growth, where=known),
        award_versions=per_award.versions.sum(),
    )


def _reason_cases(*cases: tuple[ir.BooleanValue, str]) -> ir.StringValue:
    return ibis.cases(*cases, else_=ibis.null().cast("string"))


def flags_expr(inputs: FlagTables, thresholds: Thresholds | None = None) -> ir.Table:
    """Every contracting process with its flags, risk index and the fields behind them."""
    th = thresholds if thresholds is not None else default_thresholds()
    t = inputs.tables
    p = t.processes
    places = process_facts(t).select(
        f_ocid="ocid",
        f_buyer_id="buyer_id",
        f_buyer_name="buyer_name",
        f_locality="locality",
        f_la_code="la_code",
    )
    awards = _awards(t).rename(aw_ocid="ocid")
    notices = _notices(inputs.releases, th["short_advertisement"]).rename(n_ocid="ocid")
    growth = _growth(inputs.award_versions).rename(g_ocid="ocid")

    j = p.left_join(places, p.ocid == places.f_ocid)
    j = j.left_join(awards, j.ocid == awards.aw_ocid)
    j = j.left_join(notices, j.ocid == notices.n_ocid)
    j = j.left_join(growth, j.ocid == growth.g_ocid)

    details = j.procurement_method_details.fill_null("").lower()
    method = j.procurement_method
    procedure_known = method.notnull() | ~details.re_search(_UNSPECIFIED)
    da = th["direct_award_over_threshold"]
    is_direct = method.isin(list(da["methods"])).fill_null(False)
    for phrase in da["details_phrases"]:
        is_direct = is_direct | details.contains(str(phrase).lower())
    is_open = (method == "open").fill_null(False) | (
        method.isnull() & details.re_search(_OPEN_DETAILS)
    )
    is_direct = procedure_known & is_direct
    is_open = procedure_known & is_open
    # The notice's publication: tenderPeriod.startDate, else the earlier of
    # tender.datePublished (read from the JSON only for open procedures, the only ones the
    # date is needed for) and the first release tagged `tender`.
    date_published = ibis.ifelse(
        is_open & j.tender_start.isnull(), _date_published(j.compiled_release), None
    )
    advert_start = ibis.ifelse(
        is_open, j.tender_start.fill_null(ibis.least(date_published, j.tender_published)), None
    )
    tender_value = ibis.ifelse(j.tender_currency == "GBP", j.tender_value, None)
    awarded = j.awarded_value
    awarded_any = j.award_count.fill_null(0) > 0
    base = j.select(
        "ocid",
        "publisher_prefix",
        "title",
        "procurement_method",
        "procurement_method_details",
        "tender_end",
        "first_award_date",
        "tender_published",
        "value_growth",
        "value_first",
        "value_latest",
        buyer_id=j.f_buyer_id.fill_null(j.buyer_org_id),
        buyer_name=j.f_buyer_name.fill_null(j.buyer_name),
        locality=j.f_locality,
        la_code=j.f_la_code,
        procedure_known=procedure_known,
        is_direct=is_direct,
        is_open=is_open,
        awarded=awarded_any,
        awarded_value=awarded,
        tender_value=tender_value,
        value=awarded.fill_null(tender_value),
        advert_start=advert_start,
        advert_minimum_days=ibis.ifelse(
            j.planning_notice.fill_null(False),
            th["short_advertisement"]["minimum_days_after_planning_notice"],
            th["short_advertisement"]["minimum_days"],
        ),
        decision_days=_day(j.first_award_date) - _day(j.tender_end),
        missing_buyer=j.buyer_org_id.isnull() & (j.buyer_name.fill_null("").strip() == ""),
        missing_title=j.title.fill_null("").strip() == "",
        missing_value=ibis.ifelse(
            awarded_any, j.valued_awards.fill_null(0) == 0, j.tender_value.isnull()
        ),
        missing_supplier=awarded_any & (j.supplier_total.fill_null(0) == 0),
        missing_procedure=~procedure_known,
        missing_award_date=awarded_any & (j.dated_awards.fill_null(0) == 0),
    )
    base = base.mutate(advertised_days=_day(base.tender_end) - _day(base.advert_start))

    # Decision-period fences over every process in the store that has both dates.
    dp = th["decision_period_outlier"]
    known_days = base.filter(base.decision_days.notnull())
    fences = known_days.aggregate(
        decision_q1=known_days.decision_days.quantile(0.25),
        decision_q3=known_days.decision_days.quantile(0.75),
        decision_population=known_days.count(),
    )
    iqr = fences.decision_q3 - fences.decision_q1
    fences = fences.select(
        "decision_population",
        decision_fence_low=fences.decision_q1 - dp["iqr_multiplier"] * iqr,
        decision_fence_high=fences.decision_q3 + dp["iqr_multiplier"] * iqr,
    )
    b = base.cross_join(fences)
    enough = b.decision_population >= dp["min_processes"]

    # 1. Direct award above the value threshold.
    direct = ibis.cases(
        (~b.procedure_known, _null_bool()),
        (~b.is_direct, False),
        (b.awarded_value.isnull(), _null_bool()),
        else_=b.awarded_value > da["threshold"],
    )
    direct_note = _reason_cases(
        (~b.procedure_known, "procedure not published"),
        (b.is_direct & b.awarded_value.isnull(), "direct award without a GBP awarded value"),
    )

    # 2. Advertisement shorter than the legal minimum (open procedures).
    days = b.advertised_days
    short = ibis.cases(
        (~b.procedure_known, _null_bool()),
        (~b.is_open, False),
        (days.isnull() | (days < 0), _null_bool()),
        else_=days < b.advert_minimum_days,
    )
    short_note = _reason_cases(
        (~b.procedure_known, "procedure not published"),
        (b.is_open & b.tender_end.isnull(), "no tender closing date"),
        (b.is_open & b.advert_start.isnull(), "tender notice not in the store"),
        (b.is_open & (days < 0), "tender closes before its notice was published"),
    )

    # 3. Decision period outside the fences.
    decision_days = b.decision_days
    outlier = ibis.cases(
        (decision_days.isnull() | ~enough, _null_bool()),
        else_=(decision_days < b.decision_fence_low) | (decision_days > b.decision_fence_high),
    )
    outlier_note = _reason_cases(
        (~b.awarded, "no award yet"),
        (b.first_award_date.isnull(), "no award date"),
        (b.tender_end.isnull(), "no tender closing date"),
        (~enough, f"fewer than {dp['min_processes']} decision periods in the store"),
    )

    # 4. Value bunched just below a threshold.
    vb = th["value_bunched_below_threshold"]
    bunched_at: ir.Value = ibis.null().cast("float64")
    bunched_value: ir.Value = ibis.null().cast("float64")
    for limit in sorted(vb["thresholds"], reverse=True):
        low = limit * (1 - vb["band"])
        for candidate in (b.awarded_value, b.tender_value):
            inside = (candidate >= low) & (candidate < limit)
            bunched_at = ibis.ifelse(inside.fill_null(False), float(limit), bunched_at)
            bunched_value = ibis.ifelse(inside.fill_null(False), candidate, bunched_value)
    bunched = ibis.ifelse(
        b.awarded_value.isnull() & b.tender_value.isnull(),
        _null_bool(),
        bunched_at.notnull(),
    )
    bunched_note = _reason_cases(
        (b.awarded_value.isnull() & b.tender_value.isnull(), "no GBP value"),
    )

    # 5. Award value growth between the first and latest published version.
    grew = ibis.ifelse(
        b.value_growth.isnull(),
        _null_bool(),
        b.value_growth > th["award_value_growth"]["max_growth"],
    )
    growth_note = _reason_cases(
        (~b.awarded, "no award yet"),
        (b.value_growth.isnull(), "no first award value above zero"),
    )

    # 7. Missing key fields.
    wanted = set(th["missing_key_fields"]["fields"])
    missing_parts = [
        ibis.ifelse(b[f"missing_{name}"], name, ibis.null().cast("string"))
        for name in KEY_FIELDS
        if name in wanted
    ]
    missing_fields = ibis.literal(", ").join(missing_parts) if missing_parts else ibis.literal("")
    missing_fields = ibis.ifelse(missing_fields == "", None, missing_fields)

    flagged = b.mutate(
        direct_award_over_threshold=direct,
        short_advertisement=short,
        decision_period_outlier=outlier,
        value_bunched_below_threshold=bunched,
        bunched_threshold=bunched_at,
        bunched_value=bunched_value,
        award_value_growth=grew,
        single_bidder=_null_bool(),
        missing_fields=missing_fields,
        missing_key_fields=missing_fields.notnull(),
        not_computable=ibis.literal("; ").join(
            [
                ibis.literal("direct_award_over_threshold: ").concat(direct_note),
                ibis.literal("short_advertisement: ").concat(short_note),
                ibis.literal("decision_period_outlier: ").concat(outlier_note),
                ibis.literal("value_bunched_below_threshold: ").concat(bunched_note),
                ibis.literal("award_value_growth: ").concat(growth_note),
                ibis.literal(f"single_bidder: {SINGLE_BIDDER_NOTE}"),
            ]
        ),
    )
    used: ir.IntegerValue = ibis.literal(0)
    raised: ir.IntegerValue = ibis.literal(0)
    for name in FLAGS:
        used = used + flagged[name].notnull().cast("int64")
        raised = raised + flagged[name].fill_null(False).cast("int64")
    return flagged.mutate(
        flags_used=used,
        flags_raised=raised,
        risk_index=ibis.ifelse(used > 0, raised.cast("float64") / used, None),
    )


def _filtered(expr: ir.Table, buyer: str | None, locality: str | None) -> ir.Table:
    if buyer:
        wanted = buyer.strip().lower()
        expr = expr.filter(
            (expr.buyer_id.lower() == wanted) | (expr.buyer_name.lower().strip() == wanted)
        )
    if locality:
        wanted = locality.strip().lower()
        expr = expr.filter((expr.locality.lower() == wanted) | (expr.la_code.lower() == wanted))
    return expr


# Columns of flags_table, in order (the fields behind the flags come after the flags).
OUTPUT_COLUMNS: tuple[str, ...] = (
    "ocid",
    "buyer_name",
    "buyer_id",
    "locality",
    "title",
    "value",
    *FLAGS,
    "reasons",
    "risk_index",
    "flags_used",
    "flags_raised",
    "not_computable",
    "procurement_method",
    "procurement_method_details",
    "awarded_value",
    "tender_value",
    "advert_start",
    "tender_end",
    "advertised_days",
    "advert_minimum_days",
    "first_award_date",
    "decision_days",
    "decision_fence_low",
    "decision_fence_high",
    "bunched_threshold",
    "bunched_value",
    "value_first",
    "value_latest",
    "value_growth",
    "missing_fields",
    "publisher_prefix",
)


def _money(value: float) -> str:
    return f"£{value:,.0f}" if float(value).is_integer() else f"£{value:,.2f}"


def reasons_text(row: Mapping[str, Any], thresholds: Thresholds | None = None) -> str:
    """The raised flags of one row of ``flags_expr`` in words, most specific first."""
    th = thresholds if thresholds is not None else default_thresholds()
    parts: list[str] = []
    if row.get("direct_award_over_threshold"):
        limit = th["direct_award_over_threshold"]["threshold"]
        parts.append(f"direct award of {_money(row['awarded_value'])} above {_money(limit)}")
    if row.get("short_advertisement"):
        parts.append(
            f"advertised {row['advertised_days']} days (minimum {row['advert_minimum_days']})"
        )
    if row.get("decision_period_outlier"):
        low, high = row["decision_fence_low"], row["decision_fence_high"]
        parts.append(
            f"{row['decision_days']} days from tender close to award "
            f"(usual range {low:g} to {high:g})"
        )
    if row.get("value_bunched_below_threshold"):
        kind = "awarded" if row["bunched_value"] == row.get("awarded_value") else "tender"
        band = th["value_bunched_below_threshold"]["band"]
        parts.append(
            f"{kind} value {_money(row['bunched_value'])} within {band:.0%} below "
            f"the {_money(row['bunched_threshold'])} threshold"
        )
    if row.get("award_value_growth"):
        parts.append(
            f"award value grew from {_money(row['value_first'])} to "
            f"{_money(row['value_latest'])} ({row['value_growth']:+.0%})"
        )
    if row.get("missing_key_fields"):
        parts.append(f"missing {row['missing_fields']}")
    return "; ".join(parts)


def _with_reasons(table: pa.Table, thresholds: Thresholds) -> pa.Table:
    texts = [reasons_text(row, thresholds) for row in table.to_pylist()]
    table = table.append_column("reasons", pa.array(texts, pa.string()))
    return table.select([c for c in OUTPUT_COLUMNS if c in table.column_names])


def flags_table(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    *,
    buyer: str | None = None,
    locality: str | None = None,
    thresholds: str | PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Flagged processes (at least one flag true), most severe first.

    One row per process: ``ocid``, buyer, ``locality``, ``title``, ``value`` (awarded GBP,
    else tender GBP), each flag (true / false / null = not computable), ``reasons``,
    ``risk_index``, ``flags_used``, ``not_computable``, then the fields behind the flags.
    Sorted by flags raised, then risk index, then value, descending. ``buyer`` matches a
    buyer id or name, ``locality`` a local authority name or code (case-insensitive); filters only
    select rows: the decision-period fences are always taken over the whole store.
    ``thresholds`` is a TOML file or mapping overriding ``flags.toml``.
    """
    th = load_thresholds(thresholds)
    expr = _filtered(flags_expr(FlagTables.from_backend(_backend(con)), th), buyer, locality)
    expr = expr.filter(expr.flags_raised > 0)
    # Most severe first: more flags raised beats a higher index resting on fewer
    # computable flags (a 2014 notice "missing value" alone scores 1.0 of 1).
    expr = expr.order_by(
        [
            ibis.desc(expr.flags_raised),
            ibis.desc(expr.risk_index),
            ibis.desc(expr.value, nulls_first=False),
            expr.ocid,
        ]
    )
    if limit:
        expr = expr.limit(limit)
    result: pa.Table = expr.to_pyarrow()
    return _with_reasons(result, th)


def buyer_risk(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    *,
    buyer: str | None = None,
    locality: str | None = None,
    thresholds: str | PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Per buyer: the mean risk index of its processes, with how many it rests on.

    ``processes`` counts every process of the buyer, ``assessed_processes`` those with at
    least one computable flag (the mean is over these), ``flagged_processes`` those with a
    flag raised, and ``<flag>_processes`` how often each flag was raised. Sorted by
    ``risk_index`` then ``processes``, descending.
    """
    th = load_thresholds(thresholds)
    expr = _filtered(flags_expr(FlagTables.from_backend(_backend(con)), th), buyer, locality)
    per_flag = {f"{name}_processes": expr[name].fill_null(False).sum() for name in FLAGS}
    grouped = expr.group_by(["buyer_id", "buyer_name", "locality"]).aggregate(
        processes=expr.count(),
        assessed_processes=(expr.flags_used > 0).sum(),
        flagged_processes=(expr.flags_raised > 0).sum(),
        risk_index=expr.risk_index.mean(),
        **per_flag,
    )
    grouped = grouped.order_by(
        [
            ibis.desc(grouped.risk_index, nulls_first=False),
            ibis.desc(grouped.processes),
            grouped.buyer_name,
        ]
    )
    if limit:
        grouped = grouped.limit(limit)
    result: pa.Table = grouped.to_pyarrow()
    return result


__all__ = [
    "FLAGS",
    "KEY_FIELDS",
    "FlagTables",
    "buyer_risk",
    "default_thresholds",
    "flags_expr",
    "flags_table",
    "load_thresholds",
    "reasons_text",
]
