"""Unattended folder ingestion: `ingest`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from importer.cli.common import (
    ExitStatus,
    batching,
    build_source,
    connection_options,
    emit,
    get_connection,
    handles_errors,
    json_option,
    ledger_option,
    ledger_path_for,
    print_summary,
    source_options,
    stop_on_signals,
    upload_options,
)

if TYPE_CHECKING:
    from importer.pipeline import RunResult


@click.command("ingest")
@upload_options
@ledger_option
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@source_options
@connection_options
@click.option("--watch", is_flag=True, help="Keep watching the folder instead of one pass.")
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
    help="Skip files modified in the last SECONDS (still being written).",
)
@json_option("Print one JSON line per file.")
@handles_errors
def ingest_command(
    directory: Path,
    watch: bool,
    interval: float,
    settle: float,
    batch_size: int | None,
    workers: int | None,
    ledger_path: Path | None,
    as_json: bool,
    token_file: Path | None,
    **source: Any,
) -> None:
    """Import every new export dropped in DIRECTORY (for cron or systemd timers).

    Each file is imported, then moved with its report to DIRECTORY/done/ (every lead on the
    server) or DIRECTORY/attention/ (some rows need a person). Unreadable files go to
    DIRECTORY/attention/ too, with a .error.txt beside them.
    """
    from importer.ingest import FolderBusy, IngestOptions, ingest_folder
    from importer.upload import UploadOptions

    connection = get_connection(token_file)
    batch_size, workers = batching(batch_size, workers)
    with stop_on_signals() as stop:
        options = IngestOptions(
            source=build_source(**source),
            upload=UploadOptions(batch_size=batch_size, workers=workers, stop=stop),
            ledger_path=ledger_path_for(ledger_path),
            watch=watch,
            interval=interval,
            settle=settle,
            stop=stop,
        )

        def on_result(path: Path, result: RunResult | None, error: str | None) -> None:
            if as_json:
                emit(
                    {"file": str(path), "error": error}
                    if result is None
                    else result.summary.to_dict(),
                    True,
                )
            elif result is not None:
                print_summary(result, False)
            else:
                click.echo(f"{path}: {error}", err=True)

        try:
            results = ingest_folder(directory, connection, options, on_result)
        except FolderBusy as err:
            # an overlapping cron run is not an error: the running one will see the files
            click.echo(str(err), err=True)
            sys.exit(ExitStatus.OK)
    if stop.is_set():
        sys.exit(ExitStatus.INTERRUPTED)
    sys.exit(ExitStatus.OK if all(ok for ok in results) else ExitStatus.INCOMPLETE)


COMMANDS = (ingest_command,)
