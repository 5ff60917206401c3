"""Read a CSV or spreadsheet export into a frame of text indexed by the row numbers people see."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import python_calamine

from importer.errors import ReadError as ReadError
from importer.model import Issue

__all__ = ["ReadError", "Table", "read_table"]

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary .xls (and other Office files)
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
DELIMITERS = (",", ";", "\t", "|")
#: Sheets with these names (casefolded) are tried first: they are what exporters call the orders.
ORDER_SHEET_NAMES = ("orders", "commandes", "order", "commande", "الطلبات", "طلبات")
#: How far below the top a header row may sit under title rows.
HEADER_SEARCH_ROWS = 20
#: How much of a CSV the encoding and delimiter guesses look at.
SAMPLE_BYTES = 1 << 20
ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")
LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Table:
    """A source file as text: every cell a string, the index the row number the user sees."""

    path: Path
    frame: pd.DataFrame
    sheet: str | None
    header_row: int
    encoding: str | None
    delimiter: str | None
    #: what reading noticed about some rows or cells (a short row, a garbled line...): kept
    #: as issues so that those rows say so in the report
    issues: tuple[Issue, ...] = ()


def read_table(path: Path, sheet: str | None = None) -> Table:
    """Read a CSV, XLSX/XLSM, XLS or ODS file; ``sheet`` picks a workbook sheet by name."""
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    if path.is_dir():
        raise ReadError(f"{path}: is a folder, not a file")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as err:
        raise ReadError(f"{path}: cannot be opened ({err.strerror or err})") from err
    suffix = path.suffix.lower()
    is_workbook_content = head.startswith(ZIP_MAGIC) or head.startswith(OLE_MAGIC)
    if suffix in TEXT_SUFFIXES and is_workbook_content:
        raise ReadError(
            f"{path}: is an Excel workbook saved under a {suffix} name; "
            "rename it to .xlsx (or .xls) or save it as CSV from Excel"
        )
    if suffix in WORKBOOK_SUFFIXES or (suffix not in TEXT_SUFFIXES and is_workbook_content):
        return _read_workbook(path, sheet)
    return _read_csv(path)


# --- CSV -----------------------------------------------------------------------------------


def _read_csv(path: Path) -> Table:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ReadError(f"{path}: cannot be read ({err.strerror or err})") from err
    # isspace() stops at the first visible byte; strip() would copy the whole file first.
    if not data or data.isspace():
        raise ReadError(f"{path}: the file is empty")
    encoding, data = _decode_to_utf8(path, data)
    delimiter = _detect_delimiter(_sample(data))
    rows = _parse_csv(data, delimiter)
    if rows is None and encoding == "utf-8" and not _is_utf8(data):
        # The UTF-8 guess was optimistic (see _decode_to_utf8): re-read as a legacy Excel export.
        encoding = _guess_legacy_encoding(data[:SAMPLE_BYTES])
        data = data.decode(encoding, errors="replace").encode("utf-8")
        delimiter = _detect_delimiter(_sample(data))
        rows = _parse_csv(data, delimiter)
    if rows is None:
        rows = _parse_csv_slowly(data.decode("utf-8", errors="replace"), delimiter)
    if not rows.num_rows:
        raise ReadError(f"{path}: the file is empty")
    frame = _frame_from_arrow(rows)
    header = [str(v) for v in frame.iloc[0].tolist()]
    body = frame.iloc[1:]
    body.index = pd.RangeIndex(2, 2 + len(body), name="row")
    body = _finish_frame(body, header)
    if body.empty:
        raise ReadError(f"{path}: the file has a header line but no rows below it")
    return Table(path, body, None, 1, encoding, delimiter)


def _sample(data: bytes) -> str:
    return data[:SAMPLE_BYTES].decode("utf-8", errors="ignore")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_to_utf8(path: Path, data: bytes) -> tuple[str, bytes]:
    """Return the detected encoding and the bytes as UTF-8 without a BOM.

    Without a BOM the answer is "utf-8" unchecked: pyarrow checks every cell while parsing,
    and decoding the whole file here only to check it cost as much as the parse itself.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", data[len(codecs.BOM_UTF8) :]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export is UTF-16 with a BOM.
        try:
            return "utf-16", data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as err:
            raise ReadError(f"{path}: is not valid UTF-16 text ({err.reason})") from err
    if b"\x00" in data[:8192]:
        raise ReadError(f"{path}: is not a text (CSV) file: it holds binary data")
    return "utf-8", data


def _guess_legacy_encoding(sample: bytes) -> str:
    """Choose between Windows-1252 (French/English Excel) and Windows-1256 (Arabic Excel).

    Both map most bytes, and cp1256 even keeps the lowercase French accents where cp1252 has
    them; what differs is the words they make. Decoded as cp1256, Arabic text gives words made
    only of Arabic letters, while Latin text gives Arabic letters stuck inside Latin words
    (``ÉCOLE`` -> ``ةCOLE``). Words vote; a tie means Latin.
    """
    try:
        sample.decode("cp1252")
    except UnicodeDecodeError:
        return "cp1256"  # bytes that cp1252 leaves undefined are Persian/Urdu letters in cp1256
    arabic = latin = 0
    for word in WORD.findall(sample.decode("cp1256", errors="replace")):
        arabic_letters = len(ARABIC_LETTER.findall(word))
        if not arabic_letters:
            continue
        if LATIN_LETTER.search(word):
            latin += 1
        elif arabic_letters >= 2:
            arabic += 1
    return "cp1256" if arabic > latin else "cp1252"


def _detect_delimiter(sample: str, max_records: int = 50) -> str:
    """Pick the delimiter found the same non-zero number of times on most records.

    Counting happens outside quotes, record by record (a quoted newline does not end one),
    which copes with decimal commas in a semicolon file and with addresses full of commas.
    """
    counts: dict[str, list[int]] = {d: [] for d in DELIMITERS}
    current = dict.fromkeys(DELIMITERS, 0)
    in_quotes = False
    records = 0
    for char in sample:
        if char == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif char == "\n":
            if any(current.values()):
                for d in DELIMITERS:
                    counts[d].append(current[d])
                records += 1
                if records >= max_records:
                    break
            current = dict.fromkeys(DELIMITERS, 0)
        elif char in current:
            current[char] += 1
    else:
        if any(current.values()):
            for d in DELIMITERS:
                counts[d].append(current[d])
    best, best_score = ",", (0.0, 0)
    for d in DELIMITERS:
        seen = [c for c in counts[d]]
        if not seen:
            continue
        mode, times = Counter(seen).most_common(1)[0]
        if mode == 0:
            continue
        # The header line decides most: it has one delimiter fewer than columns, always.
        score = (times / len(seen) + (0.5 if seen[0] == mode else 0.0), mode)
        if score > best_score:
            best, best_score = d, score
    return best


def _parse_csv(data: bytes, delimiter: str) -> pa.Table | None:
    """Parse with pyarrow (fast); None when rows are ragged or a cell is not UTF-8."""
    width = _header_width(data, delimiter)
    names = [f"f{i}" for i in range(width)]
    try:
        table: pa.Table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
            # Without an invalid_row_handler a ragged row raises, which is all we need to know.
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    return table


def _header_width(data: bytes, delimiter: str) -> int:
    first = data[: 1 << 16].decode("utf-8", errors="ignore")
    for record in csv.reader(io.StringIO(first), delimiter=delimiter):
        return max(1, len(record))
    return 1


def _parse_csv_slowly(text: str, delimiter: str) -> pa.Table:
    """Rows of unequal length: short ones are padded with "", long ones widen the table."""
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    width = max((len(r) for r in records), default=1)
    columns = [[r[i] if i < len(r) else "" for r in records] for i in range(width)]
    return pa.table({f"f{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})


def _frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame.astype("str")


# --- workbooks -----------------------------------------------------------------------------


def _read_workbook(path: Path, sheet: str | None) -> Table:
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as err:
        raise ReadError(f"{path}: the workbook is password-protected") from err
    except (python_calamine.CalamineError, ValueError, OSError) as err:
        raise ReadError(f"{path}: is not a readable spreadsheet ({err})") from err
    try:
        names = [
            m.name for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if sheet is not None:
            chosen = _find_sheet(names, sheet)
            if chosen is None:
                listed = ", ".join(repr(n) for n in names)
                raise ReadError(f"{path}: has no sheet named {sheet!r}; its sheets are {listed}")
            rows = _sheet_rows(book, chosen)
            found = _find_header(rows)
            if found is None:
                raise ReadError(f"{path}: sheet {chosen!r} is empty")
            return _workbook_table(path, chosen, rows, found)
        for name in _sheet_order(names):
            rows = _sheet_rows(book, name)
            found = _find_header(rows)
            if found is not None and _has_data(rows, found):
                return _workbook_table(path, name, rows, found)
    except python_calamine.CalamineError as err:
        raise ReadError(f"{path}: is not a readable spreadsheet ({err})") from err
    finally:
        book.close()
    if not names:
        raise ReadError(f"{path}: the workbook has no worksheets")
    raise ReadError(
        f"{path}: no sheet holds a header row with rows below it "
        f"(sheets: {', '.join(repr(n) for n in names)})"
    )


def _find_sheet(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    folded = wanted.strip().casefold()
    return next((n for n in names if n.strip().casefold() == folded), None)


def _sheet_order(names: Sequence[str]) -> list[str]:
    preferred = [n for n in names if n.strip().casefold() in ORDER_SHEET_NAMES]
    return preferred + [n for n in names if n not in preferred]


def _sheet_rows(book: python_calamine.CalamineWorkbook, name: str) -> list[list[Any]]:
    # skip_empty_area=False keeps row 0 = the sheet's row 1, so row numbers match Excel's.
    rows: list[list[Any]] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    return rows


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _find_header(rows: Sequence[Sequence[Any]]) -> int | None:
    """Index of the header row: the first of the top rows that is wide and mostly text.

    Title rows above it ("Export des commandes", a date) fill one or two cells, the header
    fills about as many cells as the widest row near the top.
    """
    top = rows[:HEADER_SEARCH_ROWS]
    filled = [sum(not _is_blank(v) for v in row) for row in top]
    if not any(filled):
        return None
    widest = max(filled)
    for i, row in enumerate(top):
        if filled[i] == 0 or filled[i] * 2 < widest:
            continue
        texts = sum(isinstance(v, str) and not _is_blank(v) for v in row)
        if texts * 5 >= filled[i] * 4:
            return i
    return next(i for i, n in enumerate(filled) if n)


def _has_data(rows: Sequence[Sequence[Any]], header: int) -> bool:
    return any(not _is_blank(v) for row in rows[header + 1 :] for v in row)


def _workbook_table(path: Path, sheet: str, rows: list[list[Any]], header: int) -> Table:
    body = rows[header + 1 :]
    width = max((len(r) for r in rows[header:]), default=0)
    columns = [[_cell_text(r[i]) if i < len(r) else "" for r in body] for i in range(width)]
    frame = pd.DataFrame(
        {f"f{i}": pd.array(col, dtype="str") for i, col in enumerate(columns)},
        index=pd.RangeIndex(header + 2, header + 2 + len(body), name="row"),
    )
    head = [_cell_text(v) for v in rows[header]] + [""] * (width - len(rows[header]))
    frame = _finish_frame(frame, head)
    if frame.empty:
        raise ReadError(
            f"{path}: sheet {sheet!r} has a header on row {header + 1} but no rows below it"
        )
    return Table(path, frame, sheet, header + 1, None, None)


def _cell_text(value: Any) -> str:
    """A cell as the user sees it in Excel: no ``.0`` on whole numbers, ISO dates."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        # Excel keeps 15 significant digits; repr would show binary noise (0.30000000000000004).
        return f"{value:.15g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


# --- common --------------------------------------------------------------------------------


def _finish_frame(frame: pd.DataFrame, header: Sequence[str]) -> pd.DataFrame:
    """Name the columns, drop unnamed empty columns at the end and rows with nothing in them."""
    frame = frame.fillna("")
    filled = frame != ""
    has_data = filled.any(axis=0).tolist()
    named = [bool(str(h).strip().replace("\ufeff", "")) for h in header]
    # A column is kept when it has a header or holds something: a stray trailing delimiter
    # adds nothing, but data in an unlabelled column must not vanish.
    keep = max(_last_true(named), _last_true(has_data)) + 1
    frame = frame.iloc[:, :keep]
    names = list(header[:keep]) + [""] * (keep - min(keep, len(header)))
    frame.columns = pd.Index(_unique_headers(names))
    return frame.loc[filled.iloc[:, :keep].any(axis=1).to_numpy()]


def _last_true(flags: Sequence[bool]) -> int:
    return max((i for i, f in enumerate(flags) if f), default=-1)


def _unique_headers(names: Iterable[str]) -> list[str]:
    """Strip headers, name empty ones "Column N" and number repeats "Name (2)"."""
    cleaned = []
    for position, raw in enumerate(names, start=1):
        name = str(raw).replace("\ufeff", "").strip()
        cleaned.append(name or f"Column {position}")
    taken: set[str] = set()
    unique = []
    for name in cleaned:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} ({n})"
        taken.add(candidate)
        unique.append(candidate)
    return unique
