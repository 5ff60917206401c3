"""Turns order lines into leads: one lead per order key, or per row when there is none."""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from importer.model import CUSTOM_PREFIX, LEAD_FIELDS, CustomEntry, Issue, Lead, Product

if TYPE_CHECKING:
    from importer.mapping import MappedTable
    from importer.validate import Catalog

#: Length of the content hash in a ``hash:`` import key (80 bits: no collision in practice).
HASH_LENGTH = 20


@dataclass(frozen=True)
class GroupResult:
    """Clean leads, the issues grouping found, and every order's source rows by import key."""

    leads: tuple[Lead, ...]
    issues: tuple[Issue, ...]
    orders: dict[str, tuple[int, ...]]


def order_numbers(frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each row's order as 0..n-1, numbered in order of first appearance, and n.

    Rows sharing a non-empty ``order_key`` share a number; a row without one is an order
    of its own.
    """
    if "order_key" in frame.columns:
        keys = frame["order_key"].astype("str")
        keys = keys.where(keys != "")
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.int64)
    else:
        codes, uniques = np.full(len(frame), -1, dtype=np.int64), pd.Index([])
    alone = codes < 0
    if not alone.any():
        return codes, len(uniques)
    # Number every order by its first row, so that keyless rows keep their place in the file.
    codes = codes.copy()
    codes[alone] = len(uniques) + np.arange(int(alone.sum()))
    _, first = np.unique(codes, return_index=True)
    renumber = np.empty(len(first), dtype=np.int64)
    renumber[np.argsort(first, kind="stable")] = np.arange(len(first))
    return renumber[codes], len(first)


def _texts(frame: pd.DataFrame, name: str) -> list[str]:
    if name not in frame.columns:
        return [""] * len(frame)
    return [v if isinstance(v, str) else "" for v in frame[name].tolist()]


def _numbers(frame: pd.DataFrame, name: str) -> list[Any]:
    if name not in frame.columns:
        return [None] * len(frame)
    return [None if v is pd.NA or v != v else v for v in frame[name].tolist()]


def import_key_for(
    lead_fields: Sequence[str],
    products: Sequence[tuple[str, Any, Any]],
    data: Sequence[tuple[str, str]],
) -> str:
    """``hash:`` + the start of the SHA-256 of the lead's content: the same in every run.

    ``lead_fields`` are the values of ``LEAD_FIELDS`` (full_name, phone, city, area,
    address) in that order; products are (sku, quantity, total); data (key, value).
    """
    canonical = json.dumps(
        [
            *lead_fields,
            [[sku, quantity, _plain_number(total)] for sku, quantity, total in products],
            [[key, value] for key, value in data],
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return "hash:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def _plain_number(value: Any) -> Any:
    """299.0 and 299 hash alike: the same line total read from two files."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def group_leads(
    mapped: MappedTable,
    bad_rows: Mapping[int, Sequence[Issue]] | set[int] | frozenset[int],
    catalog: Catalog | None = None,
) -> GroupResult:
    """Rows -> leads. Rows sharing a non-empty order key are one lead, in source order.

    Lead fields and custom data come from the order's first non-empty row; a different
    non-empty value on another row is a ``conflict`` on both rows. An order with a bad row
    (in ``bad_rows`` or found here) yields no lead, and its other rows get ``order_invalid``.
    A line with no SKU takes the catalog's SKU for its product name. ``lead.rows[i]`` is the
    row of ``lead.products[i]``.

    Import keys: ``order:<order key>``, else ``hash:<content hash>``. Identical rows without
    an order key would share a key (and the second would be skipped as already imported), so
    the 2nd, 3rd ... copy in one file get ``#2``, ``#3`` appended: each row is its own lead,
    and importing the same file again still finds them all.
    """
    frame = mapped.frame
    columns = mapped.columns
    n_rows = len(frame)
    if n_rows == 0:
        return GroupResult((), (), {})
    codes, n_orders = order_numbers(frame)
    by_order = np.argsort(codes, kind="stable")
    ends = np.searchsorted(codes[by_order], np.arange(1, n_orders + 1)).tolist()

    row_numbers = [int(r) for r in frame.index.tolist()]
    order_keys = _texts(frame, "order_key")
    lead_values = [_texts(frame, name) for name in LEAD_FIELDS]
    custom_names = [c for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)]
    custom_keys = [c[len(CUSTOM_PREFIX) :] for c in custom_names]
    custom_values = [_texts(frame, c) for c in custom_names]
    skus = _texts(frame, "sku")
    names = _texts(frame, "product_name")
    quantities = _numbers(frame, "quantity")
    totals = _numbers(frame, "total")
    order_list = by_order.tolist()
    known_bad = set(bad_rows.keys()) if isinstance(bad_rows, Mapping) else set(bad_rows)
    if isinstance(bad_rows, Mapping):
        known_bad = {row for row in known_bad if bad_rows[row]}

    def where(field: str) -> str:
        return columns.get(field, field)

    leads: list[Lead] = []
    issues: list[Issue] = []
    orders: dict[str, tuple[int, ...]] = {}
    copies: dict[str, int] = {}
    gc_was_enabled = gc.isenabled()
    # Millions of small frozen objects: the cyclic GC would rescan them all again and again.
    gc.disable()
    try:
        start = 0
        for end in ends:
            members = order_list[start:end]
            start = end
            rows = tuple(row_numbers[i] for i in members)
            order_key = order_keys[members[0]]
            found: list[Issue] = []

            lead_fields = [
                _first_value(values, members, rows, name, order_key, where(name), found)
                for name, values in zip(LEAD_FIELDS, lead_values, strict=True)
            ]
            data: list[tuple[str, str]] = []
            for key, name, values in zip(custom_keys, custom_names, custom_values, strict=True):
                value = _first_value(values, members, rows, key, order_key, where(name), found)
                if value:
                    data.append((key, value))

            products: list[tuple[str, Any, Any]] = []
            for i, row in zip(members, rows, strict=True):
                sku = skus[i]
                if row not in known_bad:
                    if not sku and names[i]:
                        sku = _sku_by_name(names[i], row, catalog, where("product_name"), found)
                    else:
                        _require(row, "sku", sku, where("sku"), found)
                    _require(row, "quantity", quantities[i], where("quantity"), found)
                    _require(row, "total", totals[i], where("total"), found)
                products.append((sku, quantities[i], totals[i]))

            if order_key:
                key = f"order:{order_key}"
            else:
                key = import_key_for(lead_fields, products, data)
                seen = copies.get(key, 0) + 1
                copies[key] = seen
                if seen > 1:
                    key = f"{key}#{seen}"
            orders[key] = rows

            bad = [row for row in rows if row in known_bad]
            bad.extend(issue.row for issue in found if issue.row is not None)
            if bad or found:
                issues.extend(found)
                _tell_the_rest(rows, set(bad), order_key, issues)
                continue
            full_name, phone, city, area, address = lead_fields
            leads.append(
                Lead(
                    key=key,
                    rows=rows,
                    full_name=full_name,
                    phone=phone,
                    city=city,
                    address=address,
                    area=area or None,
                    products=tuple(Product(s, int(q), float(t)) for s, q, t in products),
                    data=tuple(CustomEntry(k, v) for k, v in data),
                )
            )
    finally:
        if gc_was_enabled:
            gc.enable()
    return GroupResult(tuple(leads), tuple(issues), orders)


def _first_value(
    values: list[str],
    members: list[int],
    rows: tuple[int, ...],
    field: str,
    order_key: str,
    column: str,
    found: list[Issue],
) -> str:
    """The order's first non-empty value of a field; other different values are conflicts."""
    if len(members) == 1:
        return values[members[0]]
    first = ""
    first_row = 0
    for i, row in zip(members, rows, strict=True):
        value = values[i]
        if not value:
            continue
        if not first:
            first, first_row = value, row
        elif value != first:
            label = field.replace("_", " ")
            found.append(
                Issue(
                    first_row,
                    column,
                    "conflict",
                    f"Order {order_key} has two different {label}s: '{first}' here "
                    f"and '{value}' on row {row}.",
                )
            )
            found.append(
                Issue(
                    row,
                    column,
                    "conflict",
                    f"Order {order_key} has two different {label}s: '{value}' here "
                    f"and '{first}' on row {first_row}.",
                )
            )
    return first


def _require(row: int, field: str, value: Any, column: str, found: list[Issue]) -> None:
    """validate_lines reports empty product fields; a caller that skipped it is told here."""
    if value is None or value == "":
        found.append(Issue(row, column, "required", f"The {field} field is required."))


def _sku_by_name(
    name: str, row: int, catalog: Catalog | None, column: str, found: list[Issue]
) -> str:
    """The catalog's SKU for a product name, or "" and an issue saying why there is none."""
    if catalog is None:
        found.append(
            Issue(
                row,
                column,
                "required",
                f"The sku field is required: '{name}' has no SKU, and without a catalog "
                "(--catalog SKUS.csv) it cannot be looked up by name.",
            )
        )
        return ""
    sku = catalog.sku_for_name(name)
    if sku is None:
        found.append(
            Issue(
                row,
                column,
                "unknown_product",
                f"The sku field is required: '{name}' has no SKU and is not a product name "
                "in the catalog.",
            )
        )
        return ""
    return sku


def _tell_the_rest(
    rows: tuple[int, ...], bad: set[int], order_key: str, issues: list[Issue]
) -> None:
    """Every clean row of a bad order says which row spoiled it."""
    if not bad:
        return
    first_bad = min(bad, key=rows.index)
    order = f"Order {order_key}" if order_key else "This order"
    for row in rows:
        if row not in bad:
            issues.append(
                Issue(
                    row,
                    None,
                    "order_invalid",
                    f"{order} is not imported because row {first_bad} has errors.",
                )
            )
