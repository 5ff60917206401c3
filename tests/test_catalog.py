"""Tests for importer.catalog: catalogs, the products of exports, the sheet to fill, saving it."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from importer.catalog import (
    Catalog,
    CatalogEntry,
    CatalogError,
    account_catalog_path,
    account_id,
    fold_name,
    list_products,
    load_catalog,
    read_filled_sheet,
    save_filled_sheet,
    write_products_sheet,
)
from importer.client import LeadsClient
from importer.mapping import detect_mapping
from importer.read import read_table

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CATALOG = REPO / "samples" / "skus.csv"


def export(path: Path, rows: list[list[str]]) -> Path:
    header = [
        "Nom complet",
        "Téléphone",
        "Ville",
        "Adresse",
        "Produit",
        "Référence",
        "Qté",
        "Total",
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["Youssef El Amrani", "0612457893", "Rabat", "12 Rue X, Agdal", *row])
    return path


def listing_of(*paths: Path, catalog: Catalog | None = None) -> dict[str, dict[str, object]]:
    tables = [(t, detect_mapping(t)) for t in map(read_table, paths)]
    return {p.name: p.to_dict() for p in list_products(tables, catalog).products}


def test_the_account_is_the_clients_and_its_catalog_path_holds_no_token(tmp_path: Path) -> None:
    token = "s3cret-token-value"
    client = LeadsClient("https://api.wedocod.com/", token)
    try:
        assert account_id("https://api.wedocod.com/", token) == client.account_id
    finally:
        client.close()
    path = account_catalog_path(account_id("http://127.0.0.1:8787", token), tmp_path)
    assert path.parent == tmp_path / "catalogs"
    assert path.name.startswith("127.0.0.1_8787-") and path.suffix == ".csv"
    assert token not in str(path)
    other = account_catalog_path(account_id("http://127.0.0.1:8787", "another"), tmp_path)
    assert other != path


def test_products_are_listed_once_with_rows_quantities_and_what_is_known(tmp_path: Path) -> None:
    first = export(
        tmp_path / "a.csv",
        [
            ["Argan Oil 100ml", "", "2", "298"],  # in the catalog by its very name
            ["argan  oil 100ML", "", "1", "149"],  # the same product, spelt otherwise
            ["Sérum Éclat", "SER-1", "1", "120"],  # its own SKU in the file
            ["Rhassoul Clay 200g - Rose", "", "3", "135"],  # a variant of a catalog product
            ["Savon Noir", "", "1", "40"],  # unknown
        ],
    )
    second = export(tmp_path / "b.csv", [["Savon Noir", "", "4", "160"]])
    listed = listing_of(first, second, catalog=load_catalog(SAMPLE_CATALOG))
    assert list(listed) == [
        "Savon Noir",
        "Rhassoul Clay 200g - Rose",
        "Argan Oil 100ml",
        "Sérum Éclat",
    ]
    assert listed["Savon Noir"] | {"files": None} == {
        "name": "Savon Noir",
        "variant": "",
        "sku": "",
        "status": "to fill",
        "rows": 2,
        "quantity": 5,
        "suggested_sku": "",
        "suggested_name": "",
        "files": None,
    }
    assert listed["Savon Noir"]["files"] == [str(first), str(second)]
    assert listed["Argan Oil 100ml"]["sku"] == "SKU-001"
    assert listed["Argan Oil 100ml"]["status"] == "in catalog"
    assert (listed["Argan Oil 100ml"]["rows"], listed["Argan Oil 100ml"]["quantity"]) == (2, 3)
    assert listed["Sérum Éclat"]["status"] == "in file" and listed["Sérum Éclat"]["sku"] == "SER-1"
    rose = listed["Rhassoul Clay 200g - Rose"]
    assert (rose["status"], rose["variant"], rose["sku"]) == ("suggested", "Rose", "")
    assert (rose["suggested_sku"], rose["suggested_name"]) == ("SKU-003", "Rhassoul Clay 200g")


@pytest.mark.parametrize(
    ("written", "in_catalog"),
    [
        ("Serum eclat", "Sérum Éclat"),  # accents and case
        ("SÉRUM-ÉCLAT  ", "Sérum Éclat"),  # punctuation and spacing
        ("زيت الأركان", "زيت الاركان"),  # Arabic letter variants
        ("عسل الـنحل", "عسل النحل"),  # tatweel
        ("Serum Eclatt", "Sérum Éclat"),  # a near spelling
    ],
)
def test_close_names_are_suggested(tmp_path: Path, written: str, in_catalog: str) -> None:
    catalog = Catalog.of([CatalogEntry("X-1", in_catalog), CatalogEntry("X-2", "Savon")])
    listed = listing_of(export(tmp_path / "e.csv", [[written, "", "1", "10"]]), catalog=catalog)
    (only,) = listed.values()
    assert (only["status"], only["suggested_sku"]) == ("suggested", "X-1")


def test_no_suggestion_for_an_unrelated_name(tmp_path: Path) -> None:
    catalog = Catalog.of([CatalogEntry("X-1", "Sérum Éclat")])
    listed = listing_of(
        export(tmp_path / "e.csv", [["Montre connectée", "", "1", "10"]]), catalog=catalog
    )
    assert listed["Montre connectée"]["status"] == "to fill"
    assert fold_name("Sérum  Éclat-50ml") == "serum eclat 50ml"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_the_sheet_filled_in_is_a_catalog(tmp_path: Path, suffix: str) -> None:
    path = export(
        tmp_path / "e.csv",
        [
            ["=HYPERLINK(1)", "", "1", "10"],
            ["Savon Noir", "", "1", "40"],
            ["Serum", "S-1", "1", "9"],
        ],
    )
    listing = list_products([(t := read_table(path), detect_mapping(t))], None)
    sheet = write_products_sheet(tmp_path / f"products{suffix}", listing)
    if suffix == ".xlsx":
        book = openpyxl.load_workbook(sheet)
        rows = list(book.active.values)  # type: ignore[union-attr]
        assert rows[0][:3] == ("name", "variant", "sku")
        name = book.active["A2"]  # type: ignore[index]
        assert (name.value, name.data_type) == ("=HYPERLINK(1)", "s")  # text, not a formula
        for row in book.active.iter_rows(min_row=2):  # type: ignore[union-attr]
            if row[0].value == "Savon Noir":
                row[2].value = "SAV-9"
        book.save(sheet)
    else:
        text = sheet.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK(1)" in text  # never a formula in a spreadsheet
        sheet.write_text(text.replace("Savon Noir,,,", "Savon Noir,,SAV-9,"), encoding="utf-8-sig")
    catalog = load_catalog(sheet)
    assert catalog.sku_for_name("savon noir") == "SAV-9"
    assert catalog.sku_for_name("Serum") == "S-1"
    assert catalog.skus == frozenset({"SAV-9", "S-1"})


def write_sheet(path: Path, lines: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "variant", "sku", "status"])
        writer.writerows([name, "", sku, "to fill"] for name, sku in lines)
    return path


def test_saving_a_filled_sheet_merges_it_into_the_catalog(tmp_path: Path) -> None:
    target = tmp_path / "cfg" / "catalog.csv"
    first = write_sheet(
        tmp_path / "p.csv", [("Savon Noir", "SAV-1"), ("Serum", ""), ("Crème", "CR-1")]
    )
    result = save_filled_sheet(first, target)
    assert (result.added, result.changed, result.unchanged, result.skipped) == (2, 0, 0, 1)
    again = write_sheet(
        tmp_path / "q.csv", [("savon noir", "SAV-2"), ("Crème", "CR-1"), ("Serum", "SE-1")]
    )
    result = save_filled_sheet(again, target)
    assert (result.added, result.changed, result.unchanged, result.total) == (1, 1, 1, 3)
    catalog = load_catalog(target)
    assert catalog.sku_for_name("Savon Noir") == "SAV-2"  # the sheet's latest choice
    assert [e.name for e in catalog.entries] == ["Savon Noir", "Crème", "Serum"]
    assert not list(target.parent.glob(".*"))  # written in one step, nothing left behind


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ([("Savon", ""), ("Serum", "")], "no line has a SKU filled in yet"),
        ([("Savon", "A"), ("savon", "B")], "row 3: 'savon' has SKU 'B' here and 'A' on row 2"),
        ([("Savon", "X" * 101)], "row 2: the SKU is 101 characters long"),
    ],
)
def test_a_sheet_that_cannot_be_saved_says_which_rows(
    tmp_path: Path, lines: list[tuple[str, str]], words: str
) -> None:
    path = write_sheet(tmp_path / "p.csv", lines)
    with pytest.raises(CatalogError, match=words) as err:
        read_filled_sheet(path)
    assert str(path) in str(err.value)


def test_a_sheet_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("produit,code\nSavon,S-1\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="no 'name' or 'sku' column"):
        read_filled_sheet(path)


RESEARCH = REPO.parent / "shared" / "research" / "samples"


@pytest.mark.skipif(not RESEARCH.exists(), reason="research samples absent")
def test_a_real_cod_export_without_skus_gets_its_catalog_names() -> None:
    table = read_table(RESEARCH / "shopify_cod_bd_REDACTED.csv")
    listing = list_products([(table, detect_mapping(table))], load_catalog(SAMPLE_CATALOG))
    found = {p.name: p for p in listing.products}
    offer = found["Apple Cider Vinegar Effervescent - Buy 1 Get 1 FREE - Color-free"]
    assert (offer.status, offer.rows, offer.suggested_sku) == ("suggested", 5, "SKU-017")
    assert found["Female Solid Perfume"].sku == "SKU-018"
    assert listing.rows == 6
