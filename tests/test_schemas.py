"""Tests for schemas.leads: the rules table is the docs' table, and the models enforce it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from schemas.leads import (
    MAX_CUSTOM_ENTRIES,
    RULES,
    CustomEntrySchema,
    LeadSchema,
    OrderLineSchema,
)

DOCS = Path(__file__).resolve().parents[2] / "shared" / "api" / "leads.txt"


@pytest.mark.skipif(not DOCS.exists(), reason="API docs not present")
def test_every_limit_is_the_one_in_the_api_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("Bulk Create Leads") : text.index("List Leads")]
    found: dict[str, tuple[int, int]] = {}
    for line in table.splitlines():
        path = re.match(r"data\.\*\.([a-z_.*]+?)(?:string|number|array)", line)
        limits = re.search(r"(?:min (\d+), )?max (\d+)", line)
        if path and limits:
            low, high = limits.groups()
            found[path.group(1).replace(".*", "")] = (int(low or 0), int(high))
    assert found, "the rules table was not found in the docs"
    for path, (low, high) in found.items():
        assert (RULES[path].low, RULES[path].high) == (low, high), path
    assert set(found) == set(RULES)


def test_the_import_id_entry_leaves_99_custom_entries() -> None:
    assert MAX_CUSTOM_ENTRIES == RULES["data"].high - 1 == 99


def test_only_area_and_custom_data_are_optional() -> None:
    assert {k for k, r in RULES.items() if not r.required} == {
        "area",
        "data",
        "data.key",
        "data.value",
    }


def _text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def _failed(schema: type[pa.DataFrameModel], frame: pd.DataFrame) -> set[tuple[str, int]]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        return set(zip(cases["column"].tolist(), cases["index"].tolist(), strict=True))
    return set()


def test_the_line_schema_checks_each_boundary() -> None:
    frame = pd.DataFrame(
        {
            "sku": _text(["A", "S" * 100, "S" * 101, None]),
            "quantity": pd.Series([1, 999, 1000, 0], dtype="Int64"),
            "total": pd.Series([1.0, 999999.0, 999999.01, 0.99], dtype="Float64"),
        }
    )
    assert _failed(OrderLineSchema, frame) == {
        ("sku", 2),
        ("sku", 3),
        ("quantity", 2),
        ("quantity", 3),
        ("total", 2),
        ("total", 3),
    }


def test_the_line_schema_wants_whole_quantities() -> None:
    frame = pd.DataFrame(
        {
            "sku": _text(["A"]),
            "quantity": pd.Series([1.5], dtype="Float64"),
            "total": pd.Series([10.0], dtype="Float64"),
        }
    )
    with pytest.raises(pa.errors.SchemaErrors):
        OrderLineSchema.validate(frame, lazy=True)


def test_the_lead_schema_checks_each_boundary_and_area_may_be_missing() -> None:
    frame = pd.DataFrame(
        {
            "full_name": _text(["abc", "ab", "x" * 100, "x" * 101]),
            "phone": _text(["1234567", "123456", None, "1" * 100]),
            "city": _text(["Fes", "Fes", "Fes", "Fe"]),
            "area": _text([None, "abc", "ab", "x" * 100]),
            "address": _text(["12345", "1234", "x" * 100, "x" * 101]),
        }
    )
    assert _failed(LeadSchema, frame) == {
        ("full_name", 1),
        ("full_name", 3),
        ("phone", 1),
        ("phone", 2),
        ("city", 3),
        ("area", 2),
        ("address", 1),
        ("address", 3),
    }


def test_the_custom_entry_schema() -> None:
    frame = pd.DataFrame({"key": _text(["note", "k" * 101]), "value": _text(["v" * 100, "v"])})
    assert _failed(CustomEntrySchema, frame) == {("key", 1)}
    frame = pd.DataFrame({"key": _text(["note"]), "value": _text(["v" * 101])})
    assert _failed(CustomEntrySchema, frame) == {("value", 0)}
