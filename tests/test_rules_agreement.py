"""The client's rules (schemas/, validate.py) accept exactly what the sandbox accepts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.group import group_leads
from importer.model import CustomEntry, Lead, Product
from importer.validate import Catalog, validate_leads, validate_lines
from tests.test_validate import mapped_table

rules = pytest.importorskip(
    "importer.sandbox.rules",
    reason="the sandbox's validator (importer.sandbox.rules) is not there yet",
)

CATALOG = frozenset({"SKU-001", "S" * 100})
#: Lengths around every documented minimum and maximum (0..5 and 99..101).
LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 99, 100, 101]


def text(lengths: list[int] = LENGTHS) -> st.SearchStrategy[str]:
    return st.sampled_from(lengths).map(lambda n: "x" * n)


skus = st.sampled_from(["SKU-001", "S" * 100, "", "NOT-IN-CATALOG", "S" * 101])
quantities = st.sampled_from([-1, 0, 1, 2, 998, 999, 1000])
totals = st.sampled_from([0.0, 0.5, 0.99, 1.0, 1.5, 299.0, 999998.99, 999999.0, 999999.01, 1e6])
products = st.tuples(skus, quantities, totals)
product_lists = st.one_of(
    st.lists(products, min_size=0, max_size=3),
    st.integers(99, 101).map(lambda n: [("SKU-001", 1, 10.0)] * n),
)
custom_lists = st.one_of(
    st.lists(st.sampled_from([1, 50, 100, 101]), max_size=3),
    st.integers(98, 100).map(lambda n: [10] * n),
)


@st.composite
def leads(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "full_name": draw(text()),
        "phone": draw(text()),
        "city": draw(text()),
        "area": draw(text()),
        "address": draw(text()),
        "products": draw(product_lists),
        "custom": draw(custom_lists),
    }


def client_says_valid(lead: dict[str, Any]) -> bool:
    fields = {k: lead[k] for k in ("full_name", "phone", "city", "area", "address")}
    custom = {f"data:k{n}": "v" * size for n, size in enumerate(lead["custom"])}
    # A lead without products is a row whose product cells are empty.
    lines = lead["products"] or [("", None, None)]
    records = [
        {**fields, **custom, "order_key": "1", "sku": s, "quantity": q, "total": t}
        for s, q, t in lines
    ]
    mapped = mapped_table(records)
    catalog = Catalog(CATALOG)
    issues = validate_lines(mapped)
    grouped = group_leads(mapped, {i.row for i in issues if i.row is not None}, catalog)
    issues += grouped.issues
    issues += validate_leads(grouped.leads, catalog, mapped.columns)
    if not issues:
        assert len(grouped.leads) == 1
    return not issues


def sandbox_says_valid(lead: dict[str, Any]) -> bool:
    payload = Lead(
        key="order:1",
        rows=(2,),
        full_name=lead["full_name"],
        phone=lead["phone"],
        city=lead["city"],
        address=lead["address"],
        area=lead["area"] or None,
        products=tuple(Product(s, q, t) for s, q, t in lead["products"]),
        data=tuple(CustomEntry(f"k{n}", "v" * size) for n, size in enumerate(lead["custom"])),
    ).payload()
    return not rules.validate_create({"data": [payload]}, CATALOG)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads())
def test_client_and_sandbox_agree_on_every_boundary(lead: dict[str, Any]) -> None:
    assert client_says_valid(lead) == sandbox_says_valid(lead)


def test_a_lead_at_every_upper_limit_is_valid_for_both() -> None:
    lead = {
        "full_name": "x" * 100,
        "phone": "x" * 100,
        "city": "x" * 100,
        "area": "x" * 100,
        "address": "x" * 100,
        "products": [("S" * 100, 999, 999999.0)] * 100,
        "custom": [100] * 99,
    }
    assert client_says_valid(lead) and sandbox_says_valid(lead)


def test_a_lead_at_every_lower_limit_is_valid_for_both() -> None:
    lead = {
        "full_name": "xxx",
        "phone": "x" * 7,
        "city": "xxx",
        "area": "",
        "address": "x" * 5,
        "products": [("SKU-001", 1, 1.0)],
        "custom": [],
    }
    assert client_says_valid(lead) and sandbox_says_valid(lead)
    assert not client_says_valid({**lead, "area": "xx"})
    assert not sandbox_says_valid({**lead, "area": "xx"})
