"""Every error the API returns has the body ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from articlechat.errors import ArticlechatError

log = logging.getLogger("articlechat.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "rate_limited", 503: "unavailable"}


class Unauthorized(ArticlechatError):
    """A missing or wrong admin key."""

    status_code = 401
    code = "unauthorized"


class AdminDisabled(ArticlechatError):
    """Admin endpoints answer this while no key is configured."""

    status_code = 403
    code = "admin_disabled"


class PayloadTooLarge(ArticlechatError):
    """A request body or uploaded file over its size limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(ArticlechatError):
    """Too many requests; ``retry_after`` seconds until the window frees up."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response (and of the stream's ``error`` event)."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error response with the JSON error body."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def describe(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, code, message) of an exception; unexpected ones are logged and stay vague."""
    if isinstance(exc, ArticlechatError):
        return exc.status_code, exc.code, str(exc)
    log.error("unexpected error", exc_info=exc)
    return 500, "internal_error", "Internal server error; the server log has the details (see X-Request-ID)."


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
