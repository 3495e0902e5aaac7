"""The page-cache generations: counters that every cached page is stored against.

Two kinds, both in the default cache (Redis when REDIS_URL is set, so every web worker and
Celery worker shares them):

* the **global** generation: ``bump_generation()`` invalidates every page at once. Editors'
  changes, deploys and anything whose reach is hard to name call it.
* one counter per **listing** a story can appear on (``scope``): ``latest`` (home, ``/feed/``,
  search, sitemaps, storylines: anything that lists any story), ``country:<slug>``,
  ``topic:<slug>``, ``source:<slug>`` and ``story:<pk>`` (a story's own page).
  ``bump_listings()`` bumps only those a set of changed stories appears on, so a new Norway
  story leaves ``/country/finland/`` and every other story's page cached. It writes each a
  new, never-used value (a token) in one ``set_many`` rather than incrementing them one by
  one: a fetch touches dozens of listings, and this runs after every fetch.

A page is stored with the values of the global counter and of its scopes (``versions``); it is
current while they are unchanged. No page has to be deleted by name: an out-of-date entry is
simply rebuilt on its next request. A counter that is missing (first use, eviction) starts
from the clock in microseconds, never from a value it may have had before. A cache outage
never breaks a page: ``versions`` answers ``None`` and callers serve uncached pages.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache

GENERATION_KEY = "feeds:generation"
CHANGED_AT_KEY = "feeds:generation:changed_at"
# Bump when templates or page structure change in a way old cached pages must not survive
# (a deploy can also just call bump_generation()).
LAYOUT_VERSION = "2"
# A listing's counter may be evicted (it has a lifetime, so Redis's volatile-lru can reclaim
# the one per story page); starting again from the clock keeps it above any value it had.
SCOPE_TIMEOUT = 7 * 24 * 3600
LATEST = "latest"


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


def scope_key(scope: str) -> str:
    return f"{GENERATION_KEY}:{scope}"


def watched(scopes: Iterable[str]) -> list[str]:
    """The cache keys of the counters a page depends on: the global one, then its scopes'."""
    return [GENERATION_KEY, *(scope_key(scope) for scope in scopes)]


def versions(values: Mapping[str, object], keys: list[str]) -> tuple[int, ...] | None:
    """The counters' values (``keys`` from ``watched``) as read in ``values`` (one
    ``get_many`` with whatever else the caller needed); missing ones are started from the
    clock. None when the cache is unreachable."""
    missing = [key for key in keys if key not in values]
    if missing:
        now = _now_us()
        for key in missing:
            if key == GENERATION_KEY:
                _initialise()
            else:
                cache.add(key, now, timeout=SCOPE_TIMEOUT)
        values = {**values, **cache.get_many(missing)}
        if any(key not in values for key in keys):
            return None
    return tuple(int(values[key]) for key in keys)  # type: ignore[call-overload]


def listing_scopes(listed_on: Mapping[str, Iterable[object]]) -> list[str]:
    """The scopes of changed stories: ``latest`` and one per listing they appear on, from
    ``StoryQuerySet.listed_on()`` (kind -> slugs or story ids)."""
    scopes = [LATEST]
    for kind, values in listed_on.items():
        scopes += sorted({f"{kind}:{value}" for value in values})
    return scopes


def _token() -> int:
    # A value no counter has had before: the clock in nanoseconds' range (microseconds and
    # a random thousandth), so two processes bumping the same listing in the same
    # microsecond still almost surely write different values. It fits in 63 bits.
    return _now_us() * 1000 + secrets.randbelow(1000)


def bump_listings(listed_on: Mapping[str, Iterable[object]]) -> list[str]:
    """Invalidate the pages these changed stories can appear on, and only those (see
    ``listing_scopes``). Returns the scopes written (a backend that reports failed keys, as
    Django's do, leaves those out).

    Every scope gets a new token in ONE ``set_many``: a single pipelined round trip on Redis
    (django-redis runs it as MULTI/EXEC, so another process sees all of them or none), and on
    the file cache one count of the cache directory for the whole batch
    (``arcticnews.cache.FileBasedCache``) instead of a get and a set, each set counting every
    file, per scope. A page compares its stored versions for equality only, so a fresh token
    invalidates it as surely as an increment did; unlike the file cache's ``incr`` (a get
    then a set), two processes bumping the same scope at once can no longer both write the
    same value. Writing also renews each counter's lifetime."""
    scopes = listing_scopes(listed_on)
    token = _token()
    failed = cache.set_many({scope_key(scope): token for scope in scopes}, SCOPE_TIMEOUT)
    failed_keys = set(failed or ())
    return [scope for scope in scopes if scope_key(scope) not in failed_keys]
