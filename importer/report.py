"""Write the import report (XLSX or CSV): every source row, what became of it, and why."""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import os
import re
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

from importer.model import Issue, Outcome, RowOutcome, RowOutcomes, Severity, Summary
from importer.read import Table

__all__ = [
    "ACTION_REPORT_COLUMNS",
    "COMMENT_LIMIT",
    "EARLIER_REPORT_COLUMNS",
    "REPORT_COLUMNS",
    "REPORT_SHEET",
    "SUMMARY_SHEET",
    "ActionReport",
    "ActionRow",
    "ReportContents",
    "csv_cell",
    "default_report_path",
    "read_report",
    "report_columns_in",
    "text_from_csv_cell",
    "write_action_report",
    "write_export",
    "write_report",
]

#: The columns the report puts before the original ones. A report fed back in carries them:
#: the mapping must ignore these names (and write_report replaces them, see `_original_columns`).
REPORT_COLUMNS = ("Row", "Outcome", "Lead ref", "Errors", "Warnings")
#: The report's own columns before warnings existed: such a report fed back in is still known.
EARLIER_REPORT_COLUMNS = ("Row", "Outcome", "Lead ref", "Errors")
REPORT_SHEET = "Report"
SUMMARY_SHEET = "Summary"
#: Faulty rows whose cells carry a comment. Past it cells are still red, but thousands of
#: comments make Excel crawl and the file balloon; the Errors column always has the full text.
COMMENT_LIMIT = 10_000
#: A comment longer than this is cut (Excel's own limit is 32,767 characters).
COMMENT_CHARS = 2_000
#: Excel's sheet size (header row included).
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
#: Column widths (in characters) stay within these bounds; only the first rows are measured.
MIN_WIDTH, MAX_WIDTH, MAX_ERRORS_WIDTH = 6, 50, 80
WIDTH_SAMPLE_ROWS = 500

#: Spreadsheets start a formula (or a DDE call) at these characters; full-width forms
#: included because some Excel input locales accept them as the ASCII ones.
FORMULA_STARTS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
#: A CSV cell is escaped when it starts with a formula character, after any quotes already
#: there (so that escaping stays reversible: see `text_from_csv_cell`).
# (spelled with escapes both Python's re and pyarrow's RE2 accept: pandas uses either)
_CSV_STARTS = "[=+\\-@\\t\\r\uff1d\uff0b\uff0d\uff20]"
_CSV_RISKY = re.compile(f"^'*{_CSV_STARTS}")
#: ... unless it is one plain number ("-5", "+212612345678", "-0,5") or a lone sign (Shopify
#: writes "-" for no zip code): a spreadsheet reads that as a number or as text, never as a
#: formula, and prefixing would change amounts and phones on their way back in.
# ([0-9], not \d: Python's \d takes Arabic-Indic digits, RE2's does not)
_CSV_PLAIN_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:[.,][0-9]+)?)?$")
_CSV_ESCAPED = re.compile(f"^'+{_CSV_STARTS}")

_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")

#: Text colour and fill per outcome, Excel's own "Good", "Neutral" and "Bad" styles.
_GREEN = {"bg_color": "#C6EFCE", "font_color": "#006100"}
_GREY = {"bg_color": "#E7E6E6", "font_color": "#3A3838"}
_RED = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
_AMBER = {"bg_color": "#FFEB9C", "font_color": "#9C5700"}
OUTCOME_COLOURS: Mapping[Outcome, Mapping[str, str]] = {
    Outcome.CREATED: _GREEN,
    Outcome.VALID: _GREEN,
    Outcome.SKIPPED: _GREY,
    Outcome.INVALID: _RED,
    Outcome.REJECTED: _RED,
    Outcome.FAILED: _RED,
    Outcome.QUEUED: _AMBER,
    Outcome.UNCERTAIN: _AMBER,
}
ERROR_FILL = _RED
WARNING_FILL = _AMBER

#: The Summary sheet's legend: what each outcome means and what to do about it.
LEGEND: Mapping[Outcome, str] = {
    Outcome.CREATED: "Created on WedoCOD now; its reference is in 'Lead ref'. Nothing to do.",
    Outcome.SKIPPED: "Already imported (an earlier run or an overlapping export); 'Lead ref' is "
    "the lead created then. Nothing to do: it is never created twice.",
    Outcome.INVALID: "Our checks found a problem, nothing was sent. The red cells and 'Errors' "
    "say what; fix them and import this report again (done rows are skipped).",
    Outcome.REJECTED: "The server refused the lead (its field rules). Fix the red cells and "
    "import this report again.",
    Outcome.FAILED: "The server failed the lead, or the retries ran out. Import the file again "
    "later: nothing already created is sent twice.",
    Outcome.QUEUED: "Accepted by the server for background processing; the reference is not "
    "known yet. Run `wedocod reconcile` later (or import again) to learn it.",
    Outcome.UNCERTAIN: "Sent, but the answer was lost, and the lead could not be found yet. Run "
    "`wedocod reconcile` (it looks the lead up, never re-sends blindly), then import again.",
    Outcome.VALID: "Dry run (`wedocod check`): the row passed every check; nothing was sent.",
}


def default_report_path(input: Path) -> Path:
    """Where the report goes when no path is given: ``<dir>/<stem>.report.xlsx``."""
    return input.parent / f"{input.stem}.report.xlsx"


def write_report(
    path: Path,
    table: Table,
    outcomes: Sequence[RowOutcome],
    summary: Summary,
    *,
    comment_limit: int = COMMENT_LIMIT,
) -> Path:
    """Write the report for `table` to `path` (``.xlsx`` or ``.csv``), atomically.

    Returns the path written: the same, except when an Excel sheet cannot hold the table
    (over 1,048,575 rows): the report is then written as CSV beside it, ``<stem>.csv``,
    rather than lost after an import. In an XLSX, the faulty cells of the first
    `comment_limit` faulty rows carry a comment.

    Raises ValueError when the suffix is neither, or when an outcome is missing for a row
    of the table (or is given twice, or names a row it does not have).
    """
    path = Path(path)
    kind = _report_kind(path)
    frame = _original_columns(table.frame)
    ordered = _outcomes_in_source_order(frame.index, outcomes)
    too_big = len(frame) + 1 > EXCEL_MAX_ROWS or len(frame.columns) + 4 > EXCEL_MAX_COLUMNS
    if kind == "xlsx" and too_big:
        path, kind = path.with_suffix(".csv"), "csv"
        if path.resolve() == Path(table.path).resolve():  # `--report orders.xlsx` for orders.csv
            path = path.with_name(f"{path.stem}.report.csv")
    if kind == "xlsx":
        _write_atomically(
            path, lambda tmp: _write_xlsx(tmp, table, frame, ordered, summary, comment_limit)
        )
    else:
        _write_atomically(path, lambda tmp: _write_csv(tmp, frame, ordered))
    return path


def csv_cell(value: str) -> str:
    """The cell as written to a CSV report: a leading ``'`` where a spreadsheet would see a
    formula (OWASP's CSV-injection advice), plain numbers left alone."""
    if _CSV_RISKY.match(value) and not _CSV_PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def text_from_csv_cell(value: str) -> str:
    """Undo `csv_cell`: ``text_from_csv_cell(csv_cell(v)) == v`` for every string."""
    return value[1:] if _CSV_ESCAPED.match(value) else value


@dataclass(frozen=True)
class ReportContents:
    """A report read back as text: the header, the rows and (XLSX only) the Summary sheet."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    summary: dict[str, str] = field(default_factory=dict)


def read_report(path: Path) -> ReportContents:
    """Read a report written by `write_report` back as text (for tests and tooling).

    Numbers (the ``Row`` column, Summary counts) come back as their digits; empty cells as
    ""; CSV cells escaped by `csv_cell` come back as they were.
    """
    path = Path(path)
    if _report_kind(path) == "csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            lines = [[text_from_csv_cell(v) for v in line] for line in csv.reader(handle)]
        return ReportContents(tuple(lines[0]), tuple(tuple(line) for line in lines[1:]))
    import openpyxl  # only to read a report back: writing never needs it

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        lines = [[_cell_text(v) for v in row] for row in book[REPORT_SHEET].values]
        summary: dict[str, str] = {}
        if SUMMARY_SHEET in book.sheetnames:
            # the facts block: label / value lines under the title, up to the first blank line
            for row in list(book[SUMMARY_SHEET].values)[2:]:
                if not row or row[0] is None:
                    break
                summary[_cell_text(row[0])] = _cell_text(row[1]) if len(row) > 1 else ""
    finally:
        book.close()
    width = len(lines[0]) if lines else 0
    padded = tuple(tuple(line + [""] * (width - len(line))) for line in lines[1:])
    return ReportContents(tuple(lines[0]), padded, summary)


# --- shared --------------------------------------------------------------------------------


def _report_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return "xlsx"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"{path}: a report is written as .xlsx or .csv, not {suffix or 'no suffix'!r}")


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file beside `path`, so a crash never leaves half a report."""
    # a fresh name, created by the writer itself: the report gets the usual (umask) mode
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def report_columns_in(headers: Sequence[Any]) -> tuple[str, ...]:
    """The report's own columns a table starts with (none, unless it is one of our reports).

    Only when all of them are there, first: a seller's own column named "Row" stays.
    """
    for own in (REPORT_COLUMNS, EARLIER_REPORT_COLUMNS):
        if tuple(str(h) for h in headers[: len(own)]) == own:
            return own
    return ()


def _original_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The source columns as text, minus an earlier report's own columns.

    A report fixed in Excel and imported again carries Row/Outcome/Lead ref/Errors/Warnings
    from the last run; they are replaced, not repeated.
    """
    own = report_columns_in(list(frame.columns))
    if own:
        frame = frame.drop(columns=list(own))
    if frame.isna().to_numpy().any():
        frame = frame.fillna("")
    return frame


def _outcomes_in_source_order(index: pd.Index, outcomes: Sequence[RowOutcome]) -> RowOutcomes:
    if isinstance(outcomes, RowOutcomes) and np.array_equal(
        np.asarray(outcomes.rows, dtype=np.int64), index.to_numpy(dtype=np.int64)
    ):
        return outcomes  # the pipeline's columns, already one per row in source order
    rows = index.tolist()
    by_row: dict[int, RowOutcome] = {}
    for outcome in outcomes:
        if outcome.row in by_row:
            raise ValueError(f"two outcomes for source row {outcome.row}")
        by_row[outcome.row] = outcome
    missing = [row for row in rows if row not in by_row]
    if missing:
        shown = ", ".join(str(r) for r in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ValueError(f"no outcome for {len(missing)} source row(s): {shown}")
    if len(by_row) != len(rows):
        extra = sorted(set(by_row) - set(rows))[:10]
        raise ValueError(f"outcomes for rows the table does not have: {extra}")
    return RowOutcomes.from_list([by_row[row] for row in rows])


def _errors_text(issues: Sequence[Issue]) -> str:
    """One line per issue, "<column>: <message>" (the row is in the Row column already)."""
    return "\n".join(f"{i.column}: {i.message}" if i.column else i.message for i in issues)


def _split(issues: Sequence[Issue]) -> tuple[str, str]:
    """The Errors and the Warnings cells of one row (called for every row with issues)."""
    error = Severity.ERROR
    if len(issues) == 1:
        (i,) = issues
        text = f"{i.column}: {i.message}" if i.column else i.message
        return (text, "") if i.severity is error else ("", text)
    return (
        _errors_text([i for i in issues if i.severity is error]),
        _errors_text([i for i in issues if i.severity is not error]),
    )


def _comment(issues: Sequence[Issue], header: str) -> str:
    """A faulty cell's comment: what is said about it (else about the row), warnings marked."""
    about = [i for i in issues if _is_about(i, header)] or list(issues)
    mixed = len({i.severity for i in about}) > 1
    return "\n".join(
        ("Warning: " if mixed and not i.is_error else "") + _errors_text([i]) for i in about
    )


def _is_about(issue: Issue, header: str) -> bool:
    # an issue's column may name several joined source headers ("First name + Last name")
    if not issue.column:
        return False
    return issue.column == header or header in (p.strip() for p in issue.column.split(" + "))


def _text(values: Iterable[Any]) -> list[str]:
    return [v if isinstance(v, str) else str(v) for v in values]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        # openpyxl leaves OOXML's escapes of control characters ("_x000D_") as they are
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return str(value)


# --- CSV -----------------------------------------------------------------------------------


def _write_csv(tmp: Path, frame: pd.DataFrame, ordered: RowOutcomes) -> None:
    """Vectorised: the columns become Arrow arrays, are escaped whole, and Arrow writes them.

    (pandas' ``to_csv`` took 5 s for 1M rows; Arrow's writer a fraction of that. It quotes
    every text cell, which any CSV reader takes.)
    """
    errors = [""] * len(ordered)
    warnings = [""] * len(ordered)
    if ordered.details:
        rows = list(ordered.details)
        for at, row in zip(frame.index.get_indexer(pd.Index(rows)), rows, strict=True):
            errors[at], warnings[at] = _split(ordered.details[row].errors)
    texts = [
        pc.fill_null(pa.array(ordered.refs, pa.string()), ""),
        pa.array(errors, pa.string()),
        pa.array(warnings, pa.string()),
        *(_arrow_text(frame.iloc[:, i]) for i in range(len(frame.columns))),
    ]
    # Arrow's kernels let go of the GIL: escaping the columns side by side uses both cores
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        escaped = list(pool.map(_csv_array, texts))
    arrays = [pa.array(ordered.rows, pa.int64()), pa.array(ordered.outcomes, pa.string())]
    arrays.extend(escaped)
    names = [*REPORT_COLUMNS, *(csv_cell(str(c)) for c in frame.columns)]
    # duplicate names are fine: a source header may repeat a report column's name
    data = pa.Table.from_arrays(arrays, names=names)
    with tmp.open("wb") as handle:
        handle.write(codecs.BOM_UTF8)  # so that Excel reads UTF-8 (Arabic) as UTF-8
        pacsv.write_csv(data, handle, pacsv.WriteOptions(eol="\r\n"))


def _arrow_text(column: pd.Series) -> Any:
    if not pd.api.types.is_string_dtype(column):
        column = column.astype(str)
    return pa.array(column, pa.string(), from_pandas=True)


#: The first characters of a cell `csv_cell` may escape (an apostrophe, then a formula start).
_CSV_FIRST = ("'", "=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _csv_array(values: Any) -> Any:
    """`csv_cell` over a whole Arrow string array.

    The regexes run only on the cells whose first character could start a formula (a few
    per column: phones written +212..., negative amounts), the rest is one lookup each.
    """
    first = pc.utf8_slice_codeunits(values, 0, 1)
    maybe = pc.fill_null(pc.is_in(first, value_set=pa.array(_CSV_FIRST, first.type)), False)
    if not pc.any(maybe).as_py():
        return values
    some = pc.filter(values, maybe)
    risky = pc.and_(
        pc.match_substring_regex(some, _CSV_RISKY.pattern),
        pc.invert(pc.match_substring_regex(some, _CSV_PLAIN_NUMBER.pattern)),
    )
    if not pc.any(risky).as_py():
        return values
    escaped = pc.if_else(risky, pc.binary_join_element_wise("'", some, ""), some)
    return pc.replace_with_mask(values, maybe, escaped)


# --- XLSX ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _workbook(path: Path) -> Iterator[Any]:
    """An xlsxwriter workbook writing to `path`; closed (saved) when the block ends cleanly.

    Rows stream to disk as they are written (a big report does not sit in memory), through
    buffers in a scratch folder that is removed on any exit, Ctrl-C included.
    """
    import xlsxwriter  # only an XLSX report needs it (~40 ms to import)

    with tempfile.TemporaryDirectory(prefix="wedocod-") as scratch:
        book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": scratch,
                # belt and braces: we only call write_string, but these keep write() from ever
                # turning text into a formula, a link or a number
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        yield book
        book.close()


def _write_xlsx(
    tmp: Path,
    table: Table,
    frame: pd.DataFrame,
    ordered: RowOutcomes,
    summary: Summary,
    comment_limit: int,
) -> None:
    with _workbook(tmp) as book:
        report = book.add_worksheet(REPORT_SHEET)  # first: the reader takes the first sheet
        summary_sheet = book.add_worksheet(SUMMARY_SHEET)
        _write_report_sheet(book, report, frame, ordered, comment_limit)
        _write_summary_sheet(book, summary_sheet, table, ordered, summary)


def _write_report_sheet(
    book: Any, sheet: Any, frame: pd.DataFrame, ordered: Sequence[RowOutcome], comment_limit: int
) -> None:
    headers = _text(frame.columns)
    columns = [_text(frame.iloc[:, i].tolist()) for i in range(len(headers))]
    bold = book.add_format({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"})
    error = book.add_format(dict(ERROR_FILL))
    warning = book.add_format(dict(WARNING_FILL))
    by_outcome = {o: book.add_format(dict(colour)) for o, colour in OUTCOME_COLOURS.items()}
    first = len(REPORT_COLUMNS)
    position = {h: first + i for i, h in enumerate(headers)}

    # widths, then the frozen, filterable header: all before any row (constant_memory)
    sample = ordered[:WIDTH_SAMPLE_ROWS]
    sheet.set_column(0, 0, max(5, len(str(ordered[-1].row)) + 3) if ordered else 6)
    sheet.set_column(1, 1, 11)
    sheet.set_column(2, 2, _width(["Lead ref", *(o.ref or "" for o in sample)], MAX_WIDTH))
    said = [_split(o.errors) for o in sample]
    sheet.set_column(3, 3, _width(["Errors", *(e for e, _ in said)], MAX_ERRORS_WIDTH))
    sheet.set_column(4, 4, _width(["Warnings", *(w for _, w in said)], MAX_ERRORS_WIDTH))
    for i, header in enumerate(headers):
        sheet.set_column(first + i, first + i, _width([header, *columns[i][:WIDTH_SAMPLE_ROWS]]))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(ordered), 1), first + len(headers) - 1)
    for col, name in enumerate([*REPORT_COLUMNS, *headers]):
        sheet.write_string(0, col, name, bold)

    write_string, write_number = sheet.write_string, sheet.write_number
    commented = 0
    # zip(*columns) is empty when the source has no column at all: rows must still be written
    cells: Iterable[tuple[str, ...]] = zip(*columns, strict=True) if columns else repeat(())
    for line, (outcome, values) in enumerate(zip(ordered, cells, strict=False), start=1):
        write_number(line, 0, outcome.row)
        write_string(line, 1, outcome.outcome.value, by_outcome[outcome.outcome])
        if outcome.ref:
            write_string(line, 2, outcome.ref)
        if outcome.errors:
            errors_text, warnings_text = _split(outcome.errors)
            if errors_text:
                write_string(line, 3, errors_text, error)
            if warnings_text:
                write_string(line, 4, warnings_text, warning)
        # empty cells are not written at all: a blank cell reads back as "" and it keeps
        # Shopify's mostly-empty continuation rows cheap
        for col, value in enumerate(values, start=first):
            if value:
                write_string(line, col, value)
        if not outcome.columns:
            continue
        comment = commented < comment_limit
        commented += 1
        for header in sorted(outcome.columns, key=lambda h: position.get(h, 0)):
            at = position.get(header)
            if at is None:  # a canonical name, not a source header: nothing to paint
                continue
            value = values[at - first]
            wrong = any(i.is_error and _is_about(i, header) for i in outcome.errors)
            fill = error if wrong else warning
            if value:
                write_string(line, at, value, fill)
            else:
                sheet.write_blank(line, at, None, fill)
            if comment:
                text = _comment(outcome.errors, header)
                if text:
                    sheet.write_comment(line, at, _cut(text, COMMENT_CHARS))


def _write_summary_sheet(
    book: Any,
    sheet: Any,
    table: Table,
    ordered: RowOutcomes,
    summary: Summary,
) -> None:
    title = book.add_format({"bold": True, "font_size": 14})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    by_outcome = {o: book.add_format(dict(colour)) for o, colour in OUTCOME_COLOURS.items()}
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 40)
    sheet.set_column(2, 2, 10)
    sheet.set_column(3, 3, 90)

    sheet.write_string(0, 0, "WedoCOD import report", title)
    facts: list[tuple[str, str | int | None]] = [
        ("File", summary.file or str(table.path)),
        ("Sheet", table.sheet),
        ("Written at", dt.datetime.now().astimezone().isoformat(timespec="seconds")),
    ]
    for key, value in summary.to_dict().items():
        if key != "file" and not isinstance(value, list):  # issues and notes have their blocks
            facts.append((key, value))
    # the outcomes to_dict leaves out when zero, so that every outcome has its line
    facts.extend((o.value, 0) for o in Outcome if o.value not in summary.to_dict())
    line = 2
    for key, value in facts:
        sheet.write_string(line, 0, key, bold)
        if isinstance(value, int):
            sheet.write_number(line, 1, value)
        elif value:
            sheet.write_string(line, 1, str(value))
        line += 1

    if summary.notes:
        line += 1
        sheet.write_string(line, 0, "Notes", bold)
        for note in summary.notes:
            sheet.write_string(line, 1, note)
            line += 1
    if summary.issues:
        line += 1
        issue_fill = {
            Severity.ERROR: book.add_format(dict(ERROR_FILL)),
            Severity.WARNING: book.add_format(dict(WARNING_FILL)),
        }
        for col, name in enumerate(("Issues (what to fix first)", "Column", "Rows", "Code")):
            sheet.write_string(line, col, name, bold)
        for count in summary.issues:
            line += 1
            sheet.write_string(line, 0, count.severity.value, issue_fill[count.severity])
            sheet.write_string(line, 1, count.column or "(the whole row)")
            sheet.write_number(line, 2, count.rows)
            sheet.write_string(line, 3, count.code)

    line += 2
    rows_per_outcome = Counter(ordered.outcomes)  # plain "valid" and Outcome.VALID are one
    for col, name in enumerate(("Outcome", "Leads", "Rows", "What it means / what to do")):
        sheet.write_string(line, col, name, bold)
    for outcome in Outcome:
        line += 1
        sheet.write_string(line, 0, outcome.value, by_outcome[outcome])
        sheet.write_number(line, 1, int(getattr(summary, outcome.value)))
        sheet.write_number(line, 2, rows_per_outcome.get(outcome, 0))
        sheet.write_string(line, 3, LEGEND[outcome], wrap)
    line += 2
    notes = (
        "Counts are leads (an order of several rows is one lead), except 'rows'.",
        "Red cells are the ones at fault; hover them for the message "
        f"(the first {COMMENT_LIMIT:,} faulty rows carry comments; 'Errors' always says it all).",
        "Amber cells carry a warning: the row was sent (or, for a check, would be) as it is "
        "or with the change 'Warnings' describes. Check it; --strict holds such rows back.",
        "To fix and retry: correct the cells in the Report sheet, save, and import this file "
        "again. The Row, Outcome, Lead ref and Errors columns are ignored on the way in.",
    )
    for note in notes:
        sheet.write_string(line, 0, note)
        line += 1


def _width(values: Iterable[str], cap: int = MAX_WIDTH) -> int:
    longest = max((max(len(part) for part in v.split("\n")) for v in values if v), default=0)
    # + 3 leaves room for the autofilter's arrow on the header
    return max(MIN_WIDTH, min(cap, longest + 3))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- reports of bulk actions (update, delete) and exports ------------------------------------

#: The columns an action report (`update`, `delete`) puts before the original ones. An
#: update report fed back in carries them: `wedocod update` drops them on the way in.
ACTION_REPORT_COLUMNS = ("Row", "Outcome", "Lead id", "Errors")

#: Outcome colours of action reports: done green, refused amber, absent grey, the rest red.
ACTION_COLOURS: Mapping[str, Mapping[str, str]] = {
    "updated": _GREEN,
    "deleted": _GREEN,
    "refused": _AMBER,
    "not found": _GREY,
    "invalid": _RED,
    "rejected": _RED,
    "failed": _RED,
}


class ActionRow(Protocol):
    """One line of an action report (`importer.bulk.ItemOutcome` is one)."""

    @property
    def row(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def lead_id(self) -> str | None: ...
    @property
    def errors(self) -> tuple[Issue, ...]: ...
    @property
    def columns(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class ActionReport:
    """What the Summary sheet of an action report says besides the counts.

    ``legend``: every outcome the command has, in order, with what it means and what to do;
    ``facts``: label/value lines (file, counts...) under the title.
    """

    title: str
    legend: Mapping[str, str]
    facts: Sequence[tuple[str, str | int | None]]
    notes: Sequence[str] = ()


def write_action_report(
    path: Path, frame: pd.DataFrame, rows: Sequence[ActionRow], about: ActionReport
) -> Path:
    """Write the report of an update or a delete: every row of `frame` (the source, its index
    the row numbers) with its outcome, lead id and errors, then its cells. Atomic.

    XLSX: a Report sheet (faulty cells red, with the message as a comment; the header frozen
    and filterable) and a Summary sheet, laid out as the import report's so that
    `read_report` reads it back. CSV: the Report sheet alone, formula-safe.
    """
    path = Path(path)
    kind = _report_kind(path)
    by_row: dict[int, ActionRow] = {}
    for item in rows:
        if item.row in by_row:
            raise ValueError(f"two outcomes for source row {item.row}")
        by_row[item.row] = item
    index = [int(r) for r in frame.index.tolist()]
    missing = [r for r in index if r not in by_row]
    if missing or len(by_row) != len(index):
        raise ValueError(f"outcomes do not match the source rows (missing: {missing[:10]})")
    ordered = [by_row[r] for r in index]
    headers = _text(frame.columns)
    columns = [_text(frame.iloc[:, i].fillna("").tolist()) for i in range(len(headers))]
    cells = [list(values) for values in zip(*columns, strict=True)] if columns else []
    cells = cells or [[] for _ in ordered]
    if kind == "csv":
        _write_atomically(path, lambda tmp: _write_action_csv(tmp, headers, ordered, cells))
    else:
        _write_atomically(path, lambda tmp: _write_action_xlsx(tmp, headers, ordered, cells, about))
    return path


def _write_action_csv(
    tmp: Path, headers: list[str], ordered: Sequence[ActionRow], cells: list[list[str]]
) -> None:
    with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([*ACTION_REPORT_COLUMNS, *(csv_cell(h) for h in headers)])
        for item, values in zip(ordered, cells, strict=True):
            writer.writerow(
                [
                    item.row,
                    item.outcome,
                    csv_cell(item.lead_id or ""),
                    csv_cell(_errors_text(item.errors)),
                    *(csv_cell(v) for v in values),
                ]
            )


def _write_action_xlsx(
    tmp: Path,
    headers: list[str],
    ordered: Sequence[ActionRow],
    cells: list[list[str]],
    about: ActionReport,
) -> None:
    with _workbook(tmp) as book:
        report = book.add_worksheet(REPORT_SHEET)
        summary = book.add_worksheet(SUMMARY_SHEET)
        _write_action_sheet(book, report, headers, ordered, cells)
        _write_action_summary(book, summary, ordered, about)


def _write_action_sheet(
    book: Any,
    sheet: Any,
    headers: list[str],
    ordered: Sequence[ActionRow],
    cells: list[list[str]],
) -> None:
    bold = book.add_format({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"})
    error = book.add_format(dict(ERROR_FILL))
    colours = {o: book.add_format(dict(c)) for o, c in ACTION_COLOURS.items()}
    first = len(ACTION_REPORT_COLUMNS)
    position = {h: first + i for i, h in enumerate(headers)}
    sample = ordered[:WIDTH_SAMPLE_ROWS]
    sheet.set_column(0, 0, max(5, len(str(ordered[-1].row)) + 3) if ordered else 6)
    sheet.set_column(1, 1, 11)
    sheet.set_column(2, 2, _width(["Lead id", *(o.lead_id or "" for o in sample)]))
    sheet.set_column(
        3, 3, _width(["Errors", *(_errors_text(o.errors) for o in sample)], MAX_ERRORS_WIDTH)
    )
    for i, header in enumerate(headers):
        values = [header, *(line[i] for line in cells[:WIDTH_SAMPLE_ROWS])]
        sheet.set_column(first + i, first + i, _width(values))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(ordered), 1), first + len(headers) - 1)
    for col, name in enumerate([*ACTION_REPORT_COLUMNS, *headers]):
        sheet.write_string(0, col, name, bold)
    for line, (item, values) in enumerate(zip(ordered, cells, strict=True), start=1):
        sheet.write_number(line, 0, item.row)
        sheet.write_string(line, 1, item.outcome, colours.get(item.outcome))
        if item.lead_id:
            sheet.write_string(line, 2, item.lead_id)
        if item.errors:
            sheet.write_string(line, 3, _errors_text(item.errors), error)
        for col, value in enumerate(values, start=first):
            if not value:
                continue
            if item.columns and headers[col - first] in item.columns:
                continue  # written below, painted
            sheet.write_string(line, col, value)
        for header in sorted(item.columns, key=lambda h: position.get(h, 0)):
            at = position.get(header)
            if at is None:
                continue
            value = values[at - first]
            if value:
                sheet.write_string(line, at, value, error)
            else:
                sheet.write_blank(line, at, None, error)
            text = _errors_text([i for i in item.errors if _is_about(i, header)])
            if text := text or _errors_text(item.errors):
                sheet.write_comment(line, at, _cut(text, COMMENT_CHARS))


def _write_action_summary(
    book: Any, sheet: Any, ordered: Sequence[ActionRow], about: ActionReport
) -> None:
    title = book.add_format({"bold": True, "font_size": 14})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    colours = {o: book.add_format(dict(c)) for o, c in ACTION_COLOURS.items()}
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 40)
    sheet.set_column(2, 2, 90)
    sheet.write_string(0, 0, about.title, title)
    facts = [
        *about.facts,
        ("Written at", dt.datetime.now().astimezone().isoformat(timespec="seconds")),
    ]
    line = 2  # the facts block, as `read_report` reads it: label/value lines to a blank one
    for key, value in facts:
        sheet.write_string(line, 0, key, bold)
        if isinstance(value, int):
            sheet.write_number(line, 1, value)
        elif value:
            sheet.write_string(line, 1, str(value))
        line += 1
    line += 1
    counts = Counter(item.outcome for item in ordered)
    for col, name in enumerate(("Outcome", "Rows", "What it means / what to do")):
        sheet.write_string(line, col, name, bold)
    for outcome, meaning in about.legend.items():
        line += 1
        sheet.write_string(line, 0, outcome, colours.get(outcome))
        sheet.write_number(line, 1, counts.get(outcome, 0))
        sheet.write_string(line, 2, meaning, wrap)
    line += 2
    for note in about.notes:
        sheet.write_string(line, 0, note)
        line += 1


#: The sheets of an XLSX export: one row per lead, then one row per product line.
LEADS_SHEET = "Leads"
PRODUCTS_SHEET = "Products"


def write_export(
    path: Path,
    lead_columns: Sequence[str],
    product_columns: Sequence[str],
    records: Iterable[tuple[Sequence[str], Sequence[Sequence[str | int]]]],
) -> tuple[int, int]:
    """Write exported leads, formula-safe and atomically: each record is (lead row, its
    product rows). XLSX: a Leads sheet and a Products sheet; CSV: the lead rows only.

    Streams: rows go to disk as they come (xlsxwriter's buffers in a scratch folder that is
    removed on any exit, Ctrl-C included). Returns (leads, product rows) written. Raises
    ValueError when an Excel sheet cannot hold them (use .csv).
    """
    path = Path(path)
    kind = _report_kind(path)
    counts = [0, 0]

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow([csv_cell(c) for c in lead_columns])
            for lead, products in records:
                writer.writerow([csv_cell(str(v)) for v in lead])
                counts[0] += 1
                counts[1] += len(products)

    def write_xlsx(tmp: Path) -> None:
        with _workbook(tmp) as book:
            bold = book.add_format({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"})
            sheets = []
            for name, columns in ((LEADS_SHEET, lead_columns), (PRODUCTS_SHEET, product_columns)):
                sheet = book.add_worksheet(name)
                for col, header in enumerate(columns):
                    sheet.set_column(col, col, max(MIN_WIDTH, min(MAX_WIDTH, len(header) + 8)))
                    sheet.write_string(0, col, header, bold)
                sheet.freeze_panes(1, 0)
                sheets.append(sheet)
            leads, lines = sheets
            for lead, products in records:
                counts[0] += 1
                if counts[0] >= EXCEL_MAX_ROWS or counts[1] + len(products) >= EXCEL_MAX_ROWS:
                    raise ValueError(f"{path}: too many rows for an Excel sheet; export to .csv")
                _write_text_row(leads, counts[0], lead)
                for product in products:
                    counts[1] += 1
                    _write_text_row(lines, counts[1], product)
            for sheet, columns, count in ((leads, lead_columns, counts[0]),
                                          (lines, product_columns, counts[1])):  # fmt: skip
                sheet.autofilter(0, 0, max(count, 1), max(len(columns) - 1, 0))

    _write_atomically(path, write_xlsx if kind == "xlsx" else write_csv)
    return counts[0], counts[1]


def _write_text_row(sheet: Any, line: int, values: Sequence[str | int]) -> None:
    for col, value in enumerate(values):
        if isinstance(value, int) and not isinstance(value, bool):
            sheet.write_number(line, col, value)
        elif value:
            sheet.write_string(line, col, str(value))
