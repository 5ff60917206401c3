"""Exactly once under faults: 5xx, dropped answers, 429s, failing phones, and real SIGKILLs.

Run as a script (`python -m tests.test_faults URL LEDGER COUNT`) it is the process the kill
test starts and kills: it uploads COUNT deterministic leads to the sandbox at URL.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from importer.client import ApiError, CreateResult, LeadsClient
from importer.ledger import Ledger
from importer.model import CustomEntry, Lead, Outcome, Product
from importer.upload import UploadOptions, upload_leads
from tests.conftest import import_id_counts, serve_sandbox
from tests.test_exactly_once import in_doubt_rows, wait_for

TOKEN = "test-token"
# the tests of this module share one seed, so that fault knobs repeat
sandbox = partial(serve_sandbox, seed=7)
ROOT = Path(__file__).resolve().parent.parent


def make_leads(count: int) -> list[Lead]:
    return [
        Lead(
            key=f"order-{n}",
            rows=(n + 2,),
            full_name=f"Client Number {n}",
            phone=f"06{n:08d}",
            city="Rabat",
            address=f"{n} Avenue des Fautes",
            area=None,
            products=(Product("SKU-002", 1, 50.0 + n),),
            data=(CustomEntry("source", "faults"),),
        )
        for n in range(count)
    ]


class CountingClient(LeadsClient):
    """The real client, counting which errors its POSTs met (to show the faults happened)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors: Counter[str] = Counter()

    def create_leads(self, items: Sequence[dict[str, Any]]) -> CreateResult:
        try:
            return super().create_leads(items)
        except ApiError as err:
            self.errors[type(err).__name__] += 1
            raise


def test_storm_every_lead_once_and_accounted_for(tmp_path: Path) -> None:
    leads = make_leads(240)
    failing = {leads[n].phone for n in (5, 77, 150, 233)}
    with (
        sandbox(
            error_rate=0.2,
            drop_rate=0.1,
            rate_limit=15,
            rate_window=1.0,  # the sandbox's window, shortened so Retry-After stays ~1 s
            fail_phones=frozenset(failing),
        ) as running,
        CountingClient(running.url, TOKEN, read_backoff=0.05, read_attempts=8) as client,
    ):
        ledger = Ledger.open(tmp_path / "ledger.sqlite3", client.account_id)
        options = UploadOptions(
            batch_size=8,
            workers=4,
            wait=3.0,
            max_attempts=12,
            breaker_threshold=12,
            backoff=0.05,
            max_backoff=0.5,
        )
        # batches of 8 (sync) and of 20 (async: lost answers are polled before resending)
        outcomes = upload_leads(client, leads[:160], ledger, 1, options)
        outcomes += upload_leads(
            client, leads[160:], ledger, 2, UploadOptions(**{**options.__dict__, "batch_size": 20})
        )
        ledger.close()
        stats = dict(running.sandbox.stats)
        server = import_id_counts(running)

    assert [o.key for o in outcomes] == [lead.key for lead in leads]
    by_key = {o.key: o for o in outcomes}
    assert max(server.values()) == 1, "a lead was created twice"
    for lead in leads:
        got = by_key[lead.key]
        if lead.phone in failing:
            # fail_phones in an async batch: accepted, never shows up -> queued (still in doubt)
            assert got.outcome in (Outcome.FAILED, Outcome.QUEUED), got
            assert server[lead.key] == 0
        else:
            assert got.outcome is Outcome.CREATED, got
            assert server[lead.key] == 1
    # the faults did happen
    assert stats.get("POST /leads", 0) > 160 // 8 + 80 // 20, stats
    assert {"ServerError", "ResponseLost", "RateLimited"} <= set(client.errors), client.errors


# --- real process, real SIGKILL -----------------------------------------------------------


def _drive(url: str, ledger_path: str, count: int) -> int:
    """The killed process: one import run of `count` leads, as the CLI would do it."""
    client = LeadsClient(url, TOKEN, read_backoff=0.05)
    ledger = Ledger.open(Path(ledger_path), client.account_id)
    try:
        run_id = ledger.start_run("kill-test", count, count)
        options = UploadOptions(batch_size=15, workers=3, wait=1.0, backoff=0.05)
        outcomes = upload_leads(client, make_leads(count), ledger, run_id, options)
        done = sum(o.outcome in (Outcome.CREATED, Outcome.SKIPPED) for o in outcomes)
        ledger.finish_run(run_id, {"done": done}, "complete")
        return 0 if done == count else 1
    finally:
        ledger.close()
        client.close()


@pytest.mark.slow
def test_sigkill_again_and_again_creates_each_lead_once(tmp_path: Path) -> None:
    """Twenty SIGKILLs under 5xx and dropped answers, each placed by observed progress.

    A run is killed once the sandbox's store holds its target number of leads (targets
    spread over the upload), every other time only once the ledger also holds a batch
    `sending`: never on a timer, so a slow machine cannot make a kill miss the upload.
    """
    count = 1500
    ledger_path = tmp_path / "ledger.sqlite3"
    rng = random.Random(11)
    targets = [count * (k + 1) // 22 + rng.randint(-20, 20) for k in range(20)]
    progress = [0]
    left_in_doubt = 0
    finished = False
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # latency so that kills land while requests, lookups and ledger writes are in flight
    with sandbox(latency_ms=30, error_rate=0.05, drop_rate=0.05) as running:
        command = [sys.executable, "-m", "tests.test_faults", running.url, str(ledger_path)]

        def on_server() -> int:
            return running.sandbox.store.count(TOKEN)

        for k, target in enumerate(targets):
            goal = max(target, progress[-1] + 10)
            proc = subprocess.Popen([*command, str(count)], cwd=ROOT, env=env, text=True)
            try:
                wait_for(f"{goal} leads", lambda goal=goal: on_server() >= goal, proc)
                if k % 2:
                    wait_for("a batch sending", lambda: in_doubt_rows(ledger_path) > 0, proc)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            progress.append(on_server())
            left_in_doubt += in_doubt_rows(ledger_path) > 0
        for _ in range(3):
            proc = subprocess.Popen([*command, str(count)], cwd=ROOT, env=env)
            if proc.wait(timeout=120) == 0:
                finished = True
                break
        server = import_id_counts(running)
    assert all(a < b < count for a, b in itertools.pairwise(progress)), progress
    assert left_in_doubt >= 5, left_in_doubt
    assert finished, "the last run did not finish every lead"
    assert set(server) == {lead.key for lead in make_leads(count)}
    assert max(server.values()) == 1, [k for k, v in server.items() if v > 1]


if __name__ == "__main__":
    sys.exit(_drive(sys.argv[1], sys.argv[2], int(sys.argv[3])))
