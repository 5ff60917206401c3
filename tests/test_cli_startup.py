"""The command line starts light: no pandas, pandera, pyarrow or requests before a command runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from importer.cli import main

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
