"""`python -m benchmarks profile-check FILE`: the check pipeline under cProfile, top functions."""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path


def profile_check(
    path: Path, *, top: int = 30, sort: str = "cumulative", save: Path | None = None
) -> None:
    """Runs `check_file` (report included) in this process and prints where the time went."""
    from importer.pipeline import SourceOptions, check_file

    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="wedocod-profile-") as tmp:
        started = time.perf_counter()
        profiler.enable()
        result = check_file(path, SourceOptions(), report=Path(tmp) / "report.csv")
        profiler.disable()
        seconds = time.perf_counter() - started
    summary = result.summary
    print(
        f"{path}: {summary.rows:,} rows, {summary.leads:,} leads, {summary.invalid:,} invalid "
        f"in {seconds:.2f} s under the profiler (profiling slows Python code down)",
        file=sys.stderr,
    )
    if save is not None:
        profiler.dump_stats(str(save))
        print(f"profile saved to {save} (open with snakeviz or pstats)", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
