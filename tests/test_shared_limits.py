"""Rate limits shared through a real Redis server, and bounded in memory without one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from limits import parse
from limits.storage import MemoryStorage, RedisStorage

from articlechat.api.errors import RateLimited
from articlechat.api.limits import limiter_storage, rate_limiter
from articlechat.api.security import ChatLimits
from articlechat.config import load_settings
from articlechat.errors import ConfigError
from servers import redis_running


def test_a_limit_hit_in_one_process_holds_in_another(tmp_path: Path) -> None:
    with redis_running(tmp_path) as url:
        settings = load_settings(redis_url=url, rate_limit_session="3/minute")
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
