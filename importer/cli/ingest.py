"""Unattended folder ingestion: `ingest`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from importer.cli.common import (
    HANDLED,
    ExitStatus,
    Failure,
    batching,
    build_source,
    connection_options,
    current_settings,
    emit,
    exit_status_for,
    get_connection,
    handles_errors,
    json_option,
    ledger_option,
    ledger_path_for,
    loading,
    source_options,
    stop_on_signals,
    upload_options,
)

if TYPE_CHECKING:
    from importer.ingest import Event, EventLog, FolderReport, FolderSetup

#: Lead counts told for a file on stderr, in the order `wedocod import` tells them.
SHOWN_COUNTS = ("created", "skipped", "invalid", "rejected", "failed", "queued", "uncertain")


@click.command("ingest")
@upload_options
@ledger_option
@click.argument(
    "directories",
    metavar="DIR...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@source_options
@connection_options
@click.option(
    "--recursive",
    is_flag=True,
    help="Also every folder below DIR that holds a wedocod.toml (one per seller account).",
)
@click.option("--watch", is_flag=True, help="Keep watching the folders instead of one pass.")
@click.option(
    "--interval",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help="Seconds between passes with --watch.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="A file is taken once its size and time stamp stayed the same this many SECONDS.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append one JSON line per file, batch and pass (never the token or customer data).",
)
@json_option("Print one JSON line per file.")
@handles_errors
def ingest_command(
    directories: tuple[Path, ...],
    recursive: bool,
    watch: bool,
    interval: float,
    settle: float,
    log_file: Path | None,
    batch_size: int | None,
    workers: int | None,
    ledger_path: Path | None,
    as_json: bool,
    token_file: Path | None,
    **source: Any,
) -> None:
    """Import every new export dropped in each DIR (for cron, systemd timers, or --watch).

    Each file is claimed (moved into DIR/.processing/), imported, then moved with its report
    to DIR/done/ (every lead on the server) or DIR/attention/ (some rows need a person; a file
    that cannot be imported gets a .error.txt there saying why). A file dropped again byte for
    byte goes to DIR/done/ without a second import. A DIR/wedocod.toml holds the folder's own
    settings (preset or mapping, catalog, token_file...): one folder per seller account.

    SIGTERM or Ctrl-C stops after the batch in flight; the file is resumed by the next run,
    and the exit code is the one of what was done (0 if nothing needs a look), never 130.
    """
    with loading():
        from importer.ingest import (
            EventLog,
            FolderSetup,
            IngestOptions,
            SetupError,
            folder_settings,
            ingest,
        )
        from importer.upload import UploadOptions

    base = current_settings()

    def configure(folder: Path) -> FolderSetup:
        settings = folder_settings(folder, base)
        # a seller folder's own token wins even over --token-file: that one is the default
        # for folders that name none, never a way to send every seller's orders to one account
        own_token = settings.token_file if settings.token_file != base.token_file else None
        try:
            connection = get_connection(own_token or token_file, settings)
        except Failure as err:
            raise SetupError(f"{folder}: {err}", "connection") from err
        size, count = batching(batch_size, workers, settings)
        return FolderSetup(
            source=build_source(settings, **source),
            connection=connection,
            upload=UploadOptions(batch_size=size, workers=count),
            ledger_path=ledger_path_for(ledger_path, settings),
        )

    log = EventLog(log_file) if log_file is not None else None
    output = _Output(as_json, log)
    with stop_on_signals() as stop:
        options = IngestOptions(
            watch=watch, interval=interval, settle=settle, recursive=recursive, stop=stop
        )
        reports = ingest(list(directories), configure, options, output.on_event)
    if watch:
        sys.exit(ExitStatus.OK)  # stopped on request; every file's outcome is in the output
    sys.exit(status_of(reports))


def status_of(reports: list[FolderReport]) -> ExitStatus:
    """The exit status of one pass: the worst of its folders' (a stop asked is not a failure)."""
    status = ExitStatus.OK
    for report in reports:
        if report.needs_attention:
            status = max(status, ExitStatus.INCOMPLETE)
        if report.error is not None:
            status = max(status, _folder_status(report.error))
    return status


def _folder_status(err: BaseException) -> ExitStatus:
    from importer.ingest import SetupError

    if isinstance(err, HANDLED):
        return exit_status_for(err)[0]
    if isinstance(err, SetupError | OSError):  # a folder's token, or its files cannot be moved
        return ExitStatus.BAD_INPUT
    return ExitStatus.INCOMPLETE  # an unexpected failure: its message is in the output


class _Output:
    """Prints each event for people (stderr), scripts (--json on stdout) and the log file."""

    def __init__(self, as_json: bool, log: EventLog | None) -> None:
        self.as_json = as_json
        self.log = log
        self._log_failed = False

    def on_event(self, event: Event) -> None:
        self._write_log(event)
        if event.event == "file":
            self._file(event)
        elif event.event == "folder":
            self._folder(event)

    def _write_log(self, event: Event) -> None:
        if self.log is None:
            return
        try:
            self.log.write(event)
        except OSError as err:  # the import goes on; say it once, not at every line
            if not self._log_failed:
                click.echo(f"Warning: cannot write to {self.log.path}: {err}", err=True)
            self._log_failed = True
        else:
            self._log_failed = False

    def _file(self, event: Event) -> None:
        if self.as_json:
            emit(_file_line(event), True)
        counts = ", ".join(
            f"{key} {event.counts[key]}" for key in SHOWN_COUNTS if event.counts.get(key)
        )
        rows = f"{event.counts['rows']} rows, " if "rows" in event.counts else ""
        if event.outcome == "duplicate":
            said = f"already imported, {event.detail}; filed as {event.file}"
        elif event.outcome == "stopped":
            unsent = f", {event.counts['unsent']} not sent yet" if "unsent" in event.counts else ""
            said = (
                f"{rows}{counts or 'nothing sent'}{unsent}; stopped "
                f"({event.detail or event.error}): it waits in {event.file}, and the next run "
                "resumes it"
            )
        elif event.error_file is not None:
            said = (
                f"not imported: {event.detail}\n"
                f"  Moved to {event.file}; {event.error_file} says why"
            )
        else:
            said = f"{rows}{counts or 'no leads'} -> {event.file}"
            if event.report:
                said += f"\n  Report: {event.report}"
        where = Path(event.folder) / event.name if event.folder and event.name else event.file
        click.echo(f"{where}: {said}", err=True)

    def _folder(self, event: Event) -> None:
        if event.error == "busy":
            click.echo(f"{event.message}; skipped.", err=True)
            return
        click.echo(f"Error: {event.message}{_HINTS.get(event.error or '', '')}", err=True)
        if self.as_json:
            emit({"folder": event.folder, "error": event.message, "code": event.error}, True)


_HINTS = {
    "auth": " — the API refused the token: check the folder's token_file (in its wedocod.toml), "
    "--token-file or WEDOCOD_TOKEN. Its files wait; the next run resumes them.",
    "api": " — is WEDOCOD_BASE_URL right, and is the server up? Its files wait; the next run "
    "resumes them.",
}


def _file_line(event: Event) -> dict[str, Any]:
    """A file's JSON line: `import --json`'s summary, plus where the file went and why."""
    line: dict[str, Any] = {"file": event.file}
    if event.error_file is not None:
        line["error"] = event.detail
    if event.summary is not None:
        line.update((k, v) for k, v in event.summary.items() if k != "file")
    line["report"] = event.report
    line["outcome"] = event.outcome
    if event.outcome == "duplicate":
        line["same_as"] = event.same_as
    if event.outcome == "stopped":
        line["stopped"] = event.detail or event.error
        if "unsent" in event.counts:
            line["unsent"] = event.counts["unsent"]
    return line


COMMANDS = (ingest_command,)
