"""The sandbox's SQLite store: leads and queued batches per account (one connection, one lock)."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from importer.sandbox.rules import STATUSES, as_number, clean

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    city TEXT NOT NULL,
    area TEXT,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    action_date TEXT,
    data TEXT NOT NULL,
    products TEXT NOT NULL,
    histories TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_account ON leads (account, seq);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    leads TEXT NOT NULL,
    due REAL NOT NULL,
    state TEXT NOT NULL,
    created_refs TEXT,
    failed TEXT,
    created_at TEXT NOT NULL
);
"""
_COLUMNS = (
    "id, reference, full_name, phone, city, area, address, status, action_date, data, products, "
    "histories, created_at"
)
#: `GET /leads` `search_by` values -> columns (reference is the documented default).
SEARCHABLE = {
    "reference": "reference",
    "phone": "phone",
    "full_name": "full_name",
    "city": "city",
    "area": "area",
    "address": "address",
    "status": "status",
}
#: Why a lead listed in `fail_phones` failed (reported in async webhooks).
FAILED_MESSAGE = "The lead could not be processed."
MATCH_TYPES = ("exact", "partial", "starts_with", "ends_with")


def account_of(token: str) -> str:
    """The account a token opens; tokens themselves are never written to the database."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def now_text() -> str:
    """Now as the API writes timestamps: `2025-01-16T10:00:00.000000Z` (sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeadQuery:
    """The filters and page of one `GET /leads` call (already checked)."""

    page: int = 1
    per_page: int = 50
    keyword: str | None = None
    search_by: str = "reference"
    match_type: str = "partial"
    start_at: str | None = None  # inclusive bounds on created_at, same text format
    end_at: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What processing a batch of valid leads gave: refs in input order, and the failures."""

    created_refs: list[str]
    failed: list[dict[str, Any]]


class Store:
    """Leads per account in SQLite; safe to share between the event loop and the worker thread."""

    def __init__(self, path: Path | None, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._rng = rng
        target = str(path) if path else ":memory:"
        # autocommit mode: transactions are opened explicitly around each write
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._refs = {row[0] for row in self._db.execute("SELECT reference FROM leads")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- identifiers -------------------------------------------------------------------------

    def _new_ref(self) -> str:
        while True:
            value = self._rng.randrange(26**8)
            ref = ""
            for _ in range(8):
                value, letter = divmod(value, 26)
                ref += _LETTERS[letter]
            if ref not in self._refs:
                self._refs.add(ref)
                return ref

    def _new_id(self) -> str:
        """A ULID: 48 bits of milliseconds, then 80 random bits, in Crockford base32."""
        value = (int(time.time() * 1000) << 80) | self._rng.getrandbits(80)
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    # -- creating ----------------------------------------------------------------------------

    def create_leads(
        self, token: str, leads: list[dict[str, Any]], fail_phones: frozenset[str]
    ) -> BatchResult:
        """Stores valid leads in one transaction; leads whose phone is in `fail_phones` fail."""
        return self.create_for_account(account_of(token), leads, fail_phones)

    def create_for_account(
        self, account: str, leads: list[dict[str, Any]], fail_phones: frozenset[str]
    ) -> BatchResult:
        created_at = now_text()
        refs: list[str] = []
        failed: list[dict[str, Any]] = []
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for index, lead in enumerate(leads):
                phone = str(clean(lead.get("phone")))
                if phone in fail_phones:
                    failed.append({"index": index, "phone": phone, "message": FAILED_MESSAGE})
                    continue
                ref = self._new_ref()
                refs.append(ref)
                rows.append(_row(self._new_id(), account, ref, lead, created_at))
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT INTO leads ({_COLUMNS}, account) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, 'new', NULL, ?, ?, '[]', ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                self._refs.difference_update(refs)
                raise
            self._db.execute("COMMIT")
        return BatchResult(refs, failed)

    def queue_batch(self, token: str, leads: list[dict[str, Any]], due: float) -> str:
        """Records a batch to be processed at `due` (epoch seconds); returns its batch id."""
        batch_id = f"batch_{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        with self._lock:
            self._db.execute(
                "INSERT INTO batches (batch_id, account, leads, due, state, created_at) "
                "VALUES (?, ?, ?, ?, 'queued', ?)",
                (batch_id, account_of(token), json.dumps(leads), due, now_text()),
            )
        return batch_id

    def queued_batches(self) -> list[tuple[str, str, list[dict[str, Any]], float]]:
        """Batches accepted but not processed yet (batch id, account, leads, due), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, account, leads, due FROM batches WHERE state = 'queued' "
                "ORDER BY due"
            ).fetchall()
        return [(batch, account, json.loads(leads), due) for batch, account, leads, due in rows]

    def finish_batch(self, batch_id: str, result: BatchResult) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET state = 'done', leads = '[]', created_refs = ?, failed = ? "
                "WHERE batch_id = ?",
                (json.dumps(result.created_refs), json.dumps(result.failed), batch_id),
            )

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """A batch's state: `queued` or `done` with its `created_refs` and `failed`."""
        with self._lock:
            row = self._db.execute(
                "SELECT state, created_refs, failed FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
        if row is None:
            return None
        state, refs, failed = row
        return {
            "batch_id": batch_id,
            "state": state,
            "created_refs": json.loads(refs) if refs else [],
            "failed": json.loads(failed) if failed else [],
        }

    # -- reading -----------------------------------------------------------------------------

    def list_leads(
        self, token: str, query: LeadQuery, order: str = "newest"
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the account's leads, and how many match in all.

        ``order``: "newest" first (the default), "oldest" first, or by "reference".
        """
        sort = {"newest": "seq DESC", "oldest": "seq", "reference": "reference"}[order]
        where = ["account = ?"]
        args: list[Any] = [account_of(token)]
        if query.keyword:
            column = SEARCHABLE[query.search_by]
            escaped = query.keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = {
                "exact": "{}",
                "partial": "%{}%",
                "starts_with": "{}%",
                "ends_with": "%{}",
            }[query.match_type].format(escaped)
            # LIKE is case-insensitive (ASCII), as the real server's MySQL collation is
            where.append(f"{column} LIKE ? ESCAPE '\\'")
            args.append(pattern)
        if query.start_at:
            where.append("created_at >= ?")
            args.append(query.start_at)
        if query.end_at:
            where.append("created_at <= ?")
            args.append(query.end_at)
        condition = " AND ".join(where)
        offset = (query.page - 1) * query.per_page
        with self._lock:
            (total,) = self._db.execute(
                f"SELECT COUNT(*) FROM leads WHERE {condition}", args
            ).fetchone()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM leads WHERE {condition} ORDER BY {sort} LIMIT ? OFFSET ?",
                [*args, query.per_page, offset],
            ).fetchall()
        return [_lead(row) for row in rows], total

    def find(self, token: str, reference: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM leads WHERE account = ? AND reference = ?",
                (account_of(token), reference),
            ).fetchone()
        return _lead(row) if row else None

    def leads(self, token: str) -> list[dict[str, Any]]:
        """Every lead the account has, oldest first (a test and benchmark hook)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM leads WHERE account = ? ORDER BY seq", (account_of(token),)
            ).fetchall()
        return [_lead(row) for row in rows]

    def backdate(self, token: str, seconds: float) -> None:
        """Moves every lead of the account `seconds` into the past (a test hook: "created
        yesterday", so that a listing `start_at` today leaves them out)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, created_at FROM leads WHERE account = ?", (account_of(token),)
            ).fetchall()
            moved = []
            for seq, created_at in rows:
                when = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                earlier = datetime.fromtimestamp(when.timestamp() - seconds, UTC)
                moved.append((earlier.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), seq))
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE leads SET created_at = ? WHERE seq = ?", moved)
            self._db.execute("COMMIT")

    def count(self, token: str) -> int:
        with self._lock:
            (total,) = self._db.execute(
                "SELECT COUNT(*) FROM leads WHERE account = ?", (account_of(token),)
            ).fetchone()
        return int(total)

    def known_refs(self, token: str, refs: Iterable[str]) -> frozenset[str]:
        """Which of these references belong to the account."""
        return frozenset(self._select(token, "reference", refs))

    def statuses_by_id(self, token: str, ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these lead ids that belong to the account."""
        return dict(self._select(token, "id", ids, extra="status"))

    def _select(self, token: str, column: str, values: Iterable[str], extra: str = "") -> list[Any]:
        wanted = list(dict.fromkeys(v for v in values if isinstance(v, str)))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        picked = f"{column}, {extra}" if extra else column
        with self._lock:
            rows = self._db.execute(
                f"SELECT {picked} FROM leads WHERE account = ? AND {column} IN ({marks})",
                [account_of(token), *wanted],
            ).fetchall()
        return [tuple(row) if extra else row[0] for row in rows]

    # -- changing ----------------------------------------------------------------------------

    def update(self, token: str, updates: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Applies checked status updates in one transaction; returns `{id, reference}` each."""
        account = account_of(token)
        changed_at = now_text()
        out: list[dict[str, str]] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for item in updates:
                    ref = str(clean(item["reference"]))
                    status = str(clean(item["status"])).lower()
                    action_date = clean(item.get("action_date"))
                    row = self._db.execute(
                        "SELECT id, histories FROM leads WHERE account = ? AND reference = ?",
                        (account, ref),
                    ).fetchone()
                    lead_id, histories = row
                    history = json.loads(histories)
                    history.append(
                        {
                            "status": status,
                            "label": STATUSES[status],
                            "action_date": action_date,
                            "created_at": changed_at,
                        }
                    )
                    self._db.execute(
                        "UPDATE leads SET status = ?, action_date = ?, histories = ? WHERE id = ?",
                        (status, action_date, json.dumps(history), lead_id),
                    )
                    out.append({"id": lead_id, "reference": ref})
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return out

    def delete(self, token: str, ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        marks = ", ".join("?" * len(wanted))
        with self._lock:
            cursor = self._db.execute(
                f"DELETE FROM leads WHERE account = ? AND id IN ({marks})",
                [account_of(token), *wanted],
            )
        return cursor.rowcount


def _number(value: object) -> int | float:
    number = as_number(value)
    return int(number) if number.is_integer() else number


def _row(lead_id: str, account: str, ref: str, lead: dict[str, Any], at: str) -> tuple[Any, ...]:
    """The INSERT values of one valid lead, cleaned as the server would store it."""
    products = [
        {
            "sku": clean(p["sku"]),
            "quantity": _number(clean(p["quantity"])),
            "total": _number(clean(p["total"])),
        }
        for p in lead["products"]
    ]
    entries = [
        {"key": clean(e.get("key")), "value": clean(e.get("value"))}
        for e in lead.get("data") or ()
        if clean(e.get("key")) is not None
    ]
    return (
        lead_id,
        ref,
        clean(lead["full_name"]),
        clean(lead["phone"]),
        clean(lead["city"]),
        clean(lead.get("area")),
        clean(lead["address"]),
        json.dumps(entries),
        json.dumps(products),
        at,
        account,
    )


def _lead(row: tuple[Any, ...]) -> dict[str, Any]:
    (lead_id, ref, name, phone, city, area, address, status, action_date, data, products,
     histories, created_at) = row  # fmt: skip
    return {
        "id": lead_id,
        "reference": ref,
        "full_name": name,
        "phone": phone,
        "status": status,
        "action_date": action_date,
        "city": city,
        "area": area,
        "address": address,
        "data": json.loads(data),
        "products": json.loads(products),
        "leadHistories": json.loads(histories),
        "created_at": created_at,
    }
