"""Status updates from a sheet: find the columns, check the rows, send them 100 at a time, report.

```
read_update_sheet(path, sheet)            -> UpdateSheet      (the file, its three columns)
check_updates(sheet, statuses, zone)      -> CheckedUpdates   (StatusUpdate values + Issues)
send_updates(client, updates, ...)        -> SentUpdates      (an ItemOutcome per row sent)
update_file(path, client, options)        -> UpdateRun        (all of it, and the report)
```
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from importer.bulk import (
    GaveUp,
    Interrupted,
    ItemOutcome,
    RetryPolicy,
    Sender,
    chunks,
    errors_by_item,
)
from importer.client import LeadsClient, LeadStatus, ValidationFailed
from importer.dates import DEFAULT_TIMEZONE, BadDate, load_zone, to_action_date
from importer.errors import ApiError, MappingError
from importer.mapping import normalize_header
from importer.model import Issue
from importer.read import Table, read_table
from importer.report import (
    ACTION_REPORT_COLUMNS,
    ActionReport,
    default_report_path,
    text_from_csv_cell,
    write_action_report,
)
from schemas.updates import CHECK_CODES, status_update_schema

__all__ = [
    "LEGEND",
    "CheckedUpdates",
    "SentUpdates",
    "StatusUpdate",
    "UpdateOptions",
    "UpdateRun",
    "UpdateSheet",
    "UpdateSummary",
    "check_updates",
    "read_update_sheet",
    "send_updates",
    "update_file",
]

UPDATED, INVALID, REJECTED, FAILED = "updated", "invalid", "rejected", "failed"

#: Header spellings per field, best first (compared as `normalize_header` makes them).
COLUMN_NAMES: Mapping[str, tuple[str, ...]] = {
    "reference": (
        "reference", "ref", "lead reference", "lead ref", "reference lead", "ref lead",
        "référence", "réf", "référence du lead", "المرجع", "مرجع", "رقم المرجع",
    ),
    "status": (
        "status", "new status", "lead status", "statut", "nouveau statut", "état", "etat",
        "الحالة", "حالة", "الحالة الجديدة",
    ),
    "action_date": (
        "action date", "action_date", "date action", "date d'action", "date de l'action",
        "date de rappel", "date rappel", "rappel", "callback", "callback date", "call back",
        "recall date", "تاريخ الإجراء", "تاريخ الاجراء", "موعد", "موعد الاتصال", "تاريخ",
        "date",
    ),
}  # fmt: skip
FIELDS = tuple(COLUMN_NAMES)

#: The Summary sheet's legend: each outcome, what it means and what to do.
LEGEND: Mapping[str, str] = {
    UPDATED: "The lead's status (and action date) were changed on WedoCOD. 'Lead id' is its "
    "id, which `wedocod delete` takes.",
    INVALID: "Our checks refused the row; nothing was sent for it. Fix the red cells and run "
    "`wedocod update` on this report again.",
    REJECTED: "The server refused the row (its rules, or no such lead): the red cells and "
    "'Errors' say why. Fix them and run again.",
    FAILED: "Not done: the server kept failing, or the run stopped before this row. Run the "
    "update again later: setting a status twice is harmless.",
}


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One row to send: ``leads.*`` of ``PUT /leads`` (status a key, date ISO 8601)."""

    row: int
    reference: str
    status: str
    action_date: str | None = None

    def payload(self) -> dict[str, str]:
        item = {"reference": self.reference, "status": self.status}
        if self.action_date:
            item["action_date"] = self.action_date
        return item


@dataclass(frozen=True)
class UpdateSheet:
    """An update file read: the table (an earlier report's own columns dropped) and, per
    field (reference, status, action_date), the header of its column."""

    table: Table
    columns: dict[str, str]

    def header(self, field_name: str) -> str | None:
        return self.columns.get(field_name)


@dataclass(frozen=True)
class CheckedUpdates:
    """The rows that passed the checks, and the issues of those that did not, by row."""

    sheet: UpdateSheet
    updates: tuple[StatusUpdate, ...]
    issues: dict[int, tuple[Issue, ...]]


@dataclass(frozen=True)
class SentUpdates:
    """What the server made of the rows sent; ``stopped`` says why the run ended early."""

    outcomes: dict[int, ItemOutcome]
    stopped: str | None = None
    interrupted: bool = False
    requests: int = 0
    rate_limited: int = 0


@dataclass(frozen=True)
class UpdateOptions:
    sheet: str | None = None
    zone: tzinfo = field(default_factory=lambda: load_zone(DEFAULT_TIMEZONE))
    report: Path | None = None  # default: <input>.report.xlsx beside the input
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event | None = None  # set on Ctrl-C / SIGTERM: no new batch is started
    progress: Callable[[int], None] | None = None  # called with the rows settled
    on_checked: Callable[[CheckedUpdates], None] | None = None  # before anything is sent


@dataclass(frozen=True)
class UpdateSummary:
    """The counts of `--json` and the Summary sheet (rows: each row is one update)."""

    file: str
    rows: int
    updated: int = 0
    invalid: int = 0
    rejected: int = 0
    failed: int = 0
    report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "updated": self.updated,
            "invalid": self.invalid,
            "rejected": self.rejected,
            "failed": self.failed,
            "report": self.report,
        }


@dataclass(frozen=True)
class UpdateRun:
    summary: UpdateSummary
    rows: tuple[ItemOutcome, ...]
    stopped: str | None = None  # why the run ended early (the API, or "interrupted")
    interrupted: bool = False
    requests: int = 0
    rate_limited: int = 0

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.summary.updated == self.summary.rows


# --- reading ----------------------------------------------------------------------------------


def read_update_sheet(path: Path, sheet: str | None = None) -> UpdateSheet:
    """Read an update file and find its reference, status and action date columns.

    Raises ReadError (unreadable) or MappingError (no reference or status column).
    """
    table = _without_report_columns(read_table(path, sheet))
    return UpdateSheet(table, find_columns(table.frame.columns, path))


def _without_report_columns(table: Table) -> Table:
    """An update report fed back in: its own columns are not the user's (CSV escapes undone)."""
    headers = tuple(str(h) for h in table.frame.columns[: len(ACTION_REPORT_COLUMNS)])
    if headers != ACTION_REPORT_COLUMNS:
        return table
    frame = table.frame.drop(columns=list(ACTION_REPORT_COLUMNS))
    if table.sheet is None:
        frame = frame.apply(lambda column: column.map(text_from_csv_cell))
    return replace(table, frame=frame)


def find_columns(headers: Iterable[Any], path: Path) -> dict[str, str]:
    """Field -> header, by the spellings of COLUMN_NAMES (case, accents, punctuation aside)."""
    by_name: dict[str, str] = {}
    for header in headers:
        by_name.setdefault(normalize_header(str(header)), str(header))
    found: dict[str, str] = {}
    for name in FIELDS:
        for spelling in COLUMN_NAMES[name]:
            header = by_name.get(normalize_header(spelling))
            if header is not None and header not in found.values():
                found[name] = header
                break
    missing = [name for name in ("reference", "status") if name not in found]
    if missing:
        listed = ", ".join(repr(str(h)) for h in headers) or "none"
        raise MappingError(
            f"{path}: no {' and no '.join(missing)} column. An update file needs a "
            "`reference` column (Référence, المرجع) and a `status` column (Statut, الحالة), "
            f"and may have an `action_date` column (Date action, موعد). Columns found: {listed}"
        )
    return found


# --- checking ---------------------------------------------------------------------------------


def status_key(text: str) -> str:
    """A status as compared: case, spaces, dashes and underscores aside (`Call Later`)."""
    return re.sub(r"[\s_\-]+", "_", text.strip().casefold())


def check_updates(
    sheet: UpdateSheet, statuses: Sequence[LeadStatus], zone: tzinfo
) -> CheckedUpdates:
    """Resolve statuses (key or label), convert action dates, run the schema: rows and issues."""
    frame = sheet.table.frame
    rows = [int(r) for r in frame.index.tolist()]
    lookup: dict[str, str] = {}
    for status in statuses:
        lookup.setdefault(status_key(status.label), status.key.lower())
    for status in statuses:  # a key wins over another status's label
        lookup[status_key(status.key)] = status.key.lower()

    def column(name: str) -> list[str]:
        header = sheet.header(name)
        if header is None:
            return [""] * len(frame)
        return [str(v).strip() for v in frame[header].tolist()]

    references, raw_statuses = column("reference"), column("status")
    raw_dates = column("action_date")
    issues: dict[int, list[Issue]] = {}
    for found in sheet.table.issues:  # what reading noticed (a garbled line...): not sent
        if found.is_error and found.row is not None:
            issues.setdefault(found.row, []).append(found)
    keys: list[str | None] = []
    dates: list[str | None] = []
    for row, raw_status, raw_date in zip(rows, raw_statuses, raw_dates, strict=True):
        keys.append(lookup.get(status_key(raw_status), raw_status) if raw_status else None)
        if not raw_date:
            dates.append(None)
            continue
        converted = to_action_date(raw_date, zone)
        if isinstance(converted, BadDate):
            issues.setdefault(row, []).append(
                Issue(row, sheet.header("action_date"), "invalid_date", converted.message)
            )
            dates.append(None)
        else:
            dates.append(converted)
    checked = pd.DataFrame(
        {
            "reference": pd.array([r or None for r in references], dtype="str"),
            "status": pd.array(keys, dtype="str"),
            "action_date": pd.array(dates, dtype="str"),
        },
        index=pd.Index(rows, name="row"),
    )
    schema = status_update_schema(s.key for s in statuses)
    try:
        schema.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as err:
        by_row = dict(zip(rows, raw_statuses, strict=True))
        for issue in _schema_issues(err.failure_cases, sheet, by_row, statuses):
            assert issue.row is not None
            already = issues.setdefault(issue.row, [])
            if not any(i.column == issue.column for i in already):
                already.append(issue)
    updates = tuple(
        StatusUpdate(row, ref, key, date)
        for row, ref, key, date in zip(rows, references, keys, dates, strict=True)
        if row not in issues and key is not None
    )
    return CheckedUpdates(sheet, updates, {row: tuple(found) for row, found in issues.items()})


def _schema_issues(
    failures: pd.DataFrame,
    sheet: UpdateSheet,
    raw_statuses: dict[int, str],
    statuses: Sequence[LeadStatus],
) -> Iterable[Issue]:
    shown = ", ".join(s.key for s in statuses[:6]) + (", ..." if len(statuses) > 6 else "")
    for case in failures.to_dict("records"):
        if case["index"] is None or pd.isna(case["index"]):
            continue
        row = int(case["index"])
        check = str(case["check"]).split("(", 1)[0]
        code = CHECK_CODES.get(check, "invalid")
        name = "action_date" if check == "action_date_required" else str(case["column"])
        header = sheet.header(name)
        message = _message(name, check, raw_statuses.get(row, ""), shown, header)
        yield Issue(row, header, code, message)


def _message(name: str, check: str, raw_status: str, shown: str, header: str | None) -> str:
    if name == "reference":
        if check == "str_length":
            return "The reference must be between 1 and 100 characters."
        return "The reference is empty: each row needs its lead's reference."
    if name == "status":
        if check == "isin":
            return (
                f"'{raw_status}' is not a status of this account: use a key or a label from "
                f"`wedocod statuses` ({shown})."
            )
        return "The status is empty."
    if check == "action_date_required":
        where = "" if header else " (the file has no action date column: add `action_date`)"
        return (
            f"The action date is required for status {status_key(raw_status)}{where}: a date "
            "cell, 2025-02-01 14:00 or 01/02/2025 14:00."
        )
    return "The action date must be ISO 8601 with an offset (2025-02-01T14:00:00+01:00)."


# --- sending ----------------------------------------------------------------------------------


def send_updates(
    client: LeadsClient,
    updates: Sequence[StatusUpdate],
    columns: Mapping[str, str],
    options: UpdateOptions,
) -> SentUpdates:
    """PUT the updates 100 at a time. A 422 names the rows it refuses: they are `rejected`
    and the rest of the batch goes again (nothing of a 422 batch is applied). 429, 5xx and
    lost answers are sent again (`Sender`). A batch that cannot be sent, a refused token or
    Ctrl-C ends the run: the rows not done are `failed`, saying why."""
    sender = Sender(options.retry, options.stop)
    outcomes: dict[int, ItemOutcome] = {}
    stopped: str | None = None
    interrupted = False
    for batch in chunks(updates):
        if options.stop is not None and options.stop.is_set():
            stopped, interrupted = "interrupted", True
            break
        try:
            _send_batch(client, sender, batch, columns, outcomes)
        except Interrupted as err:
            stopped, interrupted = "interrupted", True
            maybe = "it may have been applied" if err.doubtful else "it was not applied"
            message = f"Interrupted before this row was settled: {maybe}. Run the update again."
            _fail(outcomes, batch, message)
            break
        except ApiError as err:  # retries ran out, the token refused, an unreadable answer
            stopped = str(err)
            doubtful = err.doubtful if isinstance(err, GaveUp) else err.in_doubt
            maybe = "It may have been applied" if doubtful else "It was not applied"
            _fail(outcomes, batch, f"{err}. {maybe}: run the update again (safe).")
            break
        if options.progress is not None:
            options.progress(len(batch))
    if stopped is not None:
        why = "interrupted" if interrupted else f"the run stopped ({stopped})"
        _fail(outcomes, updates, f"Not sent: {why}. Run the update again (safe).")
    return SentUpdates(outcomes, stopped, interrupted, sender.requests, sender.rate_limited)


def _send_batch(
    client: LeadsClient,
    sender: Sender,
    batch: Sequence[StatusUpdate],
    columns: Mapping[str, str],
    done: dict[int, ItemOutcome],
) -> None:
    """Settle one batch's rows into `done` (the run's outcomes: kept if this raises)."""
    pending = list(batch)
    while pending:
        if len(pending) < len(batch):
            sender.check()  # Ctrl-C: the rest of a 422 batch is not sent again
        try:
            answer = sender.send(partial(client.update_leads, [u.payload() for u in pending]))
        except ValidationFailed as err:
            placed = errors_by_item(err.fields, "leads", len(pending))
            if placed is None:  # about the request, not a row: every row is refused
                messages = [m for ms in err.fields.values() for m in ms] or [str(err)]
                for update in pending:
                    issues = tuple(Issue(update.row, None, "rejected", m) for m in messages)
                    done[update.row] = ItemOutcome(update.row, REJECTED, errors=issues)
                return
            for index, complaints in placed.items():
                update = pending[index]
                issues = tuple(
                    Issue(update.row, columns.get(name), "rejected", _readable(name, message))
                    for name, message in complaints
                )
                faulty = frozenset(i.column for i in issues if i.column)
                done[update.row] = ItemOutcome(update.row, REJECTED, errors=issues, columns=faulty)
            pending = [u for i, u in enumerate(pending) if i not in placed]
            continue
        ids = {str(item.get("reference")): str(item.get("id")) for item in answer.items}
        for update in pending:
            done[update.row] = ItemOutcome(update.row, UPDATED, lead_id=ids.get(update.reference))
        break


_ITEM_PATH = re.compile(r"\bleads\.\d+\.")


def _readable(name: str, message: str) -> str:
    """A 422 message without the request's `leads.N.` path (the row is in the report)."""
    text = _ITEM_PATH.sub("", message)
    if name == "reference" and "selected" in text.lower():
        return f"{text.rstrip('.')}: the account has no lead with this reference."
    return text


def _fail(done: dict[int, ItemOutcome], updates: Iterable[StatusUpdate], message: str) -> None:
    """The rows without an outcome yet are `failed`, saying why."""
    for u in updates:
        if u.row not in done:
            issue = Issue(u.row, None, "failed", message)
            done[u.row] = ItemOutcome(u.row, FAILED, errors=(issue,))


# --- end to end -------------------------------------------------------------------------------


def update_file(path: Path, client: LeadsClient, options: UpdateOptions) -> UpdateRun:
    """Read, check and send a status file, then write its report (every row, its outcome)."""
    sheet = read_update_sheet(path, options.sheet)
    statuses = client.lead_statuses()
    checked = check_updates(sheet, statuses, options.zone)
    if options.on_checked is not None:
        options.on_checked(checked)
    sent = send_updates(client, checked.updates, sheet.columns, options)
    rows: list[ItemOutcome] = []
    for row in (int(r) for r in sheet.table.frame.index.tolist()):
        issues = checked.issues.get(row)
        if issues:
            faulty = frozenset(i.column for i in issues if i.column)
            rows.append(ItemOutcome(row, INVALID, errors=issues, columns=faulty))
        else:
            rows.append(sent.outcomes[row])
    counts = {name: sum(r.outcome == name for r in rows) for name in LEGEND}
    summary = UpdateSummary(
        file=str(path),
        rows=len(rows),
        updated=counts[UPDATED],
        invalid=counts[INVALID],
        rejected=counts[REJECTED],
        failed=counts[FAILED],
    )
    target = options.report or default_report_path(path)
    about = ActionReport(
        title="WedoCOD status update report",
        legend=LEGEND,
        facts=[
            ("File", str(path)),
            ("Sheet", sheet.table.sheet),
            ("Time zone", str(options.zone)),
            *((k, v) for k, v in summary.to_dict().items() if k not in ("file", "report")),
            ("Stopped", sent.stopped),
        ],
        notes=(
            "Counts are rows: each row is one lead's update.",
            "Action dates without an offset are read in the time zone above.",
            "To retry: fix the red cells, save, and run `wedocod update` on this report; its "
            "Row, Outcome, Lead id and Errors columns are ignored on the way in.",
        ),
    )
    written = write_action_report(target, sheet.table.frame, rows, about)
    return UpdateRun(
        summary=replace(summary, report=str(written)),
        rows=tuple(rows),
        stopped=sent.stopped,
        interrupted=sent.interrupted,
        requests=sent.requests,
        rate_limited=sent.rate_limited,
    )
