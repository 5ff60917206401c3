"""Read a CSV or spreadsheet export into a frame of text indexed by the row numbers people see."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import stat
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

from importer.errors import ReadError as ReadError
from importer.model import Issue, Severity

if TYPE_CHECKING:
    import python_calamine

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
#: How many bytes are looked at to tell what a file really is.
HEAD_BYTES = 4096
#: Control characters no text export holds (tab, CR and LF aside).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A valid multi-byte UTF-8 character: in a file that is not UTF-8 as a whole, such
#: characters mean that some lines are UTF-8 and others are not.
UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
NON_ASCII = re.compile(rb"[\x80-\xff]")
#: A physical line: what a text editor shows as one line (LF, CRLF or a lone CR ends it).
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
NEWLINE = r"[\r\n]"
#: File types people save under a .csv or .xls name by mistake, by their first bytes.
MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive (.gz): unpack it first"),
    (b"BZh", "a bzip2 archive: unpack it first"),
    (b"\xfd7zXZ", "an xz archive: unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it first"),
    (b"Rar!", "a RAR archive: unpack it first"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
)
#: Encodings by the names people know them by, for messages.
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252 (Western European)",
    "cp1256": "Windows-1256 (Arabic)",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
}
#: Issue codes for what reading notices about a row (all warnings: the row is still read).
SHORT_ROW, LONG_ROW, UNCLOSED_QUOTE = "short_row", "long_row", "unclosed_quote"
MIXED_ENCODING = "mixed_encoding"
FORMULA_ERROR, FORMULA_NOT_COMPUTED = "formula_error", "formula_not_computed"


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
    #: what a person should know about the file as a whole (the sheet read, what the file
    #: really is...): shown in the terminal and on the report's Summary sheet
    notes: tuple[str, ...] = ()
    #: rows that one merged cell spans (vertically), with the header of its column: what the
    #: person sees as one block, e.g. a customer's name over the rows of their products
    merged: tuple[tuple[str, tuple[int, ...]], ...] = ()


def read_table(path: Path, sheet: str | None = None) -> Table:
    """Read a CSV, XLSX/XLSM, XLS or ODS file; ``sheet`` picks a workbook sheet by name.

    What the file really is decides, not its name: a workbook saved as ``.csv`` is an error
    saying so, a CSV or TSV saved as ``.xlsx``/``.xls`` is read as text (and a note says so),
    an HTML page or a PDF under either name is an error naming what it is.
    """
    path = Path(path)
    head = _head(path)
    suffix = path.suffix.lower()
    is_workbook_content = head.startswith(ZIP_MAGIC) or head.startswith(OLE_MAGIC)
    if suffix in TEXT_SUFFIXES and is_workbook_content:
        raise ReadError(
            f"{path}: is an Excel workbook saved under a {suffix} name; "
            "rename it to .xlsx (or .xls) or save it as CSV from Excel"
        )
    if is_workbook_content:
        return _read_workbook(path, sheet)
    what = _not_a_table(head)
    if what is not None:
        kind, hint = what
        raise ReadError(
            f"{path}: is {kind}, not a CSV or Excel export" + (f"; {hint}" if hint else "")
        )
    if suffix in WORKBOOK_SUFFIXES:
        table = _read_csv(path)
        kind = "tab-separated (TSV)" if table.delimiter == "\t" else "CSV"
        note = (
            f"{path.name} is a {kind} text file under a {suffix} name, not an Excel workbook: "
            "it was read as text."
        )
        return replace(table, notes=(note, *table.notes))
    return _read_csv(path)


def _head(path: Path) -> bytes:
    """The file's first bytes, once it is known to be a regular file (a FIFO or a device such
    as /dev/zero would block or never end)."""
    try:
        info = path.stat()
    except FileNotFoundError as err:
        raise ReadError(f"{path}: no such file") from err
    except OSError as err:
        raise ReadError(f"{path}: cannot be opened ({err.strerror or err})") from err
    if stat.S_ISDIR(info.st_mode):
        raise ReadError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a device"
        )
        raise ReadError(
            f"{path}: is {kind}, not a regular file; save the export to a file and give its path"
        )
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as err:
        raise ReadError(f"{path}: cannot be opened ({err.strerror or err})") from err


def _not_a_table(head: bytes) -> tuple[str, str] | None:
    """What a file is (and what to do) when it is neither a workbook nor delimited text."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            kind, _, hint = what.partition(": ")
            return kind, hint
    text = _head_text(head).lstrip("\ufeff \t\r\n").lower()
    if text.startswith("<?xml") and "urn:schemas-microsoft-com:office:spreadsheet" in text:
        return (
            "an Excel 2003 XML spreadsheet",
            "open it in Excel and save it as .xlsx (File > Save As > Excel Workbook)",
        )
    if text.startswith(("<!doctype html", "<html", "<table", "<meta", "<head", "<body")) or (
        text.startswith("<") and ("<html" in text or "<table" in text)
    ):
        return (
            "an HTML page (a web table saved under a spreadsheet name)",
            "open it in Excel and save it as .xlsx (File > Save As > Excel Workbook) or as CSV",
        )
    if text.startswith("<?xml"):
        return "an XML file", ""
    return None


def _head_text(head: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="ignore")
    return head.decode("utf-8", errors="ignore")


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
    _check_is_text(path, data)
    delimiter = _detect_delimiter(_sample(data))
    rows = _parse_csv(data, delimiter)
    notes: list[str] = []
    legacy_lines: dict[int, str] = {}
    if rows is None and encoding == "utf-8" and not _is_utf8(data):
        # The UTF-8 guess was optimistic (see _decode_to_utf8): a legacy Excel export, or a
        # file whose lines were written by two programs (some UTF-8, some not).
        data, encoding, legacy_lines = _decode_legacy(data)
        delimiter = _detect_delimiter(_sample(data))
        rows = None if legacy_lines else _parse_csv(data, delimiter)
        if legacy_lines:
            notes.append(_mixed_note(legacy_lines, encoding))
    issues: list[Issue] = []
    if rows is not None and _has_multiline_cells(data, rows) and _swallowed_lines(rows, delimiter):
        rows = None  # an unclosed quote ate later lines: the careful parser splits them again
    if rows is None:
        text = data.decode("utf-8", errors="replace")
        rows, issues = _parse_csv_slowly(text, delimiter, legacy_lines, encoding)
    if not rows.num_rows:
        raise ReadError(f"{path}: the file is empty")
    header = ["" if c[0].as_py() is None else str(c[0].as_py()) for c in rows.columns]
    body = _finish_frame(
        rows.slice(1), header, 2, keep_rows={i.row for i in issues if i.row is not None}
    )
    if body.empty:
        raise ReadError(f"{path}: the file has a header line but no rows below it")
    if issues:
        kept = set(body.index.tolist())
        issues = [i for i in issues if i.row in kept]
    if issues:
        notes.extend(_row_notes(issues))
    return Table(path, body, None, 1, encoding, delimiter, issues=tuple(issues), notes=tuple(notes))


def _check_is_text(path: Path, data: bytes) -> None:
    """Binary junk without NUL bytes still holds control characters no export has."""
    sample = data[: SAMPLE_BYTES // 16].decode("utf-8", errors="ignore")
    if not sample:
        return
    controls = len(CONTROL.findall(sample))
    if controls > max(2, len(sample) // 200):
        raise ReadError(
            f"{path}: is not a text (CSV) file: it holds binary data "
            f"({controls} control characters in its first {len(sample):,} characters)"
        )


def _decode_legacy(data: bytes) -> tuple[bytes, str, dict[int, str]]:
    """A file that is not UTF-8 as a whole, as UTF-8 bytes.

    Most such files are legacy Excel exports (Windows-1252 or -1256) throughout, decoded at
    once. When some lines are UTF-8 and others are not, each line is decoded in its own
    encoding rather than garbling the UTF-8 ones; the lines of the minority encoding are
    returned (physical line number -> encoding) to be reported on their rows.
    """
    if not UTF8_SEQUENCE.search(data):
        encoding = _guess_legacy_encoding(data[:SAMPLE_BYTES])
        return data.decode(encoding, errors="replace").encode("utf-8"), encoding, {}
    lines = data.splitlines(keepends=True)
    utf8: list[int] = []
    other: list[int] = []
    texts: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not NON_ASCII.search(line):
            texts.append(line.decode("ascii"))
            continue
        try:
            texts.append(line.decode("utf-8"))
            utf8.append(number)
        except UnicodeDecodeError:
            texts.append("")
            other.append(number)
    if not utf8:  # chance byte pairs only: a legacy file after all
        encoding = _guess_legacy_encoding(data[:SAMPLE_BYTES])
        return data.decode(encoding, errors="replace").encode("utf-8"), encoding, {}
    legacy = _guess_legacy_encoding(b"".join(lines[n - 1] for n in other[:2000]))
    for number in other:
        texts[number - 1] = lines[number - 1].decode(legacy, errors="replace")
    if len(utf8) >= len(other):
        marked, main = dict.fromkeys(other, legacy), "utf-8"
    else:
        marked, main = dict.fromkeys(utf8, "utf-8"), legacy
    return "".join(texts).encode("utf-8"), main, marked


def _mixed_note(lines: dict[int, str], main: str) -> str:
    minority = ENCODING_NAMES.get(next(iter(lines.values())), "another encoding")
    return (
        f"{len(lines)} line(s) of this file are written in {minority}, the rest in "
        f"{ENCODING_NAMES.get(main, main)}: each line was read in its own encoding; their rows "
        f"say so (code {MIXED_ENCODING})."
    )


def _row_notes(issues: Sequence[Issue]) -> list[str]:
    """One note per kind of reading issue: how many rows, and the first one."""
    by_code: dict[str, list[int]] = {}
    for issue in issues:
        if issue.row is not None and issue.code != MIXED_ENCODING:
            by_code.setdefault(issue.code, []).append(issue.row)
    said = {
        SHORT_ROW: "have fewer values than the header (the missing ones read as empty)",
        LONG_ROW: "have more values than the header (the extra ones kept in 'Column N')",
        UNCLOSED_QUOTE: "open a quote that is never closed: it was read as a plain character, "
        "and the lines it had swallowed as rows of their own",
    }
    notes = []
    for code, rows in by_code.items():
        if code in said:
            first = ", ".join(str(r) for r in sorted(set(rows))[:5])
            notes.append(f"{len(set(rows))} row(s) {said[code]}: row(s) {first} (code {code}).")
    return notes


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
        encoding = _utf16_without_bom(data[:HEAD_BYTES])
        if encoding is not None:
            try:
                return encoding, data.decode(encoding).encode("utf-8")
            except UnicodeDecodeError:
                pass
        raise ReadError(f"{path}: is not a text (CSV) file: it holds binary data")
    return "utf-8", data


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without its BOM: one byte of each pair is NUL for every Latin character.

    Arabic letters (U+06xx) leave no NUL, but the digits, spaces and delimiters around
    them do; binary data has NULs on both sides.
    """
    head = head[: len(head) // 2 * 2]
    half = len(head) // 2
    if half < 8:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= half // 10 and even <= half // 100:
        return "utf-16-le"
    if even >= half // 10 and odd <= half // 100:
        return "utf-16-be"
    return None


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
        elif char == "\n" or char == "\r":
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


#: pyarrow's block size: how much of the file each thread parses at once.
CSV_BLOCK_SIZE = 16 << 20


def _parse_csv(data: bytes, delimiter: str) -> pa.Table | None:
    """Parse with pyarrow (fast); None when rows are ragged or a cell is not UTF-8.

    First as if no quoted cell held a line break, which lets pyarrow cut the file into
    blocks at any line break (twice as fast on a big export): where a block ends inside a
    quoted cell, pyarrow finds its parser out of step with the cut and fails, and the file
    is parsed again the careful way (most files with notes on several lines are small).
    """
    width = _header_width(data, delimiter)
    names = [f"f{i}" for i in range(width)]
    for multiline in (False, True):
        try:
            table: pa.Table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=names, block_size=CSV_BLOCK_SIZE),
                # Without an invalid_row_handler a ragged row raises: all we need to know.
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=multiline, ignore_empty_lines=False
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=True,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowException):
            continue
        return table
    return None


def _header_width(data: bytes, delimiter: str) -> int:
    first = data[: 1 << 16].decode("utf-8", errors="ignore")
    try:
        for record in csv.reader(io.StringIO(first, newline=""), delimiter=delimiter):
            return max(1, len(record))
    except csv.Error:
        pass
    return 1


def _has_multiline_cells(data: bytes, rows: pa.Table) -> bool:
    """Whether some record spans lines: fewer records than line breaks (cheap: no cell is
    looked at, and most exports have none)."""
    breaks = data.count(b"\n") or data.count(b"\r")
    return bool(rows.num_rows < breaks)


def _swallowed_lines(table: pa.Table, delimiter: str) -> bool:
    """Whether a cell holds whole lines of the file: an opening quote never closed.

    Legitimate multi-line cells (Shopify's notes) exist; what gives a swallowed line away is
    a line inside the cell with as many delimiters as a record has. Only cells holding a
    line break are looked at, and only those with enough delimiters in Python.
    """
    width = table.num_columns
    if width < 3:
        return False  # two columns: a comma inside a quoted address looks like a record
    everything = pa.chunked_array(
        [c for column in table.columns for c in column.chunks], pa.string()
    )
    if not pc.any(pc.match_substring_regex(everything, NEWLINE)).as_py():
        return False
    for column in table.columns:
        broken = pc.match_substring_regex(column, NEWLINE)
        if not pc.any(broken).as_py():
            continue
        cells = column.filter(broken)
        many = pc.greater_equal(pc.count_substring(cells, delimiter), width - 1)
        for cell in cells.filter(many).to_pylist():
            inner = re.split(NEWLINE, cell)[1:]
            if any(line.count(delimiter) >= width - 1 for line in inner):
                return True
    return False


def _parse_csv_slowly(
    text: str, delimiter: str, legacy_lines: dict[int, str], main_encoding: str
) -> tuple[pa.Table, list[Issue]]:
    """The careful parser, for files pyarrow refuses or would misread.

    Rows of unequal length: short ones are padded with "", long ones widen the table (and
    both are reported). A record in which an opening quote swallowed whole lines is split
    back into its lines. Rows holding a line of the file's minority encoding are reported.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines: list[str] | None = None
    records: list[list[str]] = []
    spans: list[tuple[int, int]] = []  # physical lines of each record
    issues: list[Issue] = []
    width = 0
    start = 1
    for fields in reader:
        end = reader.line_num
        if (
            end > start
            and width >= 3
            and any("\n" in f or "\r" in f for f in fields)
            and _holds_records(fields, delimiter, width)
        ):
            if lines is None:
                lines = LINE.findall(text)
            for number in range(start, end + 1):
                row = len(records) + 1
                parsed, unclosed = _parse_line(lines[number - 1], delimiter)
                records.append(parsed)
                spans.append((number, number))
                if unclosed:
                    issues.append(
                        Issue(
                            row,
                            None,
                            UNCLOSED_QUOTE,
                            'This line opens a quote (") that is never closed, which made it '
                            f"swallow the next {end - start} line(s): the quote was read as a "
                            "plain character and those lines as rows of their own. Check this "
                            "row's values.",
                            Severity.WARNING,
                        )
                    )
        else:
            records.append(fields)
            spans.append((start, end))
        if len(records) == 1:
            width = len(records[0])
        start = end + 1
    issues.extend(_ragged(records, width))
    if legacy_lines:
        issues.extend(_encoding_issues(spans, legacy_lines, main_encoding))
    issues.sort(key=lambda i: i.row or 0)
    longest = max((len(r) for r in records), default=1)
    columns = [[r[i] if i < len(r) else "" for r in records] for i in range(longest)]
    table = pa.table({f"f{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
    return table, issues


def _holds_records(fields: Sequence[str], delimiter: str, width: int) -> bool:
    for value in fields:
        inner = re.split(NEWLINE, value)[1:]
        if any(line.count(delimiter) >= width - 1 for line in inner):
            return True
    return False


def _parse_line(line: str, delimiter: str) -> tuple[list[str], bool]:
    """One physical line as a record; a quote it never closes is a plain character."""
    stripped = line.rstrip("\r\n")
    try:
        return next(csv.reader([stripped], delimiter=delimiter, strict=True), []), False
    except csv.Error:
        plain = csv.reader([stripped], delimiter=delimiter, quoting=csv.QUOTE_NONE)
        return next(plain, []), True


def _ragged(records: Sequence[Sequence[str]], width: int) -> list[Issue]:
    issues = []
    for row, fields in enumerate(records[1:], start=2):
        count = len(fields)
        if count == 0 or count == width:
            continue
        if count < width:
            missing = width - count
            issues.append(
                Issue(
                    row,
                    None,
                    SHORT_ROW,
                    f"This line has {count} value(s) where the header has {width}: the last "
                    f"{missing} column(s) are read as empty. A line break inside a value that is "
                    "not quoted splits a row this way: check the row.",
                    Severity.WARNING,
                )
            )
            continue
        extra = [(i, v) for i, v in enumerate(fields[width:], start=width + 1) if v.strip()]
        if extra:
            shown = ", ".join(f"'{v[:30]}' in 'Column {i}'" for i, v in extra[:3])
            issues.append(
                Issue(
                    row,
                    None,
                    LONG_ROW,
                    f"This line has {count} values where the header has {width}: the extra "
                    f"value(s) are kept apart ({shown}) and may belong in another column. "
                    "An unquoted delimiter inside a value shifts a row this way: check the row.",
                    Severity.WARNING,
                )
            )
    return issues


def _encoding_issues(
    spans: Sequence[tuple[int, int]], legacy_lines: dict[int, str], main: str
) -> list[Issue]:
    issues = []
    for row, (first, last) in enumerate(spans, start=1):
        found = next((legacy_lines[n] for n in range(first, last + 1) if n in legacy_lines), None)
        if found is None or row == 1:
            continue
        issues.append(
            Issue(
                row,
                None,
                MIXED_ENCODING,
                f"This line is written in {ENCODING_NAMES.get(found, found)} while the rest of "
                f"the file is {ENCODING_NAMES.get(main, main)}: it was read as "
                f"{ENCODING_NAMES.get(found, found)}. Check its accents and letters.",
                Severity.WARNING,
            )
        )
    return issues


# --- workbooks -----------------------------------------------------------------------------


def _read_workbook(path: Path, sheet: str | None) -> Table:
    import python_calamine  # only workbooks need it: a CSV never loads it

    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as err:
        raise ReadError(f"{path}: the workbook is password-protected") from err
    except (python_calamine.CalamineError, ValueError, OSError) as err:
        raise ReadError(f"{path}: is not a readable spreadsheet ({err})") from err
    try:
        sheets = [
            m for m in book.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        names = [m.name for m in sheets]
        hidden = {m.name for m in sheets if m.visible != python_calamine.SheetVisibleEnum.Visible}
        if sheet is not None:
            chosen = _find_sheet(names, sheet)
            if chosen is None:
                listed = ", ".join(repr(n) for n in names)
                raise ReadError(f"{path}: has no sheet named {sheet!r}; its sheets are {listed}")
            rows, merges = _sheet_rows(book, chosen)
            found = _find_header(rows)
            if found is None:
                raise ReadError(f"{path}: sheet {chosen!r} is empty")
            table = _workbook_table(path, chosen, rows, found, merges)
            return _with_sheet_note(table, names, hidden, chosen_by_name=True)
        # Visible sheets first: a hidden sheet (a lookup list, an old copy) never wins over
        # what the person sees; it is read only when no visible sheet holds rows.
        visible = [n for n in names if n not in hidden]
        for name in _sheet_order(visible) + _sheet_order([n for n in names if n in hidden]):
            rows, merges = _sheet_rows(book, name)
            found = _find_header(rows)
            if found is not None and _has_data(rows, found):
                table = _workbook_table(path, name, rows, found, merges)
                return _with_sheet_note(table, names, hidden, chosen_by_name=False)
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


def _with_sheet_note(
    table: Table, names: Sequence[str], hidden: set[str], *, chosen_by_name: bool
) -> Table:
    """Say which sheet was read, and which were not: the person may expect another one."""
    name = table.sheet or ""
    first, last = int(table.frame.index[0]), int(table.frame.index[-1])
    note = f"Sheet '{name}' read: header on row {table.header_row}, data on rows {first}–{last}"
    if name in hidden:
        note += (
            " (a hidden sheet, as asked with --sheet)"
            if chosen_by_name
            else " (a hidden sheet: no visible sheet holds rows)"
        )
    others = [f"'{n}'" + (" (hidden)" if n in hidden else "") for n in names if n != name]
    if others:
        note += "; not read: " + ", ".join(others[:8]) + (", …" if len(others) > 8 else "")
        if not chosen_by_name:
            note += " (choose one with --sheet NAME)"
    return replace(table, notes=(note + ".", *table.notes))


def _find_sheet(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    folded = wanted.strip().casefold()
    return next((n for n in names if n.strip().casefold() == folded), None)


def _sheet_order(names: Sequence[str]) -> list[str]:
    preferred = [n for n in names if n.strip().casefold() in ORDER_SHEET_NAMES]
    return preferred + [n for n in names if n not in preferred]


Merge = tuple[tuple[int, int], tuple[int, int]]  # ((first row, first col), (last row, last col))


def _sheet_rows(
    book: python_calamine.CalamineWorkbook, name: str
) -> tuple[list[list[Any]], list[Merge]]:
    """The sheet's cells (row 0 = the sheet's row 1, column 0 = A) and its merged ranges.

    A merged cell holds its value in its top-left cell only: it is copied into every cell of
    the range, which is how the person sees it.
    """
    import python_calamine

    found = book.get_sheet_by_name(name)
    # skip_empty_area=False keeps row 0 = the sheet's row 1, so row numbers match Excel's.
    rows: list[list[Any]] = found.to_python(skip_empty_area=False)
    try:
        merges: list[Merge] = list(found.merged_cell_ranges or [])
    except (python_calamine.CalamineError, AttributeError):
        merges = []
    for (top, left), (bottom, right) in merges:
        if top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        if _is_blank(value):
            continue
        while len(rows) <= bottom:
            rows.append([])
        for r in range(top, bottom + 1):
            line = rows[r]
            if len(line) <= right:
                line.extend([None] * (right + 1 - len(line)))
            for c in range(left, right + 1):
                line[c] = value
    return rows, merges


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


def _workbook_table(
    path: Path, sheet: str, rows: list[list[Any]], header: int, merges: Sequence[Merge] = ()
) -> Table:
    problems = _formula_problems(path, sheet, header + 1)
    last = max((row for row, _, _ in problems), default=0)
    if last > len(rows):
        # calamine stops at the last cell with a value; a row holding only a formula that
        # was never computed lies beyond it, and must still be in the report
        rows = [*rows, *([] for _ in range(last - len(rows)))]
    body = rows[header + 1 :]
    width = max((len(r) for r in rows[header:]), default=0)
    columns = [[_cell_text(r[i]) if i < len(r) else "" for r in body] for i in range(width)]
    cells = pa.table({f"f{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
    head = [_cell_text(v) for v in rows[header]] + [""] * (width - len(rows[header]))
    frame = _finish_frame(cells, head, header + 2, keep_rows={row for row, _, _ in problems})
    if frame.empty:
        raise ReadError(
            f"{path}: sheet {sheet!r} has a header on row {header + 1} but no rows below it"
        )
    headers = list(frame.columns)
    issues = [
        replace(issue, column=headers[col] if col < len(headers) else None)
        for row, col, issue in problems
        if row in frame.index
    ]
    notes = []
    if issues:
        notes.append(_formula_note(issues))
    spans, merged_cells = _merged_spans(merges, header, headers, set(frame.index.tolist()))
    if merged_cells:
        notes.append(
            f"{merged_cells} merged cell(s) below the header were read as the person sees them: "
            "their value on every row they cover"
            + (f" (e.g. {_range_name(merges[0])})" if merges else "")
            + "."
        )
    return Table(
        path,
        frame,
        sheet,
        header + 1,
        None,
        None,
        issues=tuple(issues),
        notes=tuple(notes),
        merged=tuple(spans),
    )


def _merged_spans(
    merges: Sequence[Merge], header: int, headers: Sequence[str], rows: set[int]
) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """Vertical merges below the header as (column header, sheet rows), and how many merges
    lie below the header at all."""
    spans: list[tuple[str, tuple[int, ...]]] = []
    below = 0
    for (top, left), (bottom, right) in merges:
        if top <= header:
            continue
        below += 1
        covered = tuple(r + 1 for r in range(top, bottom + 1) if r + 1 in rows)
        if len(covered) < 2:
            continue
        for col in range(left, min(right, len(headers) - 1) + 1):
            spans.append((headers[col], covered))
    return spans, below


def _range_name(merge: Merge) -> str:
    (top, left), (bottom, right) = merge
    return f"{_column_letters(left)}{top + 1}:{_column_letters(right)}{bottom + 1}"


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _formula_note(issues: Sequence[Issue]) -> str:
    errors = sum(1 for i in issues if i.code == FORMULA_ERROR)
    pending = len(issues) - errors
    parts = []
    if errors:
        parts.append(f"{errors} cell(s) hold an Excel error (#DIV/0!, #N/A…)")
    if pending:
        parts.append(f"{pending} cell(s) hold a formula whose result was never saved")
    return (
        " and ".join(parts)
        + ": they were read as empty, and their rows say so (codes "
        + f"{FORMULA_ERROR}, {FORMULA_NOT_COMPUTED})."
    )


# Cells of a worksheet's XML that hold an error (t="e"), or a formula: read from the file
# itself, since calamine reads both as empty. Namespace prefixes (x:c) are allowed.
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?\bt="e"[^>]*)>(.*?)</(?:\w+:)?c>', re.DOTALL)
_FORMULA_CELL = re.compile(
    rb"<(?:\w+:)?c\b([^>/]*)>\s*<(?:\w+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?f>)(.*?)</(?:\w+:)?c>",
    re.DOTALL,
)
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*>(.*?)</(?:\w+:)?v>", re.DOTALL)
_OOXML_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _formula_problems(path: Path, sheet: str, header_row: int) -> list[tuple[int, int, Issue]]:
    """(sheet row, column index, issue) for the cells below the header holding an Excel
    error or a formula without a saved result. XLSX/XLSM only (other formats give none)."""
    xml = _sheet_xml(path, sheet)
    if xml is None or (b't="e"' not in xml and b"<f" not in xml and b":f" not in xml):
        return []
    found: dict[tuple[int, int], Issue] = {}
    for match in _ERROR_CELL.finditer(xml):
        where = _cell_position(match.group(1))
        if where is None or where[0] <= header_row:
            continue
        body = match.group(2)
        value = _VALUE.search(body)
        error = value.group(1).decode("utf-8", "replace").strip() if value else "#ERROR"
        formula = _formula_text(body)
        found[where] = Issue(
            where[0],
            None,
            FORMULA_ERROR,
            f"The cell shows the Excel error {error}"
            + (f" (formula ={formula})" if formula else "")
            + ": it was read as empty. Fix the formula in Excel, or type the value.",
            Severity.WARNING,
        )
    for match in _FORMULA_CELL.finditer(xml):
        attrs, rest = match.group(1), match.group(4)
        where = _cell_position(attrs)
        if where is None or where[0] <= header_row or where in found:
            continue
        kind = _CELL_TYPE.search(attrs)
        value = _VALUE.search(rest)
        if value is not None and (value.group(1).strip() or (kind and kind.group(1) == b"str")):
            continue  # a saved result (an empty text result is one too)
        formula = (match.group(3) or b"").decode("utf-8", "replace")
        found[where] = Issue(
            where[0],
            None,
            FORMULA_NOT_COMPUTED,
            "The cell holds a formula"
            + (f" (={_unescape(formula)})" if formula else "")
            + " whose result was never saved (the file was written by a program, not by "
            "Excel): it was read as empty. Open the file in Excel or LibreOffice, save it, and "
            "import it again.",
            Severity.WARNING,
        )
    return [(row, col, issue) for (row, col), issue in sorted(found.items())]


def _cell_position(attrs: bytes) -> tuple[int, int] | None:
    ref = _CELL_REF.search(attrs)
    if ref is None:
        return None
    col = 0
    for letter in ref.group(1):
        col = col * 26 + letter - 64
    return int(ref.group(2)), col - 1


def _formula_text(body: bytes) -> str:
    found = re.search(rb"<(?:\w+:)?f\b[^>]*>(.*?)</(?:\w+:)?f>", body, re.DOTALL)
    return _unescape(found.group(1).decode("utf-8", "replace")) if found else ""


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )


def _sheet_xml(path: Path, sheet: str) -> bytes | None:
    """The named worksheet's XML from an XLSX/XLSM package, or None when it is not one."""
    import xml.etree.ElementTree as ET  # workbooks only

    try:
        with zipfile.ZipFile(path) as package:
            if "xl/workbook.xml" not in package.namelist():
                return None
            book = ET.fromstring(package.read("xl/workbook.xml"))
            rels = ET.fromstring(package.read("xl/_rels/workbook.xml.rels"))
            rel_id = next(
                (
                    node.get(_OOXML_R)
                    for node in book.iter()
                    if node.tag.endswith("}sheet") and node.get("name") == sheet
                ),
                None,
            )
            target = next(
                (
                    node.get("Target", "")
                    for node in rels.iter()
                    if node.tag.endswith("}Relationship") and node.get("Id") == rel_id
                ),
                None,
            )
            if not target:
                return None
            member = (
                target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            )
            return package.read(member)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError):
        return None


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


def _finish_frame(
    cells: pa.Table, header: Sequence[str], first_row: int, keep_rows: set[int] | None = None
) -> pd.DataFrame:
    """The body's cells as a frame of text indexed by row number (``first_row`` for the
    first): columns named, unnamed empty columns at the end dropped, rows with nothing in
    them dropped (except ``keep_rows``: rows that reading has something to say about).

    Done in arrow, column by column, before one conversion: a sheet may have thousands of
    columns, and each pandas operation costs per column.
    """
    filled, has_data = _filled_cells(cells)
    named = [bool(str(h).strip().replace("\ufeff", "")) for h in header]
    # A column is kept when it has a header or holds something: a stray trailing delimiter
    # adds nothing, but data in an unlabelled column must not vanish.
    keep = max(_last_true(named), _last_true(has_data)) + 1
    numbers = np.arange(first_row, first_row + cells.num_rows, dtype=np.int64)
    wanted = np.zeros(cells.num_rows, dtype=bool)
    if keep:
        wanted |= filled[:keep].any(axis=0)
    if keep_rows:
        wanted |= np.isin(numbers, np.fromiter(keep_rows, dtype=np.int64, count=len(keep_rows)))
    kept = cells.select(list(range(keep)))
    if not wanted.all():  # filtering copies every cell: only when some row is dropped
        kept = kept.filter(pa.array(wanted))
    names = list(header[:keep]) + [""] * (keep - min(keep, len(header)))
    frame: pd.DataFrame = kept.to_pandas()
    frame = frame.astype("str") if len(frame.columns) else frame
    frame.columns = pd.Index(_unique_headers(names))
    if kept.num_rows == cells.num_rows:
        frame.index = pd.RangeIndex(first_row, first_row + cells.num_rows, name="row")
    else:
        frame.index = pd.Index(numbers[wanted], name="row")
    return frame


def _filled_cells(cells: pa.Table) -> tuple[np.ndarray, list[bool]]:
    """Which cells hold something (columns x rows), and which columns hold anything.

    All columns at once, as one array: thousands of columns would otherwise cost thousands
    of calls (and a tall table's few columns are as cheap either way).
    """
    if not cells.num_columns:
        return np.zeros((0, cells.num_rows), dtype=bool), []
    joined = pa.chunked_array(
        [chunk for column in cells.columns for chunk in column.chunks], pa.string()
    )
    flags = pc.not_equal(joined, "").to_numpy(zero_copy_only=False)
    filled = np.asarray(flags, dtype=bool).reshape(cells.num_columns, cells.num_rows)
    columns_filled: list[bool] = np.asarray(filled.any(axis=1), dtype=bool).tolist()
    return filled, columns_filled


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
