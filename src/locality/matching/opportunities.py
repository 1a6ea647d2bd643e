"""Opportunities: notices by stage, contracts about to expire, and buyers' own challenges.

* **Notices.** A process's stage comes from its latest notice (``processes.stage``, the
  Procurement Act 2023 form on Find a Tender, else the release tag: ``domain.notices``):
  ``pipeline`` (UK1: contracts over £2m a large authority expects to start within 18
  months), ``engagement`` (UK2 preliminary market engagement: where a small supplier can
  still shape the specification), ``planned`` (UK3, and planning releases), ``open`` (a
  tender, UK4 or another publisher's, whose deadline has not passed at the moment read:
  ``today`` as a timezone-aware datetime, or a bare date read as the start of that day in
  UK time; a dynamic market's notice, which suppliers may apply to join), ``closed`` (the
  deadline has passed with no award yet), ``awarded`` and ``cancelled`` (a UK12 procurement
  termination, or tender status cancelled, unsuccessful or withdrawn). A planning notice
  (pipeline, engagement, planned) is ``closed`` once its engagement end date
  (``planning.milestones`` of type engagement), planned contract start
  (``tender.contractPeriod.startDate``) or tender period end has passed; one with none of
  these is ``closed`` 18 months after publication, the horizon of a UK1 pipeline notice.
* **Expiring contracts** are tomorrow's opportunities: counted awards whose contract ends
  within a window. The end date is the first of ``contracts[].period.endDate``,
  ``contracts[].period.maxExtentDate``, the award's ``contractPeriod`` end (or maximum
  extent), the award date plus ``durationInMonths`` (contract, award or tender period),
  and last the tender's planned ``contractPeriod.endDate``; ``end_date_source`` says which.
  A contract whose end date has passed with no change (UK10) or termination (UK11) notice
  is "expired, status unknown", never open.
* **Challenges** are a buyer's own statement of a problem (the "open innovation" route):
  a YAML file (one mapping or a list) or a CSV with the keys ``title``, ``description``,
  ``cpv`` (a list of codes; in a CSV separated by ``;`` or spaces), ``place``, ``value``,
  ``closes``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import orjson

from locality.domain.places import buyer_in_councils
from locality.reference import cpv as cpv_entry
from locality.reference import cpv_themes
from locality.store import sql

LIVE_STAGES = ("pipeline", "engagement", "planned", "open")
NOTICE_STAGES = (*LIVE_STAGES, "closed", "awarded", "cancelled")
EXPIRY_STAGES = ("expiring", "expired_unknown")
ALL_STAGES = (*NOTICE_STAGES, *EXPIRY_STAGES, "challenge")

STAGE_LABELS = {
    "pipeline": "pipeline (UK1)",
    "engagement": "engagement (UK2)",
    "planned": "planned",
    "open": "open tender",
    "closed": "closed",
    "awarded": "awarded",
    "cancelled": "cancelled",
    "expiring": "contract expiring",
    "expired_unknown": "expired, status unknown",
    "challenge": "challenge",
}

# Latest notice's stage (``domain.notices.FORM_STAGES`` / ``TAG_STAGES``) → opportunity stage.
_AWARDED = {
    "award",
    "contract",
    "direct_award_intention",
    "payment",
    "performance",
    "change",
    "termination",
    "payments_compliance",
}
_CANCELLED_STATUS = {"cancelled", "unsuccessful", "withdrawn"}


# A planning notice with no date of its own is stale this long after publication: the
# Procurement Act 2023 UK1 pipeline notice covers contracts expected within 18 months.
PLANNING_HORIZON_MONTHS = 18
_PLANNING_STAGES = ("pipeline", "engagement", "planned")
_UK = ZoneInfo("Europe/London")


def moment(today: dt.date) -> dt.datetime:
    """The instant deadlines are read against: a datetime as given (naive means UTC); a bare
    date is the start of that day in UK time (``--today 2026-03-31``)."""
    if isinstance(today, dt.datetime):
        return today if today.tzinfo is not None else today.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(today, dt.time(), tzinfo=_UK)


def day_of(today: dt.date) -> dt.date:
    """The UK calendar day of ``today`` (a date, or a datetime read in UK time)."""
    return moment(today).astimezone(_UK).date()


def _instant(value: Any) -> dt.datetime | None:
    """A published date-time as an aware datetime (a bare date is the start of its UK day)."""
    if isinstance(value, dt.datetime):
        return moment(value)
    if isinstance(value, dt.date):
        return moment(value)
    if isinstance(value, str) and value.strip():
        try:
            return moment(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            found = _parse_date(value)
            return None if found is None else moment(found)
    return None


def planning_deadline(release: Mapping[str, Any] | None) -> dt.datetime | None:
    """The earliest of a planning notice's engagement end dates and its planned contract
    start: once it has passed the notice is no longer an opportunity to shape or bid."""
    if not isinstance(release, Mapping):
        return None
    found: list[dt.datetime] = []
    planning = release.get("planning")
    if isinstance(planning, Mapping):
        for milestone in planning.get("milestones") or []:
            if isinstance(milestone, Mapping) and milestone.get("type") == "engagement":
                due = _instant(milestone.get("dueDate"))
                if due is not None:
                    found.append(due)
    tender = release.get("tender")
    if isinstance(tender, Mapping) and isinstance(tender.get("contractPeriod"), Mapping):
        start = _instant(tender["contractPeriod"].get("startDate"))
        if start is not None:
            found.append(start)
    return min(found) if found else None


class OpportunityError(ValueError):
    """Bad input (a challenge file, a duration, an unknown opportunity); says what and where."""


def parse_window(text: str, *, unit_default: str = "d") -> int:
    """A window such as ``30d``, ``6w``, ``12m`` or ``1y`` → days (a month is 30.44 days)."""
    match = re.fullmatch(r"\s*(\d+)\s*([dwmy]?)\s*", text.lower())
    if not match:
        raise OpportunityError(
            f"cannot read the window {text!r}: write a number and a unit, e.g. 30d, 6w, 12m, 1y"
        )
    number, unit = int(match.group(1)), match.group(2) or unit_default
    return round(number * {"d": 1, "w": 7, "m": 30.44, "y": 365.25}[unit])


def notice_stage(
    stage: str | None,
    form: str | None,
    tender_status: str | None,
    tender_end: dt.datetime | None,
    counted_awards: int,
    today: dt.date,
    planning_end: dt.datetime | None = None,
    published: dt.date | None = None,
) -> str:
    """The opportunity stage of a process from its latest notice (module docstring).

    ``today`` is the moment read against (``moment``); ``planning_end`` is a planning
    notice's ``planning_deadline`` and ``published`` its first publication.
    """
    now = moment(today)
    if stage == "procurement_termination" or (tender_status or "") in _CANCELLED_STATUS:
        return "cancelled"
    if counted_awards > 0 or stage in _AWARDED:
        return "awarded"
    if stage == "dynamic_market":
        return "closed" if form == "UK16" else "open"
    if stage == "tender":
        if tender_end is None:
            # No deadline published: open only while the publisher says the tender is active.
            return "open" if tender_status in (None, "active") else "closed"
        return "open" if moment(tender_end) > now else "closed"
    if stage not in _PLANNING_STAGES and tender_status == "complete":
        return "closed"
    # A planning notice: live until its own dates pass, else for the UK1 horizon.
    ends = [moment(d) for d in (planning_end, tender_end) if d is not None]
    if ends and min(ends) <= now:
        return "closed"
    if (
        not ends
        and published is not None
        and _months_later(published, PLANNING_HORIZON_MONTHS) <= day_of(today)
    ):
        return "closed"
    return stage if stage in _PLANNING_STAGES else "planned"


_NOTICES_SQL = """
SELECT p.ocid, coalesce(p.title_clean, p.title) AS title,
       coalesce(p.description_clean, p.description) AS description,
       p.buyer_org_id AS buyer_id, coalesce(b.name, p.buyer_name) AS buyer_name,
       b.la_registry_code, b.la_name AS place, b.region_name AS region,
       p.cpv_code, p.cpv_division, p.stage AS notice_stage, p.notice_form, p.tender_status,
       p.tender_end, p.tender_value, p.tender_currency, p.agreement_type,
       p.procurement_method, p.suitable_sme, p.suitable_vcse, p.notice_url, p.first_date,
       CASE WHEN coalesce(p.stage, '') NOT IN ('tender', 'dynamic_market')
            THEN p.compiled_release END AS planning_release,
       (SELECT bool_or(l.suitable_sme) FROM process_lots l WHERE l.ocid = p.ocid) AS lot_sme,
       (SELECT bool_or(l.suitable_vcse) FROM process_lots l WHERE l.ocid = p.ocid) AS lot_vcse,
       (SELECT count(*) FROM awards a WHERE a.ocid = p.ocid
          AND coalesce(a.status, 'active') = 'active') AS counted_awards
FROM processes p LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
WHERE p.ocid NOT IN (SELECT ocid FROM duplicate_processes)
"""


def _theme(division: str | None) -> str:
    if not division:
        return "unclassified"
    found = cpv_themes().get(division)
    return found.theme if found else "unclassified"


def _stored_json(value: Any) -> Any:
    """A JSON column as read: DuckDB gives text (or bytes) for a JSON value, else None."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _process_fields(r: Mapping[str, Any]) -> dict[str, Any]:
    """What a notice and an expiring contract both say of their process and its buyer."""
    return {
        "title": r["title"],
        "description": r["description"],
        "buyer_id": r["buyer_id"],
        "buyer_name": r["buyer_name"],
        "la_registry_code": r["la_registry_code"],
        "place": r["place"],
        "region": r["region"],
        "cpv": [r["cpv_code"]] if r["cpv_code"] else [],
        "theme": _theme(r["cpv_division"]),
    }


def _days(until: dt.date | None, today: dt.date) -> int | None:
    return None if until is None else (until - day_of(today)).days


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _parse_date(str(value))


def _parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d %b %Y", "%d %B %Y"):
        try:
            return dt.datetime.strptime(text[:10] if fmt == "%Y-%m-%d" else text, fmt).date()
        except ValueError:
            continue
    return None


def notice_opportunities(
    con: duckdb.DuckDBPyConnection, today: dt.date, ocids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every process (duplicates counted once), or those of ``ocids``, as an opportunity
    with its stage."""
    if ocids is None:
        rows = sql.dicts(con, _NOTICES_SQL)
    else:
        rows = sql.dicts(
            con, _NOTICES_SQL + " AND p.ocid IN (SELECT unnest(?::VARCHAR[]))", [list(ocids)]
        )
    found = []
    day = day_of(today)
    for r in rows:
        release = _stored_json(r["planning_release"])
        stage = notice_stage(
            r["notice_stage"],
            r["notice_form"],
            r["tender_status"],
            r["tender_end"],
            r["counted_awards"],
            today,
            planning_end=planning_deadline(release),
            published=_date(r["first_date"]),
        )
        closes = _date(r["tender_end"])
        found.append(
            {
                "kind": "notice",
                "id": r["ocid"],
                "stage": stage,
                "stage_label": STAGE_LABELS[stage],
                "notice_form": r["notice_form"],
                **_process_fields(r),
                "value": r["tender_value"],
                "value_is_ceiling": r["agreement_type"]
                in ("framework", "dynamic_purchasing_system"),
                "currency": r["tender_currency"],
                "closes": closes,
                "days_left": _days(closes, day) if stage == "open" else None,
                "suitable_sme": bool(r["suitable_sme"] or r["lot_sme"]),
                "suitable_vcse": bool(r["suitable_vcse"] or r["lot_vcse"]),
                "procurement_method": r["procurement_method"],
                "url": r["notice_url"],
                "published": _date(r["first_date"]),
            }
        )
    return found


# --- expiring contracts ---------------------------------------------------------------------


def _months_later(day: dt.date, months: float) -> dt.date:
    whole = int(months)
    month0 = day.month - 1 + whole
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            shifted = dt.date(year, month, min(day.day, last))
            break
        except ValueError:
            continue
    return shifted + dt.timedelta(days=round((months - whole) * 30.44))


def _period_end(period: Any, where: str) -> tuple[dt.date | None, str | None]:
    if not isinstance(period, Mapping):
        return None, None
    for key in ("endDate", "maxExtentDate"):
        found = _date(period.get(key)) if isinstance(period.get(key), str) else None
        if found is not None:
            return found, f"{where}.{key}"
    return None, None


def _duration(period: Any) -> float | None:
    if isinstance(period, Mapping):
        value = period.get("durationInMonths")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def contract_end(
    release: Mapping[str, Any], award_id: str, award_date: dt.date | None
) -> tuple[dt.date | None, str | None]:
    """When an award's contract ends, and the field it was read from (module docstring)."""
    contracts = [
        c
        for c in release.get("contracts") or []
        if isinstance(c, Mapping) and str(c.get("awardID", award_id)) == award_id
    ]
    award = next(
        (
            a
            for a in release.get("awards") or []
            if isinstance(a, Mapping) and str(a.get("id")) == award_id
        ),
        {},
    )
    tender = release.get("tender") if isinstance(release.get("tender"), Mapping) else {}
    for contract in contracts:
        end, source = _period_end(contract.get("period"), "contracts.period")
        if end is not None:
            return end, source
    end, source = _period_end(award.get("contractPeriod"), "awards.contractPeriod")
    if end is not None:
        return end, source
    if award_date is not None:
        periods = [c.get("period") for c in contracts]
        periods += [award.get("contractPeriod"), tender.get("contractPeriod")]  # type: ignore[union-attr]
        for period in periods:
            months = _duration(period)
            if months is not None:
                # A contract of N months from its start ends the day before the same date
                # N months on (1 April 2024 + 12 months ends 31 March 2025).
                end = _months_later(award_date, months) - dt.timedelta(days=1)
                return end, "award date + durationInMonths"
    return _period_end(tender.get("contractPeriod"), "tender.contractPeriod")  # type: ignore[union-attr]


_EXPIRING_SQL = """
SELECT a.ocid, a.award_id, a.award_date, a.value, a.counts_as, a.currency,
       coalesce(p.title_clean, p.title) AS title,
       coalesce(p.description_clean, p.description) AS description,
       p.buyer_org_id AS buyer_id, coalesce(b.name, p.buyer_name) AS buyer_name,
       b.la_registry_code, b.la_name AS place, b.region_name AS region,
       p.cpv_code, p.cpv_division, p.notice_url, p.compiled_release,
       (SELECT list(DISTINCT n.stage) FROM process_notices n WHERE n.ocid = a.ocid
          AND n.stage IN ('change', 'termination')) AS later_notices,
       (SELECT list({'id': s.org_id, 'name': coalesce(o.name, s.supplier_name),
                     'scale': coalesce(nullif(pp.scale, 'unknown'), o.scale),
                     'vcse': coalesce(pp.vcse, o.vcse)} ORDER BY s.position)
        FROM award_suppliers s
        LEFT JOIN organisations o ON o.org_id = s.org_id
        LEFT JOIN process_parties pp ON pp.ocid = s.ocid AND pp.org_id = s.org_id
        WHERE s.ocid = a.ocid AND s.award_id = a.award_id) AS incumbents
FROM awards a
JOIN processes p ON p.ocid = a.ocid
LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
WHERE coalesce(a.status, 'active') = 'active'
  AND a.ocid NOT IN (SELECT ocid FROM duplicate_processes)
"""


def expiring_contracts(
    con: duckdb.DuckDBPyConnection, today: dt.date, within_days: int
) -> list[dict[str, Any]]:
    """Counted awards whose contract ends within ``within_days`` after ``today`` (stage
    ``expiring``), or ended within as many days before it with no change or termination
    notice (``expired_unknown``); a terminated or changed contract is left out (its end
    is no longer the published one)."""
    found = []
    today = day_of(today)
    for r in sql.dicts(con, _EXPIRING_SQL):
        release = _stored_json(r["compiled_release"]) or {}
        award_date = _date(r["award_date"])
        end, source = contract_end(release, str(r["award_id"]), award_date)
        if end is None:
            continue
        days = (end - today).days
        if days >= 0:
            if days > within_days:
                continue
            stage = "expiring"
        else:
            if -days > within_days or r["later_notices"]:
                continue
            stage = "expired_unknown"
        incumbents = r["incumbents"] or []
        found.append(
            {
                "kind": "expiring",
                "id": f"{r['ocid']}/{r['award_id']}",
                "ocid": r["ocid"],
                "award_id": r["award_id"],
                "stage": stage,
                "stage_label": STAGE_LABELS[stage],
                "notice_form": None,
                **_process_fields(r),
                # Only money awarded is a value; a framework's is its ceiling, shown apart.
                "value": r["value"] if r["counts_as"] == "awarded" else None,
                "value_is_ceiling": r["counts_as"] == "ceiling",
                "currency": r["currency"],
                "closes": None,
                "days_left": days,
                "end_date": end,
                "end_date_source": source,
                "award_date": award_date,
                "incumbents": incumbents,
                "incumbent_sme": any(i["scale"] == "sme" for i in incumbents),
                "incumbent_vcse": any(bool(i["vcse"]) for i in incumbents),
                "suitable_sme": None,
                "suitable_vcse": None,
                "url": r["notice_url"],
                "published": award_date,
            }
        )
    return found


# --- challenges -----------------------------------------------------------------------------

CHALLENGE_KEYS = ("title", "description", "cpv", "place", "value", "closes")


@dataclass
class Challenge:
    """A buyer's own statement of a problem (``title`` is required, the rest optional)."""

    title: str
    description: str = ""
    cpv: list[str] = field(default_factory=list)
    place: str | None = None
    value: float | None = None
    closes: dt.date | None = None
    source: str = ""

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")[:60]
        return f"challenge:{slug}"


def _challenge(record: Mapping[str, Any], where: str) -> Challenge:
    unknown = sorted(set(record) - set(CHALLENGE_KEYS))
    if unknown:
        raise OpportunityError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"a challenge has {', '.join(CHALLENGE_KEYS)}"
        )
    title = str(record.get("title") or "").strip()
    if not title:
        raise OpportunityError(f"{where}: a challenge needs a title")
    raw_cpv = record.get("cpv") or []
    if isinstance(raw_cpv, str | int):
        raw_cpv = re.split(r"[;,\s]+", str(raw_cpv))
    if not isinstance(raw_cpv, list):
        raise OpportunityError(f"{where}: cpv must be a list of CPV codes")
    codes = []
    for code in raw_cpv:
        # YAML reads 09300000 unquoted as a number and drops the leading zero.
        text = str(code).zfill(8) if isinstance(code, int) else str(code).strip()
        if not text:
            continue
        head = text.split("-")[0]
        if not re.fullmatch(r"\d{8}", head) or cpv_entry(head) is None:
            raise OpportunityError(
                f"{where}: {text!r} is not a CPV 2008 code (8 digits, e.g. 85310000)"
            )
        codes.append(head)
    value: float | None = None
    raw_value = record.get("value")
    if raw_value not in (None, ""):
        try:
            value = float(str(raw_value).replace(",", "").replace("£", "").strip())
        except ValueError:
            raise OpportunityError(f"{where}: value {raw_value!r} is not an amount") from None
        if value < 0:
            raise OpportunityError(f"{where}: value {raw_value!r} is negative")
    closes = None
    if record.get("closes") not in (None, ""):
        closes = _date(record["closes"])
        if closes is None:
            raise OpportunityError(
                f"{where}: closes {record['closes']!r} is not a date (write 2026-03-31)"
            )
    place = str(record["place"]).strip() if record.get("place") else None
    return Challenge(
        title=title,
        description=str(record.get("description") or "").strip(),
        cpv=codes,
        place=place,
        value=value,
        closes=closes,
        source=where,
    )


def load_challenges(path: Path) -> list[Challenge]:
    """Challenges from a YAML file (one mapping, or a list of them) or a CSV (one a row)."""
    if not path.is_file():
        raise OpportunityError(f"{path}: no such challenge file")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = [k for k in ("title",) if k not in (reader.fieldnames or [])]
        if missing:
            raise OpportunityError(f"{path}: the CSV has no {missing[0]!r} column")
        return [
            _challenge({k: v for k, v in row.items() if k}, f"{path}, line {n}")
            for n, row in enumerate(reader, start=2)
        ]
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OpportunityError(f"{path}: not valid YAML ({exc})") from None
    records = data if isinstance(data, list) else [data]
    challenges = []
    for n, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise OpportunityError(f"{path}: challenge {n} is not a mapping of keys to values")
        challenges.append(_challenge(record, f"{path}, challenge {n}"))
    return challenges


def challenge_opportunity(challenge: Challenge, today: dt.date) -> dict[str, Any]:
    """A challenge in the shape of every other opportunity."""
    division = challenge.cpv[0][:2] if challenge.cpv else None
    return {
        "kind": "challenge",
        "id": challenge.id,
        "stage": "challenge",
        "stage_label": STAGE_LABELS["challenge"],
        "notice_form": None,
        "title": challenge.title,
        "description": challenge.description,
        "buyer_id": None,
        "buyer_name": None,
        "la_registry_code": None,
        "place": challenge.place,
        "region": None,
        "cpv": challenge.cpv,
        "theme": _theme(division),
        "value": challenge.value,
        "value_is_ceiling": False,
        "currency": "GBP",
        "closes": challenge.closes,
        "days_left": _days(challenge.closes, today),
        "suitable_sme": None,
        "suitable_vcse": None,
        "url": None,
        "published": None,
        "source": challenge.source,
    }


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpportunityFilter:
    stages: Sequence[str] = ()
    councils: frozenset[str] | None = None  # registry codes of a place (buyer's council)
    place_name: str | None = None
    theme: str | None = None
    closing_within_days: int | None = None
    expiring_within_days: int | None = None
    suitable_for: str | None = None  # sme | vcse


def _keep(o: Mapping[str, Any], f: OpportunityFilter) -> bool:
    if f.councils is not None:
        if o["kind"] == "challenge":
            if not o["place"] or not f.place_name or o["place"].lower() != f.place_name.lower():
                return False
        elif not buyer_in_councils(o["buyer_name"], o["la_registry_code"], f.councils):
            return False
    if f.theme and o["theme"].lower() != f.theme.lower():
        return False
    if f.closing_within_days is not None:
        if o["stage"] not in ("open", "challenge") or o["days_left"] is None:
            return False
        if not 0 <= o["days_left"] <= f.closing_within_days:
            return False
    if f.suitable_for == "sme" and not (o["suitable_sme"] or o.get("incumbent_sme")):
        return False
    return f.suitable_for != "vcse" or bool(o["suitable_vcse"] or o.get("incumbent_vcse"))


def list_opportunities(
    con: duckdb.DuckDBPyConnection,
    today: dt.date,
    flt: OpportunityFilter,
    challenges: Iterable[Challenge] = (),
) -> list[dict[str, Any]]:
    """Opportunities kept by the filter, soonest deadline (or contract end) first.

    With no stage, the live ones (pipeline, engagement, planned, open) and every challenge;
    with ``expiring_within_days`` and no stage, the expiring contracts only.
    """
    unknown = [s for s in flt.stages if s not in ALL_STAGES]
    if unknown:
        raise OpportunityError(f"unknown stage {unknown[0]!r}: choose from {', '.join(ALL_STAGES)}")
    if flt.suitable_for not in (None, "sme", "vcse"):
        raise OpportunityError(f"--suitable-for must be sme or vcse, not {flt.suitable_for!r}")
    stages = set(flt.stages)
    if not stages:
        stages = (
            set(EXPIRY_STAGES)
            if flt.expiring_within_days is not None
            else {
                *LIVE_STAGES,
                "challenge",
            }
        )
    found: list[dict[str, Any]] = []
    if stages & set(NOTICE_STAGES):
        found += [o for o in notice_opportunities(con, today) if o["stage"] in stages]
    if stages & set(EXPIRY_STAGES):
        window = flt.expiring_within_days if flt.expiring_within_days is not None else 365
        found += [o for o in expiring_contracts(con, today, window) if o["stage"] in stages]
    if "challenge" in stages:
        found += [challenge_opportunity(c, today) for c in challenges]
    kept = [o for o in found if _keep(o, flt)]
    far = dt.date.max

    def order(o: Mapping[str, Any]) -> tuple[int, dt.date, str]:
        when = o.get("end_date") or o.get("closes") or far
        return (ALL_STAGES.index(o["stage"]), when, o["id"])

    return sorted(kept, key=order)


def release_cpv_codes(release: Mapping[str, Any]) -> list[str]:
    """Every CPV code a release names: the tender's classification, its items' and their
    additional classifications (the requirements a consortium must cover)."""
    tender = release.get("tender")
    if not isinstance(tender, Mapping):
        return []
    found: list[str] = []
    classifications: list[Any] = [tender.get("classification")]
    for item in tender.get("items") or []:
        if isinstance(item, Mapping):
            classifications.append(item.get("classification"))
            classifications += list(item.get("additionalClassifications") or [])
    for c in classifications:
        if not isinstance(c, Mapping) or str(c.get("scheme") or "CPV").upper() != "CPV":
            continue
        head = str(c.get("id") or "").split("-")[0].strip()
        if re.fullmatch(r"\d{8}", head) and head not in found:
            found.append(head)
    return found


def find_opportunity(
    con: duckdb.DuckDBPyConnection,
    key: str,
    today: dt.date,
    challenges: Iterable[Challenge] = (),
) -> dict[str, Any]:
    """One opportunity by OCID, challenge id (``challenge:slug``) or challenge title."""
    for c in challenges:
        if key in (c.id, c.title) or key.lower() == c.title.lower():
            return challenge_opportunity(c, today)
    found = notice_opportunities(con, today, [key])
    if found:
        opportunity = found[0]
        compiled = con.execute(
            "SELECT compiled_release FROM processes WHERE ocid = ?", [key]
        ).fetchall()
        if compiled and compiled[0][0]:
            release = orjson.loads(compiled[0][0])
            for code in release_cpv_codes(release):
                if code not in opportunity["cpv"]:
                    opportunity["cpv"].append(code)
        return opportunity
    duplicate = con.execute(
        "SELECT duplicate_of FROM duplicate_processes WHERE ocid = ?", [key]
    ).fetchall()
    if duplicate:
        raise OpportunityError(
            f"{key!r} is a copy of {duplicate[0][0]!r}, which is counted instead: use that OCID"
        )
    raise OpportunityError(
        f"no process or challenge called {key!r}: give an OCID from `locality opportunities`"
        " or a challenge title with --challenges FILE"
    )
