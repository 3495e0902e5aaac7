"""Reader-facing pages: home, listings (country, topic, source, country × topic), story, search.

Every page runs a small, fixed number of queries whatever the data size (tests assert it):
the navigation (countries, topics), the page's stories with their tags prefetched, and at most
a few page-specific queries. Listings use keyset pagination (``?before=<published_at>,<id>``
for older stories, ``?after=…`` for newer ones): a page far back costs one index range scan,
like the first, and its link keeps showing the same stories while new ones arrive.

Anonymous GET responses go through the one page cache (``feeds.web.caching``): stored whole
per cache generation (``feeds.generation``, which ingest bumps after every change) and per
five-minute bucket, so the relative times on a page ("2 hours ago") are never more than five
minutes stale, with ETag/Last-Modified validators. A page's cache identity is the parameters it
reads, nothing else from the query string.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q, QuerySet, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseServerError,
)
from django.shortcuts import get_object_or_404, render
from django.template import loader
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from feeds.models import (
    Country,
    RelatedSlot,
    Source,
    Story,
    StoryCountry,
    StoryTopic,
    Topic,
    visible_q,
)
from feeds.search import highlight_html, search_stories
from feeds.tagging.countries import COUNTRIES as COUNTRY_DEFS
from feeds.tagging.store import tag_reasons
from feeds.web import caching
from feeds.web.caching import public_page
from feeds.web.templatetags import cached_reverse, countries_in_order, plaintext, topics_in_order

PAGE_SIZE = 20
HOME_SIZE = 13  # the front page: a lead story and twelve more; "Older stories" pages by 20
SECTION_SIZE = 4  # stories per country on the home page
SECTION_HORIZON = timedelta(days=120)  # home country sections look this far back
MAP_WINDOW = timedelta(days=7)
SEARCH_MAX_PAGE = 50


# --- Navigation and page context -----------------------------------------------------------


@dataclass(frozen=True)
class Navigation:
    """The fixed vocabularies, read once per page (two small queries)."""

    countries: list[Country]
    topics: list[Topic]

    @classmethod
    def load(cls) -> Navigation:
        return cls(list(Country.objects.order_by("name")), list(Topic.objects.order_by("name")))

    def country(self, slug: str | None) -> Country | None:
        return next((c for c in self.countries if c.slug == slug), None)

    def topic(self, slug: str | None) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)


def _context(request: HttpRequest, nav: Navigation, **extra) -> dict:
    return {
        "nav_countries": nav.countries,
        "nav_topics": nav.topics,
        "canonical_url": request.build_absolute_uri(request.path),
        **extra,
    }


@dataclass(frozen=True)
class FeedListing:
    """The listing a page mirrors in feeds; the ``syndication`` tag library makes the links."""

    name: str  # URL name of the listing: "home", "country", ...
    args: tuple[str, ...] = ()
    query: str = ""  # the search's normalised query string


# --- Parameters: what each page reads, which is also its cache identity --------------------


def _read(request: HttpRequest, *names: str) -> str:
    return urlencode([(name, request.GET[name].strip()) for name in names if name in request.GET])


def cursor_params(request: HttpRequest) -> str:
    return _read(request, "before", "after")


def search_params(request: HttpRequest) -> str:
    return _read(request, "q", "country", "topic", "since", "until", "page")


def sitemap_params(request: HttpRequest) -> str:
    return _read(request, "p")


# --- Keyset pagination ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first listing: a story's publication time and id."""

    published_at: datetime
    pk: int

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        raw = (raw or "").strip()
        stamp, sep, pk = raw.rpartition(",")
        if not sep or not pk.isdigit() or len(raw) > 64:
            return None
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return cls(moment, int(pk))

    @classmethod
    def of(cls, story: Story) -> Cursor:
        return cls(story.published_at, story.pk)

    def __str__(self) -> str:
        return f"{self.published_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ},{self.pk}"

    def older(self) -> Q:
        return Q(published_at__lt=self.published_at) | Q(
            published_at=self.published_at, pk__lt=self.pk
        )

    def newer(self) -> Q:
        return Q(published_at__gt=self.published_at) | Q(
            published_at=self.published_at, pk__gt=self.pk
        )


@dataclass(frozen=True)
class Page:
    stories: list[Story]
    newer_query: str | None  # "?after=…" for newer stories ("" = the first page), or None
    older_query: str | None  # "?before=…" for older stories, or None
    is_first: bool
    self_query: str = ""  # this page's own "?before=…"/"?after=…" (for its canonical URL)

    def url(self, path: str, query: str | None) -> str | None:
        return None if query is None else path + query


def keyset_page(request: HttpRequest, queryset: QuerySet, first_size: int = PAGE_SIZE) -> Page:
    """PAGE_SIZE stories around the cursor in ?before= or ?after=; the newest without one
    (``first_size`` of them).

    One query (plus the queryset's prefetches); two when ?after= reaches the top and the
    first page is served instead.
    """
    before = Cursor.parse(request.GET.get("before"))
    after = None if before else Cursor.parse(request.GET.get("after"))
    if after is not None:
        rows = list(queryset.filter(after.newer()).order_by("published_at", "id")[: PAGE_SIZE + 1])
        if len(rows) > PAGE_SIZE:
            stories = rows[:PAGE_SIZE][::-1]
            return Page(
                stories,
                newer_query=f"?after={Cursor.of(stories[0])}",
                older_query=f"?before={Cursor.of(stories[-1])}",
                is_first=False,
                self_query=f"?after={after}",
            )
    is_first = before is None
    size = first_size if is_first else PAGE_SIZE
    if before is not None:
        queryset = queryset.filter(before.older())
    rows = list(queryset.order_by("-published_at", "-id")[: size + 1])
    stories = rows[:size]
    if is_first:
        newer = None
    else:
        newer = f"?after={Cursor.of(stories[0])}" if stories else ""
    older = f"?before={Cursor.of(stories[-1])}" if len(rows) > size else None
    return Page(
        stories,
        newer_query=newer,
        older_query=older,
        is_first=is_first,
        self_query="" if is_first else f"?before={before}",
    )


def _page_context(request: HttpRequest, page: Page) -> dict:
    path = request.path
    canonical = path + page.self_query  # never echo other query parameters
    return {
        "stories": page.stories,
        "page": page,
        "newer_url": page.url(path, page.newer_query),
        "older_url": page.url(path, page.older_query),
        "canonical_url": request.build_absolute_uri(canonical),
        "noindex": not page.stories and not page.is_first,
    }


def _visible_stories() -> QuerySet:
    return Story.objects.visible().for_listing()


# --- Home ----------------------------------------------------------------------------------


def _country_sections(countries: list[Country], newest: datetime | None) -> list[dict]:
    """Each country's newest SECTION_SIZE stories, in ONE query (ROW_NUMBER per country)."""
    by_country: dict[int, list[Story]] = defaultdict(list)
    if newest is not None:
        rows = (
            StoryCountry.objects.filter(
                visible_q("story__"),
                rejected=False,
                story__published_at__gte=newest - SECTION_HORIZON,
            )
            .annotate(
                row=Window(
                    RowNumber(),
                    partition_by=[F("country_id")],
                    order_by=[F("story__published_at").desc(), F("story__id").desc()],
                )
            )
            .filter(row__lte=SECTION_SIZE)
            .select_related("story__source")
            .order_by("country_id", "row")
        )
        for row in rows:
            by_country[row.country_id].append(row.story)
    return [{"country": c, "stories": by_country.get(c.pk, [])} for c in countries]


def _map_regions(countries: list[Country]) -> list[dict]:
    """Each country's count of visible stories from the last seven days, in ONE query, with
    its shape on the map (from the country's data file), in drawing order."""
    since = timezone.now() - MAP_WINDOW
    counts = dict(
        StoryCountry.objects.filter(
            visible_q("story__"),
            rejected=False,
            story__published_at__gte=since,
        )
        .values("country_id")
        .annotate(n=Count("id"))
        .values_list("country_id", "n")
    )
    shapes = {c.slug: c.map for c in COUNTRY_DEFS}
    regions = [
        {
            "slug": c.slug,
            "name": c.name,
            "url": cached_reverse("feeds:country", c.slug),
            "count": counts.get(c.pk, 0),
            "shape": shapes.get(c.slug),
        }
        for c in countries
    ]
    return sorted(regions, key=lambda r: r["shape"].order if r["shape"] else 1 << 30)


@require_safe
@public_page(cursor_params)
def home(request: HttpRequest) -> HttpResponse:
    nav = Navigation.load()
    page = keyset_page(request, _visible_stories(), first_size=HOME_SIZE)
    context = _context(
        request,
        nav,
        **_page_context(request, page),
        feeds=FeedListing("home"),
        feeds_title="Latest stories",
    )
    if not page.is_first:
        return TemplateResponse(
            request,
            "feeds/listing.html",
            {**context, "kicker": "All of the North", "heading": "Latest stories"},
        )
    newest = page.stories[0].published_at if page.stories else None
    regions = _map_regions(nav.countries)
    context.update(
        lead=page.stories[0] if page.stories else None,
        latest=page.stories[1:],
        sections=_country_sections(nav.countries, newest),
        map_regions=[region for region in regions if region["shape"]],
        map_list=sorted(regions, key=lambda region: region["name"]),
    )
    return TemplateResponse(request, "feeds/home.html", context)


# --- Listings ------------------------------------------------------------------------------


def _listing(request: HttpRequest, nav: Navigation, queryset: QuerySet, **extra) -> HttpResponse:
    page = keyset_page(request, queryset)
    context = _context(request, nav, **_page_context(request, page), **extra)
    return TemplateResponse(request, "feeds/listing.html", context)


@require_safe
@public_page(cursor_params)
def country_detail(request: HttpRequest, slug: str) -> HttpResponse:
    nav = Navigation.load()
    country = nav.country(slug)
    if country is None:
        raise Http404("No such country")
    return _listing(
        request,
        nav,
        _visible_stories().for_country(country),
        kicker="Country",
        heading=country.name,
        description=country.description,
        current_country=country.slug,
        feeds=FeedListing("country", (country.slug,)),
        feeds_title=country.name,
        filter_label=f"Topics in {country.name}",
        filters=[
            {"name": t.name, "url": cached_reverse("feeds:country_topic", country.slug, t.slug)}
            for t in nav.topics
        ],
    )


@require_safe
@public_page(cursor_params)
def topic_detail(request: HttpRequest, slug: str) -> HttpResponse:
    nav = Navigation.load()
    topic = nav.topic(slug)
    if topic is None:
        raise Http404("No such topic")
    return _listing(
        request,
        nav,
        _visible_stories().for_topic(topic),
        kicker="Topic",
        heading=topic.name,
        description=topic.description,
        current_topic=topic.slug,
        feeds=FeedListing("topic", (topic.slug,)),
        feeds_title=topic.name,
        filter_label=f"{topic.name} by country",
        filters=[
            {"name": c.name, "url": cached_reverse("feeds:country_topic", c.slug, topic.slug)}
            for c in nav.countries
        ],
    )


@require_safe
@public_page(cursor_params)
def country_topic(request: HttpRequest, slug: str, topic: str) -> HttpResponse:
    nav = Navigation.load()
    country, subject = nav.country(slug), nav.topic(topic)
    if country is None or subject is None:
        raise Http404("No such country or topic")
    return _listing(
        request,
        nav,
        _visible_stories().for_country(country).for_topic(subject),
        kicker=f"{country.name} · {subject.name}",
        heading=f"{subject.name} in {country.name}",
        description=subject.description,
        current_country=country.slug,
        current_topic=subject.slug,
        feeds=FeedListing("country_topic", (country.slug, subject.slug)),
        feeds_title=f"{subject.name} in {country.name}",
        breadcrumbs=[
            {"name": country.name, "url": country.get_absolute_url()},
            {"name": subject.name, "url": subject.get_absolute_url()},
        ],
        filter_label=f"Other topics in {country.name}",
        filters=[
            {
                "name": t.name,
                "url": cached_reverse("feeds:country_topic", country.slug, t.slug),
                "current": t.pk == subject.pk,
            }
            for t in nav.topics
        ],
        filter2_label=f"{subject.name} elsewhere in the North",
        filters2=[
            {
                "name": c.name,
                "url": cached_reverse("feeds:country_topic", c.slug, subject.slug),
                "current": c.pk == country.pk,
            }
            for c in nav.countries
        ],
    )


@require_safe
@public_page(cursor_params)
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    nav = Navigation.load()
    source = get_object_or_404(Source.objects.select_related("country"), slug=slug)
    return _listing(
        request,
        nav,
        _visible_stories().filter(source=source),
        kicker="Source",
        heading=source.name,
        description=source.description,
        source=source,
        feeds=FeedListing("source", (source.slug,)),
        feeds_title=source.name,
    )


# --- Story ---------------------------------------------------------------------------------


def _story_jsonld(request: HttpRequest, story: Story, countries: list, topics: list) -> dict:
    url = request.build_absolute_uri(story.get_absolute_url())
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": story.title[:110],
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": story.published_at.isoformat(),
        "dateModified": (story.source_updated_at or story.published_at).isoformat(),
        "isBasedOn": story.link or None,
        "inLanguage": story.language or story.source.language or None,
        "description": plaintext(story.summary, 60) or None,
        "image": [story.image_url] if story.image_url else None,
        "author": (
            {"@type": "Person", "name": story.author}
            if story.author
            else {"@type": "Organization", "name": story.outlet}
        ),
        "publisher": {"@type": "Organization", "name": story.outlet},
        "contentLocation": [{"@type": "Country", "name": c.name} for c in countries] or None,
        "keywords": [t.name for t in topics] or None,
    }
    return {key: value for key, value in data.items() if value is not None}


def _gone(request: HttpRequest) -> HttpResponse:
    nav = Navigation.load()
    context = {"gone": True, "nav_countries": nav.countries, "nav_topics": nav.topics}
    return render(request, "404.html", context, status=410)


@require_safe
@public_page()
def story_detail(request: HttpRequest, pk: int) -> HttpResponse:
    story = Story.objects.select_related("source", "primary_country").filter(pk=pk).first()
    if story is None:
        raise Http404("No such story")
    if story.is_hidden:
        return _gone(request)
    if story.canonical_id:
        return HttpResponsePermanentRedirect(reverse("feeds:story", args=[story.canonical_id]))
    prefetch_related_objects(
        [story],
        Prefetch(
            "countries",
            queryset=StoryCountry.objects.filter(rejected=False).select_related("country"),
            to_attr="shown_countries",
        ),
        Prefetch(
            "topics",
            queryset=StoryTopic.objects.filter(rejected=False).select_related("topic"),
            to_attr="shown_topics",
        ),
        Prefetch(
            "related_slots",
            queryset=RelatedSlot.objects.filter(Q(target__isnull=True) | Q(target__is_hidden=False))
            .select_related("country", "target__source")
            .order_by("position", "country__name"),
            to_attr="related_lines",
        ),
        Prefetch(
            "copies",
            queryset=Story.objects.filter(is_hidden=False)
            .select_related("source")
            .order_by("published_at", "id"),
            to_attr="copy_list",
        ),
    )
    nav = Navigation.load()
    countries, topics = countries_in_order(story), topics_in_order(story)
    context = _context(
        request,
        nav,
        story=story,
        countries=countries,
        topics=topics,
        copies=story.copy_list,
        tag_reasons=tag_reasons(story),
        jsonld=_story_jsonld(request, story, countries, topics),
        current_country=story.primary_country.slug if story.primary_country else None,
        description=plaintext(story.summary, 40),
    )
    return TemplateResponse(request, "feeds/story_detail.html", context)


# --- Search --------------------------------------------------------------------------------


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), SEARCH_MAX_PAGE)
    except ValueError:
        return 1


@require_safe
@public_page(search_params, policy=caching.SEARCH_PAGES)
def search(request: HttpRequest) -> HttpResponse:
    nav = Navigation.load()
    query = request.GET.get("q", "").strip()[:200]
    country = nav.country(request.GET.get("country"))
    topic = nav.topic(request.GET.get("topic"))
    since = _parse_date(request.GET.get("since"))
    until = _parse_date(request.GET.get("until"))
    number = _page_number(request.GET.get("page"))

    params = {
        key: value
        for key, value in [
            ("q", query),
            ("country", country.slug if country else ""),
            ("topic", topic.slug if topic else ""),
            ("since", since.isoformat() if since else ""),
            ("until", until.isoformat() if until else ""),
        ]
        if value
    }
    stories: list[Story] = []
    has_more = False
    if query:
        results = search_stories(query, country=country, topic=topic, since=since, until=until)
        offset = (number - 1) * PAGE_SIZE
        rows = list(results.for_listing()[offset : offset + PAGE_SIZE + 1])
        has_more = len(rows) > PAGE_SIZE
        stories = rows[:PAGE_SIZE]
        for story in stories:
            snippet = getattr(story, "snippet", "")
            story.snippet_html = highlight_html(snippet) if snippet else ""

    def page_url(n: int) -> str:
        return "?" + urlencode({**params, **({"page": n} if n > 1 else {})})

    query_string = urlencode(params)
    context = _context(
        request,
        nav,
        query=query,
        country=country,
        topic=topic,
        since=since,
        until=until,
        stories=stories,
        searched=bool(query),
        page_number=number,
        newer_url=(request.path + page_url(number - 1)) if number > 1 else None,
        older_url=(request.path + page_url(number + 1)) if has_more else None,
        canonical_url=request.build_absolute_uri(
            request.path + (page_url(number) if params else "")
        ),
        feeds=FeedListing("search", query=query_string),
        feeds_title=f"Search: {query}" if query else "Search",
        noindex=True,
    )
    return TemplateResponse(request, "feeds/search.html", context)


# --- Robots and errors ---------------------------------------------------------------------


@require_safe
@public_page(policy=caching.FIXED)
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /search/",
        "Disallow: /editor/",
        "Disallow: /healthz",
        "Disallow: /readyz",
        "Disallow: /metrics",
        "",
        f"Sitemap: {request.build_absolute_uri(reverse('feeds:sitemap'))}",
        f"Sitemap: {request.build_absolute_uri(reverse('feeds:sitemap_news'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    nav = Navigation.load()
    context = {"gone": False, "nav_countries": nav.countries, "nav_topics": nav.topics}
    return render(request, "404.html", context, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request, no context processors, no database: this page must render when all is down.
    body = loader.get_template("500.html").render({"site_name": settings.SITE_NAME})
    return HttpResponseServerError(body)
