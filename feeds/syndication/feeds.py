"""Outgoing feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for every listing page, and the OPML.

Every listing page P (home, country, country × topic, topic, source, search) has its feeds at
``P feed/`` (RSS), ``P feed/atom/`` and ``P feed/json/``. One ``StoryFeed`` subclass per
listing chooses the stories; ``StoryFeed.atom()`` and ``StoryFeed.json()`` are the same feed
in the other two formats.

What every feed promises subscribers:

* item ids are tag URIs on the story's primary key (``tag:arcticnews,2026:story/42``): they
  survive edits, a new domain and http → https, so readers never see a story twice;
* categories carry the term page's absolute URL (RSS ``domain``, Atom ``scheme``), countries
  first, the primary country first of all, then topics;
* only canonical, visible stories (``Story.objects.visible()``);
* no story content can break the document: every string is stripped of the characters
  XML 1.0 forbids here, at output, whatever the database holds (threats.md finding 5, D5, D7);
* conditional GET (strong ETag, Last-Modified, 304) and ``Cache-Control: public``; the bytes
  are generated once per change to their listing (``feeds.generation``) and then served from
  the cache without touching the database (``feeds.web.caching``, the same cache as the reader
  pages).

The formats themselves (which generator, which URL, which media type) are listed once, in
``feeds.syndication.formats``.
"""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from io import StringIO
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlencode, urlsplit
from xml.sax.xmlreader import AttributesImpl

from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.contrib.syndication.views import Feed, add_domain
from django.core.exceptions import ObjectDoesNotExist
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import feedgenerator, timezone
from django.utils.encoding import iri_to_uri
from django.utils.html import escape
from django.utils.translation import get_language
from django.utils.xmlutils import SimplerXMLGenerator
from django.views.decorators.http import require_safe

from feeds.columns import max_length
from feeds.models import Country, Entity, Source, Story, Storyline, StoryQuerySet, Topic
from feeds.search import (
    SearchBusy,
    search_budget,
    search_stories,
)
from feeds.text.sanitizing import clean_html, clean_text, separating_spaces
from feeds.web import caching
from feeds.web.caching import origin as _origin
from feeds.web.cards import ALL, FEED_ITEM, Cards
from feeds.web.params import SEARCH_FEED_NAMES, BadParameter, SearchParams, SearchRequest
from feeds.web.templatetags import cached_reverse, countries_in_order, topics_in_order
from feeds.web.throttle import (
    BUSY_RETRY_AFTER_SECONDS,
    RETRY_AFTER_SECONDS,
    too_many_searches,
)
from feeds.web.views import Navigation

ITEMS_PER_FEED = 50
# The OPML's storylines: those still told lately, newest first. Every storyline of a ten-year
# archive would make an import of thousands of finished events (its pages stay in the sitemap).
OPML_STORYLINE_WINDOW = timedelta(days=30)
OPML_STORYLINES = 200

# The date in every tag URI. Part of every id we have published: never change it.
TAG_DATE = "2026"
DEFAULT_TAG_AUTHORITY = "arcticnews"
# An empty feed has no newest item to date it by; a constant keeps its bytes (and ETag) stable.
EMPTY_FEED_DATE = datetime(2026, 1, 1, tzinfo=UTC)

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Everything XML 1.0 cannot carry (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F),
# and the DEL/C1 controls it permits but tells authors to avoid (XML 1.0, section 2.2).
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff\x85]+")
_TAG_AUTHORITY = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$")


# --- Settings ----------------------------------------------------------------------------------


def tag_authority() -> str:
    """The tagging entity of our tag URIs (RFC 4151): a name we own, fixed forever."""
    value = settings.SITE_TAG_AUTHORITY or DEFAULT_TAG_AUTHORITY
    value = value.strip().strip(".")
    return value if _TAG_AUTHORITY.match(value) else DEFAULT_TAG_AUTHORITY


def story_tag_uri(story_id: int) -> str:
    """The id of a story in every feed format. Never changes, whatever happens to the story."""
    return f"tag:{tag_authority()},{TAG_DATE}:story/{story_id}"


def hub_url() -> str:
    return settings.WEBSUB_HUB_URL


def site_name() -> str:
    return settings.SITE_NAME


# --- Output hygiene ----------------------------------------------------------------------------


def xml_text(value: str | None) -> str:
    """``value`` without the characters an XML 1.0 document may not (or should not) contain:
    a space where they separated two words (a control character an editor typed before the
    admin cleaned it: "Edited\x0btitle" is "Edited title"), nothing elsewhere."""
    return separating_spaces(_NOT_XML, value) if value else ""


def _clean(value: Any) -> Any:
    """Strip XML-invalid characters from every string in a (nested) feed or item value.

    Called on every value of every item (a feed's categories are ~1,000 strings in named
    tuples), so each kind is handled without a generator."""
    if isinstance(value, str):
        return separating_spaces(_NOT_XML, value) if value else ""
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple, field by field
        return type(value)(*[_clean(v) for v in value])
    if isinstance(value, list | tuple):
        return type(value)([_clean(v) for v in value])
    return value


def plain_title(title: str) -> str:
    # Longer than Story.title's column (SQLite keeps such a title): cut, with an ellipsis.
    return clean_text(xml_text(title), max_length(Story, "title")) or "(untitled)"


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(microsecond=0) if value else None


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


# --- Generators --------------------------------------------------------------------------------


class Term(NamedTuple):
    """A category of an item: a country or a topic, with its page's absolute URL."""

    kind: str  # "country" or "topic"
    slug: str
    name: str
    url: str


class SafeFeed(feedgenerator.SyndicationFeed):
    """The base of our formats: cleans every string on the way in, and dates an empty feed
    with a constant. (Placed before Django's format class, it runs before that class.)"""

    content_type: ClassVar[str]  # every format has one (Django's RSS and Atom classes do)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*_clean(list(args)), **{k: _clean(v) for k, v in kwargs.items()})

    def add_item(self, *args: Any, **kwargs: Any) -> None:
        super().add_item(*_clean(list(args)), **{k: _clean(v) for k, v in kwargs.items()})

    def latest_post_date(self) -> datetime:
        if not self.items:
            return EMPTY_FEED_DATE
        return super().latest_post_date()


class RssFeed(SafeFeed, feedgenerator.Rss201rev2Feed):
    """RSS 2.0 with ``<category domain="term page">`` and a WebSub hub link."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if self.feed.get("hub_url"):
            handler.addQuickElement("atom:link", None, {"rel": "hub", "href": self.feed["hub_url"]})

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        for term in item.get("terms", ()):
            handler.addQuickElement("category", term.name, {"domain": term.url})


class AtomFeed(SafeFeed, feedgenerator.Atom1Feed):
    """Atom 1.0 (RFC 4287) with the original article as ``rel="related"``."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if self.feed.get("hub_url"):
            handler.addQuickElement("link", "", {"rel": "hub", "href": self.feed["hub_url"]})

    def add_item_elements(self, handler, item):
        handler.addQuickElement("title", item["title"])
        handler.addQuickElement(
            "link", "", {"rel": "alternate", "type": "text/html", "href": item["link"]}
        )
        if item.get("external_url"):
            handler.addQuickElement(
                "link", "", {"rel": "related", "type": "text/html", "href": item["external_url"]}
            )
        for enclosure in item["enclosures"]:
            # No length: Atom's is optional and we don't know it ("0" would be a false claim).
            handler.addQuickElement(
                "link", "", {"rel": "enclosure", "type": enclosure.mime_type, "href": enclosure.url}
            )
        handler.addQuickElement("id", item["unique_id"])
        if item["pubdate"] is not None:
            handler.addQuickElement("published", feedgenerator.rfc3339_date(item["pubdate"]))
        updated = item["updateddate"] or item["pubdate"] or EMPTY_FEED_DATE
        handler.addQuickElement("updated", feedgenerator.rfc3339_date(updated))
        handler.startElement("author", {})
        handler.addQuickElement("name", item["author_name"] or self.feed["author_name"])
        handler.endElement("author")
        handler.addQuickElement("summary", item.get("summary_html") or "", {"type": "html"})
        if item.get("full_html"):
            handler.addQuickElement("content", item["full_html"], {"type": "html"})
        for term in item.get("terms", ()):
            handler.addQuickElement(
                "category", "", {"term": term.name, "scheme": term.url, "label": term.name}
            )


class JsonFeed(SafeFeed):
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), as ``application/feed+json``."""

    content_type = "application/feed+json; charset=utf-8"

    def write(self, outfile, encoding):
        outfile.write(json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":")))

    def as_dict(self) -> dict:
        feed = self.feed
        out: dict[str, Any] = {
            "version": JSON_FEED_VERSION,
            "title": feed["title"],
            "home_page_url": feed["link"],
            "feed_url": feed["feed_url"],
            "description": feed["description"] or "",
            "language": feed["language"],
            "authors": [{"name": feed["author_name"], "url": feed["author_link"]}],
        }
        if feed.get("hub_url"):
            out["hubs"] = [{"type": "WebSub", "url": feed["hub_url"]}]
        out["items"] = [self.item_dict(item) for item in self.items]
        return {key: value for key, value in out.items() if value is not None}

    def item_dict(self, item: dict) -> dict:
        terms = item.get("terms", ())
        out: dict[str, Any] = {
            "id": item["unique_id"],
            "url": item["link"],
            "external_url": item.get("external_url") or None,
            "title": item["title"],
            "content_html": item["description"] or "",
            "summary": item.get("summary_text") or None,
            "image": item["enclosures"][0].url if item["enclosures"] else None,
            "date_published": rfc3339(item["pubdate"]) if item["pubdate"] else None,
            "date_modified": rfc3339(item["updateddate"]) if item["updateddate"] else None,
            "authors": [{"name": item["author_name"]}] if item["author_name"] else None,
            "tags": [term.name for term in terms],
            "language": item.get("language") or None,
            "_arcticnews": {
                "outlet": item.get("outlet") or "",
                "primary_country": next((t.slug for t in terms if t.kind == "country"), None)
                if item.get("has_primary")
                else None,
                "countries": [
                    {"slug": t.slug, "name": t.name, "url": t.url}
                    for t in terms
                    if t.kind == "country"
                ],
                "topics": [
                    {"slug": t.slug, "name": t.name, "url": t.url}
                    for t in terms
                    if t.kind == "topic"
                ],
            },
        }
        return {key: value for key, value in out.items() if value is not None}


# --- What a feed shows -------------------------------------------------------------------------


@dataclass
class Listing:
    """One feed request, resolved: the listing it mirrors and the origin to make URLs with."""

    origin: str  # "https://example.org", from the request
    path: str  # the listing page, e.g. "/country/norway/"
    title: str
    description: str
    params: str = ""  # the listing's query string (search only), already normalised
    feed_path: str = ""  # the feed's own path, when its self link needs the params too
    country: Country | None = None
    topic: Topic | None = None
    source: Source | None = None
    storyline: Storyline | None = None
    entity: Entity | None = None
    query: str = ""
    since: date | None = None
    until: date | None = None
    _term_urls: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def page(self) -> str:
        return self.path + (f"?{self.params}" if self.params else "")

    def term_url(self, kind: str, slug: str) -> str:
        key = (kind, slug)
        if key not in self._term_urls:
            self._term_urls[key] = self.origin + cached_reverse(f"feeds:{kind}", slug)
        return self._term_urls[key]


@dataclass
class Item:
    """A story as one feed renders it; the HTML is cleaned once per item, not per format field."""

    story: Story
    terms: list[Term]

    @cached_property
    def standfirst(self) -> str:
        return self.story.standfirst

    @cached_property
    def summary_html(self) -> str:
        return clean_html(self.standfirst)

    @cached_property
    def full_html(self) -> str:
        """The article body, only where the outlet allows us to show it."""
        story = self.story
        return clean_html(story.content) if story.source.show_full_text and story.content else ""

    @cached_property
    def footer_html(self) -> str:
        """Credit and link to the original article, as an HTML paragraph (values escaped)."""
        story = self.story
        outlet = escape(clean_text(story.outlet, 300))
        credit = f'<a href="{escape(story.link)}">{outlet}</a>' if story.link else outlet
        via = ""
        if story.original_outlet and story.original_outlet != story.source.name:
            via = f" via {escape(clean_text(story.source.name, 300))}"
        return f"<p>Originally published by {credit}{via}.</p>"


def story_terms(story: Story, listing: Listing) -> list[Term]:
    """Countries (primary first, then by name), then topics by name, as feed categories."""
    countries, topics = countries_in_order(story), topics_in_order(story)
    return [
        Term("country", c.slug, c.name, listing.term_url("country", c.slug)) for c in countries
    ] + [Term("topic", t.slug, t.name, listing.term_url("topic", t.slug)) for t in topics]


# --- The feeds ---------------------------------------------------------------------------------


class StoryFeed(Feed):
    """Base feed: the newest visible stories of a listing, in the format it is built with
    (``feeds.syndication.formats`` builds one instance per listing and format)."""

    feed_type: type[SafeFeed] = RssFeed
    language = "en"
    policy = caching.FEEDS

    def __init__(self, feed_type: type[SafeFeed] | None = None) -> None:
        if feed_type is not None:
            self.feed_type = feed_type

    # Request handling: through the one page cache and its conditional GET ----------------------

    def __call__(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return require_safe(self._serve)(request, *args, **kwargs)

    def _serve(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        identity = caching.identity_of(request, self.cache_params(request), hub_url())
        return caching.serve(
            request, identity, lambda: self._render(request, *args, **kwargs), self.policy
        )

    def _render(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            obj = self.get_object(request, *args, **kwargs)
        except ObjectDoesNotExist:
            raise Http404("No such feed.") from None
        feedgen = self.get_feed(obj, request)
        return HttpResponse(feedgen.writeString("utf-8"), content_type=self.feed_type.content_type)

    def cache_params(self, request: HttpRequest) -> str:
        """The part of the query string the feed depends on (none, except for search)."""
        return ""

    def get_feed(self, obj: Listing, request: HttpRequest) -> SafeFeed:
        """Django's ``Feed.get_feed`` for our feeds, spelled out: the same generator, given
        the same values, with each of our methods called directly. Django looks every
        attribute up by name for every item (``inspect.unwrap`` and ``getattr_static`` on
        each of ~20 attributes of each of 50 items), which cost more than the items' own
        work. The attributes we leave to Django's defaults (no templates, no comments,
        copyright, TTL, stylesheets or e-mail addresses) are passed as the None it gives."""
        site = get_current_site(request)
        secure = request.is_secure()
        feed = self.feed_type(
            title=self.title(obj),
            subtitle=self.subtitle(obj),
            link=add_domain(site.domain, self.link(obj), secure),
            description=self.description(obj),
            language=self.language or get_language(),
            feed_url=add_domain(site.domain, self.feed_url(obj) or request.path, secure),
            author_name=self.author_name(obj),
            author_link=self.author_link(obj),
            author_email=None,
            categories=None,
            feed_copyright=None,
            feed_guid=self.feed_guid(obj),
            ttl=None,
            stylesheets=None,
            **self.feed_extra_kwargs(obj),
        )
        for item in self.items(obj):
            feed.add_item(
                title=self.item_title(item),
                link=add_domain(site.domain, self.item_link(item), secure),
                description=self.item_description(item),
                unique_id=self.item_guid(item),
                unique_id_is_permalink=self.item_guid_is_permalink(item),
                enclosures=self.item_enclosures(item),
                pubdate=self.item_pubdate(item),  # aware: every date here is UTC (_utc)
                updateddate=self.item_updateddate(item),
                author_name=self.item_author_name(item),
                author_email=None,
                author_link=None,
                comments=None,
                categories=None,
                item_copyright=None,
                **self.item_extra_kwargs(item),
            )
        return feed

    # The listing ---------------------------------------------------------------------------

    def get_object(self, request: HttpRequest, *args, **kwargs) -> Listing:
        return Listing(
            origin=_origin(request),
            path=reverse("feeds:home"),
            title=f"{site_name()}: latest stories",
            description="The latest news from across the circumpolar North.",
        )

    def get_queryset(self, listing: Listing) -> StoryQuerySet:
        """The visible stories of the listing's country, topic and outlet, where it names one."""
        stories = Story.objects.visible()
        if listing.country is not None:
            stories = stories.for_country(listing.country)
        if listing.topic is not None:
            stories = stories.for_topic(listing.topic)
        if listing.source is not None:
            stories = stories.filter(source=listing.source)
        if listing.storyline is not None:
            stories = stories.filter(storyline_membership__storyline=listing.storyline)
        if listing.entity is not None:
            stories = stories.for_entity(listing.entity.pk)
        return stories

    def cards(self, listing: Listing) -> Cards | None:
        """The listing's stories read in one query (``feeds.web.cards``) when it is home, a
        country, a topic, both, or an outlet; None for the others (``get_queryset``)."""
        if listing.storyline is not None or listing.entity is not None:
            return None
        country, topic, source = listing.country, listing.topic, listing.source
        return Navigation.load().cards(
            country_id=country.pk if country else None,
            topic_id=topic.pk if topic else None,
            source_id=source.pk if source else None,
            kinds=ALL,
            columns=FEED_ITEM,
        )

    def items(self, listing: Listing) -> list[Item]:
        cards = self.cards(listing)
        if cards is not None:
            stories = cards.read(ITEMS_PER_FEED)
        else:
            stories = list(self.get_queryset(listing).for_listing().newest_first()[:ITEMS_PER_FEED])
        return [Item(story, story_terms(story, listing)) for story in stories]

    def title(self, listing: Listing) -> str:
        return listing.title

    def description(self, listing: Listing) -> str:
        return listing.description

    def subtitle(self, listing: Listing) -> str:
        return listing.description

    def link(self, listing: Listing) -> str:
        return listing.page

    def feed_url(self, listing: Listing) -> str | None:
        return None  # Django then uses the request's path

    def feed_guid(self, listing: Listing) -> str:
        return f"tag:{tag_authority()},{TAG_DATE}:feed{listing.page}"

    def author_name(self, listing: Listing) -> str:
        return site_name()

    def author_link(self, listing: Listing) -> str:
        return listing.origin + reverse("feeds:home")

    def feed_extra_kwargs(self, listing: Listing) -> dict:
        return {"hub_url": hub_url()}

    # Items ------------------------------------------------------------------------------------

    def item_title(self, item: Item) -> str:
        return plain_title(item.story.title)

    def item_link(self, item: Item) -> str:
        # Memoised per process: reverse() was ~0.1 ms a link, 50 links a feed.
        return cached_reverse("feeds:story", item.story.pk)

    def item_guid(self, item: Item) -> str:
        return story_tag_uri(item.story.pk)

    def item_guid_is_permalink(self, item: Item) -> bool:
        return False

    def item_description(self, item: Item) -> str:
        return (item.full_html or item.summary_html) + item.footer_html

    def item_author_name(self, item: Item) -> str:
        story = item.story
        return clean_text(story.author or story.outlet, 300) or site_name()

    def item_pubdate(self, item: Item) -> datetime | None:
        return _utc(item.story.published_at)

    def item_updateddate(self, item: Item) -> datetime | None:
        story = item.story
        return _utc(max(filter(None, (story.published_at, story.source_updated_at))))

    def item_enclosures(self, item: Item) -> list[feedgenerator.Enclosure]:
        url = item.story.image_url
        if not url:
            return []
        return [feedgenerator.Enclosure(url=url, length="0", mime_type=image_type(url))]

    def item_extra_kwargs(self, item: Item) -> dict:
        story = item.story
        return {
            "terms": item.terms,
            "has_primary": bool(story.primary_country_id),
            "external_url": iri_to_uri(story.link) if story.link else "",
            "summary_html": item.summary_html + item.footer_html,
            "full_html": item.full_html + item.footer_html if item.full_html else "",
            "summary_text": clean_text(item.standfirst, 1000, is_html=True),
            "language": story.language or story.source.language,
            "outlet": story.outlet,
        }


class LatestStoriesFeed(StoryFeed):
    """Everything: the home page's feed."""


def _term_listing(
    request: HttpRequest, term: Country | Topic, fallback: str, **scope: Any
) -> Listing:
    """The feed of a country's or a topic's page; ``scope`` names the term to the Listing."""
    return Listing(
        origin=_origin(request),
        path=term.get_absolute_url(),
        title=f"{site_name()}: {term.name}",
        description=clean_text(term.description, 500) or fallback,
        **scope,
    )


def _country(slug: str) -> Country:
    """A country of the navigation (kept per process: no query), or 404."""
    country = Navigation.load().country(slug)
    if country is None:
        raise Http404("No such country")
    return country


def _topic(slug: str) -> Topic:
    """A topic of the navigation, or 404."""
    topic = Navigation.load().topic(slug)
    if topic is None:
        raise Http404("No such topic")
    return topic


class CountryFeed(StoryFeed):
    def get_object(self, request: HttpRequest, slug: str) -> Listing:
        country = _country(slug)
        fallback = f"News from {country.name} and its Arctic."
        return _term_listing(request, country, fallback, country=country)


class TopicFeed(StoryFeed):
    def get_object(self, request: HttpRequest, slug: str) -> Listing:
        topic = _topic(slug)
        fallback = f"{topic.name} news from across the circumpolar North."
        return _term_listing(request, topic, fallback, topic=topic)


class SourceFeed(StoryFeed):
    def get_object(self, request: HttpRequest, slug: str) -> Listing:
        source = get_object_or_404(Source, slug=slug)
        return Listing(
            origin=_origin(request),
            path=source.get_absolute_url(),
            title=f"{site_name()}: {clean_text(source.name, 200)}",
            description=clean_text(source.description, 500)
            or f"Stories from {clean_text(source.name, 200)} on {site_name()}.",
            source=source,
        )


class CountryTopicFeed(StoryFeed):
    def get_object(self, request: HttpRequest, slug: str, topic: str) -> Listing:
        country, topic_obj = _country(slug), _topic(topic)
        return Listing(
            origin=_origin(request),
            path=reverse("feeds:country_topic", args=[country.slug, topic_obj.slug]),
            title=f"{site_name()}: {country.name}, {topic_obj.name}",
            description=f"{topic_obj.name} news from {country.name}.",
            country=country,
            topic=topic_obj,
        )


class StorylineFeed(StoryFeed):
    """One storyline's stories, newest first, from every outlet that told it."""

    def get_object(self, request: HttpRequest, slug: str) -> Listing:
        line = get_object_or_404(Storyline.objects.shown(), slug=slug)
        title = clean_text(line.title, 300)
        return Listing(
            origin=_origin(request),
            path=line.get_absolute_url(),
            title=f"{site_name()}: storyline: {title}",
            description=f"Every story on {title}, from every outlet around the North.",
            storyline=line,
        )


class EntityFeed(StoryFeed):
    """A vessel's, port's, route's, organisation's or place's stories (the kind from the URL's
    name: ``vessel_rss`` is a vessel's)."""

    def get_object(self, request: HttpRequest, slug: str) -> Listing:
        match = request.resolver_match
        kind = match.url_name.split("_")[0] if match and match.url_name else ""
        entity = get_object_or_404(Entity.objects.shown(), kind=kind, slug=slug)
        name = clean_text(entity.name, 200)
        return Listing(
            origin=_origin(request),
            path=entity.get_absolute_url(),
            title=f"{site_name()}: {name}",
            description=entity.description or f"Stories about {name} from around the North.",
            entity=entity,
        )


class SearchFeed(StoryFeed):
    """A saved search: the search page's ``q``, ``country``, ``topic``, ``since``, ``until``."""

    policy = caching.SEARCH_FEEDS

    @staticmethod
    def search_params(request: HttpRequest) -> SearchParams:
        """The search page's parameters (``q``, ``country``, ``topic``, ``since``, ``until``),
        checked by the search page's own form: what the page refuses with a 400, the feed
        refuses too, never dropping a filter silently. Unknown ones (utm_*, page) are not
        read."""
        nav = Navigation.load()
        sent = SearchRequest.parse(request, SEARCH_FEED_NAMES)
        checked = SearchParams.check(sent, nav.countries, nav.topics)
        if checked.errors:
            raise BadParameter(checked.problem())
        return checked

    def cache_params(self, request: HttpRequest) -> str:
        return urlencode(self.search_params(request).filters())

    def _render(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Only a feed that is not in the cache costs the database, so only it is counted.
        if request.GET.get("q", "").strip() and too_many_searches(request):
            return _refused(
                "Too many searches from your address; try again in a minute.",
                429,
                RETRY_AFTER_SECONDS,
            )
        try:
            with search_budget():
                return super()._render(request, *args, **kwargs)
        except SearchBusy:  # every search slot taken
            return _refused(
                "Many searches are running right now; try again in a few seconds.",
                503,
                BUSY_RETRY_AFTER_SECONDS,
            )
        except OperationalError:  # the statement timeout
            return _refused(
                "This search would take too long to answer; try more specific words.", 503
            )

    def get_object(self, request: HttpRequest) -> Listing:
        checked = self.search_params(request)
        query = checked.query
        where = ", ".join(x.name for x in (checked.country, checked.topic) if x)
        title = f"{site_name()}: search for “{query}”" if query else f"{site_name()}: search"
        return Listing(
            origin=_origin(request),
            path=reverse("feeds:search"),
            title=title + (f" ({where})" if where else ""),
            description=f"Stories on {site_name()} matching “{query}”.",
            params=urlencode(checked.filters()),
            feed_path=request.path,
            country=checked.country,
            topic=checked.topic,
            query=query,
            since=checked.since,
            until=checked.until,
        )

    def feed_url(self, listing: Listing) -> str:
        # The self link (and WebSub topic) of a search feed is the search, not just the path.
        return listing.feed_path + (f"?{listing.params}" if listing.params else "")

    def cards(self, listing: Listing) -> Cards | None:
        return None  # the stories are the search's (get_queryset)

    def get_queryset(self, listing: Listing) -> StoryQuerySet:
        if not listing.query:
            return Story.objects.none()
        found = search_stories(
            listing.query,
            country=listing.country,
            topic=listing.topic,
            since=listing.since,
            until=listing.until,
        )
        # Only the ids: a feed lists matches newest first and shows no snippets, so the
        # ranking and ts_headline annotations are never computed.
        return Story.objects.visible().filter(pk__in=found.values("pk"))


def _refused(text: str, status: int, retry_after: int | None = None) -> HttpResponse:
    """A search feed that is not served, as one line of text saying why."""
    response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8", status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


# --- OPML ----------------------------------------------------------------------------------------


@require_safe
@caching.public_page(policy=caching.FIXED)
def opml(request: HttpRequest, *, feed_format: str) -> HttpResponse:
    """OPML 2.0: the all-stories feed, then one feed per country, topic and entity, and the
    storylines told lately (``OPML_STORYLINE_WINDOW``), for import.

    ``feed_format`` names the listing format each outline points at (``formats.PRIMARY``).
    """
    document = _opml_document(_origin(request), feed_format)
    return HttpResponse(document, content_type="text/x-opml; charset=utf-8")


def _opml_document(origin: str, fmt: str) -> str:
    out = StringIO()
    xml = SimplerXMLGenerator(out, "utf-8", short_empty_elements=True)
    xml.startDocument()
    xml.startElement("opml", AttributesImpl({"version": "2.0"}))
    xml.startElement("head", AttributesImpl({}))
    xml.addQuickElement("title", f"{site_name()} feeds")
    xml.addQuickElement("docs", "http://opml.org/spec2.opml")
    xml.endElement("head")
    xml.startElement("body", AttributesImpl({}))

    def outline(title: str, page: str, feed: str) -> None:
        xml.addQuickElement(
            "outline",
            None,
            {
                "type": "rss",
                "text": xml_text(title),
                "title": xml_text(title),
                "xmlUrl": origin + feed,
                "htmlUrl": origin + page,
            },
        )

    outline(f"{site_name()}: latest stories", reverse("feeds:home"), reverse(f"feeds:home_{fmt}"))
    entities = Entity.objects.shown().only("kind", "slug", "name").order_by("kind", "name")
    storylines = (
        Storyline.objects.listed()
        .filter(last_published_at__gte=timezone.now() - OPML_STORYLINE_WINDOW)
        .only("slug", "title")
        .order_by("-last_published_at", "-id")[:OPML_STORYLINES]
    )
    for label, rows in (
        ("Countries", [("country", c.slug, c.name) for c in Country.objects.all()]),
        ("Topics", [("topic", t.slug, t.name) for t in Topic.objects.all()]),
        # Entity feeds are listings like a country's: a vessel's, port's ... (kind in the URL).
        (
            "Ships, ports, routes, organisations and places",
            [(e.kind, e.slug, e.name) for e in entities],
        ),
        (
            f"Storylines of the last {OPML_STORYLINE_WINDOW.days} days",
            [("storyline", line.slug, f"storyline: {line.title}") for line in storylines],
        ),
    ):
        xml.startElement("outline", AttributesImpl({"text": label, "title": label}))
        for kind, slug, name in rows:
            outline(
                f"{site_name()}: {name}",
                reverse(f"feeds:{kind}", args=[slug]),
                reverse(f"feeds:{kind}_{fmt}", args=[slug]),
            )
        xml.endElement("outline")
    xml.endElement("body")
    xml.endElement("opml")
    return out.getvalue()
