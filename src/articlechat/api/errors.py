"""Every error the API returns has the body ``{"error": {"code": ..., "message": ...}}``; :data:`ERRORS` maps each
domain error type to its HTTP status."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from articlechat.errors import (
    ArticlechatError,
    BackendError,
    ConfigError,
    DatabaseUnavailable,
    EmbeddingMismatch,
    InvalidInput,
    NotFound,
    StoreOutdated,
    StoreUnavailable,
)

log = logging.getLogger("articlechat.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "rate_limited", 503: "unavailable"}
INTERNAL = "Internal server error; the server log has the details (see X-Request-ID)."


class Unauthorized(ArticlechatError):
    """A missing or wrong admin key."""


class AdminDisabled(ArticlechatError):
    """Admin endpoints answer this while no key is configured."""


class PayloadTooLarge(ArticlechatError):
    """A request body or uploaded file over its size limit."""


class RateLimited(ArticlechatError):
    """Too many requests; ``retry_after`` seconds until the window frees up."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class HttpError:
    """How the API answers one error type: the status, the body's code and, when the error's own message may name
    internal hosts or settings, the fixed message readers get instead (the error's own is logged)."""

    status: int
    code: str
    public: str | None = None


# The one place where an error becomes an HTTP status; an error type not listed takes its nearest listed base class.
ERRORS: dict[type[Exception], HttpError] = {
    InvalidInput: HttpError(422, "invalid_input"),
    NotFound: HttpError(404, "not_found"),
    StoreUnavailable: HttpError(503, "store_unavailable",
                                "The article store cannot be reached; try again shortly."),
    DatabaseUnavailable: HttpError(503, "database_unavailable"),
    EmbeddingMismatch: HttpError(409, "embedding_mismatch", "The article store needs reindexing; the server log "
                                                            "has the details (see X-Request-ID)."),
    StoreOutdated: HttpError(409, "store_outdated", "The article store needs migrating; the server log has the "
                                                    "details (see X-Request-ID)."),
    BackendError: HttpError(502, "backend_error", "The answer model is unavailable; the server log has the details "
                                                  "(see X-Request-ID)."),
    ConfigError: HttpError(500, "config_error", INTERNAL),
    Unauthorized: HttpError(401, "unauthorized"),
    AdminDisabled: HttpError(403, "admin_disabled"),
    PayloadTooLarge: HttpError(413, "payload_too_large"),
    RateLimited: HttpError(429, "rate_limited"),
    ArticlechatError: HttpError(500, "internal_error", INTERNAL),
}


def http_error(exc: ArticlechatError) -> HttpError:
    """The table's entry for ``exc`` (its class, else its nearest base class)."""
    return next(ERRORS[cls] for cls in type(exc).__mro__ if cls in ERRORS)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response (and of the stream's ``error`` event)."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error response with the JSON error body."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def describe(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, code, message) of an exception; unexpected ones, and errors whose message stays in the log,
    are logged."""
    if not isinstance(exc, ArticlechatError):
        log.error("unexpected error", exc_info=exc)
        return 500, "internal_error", INTERNAL
    mapped = http_error(exc)
    if mapped.public is None:
        return mapped.status, mapped.code, str(exc)
    log.error("%s: %s", mapped.code, exc)
    return mapped.status, mapped.code, mapped.public


async def _articlechat_error(_request: Request, exc: Exception) -> JSONResponse:
    status, code, message = describe(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(status, code, message, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and message == "Not Found":
        message = "No such endpoint; see /docs for the API."
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(exc.status_code, code, message, headers)


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header for a 405: the methods of every route at the matched path (Starlette names only those
    of the first route with that path)."""
    path = getattr(request.scope.get("route"), "path", None)
    routes = [route for route in iter_route_contexts(request.app.routes) if route.path == path]
    return ", ".join(sorted({method for route in routes for method in route.methods or ()}))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                         for e in errors)
    return error_response(422, "invalid_request", problems)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    status, code, message = describe(exc)
    return error_response(status, code, message)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the JSON error body."""
    app.add_exception_handler(ArticlechatError, _articlechat_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
