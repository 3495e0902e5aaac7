"""Reader pages beside the listings: the outlets we carry, and the newsletters, round-ups and
podcasts that are kept out of the listings (``Story.objects.roundups()``)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language_info
from django.views.decorators.http import require_safe
from django.views.static import serve

from feeds.models import Feed, Source, Story
from feeds.web.caching import public_page
from feeds.web.params import ListingParams, NoParams
from feeds.web.views import Navigation, _context, _listing


def language_name(code: str) -> str:
    """ "Norwegian Bokmål" for "nb", "English" for "en-GB"; else the code itself."""
    if not code:
        return ""
    for candidate in (code, code.split("-")[0]):
        try:
            return get_language_info(candidate.lower())["name"]
        except KeyError:
            continue
    return code


@require_safe
@public_page(NoParams.parse)
def outlets(request: HttpRequest, params: NoParams) -> HttpResponse:
    """Every source with its country, language and feeds, grouped by country (two queries)."""
    nav = Navigation.load()
    sources = Source.objects.select_related("country").prefetch_related(
        Prefetch("feeds", queryset=Feed.objects.filter(is_active=True).order_by("url"))
    )
    groups: dict[str, list[dict]] = {}
    for source in sources.order_by("country__name", "name"):
        row = {"source": source, "language": language_name(source.language)}
        groups.setdefault(source.country.name if source.country else "", []).append(row)
    sections = [
        {
            "name": name or "Across the North",
            "slug": name.lower().replace(" ", "-") or "north",
            "sources": members,
        }
        for name, members in sorted(groups.items(), key=lambda item: (not item[0], item[0]))
    ]
    context = _context(
        request,
        nav,
        sections=sections,
        source_count=sum(len(s["sources"]) for s in sections),
        description="The news outlets ArcticNews carries, by country, with their language "
        "and feeds.",
    )
    return TemplateResponse(request, "feeds/outlets.html", context)


@require_safe
@public_page(ListingParams.parse)
def roundups(request: HttpRequest, params: ListingParams) -> HttpResponse:
    """Newsletters, digests, round-ups and podcasts, newest first: never in the listings."""
    nav = Navigation.load()
    return _listing(
        request,
        params,
        nav,
        Story.objects.visible().roundups().for_listing(),
        kicker="From the outlets",
        heading="Newsletters, round-ups and podcasts",
        description="Weekly digests, newsletters and podcasts the outlets publish. They "
        "summarise stories listed elsewhere, so they are kept out of the news listings.",
    )


# A stored image's name is a hash of its bytes (feeds.ingest.images): it never changes.
IMAGE_MAX_AGE = 365 * 24 * 3600


@require_safe
def media(request: HttpRequest, path: str) -> HttpResponseBase:
    """Story images from MEDIA_ROOT, for the processes that serve the site themselves
    (runserver, gunicorn); behind a proxy or with an S3 store, those serve MEDIA_URL."""
    response = serve(request, path, document_root=str(settings.MEDIA_ROOT))
    if response.status_code == 200:
        patch_cache_control(response, public=True, max_age=IMAGE_MAX_AGE, immutable=True)
    return response
