"""Observability across processes: `/metrics` summed over the workers of `articlechat serve --workers 2`, and one
log line per request whatever control characters a client puts in it."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from articlechat.api.observability import OneLineFormatter, escape_controls, log_config
from articlechat.embeddings import EmbeddingBackend
from conftest import seed_store, server_env, store_env, store_settings
from servers import ApiServer, articlechat_serve
from test_workers import wait_for_workers

REQUESTS = 40
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) \[[^\]\s]+\] \S+: ")


def healthz_totals(metrics: str) -> tuple[float, float]:
    """(requests counted, latencies observed) of ``GET /healthz`` answered 200, from a /metrics page."""
    requests = latencies = 0.0
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.labels.get("route") != "/healthz" or sample.labels.get("method") != "GET":
                continue
            if sample.name == "articlechat_http_requests_total" and sample.labels["status"] == "200":
                requests += sample.value
            elif sample.name == "articlechat_http_request_duration_seconds_count":
                latencies += sample.value
    return requests, latencies


def totals_by_worker(http: httpx.Client, workers: set[str], timeout: float = 60.0) -> dict[str, tuple[float, float]]:
    """:func:`healthz_totals` as each worker reports it (fresh connections until every worker has answered)."""
    seen: dict[str, tuple[float, float]] = {}
    deadline = time.monotonic() + timeout
    while set(seen) != workers:
        assert time.monotonic() < deadline, f"only workers {set(seen)} answered /metrics"
        response = http.get("/metrics")
        assert response.status_code == 200
        seen[response.headers["x-served-by"]] = healthz_totals(response.text)
    return seen


def test_metrics_count_the_requests_of_every_worker(two_workers: str) -> None:
    with httpx.Client(base_url=two_workers, timeout=30.0, headers={"Connection": "close"}) as http:
        workers = wait_for_workers(http, 2)
        before = totals_by_worker(http, workers)
        assert len(set(before.values())) == 1, f"the workers disagree: {before}"
        served = [http.get("/healthz").headers["x-served-by"] for _ in range(REQUESTS)]
        assert set(served) == workers, "one worker answered every request"
        after = totals_by_worker(http, workers)
    (requests, latencies), = set(before.values())
    assert set(after.values()) == {(requests + REQUESTS, latencies + REQUESTS)}, after


# --- Logs --------------------------------------------------------------------------------------------------------

# (request target as sent, status): a %0A in the path forged a log line before; raw control bytes are refused by
# the HTTP parser (400, logged once by uvicorn, the app never sees them).
HOSTILE_TARGETS = [
    (b"/healthz%0A2026-12-02%2010:00:00,000%20INFO%20[-]%20articlechat.access:%20GET%20/admin%20200%201.0ms", 404),
    (b"/no/such%0D%0A%1B[31mred%1B[0m%C2%85%E2%80%A8page", 404),
    (b"/healthz?next=%0Afake&raw=\\x0a", 200),
    (b"/x\ny", 400),
    (b"/x\ry", 400),
    (b"/x\x1b[2Jy", 400),
    (b"/x\x85y", 400),
]


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory, bundled_data_dir: Path,
               embedding_backend: EmbeddingBackend) -> Iterator[ApiServer]:
    """`articlechat serve` on the embedded store with the bundled article; its temporary files under ``work/tmp``."""
    work = tmp_path_factory.mktemp("logs")
    store = store_settings(work / "data", None)
    seed_store(bundled_data_dir, store, embedding_backend)
    (work / "tmp").mkdir()
    env = server_env(work / "data", **store_env(store), TMPDIR=str(work / "tmp"))
    with articlechat_serve(work, env) as server:
        yield server


def raw_request(url: str, target: bytes) -> int:
    """Send ``GET target`` byte for byte on a socket; the response's status."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1])


def log_lines(server: ApiServer) -> list[str]:
    """The server log's lines, without the readiness probes the fixture sent while it started (their lines can land
    late, after a test has started counting)."""
    return [line for line in server.log.read_text().splitlines() if "articlechat.access: GET /readyz " not in line]


def test_control_characters_in_a_request_cannot_forge_a_log_line(one_worker: ApiServer) -> None:
    before = len(log_lines(one_worker))
    assert [raw_request(one_worker.url, target) for target, _ in HOSTILE_TARGETS] == [s for _, s in HOSTILE_TARGETS]
    deadline = time.monotonic() + 5
    while len(log_lines(one_worker)) < before + len(HOSTILE_TARGETS) and time.monotonic() < deadline:
        time.sleep(0.05)
    new = log_lines(one_worker)[before:]
    assert len(new) == len(HOSTILE_TARGETS), "\n".join(new)  # one line per request, no more
    assert all(LOG_LINE.match(line) for line in new), "\n".join(new)
    access = [line for line in new if "articlechat.access" in line]
    assert len(access) == sum(status != 400 for _, status in HOSTILE_TARGETS)
    forged = r"2026-12-02 10:00:00,000 INFO [-] articlechat.access: GET /admin 200 1.0ms"
    assert rf"GET /healthz\x0a{forged} 404 " in access[0]
    assert r"GET /no/such\x0d\x0a\x1b[31mred\x1b[0m\x85\u2028page 404 " in access[1]
    assert r"GET /healthz?next=%0Afake&raw=\x5cx0a 200 " in access[2]  # the query as sent; a backslash escaped too
    refused = sum(status == 400 for _, status in HOSTILE_TARGETS)
    assert sum("uvicorn.error: Invalid HTTP request received." in line for line in new) == refused


def test_each_server_start_counts_metrics_in_a_fresh_directory_removed_at_exit(one_worker: ApiServer) -> None:
    tmp = one_worker.log.parent / "tmp"
    directories = list(tmp.glob("articlechat-metrics-*"))
    assert len(directories) == 1 and list(directories[0].glob("counter_*.db"))
    assert httpx.get(f"{one_worker.url}/metrics").status_code == 200


def test_the_log_formatter_keeps_every_event_on_lines_of_its_own() -> None:
    assert escape_controls("a\nb\r\x1b\x00\x7f\x9f\\\u2028é") == r"a\x0ab\x0d\x1b\x00\x7f\x9f\x5c\u2028é"
    formatter = OneLineFormatter(log_config()["formatters"]["plain"]["format"])
    try:
        raise ValueError("bad input\n2026-12-02 10:00:00,000 INFO [-] articlechat.access: GET / 200 1.0ms")
    except ValueError as exc:
        record = logging.LogRecord("articlechat.api", logging.ERROR, __file__, 1, "failed on %s", ("x\ny",),
                                   (type(exc), exc, exc.__traceback__))
    record.request_id = "-"
    lines = formatter.format(record).splitlines()
    assert lines[0].endswith(r"articlechat.api: failed on x\x0ay")
    assert lines[1] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in lines[1:])  # no traceback line can pass for an event
