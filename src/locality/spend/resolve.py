"""Spend suppliers resolved to the organisations of the contract data, never silently.

A spend supplier is a distinct (``supplier_name_normalised``, ``company_number``,
``charity_number``) of ``spend_payments`` (redacted payees are never resolved). Evidence, in
order, recorded in ``spend_supplier_matches`` with its ``method`` and ``score``:

1. ``exact_number``: the company number (zero-padded to 8 by the reader) equals an
   organisation's ``GB-COH`` identifier, or the charity number its ``GB-CHC`` (``SC…``:
   ``GB-SC``) identifier. Score 100.
2. ``name``: the normalised name (``identity.normalise_name``: case, punctuation, Ltd/Limited,
   &/and) equals an organisation's normalised name; a "t/a" or "trading as" name is tried
   whole, then each side of it. Score 100.
3. ``fuzzy``: rapidfuzz ``token_sort_ratio`` of the normalised names at least
   ``FUZZY_CUTOFF`` (92 of 100: word order and a letter or two may differ, not a word),
   only for names of ``FUZZY_MIN_LENGTH`` characters or more, and only when every word has
   a counterpart in the other name (``words_agree``). Score as computed.

A name or fuzzy match is refused when both sides carry different company numbers. Several
organisations with one normalised name: the one with an identifier, then the most supplier
processes, then the smallest ``org_id``.

``resolve_suppliers`` runs at the end of every ``locality ingest`` that loaded something
while the store holds spend, and on demand. Exact and name matches are recomputed each run
(cheap); fuzzy matches already recorded are kept while the key has no better match, so only
names not yet matched are scored again.

A resolved supplier inherits the organisation's scale (SME/large), VCSE flag, postcode and
local authority (``SUPPLIERS_SQL``). Facts a user adds (``add_supplier_facts``, a CSV of
name or company number → postcode, scale, VCSE) win over the organisation's, company number
facts over name facts, and apply to unresolved suppliers too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from rapidfuzz import fuzz, process

from locality.ingest.identity import normalise_name, pad_company_number
from locality.ingest.postcodes import normalise_postcode
from locality.reference import district
from locality.store import sql

FUZZY_CUTOFF = 92.0
FUZZY_MIN_LENGTH = 6
WORD_CUTOFF = 85.0
_NOISE_WORDS = frozenset({"ltd", "plc", "llp", "company", "group", "amp", "uk"})

# "t/a" and "trading as" after normalise_name ("/" became a space).
_TRADING_AS = re.compile(r"^(.+?) (?:t a|t as|trading as) (.+)$")

KEY = ("supplier_name_normalised", "company_number", "charity_number")
_KEY_JOIN = " AND ".join(f"m.{c} IS NOT DISTINCT FROM k.{c}" for c in KEY)

# One row per spend supplier key, with the organisation it resolved to and what the
# supplier is known to be: user facts (by company number, then name) before the
# organisation's own fields. ``scale`` is sme | large | NULL (unknown).
SUPPLIERS_SQL = f"""
    SELECT k.supplier_name_normalised, k.company_number, k.charity_number,
           m.org_id, m.method, m.score,
           coalesce(fc.scale, fn.scale,
                    CASE WHEN o.scale IN ('sme', 'large') THEN o.scale END) AS scale,
           coalesce(fc.vcse, fn.vcse, o.vcse) AS vcse,
           coalesce(fc.postcode, fn.postcode, o.postcode) AS postcode,
           coalesce(fc.la_registry_code, fn.la_registry_code, o.la_registry_code)
               AS la_registry_code,
           coalesce(fc.la_name, fn.la_name, o.la_name) AS la_name,
           (fc.source_file IS NOT NULL OR fn.source_file IS NOT NULL) AS has_facts
    FROM (SELECT DISTINCT {", ".join(KEY)} FROM spend_payments WHERE NOT redacted) k
    LEFT JOIN spend_supplier_matches m ON {_KEY_JOIN}
    LEFT JOIN organisations o ON o.org_id = m.org_id
    LEFT JOIN supplier_facts fc ON fc.company_number = k.company_number
    LEFT JOIN supplier_facts fn
           ON fn.name_normalised = k.supplier_name_normalised AND fn.company_number IS NULL
"""


class SupplierFactsError(ValueError):
    """A supplier facts CSV that cannot be used; the message names the file and line."""


@dataclass
class ResolveSummary:
    suppliers: int = 0
    matched: dict[str, int] = field(default_factory=dict)  # method -> suppliers
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "suppliers": self.suppliers,
            "matched": dict(self.matched),
            "unmatched": self.suppliers - sum(self.matched.values()),
            "fuzzy_cutoff": FUZZY_CUTOFF,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Org:
    org_id: str
    name: str
    company_number: str | None


def name_variants(key: str) -> list[str]:
    """The normalised name, then each side of a "t/a" (trading as) in it."""
    variants = [key]
    match = _TRADING_AS.match(key)
    if match:
        variants += [match.group(1).strip(), match.group(2).strip()]
    return [v for v in variants if v]


def _organisations(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[tuple[str, str], _Org], dict[str, _Org]]:
    by_number: dict[tuple[str, str], _Org] = {}
    by_name: dict[str, _Org] = {}
    # Best first: organisations known by an identifier, then the most supplier processes.
    for org_id, scheme, identifier, name in sql.rows(
        con,
        """
        SELECT org_id, scheme, identifier, name FROM organisations
        ORDER BY identity_method = 'name', coalesce(supplier_processes, 0) DESC, org_id
        """,
    ):
        number = identifier if scheme == "GB-COH" else None
        org = _Org(org_id, name or "", number)
        if scheme and identifier:
            by_number.setdefault((scheme, identifier), org)
        key = normalise_name(name) if name else ""
        if key:
            by_name.setdefault(key, org)
    return by_number, by_name


def _number_keys(company: str | None, charity: str | None) -> list[tuple[str, str]]:
    keys = []
    if company:
        keys.append(("GB-COH", pad_company_number(company)))
    if charity:
        value = charity.strip().upper()
        keys.append(("GB-SC" if value.startswith("SC") else "GB-CHC", value))
    return keys


def _conflicts(company: str | None, org: _Org) -> bool:
    return bool(company and org.company_number and org.company_number != company)


def resolve_suppliers(
    con: duckdb.DuckDBPyConnection, *, fuzzy_cutoff: float = FUZZY_CUTOFF
) -> ResolveSummary:
    """Match every spend supplier to an organisation where the evidence allows; record how."""
    import time

    started = time.perf_counter()
    summary = ResolveSummary()
    keys = sql.rows(
        con,
        f"""
        SELECT DISTINCT {", ".join(KEY)} FROM spend_payments
        WHERE NOT redacted AND (supplier_name_normalised IS NOT NULL
              OR company_number IS NOT NULL OR charity_number IS NOT NULL)
        """,
    )
    summary.suppliers = len(keys)
    by_number, by_name = _organisations(con)
    known_ids = {org.org_id for org in by_name.values()} | {o.org_id for o in by_number.values()}
    earlier = {
        (name, company, charity): (org_id, score, matched)
        for name, company, charity, org_id, score, matched in sql.rows(
            con,
            f"SELECT {', '.join(KEY)}, org_id, score, matched_name "
            "FROM spend_supplier_matches WHERE method = 'fuzzy'",
        )
    }
    matches: list[tuple[Any, ...]] = []
    pending: list[tuple[str | None, str | None, str | None]] = []
    for name, company, charity in keys:
        found: tuple[_Org, str] | None = None
        for number_key in _number_keys(company, charity):
            if number_key in by_number:
                found = (by_number[number_key], "exact_number")
                break
        if found is None and name:
            for variant in name_variants(name):
                org = by_name.get(variant)
                if org is not None and not _conflicts(company, org):
                    found = (org, "name")
                    break
        if found is not None:
            org, method = found
            matches.append((name, company, charity, org.org_id, method, 100.0, org.name))
        elif name:
            pending.append((name, company, charity))
    choices = list(by_name)
    for name, company, charity in pending:
        kept = earlier.get((name, company, charity))
        if kept is not None and kept[0] in known_ids:
            matches.append((name, company, charity, kept[0], "fuzzy", kept[1], kept[2]))
            continue
        best = _fuzzy(name or "", choices, by_name, company, fuzzy_cutoff)
        if best is not None:
            org, score = best
            matches.append((name, company, charity, org.org_id, "fuzzy", score, org.name))
    _replace_matches(con, matches)
    for row in matches:
        summary.matched[row[4]] = summary.matched.get(row[4], 0) + 1
    summary.seconds = time.perf_counter() - started
    return summary


def words_agree(left: str, right: str) -> bool:
    """Every word of each name has a counterpart in the other: the same word, a spelling
    within ``WORD_CUTOFF`` (``enviroment``/``environment``), or an abbreviation of three
    letters or more (``fin``/``finance``); legal and noise words (``ltd``, ``amp`` of an
    escaped ``&amp;``) need none. Keeps "Warrington Borough Council" from "Darlington
    Borough Council", which a whole-name score alone passes."""
    a = [w for w in left.split() if w not in _NOISE_WORDS]
    b = [w for w in right.split() if w not in _NOISE_WORDS]
    return _covered(a, b) and _covered(b, a)


def _covered(words: list[str], others: list[str]) -> bool:
    for word in words:
        if word in others:
            continue
        if not any(
            fuzz.ratio(word, other) >= WORD_CUTOFF
            or (
                min(len(word), len(other)) >= 3
                and (other.startswith(word) or word.startswith(other))
            )
            for other in others
        ):
            return False
    return True


def _fuzzy(
    name: str,
    choices: list[str],
    by_name: dict[str, _Org],
    company: str | None,
    cutoff: float,
) -> tuple[_Org, float] | None:
    best: tuple[_Org, float] | None = None
    for variant in name_variants(name):
        if len(variant) < FUZZY_MIN_LENGTH:
            continue
        for choice, score, _ in process.extract(
            variant, choices, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=5
        ):
            if len(choice) < FUZZY_MIN_LENGTH:
                continue
            org = by_name[choice]
            if _conflicts(company, org) or not words_agree(variant, choice):
                continue
            if best is None or score > best[1]:
                best = (org, round(float(score), 2))
            break
    return best


def _replace_matches(con: duckdb.DuckDBPyConnection, matches: list[tuple[Any, ...]]) -> None:
    names = (*KEY, "org_id", "method", "score", "matched_name")
    table = pa.table(
        {n: pa.array([row[i] for row in matches], type=_type(n)) for i, n in enumerate(names)}
    )
    con.begin()
    try:
        sql.run(con, "DELETE FROM spend_supplier_matches")
        con.register("new_supplier_matches", table)
        try:
            sql.run(
                con,
                f"INSERT INTO spend_supplier_matches SELECT {', '.join(names)}, now() "
                "FROM new_supplier_matches",
            )
        finally:
            con.unregister("new_supplier_matches")
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _type(name: str) -> pa.DataType:
    return pa.float64() if name == "score" else pa.string()


def resolution_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How much spend reached a resolved supplier: suppliers and net amount, by method."""
    total_suppliers, total_amount, named_amount = sql.one(
        con,
        f"""
        SELECT (SELECT count(*) FROM (SELECT DISTINCT {", ".join(KEY)} FROM spend_payments
                                      WHERE NOT redacted)),
               coalesce(sum(amount_net), 0),
               coalesce(sum(amount_net) FILTER (WHERE NOT redacted), 0)
        FROM spend_payments
        """,
    )
    by_method = {
        method: {"suppliers": int(n), "amount": round(float(amount), 2)}
        for method, n, amount in sql.rows(
            con,
            f"""
            WITH k AS (
                SELECT {", ".join(KEY)}, sum(amount_net) AS amount
                FROM spend_payments WHERE NOT redacted GROUP BY ALL
            )
            SELECT m.method, count(*), sum(k.amount)
            FROM k JOIN spend_supplier_matches m ON {_KEY_JOIN}
            GROUP BY ALL ORDER BY 1
            """,
        )
    }
    resolved = sum(v["amount"] for v in by_method.values())
    return {
        "suppliers": int(total_suppliers),
        "resolved_suppliers": sum(v["suppliers"] for v in by_method.values()),
        "total_amount": round(float(total_amount), 2),
        "named_amount": round(float(named_amount), 2),
        "resolved_amount": round(resolved, 2),
        "resolved_share": resolved / float(total_amount) if total_amount else None,
        "by_method": by_method,
        "fuzzy_cutoff": FUZZY_CUTOFF,
    }


# Supplier facts CSV ------------------------------------------------------------------

_FACT_COLUMNS = {
    "name": ("name", "suppliername", "supplier"),
    "company_number": ("companynumber", "companyno", "company", "companieshousenumber"),
    "postcode": ("postcode", "postalcode"),
    "scale": ("scale", "size", "sme"),
    "vcse": ("vcse", "isvcse", "charity"),
}
_SCALES = {"sme": "sme", "small": "sme", "micro": "sme", "medium": "sme", "large": "large"}
_FLAGS = {"y": True, "yes": True, "true": True, "1": True, "n": False, "no": False}
_FLAGS |= {"false": False, "0": False}


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def read_supplier_facts(path: Path) -> list[tuple[Any, ...]]:
    """Rows of a facts CSV as ``supplier_facts`` rows; errors name the file and line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("cp1252", errors="replace")
    except OSError as exc:
        raise SupplierFactsError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise SupplierFactsError(f"{path}: empty file")
    index: dict[str, int] = {}
    for position, heading in enumerate(header):
        key = _header_key(heading)
        for name, variants in _FACT_COLUMNS.items():
            if key in variants and name not in index:
                index[name] = position
    if "name" not in index and "company_number" not in index:
        raise SupplierFactsError(
            f"{path}: needs a name or company_number column "
            "(and any of postcode, scale, vcse); found: " + ", ".join(header)
        )
    rows: list[tuple[Any, ...]] = []
    source = str(path.resolve())
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(column: str, cells: list[str] = cells) -> str:
            i = index.get(column)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        number = pad_company_number(cell("company_number")) or None
        name_key = normalise_name(cell("name")) or None
        if number is None and name_key is None:
            raise SupplierFactsError(f"{path}:{line}: no name or company number")
        postcode = None
        la: tuple[str | None, str | None, str | None] = (None, None, None)
        if cell("postcode"):
            postcode = normalise_postcode(cell("postcode"))
            if postcode is None:
                raise SupplierFactsError(f"{path}:{line}: not a UK postcode: {cell('postcode')!r}")
            found = district(postcode.partition(" ")[0])
            if found is not None:
                la = (found.la_code, found.la_name, found.la_registry_code)
        scale = None
        if cell("scale"):
            scale = _SCALES.get(cell("scale").casefold())
            if scale is None:
                raise SupplierFactsError(
                    f"{path}:{line}: scale {cell('scale')!r}: write sme, micro, small, "
                    "medium or large"
                )
        vcse = None
        if cell("vcse"):
            vcse = _FLAGS.get(cell("vcse").casefold())
            if vcse is None:
                raise SupplierFactsError(f"{path}:{line}: vcse {cell('vcse')!r}: write yes or no")
        rows.append(
            (number, None if number else name_key, postcode, scale, vcse, *la, source, line)
        )
    return rows


def add_supplier_facts(con: duckdb.DuckDBPyConnection, paths: Iterable[Path]) -> int:
    """Load facts CSVs: a later fact for the same company number or name replaces the earlier."""
    rows = [row for path in paths for row in read_supplier_facts(Path(path))]
    con.begin()
    try:
        for row in rows:
            sql.run(
                con,
                "DELETE FROM supplier_facts WHERE company_number IS NOT DISTINCT FROM ? "
                "AND name_normalised IS NOT DISTINCT FROM ?",
                [row[0], row[1]],
            )
            sql.run(con, "INSERT INTO supplier_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return len(rows)
