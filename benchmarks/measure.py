"""`python -m benchmarks.measure -- CMD ...`: one command's wall time and peak memory as JSON."""

# RUSAGE_CHILDREN is a maximum over every child a process ever waited for, so each measured
# command gets a wrapper process of its own and the wrapper reports for that one child only.

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Measured:
    """A command to measure with others in turn, and how to tell a good run."""

    command: list[str]
    expected_codes: frozenset[int] = frozenset({0})
    accept: Callable[[ProcessRun], bool] | None = None


def medians_in_turn(
    commands: Mapping[str, Measured],
    runs: int,
    *,
    env: dict[str, str] | None = None,
    warmup: int = 1,
) -> dict[str, ProcessRun]:
    """The median of `runs` runs of each command, every command run once per round.

    For short processes compared as ratios: taking turns spreads the machine's ups and downs
    (other work, CPU frequency) over every command alike, and the median shrugs off the odd
    slow run that the fastest would hide and the mean would keep. The first `warmup` rounds
    are dropped (page cache, bytecode cache). A command whose run has an unexpected exit code
    or fails `accept` gets that run instead, and is not run again: a crash never passes for a
    fast start. Peak memory is the largest seen.
    """
    done: dict[str, list[ProcessRun]] = {name: [] for name in commands}
    failed: dict[str, ProcessRun] = {}
    for round_ in range(warmup + runs):
        for name, timed in commands.items():
            if name in failed:
                continue
            run = measure_process(timed.command, env=env, expected_codes=timed.expected_codes)
            if not run.ok or (timed.accept is not None and not timed.accept(run)):
                failed[name] = replace(run, expected_codes=frozenset())
            elif round_ >= warmup:
                done[name].append(run)
    result: dict[str, ProcessRun] = {}
    for name, found in done.items():
        if name in failed:
            result[name] = failed[name]
            continue
        middle = statistics.median_low(run.seconds for run in found)
        median = next(run for run in found if run.seconds == middle)
        result[name] = replace(median, peak_rss_mb=max(run.peak_rss_mb for run in found))
    return result


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
