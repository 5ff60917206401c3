"""Turns order lines into leads: one lead per order key, or per row when there is none."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from importer.model import (
    CUSTOM_PREFIX,
    LEAD_FIELDS,
    CustomEntry,
    Issue,
    Lead,
    Product,
    frozen_objects,
    paused_gc,
)

if TYPE_CHECKING:
    from importer.mapping import MappedTable
    from importer.validate import Catalog

T = TypeVar("T")

#: Length of the content hash in a ``hash:`` import key (80 bits: no collision in practice).
HASH_LENGTH = 20


#: The code of a clean row held back because another row of its order has an error.
ORDER_INVALID = "order_invalid"


@dataclass(frozen=True)
class OrderFacts:
    """What the rules about whole leads look at, for each clean order, column-wise.

    Orders are in file order; ``product_rows`` and ``product_skus`` list every product,
    order after order (``products`` of them per order). A product whose SKU came from the
    catalog by its name has ``""`` as ``product_skus``: the catalog knows it already.
    """

    first_rows: np.ndarray  # the row of each order's first line
    products: np.ndarray  # how many products each order has
    data: np.ndarray  # how many custom data entries each order sends
    product_rows: np.ndarray  # the row of each product
    product_skus: pa.Array  # the SKU of each product, as the file gives it


@dataclass(frozen=True)
class _Checked:
    """The orders grouping looked at closely (``_Grouping.check_orders``), in file order."""

    numbers: np.ndarray  # their order numbers
    clean: np.ndarray  # whether each is clean after all
    at: np.ndarray  # the positions of their lines, order after order
    starts: np.ndarray  # where in ``at`` each order's lines start
    from_catalog: dict[int, str]  # index in ``at`` -> the SKU found by product name


class GroupResult:
    """Orders grouped: the issues grouping found, which orders are clean, and (built on
    demand) the leads of the clean orders and every order's rows by import key.

    A check needs only the counts, the issues and the rows of clean orders: it never pays
    for the lead objects (most of grouping's time and memory on a big file).
    """

    def __init__(
        self,
        grouping: _Grouping | None,
        keep: np.ndarray,
        issues: tuple[Issue, ...],
        checked: _Checked | None = None,
    ) -> None:
        self._grouping = grouping
        self._keep = keep
        self._checked = checked
        self.issues = issues

    @functools.cached_property
    def _lines_of(self) -> dict[int, tuple[list[tuple[str, Any, Any]], bool]]:
        if self._grouping is None or self._checked is None:
            return {}
        return self._grouping.checked_lines(self._checked)

    @property
    def count(self) -> int:
        """How many orders the file holds (each one a lead, clean or not)."""
        return len(self._keep)

    @property
    def kept(self) -> int:
        """How many orders are clean: the leads."""
        return int(self._keep.sum())

    @functools.cached_property
    def leads(self) -> tuple[Lead, ...]:
        """The clean orders as leads, in file order."""
        if self._grouping is None:
            return ()
        return self._grouping.leads(self._keep, self._lines_of)

    @functools.cached_property
    def orders(self) -> dict[str, tuple[int, ...]]:
        """Every order's source rows, by import key, in file order."""
        if self._grouping is None:
            return {}
        g = self._grouping
        return dict(zip(g.import_keys(self._lines_of), g.all_rows(), strict=True))

    def kept_rows(self) -> np.ndarray:
        """The rows of the clean orders, order after order (as their leads list them)."""
        if self._grouping is None:
            return np.zeros(0, dtype=np.int64)
        g = self._grouping
        by_order = g.layout.by_order
        return np.asarray(g.row_numbers[by_order[self._keep[g.layout.codes[by_order]]]])

    def facts(self) -> OrderFacts:
        """The clean orders as ``validate_orders`` looks at them."""
        g = self._grouping
        if g is None:
            empty = np.zeros(0, dtype=np.int64)
            return OrderFacts(empty, empty, empty, empty, pa.array([], pa.large_string()))
        layout = g.layout
        kept = np.flatnonzero(self._keep)
        at = layout.by_order[self._keep[layout.codes[layout.by_order]]]
        return OrderFacts(
            first_rows=g.row_numbers[layout.first[kept]],
            products=layout.sizes[kept],
            data=g.data_counts()[kept],
            product_rows=g.row_numbers[at],
            product_skus=g.skus.take(at),
        )

    def without(self, rows: Iterable[int]) -> tuple[GroupResult, list[Issue]]:
        """The same orders less the clean ones holding one of ``rows`` (rules about whole
        leads found fault there), and an ``order_invalid`` issue on each of their other rows.
        """
        faulty = set(rows)
        g = self._grouping
        if not faulty or g is None:
            return self, []
        positions = np.flatnonzero(
            np.isin(g.row_numbers, np.fromiter(faulty, dtype=np.int64, count=len(faulty)))
        )
        spoiled = np.unique(g.layout.codes[positions])
        spoiled = spoiled[self._keep[spoiled]]
        keep = self._keep.copy()
        keep[spoiled] = False
        extra: list[Issue] = []
        for number in spoiled.tolist():
            here = g.rows_of(number)
            first = next(row for row in here if row in faulty)
            message = f"Not imported because row {first} of the same order has errors."
            extra.extend(
                Issue(row, None, ORDER_INVALID, message) for row in here if row not in faulty
            )
        return GroupResult(g, keep, self.issues, self._checked), extra


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


def order_layout(frame: pd.DataFrame) -> OrderLayout:
    """Where each order's rows are (``order_numbers``): made once, for validation and grouping."""
    return OrderLayout.of(*order_numbers(frame))


@dataclass(frozen=True)
class OrderLayout:
    """Where each order's rows are: row positions sorted by order, source order inside one."""

    codes: np.ndarray  # order number of each row position
    count: int
    by_order: np.ndarray  # row positions, order after order
    starts: np.ndarray  # index in by_order of each order's first row
    sizes: np.ndarray  # rows per order
    first: np.ndarray  # row position of each order's first row
    multi: np.ndarray  # numbers of the orders with more than one row
    multi_rows: np.ndarray  # positions of their rows, in source order
    multi_by_order: np.ndarray  # the same positions, order after order

    @classmethod
    def of(cls, codes: np.ndarray, count: int) -> OrderLayout:
        by_order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes, minlength=count)
        starts = np.cumsum(sizes) - sizes
        in_multi = sizes[codes] > 1
        return cls(
            codes=codes,
            count=count,
            by_order=by_order,
            starts=starts,
            sizes=sizes,
            first=by_order[starts],
            multi=np.flatnonzero(sizes > 1),
            multi_rows=np.flatnonzero(in_multi),
            multi_by_order=by_order[in_multi[by_order]],
        )

    def chosen_rows(self, filled: np.ndarray) -> np.ndarray:
        """Row position of each order's first ``filled`` row, else of its first row."""
        chosen = self.first.copy()
        rows = self.multi_by_order
        found = rows[filled[rows]]
        orders = self.codes[found]
        # Rows are grouped by order, in source order inside one: the first of a run wins.
        first = np.ones(len(orders), dtype=bool)
        first[1:] = orders[1:] != orders[:-1]
        chosen[orders[first]] = found[first]
        return chosen


def _text_array(frame: pd.DataFrame, name: str) -> pa.Array:
    """A text column as one arrow string array, "" for empty or NA (all "" when absent)."""
    if name not in frame.columns:
        return pa.array([""] * len(frame), type=pa.large_string())
    array = pa.array(frame[name].astype("str").fillna(""))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _filled(values: pa.Array) -> np.ndarray:
    """Which cells are not empty."""
    return np.asarray(pc.not_equal(values, "").to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as an object array of Python numbers, None for NA."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    column: Any = frame[name]  # pandas-stubs do not allow na_value=None
    return np.asarray(column.to_numpy(dtype=object, na_value=None), dtype=object)


def _missing(numbers: np.ndarray) -> np.ndarray:
    """Which numbers are None (NA)."""
    return np.asarray(numbers == None, dtype=bool)  # noqa: E711 (elementwise, not identity)


def _exact_codes(frame: pd.DataFrame, name: str, missing: np.ndarray) -> np.ndarray:
    """Codes that are equal only where the cells hold the very same value.

    Floats are compared bit for bit (-0.0 is not 0.0). A column of another kind than
    integer or float gets a code per row: nothing is shared.
    """
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=np.int64)
    column: Any = frame[name]
    kind = column.dtype.kind
    if kind == "i":
        bits = column.to_numpy(dtype=np.int64, na_value=0)
    elif kind == "f":
        bits = column.to_numpy(dtype=np.float64, na_value=np.nan).view(np.int64)
    else:
        return np.arange(len(frame), dtype=np.int64)
    codes = np.asarray(pd.factorize(bits)[0], dtype=np.int64) + 1
    codes[missing] = 0
    return codes


def _text_codes(values: pa.Array) -> np.ndarray:
    """Codes that are equal only where the texts are equal."""
    encoded = pc.dictionary_encode(values)
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _combined(codes: Sequence[np.ndarray], size: int) -> np.ndarray:
    """One code per distinct combination of several codes, 0..k-1."""
    if not codes:
        return np.zeros(size, dtype=np.int64)
    out = np.asarray(pd.factorize(codes[0])[0], dtype=np.int64)
    for more in codes[1:]:
        # Both factors stay below the row count, so the product fits in int64.
        out = np.asarray(pd.factorize(out * (int(more.max()) + 1) + more)[0], dtype=np.int64)
    return out


def _one_of_each(codes: np.ndarray) -> np.ndarray:
    """A position holding each code 0..k-1 (any one: they hold equal values)."""
    where = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    where[codes] = np.arange(len(codes))
    return where


def _conflicts(
    values: pa.Array,
    filled: np.ndarray,
    chosen: np.ndarray,
    layout: OrderLayout,
    label: str,
    column: str,
    keys_and_rows: tuple[pa.Array, np.ndarray],
    conflicts: dict[int, list[Issue]],
) -> None:
    """Another non-empty value than the order's chosen one is a conflict on both rows.

    Vectorised: the Python loop runs over conflicting rows only.
    """
    rows = layout.multi_rows
    if len(rows) == 0:
        return
    chosen_here = chosen[layout.codes[rows]]
    differs = pc.not_equal(values.take(rows), values.take(chosen_here))
    clash = filled[rows] & np.asarray(differs.to_numpy(zero_copy_only=False), dtype=bool)
    order_keys, row_numbers = keys_and_rows
    for position, first in zip(rows[clash].tolist(), chosen_here[clash].tolist(), strict=True):
        order = int(layout.codes[position])
        here, there = int(row_numbers[first]), int(row_numbers[position])
        mine, other = values[first].as_py(), values[position].as_py()
        what = f"Order {order_keys[position].as_py()} has two different values for {label}"
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


#: json.dumps(..., ensure_ascii=False, separators=(",", ":")), without a new encoder per call.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


#: How many trailing digits of a phone identify it: ``0612345678``, ``+212612345678`` and
#: ``00212 6 12 34 56 78`` are one number (Moroccan numbers have 9 after the prefix).
PHONE_DIGITS = 9


def import_key_for(
    *, full_name: str, phone: str, address: str, products: Sequence[tuple[str, Any]]
) -> str:
    """``hash:`` + the start of the SHA-256 of what identifies an order: the same in every run.

    The key of an order without an order number is who (the phone's last ``PHONE_DIGITS``
    digits, the name), where (the address) and what (each product's sku and quantity), name
    and address in lower case. Nothing else counts: city and area are often corrected, and the
    other columns (status, notes, agent) change after the import; the amounts neither: a line
    total depends on how the amount to collect is spread over the lines (an order total column
    added, --amount), and none of that must make an imported order look new. ``products`` are
    (sku, quantity).
    """
    phones, names, addresses = _identity(
        pa.array([phone], pa.large_string()),
        pa.array([full_name], pa.large_string()),
        pa.array([address], pa.large_string()),
    )
    who = [phones[0].as_py(), names[0].as_py(), addresses[0].as_py()]
    return _hash_key(_canonical_json(who, products).encode("utf-8"))


def _identity(phones: pa.Array, names: pa.Array, addresses: pa.Array) -> list[pa.Array]:
    """Phone, name and address as they count in a key, whole columns at once."""
    digits = pc.replace_substring_regex(phones, pattern=r"[^0-9]+", replacement="")
    return [
        pc.utf8_slice_codeunits(digits, start=-PHONE_DIGITS),
        pc.utf8_lower(names),
        pc.utf8_lower(addresses),
    ]


def _canonical_json(who: Sequence[str], products: Sequence[tuple[str, Any]]) -> str:
    """The text hashed for an import key (grouping writes the same text column-wise)."""
    return str(
        _CANONICAL.encode([*who, [[sku, _plain_number(quantity)] for sku, quantity in products]])
    )


def _hash_key(canonical: bytes) -> str:
    return "hash:" + hashlib.sha256(canonical).hexdigest()[:HASH_LENGTH]


def _plain_number(value: Any) -> Any:
    """2.0 and 2 hash alike: the same number read from two files."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def group_leads(
    mapped: MappedTable,
    bad_rows: Mapping[int, Sequence[Issue]] | set[int] | frozenset[int],
    catalog: Catalog | None = None,
    layout: OrderLayout | None = None,
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

    Equal products and equal custom data may be one shared (frozen) object across leads.
    The leads and the keys are built when first asked for: a check never needs them.
    """
    if len(mapped.frame) == 0:
        return GroupResult(None, np.zeros(0, dtype=bool), ())
    known_bad = set(bad_rows.keys()) if isinstance(bad_rows, Mapping) else set(bad_rows)
    if isinstance(bad_rows, Mapping):
        known_bad = {row for row in known_bad if bad_rows[row]}
    with paused_gc():
        grouping = _Grouping(mapped, known_bad, catalog, layout)
        keep, issues, checked = grouping.screen()
    return GroupResult(grouping, keep, tuple(issues), checked)


class _Grouping:
    """One grouping run: whole columns at once, a Python loop only over the few bad orders."""

    def __init__(
        self,
        mapped: MappedTable,
        known_bad: set[int],
        catalog: Catalog | None,
        layout: OrderLayout | None = None,
    ) -> None:
        self.frame = frame = mapped.frame
        self.columns = mapped.columns
        self.catalog = catalog
        self.known_bad = known_bad
        self.layout = layout if layout is not None else order_layout(frame)
        self.row_numbers = np.asarray(frame.index, dtype=np.int64)
        self.bad = np.isin(
            self.row_numbers, np.fromiter(known_bad, dtype=np.int64, count=len(known_bad))
        )
        self.order_keys = _text_array(frame, "order_key")
        self.conflicts: dict[int, list[Issue]] = {}
        self.lead_columns = [self.per_order(name, name.replace("_", " ")) for name in LEAD_FIELDS]
        self.custom_keys = [
            c[len(CUSTOM_PREFIX) :]
            for c in frame.columns
            if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)
        ]
        self.custom_columns = [self.per_order(CUSTOM_PREFIX + k, k) for k in self.custom_keys]
        self.skus = _text_array(frame, "sku")
        self.quantities = _numbers(frame, "quantity")
        self.totals = _numbers(frame, "total")

    def where(self, field: str) -> str:
        """The source column(s) to name in a message about a canonical field."""
        return self.columns.get(field, field)

    def per_order(self, name: str, label: str) -> pa.Array:
        """Each order's first non-empty value of a column; other values are conflicts."""
        values = _text_array(self.frame, name)
        filled = _filled(values)
        chosen = self.layout.chosen_rows(filled)
        _conflicts(
            values,
            filled,
            chosen,
            self.layout,
            label,
            self.where(name),
            (self.order_keys, self.row_numbers),
            self.conflicts,
        )
        return values.take(chosen)

    def rows_of(self, number: int) -> tuple[int, ...]:
        """The source rows of one order, in source order."""
        start = int(self.layout.starts[number])
        at = self.layout.by_order[start : start + int(self.layout.sizes[number])]
        return tuple(self.row_numbers[at].tolist())

    def all_rows(self) -> list[tuple[int, ...]]:
        """The source rows of every order, in file order."""
        layout = self.layout
        sorted_rows = self.row_numbers[layout.by_order].tolist()
        ends = layout.starts + layout.sizes
        return list(
            map(
                tuple,
                map(sorted_rows.__getitem__, map(slice, layout.starts.tolist(), ends.tolist())),
            )
        )

    def data_counts(self) -> np.ndarray:
        """How many custom data entries each order sends (its non-empty custom values)."""
        counts = np.zeros(self.layout.count, dtype=np.int64)
        for column in self.custom_columns:
            counts += _filled(column)
        return counts

    def plain_rows(self) -> np.ndarray:
        """Rows that need no closer look: not bad, and with a SKU, a quantity and a total."""
        return np.asarray(
            ~(self.bad | ~_filled(self.skus) | _missing(self.quantities) | _missing(self.totals))
        )

    def screen(self) -> tuple[np.ndarray, list[Issue], _Checked]:
        """Which orders are clean, the issues of the others, and the orders that needed a
        closer look (``check_orders``)."""
        layout = self.layout
        plain = self.plain_rows()
        troubled = np.zeros(layout.count, dtype=bool)
        troubled[layout.codes[~plain]] = True
        troubled[list(self.conflicts)] = True
        keep = ~troubled
        issues: list[Issue] = []
        checked = self.check_orders(np.flatnonzero(troubled), issues)
        keep[checked.numbers] = checked.clean
        return keep, issues, checked

    def leads(
        self, keep: np.ndarray, lines_of: dict[int, tuple[list[tuple[str, Any, Any]], bool]]
    ) -> tuple[Lead, ...]:
        """The leads of the orders ``keep`` says are clean, in file order."""
        with paused_gc():
            return self._leads(keep, lines_of)

    def _leads(
        self, keep: np.ndarray, lines_of: dict[int, tuple[list[tuple[str, Any, Any]], bool]]
    ) -> tuple[Lead, ...]:
        layout = self.layout
        no_quantity = _missing(self.quantities)
        no_total = _missing(self.totals)
        plain = self.plain_rows()
        line_codes = _combined(
            [
                _text_codes(self.skus),
                _exact_codes(self.frame, "quantity", no_quantity),
                _exact_codes(self.frame, "total", no_total),
            ],
            len(self.frame),
        )
        product_of = _products(line_codes, plain, self.skus, self.quantities, self.totals)
        data_codes = _combined([_text_codes(c) for c in self.custom_columns], layout.count)
        data_of = _custom_data(self.custom_keys, self.custom_columns, data_codes)

        # A one-line order's products are the one shared tuple of its line.
        one_line = np.fromiter(((p,) for p in product_of), dtype=object, count=len(product_of))
        products_of: list[tuple[Product | None, ...]] = one_line[line_codes[layout.first]].tolist()
        if len(layout.multi):
            products = np.fromiter(product_of, dtype=object, count=len(product_of))
            _fill_multi(products_of, products[line_codes[layout.by_order]], layout)
        for number, (lines, clean) in lines_of.items():
            if clean:
                products_of[number] = tuple(Product(s, int(q), float(t)) for s, q, t in lines)

        full_names, phones, cities, areas, addresses = map(_python_texts, self.lead_columns)
        fields: dict[str, list[Any]] = {
            "key": self.import_keys(lines_of),
            "rows": self.all_rows(),
            "full_name": full_names,
            "phone": phones,
            "city": cities,
            "address": addresses,
            "area": [area or None for area in areas],
            "products": products_of,
            "data": data_of,
        }
        kept = keep.tolist()
        return tuple(frozen_objects(Lead, {k: list(compress(v, kept)) for k, v in fields.items()}))

    def check_orders(self, numbers: np.ndarray, issues: list[Issue]) -> _Checked:
        """Orders with a bad or incomplete row or a conflict, in file order: which are clean
        after all (a missing SKU found in the catalog by product name), and the issues of
        the others, added to ``issues`` order after order.

        Whole columns at once: Python runs for the lines that lack a product field and for
        the issues themselves, not for every line of every order looked at.
        """
        layout = self.layout
        sizes = layout.sizes[numbers]
        checked = np.zeros(layout.count, dtype=bool)
        checked[numbers] = True
        at = layout.by_order[checked[layout.codes[layout.by_order]]]
        starts = np.cumsum(sizes) - sizes
        owner = np.repeat(np.arange(len(numbers)), sizes)  # the checked order of each line
        labels = self.row_numbers[at]
        good = ~self.bad[at]
        names = _text_array(self.frame, "product_name").take(at)
        no_sku = good & ~_filled(self.skus.take(at))
        named = _filled(names)
        no_quantity = good & _missing(self.quantities[at])
        no_total = good & _missing(self.totals[at])

        # the lines that lack something, one by one (a file without SKUs: all of them)
        found: list[tuple[int, int, Issue]] = []  # (checked order, phase, issue)
        from_catalog: dict[int, str] = {}
        wrong = np.zeros(len(at), dtype=bool)
        lacking = np.flatnonzero(no_sku | no_quantity | no_total)
        if len(lacking):
            sku_at, name_at, quantity_at, total_at = (
                self.where(f) for f in ("sku", "product_name", "quantity", "total")
            )
            find = _catalog_lookup(self.catalog)
            name_of = names.take(lacking).to_pylist()
            for i, name, row, o in zip(
                lacking.tolist(),
                name_of,
                labels[lacking].tolist(),
                owner[lacking].tolist(),
                strict=True,
            ):
                here: list[Issue] = []
                if no_sku[i] and named[i]:
                    sku = _sku_by_name(name, row, find, name_at, here)
                    if sku:
                        from_catalog[i] = sku
                elif no_sku[i]:
                    here.append(_required(row, "sku", sku_at))
                if no_quantity[i]:
                    here.append(_required(row, "quantity", quantity_at))
                if no_total[i]:
                    here.append(_required(row, "total", total_at))
                if here:
                    wrong[i] = True
                    found.extend((o, 1, issue) for issue in here)

        # an order is spoiled by a bad row, a line lacking something, or a conflict
        conflicted = [
            (int(np.searchsorted(numbers, number)), issue)
            for number, said in sorted(self.conflicts.items())
            for issue in said
        ]
        found.extend((o, 0, issue) for o, issue in conflicted)
        rows_said = np.fromiter(
            (issue.row for _, issue in conflicted if issue.row is not None), dtype=np.int64
        )
        spoiling = ~good | wrong | np.isin(labels, rows_said)
        spoiled_order = np.logical_or.reduceat(spoiling, starts) if len(at) else spoiling
        # a row is spoiled when any of its lines is (a cell listing several products)
        spoiled_row = np.isin(labels, labels[spoiling])

        # every other row of a spoiled order says which row spoiled it (the first in the order)
        told = spoiled_order[owner] & ~spoiled_row
        first = np.full(len(numbers), -1, dtype=np.int64)
        culprits = np.flatnonzero(spoiled_row)
        orders_hit, first_at = np.unique(owner[culprits], return_index=True)
        first[orders_hit] = labels[culprits[first_at]]
        told_at = np.flatnonzero(told)
        told_owner = owner[told_at]
        message_of: dict[int, str] = {}
        for o in np.unique(told_owner).tolist():
            key = self.order_keys[int(layout.first[numbers[o]])].as_py()
            order = f"Order {key}" if key else "This order"
            message_of[o] = f"{order} is not imported because row {first[o]} has errors."
        found.extend(
            (o, 2, Issue(row, None, ORDER_INVALID, message_of[o]))
            for row, o in zip(labels[told_at].tolist(), told_owner.tolist(), strict=True)
        )
        # order after order: its conflicts, its lines' issues, then the rows held back with it
        found.sort(key=lambda item: (item[0], item[1]))
        issues.extend(issue for _, _, issue in found)
        return _Checked(numbers, ~spoiled_order, at, starts, from_catalog)

    def checked_lines(
        self, checked: _Checked
    ) -> dict[int, tuple[list[tuple[str, Any, Any]], bool]]:
        """Each checked order's (sku, quantity, total) lines, a SKU found by name included,
        and whether it is clean: what its lead and its import key are made of."""
        skus = self.skus.take(checked.at).to_pylist()
        for i, sku in checked.from_catalog.items():
            skus[i] = sku
        lines = list(
            zip(
                skus,
                self.quantities[checked.at].tolist(),
                self.totals[checked.at].tolist(),
                strict=True,
            )
        )
        ends = (checked.starts + self.layout.sizes[checked.numbers]).tolist()
        return {
            number: (lines[start:end], clean)
            for number, start, end, clean in zip(
                checked.numbers.tolist(),
                checked.starts.tolist(),
                ends,
                checked.clean.tolist(),
                strict=True,
            )
        }

    def import_keys(self, checked: dict[int, tuple[list[tuple[str, Any, Any]], bool]]) -> list[str]:
        """Each order's import key: ``order:`` + its key, else ``import_key_for`` (file order)."""
        layout = self.layout
        first_key = self.order_keys.take(layout.first)
        keys: list[str] = pc.binary_join_element_wise(
            pa.scalar("order:", first_key.type), first_key, pa.scalar("", first_key.type)
        ).to_pylist()
        keyless = np.flatnonzero(~_filled(first_key))
        if len(keyless) == 0:
            return keys
        full_name, phone, _city, _area, address = (c.take(keyless) for c in self.lead_columns)
        who = _identity(phone, full_name, address)
        texts = self.canonical_texts(keyless, who)
        # A few orders had their lines changed (SKUs from the catalog): hash what they hold.
        is_keyless = np.zeros(self.layout.count, dtype=bool)
        is_keyless[keyless] = True
        changed = np.array([n for n in checked if is_keyless[n]], dtype=np.int64)
        where = np.searchsorted(keyless, changed).tolist()
        for number, i in zip(changed.tolist(), where, strict=True):
            lines = [(sku, quantity) for sku, quantity, _ in checked[number][0]]
            texts[i] = _canonical_json([c[i].as_py() for c in who], lines).encode("utf-8")
        hashed = list(map(_hash_key, texts))
        # The 2nd, 3rd ... order with the same content get #2, #3 ... in file order.
        copies: dict[str, int] = {}
        for i in np.flatnonzero(pd.Series(hashed).duplicated(keep=False).to_numpy()).tolist():
            seen = copies[hashed[i]] = copies.get(hashed[i], 0) + 1
            if seen > 1:
                hashed[i] = f"{hashed[i]}#{seen}"
        out = np.array(keys, dtype=object)
        out[keyless] = np.fromiter(hashed, dtype=object, count=len(hashed))
        return list(out.tolist())

    def canonical_texts(self, keyless: np.ndarray, who: list[pa.Array]) -> list[bytes]:
        """``_canonical_json`` of one-line orders from their own line, whole columns at once.

        ``who`` is ``_identity`` of the orders. Each distinct text or number is written by
        the JSON encoder once; arrow joins them.
        """
        at = self.layout.first[keyless]  # rows without an order key are orders of one row
        parts = [_json_texts(column) for column in who]
        sku = _json_texts(self.skus.take(at))
        quantity = _json_numbers(
            self.quantities[at], _exact_codes(self.frame, "quantity", _missing(self.quantities))[at]
        )

        def text(value: str) -> pa.Scalar:
            return pa.scalar(value, pa.large_string())

        def joined(*pieces: Any) -> pa.Array:
            return pc.binary_join_element_wise(*pieces, text(""))

        line = joined(text("[["), sku, text(","), quantity, text("]]"))
        body = pc.binary_join_element_wise(*parts, line, text(","))
        canonical = joined(text("["), body, text("]"))
        return list(canonical.cast(pa.large_binary()).to_pylist())


def _json_texts(values: pa.Array) -> pa.Array:
    """Each text as the JSON string literal the encoder writes for it."""
    if not _repeats(values):
        literals = list(map(encode_basestring, values.to_pylist()))
        return pa.array(literals, type=pa.large_string())
    encoded = pc.dictionary_encode(values)
    distinct = list(map(encode_basestring, encoded.dictionary.to_pylist()))
    return pa.array(distinct, type=pa.large_string()).take(encoded.indices)


def _json_numbers(numbers: np.ndarray, codes: np.ndarray) -> pa.Array:
    """Each number as the JSON the encoder writes for it (299.0 as 299: ``_plain_number``).

    ``codes`` are equal only where the numbers are the very same (``_exact_codes``).
    """
    dense = np.asarray(pd.factorize(codes)[0], dtype=np.int64)
    at = _one_of_each(dense)
    literals = [_CANONICAL.encode(_plain_number(n)) for n in numbers[at].tolist()]
    return pa.array(literals, type=pa.large_string()).take(dense)


def _fill_multi(per_order: list[Any], sorted_values: np.ndarray, layout: OrderLayout) -> None:
    """Put the tuple of its rows' values in each multi-row order's place in ``per_order``.

    ``sorted_values`` are per row, laid out like ``layout.by_order``. Orders of one size
    are cut out of it together, as one matrix.
    """
    numbers = layout.multi
    sizes = layout.sizes[numbers]
    by_size = np.argsort(sizes, kind="stable")
    for same_size in np.split(by_size, np.flatnonzero(np.diff(sizes[by_size])) + 1):
        orders = numbers[same_size]
        at = layout.starts[orders][:, None] + np.arange(int(sizes[same_size[0]]))
        for number, values in zip(
            orders.tolist(), map(tuple, sorted_values[at].tolist()), strict=True
        ):
            per_order[number] = values


def _repeats(values: pa.Array) -> bool:
    """Whether texts repeat a lot (judged on a sample): worth handling each distinct once."""
    sample = values.slice(0, 4096)
    return bool(pc.count_distinct(sample).as_py() * 4 <= len(sample))


def _python_texts(values: pa.Array) -> list[str]:
    """An arrow text array as a list of str; repeated texts become one shared str."""
    if not _repeats(values):
        return list(values.to_pylist())
    encoded = pc.dictionary_encode(values)
    texts = np.empty(len(encoded.dictionary), dtype=object)
    texts[:] = encoded.dictionary.to_pylist()
    return list(texts[encoded.indices.to_numpy(zero_copy_only=False)].tolist())


def _products(
    line_codes: np.ndarray,
    usable: np.ndarray,
    skus: pa.Array,
    quantities: np.ndarray,
    totals: np.ndarray,
) -> list[Product | None]:
    """One Product per distinct line code found on a usable row; None for the others."""
    product_of: list[Product | None] = [None] * (int(line_codes.max()) + 1)
    used = np.zeros(len(product_of), dtype=bool)
    used[line_codes[usable]] = True
    needed = np.flatnonzero(used)
    at = _one_of_each(line_codes)[needed]
    for code, sku, quantity, total in zip(
        needed.tolist(),
        skus.take(at).to_pylist(),
        quantities[at].tolist(),
        totals[at].tolist(),
        strict=True,
    ):
        product_of[code] = Product(sku, int(quantity), float(total))
    return product_of


def _custom_data(
    keys: list[str], columns: list[pa.Array], codes: np.ndarray
) -> list[tuple[CustomEntry, ...]]:
    """Per order: its non-empty custom data entries, one shared tuple per distinct code."""
    at = _one_of_each(codes)
    values = [column.take(at).to_pylist() for column in columns]
    entries = [
        tuple(
            CustomEntry(key, texts[i]) for key, texts in zip(keys, values, strict=True) if texts[i]
        )
        for i in range(len(at))
    ]
    return [entries[code] for code in codes.tolist()]


def _required(row: int, field: str, column: str) -> Issue:
    """validate_lines reports empty product fields; a caller that skipped it is told here."""
    return Issue(row, column, "required", f"The {field} field is required.")


def _catalog_lookup(catalog: Catalog | None) -> Callable[[str], str | None] | None:
    """The catalog's SKU for a product name, each distinct name looked up once."""
    if catalog is None:
        return None
    known: dict[str, str | None] = {}

    def find(name: str) -> str | None:
        if name not in known:
            known[name] = catalog.sku_for_name(name)
        return known[name]

    return find


def _sku_by_name(
    name: str,
    row: int,
    find: Callable[[str], str | None] | None,
    column: str,
    found: list[Issue],
) -> str:
    """The catalog's SKU for a product name, or "" and an issue saying why there is none."""
    if find is None:
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
    sku = find(name)
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
