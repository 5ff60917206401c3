"""`wedocod delete`: ids from a file, a sheet or arguments; 403s narrowed down; each id reported."""

from __future__ import annotations

import json
import math
import random
import threading
from pathlib import Path

import pytest

from importer.cli import ExitStatus
from importer.client import LeadsClient
from importer.deleting import DeleteOptions, delete_leads
from importer.report import read_report
from importer.sandbox import RunningSandbox
from tests.conftest import TEST_TOKEN, serve_sandbox
from tests.test_bulk import cli, seed_leads, set_status

UNKNOWN_ID = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"


def remaining(running: RunningSandbox) -> set[str]:
    return {lead["id"] for lead in running.sandbox.store.leads(TEST_TOKEN)}


def test_delete_from_a_text_file_end_to_end(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 250)
        ids = [lead["id"] for lead in leads]
        kept = sorted(random.Random(4).sample(range(250), 12))
        set_status(running, [leads[i]["reference"] for i in kept], "confirmed")  # may not go
        lines = ["# from yesterday's export", *ids[:150], "", UNKNOWN_ID, "ab", ids[0], *ids[150:]]
        source = tmp_path / "ids.txt"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")

        done = cli(running, "delete", "--ids", str(source), "--yes", "--json")
        assert done.exit_code == ExitStatus.INCOMPLETE, done.output
        summary = json.loads(done.stdout)
        assert summary == {
            "file": str(source),
            "ids": 253,
            "deleted": 239,  # 238 + the id given twice
            "refused": 12,
            "not_found": 1,
            "invalid": 1,
            "failed": 0,
            "report": str(tmp_path / "ids.report.xlsx"),
        }
        assert remaining(running) == {ids[i] for i in kept}
        # not one request per id: 3 batches, each split only around its refused ids
        requests = running.sandbox.stats["DELETE /leads"]
        assert requests < 253 / 3, requests

        got = read_report(tmp_path / "ids.report.xlsx")
        assert got.header == ("Row", "Outcome", "Lead id", "Errors", "id")
        rows = {int(r[0]): r for r in got.rows}
        assert len(rows) == 253 and 1 not in rows and 152 not in rows  # comment, blank line
        line_of = {lead_id: n for n, lead_id in enumerate(lines, start=1) if lead_id}
        for i in kept:
            assert rows[line_of[ids[i]]][1] == "refused"
            assert "403" in rows[line_of[ids[i]]][3]
        assert rows[153][1:3] == ("not found", UNKNOWN_ID)
        assert rows[154][1] == "invalid" and "between 3 and 100" in rows[154][3]
        assert rows[155][1] == "deleted" and "Same id as row 2" in rows[155][3]
        assert got.summary["refused"] == "12" and got.summary["Requests"] == str(requests)


@pytest.mark.parametrize(
    ("refused", "at_most"), [(1, 1 + 2 * math.ceil(math.log2(100))), (100, 110)]
)
def test_bisection_costs_little_when_refusals_are_rare_and_one_per_id_when_common(
    refused: int, at_most: int
) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 100)
        chosen = random.Random(refused).sample(leads, refused)
        set_status(running, [lead["reference"] for lead in chosen], "preparing")
        with LeadsClient(running.url, TEST_TOKEN) as client:
            result = delete_leads(client, [lead["id"] for lead in leads], DeleteOptions())
        got_refused = {i for i, (outcome, _) in result.outcomes.items() if outcome == "refused"}
        assert got_refused == {lead["id"] for lead in chosen}
        assert result.requests <= at_most, result.requests


def test_delete_from_an_export_or_an_update_report_and_with_confirmation(tmp_path: Path) -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 5)
        exported = tmp_path / "leads.xlsx"
        assert cli(running, "export", "-o", str(exported)).exit_code == 0
        # without --yes it asks; "no" deletes nothing
        declined = cli(running, "delete", "--ids", str(exported), input="n\n")
        assert declined.exit_code == ExitStatus.INCOMPLETE and "Delete 5 leads" in declined.stderr
        assert "DELETE /leads" not in running.sandbox.stats and len(remaining(running)) == 5

        # an update report's `Lead id` column, through the old --from-file name
        updates = tmp_path / "u.csv"
        updates.write_text(
            "reference,status\n" + "".join(f"{lead['reference']},wrong\n" for lead in leads[:3]),
            encoding="utf-8",
        )
        assert cli(running, "update", str(updates)).exit_code == 0
        done = cli(running, "delete", "--from-file", str(tmp_path / "u.report.xlsx"), input="y\n")
        assert done.exit_code == 0, done.output
        assert remaining(running) == {lead["id"] for lead in leads[3:]}
        rows = read_report(tmp_path / "u.report.report.xlsx").rows
        assert [r[1:3] for r in rows] == [("deleted", lead["id"]) for lead in leads[:3]]

        # the export as it is: its `id` column (the leads already gone are `not found`)
        done = cli(
            running, "delete", "--ids", str(exported), "--yes", "--report", str(tmp_path / "d.csv")
        )
        assert done.exit_code == ExitStatus.INCOMPLETE and remaining(running) == set()
        outcomes = sorted(r[1] for r in read_report(tmp_path / "d.csv").rows)
        assert outcomes == ["deleted", "deleted", "not found", "not found", "not found"]

        # references are not ids: said so
        refs = tmp_path / "refs.csv"
        refs.write_text("reference,status\nWDAAAAAA,new\n", encoding="utf-8")
        wrong = cli(running, "delete", "--ids", str(refs), "--yes")
        assert wrong.exit_code == ExitStatus.BAD_INPUT and "`id` column" in wrong.stderr


def test_ids_as_arguments_under_a_rate_limit_and_a_lost_answer(tmp_path: Path) -> None:
    with serve_sandbox(rate_limit=2, rate_window=1.0) as running:
        leads = seed_leads(running, 3)
        set_status(running, [leads[0]["reference"]], "confirmed")
        ids = [lead["id"] for lead in leads]
        done = cli(running, "delete", *ids, "--yes")
        assert done.exit_code == ExitStatus.INCOMPLETE, done.output
        assert f"row 1 ({ids[0]}): refused" in done.stderr and "2 of 3 leads deleted" in done.stderr
        assert remaining(running) == {ids[0]}
        assert not list(tmp_path.iterdir())  # ids as arguments: the lines above, no file

    # the delete is applied, then the answer lost: sent again, the ids are gone -> deleted
    with serve_sandbox(drop_rate=1.0, fault_methods=frozenset({"DELETE"})) as running:
        ids = [lead["id"] for lead in seed_leads(running, 4)]
        done = cli(running, "delete", *ids, "--yes", "--json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["deleted"] == 4 and remaining(running) == set()
        assert running.sandbox.stats["DELETE /leads"] == 2


class StopOnSecondLook(threading.Event):
    """Ctrl-C pressed right after the first request: the second look at the event sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks > 1 or super().is_set()


def test_interrupt_mid_bisection_sends_no_more_and_says_nothing_was_deleted() -> None:
    with serve_sandbox() as running:
        leads = seed_leads(running, 100)
        set_status(running, [leads[7]["reference"]], "confirmed")  # the batch is refused
        options = DeleteOptions(stop=StopOnSecondLook())
        with LeadsClient(running.url, TEST_TOKEN) as client:
            result = delete_leads(client, [lead["id"] for lead in leads], options)
        assert result.interrupted and result.requests == 1
        assert {outcome for outcome, _ in result.outcomes.values()} == {"failed"}
        assert all("it was not deleted" in why for _, why in result.outcomes.values())
        assert len(remaining(running)) == 100
