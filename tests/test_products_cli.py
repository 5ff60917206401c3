"""A new seller's first run, end to end: `wedocod products`, the SKUs filled in once, then
every importable order of each kind of export created on the sandbox, every source row in
the report with its outcome."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner, Result

from importer.catalog import account_catalog_path, account_id, fold_name
from importer.cli import ExitStatus, main
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN, import_id_counts, serve_sandbox

#: The seller's own SKUs: what they type into the products sheet, and what the account knows.
SELLER_SKUS = {
    "Sérum Éclat 30ml": "SER-30",
    "Crème Nuit Argan": "CRN-50",
    "Huile de Nigelle": "NIG-100",
    "Savon Noir Eucalyptus": "SAV-EU",
    "Montre Connectée X9": "MTR-X9",
    "Écouteurs Sans Fil": "ECO-SF",
}
PEOPLE = [
    ("Youssef El Amrani", "0612457893", "Casablanca", "12 Rue Ibnou Mounir, Apt 4"),
    ("Salma Chraibi", "0671122334", "Agadir", "8 Rue Hassan II, Bloc B"),
    ("Omar Berrada", "0698765412", "Meknès", "17 Avenue Mohammed V"),
    ("Imane Kettani", "0709988776", "Oujda", "Hay Al Qods, Rue 5, N° 40"),
]


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


@pytest.fixture
def seller(tmp_path: Path) -> Iterator[tuple[RunningSandbox, dict[str, str]]]:
    """A sandbox whose account sells the seller's products, and the environment to reach it."""
    catalog = tmp_path / "account-skus.csv"
    catalog.write_text("sku\n" + "\n".join(SELLER_SKUS.values()) + "\n", encoding="utf-8")
    with serve_sandbox(catalog_path=catalog) as running:
        yield running, {"WEDOCOD_BASE_URL": running.url, "WEDOCOD_TOKEN": TEST_TOKEN}


# ---------------------------------------------------------------------------- the exports


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def shopify_cod(folder: Path) -> Path:
    """A Shopify COD store's export: no SKU anywhere, variants in the line item's name."""
    header = [
        "Name", "Email", "Financial Status", "Fulfillment Status", "Currency", "Subtotal",
        "Shipping", "Total", "Discount Amount", "Lineitem quantity", "Lineitem name",
        "Lineitem price", "Lineitem sku", "Billing Name", "Billing Address1", "Billing City",
        "Billing Phone", "Shipping Name", "Shipping Address1", "Shipping City",
        "Shipping Phone", "Shipping Country", "Payment Method", "Lineitem discount",
    ]  # fmt: skip

    def first(order: str, who: int, qty: int, product: str, price: int, total: int) -> list[Any]:
        name, phone, city, address = PEOPLE[who]
        return [order, "", "pending", "unfulfilled", "MAD", total - 30, 30, total, 0, qty,
                product, price, "", name, address, city, phone, name, address, city, phone, "MA",
                "Cash on Delivery (COD)", 0]  # fmt: skip

    def more(order: str, qty: int, product: str, price: int) -> list[Any]:
        line = [""] * len(header)
        line[0], line[9], line[10], line[11], line[23] = order, qty, product, price, 0
        return line

    rows = [
        first("#1001", 0, 2, "Sérum Éclat 30ml - Rose", 120, 390),
        more("#1001", 1, "Crème Nuit Argan", 120),
        first("#1002", 1, 1, "Huile de Nigelle", 90, 120),
    ]
    return write_csv(folder / "orders_export.csv", header, rows)


def woocommerce_line_items(folder: Path) -> Path:
    """WebToffee's WooCommerce export: one row per order, a line_item_N cell per product."""
    header = [
        "order_id", "order_number", "status", "billing_first_name", "billing_last_name",
        "billing_phone", "billing_city", "billing_address_1", "billing_country", "order_total",
        "shipping_total", "line_item_1", "line_item_2",
    ]  # fmt: skip
    rows = [
        ["501", "501", "processing", "Omar", "Berrada", "0698765412", "Meknès",
         "17 Avenue Mohammed V", "MA", "420.00", "30.00",
         "name:Montre Connectée X9|product_id:77|sku:|quantity:1|total:300.00",
         "name:Savon Noir Eucalyptus|product_id:78|sku:|quantity:3|total:90.00"],
        ["502", "502", "processing", "Imane", "Kettani", "0709988776", "Oujda",
         "Hay Al Qods, Rue 5", "MA", "280.00", "30.00",
         "name:Écouteurs Sans Fil|product_id:79|sku:|quantity:1|total:250.00", ""],
    ]  # fmt: skip
    return write_csv(folder / "woo_orders.csv", header, rows)


def cod_form_sheet(folder: Path) -> Path:
    """A COD landing page's Google Sheet: every product of an order in one cell."""
    header = ["Date", "N° Commande", "Nom Client", "Téléphone", "Ville", "Adresse",
              "Produits", "Sous-total", "Frais Livraison", "Total"]  # fmt: skip
    rows = [
        ["2025-03-01", "G-1", *PEOPLE[2], "Serum eclat 30ml x2, Huile de Nigelle x1", 330, 30,
         360],
        ["2025-03-02", "", *PEOPLE[3], "Montre Connectée X9 x1 + Savon Noir Eucalyptus x2", 360,
         0, 360],
        ["2025-03-02", "G-3", *PEOPLE[0], "Crème Nuit Argan x1", 120, 25, 145],
    ]  # fmt: skip
    return write_csv(folder / "google_sheet.csv", header, rows)


def hand_made_workbook(folder: Path) -> Path:
    """A hand-kept Arabic workbook: a hidden old sheet, the customer merged over the rows of
    their products, no order number."""
    path = folder / "طلبات.xlsx"
    book = xlsxwriter.Workbook(str(path))
    old = book.add_worksheet("Archive")
    old.write_row(0, 0, ["الاسم الكامل", "رقم الهاتف"])
    old.write_row(1, 0, ["Old", "0600000000"])
    old.hide()
    sheet = book.add_worksheet("Feuil1")
    sheet.activate()
    sheet.write_row(0, 0, ["الاسم الكامل", "رقم الهاتف", "المدينة", "العنوان", "المنتج", "الكمية",
                           "الإجمالي"])  # fmt: skip
    name, phone, city, address = PEOPLE[1]
    for col, value in enumerate([name, phone, city, address]):
        sheet.merge_range(1, col, 2, col, value)
    sheet.write_row(1, 4, ["Sérum Éclat 30ml", 1, 120])
    sheet.write_row(2, 4, ["Écouteurs Sans Fil", 1, 250])
    name, phone, city, address = PEOPLE[0]
    sheet.write_row(3, 0, [name, phone, city, address, "Huile de Nigelle", 2, 180])
    book.close()
    return path


EXPORTS = {
    "shopify": (shopify_cod, 3, 2),  # (builder, source rows, orders)
    "woocommerce": (woocommerce_line_items, 2, 2),
    "cod form": (cod_form_sheet, 3, 3),
    "hand-made xlsx": (hand_made_workbook, 3, 2),
}


def fill_in(sheet: Path) -> int:
    """What the seller does in Excel: accept the suggestions, type the SKUs they know."""
    book = openpyxl.load_workbook(sheet)
    rows = book.active
    assert rows is not None
    header = [c.value for c in rows[1]]
    name_at, sku_at = header.index("name"), header.index("sku")
    suggested_at = header.index("suggested_sku")
    known = {fold_name(name): sku for name, sku in SELLER_SKUS.items()}
    filled = 0
    for row in rows.iter_rows(min_row=2):
        if row[sku_at].value:
            continue
        base = fold_name(str(row[name_at].value).rsplit(" - ", 1)[0])  # a variant: same SKU
        row[sku_at].value = row[suggested_at].value or known[base]
        filled += 1
    book.save(sheet)
    return filled


def report_outcomes(path: Path) -> list[tuple[int, str]]:
    book = openpyxl.load_workbook(path, read_only=True)
    lines = (
        list(book["Leads"].values)
        if "Leads" in book.sheetnames
        else list(book.worksheets[0].values)
    )
    book.close()
    header = list(lines[0])
    return [
        (int(line[header.index("Row")]), str(line[header.index("Outcome")])) for line in lines[1:]
    ]


# ---------------------------------------------------------------------------- the first run


def test_a_new_seller_fills_the_skus_once_and_imports_every_order(
    tmp_path: Path, seller: tuple[RunningSandbox, dict[str, str]]
) -> None:
    running, env = seller
    exports = {kind: build(tmp_path) for kind, (build, _, _) in EXPORTS.items()}

    # before: the check says what to do, once, with the command to run
    before = run(["check", str(exports["cod form"]), "--json",
                  "--report", str(tmp_path / "before.xlsx")], env)  # fmt: skip
    assert before.exit_code == ExitStatus.INCOMPLETE
    notes = json.loads(before.stdout)["notes"]
    hint = [n for n in notes if "no catalog of your SKUs" in n]
    assert len(hint) == 1 and "wedocod products" in hint[0] and "--save" in hint[0]
    summary = [c for row in openpyxl.load_workbook(tmp_path / "before.xlsx")["Summary"].values
               for c in row if isinstance(c, str)]  # fmt: skip
    assert hint[0] in summary

    # the products of every export, in one sheet
    sheet = tmp_path / "products.xlsx"
    listed = run(["products", *map(str, exports.values()), "--write", str(sheet)], env)
    assert listed.exit_code == 0, listed.output
    assert "to fill" in listed.stdout and sheet.exists()
    # six products: one also as a variant, one spelt two ways
    assert fill_in(sheet) == 8

    saved = run(["products", "--save", str(sheet)], env)
    assert saved.exit_code == 0, saved.output
    # kept in the config folder for this account (conftest points it at a folder of the test)
    stored = account_catalog_path(account_id(running.url, TEST_TOKEN))
    assert stored.is_file() and str(stored) in saved.stderr
    assert TEST_TOKEN not in saved.stderr and TEST_TOKEN not in stored.read_text(encoding="utf-8")

    # every product is known now: nothing left to fill
    again = run(["products", *map(str, exports.values()), "--json"], env)
    counts = json.loads(again.stdout)["counts"]
    assert counts["to fill"] == 0 and counts["suggested"] == 0

    # and every order of every export goes in, without --catalog
    for kind, (_, source_rows, orders) in EXPORTS.items():
        report = tmp_path / f"{kind}.report.xlsx"
        done = run(["import", str(exports[kind]), "--json", "--report", str(report),
                    "--ledger", str(tmp_path / "ledger.db")], env)  # fmt: skip
        assert done.exit_code == ExitStatus.OK, (kind, done.output)
        result = json.loads(done.stdout)
        assert (result["rows"], result["leads"], result["created"]) == (source_rows, orders, orders)
        outcomes = report_outcomes(report)
        assert len(outcomes) == source_rows and {o for _, o in outcomes} == {"created"}, kind
    counts_on_server = import_id_counts(running)
    assert sum(counts_on_server.values()) == sum(o for _, _, o in EXPORTS.values())
    assert set(counts_on_server.values()) == {1}
    skus = {p["sku"] for lead in running.sandbox.store.leads(TEST_TOKEN) for p in lead["products"]}
    assert skus == set(SELLER_SKUS.values())


def test_the_account_catalog_is_the_settings_files_when_it_names_one(tmp_path: Path) -> None:
    export = cod_form_sheet(tmp_path)
    settings = tmp_path / "wedocod.toml"
    settings.write_text('catalog = "mine.csv"\n', encoding="utf-8")
    sheet = tmp_path / "p.csv"
    assert (
        run(["--config", str(settings), "products", str(export), "--write", str(sheet)]).exit_code
        == 0
    )
    text = sheet.read_text(encoding="utf-8-sig").splitlines()
    rows = [line.split(",") for line in text]
    for row in rows[1:]:
        row[2] = SELLER_SKUS.get(row[0], "X")
    sheet.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8-sig")
    saved = run(["--config", str(settings), "products", "--save", str(sheet), "--json"])
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["saved"]["catalog"] == str(tmp_path / "mine.csv")
    checked = run(["--config", str(settings), "check", str(export), "--report",
                   str(tmp_path / "r.csv")])  # fmt: skip
    assert checked.exit_code == ExitStatus.OK, checked.output


def test_saving_without_an_account_says_what_is_needed(tmp_path: Path) -> None:
    sheet = tmp_path / "p.csv"
    sheet.write_text("name,sku\nSavon,S-1\n", encoding="utf-8")
    done = run(["products", "--save", str(sheet)], {"WEDOCOD_TOKEN": ""})
    assert done.exit_code == ExitStatus.BAD_INPUT
    assert "WEDOCOD_TOKEN" in done.output and "wedocod.toml" in done.output
    assert run(["products"]).exit_code == ExitStatus.USAGE


def test_products_of_a_file_without_a_product_column_is_exit_3(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["Nom", "Téléphone"], [["Ali", "0612345678"]])
    done = run(["products", str(path)])
    assert done.exit_code == ExitStatus.BAD_INPUT
    assert str(path) in done.output and "no column names the products" in done.output


def test_map_write_saves_what_was_found_when_a_field_is_missing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        ["Nom complet", "Ville", "Adresse", "Article", "Prix TTC", "Contact"],
        [["Ali Alaoui", "Rabat", "12 Rue X, Agdal", "Savon", "40", "0612345678"]],
    )
    target = tmp_path / "m.toml"
    shown = run(["map", str(path), "--write", str(target)])
    assert shown.exit_code == ExitStatus.BAD_INPUT
    assert "MISSING" in shown.stdout and "fill in total" in shown.stderr
    written = target.read_text(encoding="utf-8")
    assert 'total = ""  # TO FILL IN' in written
    target.write_text(written.replace('total = ""', 'total = "Prix TTC"'), encoding="utf-8")
    checked = run(
        ["check", str(path), "--mapping", str(target), "--report", str(tmp_path / "r.csv")]
    )
    assert checked.exit_code != ExitStatus.BAD_INPUT, checked.output


def test_the_sheet_read_is_named_in_the_output(tmp_path: Path) -> None:
    path = hand_made_workbook(tmp_path)
    done = run(["check", str(path), "--json", "--report", str(tmp_path / "r.xlsx")])
    notes = json.loads(done.stdout)["notes"]
    assert notes[0].startswith("Sheet 'Feuil1' read") and "'Archive' (hidden)" in notes[0]
    assert any("merged cell" in n for n in notes) and any("one order" in n for n in notes)
    summary = openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"]
    texts = [c for row in summary.values for c in row if isinstance(c, str)]
    assert notes[0] in texts and "Feuil1" in texts


def test_check_finds_the_accounts_catalog_without_the_network_stack(tmp_path: Path) -> None:
    export = cod_form_sheet(tmp_path)
    env = {**os.environ, "WEDOCOD_BASE_URL": "https://api.example.com", "WEDOCOD_TOKEN": "tok-1"}
    stored = account_catalog_path(account_id("https://api.example.com", "tok-1"))
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(
        "sku,name\n"
        + "".join(f"{sku},{name}\n" for name, sku in SELLER_SKUS.items())
        + "SER-30,Serum eclat 30ml\n",
        encoding="utf-8",
    )
    probe = (
        "import json, sys\n"
        "from importer.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], prog_name='wedocod')\n"
        "except SystemExit as end:\n"
        "    code = end.code\n"
        "print(json.dumps({'exit': int(code), 'requests': 'requests' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "check", str(export), "--report", str(tmp_path / "r.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"exit": 0, "requests": False}
    assert str(stored) in done.stderr  # the note says which catalog gave the SKUs
