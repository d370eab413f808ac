"""Rate limits shared through a real Redis server, bounded in memory without one, and a clear 503 while Redis
is down."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from limits import parse
from limits.storage import MemoryStorage, RedisStorage

from articlechat.api.errors import RateLimited
from articlechat.api.limits import limiter_storage, rate_limiter
from articlechat.api.security import ChatLimits
from articlechat.config import load_settings
from articlechat.errors import ConfigError
from conftest import server_env
from servers import articlechat_serve, redis_running, stop
from test_api import QUESTION, error_of


def test_a_limit_hit_in_one_process_holds_in_another(tmp_path: Path) -> None:
    with redis_running(tmp_path) as redis:
        settings = load_settings(redis_url=redis.url, rate_limit_session="3/minute")
        assert isinstance(limiter_storage(settings), RedisStorage)
        first, second = ChatLimits(settings), ChatLimits(settings)  # as two machines would have
        for limits in (first, second, first):
            limits.check_session("shared-session-1", lambda _id: True)
        with pytest.raises(RateLimited, match="this session"):
            second.check_session("shared-session-1", lambda _id: True)


def test_unknown_session_ids_are_not_counted_and_memory_keys_expire() -> None:
    settings = load_settings(redis_url="", rate_limit_session="1/second")
    limits = ChatLimits(settings)
    for n in range(1000):
        limits.check_session(f"made-up-{n:05d}" + "x" * 1000, lambda _id: False)
    storage = limits._limiter.storage
    assert isinstance(storage, MemoryStorage) and not storage.storage and not storage.events  # no key added
    limiter = rate_limiter(settings)
    item = parse("1/second")
    for n in range(100):
        limiter.hit(item, "k", str(n))
    assert limiter.storage.storage  # counted ...
    time.sleep(2.2)
    limiter.hit(item, "k", "last")  # ... and expired with the window (the storage sweeps on use)
    time.sleep(0.2)
    assert len(limiter.storage.storage) <= 2


def test_a_redis_url_of_another_scheme_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ConfigError, match=r"ARTICLECHAT_REDIS_URL: .*redis://"):
        load_settings(redis_url="nonsense")


def chat_requests(http: httpx.Client) -> list[httpx.Response]:
    """One request to each rate-limited endpoint: ask, ask as a stream, and the OpenAI-compatible one."""
    return [http.post("/api/ask", json={"question": QUESTION}),
            http.post("/api/ask/stream", json={"question": QUESTION}),
            http.post("/v1/chat/completions", json={"model": "articlechat",
                                                    "messages": [{"role": "user", "content": QUESTION}]})]


def test_while_redis_is_down_chat_requests_get_503_naming_no_host_then_recover(tmp_path: Path,
                                                                                seeded_data_dir: Path) -> None:
    with redis_running(tmp_path) as redis:
        env = server_env(seeded_data_dir, ARTICLECHAT_REDIS_URL=redis.url, ARTICLECHAT_RATE_LIMIT_CLIENT="100/minute")
        with articlechat_serve(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=30.0) as http:
            assert [r.status_code for r in chat_requests(http)] == [200, 200, 200]
            stop(redis.process)
            started = time.monotonic()
            refused = chat_requests(http)
            elapsed = time.monotonic() - started
            for response in refused:
                error = error_of(response, 503)
                assert error["code"] == "limiter_unavailable" and "try again" in error["message"]
                assert "127.0.0.1" not in response.text and str(redis.port) not in response.text
                assert "redis" not in response.text.lower()
            assert elapsed < 6, f"three refusals took {elapsed:.1f} s"  # no long retry loop per request
            assert http.get("/healthz").status_code == 200  # the routes without limits are not affected
            with redis_running(tmp_path, redis.port):  # Redis is back on its address: served again, no restart
                assert [r.status_code for r in chat_requests(http)] == [200, 200, 200]
    log = server.log.read_text()
    assert log.count("rate-limit storage unreachable (ARTICLECHAT_REDIS_URL): ConnectionError") == 3
    assert "Traceback" not in log and "unexpected error" not in log
