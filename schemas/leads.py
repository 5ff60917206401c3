"""The field rules of ``POST /leads`` as one table, and the pandera models built from it."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


@dataclass(frozen=True)
class Rule:
    """One line of the docs' rules table: a length (characters or items) or a value range."""

    low: int
    high: int
    unit: Literal["characters", "number", "items"] = "characters"
    required: bool = True


#: The rules table of the Leads API docs (api/leads.txt), keyed by the docs' field path
#: without the ``data.*.`` prefix. Every limit the importer checks is read from here.
RULES: MappingProxyType[str, Rule] = MappingProxyType(
    {
        "full_name": Rule(3, 100),
        "phone": Rule(7, 100),
        "city": Rule(3, 100),
        "area": Rule(3, 100, required=False),
        "address": Rule(5, 100),
        "products": Rule(1, 100, unit="items"),
        "products.sku": Rule(1, 100),
        "products.quantity": Rule(1, 999, unit="number"),
        "products.total": Rule(1, 999999, unit="number"),
        "data": Rule(0, 100, unit="items", required=False),
        "data.key": Rule(1, 100, required=False),
        "data.value": Rule(1, 100, required=False),
    }
)

#: The lead fields, validated once per order (on the order's first non-empty value).
LEAD_RULE_FIELDS = ("full_name", "phone", "city", "area", "address")
#: The API counts our own ``import_id`` entry against the 100 custom entries of a lead.
MAX_CUSTOM_ENTRIES = RULES["data"].high - 1


def _text(path: str) -> Any:
    rule = RULES[path]
    return pa.Field(
        str_length={"min_value": rule.low, "max_value": rule.high},
        nullable=not rule.required,
    )


def _number(path: str) -> Any:
    rule = RULES[path]
    return pa.Field(ge=rule.low, le=rule.high, nullable=not rule.required)


class OrderLineSchema(pa.DataFrameModel):
    """One product line of an order: ``data.*.products.*``. Empty cells must be NA, not ""."""

    sku: Series[str] = _text("products.sku")
    quantity: Series[pd.Int64Dtype] = _number("products.quantity")
    total: Series[pd.Float64Dtype] = _number("products.total")

    class Config:
        strict = False  # the line frame carries lead fields and custom data too
        coerce = False  # normalize_lines already produced the right dtypes


class LeadSchema(pa.DataFrameModel):
    """The lead fields of one order (``data.*``), one row per order. Empty must be NA."""

    full_name: Series[str] = _text("full_name")
    phone: Series[str] = _text("phone")
    city: Series[str] = _text("city")
    area: Series[str] = _text("area")
    address: Series[str] = _text("address")

    class Config:
        strict = False
        coerce = False


class CustomEntrySchema(pa.DataFrameModel):
    """Custom data entries (``data.*.data.*``), one row per non-empty custom cell used."""

    key: Series[str] = _text("data.key")
    value: Series[str] = _text("data.value")

    class Config:
        strict = False
        coerce = False
