"""The bulk writes' shared parts against the sandbox: the retry loop, 422 keys, CLI conventions."""

from __future__ import annotations

import json
import threading
from functools import partial
from typing import Any

import pytest
from click.testing import CliRunner, Result

from importer.bulk import GaveUp, Interrupted, RetryPolicy, Sender, chunks, errors_by_item
from importer.cli import ExitStatus, main
from importer.client import AuthError, LeadsClient
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN, serve_sandbox

#: Fast retries for tests that exhaust them (the CLI's are 0.5 s doubling).
QUICK = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


def seed_leads(running: RunningSandbox, count: int) -> list[dict[str, Any]]:
    """`count` leads in the sandbox's own store (status new), oldest first, with their ids."""
    leads = [
        {
            "full_name": f"Client Number {n}",
            "phone": f"06{n:08d}",
            "city": "Casablanca",
            "address": "12 Rue Atlas, Maarif",
            "products": [
                {"sku": "SKU-001", "quantity": 2, "total": 299},
                {"sku": "SKU-002", "quantity": 1, "total": 150},
            ],
            "data": [{"key": "import_id", "value": f"order:{n}"}],
        }
        for n in range(count)
    ]
    for batch in chunks(leads):
        running.sandbox.store.create_leads(TEST_TOKEN, batch, frozenset())
    return running.sandbox.store.leads(TEST_TOKEN)


def set_status(running: RunningSandbox, refs: list[str], status: str) -> None:
    """Give leads a status through the store (e.g. one that may not be deleted)."""
    date = "2025-02-01T14:00:00+01:00"
    items = [{"reference": ref, "status": status, "action_date": date} for ref in refs]
    running.sandbox.store.update(TEST_TOKEN, items)


def cli(running: RunningSandbox, *args: str, token: str = TEST_TOKEN, **kw: Any) -> Result:
    env = {"WEDOCOD_BASE_URL": running.url, "WEDOCOD_TOKEN": token}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, **kw)


def test_422_keys_are_placed_on_items_or_on_the_whole_request() -> None:
    fields = {"leads.0.status": ["bad"], "leads.2.action_date": ["needed", "again"]}
    assert errors_by_item(fields, "leads", 3) == {
        0: [("status", "bad")],
        2: [("action_date", "needed"), ("action_date", "again")],
    }
    assert errors_by_item({"ids.1": ["The selected ids.1 is invalid."]}, "ids", 2) == {
        1: [("", "The selected ids.1 is invalid.")]
    }
    assert errors_by_item({"leads": ["too many"]}, "leads", 3) is None
    assert errors_by_item({"leads.3.status": ["bad"]}, "leads", 3) is None  # past the end
    assert errors_by_item({}, "leads", 3) is None


def test_sender_waits_out_429s_without_counting_them_as_failures() -> None:
    # two requests a second; the sender's two-attempt budget would be spent by the 429s if
    # they counted as failures
    with serve_sandbox(rate_limit=2, rate_window=1.0) as running:
        refs = [lead["reference"] for lead in seed_leads(running, 3)]
        sender = Sender(RetryPolicy(attempts=2, backoff=0.01))
        with LeadsClient(running.url, TEST_TOKEN) as client:
            for ref in refs:
                sender.send(partial(client.update_leads, [{"reference": ref, "status": "wrong"}]))
        assert sender.rate_limited >= 1 and sender.requests == 3 + sender.rate_limited
        assert {lead["status"] for lead in running.sandbox.store.leads(TEST_TOKEN)} == {"wrong"}


def test_sender_retries_5xx_and_lost_answers_then_gives_up() -> None:
    put_faults = {"fault_methods": frozenset({"PUT"}), "seed": 3}
    with serve_sandbox(error_rate=0.3, drop_rate=0.3, **put_faults) as running:
        (lead,) = seed_leads(running, 1)
        item = [{"reference": lead["reference"], "status": "testing"}]
        sender = Sender(RetryPolicy(attempts=20, backoff=0.01, max_backoff=0.02))
        with LeadsClient(running.url, TEST_TOKEN) as client:
            for _ in range(10):
                sender.send(partial(client.update_leads, item))
        assert sender.requests > 10  # some were failed or lost, and sent again
        assert running.sandbox.store.leads(TEST_TOKEN)[0]["status"] == "testing"

    with serve_sandbox(error_rate=1.0, **put_faults) as running:
        (lead,) = seed_leads(running, 1)
        sender = Sender(QUICK)
        wrong = [{"reference": lead["reference"], "status": "wrong"}]
        with LeadsClient(running.url, TEST_TOKEN) as client, pytest.raises(GaveUp) as gave_up:
            sender.send(partial(client.update_leads, wrong))
        assert "Gave up after 3 attempts" in str(gave_up.value) and gave_up.value.doubtful
        assert running.sandbox.stats["PUT /leads"] == 3


def test_sender_stops_waiting_when_asked_and_never_retries_a_refused_token() -> None:
    with serve_sandbox(rate_limit=1, rate_window=30.0) as running:
        stop = threading.Event()
        sender = Sender(RetryPolicy(), stop)
        with LeadsClient(running.url, TEST_TOKEN) as client:
            client.lead_statuses()  # the window's one request
            stop.set()  # a Ctrl-C: the 30 s wait the server asks for ends at once
            with pytest.raises(Interrupted):
                sender.send(partial(client.update_leads, [{"reference": "X", "status": "new"}]))
        with LeadsClient(running.url, "wrong-token") as client, pytest.raises(AuthError):
            Sender(QUICK).send(partial(client.update_leads, [{"reference": "X", "status": "new"}]))


def test_api_commands_share_the_imports_conventions(tmp_path: Any) -> None:
    with serve_sandbox() as running:
        (lead,) = seed_leads(running, 1)
        shown = cli(running, "show", lead["reference"])
        assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == lead["id"]
        # 404: no such lead is an answer, not an unusable API
        missing = cli(running, "show", "NOPE0000")
        assert missing.exit_code == ExitStatus.INCOMPLETE
        assert "NOPE0000: Lead not found. (HTTP 404)" in missing.stderr
        # a refused token: exit 4, and with --json one JSON object on stdout still
        updates = tmp_path / "u.csv"
        updates.write_text(f"reference,status\n{lead['reference']},confirmed\n", encoding="utf-8")
        refused = cli(running, "update", str(updates), "--json", token="nope")
        assert refused.exit_code == ExitStatus.API
        assert json.loads(refused.stdout)["exit"] == ExitStatus.API
        assert not (tmp_path / "u.report.xlsx").exists()  # nothing was sent: no report
        # a wrong base URL: the API's routes are not there (404): exit 4, said so
        wrong = CliRunner().invoke(
            main,
            ["export", "-o", str(tmp_path / "x.xlsx")],
            env={"WEDOCOD_BASE_URL": running.url + "/v9", "WEDOCOD_TOKEN": TEST_TOKEN},
        )
        assert wrong.exit_code == ExitStatus.API and "Resource not found" in wrong.stderr
        # files that cannot be written are refused before any request
        before = dict(running.sandbox.stats)
        bad = cli(running, "update", str(updates), "--report", str(tmp_path / "r.txt"))
        assert bad.exit_code == ExitStatus.USAGE and ".xlsx or .csv" in bad.stderr
        nowhere = cli(running, "export", "-o", str(tmp_path / "no" / "x.csv"))
        assert nowhere.exit_code == ExitStatus.BAD_INPUT and "does not exist" in nowhere.stderr
        assert running.sandbox.stats == before
