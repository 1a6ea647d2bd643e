"""Supplier profiles, built from what each organisation has won (never typed in).

``load_history`` reads every counted award (status active or unpublished, duplicates once)
with each named supplier: one row per award and supplier, with the date, the buyer, the
CPV code, the title and description, and the part of the value reaching that supplier
when the award's value is money awarded (``counts_as = 'awarded'``; a framework's or DPS's
value is a ceiling shared by many suppliers and never capacity). ``profiles`` folds the
rows before a date (all of them by default) into one profile per supplier: CPV codes with
their parents, text, buyers, place, value range, largest single counted award (its
capacity: what it has shown it can deliver), scale and VCSE status.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from locality.reference import cpv as cpv_entry


@dataclass
class History:
    """Counted awards × named suppliers (column lists of equal length) and the suppliers."""

    supplier: list[str]
    ocid: list[str]
    award_id: list[str]
    date: list[dt.date | None]
    part: list[float | None]  # money reaching the supplier; None unless counts_as awarded
    counts_as: list[str]
    buyer_id: list[str | None]
    buyer_name: list[str | None]
    cpv: list[str | None]
    title: list[str]
    description: list[str]
    tender_value: list[float | None]
    buyer_la: list[str | None]
    organisations: dict[str, dict[str, Any]] = field(default_factory=dict)
    _terms: tuple[list[npt.NDArray[np.int64]], dict[str, int]] | None = field(
        default=None, repr=False
    )

    def __len__(self) -> int:
        return len(self.supplier)

    @classmethod
    def empty(cls) -> History:
        """A history with no rows yet, each column an empty list to append to (the bench
        builds one from a notice file or at random)."""
        required = (f for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
        columns: dict[str, Any] = {f.name: [] for f in required}
        return cls(**columns)

    def row_terms(self) -> tuple[list[npt.NDArray[np.int64]], dict[str, int]]:
        """Each row's words (title, description, CPV label) as term ids in one vocabulary,
        tokenised once and kept: the replay rebuilds the index for every award date."""
        if self._terms is None:
            from locality.matching.text import tokens

            vocabulary: dict[str, int] = {}
            rows = [
                np.asarray(
                    [
                        vocabulary.setdefault(t, len(vocabulary))
                        for t in tokens(supplier_text(self, [i]))
                    ],
                    dtype=np.int64,
                )
                for i in range(len(self))
            ]
            self._terms = (rows, vocabulary)
        return self._terms

    def ordinal_dates(self) -> npt.NDArray[np.int64]:
        """Each row's date as a day number (-1 when unknown), for date cut-offs."""
        return np.array([d.toordinal() if d else -1 for d in self.date], dtype=np.int64)


_HISTORY_SQL = """
SELECT s.org_id, a.ocid, a.award_id,
       coalesce(a.award_date, p.first_date)::DATE AS day,
       CASE WHEN a.counts_as = 'awarded' AND a.currency = 'GBP'
            THEN coalesce(s.value_share, a.value / greatest(a.supplier_count, 1)) END AS part,
       coalesce(a.counts_as, 'unknown') AS counts_as,
       p.buyer_org_id, coalesce(b.name, p.buyer_name) AS buyer_name, p.cpv_code,
       coalesce(p.title_clean, p.title, a.title, '') AS title,
       coalesce(p.description_clean, p.description, '') AS description,
       p.tender_value, b.la_registry_code AS buyer_la
FROM awards a
JOIN award_suppliers s ON s.ocid = a.ocid AND s.award_id = a.award_id
JOIN processes p ON p.ocid = a.ocid
LEFT JOIN organisations b ON b.org_id = p.buyer_org_id
WHERE coalesce(a.status, 'active') = 'active' AND s.org_id IS NOT NULL
  AND a.ocid NOT IN (SELECT ocid FROM duplicate_processes)
ORDER BY day NULLS FIRST, a.ocid, a.award_id, s.position
"""

# An organisation's size is its own record's (``organisations.scale``), else what the most
# recent notice naming it said: one notice's "SME" must not outweigh the rest (a max over
# notices would, as 'sme' sorts after 'large'). VCSE status as the record says, else any
# notice.
_ORGANISATIONS_SQL = """
SELECT o.org_id, o.name, o.postcode, o.la_registry_code, o.la_name, o.region_name,
       coalesce(
           nullif(o.scale, 'unknown'),
           (SELECT arg_max(pp.scale, coalesce(pp.observed_date, p.last_date))
            FROM process_parties pp JOIN processes p ON p.ocid = pp.ocid
            WHERE pp.org_id = o.org_id AND pp.scale IN ('sme', 'large'))) AS scale,
       coalesce(o.vcse, (SELECT bool_or(pp.vcse) FROM process_parties pp
                         WHERE pp.org_id = o.org_id)) AS vcse
FROM organisations o WHERE o.supplier_processes > 0
"""


def load_history(con: duckdb.DuckDBPyConnection) -> History:
    """Every counted award × named supplier in the store, oldest first (unknown dates first)."""
    rows = con.execute(_HISTORY_SQL).fetchall()
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 13
    orgs = con.execute(_ORGANISATIONS_SQL).fetchall()
    organisations = {
        r[0]: {
            "id": r[0],
            "name": r[1],
            "postcode": r[2],
            "la_registry_code": r[3],
            "place": r[4],
            "region": r[5],
            "scale": r[6] or "unknown",
            "vcse": r[7],
        }
        for r in orgs
    }
    return History(
        supplier=list(columns[0]),
        ocid=list(columns[1]),
        award_id=list(columns[2]),
        date=list(columns[3]),
        part=[None if v is None or not np.isfinite(v) else float(v) for v in columns[4]],
        counts_as=list(columns[5]),
        buyer_id=list(columns[6]),
        buyer_name=list(columns[7]),
        cpv=list(columns[8]),
        title=[t or "" for t in columns[9]],
        description=[t or "" for t in columns[10]],
        tender_value=list(columns[11]),
        buyer_la=list(columns[12]),
        organisations=organisations,
    )


def cpv_with_parents(code: str) -> list[str]:
    """A CPV code and its ancestors: ``45233141`` → ``45233141, 45233140, 45233100,
    45233000, 45230000, 45200000, 45000000`` (division, group, class, category and below:
    the hierarchy is the code's significant digits)."""
    code = code[:8]
    significant = len(code.rstrip("0"))
    return [code[:n].ljust(8, "0") for n in range(max(significant, 2), 1, -1)]


def cpv_label(code: str | None) -> str | None:
    if not code:
        return None
    entry = cpv_entry(code)
    return entry.description if entry else None


# The profile's fields its JSON carries as they are, in the JSON's order.
_AS_IS = ("id", "name", "scale", "vcse", "place", "la_registry_code", "region", "awards")


@dataclass
class Profile:
    """What one supplier has shown, from its counted awards before a date."""

    id: str
    name: str | None
    scale: str
    vcse: bool | None
    la_registry_code: str | None
    place: str | None
    region: str | None
    # A profile starts with no award: the history adds them one by one, and a listed
    # organisation (no award history) keeps these.
    awards: int = 0
    cpv: Counter[str] = field(default_factory=Counter)  # codes with parents, per award
    buyers: Counter[str] = field(default_factory=Counter)
    places_served: Counter[str] = field(default_factory=Counter)  # buyers' councils
    smallest: float | None = None
    largest: float | None = None  # largest single counted award: its capacity
    total: float = 0.0
    rows: list[int] = field(default_factory=list)  # History rows (awards justifying a match)
    declared: str = ""  # what a listed organisation says it does (no award history)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _AS_IS},
            "cpv": [
                {"code": c, "label": cpv_label(c), "awards": n} for c, n in self.cpv.most_common()
            ],
            "buyers": dict(self.buyers.most_common()),
            "places_served": dict(self.places_served.most_common()),
            "value_range": [self.smallest, self.largest],
            "capacity": self.largest,
            "total_awarded": self.total,
            "declared": self.declared or None,
        }


def profiles(history: History, before: dt.date | None = None) -> dict[str, Profile]:
    """One profile per supplier from the rows dated before ``before`` (all rows when None;
    rows with no date only then, since they cannot be placed before anything)."""
    found: dict[str, Profile] = {}
    for i, supplier in enumerate(history.supplier):
        day = history.date[i]
        if before is not None and (day is None or day >= before):
            continue
        p = found.get(supplier)
        if p is None:
            org: Mapping[str, Any] = history.organisations.get(supplier, {})
            p = found[supplier] = Profile(
                id=supplier,
                name=org.get("name"),
                scale=org.get("scale") or "unknown",
                vcse=org.get("vcse"),
                la_registry_code=org.get("la_registry_code"),
                place=org.get("place"),
                region=org.get("region"),
            )
        p.awards += 1
        p.rows.append(i)
        if history.cpv[i]:
            p.cpv.update(cpv_with_parents(history.cpv[i]))  # type: ignore[arg-type]
        if history.buyer_id[i]:
            p.buyers[history.buyer_id[i]] += 1  # type: ignore[index]
        if history.buyer_la[i]:
            p.places_served[history.buyer_la[i]] += 1  # type: ignore[index]
        part = history.part[i]
        if part is not None and part > 0:
            p.total += part
            p.largest = part if p.largest is None else max(p.largest, part)
            p.smallest = part if p.smallest is None else min(p.smallest, part)
    return found


def supplier_text(history: History, rows: list[int]) -> str:
    """A supplier's document: the titles, descriptions and CPV labels of its awards."""
    parts = []
    for i in rows:
        parts.append(history.title[i])
        parts.append(history.description[i][:2000])
        label = cpv_label(history.cpv[i])
        if label:
            parts.append(label)
    return " ".join(parts)


LIST_COLUMNS = ("id", "name", "postcode", "cpv", "description", "scale", "vcse")


class OrganisationListError(ValueError):
    """A bad organisation list; the message names the file, the line and the reason."""


def _flag(text: str, where: str) -> bool | None:
    folded = text.strip().lower()
    if folded in ("", "unknown"):
        return None
    if folded in ("yes", "y", "true", "1"):
        return True
    if folded in ("no", "n", "false", "0"):
        return False
    raise OrganisationListError(f"{where}: vcse {text!r} is not yes or no")


def load_organisation_list(path: Any) -> list[Profile]:
    """Organisations with no award history yet, from a CSV (columns ``name`` (required),
    ``id``, ``postcode``, ``cpv`` (codes separated by ``;`` or spaces), ``description``,
    ``scale`` (sme or large), ``vcse`` (yes or no)): profiles from what they declare, so a
    new VCSE can be matched before it has won anything."""
    import csv
    import re
    from pathlib import Path

    from locality.domain.names import normalise_name
    from locality.domain.postcodes import normalise_postcode, outward_code
    from locality.reference import district

    file = Path(path)
    if not file.is_file():
        raise OrganisationListError(f"{file}: no such organisation list")
    reader = csv.DictReader(file.read_text(encoding="utf-8-sig").splitlines())
    if "name" not in (reader.fieldnames or []):
        raise OrganisationListError(f"{file}: the CSV has no 'name' column")
    found = []
    for n, row in enumerate(reader, start=2):
        where = f"{file}, line {n}"
        name = (row.get("name") or "").strip()
        if not name:
            raise OrganisationListError(f"{where}: an organisation needs a name")
        codes: Counter[str] = Counter()
        for code in re.split(r"[;,\s]+", row.get("cpv") or ""):
            head = code.split("-")[0].strip()
            if not head:
                continue
            if not re.fullmatch(r"\d{8}", head) or cpv_entry(head) is None:
                raise OrganisationListError(f"{where}: {code!r} is not a CPV 2008 code")
            codes.update(cpv_with_parents(head))
        scale = (row.get("scale") or "").strip().lower() or "unknown"
        if scale not in ("sme", "large", "unknown"):
            raise OrganisationListError(f"{where}: scale {scale!r} is not sme or large")
        council = place = region = None
        postcode = normalise_postcode(row.get("postcode") or "")
        if postcode:
            found_district = district(outward_code(postcode))
            if found_district is not None:
                council = found_district.la_registry_code
                place, region = found_district.la_name, found_district.region_name
        labels = [cpv_label(c) or "" for c in codes if len(c.rstrip("0")) >= 5]
        found.append(
            Profile(
                id=(row.get("id") or "").strip() or f"listed:{normalise_name(name)}",
                name=name,
                scale=scale,
                vcse=_flag(row.get("vcse") or "", where),
                la_registry_code=council,
                place=place,
                region=region,
                cpv=codes,
                declared=" ".join([row.get("description") or "", *labels]).strip(),
            )
        )
    return found
