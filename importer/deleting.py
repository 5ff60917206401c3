"""Deleting leads by id: the ids read, checked, sent 100 at a time, 403s narrowed down, reported.

Lead ids are not references: `GET /leads` and `wedocod export` show both (`id`, `reference`),
and so does the answer to a status update (the update report's `Lead id` column).

```
read_lead_ids(path, arguments, sheet)   -> IdList            (every id with its row)
delete_leads(client, ids, options)      -> DeletedIds        (each distinct id's outcome)
delete_ids(id_list, client, options)    -> DeleteRun         (all of it, and the report)
```
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from importer.bulk import (
    GaveUp,
    Interrupted,
    ItemOutcome,
    RetryPolicy,
    Sender,
    chunks,
    errors_by_item,
)
from importer.client import Forbidden, LeadsClient, ValidationFailed
from importer.errors import ApiError, MappingError, ReadError
from importer.mapping import normalize_header
from importer.model import Issue
from importer.read import read_table
from importer.report import (
    ACTION_REPORT_COLUMNS,
    ActionReport,
    default_report_path,
    text_from_csv_cell,
    write_action_report,
)

__all__ = [
    "LEGEND",
    "DeleteOptions",
    "DeleteRun",
    "DeleteSummary",
    "DeletedIds",
    "IdList",
    "delete_ids",
    "delete_leads",
    "read_lead_ids",
]

DELETED, REFUSED, NOT_FOUND, INVALID, FAILED = (
    "deleted",
    "refused",
    "not found",
    "invalid",
    "failed",
)
#: The ids rule of ``DELETE /leads`` (api/leads.txt): ``ids.*`` min 3, max 100 characters.
ID_LENGTH = (3, 100)
#: Files read as spreadsheets (an `id` column); anything else is one id per line.
SHEET_SUFFIXES = {".csv", ".tsv", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
#: Header spellings of the id column, best first. `Lead id` is the update report's column.
ID_COLUMNS = (
    "id", "lead id", "lead_id", "id lead", "identifiant", "identifiant du lead", "ids",
    "المعرف", "معرف", "رقم التعريف",
)  # fmt: skip
#: The header of the id column when the ids come from a text file or the command line.
ID_HEADER = "id"

#: The bisection's prior on refusals (one in ten) and how likely to pass a half must be to be
#: sent whole (see `_Bisector`).
DELETE_PRIOR = (1.0, 10.0)
WORTH_SENDING = 0.25

REFUSED_MESSAGE = (
    "The server refused to delete this lead (403): its status does not allow it "
    "(e.g. confirmed). Change its status first, or leave it."
)
NOT_FOUND_MESSAGE = "No lead with this id in the account (already deleted, or not an id)."

LEGEND: Mapping[str, str] = {
    DELETED: "The lead was deleted from WedoCOD.",
    REFUSED: "The server refused (403): the lead's status does not allow deleting it.",
    NOT_FOUND: "The account has no lead with this id: deleted already, or not a lead id "
    "(ids are in `wedocod export`'s `id` column, not the reference).",
    INVALID: "Not a usable id (empty, or not 3-100 characters); nothing was sent for it.",
    FAILED: "Not done: the server kept failing, or the run stopped first. Run the delete again.",
}


@dataclass(frozen=True)
class IdList:
    """The ids to delete as the user gave them: (row, id) in order, the id stripped. Rows are
    line numbers of a text file, sheet rows, or argument positions. `frame` holds the source
    cells the report shows (same index), `column` the header of the id column among them
    (None when the ids are an earlier report's `Lead id`); `path` None: the command line."""

    ids: tuple[tuple[int, str], ...]
    frame: pd.DataFrame
    column: str | None
    path: Path | None = None
    sheet: str | None = None
    issues: tuple[Issue, ...] = ()  # what reading the sheet noticed (rows not to send)

    def problems(self) -> dict[int, str]:
        """Rows not to send, and why: no usable id, or a row reading could not make out."""
        found = {row: why for row, lead_id in self.ids if (why := check_id(lead_id)) is not None}
        for issue in self.issues:
            if issue.is_error and issue.row is not None:
                found.setdefault(issue.row, issue.message)
        return found

    def sendable(self) -> list[str]:
        """The ids to send, each once, in order."""
        problems = self.problems()
        return list(dict.fromkeys(i for row, i in self.ids if row not in problems))


@dataclass(frozen=True)
class DeleteOptions:
    report: Path | None = None  # default: beside the ids file; none for ids as arguments
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event | None = None
    progress: Callable[[int], None] | None = None  # called with the ids settled


@dataclass(frozen=True)
class DeletedIds:
    """Each distinct id sent, with (outcome, message); and why the run stopped, if it did."""

    outcomes: dict[str, tuple[str, str]]
    stopped: str | None = None
    interrupted: bool = False
    requests: int = 0
    rate_limited: int = 0


@dataclass(frozen=True)
class DeleteSummary:
    file: str | None
    ids: int  # rows given (an id given twice counts twice)
    deleted: int = 0
    refused: int = 0
    not_found: int = 0
    invalid: int = 0
    failed: int = 0
    report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ids": self.ids,
            "deleted": self.deleted,
            "refused": self.refused,
            "not_found": self.not_found,
            "invalid": self.invalid,
            "failed": self.failed,
            "report": self.report,
        }


@dataclass(frozen=True)
class DeleteRun:
    summary: DeleteSummary
    rows: tuple[ItemOutcome, ...]
    stopped: str | None = None
    interrupted: bool = False
    requests: int = 0
    rate_limited: int = 0

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.summary.deleted == self.summary.ids


# --- reading ----------------------------------------------------------------------------------


def read_lead_ids(
    path: Path | None = None, arguments: Sequence[str] = (), sheet: str | None = None
) -> IdList:
    """The ids of a text file (one per line; blank lines and `#` comments skipped), of a
    sheet's `id` column (CSV/XLSX), or of the command line. Both a file and arguments: one
    list, numbered from 1. Raises ReadError/MappingError when the file cannot be used."""
    if path is None:
        return _id_list(list(arguments), None)
    listed = _read_sheet_ids(path, sheet) if path.suffix.lower() in SHEET_SUFFIXES else None
    if listed is None:
        listed = _read_text_ids(path)
    if not listed.ids:
        raise ReadError(f"{path}: no lead ids in it")
    if arguments:
        return _id_list([v for _, v in listed.ids] + list(arguments), None)
    return listed


def _id_list(values: Sequence[str], path: Path | None, rows: Sequence[int] = ()) -> IdList:
    rows = list(rows) or list(range(1, len(values) + 1))
    frame = pd.DataFrame(
        {ID_HEADER: pd.array(list(values), dtype="str")},
        index=pd.Index(rows, name="row", dtype="int64"),
    )
    ids = tuple(zip(rows, (v.strip() for v in values), strict=True))
    return IdList(ids, frame, ID_HEADER, path)


def _read_text_ids(path: Path) -> IdList:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise ReadError(f"{path}: is not UTF-8 text with one lead id per line") from err
    except OSError as err:
        raise ReadError(f"{path}: cannot be read ({err.strerror or err})") from err
    kept = [(n, line.strip()) for n, line in enumerate(lines, start=1)]
    kept = [(n, line) for n, line in kept if line and not line.startswith("#")]
    return _id_list([v for _, v in kept], path, [n for n, _ in kept])


def _find_id_column(headers: Iterable[str]) -> str | None:
    by_name: dict[str, str] = {}
    for header in headers:
        by_name.setdefault(normalize_header(header), header)
    spellings = (normalize_header(n) for n in ID_COLUMNS)
    return next((by_name[n] for n in spellings if n in by_name), None)


def _read_sheet_ids(path: Path, sheet: str | None) -> IdList:
    table = read_table(path, sheet)
    frame = table.frame
    headers = [str(h) for h in frame.columns]
    rows = [int(r) for r in frame.index.tolist()]
    if tuple(headers[: len(ACTION_REPORT_COLUMNS)]) == ACTION_REPORT_COLUMNS:
        # an earlier report (update or delete): its own columns are not the user's cells,
        # but an update report's `Lead id` holds the ids of the leads it updated
        if table.sheet is None:
            frame = frame.apply(lambda c: c.map(text_from_csv_cell))
        report_ids = frame["Lead id"]
        frame = frame.drop(columns=list(ACTION_REPORT_COLUMNS))
        column = _find_id_column(str(h) for h in frame.columns)
        source = frame[column] if column is not None else report_ids
        ids = tuple(zip(rows, (str(v).strip() for v in source.tolist()), strict=True))
        return IdList(ids, frame, column, path, table.sheet, table.issues)
    column = _find_id_column(headers)
    if column is None and len(headers) == 1:
        # one column and no id header: a list of ids saved as CSV, its first id on line 1
        listed = _id_list(
            [headers[0], *(str(v) for v in frame.iloc[:, 0].tolist())],
            path,
            [table.header_row, *rows],
        )
        return replace(listed, sheet=table.sheet, issues=table.issues)
    if column is None:
        found = ", ".join(repr(h) for h in headers)
        hint = ""
        if any(normalize_header(h) in ("reference", "ref", "lead ref") for h in headers):
            hint = (
                " It has references: deleting takes lead ids, which `wedocod export` writes in "
                "its `id` column next to each reference."
            )
        raise MappingError(f"{path}: no `id` column (columns found: {found}).{hint}")
    ids = tuple(zip(rows, (str(v).strip() for v in frame[column].tolist()), strict=True))
    return IdList(ids, frame, column, path, table.sheet, table.issues)


# --- deleting ---------------------------------------------------------------------------------


class _Bisector:
    """Deletes a batch; a 403 refuses the whole batch, so it is split in halves until the
    refused ids stand alone.

    - When the first half had no refused id, the second surely has one: it is split without
      being sent whole.
    - A half is sent whole only when it likely passes, judging by the refusals seen so far
      (a prior of one in ten): rare refusals cost about 1 + 2·r·log2(100/r) requests per
      batch (r refused), and a batch where most are refused about one request per id, not
      two. `DELETE_PRIOR` and `WORTH_SENDING` set this; a simulation chose them.
    """

    def __init__(self, client: LeadsClient, sender: Sender) -> None:
        self.client = client
        self.sender = sender
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.refused = 0
        self.settled = 0

    def settle(self, ids: list[str], *, refused_known: bool = False, first: bool = False) -> None:
        """Settle every id of `ids`; `first`: a batch as read (always sent whole)."""
        if refused_known and len(ids) == 1:
            self._record(ids, REFUSED, REFUSED_MESSAGE)
            return
        if not refused_known and (first or len(ids) == 1 or self._worth_sending(len(ids))):
            if not first:
                self.sender.check()  # Ctrl-C: the rest of a split batch is not sent
            try:
                self.sender.send(partial(self.client.delete_leads, ids))
            except ValidationFailed as err:
                self._unknown(ids, err)
                return
            except Forbidden:
                if len(ids) == 1:
                    self._record(ids, REFUSED, REFUSED_MESSAGE)
                    return
                refused_known = True
            else:
                self._record(ids, DELETED, "")
                return
        half = len(ids) // 2
        head, tail = ids[:half], ids[half:]
        self.settle(head)
        refused_in_head = any(self.outcomes[i][0] == REFUSED for i in head)
        self.settle(tail, refused_known=refused_known and not refused_in_head)

    def _worth_sending(self, size: int) -> bool:
        low, high = DELETE_PRIOR
        share = (self.refused + low) / (self.settled + high)
        return bool((1 - share) ** size >= WORTH_SENDING)

    def _record(self, ids: Iterable[str], outcome: str, message: str) -> None:
        for lead_id in ids:
            self.outcomes[lead_id] = (outcome, message)
            self.settled += 1
            self.refused += outcome == REFUSED

    def _unknown(self, ids: list[str], err: ValidationFailed) -> None:
        """A 422 names ids the account does not have: nothing was deleted; the rest go again."""
        placed = errors_by_item(err.fields, "ids", len(ids))
        if placed is None:
            message = "; ".join(m for ms in err.fields.values() for m in ms) or str(err)
            self._record(ids, FAILED, f"Refused by the server: {message}")
            return
        if self.sender.doubted and len(placed) == len(ids):
            # an earlier attempt's answer was lost, and now every id is gone: it deleted them
            message = "Deleted (the answer to the first attempt was lost; the ids are gone now)."
            self._record(ids, DELETED, message)
            return
        self._record((ids[i] for i in placed), NOT_FOUND, NOT_FOUND_MESSAGE)
        rest = [lead_id for i, lead_id in enumerate(ids) if i not in placed]
        if rest:
            self.settle(rest)


def delete_leads(client: LeadsClient, ids: Sequence[str], options: DeleteOptions) -> DeletedIds:
    """DELETE distinct ids 100 at a time (see `_Bisector` for 403s; a 422 names unknown ids).

    429, 5xx and lost answers are sent again (`Sender`); a batch that cannot be sent, a
    refused token or Ctrl-C ends the run, and the ids not done are `failed`."""
    sender = Sender(options.retry, options.stop)
    bisector = _Bisector(client, sender)
    wanted = list(dict.fromkeys(ids))
    stopped: str | None = None
    interrupted = False
    for batch in chunks(wanted):
        if options.stop is not None and options.stop.is_set():
            stopped, interrupted = "interrupted", True
            break
        try:
            bisector.settle(batch, first=True)
        except Interrupted as err:
            stopped, interrupted = "interrupted", True
            maybe = "it may have been deleted" if err.doubtful else "it was not deleted"
            _fail(bisector, batch, f"Interrupted before this id was settled: {maybe}. Run the "
                  "delete again.")  # fmt: skip
            break
        except ApiError as err:  # GaveUp, the token refused, an unreadable answer
            stopped = str(err)
            _fail(bisector, batch, f"{err}. {_maybe_applied(err, 'deleted')} Run the delete again.")
            break
        if options.progress is not None:
            options.progress(len(batch))
    if stopped is not None:
        why = "interrupted" if interrupted else f"the run stopped ({stopped})"
        _fail(bisector, wanted, f"Not sent: {why}. Run the delete again.")
    return DeletedIds(bisector.outcomes, stopped, interrupted, sender.requests, sender.rate_limited)


def _maybe_applied(err: ApiError, done: str) -> str:
    """Whether the request that failed may have been applied, in a word for the report."""
    doubtful = err.doubtful if isinstance(err, GaveUp) else err.in_doubt
    return f"It may have been {done}." if doubtful else f"It was not {done}."


def _fail(bisector: _Bisector, ids: Iterable[str], message: str) -> None:
    for lead_id in ids:
        bisector.outcomes.setdefault(lead_id, (FAILED, message))


# --- end to end -------------------------------------------------------------------------------


def check_id(lead_id: str) -> str | None:
    """Why an id cannot be sent (the docs' rule), or None."""
    if not lead_id:
        return "No id on this row."
    low, high = ID_LENGTH
    if not low <= len(lead_id) <= high:
        return f"The id must be between {low} and {high} characters (it has {len(lead_id)})."
    return None


def delete_ids(id_list: IdList, client: LeadsClient, options: DeleteOptions) -> DeleteRun:
    """Check the ids, delete the good ones, and write the report when there is a file for it
    (`options.report`, else beside the ids file)."""
    given = id_list.ids
    problems = id_list.problems()
    deleted = delete_leads(client, id_list.sendable(), options)
    first_row: dict[str, int] = {}
    rows: list[ItemOutcome] = []
    painted = frozenset({id_list.column}) if id_list.column else frozenset()
    for row, lead_id in given:
        why = problems.get(row)
        if why is not None:
            rows.append(
                ItemOutcome(
                    row,
                    INVALID,
                    errors=(Issue(row, id_list.column, "invalid_id", why),),
                    columns=painted,
                )
            )
            continue
        outcome, message = deleted.outcomes[lead_id]
        earlier = first_row.setdefault(lead_id, row)
        if earlier != row:
            message = f"Same id as row {earlier}. {message}".strip()
        code = outcome.replace(" ", "_")
        errors = (Issue(row, id_list.column, code, message),) if message else ()
        faulty = painted if outcome in (REFUSED, NOT_FOUND) else frozenset()
        rows.append(ItemOutcome(row, outcome, lead_id=lead_id, errors=errors, columns=faulty))
    counts = {name: sum(r.outcome == name for r in rows) for name in LEGEND}
    summary = DeleteSummary(
        file=str(id_list.path) if id_list.path else None,
        ids=len(rows),
        deleted=counts[DELETED],
        refused=counts[REFUSED],
        not_found=counts[NOT_FOUND],
        invalid=counts[INVALID],
        failed=counts[FAILED],
    )
    target = options.report
    if target is None and id_list.path is not None:
        target = default_report_path(id_list.path)
    if target is not None:
        about = ActionReport(
            title="WedoCOD delete report",
            legend=LEGEND,
            facts=[
                ("File", summary.file or "(ids on the command line)"),
                ("Sheet", id_list.sheet),
                *((k, v) for k, v in summary.to_dict().items() if k not in ("file", "report")),
                ("Requests", deleted.requests),
                ("Stopped", deleted.stopped),
            ],
            notes=("Counts are rows: an id given twice counts twice, and is sent once.",),
        )
        written = write_action_report(target, id_list.frame, rows, about)
        summary = replace(summary, report=str(written))
    return DeleteRun(
        summary=summary,
        rows=tuple(rows),
        stopped=deleted.stopped,
        interrupted=deleted.interrupted,
        requests=deleted.requests,
        rate_limited=deleted.rate_limited,
    )
