"""Seeded, vectorised generator of order exports in WedoCOD's native template (CSV and XLSX)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

#: Bumped whenever the generated content changes, so that cached files are not reused wrongly.
GENERATOR_VERSION = 1
DATA_DIR = Path(__file__).resolve().parent / "data"
SKU_FILE = Path(__file__).resolve().parents[1] / "samples" / "skus.csv"
#: Used only when the repository's sample catalog is missing (an installed copy).
FALLBACK_SKUS = tuple(f"SKU-{n:03d}" for n in range(1, 21))

#: The native template's columns, then two custom columns sent as custom data.
COLUMNS = (
    "order_id",
    "full_name",
    "phone",
    "city",
    "area",
    "address",
    "sku",
    "quantity",
    "total",
    "note",
    "utm_source",
)

# Lines per order: mostly one, sometimes several; the mean (~1.43) gives ~700k orders per 1M rows.
LINES_PER_ORDER = np.array([1, 2, 3, 4, 5])
LINES_WEIGHTS = np.array([0.74, 0.15, 0.07, 0.03, 0.01])

FIRST_NAMES = (
    "Ahmed", "Mohamed", "Youssef", "Fatima", "Khadija", "Salma", "Omar", "Imane", "Hamza",
    "Zineb", "Mehdi", "Nadia", "Karim", "Sara", "Ayoub", "Hajar", "Rachid", "Meryem",
    "أحمد", "محمد", "يوسف", "فاطمة", "خديجة", "سلمى", "عمر", "إيمان", "حمزة", "زينب",
)  # fmt: skip
LAST_NAMES = (
    "El Fassi", "Benali", "Alaoui", "Bennani", "Tazi", "Idrissi", "Chraibi", "Berrada",
    "El Amrani", "Ouazzani", "Lahlou", "Sqalli", "Naciri", "Kettani", "Zeroual",
    "العلوي", "بناني", "التازي", "الإدريسي", "الشرايبي", "برادة", "العمراني", "الوزاني",
)  # fmt: skip
CITIES = (
    "Casablanca", "Rabat", "Fès", "Tanger", "Marrakech", "Salé", "Agadir", "Meknès", "Oujda",
    "Kénitra", "Tétouan", "Temara", "Safi", "Mohammedia", "El Jadida", "Beni Mellal", "Nador",
    "الدار البيضاء", "الرباط", "فاس", "طنجة", "مراكش", "أكادير", "وجدة",
)  # fmt: skip
AREAS = (
    "", "", "", "Maarif", "Hay Hassani", "Agdal", "Gueliz", "Sidi Maarouf", "Ain Sebaa",
    "Hay Riad", "Bourgogne", "حي الرياض", "المعاريف", "حي السلام",
)  # fmt: skip
STREETS = (
    "Rue Ibn Batouta", "Avenue Mohammed V", "Boulevard Zerktouni", "Rue de Fès", "Hay Nahda",
    "Lotissement Al Wafa", "Residence Al Amal Imm 4", "Quartier Industriel", "Derb Sultan",
    "شارع محمد الخامس", "زنقة ابن بطوطة", "حي النهضة", "تجزئة الوفاء",
)  # fmt: skip
NOTES = (
    "", "", "", "", "", "Livraison l'après-midi", "Appeler avant", "Cadeau", "Call before 6pm",
    "اتصل قبل التوصيل", "التوصيل في المساء",
)  # fmt: skip
SOURCES = ("", "facebook", "instagram", "tiktok", "google", "whatsapp")
# Second digit of valid Moroccan mobile numbers after 6 and after 7 (libphonenumber's pattern).
MOBILE_6 = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9])
MOBILE_7 = np.array([0, 1, 6, 7, 8])
#: Moroccan mobile prefixes of a possible length in no range libphonenumber lists yet: such a
#: phone is sent with an `unlisted_phone` warning.
UNLISTED_PREFIXES = ("0740", "0745", "0683", "0790")
#: Said after a street when an address is to run over the API's 100 characters: it is sent
#: shortened, with a `text_shortened` warning.
LONG_ADDRESS_TAIL = (
    ", appartement 12, 3ème étage, à côté de la pharmacie Al Amal, en face de la mosquée, "
    "code porte 4521"
)


@dataclass(frozen=True)
class Export:
    """A generated file and what is in it."""

    path: Path
    rows: int
    orders: int
    invalid_rows: int
    seed: int
    #: orders given a value that is sent with a warning (0 unless asked for)
    warned_orders: int = 0


def read_skus(path: Path = SKU_FILE) -> tuple[str, ...]:
    """The sample catalog's SKUs (the sandbox accepts exactly these by default)."""
    if not path.exists():
        return FALLBACK_SKUS
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return tuple(row["sku"].strip() for row in csv.DictReader(handle) if row["sku"].strip())


def _pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> pa.Array:
    return pc.take(pa.array(pool, pa.string()), pa.array(rng.integers(0, len(pool), n)))


def _digits(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width, "0")


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    """Valid Moroccan mobiles written the five ways people write them."""
    seven = rng.random(n) < 0.3
    second = np.where(
        seven,
        MOBILE_7[rng.integers(0, len(MOBILE_7), n)],
        MOBILE_6[rng.integers(0, len(MOBILE_6), n)],
    )
    nsn = _join(
        pa.array(np.where(seven, "7", "6")),
        pc.cast(pa.array(second), pa.string()),
        _digits(rng.integers(0, 10**7, n), 7),
    )
    pair = [pc.utf8_slice_codeunits(nsn, start, start + 2) for start in (1, 3, 5, 7)]
    spaced = pc.binary_join_element_wise(_join("0", pc.utf8_slice_codeunits(nsn, 0, 1)), *pair, " ")
    shape = rng.choice(5, n, p=[0.4, 0.15, 0.2, 0.1, 0.15])
    return pc.choose(
        pa.array(shape, pa.int8()),
        _join("0", nsn),
        spaced,
        _join("+212", nsn),
        _join("00212", nsn),
        nsn,
    )


def _warned(
    rng: np.random.Generator, lead: dict[str, pa.Array], rate: float
) -> tuple[dict[str, pa.Array], int]:
    """Gives `rate` of the orders a value that is sent with a warning: half of them a phone in
    an unlisted range, half an address over 100 characters."""
    n = len(lead["phone"])
    warned = np.flatnonzero(rng.random(n) < rate)
    if not len(warned):
        return lead, 0
    out = dict(lead)
    phone = warned[: len(warned) // 2]
    address = warned[len(warned) // 2 :]
    numbers = _join(
        _pick(rng, UNLISTED_PREFIXES, len(phone)), _digits(rng.integers(0, 10**6, len(phone)), 6)
    )
    mask = np.zeros(n, dtype=bool)
    mask[phone] = True
    out["phone"] = pc.replace_with_mask(out["phone"], pa.array(mask), numbers)
    mask = np.zeros(n, dtype=bool)
    mask[address] = True
    longer = _join(pc.take(out["address"], pa.array(address)), LONG_ADDRESS_TAIL)
    out["address"] = pc.replace_with_mask(out["address"], pa.array(mask), longer)
    return out, len(warned)


def _corrupt(
    rng: np.random.Generator, columns: dict[str, pa.Array], rate: float
) -> tuple[dict[str, pa.Array], int]:
    """Breaks one cell in `rate` of the rows, of a kind chosen per row (one per API rule)."""
    n = len(columns["order_id"])
    bad = np.flatnonzero(rng.random(n) < rate)
    kinds: list[tuple[str, tuple[str, ...]]] = [
        ("full_name", ("", "Al", "x" * 120)),
        ("phone", ("", "12345", "06 12", "abc-def-ghij", "0612345678901234")),
        ("city", ("", "Ca")),
        ("address", ("", "12", "n/a")),
        ("sku", ("",)),
        ("quantity", ("0", "-1", "1000", "deux", "")),
        ("total", ("0", "abc", "1000000", "")),
    ]
    choice = rng.integers(0, len(kinds), len(bad))
    out = dict(columns)
    for index, (column, values) in enumerate(kinds):
        rows = bad[choice == index]
        if not len(rows):
            continue
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        replacement = _pick(rng, values, len(rows))
        out[column] = pc.replace_with_mask(out[column], pa.array(mask), replacement)
    return out, len(bad)


def generate_table(
    rows: int | None = None,
    *,
    orders: int | None = None,
    seed: int = 7,
    invalid_rate: float = 0.01,
    warn_rate: float = 0.0,
) -> tuple[pa.Table, int, int, int]:
    """The export as an Arrow table of text, its order count, how many rows were broken
    (`invalid_rate` of the rows) and how many orders carry a value sent with a warning
    (`warn_rate` of the orders).

    Give `rows` for an exact row count (the last order may be cut short) or `orders` for an
    exact order count. With `warn_rate` 0 the file is the same as before it existed.
    """
    if (rows is None) == (orders is None):
        raise ValueError("give exactly one of rows or orders")
    rng = np.random.default_rng(seed)
    wanted = orders if orders is not None else int((rows or 0) / 1.3) + 16
    lines = rng.choice(LINES_PER_ORDER, wanted, p=LINES_WEIGHTS)
    if rows is not None:
        ends = np.cumsum(lines)
        count = int(np.searchsorted(ends, rows)) + 1
        lines = lines[:count].copy()
        lines[-1] -= int(ends[count - 1]) - rows
    n_orders = len(lines)
    order_of_row = pa.array(np.repeat(np.arange(n_orders), lines))
    n = len(order_of_row)

    # Lead fields are drawn per order and repeated on each of its rows (as WooCommerce does).
    lead = {
        "order_id": _join("WC-", _digits(100000 + np.arange(n_orders), 7)),
        "full_name": pc.binary_join_element_wise(
            _pick(rng, FIRST_NAMES, n_orders), _pick(rng, LAST_NAMES, n_orders), " "
        ),
        "phone": _phones(rng, n_orders),
        "city": _pick(rng, CITIES, n_orders),
        "area": _pick(rng, AREAS, n_orders),
        "address": pc.binary_join_element_wise(
            pc.cast(pa.array(rng.integers(1, 400, n_orders)), pa.string()),
            _pick(rng, STREETS, n_orders),
            " ",
        ),
        "note": _pick(rng, NOTES, n_orders),
        "utm_source": _pick(rng, SOURCES, n_orders),
    }
    lead, warned = _warned(rng, lead, warn_rate) if warn_rate else (lead, 0)
    columns = {name: pc.take(values, order_of_row) for name, values in lead.items()}

    skus = read_skus()
    sku_index = rng.integers(0, len(skus), n)
    unit_price = np.arange(len(skus)) * 15 + 49  # one fixed price per SKU, in dirhams
    quantity = rng.choice(np.array([1, 1, 1, 1, 2, 2, 3, 5]), n)
    total = quantity * unit_price[sku_index]
    decimals = rng.random(n) < 0.3  # some exports write "299.00"
    columns["sku"] = pc.take(pa.array(skus, pa.string()), pa.array(sku_index))
    columns["quantity"] = pc.cast(pa.array(quantity), pa.string())
    columns["total"] = pc.if_else(
        pa.array(decimals),
        _join(pc.cast(pa.array(total), pa.string()), ".00"),
        pc.cast(pa.array(total), pa.string()),
    )
    columns, broken = _corrupt(rng, columns, invalid_rate)
    return pa.table({name: columns[name] for name in COLUMNS}), n_orders, broken, warned


def export_path(
    kind: str,
    size: int,
    seed: int,
    invalid_rate: float,
    suffix: str,
    directory: Path = DATA_DIR,
    warn_rate: float = 0.0,
) -> Path:
    rate = f"{invalid_rate:g}".replace(".", "p")
    warn = f"-warn{warn_rate:g}".replace(".", "p") if warn_rate else ""
    return directory / f"{kind}-v{GENERATOR_VERSION}-{size}-s{seed}-bad{rate}{warn}.{suffix}"


def write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    pa_csv.write_csv(table, partial)
    os.replace(partial, path)  # a killed run never leaves a half file that looks reusable


def write_xlsx(table: pa.Table, path: Path) -> None:
    """An Excel export as people have them: quantities and totals are numbers, phones text."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part.xlsx")
    book = xlsxwriter.Workbook(str(partial), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, table.column_names)
    names = table.column_names
    data = [table.column(name).to_pylist() for name in names]
    numeric = {names.index("quantity"), names.index("total")}
    for r in range(table.num_rows):
        for c, values in enumerate(data):
            value = values[r]
            if c in numeric:
                try:
                    sheet.write_number(r + 1, c, float(value))
                    continue
                except ValueError:
                    pass  # broken on purpose: keep the text
            if value:
                sheet.write_string(r + 1, c, value)
    book.close()
    os.replace(partial, path)


def ensure_export(
    rows: int | None = None,
    *,
    orders: int | None = None,
    seed: int = 7,
    invalid_rate: float = 0.01,
    warn_rate: float = 0.0,
    xlsx: bool = False,
    directory: Path = DATA_DIR,
) -> Export:
    """The generated export for these settings: reused from `directory` when present."""
    kind, size = ("orders", orders) if orders is not None else ("rows", rows)
    if size is None:
        raise ValueError("give rows or orders")
    suffix = "xlsx" if xlsx else "csv"
    path = export_path(kind, size, seed, invalid_rate, suffix, directory, warn_rate)
    meta = path.with_name(path.name + ".meta")
    if path.exists() and meta.exists():
        counts = [int(v) for v in meta.read_text().split()]
        n_rows, n_orders, broken = counts[:3]
        return Export(path, n_rows, n_orders, broken, seed, counts[3] if len(counts) > 3 else 0)
    table, n_orders, broken, warned = generate_table(
        rows, orders=orders, seed=seed, invalid_rate=invalid_rate, warn_rate=warn_rate
    )
    if xlsx:
        write_xlsx(table, path)
    else:
        write_csv(table, path)
    meta.write_text(f"{table.num_rows} {n_orders} {broken} {warned}\n")
    return Export(path, table.num_rows, n_orders, broken, seed, warned)
