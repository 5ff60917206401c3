"""The exactly-once ledger: states, scoping by account, durability, threads, schema."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from importer.ledger import Ledger, LedgerError
from importer.model import FieldError, Lead, LeadOutcome, Outcome, Product

ACCOUNT = "http://127.0.0.1:1#abcdef123456"


def make_lead(key: str, phone: str = "0612345678") -> Lead:
    return Lead(
        key=key,
        rows=(2,),
        full_name="Ahmed El Fassi",
        phone=phone,
        city="Casablanca",
        address="123 Main Street",
        area=None,
        products=(Product("SKU-001", 1, 100.0),),
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "deep" / "dir" / "ledger.sqlite3", ACCOUNT)


def test_open_creates_dirs_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.sqlite3"
    Ledger.open(path, ACCOUNT).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert versions == [(1,), (2,), (3,)]
    conn.close()
    Ledger.open(path, ACCOUNT).close()  # opening again migrates nothing, adds no version row
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 3
    conn.close()


def test_a_version_1_ledger_is_migrated_and_keeps_its_leads(tmp_path: Path) -> None:
    from importer.ledger import _SCHEMA

    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA)  # what version 1 created, and nothing else
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute(
        "INSERT INTO leads (account, key, state, ref, updated_at) "
        "VALUES (?, 'a', 'created', 'R1', '2026-01-01T00:00:00+00:00')",
        (ACCOUNT,),
    )
    conn.commit()
    conn.close()
    with Ledger.open(path, ACCOUNT) as ledger:
        assert ledger.known(["a"])["a"].ref == "R1"
        assert ledger.server_synced_at() is None and ledger.server_refs(["a"]) == {}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,), (2,), (3,)]
    conn.close()


def test_server_keys_are_kept_per_account_with_the_sync_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path, ACCOUNT) as one, Ledger.open(path, "other#000000000000") as other:
        one.record_server_keys([("order:1", "R1"), ("order:2", "R2")])
        one.record_server_keys([("order:1", "R9")])  # a duplicate on the server: first ref stays
        assert one.server_refs(["order:1", "order:2", "order:3"]) == {
            "order:1": "R1",
            "order:2": "R2",
        }
        assert other.server_refs(["order:1"]) == {}
        when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        one.finish_server_sync(when)
        assert one.server_synced_at() == when and other.server_synced_at() is None


def test_record_found_creates_rows_and_settles_doubt(ledger: Ledger) -> None:
    ledger.record_sending("b1", [make_lead("doubt")], None)
    ledger.record_found([(make_lead("doubt"), "R1"), (make_lead("unknown"), "R2")])
    known = ledger.known(["doubt", "unknown"])
    assert (known["doubt"].state, known["doubt"].ref) == ("created", "R1")
    assert (known["unknown"].state, known["unknown"].ref) == ("created", "R2")
    assert ledger.in_doubt() == []
    ledger.record_found([(make_lead("unknown"), "R3")])  # created keeps its ref
    assert ledger.known(["unknown"])["unknown"].ref == "R2"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger.open(path, ACCOUNT).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="newer"):
        Ledger.open(path, ACCOUNT)


def test_not_a_database_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError):
        Ledger.open(path, ACCOUNT)


def test_default_path_is_in_the_state_dir() -> None:
    path = Ledger.default_path()
    assert path.name == "ledger.sqlite3" and "wedocod" in str(path)


def test_sending_then_outcomes(ledger: Ledger) -> None:
    run = ledger.start_run("orders.csv", 3, 3)
    ledger.record_sending("b1", [make_lead("a"), make_lead("b"), make_lead("c", "0700000000")], run)
    known = ledger.known(["a", "b", "c", "zzz"])
    assert set(known) == {"a", "b", "c"}
    assert known["c"].state == "sending" and known["c"].phone == "0700000000"
    assert known["a"].batch == "b1" and known["a"].run_id == run and known["a"].sent_at
    assert known["a"].content and known["a"].in_doubt
    assert [e.key for e in ledger.in_doubt()] == ["a", "b", "c"]

    ledger.record_outcomes(
        [
            LeadOutcome("a", Outcome.CREATED, ref="WDAAAA"),
            LeadOutcome("b", Outcome.REJECTED, errors=(FieldError("phone", "bad phone"),)),
            LeadOutcome("c", Outcome.QUEUED),
        ]
    )
    known = ledger.known(["a", "b", "c"])
    assert (known["a"].state, known["a"].ref) == ("created", "WDAAAA")
    assert (known["b"].state, known["b"].message) == ("rejected", "phone: bad phone")
    assert known["c"].state == "queued"
    assert [e.key for e in ledger.in_doubt()] == ["c"]


def test_created_is_final(ledger: Ledger) -> None:
    ledger.record_sending("b1", [make_lead("a")], None)
    ledger.record_outcomes([LeadOutcome("a", Outcome.CREATED, ref="R1")])
    ledger.record_sending("b2", [make_lead("a")], None)  # a bug upstream must not undo it
    ledger.record_outcomes([LeadOutcome("a", Outcome.FAILED, message="boom")])
    entry = ledger.known(["a"])["a"]
    assert (entry.state, entry.ref, entry.batch) == ("created", "R1", "b1")


def test_rejected_and_failed_may_be_sent_again(ledger: Ledger) -> None:
    ledger.record_sending("b1", [make_lead("a"), make_lead("b")], None)
    ledger.record_outcomes(
        [LeadOutcome("a", Outcome.REJECTED), LeadOutcome("b", Outcome.FAILED, message="x")]
    )
    ledger.record_sending("b2", [make_lead("a"), make_lead("b")], None)
    assert {e.state for e in ledger.known(["a", "b"]).values()} == {"sending"}


def test_unsent_leaves_doubt(ledger: Ledger) -> None:
    ledger.record_sending("b1", [make_lead("a")], None)
    ledger.record_unsent(["a"])
    assert ledger.known(["a"])["a"].state == "unsent"
    assert ledger.in_doubt() == []


def test_scoped_by_account_and_token_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    one = Ledger.open(path, ACCOUNT)
    other = Ledger.open(path, "http://127.0.0.1:1#999999999999")
    one.record_sending("b1", [make_lead("a")], one.start_run("f.csv", 1, 1))
    assert other.known(["a"]) == {}
    assert other.in_doubt() == [] and other.runs() == []
    assert len(one.runs()) == 1
    one.close()
    other.close()
    assert b"test-token" not in path.read_bytes()


def test_runs_are_listed_newest_first(ledger: Ledger) -> None:
    first = ledger.start_run("a.csv", 10, 5)
    second = ledger.start_run("b.csv", 4, 2)
    ledger.finish_run(first, {"created": 5, "rows": 10}, "complete")
    runs = ledger.runs()
    assert [r.id for r in runs] == [second, first]
    assert runs[1].status == "complete" and runs[1].counts == {"created": 5, "rows": 10}
    assert runs[1].finished_at is not None and runs[0].status == "running"
    assert runs[1].to_dict()["file"] == "a.csv"
    assert "a.csv" in runs[1].describe() and "created 5" in runs[1].describe()
    assert len(ledger.runs(limit=1)) == 1


def test_writes_are_durable_for_another_connection(ledger: Ledger, tmp_path: Path) -> None:
    # what a killed process leaves behind is what another process reads
    ledger.record_sending("b1", [make_lead("a")], None)
    again = Ledger.open(ledger.path, ACCOUNT)
    assert again.known(["a"])["a"].state == "sending"
    again.close()


def test_many_threads_write_at_once(ledger: Ledger) -> None:
    def work(n: int) -> None:
        for i in range(20):
            lead = make_lead(f"t{n}-{i}")
            ledger.record_sending(f"b{n}-{i}", [lead], None)
            ledger.record_outcomes([LeadOutcome(lead.key, Outcome.CREATED, ref=f"R{n}-{i}")])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [f"t{n}-{i}" for n in range(8) for i in range(20)]
    known = ledger.known(keys)
    assert len(known) == 160 and {e.state for e in known.values()} == {"created"}
    assert known["t3-7"].ref == "R3-7"


def test_known_handles_more_keys_than_sqlite_parameters(ledger: Ledger) -> None:
    leads = [make_lead(f"k{i}") for i in range(1200)]
    ledger.record_sending("big", leads, None)
    assert len(ledger.known([lead.key for lead in leads])) == 1200


def test_files_by_content_hash_per_account(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path, ACCOUNT) as ledger:
        assert ledger.file_seen("ab" * 32) is None
        ledger.record_file("ab" * 32, "orders.csv", 120, "/srv/in/done/orders.csv")
        seen = ledger.file_seen("ab" * 32)
        assert seen is not None
        assert (seen.name, seen.size, seen.filed_to) == (
            "orders.csv",
            120,
            "/srv/in/done/orders.csv",
        )
    with Ledger.open(path, "http://other#000000000000") as other:
        assert other.file_seen("ab" * 32) is None  # another account imports it for itself


def test_a_version_2_ledger_gains_the_files_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path, ACCOUNT) as ledger:
        run = ledger.start_run("orders.csv", 1, 1)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE files")
    conn.execute("DELETE FROM schema_version WHERE version = 3")
    conn.commit()
    conn.close()
    with Ledger.open(path, ACCOUNT) as ledger:
        assert [r.id for r in ledger.runs()] == [run]  # what version 2 held is kept
        ledger.record_file("cd" * 32, "orders.csv", 1, "done/orders.csv")
        assert ledger.file_seen("cd" * 32) is not None
