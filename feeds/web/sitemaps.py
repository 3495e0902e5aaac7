"""XML sitemaps: the site's pages for every crawler, and a Google News sitemap of new stories.

``SITEMAPS`` feeds /sitemap.xml, an index of one sitemap per section (/sitemap-stories.xml
and its pages ``?p=N``). ``NewsSitemap`` feeds /sitemap-news.xml: stories of the last
two days (Google News ignores older ones and accepts at most 1,000 URLs), rendered with
``templates/sitemaps/news.xml``, which adds the ``news:`` namespace.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from types import SimpleNamespace

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db import models
from django.db.models import Max, Min
from django.urls import reverse
from django.utils import timezone

from feeds.models import Country, Entity, Source, Story, Storyline, Topic
from feeds.text.sanitizing import typed_text

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
        return Source.objects.with_stories().only("slug").order_by("name")


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

    def get_latest_lastmod(self):
        # Django's takes the max over every item; the newest is first in this order.
        first = self.items().first()
        return first.last_published_at if first else None


class IdRangePages:
    """A sitemap's pages as ranges of ids (page N: the N-th ``per_page`` ids from the first,
    oldest first) instead of Django's OFFSET pages, which at a million stories read 940,000
    index entries to skip to page 95 (3 s). A story stays on its page for ever, so a crawler
    finds every old page unchanged and only the last ones grow. Gaps in the ids (copies and
    hidden stories) leave a page with fewer entries, never none before the last page."""

    def __init__(self, items: models.QuerySet, per_page: int) -> None:
        self.items = items
        self.per_page = per_page

    @cached_property
    def _ids(self) -> tuple[int, int]:
        # Of every row, hidden or not: the first id anchors the pages and never moves.
        ids = self.items.model._default_manager.aggregate(first=Min("id"), last=Max("id"))
        return (ids["first"] or 1) - 1, ids["last"] or 0

    @cached_property
    def num_pages(self) -> int:
        before, last = self._ids
        return max(1, -(-(last - before) // self.per_page))

    def page(self, number: object) -> SimpleNamespace:
        try:
            number = int(str(number))
        except ValueError:
            raise PageNotAnInteger("That page number is not an integer") from None
        if not 1 <= number <= self.num_pages:
            raise EmptyPage("That page contains no results")
        low = self._ids[0] + (number - 1) * self.per_page
        rows = self.items.filter(id__gt=low, id__lte=low + self.per_page).order_by("id")
        return SimpleNamespace(object_list=rows)


class StorySitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.6
    limit = 10_000

    def items(self):
        return Story.objects.visible().only("id", "published_at", "source_updated_at")

    @property
    def paginator(self) -> IdRangePages:  # type: ignore[override]
        return IdRangePages(self.items(), self.limit)

    # A story's address from its pattern reversed once: reverse() for each of a page's
    # 10,000 stories was two thirds of its time. The mark is an id no story will have.
    _MARK = "900000000000000001"

    @cached_property
    def _pattern(self) -> str:
        return reverse("feeds:story", args=[self._MARK])

    def location(self, story: Story) -> str:
        return self._pattern.replace(self._MARK, str(story.pk))

    def lastmod(self, story: Story):
        return max(filter(None, [story.published_at, story.source_updated_at]))

    def get_latest_lastmod(self):
        # Django's takes the max over every item: a million stories read for the index. The
        # newest story's date says when the section last grew (an outlet's later correction
        # of an older story shows on that story's own entry).
        newest = self.items().order_by("-published_at", "-id").first()
        return self.lastmod(newest) if newest else None


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
                "title": typed_text(story.title),
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
