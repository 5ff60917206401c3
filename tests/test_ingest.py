"""Folder ingestion against the sandbox: files in, leads created, files and reports filed away."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import importer.ingest
from importer.cli import ExitStatus, main
from importer.inbox import ATTENTION, DONE, PROCESSING, claim, count_attempt, folder_lock
from importer.ingest import (
    MAX_DEATHS,
    Event,
    EventLog,
    FileOutcome,
    FolderSetup,
    IngestOptions,
    folder_settings,
    ingest,
    ingest_folder,
)
from importer.pipeline import Connection, SourceOptions
from importer.sandbox import RunningSandbox
from importer.settings import Settings
from importer.upload import UploadOptions
from tests.conftest import TEST_TOKEN, import_id_counts, serve_sandbox

OTHER_TOKEN = "other-seller-token"
HEADER = "order_id,full_name,phone,city,address,sku,quantity,total\n"
GOOD = (
    "full_name,phone,city,address,sku,quantity,total\n"
    "Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,2,299\n"
)
BAD_ROW = "Al,12,Fes,x,SKU-001,0,0\n"
#: An old-Mac CSV: records separated by CR alone.
CR_ONLY = GOOD.replace("\n", "\r").encode("utf-8")


def orders(numbers: range, prefix: str = "A") -> str:
    line = "{p}-{n},Client Numero {n},06{n:08d},Rabat,{n} Avenue Mohammed V,SKU-001,1,{t}\n"
    return HEADER + "".join(line.format(p=prefix, n=n, t=100 + n) for n in numbers)


def drop(path: Path, text: str | bytes, age: float = 0) -> Path:
    """Put a file in a folder as a user would, ``age`` seconds old (the oldest is taken first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    if age:
        old = time.time() - age
        os.utime(path, (old, old))
    return path


@pytest.fixture()
def server() -> Iterator[RunningSandbox]:
    with serve_sandbox(tokens=(TEST_TOKEN, OTHER_TOKEN)) as running:
        yield running


class Events(list[Event]):
    """Every event of a run, to look at afterwards."""

    def of(self, kind: str) -> list[Event]:
        return [e for e in self if e.event == kind]

    def file(self, name: str) -> Event:
        found = [e for e in self.of("file") if e.name == name]
        assert len(found) == 1, found
        return found[0]


def setup_for(server: RunningSandbox, tmp_path: Path, token: str = TEST_TOKEN) -> FolderSetup:
    return FolderSetup(
        source=SourceOptions(),
        connection=Connection(server.url, token),
        upload=UploadOptions(wait=10),
        ledger_path=tmp_path / "ledger.db",
    )


def one_pass(
    inbox: Path, server: RunningSandbox, tmp_path: Path, settle: float = 0
) -> tuple[Events, list[FileOutcome]]:
    events = Events()
    report = ingest_folder(
        inbox, setup_for(server, tmp_path), IngestOptions(settle=settle), events.append
    )
    return events, [f.outcome for f in report.files]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_one_pass_files_away_done_and_attention(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "good.csv", GOOD, age=30)
    drop(inbox / "partly.csv", GOOD.replace("0612345678", "0698765432") + BAD_ROW, age=20)
    drop(inbox / "broken.xlsx", b"PK\x03\x04 not a workbook", age=10)
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.DONE, FileOutcome.ATTENTION, FileOutcome.ATTENTION]
    assert names(inbox / DONE) == ["good.csv", "good.report.xlsx"]
    assert names(inbox / ATTENTION) == [
        "broken.xlsx",
        "broken.xlsx.error.txt",
        "partly.csv",
        "partly.report.xlsx",
    ]
    why = (inbox / ATTENTION / "broken.xlsx.error.txt").read_text()
    assert "broken.xlsx" in why and "not a readable spreadsheet" in why
    assert str(inbox / PROCESSING) not in why  # it names the file where it is now
    assert len(server.sandbox.store.leads(TEST_TOKEN)) == 2
    assert names(inbox / PROCESSING) == []
    assert events.file("good.csv").counts["created"] == 1
    assert events.file("partly.csv").error == "rows"
    assert events.file("broken.xlsx").error == "unreadable"
    (last,) = events.of("pass")
    assert (last.counts["done"], last.counts["attention"]) == (1, 2)


def test_a_cr_only_or_junk_file_never_blocks_the_next_one(
    tmp_path: Path, server: RunningSandbox
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "old-mac.csv", CR_ONLY, age=30)  # taken first: the oldest
    drop(inbox / "junk.csv", os.urandom(2000) + b"\x00", age=20)
    drop(inbox / "empty.csv", "", age=15)
    drop(inbox / "next.csv", orders(range(3)), age=10)
    events, _ = one_pass(inbox, server, tmp_path)
    assert names(inbox / DONE)[:2] == ["next.csv", "next.report.xlsx"]
    assert len(import_id_counts(server)) == 3 + ("old-mac.csv" in names(inbox / DONE))
    for name in ("junk.csv", "empty.csv"):
        assert f"{name}.error.txt" in names(inbox / ATTENTION)
    # reading CR-only files is the reader's business; ingestion's is that it never stops a pass
    old_mac = events.file("old-mac.csv")
    if old_mac.outcome == FileOutcome.ATTENTION:
        assert old_mac.error_file is not None and Path(old_mac.error_file).exists()
    else:
        assert old_mac.outcome == FileOutcome.DONE
    assert set(names(inbox)) == {ATTENTION, DONE, PROCESSING, ".wedocod-ingest.lock"}


def test_a_crash_on_one_file_sends_it_to_attention_with_the_traceback(
    tmp_path: Path, server: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a stage is a fault ingestion must survive: injected here, since none is known."""
    real = importer.ingest.import_file

    def import_file(path: Path, *args: object, **kwargs: object) -> object:
        if path.name == "boom.csv":
            raise ZeroDivisionError("a bug in a stage")
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importer.ingest, "import_file", import_file)
    inbox = tmp_path / "inbox"
    drop(inbox / "boom.csv", orders(range(2)), age=20)
    drop(inbox / "after.csv", orders(range(10, 12)), age=10)
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.ATTENTION, FileOutcome.DONE]
    why = (inbox / ATTENTION / "boom.csv.error.txt").read_text()
    assert "ZeroDivisionError: a bug in a stage" in why and "Traceback" in why
    assert events.file("boom.csv").error == "crash"
    assert len(import_id_counts(server)) == 2


def test_a_file_dropped_again_byte_for_byte_creates_nothing(
    tmp_path: Path, server: RunningSandbox
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "orders.csv", orders(range(5)))
    one_pass(inbox, server, tmp_path)
    requests = dict(server.sandbox.stats)
    shutil.copy(inbox / DONE / "orders.csv", inbox / "orders.csv")
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.DUPLICATE]
    again = events.file("orders.csv")
    assert again.same_as == str(inbox / DONE / "orders.csv")
    assert again.file is not None and Path(again.file).parent == inbox / DONE
    assert dict(server.sandbox.stats) == requests  # not a single request, not even a lookup
    assert len([n for n in names(inbox / DONE) if n.endswith(".csv")]) == 2

    # one byte more is another file: imported, its known orders skipped
    drop(inbox / "orders.csv", orders(range(6)))
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.DONE]
    assert (events.file("orders.csv").counts["skipped"], len(import_id_counts(server))) == (5, 6)


def test_a_file_still_being_written_is_not_taken(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    path = drop(inbox / "growing.csv", orders(range(3)), age=3600)
    written = threading.Event()

    def on_event(event: Event) -> None:
        events.append(event)
        if event.event == "settling" and not written.is_set():
            # between the two looks, the copy goes on (and keeps the source's old mtime)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(orders(range(3, 6)).split("\n", 1)[1])
            old = time.time() - 3600
            os.utime(path, (old, old))
            written.set()

    events = Events()
    options = IngestOptions(settle=0.2)
    report = ingest_folder(inbox, setup_for(server, tmp_path), options, on_event)
    assert written.is_set() and report.files == ()
    assert names(inbox) == ["growing.csv"]  # not claimed, no lock taken, nothing sent
    assert server.sandbox.stats.get("POST /leads", 0) == 0

    events = Events()
    report = ingest_folder(inbox, setup_for(server, tmp_path), options, events.append)
    assert [f.outcome for f in report.files] == [FileOutcome.DONE]
    assert events.file("growing.csv").counts["created"] == 6  # the whole file, once complete


def test_excel_lock_and_temporary_files_are_ignored(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    ignored = ["~$orders.xlsx", ".~lock.orders.xlsx#", "orders.tmp", "orders.csv.part"]
    ignored += ["orders.csv.crdownload", ".orders.csv"]
    for name in ignored:
        drop(inbox / name, orders(range(2)))
    drop(inbox / "orders.xlsx", b"")  # open in Excel: its owner files are beside it
    _, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == []
    assert names(inbox) == sorted([*ignored, "orders.xlsx"])
    assert server.sandbox.stats.get("POST /leads", 0) == 0


def test_watch_stops_on_event_and_picks_up_new_files(
    tmp_path: Path, server: RunningSandbox
) -> None:
    stop = threading.Event()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events = Events()
    filed = threading.Event()

    def on_event(event: Event) -> None:
        events.append(event)
        if event.event == "pass" and not (inbox / "late.csv").exists() and not filed.is_set():
            drop(inbox / "late.csv", GOOD)  # dropped while it watches
        if event.event == "file":
            filed.set()

    options = IngestOptions(settle=0, watch=True, interval=1, stop=stop)
    worker = threading.Thread(
        target=ingest_folder, args=(inbox, setup_for(server, tmp_path), options, on_event)
    )
    worker.start()
    assert filed.wait(30)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert events.file("late.csv").outcome == FileOutcome.DONE
    assert len(events.of("pass")) >= 2


def test_a_fixed_report_dropped_back_in_imports_the_fixed_rows(
    tmp_path: Path, server: RunningSandbox
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "partly.csv", GOOD + BAD_ROW)
    assert one_pass(inbox, server, tmp_path)[1] == [FileOutcome.ATTENTION]
    report = inbox / ATTENTION / "partly.report.xlsx"
    book = openpyxl.load_workbook(report)
    sheet = book["Report"]
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("Outcome")].value == "invalid":
            row[header.index("full_name")].value = "Alae Bennani"
            row[header.index("phone")].value = "0612349876"
            row[header.index("address")].value = "99 Rue des Fautes"
            row[header.index("quantity")].value = "1"
            row[header.index("total")].value = "100"
    book.save(inbox / "partly.fixed.xlsx")
    assert one_pass(inbox, server, tmp_path)[1] == [FileOutcome.DONE]
    assert (inbox / DONE / "partly.fixed.xlsx").exists()
    assert len(server.sandbox.store.leads(TEST_TOKEN)) == 2  # the good row was not sent again


def test_a_busy_folder_is_skipped_and_the_others_go_on(
    tmp_path: Path, server: RunningSandbox
) -> None:
    busy, free = tmp_path / "busy", tmp_path / "free"
    drop(busy / "a.csv", orders(range(2)))
    drop(free / "b.csv", orders(range(10, 12)))
    events = Events()
    with folder_lock(busy):
        reports = ingest(
            [busy, free],
            lambda _: setup_for(server, tmp_path),
            IngestOptions(settle=0),
            events.append,
        )
    assert [r.busy for r in reports] == [True, False]
    assert names(busy) == [".wedocod-ingest.lock", "a.csv"]  # untouched, for the next run
    assert events.file("b.csv").outcome == FileOutcome.DONE
    assert [e.error for e in events.of("folder")] == ["busy"]


def test_folder_settings_lie_over_the_global_ones(tmp_path: Path) -> None:
    folder = tmp_path / "seller"
    drop(folder / "mapping.toml", '[fields]\nfull_name = "Client"\n')
    base = Settings(preset="shopify", batch_size=50, region="MA")
    mapped = folder_settings(folder, base)
    # the folder's mapping.toml beats a preset the global settings name
    assert (mapped.preset, mapped.mapping) == (None, (folder / "mapping.toml").resolve())
    drop(folder / "wedocod.toml", 'preset = "woocommerce"\nbatch_size = 5\ntoken_file = "t"\n')
    own = folder_settings(folder, base)
    assert (own.preset, own.mapping, own.batch_size, own.region) == ("woocommerce", None, 5, "MA")
    assert own.token_file == (folder / "t").resolve()


def test_two_account_folders_each_import_into_their_own_account(
    tmp_path: Path, server: RunningSandbox
) -> None:
    root = tmp_path / "agency"
    for seller, token in (("seller-a", TEST_TOKEN), ("seller-b", OTHER_TOKEN), ("seller-c", "x")):
        drop(root / seller / "token", token + "\n")
        drop(root / seller / "wedocod.toml", 'token_file = "token"\nbatch_size = 2\n')
    drop(root / "seller-a" / "a.csv", orders(range(0, 3), "A"))
    drop(root / "seller-b" / "b.csv", orders(range(0, 4), "B"))
    drop(root / "seller-c" / "c.csv", orders(range(0, 2), "C"))  # a token the API refuses
    drop(root / "seller-d" / "wedocod.toml", "batch_size = 500\n")  # a broken settings file
    drop(root / "seller-d" / "d.csv", orders(range(0, 2), "D"))
    log = tmp_path / "ingest.jsonl"
    args = ["ingest", str(root), "--recursive", "--settle", "0", "--log-file", str(log)]
    args += ["--ledger", str(tmp_path / "ledger.db"), "--json"]
    # a global token given on the command line never overrides a folder's own
    args += ["--token-file", str(root / "seller-a" / "token")]
    env = {"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": ""}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == ExitStatus.API, result.output  # the worst: a token refused

    assert sorted(import_id_counts(server, TEST_TOKEN)) == ["order:A-0", "order:A-1", "order:A-2"]
    assert len(import_id_counts(server, OTHER_TOKEN)) == 4
    assert names(root / "seller-c" / PROCESSING) == ["c.csv"]  # waits for a good token
    assert "d.csv" in names(root / "seller-d")  # untouched until its settings are fixed
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    folder_errors = {e["folder"]: e["error"] for e in lines if e["event"] == "folder"}
    assert folder_errors == {str(root / "seller-c"): "auth", str(root / "seller-d"): "settings"}
    batches = [e for e in lines if e["event"] == "batch" and e["name"] == "b.csv"]
    assert [e["leads"] for e in batches] == [2, 2]  # the folder's own batch size
    assert "seller-c" in result.stderr and "token" in result.stderr

    # the token fixed: the waiting file is resumed, into that folder's own account
    drop(root / "seller-c" / "token", OTHER_TOKEN)
    drop(root / "seller-d" / "wedocod.toml", f'token_file = "{root / "seller-a" / "token"}"\n')
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == ExitStatus.OK, result.output
    assert len(import_id_counts(server, OTHER_TOKEN)) == 6
    assert len(import_id_counts(server, TEST_TOKEN)) == 5
    assert names(root / "seller-c" / PROCESSING) == []


def test_cli_json_lines_and_a_log_without_token_or_customer_data(
    tmp_path: Path, server: RunningSandbox
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox / "good.csv", orders(range(12)), age=20)
    drop(inbox / "partly.csv", GOOD + BAD_ROW, age=10)
    log = tmp_path / "log" / "ingest.jsonl"
    log.parent.mkdir()
    args = ["ingest", str(inbox), "--settle", "0", "--ledger", str(tmp_path / "l.db"), "--json"]
    result = CliRunner().invoke(
        main,
        [*args, "--log-file", str(log)],
        env={"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": TEST_TOKEN},
        catch_exceptions=False,
    )
    assert result.exit_code == ExitStatus.INCOMPLETE, result.output
    good, partly = (json.loads(line) for line in result.stdout.splitlines())
    assert good["created"] == 12 and good["report"].endswith("done/good.report.xlsx")
    assert good["outcome"] == "done" and partly["outcome"] == "attention"
    assert partly["invalid"] == 1 and partly["created"] == 1
    assert partly["issues"] and {"warnings", "notes"} <= set(partly)  # as `import --json` says

    text = log.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    files = [e for e in lines if e["event"] == "file"]
    assert [(e["name"], e["outcome"]) for e in files] == [
        ("good.csv", "done"),
        ("partly.csv", "attention"),
    ]
    assert files[0]["refs"] == 12 and files[0]["seconds"] > 0 and files[0]["rows"] == 12
    batches = [e for e in lines if e["event"] == "batch"]
    assert sum(e["created"] for e in batches) == 13 and {e["error"] for e in batches} == {None}
    assert all(e["refs"] == e["created"] for e in batches)
    assert lines[-1]["event"] == "pass" and lines[-1]["attention"] == 1
    assert not any("issues" in e or "notes" in e for e in lines)  # they may name cells
    for secret in (TEST_TOKEN, "Client Numero", "0600000001", "Avenue Mohammed", "Ahmed", "Rabat"):
        assert secret not in text
    assert EventLog(log).path == log  # appending to an existing log is fine


def test_a_log_file_that_cannot_be_written_is_a_usage_problem(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["ingest", str(tmp_path), "--log-file", str(tmp_path / "no" / "such" / "dir.jsonl")],
        env={"WEDOCOD_TOKEN": TEST_TOKEN},
    )
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "dir.jsonl" in result.stderr


def test_a_file_the_runs_keep_dying_on_is_set_aside(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    claimed = claim(drop(inbox / "huge.csv", orders(range(3)), age=20))
    assert claimed is not None
    for _ in range(MAX_DEATHS):
        count_attempt(claimed)  # as each run does when it starts on the file, and then died
    drop(inbox / "next.csv", orders(range(10, 12)), age=10)
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.ATTENTION, FileOutcome.DONE]
    assert events.file("huge.csv").error == "died"
    assert "died before they finished" in (inbox / ATTENTION / "huge.csv.error.txt").read_text()
    assert names(inbox / PROCESSING) == []  # and no mark is left behind


def test_a_run_that_dies_once_is_resumed(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    claimed = claim(drop(inbox / "orders.csv", orders(range(3))))
    assert claimed is not None
    count_attempt(claimed)  # a run started on it, and died
    events, outcomes = one_pass(inbox, server, tmp_path)
    assert outcomes == [FileOutcome.DONE] and events.file("orders.csv").counts["created"] == 3


def test_a_failing_server_leaves_the_file_waiting_and_the_next_folder_goes_on(
    tmp_path: Path, server: RunningSandbox
) -> None:
    failing_dir, healthy_dir = tmp_path / "failing", tmp_path / "healthy"
    drop(failing_dir / "a.csv", orders(range(3)))
    drop(healthy_dir / "b.csv", orders(range(10, 12)))
    events = Events()
    with serve_sandbox(error_rate=1.0) as failing:  # every POST /leads answered 500

        def configure(folder: Path) -> FolderSetup:
            setup = setup_for(failing if folder == failing_dir else server, tmp_path)
            quick = UploadOptions(wait=1, backoff=0.01, max_backoff=0.05)
            return FolderSetup(setup.source, setup.connection, quick, setup.ledger_path)

        reports = ingest(
            [failing_dir, healthy_dir], configure, IngestOptions(settle=0), events.append
        )
    assert [f.outcome for r in reports for f in r.files] == [FileOutcome.STOPPED, FileOutcome.DONE]
    assert "a.csv" in names(failing_dir / PROCESSING)  # waits there for the next run
    assert [e.error for e in events.of("folder")] == ["api"]
    assert events.file("a.csv").error == "api" and events.file("b.csv").counts["created"] == 2
