"""Uploading exactly once against the real sandbox over loopback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from importer.client import AuthError, LeadsClient
from importer.ledger import Ledger
from importer.model import CustomEntry, Lead, Outcome, Product
from importer.sandbox import RunningSandbox
from importer.upload import RunStopped, UploadOptions, reconcile, upload_leads
from tests.conftest import import_id_counts, serve_sandbox

TOKEN = "test-token"
# the tests of this module share one seed, so that fault knobs repeat
sandbox = partial(serve_sandbox, seed=1)
FAST = UploadOptions(batch_size=10, workers=4, wait=5.0, backoff=0.01, max_backoff=0.05)


@contextmanager
def session(
    running: RunningSandbox, tmp_path: Path, token: str = TOKEN
) -> Iterator[tuple[LeadsClient, Ledger]]:
    client = LeadsClient(running.url, token, read_backoff=0.01)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", client.account_id)
    try:
        yield client, ledger
    finally:
        ledger.close()
        client.close()


def make_leads(count: int, start: int = 0) -> list[Lead]:
    return [
        Lead(
            key=f"order-{n}",
            rows=(n + 2,),
            full_name=f"Client Number {n}",
            phone=f"06{n:08d}",
            city="Casablanca",
            address=f"{n} Rue des Tests",
            area=None,
            products=(Product("SKU-001", 1 + n % 3, 100.0),),
            data=(CustomEntry("note", "test"),),
        )
        for n in range(start, start + count)
    ]


def run(client: LeadsClient, ledger: Ledger, leads: list[Lead], **options: Any) -> list[Any]:
    settings = {**FAST.__dict__, **options}
    run_id = ledger.start_run("test.csv", len(leads), len(leads))
    return upload_leads(client, leads, ledger, run_id, UploadOptions(**settings))


def test_sync_batches_create_each_lead_once(tmp_path: Path) -> None:
    leads = make_leads(35)
    settled: list[int] = []
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, leads, progress=settled.append)
        assert [o.key for o in outcomes] == [lead.key for lead in leads]
        assert {o.outcome for o in outcomes} == {Outcome.CREATED}
        assert all(o.ref for o in outcomes) and len({o.ref for o in outcomes}) == 35
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})
        assert running.sandbox.stats["POST /leads"] == 4
        assert sum(settled) == 35
        stored = {s["reference"]: s["phone"] for s in running.sandbox.store.leads(TOKEN)}
        pairs = zip(outcomes, leads, strict=True)
        assert all(stored[o.ref or ""] == lead.phone for o, lead in pairs)


def test_rerun_skips_everything_without_a_post(tmp_path: Path) -> None:
    leads = make_leads(12)
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        first = run(client, ledger, leads)
        posts = running.sandbox.stats["POST /leads"]
        gets = running.sandbox.stats.get("GET /leads", 0)
        again = run(client, ledger, leads)
        assert [o.outcome for o in again] == [Outcome.SKIPPED] * 12
        assert [o.ref for o in again] == [o.ref for o in first]
        assert running.sandbox.stats["POST /leads"] == posts
        assert running.sandbox.stats.get("GET /leads", 0) == gets
        assert sum(import_id_counts(running).values()) == 12


def test_async_batches_are_looked_up_efficiently(tmp_path: Path) -> None:
    leads = make_leads(400)
    # queued batches processed at once: the first lookup, half a second after the answer,
    # must find them however busy the machine is (0.2 s of delay left too little room on CI)
    with sandbox(async_delay=0.0) as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, leads, batch_size=100, workers=4)
        assert {o.outcome for o in outcomes} == {Outcome.CREATED}
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})
        stats = running.sandbox.stats
        # one GET is the check for duplicates before sending (an empty account: one page)
        lookups = stats["GET /leads"] - 1
        calls = stats["POST /leads"] + lookups
        assert stats["POST /leads"] == 4
        assert 400 / calls >= 40, stats  # lookups count: the benchmark's target


def test_async_not_done_in_time_is_queued_then_reconciled(tmp_path: Path) -> None:
    leads = make_leads(15)
    with sandbox(async_delay=1.5) as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, leads, batch_size=15, wait=0.3)
        assert {o.outcome for o in outcomes} == {Outcome.QUEUED}
        assert len(ledger.in_doubt()) == 15
        settled = reconcile(client, ledger, UploadOptions(wait=5.0))
        assert {o.outcome for o in settled} == {Outcome.CREATED}
        assert ledger.in_doubt() == []
        posts = running.sandbox.stats["POST /leads"]
        again = run(client, ledger, leads)
        assert {o.outcome for o in again} == {Outcome.SKIPPED}
        assert running.sandbox.stats["POST /leads"] == posts
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})


def test_failed_count_is_resolved_by_lookup(tmp_path: Path) -> None:
    leads = make_leads(10)
    bad = {leads[3].phone, leads[7].phone}
    with (
        sandbox(fail_phones=frozenset(bad)) as running,
        session(running, tmp_path) as (
            client,
            ledger,
        ),
    ):
        outcomes = run(client, ledger, leads)
        by_key = {o.key: o for o in outcomes}
        for lead in leads:
            got = by_key[lead.key]
            if lead.phone in bad:
                assert got.outcome is Outcome.FAILED and "could not process" in got.message
            else:
                assert got.outcome is Outcome.CREATED
        stored = {s["reference"]: s["phone"] for s in running.sandbox.store.leads(TOKEN)}
        # the refs were placed by lookup, not by position: each ref is that lead's
        for lead in leads:
            if lead.phone not in bad:
                assert stored[by_key[lead.key].ref or ""] == lead.phone
        assert ledger.known([leads[3].key])[leads[3].key].state == "failed"


def test_422_rejects_only_the_named_leads_and_resends_the_rest(tmp_path: Path) -> None:
    leads = make_leads(6)
    broken = Lead(
        key="broken",
        rows=(99,),
        full_name="Al",  # too short for the server
        phone="0611111111",
        city="Casablanca",
        address="1 Rue des Tests",
        area=None,
        products=(Product("NO-SUCH-SKU", 1, 10.0),),
    )
    batch = [*leads[:2], broken, *leads[2:]]
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, batch, batch_size=10)
        by_key = {o.key: o for o in outcomes}
        assert by_key["broken"].outcome is Outcome.REJECTED
        fields = {e.field for e in by_key["broken"].errors}
        assert {"full_name", "products.0.sku"} <= fields
        assert all(by_key[lead.key].outcome is Outcome.CREATED for lead in leads)
        assert running.sandbox.stats["POST /leads"] == 2
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})


def test_resume_after_kill_when_the_batch_reached_the_server(tmp_path: Path) -> None:
    leads = make_leads(8)
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        # the killed run: recorded "sending", the POST went through, then the process died
        ledger.record_sending("b-killed", leads[:5], None)
        client.create_leads([lead.payload() for lead in leads[:5]])
        outcomes = run(client, ledger, leads)
        assert {o.outcome for o in outcomes} == {Outcome.CREATED}
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})
        assert running.sandbox.stats["POST /leads"] == 2  # the killed one + the 3 left


def test_resume_after_kill_when_the_batch_never_left(tmp_path: Path) -> None:
    leads = make_leads(8)
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        ledger.record_sending("b-killed", leads[:5], None)  # killed before the POST
        outcomes = run(client, ledger, leads, wait=0.0)
        assert {o.outcome for o in outcomes} == {Outcome.CREATED}
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})
        assert ledger.in_doubt() == []


def test_auth_failure_raises_and_marks_nothing_failed(tmp_path: Path) -> None:
    leads = make_leads(5)
    with sandbox() as running, session(running, tmp_path, token="wrong") as (client, ledger):
        with pytest.raises(RunStopped) as stopped:
            run(client, ledger, leads)
        # refused at the first request, the check for duplicates: nothing was sent
        assert isinstance(stopped.value.cause, AuthError) and not stopped.value.sent
        assert {o.outcome for o in stopped.value.outcomes} == {Outcome.FAILED}
        assert running.sandbox.stats.get("POST /leads", 0) == 0
        known = ledger.known([lead.key for lead in leads])
        assert {e.state for e in known.values()} <= {"unsent"}
        assert ledger.in_doubt() == []
        assert running.sandbox.store.leads(TOKEN) == []


def test_stop_event_sends_no_new_batch(tmp_path: Path) -> None:
    import threading

    stop = threading.Event()
    stop.set()
    leads = make_leads(20)
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, leads, stop=stop)
        assert running.sandbox.stats.get("POST /leads", 0) == 0
        assert {o.outcome for o in outcomes} == {Outcome.FAILED}
        assert "Not sent" in outcomes[0].message


def test_same_key_twice_in_one_input_is_sent_once(tmp_path: Path) -> None:
    leads = make_leads(3)
    with sandbox() as running, session(running, tmp_path) as (client, ledger):
        outcomes = run(client, ledger, [*leads, leads[0]])
        assert len(outcomes) == 4 and outcomes[0] == outcomes[3]
        assert import_id_counts(running) == Counter({lead.key: 1 for lead in leads})
