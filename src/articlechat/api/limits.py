"""Where rate-limit counters live, and the limiter over them: one place for every limit of the service."""

from __future__ import annotations

from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import RateLimiter, SlidingWindowCounterRateLimiter

from articlechat.config import Settings


def limiter_storage(settings: Settings) -> Storage:
    """Redis when ARTICLECHAT_REDIS_URL is set (shared by every process and machine), else this process's memory.
    Either way a key expires with its window, so memory is bounded by the keys seen in one window."""
    if settings.redis_url:
        return storage_from_string(settings.redis_url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2)
    return MemoryStorage()


def rate_limiter(settings: Settings) -> RateLimiter:
    """A sliding-window-counter limiter: two counters per key (not one entry per hit, as a moving window keeps),
    which MemoryStorage expires (it never forgets a moving window's keys)."""
    return SlidingWindowCounterRateLimiter(limiter_storage(settings))
