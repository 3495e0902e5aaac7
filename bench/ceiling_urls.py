"""The ceiling views of ``bench/pages.py``, next to the project's own URLs.

* ``/bench/static/``: the same bytes every time (what gunicorn and Django's handler cost).
* ``/bench/template/``: the country listing template rendered from stories held in memory
  (read from the database once per process): the page without its queries.
* ``/bench/cache-page/``: that view behind Django's ``cache_page`` (the shared cache,
  Redis): what a whole-page cache hit can cost at best.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import include, path, reverse
from django.views.decorators.cache import cache_page

from feeds.models import Country, Story, Topic

STATIC_BODY = b"<!doctype html><title>static</title><p>" + b"ArcticNews " * 3000 + b"</p>\n"
_MEMORY: dict[str, object] = {}


def _context() -> dict[str, object]:
    """The country page's context for Norway, built once per process."""
    if not _MEMORY:
        countries = list(Country.objects.order_by("name"))
        topics = list(Topic.objects.order_by("name"))
        norway = next(c for c in countries if c.slug == "norway")
        stories = list(
            Story.objects.visible().for_listing().for_country(norway).newest_first()[:20]
        )
        older = (
            f"?before={stories[-1].published_at.isoformat()},{stories[-1].pk}" if stories else None
        )
        _MEMORY.update(
            nav_countries=countries,
            nav_topics=topics,
            stories=stories,
            page=SimpleNamespace(is_first=True, stories=stories),
            newer_url=None,
            older_url=older,
            kicker="Country",
            heading=norway.name,
            description=norway.description,
            current_country=norway.slug,
            feeds={
                kind: reverse(f"feeds:country_{kind}", args=[norway.slug])
                for kind in ("rss", "atom", "json")
            },
            feeds_title=norway.name,
            filter_label=f"Topics in {norway.name}",
            filters=[
                {"name": t.name, "url": reverse("feeds:country_topic", args=[norway.slug, t.slug])}
                for t in topics
            ],
        )
    return _MEMORY


def static_bytes(request: HttpRequest) -> HttpResponse:
    return HttpResponse(STATIC_BODY, content_type="text/html; charset=utf-8")


def template_only(request: HttpRequest) -> HttpResponse:
    context = {**_context(), "canonical_url": request.build_absolute_uri(request.path)}
    return TemplateResponse(request, "feeds/listing.html", context)


urlpatterns = [
    path("bench/static/", static_bytes),
    path("bench/template/", template_only),
    path("bench/cache-page/", cache_page(300, key_prefix="bench")(template_only)),
    path("", include("arcticnews.urls")),
]
