"""`wedocod export`: every page, two sheets, formula-safe, a page limit, nothing left on Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest

from importer.cli import ExitStatus
from importer.client import LeadsClient
from importer.exporting import LEAD_COLUMNS, PRODUCT_COLUMNS, ExportFilters, export_leads
from tests.conftest import TEST_TOKEN, serve_sandbox
from tests.test_bulk import cli, seed_leads, set_status

ROOT = Path(__file__).resolve().parent.parent
FORMULA = '=HYPERLINK("http://evil.example","Click")'


def sheet_rows(path: Path, name: str) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(path)
    try:
        return [tuple(c.value for c in row) for row in book[name].iter_rows()]
    finally:
        book.close()


def test_export_every_page_to_xlsx_with_a_products_sheet(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 250)
        running.sandbox.store.create_leads(
            TEST_TOKEN,
            [
                {
                    "full_name": FORMULA,
                    "phone": "+212612345678",
                    "city": "Rabat",
                    "address": "@SUM(1+1) Rue",
                    "area": "Agdal",
                    "products": [{"sku": "SKU-003", "quantity": 3, "total": 90}],
                }
            ],
            frozenset(),
        )
        out = tmp_path / "leads.xlsx"
        done = cli(running, "export", "-o", str(out), "--json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == {
            "file": str(out),
            "leads": 251,
            "products": 501,
            "pages": 3,
        }
        assert running.sandbox.stats["GET /leads"] == 3  # 100 per page
        book = openpyxl.load_workbook(out)
        assert book.sheetnames == ["Leads", "Products"]
        evil = book["Leads"]["D2"]
        assert evil.value == FORMULA and evil.data_type == "s"  # text, never a formula
        book.close()

        rows = sheet_rows(out, "Leads")
        assert rows[0] == LEAD_COLUMNS and len(rows) == 252
        got = {row[0]: dict(zip(LEAD_COLUMNS, row, strict=True)) for row in rows[1:]}
        first = got[leads[0]["reference"]]
        assert first["id"] == leads[0]["id"] and first["phone"] == "0600000000"
        assert first["products"] == "SKU-001 x2 = 299.00 MAD; SKU-002 x1 = 150.00 MAD"
        assert first["data"] == "import_id=order:0" and first["area"] is None
        products = sheet_rows(out, "Products")
        assert products[0] == PRODUCT_COLUMNS and len(products) == 502
        mine = [p for p in products[1:] if p[0] == leads[0]["reference"]]
        assert mine == [
            (leads[0]["reference"], leads[0]["id"], "SKU-001", 2, "299.00 MAD", "299.00 MAD"),
            (leads[0]["reference"], leads[0]["id"], "SKU-002", 1, "150.00 MAD", "150.00 MAD"),
        ]

        # the positional OUTPUT still works; a CSV escapes what a spreadsheet would run
        flat = tmp_path / "leads.csv"
        assert cli(running, "export", str(flat)).exit_code == 0
        with flat.open(encoding="utf-8-sig", newline="") as handle:
            lines = list(csv.reader(handle))
        assert lines[0] == list(LEAD_COLUMNS) and len(lines) == 252
        assert lines[1][3] == "'" + FORMULA and lines[1][7] == "'@SUM(1+1) Rue"
        assert lines[1][4] == "+212612345678"  # a plain number stays as it is


def test_export_by_status_and_progress_per_page(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 230)
        set_status(running, [lead["reference"] for lead in leads[:30]], "call_later")
        out = tmp_path / "later.xlsx"
        done = cli(running, "export", "-o", str(out), "--status", "Call Later")  # a label
        assert done.exit_code == 0, done.output
        refs = {row[0] for row in sheet_rows(out, "Leads")[1:]}
        assert refs == {lead["reference"] for lead in leads[:30]}
        # two statuses: filtered on each lead, every page read
        both = tmp_path / "both.csv"
        done = cli(running, "export", "-o", str(both), "--status", "new", "--status", "call_later")
        assert done.exit_code == 0 and len(both.read_text("utf-8-sig").splitlines()) == 231
        unknown = cli(running, "export", "-o", str(both), "--status", "rappeler")
        assert unknown.exit_code == ExitStatus.USAGE and "call_later" in unknown.stderr

        pages: list[tuple[int, int | None, int | None]] = []
        with LeadsClient(running.url, TEST_TOKEN) as client:
            result = export_leads(
                client, tmp_path / "x.xlsx", ExportFilters(), on_page=lambda *p: pages.append(p)
            )
        assert pages == [(1, 3, 230), (2, 3, 230), (3, 3, 230)]
        assert (result.leads, result.products, result.pages) == (230, 460, 3)


class _EndlessPages(BaseHTTPRequestHandler):
    """A server that always says there is one more page (a paging bug, or a hostile proxy)."""

    def do_GET(self) -> None:
        page = int(parse_qs(urlparse(self.path).query).get("page", ["1"])[0])
        more = {"page": page, "limit": 100, "total": page + 1, "pages": page + 1}
        body = {
            "data": [{"reference": f"REF{page:05d}", "id": f"ID{page:05d}", "status": "new"}],
            "meta": {"pagination": more},
        }
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def endless_server() -> Iterator[tuple[str, list[int]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EndlessPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", []
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_stops_paging_cannot_keep_the_export_running(tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    with endless_server() as (url, _):
        from click.testing import CliRunner

        from importer.cli import main

        env = {"WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": TEST_TOKEN}
        done = CliRunner().invoke(main, ["export", "-o", str(out)], env=env)
    # the first page announced 2 pages: past 2 + 5, the export stops, and writes nothing
    assert done.exit_code == ExitStatus.API and "past page 7" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("sig", "suffix"),
    [(signal.SIGINT, ".xlsx"), (signal.SIGTERM, ".csv")],
    ids=["ctrl-c-xlsx", "sigterm-csv"],
)
def test_ctrl_c_or_sigterm_mid_export_leaves_no_file_behind(
    tmp_path: Path, sig: signal.Signals, suffix: str
) -> None:
    scratch = tmp_path / "tmp"  # the process's temp folder: xlsxwriter's buffers go there
    scratch.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with serve_sandbox(latency_ms=300) as running:
        seed_leads(running, 1000)  # 10 pages of 300 ms: it is stopped well before the end
        env = {
            **os.environ,
            "WEDOCOD_BASE_URL": running.url,
            "WEDOCOD_TOKEN": TEST_TOKEN,
            "TMPDIR": str(scratch),
        }
        out = out_dir / f"leads{suffix}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "importer", "export", "-o", str(out)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            # two pages asked for: the file is being written (observed on the server)
            while running.sandbox.stats.get("GET /leads", 0) < 2:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the export never reached page 2"
                time.sleep(0.02)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert running.sandbox.stats["GET /leads"] < 10  # it stopped before the end
    assert proc.returncode == ExitStatus.INTERRUPTED, stderr
    assert "Interrupted" in stderr
    assert list(out_dir.iterdir()) == [] and list(scratch.iterdir()) == []
