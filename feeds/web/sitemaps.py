"""XML sitemaps: the site's pages for every crawler, and a Google News sitemap of new stories.

``SITEMAPS`` feeds /sitemap.xml. ``NewsSitemap`` feeds /sitemap-news.xml: stories of the last
two days (Google News ignores older ones and accepts at most 1,000 URLs), rendered with
``templates/sitemaps/news.xml``, which adds the ``news:`` namespace.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.urls import reverse
from django.utils import timezone

from feeds.models import Country, Entity, Source, Story, Storyline, Topic
from feeds.text.sanitizing import strip_controls

NEWS_WINDOW = timedelta(days=2)
NEWS_LIMIT = 1000


class StaticSitemap(Sitemap):
    changefreq = "hourly"
    priority = 1.0

    def items(self) -> list[str]:
        return ["feeds:home"]

    def location(self, item: str) -> str:
        return reverse(item)


class CountrySitemap(Sitemap):
    changefreq = "hourly"
    priority = 0.8

    def items(self):
        return Country.objects.only("slug").order_by("name")


class TopicSitemap(Sitemap):
    changefreq = "hourly"
    priority = 0.7

    def items(self):
        return Topic.objects.only("slug").order_by("name")


class SourceSitemap(Sitemap):
    changefreq = "daily"
    priority = 0.5

    def items(self):
        return Source.objects.filter(stories__isnull=False).distinct().only("slug").order_by("name")


class EntitySitemap(Sitemap):
    """Vessels', ports', routes', organisations' and places' pages, as readers see them, once
    a story is about them (the catalogue knows more ships and ports than the news does)."""

    changefreq = "daily"
    priority = 0.5

    def items(self):
        return Entity.objects.shown().with_stories().only("kind", "slug").order_by("kind", "name")


class StorylineSitemap(Sitemap):
    """Storyline pages, as the site offers them (``Storyline.objects.listed()``), dated by
    their newest story."""

    changefreq = "daily"
    priority = 0.6
    limit = 10_000

    def items(self):
        return (
            Storyline.objects.listed()
            .only("slug", "last_published_at")
            .order_by("-last_published_at", "-id")
        )

    def lastmod(self, line: Storyline):
        return line.last_published_at


class StorySitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.6
    limit = 10_000

    def items(self):
        return (
            Story.objects.visible()
            .only("id", "published_at", "source_updated_at")
            .order_by("-published_at", "-id")
        )

    def lastmod(self, story: Story):
        return max(filter(None, [story.published_at, story.source_updated_at]))


class NewsSitemap(Sitemap):
    """Google News sitemap: https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap"""

    limit = NEWS_LIMIT

    def items(self):
        since = timezone.now() - NEWS_WINDOW
        return (
            Story.objects.visible()
            .filter(published_at__gte=since)
            .select_related("source")
            .only("id", "title", "language", "published_at", "source__name", "source__language")
            .order_by("-published_at", "-id")[:NEWS_LIMIT]
        )

    def lastmod(self, story: Story):
        return story.published_at

    # Sitemap._urls is where Django builds each entry; django-stubs does not declare it.
    def _urls(self, page, protocol, domain):
        urls = super()._urls(page, protocol, domain)  # type: ignore[misc]
        for url in urls:
            story = url["item"]
            url["news"] = {
                # The publication is us (the aggregator); the story's own outlet is in
                # the title's page. Google asks for the name as it appears on the site.
                "publication_name": settings.SITE_NAME,
                "language": _news_language(story.language or story.source.language),
                "publication_date": story.published_at,
                # Whatever an editor typed: XML 1.0 has no escape for control characters,
                # so they would make the whole sitemap ill-formed.
                "title": strip_controls(story.title),
            }
        return urls


def _news_language(code: str) -> str:
    """ISO 639 code as Google News wants it (zh-cn / zh-tw keep their region; others don't)."""
    code = (code or "en").strip().lower().replace("_", "-")
    if code in {"zh-cn", "zh-tw"}:
        return code
    return code.split("-")[0] or "en"


SITEMAPS = {
    "static": StaticSitemap,
    "countries": CountrySitemap,
    "topics": TopicSitemap,
    "sources": SourceSitemap,
    "entities": EntitySitemap,
    "storylines": StorylineSitemap,
    "stories": StorySitemap,
}
