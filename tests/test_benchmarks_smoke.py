"""Smoke tests for the benchmark suite: a deterministic generator and a harness that runs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from benchmarks.generate import COLUMNS, ensure_export, generate_table
from benchmarks.measure import Measured, best_of, medians_in_turn
from benchmarks.suite import Sizes, run_suite
from benchmarks.upload import (
    leads_from_csv,
    post_one_by_one,
    run_import,
    sandbox_process,
    server_lead_count,
)

PHONE_SHAPES = {
    "national": re.compile(r"^0[67]\d{8}$"),
    "spaced": re.compile(r"^0[67](?: \d\d){4}$"),
    "plus": re.compile(r"^\+212[67]\d{8}$"),
    "double zero": re.compile(r"^00212[67]\d{8}$"),
    "no trunk zero": re.compile(r"^[67]\d{8}$"),
}


def test_same_seed_same_export_other_seed_other_export() -> None:
    first, orders, broken, _ = generate_table(2_000, seed=3)
    again, orders_again, broken_again, _ = generate_table(2_000, seed=3)
    other, _, _, _ = generate_table(2_000, seed=4)
    assert first.equals(again)
    assert (orders, broken) == (orders_again, broken_again)
    assert not first.equals(other)


def test_export_has_the_native_template_and_realistic_content() -> None:
    table, orders, broken, _ = generate_table(20_000, seed=11)
    assert table.num_rows == 20_000
    assert tuple(table.column_names) == COLUMNS
    # about 0.7 orders per row: several lines per order are common
    assert 0.6 < orders / table.num_rows < 0.8
    assert len(pc.unique(table.column("order_id"))) == orders
    # about 1 % of rows are broken on purpose
    assert 120 < broken < 300
    phones = table.column("phone").to_pylist()
    for shape, pattern in PHONE_SHAPES.items():
        assert sum(1 for p in phones if pattern.match(p)) > 500, shape
    names = table.column("full_name").to_pylist()
    assert any(re.search(r"[\u0600-\u06ff]", n) for n in names)
    assert any(re.fullmatch(r"[A-Za-z ]+", n) for n in names)
    skus = set(table.column("sku").to_pylist())
    assert "SKU-001" in skus and "" in skus  # catalog SKUs, plus the odd missing one


def test_lead_fields_repeat_on_every_line_of_an_order() -> None:
    table, _, _, _ = generate_table(3_000, seed=5, invalid_rate=0.0)
    seen: dict[str, tuple[str, ...]] = {}
    rows = table.select(["order_id", "full_name", "phone", "city", "address"]).to_pylist()
    repeated = 0
    for row in rows:
        lead = (row["full_name"], row["phone"], row["city"], row["address"])
        if row["order_id"] in seen:
            repeated += 1
            assert seen[row["order_id"]] == lead
        seen[row["order_id"]] = lead
    assert repeated > 500


def test_orders_mode_gives_the_exact_number_of_orders() -> None:
    table, orders, broken, _ = generate_table(orders=137, seed=2, invalid_rate=0.0)
    assert orders == 137 == len(pc.unique(table.column("order_id")))
    assert broken == 0


def test_an_existing_export_is_reused(tmp_path: Path) -> None:
    first = ensure_export(300, seed=9, directory=tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = ensure_export(300, seed=9, directory=tmp_path)
    assert again == first
    assert again.path.stat().st_mtime_ns == stamp
    assert len(first.path.read_text(encoding="utf-8").splitlines()) == 301


def test_local_harness_runs_on_a_few_hundred_rows(tmp_path: Path) -> None:
    results_file = tmp_path / "results.md"
    sizes = Sizes(rows=300, xlsx_rows=200, repeats=1)
    results = run_suite(
        sizes, ("local",), seed=5, results_file=results_file, quick=True, data_dir=tmp_path
    )
    names = [f.name for f in results.findings]
    assert any("CSV, 300 rows" in n for n in names)
    assert any("XLSX, 200 rows" in n for n in names)
    assert any("frictionless" in n for n in names)
    broken = [f for f in results.findings if f.measured == "error"]
    if importlib.util.find_spec("frictionless") is None:
        # frictionless is the `bench` extra (`make bench` installs it), not a dev tool
        broken = [f for f in broken if "No module named 'frictionless'" not in f.context]
    assert not broken, broken
    text = results_file.read_text(encoding="utf-8")
    assert "| Section | Benchmark | Measured | Target | Result | Context |" in text
    assert "read-only" in text


@pytest.fixture(scope="module")
def small_upload_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_export(
        orders=25, seed=1, invalid_rate=0.0, directory=tmp_path_factory.mktemp("data")
    ).path


def test_baseline_posts_one_lead_per_request_and_every_request_is_counted(
    small_upload_file: Path,
) -> None:
    leads = leads_from_csv(small_upload_file, limit=12)
    assert len(leads) == 12
    with sandbox_process(latency_ms=0) as sandbox:
        mark = sandbox.mark()
        run = post_one_by_one(sandbox.url, leads)
        seen = sandbox.since(mark)
        assert run.created == 12
        assert [r.route for r in seen] == ["POST /leads"] * 12
        assert server_lead_count(sandbox.url) == 12


def test_import_run_reports_leads_and_requests(small_upload_file: Path) -> None:
    with sandbox_process(latency_ms=0) as sandbox:
        run = run_import(sandbox, small_upload_file, "--batch-size", "10")
    assert run.returncode == 0, run.stderr
    assert run.accepted == 25 == run.server_leads
    assert run.routes["POST /leads"] == 3  # 10 + 10 + 5
    assert run.api_calls >= 3


def test_a_crash_never_passes_for_a_fast_run() -> None:
    # a Python traceback exits 1, the same code as "some rows invalid" for `wedocod check`
    crash = [sys.executable, "-c", "raise SystemExit(1)"]
    run = best_of(crash, 2, expected_codes=frozenset({0, 1}), accept=lambda r: bool(r.stdout))
    assert not run.ok
    fine = [sys.executable, "-c", "print('{}'); raise SystemExit(1)"]
    run = best_of(fine, 1, expected_codes=frozenset({0, 1}), accept=lambda r: bool(r.stdout))
    assert run.ok
    assert run.peak_rss_mb > 1


def test_start_up_harness_judges_help_and_a_small_check(tmp_path: Path) -> None:
    sizes = Sizes(rows=300, xlsx_rows=200, repeats=1, startup_runs=1)
    results = run_suite(
        sizes, ("startup",), seed=5, results_file=None, quick=True, data_dir=tmp_path
    )
    broken = [f for f in results.findings if f.measured == "error"]
    assert not broken, broken
    judged = {f.name: f for f in results.findings if f.target}
    assert any("`wedocod --help`" in n for n in judged)
    assert any("<command> --help" in n for n in judged)
    check = next(f for n, f in judged.items() if "20-row CSV, CSV report" in n)
    assert check.target == "≤ 1.5×" and check.measured.endswith("×")
    assert len(results.findings) == 5


def test_medians_in_turn_returns_a_crash_rather_than_a_time() -> None:
    fine = Measured([sys.executable, "-c", "print('ok')"])
    crash = Measured([sys.executable, "-c", "raise SystemExit(3)"])
    found = medians_in_turn({"fine": fine, "crash": crash}, 3, warmup=1)
    assert found["fine"].ok and found["fine"].stdout.strip() == "ok"
    assert found["fine"].peak_rss_mb > 1
    assert not found["crash"].ok and found["crash"].returncode == 3


def test_warned_orders_are_sent_with_the_warnings_they_were_made_for(tmp_path: Path) -> None:
    from importer.pipeline import SourceOptions, check_file

    export = ensure_export(2_000, seed=4, invalid_rate=0.0, warn_rate=0.1, directory=tmp_path)
    assert 100 < export.warned_orders < 200
    result = check_file(export.path, SourceOptions(), tmp_path / "report.csv")
    codes = {c.code: c.rows for c in result.summary.issues}
    assert set(codes) == {"unlisted_phone", "text_shortened"}
    assert result.summary.invalid == 0
    # one warning per order, on each of its rows that holds the value
    assert sum(codes.values()) >= export.warned_orders
    assert result.summary.valid == export.orders
