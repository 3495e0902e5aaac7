"""Login throttling: the client's address behind a known number of proxies, the per-client
limit on failed sign-ins beside django-axes' per-username lock-out, and the 429's
Retry-After."""

from __future__ import annotations

import math

from axes.helpers import get_client_parameters, get_client_username, get_cool_off
from axes.middleware import AxesMiddleware
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from feeds.web.throttle import count_failed_sign_in, sign_in_wait


def client_ip(request: HttpRequest) -> str | None:
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        # Each trusted proxy appends the address it saw; anything further left is the
        # client's to forge, so count from the right.
        chain = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [a for a in chain if a]
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR")


def lockout_seconds_left(request: HttpRequest) -> int | None:
    """Seconds until a locked-out client may try again; None for a lock-out without end.

    django-axes counts the cool-off from the newest failure recorded for the lock-out's
    parameters (AXES_LOCKOUT_PARAMETERS). By its default (AXES_RESET_COOL_OFF_ON_FAILURE_
    DURING_LOCKOUT) a try during the lock-out is recorded and restarts the cool-off, so the
    answer to it is the whole cool-off again.
    """
    cool_off = get_cool_off(request)
    if not cool_off:
        return None
    credentials = getattr(request, "axes_credentials", None)
    filters = get_client_parameters(
        get_client_username(request, credentials),
        getattr(request, "axes_ip_address", ""),
        getattr(request, "axes_user_agent", ""),
        request,
        credentials,
    )
    matching = Q()
    for kwargs in filters:
        matching |= Q(**kwargs)
    newest = AccessAttempt.objects.filter(matching).aggregate(newest=Max("attempt_time"))["newest"]
    if newest is None:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((newest + cool_off - timezone.now()).total_seconds()))


class LockoutMiddleware(AxesMiddleware):
    """django-axes' middleware whose 429 also says when to try again (Retry-After, RFC 9110),
    so a client or a script backs off for the cool-off left instead of retrying blindly.

    It also limits failed sign-ins per client address (``LOGIN_CLIENT_RATE_LIMIT``): axes
    locks out one username on one client, so a client trying a password or two for each of
    many usernames never met a lock-out. Every sign-in POST that does not sign in counts
    (a wrong password, a locked username, a refused form); once the client's count is
    spent, its sign-ins are refused with 429 until the window ends, the right password too.
    """

    async_capable = False  # the site runs under WSGI; Django adapts if that changes

    def __call__(self, request: HttpRequest) -> HttpResponse:
        signing_in = request.method == "POST" and request.path == reverse("admin:login")
        if signing_in:
            wait = sign_in_wait(request)
            if wait is not None:
                return _too_many_sign_ins(wait)
        response = super().__call__(request)
        if signing_in and not request.user.is_authenticated:
            count_failed_sign_in(request)
        if getattr(request, "axes_locked_out", False) and response.status_code == 429:
            left = lockout_seconds_left(request)
            if left is not None and not response.has_header("Retry-After"):
                response["Retry-After"] = str(left)
        return response


def _too_many_sign_ins(wait: int) -> HttpResponse:
    minutes = math.ceil(wait / 60)
    response = HttpResponse(
        "Too many failed sign-ins from your network address; "
        f"try again in {minutes} minute{'s' if minutes != 1 else ''}.\n",
        content_type="text/plain; charset=utf-8",
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response
