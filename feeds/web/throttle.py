"""Per-client limits on the requests that cost the database most (django-ratelimit, counted in
the default cache, so every web process shares them when the cache is Redis).

Only work that reaches the database is counted: the page cache answers repeated searches
without coming here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

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
