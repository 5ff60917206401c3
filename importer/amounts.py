"""The amount to collect: each order's product totals add up to what the customer owes.

For cash on delivery the lead's line totals are what the courier collects. An export gives
them as price x quantity, and the order's own total apart (Shopify ``Total``, WooCommerce
``Order Total Amount``) with the line discounts, order discount and shipping that make the
difference. ``settle_amounts`` runs between normalize_lines and validation: in ``order``
mode it spreads that difference over the order's lines in proportion to their amounts
(rounding on the last line), so that the lines add up to the order's total to the cent. In
``lines`` mode price x quantity is sent as written, and an order whose total differs says
so. In both, a free line (a gift at 0.00: the API takes no line total under 1) gets 1.00
taken off the order's other lines, and the order's total, shipping and discount are kept as
custom data. Every line sent with another amount than price x quantity carries a warning
giving the amounts.

An order paid online: when what to collect is read from another column than the order's
total (the shopify preset collects ``Outstanding Balance`` and keeps ``Total`` as the custom
entry ``order_total``), an order with nothing left to collect is an error,
``nothing_to_collect``, on each of its rows (never sent with a made-up amount), and one partly
paid collects what is left, spread over its lines as any total is, with a ``partly_paid``
warning giving both amounts. In ``lines`` mode both are warnings: price x quantity is sent.

The common path is whole columns: per-order sums and firsts with numpy, one proportional
split for every order at once; only orders with a free or tiny line go through Python.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from importer.group import order_numbers
from importer.model import CUSTOM_PREFIX, Issue, Severity
from importer.normalize import parse_money_column
from schemas.leads import MAX_CUSTOM_ENTRIES, RULES

if TYPE_CHECKING:
    from importer.mapping import MappedTable

__all__ = [
    "AMOUNT_MODES",
    "AmountMode",
    "AmountOptions",
    "SettledAmounts",
    "allocate_cents",
    "amount_default",
    "settle_amounts",
]

AmountMode = Literal["order", "lines"]
AMOUNT_MODES: tuple[AmountMode, ...] = ("order", "lines")
#: The mode of files that match no preset: a `Montant à collecter` is what to collect.
DEFAULT_MODE: AmountMode = "order"
#: Order-level amounts (and the per-line discount) this stage reads; normalize leaves them.
AMOUNT_FIELDS = ("order_total", "shipping", "discount", "line_discount")
#: The custom data entries that keep the order's amounts on the lead (``paid``: what an order
#: partly paid online has paid already).
CUSTOM_KEYS = ("order_total", "shipping", "discount", "paid")
#: The custom entry holding the order's total; when a mapping fills it from another column than
#: ``order_total``, ``order_total`` is what is left to pay (a balance) and this the order's total.
TOTAL_KEY = CUSTOM_PREFIX + "order_total"
#: The smallest line total the API takes, in cents.
FLOOR = int(RULES["products.total"].low * 100)


@dataclass(frozen=True)
class AmountOptions:
    """``order``: the lines add up to the order's total; ``lines``: price x quantity."""

    mode: AmountMode = DEFAULT_MODE


@dataclass(frozen=True)
class SettledAmounts:
    """The table with its line totals settled, what was said about them, and a summary note."""

    mapped: MappedTable
    issues: list[Issue]
    notes: tuple[str, ...] = ()


@cache
def amount_default(preset: str | None) -> AmountMode:
    """The mode a preset chooses (its top-level ``amount``), else ``DEFAULT_MODE``."""
    if not preset:
        return DEFAULT_MODE
    try:
        text = resources.files("importer").joinpath("presets", f"{preset}.toml").read_text("utf-8")
    except (FileNotFoundError, OSError):
        return DEFAULT_MODE
    mode = tomllib.loads(text).get("amount", DEFAULT_MODE)
    return cast(AmountMode, mode) if mode in AMOUNT_MODES else DEFAULT_MODE


def money(cents: int | float) -> str:
    """An amount in cents as people read it: 1700.00, -400.00."""
    value = round(cents)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


def allocate_cents(target: int, weights: Sequence[int], floor: int = FLOOR) -> list[int] | None:
    """Split ``target`` cents over lines in proportion to ``weights``, none under ``floor``.

    Lines whose share would fall under ``floor`` get ``floor`` and the others share the rest
    in proportion (again and again until none falls under). The rounding goes to the last line
    with a weight (to the largest line if that one would fall under ``floor``). None when
    ``target`` cannot give every line ``floor``. With no weight at all, lines share equally.
    """
    n = len(weights)
    if n == 0 or target < floor * n:
        return None
    weight = [max(int(w), 0) for w in weights]
    pinned = [False] * n
    shares = [0.0] * n
    while True:
        free = [i for i in range(n) if not pinned[i]]
        rest = target - floor * (n - len(free))
        total = sum(weight[i] for i in free)
        for i in free:
            shares[i] = rest * weight[i] / total if total > 0 else rest / len(free)
        low = [i for i in free if shares[i] < floor]
        if not low:
            break
        for i in low:
            pinned[i] = True
    cents = [floor if pinned[i] else int(np.rint(shares[i])) for i in range(n)]
    residual = target - sum(cents)
    if residual:
        free = [i for i in range(n) if not pinned[i]]
        weighted = [i for i in free if weight[i] > 0] or free
        last = weighted[-1]
        if cents[last] + residual < floor:
            last = max(free, key=lambda i: cents[i])
        cents[last] += residual
    return cents


# ------------------------------------------------------------------------------ per order


def _first_per_order(
    values: np.ndarray, codes: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each order's first non-NaN value (NaN when none) and its row position (-1 when none)."""
    found = np.flatnonzero(~np.isnan(values))
    first = np.full(count, np.nan)
    at = np.full(count, -1, dtype=np.int64)
    orders, where = np.unique(codes[found], return_index=True)
    first[orders] = values[found[where]]
    at[orders] = found[where]
    return first, at


def _rows_of_orders_with(frame: pd.DataFrame, flagged: np.ndarray) -> np.ndarray:
    """Positions of every row of the orders that have a flagged row, in file order."""
    if "order_key" not in frame.columns:
        return np.flatnonzero(flagged)
    keys = pa.array(frame["order_key"].astype("str").fillna("").array)
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    wanted = pc.unique(pc.filter(keys, pa.array(flagged)))
    wanted = pc.filter(wanted, pc.not_equal(wanted, ""))
    same = np.asarray(pc.is_in(keys, value_set=wanted).to_numpy(zero_copy_only=False), dtype=bool)
    return np.flatnonzero(same | flagged)


def _float(frame: pd.DataFrame, name: str) -> np.ndarray:
    column = frame[name]
    if column.dtype.kind not in "fi" and not isinstance(column.dtype, pd.Float64Dtype):
        return np.full(len(frame), np.nan)
    return np.asarray(column.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))


def _cents(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(np.nan_to_num(values) * 100), dtype=np.int64)


@dataclass
class _Orders:
    """Per-order values (arrays of length ``count``) and where each order's rows are."""

    codes: np.ndarray
    count: int
    first_row: np.ndarray
    lines: np.ndarray
    gross: np.ndarray  # cents, per order
    line_discount: np.ndarray  # cents, per order
    order_total: np.ndarray  # float, NaN when the file gives none
    shipping: np.ndarray
    discount: np.ndarray
    usable: np.ndarray  # every line has a readable, non-negative total and no error
    #: cents, per order: what was paid already (the order's total less its balance; 0 when
    #: unknown). ``fully_paid``: nothing left to collect on an order that costs something.
    paid: np.ndarray
    fully_paid: np.ndarray


class _Settling:
    """One run of the stage over a table."""

    def __init__(self, mapped: MappedTable, options: AmountOptions, narrowed: bool = False) -> None:
        self.narrowed = narrowed  # the table holds only the orders that have a free line
        self.mapped = mapped
        self.mode = options.mode
        self.frame = mapped.frame.copy(deep=False)  # columns are replaced, never changed in place
        self.columns = dict(mapped.columns)
        self.rows = np.asarray(self.frame.index, dtype=np.int64)
        self.issues: list[Issue] = []
        self.notes: list[str] = []

    def where(self, field: str) -> str:
        if field == "total" and "total" not in self.columns:
            # a total computed from the unit price: the price is the cell to look at
            return self.columns.get("unit_price", field)
        return self.columns.get(field, field)

    def order_key(self, position: int) -> str:
        if "order_key" not in self.frame.columns:
            return ""
        key = self.frame["order_key"].iloc[position]
        return "" if pd.isna(key) else str(key)

    def run(self) -> SettledAmounts:
        frame = self.frame
        if "total" not in frame.columns or len(frame) == 0:
            return self.result()
        amounts, bad = self.read_amounts()
        gross = _float(frame, "total")
        present = {f for f, values in amounts.items() if not np.isnan(values).all()}
        free = (gross >= 0) & (gross < FLOOR / 100)
        if not present and not bad and not self.narrowed:
            if not free.any():
                return self.result()  # nothing to settle: the common path of a template
            # only the orders with a free line have anything to settle: settle those alone
            positions = _rows_of_orders_with(frame, free)
            part = _Settling(
                dataclasses.replace(self.mapped, frame=self.mapped.frame.iloc[positions]),
                AmountOptions(self.mode),
                narrowed=True,
            ).run()
            totals = _float(self.frame, "total")
            totals[positions] = _float(part.mapped.frame, "total")
            self.frame["total"] = pd.Series(totals, index=frame.index, dtype="Float64")
            self.issues += part.issues
            self.notes += part.notes
            return self.result()
        codes, count = order_numbers(frame)
        orders = self.per_order(codes, count, gross, amounts)
        self.check_amounts(orders, amounts, bad)
        if self.mode == "order":
            self.nothing_to_collect(orders)
        self.settle(orders, gross, amounts)
        self.say_what_was_paid(orders)
        self.keep_as_custom_data(orders)
        return self.result()

    def result(self) -> SettledAmounts:
        mapped = dataclasses.replace(self.mapped, frame=self.frame, columns=self.columns)
        self.issues.sort(key=lambda i: i.row if i.row is not None else -1)
        return SettledAmounts(mapped, self.issues, tuple(self.notes))

    def read_amounts(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The order-level amount columns as floats, and which cells could not be read."""
        amounts: dict[str, np.ndarray] = {}
        bad: dict[str, np.ndarray] = {}
        for field in AMOUNT_FIELDS:
            if field not in self.frame.columns or field not in self.columns:
                amounts[field] = np.full(len(self.frame), np.nan)
                continue
            column = self.frame[field]
            if column.dtype.kind in "fi" or isinstance(column.dtype, pd.Float64Dtype):
                parsed = column.astype("Float64")
                unreadable = np.zeros(len(column), dtype=bool)
            else:
                parsed, flags = parse_money_column(column)
                unreadable = flags.to_numpy(dtype=bool)
            self.frame[field] = parsed
            amounts[field] = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan))
            if unreadable.any():
                bad[field] = unreadable
        return amounts, bad

    def per_order(
        self, codes: np.ndarray, count: int, gross: np.ndarray, amounts: dict[str, np.ndarray]
    ) -> _Orders:
        lines = np.bincount(codes, minlength=count)
        # orders are numbered in order of first appearance: a new one raises the running max
        running = np.maximum.accumulate(codes)
        first_row = np.flatnonzero(np.diff(running, prepend=-1) > 0)
        broken = np.isnan(gross) | (gross < 0)
        usable = np.bincount(codes, weights=broken, minlength=count) == 0
        line_discount = np.nan_to_num(amounts["line_discount"])
        firsts = {}
        for field in ("order_total", "shipping", "discount"):
            firsts[field], at = _first_per_order(amounts[field], codes, count)
            for number in self.conflicts(field, amounts[field], firsts[field], codes, at):
                usable[number] = False
        paid, fully_paid = self.payments(firsts["order_total"], codes, count)
        return _Orders(
            codes=codes,
            count=count,
            first_row=np.asarray(first_row, dtype=np.int64),
            lines=lines,
            gross=np.bincount(codes, weights=_cents(gross), minlength=count).astype(np.int64),
            line_discount=np.bincount(codes, weights=_cents(line_discount), minlength=count).astype(
                np.int64
            ),
            order_total=firsts["order_total"],
            shipping=firsts["shipping"],
            discount=firsts["discount"],
            usable=usable,
            paid=paid,
            fully_paid=fully_paid,
        )

    def balance(self) -> str | None:
        """The column of the order's total when what to collect is another one (a balance)."""
        if TOTAL_KEY not in self.frame.columns or "order_total" not in self.frame.columns:
            return None
        total, collect = self.columns.get(TOTAL_KEY), self.columns.get("order_total")
        return total if total and collect and total != collect else None

    def payments(
        self, balance: np.ndarray, codes: np.ndarray, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per order: cents paid already, and whether nothing is left to collect.

        Only when the file gives both the order's total and what is left of it: a balance of
        0 (or less: a refund owed) on an order whose total is above 0 is fully paid; a balance
        under the total, partly paid. A total that cannot be read tells nothing.
        """
        paid = np.zeros(count, dtype=np.int64)
        fully = np.zeros(count, dtype=bool)
        if self.balance() is None:
            return paid, fully
        parsed, _ = parse_money_column(self.frame[TOTAL_KEY].astype("str"))
        values = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan))
        total, _ = _first_per_order(values, codes, count)
        known = ~np.isnan(total) & ~np.isnan(balance) & (total > 0)
        left = _cents(balance)
        fully = known & (left <= 0)
        partly = known & (left > 0) & (left < _cents(total))
        paid[fully | partly] = (_cents(total) - np.maximum(left, 0))[fully | partly]
        return paid, fully

    def conflicts(
        self,
        field: str,
        values: np.ndarray,
        first: np.ndarray,
        codes: np.ndarray,
        at: np.ndarray,
    ) -> list[int]:
        """Two different amounts for one order: which one to collect is anybody's guess.

        Returns the numbers of the orders in conflict.
        """
        if np.isnan(first).all():
            return []
        per_row = first[codes]
        clash = ~np.isnan(values) & (np.abs(values - per_row) >= 0.005)
        column = self.where(field)
        spoiled: list[int] = []
        for position in np.flatnonzero(clash).tolist():
            spoiled.append(int(codes[position]))
            other = int(at[codes[position]])
            self.issues.append(
                Issue(
                    int(self.rows[position]),
                    column,
                    "conflict",
                    f"Order {self.order_key(position)} has two different {column} amounts: "
                    f"{money(values[position] * 100)} here and {money(per_row[position] * 100)} "
                    f"on row {int(self.rows[other])}.",
                )
            )
        return spoiled

    def needs(self, orders: _Orders, field: str) -> np.ndarray:
        """Per row: whether the amount to collect depends on ``field`` of the row's order."""
        given = ~np.isnan(orders.order_total)
        if self.mode == "lines" or field == "order_total":
            return np.full(len(orders.codes), self.mode == "order" and field == "order_total")
        return np.asarray(~given[orders.codes], dtype=bool)

    def check_amounts(
        self, orders: _Orders, amounts: dict[str, np.ndarray], bad: dict[str, np.ndarray]
    ) -> None:
        """An unreadable amount is an error when what to collect depends on it, else a warning."""
        texts = self.mapped.frame
        for field, unreadable in bad.items():
            needed = self.needs(orders, field)
            column = self.where(field)
            cells = texts[field].astype("str").to_numpy(dtype=object)
            for position in np.flatnonzero(unreadable).tolist():
                message = (
                    f"'{cells[position]}' is not an amount of money "
                    "(write it like 1299.50 or 1 299,50)"
                )
                if needed[position]:
                    self.issues.append(
                        Issue(int(self.rows[position]), column, "invalid_number", message)
                    )
                    orders.usable[orders.codes[position]] = False
                    continue
                reason = (
                    "not needed: --amount lines sends price x quantity"
                    if self.mode == "lines"
                    else "not needed: the order's total is given"
                )
                self.issues.append(
                    Issue(
                        int(self.rows[position]),
                        column,
                        "invalid_number",
                        f"{message}; {reason}.",
                        Severity.WARNING,
                    )
                )

    # -------------------------------------------------------------------------- settling

    def targets(self, orders: _Orders) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per order: cents to collect, whether the file gave them, and the discount counted.

        Without the order's total (or in ``lines`` mode) the target is the lines' own sum;
        in ``order`` mode with shipping or discounts but no total, lines - discounts +
        shipping. An order discount equal to the sum of the line discounts is the same
        discount, allocated (Shopify writes it both ways): it is counted once.
        """
        given = ~np.isnan(orders.order_total)
        shipping = _cents(orders.shipping)
        discount = _cents(orders.discount)
        allocated = (orders.line_discount > 0) & (np.abs(discount - orders.line_discount) <= 1)
        counted = np.where(allocated, 0, discount)
        if self.mode == "lines":
            return orders.gross.copy(), given, counted
        computed = orders.gross - orders.line_discount - counted + shipping
        target = np.where(given, _cents(orders.order_total), computed)
        return target, given, counted

    def settle(self, orders: _Orders, gross: np.ndarray, amounts: dict[str, np.ndarray]) -> None:
        codes = orders.codes
        gross_cents = _cents(gross)
        discount_cents = _cents(amounts["line_discount"])
        if self.mode == "lines":
            discount_cents = np.zeros_like(discount_cents)
        weights = np.maximum(gross_cents - discount_cents, 0)
        target, given, counted = self.targets(orders)
        if self.mode == "lines":
            self.say_what_lines_leave_out(orders, given)
        has_free = np.bincount(codes, weights=gross_cents < FLOOR, minlength=orders.count) > 0
        line_discounts = np.bincount(codes, weights=discount_cents > 0, minlength=orders.count)
        work = orders.usable & ((target != orders.gross) | has_free | (line_discounts > 0))
        if not work.any():
            return
        rows = np.flatnonzero(work[codes])
        at = codes[rows]
        weight_sum = np.bincount(at, weights=weights[rows], minlength=orders.count)
        cents = np.zeros(len(codes), dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            exact = target[at] * (weights[rows] / weight_sum[at])
        cents[rows] = np.asarray(np.rint(np.nan_to_num(exact)), dtype=np.int64)
        # the rounding goes to each order's last line with a weight
        weighted = rows[weights[rows] > 0]
        last = np.full(orders.count, -1, dtype=np.int64)
        backwards = weighted[::-1]
        found, where = np.unique(codes[backwards], return_index=True)
        last[found] = backwards[where]
        summed = np.bincount(at, weights=cents[rows], minlength=orders.count).astype(np.int64)
        ends = last[work & (last >= 0)]
        cents[ends] += (target - summed)[codes[ends]]
        low = np.bincount(at, weights=cents[rows] < FLOOR, minlength=orders.count) > 0
        rare = work & (low | (last < 0) | (weight_sum <= 0))
        too_small = rare & (target < FLOOR * orders.lines)
        self.too_small(orders, np.flatnonzero(too_small), target, given)
        # orders with a free or tiny line: one by one (they are few)
        hard = rare & ~too_small
        if hard.any():
            picked = rows[hard[at]]
            picked = picked[np.argsort(codes[picked], kind="stable")]
            bounds = np.flatnonzero(np.diff(codes[picked])) + 1
            for positions in np.split(picked, bounds):
                number = int(codes[positions[0]])
                split = allocate_cents(int(target[number]), weights[positions].tolist())
                if split is None:  # cannot happen: the target gives every line the floor
                    raise AssertionError(f"order {number}: {target[number]} cents too few")
                cents[positions] = split
        done = work & ~too_small
        settled = rows[done[at]]
        totals = self.frame["total"].astype("Float64").copy()
        totals.iloc[settled] = cents[settled] / 100
        self.frame["total"] = totals
        self.tell(orders, settled, gross_cents, cents, target, given, counted, amounts)

    def too_small(
        self, orders: _Orders, numbers: np.ndarray, target: np.ndarray, given: np.ndarray
    ) -> None:
        """An error on every row of an order that cannot give each line the API's minimum.

        On every row, on the line total's column: validation would otherwise say again, on
        each line, that its total is under 1.
        """
        if len(numbers) == 0:
            return
        picked = np.zeros(orders.count, dtype=bool)
        picked[numbers] = True
        for position in np.flatnonzero(picked[orders.codes]).tolist():
            number = int(orders.codes[position])
            lines = int(orders.lines[number])
            what = f"The order's {self.where('order_total')}" if given[number] else "The order"
            key = self.order_key(int(orders.first_row[number]))
            self.issues.append(
                Issue(
                    int(self.rows[position]),
                    self.where("total"),
                    "total_too_small",
                    f"{what} comes to {money(target[number])} for {lines} product "
                    f"line{'s' if lines != 1 else ''}, but WedoCOD takes at least "
                    f"{money(FLOOR)} per line: order {key or 'on this row'} cannot be sent "
                    "as it is (nothing to collect?). Give each line a price, or leave the "
                    "order out.",
                )
            )
        orders.usable[numbers] = False

    def order_names(self, orders: _Orders, numbers: np.ndarray) -> pa.Array:
        """Each order of ``numbers`` as a message names it: ``Order #1074``, ``The order``."""
        if "order_key" not in self.frame.columns:
            return pa.array(["The order"] * len(numbers), pa.large_string())
        keys = self.frame["order_key"].iloc[orders.first_row[numbers]].fillna("").astype("str")
        named = _joined(_text("Order "), pa.array(keys.tolist(), pa.large_string()))
        return pc.if_else(pa.array((keys == "").to_numpy(dtype=bool)), _text("The order"), named)

    def paid_amounts(self, orders: _Orders, numbers: np.ndarray) -> pa.Array:
        """What is left to pay and the order's total, for each order of ``numbers``:
        ``its Outstanding Balance 11.29, its Total 220.06``."""
        left = _cents(orders.order_total[numbers])
        total = orders.paid[numbers] + np.maximum(left, 0)
        return _joined(
            _text(f"its {self.where('order_total')} "),
            _money_texts(left),
            _text(f", its {self.balance()} "),
            _money_texts(total),
        )

    def nothing_to_collect(self, orders: _Orders) -> None:
        """``order`` mode: an error on every row of an order paid already, which is not sent.

        A lead's lines are what the courier collects, and WedoCOD takes none under 1.00: an
        order paid in full can only be sent with an amount the customer does not owe.
        """
        numbers = np.flatnonzero(orders.usable & orders.fully_paid)
        if len(numbers) == 0:
            return
        texts = _joined(
            self.order_names(orders, numbers),
            _text(" is already paid ("),
            self.paid_amounts(orders, numbers),
            _text(
                "): there is nothing for the courier to collect, and it is not sent. To have "
                "the courier collect it all the same, import it on its own with --amount "
                "lines (price x quantity: "
            ),
            _money_texts(orders.gross[numbers]),
            _text(")."),
        )
        positions = np.flatnonzero(orders.usable[orders.codes] & orders.fully_paid[orders.codes])
        which = np.searchsorted(numbers, orders.codes[positions])
        column = self.where("order_total")
        self.issues += [
            Issue(row, column, "nothing_to_collect", text)
            for row, text in zip(
                self.rows[positions].tolist(),
                texts.take(pa.array(which)).to_pylist(),
                strict=True,
            )
        ]
        orders.usable[numbers] = False
        self.notes.append(
            f"Amounts: {len(numbers)} order(s) already paid ({column} 0.00) are not sent: "
            "nothing for the courier to collect (nothing_to_collect)."
        )

    def say_what_was_paid(self, orders: _Orders) -> None:
        """A warning on the first row of each order sent that was paid in part (or, with
        ``lines``, in full): what the courier collects, and the order's total."""
        numbers = np.flatnonzero(orders.usable & (orders.paid > 0))
        if len(numbers) == 0:
            return
        names, amounts = self.order_names(orders, numbers), self.paid_amounts(orders, numbers)
        fully = orders.fully_paid[numbers]
        balance, total = self.where("order_total"), self.balance()
        if self.mode == "order":
            # orders paid in full are not sent: these are partly paid
            texts = _joined(
                names,
                _text(f" is partly paid: the courier collects its {balance} "),
                _money_texts(_cents(orders.order_total[numbers])),
                _text(f", not its {total} "),
                _money_texts(orders.paid[numbers] + _cents(orders.order_total[numbers])),
                _text(" ("),
                _money_texts(orders.paid[numbers]),
                _text(" paid already)."),
            )
        else:
            texts = _joined(
                names,
                pc.if_else(
                    pa.array(fully), _text(" is already paid ("), _text(" is partly paid (")
                ),
                amounts,
                _text("), yet --amount lines sends price x quantity ("),
                _money_texts(orders.gross[numbers]),
                pc.if_else(
                    pa.array(fully),
                    _text(") for the courier to collect: leave it out unless it is owed."),
                    _text(f") for the courier to collect; --amount order collects its {balance}."),
                ),
            )
        self.issues += [
            Issue(
                row,
                balance,
                "nothing_to_collect" if is_fully else "partly_paid",
                text,
                Severity.WARNING,
            )
            for row, is_fully, text in zip(
                self.rows[orders.first_row[numbers]].tolist(),
                fully.tolist(),
                texts.to_pylist(),
                strict=True,
            )
        ]
        partly = int((~fully).sum())
        if self.mode == "order":
            self.notes.append(
                f"Amounts: {partly} order(s) partly paid collect their {balance}, not their "
                f"{total} (partly_paid); what was paid is kept as custom data `paid`."
            )
        else:
            self.notes.append(
                f"Amounts: {len(numbers)} order(s) paid already, in full or in part ({balance} "
                f"under {total}), are sent with price x quantity to collect (--amount lines): "
                "nothing_to_collect, partly_paid."
            )

    def breakdown(
        self, orders: _Orders, numbers: np.ndarray, target: np.ndarray, counted: np.ndarray
    ) -> pa.Array:
        """What makes each order's total differ from its lines: discounts, shipping, the rest.

        One text per order of ``numbers``, built column-wise.
        """
        line_discount = orders.line_discount[numbers] if self.mode == "order" else 0 * numbers
        discount = counted[numbers]
        shipping = _cents(orders.shipping[numbers])
        paid = orders.paid[numbers]
        rest = target[numbers] - orders.gross[numbers] + line_discount + discount - shipping + paid
        # the discount is in the line totals already (WooCommerce's line totals)
        inside = (rest != 0) & (discount != 0) & (np.abs(rest - discount) <= 1)
        rest = np.where(inside, rest - discount, rest)
        parts = [
            _said(paid != 0, "paid already -", _money_texts(paid)),
            _said(line_discount != 0, "line discounts -", _money_texts(line_discount)),
            _said((discount != 0) & ~inside, "order discount -", _money_texts(discount)),
            _said(shipping != 0, "shipping +", _money_texts(shipping)),
            _said(
                np.abs(rest) > 1,
                "other charges (taxes, fees...) ",
                _joined(
                    pa.array(np.where(rest > 0, "+", "-"), pa.large_string()),
                    _money_texts(np.abs(rest)),
                ),
            ),
        ]
        text = _listed(parts, ", ")
        return pc.if_else(pc.equal(text, ""), _text("rounding"), text)

    def tell(
        self,
        orders: _Orders,
        settled: np.ndarray,
        gross: np.ndarray,
        cents: np.ndarray,
        target: np.ndarray,
        given: np.ndarray,
        counted: np.ndarray,
        amounts: dict[str, np.ndarray],
    ) -> None:
        """A warning on every line sent with another amount than price x quantity.

        The messages are built column-wise (arrow string joins): a Shopify COD export has one
        on nearly every line (shipping).
        """
        changed = settled[cents[settled] != gross[settled]]
        if len(changed) == 0:
            return
        codes = orders.codes
        numbers, where = np.unique(codes[changed], return_inverse=True)
        total_column = self.where("order_total")
        goal = pc.if_else(
            pa.array(given[numbers]),
            _joined(_text(f"its {total_column} "), _money_texts(target[numbers])),
            _joined(
                _money_texts(target[numbers]),
                _text(
                    " (lines - discounts + shipping)"
                    if self.mode == "order"
                    else " (price x quantity)"
                ),
            ),
        )
        said = _joined(_text("so that the order adds up to "), goal)
        if self.mode == "order":
            said = _joined(said, _text(": "), self.breakdown(orders, numbers, target, counted))
        lines = orders.lines[numbers]
        spread = _said(
            lines > 1,
            "; spread over its ",
            _joined(
                _number_texts(lines),
                _text(" lines in proportion to their amounts, the last one taking the rounding"),
            ),
        )
        said = _joined(said, _optional(spread))
        said = said.take(pa.array(where))

        new, old = _money_texts(cents[changed]), _money_texts(gross[changed])
        free = gross[changed] < FLOOR
        prices = _float(self.frame, "unit_price")[changed]
        quantities = _float(self.frame, "quantity")[changed]
        priced = ~np.isnan(prices) & ~np.isnan(quantities)
        was = pc.if_else(
            pa.array(priced),
            _joined(
                _number_texts(np.nan_to_num(quantities).astype(np.int64)),
                _text(" x "),
                _money_texts(_cents(prices)),
                _text(" = "),
                old,
            ),
            _joined(old, _text(" as written")),
        )
        line_discounts = _cents(amounts["line_discount"])[changed]
        if self.mode == "order":
            less = _said(
                line_discounts != 0, ", less its line discount ", _money_texts(line_discounts)
            )
            was = _joined(was, _optional(less))
        adjusted = _joined(_text("Sent "), new, _text(" for this line instead of "), was)
        gift = _joined(
            _text("A line at "),
            old,
            _text(f": WedoCOD takes no line total under {money(FLOOR)}, so it is sent at "),
            new,
            _text(" and the order's other lines carry the difference"),
        )
        messages = _joined(pc.if_else(pa.array(free), gift, adjusted), _text(", "), said)
        messages = _joined(messages, _text("."))
        column = self.where("total")
        self.issues += [
            Issue(
                row, column, "free_line" if is_free else "amount_adjusted", text, Severity.WARNING
            )
            for row, is_free, text in zip(
                self.rows[changed].tolist(), free.tolist(), messages.to_pylist(), strict=True
            )
        ]
        free_lines = int(free.sum())
        adjusted_lines = len(changed) - free_lines
        if self.mode == "order" and adjusted_lines:
            source = (
                f"its {total_column}"
                if "order_total" in self.columns
                else "its lines less discounts plus shipping"
            )
            self.notes.append(
                f"Amounts: each order's product totals add up to {source} (shipping and "
                f"discounts included): {adjusted_lines} line(s) of {len(numbers)} order(s) "
                "were sent with another amount than price x quantity (amount_adjusted). "
                "--amount lines sends price x quantity instead."
            )
        if free_lines:
            self.notes.append(
                f"Amounts: {free_lines} free line(s) were sent at {money(FLOOR)}, taken off "
                "the other lines of their order (free_line)."
            )

    def say_what_lines_leave_out(self, orders: _Orders, given: np.ndarray) -> None:
        """``lines`` mode: an order whose total, shipping or discount is not in its lines."""
        total = _cents(orders.order_total)
        shipping = _cents(orders.shipping)
        discount = np.maximum(_cents(orders.discount), orders.line_discount)
        # an order paid already has a warning of its own (say_what_was_paid)
        differs = (
            orders.usable
            & (orders.paid == 0)
            & np.where(given, np.abs(total - orders.gross) >= 1, (shipping != 0) | (discount != 0))
        )
        numbers = np.flatnonzero(differs)
        if len(numbers) == 0:
            return
        shipped, discounted = shipping[numbers] != 0, discount[numbers] != 0
        left_out = _listed(
            [
                _said(shipped, "shipping ", _money_texts(shipping[numbers])),
                _said(discounted, "discount ", _money_texts(discount[numbers])),
            ],
            " and ",
        )
        out = _said(shipped | discounted, " (", _joined(left_out, _text(" not included)")))
        with_total = _joined(
            _text(f"The order's {self.where('order_total')} is "),
            _money_texts(total[numbers]),
            _text(" but its lines add up to "),
            _money_texts(orders.gross[numbers]),
        )
        with_total = pc.binary_join_element_wise(with_total, out, _text(""), null_handling="skip")
        with_total = _joined(
            with_total,
            _text(
                ": --amount lines sends price x quantity as written; --amount order would "
                "make them add up."
            ),
        )
        without = _joined(
            left_out,
            _text(
                " not in the line totals: --amount lines sends price x quantity as written "
                "(kept as custom data)."
            ),
        )
        messages = pc.if_else(pa.array(given[numbers]), with_total, without).to_pylist()
        columns = np.where(
            given[numbers],
            self.where("order_total"),
            np.where(shipped, self.where("shipping"), self.where("discount")),
        ).tolist()
        rows = self.rows[orders.first_row[numbers]].tolist()
        self.issues += [
            Issue(row, column, "total_differs", text[:1].upper() + text[1:], Severity.WARNING)
            for row, column, text in zip(rows, columns, messages, strict=True)
        ]
        self.notes.append(
            f"Amounts: price x quantity as written (--amount lines); {len(numbers)} "
            "order(s) have a total, shipping or discount their lines leave out "
            "(total_differs)."
        )

    # -------------------------------------------------------------------------- custom data

    def keep_as_custom_data(self, orders: _Orders) -> None:
        """The order's total (when read), shipping, discount and what was paid already (when
        not zero) as entries.

        Set on each order's first row only, so that no other row of the order disagrees.
        """
        frame = self.frame
        used = sum(1 for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX))
        discount = np.where(
            np.nan_to_num(orders.discount) != 0,
            _cents(orders.discount),
            orders.line_discount,
        )
        values = {
            "order_total": (_cents(orders.order_total), ~np.isnan(orders.order_total)),
            "shipping": (_cents(orders.shipping), np.nan_to_num(orders.shipping) != 0),
            "discount": (discount, discount != 0),
            "paid": (orders.paid, orders.paid > 0),
        }
        for key in CUSTOM_KEYS:
            cents, keep = values[key]
            column = CUSTOM_PREFIX + key
            source = {"paid": "order_total"}.get(key, key)
            if key == "discount" and "discount" not in self.columns:
                source = "line_discount"
            if not keep.any() or column in frame.columns or used >= MAX_CUSTOM_ENTRIES:
                continue
            numbers = np.flatnonzero(keep)
            at = np.zeros(len(frame), dtype=bool)
            at[orders.first_row[numbers]] = True
            blank = pc.fill_null(pa.nulls(len(frame), pa.large_string()), "")
            # first rows are in order number order: the texts line up with the mask
            text = pc.replace_with_mask(blank, pa.array(at), _money_texts(cents[numbers]))
            entries = text.to_pandas().astype("str")
            entries.index = frame.index
            frame[column] = entries
            self.columns[column] = self.where(source)
            used += 1


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _joined(*parts: Any) -> pa.Array:
    """Texts (arrays or scalars) joined element-wise, end to end."""
    return pc.binary_join_element_wise(*parts, _text(""))


def _optional(texts: pa.Array) -> pa.Array:
    """Null texts as "" (a join of arrays that are all null comes out empty in arrow)."""
    return pc.fill_null(texts, _text(""))


def _listed(parts: Sequence[pa.Array], separator: str) -> pa.Array:
    """The non-null texts of each row, joined with ``separator``."""
    pieces = [_optional(_joined(_text(separator), part)) for part in parts]
    return pc.replace_substring_regex(_joined(*pieces), f"^{re.escape(separator)}", "")


def _said(when: np.ndarray, prefix: str, texts: pa.Array) -> pa.Array:
    """``prefix`` + text where ``when``, else null (left out of a join that skips nulls)."""
    joined = _joined(_text(prefix), texts)
    return pc.if_else(pa.array(np.asarray(when, dtype=bool)), joined, pa.scalar(None, joined.type))


def _number_texts(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.large_string())


def _money_texts(cents: np.ndarray) -> pa.Array:
    """`money` for a whole array of cents, column-wise: 1700.00, -400.00."""
    cents = np.asarray(cents, dtype=np.int64)
    size = np.abs(cents)
    whole = _number_texts(size // 100)
    fraction = pc.utf8_lpad(_number_texts(size % 100), 2, "0")
    text = pc.binary_join_element_wise(whole, fraction, _text("."))
    return pc.if_else(pa.array(cents < 0), _joined(_text("-"), text), text)


def settle_amounts(mapped: MappedTable, options: AmountOptions) -> SettledAmounts:
    """Line totals that add up to what each order's customer owes; see the module docstring."""
    return _Settling(mapped, options).run()
