"""End-to-end tests: the `wedocod` CLI against the sandbox over a real loopback socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import openpyxl
import pytest
from click.testing import CliRunner, Result

from importer.cli import ExitStatus, main
from importer.sandbox import SandboxConfig, serve_in_thread
from tests.conftest import import_id_counts

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CATALOG = SAMPLES / "skus.csv"
TOKEN = "test-token"
SUMMARY_KEYS = {
    "file",
    "rows",
    "leads",
    "created",
    "skipped",
    "invalid",
    "rejected",
    "failed",
    "queued",
    "uncertain",
    "warnings",
    "issues",
    "notes",
    "report",
}


def sample_files() -> list[Path]:
    return sorted(
        p for p in SAMPLES.iterdir() if p.suffix in (".csv", ".xlsx") and p.name != "skus.csv"
    )


def clean_samples() -> list[Path]:
    return [p for p in sample_files() if "error" not in p.name]


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(main, args, env=env, catch_exceptions=False)


def import_args(sample: Path, tmp_path: Path, *extra: str) -> list[str]:
    """`wedocod import SAMPLE` with the catalog, and a ledger and report of the test's own."""
    ledger, report = str(tmp_path / "l.db"), str(tmp_path / "r.xlsx")
    return [
        "import",
        str(sample),
        "--catalog",
        str(CATALOG),
        "--ledger",
        ledger,
        "--report",
        report,
        *extra,
    ]


def api_env(url: str, token: str = TOKEN) -> dict[str, str]:
    return {"WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": token}


def report_rows(path: Path) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


@pytest.fixture()
def server() -> Any:
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,), async_delay=0.05)) as running:
        yield running


def test_every_command_has_help() -> None:
    def walk(command: click.Command, path: str) -> None:
        assert command.help, f"`{path}` has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help or param.name in {"help", "version"}, (
                    f"`{path} {param.opts}` has no help"
                )
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(main, "wedocod")


def test_no_client_command_takes_a_token_option() -> None:
    for name, command in main.commands.items():
        if name == "sandbox":
            continue
        assert all("--token" not in p.opts for p in command.params), name


@pytest.mark.parametrize("sample", clean_samples(), ids=lambda p: p.name)
def test_check_every_clean_sample_is_valid(sample: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.xlsx"
    result = run(
        ["check", str(sample), "--catalog", str(CATALOG), "--report", str(report), "--json"]
    )
    summary = json.loads(result.stdout)
    assert result.exit_code == ExitStatus.OK, (summary, report_rows(report)[:5])
    assert summary["invalid"] == 0 and summary["valid"] == summary["leads"] > 0
    rows = report_rows(report)
    assert len(rows) == summary["rows"]
    assert {r["Outcome"] for r in rows} == {"valid"}


def test_check_errors_sample_reports_every_row(tmp_path: Path) -> None:
    sample = next(p for p in sample_files() if "error" in p.name)
    report = tmp_path / "report.xlsx"
    result = run(
        ["check", str(sample), "--catalog", str(CATALOG), "--report", str(report), "--json"]
    )
    assert result.exit_code == ExitStatus.INCOMPLETE
    summary = json.loads(result.stdout)
    rows = report_rows(report)
    assert [r["Row"] for r in rows] == sorted(r["Row"] for r in rows)
    assert len(rows) == summary["rows"]
    invalid = [r for r in rows if r["Outcome"] == "invalid"]
    assert invalid and all(r["Errors"] for r in invalid)
    book = openpyxl.load_workbook(report)
    kinds = {cell.data_type for row in book.worksheets[0].iter_rows() for cell in row}
    assert "f" not in kinds  # no cell is a formula, whatever the input held


@pytest.mark.parametrize("sample", clean_samples(), ids=lambda p: p.name)
def test_import_every_clean_sample_then_rerun_skips(
    sample: Path, tmp_path: Path, server: Any
) -> None:
    args = [
        "import",
        str(sample),
        "--catalog",
        str(CATALOG),
        "--ledger",
        str(tmp_path / "ledger.db"),
        "--report",
        str(tmp_path / "r.xlsx"),
        "--json",
        "--wait",
        "20",
    ]
    first = run(args, api_env(server.url))
    summary = json.loads(first.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert first.exit_code == ExitStatus.OK, summary
    assert summary["created"] == summary["leads"] > 0
    ids = import_id_counts(server)
    assert len(ids) == summary["leads"] and set(ids.values()) == {1}
    rows = report_rows(tmp_path / "r.xlsx")
    assert {r["Outcome"] for r in rows} == {"created"} and all(r["Lead ref"] for r in rows)

    posts_before = server.sandbox.stats.get("POST /leads", 0)
    second = run(args, api_env(server.url))
    again = json.loads(second.stdout)
    assert second.exit_code == ExitStatus.OK
    assert again["skipped"] == summary["leads"] and again["created"] == 0
    assert server.sandbox.stats.get("POST /leads", 0) == posts_before
    assert import_id_counts(server) == ids
    rerun = report_rows(tmp_path / "r.xlsx")
    assert [r["Lead ref"] for r in rerun] == [r["Lead ref"] for r in rows]


def test_import_errors_sample_creates_only_valid_orders(tmp_path: Path, server: Any) -> None:
    sample = next(p for p in sample_files() if "error" in p.name)
    result = run(
        [
            "import",
            str(sample),
            "--catalog",
            str(CATALOG),
            "--ledger",
            str(tmp_path / "l.db"),
            "--report",
            str(tmp_path / "r.csv"),
            "--json",
        ],
        api_env(server.url),
    )
    summary = json.loads(result.stdout)
    assert result.exit_code == ExitStatus.INCOMPLETE
    assert summary["invalid"] > 0
    assert len(import_id_counts(server)) == summary["created"]


def test_server_rejection_is_placed_on_row_and_column(tmp_path: Path) -> None:
    """Without --catalog the unknown SKU reaches the server: its 422 lands on the right cell."""
    src = tmp_path / "orders.csv"
    src.write_text(
        "full_name,phone,city,address,sku,quantity,total\n"
        "Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,2,299\n"
        "Salma Idrissi,0698765432,Rabat,45 Avenue Hassan II,NOPE-404,1,150\n",
        encoding="utf-8",
    )
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,))) as running:
        result = run(
            [
                "import",
                str(src),
                "--ledger",
                str(tmp_path / "l.db"),
                "--report",
                str(tmp_path / "r.xlsx"),
                "--json",
            ],
            api_env(running.url),
        )
        summary = json.loads(result.stdout)
        assert summary["created"] == 1 and summary["rejected"] == 1
        assert result.exit_code == ExitStatus.INCOMPLETE
    rows = report_rows(tmp_path / "r.xlsx")
    assert [r["Outcome"] for r in rows] == ["created", "rejected"]
    assert "sku" in rows[1]["Errors"].lower()


def test_token_never_leaks(tmp_path: Path) -> None:
    secret = "s3cr3t-token-do-not-print"
    sample = clean_samples()[0]
    with serve_in_thread(SandboxConfig(tokens=(secret,))) as running:
        result = run(
            import_args(str(sample), tmp_path),
            api_env(running.url, secret),
        )
    assert result.exit_code == ExitStatus.OK, result.output
    assert secret not in result.output
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path


def test_token_file_works_and_missing_token_is_exit_3(tmp_path: Path, server: Any) -> None:
    sample = clean_samples()[0]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    base = import_args(str(sample), tmp_path)
    ok = run(
        [*base, "--token-file", str(token_file)],
        {"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": ""},
    )
    assert ok.exit_code == ExitStatus.OK, ok.output
    missing = run(base, {"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": ""})
    assert missing.exit_code == ExitStatus.BAD_INPUT
    assert "WEDOCOD_TOKEN" in missing.output


def test_wrong_token_is_exit_4(tmp_path: Path, server: Any) -> None:
    result = run(
        import_args(str(clean_samples()[0]), tmp_path),
        api_env(server.url, "wrong"),
    )
    assert result.exit_code == ExitStatus.API
    assert "token" in result.output.lower()
    # the refused run is closed in that account's ledger, not left open
    runs = run(["runs", "--ledger", str(tmp_path / "l.db"), "--json"], api_env(server.url, "wrong"))
    (refused,) = json.loads(runs.stdout)
    assert refused["status"].startswith("stopped"), refused


def test_unreachable_server_is_exit_4(tmp_path: Path) -> None:
    result = run(
        import_args(str(clean_samples()[0]), tmp_path),
        api_env("http://127.0.0.1:9"),
    )
    assert result.exit_code == ExitStatus.API, result.output


def test_unreadable_file_is_exit_3_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not really a workbook")
    result = run(["check", str(bad)])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "broken.xlsx" in result.output


def test_json_failure_is_still_one_json_object(tmp_path: Path) -> None:
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not really a workbook")
    result = run(["check", str(bad), "--json"])
    assert result.exit_code == ExitStatus.BAD_INPUT
    answer = json.loads(result.stdout)
    assert answer["exit"] == 3 and answer["file"] == str(bad) and "broken.xlsx" in answer["error"]


def test_unmappable_file_is_exit_3_listing_headers(tmp_path: Path) -> None:
    src = tmp_path / "odd.csv"
    src.write_text("colour,size\nred,XL\n", encoding="utf-8")
    result = run(["check", str(src)])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "colour" in result.output


def test_map_writes_a_mapping_that_check_accepts(tmp_path: Path) -> None:
    sample = clean_samples()[0]
    target = tmp_path / "m.toml"
    shown = run(["map", str(sample), "--write", str(target)])
    assert shown.exit_code == 0, shown.output
    assert "phone" in shown.output and target.exists()
    checked = run(
        [
            "check",
            str(sample),
            "--mapping",
            str(target),
            "--catalog",
            str(CATALOG),
            "--report",
            str(tmp_path / "r.csv"),
        ]
    )
    assert checked.exit_code == ExitStatus.OK, checked.output


def test_lead_api_commands(tmp_path: Path, server: Any) -> None:
    env = api_env(server.url)
    src = tmp_path / "orders.csv"
    src.write_text(
        "full_name,phone,city,address,sku,quantity,total\n"
        "Ahmed El Fassi,0612345678,Casablanca,123 Rue Atlas,SKU-001,2,299\n"
        "Salma Idrissi,0698765432,Rabat,45 Avenue Hassan II,SKU-002,1,150\n",
        encoding="utf-8",
    )
    assert (
        run(
            [
                "import",
                str(src),
                "--ledger",
                str(tmp_path / "l.db"),
                "--report",
                str(tmp_path / "r.xlsx"),
            ],
            env,
        ).exit_code
        == 0
    )

    statuses = run(["statuses", "--json"], env)
    assert {"key": "cancelled", "label": "Cancelled"} in json.loads(statuses.stdout)

    out = tmp_path / "export.xlsx"
    exported = run(["export", str(out)], env)
    assert exported.exit_code == 0, exported.output
    rows = report_rows(out)
    assert len(rows) == 2 and {r["phone"] for r in rows} == {"0612345678", "0698765432"}
    ref = rows[0]["reference"]

    shown = run(["show", ref], env)
    assert json.loads(shown.stdout)["phone"] in {"0612345678", "0698765432"}

    updates = tmp_path / "updates.csv"
    updates.write_text(
        f"reference,status,action_date\n{ref},CONFIRMED,\n{ref},call_later,tomorrow\n"
        "NOPE0000,confirmed,\n",
        encoding="utf-8",
    )
    updated = run(["update", str(updates), "--json"], env)
    got = json.loads(updated.stdout)
    assert got["updated"] == 1 and got["invalid"] == 1 and got["rejected"] == 1
    assert updated.exit_code == ExitStatus.INCOMPLETE

    ids = [r["id"] for r in rows]
    deleted = run(["delete", *ids, "--yes", "--json"], env)
    result = json.loads(deleted.stdout)
    # the confirmed lead may not be deleted; the new one may
    assert result["deleted"] == 1 and result["refused"] == 1


def test_real_process_import_with_json(tmp_path: Path) -> None:
    """The installed entry point, as a cron job would run it."""
    sample = clean_samples()[0]
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,))) as running:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "importer",
                "import",
                str(sample),
                "--catalog",
                str(CATALOG),
                "--ledger",
                str(tmp_path / "l.db"),
                "--report",
                str(tmp_path / "r.xlsx"),
                "--json",
            ],
            env={**os.environ, **api_env(running.url)},
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["created"] == summary["leads"]


def test_sandbox_command_serves_the_docs_example_and_stops_on_ctrl_c() -> None:
    import re
    import signal

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--token", "cli-token"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        body = {
            "data": [
                {
                    "full_name": "Ahmed El Fassi",
                    "phone": "0612345678",
                    "city": "Casablanca",
                    "address": "123 Main Street",
                    "data": [{"key": "note", "value": "Prefers afternoon delivery"}],
                    "area": "Maarif",
                    "products": [{"sku": "SKU-001", "quantity": 2, "total": 299}],
                }
            ]
        }
        answer = requests.post(
            url.group(0) + "/leads",
            json=body,
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert answer.status_code == 201
        assert answer.json()["data"]["failed_count"] == 0
        assert answer.json()["meta"] == {"mode": "sync", "total": 1}
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    logged = [line for line in output.splitlines() if "/leads" in line and "curl" not in line]
    assert logged and not any("cli-token" in line for line in logged)  # requests logged, no token
