"""The pipeline's own work: every row an outcome, server complaints placed on rows and columns."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from importer.model import (
    FieldError,
    Issue,
    IssueCount,
    Lead,
    LeadOutcome,
    Outcome,
    Product,
    RowOutcomes,
    Severity,
    Summary,
)
from importer.pipeline import (
    LeadRows,
    Prepared,
    SourceOptions,
    _row_outcomes,
    _server_issues,
    _strictly,
    _with_issue_counts,
    check_file,
    prepare_file,
)
from importer.report import write_report

HEADER = "order_id,full_name,phone,city,address,sku,quantity,total\n"


def _lead(rows: tuple[int, ...]) -> Lead:
    return Lead(
        key="order:A-1",
        rows=rows,
        full_name="Ahmed El Fassi",
        phone="0612345678",
        city="Casablanca",
        address="123 Rue Atlas",
        area=None,
        products=tuple(Product(f"SKU-00{i + 1}", 1, 100.0) for i in range(len(rows))),
    )


def test_check_gives_every_row_an_outcome_in_source_order(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(
        HEADER
        + "A-1,Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,1,100\n"
        + "A-1,,,,,SKU-002,2,50\n"  # a continuation row
        + "A-2,Al,0612345678,Rabat,45 Avenue Hassan II,SKU-001,1,100\n"  # bad name
        + "A-3,Salma Idrissi,0698765432,Rabat,45 Avenue Hassan II,SKU-001,1,100\n"
        + "A-3,Salma Idrissi,0698765432,Rabat,45 Avenue Hassan II,SKU-002,0,100\n",
        encoding="utf-8",
    )
    result = check_file(src, SourceOptions(), tmp_path / "r.csv")
    rows = result.rows
    assert isinstance(rows, RowOutcomes)
    assert [r.row for r in rows] == [2, 3, 4, 5, 6]
    assert [r.outcome for r in rows] == [Outcome.VALID] * 2 + [Outcome.INVALID] * 3
    assert rows[2].errors[0].column == "full_name"
    # row 5 is clean, but its order has a bad row 6: it says so
    assert rows[3].errors[0].code == "order_invalid" and "row 6" in rows[3].errors[0].message
    assert rows[4].columns == frozenset({"quantity"})
    s = result.summary
    assert (s.rows, s.leads, s.valid, s.invalid) == (5, 3, 1, 2)
    assert not result.complete


def test_server_errors_land_on_the_product_row_and_its_column() -> None:
    lead = _lead((7, 8, 9))
    outcome = LeadOutcome(
        lead.key,
        Outcome.REJECTED,
        errors=(
            FieldError("products.1.sku", "The selected data.0.products.1.sku is invalid."),
            FieldError("phone", "The phone field is required."),
        ),
    )
    placed = _server_issues(lead, outcome, {"sku": "Lineitem sku", "phone": "Shipping Phone"})
    assert [(i.column, i.code) for i in placed[8]] == [
        ("Lineitem sku", "rejected"),
        ("Shipping Phone", "rejected"),
    ]
    assert [i.column for i in placed[7]] == ["Shipping Phone"]
    assert [i.column for i in placed[9]] == ["Shipping Phone"]


def test_a_message_without_fields_is_on_every_row_of_the_lead() -> None:
    lead = _lead((3, 4))
    failed = LeadOutcome(lead.key, Outcome.FAILED, message="The server could not process it.")
    placed = _server_issues(lead, failed, {})
    assert set(placed) == {3, 4}
    assert placed[3][0].message == "The server could not process it."


def test_a_csv_report_comes_back_in_with_its_escapes_taken_off(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(
        HEADER + "A-1,=1+1 Ahmed,0612345678,Casablanca,-12 Rue Atlas,SKU-001,1,100\n",
        encoding="utf-8",
    )
    result = check_file(src, SourceOptions(), tmp_path / "orders.report.csv")
    with (tmp_path / "orders.report.csv").open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[1][written[0].index("full_name")] == "'=1+1 Ahmed"  # escaped on the way out
    again = prepare_file(tmp_path / "orders.report.csv", SourceOptions())
    assert list(again.table.frame.columns) == HEADER.strip().split(",")
    assert again.leads[0].full_name == "=1+1 Ahmed"  # and plain again on the way in
    assert again.leads[0].address == "-12 Rue Atlas"
    assert result.summary.valid == 1


def test_report_path_is_what_was_written(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text(
        HEADER + "A-1,Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,1,100\n",
        encoding="utf-8",
    )
    result = check_file(src, SourceOptions())
    assert result.summary.report == str(tmp_path / "orders.report.xlsx")
    assert Path(result.summary.report).exists()
    # and writing a report from the result again gives the same rows
    prepared = prepare_file(src, SourceOptions())
    write_report(tmp_path / "again.csv", prepared.table, result.rows, result.summary)
    assert (tmp_path / "again.csv").read_text(encoding="utf-8-sig").count("\n") == 2


def _prepared_with(tmp_path: Path, issues: dict[int, tuple[Issue, ...]]) -> Prepared:
    src = tmp_path / "orders.csv"
    src.write_text(
        HEADER
        + "A-1,Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,1,100\n"
        + "A-1,,,,,SKU-002,2,50\n"
        + "A-2,Salma Idrissi,0698765432,Rabat,45 Avenue Hassan II,SKU-001,1,100\n",
        encoding="utf-8",
    )
    return replace(prepare_file(src, SourceOptions()), issues=issues)


def _all_valid(prepared: Prepared) -> LeadRows:
    """What a check places: the rows of every clean order, valid."""
    return LeadRows.all_with(prepared.grouped.kept_rows(), Outcome.VALID)


def test_a_row_with_warnings_keeps_its_outcome_and_says_what_was_noticed(tmp_path: Path) -> None:
    noticed = Issue(3, "total", "line_total_adjusted", "50 -> 45", Severity.WARNING)
    prepared = _prepared_with(tmp_path, {3: (noticed,)})
    rows = _row_outcomes(prepared, _all_valid(prepared))
    assert [r.outcome for r in rows] == [Outcome.VALID] * 3
    assert rows[1].errors == (noticed,) and rows[1].columns == frozenset({"total"})
    summary = _with_issue_counts(Summary("orders.csv", 3, 2, valid=2), rows)
    assert summary.warnings == 1
    assert summary.issues == (IssueCount(Severity.WARNING, "total", "line_total_adjusted", 1),)
    assert summary.to_dict()["issues"] == [
        {"severity": "warning", "column": "total", "code": "line_total_adjusted", "rows": 1}
    ]


def test_an_error_beside_a_warning_holds_the_row_back(tmp_path: Path) -> None:
    noticed = Issue(4, "phone", "phone_not_listed", "possible", Severity.WARNING)
    wrong = Issue(4, "city", "too_short", "too short")
    prepared = _prepared_with(tmp_path, {4: (noticed, wrong)})
    rows = _row_outcomes(prepared, _all_valid(prepared))
    assert rows[2].outcome == Outcome.INVALID
    assert rows[2].columns == frozenset({"phone", "city"})


def test_strict_makes_every_warning_an_error() -> None:
    issues = [Issue(2, "phone", "x", "m", Severity.WARNING), Issue(3, "city", "y", "n")]
    assert _strictly(issues, strict=False) == issues
    assert [i.severity for i in _strictly(issues, strict=True)] == [Severity.ERROR] * 2


def test_issue_counts_put_errors_first_and_consequences_last(tmp_path: Path) -> None:
    prepared = _prepared_with(
        tmp_path,
        {
            2: (Issue(2, None, "order_invalid", "row 3"),),
            3: (Issue(3, "sku", "required", "a"), Issue(3, "phone", "w", "b", Severity.WARNING)),
            4: (Issue(4, "phone", "w", "c", Severity.WARNING),),
        },
    )
    rows = _row_outcomes(prepared, _all_valid(prepared))
    summary = _with_issue_counts(Summary("orders.csv", 3, 2), rows)
    assert [(c.code, c.rows) for c in summary.issues] == [
        ("required", 1),
        ("w", 2),
        ("order_invalid", 1),
    ]
    assert summary.warnings == 2


# ------------------------------------------------------------------ packed products, notes


def test_a_row_listing_several_products_is_one_report_line_and_says_things_once(
    tmp_path: Path,
) -> None:
    src = tmp_path / "sheet.csv"
    src.write_text(
        "Nom Client,Téléphone,Ville,Adresse,Produits,Sous-total\n"
        "Youssef El Amrani,0612457893,Rabat,12 Rue X Agdal,"
        '"Argan Oil 100ml x2, Black Soap Beldi 250g x1",357\n'
        "Salma Chraibi,0671122334,Agadir,8 Rue Hassan II,"
        '"Argan Oil 100ml x1, Savon Inconnu x1",trois cents\n',
        encoding="utf-8",
    )
    catalog = Path(__file__).resolve().parents[1] / "samples" / "skus.csv"
    result = check_file(src, SourceOptions(catalog_file=catalog), tmp_path / "r.csv")
    assert [(o.row, o.outcome) for o in result.rows] == [
        (2, Outcome.VALID),
        (3, Outcome.INVALID),
    ]
    bad = result.rows[1].errors
    codes = [i.code for i in bad]
    assert len(codes) == len(set((i.code, i.column, i.message) for i in bad))  # nothing twice
    assert codes.count("invalid_number") == 1  # the total shared by two lines: said once
    assert [i.code for i in result.rows[0].errors] == ["shared_total"]
    notes = result.summary.notes
    assert any("'Produits' lists several products" in n for n in notes)
    unknown = [n for n in notes if "not in your catalog" in n]
    assert len(unknown) == 1 and "1 product(s) on 1 row(s)" in unknown[0]
    assert "wedocod products" in unknown[0]
    assert result.summary.leads == 2 and result.summary.rows == 2
