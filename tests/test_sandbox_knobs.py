"""The sandbox knobs and rules over a real socket: faults, limits, accounts, paging, restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from importer.sandbox import RunningSandbox, SandboxConfig, serve_in_thread

TIMEOUT = 10
Make = Callable[..., AbstractContextManager[RunningSandbox]]


def api(
    running: RunningSandbox, method: str, path: str, token: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or running.token}"}
    return requests.request(
        method, f"{running.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs
    )


def lead(n: int, **changes: Any) -> dict[str, Any]:
    item = {
        "full_name": f"Client Number {n}",
        "phone": f"06{n:08d}",
        "city": "Rabat",
        "address": "7 Avenue Hassan II",
        "products": [{"sku": "SKU-002", "quantity": 1, "total": 120}],
        "data": [{"key": "import_id", "value": f"order-{n}"}],
    }
    item.update(changes)
    return item


def create(running: RunningSandbox, leads: list[dict[str, Any]], token: str | None = None) -> Any:
    answer = api(running, "POST", "/leads", token, json={"data": leads})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP endpoint collecting the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(size)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- rate limit ----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_a_usable_retry_after(make_sandbox: Make) -> None:
    with make_sandbox(tokens=("a", "b"), rate_limit=2, rate_window=1.5) as running:
        assert api(running, "GET", "/lead-statuses", "a").status_code == 200
        assert api(running, "GET", "/leads", "a").status_code == 200
        limited = api(running, "POST", "/leads", "a", json={"data": [lead(1)]})
        assert limited.status_code == 429
        wait = int(limited.headers["Retry-After"])
        assert limited.json() == {
            "error": {"code": "HTTP_ERROR", "message": "Too Many Attempts.", "retry_after": wait}
        }
        assert 1 <= wait <= 2
        assert running.sandbox.store.count("a") == 0  # a 429 stores nothing
        assert api(running, "GET", "/leads", "b").status_code == 200  # per token
        time.sleep(wait)
        assert api(running, "POST", "/leads", "a", json={"data": [lead(1)]}).status_code == 201


# -- faults --------------------------------------------------------------------------------------


def test_error_rate_answers_500_before_storing(make_sandbox: Make) -> None:
    with make_sandbox(error_rate=1.0) as running:
        answer = api(running, "POST", "/leads", json={"data": [lead(1)]})
        assert answer.status_code == 500
        assert answer.json() == {"error": {"code": "HTTP_ERROR", "message": "Server Error."}}
        assert running.sandbox.store.leads(running.token) == []
        assert api(running, "GET", "/leads").status_code == 200  # only POST /leads fails


def test_drop_rate_stores_then_resets_the_connection(make_sandbox: Make) -> None:
    with make_sandbox(drop_rate=1.0) as running:
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            api(running, "POST", "/leads", json={"data": [lead(1), lead(2)]})
        stored = running.sandbox.store.leads(running.token)
        assert [s["phone"] for s in stored] == [lead(1)["phone"], lead(2)["phone"]]
        # the server goes on serving after a drop
        assert api(running, "GET", "/leads").json()["meta"]["pagination"]["total"] == 2


def test_drop_rate_on_an_async_batch_still_queues_it(make_sandbox: Make) -> None:
    with make_sandbox(drop_rate=1.0, async_delay=0.01) as running:
        with pytest.raises(requests.ConnectionError):
            api(running, "POST", "/leads", json={"data": [lead(n) for n in range(12)]})
        assert running.sandbox.wait_idle()
        assert running.sandbox.store.count(running.token) == 12


def test_fault_draws_repeat_with_a_seed(make_sandbox: Make) -> None:
    def statuses() -> list[int]:
        with make_sandbox(error_rate=0.5, seed=7) as running:
            return [
                api(running, "POST", "/leads", json={"data": [lead(n)]}).status_code
                for n in range(12)
            ]

    first = statuses()
    assert first == statuses()
    assert {201, 500} == set(first)


def test_fail_phones_fail_in_sync_batches(make_sandbox: Make) -> None:
    bad = lead(2)["phone"]
    with make_sandbox(fail_phones=frozenset({bad})) as running:
        data = create(running, [lead(1), lead(2), lead(3)])
        assert data["failed_count"] == 1 and len(data["created_refs"]) == 2
        stored = running.sandbox.store.leads(running.token)
        assert [s["reference"] for s in stored] == data["created_refs"]
        assert bad not in {s["phone"] for s in stored}


def test_async_batches_are_created_later_and_reported_by_webhook(make_sandbox: Make) -> None:
    bad = lead(4)["phone"]
    with (
        webhook_receiver() as (url, received),
        make_sandbox(webhook_url=url, async_delay=0.3, fail_phones=frozenset({bad})) as running,
    ):
        answer = api(running, "POST", "/leads", json={"data": [lead(n) for n in range(25)]})
        assert answer.status_code == 202
        batch_id = answer.json()["data"]["batch_id"]
        assert running.sandbox.store.count(running.token) == 0  # not yet
        wait_for(lambda: bool(received))
        assert running.sandbox.store.count(running.token) == 24
        (event,) = received
        assert event["event"] == "batch.completed" and event["batch_id"] == batch_id
        assert event["total"] == 25 and event["failed_count"] == 1
        assert event["failed"][0]["index"] == 4 and event["failed"][0]["phone"] == bad
        listed = api(running, "GET", "/leads").json()["data"]
        assert {item["reference"] for item in listed} == set(event["created_refs"])


def test_an_unreachable_webhook_does_not_stop_processing(make_sandbox: Make) -> None:
    with make_sandbox(webhook_url="http://127.0.0.1:9/hook", async_delay=0.0) as running:
        api(running, "POST", "/leads", json={"data": [lead(n) for n in range(11)]})
        assert running.sandbox.wait_idle()
        assert running.sandbox.store.count(running.token) == 11


def test_sync_threshold_is_configurable(make_sandbox: Make) -> None:
    with make_sandbox(sync_threshold=2) as running:
        assert api(running, "POST", "/leads", json={"data": [lead(1), lead(2)]}).status_code == 201
        many = [lead(3), lead(4), lead(5)]
        assert api(running, "POST", "/leads", json={"data": many}).status_code == 202


def test_latency_delays_every_answer(make_sandbox: Make) -> None:
    with make_sandbox(latency_ms=150) as running:
        started = time.perf_counter()
        assert api(running, "GET", "/lead-statuses").status_code == 200
        assert time.perf_counter() - started >= 0.15


def test_stats_count_requests_per_route(sandbox: RunningSandbox) -> None:
    create(sandbox, [lead(1)])
    api(sandbox, "GET", "/leads")
    api(sandbox, "GET", "/leads")
    api(sandbox, "GET", "/nowhere")
    assert sandbox.sandbox.stats == {"POST /leads": 1, "GET /leads": 2, "GET other": 1}


# -- accounts ------------------------------------------------------------------------------------


def test_each_token_is_its_own_account(make_sandbox: Make) -> None:
    with make_sandbox(tokens=("alice", "bob")) as running:
        (ref,) = create(running, [lead(1)], "alice")["created_refs"]
        alice_id = running.sandbox.store.leads("alice")[0]["id"]
        assert api(running, "GET", "/leads", "bob").json()["data"] == []
        assert api(running, "GET", f"/leads/{ref}/show", "bob").status_code == 404
        update = {"leads": [{"reference": ref, "status": "confirmed"}]}
        answer = api(running, "PUT", "/leads", "bob", json=update)
        assert answer.status_code == 422
        assert answer.json()["error"]["fields"] == {
            "leads.0.reference": ["The selected leads.0.reference is invalid."]
        }
        assert api(running, "DELETE", "/leads", "bob", json={"ids": [alice_id]}).status_code == 422
        assert running.sandbox.store.count("alice") == 1
        assert api(running, "GET", f"/leads/{ref}/show", "alice").status_code == 200


def test_each_account_has_its_own_catalog(make_sandbox: Make) -> None:
    with make_sandbox(tokens=("alice", "bob")) as running:
        running.sandbox.set_catalog("bob", frozenset({"BOB-1"}))
        assert api(running, "POST", "/leads", "alice", json={"data": [lead(1)]}).status_code == 201
        answer = api(running, "POST", "/leads", "bob", json={"data": [lead(1)]})
        assert answer.status_code == 422
        assert "data.0.products.0.sku" in answer.json()["error"]["fields"]


# -- paging and search ---------------------------------------------------------------------------


def test_paging(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [lead(n) for n in range(10)])["created_refs"]
    refs += create(sandbox, [lead(n) for n in range(10, 12)])["created_refs"]
    newest_first = refs[::-1]
    seen = []
    for page in (1, 2, 3):
        body = api(sandbox, "GET", "/leads", params={"page": page, "per_page": 5}).json()
        assert body["meta"]["pagination"] == {"page": page, "limit": 5, "total": 12, "pages": 3}
        seen += [item["reference"] for item in body["data"]]
    assert seen == newest_first
    beyond = api(sandbox, "GET", "/leads", params={"page": 9, "per_page": 5}).json()
    assert beyond["data"] == []
    capped = api(sandbox, "GET", "/leads", params={"per_page": 500}).json()
    assert capped["meta"]["pagination"]["limit"] == 100
    answer = api(sandbox, "GET", "/leads", params={"page": "x"})
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == {"page": ["The page must be an integer."]}


def test_search_by_and_match_types(sandbox: RunningSandbox) -> None:
    leads = [
        lead(1, phone="0611223344", full_name="Fatima Zahra", city="Fes"),
        lead(2, phone="0699887766", full_name="Youssef Amrani", city="Tanger"),
        lead(3, phone="0611000000", full_name="Zahra Bennani", city="Fes"),
    ]
    ref1, ref2, _ = create(sandbox, leads)["created_refs"]

    def found(**params: str) -> list[str]:
        answer = api(sandbox, "GET", "/leads", params=params)
        assert answer.status_code == 200, answer.text
        return sorted(item["phone"] for item in answer.json()["data"])

    assert found(keyword="0611223344", search_by="phone", match_type="exact") == ["0611223344"]
    assert found(keyword="0611", search_by="phone", match_type="exact") == []
    assert found(keyword="0611", search_by="phone", match_type="starts_with") == [
        "0611000000",
        "0611223344",
    ]
    assert found(keyword="7766", search_by="phone", match_type="ends_with") == ["0699887766"]
    assert found(keyword="zahra", search_by="full_name") == ["0611000000", "0611223344"]
    assert found(keyword="zahra", search_by="full_name", match_type="starts_with") == ["0611000000"]
    assert found(keyword="tanger", search_by="city", match_type="exact") == ["0699887766"]
    assert found(keyword=ref2) == ["0699887766"]  # reference is the default
    assert found(keyword=ref1[2:6]) == ["0611223344"]  # partial is the default
    assert found(keyword="%") == []  # LIKE wildcards are plain characters
    api(sandbox, "PUT", "/leads", json={"leads": [{"reference": ref2, "status": "confirmed"}]})
    assert found(keyword="confirmed", search_by="status", match_type="exact") == ["0699887766"]
    bad = api(sandbox, "GET", "/leads", params={"search_by": "email", "match_type": "fuzzy"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == {
        "search_by": ["The selected search by is invalid."],
        "match_type": ["The selected match type is invalid."],
    }


def test_date_filters_are_inclusive(sandbox: RunningSandbox) -> None:
    create(sandbox, [lead(1)])
    today = datetime.now(UTC).date()
    created = sandbox.sandbox.store.leads(sandbox.token)[0]["created_at"]

    def total(**params: str) -> int:
        answer = api(sandbox, "GET", "/leads", params=params)
        assert answer.status_code == 200, answer.text
        count: int = answer.json()["meta"]["pagination"]["total"]
        return count

    assert total(start_at=str(today), end_at=str(today)) == 1
    assert total(start_at=str(today + timedelta(days=1))) == 0
    assert total(end_at=str(today - timedelta(days=1))) == 0
    assert total(start_at=created, end_at=created) == 1
    answer = api(sandbox, "GET", "/leads", params={"start_at": "yesterday"})
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == {"start_at": ["The start at is not a valid date."]}


# -- update and delete rules ---------------------------------------------------------------------


def test_update_rules_and_history(sandbox: RunningSandbox) -> None:
    ref, other = create(sandbox, [lead(1), lead(2)])["created_refs"]

    def put(*items: dict[str, Any]) -> requests.Response:
        return api(sandbox, "PUT", "/leads", json={"leads": list(items)})

    assert put({"reference": ref, "status": "CONFIRMED"}).status_code == 200  # case-insensitive
    answer = put({"reference": other, "status": "call_later", "action_date": "2025-02-01"})
    assert answer.status_code == 422
    assert list(answer.json()["error"]["fields"]) == ["leads.0.action_date"]
    moment = "2025-02-01T14:00:00+01:00"
    assert put({"reference": other, "status": "cancelled", "action_date": moment}).ok
    item = {s["reference"]: s for s in sandbox.sandbox.store.leads(sandbox.token)}[other]
    assert item["status"] == "cancelled"
    (history,) = item["leadHistories"]
    assert history["status"] == "cancelled" and history["action_date"] == moment
    answer = put({"reference": "NOSUCHRF", "status": "new"})
    assert answer.json()["error"]["fields"] == {
        "leads.0.reference": ["The selected leads.0.reference is invalid."]
    }
    too_many = put(*[{"reference": ref, "status": "new"}] * 101)
    assert too_many.json()["error"]["fields"] == {
        "leads": ["The leads must not have more than 100 items."]
    }
    shown = api(sandbox, "GET", f"/leads/{ref}/show").json()["data"]
    assert shown["status"] == "Confirmed"


def test_delete_rules(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [lead(n) for n in range(3)])["created_refs"]
    ids = {s["reference"]: s["id"] for s in sandbox.sandbox.store.leads(sandbox.token)}
    api(sandbox, "PUT", "/leads", json={"leads": [{"reference": refs[0], "status": "preparing"}]})
    refused = api(sandbox, "DELETE", "/leads", json={"ids": [ids[refs[0]], ids[refs[1]]]})
    assert refused.status_code == 403
    assert sandbox.sandbox.store.count(sandbox.token) == 3  # all or nothing
    unknown = api(sandbox, "DELETE", "/leads", json={"ids": [ids[refs[1]], "01NOSUCHLEAD"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"] == {"ids.1": ["The selected ids.1 is invalid."]}
    assert api(sandbox, "DELETE", "/leads", json={"ids": []}).json()["error"]["fields"] == {
        "ids": ["The ids field is required."]
    }
    done = api(sandbox, "DELETE", "/leads", json={"ids": [ids[refs[1]], ids[refs[2]]]})
    assert done.json() == {"data": {"deleted": True, "count": 2}, "meta": {}}
    assert [s["reference"] for s in sandbox.sandbox.store.leads(sandbox.token)] == [refs[0]]


# -- persistence and running ---------------------------------------------------------------------


def test_a_db_file_keeps_leads_and_queued_batches_across_restarts(tmp_path: Path) -> None:
    config = SandboxConfig(tokens=("t",), db_path=tmp_path / "sandbox.db", log_requests=False)
    with serve_in_thread(config) as running:
        (ref,) = create(running, [lead(1)])["created_refs"]
        api(running, "PUT", "/leads", json={"leads": [{"reference": ref, "status": "confirmed"}]})
    slow = SandboxConfig(**{**config.__dict__, "async_delay": 30.0})
    with serve_in_thread(slow) as running:
        assert api(running, "GET", f"/leads/{ref}/show").json()["data"]["status"] == "Confirmed"
        answer = api(running, "POST", "/leads", json={"data": [lead(n) for n in range(2, 14)]})
        assert answer.status_code == 202
    # the batch was accepted but not processed when that server stopped: the next one does it
    fast = SandboxConfig(**{**config.__dict__, "async_delay": 0.0})
    with serve_in_thread(fast) as running:
        running.sandbox.wait_idle()
        assert running.sandbox.store.count("t") == 13
        refs = [s["reference"] for s in running.sandbox.store.leads("t")]
        assert len(set(refs)) == 13 and refs[0] == ref


def test_module_entry_point_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "importer.sandbox", "--port", "0", "--token", "cli-token"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in first
        url = first.split("listening on ", 1)[1].strip()
        assert "cli-token" in proc.stderr.readline()
        answer = requests.get(
            f"{url}/lead-statuses", headers={"Authorization": "Bearer cli-token"}, timeout=10
        )
        assert answer.status_code == 200
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=15) == 0
        assert "GET /lead-statuses 200" in rest  # one log line per request...
        assert "cli-token" not in rest.split("Ctrl-C to stop", 1)[1]  # ...never the token
        assert "sandbox stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_client_leaving_mid_body_creates_nothing(sandbox: RunningSandbox) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        raw.sendall(
            b"POST /leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\n"
            b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"data": ['
        )
    wait_for(lambda: sandbox.sandbox.stats.get("POST /leads", 0) == 1)
    assert api(sandbox, "GET", "/leads").json()["data"] == []
