"""Tests for importer.validate: line and lead rules as issues, and the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from importer.mapping import MappedTable, Mapping
from importer.model import CANONICAL_FIELDS, CustomEntry, Issue, Lead, Product, Severity
from importer.read import Table
from importer.validate import (
    Catalog,
    CatalogError,
    load_catalog,
    validate_leads,
    validate_lines,
)
from schemas.leads import MAX_CUSTOM_ENTRIES

REPO = Path(__file__).resolve().parents[1]
GOOD: dict[str, Any] = {
    "order_key": "",
    "full_name": "Ahmed El Fassi",
    "phone": "0612345678",
    "city": "Casablanca",
    "area": "Maarif",
    "address": "123 Main Street",
    "sku": "SKU-001",
    "product_name": "",
    "quantity": 2,
    "total": 299.0,
    "unit_price": None,
}


def mapped_table(
    records: Sequence[dict[str, Any]], first_row: int = 2, sources: dict[str, str] | None = None
) -> MappedTable:
    """A table as normalize_lines leaves it: text columns, Int64 quantity, Float64 totals."""
    index = pd.Index(range(first_row, first_row + len(records)), name="row")
    names = list(CANONICAL_FIELDS) + sorted(
        {k for r in records for k in r if k.startswith("data:")}
    )
    columns: dict[str, pd.Series] = {}
    for name in names:
        values = [
            r.get(name, "" if name not in ("quantity", "total", "unit_price") else None)
            for r in records
        ]
        if name == "quantity":
            columns[name] = pd.Series(values, index=index, dtype="Int64")
        elif name in ("total", "unit_price"):
            columns[name] = pd.Series(values, index=index, dtype="Float64")
        else:
            columns[name] = pd.Series(values, index=index, dtype="str")
    frame = pd.DataFrame(columns, index=index)
    table = Table(Path("orders.csv"), frame, None, 1, "utf-8", ",")
    heads = {name: name.replace("_", " ").title() for name in names}
    heads.update(sources or {})
    return MappedTable(table, frame, heads, Mapping(None, {}, ()))


def row(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def codes(issues: Sequence[Any]) -> list[tuple[int | None, str | None, str]]:
    return [(i.row, i.column, i.code) for i in issues]


def test_a_clean_table_has_no_issue() -> None:
    assert (
        validate_lines(mapped_table([row(), row(area=""), row(quantity=999, total=999999)])) == []
    )


@pytest.mark.parametrize(
    ("field", "value", "code", "message"),
    [
        ("full_name", "", "required", "The full name field is required."),
        (
            "full_name",
            "Al",
            "too_short",
            "The full name must be between 3 and 100 characters: 'Al' has 2.",
        ),
        (
            "full_name",
            "x" * 101,
            "too_long",
            f"The full name must be between 3 and 100 characters: '{'x' * 37}...' has 101.",
        ),
        (
            "phone",
            "061234",
            "too_short",
            "The phone must be between 7 and 100 characters: '061234' has 6.",
        ),
        ("phone", None, "required", "The phone field is required."),
        ("city", "Fe", "too_short", "The city must be between 3 and 100 characters: 'Fe' has 2."),
        ("area", "Ma", "too_short", "The area must be between 3 and 100 characters: 'Ma' has 2."),
        (
            "address",
            "Rue",
            "too_short",
            "The address must be between 5 and 100 characters: 'Rue' has 3.",
        ),
        ("sku", "", "required", "The sku field is required."),
        (
            "sku",
            "S" * 101,
            "too_long",
            f"The sku must be between 1 and 100 characters: '{'S' * 37}...' has 101.",
        ),
        ("quantity", 0, "out_of_range", "The quantity must be between 1 and 999: it is 0."),
        ("quantity", 1000, "out_of_range", "The quantity must be between 1 and 999: it is 1000."),
        ("quantity", None, "required", "The quantity field is required."),
        ("total", 0.99, "out_of_range", "The total must be between 1 and 999999: it is 0.99."),
        (
            "total",
            1000000.0,
            "out_of_range",
            "The total must be between 1 and 999999: it is 1000000.",
        ),
        ("total", None, "required", "The total field is required."),
    ],
)
def test_each_rule_is_one_issue_in_the_docs_words_with_the_value(
    field: str, value: Any, code: str, message: str
) -> None:
    issues = validate_lines(mapped_table([row(), row(**{field: value})]))
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.row, issue.column, issue.code, issue.message) == (
        3,
        field.replace("_", " ").title(),
        code,
        message,
    )


@pytest.mark.parametrize("field", ["phone", "quantity", "total", "sku", "city"])
def test_a_cell_reported_by_an_earlier_stage_is_not_reported_again(field: str) -> None:
    empty: Any = None if field in ("quantity", "total") else ""
    mapped = mapped_table([row(), row(**{field: empty})], sources={field: "Source"})
    assert codes(validate_lines(mapped)) == [(3, "Source", "required")]
    earlier = Issue(3, "Source", "invalid_whatever", "'abc' is unreadable")
    assert validate_lines(mapped, [earlier]) == []
    # a warning about the cell says nothing about it being missing
    warned = Issue(3, "Source", "something", "noticed", Severity.WARNING)
    assert codes(validate_lines(mapped, [warned])) == [(3, "Source", "required")]


def test_a_lead_field_reported_on_another_row_of_the_order_is_not_reported_again() -> None:
    # Shopify: the 2nd row's unreadable Phone was emptied; the order has no phone left
    mapped = mapped_table(
        [row(order_key="#1", phone=""), row(order_key="#1", phone="")],
        sources={"phone#0": "Shipping Phone", "phone#2": "Phone", "phone": "Shipping Phone"},
    )
    assert codes(validate_lines(mapped)) == [(2, "Shipping Phone", "required")]
    earlier = Issue(3, "Phone", "invalid_phone", "'abc' is not a phone number")
    assert validate_lines(mapped, [earlier]) == []


def test_the_issue_names_the_source_column() -> None:
    mapped = mapped_table([row(phone="")], sources={"phone": "Billing Phone"})
    assert codes(validate_lines(mapped)) == [(2, "Billing Phone", "required")]


def test_every_failure_is_found_at_once_in_row_order() -> None:
    mapped = mapped_table([row(quantity=0, city=""), row(), row(full_name="", sku="")])
    assert codes(validate_lines(mapped)) == [
        (2, "City", "required"),
        (2, "Quantity", "out_of_range"),
        (4, "Full Name", "required"),
        (4, "Sku", "required"),
    ]


def test_lead_fields_are_checked_once_per_order_on_the_first_filled_value() -> None:
    # Shopify: lead-level cells are blank on the 2nd+ rows of an order.
    blank = {f: "" for f in ("full_name", "phone", "city", "area", "address")}
    mapped = mapped_table(
        [
            row(order_key="#1058", full_name="Al"),
            row(order_key="#1058", **blank),
            row(order_key="#1059", **{**blank, "phone": "0611111111"}),
            row(order_key="#1059", full_name="Ahmed", city="Rabat", address="1 Rue X", area=""),
        ]
    )
    assert codes(validate_lines(mapped)) == [(2, "Full Name", "too_short")]


def test_a_required_lead_field_missing_from_every_row_is_reported_on_the_first() -> None:
    mapped = mapped_table([row(order_key="#7", phone=""), row(order_key="#7", phone="")])
    assert codes(validate_lines(mapped)) == [(2, "Phone", "required")]


def test_rows_without_an_order_key_are_orders_of_their_own() -> None:
    mapped = mapped_table([row(phone=""), row(phone="")])
    assert codes(validate_lines(mapped)) == [(2, "Phone", "required"), (3, "Phone", "required")]


def test_a_product_named_without_sku_is_left_to_grouping() -> None:
    mapped = mapped_table([row(sku="", product_name="Argan Oil 100ml"), row(sku="")])
    assert codes(validate_lines(mapped)) == [(3, "Sku", "required")]


def test_na_text_counts_as_empty() -> None:
    mapped = mapped_table([row(city=None, area=None)])
    assert codes(validate_lines(mapped)) == [(2, "City", "required")]


def test_custom_values_over_100_characters_are_errors_empty_ones_are_not() -> None:
    mapped = mapped_table(
        [
            row(**{"data:note": "x" * 101}),
            row(**{"data:note": ""}),
            row(**{"data:note": "x" * 100}),
        ],
        sources={"data:note": "Notes"},
    )
    issues = validate_lines(mapped)
    assert codes(issues) == [(2, "Notes", "too_long")]
    assert "between 1 and 100 characters" in issues[0].message


def test_custom_values_are_checked_once_per_order() -> None:
    long = {"data:note": "x" * 101}
    mapped = mapped_table([row(order_key="A", **long), row(order_key="A", **long)])
    assert codes(validate_lines(mapped)) == [(2, "Data:Note", "too_long")]


def test_an_empty_table_has_no_issue() -> None:
    assert validate_lines(mapped_table([])) == []


# ----------------------------------------------------------------------------- leads


def lead(products: int = 1, entries: int = 0, sku: str = "SKU-001", rows: int = 0) -> Lead:
    return Lead(
        key="order:1",
        rows=tuple(range(2, 2 + (rows or max(products, 1)))),
        full_name="Ahmed El Fassi",
        phone="0612345678",
        city="Casablanca",
        address="123 Main Street",
        area=None,
        products=tuple(Product(sku, 1, 10.0) for _ in range(products)),
        data=tuple(CustomEntry(f"k{n}", "v") for n in range(entries)),
    )


def test_a_lead_within_every_limit_has_no_issue() -> None:
    assert validate_leads([lead(100, MAX_CUSTOM_ENTRIES)], None, {}) == []


def test_more_than_100_products_is_reported_on_the_101st_row() -> None:
    issues = validate_leads([lead(101)], None, {"sku": "Lineitem sku"})
    assert codes(issues) == [(102, "Lineitem sku", "too_many_products")]
    assert issues[0].message.startswith("The products must not have more than 100 items.")


def test_a_lead_without_products_is_reported() -> None:
    assert codes(validate_leads([lead(0)], None, {})) == [(2, "sku", "required")]


def test_the_import_id_entry_counts_against_the_100_custom_entries() -> None:
    assert MAX_CUSTOM_ENTRIES == 99
    issues = validate_leads([lead(1, 100)], None, {})
    assert codes(issues) == [(2, None, "too_many_custom_entries")]
    assert "import_id" in issues[0].message and "99" in issues[0].message


def test_skus_must_be_in_the_catalog_and_are_reported_on_their_row() -> None:
    catalog = Catalog(frozenset({"SKU-001"}))
    mixed = Lead(
        key="order:1",
        rows=(5, 6),
        full_name="Ahmed El Fassi",
        phone="0612345678",
        city="Casablanca",
        address="123 Main Street",
        area=None,
        products=(Product("SKU-001", 1, 10.0), Product("NOPE", 1, 10.0)),
    )
    issues = validate_leads([mixed], catalog, {"sku": "SKU"})
    assert codes(issues) == [(6, "SKU", "unknown_sku")]
    assert "'NOPE'" in issues[0].message
    assert validate_leads([mixed], None, {}) == []


# ----------------------------------------------------------------------------- catalog


def test_the_sample_catalog_loads_with_names() -> None:
    catalog = load_catalog(REPO / "samples" / "skus.csv")
    assert "SKU-001" in catalog.skus
    assert catalog.sku_for_name("  argan   OIL 100ML ") == "SKU-001"
    assert catalog.sku_for_name("no such thing") is None


def test_a_catalog_of_skus_only(tmp_path: Path) -> None:
    path = tmp_path / "skus.csv"
    path.write_text("\ufeffSKU\nA-1\n\nB-2\n", encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.skus == frozenset({"A-1", "B-2"})
    assert catalog.sku_for_name("A-1") is None


def test_a_semicolon_catalog(tmp_path: Path) -> None:
    path = tmp_path / "skus.csv"
    path.write_text("name;sku\nHuile d'argan;A-1\n", encoding="utf-8")
    assert load_catalog(path).sku_for_name("huile d'argan") == "A-1"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read"),
        ("", "empty"),
        ("code,name\nA,B\n", "no 'sku' column"),
        ("sku\n\n", "no SKU"),
        (b"sku\n\xff\xfe\x00", "cannot read"),
    ],
)
def test_an_unusable_catalog_is_a_clear_error(
    tmp_path: Path, content: str | bytes | None, words: str
) -> None:
    path = tmp_path / "skus.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=words) as caught:
        load_catalog(path)
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)


def test_a_total_computed_from_the_unit_price_is_reported_on_the_price_column() -> None:
    mapped = mapped_table([row(total=0.0)], sources={"unit_price": "Lineitem price"})
    del mapped.columns["total"]
    assert codes(validate_lines(mapped)) == [(2, "Lineitem price", "out_of_range")]
    earlier = Issue(2, "Lineitem price", "total_too_small", "nothing to collect")
    assert validate_lines(mapped, [earlier]) == []
