"""The Leads API client against the real sandbox (and a few raw sockets) over loopback."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from importer.client import (
    ApiError,
    AuthError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    Forbidden,
    Interrupted,
    LeadsClient,
    NotFound,
    RateLimited,
    ResponseLost,
    ServerError,
    ValidationFailed,
    check_base_url,
    check_token,
)
from importer.sandbox import RunningSandbox
from tests.conftest import serve_sandbox

TOKEN = "test-token"
# the tests of this module share one seed, so that fault knobs repeat
sandbox = partial(serve_sandbox, seed=1)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with sandbox() as running:
        yield running


@pytest.fixture
def client(server: RunningSandbox) -> Iterator[LeadsClient]:
    with LeadsClient(server.url, TOKEN, read_backoff=0.01) as c:
        yield c


def lead(n: int, phone: str | None = None) -> dict[str, Any]:
    return {
        "full_name": f"Client Number {n}",
        "phone": phone or f"06{n:08d}",
        "city": "Casablanca",
        "address": f"{n} Rue des Tests",
        "products": [{"sku": "SKU-001", "quantity": 1, "total": 100}],
        "data": [{"key": "import_id", "value": f"k-{n}"}],
    }


def test_create_sync_then_show_list_update_delete(client: LeadsClient) -> None:
    created = client.create_leads([lead(1), lead(2)])
    assert created.mode == "sync"
    assert created.failed_count == 0 and created.total == 2
    assert len(created.created_refs) == 2 and created.batch_id is None

    shown = client.show_lead(created.created_refs[0])
    assert shown["phone"] == "0600000001"

    page = client.list_leads(keyword="0600000002", search_by="phone", match_type="exact")
    assert [item["reference"] for item in page.items] == [created.created_refs[1]]
    assert page.pages == 1 and page.total == 1
    assert {"key": "import_id", "value": "k-2"} in page.items[0]["data"]

    updated = client.update_leads([{"reference": created.created_refs[0], "status": "wrong"}])
    assert updated.updated_fields == ["status"]
    assert updated.items[0]["reference"] == created.created_refs[0]

    lead_id = client.show_lead(created.created_refs[0])["id"]
    deleted = client.delete_leads([lead_id])
    assert deleted.deleted and deleted.count == 1
    with pytest.raises(NotFound) as err:
        client.show_lead(created.created_refs[0])
    assert err.value.status == 404 and not err.value.transient


def test_create_async_answers_a_batch_id(client: LeadsClient) -> None:
    created = client.create_leads([lead(100 + n) for n in range(11)])
    assert created.mode == "async"
    assert created.batch_id and created.batch_id.startswith("batch_")
    assert created.total == 11 and created.created_refs == ()


def test_iter_leads_walks_every_page(client: LeadsClient) -> None:
    refs = set(
        client.create_leads([lead(200 + n, phone="0699999999") for n in range(7)]).created_refs
    )
    seen = [
        item["reference"]
        for item in client.iter_leads(
            keyword="0699999999", search_by="phone", match_type="exact", per_page=3
        )
    ]
    assert len(seen) == 7 and set(seen) == refs


def test_lead_statuses(client: LeadsClient) -> None:
    statuses = client.lead_statuses()
    assert statuses[0].key == "new" and statuses[0].label == "New"
    assert "call_later" in {s.key for s in statuses}


def test_validation_failed_names_fields(client: LeadsClient) -> None:
    bad = lead(300)
    bad["products"][0]["sku"] = ""
    with pytest.raises(ValidationFailed) as err:
        client.create_leads([lead(301), bad])
    assert "data.1.products.0.sku" in err.value.fields
    assert err.value.status == 422 and err.value.code == "VALIDATION_ERROR"
    assert not err.value.in_doubt


def test_delete_forbidden_is_an_answer_not_auth(client: LeadsClient) -> None:
    ref = client.create_leads([lead(400)]).created_refs[0]
    client.update_leads([{"reference": ref, "status": "confirmed"}])
    lead_id = client.show_lead(ref)["id"]
    with pytest.raises(Forbidden) as err:
        client.delete_leads([lead_id])
    assert err.value.status == 403 and not isinstance(err.value, AuthError)


def test_bad_token_is_auth_error_and_never_shown(server: RunningSandbox) -> None:
    secret = "very-secret-token"
    with LeadsClient(server.url, secret) as wrong:
        assert secret not in repr(wrong)
        expected = hashlib.sha256(secret.encode()).hexdigest()[:12]
        assert wrong.account_id == f"{server.url}#{expected}"
        with pytest.raises(AuthError) as err:
            wrong.create_leads([lead(500)])
        assert err.value.status == 401 and not err.value.transient
        assert secret not in str(err.value)
        with pytest.raises(AuthError):
            wrong.lead_statuses()


def test_rate_limited_carries_retry_after() -> None:
    with (
        sandbox(rate_limit=1, rate_window=3.0) as running,
        LeadsClient(running.url, TOKEN, read_attempts=1) as c,
    ):
        c.lead_statuses()
        with pytest.raises(RateLimited) as err:
            c.create_leads([lead(600)])
        assert err.value.status == 429 and err.value.transient and not err.value.in_doubt
        assert err.value.retry_after is not None and 1 <= err.value.retry_after <= 3
        assert running.sandbox.store.leads(TOKEN) == []


def test_reads_retry_through_429() -> None:
    with (
        sandbox(rate_limit=1, rate_window=1.0) as running,
        LeadsClient(running.url, TOKEN, read_attempts=4) as c,
    ):
        c.lead_statuses()
        assert c.lead_statuses()  # waited the Retry-After, then succeeded
        assert running.sandbox.stats["GET /lead-statuses"] >= 3


def test_server_error_is_in_doubt() -> None:
    with sandbox(error_rate=1.0) as running, LeadsClient(running.url, TOKEN) as c:
        with pytest.raises(ServerError) as err:
            c.create_leads([lead(700)])
        assert err.value.status == 500 and err.value.transient and err.value.in_doubt
        assert running.sandbox.stats["POST /leads"] == 1  # a POST is never retried


def test_dropped_connection_is_response_lost_after_commit() -> None:
    with sandbox(drop_rate=1.0) as running, LeadsClient(running.url, TOKEN) as c:
        with pytest.raises(ResponseLost) as err:
            c.create_leads([lead(800)])
        assert err.value.in_doubt and err.value.transient
        assert len(running.sandbox.store.leads(TOKEN)) == 1  # committed, answer lost
        assert running.sandbox.stats["POST /leads"] == 1


def test_connection_refused_is_connect_failed() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with LeadsClient(f"http://127.0.0.1:{port}", TOKEN, read_attempts=1) as c:
        with pytest.raises(ConnectFailed) as err:
            c.create_leads([lead(900)])
        assert err.value.transient and not err.value.in_doubt


class _Canned(BaseHTTPRequestHandler):
    """Answers what the test path asks for: HTML with 200, a slow answer, a 502 page."""

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            threading.Event().wait(1.0)
        status = 502 if self.path.startswith("/lead-statuses") else 200
        body = b"<html><body>Gateway says hello</body></html>"
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the slow case: the client has given up already

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def canned() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_non_json_is_bad_response(canned: str) -> None:
    with LeadsClient(canned, TOKEN) as c:
        with pytest.raises(BadResponse) as err:
            c.create_leads([lead(1000)])
        assert err.value.in_doubt  # a 2xx we cannot read may hide a committed write


def test_html_gateway_error_is_server_error(canned: str) -> None:
    with LeadsClient(canned, TOKEN, read_attempts=2, read_backoff=0.01) as c:
        with pytest.raises(ServerError) as err:
            c.lead_statuses()
        assert err.value.status == 502 and "Gateway says hello" in err.value.message


def test_read_timeout_is_response_lost(canned: str) -> None:
    with LeadsClient(canned + "/slow", TOKEN, timeout=(2, 0.2)) as c, pytest.raises(ResponseLost):
        c.create_leads([lead(1100)])


def test_every_error_is_an_api_error() -> None:
    for kind in (AuthError, Forbidden, NotFound, ServerError, ConnectFailed, ResponseLost):
        assert issubclass(kind, ApiError)
    assert ValidationFailed("x", {"data.0.phone": ["bad"]}).fields == {"data.0.phone": ["bad"]}


# --- configuration, Retry-After, redaction ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.wedocod.com/", "https://api.wedocod.com"),
        ("https://api.wedocod.com:8443/v1", "https://api.wedocod.com:8443/v1"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("http://localhost:8787/", "http://localhost:8787"),
        ("http://[::1]:8787", "http://[::1]:8787"),
    ],
)
def test_base_urls_that_are_fine(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "api.wedocod.com",
        "ftp://api.wedocod.com",
        "https://",
        "https://api.wedocod.com:port",
        "https://api.wedocod.com/?token=x",
        "https://api.wedocod.com/#x",
        "https://api.wedo cod.com",
        "http://192.168.1.10:8787",
        "https://user:pa55word@api.wedocod.com",
        "user:pa55word@api.wedocod.com",
    ],
)
def test_base_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_base_url(url)
    assert "pa55word" not in str(err.value)


def test_tokens_that_cannot_go_in_a_header_are_refused_unrepeated() -> None:
    assert check_token("1|abcDEF-_.~") == "1|abcDEF-_.~"
    for bad in ("", "two words", "line\nbreak", "tökén"):
        with pytest.raises(ConfigError) as err:
            check_token(bad)
        assert not bad or bad not in str(err.value)
    with pytest.raises(ConfigError):
        LeadsClient("https://api.wedocod.com", "two words")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), (" 0 ", 0.0), (2.5, 2.5), ("1e400", None), ("nan", None), ("inf", None),
     ("-5", None), ("soon", None), ("", None), (None, None), (True, None)],
)  # fmt: skip
def test_retry_after_values(value: object, seconds: float | None) -> None:
    from importer.client import _seconds

    assert _seconds(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    from email.utils import format_datetime

    from importer.client import _seconds

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (_seconds(soon) or 0) <= 31
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert _seconds(past) == 0.0


def test_a_stop_ends_a_pause_at_once() -> None:
    stop = threading.Event()
    stop.set()
    with LeadsClient("http://127.0.0.1:9", TOKEN, stop=stop) as c, pytest.raises(Interrupted):
        c.pause(3600)


def test_the_token_is_redacted_from_what_the_server_says(server: RunningSandbox) -> None:
    with LeadsClient(server.url, TOKEN) as c:
        assert c.redact(f"Bearer {TOKEN} and test%2Dtoken") == "Bearer [token] and test%2Dtoken"
        assert TOKEN not in repr(c) and TOKEN not in repr(c._session.auth)
