"""Where rate-limit counters live, and the limiter over them: one place for every limit of the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from limits.util import WindowStats
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from articlechat.api.errors import LimiterUnavailable
from articlechat.config import Settings

T = TypeVar("T")
REDIS_TIMEOUT_SECONDS = 2.0
# One quick retry rides over a pooled connection that a Redis restart closed; redis-py's default (3 retries, backoff
# up to 10 s) would hold every chat request for seconds while Redis is down.
REDIS_RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), retries=1)


def limiter_storage(settings: Settings) -> Storage:
    """Redis when ARTICLECHAT_REDIS_URL is set (shared by every process and machine), else this process's memory.
    Either way a key expires with its window, so memory is bounded by the keys seen in one window. Redis failures
    are raised as :class:`limits.errors.StorageError`."""
    if settings.redis_url:
        return storage_from_string(settings.redis_url.get_secret_value(), wrap_exceptions=True, retry=REDIS_RETRY,
                                   socket_timeout=REDIS_TIMEOUT_SECONDS,
                                   socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    return MemoryStorage()


class RateLimiter:
    """A sliding-window-counter limiter: two counters per key (not one entry per hit, as a moving window keeps),
    which MemoryStorage expires (it never forgets a moving window's keys). A storage failure is raised as
    :class:`LimiterUnavailable` (503)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one request against ``item``; False when it is over the limit."""
        return self._guarded(self._strategy.hit, item, *identifiers)

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Whether one more request would be within ``item``, counting nothing."""
        return self._guarded(self._strategy.test, item, *identifiers)

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """When the window of ``item`` frees up, and what remains of it."""
        return self._guarded(self._strategy.get_window_stats, item, *identifiers)

    def _guarded(self, call: Callable[..., T], item: RateLimitItem, *identifiers: str) -> T:
        try:
            return call(item, *identifiers)
        except StorageError as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: StorageError) -> LimiterUnavailable:
        """The error for a storage failure; its message (logged, not sent: see api/errors) names the cause."""
        cause = exc.storage_error
        return LimiterUnavailable(f"rate-limit storage unreachable (ARTICLECHAT_REDIS_URL): {type(cause).__name__}: "
                                  f"{cause}")


def rate_limiter(settings: Settings) -> RateLimiter:
    """The service's limiter, on :func:`limiter_storage`."""
    return RateLimiter(limiter_storage(settings))
