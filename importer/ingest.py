"""Unattended folder ingestion: import each export dropped in an account folder, then file it away.

One pass looks at every account folder, waits once for new files to settle, then handles the
folders in turn: under the folder's lock, a file left in ``.processing/`` by a stopped or
killed run is resumed first, then each ready file is claimed (moved into ``.processing/``),
imported, and filed in ``done/`` or ``attention/``. Whatever goes wrong with one file sends
that file to ``attention/`` with a ``.error.txt`` and the pass goes on; what is not the file's
fault (the token refused, the server down, a stop asked) leaves it claimed for the next run.
A folder that cannot be used (its settings, its token) is reported and the others go on.

Everything that happens is an `Event`, handed to ``on_event`` (the CLI prints them, and writes
them to ``--log-file`` through `EventLog`). Events never hold the token or the customer data
of a file: counts, names of files, codes and durations only.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from importer.errors import (
    ApiError,
    AuthError,
    CatalogError,
    ConfigError,
    LedgerError,
    MappingError,
    ReadError,
    SettingsError,
)
from importer.inbox import (
    ATTENTION,
    DONE,
    FolderBusy,
    Look,
    Readiness,
    account_folders,
    claim,
    claimed_files,
    clear_attempts,
    count_attempt,
    file_away,
    file_sha256,
    folder_lock,
    report_beside,
    unclaim,
    waiting_files,
    work_report_path,
)
from importer.ledger import Ledger
from importer.model import LeadOutcome, Outcome, RowOutcome, RowOutcomes
from importer.pipeline import Connection, Prepared, RunResult, SourceOptions, import_file
from importer.settings import CONFIG_NAME, Settings, load_settings
from importer.upload import UploadOptions

#: A mapping file in an account folder applies to every file there (unless the folder's
#: wedocod.toml, or the command line, names a preset or a mapping).
FOLDER_MAPPING = "mapping.toml"
#: Runs that may die on one file (killed, out of memory) before it is set aside in attention/,
#: so that one file cannot hold up its folder for ever.
MAX_DEATHS = 3


class FileOutcome(StrEnum):
    """Where a file handled by a pass ended up."""

    DONE = "done"  # every lead on the server
    ATTENTION = "attention"  # some rows, or the whole file, need a person
    DUPLICATE = "duplicate"  # the same bytes were imported before: filed in done/, nothing sent
    STOPPED = "stopped"  # not the file's fault (stop asked, API): waits in .processing/


@dataclass(frozen=True)
class FolderSetup:
    """How one account folder's files are imported: its settings made concrete."""

    source: SourceOptions
    connection: Connection
    upload: UploadOptions = field(default_factory=UploadOptions)
    ledger_path: Path | None = None


class SetupError(Exception):
    """A folder cannot be set up (no token, say); ``code`` is the event's error code."""

    def __init__(self, message: str, code: str = "setup") -> None:
        super().__init__(message)
        self.code = code


#: Gives a folder's setup; raises (SettingsError, SetupError...) when the folder cannot be used.
#: Called at each pass, only for folders with work, so a settings file edited is seen.
Configure = Callable[[Path], FolderSetup]


@dataclass(frozen=True)
class IngestOptions:
    watch: bool = False
    interval: float = 60.0  # seconds between passes with ``watch``
    settle: float = 10.0  # a file must keep its size and mtime this long before it is taken
    recursive: bool = False  # every folder below a root that holds a wedocod.toml is one too
    stop: threading.Event | None = None  # set on SIGTERM / Ctrl-C: stop after the batch in flight


@dataclass(frozen=True)
class Event:
    """Something a pass did. ``to_dict`` is the log line: never the token or customer data.

    ``event``: ``file`` (one per file handled), ``batch`` (one per batch sent), ``folder``
    (a folder skipped or stopped: ``error`` says why), ``settling`` (waiting for new files to
    stop changing), ``pass`` (one per pass, with totals). ``detail`` and ``summary`` are for
    people and scripts (they may quote the file: headers, cells) and never part of ``to_dict``.
    """

    event: str
    folder: str | None = None
    file: str | None = None  # where the file is now
    name: str | None = None  # the file's name as dropped
    outcome: str | None = None
    error: str | None = None  # a stable code (see the README)
    counts: Mapping[str, int] = field(default_factory=dict)
    refs: int | None = None  # lead references known for the file or batch
    seconds: float | None = None
    report: str | None = None
    sha256: str | None = None
    same_as: str | None = None  # a duplicate: where the first copy was filed
    error_file: str | None = None  # the .error.txt beside a file in attention/
    message: str | None = None  # a folder's problem, for people (settings, token, API)
    detail: str | None = field(default=None, compare=False)
    #: a file's `Summary.to_dict()` (issue kinds and notes included), for `--json`; not logged
    summary: Mapping[str, Any] | None = field(default=None, compare=False)
    at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": self.at.isoformat(timespec="milliseconds"),
            "event": self.event,
        }
        for key in ("folder", "file", "name", "outcome"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.error is not None or self.event in ("file", "batch"):
            out["error"] = self.error  # null: nothing wrong
        out.update(self.counts)
        for key in ("refs", "seconds", "report", "sha256", "same_as", "error_file", "message"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


#: Receives every event, from the pass's thread and (``batch``) from upload workers; must not
#: raise.
OnEvent = Callable[[Event], None]


@dataclass(frozen=True)
class FileReport:
    name: str  # as dropped
    path: Path  # where it is now
    outcome: FileOutcome
    error: str | None = None


@dataclass(frozen=True)
class FolderReport:
    """What one pass did in one folder."""

    directory: Path
    files: tuple[FileReport, ...] = ()
    error: BaseException | None = None  # what stopped (or prevented) the folder's pass
    busy: bool = False  # another `wedocod ingest` holds the folder: skipped

    @property
    def needs_attention(self) -> bool:
        return any(f.outcome is FileOutcome.ATTENTION for f in self.files)


class EventLog:
    """``--log-file``: one JSON object per line, appended; reopened for each line, so that
    logrotate (or anyone) may move the file away at any time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with self.path.open("a", encoding="utf-8"):
            pass  # cannot be written: say so now, not at the first file

    def write(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


def folder_settings(directory: Path, base: Settings) -> Settings:
    """The settings of an account folder: its ``wedocod.toml`` laid over ``base``.

    A preset or mapping the folder names replaces the base's (both are one choice); a folder
    that names neither but holds a ``mapping.toml`` uses that.
    """
    own_path = directory / CONFIG_NAME
    own = load_settings(own_path) if own_path.is_file() else Settings()
    if own.preset is None and own.mapping is None and (directory / FOLDER_MAPPING).is_file():
        own = replace(own, mapping=(directory / FOLDER_MAPPING).resolve())
    merged = own.over(base)
    if own.preset is not None or own.mapping is not None:
        merged = replace(merged, preset=own.preset, mapping=own.mapping)
    return merged


def ingest(
    roots: Sequence[Path], configure: Configure, options: IngestOptions, on_event: OnEvent
) -> list[FolderReport]:
    """One pass over the account folders (or, with ``watch``, passes until ``stop``).

    Returns what the last pass did, per folder.
    """
    readiness = Readiness(options.settle)
    while True:
        reports = _Pass(roots, configure, options, readiness, on_event).run()
        if not options.watch or _stopping(options) or _wait(options, options.interval):
            return reports


def ingest_folder(
    directory: Path, setup: FolderSetup, options: IngestOptions, on_event: OnEvent
) -> FolderReport:
    """`ingest` for one folder with a setup of its own (what a library user calls)."""
    flat = replace(options, recursive=False)
    reports = ingest([directory], lambda _: setup, flat, on_event)
    return reports[0] if reports else FolderReport(directory)  # stopped before it began


def _stopping(options: IngestOptions) -> bool:
    return options.stop is not None and options.stop.is_set()


def _wait(options: IngestOptions, seconds: float) -> bool:
    """Sleep; True when asked to stop."""
    if options.stop is None:
        time.sleep(seconds)
        return False
    return options.stop.wait(seconds)


class _FolderStopped(Exception):
    """The folder's pass cannot go on: ``cause`` is not the file's fault."""

    def __init__(self, cause: BaseException, file: FileReport | None = None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.file = file


class _Pass:
    """One pass over every account folder."""

    def __init__(
        self,
        roots: Sequence[Path],
        configure: Configure,
        options: IngestOptions,
        readiness: Readiness,
        on_event: OnEvent,
    ) -> None:
        self.roots = roots
        self.configure = configure
        self.options = options
        self.readiness = readiness
        self.on_event = on_event

    def run(self) -> list[FolderReport]:
        started = time.monotonic()
        folders = account_folders(self.roots, self.options.recursive, CONFIG_NAME)
        waiting: dict[Path, list[Path]] = {}
        reports: list[FolderReport] = []
        for folder in folders:
            try:
                waiting[folder] = self._look(folder)
            except OSError as err:  # the folder went away, or cannot be read
                reports.append(self._folder_error(folder, err))
        # one wait for every folder's new files, then a second look at them
        unready = [p for files in waiting.values() for p in files if not self.readiness.ready(p)]
        if unready and not _stopping(self.options):
            delay = self.readiness.due_in(unready)
            self.on_event(
                Event("settling", counts={"files": len(unready)}, seconds=round(delay, 3))
            )
            if not _wait(self.options, delay):
                for folder in {p.parent for p in unready}:
                    try:
                        waiting[folder] = self._look(folder)
                    except OSError as err:
                        del waiting[folder]
                        reports.append(self._folder_error(folder, err))
        for folder, files in waiting.items():
            if _stopping(self.options):
                break
            reports.append(self._folder(folder, files))
        self._pass_event(reports, len(folders), time.monotonic() - started)
        return reports

    def _look(self, folder: Path) -> list[Path]:
        files = waiting_files(folder)
        self.readiness.look(files, folder)
        return files

    def _pass_event(self, reports: list[FolderReport], folders: int, seconds: float) -> None:
        outcomes = Counter(f.outcome.value for r in reports for f in r.files)
        counts = {
            "folders": folders,
            "files": sum(outcomes.values()),
            **{o.value: outcomes[o.value] for o in FileOutcome},
            "folder_errors": sum(1 for r in reports if r.error is not None),
            "busy": sum(1 for r in reports if r.busy),
        }
        outcome = "stopped" if _stopping(self.options) else "complete"
        self.on_event(Event("pass", outcome=outcome, counts=counts, seconds=round(seconds, 3)))

    def _folder_error(
        self,
        folder: Path,
        err: BaseException,
        code: str | None = None,
        files: Sequence[FileReport] = (),
    ) -> FolderReport:
        """Tell why a folder's pass stopped (or did not start); the other folders go on."""
        message = str(err)
        if not message.startswith(str(folder)):
            message = f"{folder}: {message}"
        code = code or _error_code(err)
        self.on_event(Event("folder", folder=str(folder), error=code, message=message))
        return FolderReport(folder, tuple(files), error=err)

    # --- one folder ---------------------------------------------------------------------------

    def _folder(self, folder: Path, files: list[Path]) -> FolderReport:
        ready = [p for p in files if self.readiness.ready(p)]
        if not ready and not claimed_files(folder):
            return FolderReport(folder)  # nothing to do: no lock taken, no token needed
        try:
            with folder_lock(folder):
                return self._work(folder, ready)
        except FolderBusy as err:
            # an overlapping cron run is not an error: the one working there sees the files
            self.on_event(Event("folder", folder=str(folder), error="busy", message=str(err)))
            return FolderReport(folder, busy=True)
        except OSError as err:  # the lock file cannot be made: the folder is not writable
            return self._folder_error(folder, err)

    def _work(self, folder: Path, ready: list[Path]) -> FolderReport:
        try:
            setup = self.configure(folder)
        except Exception as err:  # the folder's own settings or token: the others go on
            return self._folder_error(folder, err)
        done: list[FileReport] = []
        try:
            with Ledger.open(setup.ledger_path or Ledger.default_path(), _account(setup)) as ledger:
                folder_run = _FolderRun(folder, setup, ledger, self.options, self.on_event)
                for left in claimed_files(folder):  # by a run that stopped or died: resumed
                    if _stopping(self.options):
                        break
                    done.append(folder_run.handle(left, left.name))
                for path in ready:
                    if _stopping(self.options):
                        break
                    claimed = self._claim(path)
                    if claimed is not None:
                        done.append(folder_run.handle(claimed, path.name))
        except _FolderStopped as stopped:
            if stopped.file is not None:
                done.append(stopped.file)
            return self._folder_error(folder, stopped.cause, files=done)
        except (
            LedgerError,
            ConfigError,
            OSError,
        ) as err:  # the ledger, or moving files, cannot be done
            return self._folder_error(folder, err, files=done)
        return FolderReport(folder, tuple(done))

    def _claim(self, path: Path) -> Path | None:
        """Move a ready file into ``.processing/``, unless it changed since it was seen."""
        if not self.readiness.ready(path):
            return None
        before = Look.at(path)
        claimed = claim(path)
        self.readiness.forget(path)
        if claimed is None:
            return None
        if Look.at(claimed) != before:  # written to between the look and the move
            unclaim(claimed, path.parent)
            return None
        return claimed


def _account(setup: FolderSetup) -> str:
    """The ledger's scope for this folder's token (the same the import itself uses)."""
    from importer.client import LeadsClient

    client = LeadsClient(setup.connection.base_url, setup.connection.token)
    try:
        return client.account_id
    finally:
        client.close()


class _FolderRun:
    """Handles the files of one folder, under its lock, with its setup and ledger."""

    def __init__(
        self,
        folder: Path,
        setup: FolderSetup,
        ledger: Ledger,
        options: IngestOptions,
        on_event: OnEvent,
    ) -> None:
        self.folder = folder
        self.setup = setup
        self.ledger = ledger
        self.options = options
        self.on_event = on_event

    def _event(self, **kw: Any) -> None:
        self.on_event(Event("file", folder=str(self.folder), **kw))

    def handle(self, claimed: Path, name: str) -> FileReport:
        """Import one claimed file and file it away; `_FolderStopped` when the API stops it."""
        started = time.monotonic()
        if count_attempt(claimed) >= MAX_DEATHS:
            clear_attempts(claimed)
            return self._unusable(claimed, name, "", _DiedOnIt(MAX_DEATHS), started)
        try:
            return self._handle(claimed, name, started)
        finally:
            # however this run's work on the file ended; a run that dies leaves the mark
            clear_attempts(claimed)

    def _handle(self, claimed: Path, name: str, started: float) -> FileReport:
        progress = _FileProgress(self.folder, name, self.on_event)
        work_report = work_report_path(claimed)
        sha = ""
        try:
            sha = file_sha256(claimed)
            earlier = self.ledger.file_seen(sha)
            if earlier is not None:
                return self._duplicate(claimed, name, sha, earlier.filed_to, earlier.filed_at)
            upload = replace(
                self.setup.upload,
                stop=self.options.stop,
                progress=progress.settled,
                on_batch=progress.batch,
            )
            result = import_file(
                claimed,
                self.setup.source,
                self.setup.connection,
                upload,
                report=work_report,
                ledger_path=self.setup.ledger_path,
                on_prepared=progress.prepared,
            )
        except (ApiError, LedgerError, ConfigError) as err:
            # not the file's fault (the API, the ledger, where the report goes): it stays
            # claimed, and the next run resumes it
            self._event(
                file=str(claimed),
                name=name,
                outcome=FileOutcome.STOPPED.value,
                error=_error_code(err),
                seconds=_since(started),
            )
            report = FileReport(name, claimed, FileOutcome.STOPPED, _error_code(err))
            raise _FolderStopped(err, report) from err
        except Exception as err:  # anything else about this file: a person must look
            work_report.unlink(missing_ok=True)
            return self._unusable(claimed, name, sha, err, started)
        return self._imported(claimed, name, sha, result, progress, started)

    def _duplicate(
        self, claimed: Path, name: str, sha: str, first: str, when: datetime
    ) -> FileReport:
        target = file_away(claimed, self.folder, DONE, None)
        self._event(
            file=str(target),
            name=name,
            outcome=FileOutcome.DUPLICATE.value,
            sha256=sha,
            same_as=first,
            detail=f"the same bytes were imported on {when.astimezone():%Y-%m-%d %H:%M} "
            f"({first}); nothing was sent",
        )
        return FileReport(name, target, FileOutcome.DUPLICATE)

    def _unusable(
        self, claimed: Path, name: str, sha: str, err: Exception, started: float
    ) -> FileReport:
        code = _error_code(err)
        target = file_away(claimed, self.folder, ATTENTION, None)
        if code == "crash":
            err_text = f"unexpected error ({type(err).__name__}: {err})"
        else:
            err_text = str(err).replace(str(claimed), str(target))
        error_file = target.with_name(target.name + ".error.txt")
        error_file.write_text(_error_text(name, target, err, code, err_text), encoding="utf-8")
        self._event(
            file=str(target),
            name=name,
            outcome=FileOutcome.ATTENTION.value,
            error=code,
            seconds=_since(started),
            sha256=sha or None,
            error_file=str(error_file),
            detail=err_text,
        )
        return FileReport(name, target, FileOutcome.ATTENTION, code)

    def _imported(
        self,
        claimed: Path,
        name: str,
        sha: str,
        result: RunResult,
        progress: _FileProgress,
        started: float,
    ) -> FileReport:
        written = Path(result.summary.report) if result.summary.report else None
        counts = {k: v for k, v in result.summary.to_dict().items() if isinstance(v, int)}
        # a stop that came while the last batch was in flight left nothing undone
        finished = result.stopped is None or (_stopping(self.options) and progress.all_settled)
        if not finished:
            stopped = result.stopped or "stopped"
            code = "interrupted" if _stopping(self.options) else "api"
            self._event(
                file=str(claimed),
                name=name,
                outcome=FileOutcome.STOPPED.value,
                error=code,
                # the report counts the leads a stop left unsent as failed ("Not sent: ...")
                counts={**counts, "unsent": progress.unsent},
                summary=result.summary.to_dict(),
                refs=_refs(result.rows),
                seconds=_since(started),
                report=str(written) if written else None,
                detail=stopped,
            )
            report = FileReport(name, claimed, FileOutcome.STOPPED, code)
            if code == "api":
                raise _FolderStopped(ApiError(stopped), report)
            return report
        complete = replace(result, stopped=None).complete
        outcome = FileOutcome.DONE if complete else FileOutcome.ATTENTION
        target = file_away(claimed, self.folder, outcome.value, written)
        report_path = report_beside(target, written.suffix) if written else None
        if complete:
            self.ledger.record_file(sha, name, target.stat().st_size, str(target))
        self._event(
            file=str(target),
            name=name,
            outcome=outcome.value,
            error=None if complete else "rows",
            counts=counts,
            summary=result.summary.to_dict(),
            refs=_refs(result.rows),
            seconds=_since(started),
            report=str(report_path) if report_path else None,
            sha256=sha,
        )
        return FileReport(name, target, outcome, None if complete else "rows")


class _DiedOnIt(Exception):
    """The last runs at a file all died before they finished it."""

    def __init__(self, runs: int) -> None:
        super().__init__(
            f"the last {runs} runs that imported this file died before they finished it "
            "(killed, out of memory, the machine restarted); it was set aside so that the "
            "folder's other files go on"
        )


class _FileProgress:
    """Counts the leads of one file as they settle, and tells each batch as an event."""

    def __init__(self, folder: Path, name: str, on_event: OnEvent) -> None:
        self.folder = folder
        self.name = name
        self.on_event = on_event
        self.leads: int | None = None
        self.done = 0
        self._lock = threading.Lock()

    def prepared(self, prepared: Prepared) -> None:
        self.leads = len({lead.key for lead in prepared.leads})

    def settled(self, count: int) -> None:
        with self._lock:
            self.done += count

    @property
    def all_settled(self) -> bool:
        with self._lock:
            return self.leads is not None and self.done >= self.leads

    @property
    def unsent(self) -> int:
        with self._lock:
            return max(0, (self.leads or 0) - self.done)

    def batch(self, outcomes: Sequence[LeadOutcome], size: int, seconds: float) -> None:
        if not outcomes:
            return  # a stop came before it was sent
        counts = Counter(o.outcome.value for o in outcomes)
        unsent = size - len(outcomes)
        problem = next(
            (
                o.value
                for o in (Outcome.REJECTED, Outcome.FAILED, Outcome.UNCERTAIN, Outcome.QUEUED)
                if counts[o.value]
            ),
            "unsent" if unsent else None,
        )
        self.on_event(
            Event(
                "batch",
                folder=str(self.folder),
                name=self.name,
                error=problem,
                counts={"leads": size, **{k: counts[k] for k in _BATCH_OUTCOMES}},
                refs=sum(1 for o in outcomes if o.ref),
                seconds=round(seconds, 3),
            )
        )


_BATCH_OUTCOMES = ("created", "rejected", "failed", "queued", "uncertain")


def _refs(rows: Sequence[RowOutcome]) -> int:
    """How many distinct lead references the report holds."""
    refs = rows.refs if isinstance(rows, RowOutcomes) else [r.ref for r in rows]
    return len({ref for ref in refs if ref})


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _error_code(err: BaseException) -> str:
    """The stable code of an error, for the log (its message may quote the file)."""
    if isinstance(err, SetupError):
        return err.code
    codes: tuple[tuple[type[BaseException], str], ...] = (
        (_DiedOnIt, "died"),
        (ReadError, "unreadable"),
        (MappingError, "mapping"),
        (CatalogError, "catalog"),
        (SettingsError, "settings"),
        (LedgerError, "ledger"),
        (ConfigError, "config"),
        (AuthError, "auth"),
        (ApiError, "api"),
        (OSError, "filesystem"),
    )
    return next((code for kind, code in codes if isinstance(err, kind)), "crash")


_WHAT_TO_DO = {
    "unreadable": "Save it again from the program that made it (CSV UTF-8 or XLSX), then drop "
    "the new file into {folder}.",
    "mapping": "Name the columns in the folder's wedocod.toml (preset or mapping; see "
    "`wedocod map FILE --write mapping.toml`), then drop the file into {folder} again.",
    "catalog": "Fix the catalog file named in the settings, then drop the file into {folder} "
    "again.",
    "died": "Leads sent before are in the ledger: dropping the file into {folder} again sends "
    "none of them twice. If it is very large, split it; if runs keep being killed, look at the "
    "service's stop timeout and the machine's memory.",
}


def _error_text(name: str, target: Path, err: Exception, code: str, said: str) -> str:
    folder = target.parent.parent.resolve()
    lines = [f"{name} was not imported: {said}", ""]
    if code in _WHAT_TO_DO:
        lines.append(_WHAT_TO_DO[code].format(folder=folder))
    else:
        lines += [
            "wedocod-importer failed on this file: this is a bug. Please report it with this",
            "text (read it first: an error message may quote the file). Leads sent before the",
            "failure are in the ledger: dropping the file into",
            f"{folder} again, once fixed, sends none of them twice.",
            "",
            "".join(traceback.format_exception(err)).rstrip(),
        ]
    return "\n".join(lines) + "\n"
