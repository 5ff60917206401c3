"""The benchmarks themselves: each measures the tool against a baseline run in the same suite."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.generate import COLUMNS, DATA_DIR, Export, ensure_export
from benchmarks.measure import Measured, ProcessRun, best_of, measure_process, medians_in_turn
from benchmarks.upload import (
    ImportRun,
    leads_from_csv,
    post_one_by_one,
    run_import,
    sandbox_process,
    wedocod_command,
)

RESULTS_FILE = Path(__file__).resolve().parent / "results.md"
SECTIONS = ("startup", "local", "upload", "ratelimit")
#: `wedocod check` exits 1 when some rows are invalid, which a 1 %-invalid file has.
CHECK_CODES = frozenset({0, 1})
#: `wedocod import` exits 1 when some leads are not (yet) known created, e.g. still queued.
IMPORT_CODES = frozenset({0, 1})


@dataclass(frozen=True)
class Sizes:
    """How much data each benchmark uses; `quick()` is for a fast look, not for the targets."""

    rows: int = 1_000_000
    xlsx_rows: int = 100_000
    repeats: int = 3
    upload_leads: int = 5_000
    baseline_leads: int = 500
    upload_latency_ms: int = 50
    ratelimit_leads: int = 12_000
    rate_limit: int = 60
    #: Start-up figures are medians of this many runs of each process, taken in turn.
    startup_runs: int = 9

    @classmethod
    def quick(cls) -> Sizes:
        # a lower limit so that a short run still spans two rate windows
        return cls(100_000, 10_000, 1, 1_000, 100, 50, 2_400, 30, startup_runs=5)


@dataclass(frozen=True)
class Finding:
    """One line of the results table."""

    section: str
    name: str
    measured: str
    context: str
    target: str = ""
    passed: bool | None = None  # None: informative only, or could not be measured
    #: Measured at sizes the target was not set for (`--quick`): shown, but not judged.
    indicative: bool = False

    @property
    def verdict(self) -> str:
        if self.indicative and self.passed is not None and self.measured != "error":
            return "(met)" if self.passed else "(missed)"
        return {True: "PASS", False: "FAIL", None: "—"}[self.passed]

    @property
    def failed(self) -> bool:
        """Counts against the suite: a target missed at full size, or a measurement broken."""
        return self.passed is False and (not self.indicative or self.measured == "error")


@dataclass
class Results:
    sizes: Sizes
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    indicative: bool = False
    data_dir: Path = DATA_DIR

    def add(self, finding: Finding) -> None:
        if self.indicative:
            finding = replace(finding, indicative=True)
        self.findings.append(finding)
        print(f"  {finding.verdict:4}  {finding.name}: {finding.measured}", file=sys.stderr)


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _failed(section: str, name: str, run: ProcessRun, target: str = "") -> Finding:
    tail = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return Finding(section, name, "error", f"exit {run.returncode}: {tail}", target, False)


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _rate(count: float, seconds: float, unit: str = "rows") -> str:
    return f"{count / seconds:,.0f} {unit}/s" if seconds > 0 else "n/a"


# --- 0. start-up ----------------------------------------------------------------------------

#: The small file: what a user checks by hand, where starting is nearly all the time there is.
STARTUP_ROWS = 20
#: `wedocod --help` and every `wedocod <command> --help` at most this many `python -c pass`.
HELP_LIMIT = 6.0
#: `wedocod check` of the small file at most this many `python -c "import pandas"`.
SMALL_CHECK_LIMIT = 1.5


def startup_env() -> dict[str, str]:
    """This environment, with Python's bytecode cache on (an installed copy has its own).

    A shell with PYTHONDONTWRITEBYTECODE=1 (this project's sessions have it) makes an editable
    checkout compile every one of our modules again at each start (~0.08 s of a small check);
    site-packages were compiled at install. Dropping it measures what a user runs.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def bench_startup(results: Results, seed: int) -> None:
    from importer.cli import main  # click only (tests/test_cli_startup.py)

    runs = results.sizes.startup_runs
    csv_file = ensure_export(STARTUP_ROWS, seed=seed, directory=results.data_dir).path
    xlsx_file = ensure_export(STARTUP_ROWS, seed=seed, xlsx=True, directory=results.data_dir).path
    wedocod = wedocod_command()
    helps = {name: [*wedocod, name, "--help"] for name in sorted(main.commands)}
    with tempfile.TemporaryDirectory(prefix="wedocod-bench-") as tmp:
        checked = {
            "check csv": (csv_file, Path(tmp) / "csv.report.csv"),
            "check csv, xlsx report": (csv_file, Path(tmp) / "csv.report.xlsx"),
            "check xlsx": (xlsx_file, Path(tmp) / "xlsx.report.csv"),
        }
        timed = {
            "pass": Measured([sys.executable, "-c", "pass"]),
            "pandas": Measured([sys.executable, "-c", "import pandas"]),
            "help": Measured([*wedocod, "--help"]),
            **{f"help {name}": Measured(command) for name, command in helps.items()},
            **{
                name: Measured(
                    check_command(path, report), CHECK_CODES, _summary_counts(STARTUP_ROWS)
                )
                for name, (path, report) in checked.items()
            },
        }
        # one warm-up round writes the bytecode cache and fills the page cache
        found = medians_in_turn(timed, runs, env=startup_env(), warmup=1 if runs > 1 else 0)
    results.notes.append(
        f"Start-up: whole processes, each the median of {runs} runs, all of them taking turns "
        "round by round after one warm-up round, with the bytecode cache on (see "
        "`startup_env`); hypothesis is installed (the dev extra), as in CI."
    )
    _help_findings(results, found, list(helps))
    _small_check_findings(results, found)


def _help_findings(results: Results, found: dict[str, ProcessRun], commands: list[str]) -> None:
    section = "startup"
    bare = found["pass"]
    target = f"≤ {HELP_LIMIT:g}×"
    name = "`wedocod --help` ÷ `python -c pass`"
    if not bare.ok:
        results.add(_failed(section, name, bare, target))
        return
    top = found["help"]
    if not top.ok:
        results.add(_failed(section, name, top, target))
    else:
        ratio = top.seconds / bare.seconds
        context = f"help: {top.seconds:.3f} s; `python -c pass`: {bare.seconds:.3f} s"
        results.add(Finding(section, name, f"{ratio:.1f}×", context, target, ratio <= HELP_LIMIT))
    name = f"slowest `wedocod <command> --help` ÷ `python -c pass` ({len(commands)} commands)"
    broken = [c for c in commands if not found[f"help {c}"].ok]
    if broken:
        results.add(_failed(section, f"{name}: {broken[0]}", found[f"help {broken[0]}"], target))
        return
    times = {c: found[f"help {c}"].seconds for c in commands}
    slowest = max(times, key=lambda c: times[c])
    ratio = times[slowest] / bare.seconds
    context = (
        f"`wedocod {slowest} --help`: {times[slowest]:.3f} s; the fastest "
        f"{min(times.values()):.3f} s; `python -c pass`: {bare.seconds:.3f} s"
    )
    results.add(Finding(section, name, f"{ratio:.1f}×", context, target, ratio <= HELP_LIMIT))


def _small_check_findings(results: Results, found: dict[str, ProcessRun]) -> None:
    section = "startup"
    pandas = found["pandas"]
    baseline = '`python -c "import pandas"`'
    target = f"≤ {SMALL_CHECK_LIMIT:g}×"
    labels = {
        "check csv": (f"`wedocod check` {STARTUP_ROWS}-row CSV, CSV report", True),
        "check csv, xlsx report": (
            f"`wedocod check` {STARTUP_ROWS}-row CSV, XLSX report (the default)",
            False,
        ),
        "check xlsx": (f"`wedocod check` {STARTUP_ROWS}-row XLSX, CSV report", False),
    }
    for key, (label, judged) in labels.items():
        name = f"{label} ÷ {baseline}"
        run = found[key]
        if not pandas.ok or not run.ok:
            results.add(_failed(section, name, run if pandas.ok else pandas, target))
            continue
        ratio = run.seconds / pandas.seconds
        context = (
            f"check: {run.seconds:.2f} s, peak {run.peak_rss_mb:,.0f} MB; import pandas: "
            f"{pandas.seconds:.2f} s, peak {pandas.peak_rss_mb:,.0f} MB"
        )
        if judged:
            finding = Finding(
                section, name, f"{ratio:.2f}×", context, target, ratio <= SMALL_CHECK_LIMIT
            )
        else:
            finding = Finding(section, name, f"{ratio:.2f}×", context)
        results.add(finding)


# --- 1. local throughput ----------------------------------------------------------------------


def check_command(path: Path, report: Path) -> list[str]:
    return [*wedocod_command(), "check", str(path), "--report", str(report), "--json"]


#: issue 8's targets: check ≤ 6× a read-only process, peak memory ≤ 3× its, and a file with
#: 20 % of its rows flagged ≤ 1.5× the clean file's time
READ_RATIO_LIMIT = 6.0
MEMORY_RATIO_LIMIT = 3.0
FLAGGED_RATIO_LIMIT = 1.5
#: the flagged file: 8.5 % of rows broken (their orders' other rows are held back too) and 8.5 %
#: of orders with a value sent with a warning, which flags about 20 % of the rows
FLAGGED_INVALID_RATE = 0.085
FLAGGED_WARN_RATE = 0.085


def bench_local(results: Results, seed: int) -> None:
    sizes = results.sizes
    started = time.perf_counter()
    export = ensure_export(sizes.rows, seed=seed, directory=results.data_dir)
    flagged = ensure_export(
        sizes.rows,
        seed=seed,
        invalid_rate=FLAGGED_INVALID_RATE,
        warn_rate=FLAGGED_WARN_RATE,
        directory=results.data_dir,
    )
    print(
        f"  data: {export.path.name}, {flagged.path.name} ({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="wedocod-bench-") as tmp:
        report = Path(tmp) / "report.csv"
        flagged_report = Path(tmp) / "flagged.report.csv"
        timed = {
            "check": Measured(
                check_command(export.path, report), CHECK_CODES, _summary_counts(export.rows)
            ),
            "flagged": Measured(
                check_command(flagged.path, flagged_report),
                CHECK_CODES,
                _summary_counts(flagged.rows),
            ),
            "read": Measured(_python("benchmarks.baselines", "read", str(export.path))),
        }
        # the three take turns, so that the ratios share the machine's ups and downs
        found = medians_in_turn(timed, sizes.repeats, warmup=1 if sizes.repeats > 1 else 0)
        share = flagged_share(flagged_report) if found["flagged"].ok else 0.0
    friction = measure_process(_python("benchmarks.baselines", "frictionless", str(export.path)))
    check, read = found["check"], found["read"]
    _local_findings(results, export, check, read, friction)
    _flagged_findings(results, flagged, found["flagged"], check, share)
    _xlsx_findings(results, seed)
    _wide_findings(results)


def flagged_share(report: Path) -> float:
    """The share of a CSV report's rows that carry an error or a warning."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        report,
        convert_options=pacsv.ConvertOptions(
            include_columns=["Errors", "Warnings"],
            column_types={"Errors": "string", "Warnings": "string"},
            strings_can_be_null=False,
        ),
    )
    said = pc.or_(pc.not_equal(table["Errors"], ""), pc.not_equal(table["Warnings"], ""))
    return float(pc.sum(said).as_py() or 0) / max(table.num_rows, 1)


def _flagged_findings(
    results: Results, flagged: Export, run: ProcessRun, clean: ProcessRun, share: float
) -> None:
    section = "local"
    name = "check time, file with ~20 % of rows flagged ÷ the clean file"
    target = f"≤ {FLAGGED_RATIO_LIMIT:g}×"
    if not run.ok or not clean.ok:
        results.add(_failed(section, name, run if not run.ok else clean, target))
        return
    summary = _summary(run)
    ratio = run.seconds / clean.seconds
    context = (
        f"flagged: {run.seconds:.2f} s, {share:.1%} of {flagged.rows:,} rows flagged "
        f"({_count(summary.get('invalid'))} invalid leads, {_count(summary.get('warnings'))} "
        f"rows with a warning), peak {run.peak_rss_mb:,.0f} MB; clean: {clean.seconds:.2f} s"
    )
    results.add(
        Finding(section, name, f"{ratio:.2f}×", context, target, ratio <= FLAGGED_RATIO_LIMIT)
    )


def _summary(run: ProcessRun) -> dict[str, object]:
    lines = run.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _summary_counts(rows: int) -> Callable[[ProcessRun], bool]:
    """Accepts a check run only if it printed its JSON summary with every row counted."""

    def accept(run: ProcessRun) -> bool:
        return _summary(run).get("rows") == rows

    return accept


def _local_findings(
    results: Results, export: Export, check: ProcessRun, read: ProcessRun, friction: ProcessRun
) -> None:
    section = "local"
    rows = export.rows
    name = f"`wedocod check` CSV, {rows:,} rows, CSV report included"
    target = "≥ 150,000 rows/s"
    if not check.ok:
        results.add(_failed(section, name, check, target))
        return
    summary = _summary(check)
    seen_rows = summary.get("rows")
    context = (
        f"{check.seconds:.2f} s; {_count(summary.get('leads'))} leads, "
        f"{_count(summary.get('invalid'))} invalid (file: {export.orders:,} orders, "
        f"{export.invalid_rows:,} rows broken on purpose)"
    )
    if seen_rows != rows:
        context += f"; WARNING: check counted {seen_rows} rows"
    context += f"; exit code {check.returncode}"
    speed = rows / check.seconds
    results.add(Finding(section, name, f"{speed:,.0f} rows/s", context, target, speed >= 150_000))

    name = "check time ÷ read-only pandas (pyarrow engine, dtype=str)"
    target = f"≤ {READ_RATIO_LIMIT:g}×"
    if read.ok:
        ratio = check.seconds / read.seconds
        context = f"read-only: {read.seconds:.2f} s, {_rate(rows, read.seconds)}"
        results.add(
            Finding(section, name, f"{ratio:.1f}×", context, target, ratio <= READ_RATIO_LIMIT)
        )
    else:
        results.add(_failed(section, name, read, target))

    name = "frictionless validate time ÷ check time (same field rules)"
    if friction.ok:
        speedup = friction.seconds / check.seconds
        found = _summary(friction)
        context = (
            f"frictionless: {friction.seconds:.1f} s (one run), {_count(found.get('errors'))} "
            f"errors, peak {friction.peak_rss_mb:,.0f} MB"
        )
        results.add(Finding(section, name, f"{speedup:.1f}×", context, "> 1×", speedup > 1))
    else:
        results.add(_failed(section, name, friction, "> 1×"))

    name = f"check peak memory (RSS) ÷ read-only's, {rows:,} rows"
    target = f"≤ {MEMORY_RATIO_LIMIT:g}×"
    if read.ok:
        ratio = check.peak_rss_mb / read.peak_rss_mb
        context = f"check: {check.peak_rss_mb:,.0f} MB; read-only: {read.peak_rss_mb:,.0f} MB"
        results.add(
            Finding(section, name, f"{ratio:.1f}×", context, target, ratio <= MEMORY_RATIO_LIMIT)
        )
    else:
        results.add(_failed(section, name, read, target))


def _xlsx_findings(results: Results, seed: int) -> None:
    sizes = results.sizes
    section = "local"
    started = time.perf_counter()
    export = ensure_export(sizes.xlsx_rows, seed=seed, xlsx=True, directory=results.data_dir)
    print(f"  data: {export.path.name} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="wedocod-bench-") as tmp:
        check = best_of(
            check_command(export.path, Path(tmp) / "report.csv"),
            sizes.repeats,
            expected_codes=CHECK_CODES,
            accept=_summary_counts(export.rows),
        )
    read = best_of(_python("benchmarks.baselines", "read-xlsx", str(export.path)), sizes.repeats)
    name = f"`wedocod check` XLSX, {export.rows:,} rows, CSV report included"
    limit = 10.0  # for 100,000 rows; at other sizes the verdict is only indicative
    target = f"< {limit:g} s (100,000 rows)"
    if not check.ok:
        results.add(_failed(section, name, check, target))
        return
    context = f"{_rate(export.rows, check.seconds)}, peak {check.peak_rss_mb:,.0f} MB"
    if read.ok:
        context += (
            f"; read-only (pandas + calamine): {read.seconds:.2f} s, "
            f"check is {check.seconds / read.seconds:.1f}× of it"
        )
    results.add(
        Finding(section, name, f"{check.seconds:.2f} s", context, target, check.seconds < limit)
    )


#: A sheet as wide as real product-matrix exports get: the native template's columns, then
#: thousands of others (which detection sends as custom data, up to what a lead can carry).
WIDE_COLUMNS = 5_000


def write_wide_export(path: Path, columns: int = WIDE_COLUMNS) -> Path:
    """One order in the native template, widened to ``columns`` columns."""
    extra = columns - len(COLUMNS[:-2])
    header = [*COLUMNS[:-2], *(f"extra_{i}" for i in range(extra))]
    first = ["W-1", "Youssef El Amrani", "0612457893", "Casablanca", "Maarif"]
    row = [*first, "12 Rue Ibnou Mounir", "SKU-001", "1", "149", *(f"v{i}" for i in range(extra))]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(row[: len(header)])
    return path


def _wide_findings(results: Results) -> None:
    """`check` on one row and 5,000 columns: the cost of width, which per-column work shows."""
    section = "local"
    name = f"`wedocod check`, 1 row and {WIDE_COLUMNS:,} columns, XLSX report included"
    limit = 2.0
    target = f"< {limit:g} s"
    with tempfile.TemporaryDirectory(prefix="wedocod-bench-") as tmp:
        path = write_wide_export(Path(tmp) / "wide.csv")
        check = best_of(
            check_command(path, Path(tmp) / "report.xlsx"),
            results.sizes.repeats,
            expected_codes=CHECK_CODES,
            accept=_summary_counts(1),
        )
        read = best_of(_python("benchmarks.baselines", "read", str(path)), results.sizes.repeats)
    if not check.ok:
        results.add(_failed(section, name, check, target))
        return
    context = f"peak {check.peak_rss_mb:,.0f} MB"
    if read.ok:
        context += (
            f"; read-only process (pandas, pyarrow engine): {read.seconds:.2f} s, "
            f"check is {check.seconds / read.seconds:.1f}× of it"
        )
    results.add(
        Finding(section, name, f"{check.seconds:.2f} s", context, target, check.seconds < limit)
    )


# --- 2. upload throughput ---------------------------------------------------------------------


def _exactly_once(section: str, label: str, run: ImportRun, leads: int) -> Finding:
    name = f"every lead on the server exactly once ({label})"
    measured = f"{run.server_leads:,} on server for {leads:,} leads"
    context = (
        f"summary: created {run.summary.get('created')}, queued {run.summary.get('queued')}, "
        f"failed {run.summary.get('failed')}, uncertain {run.summary.get('uncertain')}"
    )
    return Finding(section, name, measured, context, "= leads", run.server_leads == leads)


def _import_failed(section: str, name: str, run: ImportRun, target: str) -> Finding:
    tail = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return Finding(section, name, "error", f"exit {run.returncode}: {tail}", target, False)


def bench_upload(results: Results, seed: int) -> None:
    sizes = results.sizes
    section = "upload"
    latency = sizes.upload_latency_ms
    export = ensure_export(
        orders=sizes.upload_leads, seed=seed, invalid_rate=0.0, directory=results.data_dir
    )
    leads = export.orders

    sample = leads_from_csv(export.path, sizes.baseline_leads)
    with sandbox_process(latency_ms=latency) as sandbox:
        baseline = post_one_by_one(sandbox.url, sample)
    base_rate = baseline.created / baseline.seconds if baseline.seconds else 0.0
    results.notes.append(
        f"Upload baseline: one `requests` POST per lead, in sequence, over one keep-alive "
        f"session, measured on the first {baseline.leads:,} leads of the same file "
        f"({baseline.created:,} created in {baseline.seconds:.1f} s); its rate stands for the "
        f"whole file. Sandbox latency {latency} ms per request, in its own process."
    )

    with sandbox_process(latency_ms=latency) as sandbox:
        default = run_import(sandbox, export.path)
    name = f"`wedocod import` default settings ÷ baseline, leads/s ({leads:,} leads)"
    if default.returncode not in IMPORT_CODES or not default.summary:
        results.add(_import_failed(section, name, default, "≥ 30×"))
    else:
        rate = default.accepted / default.seconds
        ratio = rate / base_rate if base_rate else math.inf
        context = (
            f"import: {rate:,.0f} leads/s ({default.seconds:.1f} s for {default.accepted:,} "
            f"accepted, process start and report included; first to last request "
            f"{default.active_seconds:.1f} s); baseline: {base_rate:,.1f} leads/s"
        )
        results.add(Finding(section, name, f"{ratio:.1f}×", context, "≥ 30×", ratio >= 30))
        results.add(_calls_finding(section, "default settings (batches of 10)", default, 9))
        results.add(_exactly_once(section, "default settings", default, leads))

    with sandbox_process(latency_ms=latency) as sandbox:
        big = run_import(sandbox, export.path, "--batch-size", "100")
    if big.returncode not in IMPORT_CODES or not big.summary:
        results.add(_import_failed(section, "leads per API call, batches of 100", big, "≥ 40"))
    else:
        results.add(_calls_finding(section, "batches of 100", big, 40))
        results.add(_exactly_once(section, "batches of 100", big, leads))


def _calls_finding(section: str, label: str, run: ImportRun, target: int) -> Finding:
    calls = run.api_calls
    per_call = run.accepted / calls if calls else 0.0
    routes = ", ".join(f"{route} {n}" for route, n in sorted(run.routes.items()))
    context = (
        f"{run.accepted:,} leads accepted, {calls} requests ({routes}); "
        f"{run.seconds:.1f} s, {run.accepted / run.seconds:,.0f} leads/s"
    )
    return Finding(
        section,
        f"leads per API call, {label}, lookups counted",
        f"{per_call:.1f}",
        context,
        f"≥ {target}",
        per_call >= target,
    )


# --- 3. under a rate limit --------------------------------------------------------------------


def allowed_requests(seconds: float, limit: int, window: float = 60.0) -> int:
    """The most requests a sliding-window limit lets through in `seconds` from a cold start."""
    return limit * (math.floor(seconds / window) + 1)


def bench_ratelimit(results: Results, seed: int) -> None:
    sizes = results.sizes
    section = "ratelimit"
    limit = sizes.rate_limit
    export = ensure_export(
        orders=sizes.ratelimit_leads, seed=seed, invalid_rate=0.0, directory=results.data_dir
    )
    with sandbox_process(latency_ms=sizes.upload_latency_ms, rate_limit=limit) as sandbox:
        run = run_import(sandbox, export.path, "--batch-size", "100")
    name = f"leads/min under {limit} requests/min, batches of 100 ({export.orders:,} leads)"
    if run.returncode not in IMPORT_CODES or not run.summary:
        results.add(_import_failed(section, name, run, "report"))
        return
    minutes = run.seconds / 60
    per_minute = run.accepted / minutes
    ceiling = limit * 100
    allowed = allowed_requests(run.seconds, limit) * 100
    context = (
        f"{run.accepted:,} leads in {run.seconds:.0f} s; {per_minute / ceiling:.0%} of the "
        f"long-run ceiling {ceiling:,}/min (limit × 100; the first window's burst makes short "
        f"runs look better); {run.api_calls} requests of which {run.refused} answered 429"
    )
    results.add(Finding(section, name, f"{per_minute:,.0f}/min", context))
    name = "fraction of what the limit allowed in the run's time"
    windows = math.floor(run.seconds / 60) + 1
    context = (
        f"in {run.seconds:.0f} s ({windows} windows) the limit let {allowed // 100} requests "
        f"through, i.e. {allowed:,} leads in batches of 100; the import used {run.api_calls} "
        "requests: "
        + ", ".join(f"{route} {n}" for route, n in sorted(run.routes.items()))
        + " (each lookup costs a request that could have carried 100 leads)"
    )
    results.add(Finding(section, name, f"{run.accepted / allowed:.0%}", context))
    results.add(_exactly_once(section, "under the rate limit", run, export.orders))


# --- the table --------------------------------------------------------------------------------


def _environment() -> str:
    import pandas
    import pyarrow  # type: ignore[import-untyped]

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = "?"
    import os

    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or '?'}, "
        f"Python {platform.python_version()}, pandas {pandas.__version__}, "
        f"pyarrow {pyarrow.__version__}, {os.cpu_count()} CPUs, {platform.system()}, "
        # other work on the machine skews every figure; ratios less than absolute numbers
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


def render(results: Results, quick: bool) -> str:
    sizes = results.sizes
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` (`make bench`); do not edit by hand.",
        "",
        f"- Run: {_environment()}; {results.seconds / 60:.1f} min in all.",
        f"- Sizes: {sizes.rows:,}-row CSV, {sizes.xlsx_rows:,}-row XLSX, "
        f"{sizes.upload_leads:,} leads uploaded, {sizes.ratelimit_leads:,} under the rate limit"
        + (" (`--quick`: the targets are meant for the full sizes)" if quick else "")
        + ".",
        "- Every figure is a ratio against a baseline measured in the same run; absolute "
        "numbers are context only (they drift between machines and runs). Times are "
        f"best of {sizes.repeats} (the 1M-row checks and their read-only baseline: the median "
        f"of {sizes.repeats}, taking turns), peak memory the largest RSS seen, each process "
        "measured alone in its own wrapper.",
        *(f"- {note}" for note in results.notes),
        "",
        "| Section | Benchmark | Measured | Target | Result | Context |",
        "|---|---|---|---|---|---|",
    ]
    for f in results.findings:
        cells = (f.section, f.name, f.measured, f.target or "—", f.verdict, f.context)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    if quick:
        lines += ["", "`--quick`: verdicts in parentheses are indicative only.", ""]
    else:
        passed = sum(1 for f in results.findings if f.passed)
        failed = sum(1 for f in results.findings if f.passed is False)
        lines += ["", f"{passed} targets met, {failed} missed or not measured.", ""]
    return "\n".join(lines)


def run_suite(
    sizes: Sizes,
    only: tuple[str, ...] = SECTIONS,
    seed: int = 7,
    results_file: Path | None = RESULTS_FILE,
    quick: bool = False,
    data_dir: Path = DATA_DIR,
) -> Results:
    """Runs the chosen sections, prints the table, and writes it to `results_file`."""
    results = Results(sizes, indicative=quick, data_dir=data_dir)
    started = time.perf_counter()
    benches: dict[str, Callable[[Results, int], None]] = {
        "startup": bench_startup,
        "local": bench_local,
        "upload": bench_upload,
        "ratelimit": bench_ratelimit,
    }
    for section in only:
        print(f"[{section}]", file=sys.stderr)
        try:
            benches[section](results, seed)
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as err:
            # one broken section must not hide the others' figures
            results.add(
                Finding(section, f"{section} benchmark", "error", str(err)[:300], passed=False)
            )
    results.seconds = time.perf_counter() - started
    table = render(results, quick)
    print(table)
    if results_file is not None:
        results_file.write_text(table, encoding="utf-8")
    return results
