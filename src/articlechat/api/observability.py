"""Request ids, access logs (one line per event, control characters escaped) and Prometheus metrics (summed over
the worker processes of one `articlechat serve`)."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from articlechat.contract import Answer

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# C0 controls, DEL and C1 controls, the backslash (so an escape in the log is never the client's own text) and the
# Unicode line and paragraph separators, written as \xHH (\u2028): nothing a client sends can start a log line.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x5C, *range(0x7F, 0xA0))} | {
    c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when it is imported
access_log = logging.getLogger("articlechat.access")
disable_created_metrics()  # no *_created series: counters and histograms only


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters, backslashes and line separators as ``\\xHH`` escapes."""
    return text.translate(_ESCAPES)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    With ``PROMETHEUS_MULTIPROC_DIR`` set (``articlechat serve`` sets it to a fresh directory before its workers
    start), prometheus_client keeps the values in files there and :meth:`render` sums every worker's, so
    ``/metrics`` gives the same totals whichever worker answers."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR)
        self.registry = CollectorRegistry()
        self.requests = Counter("articlechat_http_requests", "HTTP requests by method, route template and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("articlechat_http_request_duration_seconds",
                                 "HTTP request latency by method and route template (streams: until the last byte).",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.answers = Counter("articlechat_answers", "Answers by backend and outcome (answered or declined).",
                               ["backend", "outcome"], registry=self.registry)
        self.fallbacks = Counter("articlechat_fallbacks", "Answers given by the extractive fallback after a model "
                                 "failure, by configured backend.", ["backend"], registry=self.registry)
        self.model_calls = Histogram("articlechat_model_call_duration_seconds",
                                     "Latency of calls to the generative model, by outcome (ok or error).",
                                     ["outcome"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.disconnects = Counter("articlechat_stream_disconnects", "Answer streams stopped because the client "
                                   "went away.", registry=self.registry)

    def record_answer(self, answer: Answer, configured_backend: str) -> None:
        """Count an answer by outcome, and as a fallback when the extractive answerer stood in for the model."""
        self.answers.labels(answer.backend, "answered" if answer.answered else "declined").inc()
        if answer.fallback:
            self.fallbacks.labels(configured_backend).inc()

    def render(self) -> bytes:
        """The metrics in Prometheus' text format: this process's, or in multiprocess mode every worker's summed."""
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        summed = CollectorRegistry()
        MultiProcessCollector(summed, path=self.multiprocess_dir)
        return generate_latest(summed)

    def close(self) -> None:
        """At worker exit: tell prometheus_client this process is gone (its counters stay in the totals)."""
        if self.multiprocess_dir:
            mark_process_dead(os.getpid(), self.multiprocess_dir)


class ModelCallTimer(BaseCallbackHandler):
    """A LangChain callback that times every model call into :attr:`Metrics.model_calls`."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._started: dict[UUID, float] = {}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID,
                            **kwargs: Any) -> None:
        self._started[run_id] = time.perf_counter()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, "ok")

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, "error")

    def _finish(self, run_id: UUID, outcome: str) -> None:
        started = self._started.pop(run_id, None)
        if started is not None:
            self.histogram.labels(outcome).observe(time.perf_counter() - started)


class RequestContextMiddleware:
    """Per HTTP request: an X-Request-ID (the client's when sane, else a new one) echoed in the response and put
    on every log line, an X-Served-By header naming the worker process (its pid), one access-log line, and the
    request metrics by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        REQUEST_ID.set(request_id)  # each request runs in its own context: nothing to reset
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(b"x-request-id", request_id.encode()), (b"x-served-by", str(os.getpid()).encode())]
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "<unmatched>")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            access_log.info("%s %s %d %.1fms", scope["method"], request_target(scope), status, elapsed * 1000)


def request_target(scope: Scope) -> str:
    """The path (percent-decoded, as routed) and the query string of a request, for the access log."""
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope['path']}?{query}" if query else scope["path"]


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class OneLineFormatter(logging.Formatter):
    """One line per log event, whatever a client put in the path, query or headers that a message quotes: control
    characters in the message are escaped (:func:`escape_controls`), and the lines of a traceback are indented, so
    only a real event starts a line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    """Every line of ``text`` indented, its control characters other than the line breaks escaped."""
    return "\n".join("    " + escape_controls(line) for line in text.splitlines())


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The logging setup of ``articlechat serve`` (uvicorn's loggers included): one line per event (control
    characters escaped), request ids."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"plain": {"()": f"{__name__}.OneLineFormatter",
                                 "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "articlechat": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
