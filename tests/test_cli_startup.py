"""The command line starts light: no pandas, pandera, pyarrow or requests before a command runs,
and a command that runs loads only what its path needs (no timing here: see `make bench`)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN

HEAVY = ("pandas", "pandera", "pyarrow", "numpy", "requests", "phonenumbers", "fastapi")

# Runs the CLI in a fresh interpreter and prints which heavy modules got imported.
PROBE = """
import json, sys
args = json.loads(sys.argv[1])
if args is None:
    import importer.cli
else:
    from importer.cli import main
    try:
        main(args, prog_name="wedocod")
    except SystemExit:
        pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def _heavy_modules_after(args: list[str] | None) -> list[str]:
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert _heavy_modules_after(None) == []


@pytest.mark.parametrize("command", [None, *sorted(main.commands)])
def test_help_of_every_command_imports_nothing_heavy(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    assert _heavy_modules_after(args) == []


# --- commands that run ------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
#: What a run may have loaded, looked at after it: the writers and readers a path may not
#: need, the network and server stacks, hypothesis (a dev dependency that pandera would
#: import for its data synthesis), and pandera as proof that the command really ran.
WATCHED = (
    "pandera",
    "python_calamine",
    "xlsxwriter",
    "openpyxl",
    "babel",
    "requests",
    "urllib3",
    "sqlite3",
    "fastapi",
    "uvicorn",
    "hypothesis",
)

# Runs `wedocod ARGS` as the console script does (importer.cli.program) in a fresh
# interpreter, then prints its exit code and which watched modules it loaded. A module
# marked absent (None in sys.modules) was not loaded.
PROGRAM_PROBE = """
import json, sys
watched = json.loads(sys.argv[1])
sys.argv = ["wedocod", *json.loads(sys.argv[2])]
from importer.cli import program
try:
    program()
    code = 0
except SystemExit as stop:
    code = stop.code
loaded = sorted(m for m in watched if sys.modules.get(m) is not None)
print(json.dumps({"exit": code, "loaded": loaded}))
"""


def _run_program(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM_PROBE, json.dumps(WATCHED), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **(env or {})},
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return int(found["exit"]), set(found["loaded"])


def test_hypothesis_is_installed_here_so_keeping_it_out_is_tested() -> None:
    # a dev dependency: pandera would import it if nothing kept it out
    assert importlib.util.find_spec("hypothesis") is not None


def test_check_of_a_small_csv_loads_no_workbook_network_or_test_library(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    code, loaded = _run_program(
        ["check", str(SAMPLES / "wedocod_native.csv"), "--report", str(report)]
    )
    assert code == 0
    assert report.exists()
    assert loaded == {"pandera"}


def test_check_of_a_small_workbook_loads_calamine_but_no_writer(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    book = SAMPLES / "woocommerce_orders.xlsx"
    code, loaded = _run_program(["check", str(book), "--report", str(report)])
    assert code in (0, 1)
    assert report.exists()
    assert "python_calamine" in loaded
    assert loaded.isdisjoint(
        {"xlsxwriter", "openpyxl", "requests", "urllib3", "fastapi", "uvicorn", "hypothesis"}
    )


def test_an_xlsx_report_loads_the_writer_only(tmp_path: Path) -> None:
    report = tmp_path / "report.xlsx"
    code, loaded = _run_program(
        ["check", str(SAMPLES / "wedocod_native.csv"), "--report", str(report)]
    )
    assert code == 0
    assert report.exists()
    assert loaded == {"pandera", "xlsxwriter"}


def test_import_loads_the_network_stack_but_no_server_or_workbook_library(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    report = tmp_path / "report.csv"
    args = [
        "import",
        str(SAMPLES / "wedocod_native.csv"),
        "--report",
        str(report),
        "--ledger",
        str(tmp_path / "ledger.db"),
    ]
    env = {"WEDOCOD_BASE_URL": sandbox.url, "WEDOCOD_TOKEN": TEST_TOKEN}
    code, loaded = _run_program(args, env)
    assert code == 0
    assert len(sandbox.sandbox.store.leads(TEST_TOKEN)) > 0
    assert {"requests", "sqlite3", "pandera"} <= loaded
    assert loaded.isdisjoint(
        {"fastapi", "uvicorn", "hypothesis", "xlsxwriter", "openpyxl", "python_calamine"}
    )


def _report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_without_hypothesis_the_check_finds_exactly_the_same(tmp_path: Path) -> None:
    """The program keeps hypothesis out of pandera: every row's outcome and message stays."""
    import hypothesis  # noqa: F401  (in this process pandera may use it)

    source = SAMPLES / "orders_with_errors.csv"
    inside = tmp_path / "inside.csv"
    result = CliRunner().invoke(
        main, ["check", str(source), "--report", str(inside), "--json"], catch_exceptions=False
    )
    outside = tmp_path / "outside.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "importer",
            "check",
            str(source),
            "--report",
            str(outside),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.exit_code == done.returncode == 1  # the file has invalid rows on purpose
    summary, other = (
        _comparable(json.loads(out.strip().splitlines()[-1]))
        for out in (result.stdout, done.stdout)
    )
    assert summary["invalid"] > 0
    assert other == summary
    assert _report_rows(outside) == _report_rows(inside)


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    # the report paths differ; issue kinds counting the same rows come in no set order
    return {
        **summary,
        "report": None,
        "issues": sorted(summary["issues"], key=lambda i: (-i["rows"], json.dumps(i))),
    }


# Prints the Arrow memory pool a `wedocod check` ran with, and the ones this pyarrow has.
POOL_PROBE = """
import json, sys
sys.argv = ["wedocod", "check", sys.argv[1], "--report", sys.argv[2]]
from importer.cli import program
try:
    program()
except SystemExit:
    pass
import pyarrow
print(json.dumps([pyarrow.default_memory_pool().backend_name,
                  pyarrow.supported_memory_backends()]))
"""


@pytest.mark.parametrize("chosen", [None, "system"])
def test_the_program_takes_arrows_buffers_from_jemalloc_unless_told(
    tmp_path: Path, chosen: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            POOL_PROBE,
            str(SAMPLES / "wedocod_native.csv"),
            str(tmp_path / "report.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    pool, supported = json.loads(done.stdout.strip().splitlines()[-1])
    if chosen:
        assert pool == chosen
    else:
        assert pool == ("jemalloc" if "jemalloc" in supported else "mimalloc")
    assert (tmp_path / "report.csv").exists()
