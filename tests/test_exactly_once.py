"""Exactly once through the real CLI: re-runs, overlapping exports, fixed reports, kills."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from importer.cli import ExitStatus, main
from importer.sandbox import RunningSandbox, SandboxConfig, serve_in_thread
from tests.conftest import import_id_counts

TOKEN = "test-token"
HEADER = "order_id,full_name,phone,city,address,sku,quantity,total\n"


def order_line(n: int, sku: str = "SKU-001") -> str:
    return f"A-{n},Client Numero {n},06{n:08d},Rabat,{n} Avenue Mohammed V,{sku},1,{100 + n}\n"


def write_orders(path: Path, numbers: range, extra: str = "") -> Path:
    path.write_text(HEADER + "".join(order_line(n) for n in numbers) + extra, encoding="utf-8")
    return path


def cli_import(running: RunningSandbox, path: Path, tmp: Path, *extra: str) -> dict[str, int]:
    result = CliRunner().invoke(
        main,
        ["import", str(path), "--ledger", str(tmp / "ledger.db"), "--json", *extra],
        env={"WEDOCOD_BASE_URL": running.url, "WEDOCOD_TOKEN": TOKEN},
        catch_exceptions=False,
    )
    summary: dict[str, int] = json.loads(result.stdout)
    summary["exit"] = result.exit_code
    return summary


@pytest.fixture()
def server() -> Iterator[RunningSandbox]:
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,), log_requests=False)) as running:
        yield running


def test_overlapping_exports_create_each_order_once(tmp_path: Path, server: RunningSandbox) -> None:
    monday = write_orders(tmp_path / "last7_monday.csv", range(0, 30))
    tuesday = write_orders(tmp_path / "last7_tuesday.csv", range(10, 45))
    first = cli_import(server, monday, tmp_path)
    assert first["created"] == 30 and first["exit"] == 0
    posts = server.sandbox.stats.get("POST /leads", 0)
    second = cli_import(server, tuesday, tmp_path)
    assert second["skipped"] == 20 and second["created"] == 15 and second["exit"] == 0
    # only the 15 new orders were sent: two batches of at most 10
    assert server.sandbox.stats.get("POST /leads", 0) - posts == 2
    counts = import_id_counts(server)
    assert len(counts) == 45 and set(counts.values()) == {1}


def test_fixed_report_imports_the_fixed_rows_only(tmp_path: Path, server: RunningSandbox) -> None:
    bad = "A-900,Al,06123,Rabat,99 Rue des Fautes,SKU-001,1,100\n"
    source = write_orders(tmp_path / "orders.csv", range(0, 5), extra=bad)
    report = tmp_path / "orders.report.xlsx"
    first = cli_import(server, source, tmp_path, "--report", str(report))
    assert first["created"] == 5 and first["invalid"] == 1 and first["exit"] == 1

    # a person opens the report, fixes the red cells, saves it
    book = openpyxl.load_workbook(report)
    sheet = book["Report"]
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("Outcome")].value == "invalid":
            row[header.index("full_name")].value = "Alae Bennani"
            row[header.index("phone")].value = "0612349876"
    book.save(report)

    again = cli_import(server, report, tmp_path, "--report", str(tmp_path / "second.xlsx"))
    assert again["exit"] == 0, again
    assert again["skipped"] == 5 and again["created"] == 1
    counts = import_id_counts(server)
    assert len(counts) == 6 and set(counts.values()) == {1}
    refs = {lead["phone"] for lead in server.sandbox.store.leads(TOKEN)}
    assert "0612349876" in refs


def test_runs_and_reconcile_commands(tmp_path: Path, server: RunningSandbox) -> None:
    source = write_orders(tmp_path / "orders.csv", range(0, 3))
    cli_import(server, source, tmp_path)
    env = {"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": TOKEN}
    runs = CliRunner().invoke(
        main, ["runs", "--ledger", str(tmp_path / "ledger.db"), "--json"], env=env
    )
    listed = json.loads(runs.stdout)
    assert len(listed) == 1 and listed[0]["file"].endswith("orders.csv")
    settled = CliRunner().invoke(
        main, ["reconcile", "--ledger", str(tmp_path / "ledger.db"), "--json"], env=env
    )
    assert settled.exit_code == 0
    assert json.loads(settled.stdout)["leads"] == 0


def _spawn(
    url: str, source: Path, ledger: Path, report: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "import",
            str(source),
            "--ledger",
            str(ledger),
            "--report",
            str(report),
            "--wait",
            "2",
            "--json",
            *extra,
        ],
        env={**os.environ, "WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_sigint_settles_in_flight_writes_report_and_exits_130(tmp_path: Path) -> None:
    source = write_orders(tmp_path / "orders.csv", range(0, 400))
    report = tmp_path / "r.csv"
    config = SandboxConfig(tokens=(TOKEN,), latency_ms=40, log_requests=False)
    with serve_in_thread(config) as running:
        proc = _spawn(running.url, source, tmp_path / "ledger.db", report)
        deadline = time.time() + 30
        while time.time() < deadline and running.sandbox.stats.get("POST /leads", 0) < 3:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == ExitStatus.INTERRUPTED, err
        summary = json.loads(out)
        assert 0 < summary["created"] < 400
        created = len(import_id_counts(running))
        assert summary["created"] == created  # nothing in flight was left unaccounted
        lines = report.read_text(encoding="utf-8-sig").splitlines()
        assert len(lines) == 401  # every row has an outcome, the unsent ones included

        proc = _spawn(running.url, source, tmp_path / "ledger.db", report)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        final = json.loads(out)
        assert final["skipped"] == created and final["created"] == 400 - created
        counts = import_id_counts(running)
        assert len(counts) == 400 and set(counts.values()) == {1}


def in_doubt_rows(ledger: Path) -> int:
    """Leads the ledger holds `sending` (read-only: the importer may be writing it)."""
    if not ledger.exists():
        return 0
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM leads WHERE state = 'sending'").fetchone()
        return int(count)
    except sqlite3.OperationalError:  # the first run has not created the schema yet
        return 0
    finally:
        conn.close()


def wait_for(what: str, done: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    """Until `done()`, polling; the run must not end first (it would have nothing to kill)."""
    deadline = time.monotonic() + 60
    while not done():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_cli_twenty_times_then_complete(tmp_path: Path) -> None:
    """A real `wedocod import` of 4,000 leads killed with SIGKILL twenty times, then run to the end.

    Each kill is placed by observed progress, never by a timer: when the sandbox's own store
    holds the next target number of leads (twenty targets spread over the upload), and every
    other time only once the ledger also holds a batch `sending` (a POST about to go or in
    flight). A slower machine makes the test slower, never flaky.
    """
    total = 4000
    source = write_orders(tmp_path / "orders.csv", range(0, total))
    ledger, report = tmp_path / "ledger.db", tmp_path / "report.csv"
    rng = random.Random(20261123)
    targets = [total * (k + 1) // 22 + rng.randint(-60, 60) for k in range(20)]
    config = SandboxConfig(tokens=(TOKEN,), latency_ms=30, log_requests=False)
    progress = [0]  # leads on the server at each kill
    left_in_doubt = 0  # kills that left a batch `sending`
    with serve_in_thread(config) as running:

        def on_server() -> int:
            return running.sandbox.store.count(TOKEN)

        for k, target in enumerate(targets):
            goal = max(target, progress[-1] + 20)
            proc = _spawn(running.url, source, ledger, report, "--workers", "2")
            try:
                wait_for(f"{goal} leads", lambda goal=goal: on_server() >= goal, proc)
                if k % 2:
                    wait_for("a batch sending", lambda: in_doubt_rows(ledger) > 0, proc)
            finally:
                proc.kill()
                proc.communicate()
            progress.append(on_server())
            left_in_doubt += in_doubt_rows(ledger) > 0
        # every kill landed mid-upload, each after the last one's progress
        assert all(a < b < total for a, b in itertools.pairwise(progress)), progress
        assert left_in_doubt >= 5, left_in_doubt
        for _ in range(3):
            proc = _spawn(running.url, source, ledger, report)
            out, err = proc.communicate(timeout=300)
            if proc.returncode == 0:
                break
        assert proc.returncode == 0, err
        summary = json.loads(out)
        assert summary["created"] + summary["skipped"] == total
        assert summary["skipped"] >= progress[-1] - 20  # the kills did leave work done behind
        counts = import_id_counts(running)
        assert len(counts) == total, "a lead is missing"
        assert set(counts.values()) == {1}, "a lead was created twice"
        lines = report.read_text(encoding="utf-8-sig").splitlines()
        assert len(lines) == total + 1
