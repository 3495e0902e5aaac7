"""Branded answers to refused requests: a failed CSRF check, a missing permission and a
method an address does not take (405).

Each says what happened and what to do next, in the site's own page, instead of Django's
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


# What a reader asked for, in words, by HTTP method.
_VERBS = {
    "GET": "show a page",
    "HEAD": "show a page",
    "POST": "accept a form",
    "PUT": "store something",
    "PATCH": "change something",
    "DELETE": "delete something",
}


def method_not_allowed(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A 405 with an empty body (``require_safe``, ``require_POST``, a class-based view's
    refusal) as our own page saying what to do; its status and headers (``Allow``, the
    private pages' Cache-Control) are kept."""
    nav = Navigation.load()
    context = {
        "verb": _VERBS.get(request.method or "", f"answer a {request.method} request"),
        "nav_countries": nav.countries,
        "nav_topics": nav.topics,
        "back_url": came_from(request),
    }
    page = render(request, "405.html", context)
    response.content = page.content
    response["Content-Type"] = page["Content-Type"]
    return response
