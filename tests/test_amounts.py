"""Tests for importer.amounts: line totals that add up to what each order's customer owes."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.amounts import (
    FLOOR,
    AmountOptions,
    SettledAmounts,
    allocate_cents,
    amount_default,
    settle_amounts,
)
from importer.model import Severity
from importer.pipeline import SourceOptions, check_file, prepare_file
from tests.test_validate import mapped_table, row

RESEARCH = Path(__file__).resolve().parents[2] / "shared" / "research" / "samples"

# ----------------------------------------------------------------------------- allocation


@st.composite
def orders(draw: st.DrawFn) -> tuple[int, list[int]]:
    """A target and line weights in cents, the target large enough for 1.00 a line."""
    weights = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(1, 200), st.integers(100, 10**7)),
            min_size=1,
            max_size=12,
        )
    )
    target = draw(st.integers(FLOOR * len(weights), 10**8))
    return target, weights


@settings(max_examples=300, deadline=None)
@given(orders())
def test_a_split_adds_up_to_the_cent_and_no_line_is_under_the_floor(
    order: tuple[int, list[int]],
) -> None:
    target, weights = order
    cents = allocate_cents(target, weights)
    assert cents is not None
    assert sum(cents) == target
    assert all(c >= FLOOR for c in cents)


@settings(max_examples=300, deadline=None)
@given(orders())
def test_a_split_is_proportional_among_the_lines_above_the_floor(
    order: tuple[int, list[int]],
) -> None:
    target, weights = order
    cents = allocate_cents(target, weights)
    assert cents is not None
    n = len(weights)
    # lines clear of the floor get the same amount per unit of weight, within the rounding
    above = [i for i, c in enumerate(cents) if c > FLOOR + n and weights[i] > 0]
    if above:
        per_unit = sum(cents[i] for i in above) / sum(weights[i] for i in above)
        assert all(abs(cents[i] - weights[i] * per_unit) <= n for i in above)
    # and a heavier line never gets less (but for the rounding)
    for i in range(n):
        for j in range(n):
            if weights[i] < weights[j]:
                assert cents[i] <= cents[j] + n


def test_a_target_too_small_for_one_unit_a_line_cannot_be_split() -> None:
    assert allocate_cents(250, [100, 100, 100]) is None
    assert allocate_cents(300, [0, 0, 0]) == [100, 100, 100]


def test_a_free_line_gets_the_floor_taken_off_the_others() -> None:
    assert allocate_cents(140000, [140000, 0]) == [139900, 100]
    assert allocate_cents(100000, [60000, 40000, 0]) == [59940, 39960, 100]


# ----------------------------------------------------------------------------- settling


def settle(records: list[dict[str, Any]], mode: str = "order", **sources: str) -> SettledAmounts:
    mapped = mapped_table(records, sources=sources or None)
    return settle_amounts(mapped, AmountOptions(mode))  # type: ignore[arg-type]


def totals(result: SettledAmounts) -> list[float]:
    return [float(t) for t in result.mapped.frame["total"].tolist()]


def codes(result: SettledAmounts) -> list[tuple[int | None, str, Severity]]:
    return [(i.row, i.code, i.severity) for i in result.issues]


def line(key: str, total: float, **more: Any) -> dict[str, Any]:
    return row(order_key=key, total=total, quantity=1, **more)


def test_an_order_discount_and_shipping_are_spread_over_the_lines() -> None:
    # Shopify #71737: lines 600 + 1400, Discount Amount 400 (not in Lineitem discount),
    # Shipping 100, Total 1700
    first = {"order_total": "1700.00", "shipping": "100.00", "discount": "400.00"}
    result = settle([line("#71737", 600.0, **first), line("#71737", 1400.0)])
    assert totals(result) == [510.0, 1190.0]
    assert sum(totals(result)) == 1700.0
    assert codes(result) == [
        (2, "amount_adjusted", Severity.WARNING),
        (3, "amount_adjusted", Severity.WARNING),
    ]
    message = result.issues[0].message
    for words in ("510.00", "600.00", "Order Total 1700.00", "order discount -400.00"):
        assert words in message
    assert "shipping +100.00" in message
    assert any("amount_adjusted" in note for note in result.notes)


def test_the_amounts_are_kept_as_custom_data_on_the_first_row() -> None:
    first = {"order_total": "1700.00", "shipping": "100.00", "discount": "400.00"}
    frame = settle([line("A", 600.0, **first), line("A", 1400.0)]).mapped.frame
    assert frame["data:order_total"].tolist() == ["1700.00", ""]
    assert frame["data:shipping"].tolist() == ["100.00", ""]
    assert frame["data:discount"].tolist() == ["400.00", ""]


def test_a_discount_given_per_line_and_per_order_is_counted_once() -> None:
    # Shopify #1087: Lineitem discount adds up to Discount Amount; Total has taxes on top
    first = {"order_total": "27.80", "discount": "4.00", "line_discount": "4.00"}
    result = settle([line("B", 20.0, **first), line("B", 10.0)])
    assert sum(totals(result)) == pytest.approx(27.80)
    # 16 and 10 share 1.80 of taxes in proportion
    assert totals(result) == [pytest.approx(17.11), pytest.approx(10.69)]
    message = result.issues[0].message
    assert "line discounts -4.00" in message and "order discount" not in message
    assert "other charges (taxes, fees...) +1.80" in message
    assert "less its line discount 4.00" in message


def test_a_discount_already_in_the_line_totals_is_not_taken_twice() -> None:
    # WooCommerce: line totals are after the coupon; the order total adds shipping only
    first = {"order_total": "280.00", "shipping": "30.00", "discount": "50.00"}
    result = settle([line("C", 150.0, **first), line("C", 100.0, **first)])
    assert totals(result) == [168.0, 112.0]
    message = result.issues[0].message
    assert "shipping +30.00" in message and "discount" not in message


def test_without_the_order_total_shipping_and_discounts_make_it() -> None:
    result = settle([line("D", 200.0, shipping="20", discount="10")])
    assert totals(result) == [210.0]
    assert "lines - discounts + shipping" in result.issues[0].message


def test_an_order_that_adds_up_already_is_left_alone() -> None:
    result = settle([line("E", 100.0, order_total="300"), line("E", 200.0)])
    assert totals(result) == [100.0, 200.0]
    assert result.issues == [] and result.notes == ()
    assert result.mapped.frame["data:order_total"].tolist() == ["300.00", ""]


def test_a_free_line_is_sent_at_one_taken_off_the_others() -> None:
    result = settle([line("F", 1400.0, order_total="1400"), line("F", 0.0)])
    assert totals(result) == [1399.0, 1.0]
    assert codes(result) == [
        (2, "amount_adjusted", Severity.WARNING),
        (3, "free_line", Severity.WARNING),
    ]
    assert "sent at 1.00" in result.issues[1].message
    # the same without any order total, and in lines mode
    for mode in ("order", "lines"):
        result = settle([line("G", 300.0), line("G", 0.0)], mode)
        assert totals(result) == [299.0, 1.0]


def test_an_order_that_cannot_give_each_line_one_is_an_error_on_every_row() -> None:
    result = settle([line("H", 0.0), line("H", 0.0), line("I", 0.5)])
    assert codes(result) == [
        (2, "total_too_small", Severity.ERROR),
        (3, "total_too_small", Severity.ERROR),
        (4, "total_too_small", Severity.ERROR),
    ]
    assert "0.00 for 2 product lines" in result.issues[0].message
    assert totals(result) == [0.0, 0.0, 0.5]


def test_lines_mode_sends_price_times_quantity_and_says_what_it_leaves_out() -> None:
    first = {"order_total": "1700.00", "shipping": "100.00", "discount": "400.00"}
    result = settle([line("J", 600.0, **first), line("J", 1400.0)], "lines")
    assert totals(result) == [600.0, 1400.0]
    assert codes(result) == [(2, "total_differs", Severity.WARNING)]
    message = result.issues[0].message
    assert "1700.00" in message and "2000.00" in message and "shipping 100.00" in message
    assert result.mapped.frame["data:shipping"].tolist() == ["100.00", ""]


def test_two_different_totals_for_one_order_are_a_conflict() -> None:
    result = settle([line("K", 100.0, order_total="150"), line("K", 50.0, order_total="160")])
    assert codes(result) == [(3, "conflict", Severity.ERROR)]
    assert "150.00 on row 2" in result.issues[0].message
    assert totals(result) == [100.0, 50.0]  # not settled: which total is right?


def test_an_unreadable_amount_is_an_error_only_when_what_to_collect_depends_on_it() -> None:
    result = settle([line("L", 100.0, order_total="abc")])
    assert codes(result) == [(2, "invalid_number", Severity.ERROR)]
    assert "'abc'" in result.issues[0].message
    result = settle([line("L", 100.0, order_total="abc")], "lines")
    assert codes(result) == [(2, "invalid_number", Severity.WARNING)]
    # the shipping is not needed when the order's total is given
    result = settle([line("M", 100.0, order_total="120", shipping="vingt")])
    assert ("invalid_number", Severity.WARNING) in [(c, s) for _, c, s in codes(result)]
    assert totals(result) == [120.0]
    result = settle([line("N", 100.0, shipping="vingt")])
    assert codes(result) == [(2, "invalid_number", Severity.ERROR)]


def test_a_table_without_order_amounts_or_free_lines_is_untouched() -> None:
    mapped = mapped_table([line("O", 100.0), line("O", 50.0), row(total=299.0)])
    result = settle_amounts(mapped, AmountOptions())
    assert result.mapped.frame is not mapped.frame
    assert result.issues == [] and result.notes == ()
    assert totals(result) == [100.0, 50.0, 299.0]


def test_preset_defaults() -> None:
    assert amount_default("shopify") == "order"
    assert amount_default("woocommerce") == "order"
    assert amount_default("youcan") == "order"
    assert amount_default("wedocod") == "lines"
    assert amount_default(None) == "order"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 50_000), min_size=1, max_size=6),  # line totals, cents
            st.integers(0, 400_000),  # the order's total, cents
        ),
        min_size=1,
        max_size=25,
    )
)
def test_every_order_adds_up_to_its_total_as_the_one_by_one_split_says(
    drawn: list[tuple[list[int], int]],
) -> None:
    records = []
    for number, (lines, total) in enumerate(drawn):
        for n, cents in enumerate(lines):
            first = {"order_total": f"{total / 100:.2f}"} if n == 0 else {}
            records.append(line(f"#{number}", cents / 100, **first))
    result = settle(records)
    sent = np.rint(np.array(totals(result)) * 100).astype(int).tolist()
    refused = {i.row for i in result.issues if i.is_error}
    by_order: dict[str, list[int]] = defaultdict(list)
    for position, record in enumerate(records):
        by_order[record["order_key"]].append(position)
    for number, (lines, total) in enumerate(drawn):
        positions = by_order[f"#{number}"]
        expected = allocate_cents(total, lines)
        if expected is None:
            assert all(p + 2 in refused for p in positions)
            continue
        mine = [sent[p] for p in positions]
        assert sum(mine) == total and min(mine) >= FLOOR
        assert mine == expected or _close(mine, expected)


def _close(mine: list[int], expected: list[int]) -> bool:
    """The column-wise split and the one-by-one one may round a cent apart."""
    return all(abs(a - b) <= len(mine) for a, b in zip(mine, expected, strict=True))


# ----------------------------------------------------------------------------- paid orders

#: What the shopify preset reads: Outstanding Balance is collected, Total kept as custom data.
PAID = {"order_total": "Outstanding Balance", "data:order_total": "Total"}


def paid_line(key: str, total: float, balance: str = "", order_total: str = "") -> dict[str, Any]:
    """A line of a Shopify order; the order's Total and Outstanding Balance on its first."""
    first = {"order_total": balance, "data:order_total": order_total} if order_total else {}
    return line(key, total, **first)


def test_an_order_paid_in_full_is_not_sent_and_says_why_on_every_row() -> None:
    result = settle([paid_line("#1074", 41.94, "0.00", "54.53"), paid_line("#1074", 10.00)], **PAID)
    assert codes(result) == [
        (2, "nothing_to_collect", Severity.ERROR),
        (3, "nothing_to_collect", Severity.ERROR),
    ]
    assert all(i.column == "Outstanding Balance" for i in result.issues)
    message = result.issues[0].message
    for words in (
        "Order #1074 is already paid",
        "Outstanding Balance 0.00",
        "Total 54.53",
        "nothing for the courier to collect",
        "--amount lines",
        "51.94",  # price x quantity, what --amount lines would collect
    ):
        assert words in message, words
    assert "total_too_small" not in {c for _, c, _ in codes(result)}
    assert totals(result) == [41.94, 10.0]  # not settled: it is not sent
    assert any("nothing_to_collect" in note for note in result.notes)


def test_a_refund_owed_is_nothing_to_collect_too() -> None:
    result = settle([paid_line("R", 50.0, "-5.00", "50.00")], **PAID)
    assert codes(result) == [(2, "nothing_to_collect", Severity.ERROR)]


def test_a_partly_paid_order_collects_its_balance_spread_over_its_lines() -> None:
    # Shopify #1058: "paid" yet 11.29 outstanding of its 220.06 (taxes 35.30 on 184.76)
    prices = [64.80, 72.00, 8.49, 9.99, 14.99, 14.49]
    records = [paid_line("#1058", prices[0], "11.29", "220.06")]
    records += [paid_line("#1058", price) for price in prices[1:]]
    result = settle(records, **PAID)
    sent = np.rint(np.array(totals(result)) * 100).astype(int)
    assert sent.sum() == 1129 and sent.min() >= FLOOR
    warnings = [i for i in result.issues if i.code == "partly_paid"]
    assert [(i.row, i.column, i.severity) for i in warnings] == [
        (2, "Outstanding Balance", Severity.WARNING)
    ]
    assert warnings[0].message == (
        "Order #1058 is partly paid: the courier collects its Outstanding Balance 11.29, "
        "not its Total 220.06 (208.77 paid already)."
    )
    # the lines say what made the difference: the payment, then the taxes
    adjusted = next(i for i in result.issues if i.code == "amount_adjusted").message
    assert "paid already -208.77, other charges (taxes, fees...) +35.30" in adjusted
    frame = result.mapped.frame
    assert frame["data:paid"].tolist() == ["208.77"] + [""] * 5
    assert frame["data:order_total"].tolist()[0] == "220.06"  # the Total, as the file says
    assert any("partly_paid" in note for note in result.notes)


def test_an_order_owing_its_whole_total_is_a_plain_cod_order() -> None:
    result = settle([paid_line("#71737", 600.0, "1700.00", "1700.00"), line("#71737", 1400.0)],
                    **PAID)  # fmt: skip
    assert totals(result) == [510.0, 1190.0]
    assert {c for _, c, _ in codes(result)} == {"amount_adjusted"}
    assert "data:paid" not in result.mapped.frame.columns


def test_paid_is_only_said_when_the_total_comes_from_another_column() -> None:
    # order_total and data:order_total from one column: a 0.00 total is what it always was
    result = settle(
        [paid_line("A", 10.0, "0.00", "0.00")],
        order_total="Total",
        **{"data:order_total": "Total"},
    )
    assert codes(result) == [(2, "total_too_small", Severity.ERROR)]
    # an order costing nothing is not "paid"; nor is one whose Total cannot be read
    result = settle([paid_line("B", 10.0, "0.00", "0.00")], **PAID)
    assert codes(result) == [(2, "total_too_small", Severity.ERROR)]
    result = settle([paid_line("C", 10.0, "8.00", "n/a")], **PAID)
    assert totals(result) == [8.0]
    assert [c for _, c, _ in codes(result)] == ["amount_adjusted"]


def test_a_balance_too_small_for_its_lines_is_still_total_too_small() -> None:
    result = settle([paid_line("D", 30.0, "1.50", "60.00"), paid_line("D", 30.0)], **PAID)
    assert codes(result) == [
        (2, "total_too_small", Severity.ERROR),
        (3, "total_too_small", Severity.ERROR),
    ]
    assert "Outstanding Balance comes to 1.50 for 2 product lines" in result.issues[0].message


def test_lines_mode_sends_paid_orders_with_a_warning_instead() -> None:
    records = [
        paid_line("P", 40.0, "0.00", "54.53"),
        paid_line("P", 10.0),
        paid_line("Q", 100.0, "20.00", "120.00"),
        paid_line("S", 100.0, "120.00", "120.00"),
    ]
    result = settle(records, "lines", **PAID)
    assert totals(result) == [40.0, 10.0, 100.0, 100.0]
    assert codes(result) == [
        (2, "nothing_to_collect", Severity.WARNING),
        (4, "partly_paid", Severity.WARNING),
        (5, "total_differs", Severity.WARNING),  # unpaid: as before
    ]
    assert "yet --amount lines sends price x quantity (50.00)" in result.issues[0].message
    assert "--amount order collects its Outstanding Balance" in result.issues[1].message


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 50_000), min_size=1, max_size=6),
    st.integers(1, 400_000),
    st.integers(0, 400_000),
)
def test_a_paid_order_collects_its_balance_to_the_cent_or_is_refused(
    lines: list[int], total: int, balance: int
) -> None:
    balance = min(balance, total)
    records = [paid_line("X", lines[0] / 100, f"{balance / 100:.2f}", f"{total / 100:.2f}")]
    records += [paid_line("X", cents / 100) for cents in lines[1:]]
    result = settle(records, **PAID)
    found = {c for _, c, _ in codes(result)}
    if balance == 0:
        assert found == {"nothing_to_collect"}
        return
    if balance < FLOOR * len(lines):
        assert found == {"total_too_small"}
        return
    sent = np.rint(np.array(totals(result)) * 100).astype(int)
    assert sent.sum() == balance and sent.min() >= FLOOR
    assert ("partly_paid" in found) == (balance < total)
    if balance < total:
        paid = result.mapped.frame["data:paid"].iloc[0]
        assert round(float(paid) * 100) + balance == total


# ----------------------------------------------------------------------------- end to end

SHOPIFY = [
    "Name", "Financial Status", "Created at", "Subtotal", "Shipping", "Total",
    "Discount Amount", "Outstanding Balance", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem sku", "Lineitem discount", "Billing Name", "Billing Address1",
    "Billing City", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Address1",
    "Shipping City", "Shipping Country", "Shipping Phone", "Phone",
]  # fmt: skip


def shopify_order(
    name: str, status: str, total: str, balance: str, prices: list[str], shipping: str = "0.00"
) -> list[dict[str, str]]:
    """A Shopify order's rows: order fields on the first, the others continuation rows."""
    rows = []
    for n, price in enumerate(prices):
        row = {
            "Name": name,
            "Created at": "2026-04-06 01:48:03 +0100",
            "Lineitem quantity": "1",
            "Lineitem name": f"Product {n}",
            "Lineitem price": price,
            "Lineitem sku": f"SKU-00{n + 1}",
            "Lineitem discount": "0.00",
        }
        if n == 0:
            row.update(
                {
                    "Financial Status": status, "Subtotal": price, "Shipping": shipping,
                    "Total": total, "Discount Amount": "0.00", "Outstanding Balance": balance,
                    "Shipping Name": "Salma Idrissi", "Shipping Address1": "12 Rue Atlas",
                    "Shipping City": "Rabat", "Shipping Country": "MA",
                    "Shipping Phone": "0612345678",
                }
            )  # fmt: skip
        rows.append(row)
    return rows


def write_shopify(path: Path, rows: list[dict[str, str]], header: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def outcomes(path: Path, **options: Any) -> dict[int, tuple[str, set[str]]]:
    """Each row's outcome and issue codes, from a check of the whole file."""
    result = check_file(path, SourceOptions(**options), write=False)
    return {o.row: (str(o.outcome), {i.code for i in o.errors}) for o in result.rows}


def test_a_shopify_export_sends_what_is_owed_and_holds_paid_orders_back(tmp_path: Path) -> None:
    rows = [
        *shopify_order("#2001", "pending", "1500.00", "1500.00", ["1400.00"], "100.00"),
        *shopify_order("#2002", "paid", "530.00", "0.00", ["250.00", "250.00"], "30.00"),
        *shopify_order("#2003", "partially_paid", "530.00", "200.00", ["300.00", "200.00"]),
    ]
    path = write_shopify(tmp_path / "orders_export.csv", rows, SHOPIFY)
    found = outcomes(path)
    assert found[2] == ("valid", {"amount_adjusted"})
    assert found[3] == found[4] == ("invalid", {"nothing_to_collect"})
    assert found[5][0] == found[6][0] == "valid"
    assert found[5][1] == {"partly_paid", "amount_adjusted"}
    leads = {lead.key: lead for lead in prepare_file(path, SourceOptions()).leads}
    assert set(leads) == {"order:#2001", "order:#2003"}
    assert [p.total for p in leads["order:#2001"].products] == [1500.0]
    assert [p.total for p in leads["order:#2003"].products] == [120.0, 80.0]
    entries = {e.key: e.value for e in leads["order:#2003"].data}
    assert (entries["order_total"], entries["paid"]) == ("530.00", "330.00")

    # the same file exported without Outstanding Balance: the Total is collected, as before
    older = write_shopify(
        tmp_path / "older.csv", rows, [c for c in SHOPIFY if c != "Outstanding Balance"]
    )
    found = outcomes(older)
    assert {state for state, _ in found.values()} == {"valid"}
    assert not {"nothing_to_collect", "partly_paid"} & set().union(*(c for _, c in found.values()))
    leads = {lead.key: lead for lead in prepare_file(older, SourceOptions()).leads}
    assert [p.total for p in leads["order:#2002"].products] == [265.0, 265.0]


def test_the_real_multiline_export_holds_back_its_paid_orders() -> None:
    path = RESEARCH / "shopify_multiline_ca_REDACTED.csv"
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    with path.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    first = {line["Name"]: line for line in lines if line["Total"]}
    paid = {n for n, line in first.items() if float(line["Outstanding Balance"]) == 0}
    partly = {
        n
        for n, line in first.items()
        if 0 < float(line["Outstanding Balance"]) < float(line["Total"])
    }
    assert len(paid) == 18 and partly == {"#1058", "#1095"}
    found = outcomes(path)
    for number, line in enumerate(lines, start=2):
        codes_here = found[number][1]
        assert ("nothing_to_collect" in codes_here) == (line["Name"] in paid), number
        assert "total_too_small" not in codes_here, number
        is_first = first.get(line["Name"]) is line
        assert ("partly_paid" in codes_here) == (is_first and line["Name"] in partly), number


def test_the_real_cod_export_owes_every_total() -> None:
    path = RESEARCH / "shopify_cod_bd_REDACTED.csv"
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    found = outcomes(path)
    assert not {"nothing_to_collect", "partly_paid"} & set().union(*(c for _, c in found.values()))
