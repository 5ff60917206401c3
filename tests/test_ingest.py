"""Folder ingestion against the sandbox: files in, leads created, files and reports filed away."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from importer.cli import ExitStatus, main
from importer.ingest import (
    ATTENTION,
    DONE,
    FolderBusy,
    IngestOptions,
    _folder_lock,
    ingest_folder,
    pending_files,
)
from importer.pipeline import Connection, RunResult, SourceOptions
from importer.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from importer.upload import UploadOptions

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TOKEN = "test-token"
GOOD = (
    "full_name,phone,city,address,sku,quantity,total\n"
    "Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,2,299\n"
)
BAD_ROW = "Al,12,Fes,x,SKU-001,0,0\n"


@pytest.fixture()
def server() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,))) as running:
        yield running


def _age(path: Path, seconds: float = 120) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_pending_files_skips_fresh_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("a.csv", "b.xlsx", "a.report.xlsx", ".hidden.csv", "notes.md", "~$b.xlsx"):
        (tmp_path / name).write_text("x")
        _age(tmp_path / name)
    (tmp_path / "fresh.csv").write_text("x")
    (tmp_path / DONE).mkdir()
    assert sorted(p.name for p in pending_files(tmp_path, settle=10)) == [
        "a.csv",
        "a.report.xlsx",
        "b.xlsx",
    ]
    assert "fresh.csv" in [p.name for p in pending_files(tmp_path, settle=0)]


def test_one_pass_files_away_done_and_attention(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.csv").write_text(GOOD, encoding="utf-8")
    (inbox / "partly.csv").write_text(GOOD.replace("0612345678", "0698765432") + BAD_ROW)
    (inbox / "broken.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    for path in inbox.iterdir():
        _age(path)
    seen: list[tuple[Path, RunResult | None, str | None]] = []
    options = IngestOptions(
        source=SourceOptions(),
        upload=UploadOptions(wait=10),
        ledger_path=tmp_path / "ledger.db",
        settle=5,
    )
    results = ingest_folder(
        inbox, Connection(server.url, TOKEN), options, lambda *a: seen.append(a)
    )
    assert sorted(results) == [False, False, True]
    assert sorted(p.name for p in (inbox / DONE).iterdir()) == ["good.csv", "good.report.xlsx"]
    attention = sorted(p.name for p in (inbox / ATTENTION).iterdir())
    assert attention == [
        "broken.xlsx",
        "broken.xlsx.error.txt",
        "partly.csv",
        "partly.report.xlsx",
    ]
    assert "broken.xlsx" in (inbox / ATTENTION / "broken.xlsx.error.txt").read_text()
    assert len(server.sandbox.store.leads(TOKEN)) == 2
    assert not pending_files(inbox, settle=0)

    # the same export dropped again is filed as done without a single new lead
    shutil.copy(inbox / DONE / "good.csv", inbox / "good.csv")
    _age(inbox / "good.csv")
    assert ingest_folder(inbox, Connection(server.url, TOKEN), options, lambda *a: None) == [True]
    assert len(server.sandbox.store.leads(TOKEN)) == 2
    assert len([p for p in (inbox / DONE).iterdir() if p.suffix == ".csv"]) == 2


def test_watch_stops_on_event_and_picks_up_new_files(
    tmp_path: Path, server: RunningSandbox
) -> None:
    stop = threading.Event()
    options = IngestOptions(
        source=SourceOptions(),
        upload=UploadOptions(wait=10, stop=stop),
        ledger_path=tmp_path / "ledger.db",
        settle=0,
        watch=True,
        interval=1,
        stop=stop,
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    results: list[bool] = []
    worker = threading.Thread(
        target=lambda: results.extend(
            ingest_folder(inbox, Connection(server.url, TOKEN), options, lambda *a: None)
        )
    )
    worker.start()
    time.sleep(0.5)
    (inbox / "late.csv").write_text(GOOD, encoding="utf-8")
    deadline = time.time() + 20
    while time.time() < deadline and not (inbox / DONE / "late.csv").exists():
        time.sleep(0.2)
    stop.set()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert results == [True]


def test_a_fixed_report_dropped_back_in_imports_the_fixed_rows(
    tmp_path: Path, server: RunningSandbox
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "partly.csv").write_text(GOOD + BAD_ROW, encoding="utf-8")
    options = IngestOptions(
        source=SourceOptions(), upload=UploadOptions(wait=10), ledger_path=tmp_path / "l.db"
    )
    connection = Connection(server.url, TOKEN)
    options = replace(options, settle=0)
    assert ingest_folder(inbox, connection, options, lambda *a: None) == [False]
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
    assert ingest_folder(inbox, connection, options, lambda *a: None) == [True]
    assert (inbox / DONE / "partly.fixed.xlsx").exists()
    assert len(server.sandbox.store.leads(TOKEN)) == 2  # the good row was not sent again


def test_second_ingest_on_a_busy_folder_is_refused(tmp_path: Path) -> None:
    with _folder_lock(tmp_path), pytest.raises(FolderBusy), _folder_lock(tmp_path):
        pass


def test_cli_ingest_json_lines(tmp_path: Path, server: RunningSandbox) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.csv").write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["ingest", str(inbox), "--settle", "0", "--ledger", str(tmp_path / "l.db"), "--json"],
        env={"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": TOKEN},
        catch_exceptions=False,
    )
    assert result.exit_code == ExitStatus.OK, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["created"] == 1 and line["report"].endswith("good.report.xlsx")
