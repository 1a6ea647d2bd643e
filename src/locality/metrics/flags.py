"""Red flags per contracting process, data-quality findings, a risk index, and the same per buyer.

Each flag and finding is true, false or null. Null means *not computable*: the data cannot
decide it (the ``not_computable`` column says why for the integrity flags); false means the
condition was checked and does not hold, including where it cannot apply (a direct award is
never "advertised too short"). Thresholds are in ``flags.toml`` (package data; a user file
overrides the keys it sets).

Integrity flags (``INTEGRITY_FLAGS``), the only ones the risk index counts:

* ``direct_award_over_threshold``: a direct award (``is_direct_award``: ``procurementMethod``
  ``direct``, the definition ``contract_shape.direct_award_share`` uses too) with awarded GBP
  value above the threshold;
* ``short_advertisement``: an open procedure whose tender period (``tenderPeriod.startDate``,
  else the earlier of ``tender.datePublished`` and the first ``tender`` release, to
  ``tenderPeriod.endDate``) is shorter than the legal minimum;
* ``decision_period_outlier``: days from tender end to the first award date outside Tukey
  fences over every process in the store whose award is not dated before its tender closed;
* ``value_bunched_below_threshold``: awarded or tender value just under a publication or
  procurement threshold;
* ``award_value_growth``: an award's latest published value over its first by more than
  the threshold (``award_versions``);
* ``single_bidder``: a competitive procedure that drew one bid (``final_stage_bidders``, else
  ``bidders``: Find a Tender's ``bids.statistics``); null where no bid count is published.

Awarded value, growth and bunching read money only: counted GBP awards with a known value
that is not a framework's or DPS's ceiling (``awards.counts_as``). A notice published twice
under two OCIDs (``duplicate_processes``) is one process, as in every measure.

Data-quality findings (``DATA_QUALITY_FINDINGS``): what the publisher should fix, not a
reason to doubt the procurement; never in the risk index:

* ``missing_key_fields``: buyer, title, value, supplier, procedure or award date missing;
* ``award_before_tender_end``: the first award is dated before the tender closed (a
  decision period below zero, beyond the tolerance), so it has no decision period;
* ``invalid_award_value``: an award's published amount is not money (``awards.value_issue``:
  a placeholder such as 0.01 or 1, negative, non-finite or over the plausible cap).

``risk_index`` = mean of the available integrity flags (true 1, false 0, null left out),
with ``flags_used`` the number available; ``findings_raised`` counts the data-quality
findings; ``kind`` is ``integrity`` when an integrity flag is raised, else ``data_quality``
when a finding is. Every definition is an Ibis expression over the store's tables
(``processes``, ``awards``, ``award_versions``, the ``ocid``, ``release_date`` and ``tags`` of
``releases``, and ``process_facts`` for the buyer's place), so it runs on DuckDB or Spark
(the same results on the sample; Spark needs those two extra tables registered beside
``engine.STORE_TABLES``). Only the human-readable ``reasons`` and ``data_quality`` texts are
formatted in Python, from the result.
``docs/metrics.md`` ("Red flags") has the policy behind each default.

Each flag and finding is a small function registered with ``red_flag`` in ``RED_FLAGS``
(name, kind, the columns it needs, its threshold keys, its measures, its words), as the
metric families are with ``registry.family``; ``flags_expr`` composes them over one row per
process (``_processes``), and ``flags_table``, ``buyer_risk``, ``reasons_text`` and
``data_quality_text`` read the registry, so a newly registered flag needs no other change
(``docs/metrics.md``, "Adding a flag"). ``INTEGRITY_FLAGS``, ``DATA_QUALITY_FINDINGS`` and
``FLAGS`` are the built-in flags, as registered when this module is imported.

This module imports nothing of ``locality.metrics`` at import time (``facts`` and the DuckDB
backend are imported where used), so ``facts`` and the metric families can import
``is_direct_award`` from here without an import cycle.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from locality.domain.money import in_words
from locality.domain.values import CAP_ANY_BUYER, PLACEHOLDER_MAX, VALUE_ISSUES

if TYPE_CHECKING:
    from locality.metrics.facts import Tables

KEY_FIELDS: tuple[str, ...] = ("buyer", "title", "value", "supplier", "procedure", "award_date")

# The one definition of a direct award: the direct-award flag and
# ``contract_shape.direct_award_share`` both read it (``is_direct_award``). OCDS ``direct``
# is "awarded to a single supplier without competition"; ``limited`` (restricted to
# suppliers the buyer chose, e.g. Contracts Finder's "Competitive quotation") is not.
DIRECT_AWARD_METHODS: tuple[str, ...] = ("direct",)

# procurementMethodDetails that say nothing about the procedure ("Other - ", "Not specified").
_UNSPECIFIED = r"^\s*(other\s*-\s*)?(other|not specified|not applicable)?\s*$"
# Open procedures named only in the details (legacy Contracts Finder has no method).
_OPEN_DETAILS = r"^\s*(other\s*-\s*)?open"
_SECONDS_PER_DAY = 86_400
_NO_BID_COUNT = "no bid count published (bids.statistics)"
_AWARD_BEFORE_TENDER_END = "award dated before the tender closed"

Thresholds = dict[str, dict[str, Any]]


def is_direct_award(procurement_method: ir.StringValue) -> ir.BooleanValue:
    """Whether a process is a direct award: ``procurementMethod`` in ``DIRECT_AWARD_METHODS``
    (false, never null, when the method is not published)."""
    return procurement_method.isin(list(DIRECT_AWARD_METHODS)).fill_null(False)


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
    known = {"fields": KEY_FIELDS, "issues": VALUE_ISSUES}.get(key)
    if known is not None:
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(
                f"thresholds {where}: unknown {key[:-1]}(s) {', '.join(unknown)}; "
                f"choose from: {', '.join(known)}"
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
        from locality.metrics.facts import Tables

        releases = backend.table("releases")
        return cls(
            tables=Tables.from_backend(backend),
            award_versions=backend.table("award_versions"),
            releases=releases.select("ocid", "release_date", "tags"),
        )


def _backend(con: duckdb.DuckDBPyConnection | ibis.BaseBackend) -> ibis.BaseBackend:
    from locality.metrics import duckdb_backend

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


def _counted(awards: ir.Table) -> ir.Table:
    """Counted awards: status active or missing."""
    return awards.filter(awards.status.isnull() | (awards.status == "active"))


def _is_money(awards: ir.Table) -> ir.BooleanValue:
    """An award whose value is money: known, and not a framework's or DPS's ceiling (a store
    written before ``counts_as`` existed has it null: every known value is money there)."""
    return awards.value.notnull() & (awards.counts_as.fill_null("awarded") != "ceiling")


def _awards(t: Tables, issues: list[str]) -> ir.Table:
    """Per process: its counted awards, their GBP money value, dates and value issues."""
    counted = _counted(t.awards)
    money = (counted.currency == "GBP") & _is_money(counted)
    # (a column that is false everywhere when no issue is configured)
    invalid = counted.value_issue.isin(issues) if issues else counted.ocid.isnull()
    published = counted.value_net.fill_null(counted.value_gross)
    return counted.group_by("ocid").aggregate(
        award_count=counted.count(),
        awarded_value=counted.value.sum(where=money),
        valued_awards=counted.value.count(),
        dated_awards=counted.award_date.count(),
        supplier_total=counted.supplier_count.fill_null(0).sum(),
        first_award_date=counted.award_date.min(),
        invalid_awards=invalid.fill_null(False).sum(),
        invalid_amount=published.min(where=invalid.fill_null(False)),
        **{
            f"issue_{issue}": (counted.value_issue == issue).fill_null(False).any()
            for issue in VALUE_ISSUES
        },
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


def _growth(versions: ir.Table, awards: ir.Table) -> ir.Table:
    """Per process: the award whose value grew most from its first to its latest version.

    Only counted awards whose value is money (not a ceiling, not unknown), and only versions
    whose amount is money by the store's rule (``locality.domain.values``: above the
    placeholder amounts, within the cap; ``award_versions`` keeps amounts as published)."""
    counted = _counted(awards)
    money = counted.filter(_is_money(counted)).select(m_ocid="ocid", m_award_id="award_id")
    # A version whose release has no usable date (one legacy Contracts Finder release has
    # none) sorts first, so both engines order the versions the same way.
    undated = ibis.timestamp("1970-01-01 00:00:00").cast(dt.Timestamp(timezone="UTC"))
    v = versions.filter(
        versions.value.notnull()
        & (versions.value > PLACEHOLDER_MAX)
        & (versions.value <= CAP_ANY_BUYER)
    )
    v = v.semi_join(money, [v.ocid == money.m_ocid, v.award_id == money.m_award_id])
    v = v.mutate(published=_parse_date(v.release_date).fill_null(undated))
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
    # The award that grew most; of awards that grew alike, the first by id, so the reason
    # names the same values on every run and engine (argmax alone breaks ties arbitrarily).
    known = per_award.filter(per_award.growth.notnull())
    order = ibis.window(group_by="ocid", order_by=[ibis.desc("growth"), "award_id"])
    known = known.mutate(growth_rank=ibis.row_number().over(order))
    top = known.filter(known.growth_rank == 0).select(
        t_ocid="ocid", value_first="first_value", value_latest="latest_value"
    )
    totals = per_award.group_by("ocid").aggregate(
        value_growth=per_award.growth.max(),
        award_versions=per_award.versions.sum(),
    )
    joined = totals.left_join(top, totals.ocid == top.t_ocid)
    return joined.select("ocid", "value_growth", "value_first", "value_latest", "award_versions")


def _reason_cases(*cases: tuple[ir.BooleanValue, str]) -> ir.StringValue:
    return ibis.cases(*cases, else_=ibis.null().cast("string"))


def _listed(parts: list[tuple[ir.BooleanValue, str]]) -> ir.StringValue:
    """The names whose condition holds, joined by ", "; null when none does."""
    named = [ibis.ifelse(cond, name, ibis.null().cast("string")) for cond, name in parts]
    joined = ibis.literal(", ").join(named) if named else ibis.literal("")
    return ibis.ifelse(joined == "", ibis.null().cast("string"), joined)


# --- the registry -----------------------------------------------------------------------


@dataclass(frozen=True)
class FlagColumns:
    """What a registered flag's function returns: its true/false/null column, why it is
    not computable where it is null (integrity flags; null where it is computable), and
    the measure columns behind it (named as they appear in the output)."""

    flag: ir.BooleanValue
    note: ir.StringValue | None = None
    measures: Mapping[str, ir.Value] = field(default_factory=dict)


# A flag's definition: (the process table with the columns it needs, its flags.toml section)
# -> its columns.
FlagFunction = Callable[[ir.Table, Mapping[str, Any]], FlagColumns]
# A flag's table-level preparation, for a measure over the whole store (the decision-period
# fences): (process table, its section) -> the table with the extra columns.
Prepare = Callable[[ir.Table, Mapping[str, Any]], ir.Table]


@dataclass(frozen=True)
class RedFlag:
    """A registered red flag (``kind`` ``integrity``) or data-quality finding
    (``kind`` ``data_quality``).

    ``needs`` are the columns of the process table (``flags_expr``'s fields, or another
    flag's column or measure) it reads; ``thresholds`` the keys of its ``flags.toml``
    section (the section is named as the flag); ``measures`` the measure columns its
    function returns; ``reason`` its words for ``reasons`` / ``data_quality`` from a
    result row and its section.
    """

    name: str
    kind: Literal["integrity", "data_quality"]
    function: FlagFunction
    needs: tuple[str, ...]
    thresholds: tuple[str, ...]
    measures: tuple[str, ...]
    reason: Callable[[Mapping[str, Any], Mapping[str, Any]], str]
    prepare: Prepare | None = None


# Every registered flag and finding, in output order (registration order).
RED_FLAGS: dict[str, RedFlag] = {}


def red_flag(
    name: str,
    *,
    kind: Literal["integrity", "data_quality"],
    needs: tuple[str, ...],
    thresholds: tuple[str, ...] = (),
    measures: tuple[str, ...] = (),
    reason: Callable[[Mapping[str, Any], Mapping[str, Any]], str],
    prepare: Prepare | None = None,
) -> Callable[[FlagFunction], FlagFunction]:
    """Register a red flag (``kind="integrity"``, counted in the risk index) or a
    data-quality finding (``kind="data_quality"``, never counted); see ``RedFlag``."""

    def register(function: FlagFunction) -> FlagFunction:
        if name in RED_FLAGS:
            raise ValueError(f"red flag {name!r} is already registered")
        RED_FLAGS[name] = RedFlag(
            name=name,
            kind=kind,
            function=function,
            needs=needs,
            thresholds=thresholds,
            measures=measures,
            reason=reason,
            prepare=prepare,
        )
        return function

    return register


def integrity_flags() -> tuple[str, ...]:
    """The registered integrity flags, in order: the ones the risk index counts."""
    return tuple(n for n, f in RED_FLAGS.items() if f.kind == "integrity")


def data_quality_findings() -> tuple[str, ...]:
    """The registered data-quality findings, in order."""
    return tuple(n for n, f in RED_FLAGS.items() if f.kind == "data_quality")


def _section(flag: RedFlag, thresholds: Thresholds) -> Mapping[str, Any]:
    """The flag's ``flags.toml`` section, checked to hold every key it declares."""
    section = thresholds.get(flag.name, {})
    missing = [key for key in flag.thresholds if key not in section]
    if missing:
        raise ValueError(
            f"red flag {flag.name!r}: thresholds [{flag.name}] lacks {', '.join(missing)}"
        )
    return section


def _in_dependency_order(flags: list[RedFlag]) -> list[RedFlag]:
    """The flags ordered so that each comes after the flags whose columns it needs."""
    provides = {name: flag.name for flag in flags for name in (flag.name, *flag.measures)}
    done: set[str] = set()
    ordered: list[RedFlag] = []

    def visit(flag: RedFlag, path: tuple[str, ...]) -> None:
        if flag.name in done:
            return
        if flag.name in path:
            raise ValueError(f"red flags need each other: {' -> '.join((*path, flag.name))}")
        for column in flag.needs:
            owner = provides.get(column)
            if owner is not None and owner != flag.name:
                visit(RED_FLAGS[owner], (*path, flag.name))
        done.add(flag.name)
        ordered.append(flag)

    for flag in flags:
        visit(flag, ())
    return ordered


def _apply(table: ir.Table, flag: RedFlag, section: Mapping[str, Any]) -> ir.Table:
    """The table with the flag's column and measures (and its note as ``_note_<name>``)."""
    missing = [column for column in flag.needs if column not in table.columns]
    if missing:
        raise ValueError(f"red flag {flag.name!r} needs missing column(s) {', '.join(missing)}")
    if flag.prepare is not None:
        table = flag.prepare(table, section)
    columns = flag.function(table, section)
    unknown = sorted(set(columns.measures) ^ set(flag.measures))
    if unknown:
        raise ValueError(
            f"red flag {flag.name!r}: measures {', '.join(unknown)} differ from those registered"
        )
    extra: dict[str, ir.Value] = {flag.name: columns.flag.cast("boolean"), **columns.measures}
    if columns.note is not None:
        extra[f"_note_{flag.name}"] = columns.note
    return table.mutate(**extra)


# --- the flags ------------------------------------------------------------------------------
# Each function reads the process table (``_processes``) and its own ``flags.toml`` section.
# ``docs/metrics.md`` ("Red flags") has the policy behind each default.


def _direct_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return f"direct award of {in_words(row['awarded_value'])} above {in_words(th['threshold'])}"


@red_flag(
    "direct_award_over_threshold",
    kind="integrity",
    needs=("procedure_known", "is_direct", "awarded_value"),
    thresholds=("threshold",),
    reason=_direct_reason,
)
def _direct_award_over_threshold(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """A direct award (``is_direct_award``) with awarded GBP value above the threshold."""
    return FlagColumns(
        flag=ibis.cases(
            (~b.procedure_known, _null_bool()),
            (~b.is_direct, False),
            (b.awarded_value.isnull(), _null_bool()),
            else_=b.awarded_value > th["threshold"],
        ),
        note=_reason_cases(
            (~b.procedure_known, "procedure not published"),
            (b.is_direct & b.awarded_value.isnull(), "direct award without a GBP awarded value"),
        ),
    )


def _short_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return f"advertised {row['advertised_days']} days (minimum {row['advert_minimum_days']})"


@red_flag(
    "short_advertisement",
    kind="integrity",
    needs=("procedure_known", "is_open", "advertised_days", "tender_end", "advert_start"),
    thresholds=("minimum_days", "minimum_days_after_planning_notice"),
    measures=("advert_minimum_days",),
    reason=_short_reason,
)
def _short_advertisement(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """An open procedure advertised for less than the legal minimum (Procurement Act 2023
    s.54; 10 days after a qualifying planned procurement notice)."""
    minimum = ibis.ifelse(
        b.planning_notice.fill_null(False),
        th["minimum_days_after_planning_notice"],
        th["minimum_days"],
    )
    days = b.advertised_days
    return FlagColumns(
        flag=ibis.cases(
            (~b.procedure_known, _null_bool()),
            (~b.is_open, False),
            (days.isnull() | (days < 0), _null_bool()),
            else_=days < minimum,
        ),
        note=_reason_cases(
            (~b.procedure_known, "procedure not published"),
            (b.is_open & b.tender_end.isnull(), "no tender closing date"),
            (b.is_open & b.advert_start.isnull(), "tender notice not in the store"),
            (b.is_open & (days < 0), "tender closes before its notice was published"),
        ),
        measures={"advert_minimum_days": minimum},
    )


def _decision_fences(base: ir.Table, th: Mapping[str, Any]) -> ir.Table:
    """The Tukey fences (Q1 - k*IQR, Q3 + k*IQR) of the decision periods of every process in
    the store that has one (an award dated before its tender closed has none), beside each
    process."""
    known_days = base.filter(
        base.decision_days.notnull() & ~base.award_before_tender_end.fill_null(False)
    )
    fences = known_days.aggregate(
        decision_q1=known_days.decision_days.quantile(0.25),
        decision_q3=known_days.decision_days.quantile(0.75),
        decision_population=known_days.count(),
    )
    iqr = fences.decision_q3 - fences.decision_q1
    fences = fences.select(
        "decision_population",
        decision_fence_low=fences.decision_q1 - th["iqr_multiplier"] * iqr,
        decision_fence_high=fences.decision_q3 + th["iqr_multiplier"] * iqr,
    )
    return base.cross_join(fences)


def _outlier_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    low, high = row["decision_fence_low"], row["decision_fence_high"]
    return (
        f"{row['decision_days']} days from tender close to award (usual range {low:g} to {high:g})"
    )


@red_flag(
    "decision_period_outlier",
    kind="integrity",
    needs=(
        "decision_days",
        "award_before_tender_end",
        "awarded",
        "first_award_date",
        "tender_end",
    ),
    thresholds=("iqr_multiplier", "min_processes"),
    measures=("decision_fence_low", "decision_fence_high"),
    reason=_outlier_reason,
    prepare=_decision_fences,
)
def _decision_period_outlier(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """Days from tender end to the first award outside the fences (``_decision_fences``),
    when at least ``min_processes`` decision periods define them."""
    enough = b.decision_population >= th["min_processes"]
    days = b.decision_days
    before_close = b.award_before_tender_end.fill_null(False)
    return FlagColumns(
        flag=ibis.cases(
            (days.isnull() | ~enough, _null_bool()),
            (before_close, _null_bool()),
            else_=(days < b.decision_fence_low) | (days > b.decision_fence_high),
        ),
        note=_reason_cases(
            (~b.awarded, "no award yet"),
            (b.first_award_date.isnull(), "no award date"),
            (b.tender_end.isnull(), "no tender closing date"),
            (before_close, _AWARD_BEFORE_TENDER_END),
            (~enough, f"fewer than {th['min_processes']} decision periods in the store"),
        ),
        measures={
            "decision_fence_low": b.decision_fence_low,
            "decision_fence_high": b.decision_fence_high,
        },
    )


def _bunched_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return (
        f"{row['bunched_source']} value {in_words(row['bunched_value'])} within "
        f"{th['band']:.0%} below the {in_words(row['bunched_threshold'])} threshold"
    )


@red_flag(
    "value_bunched_below_threshold",
    kind="integrity",
    needs=("awarded_value", "tender_value"),
    thresholds=("band", "thresholds"),
    measures=("bunched_threshold", "bunched_value", "bunched_source"),
    reason=_bunched_reason,
)
def _value_bunched_below_threshold(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """Awarded or tender GBP money just under a publication or procurement threshold
    (ceilings are not money, so they are left out)."""
    bunched_at: ir.Value = ibis.null().cast("float64")
    bunched_value: ir.Value = ibis.null().cast("float64")
    bunched_source: ir.Value = ibis.null().cast("string")
    for limit in sorted(th["thresholds"], reverse=True):
        low = limit * (1 - th["band"])
        # The awarded value wins over the tender value within one band (it comes last).
        for source, candidate in (("tender", b.tender_value), ("awarded", b.awarded_value)):
            inside = ((candidate >= low) & (candidate < limit)).fill_null(False)
            bunched_at = ibis.ifelse(inside, float(limit), bunched_at)
            bunched_value = ibis.ifelse(inside, candidate, bunched_value)
            bunched_source = ibis.ifelse(inside, source, bunched_source)
    no_value = b.awarded_value.isnull() & b.tender_value.isnull()
    return FlagColumns(
        flag=ibis.ifelse(no_value, _null_bool(), bunched_at.notnull()),
        note=_reason_cases((no_value, "no GBP value")),
        measures={
            "bunched_threshold": bunched_at,
            "bunched_value": bunched_value,
            "bunched_source": bunched_source,
        },
    )


def _growth_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return (
        f"award value grew from {in_words(row['value_first'])} to "
        f"{in_words(row['value_latest'])} ({row['value_growth']:+.0%})"
    )


@red_flag(
    "award_value_growth",
    kind="integrity",
    needs=("awarded", "value_growth"),
    thresholds=("max_growth",),
    reason=_growth_reason,
)
def _award_value_growth(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """An award's latest published value over its first by more than ``max_growth``
    (``award_versions``; PCR 2015 reg. 72, Procurement Act 2023 Schedule 8)."""
    return FlagColumns(
        flag=ibis.ifelse(b.value_growth.isnull(), _null_bool(), b.value_growth > th["max_growth"]),
        note=_reason_cases(
            (~b.awarded, "no award yet"),
            (b.value_growth.isnull(), "no award value that is money (ceilings, unknown values)"),
        ),
    )


def _single_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return f"{_plural(row['bid_count'], 'bid')} in a competitive procedure"


@red_flag(
    "single_bidder",
    kind="integrity",
    needs=("bid_count", "procedure_known", "procurement_method", "is_direct"),
    thresholds=("max_bidders", "non_competitive_methods"),
    reason=_single_reason,
)
def _single_bidder(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """A competitive procedure that drew at most ``max_bidders`` bids (at least one)."""
    method = b.procurement_method
    non_competitive = [str(m) for m in th["non_competitive_methods"]]
    is_competitive = method.notnull() & ~b.is_direct
    if non_competitive:
        is_competitive = is_competitive & ~method.isin(non_competitive)
    bids = b.bid_count
    return FlagColumns(
        flag=ibis.cases(
            (bids.isnull(), _null_bool()),
            (~b.procedure_known, _null_bool()),
            (~is_competitive, False),
            else_=(bids >= 1) & (bids <= th["max_bidders"]),
        ),
        note=_reason_cases(
            (bids.isnull(), _NO_BID_COUNT),
            (~b.procedure_known, "procedure not published"),
        ),
    )


# Data-quality findings.


def _missing_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return f"missing {row['missing_fields']}"


@red_flag(
    "missing_key_fields",
    kind="data_quality",
    needs=tuple(f"missing_{name}" for name in KEY_FIELDS),
    thresholds=("fields",),
    measures=("missing_fields",),
    reason=_missing_reason,
)
def _missing_key_fields(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """Buyer, title, value, supplier, procedure or award date missing (those configured)."""
    wanted = set(th["fields"])
    missing = _listed([(b[f"missing_{name}"], name) for name in KEY_FIELDS if name in wanted])
    return FlagColumns(flag=missing.notnull(), measures={"missing_fields": missing})


def _before_close_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    return f"award dated {_plural(-row['decision_days'], 'day')} before the tender closed"


@red_flag(
    "award_before_tender_end",
    kind="data_quality",
    needs=("decision_days",),
    thresholds=("tolerance_days",),
    reason=_before_close_reason,
)
def _award_before_tender_end(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """The first award dated more than ``tolerance_days`` before the tender closed: a data
    error, not a short decision (so it has no decision period and is left out of the
    fences)."""
    return FlagColumns(flag=b.decision_days < -th["tolerance_days"])


def _invalid_reason(row: Mapping[str, Any], th: Mapping[str, Any]) -> str:
    amount = row.get("invalid_amount")
    published = f" (published {in_words(amount)})" if amount is not None else ""
    return f"award value not usable: {row['value_issues']}{published}"


@red_flag(
    "invalid_award_value",
    kind="data_quality",
    needs=("awarded", "invalid_awards"),
    thresholds=("issues",),
    reason=_invalid_reason,
)
def _invalid_award_value(b: ir.Table, th: Mapping[str, Any]) -> FlagColumns:
    """An award whose published amount is not money (``awards.value_issue`` among
    ``issues``; the count and amount are fields of ``_processes``)."""
    return FlagColumns(flag=ibis.ifelse(~b.awarded, _null_bool(), b.invalid_awards > 0))


INTEGRITY_FLAGS: tuple[str, ...] = integrity_flags()
DATA_QUALITY_FINDINGS: tuple[str, ...] = data_quality_findings()
# Every true/false/null column of a row: the integrity flags, then the findings.
FLAGS: tuple[str, ...] = (*INTEGRITY_FLAGS, *DATA_QUALITY_FINDINGS)


# --- composition ----------------------------------------------------------------------------


def _processes(inputs: FlagTables, th: Thresholds) -> ir.Table:
    """Every contracting process with the fields the flags read (one row per process)."""
    from locality.metrics.facts import process_facts

    t = inputs.tables
    # One notice published twice under two OCIDs is one: the copy is left out, as from
    # every measure (``process_facts``).
    p = t.processes.filter(~t.processes.ocid.isin(t.duplicate_processes.ocid))
    places = process_facts(t).select(
        f_ocid="ocid",
        f_buyer_id="buyer_id",
        f_buyer_name="buyer_name",
        f_locality="locality",
        f_la_code="la_code",
    )
    value_issues = [str(issue) for issue in th["invalid_award_value"]["issues"]]
    awards = _awards(t, value_issues).rename(aw_ocid="ocid")
    notices = _notices(inputs.releases, th["short_advertisement"]).rename(n_ocid="ocid")
    growth = _growth(inputs.award_versions, t.awards).rename(g_ocid="ocid")

    j = p.left_join(places, p.ocid == places.f_ocid)
    j = j.left_join(awards, j.ocid == awards.aw_ocid)
    j = j.left_join(notices, j.ocid == notices.n_ocid)
    j = j.left_join(growth, j.ocid == growth.g_ocid)

    details = j.procurement_method_details.fill_null("").lower()
    method = j.procurement_method
    procedure_known = method.notnull() | ~details.re_search(_UNSPECIFIED)
    is_direct = procedure_known & is_direct_award(method)
    is_open = procedure_known & (
        (method == "open").fill_null(False) | (method.isnull() & details.re_search(_OPEN_DETAILS))
    )
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
    issues = _listed(
        [
            (j[f"issue_{name}"].fill_null(False), name)
            for name in VALUE_ISSUES
            if name in value_issues
        ]
    )
    base = j.select(
        "ocid",
        "publisher_prefix",
        "title",
        "procurement_method",
        "procurement_method_details",
        "tender_end",
        "first_award_date",
        "tender_published",
        "planning_notice",
        "value_growth",
        "value_first",
        "value_latest",
        "bidders",
        "final_stage_bidders",
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
        decision_days=_day(j.first_award_date) - _day(j.tender_end),
        bid_count=j.final_stage_bidders.fill_null(j.bidders),
        invalid_awards=j.invalid_awards.fill_null(0),
        invalid_amount=j.invalid_amount,
        value_issues=ibis.ifelse(j.invalid_awards.fill_null(0) > 0, issues, None),
        missing_buyer=j.buyer_org_id.isnull() & (j.buyer_name.fill_null("").strip() == ""),
        missing_title=j.title.fill_null("").strip() == "",
        missing_value=ibis.ifelse(
            awarded_any, j.valued_awards.fill_null(0) == 0, j.tender_value.isnull()
        ),
        missing_supplier=awarded_any & (j.supplier_total.fill_null(0) == 0),
        missing_procedure=~procedure_known,
        missing_award_date=awarded_any & (j.dated_awards.fill_null(0) == 0),
    )
    return base.mutate(advertised_days=_day(base.tender_end) - _day(base.advert_start))


def flags_expr(inputs: FlagTables, thresholds: Thresholds | None = None) -> ir.Table:
    """Every contracting process with each registered flag and finding (``RED_FLAGS``), the
    risk index over the integrity flags only, and the fields and measures behind them."""
    th = thresholds if thresholds is not None else default_thresholds()
    flagged = _processes(inputs, th)
    registered = list(RED_FLAGS.values())
    for flag in _in_dependency_order(registered):
        flagged = _apply(flagged, flag, _section(flag, th))
    integrity = [f.name for f in registered if f.kind == "integrity"]
    findings = [f.name for f in registered if f.kind == "data_quality"]
    notes = [
        ibis.literal(f"{name}: ").concat(flagged[f"_note_{name}"])
        for name in integrity
        if f"_note_{name}" in flagged.columns
    ]
    not_computable = ibis.literal("; ").join(notes) if notes else ibis.literal("").cast("string")
    used: ir.IntegerValue = ibis.literal(0)
    raised: ir.IntegerValue = ibis.literal(0)
    for name in integrity:
        used = used + flagged[name].notnull().cast("int64")
        raised = raised + flagged[name].fill_null(False).cast("int64")
    found: ir.IntegerValue = ibis.literal(0)
    for name in findings:
        found = found + flagged[name].fill_null(False).cast("int64")
    flagged = flagged.mutate(
        not_computable=not_computable,
        flags_used=used,
        flags_raised=raised,
        findings_raised=found,
        risk_index=ibis.ifelse(used > 0, raised.cast("float64") / used, None),
        kind=ibis.cases(
            (raised > 0, "integrity"),
            (found > 0, "data_quality"),
            else_=ibis.null().cast("string"),
        ),
    )
    return flagged.drop(*(c for c in flagged.columns if c.startswith("_note_")))


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


# The fields behind the flags, in the order flags_table shows them after the flags (a
# registered flag's measures not listed here come last).
_FIELD_COLUMNS: tuple[str, ...] = (
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
    "bunched_source",
    "value_first",
    "value_latest",
    "value_growth",
    "bidders",
    "final_stage_bidders",
    "bid_count",
    "missing_fields",
    "value_issues",
    "invalid_awards",
    "invalid_amount",
    "publisher_prefix",
)


def output_columns() -> tuple[str, ...]:
    """Columns of flags_table, in order: the registered flags, then the fields behind them."""
    measures = [m for flag in RED_FLAGS.values() for m in flag.measures]
    return (
        "ocid",
        "buyer_name",
        "buyer_id",
        "locality",
        "title",
        "value",
        "kind",
        *integrity_flags(),
        "reasons",
        "risk_index",
        "flags_used",
        "flags_raised",
        "not_computable",
        *data_quality_findings(),
        "data_quality",
        "findings_raised",
        *_FIELD_COLUMNS,
        *(m for m in dict.fromkeys(measures) if m not in _FIELD_COLUMNS),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _texts(
    row: Mapping[str, Any],
    kind: Literal["integrity", "data_quality"],
    thresholds: Thresholds | None,
) -> str:
    th = thresholds if thresholds is not None else default_thresholds()
    return "; ".join(
        flag.reason(row, th.get(flag.name, {}))
        for flag in RED_FLAGS.values()
        if flag.kind == kind and row.get(flag.name)
    )


def reasons_text(row: Mapping[str, Any], thresholds: Thresholds | None = None) -> str:
    """The raised integrity flags of one row of ``flags_expr`` in words, in registry order."""
    return _texts(row, "integrity", thresholds)


def data_quality_text(row: Mapping[str, Any], thresholds: Thresholds | None = None) -> str:
    """The data-quality findings of one row of ``flags_expr`` in words, in registry order."""
    return _texts(row, "data_quality", thresholds)


def _with_reasons(table: pa.Table, thresholds: Thresholds) -> pa.Table:
    rows = table.to_pylist()
    table = table.append_column(
        "reasons", pa.array([reasons_text(row, thresholds) for row in rows], pa.string())
    )
    table = table.append_column(
        "data_quality",
        pa.array([data_quality_text(row, thresholds) for row in rows], pa.string()),
    )
    return table.select([c for c in output_columns() if c in table.column_names])


def flags_table(
    con: duckdb.DuckDBPyConnection | ibis.BaseBackend,
    *,
    buyer: str | None = None,
    locality: str | None = None,
    thresholds: str | PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
    limit: int | None = None,
    include_data_quality: bool = False,
) -> pa.Table:
    """Processes with an integrity flag raised, most severe first; with
    ``include_data_quality``, then the processes whose only findings are data-quality ones.

    One row per process: ``ocid``, buyer, ``locality``, ``title``, ``value`` (awarded GBP
    money, else tender GBP), ``kind`` (``integrity`` or ``data_quality``), each integrity
    flag (true / false / null = not computable), ``reasons``, ``risk_index``,
    ``flags_used``, ``flags_raised``, ``not_computable``, each data-quality finding,
    ``data_quality`` (the findings in words), ``findings_raised``, then the fields behind
    them. Sorted by flags raised, then risk index, then findings, then value, descending.
    ``buyer`` matches a buyer id or name, ``locality`` a local authority name or code
    (case-insensitive); filters only select rows: the decision-period fences are always
    taken over the whole store. ``thresholds`` is a TOML file or mapping overriding
    ``flags.toml``.
    """
    th = load_thresholds(thresholds)
    expr = _filtered(flags_expr(FlagTables.from_backend(_backend(con)), th), buyer, locality)
    shown = expr.flags_raised > 0
    if include_data_quality:
        shown = shown | (expr.findings_raised > 0)
    expr = expr.filter(shown)
    # Most severe first: more flags raised beats a higher index resting on fewer
    # computable flags.
    expr = expr.order_by(
        [
            ibis.desc(expr.flags_raised),
            ibis.desc(expr.risk_index, nulls_first=False),
            ibis.desc(expr.findings_raised),
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
    least one computable integrity flag (the mean is over these), ``flagged_processes``
    those with an integrity flag raised, ``data_quality_only_processes`` those with only
    data-quality findings, and ``<flag>_processes`` how often each flag or finding was
    raised. Sorted by ``risk_index`` then ``processes``, descending.
    """
    th = load_thresholds(thresholds)
    expr = _filtered(flags_expr(FlagTables.from_backend(_backend(con)), th), buyer, locality)
    names = (*integrity_flags(), *data_quality_findings())
    per_flag = {f"{name}_processes": expr[name].fill_null(False).sum() for name in names}
    grouped = expr.group_by(["buyer_id", "buyer_name", "locality"]).aggregate(
        processes=expr.count(),
        assessed_processes=(expr.flags_used > 0).sum(),
        flagged_processes=(expr.flags_raised > 0).sum(),
        data_quality_only_processes=(expr.kind == "data_quality").fill_null(False).sum(),
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
    "DATA_QUALITY_FINDINGS",
    "DIRECT_AWARD_METHODS",
    "FLAGS",
    "INTEGRITY_FLAGS",
    "KEY_FIELDS",
    "RED_FLAGS",
    "FlagColumns",
    "FlagTables",
    "RedFlag",
    "buyer_risk",
    "data_quality_findings",
    "data_quality_text",
    "default_thresholds",
    "flags_expr",
    "flags_table",
    "integrity_flags",
    "is_direct_award",
    "load_thresholds",
    "output_columns",
    "reasons_text",
    "red_flag",
]
