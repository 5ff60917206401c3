"""The exactly-once journal (SQLite, WAL): what was sent, what is known, what is in doubt."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from importer.errors import LedgerError as LedgerError
from importer.model import Lead, LeadOutcome, Outcome

SCHEMA_VERSION = 3

#: Lead states. ``sending``: recorded before the POST, outcome unknown until recorded after.
SENDING = "sending"
CREATED = "created"
QUEUED = "queued"  # accepted (202), ref not seen yet
REJECTED = "rejected"
FAILED = "failed"
UNCERTAIN = "uncertain"
UNSENT = "unsent"  # recorded as sending, but the request surely did not reach the server
#: States whose lead may be on the server without our knowing: look up before sending again.
IN_DOUBT = (SENDING, QUEUED, UNCERTAIN)

_STATE_OF = {
    Outcome.CREATED: CREATED,
    Outcome.SKIPPED: CREATED,
    Outcome.QUEUED: QUEUED,
    Outcome.REJECTED: REJECTED,
    Outcome.FAILED: FAILED,
    Outcome.UNCERTAIN: UNCERTAIN,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT NOT NULL,
    file        TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    leads       INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running',
    counts      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_account ON runs (account, id);
CREATE TABLE IF NOT EXISTS leads (
    account    TEXT NOT NULL,
    key        TEXT NOT NULL,
    state      TEXT NOT NULL,
    ref        TEXT,
    batch      TEXT,
    run_id     INTEGER,
    phone      TEXT NOT NULL DEFAULT '',
    content    TEXT NOT NULL DEFAULT '',
    sent_at    TEXT,
    updated_at TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account, key)
);
CREATE INDEX IF NOT EXISTS leads_state ON leads (account, state);
"""

#: Version 2: what the server holds. ``server_keys`` are the ``import_id``s of the account's
#: leads as listed by ``GET /leads``; ``server_sync`` says up to when that list is complete
#: (the server's clock at the start of the last listing that went to its end).
_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS server_keys (
    account   TEXT NOT NULL,
    import_id TEXT NOT NULL,
    ref       TEXT NOT NULL,
    PRIMARY KEY (account, import_id)
);
CREATE TABLE IF NOT EXISTS server_sync (
    account   TEXT PRIMARY KEY,
    synced_at TEXT NOT NULL,
    leads     INTEGER NOT NULL DEFAULT 0
);
"""

#: Schema version 3: files that folder ingestion filed as done, by content hash, per account.
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS files (
    account   TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    name      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    filed_to  TEXT NOT NULL,
    filed_at  TEXT NOT NULL,
    PRIMARY KEY (account, sha256)
);
"""

#: Each step brings the schema from the version before it to its own; only
#: ``CREATE ... IF NOT EXISTS`` and ``ALTER TABLE`` so that steps combine when merged.
_STEPS = {1: _SCHEMA, 2: _SCHEMA_V2, 3: _SCHEMA_V3}


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the ledger knows about one lead key of this account."""

    key: str
    state: str
    ref: str | None
    batch: str | None
    run_id: int | None
    phone: str
    content: str
    sent_at: datetime | None
    message: str = ""

    @property
    def in_doubt(self) -> bool:
        return self.state in IN_DOUBT


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One import run of this account, for `wedocod runs`."""

    id: int
    file: str
    rows: int
    leads: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "rows": self.rows,
            "leads": self.leads,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "counts": dict(self.counts),
        }

    def describe(self) -> str:
        when = self.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v and k != "rows")
        return f"#{self.id} {when} {self.status:<10} {self.file} ({counts or 'nothing'})"


def content_hash(lead: Lead) -> str:
    """A fingerprint of what is sent for a lead (tells a fixed re-import from the same one)."""
    text = json.dumps(lead.payload(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _now() -> datetime:
    return datetime.now(UTC)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Ledger:
    """The journal of one account in one SQLite file. Safe to share between threads.

    Every write is committed before the call returns: ``record_sending`` is durable before
    the POST goes out, so a killed process leaves its in-flight leads ``sending`` (in doubt).
    """

    def __init__(self, conn: sqlite3.Connection, account: str, path: Path) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.account = account
        self.path = path

    @classmethod
    def open(cls, path: Path, account: str) -> Ledger:
        """Open (creating if needed) the ledger at ``path`` for ``account`` (never a token)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # one connection shared by the workers, serialised by our own lock
            conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives a power cut too, not just a killed process
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            _migrate(conn)
        except sqlite3.DatabaseError as err:
            raise LedgerError(f"Cannot use the ledger {path}: {err}") from err
        except OSError as err:
            raise LedgerError(f"Cannot create the ledger {path}: {err}") from err
        return cls(conn, account, path)

    @staticmethod
    def default_path() -> Path:
        return Path(platformdirs.user_state_dir("wedocod")) / "ledger.sqlite3"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, file: str, rows: int, leads: int) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (account, file, rows, leads, started_at) VALUES (?, ?, ?, ?, ?)",
                (self.account, file, rows, leads, _now().isoformat()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, counts: dict[str, int], status: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counts = ? "
                "WHERE id = ? AND account = ?",
                (_now().isoformat(), status, json.dumps(counts), run_id, self.account),
            )

    def runs(self, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, file, rows, leads, started_at, finished_at, status, counts "
                "FROM runs WHERE account = ? ORDER BY id DESC LIMIT ?",
                (self.account, limit),
            ).fetchall()
        return [
            RunRecord(
                id=r[0],
                file=r[1],
                rows=r[2],
                leads=r[3],
                started_at=datetime.fromisoformat(r[4]),
                finished_at=_time(r[5]),
                status=r[6],
                counts={str(k): int(v) for k, v in json.loads(r[7] or "{}").items()},
            )
            for r in rows
        ]

    # --- leads --------------------------------------------------------------------------------

    def known(self, keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """What the ledger knows about these keys (keys it never saw are absent)."""
        found: dict[str, LedgerEntry] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            # in chunks: SQLite limits the number of parameters of one statement
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM leads WHERE account = ? AND key IN ({marks})",
                    (self.account, *chunk),
                ).fetchall()
                found.update((row[0], _entry(row)) for row in rows)
        return found

    def in_doubt(self) -> list[LedgerEntry]:
        """Leads that may be on the server without our knowing: sending, queued, uncertain."""
        marks = ",".join("?" * len(IN_DOUBT))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM leads WHERE account = ? AND state IN ({marks}) "
                "ORDER BY sent_at, key",
                (self.account, *IN_DOUBT),
            ).fetchall()
        return [_entry(row) for row in rows]

    def record_sending(self, batch_id: str, leads: Sequence[Lead], run_id: int | None) -> datetime:
        """Mark leads ``sending`` (committed) just before their POST; returns the time recorded.

        A lead already ``created`` is left alone: the caller must not send it.
        """
        now = _now()
        stamp = now.isoformat()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO leads (account, key, state, batch, run_id, phone, content, sent_at,"
                " updated_at, message) VALUES (?, ?, 'sending', ?, ?, ?, ?, ?, ?, '') "
                "ON CONFLICT (account, key) DO UPDATE SET state = 'sending', ref = NULL,"
                " batch = excluded.batch, run_id = excluded.run_id, phone = excluded.phone,"
                " content = excluded.content, sent_at = excluded.sent_at,"
                " updated_at = excluded.updated_at, message = '' WHERE leads.state != 'created'",
                [
                    (
                        self.account,
                        lead.key,
                        batch_id,
                        run_id,
                        lead.phone,
                        content_hash(lead),
                        stamp,
                        stamp,
                    )
                    for lead in leads
                ],
            )
        return now

    def record_unsent(self, keys: Sequence[str]) -> None:
        """The request for these ``sending`` leads surely never reached the server (401, 429, …)."""
        stamp = _now().isoformat()
        with self._write() as conn:
            conn.executemany(
                "UPDATE leads SET state = 'unsent', updated_at = ? "
                "WHERE account = ? AND key = ? AND state = 'sending'",
                [(stamp, self.account, key) for key in keys],
            )

    def record_outcomes(self, outcomes: Sequence[LeadOutcome]) -> None:
        """Record what became of leads after their POST (or lookup). ``created`` is final."""
        stamp = _now().isoformat()
        rows = []
        for outcome in outcomes:
            state = _STATE_OF.get(outcome.outcome)
            if state is None:
                continue
            message = outcome.message or "; ".join(
                f"{e.field}: {e.message}" for e in outcome.errors
            )
            rows.append((state, outcome.ref, stamp, message, self.account, outcome.key))
        with self._write() as conn:
            conn.executemany(
                "UPDATE leads SET state = ?, ref = COALESCE(?, ref), updated_at = ?, message = ? "
                "WHERE account = ? AND key = ? AND (state != 'created' OR ref IS NULL)",
                rows,
            )

    def record_found(self, found: Sequence[tuple[Lead, str]]) -> None:
        """Leads found on the server (an earlier run, another machine): ``created`` with that ref.

        Leads the ledger never saw get a row; a ``created`` lead keeps the ref it has.
        """
        stamp = _now().isoformat()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO leads (account, key, state, ref, phone, content, updated_at, message)"
                " VALUES (?, ?, 'created', ?, ?, ?, ?, '') "
                "ON CONFLICT (account, key) DO UPDATE SET state = 'created',"
                " ref = COALESCE(leads.ref, excluded.ref), updated_at = excluded.updated_at,"
                " message = '' WHERE leads.state != 'created' OR leads.ref IS NULL",
                [
                    (self.account, lead.key, ref, lead.phone, content_hash(lead), stamp)
                    for lead, ref in found
                ],
            )

    # --- what the server holds ----------------------------------------------------------------

    def server_synced_at(self) -> datetime | None:
        """Up to when the account's server keys are complete (None: never listed to the end)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT synced_at FROM server_sync WHERE account = ?", (self.account,)
            ).fetchone()
        return _time(row[0]) if row else None

    def record_server_keys(self, pairs: Sequence[tuple[str, str]]) -> None:
        """``(import_id, ref)`` of leads seen on the server; the first ref seen for a key stays."""
        if not pairs:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO server_keys (account, import_id, ref) VALUES (?, ?, ?)",
                [(self.account, key, ref) for key, ref in pairs],
            )

    def finish_server_sync(self, synced_at: datetime) -> None:
        """The server keys are complete up to ``synced_at`` (the server's clock)."""
        with self._write() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM server_keys WHERE account = ?", (self.account,)
            ).fetchone()
            conn.execute(
                "INSERT INTO server_sync (account, synced_at, leads) VALUES (?, ?, ?) "
                "ON CONFLICT (account) DO UPDATE SET synced_at = excluded.synced_at,"
                " leads = excluded.leads",
                (self.account, synced_at.astimezone(UTC).isoformat(), int(count)),
            )

    def server_refs(self, keys: Sequence[str]) -> dict[str, str]:
        """The ref of each of these keys the server is known to hold."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._conn.execute(
                        "SELECT import_id, ref FROM server_keys "
                        f"WHERE account = ? AND import_id IN ({marks})",
                        (self.account, *chunk),
                    ).fetchall()
                )
        return found

    # --- files (folder ingestion) -------------------------------------------------------------

    def file_seen(self, sha256: str) -> FileRecord | None:
        """The earlier import of a file with these exact bytes into this account, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sha256, name, size, filed_to, filed_at FROM files "
                "WHERE account = ? AND sha256 = ?",
                (self.account, sha256),
            ).fetchone()
        if row is None:
            return None
        return FileRecord(row[0], row[1], int(row[2]), row[3], datetime.fromisoformat(row[4]))

    def record_file(self, sha256: str, name: str, size: int, filed_to: str) -> None:
        """Remember a file imported completely (every lead on the server), by content hash."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO files (account, sha256, name, size, filed_to, filed_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, sha256) DO UPDATE SET "
                "name = excluded.name, size = excluded.size, filed_to = excluded.filed_to, "
                "filed_at = excluded.filed_at",
                (self.account, sha256, name, size, filed_to, _now().isoformat()),
            )


_ENTRY_COLUMNS = "key, state, ref, batch, run_id, phone, content, sent_at, message"


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(
        key=row[0],
        state=row[1],
        ref=row[2],
        batch=row[3],
        run_id=row[4],
        phone=row[5],
        content=row[6],
        sent_at=_time(row[7]),
        message=row[8] or "",
    )


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file folder ingestion imported completely: its content hash, name and where it went."""

    sha256: str
    name: str
    size: int
    filed_to: str
    filed_at: datetime


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the schema or bring an older one up to ``SCHEMA_VERSION``."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise LedgerError(
                f"This ledger was written by a newer wedocod-importer (schema {current}); "
                "upgrade, or use another --ledger."
            )
        for step in range(current + 1, SCHEMA_VERSION + 1):
            # statement by statement: executescript would commit our transaction midway
            for statement in _STEPS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (step,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
