"""The WedoCOD Leads API over one requests.Session: typed results, typed errors, timeouts."""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

from importer.errors import (
    ApiError,
    AuthError,
    BadResponse,
    ConnectFailed,
    Forbidden,
    NotFound,
    RateLimited,
    ResponseLost,
    ServerError,
    ValidationFailed,
)

__all__ = [
    "ApiError",
    "AuthError",
    "BadResponse",
    "ConnectFailed",
    "CreateResult",
    "DeleteResult",
    "Forbidden",
    "LeadPage",
    "LeadStatus",
    "LeadsClient",
    "NotFound",
    "RateLimited",
    "ResponseLost",
    "ServerError",
    "UpdateResult",
    "ValidationFailed",
]


def _package_version() -> str:
    try:
        return version("wedocod-importer")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"wedocod-importer/{_package_version()}"


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
    items: list[dict[str, Any]]
    page: int
    pages: int
    total: int


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


# --- the client -------------------------------------------------------------------------------


class LeadsClient:
    """The Leads API for one account. Safe to share between threads (one connection pool).

    Writes are never retried here: whether a write may be sent again is the caller's call
    (see ``ApiError.in_doubt``). Reads retry connect errors, 429 and 5xx with backoff.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: tuple[float, float] = (5, 30),
        user_agent: str = USER_AGENT,
        pool_size: int = 32,
        read_attempts: int = 4,
        read_backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.read_attempts = max(1, read_attempts)
        self.read_backoff = read_backoff
        #: The ledger's scope: which server and which token, without the token itself.
        self.account_id = (
            f"{self.base_url}#{hashlib.sha256(token.encode('utf-8')).hexdigest()[:12]}"
        )
        self._session = requests.Session()
        # Every worker thread shares this pool: it must hold one connection per worker.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": user_agent,
            }
        )

    def __repr__(self) -> str:
        return f"LeadsClient(base_url={self.base_url!r}, account_id={self.account_id!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> LeadsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- endpoints ----------------------------------------------------------------------------

    def create_leads(self, items: Sequence[dict[str, Any]]) -> CreateResult:
        """``POST /leads`` once (1..100 leads). Never retried: see ``ApiError.in_doubt``."""
        body = self._send("POST", "/leads", json_body={"data": list(items)})
        data, meta = _envelope(body, dict)
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
        except (KeyError, TypeError, ValueError) as err:
            raise BadResponse(f"Unexpected answer to POST /leads: {err}") from err

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
        body = self._read("/leads", params)
        data, meta = _envelope(body, list)
        pagination = meta.get("pagination") or {}
        try:
            return LeadPage(
                items=[item for item in data if isinstance(item, dict)],
                page=int(pagination.get("page", page)),
                pages=int(pagination.get("pages", 1)),
                total=int(pagination.get("total", len(data))),
            )
        except (TypeError, ValueError) as err:
            raise BadResponse(f"Unexpected pagination in GET /leads: {err}") from err

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
        """Every lead the filters match, page after page.

        ``on_page(page, pages, total)`` is called after each page is read (progress, limits).
        """
        page = 1
        while True:
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
            yield from got.items
            if page >= got.pages or not got.items:
                return
            page += 1

    def show_lead(self, reference: str) -> dict[str, Any]:
        """``GET /leads/{reference}/show``; ``NotFound`` when there is no such lead."""
        body = self._read(f"/leads/{quote(reference, safe='')}/show", {})
        data, _ = _envelope(body, dict)
        return dict(data)

    def update_leads(self, updates: Sequence[dict[str, Any]]) -> UpdateResult:
        """``PUT /leads`` with ``{"leads": [...]}`` (reference, status, action_date)."""
        body = self._send("PUT", "/leads", json_body={"leads": list(updates)})
        data, meta = _envelope(body, list)
        fields = meta.get("updated_fields") or []
        return UpdateResult(
            items=[item for item in data if isinstance(item, dict)],
            updated_fields=[str(f) for f in fields] if isinstance(fields, list) else [],
        )

    def delete_leads(self, ids: Sequence[str]) -> DeleteResult:
        """``DELETE /leads``; ``Forbidden`` when the leads' status does not allow it."""
        body = self._send("DELETE", "/leads", json_body={"ids": list(ids)}, forbidden=Forbidden)
        data, _ = _envelope(body, dict)
        try:
            return DeleteResult(deleted=bool(data["deleted"]), count=int(data.get("count", 0)))
        except (KeyError, TypeError, ValueError) as err:
            raise BadResponse(f"Unexpected answer to DELETE /leads: {err}") from err

    def lead_statuses(self) -> list[LeadStatus]:
        body = self._read("/lead-statuses", {})
        data, _ = _envelope(body, list)
        try:
            return [
                LeadStatus(key=str(s["key"]), label=str(s.get("label", s["key"]))) for s in data
            ]
        except (KeyError, TypeError) as err:
            raise BadResponse(f"Unexpected answer to GET /lead-statuses: {err}") from err

    # --- transport ----------------------------------------------------------------------------

    def _read(self, path: str, params: dict[str, str | int]) -> Any:
        """A GET, retried: reading twice is harmless, unlike writing twice."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send("GET", path, params=params)
            except (ConnectFailed, RateLimited, ServerError, ResponseLost) as err:
                if attempt >= self.read_attempts:
                    raise
                delay = random.uniform(0, self.read_backoff * 2 ** (attempt - 1))
                if isinstance(err, RateLimited) and err.retry_after is not None:
                    delay = err.retry_after
                time.sleep(min(delay, 30.0))

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json_body: Any = None,
        forbidden: type[ApiError] = AuthError,
    ) -> Any:
        url = self.base_url + path
        try:
            response = self._session.request(
                method, url, params=params, json=json_body, timeout=self.timeout
            )
        except requests.exceptions.ConnectTimeout as err:
            raise ConnectFailed(f"Could not connect to {self.base_url} (timed out)") from err
        except requests.exceptions.ConnectionError as err:
            if _nothing_sent(err):
                raise ConnectFailed(f"Could not connect to {self.base_url}") from err
            raise ResponseLost(
                f"{method} {path}: the connection was lost before the answer came"
            ) from err
        except requests.exceptions.Timeout as err:
            raise ResponseLost(f"{method} {path}: no answer within {self.timeout[1]} s") from err
        except requests.exceptions.RequestException as err:
            # chunked body cut short, bad encoding, ...: the request did go out
            raise ResponseLost(f"{method} {path}: the answer was cut short ({err})") from err
        return _answer(response, method, path, forbidden)


def _nothing_sent(err: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection failed before the request went out (safe to send again)."""
    if isinstance(err, requests.exceptions.SSLError):
        return True  # the TLS handshake failed: no request bytes were sent
    reason: object = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    # NewConnectionError (refused, unreachable, DNS) subclasses ConnectTimeoutError in urllib3 2
    return isinstance(reason, ConnectTimeoutError)


def _answer(response: requests.Response, method: str, path: str, forbidden: type[ApiError]) -> Any:
    status = response.status_code
    try:
        body: Any = response.json()
    except (ValueError, requests.exceptions.RequestException):
        body = None
    if 200 <= status < 300:
        if body is None:
            raise BadResponse(f"{method} {path}: the answer is not JSON", status=status)
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or _short(response.text) or response.reason or "Error")
    if status == 401:
        raise AuthError(message, status=status, code=code)
    if status == 403:
        raise forbidden(message, status=status, code=code)
    if status == 404:
        raise NotFound(message, status=status, code=code)
    if status == 422:
        raw = error.get("fields")
        fields = (
            {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in raw.items()}
            if isinstance(raw, dict)
            else {}
        )
        raise ValidationFailed(message, fields, status=status, code=code)
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        if retry_after is None:
            retry_after = _seconds(error.get("retry_after"))
        raise RateLimited(message, retry_after, status=status, code=code)
    if status >= 500:
        raise ServerError(message, status=status, code=code)
    raise ApiError(message, status=status, code=code)


def _envelope(body: Any, kind: type) -> tuple[Any, dict[str, Any]]:
    """``data`` (of the expected kind) and ``meta`` of a success envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), kind):
        raise BadResponse(f"Unexpected answer: {_short(json.dumps(body, default=str))}")
    meta = body.get("meta")
    return body["data"], meta if isinstance(meta, dict) else {}


def _seconds(value: object) -> float | None:
    """A Retry-After value: seconds, or an HTTP date."""
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
