"""Tests for importer.read: real CSV and workbook files written to tmp_path and read back."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Font

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
