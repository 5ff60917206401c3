"""Real `wedocod ingest` processes against the sandbox: killed, stopped, and run side by side.

Each kill or signal waits on observed progress (a batch line in the --log-file), never on a
timer: how fast the machine is changes when it lands, not whether the test holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openpyxl

from importer.cli import ExitStatus
from importer.inbox import DONE, PROCESSING
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN, import_id_counts, serve_sandbox

HEADER = "order_id,full_name,phone,city,address,sku,quantity,total\n"
LINE = "{p}-{n},Client Numero {n},06{n:08d},Rabat,{n} Avenue Mohammed V,SKU-001,1,{t}\n"


def write_orders(path: Path, numbers: range, prefix: str = "A") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(LINE.format(p=prefix, n=n, t=100 + n) for n in numbers)
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def spawn(running: RunningSandbox, inbox: Path, tmp: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "importer", "ingest", str(inbox), "--settle", "0"]
    command += ["--ledger", str(tmp / "ledger.db"), "--log-file", str(tmp / "ingest.jsonl")]
    return subprocess.Popen(
        [*command, *extra],
        env={**os.environ, "WEDOCOD_BASE_URL": running.url, "WEDOCOD_TOKEN": TEST_TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def log_events(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "ingest.jsonl"
    if not path.exists():
        return []
    # a line being written may be cut short: only whole lines count
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    return [json.loads(line) for line in lines]


def wait_for_batches(tmp: Path, proc: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(1 for e in log_events(tmp) if e["event"] == "batch") < count:
        assert proc.poll() is None, f"ingest ended before its batch {count}: {proc.stderr}"
        assert time.monotonic() < deadline, "no batch logged in 60 s"
        time.sleep(0.02)


def report_outcomes(path: Path) -> list[str]:
    sheet = openpyxl.load_workbook(path, read_only=True)["Report"]
    return [str(row[1]) for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_a_run_killed_mid_file_is_resumed_without_duplicates(tmp_path: Path) -> None:
    total = 300
    inbox = tmp_path / "inbox"
    write_orders(inbox / "orders.csv", range(total))
    # 100 ms a request, one worker: the file takes seconds, the kill lands inside it
    with serve_sandbox(latency_ms=100) as running:
        proc = spawn(running, inbox, tmp_path, "--workers", "1")
        wait_for_batches(tmp_path, proc, 2)
        proc.kill()
        proc.communicate(timeout=30)
        on_server = len(import_id_counts(running))
        assert 0 < on_server < total, on_server
        assert (inbox / PROCESSING / "orders.csv").exists()  # claimed, and left there

        proc = spawn(running, inbox, tmp_path, "--json")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == ExitStatus.OK, err
        summary = json.loads(out)
        assert summary["created"] + summary["skipped"] == total
        assert summary["skipped"] >= on_server - 10  # at most the batch in flight was in doubt
        counts = import_id_counts(running)
        assert len(counts) == total and set(counts.values()) == {1}
    assert (inbox / DONE / "orders.csv").exists() and not list((inbox / PROCESSING).iterdir())
    outcomes = report_outcomes(inbox / DONE / "orders.report.xlsx")
    assert len(outcomes) == total and set(outcomes) <= {"created", "skipped"}


def test_sigterm_finishes_the_batch_writes_the_report_and_exits_0(tmp_path: Path) -> None:
    total = 300
    inbox = tmp_path / "inbox"
    write_orders(inbox / "orders.csv", range(total))
    with serve_sandbox(latency_ms=100) as running:
        proc = spawn(running, inbox, tmp_path, "--watch", "--interval", "1", "--workers", "1")
        wait_for_batches(tmp_path, proc, 1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)  # seconds, not the rest of the file
        assert proc.returncode == ExitStatus.OK, err
        on_server = len(import_id_counts(running))
        (stopped,) = [e for e in log_events(tmp_path) if e["event"] == "file"]
        assert stopped["outcome"] == "stopped" and stopped["error"] == "interrupted"
        # nothing in flight was left unaccounted: what the server has is what the run says
        assert stopped["created"] == on_server and stopped["unsent"] == total - on_server
        assert 0 < on_server < total
        assert len(report_outcomes(Path(stopped["report"]))) == total
        assert log_events(tmp_path)[-1]["event"] == "pass"

        proc = spawn(running, inbox, tmp_path)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == ExitStatus.OK, err
        counts = import_id_counts(running)
        assert len(counts) == total and set(counts.values()) == {1}
    assert (inbox / DONE / "orders.csv").exists()


def test_two_concurrent_runs_never_both_import_a_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for n in range(4):
        write_orders(inbox / f"export-{n}.csv", range(n * 30, n * 30 + 30))
    with serve_sandbox(latency_ms=20) as running:
        first = spawn(running, inbox, tmp_path, "--json")
        second = spawn(running, inbox, tmp_path, "--json")
        outs = [proc.communicate(timeout=120) for proc in (first, second)]
        assert [first.returncode, second.returncode] == [0, 0], outs
        counts = import_id_counts(running)
        assert len(counts) == 120 and set(counts.values()) == {1}
    lines = [json.loads(line) for out, _ in outs for line in out.splitlines()]
    imported = sorted(line["file"] for line in lines if line.get("outcome") == "done")
    assert imported == [str(inbox / DONE / f"export-{n}.csv") for n in range(4)]
    assert sum(line["created"] for line in lines if "created" in line) == 120
    assert sorted(p.name for p in (inbox / DONE).glob("*.csv")) == [
        f"export-{n}.csv" for n in range(4)
    ]
