"""Tests for importer.read: real CSV and workbook files written to tmp_path and read back."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from openpyxl.styles import Font

from importer.model import Severity
from importer.read import ReadError, Table, read_table

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "research" / "samples"
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/research/samples")

FRENCH = "Nom;Ville;Prix\nÉlodie Lefèvre;Fès;299,50\nAïcha Benali;Salé;1 299,00\n"
ARABIC = "الاسم,المدينة,الهاتف\nمحمد العلوي,الدار البيضاء,0612345678\nفاطمة,مراكش,0698765432\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(table: Table) -> list[list[str]]:
    return [list(map(str, r)) for r in table.frame.itertuples(index=False)]


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252"), ("latin-1", "cp1252")],
)
def test_french_csv_in_each_encoding(tmp_path: Path, encoding: str, expected: str) -> None:
    table = read_table(write(tmp_path / "fr.csv", FRENCH, encoding))
    assert table.encoding == expected
    assert table.delimiter == ";"
    assert list(table.frame.columns) == ["Nom", "Ville", "Prix"]
    assert rows(table) == [
        ["Élodie Lefèvre", "Fès", "299,50"],
        ["Aïcha Benali", "Salé", "1 299,00"],
    ]
    assert table.frame.index.tolist() == [2, 3]
    assert table.frame.index.name == "row"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1256", "utf-16"])
def test_arabic_csv_in_each_encoding(tmp_path: Path, encoding: str) -> None:
    table = read_table(write(tmp_path / "ar.csv", ARABIC, encoding))
    assert list(table.frame.columns) == ["الاسم", "المدينة", "الهاتف"]
    assert rows(table)[0] == ["محمد العلوي", "الدار البيضاء", "0612345678"]
    assert table.encoding == encoding


def test_uppercase_french_in_cp1252_is_not_taken_for_arabic(tmp_path: Path) -> None:
    text = "NOM,VILLE\nÉLODIE LEFÈVRE,FÈS\nHÉLÈNE,TÉTOUAN\n"
    table = read_table(write(tmp_path / "up.csv", text, "cp1252"))
    assert table.encoding == "cp1252"
    assert rows(table)[0] == ["ÉLODIE LEFÈVRE", "FÈS"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter(tmp_path: Path, delimiter: str) -> None:
    lines = [
        ["Name", "Address", "Price"],
        ["Ali", '"12, rue X; bloc|3"', '"299,5"'],
        ["Bo", "", "1"],
    ]
    text = "\n".join(delimiter.join(r) for r in lines) + "\n"
    table = read_table(write(tmp_path / "d.txt", text))
    assert table.delimiter == delimiter
    assert rows(table) == [["Ali", "12, rue X; bloc|3", "299,5"], ["Bo", "", "1"]]


def test_quoted_newlines_count_one_record(tmp_path: Path) -> None:
    text = 'id,note,qty\r\n1,"line one\nline two\nline three",2\r\n2,"",3\r\n3,,4\r\n'
    table = read_table(write(tmp_path / "nl.csv", text))
    assert table.frame.index.tolist() == [2, 3, 4]
    assert table.frame.loc[2, "note"] == "line one\nline two\nline three"
    assert table.frame.loc[3, "note"] == "" and table.frame.loc[4, "note"] == ""


def test_cells_on_several_lines_across_parse_blocks_are_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fast parse (no line breaks in cells) fails where a block ends inside a quoted cell;
    # the careful one then reads every cell whole, however the file is cut into blocks
    import importer.read

    monkeypatch.setattr(importer.read, "CSV_BLOCK_SIZE", 4096)
    lines = ["id,note,qty"]
    for n in range(2000):
        note = f'"call first\nthen ring twice, {n}"' if n % 3 == 0 else f"plain {n}"
        lines.append(f"{n},{note},{n % 5 + 1}")
    table = read_table(write(tmp_path / "notes.csv", "\n".join(lines) + "\n"))
    assert len(table.frame) == 2000
    assert table.frame["note"].tolist()[:4] == [
        "call first\nthen ring twice, 0",
        "plain 1",
        "plain 2",
        "call first\nthen ring twice, 3",
    ]
    assert table.frame["qty"].tolist()[-1] == str(1999 % 5 + 1)


def test_everything_stays_text(tmp_path: Path) -> None:
    text = "phone,zip,qty,na,price\n0612345678,'0183,007,N/A,1.10\n"
    table = read_table(write(tmp_path / "t.csv", text))
    assert rows(table) == [["0612345678", "'0183", "007", "N/A", "1.10"]]
    assert all(str(t) == "str" for t in table.frame.dtypes)
    assert not table.frame.isna().any().any()


def test_headers_stripped_named_and_unique(tmp_path: Path) -> None:
    text = "\ufeff Name ,,Phone,Name,Name (2),Name\nA,b,c,d,e,f\n"
    table = read_table(write(tmp_path / "h.csv", text))
    assert list(table.frame.columns) == [
        "Name",
        "Column 2",
        "Phone",
        "Name (2)",
        "Name (2) (2)",
        "Name (3)",
    ]


def test_ragged_rows_pad_short_and_keep_extra_as_columns(tmp_path: Path) -> None:
    text = "a,b,c\n1,2\n3,4,5,6\n7,8,9,\n"
    table = read_table(write(tmp_path / "r.csv", text))
    assert list(table.frame.columns) == ["a", "b", "c", "Column 4"]
    assert rows(table) == [["1", "2", "", ""], ["3", "4", "5", "6"], ["7", "8", "9", ""]]
    assert table.frame.index.tolist() == [2, 3, 4]


def test_legacy_byte_far_down_the_file_still_means_legacy(tmp_path: Path) -> None:
    # The one non-UTF-8 byte sits beyond the sniffing sample and pyarrow's first block.
    filler = "".join(f"{i},Rabat\n" for i in range(300_000))
    text = "id,ville\n" + filler + "300000,Fès\n"
    table = read_table(write(tmp_path / "far.csv", text, "cp1252"))
    assert table.encoding == "cp1252"
    assert rows(table)[-1] == ["300000", "Fès"]
    assert len(table.frame) == 300_001


def test_legacy_file_with_ragged_rows(tmp_path: Path) -> None:
    text = "nom,ville\nÉlodie,Fès,extra\nAli\n"
    table = read_table(write(tmp_path / "lr.csv", text, "cp1252"))
    assert table.encoding == "cp1252"
    assert rows(table) == [["Élodie", "Fès", "extra"], ["Ali", "", ""]]


def test_bom_file_with_a_stray_byte_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfnom,ville\nAli,F\xe8s\nSara,Rabat\n")
    table = read_table(path)
    assert table.encoding == "utf-8-sig"
    assert rows(table) == [["Ali", "F\ufffds"], ["Sara", "Rabat"]]


def test_trailing_delimiters_add_no_columns(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "t.csv", "a,b,\n1,2,\n3,4,\n"))
    assert list(table.frame.columns) == ["a", "b"]


def test_empty_lines_skipped_but_numbering_kept(tmp_path: Path) -> None:
    text = "a,b\n1,2\n\n3,4\n,\n\n\n"
    table = read_table(write(tmp_path / "e.csv", text))
    assert table.frame.index.tolist() == [2, 4]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n\n  \n", "empty"),
        ("header.csv", b"a,b,c\n", "no rows"),
        ("junk.csv", bytes(range(256)) * 4, "binary"),
        ("book.csv", b"PK\x03\x04" + b"\x00" * 100, "Excel workbook"),
        ("bad.xlsx", b"PK\x03\x04not really a zip", "not a readable spreadsheet"),
    ],
)
def test_unreadable_files_say_which_and_why(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReadError) as err:
        read_table(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(ReadError, match="folder"):
        read_table(tmp_path)


def orders_book(path: Path) -> Path:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes["A1"] = "nothing here"
    sheet = book.create_sheet("Commandes")
    sheet["A1"] = "Export des commandes"
    sheet["A2"] = dt.date(2025, 3, 20)
    sheet.append([])
    sheet.append(["Nom", "Téléphone", "Prix", "Qté", "Date", "Heure", "Payé", "Id", ""])
    sheet.append(
        [
            "Ali",
            612345678,
            299.5,
            2,
            dt.datetime(2025, 3, 20, 5, 20, 57),
            dt.time(5, 6, 7),
            True,
            123456789012345,
        ]
    )
    sheet.append(["Bo", "0698765432", 1299.0, 1.0, dt.date(2025, 3, 21), None, False, "007"])
    sheet.append([None] * 8)
    sheet.append(["Cy", 0.1 + 0.2, None, None, None, None, None, None, None, "stray"])
    for r in range(9, 200):  # formatted but empty: phantom rows
        sheet.cell(r, 1).font = Font(bold=True)
    book.save(path)
    return path


def test_xlsx_picks_orders_sheet_finds_header_and_shows_values_as_excel(tmp_path: Path) -> None:
    table = read_table(orders_book(tmp_path / "orders.xlsx"))
    assert table.sheet == "Commandes"
    assert table.header_row == 4
    assert table.encoding is None and table.delimiter is None
    assert list(table.frame.columns) == [
        "Nom",
        "Téléphone",
        "Prix",
        "Qté",
        "Date",
        "Heure",
        "Payé",
        "Id",
        "Column 9",
        "Column 10",
    ]
    assert table.frame.index.tolist() == [5, 6, 8]
    assert rows(table)[0][:8] == [
        "Ali",
        "612345678",
        "299.5",
        "2",
        "2025-03-20 05:20:57",
        "05:06:07",
        "TRUE",
        "123456789012345",
    ]
    assert rows(table)[1][:8] == ["Bo", "0698765432", "1299", "1", "2025-03-21", "", "FALSE", "007"]
    assert rows(table)[2][1] == "0.3" and rows(table)[2][9] == "stray"
    assert all(str(t) == "str" for t in table.frame.dtypes)


def test_sheet_by_name_and_error_lists_sheets(tmp_path: Path) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    table = read_table(path, sheet="commandes")
    assert table.sheet == "Commandes" and table.header_row == 4
    with pytest.raises(ReadError, match="'Notes', 'Commandes'"):
        read_table(path, sheet="Orders")


def test_first_non_empty_sheet_without_order_names(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Feuil1"
    second = book.create_sheet("Feuil2")
    second.append(["Name", "Phone"])
    second.append(["Ali", "0612345678"])
    path = tmp_path / "x.xlsm"  # suffix only; content is a plain workbook
    book.save(path)
    table = read_table(path)
    assert table.sheet == "Feuil2" and table.header_row == 1
    assert table.frame.index.tolist() == [2]


def test_workbook_with_header_only_is_an_error(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Phone"])
    path = tmp_path / "h.xlsx"
    book.save(path)
    with pytest.raises(ReadError, match="no sheet holds"):
        read_table(path)
    with pytest.raises(ReadError, match="no rows below"):
        read_table(path, sheet="Sheet")


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    book_path = orders_book(tmp_path / "orders.xlsx")
    renamed = tmp_path / "orders.export"
    renamed.write_bytes(book_path.read_bytes())
    assert read_table(renamed).sheet == "Commandes"
    text = write(tmp_path / "orders.dat", "a;b\n1;2\n")
    assert read_table(text).delimiter == ";"
    assert zipfile.is_zipfile(renamed)


@pytest.mark.skipif(not SAMPLES.exists(), reason="research samples absent")
def test_real_shopify_export_with_multiline_notes() -> None:
    path = SAMPLES / "shopify_multiline_ca_REDACTED.csv"
    table = read_table(path)
    assert table.frame.shape == (64, 79)
    assert table.frame.index.tolist() == list(range(2, 66))
    assert table.frame.loc[2, "Name"] == "#1058"
    assert table.frame["Lineitem quantity"].str.fullmatch(r"\d+").all()


@pytest.mark.skipif(not SAMPLES.exists(), reason="research samples absent")
def test_real_cod_export_note_attributes_span_lines() -> None:
    table = read_table(SAMPLES / "shopify_cod_bd_REDACTED.csv")
    assert table.frame.index.tolist() == [2, 3, 4, 5, 6, 7]
    assert table.frame.loc[6, "Name"] == "#71737" and table.frame.loc[7, "Name"] == "#71737"
    assert "\n" in table.frame.loc[6, "Note Attributes"]
    assert table.frame.loc[7, "Lineitem price"] == "1400.00"


# ---------------------------------------------------------------------------- what files really are


def test_mac_csv_with_cr_only_line_endings(tmp_path: Path) -> None:
    text = "Nom;Ville;Prix\rÉlodie;Fès;299,50\rAïcha;Salé;1 299,00\r"
    table = read_table(write(tmp_path / "mac.csv", text, "cp1252"))
    assert table.delimiter == ";" and table.encoding == "cp1252"
    assert rows(table) == [["Élodie", "Fès", "299,50"], ["Aïcha", "Salé", "1 299,00"]]
    assert table.frame.index.tolist() == [2, 3]


def test_binary_junk_without_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(1, 256)) * 50)
    with pytest.raises(ReadError, match="not a text \\(CSV\\) file") as err:
        read_table(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(tmp_path: Path, encoding: str) -> None:
    text = "Nom,Ville,Téléphone\nÉlodie,Fès,0612345678\nمحمد العلوي,الدار البيضاء,0698765432\n"
    table = read_table(write(tmp_path / "u16.csv", text, encoding))
    assert table.encoding == encoding
    assert rows(table) == [
        ["Élodie", "Fès", "0612345678"],
        ["محمد العلوي", "الدار البيضاء", "0698765432"],
    ]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(ReadError, match="/dev/zero: is a device, not a regular file"):
        read_table(Path("/dev/zero"))


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "orders.csv"
    os.mkfifo(fifo)  # nobody writes to it: opening it would block forever
    with pytest.raises(ReadError, match="named pipe"):
        read_table(fifo)


def test_a_csv_saved_as_xlsx_is_read_as_text_and_said_so(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "orders.xlsx", "Nom,Ville\nAli,Rabat\n"))
    assert table.sheet is None and rows(table) == [["Ali", "Rabat"]]
    assert table.notes and "CSV text file under a .xlsx name" in table.notes[0]


def test_a_tsv_saved_as_xls_is_read_as_text(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "export.xls", "Nom\tVille\nAli\tRabat, Agdal\n"))
    assert table.delimiter == "\t" and rows(table) == [["Ali", "Rabat, Agdal"]]
    assert "tab-separated" in table.notes[0]


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("export.xls", b"<html><body><table><tr><td>Nom</td></tr></table></body></html>", "HTML"),
        ("export.xls", b"\xef\xbb\xbf<!DOCTYPE html>\n<html><table></table></html>", "HTML"),
        (
            "export.xls",
            b'<?xml version="1.0"?>\n'
            b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
            "Excel 2003 XML spreadsheet",
        ),
        ("orders.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        ("orders.csv", b"\x1f\x8b\x08\x00" + bytes(40), "gzip archive"),
    ],
)
def test_files_that_are_something_else_say_what_they_are(
    tmp_path: Path, name: str, content: bytes, what: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReadError) as err:
        read_table(path)
    assert str(path) in str(err.value) and what in str(err.value)


# ---------------------------------------------------------------------------- broken lines


def issue_codes(table: Table) -> list[tuple[int | None, str]]:
    return [(i.row, i.code) for i in table.issues]


def test_an_unclosed_quote_does_not_swallow_the_next_lines(tmp_path: Path) -> None:
    text = (
        "Nom,Téléphone,Ville\n"
        'Ali,"0612345678,Rabat\n'  # the quote is never closed
        "Bo,0698765432,Fès\n"
        'Cy,"0677889912",Salé\n'
        "Di,0655443322,Agadir\n"
    )
    table = read_table(write(tmp_path / "q.csv", text))
    assert rows(table) == [
        ["Ali", '"0612345678', "Rabat"],
        ["Bo", "0698765432", "Fès"],
        ["Cy", "0677889912", "Salé"],
        ["Di", "0655443322", "Agadir"],
    ]
    assert issue_codes(table) == [(2, "unclosed_quote")]
    assert all(i.severity is Severity.WARNING for i in table.issues)
    assert any("never closed" in note for note in table.notes)


def test_an_unclosed_quote_to_the_end_of_the_file(tmp_path: Path) -> None:
    text = 'a,b,c\n1,"2,3\n4,5,6\n7,8,9\n'
    table = read_table(write(tmp_path / "q.csv", text))
    assert rows(table) == [["1", '"2', "3"], ["4", "5", "6"], ["7", "8", "9"]]
    assert issue_codes(table) == [(2, "unclosed_quote")]


def test_multi_line_notes_are_not_taken_for_swallowed_lines(tmp_path: Path) -> None:
    text = 'Name,Notes,Phone,City\n#1,"First name: A\nPhone, mobile: 06\nCity: Rabat",0612,Rabat\n'
    table = read_table(write(tmp_path / "n.csv", text))
    assert table.frame.loc[2, "Notes"] == "First name: A\nPhone, mobile: 06\nCity: Rabat"
    assert table.issues == ()


def test_short_and_long_rows_are_reported_on_their_rows(tmp_path: Path) -> None:
    text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12,\n"
    table = read_table(write(tmp_path / "r.csv", text))
    assert issue_codes(table) == [(3, "short_row"), (4, "long_row")]
    short, long = table.issues
    assert "2 value(s) where the header has 3" in short.message
    assert "'9' in 'Column 4'" in long.message
    assert rows(table)[1] == ["4", "5", "", ""]


@pytest.mark.parametrize(
    ("legacy", "line", "expected"),
    [("cp1252", "Bo,Salé,Méknès\n", "Windows-1252"), ("cp1256", "محمد,فاس,طنجة\n", "Windows-1256")],
)
def test_a_file_mixing_utf8_and_legacy_lines_reads_each_line_right(
    tmp_path: Path, legacy: str, line: str, expected: str
) -> None:
    data = (
        "nom,ville,autre\nÉlodie,Fès,Tétouan\n".encode()
        + line.encode(legacy)
        + "Cy,Kénitra,Oujda\n".encode()
    )
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    table = read_table(path)
    assert rows(table) == [
        ["Élodie", "Fès", "Tétouan"],
        line.strip().split(","),
        ["Cy", "Kénitra", "Oujda"],
    ]
    assert issue_codes(table) == [(3, "mixed_encoding")]
    assert expected in table.issues[0].message and table.issues[0].row == 3


# ---------------------------------------------------------------------------- workbooks as seen


def test_a_hidden_sheet_never_wins_over_visible_data(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    hidden = book.add_worksheet("Orders")  # the preferred name, but hidden
    hidden.write_row(0, 0, ["Nom", "Téléphone"])
    hidden.write_row(1, 0, ["Old copy", "0600000000"])
    hidden.hide()
    visible = book.add_worksheet("Feuil1")
    visible.activate()
    visible.write_row(0, 0, ["Nom", "Téléphone"])
    visible.write_row(1, 0, ["Ali", "0612345678"])
    book.close()
    table = read_table(path)
    assert table.sheet == "Feuil1" and rows(table) == [["Ali", "0612345678"]]
    assert "Sheet 'Feuil1' read" in table.notes[0] and "'Orders' (hidden)" in table.notes[0]
    chosen = read_table(path, sheet="orders")
    assert chosen.sheet == "Orders" and "a hidden sheet, as asked with --sheet" in chosen.notes[0]


def test_a_hidden_sheet_is_read_when_no_visible_sheet_holds_rows(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Cover").activate()
    data = book.add_worksheet("Data")
    data.write_row(0, 0, ["Nom", "Ville"])
    data.write_row(1, 0, ["Ali", "Rabat"])
    data.hide()
    book.close()
    table = read_table(path)
    assert table.sheet == "Data" and "no visible sheet holds rows" in table.notes[0]


def test_merged_cells_read_as_the_person_sees_them(tmp_path: Path) -> None:
    path = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Commandes")
    sheet.write_row(0, 0, ["Nom", "Téléphone", "Produit", "Prix"])
    sheet.merge_range(1, 0, 3, 0, "Youssef El Amrani")
    sheet.merge_range(1, 1, 3, 1, "0612457893")
    for r, (product, price) in enumerate([("Argan Oil 100ml", 149), ("LED Strip 5m", 99),
                                          ("Babouche Cuir", 180)], start=1):  # fmt: skip
        sheet.write_row(r, 2, [product, price])
    sheet.write_row(4, 0, ["Salma Chraibi", "0671122334", "Face Cream Snail", 199])
    book.close()
    table = read_table(path)
    assert [r[:2] for r in rows(table)] == [["Youssef El Amrani", "0612457893"]] * 3 + [
        ["Salma Chraibi", "0671122334"]
    ]
    assert table.merged == (("Nom", (2, 3, 4)), ("Téléphone", (2, 3, 4)))
    assert any("merged cell(s)" in note and "A2:A4" in note for note in table.notes)


def test_excel_errors_and_formulas_never_computed_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "errors.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, ["Nom", "Prix", "Total"])
    sheet.write_row(1, 0, ["Ali", 10])
    sheet.write_formula(1, 2, "=B2/0", None, "#DIV/0!")
    sheet.write_row(2, 0, ["Bo", 20])
    sheet.write_formula(2, 2, "=VLOOKUP(A3,X:Y,2,0)", None, "#N/A")
    sheet.write_row(3, 0, ["Cy", 30])
    sheet.write_formula(3, 2, "=B4*2", None, 60)  # computed: nothing to say
    book.close()
    table = read_table(path)
    assert [(i.row, i.column, i.code) for i in table.issues] == [
        (2, "Total", "formula_error"),
        (3, "Total", "formula_error"),
    ]
    assert "#DIV/0!" in table.issues[0].message and "=B2/0" in table.issues[0].message
    assert "#N/A" in table.issues[1].message
    assert table.frame.loc[2, "Total"] == "" and table.frame.loc[4, "Total"] == "60"


def test_formulas_a_program_wrote_without_results_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "generated.xlsx"
    book = openpyxl.Workbook()  # openpyxl writes formulas and never their results
    sheet = book.active
    assert sheet is not None
    sheet.append(["Nom", "Qté", "Prix", "Total"])
    sheet.append(["Ali", 2, 10, "=B2*C2"])
    sheet.append([None, None, None, "=B3*C3"])  # nothing but a formula: the row stays
    book.save(path)
    table = read_table(path)
    assert [(i.row, i.column, i.code) for i in table.issues] == [
        (2, "Total", "formula_not_computed"),
        (3, "Total", "formula_not_computed"),
    ]
    assert table.frame.index.tolist() == [2, 3]
    assert "=B2*C2" in table.issues[0].message
    assert any("never saved" in note for note in table.notes)
