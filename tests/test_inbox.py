"""The ingest folder on disk: what waits, what is ready, claims, filing away, locks, accounts."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from importer.inbox import (
    ATTENTION,
    DONE,
    PROCESSING,
    FolderBusy,
    Readiness,
    account_folders,
    claim,
    claimed_files,
    clear_attempts,
    count_attempt,
    file_away,
    file_sha256,
    folder_lock,
    waiting_files,
    work_report_path,
)


def touch(path: Path, text: str = "x", age: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if age:
        old = time.time() - age
        os.utime(path, (old, old))
    return path


def test_only_exports_wait_oldest_first(tmp_path: Path) -> None:
    touch(tmp_path / "b.xlsx", age=50)
    touch(tmp_path / "a.csv", age=100)
    touch(tmp_path / "a.report.xlsx", age=10)  # a fixed report dropped back in is an export
    touch(tmp_path / "UPPER.CSV", age=5)
    for name in (
        ".hidden.csv",
        "~$b.xlsx",  # Excel's owner file...
        ".~lock.b.xlsx#",  # ...and LibreOffice's
        "export.tmp",
        "orders.csv.part",
        "orders.csv.crdownload",
        "orders.tmp",
        "notes.md",
        "wedocod.toml",
        "mapping.toml",
    ):
        touch(tmp_path / name)
    (tmp_path / DONE).mkdir()
    (tmp_path / "folder.csv").mkdir()
    touch(tmp_path / PROCESSING / "claimed.csv")
    names = [p.name for p in waiting_files(tmp_path)]
    # b.xlsx is open in Excel (its ~$ owner file is there): it may still change
    assert names == ["a.csv", "a.report.xlsx", "UPPER.CSV"]


@pytest.mark.parametrize(
    "owner",
    ["~$orders-of-the-week.xlsx", "~$ders-of-the-week.xlsx", ".~lock.orders-of-the-week.xlsx#"],
)
def test_a_workbook_open_in_an_editor_waits_until_it_is_closed(tmp_path: Path, owner: str) -> None:
    touch(tmp_path / "orders-of-the-week.xlsx")
    touch(tmp_path / owner)
    assert waiting_files(tmp_path) == []
    (tmp_path / owner).unlink()
    assert [p.name for p in waiting_files(tmp_path)] == ["orders-of-the-week.xlsx"]


def test_ready_means_unchanged_across_looks_for_the_settle_time(tmp_path: Path) -> None:
    path = touch(tmp_path / "orders.csv", "header\n", age=3600)
    slow = Readiness(settle=60)
    slow.look([path], tmp_path)
    assert not slow.ready(path)  # an hour old, but seen for the first time just now

    quick = Readiness(settle=0.05)
    quick.look([path], tmp_path)
    time.sleep(0.1)
    assert quick.ready(path)
    # still being copied with the source's old mtime (cp -p, rsync): size changed, not ready
    with path.open("a", encoding="utf-8") as handle:
        handle.write("row\n")
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert not quick.ready(path)
    quick.look([path], tmp_path)
    time.sleep(0.1)
    assert quick.ready(path)  # unchanged since the last look, for longer than the settle time
    assert quick.due_in([path]) == 0


def test_a_file_gone_between_looks_is_forgotten(tmp_path: Path) -> None:
    path = touch(tmp_path / "orders.csv")
    readiness = Readiness(settle=0)
    readiness.look([path], tmp_path)
    path.unlink()
    readiness.look([], tmp_path)
    touch(path)
    assert not readiness.ready(path)  # a new file under the old name: seen afresh


def test_claim_is_one_move_and_never_overwrites(tmp_path: Path) -> None:
    path = touch(tmp_path / "orders.csv", "first")
    claimed = claim(path)
    assert claimed == tmp_path / PROCESSING / "orders.csv"
    assert claimed.read_text() == "first" and not path.exists()
    assert claim(path) is None  # a second claimant finds nothing
    touch(path, "second")
    assert claim(path) is None  # one of that name is already claimed: it waits
    assert path.read_text() == "second" and claimed.read_text() == "first"
    assert claimed_files(tmp_path) == [claimed]
    work_report_path(claimed).write_text("report")  # hidden: never taken for a claimed file
    assert claimed_files(tmp_path) == [claimed]


def test_file_away_keeps_earlier_files_and_moves_the_report(tmp_path: Path) -> None:
    for text in ("one", "two"):
        claimed = claim(touch(tmp_path / "orders.csv", text))
        assert claimed is not None
        report = work_report_path(claimed)
        report.write_text(f"report {text}")
        target = file_away(claimed, tmp_path, DONE, report)
        assert target.read_text() == text
        assert target.with_name(f"{target.stem}.report.xlsx").read_text() == f"report {text}"
    done = sorted(p.name for p in (tmp_path / DONE).iterdir())
    assert len(done) == 4 and "orders.csv" in done and "orders.report.xlsx" in done
    claimed = claim(touch(tmp_path / "broken.csv"))
    assert claimed is not None
    assert file_away(claimed, tmp_path, ATTENTION, None) == tmp_path / ATTENTION / "broken.csv"


def test_second_ingest_on_a_busy_folder_is_refused(tmp_path: Path) -> None:
    with folder_lock(tmp_path), pytest.raises(FolderBusy), folder_lock(tmp_path):
        pass
    with folder_lock(tmp_path):  # released: the next run gets it
        pass


def test_account_folders_are_the_roots_and_folders_with_settings(tmp_path: Path) -> None:
    touch(tmp_path / "seller-a" / "wedocod.toml")
    touch(tmp_path / "region" / "seller-b" / "wedocod.toml")
    touch(tmp_path / "region" / "notes.txt")
    touch(tmp_path / "seller-a" / DONE / "wedocod.toml")  # a copy filed away: not an account
    touch(tmp_path / ".trash" / "seller-c" / "wedocod.toml")
    found = account_folders([tmp_path], recursive=True, settings_name="wedocod.toml")
    assert found == [tmp_path, tmp_path / "region" / "seller-b", tmp_path / "seller-a"]
    assert account_folders([tmp_path], recursive=False, settings_name="wedocod.toml") == [tmp_path]


def test_content_hash(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_attempts_count_runs_that_died_on_that_very_file(tmp_path: Path) -> None:
    claimed = claim(touch(tmp_path / "orders.csv"))
    assert claimed is not None
    assert [count_attempt(claimed) for _ in range(3)] == [0, 1, 2]
    clear_attempts(claimed)
    assert count_attempt(claimed) == 0
    # another file under the same name (a new inode) starts afresh
    claimed.unlink()
    touch(tmp_path / "other.csv")
    again = claim(touch(tmp_path / "orders.csv", "new"))
    assert again is not None and count_attempt(again) in (0, 1)
    assert claimed_files(tmp_path) == [again]  # the mark is hidden: never taken for a file
