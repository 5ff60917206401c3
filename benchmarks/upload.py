"""Upload benchmarks: the sandbox in its own process, `wedocod import`, and a naive baseline."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

#: Every HTTP request in the benchmarks gives up after this long (seconds).
REQUEST_TIMEOUT = 30
TOKEN = "bench-token"
# The sandbox logs one line per request: "12:00:01 POST /leads 201 51.3ms" ("dropped" for resets).
LOG_LINE = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH) (/\S*) (\d{3}|dropped)\b")


@dataclass(frozen=True)
class Request:
    """One request the sandbox answered, as its log line told it, with when we read the line."""

    at: float  # time.monotonic() in this process
    method: str
    path: str
    status: str

    @property
    def route(self) -> str:
        # the ref in /leads/{ref}/show varies; count the route, not the URL
        if self.path.startswith("/leads/") and self.path.endswith("/show"):
            return f"{self.method} /leads/{{reference}}/show"
        return f"{self.method} {self.path}"


@dataclass
class SandboxProcess:
    """A sandbox running as `python -m importer.sandbox`, and the requests it has logged."""

    url: str
    process: subprocess.Popen[str]
    requests: list[Request] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self) -> int:
        """A position in the request log, to count what happens after it."""
        with self._lock:
            return len(self.requests)

    def since(self, mark: int, settle: float = 0.3) -> list[Request]:
        """The requests logged after `mark` (after a short wait for the last lines to arrive)."""
        time.sleep(settle)
        with self._lock:
            return list(self.requests[mark:])

    def _follow(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            now = time.monotonic()
            found = LOG_LINE.search(line)
            with self._lock:
                self.lines.append(line.rstrip())
                if found:
                    method, path, status = found.groups()
                    self.requests.append(Request(now, method, path, status))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def sandbox_process(
    *, latency_ms: int = 50, rate_limit: int | None = None, extra: tuple[str, ...] = ()
) -> Iterator[SandboxProcess]:
    """Starts a fresh in-memory sandbox in its own process (its own GIL) on a free port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "importer.sandbox",
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--latency-ms",
        str(latency_ms),
        *(("--rate-limit", str(rate_limit)) if rate_limit else ()),
        *extra,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    running = SandboxProcess(f"http://127.0.0.1:{port}", process)
    reader = threading.Thread(target=running._follow, daemon=True)
    reader.start()
    try:
        # wait for the port by connecting, not by an HTTP request that the rate limit would count
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    "the sandbox exited: " + "\n".join(running.lines[-20:]) or "no output"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start within 30 s") from None
                time.sleep(0.05)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)


def server_lead_count(url: str, patience: float = 180.0) -> int:
    """How many leads the account holds, from `GET /leads` pagination.

    Under a rate limit the count waits its turn like any client: it honours `Retry-After`.
    """
    deadline = time.monotonic() + patience
    while True:
        answer = requests.get(
            f"{url}/leads",
            params={"per_page": 1},
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        if answer.status_code == 429 and time.monotonic() < deadline:
            time.sleep(float(answer.headers.get("Retry-After", "1")) + 0.1)
            continue
        answer.raise_for_status()
        total: int = answer.json()["meta"]["pagination"]["total"]
        return total


# --- the baseline: what a user would write -----------------------------------------------------


def leads_from_csv(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Leads grouped by order id the plain way, with the csv module."""
    leads: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lead = leads.get(row["order_id"])
            if lead is None:
                if limit is not None and len(leads) >= limit:
                    break
                lead = {
                    "full_name": row["full_name"],
                    "phone": row["phone"],
                    "city": row["city"],
                    "address": row["address"],
                    "products": [],
                    "data": [{"key": "import_id", "value": row["order_id"]}],
                }
                if row["area"]:
                    lead["area"] = row["area"]
                leads[row["order_id"]] = lead
            lead["products"].append(
                {"sku": row["sku"], "quantity": int(row["quantity"]), "total": float(row["total"])}
            )
    return list(leads.values())


@dataclass(frozen=True)
class BaselineRun:
    leads: int
    created: int
    seconds: float


def post_one_by_one(url: str, leads: list[dict[str, Any]]) -> BaselineRun:
    """One POST per lead, in sequence, over one keep-alive session."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    created = 0
    started = time.perf_counter()
    for lead in leads:
        answer = session.post(f"{url}/leads", json={"data": [lead]}, timeout=REQUEST_TIMEOUT)
        if answer.status_code == 201:
            created += len(answer.json()["data"]["created_refs"])
    seconds = time.perf_counter() - started
    session.close()
    return BaselineRun(len(leads), created, seconds)


# --- the importer ---------------------------------------------------------------------------


def wedocod_command() -> list[str]:
    """The installed `wedocod` script beside this interpreter, else `python -m importer`."""
    script = Path(sys.executable).with_name("wedocod")
    return [str(script)] if script.exists() else [sys.executable, "-m", "importer"]


@dataclass(frozen=True)
class ImportRun:
    """One `wedocod import` against a sandbox: its summary and the requests it caused."""

    returncode: int
    seconds: float
    summary: dict[str, Any]
    requests: list[Request]
    server_leads: int
    stderr: str

    @property
    def accepted(self) -> int:
        """Leads the server took: created now (ref known) or queued (async, ref pending)."""
        return int(self.summary.get("created", 0)) + int(self.summary.get("queued", 0))

    @property
    def active_seconds(self) -> float:
        """From the first to the last request the server logged: the upload without start-up."""
        if not self.requests:
            return 0.0
        return self.requests[-1].at - self.requests[0].at

    @property
    def routes(self) -> Counter[str]:
        return Counter(request.route for request in self.requests)

    @property
    def api_calls(self) -> int:
        """Every POST and every lookup GET (and any other request) the import made."""
        return len(self.requests)

    @property
    def refused(self) -> int:
        """Requests the rate limit turned away with a 429."""
        return sum(1 for request in self.requests if request.status == "429")


def run_import(
    sandbox: SandboxProcess, path: Path, *options: str, timeout: float = 1200
) -> ImportRun:
    """`wedocod import FILE --json` with a throw-away ledger and report, timed as a process."""
    import json

    with tempfile.TemporaryDirectory(prefix="wedocod-bench-") as tmp:
        env = dict(os.environ)
        env.update(
            WEDOCOD_BASE_URL=sandbox.url,
            WEDOCOD_TOKEN=TOKEN,
            # nothing of a benchmark may land in the user's real state directory
            XDG_STATE_HOME=tmp,
            XDG_DATA_HOME=tmp,
        )
        command = [
            *wedocod_command(),
            "import",
            str(path),
            "--report",
            str(Path(tmp) / "report.csv"),
            "--ledger",
            str(Path(tmp) / "ledger.sqlite"),
            "--json",
            *options,
        ]
        mark = sandbox.mark()
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        seconds = time.perf_counter() - started
        seen = sandbox.since(mark)
    summary: dict[str, Any] = {}
    lines = done.stdout.strip().splitlines()
    if lines:
        try:
            summary = json.loads(lines[-1])
        except ValueError:
            summary = {}
    counted = server_lead_count(sandbox.url) if summary else -1
    return ImportRun(done.returncode, seconds, summary, seen, counted, done.stderr[-3000:])
