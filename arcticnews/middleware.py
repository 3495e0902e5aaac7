"""Responses that must never be stored by a shared cache, and 405s that must not be blank."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from feeds.web.errors import method_not_allowed

# Signed-in pages: the admin and the related-box editor. A proxy or CDN that kept one would
# show an editor's page (and its CSRF token) to the next reader.
PRIVATE_PREFIXES = ("/admin/", "/editor/")


class PrivatePagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PRIVATE_PREFIXES):
            # patch_cache_control drops "public" when "private" is set.
            add_never_cache_headers(response)
            patch_cache_control(response, private=True, no_store=True)
        return response


class BrandedNotAllowedMiddleware:
    """Django's 405 answers (``require_POST``, ``require_safe``, class-based views) have an
    empty body, which a browser shows as a blank page; Django has no handler405 to brand them.
    This gives every one of them the site's page saying what happened and what to do."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.streaming and not response.content:
            return method_not_allowed(request, response)
        return response
