"""The page-cache generation: one counter that every cached page and validator includes.

Ingest (and anything else that changes what readers see) calls ``bump_generation()`` once
the change is committed. Every cache key and ETag built from ``generation()`` then changes at
once, so no page has to be deleted by name: the old entries are simply never asked for again
and expire on their own.

The counter lives in the default cache (Redis when REDIS_URL is set, so all web workers and
Celery workers share it). A cache outage never breaks a page: ``state()`` returns ``None``
and callers serve uncached pages without validators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache

GENERATION_KEY = "feeds:generation"
CHANGED_AT_KEY = "feeds:generation:changed_at"
# Bump when templates or page structure change in a way old cached pages must not survive
# (a deploy can also just call bump_generation()).
LAYOUT_VERSION = "1"


@dataclass(frozen=True)
class CacheState:
    generation: int
    changed_at: datetime  # when the generation last changed (UTC)


def _now_us() -> int:
    return time.time_ns() // 1000


def _initialise() -> None:
    # Start from the clock, not from 0: after an eviction or a cache restart the counter
    # must not come back to a value it had before (old ETags would match again). In
    # microseconds, so that even a burst of bumps just before an eviction stays below where
    # the clock restarts it.
    now = _now_us()
    if cache.add(GENERATION_KEY, now, timeout=None):
        cache.set(CHANGED_AT_KEY, now / 1_000_000, timeout=None)


def bump_generation(*args: object, **kwargs: object) -> int | None:
    """Invalidate every cached page and validator. Safe to call from ingest, admin or signals.

    Extra arguments are ignored so it can be used directly as a signal receiver or an
    ``on_commit`` callback.
    """
    try:
        value = cache.incr(GENERATION_KEY)
    except ValueError:  # the key is missing (first use, eviction, flushed cache)
        _initialise()
        try:
            value = cache.incr(GENERATION_KEY)
        except ValueError:
            return None
    if value is None:  # a backend that swallowed an outage (IGNORE_EXCEPTIONS)
        return None
    cache.set(CHANGED_AT_KEY, time.time(), timeout=None)
    return int(value)


def state() -> CacheState | None:
    """The current generation and when it changed, in one cache round trip; None on outage."""
    values = cache.get_many([GENERATION_KEY, CHANGED_AT_KEY])
    if GENERATION_KEY not in values:
        _initialise()
        values = cache.get_many([GENERATION_KEY, CHANGED_AT_KEY])
        if GENERATION_KEY not in values:
            return None
    changed = values.get(CHANGED_AT_KEY) or time.time()
    return CacheState(
        generation=int(values[GENERATION_KEY]),
        changed_at=datetime.fromtimestamp(float(changed), tz=UTC),
    )


def generation() -> int | None:
    """The current generation number (None when the cache is unreachable)."""
    current = state()
    return current.generation if current else None
