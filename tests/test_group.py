"""Tests for importer.group: order lines into leads, conflicts, bad orders and import keys."""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.group import group_leads, import_key_for, order_numbers
from importer.mapping import MappedTable
from importer.model import LEAD_FIELDS, CustomEntry, Issue, Lead, Product
from importer.validate import Catalog, validate_lines
from tests.test_validate import codes, mapped_table, row

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "research" / "samples"
BLANK = {f: "" for f in ("full_name", "phone", "city", "area", "address")}


def test_rows_without_order_key_are_one_lead_each_in_source_order() -> None:
    result = group_leads(mapped_table([row(sku="A"), row(sku="B", phone="0622222222")]), set())
    assert [lead.rows for lead in result.leads] == [(2,), (3,)]
    assert [lead.products for lead in result.leads] == [
        (Product("A", 2, 299.0),),
        (Product("B", 2, 299.0),),
    ]
    assert result.issues == ()
    assert all(lead.key.startswith("hash:") and len(lead.key) == 25 for lead in result.leads)
    assert list(result.orders.values()) == [(2,), (3,)]


def test_shopify_continuation_rows_take_the_first_rows_lead_fields() -> None:
    mapped = mapped_table(
        [
            row(order_key="#1058", sku="A", **{"data:note": "call after 5"}),
            row(order_key="#1058", sku="B", quantity=1, total=50.0, **BLANK),
        ]
    )
    (lead,) = group_leads(mapped, set()).leads
    assert lead.key == "order:#1058"
    assert lead.rows == (2, 3)
    assert (lead.full_name, lead.phone, lead.city, lead.area, lead.address) == (
        "Ahmed El Fassi",
        "0612345678",
        "Casablanca",
        "Maarif",
        "123 Main Street",
    )
    assert lead.products == (Product("A", 2, 299.0), Product("B", 1, 50.0))
    assert lead.data == (CustomEntry("note", "call after 5"),)


def test_a_lead_field_filled_only_on_a_later_row_is_taken_from_there() -> None:
    mapped = mapped_table([row(order_key="7", area=""), row(order_key="7", area="Gauthier")])
    (lead,) = group_leads(mapped, set()).leads
    assert lead.area == "Gauthier"


def test_an_empty_area_is_none() -> None:
    (lead,) = group_leads(mapped_table([row(area="")]), set()).leads
    assert lead.area is None


def test_rows_of_one_order_need_not_be_contiguous() -> None:
    mapped = mapped_table(
        [row(order_key="1", sku="A"), row(order_key="2", sku="B"), row(order_key="1", sku="C")]
    )
    result = group_leads(mapped, set())
    assert [(lead.key, lead.rows) for lead in result.leads] == [
        ("order:1", (2, 4)),
        ("order:2", (3,)),
    ]
    assert [p.sku for p in result.leads[0].products] == ["A", "C"]


def test_woocommerce_repeats_everything_and_that_is_no_conflict() -> None:
    mapped = mapped_table([row(order_key="1", sku="A"), row(order_key="1", sku="B")])
    result = group_leads(mapped, set())
    assert result.issues == ()
    assert len(result.leads) == 1


def test_two_different_values_in_one_order_are_a_conflict_on_both_rows() -> None:
    mapped = mapped_table(
        [
            row(order_key="#1058", phone="0611111111"),
            row(order_key="#1058", phone=""),
            row(order_key="#1058", phone="0622222222"),
        ],
        sources={"phone": "Billing Phone"},
    )
    result = group_leads(mapped, set())
    assert result.leads == ()
    assert codes(result.issues) == [
        (2, "Billing Phone", "conflict"),
        (4, "Billing Phone", "conflict"),
        (3, None, "order_invalid"),
    ]
    assert "'0611111111'" in result.issues[0].message
    assert "'0622222222'" in result.issues[0].message and "row 4" in result.issues[0].message
    assert "row 2" in result.issues[1].message
    assert result.issues[2].message == "Order #1058 is not imported because row 2 has errors."
    assert result.orders == {"order:#1058": (2, 3, 4)}


def test_custom_data_conflicts_too() -> None:
    mapped = mapped_table(
        [row(order_key="1", **{"data:note": "a"}), row(order_key="1", **{"data:note": "b"})]
    )
    assert [i.code for i in group_leads(mapped, set()).issues] == ["conflict", "conflict"]


def test_one_bad_row_makes_its_whole_order_invalid() -> None:
    mapped = mapped_table(
        [row(order_key="#1", sku="A"), row(order_key="#1", sku="B"), row(order_key="#2")]
    )
    bad = {3: [Issue(3, "Sku", "required", "The sku field is required.")]}
    result = group_leads(mapped, bad)
    assert [lead.key for lead in result.leads] == ["order:#2"]
    assert codes(result.issues) == [(2, None, "order_invalid")]
    assert result.issues[0].message == "Order #1 is not imported because row 3 has errors."
    assert set(result.orders) == {"order:#1", "order:#2"}


def test_bad_rows_may_be_a_set_and_empty_issue_lists_do_not_count() -> None:
    mapped = mapped_table([row(), row(phone="0622222222")])
    assert len(group_leads(mapped, {2}).leads) == 1
    assert len(group_leads(mapped, {2: []}).leads) == 2


def test_a_missing_sku_is_found_by_product_name_in_the_catalog() -> None:
    catalog = Catalog(frozenset({"SKU-001"}), {"argan oil 100ml": "SKU-001"})
    mapped = mapped_table(
        [row(sku="", product_name="Argan  OIL 100ml"), row(sku="", product_name="Mystery")],
        sources={"product_name": "Lineitem name"},
    )
    result = group_leads(mapped, set(), catalog)
    assert [lead.products[0].sku for lead in result.leads] == ["SKU-001"]
    assert codes(result.issues) == [(3, "Lineitem name", "unknown_product")]
    assert "'Mystery'" in result.issues[0].message


def test_without_a_catalog_a_missing_sku_says_how_to_fix_it() -> None:
    mapped = mapped_table([row(sku="", product_name="Argan Oil")])
    result = group_leads(mapped, set())
    assert codes(result.issues) == [(2, "Product Name", "required")]
    assert "--catalog" in result.issues[0].message


def test_a_caller_that_skipped_validation_still_gets_no_broken_lead() -> None:
    mapped = mapped_table([row(quantity=None)])
    result = group_leads(mapped, set())
    assert result.leads == ()
    assert codes(result.issues) == [(2, "Quantity", "required")]


def test_the_content_hash_is_stable_and_ignores_the_amounts() -> None:
    who = {"full_name": "Ahmed El Fassi", "phone": "0612345678", "address": "123 Main Street"}
    key = import_key_for(**who, products=[("SKU-001", 2)])
    assert key == import_key_for(**who, products=[("SKU-001", 2.0)])
    assert key != import_key_for(**who, products=[("SKU-001", 1)])
    assert key != import_key_for(**who, products=[("SKU-002", 2)])
    # Pinned: a changed hash would re-import every lead of every earlier run. It is the
    # SHA-256 of ["612345678","ahmed el fassi","123 main street",[["SKU-001",2]]].
    assert key == "hash:cdf6367d2067b50ed24c"


def test_the_content_hash_is_who_where_and_what_only() -> None:
    products = [("SKU-001", 1)]
    key = import_key_for(
        full_name="Ahmed El Fassi", phone="0612345678", address="12 Rue Atlas", products=products
    )
    # the same order, written another way
    for phone in ("+212612345678", "00212 6 12 34 56 78", "612345678", "06-12-34-56-78"):
        assert key == import_key_for(
            full_name="Ahmed El Fassi", phone=phone, address="12 Rue Atlas", products=products
        ), phone
    assert key == import_key_for(
        full_name="AHMED EL FASSI", phone="0612345678", address="12 rue atlas", products=products
    )
    # another customer, another address
    assert key != import_key_for(
        full_name="Ahmed El Fassi", phone="0612345679", address="12 Rue Atlas", products=products
    )
    assert key != import_key_for(
        full_name="Ahmed Fassi", phone="0612345678", address="12 Rue Atlas", products=products
    )
    assert key != import_key_for(
        full_name="Ahmed El Fassi", phone="0612345678", address="14 Rue Atlas", products=products
    )


def test_a_status_column_city_or_area_do_not_change_the_keys() -> None:
    """A sheet gets a `Statut` column after the import, a city is respelled: same orders."""
    before = group_leads(mapped_table([row(), row(phone="0622222222", sku="SKU-002")]), set()).leads
    after = group_leads(
        mapped_table(
            [
                row(city="Casa", area="", **{"data:Statut": "confirmé"}),
                row(phone="+212622222222", sku="SKU-002", **{"data:Statut": "à rappeler"}),
            ]
        ),
        set(),
    ).leads
    assert [lead.key for lead in after] == [lead.key for lead in before]
    assert all(lead.key.startswith("hash:") for lead in after)
    assert after[0].data == (CustomEntry("Statut", "confirmé"),)  # still sent, just not keyed


def test_keys_are_the_same_across_files_and_runs() -> None:
    first = group_leads(mapped_table([row(), row(phone="0622222222")], first_row=2), set())
    again = group_leads(mapped_table([row(phone="0622222222"), row()], first_row=10), set())
    assert {lead.key for lead in first.leads} == {lead.key for lead in again.leads}


def test_identical_rows_without_order_key_are_separate_leads_with_numbered_keys() -> None:
    result = group_leads(mapped_table([row(), row(), row()]), set())
    keys = [lead.key for lead in result.leads]
    assert keys[1] == keys[0] + "#2" and keys[2] == keys[0] + "#3"
    assert list(result.orders) == keys


def test_order_numbers_follow_first_appearance() -> None:
    frame = pd.DataFrame({"order_key": pd.Series(["b", "", "a", "b", ""], dtype="str")})
    numbers, count = order_numbers(frame)
    assert numbers.tolist() == [0, 1, 2, 0, 3]
    assert count == 4


def test_grouping_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    group_leads(mapped_table([row()]), set())
    assert gc.isenabled()
    gc.disable()
    try:
        group_leads(mapped_table([row()]), set())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_empty_table_has_no_leads() -> None:
    assert group_leads(mapped_table([]), set()).leads == ()


@pytest.mark.skipif(not SAMPLES.exists(), reason="research samples not present")
def test_the_real_shopify_export_groups_into_its_orders() -> None:
    from importer.mapping import apply_mapping, preset_mapping
    from importer.normalize import NormalizeOptions, normalize_lines
    from importer.read import read_table

    table = read_table(SAMPLES / "shopify_multiline_ca_REDACTED.csv")
    mapped, _ = normalize_lines(
        apply_mapping(table, preset_mapping("shopify", table)), NormalizeOptions()
    )
    issues = validate_lines(mapped)
    result = group_leads(mapped, {i.row for i in issues if i.row is not None})
    # 64 rows, 20 orders; #1087 has 7 line items (counted in the CSV by its Name column).
    assert len(result.orders) == 20
    assert sum(len(rows) for rows in result.orders.values()) == 64
    assert len(result.orders["order:#1087"]) == 7
    assert all(key.startswith("order:#") for key in result.orders)
    assert not [i for i in result.issues if i.code == "conflict"]


# --- the fast grouping agrees with a plain, row-by-row reading of the contract


def _reference(
    mapped: MappedTable, bad_rows: dict[int, list[Issue]], catalog: Catalog | None
) -> tuple[list[Lead], list[Issue], dict[str, tuple[int, ...]]]:
    """group_leads written the slow and obvious way, one order and one row at a time."""
    frame, heads = mapped.frame, mapped.columns
    known_bad = {row for row, found in bad_rows.items() if found}
    texts = [n for n in frame.columns if n not in ("quantity", "total", "unit_price")]
    cells = {name: frame[name].astype(object).tolist() for name in frame.columns}
    records: list[dict[str, Any]] = []
    for i, number in enumerate(frame.index.tolist()):
        record: dict[str, Any] = {"row": number}
        for name in texts:
            record[name] = "" if pd.isna(cells[name][i]) else str(cells[name][i])
        for name in ("quantity", "total"):
            record[name] = None if pd.isna(cells[name][i]) else cells[name][i]
        records.append(record)
    by_order: dict[object, list[dict[str, Any]]] = {}
    for i, record in enumerate(records):
        by_order.setdefault(record["order_key"] or ("alone", i), []).append(record)
    customs = [n for n in texts if n.startswith("data:")]
    leads: list[Lead] = []
    issues: list[Issue] = []
    orders: dict[str, tuple[int, ...]] = {}
    copies: dict[str, int] = {}
    for members in by_order.values():
        rows = tuple(m["row"] for m in members)
        order_key = members[0]["order_key"]
        found: list[Issue] = []
        chosen: dict[str, str] = {}
        for name in [*LEAD_FIELDS, *customs]:
            label = name[5:] if name in customs else name.replace("_", " ")
            first = next((m for m in members if m[name]), None)
            chosen[name] = first[name] if first else ""
            for m in members:
                if first and m[name] and m[name] != first[name]:
                    what = f"Order {order_key} has two different values for {label}"
                    a, b, here, there = first[name], m[name], first["row"], m["row"]
                    said = f"{what}: '{a}' here and '{b}' on row {there}."
                    back = f"{what}: '{b}' here and '{a}' on row {here}."
                    found += [
                        Issue(here, heads[name], "conflict", said),
                        Issue(there, heads[name], "conflict", back),
                    ]
        lines = []
        for m in members:
            sku = m["sku"]
            if m["row"] not in known_bad:
                if not sku and m["product_name"]:
                    looked_up = catalog.sku_for_name(m["product_name"]) if catalog else None
                    code = "unknown_product" if catalog else "required"
                    if looked_up is None:
                        found.append(Issue(m["row"], heads["product_name"], code, "?"))
                    sku = looked_up or ""
                for name in ("sku", "quantity", "total"):
                    if (name == "sku" and not sku and not m["product_name"]) or m[name] is None:
                        found.append(Issue(m["row"], heads[name], "required", "?"))
            lines.append((sku, m["quantity"], m["total"]))
        data = [(name[5:], chosen[name]) for name in customs if chosen[name]]
        fields = [chosen[name] for name in LEAD_FIELDS]
        if order_key:
            key = f"order:{order_key}"
        else:
            key = import_key_for(
                full_name=chosen["full_name"],
                phone=chosen["phone"],
                address=chosen["address"],
                products=[(sku, quantity) for sku, quantity, _ in lines],
            )
            copies[key] = copies.get(key, 0) + 1
            key += f"#{copies[key]}" if copies[key] > 1 else ""
        orders[key] = rows
        spoiled = [row for row in rows if row in known_bad] + [i.row for i in found if i.row]
        if spoiled or found:
            issues += found
            first_bad = min(spoiled, key=rows.index) if spoiled else None
            whose = f"Order {order_key}" if order_key else "This order"
            message = f"{whose} is not imported because row {first_bad} has errors."
            issues += [Issue(r, None, "order_invalid", message) for r in rows if r not in spoiled]
            continue
        full_name, phone, city, area, address = fields
        products = tuple(Product(s, int(q), float(t)) for s, q, t in lines)
        entries = tuple(CustomEntry(k, v) for k, v in data)
        leads.append(
            Lead(key, rows, full_name, phone, city, address, area or None, products, entries)
        )
    return leads, issues, orders


def _comparable(issues: Sequence[Issue]) -> list[tuple[Any, ...]]:
    """Issues, without the wording the reference does not spell out (tested above)."""
    vague = ("required", "unknown_product")
    return [(i.row, i.column, i.code, "" if i.code in vague else i.message) for i in issues]


LINE = st.fixed_dictionaries(
    {
        "order_key": st.sampled_from(["", "", "1", "2", "#3"]),
        "full_name": st.sampled_from(["", "Ahmed El Fassi", "Sara Bennani"]),
        "phone": st.sampled_from(["", "0611111111", "0622222222"]),
        "city": st.sampled_from(["", "Casablanca", "Rabat"]),
        "area": st.sampled_from(["", "Maarif"]),
        "address": st.sampled_from(["", "1 Main Street", "2 Palm Road"]),
        "sku": st.sampled_from(["", "A", "B", "B"]),
        "product_name": st.sampled_from(["", "Argan Oil", "Mystery"]),
        "quantity": st.sampled_from([None, 1, 2, 2]),
        "total": st.sampled_from([None, 0.0, -0.0, 299.0, 299.0, 50.5]),
        "data:note": st.sampled_from(["", "x", "y"]),
        "data:utm": st.sampled_from(["", "fb"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINE, max_size=25),
    bad=st.sets(st.integers(2, 26), max_size=4),
    with_catalog=st.booleans(),
)
def test_grouping_agrees_with_a_row_by_row_reference(
    lines: list[dict[str, Any]], bad: set[int], with_catalog: bool
) -> None:
    mapped = mapped_table(lines)
    bad_rows = {row: [Issue(row, "Sku", "required", "x")] for row in bad}
    bad_rows[27] = []
    catalog = Catalog(frozenset({"SKU-1"}), {"argan oil": "SKU-1"}) if with_catalog else None
    leads, issues, orders = _reference(mapped, bad_rows, catalog)
    result = group_leads(mapped, bad_rows, catalog)
    # repr tells -0.0 from 0.0 and a shared product from a wrong one.
    assert repr(result.leads) == repr(tuple(leads))
    assert _comparable(result.issues) == _comparable(issues)
    assert list(result.orders.items()) == list(orders.items())


def test_equal_lines_share_one_product_but_minus_zero_is_not_zero() -> None:
    mapped = mapped_table(
        [
            row(order_key="1", total=0.0),
            row(order_key="2", total=-0.0),
            row(order_key="3", total=0.0),
            row(order_key="3", sku="B", total=-0.0),
        ]
    )
    first, second, third = group_leads(mapped, set()).leads
    assert math.copysign(1, first.products[0].total) == 1
    assert math.copysign(1, second.products[0].total) == -1
    assert third.products[0] is first.products[0]
    assert math.copysign(1, third.products[1].total) == -1


def test_leads_are_built_as_their_constructor_builds_them() -> None:
    (lead,) = group_leads(mapped_table([row(**{"data:note": "x"})]), set()).leads
    again = Lead(
        lead.key,
        lead.rows,
        lead.full_name,
        lead.phone,
        lead.city,
        lead.address,
        lead.area,
        lead.products,
        lead.data,
    )
    assert lead == again and repr(lead) == repr(again) and hash(lead) == hash(again)
    with pytest.raises(AttributeError):
        lead.phone = "0"  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class _Checked:
    value: int
    twice: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "twice", self.value * 2)


def test_a_class_with_post_init_is_built_through_it() -> None:
    from importer.model import frozen_objects

    with pytest.raises(TypeError):
        frozen_objects(_Checked, {"value": [1, 2], "twice": [0, 0]})
    assert frozen_objects(_Checked, {"value": [1, 2]}) == [_Checked(1), _Checked(2)]
    assert frozen_objects(_Checked, {"value": [3]})[0].twice == 6


@pytest.mark.parametrize(
    "text",
    ['He said "hi"', "back\\slash", "tab\there\nnewline\x01", "Fès — مراكش ✓ 😀", "line\u2028sep"],
)
@pytest.mark.parametrize("total", [299.0, 50.5, -0.0, 1e16, 0.1 + 0.2])
def test_hash_keys_written_column_wise_are_import_key_for(text: str, total: float) -> None:
    mapped = mapped_table(
        [
            row(full_name=text, address=text, total=total, **{"data:note": text}),
            row(full_name=text, address=text, total=total, **{"data:note": text}),
            row(sku="", product_name="Argan Oil", total=total),
        ]
    )
    catalog = Catalog(frozenset({"SKU-1"}), {"argan oil": "SKU-1"})
    leads = group_leads(mapped, set(), catalog).leads
    key = import_key_for(
        full_name=text, phone="0612345678", address=text, products=[("SKU-001", 2)]
    )
    assert [lead.key for lead in leads[:2]] == [key, key + "#2"]
    assert leads[2].key == import_key_for(
        full_name="Ahmed El Fassi",
        phone="0612345678",
        address="123 Main Street",
        products=[("SKU-1", 2)],
    )


def test_a_keyless_order_keeps_its_key_when_the_amount_to_collect_changes(
    tmp_path: Path,
) -> None:
    """Adding the order's own total (and a status column) spreads the amount differently over
    the lines, but the orders are the same: no second import."""
    from importer.pipeline import SourceOptions, prepare_file

    head = "full_name,phone,city,address,sku,quantity,total"
    row = "Ahmed El Fassi,0612345678,Casablanca,12 Rue Atlas,SKU-001,2,300"
    plain = tmp_path / "plain.csv"
    plain.write_text(f"{head}\n{row}\n", encoding="utf-8")
    edited = tmp_path / "edited.csv"
    edited.write_text(f"{head},Montant,Statut\n{row},330,confirmed\n", encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('preset = "wedocod"\n[fields]\norder_total = "Montant"\n', encoding="utf-8")
    before = prepare_file(plain, SourceOptions())
    after = prepare_file(edited, SourceOptions(mapping_file=mapping, amount="order"))
    assert [p.total for p in before.leads[0].products] != [p.total for p in after.leads[0].products]
    assert list(before.orders) == list(after.orders)
    assert next(iter(before.orders)).startswith("hash:")
