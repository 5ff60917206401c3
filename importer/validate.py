"""Runs the field rules (schemas/) on order lines and on grouped leads, as Issue values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from importer.catalog import Catalog as Catalog
from importer.catalog import CatalogError as CatalogError
from importer.catalog import load_catalog as load_catalog
from importer.group import OrderFacts, OrderLayout, order_layout
from importer.mapping import MappedTable
from importer.model import CUSTOM_PREFIX, Issue, Lead
from schemas.leads import (
    LEAD_RULE_FIELDS,
    MAX_CUSTOM_ENTRIES,
    RULES,
    CustomEntrySchema,
    LeadSchema,
    OrderLineSchema,
    Rule,
)

#: The order of issues on one row: the order of the fields in the API docs.
_FIELD_ORDER = {name: n for n, name in enumerate((*LEAD_RULE_FIELDS, "sku", "quantity", "total"))}


# ------------------------------------------------------------------------------ messages


def _label(field: str) -> str:
    return field.rsplit(".", 1)[-1].replace("_", " ")


def rule_message(field: str, code: str, rule: Rule | None = None, value: object = None) -> str:
    """The docs' (Laravel) wording for a broken rule of ``field`` (a RULES key).

    With the ``value`` that broke it, the message quotes it, and gives a text's length.
    """
    rule = rule or RULES[field]
    name = _label(field)
    if code == "required":
        return f"The {name} field is required."
    if rule.unit == "number":
        told = f"The {name} must be between {rule.low} and {rule.high}."
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            number = int(value) if float(value).is_integer() else value
            told = f"{told[:-1]}: it is {number}."
        return told
    if rule.unit == "items":
        return f"The {name} must not have more than {rule.high} items."
    told = f"The {name} must be between {rule.low} and {rule.high} characters."
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        told = f"{told[:-1]}: '{shown}' has {len(value)}."
    return told


def _reported_rows(reported: Iterable[Issue], columns: dict[str, str]) -> dict[str, set[int]]:
    """Canonical field -> rows an earlier stage holds an error about, found by source column.

    One source column may feed several fields, and a phone read from a fallback column is
    reported on that column (``phone#n`` names it).
    """
    fields_of: dict[str, set[str]] = {}
    for canonical, source in columns.items():
        name = "phone" if canonical.startswith("phone#") else canonical
        fields_of.setdefault(source, set()).add(name)
        if canonical == "unit_price" and "total" not in columns:
            fields_of[source].add("total")  # the total is computed from it
    out: dict[str, set[int]] = {}
    for issue in reported:
        if not issue.is_error or issue.row is None or issue.column is None:
            continue
        for name in fields_of.get(issue.column, ()):
            out.setdefault(name, set()).add(issue.row)
    return out


def _orders_of(
    said: dict[str, set[int]], index: pd.Index, codes: np.ndarray
) -> dict[str, set[int]]:
    """The same, as the orders those rows belong to."""
    out: dict[str, set[int]] = {}
    for name, rows in said.items():
        # isin, not get_indexer: a row listing several products is several lines (one label)
        positions = np.flatnonzero(index.isin(list(rows)))
        out[name] = set(codes[positions].tolist())
    return out


def _code(check: str, failure: object) -> str:
    """Our stable issue code for a pandera check name and the value that failed it."""
    if check == "not_nullable":
        return "required"
    if check.startswith("greater_than"):
        return "out_of_range"
    if check.startswith("less_than"):
        return "out_of_range"
    if check.startswith("str_length"):
        low = int(check[len("str_length(") :].split(",")[0])
        return "too_short" if isinstance(failure, str) and len(failure) < low else "too_long"
    if check.startswith("dtype"):
        return "not_integer"
    return "invalid"


def _failures(
    schema: type[pa.DataFrameModel], frame: pd.DataFrame
) -> list[tuple[str, str, Any, Any]]:
    """(column, check, failing value, index label) for every failure, all found at once."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        return list(
            zip(
                cases["column"].tolist(),
                cases["check"].astype("str").tolist(),
                cases["failure_case"].tolist(),
                cases["index"].tolist(),
                strict=True,
            )
        )
    return []


def _blank_to_na(values: pd.Series) -> pd.Series:
    """Text with "" as NA: the schemas treat missing as NA (so an empty area is no error)."""
    return values.where(values != "")


def _text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype("str")
    return pd.Series("", index=frame.index, dtype="str")


# ------------------------------------------------------------------------------ lines


def validate_lines(
    mapped: MappedTable, reported: Iterable[Issue] = (), layout: OrderLayout | None = None
) -> list[Issue]:
    """Every broken field rule of the table, as issues on the user's rows and columns.

    Product fields (sku, quantity, total) are checked on every line. Lead fields and custom
    data are checked once per order, on the order's first non-empty value: Shopify leaves
    them blank on the 2nd+ rows of an order, and that is no error. A line with no SKU but a
    product name is left to ``group_leads``, which looks the name up in the catalog.

    ``reported`` are the issues earlier stages found: a cell they hold an error about (an
    unreadable phone, emptied) is not reported again (as missing): one problem, one message.
    For a lead field, an error on any row of the order counts.
    """
    frame = mapped.frame
    columns = mapped.columns
    issues: list[Issue] = []
    if frame.empty:
        return issues
    rows = frame.index.to_numpy()
    said = _reported_rows(reported, columns)

    def where(field: str) -> str:
        if field == "total" and "total" not in columns:
            # a total computed from the unit price: the price is the cell to look at
            return columns.get("unit_price", field)
        return columns.get(field, field)

    # --- product fields, per line
    sku = _text_column(frame, "sku")
    named = (_text_column(frame, "product_name").fillna("") != "").to_numpy(dtype=bool)
    lines = pd.DataFrame(
        {
            "sku": _blank_to_na(sku).reset_index(drop=True),
            "quantity": _number_column(frame, "quantity", "Int64"),
            "total": _number_column(frame, "total", "Float64"),
        },
        index=pd.RangeIndex(len(frame)),
    )
    for column, check, value, at in _failures(OrderLineSchema, lines):
        code = _code(check, value)
        position = int(at) if at is not None and at == at else None
        if column == "sku" and code == "required" and position is not None and named[position]:
            continue  # group_leads finds the SKU by product name, or says why it cannot
        row = int(rows[position]) if position is not None else None
        if row in said.get(column, ()):
            continue
        message = rule_message(f"products.{column}", code, value=value)
        issues.append(Issue(row, where(column), code, message))

    # --- lead fields and custom data, per order
    layout = layout if layout is not None else order_layout(frame)
    codes, n_orders, first_row = layout.codes, layout.count, layout.first

    per_order: dict[str, pd.Series] = {}
    where_found: dict[str, np.ndarray] = {}
    for name in LEAD_RULE_FIELDS:
        values, found_at = _first_filled(_text_column(frame, name), codes, first_row)
        per_order[name] = values
        where_found[name] = np.where(found_at >= 0, found_at, first_row)
    orders = pd.DataFrame(per_order, index=pd.RangeIndex(n_orders))
    spoken = _orders_of(said, frame.index, codes)
    for column, check, value, at in _failures(LeadSchema, orders):
        code = _code(check, value)
        if at is not None and at == at and int(at) in spoken.get(column, ()):
            continue
        row = int(rows[where_found[column][int(at)]]) if at is not None and at == at else None
        issues.append(Issue(row, where(column), code, rule_message(column, code, value=value)))

    issues.extend(_custom_issues(frame, codes, first_row, rows, columns))
    rank = _issue_order(columns)
    last = len(_FIELD_ORDER)
    issues.sort(key=lambda i: (i.row if i.row is not None else -1, rank.get(i.column, last)))
    return issues


def _number_column(frame: pd.DataFrame, name: str, dtype: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].reset_index(drop=True)
    return pd.Series(pd.NA, index=pd.RangeIndex(len(frame)), dtype=dtype)


def _issue_order(columns: dict[str, str]) -> dict[str | None, int]:
    """Rank of each source column among the issues of one row (the first field naming it)."""
    order: dict[str | None, int] = {}
    for name, n in _FIELD_ORDER.items():
        order.setdefault(columns.get(name, name), n)
    return order


def _first_filled(
    values: pd.Series, codes: np.ndarray, first_row: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    """Each order's first non-empty value (NA when none) and its position (-1 when none).

    ``first_row`` is the position of each order's first row: that row is filled for nearly
    every order, so only the orders whose first row is empty are searched further.
    """
    text = _arrow_text(values)
    filled = pc.fill_null(pc.not_equal(text, ""), False).to_numpy(zero_copy_only=False)
    found_at = np.where(filled[first_row], first_row, -1)
    searched = found_at < 0
    if searched.any():
        later = np.flatnonzero(filled & searched[codes])
        orders, first = np.unique(codes[later], return_index=True)  # first occurrences
        found_at[orders] = later[first]
    taken = text.take(pyarrow.array(found_at, mask=found_at < 0))
    by_order: pd.Series = taken.to_pandas().astype("str")
    return by_order, found_at


def _arrow_text(values: pd.Series) -> pyarrow.Array:
    """The column as one arrow string array (zero-copy for pyarrow-backed text)."""
    array = pyarrow.array(values.astype("str").array)
    if isinstance(array, pyarrow.ChunkedArray):
        array = array.combine_chunks()
    return array


def _custom_issues(
    frame: pd.DataFrame,
    codes: np.ndarray,
    first_row: np.ndarray,
    rows: np.ndarray,
    columns: dict[str, str],
) -> list[Issue]:
    """Custom cells the lead would send (each order's first non-empty one) that break a rule."""
    keys: list[str] = []
    values: list[pd.Series] = []
    positions: list[np.ndarray] = []
    for column in frame.columns:
        if not (isinstance(column, str) and column.startswith(CUSTOM_PREFIX)):
            continue
        by_order, found_at = _first_filled(frame[column], codes, first_row)
        used = found_at >= 0
        keys.append(column)
        values.append(by_order[used])
        positions.append(found_at[used])
    if not keys:
        return []
    counts = [len(v) for v in values]
    entries = pd.DataFrame(
        {
            # Repeated by index in arrow: numpy's fixed-width strings are slow to convert.
            "key": pyarrow.array([k[len(CUSTOM_PREFIX) :] for k in keys], pyarrow.large_string())
            .take(pyarrow.array(np.repeat(np.arange(len(keys)), counts)))
            .to_pandas()
            .astype("str"),
            "value": pd.concat(values, ignore_index=True).astype("str"),
        }
    )
    at_row = np.concatenate(positions)
    column_of = np.repeat(np.array(keys, dtype=object), counts)
    issues = []
    for column, check, value, at in _failures(CustomEntrySchema, entries):
        code = _code(check, value)
        n = int(at)
        source = columns.get(column_of[n], column_of[n])
        key = column_of[n][len(CUSTOM_PREFIX) :]
        if column == "key":
            message = f"The key '{key[:30]}…' must be between 1 and 100 characters."
        else:
            rule = RULES["data.value"]
            message = (
                f"The value must be between {rule.low} and {rule.high} characters "
                f"(custom data '{key}' is {len(str(value))} characters long)."
            )
        issues.append(Issue(int(rows[at_row[n]]), source, code, message))
    return issues


# ------------------------------------------------------------------------------ leads


def validate_leads(
    leads: Sequence[Lead], catalog: Catalog | None, columns: dict[str, str] | None = None
) -> list[Issue]:
    """``validate_orders`` for leads built already.

    ``lead.rows[i]`` is the source row of ``lead.products[i]`` (group_leads keeps them
    aligned), so an unknown SKU is reported on its own row.
    """
    product_rows = [
        lead.rows[n] if n < len(lead.rows) else (lead.rows[0] if lead.rows else -1)
        for lead in leads
        for n in range(len(lead.products))
    ]
    facts = OrderFacts(
        first_rows=np.array([lead.rows[0] if lead.rows else -1 for lead in leads], np.int64),
        products=np.array([len(lead.products) for lead in leads], np.int64),
        data=np.array([len(lead.data) for lead in leads], np.int64),
        product_rows=np.array(product_rows, np.int64),
        product_skus=pyarrow.array(
            [p.sku for lead in leads for p in lead.products], pyarrow.large_string()
        ),
    )
    return validate_orders(facts, catalog, columns)


def validate_orders(
    orders: OrderFacts, catalog: Catalog | None, columns: dict[str, str] | None = None
) -> list[Issue]:
    """What exists only after grouping: 1..100 products, custom entries, SKUs in the catalog.

    Whole columns at once: Python runs only for the orders that break a rule. The issues
    come order after order, as the leads list them.
    """
    columns = columns or {}
    sku_column = columns.get("sku", "sku")
    rule = RULES["products"]
    found: list[tuple[int, int, Issue]] = []  # (order, rank, issue), sorted at the end
    ends = np.cumsum(orders.products)
    starts = ends - orders.products

    def row(at: Any) -> int | None:
        return int(at) if at >= 0 else None

    for n in np.flatnonzero(orders.products < rule.low).tolist():
        message = rule_message("products", "required")
        found.append((n, 0, Issue(row(orders.first_rows[n]), sku_column, "required", message)))
    for n in np.flatnonzero(orders.products > rule.high).tolist():
        message = (
            f"{rule_message('products', 'too_long')} This order has {orders.products[n]} "
            "products: split it into orders of at most 100."
        )
        at = row(orders.product_rows[starts[n] + rule.high])
        found.append((n, 0, Issue(at, sku_column, "too_many_products", message)))
    for n in np.flatnonzero(orders.data > MAX_CUSTOM_ENTRIES).tolist():
        message = (
            f"{rule_message('data', 'too_long')} This row has {orders.data[n]} custom "
            f"data entries and the importer adds its own import_id entry, so at most "
            f"{MAX_CUSTOM_ENTRIES} can be sent: map fewer columns to custom data."
        )
        found.append(
            (n, 1, Issue(row(orders.first_rows[n]), None, "too_many_custom_entries", message))
        )
    if catalog is not None and len(orders.product_skus):
        skus = orders.product_skus
        known = pyarrow.array(sorted(catalog.skus), skus.type)
        unknown = pc.and_(pc.not_equal(skus, ""), pc.invert(pc.is_in(skus, value_set=known)))
        where = np.flatnonzero(unknown.to_numpy(zero_copy_only=False))
        numbers = np.searchsorted(ends, where, side="right").tolist()
        named = skus.take(where).to_pylist()
        for n, position, sku in zip(numbers, where.tolist(), named, strict=True):
            message = f"The selected sku is invalid: '{sku}' is not in the catalog."
            issue = Issue(row(orders.product_rows[position]), sku_column, "unknown_sku", message)
            found.append((n, 2, issue))
    found.sort(key=lambda item: (item[0], item[1]))
    return [issue for _, _, issue in found]
