"""Running the sandbox on uvicorn: blocking for the CLI, or in a thread on a free port for tests."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from importer.sandbox.app import TRANSPORT_KEY, Message, Receive, Sandbox, Scope, Send, create_app
from importer.sandbox.config import SandboxConfig

log = logging.getLogger("importer.sandbox")


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, handing each request its connection's transport.

    ASGI gives an app no way to end a connection without an answer; `drop_rate` needs exactly
    that (a reset after the batch was stored), so the transport travels in the scope.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope[TRANSPORT_KEY] = transport
            await app(scope, receive, send)

        self.app = with_transport


@dataclass
class RunningSandbox:
    """A sandbox serving on a real socket: its base URL, its state, and the first token."""

    url: str
    sandbox: Sandbox
    token: str


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DroppableH11Protocol,
        lifespan="off",
        # our own one-line-per-request logger replaces uvicorn's access log (and is cheaper)
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one, read back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP,
    # and without it Nagle + delayed ACK add ~40 ms to every answer sent in two writes
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # listening now: clients told the URL may connect before uvicorn's loop is up
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}"


@contextmanager
def serve_in_thread(
    config: SandboxConfig, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSandbox]:
    """Serves the sandbox from a background thread until the block ends (port 0: a free one)."""
    app, sandbox = create_app(config)
    sock = bind(host, port)
    server = uvicorn.Server(_uvicorn_config(app, host, sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the sandbox server could not start")
            thread.join(0.01)
        yield RunningSandbox(url_of(host, sock), sandbox, config.tokens[0])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        sandbox.close()


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serves the sandbox until Ctrl-C (for `wedocod sandbox` and `python -m importer.sandbox`)."""
    if config.log_requests and not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    sock = bind(host, port)
    app, sandbox = create_app(config)
    url = url_of(host, sock)
    print(f"WedoCOD sandbox listening on {url}", file=sys.stderr)
    for token in config.tokens:
        print(f"  token: {token}", file=sys.stderr)
    print(f"  try: curl -H 'Authorization: Bearer {config.tokens[0]}' {url}/lead-statuses",
          file=sys.stderr)  # fmt: skip
    print("  Ctrl-C to stop", file=sys.stderr, flush=True)
    server = uvicorn.Server(_uvicorn_config(app, host, sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn already shut down gracefully on the first Ctrl-C
    finally:
        sock.close()
        sandbox.close()
        print("sandbox stopped", file=sys.stderr, flush=True)


__all__ = ["DroppableH11Protocol", "Message", "RunningSandbox", "serve", "serve_in_thread"]
