"""`wedocod update`: columns by header, rows checked (pandera), 100 per PUT, 422s placed, report."""

from __future__ import annotations

import csv
import json
import re
import threading
from datetime import datetime
from pathlib import Path

import pytest
import xlsxwriter

from importer.bulk import RetryPolicy
from importer.client import LeadsClient, LeadStatus
from importer.dates import load_zone
from importer.errors import MappingError
from importer.report import read_report
from importer.sandbox.rules import NEEDS_ACTION_DATE as SANDBOX_NEEDS_ACTION_DATE
from importer.sandbox.rules import STATUSES, parse_action_date
from importer.updates import (
    StatusUpdate,
    UpdateOptions,
    check_updates,
    read_update_sheet,
    update_file,
)
from schemas.updates import ACTION_DATE_PATTERN, NEEDS_ACTION_DATE
from tests.conftest import TEST_TOKEN, serve_sandbox
from tests.test_bulk import QUICK, cli, seed_leads

KNOWN = [LeadStatus(key, label) for key, label in STATUSES.items()]
CASABLANCA = load_zone("Africa/Casablanca")


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        ("reference,status,action_date", ("reference", "status", "action_date")),
        ("Référence;Statut;Date de rappel", ("Référence", "Statut", "Date de rappel")),
        ("المرجع,الحالة,موعد", ("المرجع", "الحالة", "موعد")),
        ("Lead ref,New status,Callback", ("Lead ref", "New status", "Callback")),
        ("REF,ÉTAT", ("REF", "ÉTAT", None)),
    ],
)
def test_columns_found_by_header_in_french_arabic_english(
    tmp_path: Path, header: str, columns: tuple[str, str, str | None]
) -> None:
    path = tmp_path / "maj.csv"
    sep = ";" if ";" in header else ","
    blanks = sep * (header.count(sep) - 1)
    path.write_text(f"{header}\nWDAAAAAA{sep}confirmed{blanks}\n", "utf-8")
    found = read_update_sheet(path).columns
    assert (found["reference"], found["status"], found.get("action_date")) == columns


def test_a_file_without_a_status_column_names_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("reference,colour\nWDAAAAAA,red\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"no status column.*'colour'"):
        read_update_sheet(path)


def test_rows_are_checked_statuses_resolved_and_dates_converted(tmp_path: Path) -> None:
    path = tmp_path / "maj.csv"
    path.write_text(
        "Référence;Statut;Date action;Note\n"
        "WDAAAAAA;Confirmed;;\n"  # 2: a label, any case
        "WDBBBBBB;rappeler;;\n"  # 3: not a status
        "WDCCCCCC;call_later;demain 14h;\n"  # 4: not a date
        "WDDDDDDD;CANCELLED;2025-02-01T14:00:00+01:00;\n"  # 5
        ";confirmed;;\n"  # 6: no reference
        "WDEEEEEE;Call Later;10/03/2025 14h30;\n"  # 7: day first, in Ramadan (UTC+0)
        "WDFFFFFF;cancelled;;\n"  # 8: cancelling needs a date
        "WDGGGGGG;No Reply;45689.5833333333;x\n"  # 9: an Excel serial, a label
        f"{'R' * 101};no_reply;;\n",  # 10: too long
        encoding="utf-8",
    )
    checked = check_updates(read_update_sheet(path), KNOWN, CASABLANCA)
    assert checked.updates == (
        StatusUpdate(2, "WDAAAAAA", "confirmed"),
        StatusUpdate(5, "WDDDDDDD", "cancelled", "2025-02-01T14:00:00+01:00"),
        StatusUpdate(7, "WDEEEEEE", "call_later", "2025-03-10T14:30:00+00:00"),
        StatusUpdate(9, "WDGGGGGG", "no_reply", "2025-02-01T14:00:00+01:00"),
    )
    got = sorted((i.row, i.column, i.code) for found in checked.issues.values() for i in found)
    assert got == [
        (3, "Statut", "unknown_status"),
        (4, "Date action", "invalid_date"),
        (6, "Référence", "required"),
        (8, "Date action", "required"),
        (10, "Référence", "too_long"),
    ]
    (unknown,) = checked.issues[3]
    assert "'rappeler'" in unknown.message and "wedocod statuses" in unknown.message


def test_the_schema_agrees_with_the_sandbox_on_action_dates() -> None:
    assert NEEDS_ACTION_DATE == SANDBOX_NEEDS_ACTION_DATE
    for text in ("2025-02-01T14:00:00+01:00", "2025-02-01T14:00:00-05:30"):
        assert re.match(ACTION_DATE_PATTERN, text) and parse_action_date(text) is not None


def write_update_sheet(path: Path, rows: list[tuple[str, str, datetime | str | None]]) -> None:
    """An XLSX as Excel saves it: the action dates as real date cells (number + date format)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Statuts")
    when = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    sheet.write_row(0, 0, ["Référence", "Statut", "Date action", "Note"])
    for line, (ref, status, date) in enumerate(rows, start=1):
        sheet.write_string(line, 0, ref)
        sheet.write_string(line, 1, status)
        if isinstance(date, datetime):
            sheet.write_datetime(line, 2, date, when)
        elif date:
            sheet.write_string(line, 2, date)
        sheet.write_string(line, 3, '=HYPERLINK("http://x")' if line == 1 else "")
    book.close()


def test_update_end_to_end_from_xlsx_date_cells(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 230)
        refs = [lead["reference"] for lead in leads]
        rows: list[tuple[str, str, datetime | str | None]] = [
            (ref, "Call Later", datetime(2025, 2, 1, 14, 0)) for ref in refs[:100]
        ]
        rows += [(ref, "confirmed", None) for ref in refs[100:199]]
        rows.append(("NOPE0000", "confirmed", None))  # row 201: the server's 422 (no such lead)
        rows.append((refs[199], "call_later", datetime(2025, 3, 10, 9, 30)))  # 202: Ramadan
        rows.append((refs[200], "cancelled", None))  # 203: invalid, needs a date
        rows.append((refs[201], "bogus", None))  # 204: invalid status
        rows += [(ref, "wrong", None) for ref in refs[202:230]]  # 205..232 (231 rows)
        source = tmp_path / "statuts.xlsx"
        write_update_sheet(source, rows)
        report = tmp_path / "r.xlsx"

        done = cli(running, "update", str(source), "--report", str(report), "--json")
        assert done.exit_code == 1, done.output
        summary = json.loads(done.stdout)
        assert summary == {
            "file": str(source),
            "rows": 231,
            "updated": 228,
            "invalid": 2,
            "rejected": 1,
            "failed": 0,
            "report": str(report),
        }
        # 3 batches of 100, 100, 29 (rows checked first); the 422 batch sent again without its row
        assert running.sandbox.stats["PUT /leads"] == 4

        by_ref = {lead["reference"]: lead for lead in running.sandbox.store.leads(TEST_TOKEN)}
        assert by_ref[refs[0]]["status"] == "call_later"
        assert by_ref[refs[0]]["action_date"] == "2025-02-01T14:00:00+01:00"
        assert by_ref[refs[199]]["action_date"] == "2025-03-10T09:30:00+00:00"
        assert by_ref[refs[150]]["status"] == "confirmed"
        assert by_ref[refs[200]]["status"] == "new" and by_ref[refs[201]]["status"] == "new"

        got = read_report(report)
        assert got.header == ("Row", "Outcome", "Lead id", "Errors", "Référence", "Statut",
                              "Date action", "Note")  # fmt: skip
        assert [r[0] for r in got.rows] == [str(n) for n in range(2, 233)]
        outcome = {int(r[0]): r for r in got.rows}
        assert outcome[2][1:3] == ("updated", by_ref[refs[0]]["id"])
        assert outcome[2][6] == "2025-02-01 14:00:00" and outcome[2][7] == '=HYPERLINK("http://x")'
        assert outcome[201][1] == "rejected" and "no lead with this reference" in outcome[201][3]
        assert outcome[201][3].startswith("Référence: ")
        assert outcome[203][1] == "invalid" and outcome[203][3].startswith("Date action: ")
        assert outcome[204][1] == "invalid" and "'bogus'" in outcome[204][3]
        assert got.summary["updated"] == "228" and got.summary["Time zone"] == "Africa/Casablanca"

        # the report goes back in as it is: its own columns are ignored, the rows sent again
        again = cli(running, "update", str(report), "--report", str(tmp_path / "r2.csv"), "--json")
        assert json.loads(again.stdout)["updated"] == 228
        second = read_report(tmp_path / "r2.csv")
        assert second.header[4:] == got.header[4:]
        assert second.rows[0][7] == '=HYPERLINK("http://x")'  # formula-safe: escaped, read back
        with (tmp_path / "r2.csv").open(encoding="utf-8-sig", newline="") as handle:
            raw = list(csv.reader(handle))
        assert raw[1][7] == '\'=HYPERLINK("http://x")'


def test_update_waits_out_the_rate_limit_and_finishes(tmp_path: Path) -> None:
    with serve_sandbox(rate_limit=2, rate_window=1.0) as running:
        refs = [lead["reference"] for lead in seed_leads(running, 250)]
        source = tmp_path / "u.csv"
        source.write_text(
            "reference,status\n" + "".join(f"{ref},no_reply\n" for ref in refs), encoding="utf-8"
        )
        done = cli(running, "update", str(source), "--json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["updated"] == 250
        assert (tmp_path / "u.report.xlsx").exists()  # the default: beside the input
        # 1 GET + 3 PUTs in one-second windows of 2: some answers were 429, and waited out
        assert running.sandbox.stats["PUT /leads"] > 3
        statuses = {lead["status"] for lead in running.sandbox.store.leads(TEST_TOKEN)}
        assert statuses == {"no_reply"}


def test_update_survives_5xx_and_lost_answers_or_reports_every_row_failed(tmp_path: Path) -> None:
    source = tmp_path / "u.csv"
    faults = {"fault_methods": frozenset({"PUT"}), "seed": 7}
    with serve_sandbox(error_rate=0.4, drop_rate=0.3, **faults) as running:
        refs = [lead["reference"] for lead in seed_leads(running, 150)]
        source.write_text("ref,statut\n" + "".join(f"{r},testing\n" for r in refs), "utf-8")
        policy = UpdateOptions(retry=RetryPolicy(attempts=30, backoff=0.01, max_backoff=0.02))
        with LeadsClient(running.url, TEST_TOKEN) as client:
            run = update_file(source, client, policy)
        assert run.complete and run.requests > 2
        assert {lead["status"] for lead in running.sandbox.store.leads(TEST_TOKEN)} == {"testing"}

    with serve_sandbox(error_rate=1.0, **faults) as running:
        seed_leads(running, 150)
        with LeadsClient(running.url, TEST_TOKEN) as client:
            run = update_file(source, client, UpdateOptions(retry=QUICK))
        assert run.stopped is not None and "Gave up after 3 attempts" in run.stopped
        assert run.summary.failed == 150 and run.requests == 3  # the first batch, then stop
        got = read_report(tmp_path / "u.report.xlsx")
        assert {r[1] for r in got.rows} == {"failed"}
        assert "Gave up after 3 attempts" in got.rows[0][3]
        assert "Not sent: the run stopped" in got.rows[-1][3]


def test_interrupt_finishes_the_batch_in_flight_and_reports_the_rest(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        refs = [lead["reference"] for lead in seed_leads(running, 250)]
        source = tmp_path / "u.csv"
        source.write_text("reference,status\n" + "".join(f"{r},wrong\n" for r in refs), "utf-8")
        stop = threading.Event()
        options = UpdateOptions(stop=stop, progress=lambda n: stop.set())  # Ctrl-C after one
        with LeadsClient(running.url, TEST_TOKEN) as client:
            run = update_file(source, client, options)
        assert run.interrupted and (run.summary.updated, run.summary.failed) == (100, 150)
        rows = read_report(tmp_path / "u.report.xlsx").rows
        assert [r[1] for r in rows[99:101]] == ["updated", "failed"]
        assert "interrupted" in rows[100][3]
