"""The WedoCOD Leads API over one requests.Session: typed results, typed errors, deadlines."""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError

from importer.errors import (
    ApiError,
    AuthError,
    BadResponse,
    ConfigError,
    ConnectFailed,
    Forbidden,
    Interrupted,
    NotFound,
    RateLimited,
    Redirected,
    ResponseLost,
    ServerError,
    ValidationFailed,
)

__all__ = [
    "ApiError",
    "AuthError",
    "BadResponse",
    "ConfigError",
    "ConnectFailed",
    "CreateResult",
    "DeleteResult",
    "Forbidden",
    "Interrupted",
    "LeadPage",
    "LeadStatus",
    "LeadsClient",
    "NotFound",
    "RateLimited",
    "Redirected",
    "ResponseLost",
    "ServerError",
    "UpdateResult",
    "ValidationFailed",
    "check_base_url",
    "check_token",
]


def _package_version() -> str:
    try:
        return version("wedocod-importer")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"wedocod-importer/{_package_version()}"
#: Redirect statuses; none is followed for a write, and a read only within the API's origin.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 5
#: A listing without pagination meta is read at most this many pages.
_PAGES_WITHOUT_META = 1000


# --- configuration checks ---------------------------------------------------------------------


def check_base_url(url: str) -> str:
    """The API's base URL without its trailing ``/``, or ``ConfigError`` saying what is wrong.

    It must be ``https://host[:port][/path]``; ``http://`` only for a loopback host (the
    sandbox). A URL holding a user name or password is refused without repeating it.
    """
    text = url.strip()
    if not text:
        raise ConfigError("The API address (WEDOCOD_BASE_URL) is empty.")
    if "@" in text:
        raise ConfigError(
            "The API address (WEDOCOD_BASE_URL) must not hold a user name or password "
            "(user:password@...): put the token in WEDOCOD_TOKEN or --token-file."
        )
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigError("The API address (WEDOCOD_BASE_URL) holds spaces or control characters.")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise ConfigError(
            f"The API address (WEDOCOD_BASE_URL) {text!r} is not a URL: it must start with "
            "https://, e.g. https://api.wedocod.com"
        )
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError as err:
        raise ConfigError(f"The API address {text!r} has an invalid port.") from err
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ConfigError(f"The API address {text!r} must not hold a ?query or a #fragment.")
    if scheme == "http" and not _loopback(parts.hostname):
        raise ConfigError(
            f"The API address {text!r} uses plain http://, which would send the token and your "
            "customers' data unencrypted: use https:// (http:// is only for a local sandbox)."
        )
    return text.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    """The token, or ``ConfigError`` when it cannot go in a header (never repeating it)."""
    if not token:
        raise ConfigError("The API token is empty.")
    if not all(33 <= ord(ch) <= 126 for ch in token):
        raise ConfigError(
            "The API token holds spaces, line breaks or non-ASCII characters: check "
            "WEDOCOD_TOKEN or the token file."
        )
    return token


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class _Bearer(AuthBase):
    """The token as an auth object: requests then never lets ``~/.netrc`` replace it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(<token>)"


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The answer to ``POST /leads``: ``sync`` (201, refs known) or ``async`` (202, a batch id)."""

    mode: str
    created_refs: tuple[str, ...]
    failed_count: int
    batch_id: str | None
    total: int


@dataclass(frozen=True, slots=True)
class LeadPage:
    """One page of ``GET /leads``. ``pages``, ``total`` and ``limit`` are the pagination meta
    (None when the server gave none); ``served_at`` is the server's clock (its ``Date``)."""

    items: list[dict[str, Any]]
    page: int
    pages: int | None
    total: int | None
    limit: int | None = None
    served_at: datetime | None = None

    def is_last(self, per_page: int) -> bool:
        """Whether no page follows: it is empty, the last announced, or (no meta) not full."""
        if not self.items:
            return True
        if self.pages is not None:
            return self.page >= self.pages
        return len(self.items) < (self.limit or per_page)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    items: list[dict[str, Any]]
    updated_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: bool
    count: int


@dataclass(frozen=True, slots=True)
class LeadStatus:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class _Raw:
    """One HTTP answer, read whole."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class _TooBig(Exception):
    pass


# --- the client -------------------------------------------------------------------------------


class LeadsClient:
    """The Leads API for one account. Safe to share between threads (one connection pool).

    Writes are never retried here: whether a write may be sent again is the caller's call
    (see ``ApiError.in_doubt``). Reads are retried on 5xx, lost answers and 429 until
    ``read_deadline`` (429 never counts as a failure; connect errors ``connect_attempts``
    times). Every request has an overall ``deadline`` (a server trickling its answer cannot
    hold us), every wait is capped at ``max_wait``, and once ``stop`` is set waits end at
    once and requests in flight are abandoned after ``stop_grace`` seconds (``Interrupted``).
    No redirect is followed for a write, nor to another origin for a read.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] = (5, 30),
        deadline: float = 60.0,
        read_deadline: float = 120.0,
        read_attempts: int | None = None,
        connect_attempts: int = 5,
        read_backoff: float = 0.5,
        max_wait: float = 60.0,
        stop: threading.Event | None = None,
        stop_grace: float = 3.0,
        max_body: int = 64 * 1024 * 1024,
        user_agent: str = USER_AGENT,
        pool_size: int = 32,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._token = check_token(token)
        self._origin = _origin(self.base_url)
        self.timeout = timeout
        self.deadline = deadline
        self.read_deadline = read_deadline
        self.read_attempts = read_attempts
        self.connect_attempts = max(1, connect_attempts)
        self.read_backoff = read_backoff
        self.max_wait = max_wait
        self.stop = stop
        self.stop_grace = stop_grace
        self.max_body = max_body
        self._stop_seen: float | None = None
        #: The ledger's scope: which server and which token, without the token itself.
        self.account_id = (
            f"{self.base_url}#{hashlib.sha256(token.encode('utf-8')).hexdigest()[:12]}"
        )
        self._session = requests.Session()
        # An auth object, not a header: requests lets ~/.netrc replace an Authorization header
        # (and would send the netrc password to our API host instead of the token).
        self._session.auth = _Bearer(token)
        # Every worker thread shares this pool: it must hold one connection per worker.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"Accept": "application/json", "User-Agent": user_agent})

    def __repr__(self) -> str:
        return f"LeadsClient(base_url={self.base_url!r}, account_id={self.account_id!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> LeadsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """``text`` without the token in it (a server may echo what it was sent)."""
        for secret in {self._token, quote(self._token, safe="")}:
            text = text.replace(secret, "[token]")
        return text

    # --- endpoints ----------------------------------------------------------------------------

    def create_leads(self, items: Sequence[dict[str, Any]]) -> CreateResult:
        """``POST /leads`` once (1..100 leads). Never retried: see ``ApiError.in_doubt``."""
        body, _ = self._send("POST", "/leads", json_body={"data": list(items)})
        data, meta = self._envelope(body, dict)
        mode = str(meta.get("mode") or ("async" if "batch_id" in data else "sync"))
        try:
            if mode == "async":
                return CreateResult(
                    mode="async",
                    created_refs=(),
                    failed_count=0,
                    batch_id=str(data["batch_id"]),
                    total=int(meta.get("total", len(items))),
                )
            refs = data["created_refs"]
            if not isinstance(refs, list):
                raise TypeError("created_refs is not a list")
            return CreateResult(
                mode="sync",
                created_refs=tuple(str(r) for r in refs),
                failed_count=int(data.get("failed_count") or 0),
                batch_id=None,
                total=int(meta.get("total", len(items))),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise BadResponse(self.redact(f"Unexpected answer to POST /leads: {err}")) from err

    def list_leads(
        self,
        *,
        keyword: str | None = None,
        search_by: str | None = None,
        match_type: str | None = None,
        start_at: str | None = None,
        end_at: str | None = None,
        page: int = 1,
        per_page: int = 100,
    ) -> LeadPage:
        """One page of ``GET /leads``."""
        params: dict[str, str | int] = {"page": page, "per_page": per_page}
        for name, value in (
            ("keyword", keyword),
            ("search_by", search_by),
            ("match_type", match_type),
            ("start_at", start_at),
            ("end_at", end_at),
        ):
            if value is not None:
                params[name] = value
        body, headers = self._read("/leads", params)
        data, meta = self._envelope(body, list)
        pagination = meta.get("pagination")
        if not isinstance(pagination, dict):
            pagination = {}
        try:
            return LeadPage(
                items=[item for item in data if isinstance(item, dict)],
                page=page,
                pages=_count(pagination.get("pages")),
                total=_count(pagination.get("total")),
                limit=_count(pagination.get("limit")),
                served_at=_http_date(headers.get("Date")),
            )
        except (TypeError, ValueError, OverflowError) as err:
            raise BadResponse(self.redact(f"Unexpected pagination in GET /leads: {err}")) from err

    def pages(
        self,
        *,
        keyword: str | None = None,
        search_by: str | None = None,
        match_type: str | None = None,
        start_at: str | None = None,
        end_at: str | None = None,
        per_page: int = 100,
        on_page: Callable[[int, int | None, int | None], None] | None = None,
    ) -> Iterator[LeadPage]:
        """Every page of ``GET /leads`` for the filters, up to the last one the server announces.

        Raises ``BadResponse`` when the listing does not end: more pages than the first page
        announced (plus 10 %, at least 5, for leads created meanwhile), or the same page twice
        in a row with the same meta (a server ignoring ``page``). Nothing here depends on the
        order of the leads. ``on_page(page, pages, total)`` is called after each page.
        """
        page = 1
        limit = 0
        first: LeadPage | None = None
        previous: tuple[Any, ...] | None = None
        while True:
            if page > 1 and self.stop is not None and self.stop.is_set():
                raise Interrupted(f"GET /leads: the run was asked to stop after page {page - 1}")
            got = self.list_leads(
                keyword=keyword,
                search_by=search_by,
                match_type=match_type,
                start_at=start_at,
                end_at=end_at,
                page=page,
                per_page=per_page,
            )
            if on_page is not None:
                on_page(page, got.pages, got.total)
            if first is None:
                limit = _page_limit(got)
                first = got
            identity = _identity(got)
            if previous is not None and got.items and identity == previous:
                raise BadResponse(
                    f"GET /leads: page {page} is page {page - 1} again (the server seems to "
                    "ignore `page`): the listing was stopped there"
                )
            previous = identity
            yield got
            if got.is_last(per_page):
                return
            if page >= limit:
                raise BadResponse(
                    f"GET /leads kept answering past page {page} although its first page "
                    f"announced {first.pages} pages ({first.total} leads): the listing does "
                    "not end, it was stopped there"
                )
            page += 1

    def iter_leads(
        self,
        *,
        keyword: str | None = None,
        search_by: str | None = None,
        match_type: str | None = None,
        start_at: str | None = None,
        end_at: str | None = None,
        per_page: int = 100,
        on_page: Callable[[int, int | None, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every lead the filters match, page after page (see ``pages`` for when it stops).

        ``on_page(page, pages, total)`` is called after each page with the pagination meta.
        """
        for got in self.pages(
            keyword=keyword,
            search_by=search_by,
            match_type=match_type,
            start_at=start_at,
            end_at=end_at,
            per_page=per_page,
            on_page=on_page,
        ):
            yield from got.items

    def show_lead(self, reference: str) -> dict[str, Any]:
        """``GET /leads/{reference}/show``; ``NotFound`` when there is no such lead."""
        body, _ = self._read(f"/leads/{quote(reference, safe='')}/show", {})
        data, _ = self._envelope(body, dict)
        return dict(data)

    def update_leads(self, updates: Sequence[dict[str, Any]]) -> UpdateResult:
        """``PUT /leads`` with ``{"leads": [...]}`` (reference, status, action_date)."""
        body, _ = self._send("PUT", "/leads", json_body={"leads": list(updates)})
        data, meta = self._envelope(body, list)
        fields = meta.get("updated_fields") or []
        return UpdateResult(
            items=[item for item in data if isinstance(item, dict)],
            updated_fields=[str(f) for f in fields] if isinstance(fields, list) else [],
        )

    def delete_leads(self, ids: Sequence[str]) -> DeleteResult:
        """``DELETE /leads``; ``Forbidden`` when the leads' status does not allow it."""
        body, _ = self._send("DELETE", "/leads", json_body={"ids": list(ids)}, forbidden=Forbidden)
        data, _ = self._envelope(body, dict)
        try:
            return DeleteResult(deleted=bool(data["deleted"]), count=int(data.get("count", 0)))
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise BadResponse(self.redact(f"Unexpected answer to DELETE /leads: {err}")) from err

    def lead_statuses(self) -> list[LeadStatus]:
        body, _ = self._read("/lead-statuses", {})
        data, _ = self._envelope(body, list)
        try:
            return [
                LeadStatus(key=str(s["key"]), label=str(s.get("label", s["key"]))) for s in data
            ]
        except (KeyError, TypeError, AttributeError) as err:
            raise BadResponse(
                self.redact(f"Unexpected answer to GET /lead-statuses: {err}")
            ) from err

    # --- waiting ------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, at most ``max_wait``; ``Interrupted`` at once when ``stop`` is set."""
        seconds = max(0.0, min(seconds, self.max_wait))
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Interrupted("The run was asked to stop while waiting to retry")

    def _stop_expired(self) -> bool:
        """Whether ``stop`` was set more than ``stop_grace`` seconds ago."""
        if self.stop is None or not self.stop.is_set():
            return False
        now = time.monotonic()
        if self._stop_seen is None:
            self._stop_seen = now
        return now - self._stop_seen >= self.stop_grace

    # --- transport ----------------------------------------------------------------------------

    def _read(self, path: str, params: dict[str, str | int]) -> tuple[Any, Mapping[str, str]]:
        """A GET, retried until ``read_deadline``: reading twice is harmless, unlike writing."""
        give_up = time.monotonic() + self.read_deadline
        failures = connects = 0
        while True:
            try:
                return self._send("GET", path, params=params)
            except Interrupted:
                raise
            except (ConnectFailed, RateLimited, ServerError, ResponseLost) as err:
                if isinstance(err, ConnectFailed):
                    connects += 1
                    if connects >= self.connect_attempts:
                        raise
                elif not isinstance(err, RateLimited):  # a 429 is an answer, not a failure
                    failures += 1
                    if self.read_attempts is not None and failures >= self.read_attempts:
                        raise
                left = give_up - time.monotonic()
                if left <= 0:
                    raise
                step = max(1, failures + connects)
                delay = random.uniform(0, min(10.0, self.read_backoff * 2 ** (step - 1)))
                if isinstance(err, RateLimited) and err.retry_after is not None:
                    delay = err.retry_after
                self.pause(min(delay, left))

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json_body: Any = None,
        forbidden: type[ApiError] = AuthError,
    ) -> tuple[Any, Mapping[str, str]]:
        url = self.base_url + path
        for _hop in range(_MAX_HOPS + 1):
            raw = self._exchange(method, url, path, params, json_body)
            if raw.status not in _REDIRECTS:
                return self._answer(raw, method, path, forbidden), raw.headers
            target = urljoin(url, raw.headers.get("Location") or "")
            where = "{}://{}".format(*_origin(target)[:2]) if target else "nowhere"
            if method != "GET":
                raise Redirected(
                    self.redact(
                        f"{method} {path} was answered {raw.status}, a redirect to {where}: a "
                        "write is never redirected (nothing was re-sent there). Check "
                        "WEDOCOD_BASE_URL."
                    ),
                    status=raw.status,
                )
            if _origin(target) != self._origin:
                raise Redirected(
                    self.redact(
                        f"GET {path} was redirected ({raw.status}) to another address, {where}: "
                        "not followed (the token and your data stay with the API). Check "
                        "WEDOCOD_BASE_URL."
                    ),
                    status=raw.status,
                )
            url, params = target, None
        raise Redirected(f"GET {path}: more than {_MAX_HOPS} redirects", status=None)

    def _exchange(
        self,
        method: str,
        url: str,
        path: str,
        params: dict[str, str | int] | None,
        json_body: Any,
    ) -> _Raw:
        """One request and its whole answer, within ``deadline`` and the stop's grace.

        The request runs in a helper thread so that a server trickling bytes (each within the
        socket's read timeout) cannot hold the caller: past the deadline the request is
        abandoned as lost (in doubt), and the thread ends whenever the socket does.
        """
        if self._stop_expired():
            raise Interrupted(f"{method} {path}: not sent, the run was asked to stop")
        box: list[_Raw | BaseException] = []
        done = threading.Event()

        def call() -> None:
            try:
                box.append(self._fetch(method, url, params, json_body))
            except BaseException as err:  # handed to the waiting thread
                box.append(err)
            finally:
                done.set()

        threading.Thread(target=call, name="wedocod-request", daemon=True).start()
        give_up = time.monotonic() + self.deadline
        while not done.wait(max(0.0, min(0.1, give_up - time.monotonic()))):
            if time.monotonic() >= give_up:
                raise ResponseLost(
                    f"{method} {path}: no complete answer within {self.deadline:g} s"
                )
            if self._stop_expired():
                raise Interrupted(f"{method} {path}: abandoned, the run was asked to stop")
        got = box[0]
        if isinstance(got, BaseException):
            raise self._transport_error(got, method, path) from got
        return got

    def _fetch(
        self, method: str, url: str, params: dict[str, str | int] | None, json_body: Any
    ) -> _Raw:
        response = self._session.request(
            method,
            url,
            params=params,
            json=json_body,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_body:
                    raise _TooBig(size)
                chunks.append(chunk)
            body = b"".join(chunks)
            return _Raw(response.status_code, response.reason or "", response.headers, body)
        finally:
            response.close()

    def _transport_error(self, err: BaseException, method: str, path: str) -> BaseException:
        """The ApiError for what went wrong under requests (other exceptions as they are)."""
        if isinstance(err, _TooBig):
            return BadResponse(f"{method} {path}: the answer is larger than {self.max_body} bytes")
        if isinstance(err, requests.exceptions.ConnectTimeout):
            return ConnectFailed(f"Could not connect to {self.base_url} (timed out)")
        if isinstance(err, requests.exceptions.ConnectionError):
            if _nothing_sent(err):
                return ConnectFailed(f"Could not connect to {self.base_url}")
            return ResponseLost(f"{method} {path}: the connection was lost before the answer came")
        if isinstance(err, requests.exceptions.Timeout):
            return ResponseLost(f"{method} {path}: no answer within {self.timeout[1]} s")
        if isinstance(err, requests.exceptions.RequestException):
            # chunked body cut short, bad encoding, ...: the request did go out
            return ResponseLost(
                self.redact(f"{method} {path}: the answer was cut short ({_short(str(err))})")
            )
        return err

    def _answer(self, raw: _Raw, method: str, path: str, forbidden: type[ApiError]) -> Any:
        status = raw.status
        try:
            body: Any = json.loads(raw.body) if raw.body.strip() else None
        except (ValueError, RecursionError):
            body = None
        if 200 <= status < 300:
            if body is None:
                raise BadResponse(f"{method} {path}: the answer is not JSON", status=status)
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}
        code = self.redact(_short(str(error.get("code") or ""), 60))
        text = raw.body.decode("utf-8", "replace")
        message = self.redact(
            _short(str(error.get("message") or _short(text) or raw.reason or "Error"))
        )
        if status == 401:
            raise AuthError(message, status=status, code=code)
        if status == 403:
            raise forbidden(message, status=status, code=code)
        if status == 404:
            raise NotFound(message, status=status, code=code)
        if status == 422:
            found = error.get("fields")
            fields = (
                {
                    self.redact(_short(str(k), 200)): [
                        self.redact(_short(str(m))) for m in (v if isinstance(v, list) else [v])
                    ]
                    for k, v in found.items()
                }
                if isinstance(found, dict)
                else {}
            )
            raise ValidationFailed(message, fields, status=status, code=code)
        if status == 429:
            retry_after = _seconds(raw.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = _seconds(error.get("retry_after"))
            raise RateLimited(message, retry_after, status=status, code=code)
        if status >= 500:
            raise ServerError(message, status=status, code=code)
        raise ApiError(message, status=status, code=code)

    def _envelope(self, body: Any, kind: type) -> tuple[Any, dict[str, Any]]:
        """``data`` (of the expected kind) and ``meta`` of a success envelope."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), kind):
            shown = _short(json.dumps(body, default=str))
            raise BadResponse(self.redact(f"Unexpected answer: {shown}"))
        meta = body.get("meta")
        return body["data"], meta if isinstance(meta, dict) else {}


def _nothing_sent(err: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection failed before the request went out (safe to send again)."""
    if isinstance(err, requests.exceptions.SSLError):
        return True  # the TLS handshake failed: no request bytes were sent
    reason: object = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    # NewConnectionError (refused, unreachable, DNS) subclasses ConnectTimeoutError in urllib3 2
    return isinstance(reason, ConnectTimeoutError)


def _count(value: object) -> int | None:
    """A pagination number (None when absent); ``ValueError`` when it is not a count."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a count")
    number = float(value) if isinstance(value, str) else value
    if not isinstance(number, int | float) or not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a count")
    return int(number)


def _page_limit(first: LeadPage) -> int:
    """How many pages a listing may take: what its first page announced, plus a margin
    for leads created while it is read."""
    expected = first.pages or 0
    if first.total is not None and first.items:
        expected = max(expected, math.ceil(first.total / len(first.items)))
    if not expected:
        expected = 1 if first.pages is not None or first.total is not None else _PAGES_WITHOUT_META
    return expected + max(5, expected // 10)


def _identity(page: LeadPage) -> tuple[Any, ...]:
    """What tells one page from another: its leads (by reference) and its meta."""
    if all(item.get("reference") is not None for item in page.items):
        leads: tuple[str, ...] = tuple(str(item["reference"]) for item in page.items)
    else:
        text = json.dumps(page.items, sort_keys=True, default=str)
        leads = (hashlib.sha256(text.encode("utf-8")).hexdigest(),)
    return leads, page.pages, page.total


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _seconds(value: object) -> float | None:
    """A Retry-After value in seconds (a number or an HTTP date); None when it is not one.

    ``1e400``, ``nan``, ``inf`` or a negative number are no usable value: the caller backs
    off on its own. Callers cap what they wait.
    """
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        when = _http_date(text)
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
        return max(0.0, seconds)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
