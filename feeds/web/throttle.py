"""Per-client limits on the requests that cost the database most, and on failed sign-ins
(django-ratelimit, counted in the default cache, so every web process shares them when the
cache is Redis).

Only work that reaches the database is counted: the page cache answers repeated searches
without coming here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage, is_ratelimited

RETRY_AFTER_SECONDS = 60
# Every search slot taken (feeds.search.SearchBusy): a search slot frees within the search
# time budget, so a reader may try again soon.
BUSY_RETRY_AFTER_SECONDS = 5


def too_many_searches(request: HttpRequest) -> bool:
    """Count one search against the client's ``SEARCH_RATE_LIMIT``; True once it is spent.

    Signed-in editors are not limited (their own tools search as they type).
    """
    if request.user.is_authenticated:
        return False
    return is_ratelimited(
        request, group="search", key="ip", rate=settings.SEARCH_RATE_LIMIT, increment=True
    )


def too_many_signups(request: HttpRequest) -> bool:
    """Count one digest sign-up (valid or not) against the client's
    ``DIGEST_SIGNUP_RATE_LIMIT``; True once it is spent."""
    return is_ratelimited(
        request,
        group="digest-signup",
        key="ip",
        rate=settings.DIGEST_SIGNUP_RATE_LIMIT,
        increment=True,
    )


def too_many_signups_for(request: HttpRequest, address_key: str) -> bool:
    """Count one confirmation email to an address (by its hash) against
    ``DIGEST_SIGNUP_ADDRESS_RATE_LIMIT``: many clients cannot bury one inbox in them."""
    return is_ratelimited(
        request,
        group="digest-signup-address",
        key=lambda _group, _request: address_key,
        rate=settings.DIGEST_SIGNUP_ADDRESS_RATE_LIMIT,
        increment=True,
    )


_SIGN_IN_FAILURES = "sign-in-failures"


def sign_in_wait(request: HttpRequest) -> int | None:
    """Seconds before this client may try to sign in again, once its failed sign-ins have
    used up ``LOGIN_CLIENT_RATE_LIMIT`` for the window; None while it may try."""
    usage = get_usage(
        request, group=_SIGN_IN_FAILURES, key="ip", rate=settings.LOGIN_CLIENT_RATE_LIMIT
    )
    if usage is None or usage["count"] < usage["limit"]:
        return None  # within the limit (or the cache is down: RATELIMIT_FAIL_OPEN)
    return max(1, usage["time_left"])


def count_failed_sign_in(request: HttpRequest) -> None:
    """Count one sign-in that did not succeed against the client's address."""
    get_usage(
        request,
        group=_SIGN_IN_FAILURES,
        key="ip",
        rate=settings.LOGIN_CLIENT_RATE_LIMIT,
        increment=True,
    )
