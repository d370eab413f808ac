"""`articlechat serve` on an empty data directory with tiny rate limits: the bundled article ingested at startup,
429 with Retry-After per client address and per session, and access logs that carry request ids."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servers import free_port, running_server
from test_api import QUESTION, error_of, server_env


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`articlechat serve` allowing 3 chat requests a minute per address and 2 per session, behind a proxy on
    127.0.0.1 (the test client); yields (URL, log)."""
    work = tmp_path_factory.mktemp("limited")
    port = free_port()
    env = server_env(work / "data", ARTICLECHAT_RATE_LIMIT_CLIENT="3/minute", ARTICLECHAT_RATE_LIMIT_SESSION="2/minute",
                     ARTICLECHAT_TRUSTED_PROXIES="127.0.0.1")
    command = [sys.executable, "-m", "articlechat", "serve", "--host", "127.0.0.1", "--port", str(port)]
    url, log = f"http://127.0.0.1:{port}", work / "server.log"
    with running_server(command, f"{url}/readyz", log, env=env):
        yield url, log


def ask_from(url: str, address: str, **body: str) -> httpx.Response:
    """POST /api/ask as the client ``address``, forwarded by the trusted proxy on 127.0.0.1."""
    return httpx.post(f"{url}/api/ask", json={"question": QUESTION, **body}, headers={"X-Forwarded-For": address},
                      timeout=30.0)


def test_per_address_limit(limited: tuple[str, Path]) -> None:
    url, _ = limited
    assert [ask_from(url, "203.0.113.1").status_code for _ in range(3)] == [200, 200, 200]
    refused = ask_from(url, "203.0.113.1")
    error = error_of(refused, 429)
    assert error["code"] == "rate_limited" and "3 per 1 minute" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    stream = httpx.post(f"{url}/api/ask/stream", json={"question": QUESTION},
                        headers={"X-Forwarded-For": "203.0.113.1"}, timeout=30.0)
    assert error_of(stream, 429)["code"] == "rate_limited"
    assert ask_from(url, "203.0.113.2").status_code == 200  # another client is not affected
    assert httpx.get(f"{url}/readyz").status_code == 200  # nor are the other endpoints


def test_per_session_limit(limited: tuple[str, Path]) -> None:
    url, _ = limited
    session = ask_from(url, "198.51.100.1").json()["session_id"]  # starting a session is not a session request
    statuses = [ask_from(url, f"198.51.100.{n}", session_id=session).status_code for n in (2, 3, 4)]
    assert statuses == [200, 200, 429]
    assert ask_from(url, "198.51.100.5").status_code == 200  # a new session is fine


def test_the_bundled_article_is_ingested_into_an_empty_store(limited: tuple[str, Path]) -> None:
    url, log = limited
    assert httpx.get(f"{url}/readyz").json()["chunks"] >= 10
    assert "articlechat.api: added the bundled article “Russia and North Korea talks" in log.read_text()


def logged(log: Path, pattern: str, timeout: float = 5.0) -> bool:
    """Whether a line matching ``pattern`` shows up in ``log`` (the access line is written after the response)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text(), re.MULTILINE):
            return True
        time.sleep(0.05)
    return False


def test_serve_logs_each_request_with_its_id(limited: tuple[str, Path]) -> None:
    url, log = limited
    httpx.get(f"{url}/healthz", headers={"X-Request-ID": "probe-7f3a"})
    httpx.get(f"{url}/no/such/page", headers={"X-Request-ID": "bad id with spaces"})
    assert logged(log, r"INFO \[probe-7f3a\] articlechat\.access: GET /healthz 200 \d+\.\dms$")
    assert logged(log, r"INFO \[[0-9a-f]{32}\] articlechat\.access: GET /no/such/page 404 ")
    assert "Uvicorn running on http://127.0.0.1:" in log.read_text()
