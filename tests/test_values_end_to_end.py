"""End to end: right values on a seller's first run (phones by country, the amount to collect,
text limits), a file per case checked and imported against the sandbox, reports opened again."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner, Result

from importer.cli import ExitStatus, main
from importer.pipeline import SourceOptions, check_file, prepare_file
from importer.report import read_report
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN, serve_sandbox

RESEARCH = Path(__file__).resolve().parents[2] / "shared" / "research" / "samples"
CATALOG = Path(__file__).resolve().parents[1] / "samples" / "skus.csv"

SHOPIFY = [
    "Name", "Email", "Created at", "Subtotal", "Shipping", "Total", "Discount Amount",
    "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Lineitem discount",
    "Billing Name", "Billing Address1", "Billing City", "Billing Country", "Billing Phone",
    "Shipping Name", "Shipping Address1", "Shipping City", "Shipping Country", "Shipping Phone",
    "Phone",
]  # fmt: skip
LANDMARKS = (
    "حي السلام زنقة 12 رقم 45 بجانب مسجد النور قرب مدرسة الأمل مقابل صيدلية الشفاء "
    "الطابق الثاني الباب على اليمين بعد المقهى الكبير"
)


def shopify_row(
    name: str,
    sku: str,
    price: str,
    *,
    quantity: str = "1",
    first: bool = True,
    total: str = "",
    shipping: str = "0.00",
    discount: str = "0.00",
    line_discount: str = "0.00",
    phone: str = "0612345678",
    billing_phone: str = "",
    country: str = "MA",
    address: str = "12 Rue Atlas",
    city: str = "Rabat",
) -> dict[str, str]:
    """One line of a Shopify export; `first=False` is a continuation row (order fields blank)."""
    row = {
        "Name": name,
        "Created at": "2026-04-06 01:48:03 +0100",
        "Lineitem quantity": quantity,
        "Lineitem name": f"Product {sku}",
        "Lineitem price": price,
        "Lineitem sku": sku,
        "Lineitem discount": line_discount,
    }
    if first:
        row.update(
            {
                "Subtotal": price,
                "Shipping": shipping,
                "Total": total,
                "Discount Amount": discount,
                "Billing Name": "Salma Idrissi",
                "Billing Address1": address,
                "Billing City": city,
                "Billing Country": country,
                "Billing Phone": billing_phone,
                "Shipping Name": "Salma Idrissi",
                "Shipping Address1": address,
                "Shipping City": city,
                "Shipping Country": country,
                "Shipping Phone": phone,
            }
        )
    return row


#: Order -> what its customer owes, as the export says (Total).
OWED = {
    "#1001": 1700.00,  # 600 + 1400, order discount 400, shipping 100
    "#1002": 530.00,  # 2 x 250, shipping 30; Shipping Phone broken, Billing Phone good
    "#1003": 299.00,  # a gift at 0.00
    "#1004": 150.00,  # South Africa
    "#1005": 200.00,  # an address with landmarks, 160 characters
    "#1007": 140.00,  # a line discount that is also the order's Discount Amount
}


def shopify_rows() -> list[dict[str, str]]:
    return [
        shopify_row(
            "#1001", "SKU-001", "600.00", total="1700.00", shipping="100.00",
            discount="400.00", phone="0729123456",
        ),
        shopify_row("#1001", "SKU-002", "1400.00", first=False),
        shopify_row(
            "#1002", "SKU-003", "250.00", quantity="2", total="530.00", shipping="30.00",
            phone="06 12", billing_phone="+212 661-234567",
        ),
        shopify_row("#1003", "SKU-001", "299.00", total="299.00"),
        shopify_row("#1003", "SKU-004", "0.00", first=False),
        shopify_row("#1004", "SKU-005", "150.00", total="150.00", phone="064 904 0482",
                    country="ZA", city="Durban"),
        shopify_row("#1005", "SKU-006", "200.00", total="200.00", address=LANDMARKS,
                    city="Casablanca"),
        shopify_row("#1006", "SKU-007", "99.00", total="99.00", phone="06 12"),
        shopify_row("#1007", "SKU-008", "100.00", total="140.00", discount="10.00",
                    line_discount="10.00"),
        shopify_row("#1007", "SKU-009", "50.00", first=False),
    ]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return path


def run(args: list[str], url: str | None = None) -> tuple[Result, dict[str, Any]]:
    env = {"WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": TEST_TOKEN} if url else None
    result = CliRunner().invoke(main, [*args, "--json"], env=env, catch_exceptions=False)
    return result, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with serve_sandbox(async_delay=0.05) as running:
        yield running


def server_leads(running: RunningSandbox) -> dict[str, dict[str, Any]]:
    """The sandbox's leads by our import key (order:<Name>)."""
    out = {}
    for lead in running.sandbox.store.leads(TEST_TOKEN):
        entries = {e["key"]: e["value"] for e in lead["data"]}
        out[entries["import_id"]] = {**lead, "entries": entries}
    return out


def report_by_row(path: Path) -> dict[str, dict[str, str]]:
    report = read_report(path)
    return {line[0]: dict(zip(report.header, line, strict=True)) for line in report.rows}


def summary_text(path: Path) -> str:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        cells = [str(v) for row in book["Summary"].values for v in row if v is not None]
    finally:
        book.close()
    return "\n".join(cells)


def test_a_shopify_cod_export_imports_with_the_right_values(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    source = write_csv(tmp_path / "orders_export.csv", SHOPIFY, shopify_rows())
    report = tmp_path / "report.xlsx"
    args = ["import", str(source), "--catalog", str(CATALOG), "--report", str(report)]
    result, summary = run([*args, "--ledger", str(tmp_path / "l.db")], sandbox.url)
    assert result.exit_code == ExitStatus.INCOMPLETE, result.output
    # the only order held back is the one with no phone at all
    assert (summary["leads"], summary["created"], summary["invalid"]) == (7, 6, 1)

    leads = server_leads(sandbox)
    assert set(leads) == {f"order:{name}" for name in OWED}
    for name, owed in OWED.items():
        lead = leads[f"order:{name}"]
        assert sum(p["total"] for p in lead["products"]) == pytest.approx(owed), name
        assert all(p["total"] >= 1 for p in lead["products"]), name
        assert lead["entries"]["order_total"] == f"{owed:.2f}"
    assert [p["total"] for p in leads["order:#1001"]["products"]] == [510, 1190]
    assert leads["order:#1001"]["entries"]["discount"] == "400.00"
    assert leads["order:#1001"]["entries"]["shipping"] == "100.00"
    assert leads["order:#1001"]["phone"] == "0729123456"  # unlisted, but possible: sent
    assert leads["order:#1002"]["phone"] == "0661234567"  # the Billing Phone stood in
    assert [p["total"] for p in leads["order:#1003"]["products"]] == [298, 1]
    assert leads["order:#1004"]["phone"] == "+27649040482"  # never a Moroccan 0649...
    assert [p["total"] for p in leads["order:#1007"]["products"]] == [90, 50]
    lead = leads["order:#1005"]
    assert len(lead["address"]) <= 100
    assert f"{lead['address']} {lead['entries']['address_rest']}" == LANDMARKS

    rows = report_by_row(report)
    assert [r["Outcome"] for r in rows.values()] == ["created"] * 7 + ["invalid"] + ["created"] * 2
    assert "is too short for a phone number in Morocco (4 digits" in rows["9"]["Errors"]
    assert rows["9"]["Warnings"] == ""
    assert (
        "Lineitem price: Sent 510.00 for this line instead of 1 x 600.00" in rows["2"]["Warnings"]
    )
    assert "order discount -400.00, shipping +100.00" in rows["2"]["Warnings"]
    assert "in no range libphonenumber lists" in rows["2"]["Warnings"]
    assert "sent 0661234567 from Billing Phone instead" in rows["4"]["Warnings"]
    assert "sent at 1.00" in rows["6"]["Warnings"]
    assert "characters long and WedoCOD takes at most 100" in rows["8"]["Warnings"]
    assert rows["7"]["Warnings"] == ""  # nothing to say about the South African order
    text = summary_text(report)
    assert "amount_adjusted" in text and "Amounts: each order's product totals add up" in text

    # imported again: nothing is sent twice, the same values are found
    _, summary = run([*args, "--ledger", str(tmp_path / "l.db")], sandbox.url)
    assert summary["skipped"] == 6 and summary["created"] == 0
    assert len(sandbox.sandbox.store.leads(TEST_TOKEN)) == 6


def test_amount_lines_sends_price_times_quantity_and_says_so(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    source = write_csv(tmp_path / "orders_export.csv", SHOPIFY, shopify_rows())
    report = tmp_path / "report.xlsx"
    args = ["import", str(source), "--catalog", str(CATALOG), "--report", str(report)]
    _, summary = run([*args, "--amount", "lines", "--ledger", str(tmp_path / "l.db")], sandbox.url)
    assert summary["created"] == 6
    leads = server_leads(sandbox)
    assert [p["total"] for p in leads["order:#1001"]["products"]] == [600, 1400]
    assert [p["total"] for p in leads["order:#1003"]["products"]] == [298, 1]  # still no 0
    assert leads["order:#1001"]["entries"]["shipping"] == "100.00"  # not dropped silently
    rows = report_by_row(report)
    assert "Total is 1700.00 but its lines add up to 2000.00" in rows["2"]["Warnings"]


def test_strict_holds_back_the_orders_with_warnings(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "orders_export.csv", SHOPIFY, shopify_rows())
    report = tmp_path / "r.csv"
    _, summary = run(["check", str(source), "--catalog", str(CATALOG), "--report", str(report)])
    assert (summary["valid"], summary["invalid"]) == (6, 1)
    args = ["check", str(source), "--catalog", str(CATALOG), "--report", str(report), "--strict"]
    _, summary = run(args)
    # only the South African order has nothing to say
    assert (summary["valid"], summary["invalid"]) == (1, 6)


WOOCOMMERCE = [
    "Order Number", "Order Status", "Order Date", "First Name (Billing)", "Last Name (Billing)",
    "Address 1&2 (Billing)", "City (Billing)", "Country Code (Billing)", "Phone (Billing)",
    "First Name (Shipping)", "Last Name (Shipping)", "Address 1&2 (Shipping)", "City (Shipping)",
    "Country Code (Shipping)", "SKU", "Item Name", "Quantity (- Refund)", "Order Line Total",
    "Cart Discount Amount", "Order Shipping Amount", "Order Total Amount",
]  # fmt: skip


def test_a_woocommerce_export_collects_its_order_total(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    order = {
        "Order Number": "2301",
        "Order Status": "processing",
        "Order Date": "2026-04-06",
        "First Name (Billing)": "Omar",
        "Last Name (Billing)": "Berrada",
        "Address 1&2 (Billing)": "17 Avenue Mohammed V",
        "City (Billing)": "Fès",
        "Country Code (Billing)": "MA",
        "Phone (Billing)": "0745 12 34 56",
        "Cart Discount Amount": "50.00",  # a coupon, already taken off the line totals
        "Order Shipping Amount": "30.00",
        "Order Total Amount": "280.00",
    }
    rows = [
        {**order, "SKU": "SKU-001", "Item Name": "Argan", "Quantity (- Refund)": "1",
         "Order Line Total": "150.00"},
        {**order, "SKU": "SKU-002", "Item Name": "Savon", "Quantity (- Refund)": "2",
         "Order Line Total": "100.00"},
    ]  # fmt: skip
    source = write_csv(tmp_path / "orders.csv", WOOCOMMERCE, rows)
    report = tmp_path / "report.xlsx"
    args = ["import", str(source), "--report", str(report), "--ledger", str(tmp_path / "l.db")]
    result, _ = run(args, sandbox.url)
    assert result.exit_code == ExitStatus.OK, result.output
    lead = server_leads(sandbox)["order:2301"]
    assert [p["total"] for p in lead["products"]] == [168, 112]
    assert lead["phone"] == "0745123456"
    assert lead["entries"]["order_total"] == "280.00"
    warnings = report_by_row(report)["2"]["Warnings"]
    assert "shipping +30.00" in warnings and "discount" not in warnings.split("shipping")[0]


def test_a_mapping_file_says_the_country_and_the_amount_mode(tmp_path: Path) -> None:
    header = ["Nom complet", "Téléphone", "Ville", "Adresse", "SKU", "Qté", "Prix", "Total"]
    rows = [
        {"Nom complet": "Thandi Nkosi", "Téléphone": "064 904 0482", "Ville": "Durban",
         "Adresse": "12 Smith Street", "SKU": "SKU-001", "Qté": "1", "Prix": "100",
         "Total": "120"},
        {"Nom complet": "Amina Tazi", "Téléphone": "+212612345678", "Ville": "Rabat",
         "Adresse": "3 Rue Fès", "SKU": "SKU-002", "Qté": "1", "Prix": "80", "Total": "80"},
    ]  # fmt: skip
    source = write_csv(tmp_path / "commandes.csv", header, rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'region = "ZA"\namount = "lines"\n[fields]\nfull_name = "Nom complet"\n'
        'phone = "Téléphone"\ncity = "Ville"\naddress = "Adresse"\nsku = "SKU"\n'
        'quantity = "Qté"\nunit_price = "Prix"\norder_total = "Total"\n',
        encoding="utf-8",
    )
    options = SourceOptions(mapping_file=mapping, catalog_file=CATALOG)
    prepared = prepare_file(source, options)
    assert [lead.phone for lead in prepared.leads] == ["0649040482", "+212612345678"]
    assert [lead.products[0].total for lead in prepared.leads] == [100, 80]  # lines: as written
    # the command line wins over the mapping file
    prepared = prepare_file(
        source, SourceOptions(mapping_file=mapping, region="MA", amount="order")
    )
    assert [lead.phone for lead in prepared.leads] == ["0649040482", "0612345678"]
    assert [lead.products[0].total for lead in prepared.leads] == [120, 80]
    mapping.write_text(mapping.read_text("utf-8").replace('"lines"', '"all"'), "utf-8")
    result = CliRunner().invoke(main, ["check", str(source), "--mapping", str(mapping)])
    assert result.exit_code == ExitStatus.BAD_INPUT and "amount must be" in result.output


@pytest.mark.parametrize(
    ("option", "status", "words"),
    [("Morocco", ExitStatus.USAGE, "two-letter"), ("XX", ExitStatus.BAD_INPUT, "XX")],
)
def test_a_region_that_is_no_country_is_refused(
    tmp_path: Path, option: str, status: ExitStatus, words: str
) -> None:
    source = write_csv(tmp_path / "orders_export.csv", SHOPIFY, shopify_rows())
    result = CliRunner().invoke(main, ["check", str(source), "--region", option])
    assert result.exit_code == status and words in result.output


def test_a_cell_with_several_phones_sends_one_and_says_where_the_others_are(
    tmp_path: Path,
) -> None:
    header = ["Nom complet", "Téléphone", "Ville", "Adresse", "SKU", "Qté", "Prix"]
    phones = ["0612345678 / 0698765432", "0522334455\n0661112233", "06 12 34 56 78", "06 12 / 07"]
    rows = [
        {"Nom complet": f"Client {n}", "Téléphone": phone, "Ville": "Rabat",
         "Adresse": "3 Rue Fès", "SKU": "SKU-001", "Qté": "1", "Prix": "80"}
        for n, phone in enumerate(phones)
    ]  # fmt: skip
    source = write_csv(tmp_path / "commandes.csv", header, rows)
    report = tmp_path / "report.csv"
    result = check_file(source, SourceOptions(catalog_file=CATALOG), report)
    assert (result.summary.valid, result.summary.invalid) == (3, 1)
    assert [(c.code, c.rows) for c in result.summary.issues if c.code == "several_phones"] == [
        ("several_phones", 2)
    ]
    lines = report_by_row(report)
    assert [line["Outcome"] for line in lines.values()] == ["valid"] * 3 + ["invalid"]
    assert lines["2"]["Warnings"] == (
        "Téléphone: '0612345678 / 0698765432' holds several phone numbers: sent 0612345678; "
        "0698765432 is kept in custom data phone_2."
    )
    # two lines in one cell; the mobile is sent, not the landline written first
    assert lines["3"]["Téléphone"] == "0522334455\n0661112233"
    assert (
        "sent 0661112233, the first mobile number in Morocco; 0522334455 is kept in custom "
        "data phone_2" in lines["3"]["Warnings"]
    )
    assert lines["4"]["Warnings"] == ""  # one number with spaces is one number
    assert "Téléphone: '06 12 / 07'" in lines["5"]["Errors"]

    leads = prepare_file(source, SourceOptions(catalog_file=CATALOG)).leads
    kept = [(lead.phone, [(e.key, e.value) for e in lead.data]) for lead in leads]
    assert kept == [
        ("0612345678", [("phone_2", "0698765432")]),
        ("0661112233", [("phone_2", "0522334455")]),
        ("0612345678", []),
    ]


# ----------------------------------------------------------------------------- real exports


def real_export(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A redacted real export with plausible values in its placeholders, and a catalog of
    its product names (these stores have no SKUs)."""
    path = RESEARCH / name
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    text = path.read_text(encoding="utf-8")
    phone = "+8801795326165" if "_bd_" in name else "(705) 571-5151"
    for placeholder, value in {
        "<PHONE>": phone,
        "<SHIPPING_NAME>": "Customer Name",
        "<BILLING_NAME>": "Customer Name",
        "<SHIPPING_ADDRESS1>": "12 Main Street",
        "<BILLING_ADDRESS1>": "12 Main Street",
    }.items():
        text = text.replace(placeholder, value)
    copy = tmp_path / name
    copy.write_text(text, encoding="utf-8")
    with copy.open(encoding="utf-8", newline="") as handle:
        names = sorted({r["Lineitem name"] for r in csv.DictReader(handle)})
    catalog = tmp_path / "skus.csv"
    write_csv(catalog, ["sku", "name"], [{"sku": f"P-{n}", "name": v} for n, v in enumerate(names)])
    return copy, catalog


@pytest.mark.parametrize(
    "name", ["shopify_cod_bd_REDACTED.csv", "shopify_multiline_ca_REDACTED.csv"]
)
def test_real_exports_lose_only_what_cannot_be_sent_and_add_up(tmp_path: Path, name: str) -> None:
    path, catalog = real_export(tmp_path, name)
    prepared = prepare_file(path, SourceOptions(preset="shopify", catalog_file=catalog))
    with path.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    # what the customer still owes: the Total of a COD order, less of one paid online
    owed = {line["Name"]: float(line["Outstanding Balance"]) for line in lines if line["Total"]}
    phones = {line["Name"] for line in lines if line["Shipping Phone"] or line["Phone"]}
    paid = {name for name, amount in owed.items() if amount == 0}
    # every order with a phone and something to collect is sent; the others are refused for
    # that reason alone
    assert {lead.key for lead in prepared.leads} == {f"order:{n}" for n in phones - paid}
    for row, issues in prepared.issues.items():
        for issue in (i for i in issues if i.is_error):
            assert issue.code in ("required", "order_invalid", "nothing_to_collect"), (row, issue)
            if issue.code == "required":
                assert "Phone" in str(issue.column), (row, issue)
            if issue.code == "nothing_to_collect":
                assert lines[row - 2]["Name"] in paid, (row, issue)
    for lead in prepared.leads:
        total = sum(p.total for p in lead.products)
        assert total == pytest.approx(owed[lead.key.removeprefix("order:")]), lead.key
