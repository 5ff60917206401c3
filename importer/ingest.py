"""Unattended folder ingestion: import each export dropped in a folder, then file it away."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from importer.mapping import MappingError
from importer.pipeline import Connection, RunResult, SourceOptions, import_file
from importer.read import ReadError
from importer.validate import CatalogError

if TYPE_CHECKING:
    from importer.upload import UploadOptions

#: Suffixes of the exports a folder may receive.
INPUT_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls")
#: Sub-folders a processed file is moved to, with its report.
DONE, ATTENTION = "done", "attention"
#: A mapping file in the watched folder applies to every file there (unless --mapping is given).
FOLDER_MAPPING = "mapping.toml"

OnResult = Callable[[Path, RunResult | None, str | None], None]


@dataclass(frozen=True)
class IngestOptions:
    source: SourceOptions
    upload: UploadOptions
    ledger_path: Path | None = None
    watch: bool = False
    interval: float = 60.0
    settle: float = 10.0  # a file modified more recently may still be being written
    stop: threading.Event | None = None


class FolderBusy(Exception):
    """Another `wedocod ingest` holds this folder."""


def ingest_folder(
    directory: Path, connection: Connection, options: IngestOptions, on_result: OnResult
) -> list[bool]:
    """One pass (or, with `watch`, passes until stopped) over `directory`.

    Returns, per file handled, whether every lead of it is on the server. Files are handled
    oldest first. A file that cannot be read or mapped is moved to `attention/` with an
    `.error.txt`; a run stopped by the API (auth, breaker, interrupt) leaves the file in place
    for the next pass, which resumes it through the ledger.
    """
    results: list[bool] = []
    with _folder_lock(directory):
        while True:
            for path in pending_files(directory, options.settle):
                if options.stop is not None and options.stop.is_set():
                    return results
                outcome = _ingest_one(path, connection, options, on_result)
                if outcome is None:  # stopped by the API: try again on the next pass
                    break
                results.append(outcome)
            if not options.watch or _wait(options):
                return results


def pending_files(directory: Path, settle: float, now: float | None = None) -> list[Path]:
    """Exports waiting in `directory`, oldest first; files still being written are left alone.

    A report fixed by a person and dropped back in is an export like any other (its rows
    already created are skipped); the reports this command writes go to `done/` and
    `attention/`, never stay here.
    """
    now = time.time() if now is None else now
    found = []
    for path in directory.iterdir():
        name = path.name
        if (
            not path.is_file()
            or name.startswith((".", "~$"))
            or name == FOLDER_MAPPING
            or path.suffix.lower() not in INPUT_SUFFIXES
        ):
            continue
        mtime = path.stat().st_mtime
        if now - mtime >= settle:
            found.append((mtime, name, path))
    return [path for _, _, path in sorted(found)]


def _ingest_one(
    path: Path, connection: Connection, options: IngestOptions, on_result: OnResult
) -> bool | None:
    source = options.source
    folder_mapping = path.parent / FOLDER_MAPPING
    if source.mapping_file is None and source.preset is None and folder_mapping.exists():
        source = replace(source, mapping_file=folder_mapping)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    work_report = path.parent / f".{path.stem}.{stamp}.report.xlsx"
    try:
        result = import_file(
            path,
            source,
            connection,
            options.upload,
            report=work_report,
            ledger_path=options.ledger_path,
        )
    except (ReadError, MappingError, CatalogError) as err:
        target = _file_away(path, None, ATTENTION, stamp)
        target.with_name(target.name + ".error.txt").write_text(f"{err}\n", encoding="utf-8")
        on_result(target, None, str(err))
        return False
    if result.stopped is not None:
        work_report.unlink(missing_ok=True)
        on_result(path, result, None)
        return None
    folder = DONE if result.complete else ATTENTION
    written = Path(result.summary.report or work_report)
    target = _file_away(path, written, folder, stamp)
    report = target.with_name(f"{target.stem}.report{written.suffix}")
    on_result(target, replace(result, summary=replace(result.summary, report=str(report))), None)
    return result.complete


def _file_away(path: Path, report: Path | None, folder: str, stamp: str) -> Path:
    """Move the export (and its report) into `folder`, never overwriting an earlier one."""
    destination = path.parent / folder
    destination.mkdir(exist_ok=True)
    target = destination / path.name
    if target.exists():
        target = destination / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
    if report is not None and report.exists():
        os.replace(report, target.with_name(f"{target.stem}.report{report.suffix}"))
    return target


def _wait(options: IngestOptions) -> bool:
    """Sleep until the next pass; True when asked to stop."""
    if options.stop is None:
        time.sleep(options.interval)
        return False
    return options.stop.wait(options.interval)


@contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    """One ingest per folder at a time (cron may start the next before the last ends)."""
    lock_path = directory / ".wedocod-ingest.lock"
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise FolderBusy(
                f"{directory}: another `wedocod ingest` is working on this folder"
            ) from err
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
