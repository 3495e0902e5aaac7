"""Branded answers to refused requests: a failed CSRF check and a missing permission.

Both say what happened and what to do next, in the site's own page, instead of Django's
bare technical pages.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from feeds.permissions import came_from
from feeds.web.views import Navigation


def _refused(request: HttpRequest, *, kind: str) -> HttpResponse:
    nav = Navigation.load()
    context = {
        "kind": kind,
        "nav_countries": nav.countries,
        "nav_topics": nav.topics,
        "back_url": came_from(request),
        "login_url": reverse("admin:login") + "?next=" + (came_from(request) or "/"),
    }
    return render(request, "403.html", context, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: most often a form left open past its session, or cookies blocked."""
    return _refused(request, kind="csrf")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: signed in, but not as an editor (or not signed in where editors work)."""
    return _refused(request, kind="permission")
