"""WebSub publishing: tell the hub which of our feeds changed, so subscribers get a push.

Our feeds advertise ``settings.WEBSUB_HUB_URL`` as ``rel="hub"`` next to their ``rel="self"``
URL. When stories change, :func:`publish_changes` (after the transaction has committed) bumps
the feed cache generation, so the hub fetches fresh bytes, and then sends the hub one publish
notification naming every affected feed: ``hub.mode=publish`` with one ``hub.url`` per feed
(PubSubHubbub 0.3 allows ``hub.url`` to repeat; ``WEBSUB_URLS_PER_REQUEST`` caps a batch).

Topic URLs are absolute, built on ``settings.SITE_URL``: it must be the public origin that
feed readers see in our feeds' ``rel="self"`` links, or the hub's subscribers never match.

Pings are best effort: a hub that is down costs one logged warning, never an ingest failure;
subscribers still poll. The request itself is made by ``fetching.post_form``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse

from feeds import generation as generations
from feeds.models import (
    Story,
    StoryCountry,
    StoryEntity,
    Storyline,
    StorylineMembership,
    StoryTopic,
)
from feeds.syndication.feeds import hub_url
from feeds.syndication.formats import LISTING_FORMATS

logger = logging.getLogger(__name__)


class PingError(Exception):
    """The hub could not be reached (connection refused, timeout, DNS ...)."""


def site_url() -> str:
    return settings.SITE_URL.rstrip("/")


def feed_urls(listing: str, *args: str) -> list[str]:
    """Absolute URLs of one listing's feed in every listing format, e.g. ("country", "norway")."""
    origin = site_url()
    return [origin + reverse(f"feeds:{listing}_{fmt.name}", args=args) for fmt in LISTING_FORMATS]


def changed_feed_urls(story: Story) -> list[str]:
    """Every feed whose content a new, edited, hidden or re-tagged ``story`` may change.

    All stories, the story's source, each of its countries, topics and country × topic pairs,
    each entity it is about (a vessel's, port's ... feed) and its storyline (when listed:
    ``Storyline.objects.listed()``), in every listing format. Rejected tags and links count
    too: a tag an editor just removed means the story just left that feed. Search feeds cannot
    be enumerated and are not included.
    """
    countries = StoryCountry.objects.filter(story=story).values_list("country__slug", flat=True)
    topics = StoryTopic.objects.filter(story=story).values_list("topic__slug", flat=True)
    entities = StoryEntity.objects.filter(story=story).values_list("entity__kind", "entity__slug")
    storylines = _listed_storylines(Q(story=story)).values_list("storyline__slug", flat=True)
    return _listing_feed_urls(
        story.source.slug, set(countries), set(topics), set(entities), set(storylines)
    )


def _listed_storylines(which: Q) -> QuerySet[StorylineMembership]:
    """The memberships ``which`` names, in storylines the site lists (a storyline of one
    story has no feed worth a push)."""
    listed = Storyline.objects.listed().values("pk")
    return StorylineMembership.objects.filter(which, storyline__in=listed)


def _listing_feed_urls(
    source: str,
    countries: set[str],
    topics: set[str],
    entities: Collection[tuple[str, str]] = (),
    storylines: Collection[str] = (),
) -> list[str]:
    urls = feed_urls("home") + feed_urls("source", source)
    for country in sorted(countries):
        urls += feed_urls("country", country)
    for topic in sorted(topics):
        urls += feed_urls("topic", topic)
    for country in sorted(countries):
        for topic in sorted(topics):
            urls += feed_urls("country_topic", country, topic)
    for kind, slug in sorted(entities):
        urls += feed_urls(kind, slug)
    for slug in sorted(storylines):
        urls += feed_urls("storyline", slug)
    return urls


def publish_changes(stories: Iterable[Story | int]) -> list[str]:
    """Make changed stories visible in feeds and push them: call once the change committed.

    Bumps the generations of the stories' listings (so each of their feeds is rebuilt on its
    next request, the hub's included) and, when a hub is configured, pings it once for the
    union of the stories' feeds (see :func:`changed_feed_urls`), in five queries whatever
    the number of stories. Returns the topic URLs pinged.

    A new story has no storyline yet (the enrich task places it after this ping):
    :func:`publish_storylines` pings its storyline's feeds once it has joined one.
    """
    ids = {item.pk if isinstance(item, Story) else int(item) for item in stories}
    if not hub_url():
        generations.bump_listings(Story.objects.filter(pk__in=ids).listed_on())
        return []
    countries: dict[int, set[str]] = {}
    topics: dict[int, set[str]] = {}
    for story_id, slug in StoryCountry.objects.filter(story_id__in=ids).values_list(
        "story_id", "country__slug"
    ):
        countries.setdefault(story_id, set()).add(slug)
    for story_id, slug in StoryTopic.objects.filter(story_id__in=ids).values_list(
        "story_id", "topic__slug"
    ):
        topics.setdefault(story_id, set()).add(slug)
    entities: dict[int, set[tuple[str, str]]] = {}
    for story_id, kind, slug in StoryEntity.objects.filter(story_id__in=ids).values_list(
        "story_id", "entity__kind", "entity__slug"
    ):
        entities.setdefault(story_id, set()).add((kind, slug))
    storylines: dict[int, set[str]] = {}
    for story_id, slug in _listed_storylines(Q(story_id__in=ids)).values_list(
        "story_id", "storyline__slug"
    ):
        storylines.setdefault(story_id, set()).add(slug)
    urls: dict[str, None] = {}
    listed_on: dict[str, set] = {"country": set(), "topic": set(), "source": set(), "story": ids}
    for story_id, source in (
        Story.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "source__slug")
    ):
        found = _listing_feed_urls(
            source,
            countries.get(story_id, set()),
            topics.get(story_id, set()),
            entities.get(story_id, set()),
            storylines.get(story_id, set()),
        )
        urls.update(dict.fromkeys(found))
        listed_on["source"].add(source)
    for slugs in countries.values():
        listed_on["country"] |= slugs
    for slugs in topics.values():
        listed_on["topic"] |= slugs
    generations.bump_listings(listed_on)
    pinged = list(urls)
    ping_hub(pinged)
    return pinged


def publish_storylines(storyline_ids: Iterable[int], story_ids: Iterable[int] = ()) -> list[str]:
    """Stories (``story_ids``) just joined these storylines: call once the placing committed.

    Bumps the pages that show storylines (``latest``: the storyline pages and their feeds,
    the home page's "Storylines this week", the sitemap and the OPML; and the stories' own
    pages, which now say "Part of: ...") and, when a hub is configured, pings it for the
    feeds of those of the storylines the site lists. One query. Returns the topic URLs pinged.
    """
    generations.bump_listings({"story": set(story_ids)})
    if not hub_url():
        return []
    slugs = Storyline.objects.listed().filter(pk__in=set(storyline_ids)).order_by("slug")
    pinged = [
        url for slug in slugs.values_list("slug", flat=True) for url in feed_urls("storyline", slug)
    ]
    ping_hub(pinged)
    return pinged


def publish_listing(listing: str, *args: str) -> list[str]:
    """Ping the hub for one listing's feeds, in every format (the digest's, when a week is
    approved: its page cache was bumped by the approval). Returns the topic URLs pinged."""
    if not hub_url():
        return []
    pinged = feed_urls(listing, *args)
    ping_hub(pinged)
    return pinged


def ping_hub(topic_urls: Sequence[str]) -> None:
    """Notify the hub that these topic URLs have new content. No hub configured: nothing."""
    hub = hub_url()
    topics = list(dict.fromkeys(url for url in topic_urls if url))
    if not hub or not topics:
        return
    per_request = max(settings.WEBSUB_URLS_PER_REQUEST, 1)
    timeout = float(settings.WEBSUB_TIMEOUT)
    for start in range(0, len(topics), per_request):
        batch = topics[start : start + per_request]
        data = [("hub.mode", "publish"), *(("hub.url", url) for url in batch)]
        try:
            status = _post_form(hub, data, timeout)
        except PingError as exc:
            # The hub is unreachable: the rest of the batches would only wait for it too.
            logger.warning(
                "WebSub hub %s unreachable, %d topics not pinged: %s", hub, len(topics) - start, exc
            )
            return
        if not 200 <= status < 300:
            logger.warning(
                "WebSub hub %s answered %d to a publish of %d topics", hub, status, len(batch)
            )


def _post_form(url: str, data: list[tuple[str, str]], timeout: float) -> int:
    """POST the publish notification through the project's one network module."""
    from feeds.ingest.fetching import FetchError, post_form

    try:
        return post_form(url, data, timeout=timeout)
    except FetchError as exc:
        raise PingError(exc.reason) from exc
