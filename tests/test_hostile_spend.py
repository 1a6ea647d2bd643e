"""Hostile council spend CSVs (issue 15): nothing valid lost, every bad row reported.

The corpus is made from real rows of the bundled sample, chosen with a fixed seed, each
case breaking one thing as real exports and attackers do: other delimiters, a field over
the csv module's default limit, an unterminated quote, a stray invalid byte, NUL bytes, an
impossible amount. Every case states exactly how many rows are kept and rejected. A
Hypothesis test mutates one real row and checks that every other row is still read.
"""

from __future__ import annotations

import collections
import csv
import gzip
import io
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from locality.cli import app
from locality.ingest.spendfile.amounts import parse_amount
from locality.ingest.spendfile.reader import SpendFile
from locality.store import sql
from locality.store.db import connect
from tests.conftest import SPEND_SAMPLE
from tests.helpers import corpus_fixture

SEED = 15
SALFORD = SPEND_SAMPLE / "salford-city-council-2022-06.csv"
ROWS = 40


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    text = path.read_bytes().decode("utf-8")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    return header, rows


def _plain(row: list[str]) -> bool:
    """A row that csv writes without quotes, in ASCII: no row of the corpus can close a
    stray quote, and every decoding reads it the same."""
    return all(c.isascii() and not any(x in c for x in ',"\r\n;\t|') for c in row)


HEADER, ALL_ROWS = _rows(SALFORD)
CHOSEN = random.Random(SEED).sample([r for r in ALL_ROWS if _plain(r)], ROWS)
SUPPLIER = HEADER.index("Vendor Name")
NET = HEADER.index("Net")


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _lines(rows: list[list[str]]) -> list[str]:
    return _csv(rows).split("\r\n")[:-1]


def _supplier_rewritten(lines: list[str], at: int, rewrite: Callable[[str], str]) -> list[str]:
    """``lines`` with the supplier cell of line ``at`` rewritten."""
    cells = lines[at].split(",")
    cells[SUPPLIER] = rewrite(cells[SUPPLIER])
    return [*lines[:at], ",".join(cells), *lines[at + 1 :]]


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    read: int
    kept: int
    rejected: int
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    delimiter: str = ","


def _corpus() -> list[Case]:
    rng = random.Random(SEED)
    rows = [list(r) for r in CHOSEN]
    cases = [
        Case(name, _csv([HEADER, *rows], delimiter).encode(), ROWS, ROWS, 0, delimiter=delimiter)
        for name, delimiter in (("semicolon", ";"), ("tab", "\t"), ("pipe", "|"))
    ]
    big = [list(r) for r in rows]
    big[rng.randrange(3, 45 - 5)][HEADER.index("GL Description")] = "x" * 200_000
    cases.append(Case("field_over_131072_characters", _csv([HEADER, *big]).encode(), 40, 40, 0))

    # A supplier's name opening a quote that is never closed; then the same closed by a
    # later row's quoted name.
    at = rng.randrange(5, 20)
    opened = _supplier_rewritten(_lines([HEADER, *rows]), at, lambda name: '"' + name)
    closed = _supplier_rewritten(opened, at + rng.randrange(3, 10), lambda name: f'"{name}"')
    to_the_end = ("unterminated quote in column 'Vendor Name'",)
    closed_later = ("unterminated quote", "closes the quote left open")
    for name, lines, kept, rejected, reasons in (
        ("unterminated_quote_to_the_end", opened, 39, 1, to_the_end),
        ("unterminated_quote_closed_by_a_later_quote", closed, 38, 2, closed_later),
    ):
        data = ("\r\n".join(lines) + "\r\n").encode()
        cases.append(Case(name, data, ROWS, kept, rejected, reasons))

    accented = [list(r) for r in rows]
    accented[0][SUPPLIER] = "Café Ltd"
    data = _csv([HEADER, *accented]).encode("utf-8")
    name = CHOSEN[7][SUPPLIER].encode()
    data = data.replace(name, name[:2] + b"\xe9" + name[3:], 1)  # one cp1252 byte
    cases.append(
        Case(
            "one_invalid_byte_in_utf8",
            data,
            40,
            40,
            0,
            warnings=("1 byte(s) not valid UTF-8 (line 9)",),
        )
    )
    nul = _csv([HEADER, *rows]).encode().replace(b"Ltd", b"Lt\x00d", 2)
    cases.append(Case("nul_bytes", nul, 40, 40, 0, warnings=("NUL byte(s) removed",)))

    huge = [list(r) for r in rows]
    huge[3][NET] = "9" * 400  # overflows a double to infinity
    huge[4][NET] = "25000000000.00"  # £25bn: a typing error
    cases.append(
        Case(
            "impossible_amounts",
            _csv([HEADER, *huge]).encode(),
            40,
            38,
            2,
            ("amount is not plausible", "amount is not plausible"),
        )
    )
    cases += [
        Case(
            "cr_line_endings",  # classic Mac OS line ends, semicolons
            _csv([HEADER, *rows], ";").replace("\r\n", "\r").encode(),
            40,
            40,
            0,
            delimiter=";",
        ),
        Case(
            "utf16_tab_excel_export",  # Excel's "Unicode text": UTF-16 with BOM, tabs
            _csv([HEADER, *accented], "\t").encode("utf-16"),
            40,
            40,
            0,
            delimiter="\t",
        ),
        Case("header_only", _csv([HEADER]).encode(), 0, 0, 0),
    ]
    formulas = [list(r) for r in rows]
    for i, text in enumerate(
        ['=HYPERLINK("http://evil.example","Invoice")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd"]
    ):
        formulas[i][SUPPLIER] = text
    cases.append(Case("formula_suppliers", _csv([HEADER, *formulas]).encode(), 40, 40, 0))
    return cases


CASES = {case.name: case for case in _corpus()}
spend_corpus = corpus_fixture(
    "spend_corpus", CASES.values(), lambda case: f"salford-city-council-{case.name}.csv"
)


def _payments(path: Path) -> tuple[SpendFile, list[Any]]:
    with SpendFile(path) as reader:
        return reader, list(reader.records())


def _key(row: list[str]) -> tuple[str, str, float]:
    return row[HEADER.index("Date of Payment")], row[SUPPLIER], parse_amount(row[NET])


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spend_case(name: str, spend_corpus: dict[str, Path]) -> None:
    case = CASES[name]
    reader, records = _payments(spend_corpus[name])
    kept = [r for r in records if r.row is not None]
    rejected = [r for r in records if r.row is None]
    assert (reader.records_read, len(kept), len(rejected)) == (case.read, case.kept, case.rejected)
    for record, words in zip(rejected, case.reasons, strict=True):
        assert record.reason is not None and words in record.reason
    assert len(reader.warnings) == len(case.warnings)
    for warning, words in zip(reader.warnings, case.warnings, strict=True):
        assert words in warning
    assert reader.layout.delimiter == case.delimiter


def test_every_untouched_row_is_kept_as_published(spend_corpus: dict[str, Path]) -> None:
    """Not just counts: the supplier, date and amount of every row the case did not break."""
    for name in ("semicolon", "tab", "pipe", "unterminated_quote_to_the_end", "nul_bytes"):
        _, records = _payments(spend_corpus[name])
        got = collections.Counter(
            (r.row[3], r.row[5], round(r.row[4], 2)) for r in records if r.row is not None
        )
        wanted = collections.Counter(_key(row) for row in CHOSEN)
        missing = wanted - got
        assert sum(missing.values()) <= CASES[name].rejected, (name, missing)


def test_invalid_byte_is_read_per_field_not_the_whole_file(
    spend_corpus: dict[str, Path],
) -> None:
    _, records = _payments(spend_corpus["one_invalid_byte_in_utf8"])
    names = {r.row[5] for r in records if r.row is not None}
    assert "Café Ltd" in names and "CafÃ©" not in " ".join(names)
    _, utf16 = _payments(spend_corpus["utf16_tab_excel_export"])
    assert "Café Ltd" in {r.row[5] for r in utf16 if r.row is not None}
    broken = CHOSEN[7][SUPPLIER]
    assert broken[:2] + "é" + broken[3:] in names
    nul_names = {r.row[5] for r in _payments(spend_corpus["nul_bytes"])[1] if r.row is not None}
    assert not [n for n in nul_names if "\x00" in n]


def test_hostile_folder_loads_every_file_and_exits_by_what_happened(
    spend_corpus: dict[str, Path], tmp_path: Path
) -> None:
    """Inside a folder, a semicolon file is loaded, not skipped as "not a spend file"; the
    rejections make the exit code 1, and the JSON summary is printed."""
    folder = spend_corpus["semicolon"].parent
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(folder), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    by_case = {Path(f["file"]).stem.removeprefix("salford-city-council-"): f for f in data["files"]}
    for name, case in CASES.items():
        summary = by_case[name]
        assert summary["error"] is None and not summary["skipped"], summary
        assert (summary["kept"], summary["rejected"]) == (case.kept, case.rejected), name
        assert summary["delimiter"] == case.delimiter
    assert data["totals"]["rejected"] == sum(c.rejected for c in CASES.values())
    assert "byte(s)notvalidUTF-8" in "".join(result.stderr.split())  # the warning is shown


def test_clean_semicolon_file_exits_0(spend_corpus: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(spend_corpus["semicolon"])]
    )
    assert result.exit_code == 0, result.output
    con = connect(tmp_path / "s.duckdb", read_only=True)
    try:
        count, total = sql.one(
            con, "SELECT count(*), round(sum(amount_net), 2) FROM spend_payments"
        )
    finally:
        con.close()
    assert count == ROWS
    assert total == round(sum(parse_amount(r[NET]) for r in CHOSEN), 2)


# --- properties ---------------------------------------------------------------------------

PROPERTY_ROWS = CHOSEN[:25]
cell_text = st.text(
    alphabet=st.sampled_from(list('abcXYZ019 ,;"\t\r\n\x00£é=+-@|()Total')), max_size=12
)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.integers(0, len(PROPERTY_ROWS) - 1),
    column=st.integers(0, len(HEADER) - 1),
    text=cell_text,
    raw=st.booleans(),
    where=st.integers(0, 200),
)
def test_one_mutated_row_never_costs_the_others(
    tmp_path_factory: pytest.TempPathFactory,
    target: int,
    column: int,
    text: str,
    raw: bool,
    where: int,
) -> None:
    rows = [list(r) for r in PROPERTY_ROWS]
    if raw:  # bytes typed into the line as it is in the file: quotes, breaks, delimiters
        lines = _lines([HEADER, *rows])
        line = lines[target + 1]
        at = where % (len(line) + 1)
        lines[target + 1] = line[:at] + text + line[at:]
        data = ("\r\n".join(lines) + "\r\n").encode()
    else:  # a cell's value, written as a CSV writer would
        rows[target][column] = text
        data = _csv([HEADER, *rows]).encode()
    path = tmp_path_factory.mktemp("prop") / "salford-city-council-mutated.csv"
    path.write_bytes(data)
    reader, records = _payments(path)
    got = collections.Counter(
        (r.row[3], r.row[5], round(r.row[4], 2)) for r in records if r.row is not None
    )
    wanted = collections.Counter(_key(row) for i, row in enumerate(PROPERTY_ROWS) if i != target)
    assert not wanted - got
    assert reader.records_read == len(records)  # every record read is kept or rejected


def test_a_folder_csv_with_payments_but_no_readable_layout_is_an_error(tmp_path: Path) -> None:
    """Skipped as "not a spend file" only when it holds no payments: a file of dates and
    amounts whose supplier cannot be found is an error (exit 1), never silently lost."""
    folder = tmp_path / "spend"
    folder.mkdir()
    keep = [HEADER.index(c) for c in ("Date of Payment", "Net", "Service Area")]
    rows = [["When", "Sum", "Team"], *([row[i] for i in keep] for row in CHOSEN)]
    (folder / "salford-city-council-no-supplier.csv").write_text(_csv(rows))
    (folder / "salford-city-council-2022-06.csv").write_bytes(SALFORD.read_bytes())
    (folder / "provenance.csv").write_text(_csv([["file", "rows"], ["a.csv", "12"]] * 3))
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(folder), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    by_name = {Path(f["file"]).name: f for f in json.loads(result.stdout)["files"]}
    assert "not a council spend file" in by_name["salford-city-council-no-supplier.csv"]["error"]
    assert by_name["provenance.csv"]["skipped"] and by_name["provenance.csv"]["error"] is None
    assert by_name["salford-city-council-2022-06.csv"]["kept"] == 1809


def _complete_lines(gz: bytes) -> int:
    """Data lines whole in what a truncated gzip still gives (less the header)."""
    return zlib.decompressobj(wbits=31).decompress(gz).count(b"\n") - 1


def test_a_truncated_spend_gzip_keeps_the_rows_before_the_break(tmp_path: Path) -> None:
    packed = gzip.compress(_csv([HEADER, *CHOSEN]).encode(), mtime=0)
    broken = packed[: len(packed) * 2 // 3]
    path = tmp_path / "salford-city-council-2022-06.csv.gz"
    path.write_bytes(broken)
    db = str(tmp_path / "s.duckdb")
    runs = [
        CliRunner().invoke(app, ["--db", db, "ingest", str(path), "--format", "json"])
        for _ in range(2)
    ]
    for result in runs:  # read, and reported, each time: not recorded as loaded
        assert result.exit_code == 1, result.output
        [summary] = json.loads(result.stdout)["files"]
        assert "breaks off after line" in summary["error"] and str(path) in summary["error"]
        assert "rows before the break are loaded" in summary["error"]
        assert summary["kept"] == _complete_lines(broken) > 0
    con = connect(tmp_path / "s.duckdb", read_only=True)
    try:
        count = sql.one(con, "SELECT count(*) FROM spend_payments")[0]
    finally:
        con.close()
    assert count == _complete_lines(broken)  # the second run replaced, not added


def test_a_truncated_copy_of_a_loaded_file_keeps_its_last_good_load(tmp_path: Path) -> None:
    path = tmp_path / "salford-city-council-2022-06.csv.gz"
    packed = gzip.compress(_csv([HEADER, *CHOSEN]).encode(), mtime=0)
    path.write_bytes(packed)
    db = str(tmp_path / "s.duckdb")
    assert CliRunner().invoke(app, ["--db", db, "ingest", str(path)]).exit_code == 0
    path.write_bytes(packed[: len(packed) // 2])  # an interrupted re-download
    result = CliRunner().invoke(app, ["--db", db, "ingest", str(path), "--format", "json"])
    assert result.exit_code == 1
    [summary] = json.loads(result.stdout)["files"]
    assert "last good load is kept" in summary["error"]
    con = connect(tmp_path / "s.duckdb", read_only=True)
    try:
        count = sql.one(con, "SELECT count(*) FROM spend_payments")[0]
    finally:
        con.close()
    assert count == ROWS
