"""The account's products: the catalog of SKUs, the products found in exports, the sheet to fill.

Most cash-on-delivery stores export orders without SKUs, and WedoCOD needs one per product.
`wedocod products FILE...` lists the products of some exports (``list_products``) and writes a
sheet with a ``sku`` column to fill in (``write_products_sheet``); `wedocod products --save
SHEET` makes the filled sheet the account's catalog (``save_filled_sheet``), kept once in the
user's config folder per account (``account_catalog_path``) or in the file that `wedocod.toml`
names, so that `check` and `import` find every product's SKU by its name from then on.

Only the standard library (and platformdirs) at module level: the command line asks where the
account's catalog is before it imports pandas.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import platformdirs

from importer.errors import CatalogError as CatalogError

if TYPE_CHECKING:
    from importer.mapping import Mapping
    from importer.read import Table

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "ProductLine",
    "ProductListing",
    "SaveResult",
    "account_catalog_path",
    "account_id",
    "fold_name",
    "list_products",
    "load_catalog",
    "name_key",
    "read_filled_sheet",
    "save_filled_sheet",
    "write_products_sheet",
]

#: The API's limit on a SKU's length.
MAX_SKU_LENGTH = 100
#: Columns of the products sheet, in order; ``name`` and ``sku`` are what a catalog needs.
SHEET_COLUMNS = ("name", "variant", "sku", "status", "rows", "quantity", "suggested_sku",
                 "suggested_name", "files")  # fmt: skip
#: Where the accounts' catalogs live, under the user's config folder.
CATALOGS_FOLDER = "catalogs"
#: Near spellings are looked for in catalogs of at most this many names (difflib is slow).
MAX_FUZZY_NAMES = 5_000
#: How close a name must be (difflib ratio of the folded names) to be suggested.
FUZZY_CUTOFF = 0.86

_NON_WORD = re.compile(r"[\W_]+")
# Arabic letters written several ways by hand; tatweel is decoration (as for headers).
_ARABIC_VARIANTS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ـ": None}
)
_VARIANT_SEPARATOR = " - "


def name_key(name: str) -> str:
    """A product name compared the way people read it: case and spacing do not count."""
    return " ".join(name.split()).casefold()


def fold_name(name: str) -> str:
    """A name with nothing but its letters and digits: no case, accents, punctuation,
    Arabic letter variants or tatweel (``"Sérum  Éclat-50ml"`` -> ``"serum eclat 50ml"``)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", bare.translate(_ARABIC_VARIANTS)).strip()


# ------------------------------------------------------------------------------ the catalog


@dataclass(frozen=True)
class CatalogEntry:
    """One line of a catalog: a SKU, and a product name that stands for it ("" for none)."""

    sku: str
    name: str = ""


@dataclass(frozen=True)
class Catalog:
    """The SKUs the account may order, and product names that stand for them.

    ``entries`` are the catalog's lines as written (for suggestions and for saving it again);
    ``path`` is the file it was read from, when it was.
    """

    skus: frozenset[str]
    names: dict[str, str] = field(default_factory=dict)  # name_key(name) -> sku
    entries: tuple[CatalogEntry, ...] = ()
    path: Path | None = None

    def sku_for_name(self, name: str) -> str | None:
        """The SKU of a product name (case- and space-insensitive), or None when unknown."""
        return self.names.get(name_key(name))

    @classmethod
    def of(cls, entries: Iterable[CatalogEntry], path: Path | None = None) -> Catalog:
        kept = tuple(e for e in entries if e.sku)
        names: dict[str, str] = {}
        for entry in kept:
            if entry.name.strip():
                # The first line wins when a name is listed twice: files are read top-down.
                names.setdefault(name_key(entry.name), entry.sku)
        return cls(frozenset(e.sku for e in kept), names, kept, path)


def load_catalog(path: Path) -> Catalog:
    """Read a catalog: a CSV (any of , ; tab) or a workbook with a ``sku`` column and
    optionally a ``name`` column. The products sheet `wedocod products --write` makes is one."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(
            f"{path}: cannot read the catalog (no such file); `wedocod products --save SHEET` "
            "creates it from a filled products sheet"
        )
    rows = _sheet_rows(path, "catalog")
    if not rows:
        raise CatalogError(f"{path}: the catalog is empty (expected a 'sku' column)")
    header = [cell.strip().casefold() for cell in rows[0]]
    if "sku" not in header:
        found = ", ".join(repr(cell) for cell in rows[0]) or "none"
        raise CatalogError(f"{path}: the catalog has no 'sku' column (columns found: {found})")
    sku_at = header.index("sku")
    name_at = header.index("name") if "name" in header else None
    entries = []
    for row in rows[1:]:
        sku = row[sku_at].strip() if len(row) > sku_at else ""
        if not sku:
            continue
        name = row[name_at].strip() if name_at is not None and len(row) > name_at else ""
        entries.append(CatalogEntry(sku, name))
    if not entries:
        raise CatalogError(f"{path}: the catalog lists no SKU")
    return Catalog.of(entries, path)


_WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}


def _sheet_rows(path: Path, what: str) -> list[list[str]]:
    """A small CSV or the first sheet of a workbook, as rows of text."""
    if path.suffix.lower() in _WORKBOOK_SUFFIXES:
        import python_calamine

        try:
            book = python_calamine.CalamineWorkbook.from_path(str(path))
            try:
                raw = book.get_sheet_by_index(0).to_python()
            finally:
                book.close()
        except (python_calamine.CalamineError, OSError, ValueError, IndexError) as err:
            raise CatalogError(f"{path}: cannot read the {what} ({err})") from err
        return [[_cell_text(v) for v in row] for row in raw]
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(64 * 1024)
            handle.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel  # one column: nothing to sniff
            return list(csv.reader(handle, dialect))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise CatalogError(f"{path}: cannot read the {what} ({reason})") from err


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a SKU typed as a number: 1001, not 1001.0
    return str(value)


# ------------------------------------------------------------------------------ where it is kept


def account_id(base_url: str, token: str) -> str:
    """Which account a token is for, without the token: the ledger's and the catalog's scope.

    The same text as ``LeadsClient.account_id`` (a test holds them equal), computed here
    without importing the network stack.
    """
    return f"{base_url.rstrip('/')}#{hashlib.sha256(token.encode('utf-8')).hexdigest()[:12]}"


def account_catalog_path(account: str, config_dir: Path | None = None) -> Path:
    """Where an account's catalog is kept: ``<config>/catalogs/<host>-<fingerprint>.csv``."""
    base, _, fingerprint = account.rpartition("#")
    parts = urlsplit(base)
    place = (parts.netloc + parts.path.rstrip("/")) or base
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", place).strip("_") or "account"
    folder = config_dir or Path(platformdirs.user_config_dir("wedocod"))
    return folder / CATALOGS_FOLDER / f"{slug}-{fingerprint or 'default'}.csv"


def write_catalog(path: Path, entries: Sequence[CatalogEntry]) -> None:
    """Write a catalog CSV (``sku,name``) in one step: a reader never sees half a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sku", "name"])
    writer.writerows([e.sku, e.name] for e in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------ filled sheets


@dataclass(frozen=True)
class SaveResult:
    """What saving a filled sheet did to the catalog."""

    path: Path
    added: int
    changed: int
    unchanged: int
    skipped: int  # lines of the sheet with no SKU filled in
    total: int  # entries in the catalog now

    def describe(self) -> str:
        return (
            f"{self.path}: {self.added} added, {self.changed} changed, {self.unchanged} already "
            f"there; {self.total} in the catalog"
            + (f" ({self.skipped} line(s) of the sheet have no SKU yet)" if self.skipped else "")
        )


def read_filled_sheet(path: Path) -> tuple[list[CatalogEntry], int]:
    """The (sku, name) lines of a products sheet with their SKU filled in, and how many lines
    are still without one. Two SKUs for one name, or a SKU the API would refuse, are errors
    naming the sheet's rows."""
    path = Path(path)
    rows = _sheet_rows(path, "products sheet")
    if not rows:
        raise CatalogError(f"{path}: the sheet is empty (expected 'name' and 'sku' columns)")
    header = [cell.strip().casefold() for cell in rows[0]]
    missing = [c for c in ("name", "sku") if c not in header]
    if missing:
        found = ", ".join(repr(cell) for cell in rows[0]) or "none"
        raise CatalogError(
            f"{path}: the sheet has no {' or '.join(repr(m) for m in missing)} column "
            f"(columns found: {found}); write one with `wedocod products FILE --write {path.name}`"
        )
    sku_at, name_at = header.index("sku"), header.index("name")
    entries: list[CatalogEntry] = []
    first_row: dict[str, tuple[int, str]] = {}
    problems: list[str] = []
    skipped = 0
    for number, row in enumerate(rows[1:], start=2):
        sku = row[sku_at].strip() if len(row) > sku_at else ""
        name = " ".join(row[name_at].split()) if len(row) > name_at else ""
        if not sku:
            skipped += bool(name)
            continue
        if len(sku) > MAX_SKU_LENGTH:
            problems.append(f"row {number}: the SKU is {len(sku)} characters long (at most 100)")
            continue
        if name:
            key = name_key(name)
            seen = first_row.get(key)
            if seen is not None and seen[1] != sku:
                problems.append(
                    f"row {number}: '{name}' has SKU '{sku}' here and '{seen[1]}' on row {seen[0]}"
                )
                continue
            if seen is not None:
                continue
            first_row[key] = (number, sku)
        entries.append(CatalogEntry(sku, name))
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; … ({len(problems)} in all)" if len(problems) > 10 else ""
        )
        raise CatalogError(f"{path}: {shown}")
    if not entries:
        raise CatalogError(
            f"{path}: no line has a SKU filled in yet: write each product's SKU in the 'sku' "
            "column, save, and run this again"
        )
    return entries, skipped


def save_filled_sheet(sheet: Path, target: Path) -> SaveResult:
    """Merge a filled products sheet into the catalog at ``target`` (created if absent).

    A name already in the catalog takes the sheet's SKU (the user just chose it); SKUs and
    names the sheet does not mention are kept.
    """
    new, skipped = read_filled_sheet(sheet)
    old: list[CatalogEntry] = list(load_catalog(target).entries) if target.exists() else []
    at_name = {name_key(e.name): i for i, e in reversed(list(enumerate(old))) if e.name}
    bare_skus = {e.sku for e in old if not e.name}
    merged = list(old)
    added = changed = unchanged = 0
    for entry in new:
        if entry.name:
            at = at_name.get(name_key(entry.name))
            if at is None:
                at_name[name_key(entry.name)] = len(merged)
                merged.append(entry)
                added += 1
            elif merged[at].sku != entry.sku:
                merged[at] = CatalogEntry(entry.sku, merged[at].name)
                changed += 1
            else:
                unchanged += 1
        elif entry.sku in bare_skus or any(e.sku == entry.sku for e in merged):
            unchanged += 1
        else:
            bare_skus.add(entry.sku)
            merged.append(entry)
            added += 1
    write_catalog(target, merged)
    return SaveResult(target, added, changed, unchanged, skipped, len(merged))


# ------------------------------------------------------------------------------ listing products


@dataclass(frozen=True)
class ProductLine:
    """One distinct product of the exports, and what is known of its SKU.

    ``sku`` is the SKU to use: the export's own, else the catalog's for this very name;
    ``status`` says where it came from (``in file``, ``in catalog``) or ``suggested`` /
    ``to fill``; a suggestion is a catalog product with a close name.
    """

    name: str
    variant: str
    sku: str
    status: str
    rows: int
    quantity: int
    suggested_sku: str = ""
    suggested_name: str = ""
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "variant": self.variant,
            "sku": self.sku,
            "status": self.status,
            "rows": self.rows,
            "quantity": self.quantity,
            "suggested_sku": self.suggested_sku,
            "suggested_name": self.suggested_name,
            "files": list(self.files),
        }


@dataclass(frozen=True)
class ProductListing:
    products: tuple[ProductLine, ...]
    files: tuple[str, ...]
    rows: int  # source rows read, in all files
    catalog: Catalog | None

    def count(self, status: str) -> int:
        return sum(1 for p in self.products if p.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "rows": self.rows,
            "catalog": str(self.catalog.path) if self.catalog and self.catalog.path else None,
            "products": [p.to_dict() for p in self.products],
            "counts": {s: self.count(s) for s in STATUSES},
        }


IN_FILE, IN_CATALOG, SUGGESTED, TO_FILL = "in file", "in catalog", "suggested", "to fill"
STATUSES = (TO_FILL, SUGGESTED, IN_CATALOG, IN_FILE)


@dataclass
class _Seen:
    name: str
    sku: str
    rows: int = 0
    quantity: int = 0
    files: dict[str, None] = field(default_factory=dict)


def product_rows(table: Table, mapping: Mapping) -> list[tuple[str, str, int]]:
    """(product name, SKU, quantity) of every order line of a table, packed cells unpacked.

    Quantities that cannot be read count as 1: this only lists products.
    """
    from importer.mapping import apply_mapping
    from importer.normalize import clean_text_column, parse_quantity_column

    mapped = apply_mapping(table, mapping)
    frame = mapped.frame
    names = clean_text_column(frame["product_name"]).tolist()
    skus = clean_text_column(frame["sku"]).tolist()
    quantities, _ = parse_quantity_column(frame["quantity"])
    counted = quantities.fillna(1).astype("int64").clip(lower=1).tolist()
    return [
        (name, sku, quantity)
        for name, sku, quantity in zip(names, skus, counted, strict=True)
        if name or sku
    ]


def list_products(
    tables: Sequence[tuple[Table, Mapping]], catalog: Catalog | None
) -> ProductListing:
    """The distinct products of some exports, with the catalog's SKU or a close name's."""
    seen: dict[tuple[str, str], _Seen] = {}
    rows = 0
    files: list[str] = []
    for table, mapping in tables:
        rows += len(table.frame)
        label = str(table.path)
        files.append(label)
        for name, sku, quantity in product_rows(table, mapping):
            key = (name_key(name), sku if not name else "")
            item = seen.get(key)
            if item is None:
                item = seen[key] = _Seen(name, sku)
            elif sku and not item.sku:
                item.sku = sku
            elif sku and sku != item.sku:
                # one name with two SKUs in the exports: each is its own line
                key = (name_key(name), sku)
                item = seen.setdefault(key, _Seen(name, sku))
            item.rows += 1
            item.quantity += quantity
            item.files[label] = None
    suggest = _Suggestions(catalog)
    lines = []
    for item in seen.values():
        sku, status, suggestion = item.sku, IN_FILE, CatalogEntry("")
        if not sku:
            sku = (catalog.sku_for_name(item.name) if catalog else None) or ""
            status = IN_CATALOG if sku else TO_FILL
        if status == TO_FILL:
            suggestion = suggest.for_name(item.name)
            if suggestion.sku:
                status = SUGGESTED
        lines.append(
            ProductLine(
                name=item.name,
                variant=_variant(item.name),
                sku=sku,
                status=status,
                rows=item.rows,
                quantity=item.quantity,
                suggested_sku=suggestion.sku,
                suggested_name=suggestion.name,
                files=tuple(item.files),
            )
        )
    rank = {s: n for n, s in enumerate(STATUSES)}
    lines.sort(key=lambda p: (rank[p.status], -p.rows, name_key(p.name)))
    return ProductListing(tuple(lines), tuple(files), rows, catalog)


def _variant(name: str) -> str:
    """Shopify writes a variant after the product's name: ``Serum - 50ml`` -> ``50ml``."""
    if _VARIANT_SEPARATOR not in name:
        return ""
    return name.rsplit(_VARIANT_SEPARATOR, 1)[1].strip()


class _Suggestions:
    """Catalog products whose names are close to a product's: the same letters once accents,
    case, spacing, punctuation and Arabic variants are set aside; the product without its
    variant (``Name - Variant``); else a near spelling."""

    def __init__(self, catalog: Catalog | None) -> None:
        self.by_fold: dict[str, CatalogEntry] = {}
        for entry in catalog.entries if catalog else ():
            if entry.name:
                self.by_fold.setdefault(fold_name(entry.name), entry)
        self.folded = list(self.by_fold)

    def for_name(self, name: str) -> CatalogEntry:
        if not self.by_fold or not name:
            return CatalogEntry("")
        folded = fold_name(name)
        found = self.by_fold.get(folded)
        if found is not None:
            return found
        base = name
        while _VARIANT_SEPARATOR in base:
            base = base.rsplit(_VARIANT_SEPARATOR, 1)[0]
            found = self.by_fold.get(fold_name(base))
            if found is not None:
                return found
        if len(self.folded) <= MAX_FUZZY_NAMES:
            close = difflib.get_close_matches(folded, self.folded, n=1, cutoff=FUZZY_CUTOFF)
            if close:
                return self.by_fold[close[0]]
        return CatalogEntry("")


# ------------------------------------------------------------------------------ the sheet to fill


def write_products_sheet(path: Path, listing: ProductListing) -> Path:
    """The products as a sheet to fill in: ``.xlsx`` (the SKU cells to fill stand out) or
    ``.csv``. Loaded as a catalog, or saved with `wedocod products --save`, it gives each
    name its SKU."""
    path = Path(path)
    records = [
        [
            p.name,
            p.variant,
            p.sku,
            p.status,
            p.rows,
            p.quantity,
            p.suggested_sku,
            p.suggested_name,
            " ".join(Path(f).name for f in p.files),
        ]
        for p in listing.products
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        _write_xlsx(path, records)
    elif path.suffix.lower() in {".csv", ".txt"}:
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(SHEET_COLUMNS)
            writer.writerows([_csv_safe(v) for v in record] for record in records)
    else:
        raise CatalogError(f"{path}: write the products sheet as .xlsx or .csv")
    return path


def _csv_safe(value: Any) -> Any:
    """No cell a spreadsheet would run as a formula (a product name starting with ``=``)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _write_xlsx(path: Path, records: list[list[Any]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    try:
        sheet = book.add_worksheet("Products")
        bold = book.add_format({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"})
        to_fill = book.add_format({"bg_color": "#FFF2CC", "border": 1, "num_format": "@"})
        text = book.add_format({"num_format": "@"})
        widths = [40, 16, 18, 11, 7, 9, 16, 32, 24]
        for col, (name, width) in enumerate(zip(SHEET_COLUMNS, widths, strict=True)):
            sheet.write_string(0, col, name, bold)
            sheet.set_column(col, col, width, text if name == "sku" else None)
        sku_at = SHEET_COLUMNS.index("sku")
        for line, record in enumerate(records, start=1):
            for col, value in enumerate(record):
                if isinstance(value, int):
                    sheet.write_number(line, col, value)
                elif col == sku_at:
                    sheet.write_string(line, col, value, None if value else to_fill)
                elif value:
                    sheet.write_string(line, col, value)
        sheet.freeze_panes(1, 1)
        sheet.autofilter(0, 0, max(len(records), 1), len(SHEET_COLUMNS) - 1)
    finally:
        book.close()
