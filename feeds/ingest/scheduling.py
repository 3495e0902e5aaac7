"""When to poll a feed next: adaptive on success, exponential backoff on failure.

Per feed, never per domain. Bounds keep a hyperactive feed from being hammered and a
quiet one from being forgotten; jitter keeps many feeds from firing in the same second.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

MIN_INTERVAL = timedelta(minutes=10)
MAX_INTERVAL = timedelta(hours=6)
DEFAULT_INTERVAL = timedelta(minutes=30)
MAX_BACKOFF = timedelta(hours=24)
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def _jitter(delay: timedelta, rng: random.Random | None) -> timedelta:
    uniform = rng.uniform if rng is not None else random.uniform
    return delay * uniform(0.9, 1.1)


def publish_interval(dates: Sequence[datetime]) -> timedelta | None:
    """The feed's typical gap between items (median of recent gaps)."""
    ordered = sorted({d for d in dates if d is not None}, reverse=True)[:20]
    gaps = sorted(a - b for a, b in zip(ordered, ordered[1:], strict=False) if a > b)
    if not gaps:
        return None
    return gaps[len(gaps) // 2]


def next_success_delay(
    *,
    item_dates: Sequence[datetime] = (),
    ttl_minutes: int | None = None,
    update_period_minutes: int | None = None,
    headers: Mapping[str, str] | None = None,
    previous_interval_minutes: int | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """Poll about twice per publishing gap, honouring the feed's own hints within bounds."""
    interval = publish_interval(item_dates)
    delay = interval / 2 if interval else None
    if delay is None and previous_interval_minutes:
        delay = timedelta(minutes=previous_interval_minutes) / 2
    delay = delay or DEFAULT_INTERVAL
    hints = []
    if ttl_minutes:
        hints.append(timedelta(minutes=ttl_minutes))
    if update_period_minutes:
        hints.append(timedelta(minutes=update_period_minutes))
    if headers:
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        if match:
            hints.append(_seconds(match.group(1), MAX_INTERVAL))
    if hints:
        # A publisher asking us to wait longer than our estimate is honoured, within bounds.
        delay = max(delay, max(hints))
    delay = min(max(delay, MIN_INTERVAL), MAX_INTERVAL)
    return _jitter(delay, rng)


def failure_delay(
    consecutive_failures: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """Exponential backoff from 10 minutes, capped at a day; Retry-After wins if longer.

    The jitter spreads the backoff only: a server's Retry-After is a floor, never shortened.
    """
    exponent = max(consecutive_failures - 1, 0)
    delay = _jitter(min(MIN_INTERVAL * (2 ** min(exponent, 10)), MAX_BACKOFF), rng)
    if retry_after is not None and retry_after > 0:
        # Compared as seconds first: a server's 10**14 would overflow a timedelta.
        delay = max(delay, timedelta(seconds=min(retry_after, MAX_BACKOFF.total_seconds())))
    return delay


def _seconds(digits: str, bound: timedelta) -> timedelta:
    """``digits`` seconds, at most ``bound``: headers may carry any number of digits, and
    beyond about 10**14 seconds a timedelta overflows (and converting a 5,000-digit string to
    an int is refused by Python)."""
    limit = int(bound.total_seconds())
    if len(digits.lstrip("0")) > len(str(limit)):
        return bound
    return timedelta(seconds=min(int(digits), limit))
