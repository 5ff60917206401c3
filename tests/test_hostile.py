"""Exactly once against a hostile server: a real loopback HTTP server per scenario.

Each scenario is a rule deciding, request by request, what the server does: answer
something of its own (a lying 201, a 429 asking for an hour, a redirect elsewhere, an
endless listing), trickle its answer one byte every 2 s, drop the connection, or forward
the request to a real sandbox behind it (whose store then says what really exists).
Every scenario is bounded in time; nothing here is mocked.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from click.testing import CliRunner

from importer.cli import ExitStatus, main
from importer.client import (
    BadResponse,
    LeadsClient,
    Redirected,
    ResponseLost,
)
from importer.ledger import Ledger
from importer.model import Outcome
from importer.sandbox import RunningSandbox
from importer.upload import UploadOptions, upload_leads
from tests.conftest import TEST_TOKEN, import_id_counts, serve_sandbox
from tests.test_exactly_once import write_orders
from tests.test_upload import make_leads

TOKEN = TEST_TOKEN
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(90)


# --- the hostile server -------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the hostile server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Action:
    def perform(self, handler: _Handler, seen: Seen) -> None:
        raise NotImplementedError


@dataclass
class Reply(Action):
    """An answer of the server's own."""

    status: int
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def perform(self, handler: _Handler, seen: Seen) -> None:
        data = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


@dataclass
class Forward(Action):
    """The sandbox's answer, optionally edited: ``edit(seen, status, body) -> (status, body)``."""

    edit: Callable[[Seen, int, Any], tuple[int, Any]] | None = None
    then_drop: bool = False  # forward (the sandbox commits), then lose the answer

    def perform(self, handler: _Handler, seen: Seen) -> None:
        upstream = handler.server.upstream
        assert upstream is not None, "this scenario has no sandbox behind it"
        answer = requests.request(
            seen.method,
            upstream + handler.path,
            headers={
                k: v for k, v in seen.headers.items() if k in ("authorization", "content-type")
            },
            data=seen.body,
            timeout=15,
            allow_redirects=False,
        )
        if self.then_drop:
            Drop().perform(handler, seen)
            return
        status, body = answer.status_code, answer.json() if answer.content else None
        if self.edit is not None:
            status, body = self.edit(seen, status, body)
        headers = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
        Reply(status, body, headers).perform(handler, seen)


@dataclass
class Trickle(Action):
    """An answer sent one byte every ``every`` seconds, until the server closes."""

    data: bytes = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100_000
    every: float = 2.0

    def perform(self, handler: _Handler, seen: Seen) -> None:
        for byte in self.data:
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                break  # the client gave up
            if handler.server.closing.wait(self.every):
                break
        handler.close_connection = True


class Drop(Action):
    """The connection closed with no answer."""

    def perform(self, handler: _Handler, seen: Seen) -> None:
        import socket

        handler.close_connection = True
        with suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)


Rule = Callable[[Seen, int], Action | None]  # (request, how many of its route came before)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    rule: Rule
    upstream: str | None
    seen: list[Seen]
    counts: dict[str, int]
    lock: threading.Lock
    closing: threading.Event


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        seen = Seen(
            self.command,
            split.path,
            dict(parse_qsl(split.query)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        with self.server.lock:
            n = self.server.counts.get(seen.route, 0)
            self.server.counts[seen.route] = n + 1
            self.server.seen.append(seen)
        (self.server.rule(seen, n) or Forward()).perform(self, seen)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Hostile:
    url: str
    server: _Server

    @property
    def seen(self) -> list[Seen]:
        with self.server.lock:
            return list(self.server.seen)

    def count(self, route: str) -> int:
        with self.server.lock:
            return self.server.counts.get(route, 0)

    def wait_for(self, route: str, n: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count(route) < n:
            assert time.monotonic() < deadline, f"the server never saw {n} x {route}"
            time.sleep(0.02)


@contextmanager
def hostile(rule: Rule, upstream: RunningSandbox | None = None) -> Iterator[Hostile]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.rule = rule
    server.upstream = upstream.url if upstream else None
    server.seen, server.counts = [], {}
    server.lock, server.closing = threading.Lock(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield Hostile(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()


def listing(items: list[dict[str, Any]], page: int, pages: int, total: int) -> dict[str, Any]:
    meta = {"pagination": {"page": page, "limit": 100, "total": total, "pages": pages}}
    return {"data": items, "meta": meta}


EMPTY_LISTING = Reply(200, listing([], 1, 1, 0))


# --- running the tool ---------------------------------------------------------------------


def cli(url: str, *args: str, token: str = TOKEN) -> tuple[int, dict[str, Any], str]:
    """`wedocod ARGS --json` in-process: (exit code, the JSON on stdout, stderr)."""
    result = CliRunner().invoke(
        main,
        [*args, "--json"],
        env={"WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": token},
        catch_exceptions=False,
    )
    out = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, out, result.stderr


def spawn(url: str, *args: str, home: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "WEDOCOD_BASE_URL": url, "WEDOCOD_TOKEN": TOKEN}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def import_args(source: Path, tmp: Path, *extra: str) -> list[str]:
    return [
        "import",
        str(source),
        "--ledger",
        str(tmp / "ledger.db"),
        "--report",
        str(tmp / "report.csv"),
        *extra,
    ]


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def ledger_runs(path: Path) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT status, finished_at FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()


def fast_client(url: str, **options: Any) -> LeadsClient:
    return LeadsClient(url, TOKEN, read_backoff=0.02, **options)


FAST = UploadOptions(batch_size=10, workers=2, wait=2.0, backoff=0.01, max_backoff=0.05)


def upload(client: LeadsClient, tmp: Path, leads: list[Any], **options: Any) -> list[Any]:
    with Ledger.open(tmp / "ledger.sqlite3", client.account_id) as ledger:
        settings = {**FAST.__dict__, **options}
        return upload_leads(client, leads, ledger, None, UploadOptions(**settings))


# --- duplicates ---------------------------------------------------------------------------


def test_a_fresh_ledger_finds_what_the_account_already_holds(tmp_path: Path) -> None:
    """Another machine, a reinstall, another --ledger: the server is the source of truth.

    The sandbox lists leads by reference (unrelated to time): nothing may rely on the order.
    """
    source = write_orders(tmp_path / "orders.csv", range(0, 250))
    with serve_sandbox(list_order="reference") as running:
        first = tmp_path / "first"
        first.mkdir()
        code, out, err = cli(running.url, *import_args(source, first))
        assert code == 0 and out["created"] == 250, err
        stats = running.sandbox.stats
        posts, gets = stats["POST /leads"], stats.get("GET /leads", 0)

        fresh = tmp_path / "fresh"
        fresh.mkdir()
        code, out, err = cli(running.url, *import_args(source, fresh))
        assert code == 0, err
        assert out["skipped"] == 250 and out["created"] == 0
        assert stats["POST /leads"] == posts  # nothing sent
        assert stats["GET /leads"] - gets == 3  # 250 leads, 100 a page: the whole account once
        refs = {lead["reference"] for lead in running.sandbox.store.leads(TOKEN)}
        assert {row["Lead ref"] for row in report_rows(fresh / "report.csv")} == refs
        counts = import_id_counts(running)
        assert len(counts) == 250 and set(counts.values()) == {1}


def test_a_later_run_lists_only_what_is_new(tmp_path: Path) -> None:
    """What the key check costs: the whole account once, then what was created since."""
    with serve_sandbox() as running, fast_client(running.url) as client:
        upload(client, tmp_path / "a", make_leads(250))  # another machine imported them
        running.sandbox.store.backdate(TOKEN, 86_400)  # ...and that was yesterday
        stats = running.sandbox.stats
        fresh = tmp_path / "b"
        gets = stats.get("GET /leads", 0)
        outcomes = upload(client, fresh, make_leads(250))
        assert {o.outcome for o in outcomes} == {Outcome.SKIPPED}
        assert stats["GET /leads"] - gets == 3  # fresh machine: ceil(250 / 100)

        gets, posts = stats["GET /leads"], stats["POST /leads"]
        outcomes = upload(client, fresh, make_leads(280))  # 30 new orders in today's file
        assert [o.outcome for o in outcomes].count(Outcome.CREATED) == 30
        assert stats["GET /leads"] - gets == 1  # nothing new on the account since: one page
        assert stats["POST /leads"] - posts == 3
        counts = import_id_counts(running)
        assert len(counts) == 280 and set(counts.values()) == {1}


def test_a_keyless_sheet_given_a_status_column_is_not_imported_again(tmp_path: Path) -> None:
    header = "Nom complet,Téléphone,Ville,Adresse,SKU,Quantité,Total\n"
    lines = [
        f"Client Numero {n},06{n:08d},Rabat,{n} Avenue Mohammed V,SKU-001,1,{100 + n}\n"
        for n in range(12)
    ]
    source = tmp_path / "sheet.csv"
    source.write_text(header + "".join(lines), encoding="utf-8")
    with serve_sandbox() as running:
        code, out, err = cli(running.url, *import_args(source, tmp_path))
        assert code == 0 and out["created"] == 12, err
        # the call centre adds a Statut column and respells a city; the seller imports again
        edited = header.replace("\n", ",Statut\n") + "".join(
            line.replace("Rabat", "RABAT" if n == 3 else "Rabat").replace("\n", ",confirmé\n")
            for n, line in enumerate(lines)
        )
        source.write_text(edited, encoding="utf-8")
        posts = running.sandbox.stats["POST /leads"]
        code, out, err = cli(running.url, *import_args(source, tmp_path))
        assert code == 0, err
        assert out["skipped"] == 12 and out["created"] == 0
        assert running.sandbox.stats["POST /leads"] == posts
        assert running.sandbox.store.count(TOKEN) == 12


def test_a_201_that_does_not_add_up_is_in_doubt_not_failed(tmp_path: Path) -> None:
    """201 with 5 refs for 10 leads, and the other 5 not in the listing yet: not `failed`,
    so the next run looks them up (they are there by then) instead of sending them again."""
    hidden: set[str] = set()
    hiding = threading.Event()
    hiding.set()

    def rule(seen: Seen, n: int) -> Action | None:
        if seen.route == "POST /leads":

            def half(seen: Seen, status: int, body: Any) -> tuple[int, Any]:
                refs = body["data"]["created_refs"]
                keys = [entry["data"][0]["value"] for entry in seen.json()["data"]]
                hidden.update(keys[len(refs) // 2 :])
                body["data"]["created_refs"] = refs[: len(refs) // 2]
                return status, body

            return Forward(edit=half)
        if seen.route == "GET /leads" and hiding.is_set():

            def lagging(seen: Seen, status: int, body: Any) -> tuple[int, Any]:
                body["data"] = [
                    item
                    for item in body["data"]
                    if not any(e["value"] in hidden for e in item["data"])
                ]
                return status, body

            return Forward(edit=lagging)
        return None

    source = write_orders(tmp_path / "orders.csv", range(0, 10))
    with serve_sandbox() as running, hostile(rule, running) as server:
        code, out, err = cli(server.url, *import_args(source, tmp_path))
        assert code == 1, err
        assert out["created"] == 5 and out["uncertain"] == 5 and out["failed"] == 0
        assert running.sandbox.store.count(TOKEN) == 10  # all ten were created

        hiding.clear()  # the listing has caught up
        posts = server.count("POST /leads")
        code, out, err = cli(server.url, *import_args(source, tmp_path))
        assert code == 0, err
        assert out["created"] == 5 and out["skipped"] == 5
        assert server.count("POST /leads") == posts  # nothing sent again
        assert set(import_id_counts(running).values()) == {1}


# --- never stuck, always stoppable ------------------------------------------------------------


def test_lookups_ride_out_5xx_lost_answers_and_429s(tmp_path: Path) -> None:
    """The POST's answer is lost; the lookups then meet 503s, drops and 429s (none of which
    is a failure) before the server is back: the leads are found, not left uncertain."""
    posted = threading.Event()
    trouble = [
        Reply(503, {"error": {"message": "Service Unavailable"}}),
        Drop(),
        Reply(429, {"error": {"message": "Too Many Attempts."}}, {"Retry-After": "nan"}),
        Reply(502, b"<html>Bad Gateway</html>"),
        Reply(429, {"error": {"message": "Too Many Attempts."}}, {"Retry-After": "0"}),
        Drop(),
        Reply(500, {"error": {"message": "Server Error."}}),
    ]

    def rule(seen: Seen, n: int) -> Action | None:
        if seen.route == "POST /leads":
            posted.set()
            return Forward(then_drop=True)
        if seen.route == "GET /leads" and posted.is_set() and trouble:
            return trouble.pop(0)
        return None

    with (
        serve_sandbox() as running,
        hostile(rule, running) as server,
        fast_client(server.url, read_attempts=6) as client,  # 5 failures: the 429s do not count
    ):
        outcomes = upload(client, tmp_path, make_leads(5), max_attempts=1)
        assert {o.outcome for o in outcomes} == {Outcome.CREATED}, outcomes
        assert not trouble and server.count("POST /leads") == 1
        assert set(import_id_counts(running).values()) == {1}


@pytest.mark.parametrize(
    "retry_after",
    [
        "3600",
        "1e400",
        "nan",
        format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True),
    ],
    ids=["an-hour", "1e400", "nan", "http-date"],
)
def test_every_wait_is_capped(tmp_path: Path, retry_after: str) -> None:
    """429 asking for an hour (or nonsense) on the POST and on the lookup: waits are capped."""

    def rule(seen: Seen, n: int) -> Action | None:
        if n < 2 and seen.route in ("POST /leads", "GET /lead-statuses"):
            error = {"error": {"message": "Too Many Attempts.", "retry_after": retry_after}}
            return Reply(429, error, {"Retry-After": retry_after})
        return None

    done: list[Any] = []
    with (
        serve_sandbox() as running,
        hostile(rule, running) as server,
        fast_client(server.url, max_wait=0.3) as client,
    ):
        worker = threading.Thread(
            target=lambda: done.append(
                (client.lead_statuses(), upload(client, tmp_path, make_leads(3), max_wait=0.3))
            ),
            daemon=True,
        )
        started = time.monotonic()
        worker.start()
        worker.join(20)
        took = time.monotonic() - started
        assert done, f"still waiting after {took:.0f} s"
        assert server.count("POST /leads") == 3  # two 429s, then the batch
        assert {o.outcome for o in done[0][1]} == {Outcome.CREATED}
        assert running.sandbox.store.count(TOKEN) == 3


def test_a_stop_ends_a_long_retry_after_at_once(tmp_path: Path) -> None:
    stop = threading.Event()

    def rule(seen: Seen, n: int) -> Action | None:
        if seen.route == "POST /leads":
            return Reply(429, {"error": {"message": "Too Many Attempts."}}, {"Retry-After": "3600"})
        return EMPTY_LISTING

    done: list[Any] = []
    with hostile(rule) as server, fast_client(server.url, max_wait=3600, stop=stop) as client:
        worker = threading.Thread(
            target=lambda: done.append(
                upload(client, tmp_path, make_leads(3), max_wait=3600, stop=stop)
            ),
            daemon=True,
        )
        worker.start()
        server.wait_for("POST /leads")
        stopped_at = time.monotonic()
        stop.set()
        worker.join(10)
        assert done, "the stop was not noticed"
        assert time.monotonic() - stopped_at < 3
    assert {o.outcome for o in done[0]} == {Outcome.FAILED}
    assert "Not sent" in done[0][0].message


def test_a_server_trickling_its_answer_is_given_up_at_the_deadline() -> None:
    def rule(seen: Seen, n: int) -> Action | None:
        return Trickle()

    with hostile(rule) as server:
        with fast_client(server.url, deadline=1.5) as client:
            started = time.monotonic()
            with pytest.raises(ResponseLost) as err:
                client.create_leads([make_leads(1)[0].payload()])
            assert err.value.in_doubt and "1.5 s" in str(err.value)
            assert time.monotonic() - started < 5
        with fast_client(server.url, deadline=1.0, read_deadline=3.0) as client:
            started = time.monotonic()
            with pytest.raises(ResponseLost):
                client.lead_statuses()
            assert 3.0 <= time.monotonic() - started < 7  # read again until the read deadline
            assert server.count("GET /lead-statuses") >= 2


def _endless(repeat: bool) -> Rule:
    def rule(seen: Seen, n: int) -> Action | None:
        page = 1 if repeat else int(seen.query.get("page", 1))
        items = [{"reference": f"R{page}-{i}", "phone": "0600000000"} for i in range(100)]
        # every page says there is one more
        return Reply(200, listing(items, page, page + 1, (page + 1) * 100))

    return rule


@pytest.mark.parametrize("repeat", [False, True], ids=["one-more-page", "same-page"])
def test_an_endless_listing_is_stopped(repeat: bool) -> None:
    pages: list[tuple[int, int | None, int | None]] = []
    with hostile(_endless(repeat)) as server, fast_client(server.url) as client:
        got: list[Any] = []
        with pytest.raises(BadResponse) as err:
            for lead in client.iter_leads(on_page=lambda *p: pages.append(p)):
                got.append(lead)
                assert len(got) < 10_000, "the listing did not stop"
    if repeat:
        assert "page 2 is page 1 again" in str(err.value) and len(pages) == 2
    else:
        assert "does not end" in str(err.value)
        assert len(pages) == 7  # the first page announced 2 pages: 5 more allowed, no more
        assert pages[:2] == [(1, 2, 200), (2, 3, 300)]


def test_a_listing_without_meta_ends_at_its_first_short_page() -> None:
    def rule(seen: Seen, n: int) -> Action | None:
        page = int(seen.query.get("page", 1))
        items = [{"reference": f"R{page}-{i}"} for i in range(100 if page < 3 else 7)]
        return Reply(200, {"data": items, "meta": {}})

    with hostile(rule) as server, fast_client(server.url) as client:
        assert len(list(client.iter_leads())) == 207
        assert server.count("GET /leads") == 3


def test_a_listing_that_shows_fewer_leads_than_it_announces_stops_the_import(
    tmp_path: Path,
) -> None:
    """The check for duplicates cannot be trusted: it is read again, then nothing is sent."""

    def rule(seen: Seen, n: int) -> Action | None:
        if seen.route == "GET /leads":
            return Reply(200, listing([{"reference": "R1", "data": []}], 1, 1, 150))
        return Reply(500, {"error": {"message": "must not be sent"}})

    source = write_orders(tmp_path / "orders.csv", range(0, 5))
    with hostile(rule) as server:
        code, out, err = cli(server.url, *import_args(source, tmp_path))
        assert server.count("GET /leads") == 2 and server.count("POST /leads") == 0
    assert code == ExitStatus.API, err
    assert out["failed"] == 5
    assert "announced 150 leads but listed 1" in err


def test_export_against_an_endlessly_paging_server_stops_with_exit_4(tmp_path: Path) -> None:
    with hostile(_endless(False)) as server:
        proc = spawn(server.url, "export", str(tmp_path / "leads.csv"))
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == ExitStatus.API, err
    assert "does not end" in err


@pytest.mark.parametrize("stuck", ["trickle", "retry-after-an-hour"])
def test_sigterm_ends_a_stuck_run_within_seconds(tmp_path: Path, stuck: str) -> None:
    """The POSTs hang on a server trickling its answer, or a 429 asks to come back in an
    hour: SIGTERM still ends the run in seconds, the report written, the ledger run closed."""
    hour = Reply(429, {"error": {"message": "Too Many Attempts."}}, {"Retry-After": "3600"})

    def rule(seen: Seen, n: int) -> Action | None:
        if seen.route != "POST /leads":
            return EMPTY_LISTING
        return Trickle() if stuck == "trickle" else hour

    source = write_orders(tmp_path / "orders.csv", range(0, 40))
    with hostile(rule) as server:
        proc = spawn(server.url, *import_args(source, tmp_path, "--workers", "2", "--json"))
        try:
            server.wait_for("POST /leads", 2 if stuck == "trickle" else 1)
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
            took = time.monotonic() - stopped_at
        finally:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert took < 10, f"SIGTERM took {took:.1f} s"
    summary = json.loads(out)
    if stuck == "trickle":
        # the two batches in flight may have been created: in doubt; the rest never sent
        assert summary["uncertain"] == 20 and summary["failed"] == 20
    else:
        assert summary["failed"] == 40
    assert len(report_rows(tmp_path / "report.csv")) == 40
    ((status, finished),) = ledger_runs(tmp_path / "ledger.db")
    assert finished is not None and status == "interrupted"


def test_a_token_refused_mid_run_writes_the_report_and_exits_4(tmp_path: Path) -> None:
    source = write_orders(tmp_path / "orders.csv", range(0, 200))
    with serve_sandbox(latency_ms=20) as running:
        proc = spawn(running.url, *import_args(source, tmp_path, "--workers", "2", "--json"))
        try:
            deadline = time.monotonic() + 30
            while running.sandbox.store.count(TOKEN) < 40:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.01)
            running.sandbox.tokens = frozenset()  # the token is revoked
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        created = {lead["reference"] for lead in running.sandbox.store.leads(TOKEN)}
    assert proc.returncode == ExitStatus.API, err
    assert "Stopped early: The API refused the token" in err
    summary = json.loads(out)
    assert summary["created"] == len(created) >= 40
    rows = report_rows(tmp_path / "report.csv")
    assert len(rows) == 200
    reported = {row["Lead ref"] for row in rows if row["Outcome"] == "created"}
    assert reported == created  # every created row has its ref
    assert {row["Outcome"] for row in rows} == {"created", "failed"}
    failed = [row["Errors"] for row in rows if row["Outcome"] == "failed"]
    assert all("Not sent: the API refused the token" in why for why in failed)
    ((status, finished),) = ledger_runs(tmp_path / "ledger.db")
    assert finished is not None and status.startswith("The API refused the token")


@pytest.mark.parametrize("report", ["report.txt", "missing/report.xlsx", "orders.csv"])
def test_a_report_that_cannot_be_written_is_refused_before_anything_is_sent(
    tmp_path: Path, report: str
) -> None:
    source = write_orders(tmp_path / "orders.csv", range(0, 3))
    with serve_sandbox() as running:
        code, out, err = cli(
            running.url,
            "import",
            str(source),
            "--ledger",
            str(tmp_path / "ledger.db"),
            "--report",
            str(tmp_path / report),
        )
        assert running.sandbox.stats == {}  # not one request
    assert code in (ExitStatus.USAGE, ExitStatus.BAD_INPUT), err
    assert report.split("/")[0] in out["error"]
    assert source.read_text(encoding="utf-8").startswith("order_id,")  # the input is intact


# --- the token and the customers' data ----------------------------------------------------


@pytest.mark.parametrize("via", ["HOME", "NETRC"])
def test_a_netrc_entry_for_the_api_host_does_not_replace_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv(via, str(netrc if via == "NETRC" else tmp_path))
    created = {"data": {"created_refs": ["R1"], "failed_count": 0}, "meta": {"mode": "sync"}}

    def rule(seen: Seen, n: int) -> Action | None:
        return Reply(201, created) if seen.method == "POST" else EMPTY_LISTING

    with hostile(rule) as server, fast_client(server.url) as client:
        client.list_leads()
        client.create_leads([make_leads(1)[0].payload()])
    sent = [s.headers.get("authorization") for s in server.seen]
    assert sent == [f"Bearer {TOKEN}"] * 2


def test_a_write_is_never_redirected_and_a_read_only_within_the_api() -> None:
    with hostile(lambda seen, n: EMPTY_LISTING) as elsewhere:

        def rule(seen: Seen, n: int) -> Action | None:
            if seen.path == "/moved":
                return Reply(200, {"data": [{"key": "new", "label": "New"}], "meta": {}})
            if seen.route == "GET /lead-statuses":
                return Reply(302, {}, {"Location": "/moved"})  # the same origin: followed
            return Reply(307, {}, {"Location": elsewhere.url + seen.path})

        with hostile(rule) as server, fast_client(server.url) as client:
            assert [s.key for s in client.lead_statuses()] == ["new"]
            with pytest.raises(Redirected) as err:
                client.list_leads()
            assert "another address" in str(err.value)
            with pytest.raises(Redirected) as err:
                client.create_leads([make_leads(1)[0].payload()])
            assert err.value.in_doubt and "never redirected" in str(err.value)
        assert elsewhere.seen == []  # no token and no customer data went to the other host


def test_an_import_answered_with_a_redirect_stops_and_sends_nothing_elsewhere(
    tmp_path: Path,
) -> None:
    with hostile(lambda seen, n: EMPTY_LISTING) as elsewhere:

        def rule(seen: Seen, n: int) -> Action | None:
            if seen.route == "POST /leads":
                return Reply(307, {}, {"Location": elsewhere.url + "/leads"})
            return EMPTY_LISTING

        source = write_orders(tmp_path / "orders.csv", range(0, 5))
        with hostile(rule) as server:
            code, out, err = cli(server.url, *import_args(source, tmp_path))
        assert elsewhere.seen == []
    assert code == ExitStatus.API, err
    assert out["uncertain"] == 5  # in doubt: looked up before they are ever sent again
    assert all("WEDOCOD_BASE_URL" in row["Errors"] for row in report_rows(tmp_path / "report.csv"))
    assert "Stopped early" in err and "a write is never redirected" in err
    assert server.count("POST /leads") == 1  # the run stopped there


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("api.wedocod.com", "must start with https://"),
        ("localhost:8787", "must start with https://"),
        ("https://someone:hunter2@api.wedocod.com", "user name or password"),
        ("http://api.wedocod.com", "plain http://"),
        ("https://api.wedocod.com/?x=1", "query"),
    ],
)
def test_the_base_url_is_checked_before_anything_is_sent(
    tmp_path: Path, url: str, shown: str
) -> None:
    source = write_orders(tmp_path / "orders.csv", range(0, 3))
    code, out, err = cli(url, *import_args(source, tmp_path))
    assert code == ExitStatus.BAD_INPUT, err
    assert shown in out["error"]
    assert "hunter2" not in err + json.dumps(out)
    assert not (tmp_path / "ledger.db").exists() and not (tmp_path / "report.csv").exists()


def test_what_the_server_echoes_of_the_token_is_never_kept_or_shown(tmp_path: Path) -> None:
    secret = "s3cr3t-token-echoed-back"

    def rule(seen: Seen, n: int) -> Action | None:
        sent = seen.headers.get("authorization", "")
        if seen.route == "POST /leads" and n == 0:
            return Reply(500, {"error": {"message": f"Server Error for {sent}"}})
        if seen.route == "POST /leads":
            fields = {"data.0.phone": [f"Bad phone (request from {sent})"]}
            return Reply(422, {"error": {"message": f"Invalid: {sent}", "fields": fields}})
        return EMPTY_LISTING

    source = write_orders(tmp_path / "orders.csv", range(0, 1))
    with hostile(rule) as server:
        result = CliRunner().invoke(
            main,
            [*import_args(source, tmp_path), "--json"],
            env={"WEDOCOD_BASE_URL": server.url, "WEDOCOD_TOKEN": secret},
        )
    assert server.count("POST /leads") == 2
    assert json.loads(result.stdout)["rejected"] == 1
    assert secret not in result.output
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path
    report = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    assert "Bad phone (request from Bearer [token])" in report
