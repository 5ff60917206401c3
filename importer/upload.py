"""Sending leads exactly once: checked against the server, batched, paced, settled by lookup."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from importer.client import (
    ApiError,
    AuthError,
    BadResponse,
    Interrupted,
    LeadsClient,
    RateLimited,
    ValidationFailed,
)
from importer.ledger import CREATED, QUEUED, Ledger, LedgerEntry
from importer.model import IMPORT_ID_KEY, FieldError, Lead, LeadOutcome, Outcome

MAX_BATCH = 100
_FIELD_KEY = re.compile(r"^data\.(\d+)(?:\.(.+))?$")


@dataclass(frozen=True)
class UploadOptions:
    batch_size: int = 10  # 1..100 leads per request
    workers: int = 4  # requests in flight at once
    wait: float = 60.0  # seconds to look up the leads of a 202 batch before calling them queued
    max_attempts: int = 6  # per batch, for transient failures (429 has its own budget)
    breaker_threshold: int = 8  # consecutive transient failures (429 excluded) -> CircuitOpen
    since: datetime | None = None  # lower bound of lookups (default: send time minus slack)
    stop: threading.Event | None = None  # set on Ctrl-C / SIGTERM: no new batch is started
    progress: Callable[[int], None] | None = None  # called with the number of leads settled
    #: called after each batch (from its worker thread) with the outcomes its leads got (none
    #: for leads a stop left unsent), how many leads it held, and the seconds it took
    on_batch: Callable[[Sequence[LeadOutcome], int, float], None] | None = None
    rate_limit_attempts: int = 60  # 429s tolerated per batch before its leads are failed
    backoff: float = 0.5  # first backoff step, seconds (doubles, full jitter)
    max_backoff: float = 30.0
    max_wait: float = 60.0  # the longest single wait, whatever a Retry-After asks
    lookup_slack: float = 60.0  # seconds subtracted from send times in lookups (clock skew)
    #: Seconds the listing of the account's leads reaches back before the last complete one:
    #: leads committed while it was read, or processed late from a queue, are not missed.
    sync_slack: float = 600.0
    #: The docs' default: bigger batches may be processed asynchronously, so after a lost
    #: answer their leads are looked up for `wait` seconds before they count as absent.
    sync_threshold: int = 10


class RunStopped(ApiError):
    """The API stopped the run before every lead was tried.

    ``outcomes`` has every lead's (those never tried: ``failed``, "not sent"); ``cause`` is
    the error that stopped it (None: the breaker); ``sent`` says whether any POST was made.
    """

    def __init__(
        self,
        message: str,
        outcomes: Sequence[LeadOutcome] = (),
        *,
        cause: ApiError | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message, status=cause.status if cause else None)
        self.outcomes: list[LeadOutcome] = list(outcomes)
        self.cause = cause
        self.sent = sent

    def __str__(self) -> str:
        return self.message


class CircuitOpen(RunStopped):
    """Too many transient failures in a row: the run stopped. ``outcomes`` has every lead's."""

    transient = True


# --- what the server already holds --------------------------------------------------------


@dataclass(frozen=True)
class ServerSync:
    """One listing of the account's leads: requests made, leads listed, from when."""

    requests: int
    leads: int
    since: datetime | None  # None: the whole account was listed


def sync_server_keys(
    client: LeadsClient, ledger: Ledger, *, slack: float, per_page: int = 100
) -> ServerSync:
    """Bring the ledger's copy of the account's ``import_id``s up to date.

    The first time, every lead of the account is listed (``ceil(N / per_page)`` requests);
    after that only those created since the last complete listing, minus ``slack`` seconds
    (``GET /leads?start_at=...``). The listing goes to its last page: nothing depends on the
    order of the leads. When the leads listed are fewer than the server announced (pages
    shifted under deletions), it is read once more. Raises ``ApiError`` when the listing
    cannot be completed: then nothing may be sent.
    """
    last = ledger.server_synced_at()
    since = last - timedelta(seconds=slack) if last is not None else None
    requests = leads = 0
    for attempt in (1, 2):
        started = datetime.now(UTC)
        snapshot: datetime | None = None
        announced: int | None = None
        refs: set[str] = set()
        unnamed = 0
        for got in client.pages(
            start_at=_start_at(since) if since is not None else None, per_page=per_page
        ):
            requests += 1
            if snapshot is None:
                # the server's clock, unless ours is earlier: a lower bound must not be late
                snapshot = min(got.served_at or started, started)
                announced = got.total
            pairs = []
            for item in got.items:
                ref = item.get("reference")
                if ref is None:
                    unnamed += 1
                    continue
                refs.add(str(ref))
                key = _import_id(item)
                if key is not None:
                    pairs.append((key, str(ref)))
            ledger.record_server_keys(pairs)
        leads = len(refs) + unnamed
        if announced is None or leads >= announced:
            break
        if attempt == 2:
            raise BadResponse(
                f"GET /leads announced {announced} leads but listed {leads} different ones, "
                "twice: the account's leads cannot be checked for duplicates"
            )
    ledger.finish_server_sync(snapshot or started)
    return ServerSync(requests=requests, leads=leads, since=since)


# --- finding leads on the server ----------------------------------------------------------


Wanted = tuple[str, str]  # (import key, phone)


def _import_id(item: dict[str, Any]) -> str | None:
    entries = item.get("data")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("key") == IMPORT_ID_KEY:
            value = entry.get("value")
            return None if value is None else str(value)
    return None


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _start_at(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LeadFinder:
    """Finds our leads on the server by ``import_id`` + phone, sharing what it saw.

    One listing page of everything created since a batch was sent usually holds the whole
    batch (and other workers' leads, kept for their own lookups); per-phone exact searches
    settle the leftovers only when a definite answer is needed.
    """

    def __init__(self, client: LeadsClient, per_page: int = 100) -> None:
        self.client = client
        self.per_page = per_page
        self._seen: dict[str, list[tuple[str, str]]] = {}  # import_id -> [(phone, ref)]
        self._seen_lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self.calls = 0

    def _keep(self, items: Sequence[dict[str, Any]]) -> None:
        with self._seen_lock:
            for item in items:
                key = _import_id(item)
                ref = item.get("reference")
                if key is None or ref is None:
                    continue
                pairs = self._seen.setdefault(key, [])
                pair = (str(item.get("phone") or ""), str(ref))
                if pair not in pairs:
                    pairs.append(pair)

    def cached(self, wanted: Sequence[Wanted]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._seen_lock:
            for key, phone in wanted:
                for seen_phone, ref in self._seen.get(key, ()):
                    if seen_phone == phone or _digits(seen_phone) == _digits(phone):
                        found[key] = ref
                        break
        return found

    def find(self, wanted: Sequence[Wanted], since: datetime, *, thorough: bool) -> dict[str, str]:
        """Refs of the wanted leads present on the server. Raises ``ApiError`` if it cannot say.

        ``thorough``: leads not in the answer are surely absent (costs per-phone searches).
        """
        found = self.cached(wanted)
        if len(found) == len(wanted):
            return found
        # one scan at a time: what one worker lists, the others find in the cache
        with self._scan_lock:
            found = self.cached(wanted)
            missing = [w for w in wanted if w[0] not in found]
            if not missing:
                return found
            exhaustive = self._scan_listing(missing, since, max_pages=2 + len(missing) // 50)
            found = self.cached(wanted)
            if exhaustive or not thorough or len(found) == len(wanted):
                return found
            phones = list(dict.fromkeys(phone for key, phone in wanted if key not in found))
            # each search is a round trip: a few at once (the Session's pool allows it)
            with ThreadPoolExecutor(max_workers=min(4, len(phones))) as pool:
                list(pool.map(lambda phone: self._scan_phone(phone, since), phones))
            return self.cached(wanted)

    def _scan_listing(self, missing: Sequence[Wanted], since: datetime, max_pages: int) -> bool:
        """Page through leads created since ``since``; True if every page was seen."""
        for got in self.client.pages(start_at=_start_at(since), per_page=self.per_page):
            with self._seen_lock:
                self.calls += 1
            self._keep(got.items)
            if got.is_last(self.per_page):
                return True
            if len(self.cached(missing)) == len(missing) or got.page >= max_pages:
                return False
        return True

    def _scan_phone(self, phone: str, since: datetime) -> None:
        for got in self.client.pages(
            keyword=phone,
            search_by="phone",
            match_type="exact",
            start_at=_start_at(since),
            per_page=self.per_page,
        ):
            with self._seen_lock:
                self.calls += 1
            self._keep(got.items)

    def poll(
        self,
        wanted: Sequence[Wanted],
        since: datetime,
        deadline: float,
        halt: Callable[[], bool] = lambda: False,
        *,
        prove_absence: bool = True,
    ) -> dict[str, str]:
        """Look the leads up until all are found or ``deadline`` (monotonic) passes.

        With ``prove_absence`` the last lookup is thorough, so leads missing from the answer
        are not on the server (yet). Stops early, without the thorough lookup, when
        ``halt()`` says so.
        """
        # async processing takes a moment: looking at once mostly costs a call for nothing
        _nap(min(0.5, max(0.0, deadline - time.monotonic())), halt)
        pause = 0.5
        while True:
            final = time.monotonic() >= deadline
            found = self.find(wanted, since, thorough=final and prove_absence)
            if len(found) == len(wanted) or final:
                return found
            if halt():
                return found
            _nap(max(0.0, min(pause, deadline - time.monotonic())), halt)
            pause = min(pause * 2, 5.0)


def _nap(seconds: float, halt: Callable[[], bool]) -> None:
    """Sleep ``seconds``, or less when ``halt()`` turns true (checked every 0.1 s)."""
    end = time.monotonic() + seconds
    while not halt():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))


# --- pacing and the breaker ---------------------------------------------------------------


class Pacer:
    """One gate for every worker: a 429 slows the whole uploader, not just one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_before = 0.0

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait(self, halt: Callable[[], bool]) -> None:
        """Until the gate opens, or ``halt()`` turns true."""
        while not halt():
            with self._lock:
                delay = self._not_before - time.monotonic()
            if delay <= 0:
                return
            time.sleep(min(delay, 0.1))


class Breaker:
    """Counts consecutive transient failures across workers; trips at the threshold."""

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self._lock = threading.Lock()
        self._failures = 0
        self.tripped = False
        self.last_error = ""

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, err: Exception) -> bool:
        """Count a failure; True when the breaker is (now) open."""
        with self._lock:
            self._failures += 1
            self.last_error = str(err)
            if self._failures >= self.threshold:
                self.tripped = True
            return self.tripped

    def trip(self, err: Exception) -> None:
        """Open at once: one batch ran out of attempts, so the API is not usable now."""
        with self._lock:
            self.last_error = str(err)
            self.tripped = True


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (attempt counts from 1)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


# --- the upload ---------------------------------------------------------------------------


def _rejections(
    err: ValidationFailed, batch: Sequence[Lead]
) -> dict[int, tuple[FieldError, ...]] | None:
    """422 fields per lead index of the batch; None when they cannot be placed on leads."""
    per_lead: dict[int, list[FieldError]] = {}
    for name, messages in err.fields.items():
        match = _FIELD_KEY.match(name)
        if not match or int(match.group(1)) >= len(batch):
            return None
        index, field = int(match.group(1)), match.group(2) or ""
        per_lead.setdefault(index, []).extend(FieldError(field, m) for m in messages)
    if not per_lead:
        return None
    return {i: tuple(errors) for i, errors in per_lead.items()}


class _Upload:
    """One run's shared state: outcomes so far, the pacing gate, the breaker, the finder."""

    def __init__(
        self, client: LeadsClient, ledger: Ledger, run_id: int | None, options: UploadOptions
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.run_id = run_id
        self.options = options
        self.finder = LeadFinder(client)
        self.pacer = Pacer()
        self.breaker = Breaker(options.breaker_threshold)
        self.halt = threading.Event()  # stop asked, breaker open, or a worker hit a fatal error
        self.fatal: BaseException | None = None
        self.outcomes: dict[str, LeadOutcome] = {}
        self._lock = threading.Lock()
        self.slack = timedelta(seconds=options.lookup_slack)
        self.sent = False  # whether any POST was made in this run
        self.sync: ServerSync | None = None

    # --- bookkeeping --------------------------------------------------------------------------

    def stopping(self) -> bool:
        stop = self.options.stop
        if stop is not None and stop.is_set():
            self.halt.set()
        return self.halt.is_set()

    def nap(self, seconds: float) -> None:
        """Wait ``seconds`` (at most ``max_wait``), less when the run stops."""
        _nap(min(seconds, self.options.max_wait), self.stopping)

    def settle(self, outcomes: Sequence[LeadOutcome], *, record: bool = True) -> None:
        if not outcomes:
            return
        if record:
            self.ledger.record_outcomes(outcomes)
        with self._lock:
            for outcome in outcomes:
                self.outcomes[outcome.key] = outcome
        if self.options.progress is not None:
            self.options.progress(len(outcomes))

    def since(self, sent_at: datetime) -> datetime:
        return self.options.since or (sent_at - self.slack)

    def finish(self, leads: Sequence[Lead], reason: str) -> list[LeadOutcome]:
        """Every lead's outcome, in input order; leads never tried are ``failed``, not sent."""
        return [
            self.outcomes.get(lead.key)
            or LeadOutcome(
                lead.key,
                Outcome.FAILED,
                message=f"Not sent: {reason} before this lead's turn. Run the import again.",
            )
            for lead in leads
        ]

    # --- before anything is sent --------------------------------------------------------------

    def check_server(self, todo: Sequence[Lead], entries: dict[str, LedgerEntry]) -> None:
        """Leads the server already holds (same ``import_id``) are settled, never sent.

        They were created by an earlier run of ours (``created``: it had left them in doubt)
        or by another machine, ledger or installation (``skipped``, with the server's ref).
        """
        self.sync = sync_server_keys(self.client, self.ledger, slack=self.options.sync_slack)
        refs = self.ledger.server_refs([lead.key for lead in todo])
        found = [(lead, refs[lead.key]) for lead in todo if lead.key in refs]
        if not found:
            return
        self.ledger.record_found(found)
        outcomes = []
        for lead, ref in found:
            entry = entries.get(lead.key)
            kind = Outcome.CREATED if entry is not None and entry.in_doubt else Outcome.SKIPPED
            outcomes.append(LeadOutcome(lead.key, kind, ref=ref))
        self.settle(outcomes, record=False)

    def resolve_in_doubt(self, leads: Sequence[Lead], entries: dict[str, LedgerEntry]) -> None:
        """Settle leads an earlier run left in doubt; those surely absent stay to be sent."""
        doubtful = [lead for lead in leads if lead.key in entries and entries[lead.key].in_doubt]
        if not doubtful:
            return
        found, unknown = resolve(self.finder, [entries[lead.key] for lead in doubtful], self)
        self.settle(
            [LeadOutcome(key, Outcome.CREATED, ref=ref) for key, ref in found.items()]
            + [LeadOutcome(key, Outcome.UNCERTAIN, message=why) for key, why in unknown.items()]
        )

    # --- one batch ----------------------------------------------------------------------------

    def send_batch(self, batch: Sequence[Lead]) -> None:
        options = self.options
        pending = list(batch)
        attempts = 0
        limited = 0
        while pending:
            if self.stopping():
                return  # never sent (or surely not committed): the caller reports them
            self.pacer.wait(self.stopping)
            if self.stopping():
                return
            keys = [lead.key for lead in pending]
            sent_at = self.ledger.record_sending(f"b-{uuid.uuid4().hex[:12]}", pending, self.run_id)
            self.sent = True
            try:
                result = self.client.create_leads([lead.payload() for lead in pending])
            except AuthError:
                self.ledger.record_unsent(keys)
                raise
            except ValidationFailed as err:
                self.ledger.record_unsent(keys)
                pending = self._reject(err, pending)
                continue
            except RateLimited as err:
                # a 429 is an answer: nothing was stored
                self.ledger.record_unsent(keys)
                limited += 1
                if limited > options.rate_limit_attempts:
                    self._fail(pending, f"Still rate limited after {limited} tries: {err}")
                    return
                wait = err.retry_after
                if wait is None:
                    wait = _backoff(limited, options.backoff, options.max_backoff)
                self.pacer.hold(min(wait, options.max_wait))
                continue
            except ApiError as err:
                if err.fatal:
                    # answered, but not usably (a redirect): in doubt, and the run stops
                    message = (
                        f"The server's answer could not be used ({err}); the lead is looked "
                        "up before it is ever sent again."
                    )
                    self.settle([LeadOutcome(k, Outcome.UNCERTAIN, message=message) for k in keys])
                    raise
                attempts += 1
                if self.breaker.failure(err):
                    self.halt.set()
                if err.in_doubt:
                    pending = self._look_up_after_doubt(pending, sent_at, err)
                else:
                    self.ledger.record_unsent(keys)
                if not pending:
                    return
                if attempts >= options.max_attempts:
                    self._fail(pending, f"Gave up after {attempts} attempts: {err}")
                    self.breaker.trip(err)
                    self.halt.set()
                    return
                self.nap(_backoff(attempts, options.backoff, options.max_backoff))
                continue
            self.breaker.success()
            self._accepted(pending, result.mode, result.created_refs, result.failed_count, sent_at)
            return

    def _reject(self, err: ValidationFailed, pending: list[Lead]) -> list[Lead]:
        per_lead = _rejections(err, pending)
        if per_lead is None:  # not about one lead: the whole request was refused
            fields = tuple(
                FieldError(name, message)
                for name, messages in err.fields.items()
                for message in messages
            )
            self.settle(
                [
                    LeadOutcome(lead.key, Outcome.REJECTED, errors=fields, message=err.message)
                    for lead in pending
                ]
            )
            return []
        self.settle(
            [
                LeadOutcome(pending[i].key, Outcome.REJECTED, errors=errors)
                for i, errors in sorted(per_lead.items())
            ]
        )
        # nothing of a 422 batch was created: the others go again
        return [lead for i, lead in enumerate(pending) if i not in per_lead]

    def _fail(self, leads: Sequence[Lead], message: str) -> None:
        self.settle([LeadOutcome(lead.key, Outcome.FAILED, message=message) for lead in leads])

    def _look_up_after_doubt(
        self, pending: list[Lead], sent_at: datetime, err: ApiError
    ) -> list[Lead]:
        """After a lost answer: settle what the server has; return what it surely has not."""
        wanted = [(lead.key, lead.phone) for lead in pending]
        since = self.since(sent_at)
        try:
            if len(pending) > self.options.sync_threshold:
                # the server may have queued the batch: give it the time a 202 would get
                deadline = time.monotonic() + self.options.wait
                # the server accepted them: what is not found yet is `queued`, not absent,
                # so no per-phone searches (under a rate limit they would eat the budget)
                found = self.finder.poll(
                    wanted, since, deadline, self.stopping, prove_absence=False
                )
            else:
                found = self.finder.find(wanted, since, thorough=True)
        except ApiError as lookup_err:
            self.settle(
                [
                    LeadOutcome(
                        lead.key,
                        Outcome.UNCERTAIN,
                        message=f"The server's answer was lost ({err}) and the lead could not "
                        f"be looked up ({lookup_err}); the next run will look again.",
                    )
                    for lead in pending
                ]
            )
            return []
        self.settle([LeadOutcome(key, Outcome.CREATED, ref=ref) for key, ref in found.items()])
        rest = [lead for lead in pending if lead.key not in found]
        if rest and self.stopping():
            # the lookup was cut short: absent is not established, so they stay in doubt
            message = (
                f"The server's answer was lost ({err}) and the run stopped before the lead "
                "could be looked up; the next run will look again."
            )
            self.settle(
                [LeadOutcome(lead.key, Outcome.UNCERTAIN, message=message) for lead in rest]
            )
            return []
        self.ledger.record_unsent([lead.key for lead in rest])
        return rest

    def _accepted(
        self,
        pending: Sequence[Lead],
        mode: str,
        refs: Sequence[str],
        failed_count: int,
        sent_at: datetime,
    ) -> None:
        if mode == "sync" and failed_count == 0 and len(refs) == len(pending):
            self.settle(
                [
                    LeadOutcome(lead.key, Outcome.CREATED, ref=ref)
                    for lead, ref in zip(pending, refs, strict=True)
                ]
            )
            return
        wanted = [(lead.key, lead.phone) for lead in pending]
        since = self.since(sent_at)
        try:
            if mode == "sync":
                # refs cannot be matched to leads by position once some failed
                found = self.finder.find(wanted, since, thorough=True)
            else:
                deadline = time.monotonic() + self.options.wait
                # the server accepted them: what is not found yet is `queued`, not absent,
                # so no per-phone searches (under a rate limit they would eat the budget)
                found = self.finder.poll(
                    wanted, since, deadline, self.stopping, prove_absence=False
                )
        except ApiError as err:
            left = Outcome.QUEUED if mode != "sync" else Outcome.UNCERTAIN
            self.settle(
                [
                    LeadOutcome(
                        lead.key,
                        left,
                        message=f"Accepted by the server, but the lookup failed ({err}); "
                        "the next run will look again.",
                    )
                    for lead in pending
                ]
            )
            return
        out = [LeadOutcome(key, Outcome.CREATED, ref=ref) for key, ref in found.items()]
        missing = [lead for lead in pending if lead.key not in found]
        # Failed only when the answer adds up: as many refs as leads found, as many failures
        # as leads missing. Otherwise the missing ones may exist without showing in the
        # listing yet: they stay in doubt, looked up again before they are ever re-sent.
        adds_up = len(refs) == len(found) and failed_count == len(missing)
        for lead in missing:
            if mode == "sync" and adds_up:
                message = "The server could not process this lead."
                out.append(LeadOutcome(lead.key, Outcome.FAILED, message=message))
            elif mode == "sync":
                message = (
                    f"The server answered {len(refs)} refs and {failed_count} failures for "
                    f"{len(pending)} leads, and this one is not in its listing yet: it may "
                    "have been created. It is looked up again before it is ever sent again "
                    "(`wedocod reconcile`)."
                )
                out.append(LeadOutcome(lead.key, Outcome.UNCERTAIN, message=message))
            else:
                message = (
                    f"Accepted for processing, but not on the server after {self.options.wait:g} s;"
                    " the next run (or `wedocod reconcile`) will look again."
                )
                out.append(LeadOutcome(lead.key, Outcome.QUEUED, message=message))
        self.settle(out)


def resolve(
    finder: LeadFinder, entries: Sequence[LedgerEntry], run: _Upload
) -> tuple[dict[str, str], dict[str, str]]:
    """Look up in-doubt ledger entries: (found key -> ref, unknown key -> why).

    Entries found neither way are absent: an entry sent less than ``wait`` ago is polled
    until ``sent_at + wait`` (an async batch may still be processing), the rest is looked
    up once, thoroughly.
    """
    now = datetime.now(UTC)
    sent = [e.sent_at or now for e in entries]
    since = run.options.since or (min(sent) - run.slack)
    # Only a batch the server may have queued (202, or larger than its sync threshold) can
    # still be processing; a sync batch that committed is visible at once, so a restart
    # after a crash need not sit out `wait` for leads the dead run never got to send.
    sizes: dict[str | None, int] = {}
    for e in entries:
        sizes[e.batch] = sizes.get(e.batch, 0) + 1
    maybe_async = [
        e.sent_at or now
        for e in entries
        if e.state == QUEUED or sizes[e.batch] > run.options.sync_threshold
    ]
    remaining = 0.0
    if maybe_async:
        newest = max(maybe_async)
        remaining = max(
            0.0, min(run.options.wait, (newest - now).total_seconds() + run.options.wait)
        )
    wanted = [(e.key, e.phone) for e in entries]
    try:
        found = finder.poll(wanted, since, time.monotonic() + remaining, run.stopping)
    except ApiError as err:
        why = f"Left in doubt by an earlier run and the lookup failed ({err}); not sent again."
        return {}, {e.key: why for e in entries}
    if run.stopping() and len(found) < len(entries):
        why = "Left in doubt by an earlier run; the run stopped before it could be looked up."
        return found, {e.key: why for e in entries if e.key not in found}
    return found, {}


def _chunks(items: Sequence[Lead], size: int) -> Iterator[list[Lead]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def upload_leads(
    client: LeadsClient,
    leads: Sequence[Lead],
    ledger: Ledger,
    run_id: int | None,
    options: UploadOptions,
) -> list[LeadOutcome]:
    """Create each lead exactly once; one outcome per lead, in input order.

    Before anything is sent, the leads to send are checked against the account's
    ``import_id``s on the server (``sync_server_keys``: the whole account the first time,
    what is new since then afterwards); those found are ``skipped``. Leads an earlier run
    left in doubt are looked up; only what is surely absent is sent.

    Raises ``RunStopped`` (every lead's outcome attached, ``cause`` the error) when the API
    cannot be used: token refused, a redirect, the listing impossible (then nothing was
    sent), or ``CircuitOpen`` when transient failures keep coming. A stop asked through
    ``options.stop`` is no error: the leads never tried are reported not sent. Give the
    client the same ``stop`` event so that its waits and requests in flight end too.
    """
    run = _Upload(client, ledger, run_id, options)
    unique = list({lead.key: lead for lead in reversed(leads)}.values())[::-1]
    entries = ledger.known([lead.key for lead in unique])
    skipped = [
        LeadOutcome(lead.key, Outcome.SKIPPED, ref=entries[lead.key].ref)
        for lead in unique
        if lead.key in entries and entries[lead.key].state == CREATED
    ]
    with run._lock:
        run.outcomes.update((o.key, o) for o in skipped)
    if options.progress is not None and skipped:
        options.progress(len(skipped))
    todo = [lead for lead in unique if lead.key not in run.outcomes]
    if not todo:
        return run.finish(leads, "the run was stopped")
    if run.stopping():
        return run.finish(leads, "the run was stopped")
    try:
        run.check_server(todo, entries)
    except Interrupted:
        return run.finish(leads, "the run was stopped")
    except ApiError as err:
        reason = "the account's leads could not be checked for duplicates"
        raise RunStopped(
            f"Nothing was sent: {reason} ({err}). Run the import again later.",
            run.finish(leads, reason),
            cause=err,
            sent=False,
        ) from err
    todo = [lead for lead in todo if lead.key not in run.outcomes]
    run.resolve_in_doubt(todo, entries)
    todo = [lead for lead in todo if lead.key not in run.outcomes]

    size = max(1, min(MAX_BATCH, options.batch_size))
    batches = _chunks(todo, size)
    batches_lock = threading.Lock()

    def worker() -> None:
        try:
            while not run.stopping():
                with batches_lock:
                    batch = next(batches, None)
                if batch is None:
                    return
                started = time.monotonic()
                run.send_batch(batch)
                if options.on_batch is not None:
                    with run._lock:
                        got = [run.outcomes[lead.key] for lead in batch if lead.key in run.outcomes]
                    options.on_batch(got, len(batch), time.monotonic() - started)
        except BaseException as err:  # handed to the caller's thread below
            with run._lock:
                run.fatal = run.fatal or err
            run.halt.set()

    threads = [
        threading.Thread(target=worker, name=f"upload-{n}", daemon=True)
        for n in range(max(1, min(options.workers, (len(todo) + size - 1) // size)))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins keep the main thread responsive to signals
    except BaseException:
        run.halt.set()
        raise
    fatal = run.fatal
    if isinstance(fatal, ApiError):
        if isinstance(fatal, AuthError):
            reason = "the API refused the token"
            message = (
                f"The API refused the token ({fatal}): check WEDOCOD_TOKEN or --token-file, "
                "then run the import again; it resumes where this one stopped."
            )
        else:
            reason = "the API could not be used"
            message = f"Stopped: {fatal}"
        raise RunStopped(message, run.finish(leads, reason), cause=fatal, sent=run.sent) from fatal
    if fatal is not None:
        raise fatal
    if run.breaker.tripped:
        reason = f"the API kept failing ({run.breaker.last_error})"
        raise CircuitOpen(
            f"Stopped: the API kept failing, last with: {run.breaker.last_error}. "
            "Run the import again later; it resumes where this one stopped.",
            run.finish(leads, reason),
        )
    return run.finish(leads, "the run was stopped")


def reconcile(client: LeadsClient, ledger: Ledger, options: UploadOptions) -> list[LeadOutcome]:
    """Settle every lead the ledger holds in doubt by looking it up; nothing is sent.

    Found: ``created``. Surely absent: ``failed`` (importing the file again sends it).
    Lookups impossible: ``uncertain``.
    """
    entries = ledger.in_doubt()
    if not entries:
        return []
    run = _Upload(client, ledger, None, options)
    found, unknown = resolve(run.finder, entries, run)
    out: list[LeadOutcome] = []
    for entry in entries:
        if entry.key in found:
            out.append(LeadOutcome(entry.key, Outcome.CREATED, ref=found[entry.key]))
        elif entry.key in unknown:
            out.append(LeadOutcome(entry.key, Outcome.UNCERTAIN, message=unknown[entry.key]))
        else:
            out.append(
                LeadOutcome(
                    entry.key,
                    Outcome.FAILED,
                    message="Not on the server: import the file again to send it.",
                )
            )
    run.settle(out)
    return out
