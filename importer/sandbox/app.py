"""The sandbox's ASGI app: the documented Leads API endpoints, auth, rate limit and fault knobs."""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import math
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, date, datetime
from datetime import time as clock
from typing import Any

import requests
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from importer.sandbox.config import SandboxConfig, load_catalog
from importer.sandbox.rules import (
    DELETABLE,
    STATUSES,
    validate_create,
    validate_delete,
    validate_update,
)
from importer.sandbox.store import MATCH_TYPES, SEARCHABLE, LeadQuery, Store, account_of

log = logging.getLogger("importer.sandbox")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the server puts the connection's transport in the scope, so a handler can drop it.
TRANSPORT_KEY = "wedocod.transport"
#: How long the webhook receiver gets to answer.
WEBHOOK_TIMEOUT = 3.0
MAX_PER_PAGE = 100
_SHOW = re.compile(r"^/leads/[^/]+/show$")

UNAUTHENTICATED = {"error": {"code": "UNAUTHENTICATED", "message": "Unauthenticated."}}
SERVER_ERROR = {"error": {"code": "HTTP_ERROR", "message": "Server Error."}}
FORBIDDEN = {"error": {"code": "HTTP_ERROR", "message": "This action is unauthorized."}}
LEAD_NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "Lead not found."}}
NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "Resource not found."}}
BAD_JSON = {"error": {"code": "HTTP_ERROR", "message": "The request body is not valid JSON."}}


def route_of(path: str) -> str | None:
    """The documented route a path belongs to (its template), None for unknown paths."""
    if path in ("/leads", "/lead-statuses"):
        return path
    if _SHOW.match(path):
        return "/leads/{reference}/show"
    return None


def _json(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def answer(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    return Response(_json(payload), status, headers, media_type="application/json")


def invalid(fields: dict[str, list[str]]) -> Response:
    error = {"code": "VALIDATION_ERROR", "message": "The given data was invalid.", "fields": fields}
    return answer(422, {"error": error})


def money(amount: float) -> str:
    return f"{amount:.2f} MAD"


class Sandbox:
    """The sandbox's state: config, store, per-route request counts, and the batch worker."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        seed = config.seed
        # one generator per knob so that turning one knob on does not shift another's draws
        self._error_rng = random.Random(f"{seed}-error" if seed is not None else None)
        self._drop_rng = random.Random(f"{seed}-drop" if seed is not None else None)
        self.store = Store(
            config.db_path, random.Random(f"{seed}-ids" if seed is not None else None)
        )
        #: Requests received per route, e.g. `{"POST /leads": 12}` (401s and 429s included).
        self.stats: dict[str, int] = {}
        self.tokens = frozenset(config.tokens)
        self._catalog = load_catalog(config.catalog_path)
        self._catalogs: dict[str, frozenset[str]] = {}
        self._hits: dict[str, deque[float]] = {}
        self._knob_lock = threading.Lock()
        self._queue: list[tuple[float, int, str, str, list[dict[str, Any]]]] = []
        self._queued = 0
        self._wake = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._work, name="sandbox-batches", daemon=True)
        # batches a previous run accepted but did not process: this run's delay applies
        resume_at = time.time() + config.async_delay
        for batch_id, account, leads, due in self.store.queued_batches():
            self._push(batch_id, account, leads, min(due, resume_at))
        self._worker.start()

    # -- accounts ----------------------------------------------------------------------------

    def catalog(self, token: str) -> frozenset[str]:
        return self._catalogs.get(account_of(token), self._catalog)

    def set_catalog(self, token: str, skus: frozenset[str]) -> None:
        """Gives one account its own catalog (a test hook; accounts start with the default)."""
        self._catalogs[account_of(token)] = frozenset(skus)

    # -- knobs -------------------------------------------------------------------------------

    def rate_limited(self, token: str) -> int | None:
        """Counts a request against the token's window; the seconds to wait when over it."""
        limit = self.config.rate_limit
        if limit is None:
            return None
        window = self.config.rate_window
        now = time.monotonic()
        with self._knob_lock:
            hits = self._hits.setdefault(token, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + window - now))
            hits.append(now)
        return None

    def remaining(self, token: str) -> int:
        limit = self.config.rate_limit or 0
        return max(0, limit - len(self._hits.get(token, ())))

    def should_fail(self) -> bool:
        with self._knob_lock:
            return self._error_rng.random() < self.config.error_rate

    def should_drop(self) -> bool:
        with self._knob_lock:
            return self._drop_rng.random() < self.config.drop_rate

    def count(self, route: str) -> None:
        self.stats[route] = self.stats.get(route, 0) + 1

    # -- async batches -----------------------------------------------------------------------

    def enqueue(self, token: str, leads: list[dict[str, Any]]) -> str:
        due = time.time() + self.config.async_delay
        batch_id = self.store.queue_batch(token, leads, due)
        self._push(batch_id, account_of(token), leads, due)
        return batch_id

    def _push(self, batch_id: str, account: str, leads: list[dict[str, Any]], due: float) -> None:
        with self._wake:
            self._queued += 1
            heapq.heappush(self._queue, (due, self._queued, batch_id, account, leads))
            self._wake.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Waits until every queued batch is processed; False if it took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    _busy = False

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._closing:
                    if self._queue:
                        wait = self._queue[0][0] - time.time()
                        if wait <= 0:
                            break
                        self._wake.wait(wait)
                    else:
                        self._wake.wait()
                if self._closing:
                    return
                _, _, batch_id, account, leads = heapq.heappop(self._queue)
                self._busy = True
            try:
                self._process(batch_id, account, leads)
            except Exception:
                log.exception("batch %s could not be processed", batch_id)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _process(self, batch_id: str, account: str, leads: list[dict[str, Any]]) -> None:
        result = self.store.create_for_account(account, leads, self.config.fail_phones)
        self.store.finish_batch(batch_id, result)
        if self.config.webhook_url:
            event = {
                "event": "batch.completed",
                "batch_id": batch_id,
                "created_refs": result.created_refs,
                "failed_count": len(result.failed),
                "failed": result.failed,
                "total": len(leads),
            }
            try:
                requests.post(self.config.webhook_url, json=event, timeout=WEBHOOK_TIMEOUT)
            except requests.RequestException as err:
                # the real API does not retry webhooks for us either; the batch stays processed
                log.warning("webhook for %s failed: %s", batch_id, err)

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(timeout=5)
        self.store.close()


class Gate:
    """ASGI middleware: stats, auth, rate limit, latency, injected 5xx, one log line, no traces."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sandbox = self.sandbox
        method: str = scope["method"]
        route = route_of(scope["path"])
        sandbox.count(f"{method} {route or 'other'}")
        status = [0]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_status, method, route)
        except ClientDisconnect:
            pass  # the client went away mid-request (a killed importer): nothing to answer
        except Exception:
            log.exception("%s %s failed", method, scope["path"])
            if not status[0]:
                await _send(send_status, 500, SERVER_ERROR)
        if sandbox.config.log_requests:
            took = (time.perf_counter() - started) * 1000
            shown = status[0] or "dropped"
            log.info("%s %s %s %.1fms", method, scope["path"], shown, took)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, method: str, route: str | None
    ) -> None:
        sandbox = self.sandbox
        if route is None:  # unknown routes answer 404 whoever asks, as the router decides
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is None or token not in sandbox.tokens:
            await _send(send, 401, UNAUTHENTICATED)
            return
        wait = sandbox.rate_limited(token)
        if wait is not None:
            error = {"code": "HTTP_ERROR", "message": "Too Many Attempts.", "retry_after": wait}
            headers = {
                "Retry-After": str(wait),
                "X-RateLimit-Limit": str(sandbox.config.rate_limit),
                "X-RateLimit-Remaining": "0",
            }
            await _send(send, 429, {"error": error}, headers)
            return
        if sandbox.config.latency_ms:
            await asyncio.sleep(sandbox.config.latency_ms / 1000)
        if method in sandbox.config.fault_methods and route == "/leads" and sandbox.should_fail():
            await _send(send, 500, SERVER_ERROR)
            return
        scope.setdefault("state", {})["token"] = token
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _send(
    send: Send, status: int, payload: object, headers: dict[str, str] | None = None
) -> None:
    body = _json(payload)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _read_json(request: Request) -> object:
    """The body as JSON; raises ValueError when it is not JSON at all."""
    raw = await request.body()
    if not raw.strip():
        return {}
    return json.loads(raw)


async def drop_connection(request: Request) -> bool:
    """Resets the client's connection with no HTTP answer; False when the server cannot."""
    transport = request.scope.get(TRANSPORT_KEY)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # linger 0: close with a RST, as a crashing proxy or a killed worker would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # wait for the server to notice, so that nothing is written after the reset
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return True


def _token(request: Request) -> str:
    token: str = request.scope["state"]["token"]
    return token


def _products(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `price` and `total` both show the line total sent, as in the docs' example
    # (quantity 2, total 299 -> price "299.00 MAD", total "299.00 MAD")
    return [
        {
            "sku": p["sku"],
            "quantity": p["quantity"],
            "price": money(p["total"]),
            "total": money(p["total"]),
        }
        for p in products
    ]


def list_item(lead: dict[str, Any]) -> dict[str, Any]:
    """One lead as `GET /leads` shows it (status as its key)."""
    return {
        "id": lead["id"],
        "reference": lead["reference"],
        "full_name": lead["full_name"],
        "phone": lead["phone"],
        "status": lead["status"],
        "action_date": lead["action_date"],
        "city": lead["city"],
        "area": lead["area"],
        "address": lead["address"],
        "data": lead["data"],
        "products": _products(lead["products"]),
        "leadHistories": lead["leadHistories"],
        "created_at": lead["created_at"],
    }


def detail(lead: dict[str, Any]) -> dict[str, Any]:
    """One lead as `GET /leads/{reference}/show` shows it (status as its label)."""
    return {
        "id": lead["id"],
        "reference": lead["reference"],
        "full_name": lead["full_name"],
        "phone": lead["phone"],
        "city": lead["city"],
        "area": lead["area"],
        "address": lead["address"],
        "status": STATUSES[lead["status"]],
        "products": _products(lead["products"]),
        "data": lead["data"],
        "created_at": lead["created_at"],
    }


def _bound(text: str, end: bool) -> str | None:
    """A `start_at`/`end_at` value as created_at text: a date covers its whole day (UTC)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, clock.max if end else clock.min, UTC)
        else:
            moment = datetime.fromisoformat(text.replace(" ", "T"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lead_query(params: dict[str, str]) -> LeadQuery | dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    numbers = {}
    for name, default in (("page", 1), ("per_page", 50)):
        text = params.get(name, "").strip()
        if not text:
            numbers[name] = default
        elif not text.isdigit():
            errors[name] = [f"The {name.replace('_', ' ')} must be an integer."]
        elif int(text) < 1:
            errors[name] = [f"The {name.replace('_', ' ')} must be at least 1."]
        else:
            numbers[name] = int(text)
    search_by = params.get("search_by", "").strip().lower() or "reference"
    if search_by not in SEARCHABLE:
        errors["search_by"] = ["The selected search by is invalid."]
    match_type = params.get("match_type", "").strip().lower() or "partial"
    if match_type not in MATCH_TYPES:
        errors["match_type"] = ["The selected match type is invalid."]
    bounds: dict[str, str | None] = {}
    for name in ("start_at", "end_at"):
        text = params.get(name, "").strip()
        bounds[name] = _bound(text, end=name == "end_at") if text else None
        if text and bounds[name] is None:
            errors[name] = [f"The {name.replace('_', ' ')} is not a valid date."]
    if errors:
        return errors
    return LeadQuery(
        page=numbers["page"],
        per_page=min(numbers["per_page"], MAX_PER_PAGE),
        keyword=params.get("keyword", "").strip() or None,
        search_by=search_by,
        match_type=match_type,
        start_at=bounds["start_at"],
        end_at=bounds["end_at"],
    )


def create_app(config: SandboxConfig) -> tuple[FastAPI, Sandbox]:
    """The sandbox's FastAPI app and its state; bodies are parsed by hand (no pydantic: speed)."""
    sandbox = Sandbox(config)
    app = FastAPI(title="WedoCOD sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    # `/leads/` must not redirect: the real API has no such route
    app.router.redirect_slashes = False

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return answer(404, NOT_FOUND)
        message = "Method Not Allowed." if exc.status_code == 405 else str(exc.detail)
        return answer(exc.status_code, {"error": {"code": "HTTP_ERROR", "message": message}})

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return answer(400, {"error": {"code": "HTTP_ERROR", "message": "Bad request."}})

    @app.post("/leads")
    async def create_leads(request: Request) -> Response:
        token = _token(request)
        try:
            body = await _read_json(request)
        except ValueError:
            return answer(400, BAD_JSON)
        errors = validate_create(body, sandbox.catalog(token))
        if errors:
            return invalid(errors)
        assert isinstance(body, dict)
        leads: list[dict[str, Any]] = body["data"]
        if len(leads) <= config.sync_threshold:
            result = sandbox.store.create_leads(token, leads, config.fail_phones)
            data: dict[str, Any] = {
                "created_refs": result.created_refs,
                "failed_count": len(result.failed),
            }
            response = answer(201, {"data": data, "meta": {"mode": "sync", "total": len(leads)}})
        else:
            data = {"batch_id": sandbox.enqueue(token, leads), "queued": True}
            response = answer(202, {"data": data, "meta": {"mode": "async", "total": len(leads)}})
        return await _maybe_dropped(request, response)

    @app.get("/leads")
    async def list_leads(request: Request) -> Response:
        query = _lead_query(dict(request.query_params))
        if not isinstance(query, LeadQuery):
            return invalid(query)
        leads, total = sandbox.store.list_leads(_token(request), query, config.list_order)
        pagination = {
            "page": query.page,
            "limit": query.per_page,
            "total": total,
            "pages": max(1, math.ceil(total / query.per_page)),
        }
        items = [list_item(lead) for lead in leads]
        return answer(200, {"data": items, "meta": {"pagination": pagination}})

    @app.get("/leads/{reference}/show")
    async def show_lead(request: Request, reference: str) -> Response:
        lead = sandbox.store.find(_token(request), reference)
        if lead is None:
            return answer(404, LEAD_NOT_FOUND)
        return answer(200, {"data": detail(lead), "meta": {}})

    @app.put("/leads")
    async def update_leads(request: Request) -> Response:
        token = _token(request)
        try:
            body = await _read_json(request)
        except ValueError:
            return answer(400, BAD_JSON)
        items = body.get("leads") if isinstance(body, dict) else None
        asked = [
            item["reference"].strip()
            for item in (items if isinstance(items, list) else ())
            if isinstance(item, dict) and isinstance(item.get("reference"), str)
        ]
        errors = validate_update(body, sandbox.store.known_refs(token, asked))
        if errors:
            return invalid(errors)
        assert isinstance(items, list)
        updated = sandbox.store.update(token, items)
        fields = ["status"]
        if any(item.get("action_date") not in (None, "") for item in items):
            fields.append("action_date")
        response = answer(200, {"data": updated, "meta": {"updated_fields": fields}})
        return await _maybe_dropped(request, response)

    @app.delete("/leads")
    async def delete_leads(request: Request) -> Response:
        token = _token(request)
        try:
            body = await _read_json(request)
        except ValueError:
            return answer(400, BAD_JSON)
        errors = validate_delete(body)
        if errors:
            return invalid(errors)
        assert isinstance(body, dict)
        ids = [i.strip() for i in body["ids"]]
        statuses = sandbox.store.statuses_by_id(token, ids)
        unknown = {
            f"ids.{n}": [f"The selected ids.{n} is invalid."]
            for n, lead_id in enumerate(ids)
            if lead_id not in statuses
        }
        if unknown:
            return invalid(unknown)
        if any(status not in DELETABLE for status in statuses.values()):
            return answer(403, FORBIDDEN)
        count = sandbox.store.delete(token, ids)
        response = answer(200, {"data": {"deleted": True, "count": count}, "meta": {}})
        return await _maybe_dropped(request, response)

    async def _maybe_dropped(request: Request, response: Response) -> Response:
        """drop_rate: the write is stored; now and then the connection is reset unanswered."""
        method = request.method
        dropping = method in config.fault_methods and sandbox.should_drop()
        if dropping and await drop_connection(request):
            log.info("%s /leads stored, then the connection was dropped (drop_rate)", method)
        return response

    @app.get("/lead-statuses")
    async def lead_statuses(request: Request) -> Response:
        data = [{"key": key, "label": label} for key, label in STATUSES.items()]
        return answer(200, {"data": data, "meta": {}})

    app.add_middleware(Gate, sandbox=sandbox)
    return app, sandbox
