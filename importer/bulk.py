"""What the bulk writes (update, delete) share: batches of 100, one capped retry loop, outcomes.

A status update or a delete may be sent again after a lost answer (the second PUT sets the
same status; a second DELETE finds the ids gone), unlike a create: so these retry 5xx, lost
answers and connect errors here, a few times with backoff, and wait out 429s as the server
asks. Everything else (401, 403, 404, 422, an unreadable answer) goes back to the caller.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from importer.client import ConnectFailed, RateLimited, ResponseLost, ServerError
from importer.errors import ApiError
from importer.model import Issue

__all__ = [
    "MAX_PER_REQUEST",
    "GaveUp",
    "Interrupted",
    "ItemOutcome",
    "RetryPolicy",
    "Sender",
    "chunks",
    "errors_by_item",
]

#: The API's limit on items per bulk request (`leads` of PUT, `ids` of DELETE).
MAX_PER_REQUEST = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one source row of an update or a delete: one line of its report.

    ``outcome`` is the command's word (`updated`, `deleted`, `refused`, ...); ``lead_id`` the
    lead's id when known; ``columns`` the source headers whose cells are at fault.
    """

    row: int
    outcome: str
    lead_id: str | None = None
    errors: tuple[Issue, ...] = ()
    columns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request is tried. 429s are not failures: they have their own budget."""

    attempts: int = 6  # tries for 5xx, lost answers and connect errors
    backoff: float = 0.5  # first wait in seconds; doubles, full jitter
    max_backoff: float = 30.0
    rate_limit_waits: int = 60  # 429 answers one request may get before it is given up
    max_rate_limit_wait: float = 120.0  # a longer Retry-After is cut to this


class Interrupted(Exception):
    """Stop was asked (Ctrl-C, SIGTERM) between requests; ``doubtful``: the last attempt of
    the request given up went out and got no usable answer (it may have been applied)."""

    def __init__(self, *, doubtful: bool = False) -> None:
        super().__init__("interrupted")
        self.doubtful = doubtful


class GaveUp(ApiError):
    """A request kept failing past the policy's budget; ``doubtful``: an answer was lost."""

    transient = True

    def __init__(self, message: str, *, doubtful: bool) -> None:
        super().__init__(message)
        self.doubtful = doubtful


class Sender:
    """Sends one request at a time, again after 429, 5xx and lost answers, within a policy.

    After `send`, ``doubted`` says whether an earlier attempt of that request went out and
    got no usable answer (it may have been applied: a delete retried after that finds its
    ids gone). ``requests`` and ``rate_limited`` count the run's requests and 429s.
    """

    def __init__(self, policy: RetryPolicy | None = None, stop: threading.Event | None = None):
        self.policy = policy or RetryPolicy()
        self.stop = stop
        self.requests = 0
        self.rate_limited = 0
        self.doubted = False

    def send(self, call: Callable[[], T]) -> T:
        policy = self.policy
        self.doubted = False
        failures = limited = 0
        while True:
            self.requests += 1
            try:
                return call()
            except RateLimited as err:  # an answer: nothing was applied
                limited += 1
                self.rate_limited += 1
                if limited >= policy.rate_limit_waits:
                    raise GaveUp(
                        f"Still rate limited after {limited} tries: {err}", doubtful=self.doubted
                    ) from err
                wait = err.retry_after
                if wait is None:
                    wait = _backoff(limited, policy.backoff, policy.max_backoff)
                self._pause(min(wait, policy.max_rate_limit_wait))
            except (ServerError, ResponseLost, ConnectFailed) as err:
                failures += 1
                self.doubted = self.doubted or err.in_doubt
                if failures >= policy.attempts:
                    raise GaveUp(
                        f"Gave up after {failures} attempts: {err}", doubtful=self.doubted
                    ) from err
                self._pause(_backoff(failures, policy.backoff, policy.max_backoff))

    def check(self) -> None:
        """Raise Interrupted if stop was asked (before a request a caller may skip)."""
        if self.stop is not None and self.stop.is_set():
            raise Interrupted

    def _pause(self, seconds: float) -> None:
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Interrupted(doubtful=self.doubted)


def _backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter (attempt counts from 1)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def chunks(items: Sequence[T], size: int = MAX_PER_REQUEST) -> Iterator[list[T]]:
    """The items, a request's worth at a time."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def errors_by_item(
    fields: dict[str, list[str]], prefix: str, count: int
) -> dict[int, list[tuple[str, str]]] | None:
    """422 keys ``<prefix>.N[.field]`` as {N: [(field, message)]} for a request of `count` items.

    None when a key names no item of the request (``leads`` itself, or an index past the
    end): the refusal is then about the whole request.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)(?:\.(.+))?$")
    placed: dict[int, list[tuple[str, str]]] = {}
    for key, messages in fields.items():
        match = pattern.match(key)
        if match is None or int(match.group(1)) >= count:
            return None
        index, field = int(match.group(1)), match.group(2) or ""
        placed.setdefault(index, []).extend((field, message) for message in messages)
    return placed or None
