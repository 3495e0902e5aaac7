"""/healthz (the process answers) and /readyz (what serving and polling depend on).

Small on purpose: each check is one round trip with a short timeout, and the answer is JSON
an operator can read. Never cached, never indexed (robots.txt disallows both).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from feeds.models import Feed

BEAT_SEEN_KEY = "ops:beat-seen"
_PROBE_KEY = "ops:readyz-probe"


def record_beat() -> None:
    """Called in the beat process when it starts and whenever it sends the due-feeds task."""
    # With a lifetime, like every cache entry, so the eviction policy may take it.
    cache.set(BEAT_SEEN_KEY, time.time(), timeout=24 * 3600)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_cache() -> str:
    token = str(time.time_ns())
    cache.set(_PROBE_KEY, token, timeout=30)
    if cache.get(_PROBE_KEY) != token:
        raise RuntimeError("a value written to the cache did not come back")
    return "ok"


def check_broker() -> str:
    from arcticnews.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def check_beat() -> str:
    seen = cache.get(BEAT_SEEN_KEY)
    limit = 2 * settings.FEEDS_POLL_SECONDS
    if seen is None:
        raise RuntimeError("beat has not been seen")
    age = time.time() - float(seen)
    if age > limit:
        raise RuntimeError(f"beat last seen {age:.0f} s ago (limit {limit:.0f} s)")
    return f"seen {age:.0f} s ago"


def overdue_share() -> tuple[int, int]:
    """(overdue, active): feeds due for longer than two beat intervals, which no worker took."""
    grace = timezone.now() - timedelta(seconds=2 * settings.FEEDS_POLL_SECONDS)
    active = Feed.objects.active().count()
    overdue = Feed.objects.due(now=grace).count()
    return overdue, active


def check_overdue() -> str:
    overdue, active = overdue_share()
    share = overdue / active if active else 0.0
    if share > settings.READYZ_MAX_OVERDUE_SHARE:
        raise RuntimeError(f"{overdue} of {active} feeds overdue ({share:.0%})")
    return f"{overdue} of {active} feeds overdue"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "beat": check_beat,
    "feeds": check_overdue,
}


def _robots(response: JsonResponse) -> JsonResponse:
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return _robots(JsonResponse({"status": "ok"}))


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, str]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"status": "ok", "detail": check()}
        except Exception as exc:  # noqa: BLE001  every failure is an answer, never a 500
            results[name] = {"status": "fail", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    ok = all(r["status"] == "ok" for r in results.values())
    body = {"status": "ok" if ok else "fail", "checks": results}
    return _robots(JsonResponse(body, status=200 if ok else 503))
