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


def first_filled(values: pd.Series, codes: np.ndarray, n_orders: int) -> np.ndarray:
    """Position of each order's first non-empty value (empty: "" or NA), -1 when it has none."""
    filled = (values.fillna("") != "").to_numpy(dtype=bool)
    positions = np.flatnonzero(filled)
    found_codes = codes[positions]
    first = ~pd.Series(found_codes).duplicated().to_numpy()
    found_at = np.full(n_orders, -1, dtype=np.int64)
    found_at[found_codes[first]] = positions[first]
    return found_at


def _order_values(
    values: pd.Series,
    codes: np.ndarray,
    n_orders: int,
    label: str,
    column: str,
    keys_and_rows: tuple[list[str], list[int]],
    conflicts: dict[int, list[Issue]],
) -> list[str]:
    """Each order's first non-empty value; another non-empty value in it is a conflict.

    Vectorised: the Python loop runs over conflicting rows only.
    """
    texts = values.astype("str").fillna("").reset_index(drop=True)
    found_at = first_filled(texts, codes, n_orders)
    some = found_at >= 0
    chosen = texts.iloc[np.where(some, found_at, 0)].reset_index(drop=True)
    per_row = chosen.iloc[codes].reset_index(drop=True)
    clash = ((texts != "") & (texts != per_row) & pd.Series(some[codes])).to_numpy(dtype=bool)
    order_keys, row_numbers = keys_and_rows
    for position in np.flatnonzero(clash).tolist():
        order = int(codes[position])
        first = int(found_at[order])
        here, there = row_numbers[first], row_numbers[position]
        mine, other = texts.iat[first], texts.iat[position]
        what = f"Order {order_keys[position]} has two different {label}s"
        conflicts.setdefault(order, []).extend(
            (
                Issue(
                    here, column, "conflict", f"{what}: '{mine}' here and '{other}' on row {there}."
                ),
                Issue(
                    there, column, "conflict", f"{what}: '{other}' here and '{mine}' on row {here}."
                ),
            )
        )
    out: list[str] = chosen.tolist()
    for order in np.flatnonzero(~some).tolist():
        out[order] = ""
    return out


def _texts(frame: pd.DataFrame, name: str) -> list[str]:
    """A text column as a list of str, "" for empty or NA."""
    if name not in frame.columns:
        return [""] * len(frame)
    return list(frame[name].astype("str").fillna("").tolist())


def _numbers(frame: pd.DataFrame, name: str) -> list[Any]:
    """A numeric column as a list of Python numbers, None for NA."""
    if name not in frame.columns:
        return [None] * len(frame)
    column: Any = frame[name]  # pandas-stubs do not allow na_value=None
    return list(column.to_numpy(dtype=object, na_value=None).tolist())


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
    custom_names = [c for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)]
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

    def per_order(name: str, label: str) -> list[str]:
        if name not in frame.columns:
            return [""] * n_orders
        keys_and_rows = (order_keys, row_numbers)
        return _order_values(
            frame[name], codes, n_orders, label, where(name), keys_and_rows, conflicts
        )

    conflicts: dict[int, list[Issue]] = {}
    lead_columns = [per_order(name, name.replace("_", " ")) for name in LEAD_FIELDS]
    custom_columns = [
        (name[len(CUSTOM_PREFIX) :], per_order(name, name[len(CUSTOM_PREFIX) :]))
        for name in custom_names
    ]
    sku_at, name_at, quantity_at, total_at = (
        where(f) for f in ("sku", "product_name", "quantity", "total")
    )

    leads: list[Lead] = []
    issues: list[Issue] = []
    orders: dict[str, tuple[int, ...]] = {}
    copies: dict[str, int] = {}
    gc_was_enabled = gc.isenabled()
    # Millions of small frozen objects: the cyclic GC would rescan them all again and again.
    gc.disable()
    try:
        start = 0
        for number, end in enumerate(ends):
            members = order_list[start:end]
            start = end
            rows = tuple([row_numbers[i] for i in members])
            order_key = order_keys[members[0]]
            found = list(conflicts.get(number, ()))
            lead_fields = [values[number] for values in lead_columns]
            data = [(key, values[number]) for key, values in custom_columns if values[number]]

            products: list[tuple[str, Any, Any]] = []
            for i, row in zip(members, rows, strict=True):
                sku, quantity, total = skus[i], quantities[i], totals[i]
                if row not in known_bad:
                    if not sku and names[i]:
                        sku = _sku_by_name(names[i], row, catalog, name_at, found)
                    elif not sku:
                        found.append(_required(row, "sku", sku_at))
                    if quantity is None:
                        found.append(_required(row, "quantity", quantity_at))
                    if total is None:
                        found.append(_required(row, "total", total_at))
                products.append((sku, quantity, total))

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
            if found:
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


def _required(row: int, field: str, column: str) -> Issue:
    """validate_lines reports empty product fields; a caller that skipped it is told here."""
    return Issue(row, column, "required", f"The {field} field is required.")


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
