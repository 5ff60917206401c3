"""Tests for the report writer: reports are opened again and checked cell by cell."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.model import (
    Issue,
    IssueCount,
    Outcome,
    RowOutcome,
    RowOutcomes,
    Severity,
    Summary,
)
from importer.read import Table, read_table
from importer.report import (
    COMMENT_LIMIT,
    EARLIER_REPORT_COLUMNS,
    REPORT_COLUMNS,
    REPORT_SHEET,
    SUMMARY_SHEET,
    _csv_array,
    csv_cell,
    default_report_path,
    read_report,
    report_columns_in,
    text_from_csv_cell,
    write_report,
)

GOLDEN = Path(__file__).parent / "golden"
#: Where the original columns start in a report.
FIRST = len(REPORT_COLUMNS)
SHARED_SAMPLES = Path("/work/shared/research/samples")

#: What a spreadsheet might run as a formula, a DDE call or a link, and other text that a
#: careless writer turns into something else (numbers, booleans, errors, dates).
FORMULA_CORPUS = (
    "=1+1",
    "+1",
    "-1",
    "-1+1",
    "+212 6 12 34 56 78",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "ＤＤＥ",
    "＝1+1",
    "'=1+1",
    "''-2",
    "http://example.com",
    "1e5",
    "0012",
    "TRUE",
    "#N/A",
    "2024-01-01",
    "_x0041_",
    "a\r\nb",
    " lead space",
)
#: The corpus items a CSV report must prefix with "'" (the others are not formulas).
CSV_ESCAPED = {
    "=1+1",
    "-1+1",
    "+212 6 12 34 56 78",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "＝1+1",
    "'=1+1",
    "''-2",
}

HEADERS = ("Name", "Phone", "الاسم", "Id", "Notes")
ORIGINAL_ROWS = (
    ("#1001", "0612345678", "أحمد الفاسي", "12345678901234567890", ""),
    ("#1001", "0612345678", "", "", "second line\nof a note"),
    ("#1002", "+212698765432", "سلمى", "00012", "=1+1"),
    ("#1003", "06-12", "", "99999999999999999999", ""),
)


def make_table(
    rows: Sequence[Sequence[str]] = ORIGINAL_ROWS,
    headers: Sequence[str] = HEADERS,
    first_row: int = 2,
    path: Path = Path("orders.csv"),
) -> Table:
    """A table as read.py makes one: text columns, index = the row numbers the user sees."""
    frame = pd.DataFrame(
        {h: [r[i] for r in rows] for i, h in enumerate(headers)},
        index=pd.Index(range(first_row, first_row + len(rows)), name="row"),
        dtype="str",
    )
    return Table(path, frame, None, first_row - 1, "utf-8", ",")


def sample_outcomes() -> tuple[RowOutcome, ...]:
    phone = Issue(5, "Phone", "invalid_phone", "'06-12' is not a phone number")
    name = Issue(5, "الاسم", "required", "a name is required")
    return (
        RowOutcome(2, Outcome.CREATED, "WDFGHJKL"),
        RowOutcome(3, Outcome.CREATED, "WDFGHJKL"),
        RowOutcome(4, Outcome.SKIPPED, "LED-00001"),
        RowOutcome(5, Outcome.INVALID, None, (phone, name), frozenset({"Phone", "الاسم"})),
    )


def sample_summary() -> Summary:
    return Summary(file="orders.csv", rows=4, leads=3, created=1, skipped=1, invalid=1)


def fill_of(cell: Any) -> str | None:
    """The cell's solid fill colour as RRGGBB, None when unfilled."""
    fill = cell.fill
    if fill is None or fill.fill_type != "solid":
        return None
    return str(fill.fgColor.rgb)[-6:].upper()


# --- XLSX ----------------------------------------------------------------------------------


def test_xlsx_report_rows_come_back_cell_by_cell(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.xlsx", make_table(), sample_outcomes(), sample_summary())
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [REPORT_SHEET, SUMMARY_SHEET]  # the report is the first sheet
    sheet = book[REPORT_SHEET]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == [*REPORT_COLUMNS, *HEADERS]
    assert [r[0] for r in values[1:]] == [2, 3, 4, 5]  # Row is a number, in source order
    assert [r[1] for r in values[1:]] == ["created", "created", "skipped", "invalid"]
    assert [r[2] for r in values[1:]] == ["WDFGHJKL", "WDFGHJKL", "LED-00001", None]
    assert values[4][3] == ("Phone: '06-12' is not a phone number\nالاسم: a name is required")
    assert values[1][3] is None
    for line, original in zip(values[1:], ORIGINAL_ROWS, strict=True):
        assert [v or "" for v in line[5:]] == list(original)
    for row in sheet.iter_rows(min_row=2, min_col=2):
        for cell in row:
            assert cell.value is None or cell.data_type == "s", cell.coordinate


def test_xlsx_report_highlights_faults_with_comments(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.xlsx", make_table(), sample_outcomes(), sample_summary())
    sheet = openpyxl.load_workbook(path)[REPORT_SHEET]
    red = "FFC7CE"
    # the Errors cell and the two faulty source cells of row 5 (sheet line 5)
    assert fill_of(sheet["D5"]) == red
    assert fill_of(sheet["G5"]) == red and sheet["G5"].value == "06-12"
    assert fill_of(sheet["H5"]) == red and sheet["H5"].value is None  # empty, still painted
    assert sheet["G5"].comment is not None
    assert sheet["G5"].comment.text == "Phone: '06-12' is not a phone number"
    assert sheet["H5"].comment is not None
    assert sheet["H5"].comment.text == "الاسم: a name is required"
    # nothing else is red or commented
    for row in sheet.iter_rows(min_row=2, min_col=3):
        for cell in row:
            if cell.coordinate not in {"D5", "G5", "H5"}:
                assert fill_of(cell) is None, cell.coordinate
                assert cell.comment is None, cell.coordinate
    assert [fill_of(sheet[f"B{n}"]) for n in range(2, 6)] == ["C6EFCE", "C6EFCE", "E7E6E6", red]


def test_xlsx_report_header_frozen_bold_and_filtered(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.xlsx", make_table(), sample_outcomes(), sample_summary())
    sheet = openpyxl.load_workbook(path)[REPORT_SHEET]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:J5"  # every column, every row
    assert all(cell.font.b for cell in sheet[1])
    widths = [sheet.column_dimensions[c].width for c in "ABCDEFGHI"]
    assert all(5 <= w <= 90 for w in widths)


def test_xlsx_summary_sheet_counts_and_legend(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.xlsx", make_table(), sample_outcomes(), sample_summary())
    facts = read_report(path).summary
    assert facts["File"] == "orders.csv"
    assert (facts["rows"], facts["leads"]) == ("4", "3")
    assert (facts["created"], facts["skipped"], facts["invalid"]) == ("1", "1", "1")
    assert facts["uncertain"] == facts["queued"] == facts["valid"] == "0"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", facts["Written at"])
    lines = list(openpyxl.load_workbook(path)[SUMMARY_SHEET].iter_rows(values_only=True))
    table = {r[0]: r[1:4] for r in lines if r and r[0] in {o.value for o in Outcome}}
    # leads / rows per outcome, then the legend; the facts block is above it
    by_outcome = {k: v for k, v in table.items() if isinstance(v[0], int) and v[2]}
    assert by_outcome["created"][:2] == (1, 2)  # one lead, two rows
    assert by_outcome["skipped"][:2] == (1, 1)
    assert by_outcome["invalid"][:2] == (1, 1)
    assert by_outcome["failed"][:2] == (0, 0)
    assert set(by_outcome) == {o.value for o in Outcome}
    assert "wedocod reconcile" in str(by_outcome["uncertain"][2])
    assert "wedocod reconcile" in str(by_outcome["queued"][2])


def test_xlsx_formula_corpus_stays_text(tmp_path: Path) -> None:
    rows = [(value, value) for value in FORMULA_CORPUS]
    table = make_table(rows, headers=("=SUM(A1:A2)", "@cmd"))
    outcomes = [
        RowOutcome(
            n,
            Outcome.INVALID,
            value,  # even a ref or a message is never a formula
            (Issue(n, "=SUM(A1:A2)", "x", value),),
            frozenset({"=SUM(A1:A2)"}),
        )
        for n, value in zip(table.frame.index, FORMULA_CORPUS, strict=True)
    ]
    path = write_report(tmp_path / "r.xlsx", table, outcomes, Summary("f", len(rows), len(rows)))
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    sheet = book[REPORT_SHEET]
    assert [c.value for c in sheet[1]][FIRST:] == ["=SUM(A1:A2)", "@cmd"]
    contents = read_report(path)  # (undoes OOXML's "_x000D_" escapes, which openpyxl keeps)
    for line, value in zip(contents.rows, FORMULA_CORPUS, strict=True):
        assert line[2] == line[FIRST] == line[FIRST + 1] == value
        assert line[3] == f"=SUM(A1:A2): {value}"
    for row in sheet.iter_rows(min_row=2, min_col=3):
        for cell in row:
            assert cell.value is None or cell.data_type == "s", cell.coordinate
            assert cell.value is not None or cell.column_letter == "E"  # no warnings here


def test_xlsx_report_reads_back_through_the_importers_reader(tmp_path: Path) -> None:
    """A report fixed in Excel is imported again: originals come back exactly as read."""
    rows = [*ORIGINAL_ROWS, *((v, "", "", "", v) for v in FORMULA_CORPUS)]
    table = make_table(rows)
    outcomes = [RowOutcome(n, Outcome.VALID) for n in table.frame.index]
    path = write_report(tmp_path / "r.xlsx", table, outcomes, Summary("o", len(rows), len(rows)))
    again = read_table(path)
    assert list(again.frame.columns) == [*REPORT_COLUMNS, *HEADERS]
    assert again.frame.index.tolist() == table.frame.index.tolist()
    for header in HEADERS:
        assert again.frame[header].tolist() == table.frame[header].tolist(), header
    # and the next report replaces the old report columns instead of repeating them
    second = tmp_path / "r2.xlsx"
    write_report(second, again, outcomes, Summary("o", len(rows), len(rows)))
    assert read_report(second).header == (*REPORT_COLUMNS, *HEADERS)


def test_comments_are_capped_but_cells_still_red(tmp_path: Path) -> None:
    rows = [("#1", "bad", "", "", "")] * 5
    table = make_table(rows)
    outcomes = [
        RowOutcome(n, Outcome.INVALID, None, (Issue(n, "Phone", "p", "bad phone"),), {"Phone"})  # type: ignore[arg-type]
        for n in table.frame.index
    ]
    path = write_report(tmp_path / "r.xlsx", table, outcomes, Summary("c", 5, 5), comment_limit=2)
    sheet = openpyxl.load_workbook(path)[REPORT_SHEET]
    cells = [sheet.cell(line, FIRST + 2) for line in range(2, 7)]
    assert [c.comment is not None for c in cells] == [True, True, False, False, False]
    assert all(fill_of(c) == "FFC7CE" for c in cells)
    assert COMMENT_LIMIT >= 1000


def test_fault_on_joined_headers_and_unknown_columns(tmp_path: Path) -> None:
    """An issue about "A + B" comments both cells; a column the file lacks paints nothing."""
    issue = Issue(2, "Name + الاسم", "too_long", "name too long")
    outcomes = [
        RowOutcome(2, Outcome.REJECTED, None, (issue,), frozenset({"Name", "الاسم", "full_name"})),
        *(
            RowOutcome(n, Outcome.FAILED, None, (Issue(n, None, "f", "server error"),))
            for n in (3, 4, 5)
        ),
    ]
    path = write_report(tmp_path / "r.xlsx", make_table(), outcomes, Summary("j", 4, 4))
    sheet = openpyxl.load_workbook(path)[REPORT_SHEET]
    for coordinate in ("F2", "H2"):
        assert sheet[coordinate].comment is not None
        assert "name too long" in sheet[coordinate].comment.text
    assert sheet["D3"].value == "server error" and fill_of(sheet["D3"]) == "FFC7CE"


# --- CSV -----------------------------------------------------------------------------------


def read_csv_report(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens Arabic as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))  # comma, the default dialect


def test_csv_report_rows_come_back_cell_by_cell(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.csv", make_table(), sample_outcomes(), sample_summary())
    lines = read_csv_report(path)
    assert lines[0] == [*REPORT_COLUMNS, *HEADERS]
    assert [line[:3] for line in lines[1:]] == [
        ["2", "created", "WDFGHJKL"],
        ["3", "created", "WDFGHJKL"],
        ["4", "skipped", "LED-00001"],
        ["5", "invalid", ""],
    ]
    assert lines[4][3] == "Phone: '06-12' is not a phone number\nالاسم: a name is required"
    assert lines[3][FIRST:] == ["#1002", "+212698765432", "سلمى", "00012", "'=1+1"]
    for line, original in zip(lines[1:], ORIGINAL_ROWS, strict=True):
        assert [text_from_csv_cell(v) for v in line[FIRST:]] == list(original)


def test_csv_formula_corpus_escaped(tmp_path: Path) -> None:
    rows = [(value, value) for value in FORMULA_CORPUS]
    table = make_table(rows, headers=("=SUM(A1:A2)", "Phone"))
    outcomes = [
        RowOutcome(n, Outcome.INVALID, value, (Issue(n, None, "x", value),))
        for n, value in zip(table.frame.index, FORMULA_CORPUS, strict=True)
    ]
    path = write_report(tmp_path / "r.csv", table, outcomes, Summary("f", len(rows), len(rows)))
    lines = read_csv_report(path)
    assert lines[0][FIRST:] == ["'=SUM(A1:A2)", "Phone"]
    for line, value in zip(lines[1:], FORMULA_CORPUS, strict=True):
        expected = "'" + value if value in CSV_ESCAPED else value
        assert line[2] == line[3] == line[FIRST] == line[FIRST + 1] == expected, value
        assert line[4] == ""  # no warnings
    assert read_report(path).rows == tuple(
        (str(n), "invalid", v, v, "", v, v)
        for n, v in zip(table.frame.index, FORMULA_CORPUS, strict=True)
    )


def test_csv_report_reads_back_through_the_importers_reader(tmp_path: Path) -> None:
    table = make_table()
    outcomes = [RowOutcome(n, Outcome.VALID) for n in table.frame.index]
    path = write_report(tmp_path / "r.csv", table, outcomes, Summary("o", 4, 3))
    again = read_table(path)
    assert list(again.frame.columns) == [*REPORT_COLUMNS, *HEADERS]
    for header in HEADERS:
        restored = [text_from_csv_cell(v) for v in again.frame[header].tolist()]
        assert restored == table.frame[header].tolist(), header


@given(st.text(max_size=12))
def test_csv_cell_escaping_is_reversible_and_safe(value: str) -> None:
    written = csv_cell(value)
    assert text_from_csv_cell(written) == value
    if written[:1] in "=+-@\t\r＝＋－＠" and written:
        # only a plain number or a lone sign may start with a formula character
        assert re.fullmatch(r"[+-]?([0-9]+([.,][0-9]+)?)?", written), written


@given(st.lists(st.text(alphabet="=+-@\t\r'0123456789.,ab ＝١", max_size=6), max_size=20))
def test_csv_escaping_vectorised_matches_one_by_one(values: list[str]) -> None:
    """The Arrow (RE2) path and the Python path escape exactly alike."""
    assert _csv_array(pa.array(values, pa.string())).to_pylist() == [csv_cell(v) for v in values]


# --- contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_lost_row_raises_and_writes_nothing(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    with pytest.raises(ValueError, match="no outcome for 1 source row"):
        write_report(path, make_table(), sample_outcomes()[:3], sample_summary())
    twice = [*sample_outcomes(), sample_outcomes()[0]]
    with pytest.raises(ValueError, match="two outcomes for source row 2"):
        write_report(path, make_table(), twice, sample_summary())
    stranger = [*sample_outcomes(), RowOutcome(99, Outcome.CREATED, "X")]
    with pytest.raises(ValueError, match="does not have"):
        write_report(path, make_table(), stranger, sample_summary())
    assert list(tmp_path.iterdir()) == []


def test_other_suffixes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx or \.csv"):
        write_report(tmp_path / "r.json", make_table(), sample_outcomes(), sample_summary())
    with pytest.raises(ValueError):
        write_report(tmp_path / "r", make_table(), sample_outcomes(), sample_summary())


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_failed_write_keeps_the_old_report(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    write_report(path, make_table(), sample_outcomes(), sample_summary())
    before = path.read_bytes()
    # a ref that is not text makes the writer fail half-way through
    broken = [*sample_outcomes()[:3], RowOutcome(5, Outcome.CREATED, 12345)]  # type: ignore[arg-type]
    with pytest.raises((TypeError, AttributeError, pa.ArrowInvalid, pa.ArrowTypeError)):
        write_report(path, make_table(), broken, sample_summary())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_an_interrupted_xlsx_report_leaves_no_buffer_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xlsxwriter streams rows through files in the temp folder: gone on any exit."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    class Interrupted(RowOutcomes):
        """Ctrl-C arrives while the rows are being written."""

        def __iter__(self) -> Iterator[RowOutcome]:
            yield self[0]
            raise KeyboardInterrupt

    outcomes = RowOutcomes.from_list(sample_outcomes())
    interrupted = Interrupted(outcomes.rows, outcomes.outcomes, outcomes.refs, outcomes.details)
    with pytest.raises(KeyboardInterrupt):
        write_report(tmp_path / "r.xlsx", make_table(), interrupted, sample_summary())
    assert list(scratch.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_empty_tables(tmp_path: Path, suffix: str) -> None:
    path = write_report(tmp_path / f"r{suffix}", make_table(rows=[]), [], Summary("e", 0, 0))
    assert read_report(path).header == (*REPORT_COLUMNS, *HEADERS)
    assert read_report(path).rows == ()
    no_columns = Table(
        Path("x.csv"), pd.DataFrame(index=pd.Index([2, 3], name="row")), None, 1, None, None
    )
    outcomes = [RowOutcome(2, Outcome.INVALID, None, (Issue(2, None, "empty", "empty row"),))]
    outcomes.append(RowOutcome(3, Outcome.INVALID))
    path = write_report(tmp_path / f"n{suffix}", no_columns, outcomes, Summary("e", 2, 0))
    assert read_report(path).rows == (
        ("2", "invalid", "", "empty row", ""),
        ("3", "invalid", "", "", ""),
    )


def test_default_report_path() -> None:
    assert default_report_path(Path("/data/orders.xlsx")) == Path("/data/orders.report.xlsx")
    assert default_report_path(Path("exp.2024.csv")) == Path("exp.2024.report.xlsx")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_golden_report(tmp_path: Path, suffix: str) -> None:
    """A small report compared cell by cell with tests/golden (REGEN_GOLDEN=1 rewrites it)."""
    path = write_report(tmp_path / f"r{suffix}", make_table(), sample_outcomes(), sample_summary())
    contents = read_report(path)
    got = {
        "header": list(contents.header),
        "rows": [list(r) for r in contents.rows],
        "summary": {k: v for k, v in contents.summary.items() if k != "Written at"},
    }
    golden = GOLDEN / f"report_small{suffix}.json"
    if os.environ.get("REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def real_samples() -> list[Path]:
    return sorted(SHARED_SAMPLES.glob("*.csv")) if SHARED_SAMPLES.is_dir() else []


@pytest.mark.skipif(not real_samples(), reason="shared research samples not present")
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_real_samples_round_trip(tmp_path: Path, suffix: str) -> None:
    for sample in real_samples():
        table = read_table(sample)
        outcomes = [RowOutcome(n, Outcome.VALID) for n in table.frame.index]
        path = tmp_path / f"{sample.stem}{suffix}"
        write_report(path, table, outcomes, Summary(str(sample), len(outcomes), len(outcomes)))
        contents = read_report(path)
        assert contents.header == (*REPORT_COLUMNS, *table.frame.columns)
        originals = [list(r[FIRST:]) for r in contents.rows]
        assert originals == table.frame.to_numpy().tolist(), sample.name


# --- timing (not a test): python -m tests.test_report [ROWS ...] --------------------------


def time_reports(sizes: Sequence[int]) -> None:
    """Print how long reports of `sizes` rows take to write (XLSX up to 100k, CSV always)."""
    import tempfile

    for rows in sizes:
        table = make_table(
            [(f"#{i // 2}", f"06{i:08d}", "أحمد الفاسي", str(10**19 + i), "") for i in range(rows)]
        )
        outcomes = [
            RowOutcome(
                n,
                Outcome.INVALID,
                None,
                (Issue(n, "Phone", "p", "bad phone"),),
                frozenset({"Phone"}),
            )
            if n % 100 == 0
            else RowOutcome(n, Outcome.CREATED, f"WD{n:08d}")
            for n in table.frame.index
        ]
        summary = Summary("timing", rows, rows // 2)
        for suffix in (".xlsx", ".csv") if rows <= 100_000 else (".csv",):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"r{suffix}"
                wall, cpu = time.perf_counter(), time.process_time()
                write_report(path, table, outcomes, summary)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                size = path.stat().st_size / 1e6
                print(
                    f"{rows:>9,} rows {suffix:5} {wall:6.2f} s wall {cpu:6.2f} s cpu {size:7.1f} MB"
                )


if __name__ == "__main__":
    time_reports([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])


def test_a_table_too_big_for_excel_is_reported_as_csv(tmp_path: Path) -> None:
    rows = 1_048_576  # one more than a sheet holds under its header
    frame = pd.DataFrame(index=pd.RangeIndex(2, rows + 2, name="row"))
    # the CSV beside the .xlsx asked for would be the input itself: it is never overwritten
    source = tmp_path / "big.csv"
    source.write_text("the input\n")
    table = Table(source, frame, None, 1, None, None)
    outcomes = [RowOutcome(n, Outcome.VALID) for n in range(2, rows + 2)]
    written = write_report(tmp_path / "big.xlsx", table, outcomes, Summary("b", rows, rows))
    assert written == tmp_path / "big.report.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "big.report.csv"]
    assert source.read_text() == "the input\n"
    with written.open(encoding="utf-8-sig", newline="") as handle:
        lines = handle.read().split("\r\n")
    assert lines[0] == '"Row","Outcome","Lead ref","Errors","Warnings"'
    assert lines[-2] == f'{rows + 1},"valid","","",""' and len(lines) == rows + 2


def warned_outcomes() -> tuple[RowOutcome, ...]:
    changed = Issue(2, "Phone", "phone_not_listed", "kept as is", Severity.WARNING)
    wrong = Issue(5, "الاسم", "required", "a name is required")
    noticed = Issue(5, "Phone", "phone_not_listed", "kept as is", Severity.WARNING)
    return (
        RowOutcome(2, Outcome.CREATED, "WDFGHJKL", (changed,), frozenset({"Phone"})),
        RowOutcome(3, Outcome.CREATED, "WDFGHJKL"),
        RowOutcome(4, Outcome.SKIPPED, "LED-00001"),
        RowOutcome(5, Outcome.INVALID, None, (wrong, noticed), frozenset({"Phone", "الاسم"})),
    )


def test_warnings_have_their_column_their_colour_and_their_comment(tmp_path: Path) -> None:
    summary = Summary(
        "orders.csv",
        4,
        3,
        created=1,
        skipped=1,
        invalid=1,
        warnings=2,
        issues=(
            IssueCount(Severity.ERROR, "الاسم", "required", 1),
            IssueCount(Severity.WARNING, "Phone", "phone_not_listed", 2),
        ),
        notes=("Sheet read: Orders",),
    )
    path = write_report(tmp_path / "r.xlsx", make_table(), warned_outcomes(), summary)
    book = openpyxl.load_workbook(path)
    sheet = book[REPORT_SHEET]
    amber, red = "FFEB9C", "FFC7CE"
    assert sheet["B2"].value == "created" and sheet["D2"].value is None
    assert sheet["E2"].value == "Phone: kept as is" and fill_of(sheet["E2"]) == amber
    assert fill_of(sheet["G2"]) == amber and sheet["G2"].comment is not None
    assert sheet["G2"].comment.text == "Phone: kept as is"
    # an error and a warning on one row: each cell its own colour, each column its own text
    assert sheet["D5"].value == "الاسم: a name is required" and fill_of(sheet["D5"]) == red
    assert sheet["E5"].value == "Phone: kept as is"
    assert fill_of(sheet["G5"]) == amber and fill_of(sheet["H5"]) == red
    lines = [[c for c in row] for row in book[SUMMARY_SHEET].iter_rows(values_only=True)]
    assert list(lines[[r[0] for r in lines].index("warnings")][:2]) == ["warnings", 2]
    notes = [r[0] for r in lines].index("Notes")
    assert lines[notes][1] == "Sheet read: Orders"
    head = [r[0] for r in lines].index("Issues (what to fix first)")
    assert [list(r[:4]) for r in lines[head + 1 : head + 3]] == [
        ["error", "الاسم", 1, "required"],
        ["warning", "Phone", 2, "phone_not_listed"],
    ]
    assert read_report(path).summary["warnings"] == "2"


def test_csv_report_has_the_warnings_column(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.csv", make_table(), warned_outcomes(), sample_summary())
    lines = read_csv_report(path)
    assert lines[1][3:5] == ["", "Phone: kept as is"]
    assert lines[4][3:5] == ["الاسم: a name is required", "Phone: kept as is"]


@pytest.mark.parametrize("own", [REPORT_COLUMNS, EARLIER_REPORT_COLUMNS])
def test_a_report_fed_back_in_loses_its_own_columns(own: tuple[str, ...]) -> None:
    assert report_columns_in([*own, *HEADERS]) == own
    assert report_columns_in(["Row", "Outcome", *HEADERS]) == ()
