"""`python -m benchmarks.measure -- CMD ...`: one command's wall time and peak memory as JSON."""

# RUSAGE_CHILDREN is a maximum over every child a process ever waited for, so each measured
# command gets a wrapper process of its own and the wrapper reports for that one child only.

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ProcessRun:
    """What one measured process did: its exit code, wall time, peak RSS and output."""

    command: tuple[str, ...]
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode >= 0 and self.returncode in self.expected_codes

    expected_codes: frozenset[int] = frozenset({0})


def measure_process(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    expected_codes: frozenset[int] = frozenset({0}),
    timeout: float = 1800,
) -> ProcessRun:
    """Runs `command` inside a fresh wrapper process and returns what the wrapper measured."""
    wrapper = [sys.executable, "-m", "benchmarks.measure", "--", *command]
    done = subprocess.run(
        wrapper, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring wrapper failed: {done.stderr.strip()[-2000:]}")
    data = json.loads(lines[-1])
    return ProcessRun(
        command=tuple(command),
        returncode=int(data["returncode"]),
        seconds=float(data["seconds"]),
        peak_rss_mb=float(data["peak_rss_kb"]) / 1024,
        stdout=str(data["stdout"]),
        stderr=str(data["stderr"]),
        expected_codes=expected_codes,
    )


def best_of(
    command: list[str],
    repeats: int,
    *,
    env: dict[str, str] | None = None,
    expected_codes: frozenset[int] = frozenset({0}),
    accept: Callable[[ProcessRun], bool] | None = None,
) -> ProcessRun:
    """The fastest of `repeats` runs (warm page cache: the first run pays for the disk).

    A run whose exit code is unexpected, or that `accept` rejects, is returned instead: a
    crash must never pass for a fast run (a Python traceback exits 1, like "some rows invalid").
    """
    runs: list[ProcessRun] = []
    for _ in range(repeats):
        run = measure_process(command, env=env, expected_codes=expected_codes)
        runs.append(run)
        if not run.ok or (accept is not None and not accept(run)):
            return replace(run, expected_codes=frozenset())
    failed = [run for run in runs if not run.ok]
    if failed:
        return failed[0]
    fastest = min(runs, key=lambda run: run.seconds)
    # peak memory does not depend on luck the way time does: report the largest seen
    worst_rss = max(run.peak_rss_mb for run in runs)
    return ProcessRun(
        fastest.command,
        fastest.returncode,
        fastest.seconds,
        worst_rss,
        fastest.stdout,
        fastest.stderr,
        expected_codes,
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m benchmarks.measure -- CMD [ARGS...]", file=sys.stderr)
        return 2
    command = argv[1:]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "returncode": child.returncode,
        "seconds": seconds,
        "peak_rss_kb": usage.ru_maxrss,  # kilobytes on Linux
        "stdout": child.stdout[-20000:],
        "stderr": child.stderr[-4000:],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
