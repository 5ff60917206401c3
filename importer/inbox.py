"""An ingest folder on disk: which files wait, which are ready, claiming them, filing them away.

Layout of an account folder ``DIR``::

    DIR/                 exports are dropped here (a wedocod.toml may say how to import them)
    DIR/.processing/     the file being imported, claimed by an atomic move (and its report)
    DIR/done/            imported completely, with the report
    DIR/attention/       something needs a person: the report, or a .error.txt saying why

Only one `wedocod ingest` works in a folder at a time (an flock on ``DIR/.wedocod-ingest.lock``,
released by the kernel even when the process is killed), so a file found in ``.processing/``
by the run holding the lock was left there by a run that stopped or died: it is resumed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: Suffixes of the exports a folder may receive.
INPUT_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls")
#: Downloads and copies still under way: never taken, whatever else their name says.
TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload")
#: Sub-folders a processed file is moved to, with its report; the claimed file's folder.
DONE, ATTENTION, PROCESSING = "done", "attention", ".processing"
#: Files of the folder that are settings, never exports.
SETTINGS_NAMES = ("wedocod.toml", "mapping.toml")
LOCK_NAME = ".wedocod-ingest.lock"


class FolderBusy(Exception):
    """Another `wedocod ingest` holds this folder."""


def is_export_name(name: str) -> bool:
    """Whether a file of this name may be an export to import (not hidden, temporary, a lock)."""
    lowered = name.lower()
    return not (
        name.startswith((".", "~$"))  # hidden; Excel's owner file; LibreOffice's .~lock.x#
        or lowered.endswith(TEMPORARY_SUFFIXES)
        or name in SETTINGS_NAMES
        or not lowered.endswith(INPUT_SUFFIXES)
    )


def open_in_an_editor(path: Path) -> bool:
    """Excel (``~$name``) or LibreOffice (``.~lock.name#``) has the file open: it may change."""
    name = path.name
    # Excel drops the first one or two characters of long names in its owner file's name
    owners = {f"~${name}", f"~${name[1:]}", f"~${name[2:]}", f".~lock.{name}#"}
    return any((path.parent / owner).exists() for owner in owners)


def waiting_files(directory: Path) -> list[Path]:
    """Exports lying in ``directory`` (not in its sub-folders), oldest first.

    A report fixed by a person and dropped back in is an export like any other (its rows
    already created are skipped); the reports this command writes go to ``done/`` and
    ``attention/``, never stay here.
    """
    found = []
    for path in directory.iterdir():
        if not is_export_name(path.name):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # gone between the listing and the look
            continue
        if not path.is_file() or open_in_an_editor(path):
            continue
        found.append((stat.st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(found)]


@dataclass(frozen=True)
class Look:
    """What one look at a file saw: a file still being written changes one of these."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def at(cls, path: Path) -> Look | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino)


class Readiness:
    """Which files have stopped changing: the same size and mtime over ``settle`` seconds.

    Observed across looks, not inferred from the mtime alone: a copy that keeps the source's
    old mtime (``cp -p``, rsync, an unzip) is still growing while it is written.
    """

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._seen: dict[Path, tuple[Look, float]] = {}  # path -> (look, since when, monotonic)

    def look(self, paths: Iterable[Path], within: Path) -> None:
        """Record a look at the files now waiting in folder ``within``."""
        now = time.monotonic()
        current = set()
        for path in paths:
            seen = Look.at(path)
            if seen is None:
                continue
            current.add(path)
            before = self._seen.get(path)
            if before is None or before[0] != seen:
                self._seen[path] = (seen, now)
        for path in [p for p in self._seen if p.parent == within and p not in current]:
            del self._seen[path]

    def ready(self, path: Path) -> bool:
        """Unchanged since at least ``settle`` seconds, as of the last look (and right now)."""
        before = self._seen.get(path)
        if before is None or time.monotonic() - before[1] < self.settle:
            return False
        return Look.at(path) == before[0]

    def due_in(self, paths: Iterable[Path]) -> float:
        """Seconds until every one of these files would be ready if it stays as it is."""
        now = time.monotonic()
        left = [self._seen[p][1] + self.settle - now for p in paths if p in self._seen]
        return max([0.0, *left])

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)


def claim(path: Path) -> Path | None:
    """Move a waiting file into ``.processing/`` (atomic: one rename); None if it is gone.

    Never overwrites a file already claimed under that name (only the lock holder writes in
    ``.processing/``, so looking first is enough).
    """
    work = path.parent / PROCESSING
    work.mkdir(exist_ok=True)
    target = work / path.name
    if target.exists():
        return None
    try:
        os.rename(path, target)
    except FileNotFoundError:  # moved or deleted by someone else meanwhile
        return None
    return target


def unclaim(claimed: Path, directory: Path) -> Path:
    """Put a claimed file back where it was dropped (it changed after all); stays if taken."""
    target = directory / claimed.name
    if target.exists():
        return claimed
    os.rename(claimed, target)
    return target


def claimed_files(directory: Path) -> list[Path]:
    """Files a stopped or killed run left in ``.processing/``, oldest first (resumed first)."""
    work = directory / PROCESSING
    if not work.is_dir():
        return []
    found = [
        (path.stat().st_mtime_ns, path.name, path)
        for path in work.iterdir()
        if is_export_name(path.name) and path.is_file()
    ]
    return [path for _, _, path in sorted(found)]


def count_attempt(claimed: Path) -> int:
    """Count one more run at a claimed file; returns how many earlier runs died on it.

    The mark (``.processing/.<name>.attempts``) is cleared whenever a run ends its work on the
    file, however it ends (`clear_attempts`): only a run that died (killed, out of memory, the
    machine restarted) leaves it behind.
    """
    mark = _attempts_path(claimed)
    inode = claimed.stat().st_ino
    before = 0
    try:
        count, of = mark.read_text(encoding="utf-8").split()
        if int(of) == inode:  # a mark left for another file of the same name does not count
            before = int(count)
    except (FileNotFoundError, ValueError):
        pass
    mark.write_text(f"{before + 1} {inode}\n", encoding="utf-8")
    return before


def clear_attempts(claimed: Path) -> None:
    _attempts_path(claimed).unlink(missing_ok=True)


def _attempts_path(claimed: Path) -> Path:
    return claimed.parent / f".{claimed.name}.attempts"


def work_report_path(claimed: Path) -> Path:
    """Where a claimed file's report is written while it is imported (hidden: never an input)."""
    return claimed.parent / f".{claimed.name}.report.xlsx"


def file_away(claimed: Path, directory: Path, folder: str, report: Path | None) -> Path:
    """Move the file (and its report) into ``directory/folder``, never overwriting an earlier one.

    Returns where the file now is; its report is beside it as ``<stem>.report<suffix>``.
    """
    destination = directory / folder
    destination.mkdir(exist_ok=True)
    target = _free_name(destination, claimed.name, report.suffix if report else None)
    os.rename(claimed, target)
    if report is not None and report.exists():
        os.replace(report, report_beside(target, report.suffix))
    return target


def report_beside(target: Path, suffix: str) -> Path:
    return target.with_name(f"{target.stem}.report{suffix}")


def _free_name(destination: Path, name: str, report_suffix: str | None) -> Path:
    """``name``, else ``<stem>.<time stamp>[-n]<suffix>``: the first that neither file uses."""
    first = destination / name
    stem, suffix = first.stem, first.suffix
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidates = [first, destination / f"{stem}.{stamp}{suffix}"]
    candidates += (destination / f"{stem}.{stamp}-{n}{suffix}" for n in range(2, 1000))
    for candidate in candidates:
        taken = candidate.exists() or (
            report_suffix is not None and report_beside(candidate, report_suffix).exists()
        )
        if not taken:
            return candidate
    raise FileExistsError(f"{destination}: no free name for {name}")


def file_sha256(path: Path) -> str:
    """The file's content hash (what tells a file dropped again byte for byte)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """One ingest per folder at a time (cron may start the next before the last ends)."""
    lock_path = directory / LOCK_NAME
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


#: Sub-folders that never hold an account: ingestion's own, and hidden ones.
_NOT_ACCOUNTS = (DONE, ATTENTION)


def account_folders(roots: Iterable[Path], recursive: bool, settings_name: str) -> list[Path]:
    """The folders to ingest: each root, and with ``recursive`` every folder below a root that
    holds a settings file (``settings_name``), skipping ``done/``, ``attention/`` and hidden
    folders. In the order found, each once."""
    found: dict[Path, None] = {}
    for root in roots:
        root = Path(root)
        found[root] = None
        if not recursive:
            continue
        for current, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_ACCOUNTS)
            if settings_name in files:
                found[Path(current)] = None
    return list(found)
