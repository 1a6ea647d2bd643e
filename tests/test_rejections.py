"""Bad input: broken records are rejected one by one, files that are not OCDS fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from locality.ingest.pipeline import ingest, ingest_file
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_RELEASES
from tests.helpers import cli, file_counts

# Where each bad line goes (1-based line number in the written file) and how it is made.
BAD_AT = {
    4: "truncated",
    20: "no-ocid",
    51: "amount-with-comma",
    # line 100 is left blank: blank lines are skipped but still counted
    101: "currency-pounds",
    150: "array",
}
BLANK_AT = 100
# The real file the bad lines go into: its releases are all kept.
CF = file_counts(CF_RELEASES)


def _bad_line(kind: str, releases: list[dict[str, Any]], lines: list[bytes]) -> bytes:
    with_awards = [r for r in releases if r.get("awards")]
    if kind == "truncated":
        return lines[7][: len(lines[7]) // 2]
    if kind == "no-ocid":
        release = dict(releases[30])
        del release["ocid"]
        return json.dumps(release).encode()
    if kind == "amount-with-comma":
        release = json.loads(json.dumps(with_awards[5]))
        release["awards"][0]["value"]["amount"] = "12,000"
        return json.dumps(release).encode()
    if kind == "currency-pounds":
        release = json.loads(json.dumps(with_awards[9]))
        release["awards"][0]["value"]["currency"] = "POUNDS"
        return json.dumps(release).encode()
    if kind == "array":
        return b"[1,2]"
    raise AssertionError(kind)


# Words the reason of each kind must contain.
REASON_WORDS = {
    "truncated": ["invalid json"],
    "no-ocid": ["no ocid"],
    "amount-with-comma": ["awards[0].value.amount", "not a number", "12,000"],
    "currency-pounds": ["awards[0].value.currency", "iso 4217", "pounds"],
    "array": ["not a json object", "list"],
}


def _write_bad_file(path: Path) -> dict[int, tuple[str, bytes]]:
    """Write the real releases with bad lines in between; return {line: (kind, text)}."""
    lines = [line for line in CF_RELEASES.read_bytes().splitlines() if line.strip()]
    releases = [json.loads(line) for line in lines]
    remaining = iter(lines)
    out: list[bytes] = []
    bad: dict[int, tuple[str, bytes]] = {}
    total = len(lines) + len(BAD_AT) + 1
    for number in range(1, total + 1):
        if number in BAD_AT:
            text = _bad_line(BAD_AT[number], releases, lines)
            bad[number] = (BAD_AT[number], text)
            out.append(text)
        elif number == BLANK_AT:
            out.append(b"")
        else:
            out.append(next(remaining))
    assert next(remaining, None) is None
    path.write_bytes(b"\n".join(out) + b"\n")
    return bad


@pytest.fixture
def bad_file(tmp_path: Path) -> tuple[Path, dict[int, tuple[str, bytes]]]:
    path = tmp_path / "mixed.jsonl"
    return path, _write_bad_file(path)


def test_bad_records_are_rejected_with_line_reason_and_raw(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, bad = bad_file
    con = connect(tmp_path / "store.duckdb")
    try:
        summary = ingest(con, [path])
        rows = sql.rows(
            con,
            "SELECT source_file, source_line, ocid, reason, raw FROM rejected ORDER BY source_line",
        )
        kept = sql.one(con, "SELECT count(*) FROM releases")[0]
        kept_lines = sql.rows(con, "SELECT DISTINCT source_line FROM releases ORDER BY 1")
        processes = sql.one(con, "SELECT count(*) FROM processes")[0]
    finally:
        con.close()

    file = summary.files[0]
    assert file.error is None
    assert file.records_read == CF["records_read"] + len(BAD_AT)
    assert file.kept == CF["kept"]
    assert file.rejected == len(BAD_AT)
    assert summary.totals["rejected"] == len(BAD_AT)
    assert sorted(r["line"] for r in file.rejections) == sorted(BAD_AT)

    assert kept == CF["kept"]
    assert processes == CF["processes"]
    last = CF["records_read"] + len(BAD_AT) + 1  # with the blank line
    want_lines = [n for n in range(1, last + 1) if n not in BAD_AT and n != BLANK_AT]
    assert [line for (line,) in kept_lines] == want_lines

    assert [row[1] for row in rows] == sorted(BAD_AT)
    for source_file, line, ocid, reason, raw in rows:
        kind, text = bad[line]
        assert source_file == str(path.resolve())
        for word in REASON_WORDS[kind]:
            assert word in reason.lower(), (kind, reason)
        assert raw == text.decode(), kind
        if kind in ("amount-with-comma", "currency-pounds"):
            assert ocid == json.loads(text)["ocid"]


def test_rejected_records_leave_the_valid_data_as_if_alone(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, _ = bad_file
    tables = ("processes", "awards", "award_suppliers", "process_parties", "organisations")
    results = []
    for name, source in (("mixed", path), ("clean", CF_RELEASES)):
        con = connect(tmp_path / f"{name}.duckdb")
        try:
            ingest(con, [source])
            results.append([sql.rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in tables])
        finally:
            con.close()
    mixed, clean = results
    for table, got, want in zip(tables, mixed, clean, strict=True):
        assert got == want, table


def test_reingesting_does_not_duplicate_rejections(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, _ = bad_file
    con = connect(tmp_path / "store.duckdb")
    try:
        first = ingest_file(con, path)
        again = ingest_file(con, path)
        forced = ingest_file(con, path, force=True)
        count = sql.one(con, "SELECT count(*) FROM rejected")[0]
        distinct = sql.one(con, "SELECT count(DISTINCT source_line) FROM rejected")[0]
    finally:
        con.close()
    assert first.rejected == len(BAD_AT)
    assert again.skipped
    assert forced.rejected == len(BAD_AT)
    assert count == distinct == len(BAD_AT)


# --- the command line --------------------------------------------------------------------------


def test_cli_json_counts_rejections(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, _ = bad_file
    result = cli("--db", str(tmp_path / "s.duckdb"), "ingest", str(path), "--format", "json")
    # Exit 1 when anything was rejected (issue 15), the summary printed all the same.
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["rejected"] == len(BAD_AT)
    assert data["totals"]["kept"] == CF["kept"]
    assert data["totals"]["store"]["rejected"] == len(BAD_AT)
    [file] = data["files"]
    assert (file["records_read"], file["kept"], file["rejected"]) == (
        CF["records_read"] + len(BAD_AT),
        CF["kept"],
        len(BAD_AT),
    )


def test_cli_strict_exits_non_zero_on_rejections(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, _ = bad_file
    strict = cli("--db", str(tmp_path / "strict.duckdb"), "ingest", str(path), "--strict")
    assert strict.exit_code != 0
    assert "rejected" in strict.stderr
    relaxed = cli("--db", str(tmp_path / "relaxed.duckdb"), "ingest", str(path))
    assert relaxed.exit_code == 1, relaxed.output  # a rejection is always exit 1 (issue 15)
    assert "rejected" in relaxed.stderr
    clean = cli("--db", str(tmp_path / "clean.duckdb"), "ingest", str(CF_RELEASES), "--strict")
    assert clean.exit_code == 0, clean.output


def test_cli_strict_on_rerun_still_reports_rejections(
    tmp_path: Path, bad_file: tuple[Path, dict[int, tuple[str, bytes]]]
) -> None:
    path, _ = bad_file
    db = str(tmp_path / "s.duckdb")
    assert cli("--db", db, "ingest", str(path)).exit_code == 1  # rejections (issue 15)
    # Skipped as unchanged, nothing rejected this time: 0, unless --strict.
    assert cli("--db", db, "ingest", str(path)).exit_code == 0
    assert cli("--db", db, "ingest", str(path), "--strict").exit_code != 0


# --- files that are not OCDS -------------------------------------------------------------------


def _not_ocds(tmp_path: Path, kind: str) -> Path:
    if kind == "csv":
        path = tmp_path / "suppliers.csv"
        path.write_text("name,postcode,value\nAcme Ltd,LS1 4AP,12000\nBeta plc,M1 1AE,500\n")
    elif kind == "hello":
        path = tmp_path / "hello.json"
        path.write_text('{"hello": 1}\n')
    elif kind == "empty":
        path = tmp_path / "empty.json"
        path.write_bytes(b"")
    elif kind == "strings":
        path = tmp_path / "strings.json"
        path.write_text('["a", "b"]')
    else:
        raise AssertionError(kind)
    return path


NOT_OCDS = ["csv", "hello", "empty", "strings"]


@pytest.mark.parametrize("kind", NOT_OCDS)
def test_not_ocds_file_gives_one_clear_error(tmp_path: Path, kind: str) -> None:
    path = _not_ocds(tmp_path, kind)
    con = connect(tmp_path / "store.duckdb")
    try:
        # A good file in the same call is still loaded.
        summary = ingest(con, [path, CF_RELEASES])
        source = str(path.resolve())
        leftovers = [
            sql.one(con, f"SELECT count(*) FROM {table} WHERE source_file = ?", [source])[0]
            for table in ("releases", "rejected", "ingested_files")
        ]
        releases = sql.one(con, "SELECT count(*) FROM releases")[0]
        rejected = sql.one(con, "SELECT count(*) FROM rejected")[0]
    finally:
        con.close()
    bad, good = summary.files
    assert bad.error is not None
    assert str(path) in bad.error
    assert bad.kept == 0 and bad.rejected == 0
    assert good.error is None and good.kept == CF["kept"]
    assert summary.totals["files_failed"] == 1
    assert leftovers == [0, 0, 0]
    assert releases == CF["kept"]
    assert rejected == 0


@pytest.mark.parametrize("kind", NOT_OCDS)
def test_cli_not_ocds_exits_1_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = _not_ocds(tmp_path, kind)
    result = cli("--db", str(tmp_path / "s.duckdb"), "ingest", str(path))
    assert result.exit_code == 1
    assert path.name in result.stderr
    assert "Traceback" not in result.output
    stderr = "".join(result.stderr.split())
    assert "".join(str(path).split()) in stderr
