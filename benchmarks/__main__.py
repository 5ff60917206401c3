"""`python -m benchmarks`: run the suite, profile a check, or generate an export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.suite import RESULTS_FILE, SECTIONS, Sizes, run_suite


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["profile-check"]:
        return profile_command(argv[1:])
    if argv[:1] == ["generate"]:
        return generate_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark wedocod against baselines measured in the same run; "
        "writes benchmarks/results.md. Other commands: profile-check FILE, generate.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated data")
    parser.add_argument(
        "--results", type=Path, default=RESULTS_FILE, help="where to write the table"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    only = tuple(args.only) if args.only else SECTIONS
    results = run_suite(
        sizes,
        only,
        seed=args.seed,
        results_file=None if args.no_write else args.results,
        quick=args.quick,
    )
    return 1 if any(f.failed for f in results.findings) else 0


def profile_command(argv: list[str]) -> int:
    from benchmarks.profiling import profile_check

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks profile-check",
        description="Run the check pipeline on FILE under cProfile and print the top functions.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", choices=("cumulative", "tottime", "ncalls"), default="cumulative")
    parser.add_argument("--save", type=Path, help="also write the raw profile here")
    args = parser.parse_args(argv)
    profile_check(args.file, top=args.top, sort=args.sort, save=args.save)
    return 0


def generate_command(argv: list[str]) -> int:
    from benchmarks.generate import ensure_export

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks generate",
        description="Write (or reuse) a generated export in benchmarks/data/ and print its path.",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--rows", type=int)
    size.add_argument("--orders", type=int)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--invalid-rate", type=float, default=0.01)
    parser.add_argument(
        "--warn-rate", type=float, default=0.0, help="orders with a value sent with a warning"
    )
    parser.add_argument("--xlsx", action="store_true")
    args = parser.parse_args(argv)
    export = ensure_export(
        args.rows,
        orders=args.orders,
        seed=args.seed,
        invalid_rate=args.invalid_rate,
        warn_rate=args.warn_rate,
        xlsx=args.xlsx,
    )
    print(export.path)
    print(
        f"{export.rows:,} rows, {export.orders:,} orders, {export.invalid_rows:,} broken rows, "
        f"{export.warned_orders:,} orders with a warning",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
