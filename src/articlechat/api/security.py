"""Public-facing defaults: admin key check (with failed attempts throttled), the CORS allowlist and rate limits on
the chat endpoints."""

from __future__ import annotations

import hmac
import math
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, parse_many
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from articlechat.api.errors import AdminDisabled, RateLimited, Unauthorized, error_response
from articlechat.api.limits import rate_limiter
from articlechat.config import Settings

_bearer = HTTPBearer(auto_error=False, description="The server's ARTICLECHAT_API_KEY.")
_ANY_PORT = ":*"


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded (ARTICLECHAT_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def require_admin(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Admit the request only with ``Authorization: Bearer <ARTICLECHAT_API_KEY>`` (compared in constant time).

    An address that failed too often (ARTICLECHAT_RATE_LIMIT_ADMIN_FAILURES) gets 429 whatever it sends until its
    window frees up, so a key cannot be guessed at speed."""
    state = request.app.state.articlechat
    key = state.settings.server.api_key
    if key is None:
        raise AdminDisabled("Admin endpoints are disabled: set ARTICLECHAT_API_KEY on the server to enable them.")
    address = client_address(request)
    state.limits.check_admin_failures(address)
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
        state.limits.count_admin_failure(address)
        raise Unauthorized("Missing or wrong API key: send the header 'Authorization: Bearer <ARTICLECHAT_API_KEY>'.")


def cors_options(settings: Settings) -> dict[str, Any]:
    """CORSMiddleware options: the configured origins (``:*`` = any port) plus the server's own; no credentials."""
    server = settings.server
    exact = [o.rstrip("/") for o in server.cors_origins if not o.endswith(_ANY_PORT)]
    if server.host not in ("0.0.0.0", "::"):
        host = f"[{server.host}]" if ":" in server.host else server.host
        exact.append(f"http://{host}:{server.port}")
    any_port = [re.escape(o.removesuffix(_ANY_PORT)) + r"(?::\d{1,5})?" for o in server.cors_origins
                if o.endswith(_ANY_PORT)]
    return {
        "allow_origins": exact,
        "allow_origin_regex": f"^(?:{'|'.join(any_port)})$" if any_port else None,
        "allow_credentials": False,  # the API uses no cookies; never combine credentials with an open origin
        "allow_methods": ["GET", "POST", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
        "expose_headers": ["X-Request-ID", "Retry-After"],
        "max_age": 600,
    }


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a JSON error body when it refuses a preflight request."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        reason = bytes(response.body).decode()
        return error_response(response.status_code, "cors_refused",
                              f"{reason} (the allowed origins are set by ARTICLECHAT_CORS_ORIGINS).", headers)


class BodyLimitMiddleware:
    """413 with the JSON error body for a request body over its limit, announced (Content-Length) or streamed.

    ``limits`` maps a path to (bytes, setting name); other paths get ``default``."""

    def __init__(self, app: ASGIApp, default: tuple[int, str], limits: dict[str, tuple[int, str]]) -> None:
        self.app = app
        self.default = default
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limits.get(scope["path"], self.default)
        message = f"The request body is over the limit of {limit:,} bytes ({setting})."
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await error_response(413, "payload_too_large", message)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message_in = await receive()
            received += len(message_in.get("body", b""))
            if received > limit:
                raise HTTPException(413, message)
            return message_in

        await self.app(scope, limited_receive, send)


def _parsed(limit: str) -> list[RateLimitItem]:
    return parse_many(limit) if limit else []


class ChatLimits:
    """Per client address and per session request limits, and failed admin authentications per address (sliding
    windows, in Redis or this process)."""

    def __init__(self, settings: Settings) -> None:
        limits = settings.limits
        self._limiter = rate_limiter(settings)
        self._per_client = _parsed(limits.rate_limit_client)
        self._per_session = _parsed(limits.rate_limit_session)
        self._admin_failures = _parsed(limits.rate_limit_admin_failures)

    def check_client(self, request: Request) -> None:
        """Count a chat request from the client's address; :class:`RateLimited` when over a limit."""
        self._hit(self._per_client, "client", client_address(request), "this address")

    def check_admin_failures(self, address: str) -> None:
        """:class:`RateLimited` while ``address`` is over its failed admin authentications (nothing is counted)."""
        for item in self._admin_failures:
            if not self._limiter.test(item, "admin-failure", address):
                retry_after = self._retry_after(item, "admin-failure", address)
                raise RateLimited(f"Too many failed admin authentications from this address (limit: {item}); retry "
                                  f"in {retry_after} s.", retry_after)

    def count_admin_failure(self, address: str) -> None:
        """Count one failed admin authentication from ``address``."""
        for item in self._admin_failures:
            self._limiter.hit(item, "admin-failure", address)

    def check_session(self, session_id: str | None, exists: Callable[[str], bool]) -> None:
        """Count a chat request in an existing session; an id that ``exists`` denies is not counted (the request
        then fails as an unknown session), so made-up ids add no keys."""
        if session_id and exists(session_id):
            self._hit(self._per_session, "session", session_id, "this session")

    def _hit(self, items: list[RateLimitItem], kind: str, key: str, who: str) -> None:
        for item in items:
            if not self._limiter.hit(item, kind, key):
                retry_after = self._retry_after(item, kind, key)
                raise RateLimited(f"Too many requests from {who} (limit: {item}); retry in {retry_after} s.",
                                  retry_after)

    def _retry_after(self, item: RateLimitItem, kind: str, key: str) -> int:
        reset = self._limiter.get_window_stats(item, kind, key).reset_time
        return max(1, math.ceil(reset - time.time()))


def client_limit(request: Request) -> None:
    """Dependency of the chat endpoints: the per-address rate limit."""
    request.app.state.articlechat.limits.check_client(request)
