"""Reader-facing pages: home, listings (country, topic, source, country × topic), story, search.

Every page runs a small, fixed number of queries whatever the data size (tests assert it):
the navigation (countries, topics), the page's stories with their tags prefetched, and at most
a few page-specific queries. Listings use keyset pagination (``?before=<published_at>,<id>``
for older stories, ``?after=…`` for newer ones): a page far back costs one index range scan,
like the first, and its link keeps showing the same stories while new ones arrive.

Anonymous GET responses go through the one page cache (``feeds.web.caching``): stored whole,
rebuilt when a change reaches their listing (``feeds.generation``: ingest bumps the listings a
new story appears on) or after at most five minutes, so the relative times on a page ("2 hours
ago") are never more than five minutes stale, with ETag/Last-Modified validators. A page's
cache identity is the parameters it reads, nothing else from the query string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sitemaps import views as sitemap_views
from django.db import DEFAULT_DB_ALIAS, OperationalError
from django.db.models import Value
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

from feeds.entities import geo
from feeds.entities.store import find_by_name
from feeds.models import (
    UNSHOWN,
    Country,
    Source,
    Story,
    StoryEntity,
    Storyline,
    StoryQuerySet,
    Topic,
)
from feeds.search import (
    COUNT_CAP,
    START,
    SearchBusy,
    count_capped,
    highlight_html,
    mark_matches,
    page_of,
    search_budget,
    search_stories,
)
from feeds.storylines import coverage
from feeds.tagging.countries import COUNTRIES as COUNTRY_DEFS
from feeds.tagging.store import tag_reasons
from feeds.web import caching, storypage
from feeds.web.caching import public_page
from feeds.web.cards import ALL, ROUNDUPS, Cards, read_tags, with_tag_ids
from feeds.web.params import (
    SEARCH_MAX_PAGE,
    BadParameter,
    Cursor,
    ListingParams,
    NoParams,
    SearchParams,
    SearchRequest,
    SitemapParams,
    printable,
)
from feeds.web.templatetags import cached_reverse, countries_in_order, plaintext, topics_in_order
from feeds.web.throttle import (
    BUSY_RETRY_AFTER_SECONDS,
    RETRY_AFTER_SECONDS,
    too_many_searches,
)

PAGE_SIZE = 20
HOME_SIZE = 13  # the front page: a lead story and twelve more; "Older stories" pages by 20
SECTION_SIZE = 4  # stories per country on the home page
SECTION_HORIZON = timedelta(days=120)  # home country sections look this far back
MAP_WINDOW = timedelta(days=7)
QUERY_SHOWN_CHARS = 80  # a refused over-long query is echoed this far
HOME_STORYLINES = 5  # "Storylines this week" on the home page
TIMELINE_SIZE = 200  # a storyline's page lists at most this many of its newest stories


# --- Navigation and page context -----------------------------------------------------------


@dataclass(frozen=True)
class Navigation:
    """The fixed vocabularies, read once per page in ONE query."""

    countries: list[Country]
    topics: list[Topic]

    @classmethod
    def load(cls) -> Navigation:
        """The navigation, kept per process for as long as the global generation is unchanged:
        countries and topics change only by migration or in the admin, which bumps it
        (``feeds.admin``). No query on most pages; read again after any bump, and on every
        page while the cache is unreachable (there is then nothing to check it against)."""
        global _kept
        current = caching.global_generation()
        kept = _kept
        if current is None or kept is None or kept[0] != current:
            kept = (current, cls.read())
            _kept = kept if current is not None else None
        # Fresh lists, so a page can never change what the next one renders.
        return cls(list(kept[1].countries), list(kept[1].topics))

    @classmethod
    def read(cls) -> Navigation:
        """Countries and topics, each by name, as one UNION of the two small tables: every
        page reads both, and on a busy server a round trip to PostgreSQL costs far more than
        the rows (docs/performance.md: 5-7 ms each at load 11 on 2 cores, for 0.02 ms of
        work)."""
        fields = ["id", "slug", "name", "description"]
        countries = Country.objects.order_by().annotate(kind=Value("country"))
        topics = Topic.objects.order_by().annotate(kind=Value("topic"))
        both = countries.values_list(*fields, "kind").union(
            topics.values_list(*fields, "kind"), all=True
        )
        nav = cls([], [])
        for *values, kind in both.order_by("name", "id"):
            if kind == "country":
                nav.countries.append(Country.from_db(DEFAULT_DB_ALIAS, fields, values))
            else:
                nav.topics.append(Topic.from_db(DEFAULT_DB_ALIAS, fields, values))
        return nav

    def country(self, slug: str | None) -> Country | None:
        return next((c for c in self.countries if c.slug == slug), None)

    def read_tags(self, stories: list[Story]) -> None:
        """The tags of stories read ``with_tag_ids`` (``feeds.web.cards.read_tags``)."""
        read_tags(stories, {c.pk: c for c in self.countries}, {t.pk: t for t in self.topics})

    def cards(self, **listing: object) -> Cards:
        """A listing's story cards (``feeds.web.cards``), their tags read into these
        countries and topics."""
        return Cards(
            **listing,  # type: ignore[arg-type]
            countries={c.pk: c for c in self.countries},
            topics={t.pk: t for t in self.topics},
        )

    def topic(self, slug: str | None) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)


# The navigation this process read last, with the global generation it was read under.
_kept: tuple[int | None, Navigation] | None = None


def clear() -> None:
    """Forget the kept navigation (tests: each is its own newsroom)."""
    global _kept
    _kept = None


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


# --- Keyset pagination ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    stories: list[Story]
    newer_query: str | None  # "?after=…" for newer stories ("" = the first page), or None
    older_query: str | None  # "?before=…" for older stories, or None
    is_first: bool
    self_query: str = ""  # this page's own "?before=…"/"?after=…" (for its canonical URL)

    def url(self, path: str, query: str | None) -> str | None:
        return None if query is None else path + query


def _take(listing: Cards | StoryQuerySet, size: int, oldest_first: bool = False) -> list[Story]:
    if isinstance(listing, Cards):
        return listing.read(size, oldest_first)
    order = ("published_at", "id") if oldest_first else ("-published_at", "-id")
    return list(listing.order_by(*order)[:size])


def keyset_page(
    params: ListingParams, queryset: Cards | StoryQuerySet, first_size: int = PAGE_SIZE
) -> Page:
    """PAGE_SIZE stories around the cursor in ?before= or ?after=; the newest without one
    (``first_size`` of them).

    One query (plus the queryset's prefetches); two when ?after= reaches the top and the
    first page is served instead.
    """
    before, after = params.before, params.after
    if after is not None:
        rows = _take(
            queryset.newer_than(after.published_at, after.pk), PAGE_SIZE + 1, oldest_first=True
        )
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
        queryset = queryset.older_than(before.published_at, before.pk)
    rows = _take(queryset, size + 1)
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


def _visible_stories() -> StoryQuerySet:
    # Digests, newsletters and podcasts have their own page (feeds.web.pages.roundups).
    return Story.objects.visible().articles().for_cards()


# --- Home ----------------------------------------------------------------------------------


def _country_sections(nav: Navigation, newest: datetime | None) -> list[dict]:
    """Each country's newest SECTION_SIZE stories, in ONE query."""
    by_country: dict[int, list[Story]] = {}
    if newest is not None:
        by_country = nav.cards().per_country(newest - SECTION_HORIZON, SECTION_SIZE)
    return [{"country": c, "stories": by_country.get(c.pk, [])} for c in nav.countries]


def _map_regions(nav: Navigation) -> list[dict]:
    """Each country's count of visible stories from the last seven days, in ONE query, with
    its shape on the map (from the country's data file), in drawing order."""
    countries = nav.countries
    counts = nav.cards(kinds=ALL).count_per_country(timezone.now() - MAP_WINDOW)
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


MAP_PINS = 12  # ports and places on the home page's map
# Where the map writes the countries' names (two lines: name and count): no pin's name there.
_COUNTRY_LABELS = tuple(
    (
        c.map.label_x
        - (
            0
            if c.map.anchor == "start"
            else 16 * len(c.name)
            if c.map.anchor == "end"
            else 8 * len(c.name)
        ),
        c.map.label_y - 24.0,
        c.map.label_x
        + (
            0
            if c.map.anchor == "end"
            else 16 * len(c.name)
            if c.map.anchor == "start"
            else 8 * len(c.name)
        ),
        c.map.label_y + 30.0,
    )
    for c in COUNTRY_DEFS
    if c.map
)
PIN_LABELS = 8  # of which the most covered are drawn with their name (geo.place_labels)


def map_pins(
    since: datetime,
    kinds: tuple[str, ...],
    topic: str | None = None,
    limit: int = MAP_PINS,
    lines: frozenset[str] = frozenset(),
) -> list[dict]:
    """The entities of these kinds most covered since ``since``, as the map draws them
    (projected, sized by story count, linked to their pages), in ONE query. ``lines``: data
    keys of routes drawn as their course, which get no pin."""
    rows = StoryEntity.objects.most_covered(since, kinds, topic=topic, limit=limit)
    most = max((r["n"] for r in rows), default=0)
    pins = []
    for r in rows:
        lat, lon = r["entity__latitude"], r["entity__longitude"]
        on_map = geo.on_map(lat)
        x, y = geo.project(lat, lon) if on_map else (0.0, 0.0)
        pins.append(
            {
                "kind": r["entity__kind"],
                "name": r["entity__name"],
                "data_key": r["entity__data_key"],
                "url": cached_reverse(f"feeds:{r['entity__kind']}", r["entity__slug"]),
                "count": r["n"],
                "on_map": on_map and r["entity__data_key"] not in lines,
                "x": x,
                "y": y,
                "r": geo.pin_radius(r["n"], most),
                "label": None,
            }
        )
    drawn = [p for p in pins if p["on_map"] and p["kind"] != "vessel"]
    labels = geo.place_labels(
        [(p["x"], p["y"], p["r"], p["name"]) for p in drawn], PIN_LABELS, _COUNTRY_LABELS
    )
    for pin, label in zip(drawn, labels, strict=True):
        pin["label"] = label
    return pins


@require_safe
@public_page(ListingParams.parse)
def home(request: HttpRequest, params: ListingParams) -> HttpResponse:
    nav = Navigation.load()
    page = keyset_page(params, nav.cards(), first_size=HOME_SIZE)
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
    regions = _map_regions(nav)
    context.update(
        lead=page.stories[0] if page.stories else None,
        latest=page.stories[1:],
        sections=_country_sections(nav, newest),
        roundups=nav.cards(kinds=ROUNDUPS).read(3),
        storylines=list(Storyline.objects.this_week().only("slug", "title")[:HOME_STORYLINES]),
        map_regions=[region for region in regions if region["shape"]],
        map_list=sorted(regions, key=lambda region: region["name"]),
        map_pins=[
            pin for pin in map_pins(timezone.now() - MAP_WINDOW, ("port", "place")) if pin["on_map"]
        ],
    )
    return TemplateResponse(request, "feeds/home.html", context)


# --- Listings ------------------------------------------------------------------------------


def _listing(
    request: HttpRequest,
    params: ListingParams,
    nav: Navigation,
    queryset: Cards | StoryQuerySet,
    **extra,
) -> HttpResponse:
    page = keyset_page(params, queryset)
    context = _context(request, nav, **_page_context(request, page), **extra)
    return TemplateResponse(request, "feeds/listing.html", context)


def _term_listing(
    request: HttpRequest,
    params: ListingParams,
    nav: Navigation,
    kind: str,
    term: Country | Topic,
    stories: Cards,
    filter_label: str,
    filters: list[tuple[str, str]],
) -> HttpResponse:
    """A country's or a topic's page (``kind``): its stories, and links to its pages
    crossed with the other vocabulary (``filters``: name and URL)."""
    return _listing(
        request,
        params,
        nav,
        stories,
        kicker=kind.capitalize(),
        heading=term.name,
        description=term.description,
        **{f"current_{kind}": term.slug},
        feeds=FeedListing(kind, (term.slug,)),
        feeds_title=term.name,
        filter_label=filter_label,
        filters=[{"name": name, "url": url} for name, url in filters],
    )


@require_safe
@public_page(ListingParams.parse)
def country_detail(request: HttpRequest, slug: str, params: ListingParams) -> HttpResponse:
    nav = Navigation.load()
    country = nav.country(slug)
    if country is None:
        raise Http404("No such country")
    topics = [
        (t.name, cached_reverse("feeds:country_topic", country.slug, t.slug)) for t in nav.topics
    ]
    stories = nav.cards(country_id=country.pk)
    return _term_listing(
        request, params, nav, "country", country, stories, f"Topics in {country.name}", topics
    )


@require_safe
@public_page(ListingParams.parse)
def topic_detail(request: HttpRequest, slug: str, params: ListingParams) -> HttpResponse:
    nav = Navigation.load()
    topic = nav.topic(slug)
    if topic is None:
        raise Http404("No such topic")
    places = [
        (c.name, cached_reverse("feeds:country_topic", c.slug, topic.slug)) for c in nav.countries
    ]
    stories = nav.cards(topic_id=topic.pk)
    return _term_listing(
        request, params, nav, "topic", topic, stories, f"{topic.name} by country", places
    )


@require_safe
@public_page(ListingParams.parse)
def country_topic(
    request: HttpRequest, slug: str, topic: str, params: ListingParams
) -> HttpResponse:
    nav = Navigation.load()
    country, subject = nav.country(slug), nav.topic(topic)
    if country is None or subject is None:
        raise Http404("No such country or topic")
    return _listing(
        request,
        params,
        nav,
        nav.cards(country_id=country.pk, topic_id=subject.pk),
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
@public_page(ListingParams.parse)
def source_detail(request: HttpRequest, slug: str, params: ListingParams) -> HttpResponse:
    nav = Navigation.load()
    source = get_object_or_404(Source.objects.select_related("country"), slug=slug)
    return _listing(
        request,
        params,
        nav,
        nav.cards(source_id=source.pk),
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
        "image": [request.build_absolute_uri(story.image_src)] if story.image_src else None,
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
@public_page(NoParams.parse)
def story_detail(request: HttpRequest, pk: int, params: NoParams) -> HttpResponse:
    nav = Navigation.load()
    page = storypage.read(
        pk, {c.pk: c for c in nav.countries}, {t.pk: t for t in nav.topics}
    )  # five statements: the story, its tags, related box, entities and copies
    if page is None:
        raise Http404("No such story")
    story = page.story
    if story.is_hidden:
        return _gone(request)
    if story.canonical_id:
        return HttpResponsePermanentRedirect(reverse("feeds:story", args=[story.canonical_id]))
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
        storyline=_part_of(page.storyline),
    )
    return TemplateResponse(request, "feeds/story_detail.html", context)


def _part_of(line: Storyline | None) -> Storyline | None:
    """The storyline a story page names ("Part of: …"): shown, and told by more than it."""
    if line is None or line.hidden or line.merged_into_id or line.story_count < 2:
        return None
    return line


# --- Storylines ----------------------------------------------------------------------------


@require_safe
@public_page(NoParams.parse)
def storyline_detail(request: HttpRequest, slug: str, params: NoParams) -> HttpResponse:
    """A storyline: its timeline (newest first, the first report marked) and its coverage,
    one row per Arctic country. Four queries: the navigation, the storyline, its stories."""
    line = Storyline.objects.filter(slug=slug).first()
    if line is None or line.hidden:
        raise Http404("No such storyline")
    if line.merged_into_id:
        # Merged by an editor: its address lives on at the storyline it became part of.
        target = Storyline.objects.filter(pk=line.merged_into_id).only("slug").first()
        if target is None:
            raise Http404("No such storyline")
        return HttpResponsePermanentRedirect(target.get_absolute_url())
    nav = Navigation.load()
    stories = (
        Story.objects.visible()
        .filter(storyline_membership__storyline=line)
        .select_related("source__country")
        .only(
            "pk",
            "title",
            "published_at",
            "language",
            "original_outlet",
            "source__name",
            "source__slug",
            "source__language",
            "source__country__slug",
        )
        .order_by("-published_at", "-id")[:TIMELINE_SIZE]
    )
    reports = [
        coverage.Report(
            story_id=s.pk,
            title=s.title,
            url=cached_reverse("feeds:story", str(s.pk)),
            published_at=s.published_at,
            outlet=s.source.name,
            outlet_url=cached_reverse("feeds:source", s.source.slug),
            language=coverage.language_name(s.language or s.source.language),
            country_slug=s.source.country.slug if s.source.country else "",
        )
        for s in stories
    ]
    countries = [(c.slug, c.name, cached_reverse("feeds:country", c.slug)) for c in nav.countries]
    rows, elsewhere = coverage.coverage(reports, countries)
    context = _context(
        request,
        nav,
        storyline=line,
        timeline=coverage.timeline(reports),
        rows=rows,
        elsewhere=elsewhere,
        covering=sum(1 for r in rows if r.covered),
        truncated=line.story_count > len(reports),
        feeds=FeedListing("storyline", (line.slug,)),
        feeds_title=f"Storyline: {line.title}",
        description=f"How {line.title} was covered around the North.",
    )
    return TemplateResponse(request, "feeds/storyline.html", context)


# --- Search --------------------------------------------------------------------------------


@require_safe
@public_page(SearchRequest.parse, policy=caching.SEARCH_PAGES)
def search(request: HttpRequest, params: SearchRequest) -> HttpResponse:
    nav = Navigation.load()
    checked = SearchParams.check(params, nav.countries, nav.topics)
    sent = dict(params.values)
    context = _context(
        request,
        nav,
        query=checked.raw_query,
        query_shown=_shorten(checked.raw_query, QUERY_SHOWN_CHARS),
        country=checked.country,
        topic=checked.topic,
        since=checked.since or printable(sent.get("since", "")),
        until=checked.until or printable(sent.get("until", "")),
        errors=checked.errors,
        stories=[],
        searched=bool(checked.query) and not checked.errors,
        page_number=checked.page,
        total=None,
        noindex=True,
        canonical_url=request.build_absolute_uri(request.path),
        feeds_title="Search",
    )
    if checked.errors:
        return TemplateResponse(request, "feeds/search.html", context, status=400)
    context.update(
        canonical_url=request.build_absolute_uri(
            request.path + (f"?{checked.query_string(checked.page)}" if checked.filters() else "")
        ),
        feeds=FeedListing("search", query=urlencode(checked.filters())),
        feeds_title=f"Search: {checked.query}" if checked.query else "Search",
    )
    if not checked.query:
        return TemplateResponse(request, "feeds/search.html", context)
    # A query that is one of an entity's names offers its page first ("Sabetta", "Севморпуть").
    context["entity_pages"] = find_by_name(checked.query)

    def refused(reason: str, status: int, retry_after: int | None = None) -> HttpResponse:
        """The search page without results, saying why (the template reads ``reason``)."""
        response = TemplateResponse(
            request,
            "feeds/search.html",
            {**context, "searched": False, reason: True},
            status=status,
        )
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response

    if too_many_searches(request):
        return refused("throttled", 429, RETRY_AFTER_SECONDS)
    offset = (checked.page - 1) * PAGE_SIZE
    try:
        with search_budget():
            results = search_stories(
                checked.query,
                country=checked.country,
                topic=checked.topic,
                since=checked.since,
                until=checked.until,
            )
            # Tags in the page's query: cards.with_tag_ids (not for_listing's two queries).
            listing = with_tag_ids(results.defer(*UNSHOWN).select_related("source"))
            rows = page_of(listing, offset, PAGE_SIZE + 1)
            total = count_capped(results) if rows or checked.page > 1 else 0
    except SearchBusy:  # every search slot taken: answered at once, the worker stays free
        return refused("busy", 503, BUSY_RETRY_AFTER_SECONDS)
    except OperationalError:  # the statement timeout: a search too costly to finish
        return refused("too_slow", 503)
    stories = rows[:PAGE_SIZE]
    nav.read_tags(stories)
    mark_matches(stories, checked.query)  # without PostgreSQL: the same marks, from Python
    for story in stories:
        snippet = getattr(story, "snippet", "")
        story.snippet_html = highlight_html(snippet) if snippet else ""
        headline = getattr(story, "headline", "")
        story.headline_html = highlight_html(headline) if START in headline else ""
    last_page = max(1, min(-(-total // PAGE_SIZE), SEARCH_MAX_PAGE))

    def page_url(n: int) -> str:
        return request.path + "?" + checked.query_string(n)

    context.update(
        stories=stories,
        total=total,
        total_capped=total > COUNT_CAP,
        count_cap=COUNT_CAP,
        last_page=last_page,
        last_page_url=page_url(last_page),
        newer_url=page_url(checked.page - 1) if checked.page > 1 else None,
        older_url=page_url(checked.page + 1) if len(rows) > PAGE_SIZE else None,
    )
    if not stories and checked.page > 1:
        # Past the end of results that exist: say so, never "nothing matched".
        return TemplateResponse(
            request, "feeds/search.html", {**context, "beyond_end": True}, status=404
        )
    return TemplateResponse(request, "feeds/search.html", context)


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


@require_safe
@public_page(SitemapParams.parse, policy=caching.FEEDS)
def sitemap(request: HttpRequest, params: SitemapParams, **kwargs) -> HttpResponse:
    """Django's sitemap view (``kwargs``: its sitemaps, section and template) through the page
    cache."""
    return sitemap_views.sitemap(request, **kwargs)


@require_safe
@public_page(NoParams.parse, policy=caching.FEEDS)
def sitemap_index(request: HttpRequest, params: NoParams, **kwargs) -> HttpResponse:
    """Django's sitemap index (one entry per section and page) through the page cache."""
    return sitemap_views.index(request, sitemap_url_name="feeds:sitemap_section", **kwargs)


# --- Robots and errors ---------------------------------------------------------------------


@require_safe
@public_page(NoParams.parse, policy=caching.FIXED)
def robots_txt(request: HttpRequest, params: NoParams) -> HttpResponse:
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


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400: a parameter that cannot be used (``feeds.web.params.BadParameter``) says what."""
    nav = Navigation.load()
    message = str(exception) if isinstance(exception, BadParameter) else ""
    context = {
        "message": message or "This address cannot be answered: part of it is damaged.",
        "nav_countries": nav.countries,
        "nav_topics": nav.topics,
    }
    return render(request, "400.html", context, status=400)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    nav = Navigation.load()
    context = {"gone": False, "nav_countries": nav.countries, "nav_topics": nav.topics}
    return render(request, "404.html", context, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request, no context processors, no database: this page must render when all is down.
    body = loader.get_template("500.html").render({"site_name": settings.SITE_NAME})
    return HttpResponseServerError(body)
