"""Hostile OCDS files (issue 15): nothing valid lost, every bad record or file reported.

The corpus is made from the real bundled sample with a fixed seed: real releases, each
case breaking one thing the way a publisher, an interrupted download or an attacker does.
Every case states exactly how many records are kept and rejected, and what the file's
error is. A Hypothesis test mutates real releases and checks that the untouched ones are
always read.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.ingest.ocds import read_ocds
from locality.ingest.pipeline import FileSummary, ingest
from locality.ingest.validate import RejectedRelease, check_release, malformed_parts
from locality.store import sql
from locality.store.db import connect
from tests.conftest import CF_LEGACY_AWARDS, CF_RELEASES, SCOTLAND
from tests.helpers import corpus_fixture

SEED = 15  # the issue's number: the corpus is the same on every run


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _pick(count: int, *, seed: int = SEED, source: Path = CF_RELEASES) -> list[bytes]:
    """``count`` real releases of the sample, distinct (ocid, id), chosen with the seed."""
    lines = _lines(source)
    keys: set[tuple[str, str]] = set()
    chosen: list[bytes] = []
    for line in random.Random(seed).sample(lines, len(lines)):
        release = orjson.loads(line)
        key = (release["ocid"], release.get("id", ""))
        if key not in keys:
            keys.add(key)
            chosen.append(line)
        if len(chosen) == count:
            return chosen
    raise AssertionError("not enough releases")


def _deep(depth: int) -> bytes:
    """A release whose extension field nests ``depth`` objects deep."""
    return (
        b'{"ocid":"ocds-b5fd17-deep","id":"deep-1","date":"2022-10-18T00:00:00Z","x":'
        + b'{"a":' * depth
        + b"1"
        + b"}" * depth
        + b"}"
    )


def _with_award(line: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    release = orjson.loads(line)
    change(release)
    return orjson.dumps(release)


def _jsonl(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    suffix: str
    kept: int
    rejected: int
    reasons: tuple[str, ...] = ()  # words of each rejection reason, in line order
    error: str | None = None  # words of the file's error; None when it reads whole
    parts_skipped: int = 0


def _readable_lines(data: bytes) -> int:
    """Whole lines in what a truncated gzip still gives."""
    return zlib.decompressobj(wbits=31).decompress(data).count(b"\n")


def _corpus() -> list[Case]:
    good = _pick(24)
    awards = [
        line for line in _lines(CF_RELEASES) if orjson.loads(line).get("awards")
    ]  # releases with awards, in file order
    rng = random.Random(SEED)
    cases = [
        Case(
            f"nested_{depth}_deep_in_the_middle",
            _jsonl([*good[:2], _deep(depth), *good[2:4]]),
            ".jsonl",
            4,
            1,
            ("nested more than 254 levels deep",),
        )
        for depth in (500, 700, 900)
    ]
    cases.append(
        Case(
            "nested_1100_deep_beyond_orjson",
            _jsonl([*good[:2], _deep(1100), *good[2:4]]),
            ".jsonl",
            4,
            1,
            ("invalid JSON, depth",),
        )
    )
    first = good[4]
    cut = rng.randrange(10, len(first) - 10)
    cases += [
        Case(
            "first_line_truncated",
            _jsonl([first[:cut], *good[5:9]]),
            ".jsonl",
            4,
            1,
            ("invalid JSON",),
        ),
        Case(
            "first_line_invalid_utf8",
            _jsonl([first[:cut] + b"\xff\xfe" + first[cut:], *good[5:9]]),
            ".jsonl",
            4,
            1,
            ("invalid JSON",),
        ),
        Case(
            "first_line_too_deep",
            _jsonl([_deep(900), *good[5:9]]),
            ".jsonl",
            4,
            1,
            ("nested more than 254 levels deep",),
        ),
        Case(
            "first_line_not_json_at_all",
            _jsonl([b"<!doctype html> 502 Bad Gateway", *good[5:9]]),
            ".jsonl",
            4,
            1,
            ("invalid JSON",),
        ),
        Case(
            "deep_release_inside_a_package",
            b'{"uri":"x","releases":[' + b",".join([*good[9:12], _deep(1100), good[12]]) + b"]}",
            ".json",
            4,
            1,
            ("nested more than 254 levels deep",),
        ),
    ]
    whole = _jsonl(good[:20])
    packed = gzip.compress(whole, mtime=0)
    truncated = packed[: len(packed) * 2 // 3]
    cases.append(
        Case(
            "gzip_truncated",
            truncated,
            ".jsonl.gz",
            _readable_lines(truncated),
            0,
            error="compressed data ends early",
        )
    )
    crc = bytearray(packed)
    crc[-8] ^= 0xFF  # the CRC in the trailer: every record decompresses, then the check fails
    cases.append(Case("gzip_bad_crc", bytes(crc), ".jsonl.gz", 20, 0, error="gzip data is corrupt"))
    package = gzip.compress(b'{"uri":"x","releases":[' + b",".join(good[:20]) + b"]}", mtime=0)
    cases.append(
        Case(
            "gzip_package_truncated",
            package[: len(package) // 2],
            ".json.gz",
            # ijson yields whole releases only: those complete in what decompresses.
            _whole_items(package[: len(package) // 2]),
            0,
            error="file breaks off at item",
        )
    )
    document = b'{"uri":"x","releases":[' + b",".join(good[:10]) + b"]}"
    cut_at = rng.randrange(len(document) // 3, len(document) * 2 // 3)
    cases.append(
        Case(
            "package_cut_short",
            document[:cut_at],
            ".json",
            _whole_items(document[:cut_at]),
            0,
            error="the JSON breaks off",
        )
    )
    changed = orjson.loads(good[13])
    changed["date"] = "2030-01-01T00:00:00Z"
    cases.append(
        Case(
            "same_ocid_and_id_twice_with_other_content",
            _jsonl([good[13], good[14], orjson.dumps(changed)]),
            ".jsonl",
            2,
            1,
            ("read again with other content, line 1",),
        )
    )
    money = [
        _with_award(awards[0], lambda r: r["awards"][0]["value"].update(amount=-5_000_000)),
        *(
            _with_award(line, lambda r: r["awards"][0]["value"].update(amount=1.5e308))
            for line in awards[1:4]
        ),
    ]
    cases.append(Case("negative_and_overflowing_amounts", _jsonl(money), ".jsonl", 4, 0))
    cases += [
        Case(
            "amount_not_a_number_and_infinite_literal",
            _jsonl(
                [
                    _with_award(awards[4], lambda r: r["awards"][0]["value"].update(amount="5m")),
                    awards[5].replace(b'"amount":', b'"amount":1e999,"x":', 1),
                    awards[6],
                ]
            ),
            ".jsonl",
            1,
            2,
            ("amount is not a number", "invalid JSON"),
        ),
        Case(
            "malformed_parts",
            _jsonl(
                [
                    _with_award(awards[7], lambda r: r.update(awards={"id": "1"})),
                    _with_award(
                        awards[8], lambda r: r["awards"][0].update(suppliers={"name": "X Ltd"})
                    ),
                    _with_award(awards[9], lambda r: r.update(parties="none")),
                ]
            ),
            ".jsonl",
            3,
            0,
            parts_skipped=3,
        ),
        Case(
            "not_objects_and_no_ocid",
            _jsonl([b"[1, 2]", b'"a string"', b"null", b'{"id": "no-ocid"}', *good[15:17]]),
            ".jsonl",
            2,
            4,
            ("not a JSON object", "not a JSON object", "not a JSON object", "no ocid"),
        ),
    ]
    cases += [
        Case(
            "bom_and_crlf",  # a Windows editor's save
            b"\xef\xbb\xbf" + b"\r\n".join(good[17:20]) + b"\r\n",
            ".jsonl",
            3,
            0,
        ),
        Case(
            "package_line_with_a_deep_release",
            _jsonl(
                [
                    b'{"uri":"x","releases":[' + good[20] + b"," + _deep(600) + b"]}",
                    good[21],
                ]
            ),
            ".jsonl",
            2,
            1,
            ("nested more than 254 levels deep",),
        ),
        Case(
            "record_package_with_broken_records",
            b'{"uri":"x","records":['
            + b'7,{"ocid":"ocds-x-1"},{"ocid":"ocds-x-2","compiledRelease":'
            + good[22]
            + b"}]}",
            ".json",
            1,
            2,
            ("record is not an object", "no compiledRelease or releases"),
        ),
    ]
    return cases


def _whole_items(data: bytes) -> int:
    """Releases of the sample whole in what a truncated document (or its gzip) gives."""
    text = zlib.decompressobj(wbits=31).decompress(data) if data[:2] == b"\x1f\x8b" else data
    count = 0
    for line in _lines(CF_RELEASES):
        if line in text:
            count += 1
    return count


CASES = {case.name: case for case in _corpus()}
corpus = corpus_fixture("corpus", CASES.values(), lambda case: f"{case.name}{case.suffix}")


@pytest.fixture(scope="module")
def loaded(
    corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[FileSummary, list[tuple[int, str]], int]]:
    """The whole corpus ingested in one run (one store): each case's summary, its rejected
    records (line, reason) and its skipped parts."""
    path = tmp_path_factory.mktemp("hostile-ocds-store") / "s.duckdb"
    con = connect(path)
    try:
        summary = ingest(con, list(corpus.values()), jobs=1)
        found = {}
        for name, source in corpus.items():
            [file] = [f for f in summary.files if f.file == str(source)]
            where = [str(source.resolve())]
            rows = sql.rows(
                con,
                "SELECT source_line, reason FROM rejected WHERE source_file = ? "
                "AND NOT starts_with(reason, 'part') ORDER BY source_line",
                where,
            )
            parts = sql.one(
                con,
                "SELECT count(*) FROM rejected WHERE source_file = ? "
                "AND starts_with(reason, 'part')",
                where,
            )[0]
            found[name] = (file, rows, parts)
    finally:
        con.close()
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case_keeps_exactly_the_valid_records(
    name: str, corpus: dict[str, Path], loaded: dict[str, Any]
) -> None:
    case = CASES[name]
    summary, rows, parts = loaded[name]
    assert (summary.kept, summary.rejected) == (case.kept, case.rejected), summary
    assert summary.new_releases + summary.updated_releases + summary.unchanged_releases == (
        case.kept
    )
    assert summary.parts_skipped == parts == case.parts_skipped
    assert len(rows) == case.rejected
    for (_, reason), words in zip(rows, case.reasons, strict=True):
        assert all(w in reason for w in words.split(", ")), reason
    if case.error is None:
        assert summary.error is None
    else:
        assert summary.error is not None and case.error in summary.error
        assert str(corpus[name]) in summary.error  # the file is named


def test_the_store_holds_exactly_the_kept_releases(corpus: dict[str, Path], tmp_path: Path) -> None:
    # Cases made of different releases of the sample, so none is counted twice.
    names = [
        "nested_700_deep_in_the_middle",
        "deep_release_inside_a_package",
        "first_line_truncated",
    ]
    con = connect(tmp_path / "s.duckdb")
    try:
        summary = ingest(con, [corpus[name] for name in names], jobs=1)
        stored = sql.one(con, "SELECT count(*) FROM releases")[0]
    finally:
        con.close()
    assert stored == sum(f.kept for f in summary.files) == sum(CASES[n].kept for n in names)


def test_every_case_keeps_something_and_loses_nothing_else() -> None:
    """The corpus itself: each case has valid records around the bad one."""
    assert len(CASES) >= 20
    assert all(case.kept > 0 for case in CASES.values())
    assert CASES["gzip_truncated"].kept < 20  # the break is really in the middle


def test_negative_and_huge_amounts_are_unknown_never_summed(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    con = connect(tmp_path / "s.duckdb")
    try:
        ingest(con, [corpus["negative_and_overflowing_amounts"]], jobs=1)
        awards = sql.rows(
            con, "SELECT value, counts_as, value_issue FROM awards ORDER BY value_issue"
        )
    finally:
        con.close()
    issues = sorted(issue for _, _, issue in awards if issue)
    assert issues == ["negative", "over_cap", "over_cap", "over_cap"]
    assert all(value is None for value, _, issue in awards if issue)
    runner = CliRunner()
    result = runner.invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "metrics", "--by", "buyer", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout):
        for key, value in row.items():
            assert not (isinstance(value, float) and not math.isfinite(value)), (key, value)
            if key == "awarded_value" and value is not None:
                assert value >= 0


def test_a_folder_with_a_broken_gzip_loads_the_files_after_it(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(CASES["gzip_truncated"].data)
    tiny = gzip.compress(_jsonl(_pick(2, seed=SEED + 4)), mtime=0)
    (folder / "a0.gz").write_bytes(tiny[: len(tiny) // 3])  # breaks in its first block
    (folder / "b.jsonl").write_bytes(_jsonl(_pick(5, seed=SEED + 1, source=CF_LEGACY_AWARDS)))
    (folder / "c.jsonl").write_bytes(_jsonl(_pick(3, seed=SEED + 2, source=SCOTLAND)))
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(folder), "--format", "json"]
    )
    assert result.exit_code == 1  # a file broke off
    data = json.loads(result.stdout)  # the summary is printed all the same
    by_name = {Path(f["file"]).name: f for f in data["files"]}
    assert "compressed data ends early" in by_name["a.jsonl.gz"]["error"]
    assert by_name["a.jsonl.gz"]["kept"] == CASES["gzip_truncated"].kept
    assert (by_name["b.jsonl"]["kept"], by_name["c.jsonl"]["kept"]) == (5, 3)
    assert "cannot be read" in by_name["a0.gz"]["error"]  # not "Aborted!"
    assert data["totals"]["files_failed"] == 2
    assert data["totals"]["releases"] == CASES["gzip_truncated"].kept + 8
    assert "a.jsonl.gz" in "".join(result.stderr.split())


def test_a_broken_file_is_read_again_next_time(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Not recorded as loaded: the next run reports it again, and changes nothing else."""
    con = connect(tmp_path / "s.duckdb")
    try:
        first = ingest(con, [corpus["gzip_truncated"]], jobs=1).files[0]
        again = ingest(con, [corpus["gzip_truncated"]], jobs=1).files[0]
        stored = sql.one(con, "SELECT count(*) FROM releases")[0]
    finally:
        con.close()
    assert first.error and again.error and not again.skipped
    assert again.new_releases == 0 and stored == first.kept


@pytest.mark.parametrize(
    ("name", "code"),
    [("nested_700_deep_in_the_middle", 1), ("gzip_truncated", 1), ("malformed_parts", 0)],
)
def test_cli_json_summary_and_exit_code(
    name: str, code: int, corpus: dict[str, Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(corpus[name]), "--format", "json"]
    )
    assert result.exit_code == code, result.output
    [summary] = json.loads(result.stdout)["files"]
    assert summary["kept"] == CASES[name].kept
    assert "Traceback" not in result.output


def test_clean_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "clean.jsonl"
    path.write_bytes(_jsonl(_pick(6)))
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(path)])
    assert result.exit_code == 0, result.output


# --- properties ---------------------------------------------------------------------------

REAL = _pick(8, seed=SEED + 3)


def _valid(release: Any) -> bool:
    try:
        check_release(release)
    except RejectedRelease:
        return False
    return True


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 4000)),
    st.tuples(st.just("insert"), st.integers(0, 4000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("deep"), st.integers(255, 1200)),
    st.tuples(st.just("replace"), st.binary(max_size=40)),
)


def _mutate(line: bytes, how: tuple[Any, ...]) -> bytes:
    if how[0] == "truncate":
        return line[: how[1] % (len(line) + 1)]
    if how[0] == "insert":
        at = how[1] % (len(line) + 1)
        return line[:at] + how[2] + line[at:]
    if how[0] == "deep":
        return _deep(how[1])
    return bytes(how[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.integers(0, len(REAL) - 1), how=mutation, gzipped=st.booleans())
def test_one_mutated_release_never_costs_the_others(
    tmp_path_factory: pytest.TempPathFactory, target: int, how: tuple[Any, ...], gzipped: bool
) -> None:
    lines = list(REAL)
    lines[target] = _mutate(lines[target], how)
    data = b"\n".join(lines) + b"\n"
    path = tmp_path_factory.mktemp("prop") / ("m.jsonl.gz" if gzipped else "m.jsonl")
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    wanted = {orjson.dumps(orjson.loads(line)) for i, line in enumerate(REAL) if i != target}
    found = set()
    for record in read_ocds(path):
        assert not record.fatal
        if record.error is None and _valid(record.release):
            try:
                found.add(orjson.dumps(record.release))
            except TypeError:
                continue  # the mutated one, too deep to store: rejected by the pipeline
    assert wanted <= found


def test_malformed_parts_name_the_part() -> None:
    release = orjson.loads(REAL[0])
    release["awards"] = {"id": "1"}
    release["tender"] = "open"
    assert malformed_parts(release) == [
        ("/tender", "tender is a string, not an object"),
        ("/awards", "awards is an object, not an array"),
    ]
    assert malformed_parts(orjson.loads(REAL[0])) == []


def test_a_run_that_fails_whole_still_prints_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "s.duckdb"), "ingest", str(tmp_path / "gone"), "--format", "json"],
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["files"] == [] and "no such file" in data["error"]


@pytest.mark.parametrize("layout", ["array", "package", "array-with-a-deep-release"])
def test_a_document_written_one_release_a_line_is_one_document(tmp_path: Path, layout: str) -> None:
    """A package or array whose releases sit one a line (each but the last ending in a comma)
    is one JSON document: every release is kept, not only the last line that reads whole on
    its own (the reviewer's case: 6 read, 1 kept, 5 rejected)."""
    releases = [orjson.loads(line) for line in _pick(4)]
    body = ",\n".join(orjson.dumps(r).decode() for r in releases)
    if layout == "array-with-a-deep-release":
        body += ",\n" + _deep(600).decode()
    text = f"[\n{body}\n]\n"
    if layout == "package":
        text = f'{{"uri": "x", "publishedDate": "2025-01-01T00:00:00Z", "releases": {text}}}\n'
    path = tmp_path / f"{layout}.json"
    path.write_text(text, encoding="utf-8")
    with connect(tmp_path / "s.duckdb") as con:
        [summary] = ingest(con, [path]).files
    deep = layout == "array-with-a-deep-release"
    assert (summary.kept, summary.rejected) == (4, 1 if deep else 0)
