"""Every form an OCDS file can take gives the same store as the plain JSON Lines of releases.

Each form is built in ``tmp_path`` from the real Contracts Finder releases of the bundled
sample, ingested into a fresh store, and its process tables compared row for row with the
store made from the JSON Lines file itself.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import locality.ingest.ocds as ocds
from locality.domain.identity import identify
from locality.ingest.merge import compile_releases
from locality.ingest.pipeline import ingest
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_LEGACY_AWARDS, CF_LEGACY_TENDERS, CF_RELEASES
from tests.helpers import file_counts, group_by_ocid

PACKAGE_META = {
    "uri": "https://www.contractsfinder.service.gov.uk/Published/Notices/OCDS/Search",
    "publishedDate": "2025-01-23T23:00:00Z",
    "publisher": {"name": "Crown Commercial Service"},
    "version": "1.1",
}

# The tables a contracting process fills; none carries a source file or line.
QUERIES = {
    "processes": "SELECT * FROM processes ORDER BY ALL",
    "awards": "SELECT ocid, award_id, value, currency FROM awards ORDER BY ALL",
    "award_suppliers": "SELECT * FROM award_suppliers ORDER BY ALL",
}


def _raw_lines() -> list[bytes]:
    return [line for line in CF_RELEASES.read_bytes().splitlines() if line.strip()]


def _releases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _raw_lines()]


def _tables(path: Path, store: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = connect(store)
    try:
        summary = ingest(con, [path])
        assert all(f.error is None for f in summary.files), [f.error for f in summary.files]
        assert summary.totals["rejected"] == 0
        return {name: sql.rows(con, query) for name, query in QUERIES.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """The store made from the JSON Lines file of releases, as published."""
    tables = _tables(CF_RELEASES, tmp_path_factory.mktemp("jsonl") / "store.duckdb")
    # Guard: the reference is the real sample, not an empty store.
    assert len(tables["processes"]) == file_counts(CF_RELEASES)["processes"]
    assert len(tables["awards"]) > 50
    assert len(tables["award_suppliers"]) >= len(tables["awards"])
    return tables


def _package(releases: list[dict[str, Any]]) -> dict[str, Any]:
    return {**PACKAGE_META, "releases": releases}


def _record_package(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {**PACKAGE_META, "records": records}


def _write_json(path: Path, data: Any, *, indent: bool = True, gz: bool = False) -> Path:
    text = json.dumps(data, indent=2 if indent else None, ensure_ascii=False).encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


# --- the forms -------------------------------------------------------------------------------


def form_jsonl(tmp: Path) -> Path:
    path = tmp / "releases.jsonl"
    path.write_bytes(CF_RELEASES.read_bytes())
    return path


def form_release_package(tmp: Path) -> Path:
    path = _write_json(tmp / "package.json", _package(_releases()))
    assert path.read_bytes().count(b"\n") > 1000  # pretty-printed, not one line
    return path


def form_jsonl_of_packages(tmp: Path) -> Path:
    releases = _releases()
    path = tmp / "packages.jsonl"
    with path.open("wb") as handle:
        for start in range(0, len(releases), 10):
            handle.write(orjson.dumps(_package(releases[start : start + 10])) + b"\n")
    assert len(path.read_bytes().splitlines()) == 21
    return path


def form_array(tmp: Path) -> Path:
    return _write_json(tmp / "array.json", _releases())


def form_record_package_releases(tmp: Path) -> Path:
    records = [
        {"ocid": ocid, "releases": group} for ocid, group in group_by_ocid(_releases()).items()
    ]
    return _write_json(tmp / "records.json", _record_package(records))


def form_gzip_jsonl(tmp: Path) -> Path:
    path = tmp / "releases.jsonl.gz"
    path.write_bytes(gzip.compress(CF_RELEASES.read_bytes()))
    return path


def form_gzip_package(tmp: Path) -> Path:
    return _write_json(tmp / "package.json.gz", _package(_releases()), gz=True)


def form_gzip_array(tmp: Path) -> Path:
    return _write_json(tmp / "array.json.gz", _releases(), gz=True)


def form_gzip_named_json(tmp: Path) -> Path:
    """Gzip found by its magic bytes, though the name says plain JSON."""
    path = _write_json(tmp / "package.json", _package(_releases()), gz=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    return path


def form_gzip_jsonl_named_jsonl(tmp: Path) -> Path:
    path = tmp / "releases.jsonl"
    path.write_bytes(gzip.compress(CF_RELEASES.read_bytes()))
    return path


def form_directory(tmp: Path) -> Path:
    """Several forms in subfolders: the halves of the data, plus a full copy in another form."""
    lines = _raw_lines()
    releases = [json.loads(line) for line in lines]
    half = len(lines) // 2
    root = tmp / "dir"
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    (root / "d").mkdir()
    (root / "a" / "first.jsonl").write_bytes(b"\n".join(lines[:half]) + b"\n")
    _write_json(root / "b" / "c" / "second.json", _package(releases[half:]))
    _write_json(root / "d" / "everything.json.gz", releases, gz=True)
    (root / "d" / "notes.txt").write_text("not OCDS, and not read: wrong suffix\n")
    return root


FORMS: dict[str, Callable[[Path], Path]] = {
    "jsonl": form_jsonl,
    "release-package": form_release_package,
    "jsonl-of-release-packages": form_jsonl_of_packages,
    "array": form_array,
    "record-package-releases": form_record_package_releases,
    "gzip-jsonl": form_gzip_jsonl,
    "gzip-release-package": form_gzip_package,
    "gzip-array": form_gzip_array,
    "gzip-named-json": form_gzip_named_json,
    "gzip-named-jsonl": form_gzip_jsonl_named_jsonl,
    "directory": form_directory,
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_gives_the_same_store(
    form: str, tmp_path: Path, expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    path = FORMS[form](tmp_path)
    got = _tables(path, tmp_path / "store.duckdb")
    for table in QUERIES:
        assert got[table] == expected[table], f"{form}: {table} differs"


@pytest.mark.parametrize(
    "build", [form_release_package, form_record_package_releases, form_gzip_named_json]
)
def test_streamed_documents_give_the_same_store(
    build: Callable[[Path], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    expected: dict[str, list[tuple[Any, ...]]],
) -> None:
    path = build(tmp_path)
    monkeypatch.setattr(ocds, "STREAM_THRESHOLD_BYTES", 64)
    streamed: list[str] = []
    real_stream = ocds._stream_document

    def spy(p: Path) -> Any:
        streamed.append(p.name)
        return real_stream(p)

    monkeypatch.setattr(ocds, "_stream_document", spy)
    got = _tables(path, tmp_path / "store.duckdb")
    assert streamed == [path.name]  # the ijson path was really taken
    for table in QUERIES:
        assert got[table] == expected[table], f"{path.name}: {table} differs"


def test_record_package_of_compiled_releases(
    tmp_path: Path, expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    """One compiled release per OCID: the processes and awards are the same."""
    records = [
        {"ocid": ocid, "compiledRelease": compile_releases(group)}
        for ocid, group in group_by_ocid(_releases()).items()
    ]
    path = _write_json(tmp_path / "compiled-records.json", _record_package(records))
    con = connect(tmp_path / "store.duckdb")
    try:
        summary = ingest(con, [path])
        processes = file_counts(CF_RELEASES)["processes"]
        assert summary.files[0].kept == processes
        assert sql.one(con, "SELECT count(*) FROM releases")[0] == processes
        assert sql.rows(con, QUERIES["awards"]) == expected["awards"]
        assert sql.rows(con, QUERIES["award_suppliers"]) == expected["award_suppliers"]
        # release_count and first_date describe the releases read, which legitimately differ.
        # So do the notice form and stage: a compiled release is no notice of its own.
        columns = "* EXCLUDE (release_count, first_date, compiled_release, notice_form, stage)"
        got = sql.rows(con, f"SELECT {columns} FROM processes ORDER BY ALL")
    finally:
        con.close()
    reference = connect(tmp_path / "reference.duckdb")
    try:
        ingest(reference, [CF_RELEASES])
        want = sql.rows(reference, f"SELECT {columns} FROM processes ORDER BY ALL")
    finally:
        reference.close()
    assert len(got) == processes
    assert got == want


def test_jsonl_form_reads_every_line(tmp_path: Path) -> None:
    con = connect(tmp_path / "store.duckdb")
    try:
        summary = ingest(con, [CF_RELEASES])
        counts = file_counts(CF_RELEASES)
        assert summary.files[0].records_read == counts["records_read"]
        assert summary.files[0].kept == counts["kept"]
        lines = sql.rows(con, "SELECT source_line FROM releases ORDER BY source_line")
    finally:
        con.close()
    assert [line for (line,) in lines] == list(range(1, 207))


# --- the legacy Contracts Finder layouts -----------------------------------------------------


def _latest_versions(path: Path) -> dict[str, dict[str, Any]]:
    """Per OCID, the release that wins: latest date, then latest in the file."""
    latest: dict[str, tuple[str, int, dict[str, Any]]] = {}
    for position, line in enumerate(path.read_bytes().splitlines()):
        if not line.strip():
            continue
        release = json.loads(line)
        key = (release.get("date") or "", position)
        held = latest.get(release["ocid"])
        if held is None or key >= held[:2]:
            latest[release["ocid"]] = (*key, release)
    return {ocid: held[2] for ocid, held in latest.items()}


def _legacy_suppliers() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(ocid, award id) -> suppliers of the latest version of that award, from the raw file."""
    awards: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ocid, release in _latest_versions(CF_LEGACY_AWARDS).items():
        for award in release.get("awards") or []:
            awards[(ocid, str(award["id"]))] = list(award.get("suppliers") or [])
    return awards


@pytest.fixture(scope="module")
def legacy_award_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("legacy-awards") / "store.duckdb"
    con = connect(path)
    try:
        summary = ingest(con, [CF_LEGACY_AWARDS])
        assert summary.totals["rejected"] == 0
    finally:
        con.close()
    return path


def _legacy_rows(store: Path, query: str) -> list[tuple[Any, ...]]:
    con = connect(store, read_only=True)
    try:
        return sql.rows(con, query)
    finally:
        con.close()


def test_legacy_awards_one_row_per_award(legacy_award_store: Path) -> None:
    raw = _legacy_suppliers()
    rows = _legacy_rows(legacy_award_store, "SELECT ocid, award_id FROM awards")
    assert sorted(rows) == sorted(raw)
    assert _legacy_rows(legacy_award_store, "SELECT DISTINCT layout FROM processes") == [
        ("cf-legacy-award",)
    ]


def _distinct_org_suppliers() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(ocid, award id) -> {org_id: raw supplier}: one entry per organisation per award.

    Legacy awards list one firm many times (once per lot: 76 listings of 33 firms in one
    framework); the store keeps one supplier row per organisation, identified as
    ``identify`` does (placeholder company numbers such as "0" fall back to the name).
    """
    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for key, suppliers in _legacy_suppliers().items():
        orgs: dict[str, dict[str, Any]] = {}
        for supplier in suppliers:
            who = identify(supplier)
            assert who is not None
            orgs[who.org_id] = supplier  # the latest listing wins, as in the merge
        out[key] = orgs
    return out


def test_legacy_award_suppliers_one_row_per_organisation(legacy_award_store: Path) -> None:
    expected = {key: len(orgs) for key, orgs in _distinct_org_suppliers().items()}
    counts = {
        (ocid, award_id): n
        for ocid, award_id, n in _legacy_rows(
            legacy_award_store, "SELECT ocid, award_id, count(*) FROM award_suppliers GROUP BY ALL"
        )
    }
    assert counts == expected
    raw_listings = sum(len(s) for s in _legacy_suppliers().values())
    assert raw_listings == 1191
    assert sum(expected.values()) < raw_listings  # repeated listings were folded


def _flags(sme: Any, vco: Any, name: str = "", identifier: Any = None) -> tuple[str, bool | None]:
    # A registered charity or a community interest company is a VCSE, whatever the notice's
    # flag says.
    scheme = (identifier or {}).get("scheme") if isinstance(identifier, dict) else None
    charity = scheme in {"GB-CHC", "GB-SC", "GB-NIC"} and (identifier or {}).get("id")
    cic = charity or re.search(
        r"\bC\.?\s?I\.?\s?C\.?(?=\s|$|\))|community interest company", name, re.I
    )
    return ("sme" if sme else "large") if isinstance(sme, bool) else "unknown", (
        True if cic else vco if isinstance(vco, bool) else None
    )


def test_legacy_supplier_flags_match_raw_flags(legacy_award_store: Path) -> None:
    raw = [s for ss in _legacy_suppliers().values() for s in ss]
    # The shared data README's counts for the 1,191 raw listings.
    assert Counter(_flags(s.get("sme"), s.get("vco")) for s in raw) == Counter(
        {("large", False): 776, ("sme", False): 389, ("sme", True): 23, ("large", True): 3}
    )
    want = Counter(
        _flags(s.get("sme"), s.get("vco"), s.get("name") or "", s.get("identifier"))
        for orgs in _distinct_org_suppliers().values()
        for s in orgs.values()
    )
    got = _legacy_rows(
        legacy_award_store,
        """
        SELECT p.scale, p.vcse, count(*) FROM award_suppliers s
        JOIN process_parties p USING (ocid, org_id) GROUP BY ALL
        """,
    )
    assert Counter({(scale, vcse): n for scale, vcse, n in got}) == want


def test_legacy_supplier_rows_carry_their_own_flags(legacy_award_store: Path) -> None:
    """Each supplier row's scale and VCSE flag are those the raw supplier of that name has."""
    raw = _legacy_suppliers()
    by_name: dict[tuple[str, str, str], set[tuple[str, bool | None]]] = defaultdict(set)
    for (ocid, award_id), suppliers in raw.items():
        for s in suppliers:
            by_name[(ocid, award_id, html.unescape(s["name"]))].add(
                _flags(s.get("sme"), s.get("vco"), s["name"], s.get("identifier"))
            )
    rows = _legacy_rows(
        legacy_award_store,
        """
        SELECT s.ocid, s.award_id, s.supplier_name, p.scale, p.vcse FROM award_suppliers s
        JOIN process_parties p USING (ocid, org_id)
        """,
    )
    assert (
        len(rows) == _legacy_rows(legacy_award_store, "SELECT count(*) FROM award_suppliers")[0][0]
    )
    seen: Counter[str] = Counter()
    for ocid, award_id, name, scale, vcse in rows:
        flags = by_name.get((ocid, award_id, name))
        assert flags, f"{name!r} is not a supplier of {ocid} award {award_id}"
        assert (scale, vcse) in flags, (ocid, name, scale, vcse, flags)
        seen[scale] += 1
    assert seen["sme"] > 300 and seen["large"] > 500 and seen["unknown"] == 0


def test_legacy_distinct_organisations_are_kept_apart(legacy_award_store: Path) -> None:
    """Two different firms in one award stay two suppliers.

    HILL DICKINSON LLP and MUCKLE LLP (line 68) both carry the placeholder company number
    ``identifier: {scheme: GB-COH, id: "0"}``; they are different organisations (and one is an
    SME, the other not).
    """
    line = CF_LEGACY_AWARDS.read_bytes().splitlines()[67]
    release = json.loads(line)
    suppliers = {s["name"]: s for a in release["awards"] for s in a["suppliers"]}
    assert suppliers["HILL DICKINSON LLP"]["identifier"]["id"] == "0"
    assert suppliers["MUCKLE LLP"]["identifier"]["id"] == "0"
    rows = _legacy_rows(
        legacy_award_store,
        f"""
        SELECT s.supplier_name, s.org_id, p.scale FROM award_suppliers s
        JOIN process_parties p USING (ocid, org_id)
        WHERE s.ocid = '{release["ocid"]}'
          AND s.supplier_name IN ('HILL DICKINSON LLP', 'MUCKLE LLP')
        ORDER BY 1
        """,
    )
    assert [(name, scale) for name, _, scale in rows] == [
        ("HILL DICKINSON LLP", "large"),
        ("MUCKLE LLP", "sme"),
    ]
    assert rows[0][1] != rows[1][1]


def test_legacy_tenders(tmp_path: Path) -> None:
    releases = [json.loads(line) for line in CF_LEGACY_TENDERS.read_bytes().splitlines()]
    cpvs: dict[str, set[str]] = defaultdict(set)
    for release in releases:
        for item in release["tender"].get("items") or []:
            classification = item.get("classification") or {}
            if classification.get("scheme") == "CPV":
                cpvs[release["ocid"]].add(classification["id"])
    latest = _latest_versions(CF_LEGACY_TENDERS)
    assert len(latest) == file_counts(CF_LEGACY_TENDERS)["processes"]
    con = connect(tmp_path / "store.duckdb")
    try:
        ingest(con, [CF_LEGACY_TENDERS])
        rows = sql.rows(
            con, "SELECT ocid, layout, suitable_sme, suitable_vcse, cpv_code FROM processes"
        )
    finally:
        con.close()
    assert len(rows) == len(latest)
    for ocid, layout, sme, vcse, cpv in rows:
        assert layout == "cf-legacy-tender", ocid
        assert sme is False and vcse is False, ocid
        assert cpv in cpvs[ocid] or any(_is_cpv_parent(cpv, c) for c in cpvs[ocid]), ocid
        # The first item's code, or (when the bundled CPV list lacks it) its nearest listed
        # parent, e.g. 60112000 -> 60110000.
        first_item = latest[ocid]["tender"]["items"][0]["classification"]["id"]
        assert cpv == first_item or _is_cpv_parent(cpv, first_item), (ocid, cpv, first_item)
    assert sum(1 for *_, cpv in rows if cpv in {c for cs in cpvs.values() for c in cs}) >= 130


def _is_cpv_parent(parent: str, code: str) -> bool:
    """``60110000`` is a parent of ``60112000``: the same leading digits, then zeros."""
    return any(parent == code[:keep] + "0" * (8 - keep) and parent != code for keep in range(2, 8))
