"""How `articlechat serve` runs uvicorn: bounded request heads, a deadline for them, a connection limit and
forwarded headers believed only from the configured proxies."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from articlechat.api.errors import error_response
from articlechat.config import ServerSettings, Settings, load_settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for ``settings``: the guarded h11 protocol (a request line and headers
    over ARTICLECHAT_MAX_HEADER_BYTES are refused with 400 while they arrive, 431 once whole), 503 beyond
    ARTICLECHAT_MAX_CONNECTIONS, and
    X-Forwarded-For / -Proto honoured only from ARTICLECHAT_TRUSTED_PROXIES (none by default, not even loopback)."""
    server = settings.server
    return {
        "http": GuardedH11Protocol,
        "h11_max_incomplete_event_size": server.max_header_bytes,
        "limit_concurrency": server.max_connections,
        "proxy_headers": bool(server.trusted_proxies),
        "forwarded_allow_ips": server.trusted_proxies,
    }


@cache
def connection_bounds() -> ServerSettings:
    """The server settings of this process (read once: a protocol object is made for every connection)."""
    return load_settings().server


def head_size(scope: Scope) -> int:
    """About how many bytes a request's line and headers took on the wire."""
    line = len(scope["method"]) + len(scope["raw_path"]) + len(scope["query_string"]) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def head_guard(app: ASGIApp, bounds: ServerSettings) -> ASGIApp:
    """``app``, answering 431 to a request with more header fields than ARTICLECHAT_MAX_HEADERS, or whose line and
    headers are over ARTICLECHAT_MAX_HEADER_BYTES (h11 refuses a head it has not seen whole past that size, this one
    that arrived whole)."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        problem = None
        if scope["type"] == "http" and len(scope["headers"]) > bounds.max_headers:
            problem = (f"The request has {len(scope['headers'])} header fields; at most {bounds.max_headers} are "
                       "accepted (ARTICLECHAT_MAX_HEADERS).")
        elif scope["type"] == "http" and (size := head_size(scope)) > bounds.max_header_bytes:
            problem = (f"The request's line and headers take {size:,} bytes; at most {bounds.max_header_bytes:,} are "
                       "accepted (ARTICLECHAT_MAX_HEADER_BYTES).")
        if problem:
            await error_response(431, "headers_too_large", problem, {"Connection": "close"})(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers are not all in within
    ARTICLECHAT_HEADER_TIMEOUT seconds (of connecting, or of the previous response), and refusing requests with too
    many or too large headers (:func:`head_guard`). A slow client cannot hold a connection (and a file descriptor) by
    never finishing its headers: uvicorn's keep-alive timeout stops counting at its first byte."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bounds = connection_bounds()
        self.header_timeout = bounds.header_timeout
        self.app = head_guard(self.app, bounds)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._cancel_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
