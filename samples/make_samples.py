"""Write the sample exports in this folder (run: python samples/make_samples.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent

# Invented people; phones use assigned Moroccan mobile ranges (06x / 07x), none of them a dummy.
PEOPLE = [
    ("Youssef", "El Amrani", "0612457893", "Casablanca", "Maarif", "12 Rue Ibnou Mounir, Apt 4"),
    ("Fatima Zahra", "Benali", "0661234587", "Rabat", "Agdal", "45 Avenue Fal Ould Oumeir"),
    ("Mohamed", "Ouazzani", "0677889912", "Fès", "Saiss", "Lot Al Massira, N° 118"),
    ("Khadija", "Tazi", "0708123456", "Marrakech", "Guéliz", "23 Rue de la Liberté"),
    ("Hamza", "Alaoui", "0654321987", "Tanger", "Malabata", "Résidence Al Boughaz, Imm 3"),
    ("Salma", "Chraibi", "0671122334", "Agadir", "Talborjt", "8 Rue Hassan II, Bloc B"),
    ("Omar", "Berrada", "0698765412", "Meknès", "Hamria", "17 Avenue Mohammed V"),
    ("Imane", "Kettani", "0709988776", "Oujda", "Lazaret", "Hay Al Qods, Rue 5, N° 40"),
    ("Anas", "Bennis", "0612983476", "Kénitra", "Bir Rami", "Lotissement Saknia, N° 221"),
    ("Zineb", "Idrissi", "0664455667", "Tétouan", "Wilaya", "Avenue des FAR, Imm 12"),
    ("Mehdi", "Lahlou", "0675566778", "Salé", "Tabriquet", "Hay Karima, Rue 14, N° 7"),
    ("Nadia", "Sebti", "0707654321", "El Jadida", "Plateau", "33 Boulevard Mohammed VI"),
]

ARABIC_PEOPLE = [
    ("يوسف العمراني", "0612457893", "الدار البيضاء", "12 زنقة ابن منير، المعاريف"),
    ("فاطمة الزهراء بنعلي", "0661234587", "الرباط", "45 شارع فال ولد عمير، أكدال"),
    ("محمد الوزاني", "0677889912", "فاس", "تجزئة المسيرة، رقم 118"),
    ("خديجة التازي", "0708123456", "مراكش", "23 زنقة الحرية، جليز"),
    ("حمزة العلوي", "0654321987", "طنجة", "إقامة البوغاز، عمارة 3"),
    ("سلمى الشرايبي", "0671122334", "أكادير", "8 زنقة الحسن الثاني، تالبرجت"),
    ("عمر برادة", "0698765412", "مكناس", "17 شارع محمد الخامس"),
    ("إيمان الكتاني", "0709988776", "وجدة", "حي القدس، زنقة 5، رقم 40"),
]

# (sku, catalog name, unit price in MAD) — only SKUs of samples/skus.csv.
PRODUCTS = [
    ("SKU-001", "Argan Oil 100ml", 149),
    ("SKU-002", "Black Soap Beldi 250g", 59),
    ("SKU-003", "Rhassoul Clay 200g", 45),
    ("SKU-005", "Hair Serum Keratin", 129),
    ("SKU-006", "Face Cream Snail", 199),
    ("SKU-007", "Smart Watch X8", 299),
    ("SKU-008", "Wireless Earbuds Pro", 249),
    ("SKU-010", "LED Strip 5m", 99),
    ("SKU-013", "Djellaba Femme Brodee", 450),
    ("SKU-014", "Babouche Cuir", 180),
    ("SKU-016", "Perfume Oud 50ml", 320),
    ("SKU-019", "Posture Corrector", 139),
]

SHOPIFY_HEADER = (  # noqa: SIM905 (the header line verbatim, as Shopify writes it)
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,"
    "Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,"
    "Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")
# Columns Shopify still fills on the 2nd+ rows of an order (export-formats.md, section 1.3).
SHOPIFY_REPEATED = {
    "Name", "Email", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price",
    "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable",
    "Lineitem fulfillment status", "Vendor", "Lineitem discount", "Phone",
}  # fmt: skip


def write_csv(
    name: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    delimiter: str = ",",
    bom: bool = False,
    newline: str = "\n",
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    (HERE / name).write_text(buffer.getvalue(), encoding="utf-8-sig" if bom else "utf-8")


def e164(phone: str) -> str:
    return "+212" + phone[1:]


def spaced(phone: str) -> str:
    return " ".join([phone[:2], phone[2:4], phone[4:6], phone[6:8], phone[8:]])


def wedocod_native() -> None:
    """The WedoCOD template: an order spans several rows that share order_id."""
    header = ["order_id", "full_name", "phone", "city", "area", "address", "sku", "quantity",
              "total", "note", "source"]  # fmt: skip
    items = [  # (person, [(product index, quantity)], note, source)
        (0, [(0, 2), (1, 1)], "Livrer après 18h", "facebook"),
        (1, [(4, 1)], "", "instagram"),
        (2, [(6, 1), (7, 2), (2, 3)], "Appeler avant", "facebook"),
        (3, [(8, 1)], "Taille L", "tiktok"),
        (4, [(5, 1)], "", "facebook"),
        (5, [(3, 2), (0, 1)], "Cadeau", "whatsapp"),
        (6, [(10, 1)], "", "instagram"),
        (7, [(9, 2)], "Pointure 40", "facebook"),
        (8, [(11, 1), (1, 2)], "", "google"),
        (9, [(4, 1), (3, 1), (0, 1)], "Bureau le matin", "tiktok"),
    ]
    rows: list[list[object]] = []
    for number, (who, lines, note, source) in enumerate(items, start=1001):
        first, last, phone, city, area, address = PEOPLE[who]
        for index, quantity in lines:
            sku, _, price = PRODUCTS[index]
            rows.append([f"WC-{number}", f"{first} {last}", phone, city, area, address, sku,
                         quantity, price * quantity, note, source])  # fmt: skip
    write_csv("wedocod_native.csv", header, rows)


def shopify_orders() -> None:
    """Shopify's 79-column export of a Moroccan COD store, blank continuation rows included."""
    orders = [  # (person, [(product index, quantity, sku filled?)], note)
        (0, [(0, 1, True), (1, 2, True)], ""),
        (1, [(6, 1, False)], "Livraison le soir svp"),
        (2, [(4, 1, True), (3, 1, False), (2, 2, True)], ""),
        (3, [(8, 1, True)], ""),
        (4, [(7, 3, False), (11, 1, True)], "Appeler avant\nde passer"),
        (5, [(10, 1, True)], ""),
        (6, [(5, 2, True)], ""),
        (7, [(9, 1, False), (0, 1, True)], ""),
    ]
    rows: list[list[str]] = []
    for number, (who, lines, note) in enumerate(orders, start=1041):
        first, last, phone, city, _area, address = PEOPLE[who]
        name = f"{first} {last}"
        subtotal = sum(PRODUCTS[i][2] * q for i, q, _ in lines)
        created = f"2025-05-{number - 1030:02d} 1{number % 10}:2{number % 7}:05 +0100"
        for position, (index, quantity, sku_filled) in enumerate(lines):
            sku, product, price = PRODUCTS[index]
            cells = {
                "Name": f"#{number}",
                "Email": f"{first.split()[0].lower()}.{last.split()[-1].lower()}@example.com",
                "Financial Status": "pending",
                "Fulfillment Status": "unfulfilled",
                "Accepts Marketing": "no",
                "Currency": "MAD",
                "Subtotal": f"{subtotal:.2f}",
                "Shipping": "0.00",
                "Taxes": "0.00",
                "Total": f"{subtotal:.2f}",
                "Discount Amount": "0.00",
                "Shipping Method": "Livraison gratuite",
                "Created at": created,
                "Lineitem quantity": str(quantity),
                "Lineitem name": product,
                "Lineitem price": f"{price:.2f}",
                "Lineitem sku": sku if sku_filled else "",
                "Lineitem requires shipping": "true",
                "Lineitem taxable": "true",
                "Lineitem fulfillment status": "pending",
                "Billing Name": name,
                "Billing Street": address,
                "Billing Address1": address,
                "Billing City": city,
                "Billing Zip": "-",
                "Billing Country": "MA",
                "Billing Phone": e164(phone),
                "Shipping Name": name,
                "Shipping Street": address,
                "Shipping Address1": address,
                "Shipping City": city,
                "Shipping Zip": "-",
                "Shipping Country": "MA",
                "Shipping Phone": spaced(phone) if number % 2 else phone,
                "Notes": note,
                "Note Attributes": (
                    f"First name: {first}\nPhone number: {phone}\nCity: {city}\n"
                    "UTM source: facebook"
                ),
                "Payment Method": "Cash on Delivery (COD)",
                "Outstanding Balance": f"{subtotal:.2f}",
                "Vendor": "Souk Beauty",
                "Id": str(6_120_000_000_000 + number),
                "Tags": "releasit_cod_form",
                "Risk Level": "Low",
                "Source": "web",
                "Lineitem discount": "0.00",
                "Phone": e164(phone),
            }
            if position:
                cells = {k: v for k, v in cells.items() if k in SHOPIFY_REPEATED}
            rows.append([cells.get(column, "") for column in SHOPIFY_HEADER])
    write_csv("shopify_orders.csv", SHOPIFY_HEADER, rows)


def woocommerce_orders() -> None:
    """An "Advanced Order Export" XLSX: title row on top, phones typed in as numbers."""
    header = [
        "Order Number", "Order Status", "Order Date", "Customer Note", "First Name (Billing)",
        "Last Name (Billing)", "Address 1&2 (Billing)", "City (Billing)", "Email (Billing)",
        "Phone (Billing)", "First Name (Shipping)", "Last Name (Shipping)",
        "Address 1&2 (Shipping)", "City (Shipping)", "Country Code (Shipping)",
        "Payment Method Title", "Order Total Amount", "SKU", "Item #", "Item Name",
        "Quantity (- Refund)", "Item Cost",
    ]  # fmt: skip
    orders = [  # (person, [(product index, quantity)], ship to the billing person?)
        (8, [(0, 1), (2, 1)], True),
        (9, [(7, 2)], False),
        (10, [(4, 1), (1, 3), (3, 1)], True),
        (11, [(6, 1)], True),
        (0, [(11, 2)], False),
        (3, [(9, 1), (8, 1)], True),
    ]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.append(["Orders export — Souk Beauty — 2025-06-01 to 2025-06-07"])
    sheet["A1"].font = Font(bold=True)
    sheet.append(header)
    for number, (who, lines, shipping) in enumerate(orders, start=2301):
        first, last, phone, city, _area, address = PEOPLE[who]
        total = sum(PRODUCTS[i][2] * q for i, q in lines)
        for item, (index, quantity) in enumerate(lines, start=1):
            sku, product, price = PRODUCTS[index]
            sheet.append([
                number, "processing", f"2025-06-0{number % 7 + 1} 10:{number % 60:02d}", "",
                first, last, address, city, f"client{number}@example.com",
                int(phone),  # a number: Excel drops the leading zero
                first if shipping else "", last if shipping else "",
                address if shipping else "", city if shipping else "", "MA",
                "Paiement à la livraison", total, sku, item, product, quantity, price,
            ])  # fmt: skip
    book.save(HERE / "woocommerce_orders.xlsx")


def commandes_fr() -> None:
    """A French Excel CSV: BOM, semicolons, decimal commas, phones written every which way."""
    header = ["Nom complet", "Téléphone", "Ville", "Quartier", "Adresse", "Produit", "Quantité",
              "Prix total"]  # fmt: skip
    shapes = [spaced, lambda p: "'" + p, lambda p: f'="{p}"', lambda p: p]
    lines = [(0, 3, 1), (1, 5, 2), (2, 0, 1), (3, 8, 3), (4, 10, 1), (5, 1, 4), (6, 11, 1),
             (7, 9, 2), (8, 6, 1), (9, 4, 1)]  # fmt: skip
    rows = []
    for n, (who, index, quantity) in enumerate(lines):
        first, last, phone, city, area, address = PEOPLE[who]
        _, product, price = PRODUCTS[index]
        amount = f"{price * quantity:,.2f}".replace(",", " ").replace(".", ",")
        rows.append([f"{first} {last}", shapes[n % 4](phone), city, area, address, product,
                     quantity, f"{amount} DH"])  # fmt: skip
    write_csv("commandes_fr.csv", header, rows, delimiter=";", bom=True, newline="\r\n")


def orders_ar() -> None:
    """Arabic headers and values, the phone protected as an Excel formula string."""
    header = ["الاسم الكامل", "رقم الهاتف", "المدينة", "العنوان", "المنتج", "الكمية", "الإجمالي"]
    lines = [(0, 0, 1), (1, 4, 1), (2, 1, 2), (3, 8, 1), (4, 6, 1), (5, 3, 2), (6, 10, 1),
             (7, 2, 3)]  # fmt: skip
    rows = []
    for n, (who, index, quantity) in enumerate(lines):
        name, phone, city, address = ARABIC_PEOPLE[who]
        _, product, price = PRODUCTS[index]
        rows.append([name, f'="{phone}"' if n % 2 else phone, city, address, product, quantity,
                     price * quantity])  # fmt: skip
    write_csv("orders_ar.csv", header, rows)


def commandes_cod_form() -> None:
    """A COD landing page's Google Sheet: every product of an order in one cell
    ("Argan Oil 100ml x2, Black Soap Beldi 250g x1"), a sub-total, the delivery fee and the
    total to collect; one order typed by hand without an order number."""
    header = ["Date", "N° Commande", "Nom Client", "Téléphone", "Ville", "Adresse",
              "Type Livraison", "Produits", "Sous-total", "Frais Livraison", "Total", "Statut"]
    orders = [  # (person, [(product index, quantity)], delivery fee, order number)
        (0, [(0, 2), (1, 1)], 30, "CMD-1001"),
        (5, [(4, 1)], 30, "CMD-1002"),
        (6, [(5, 1), (7, 3)], 0, "CMD-1003"),
        (8, [(9, 1), (10, 2), (2, 1)], 35, "CMD-1004"),
        (10, [(11, 1)], 25, ""),
    ]
    rows = []
    for day, (who, items, fee, number) in enumerate(orders, start=1):
        first, last, phone, city, _, address = PEOPLE[who]
        cell = ", ".join(f"{PRODUCTS[index][1]} x{quantity}" for index, quantity in items)
        subtotal = sum(PRODUCTS[index][2] * quantity for index, quantity in items)
        rows.append([f"2025-03-{day:02d}", number, f"{first} {last}", phone, city, address,
                     "Domicile", cell, subtotal, fee, subtotal + fee, "Nouvelle"])  # fmt: skip
    write_csv("commandes_cod_form.csv", header, rows)


def orders_with_errors() -> None:
    """Every kind of bad row; samples/README.md says what each should become."""
    header = ["order_id", "full_name", "phone", "city", "area", "address", "sku", "quantity",
              "total", "note"]  # fmt: skip
    long_address = "Résidence Les Jardins de l'Atlas, Immeuble 14, Escalier B, 3e étage, " + (
        "appartement 12, à côté de la pharmacie centrale"
    )
    # fmt: off
    rows: list[list[object]] = [
        ["E-01", "Youssef El Amrani", "0612457893", "Casablanca", "Maarif", "12 Rue Ibnou Mounir", "SKU-001", 1, 149, "ok"],  # noqa: E501
        ["E-02", "Fatima Zahra Benali", "", "Rabat", "Agdal", "45 Avenue Fal Ould Oumeir", "SKU-006", 1, 199, ""],  # noqa: E501
        ["E-03", "Al", "0677889912", "Fès", "Saiss", "Lot Al Massira, N° 118", "SKU-003", 1, 45, ""],  # noqa: E501
        ["E-04", "Khadija Tazi", "0612345", "Marrakech", "Guéliz", "23 Rue de la Liberté", "SKU-013", 1, 450, ""],  # noqa: E501
        ["E-05", "Hamza Alaoui", "0654321987", "Tanger", "Malabata", "Résidence Al Boughaz", "SKU-999", 1, 99, ""],  # noqa: E501
        ["E-06", "Salma Chraibi", "0671122334", "Agadir", "Talborjt", "8 Rue Hassan II", "SKU-005", 0, 129, ""],  # noqa: E501
        ["E-07", "Omar Berrada", "0698765412", "Meknès", "Hamria", "17 Avenue Mohammed V", "SKU-002", 1000, 59000, ""],  # noqa: E501
        ["E-08", "Imane Kettani", "0709988776", "Oujda", "Lazaret", "Hay Al Qods, Rue 5", "SKU-010", 1, -50, ""],  # noqa: E501
        ["E-09", "Anas Bennis", "0612983476", "Kénitra", "Bir Rami", "Lotissement Saknia", "SKU-016", 1, 1000000, ""],  # noqa: E501
        ["E-10", "Zineb Idrissi", "0664455667", "Tétouan", "Wilaya", long_address, "SKU-004", 1, 89, ""],  # noqa: E501
        ["E-11", "Mehdi Lahlou", "0675566778", "Salé", "Tabriquet", "Hay Karima, Rue 14", "SKU-007", 1, 299, ""],  # noqa: E501
        ["E-11", "Mehdi Lahlou", "0675566999", "Rabat", "Tabriquet", "Hay Karima, Rue 14", "SKU-008", 1, 249, ""],  # noqa: E501
        ["E-12", "Nadia Sebti", "0707654321", "El Jadida", "Plateau", "33 Boulevard Mohammed VI", "SKU-014", 1, 180, ""],  # noqa: E501
        ["E-12", "", "", "", "", "", "SKU-999", 2, 360, ""],
        ["E-13", '=HYPERLINK("http://example.com/x","Cliquez ici")', "0612457811", "Casablanca", "Anfa", "5 Boulevard d'Anfa", "SKU-001", 1, 149, ""],  # noqa: E501
        ["E-14", "+Karim Naciri", "0661234500", "Rabat", "Hassan", "-7 Rue Patrice Lumumba", "SKU-002", 1, 59, "@livreur"],  # noqa: E501
        ["E-15", "Leila Fassi", "0677889900", "Fès", "Atlas", "\tLot Bennani, N° 3", "SKU-003", 1, 45, "\t=1+1"],  # noqa: E501
        ["E-16", "Rachid Amrani", "06 12 34 56 78 / 0698765400", "", "", "Douar Ouled Ali", "SKU-019", "deux", "139 DH", ""],  # noqa: E501
    ]
    # fmt: on
    write_csv("orders_with_errors.csv", header, rows)


def main() -> None:
    wedocod_native()
    shopify_orders()
    woocommerce_orders()
    commandes_fr()
    orders_ar()
    commandes_cod_form()
    orders_with_errors()


if __name__ == "__main__":
    main()
