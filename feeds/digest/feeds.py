"""The digest's own feed, ``/digest/feed/`` (RSS), ``feed/atom/`` and ``feed/json/``: one item
per published week, through the syndication registry's generators and its page cache.

Item ids are tag URIs on the ISO week (``tag:arcticnews,2026:digest/2026-W49``): they never
change, whatever editors do to a week's lines later.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import feedgenerator

from feeds.digest.weeks import IsoWeek
from feeds.models import Digest, DigestLine, DigestStoryline
from feeds.syndication.feeds import (
    TAG_DATE,
    Listing,
    StoryFeed,
    _utc,
    plain_title,
    site_name,
    tag_authority,
)
from feeds.web.caching import origin

ITEMS_PER_FEED = 20


class DigestItem:
    """A published digest as a feed item: its lines and its storylines of the week (as the
    page and the email show them), with absolute links."""

    def __init__(
        self,
        digest: Digest,
        lines: list[DigestLine],
        storylines: list[DigestStoryline],
        base: str,
    ) -> None:
        self.digest = digest
        self.week = IsoWeek(digest.year, digest.week)
        self.lines = lines
        self.storylines = storylines
        self.base = base

    @property
    def html(self) -> str:
        return render_to_string(
            "feeds/digest/feed_item.html",
            {
                "digest": self.digest,
                "lines": self.lines,
                "storylines": self.storylines,
                "base": self.base,
            },
        )


class DigestFeed(StoryFeed):
    def get_object(self, request: HttpRequest, *args, **kwargs) -> Listing:
        return Listing(
            origin=origin(request),
            path=reverse("feeds:digest"),
            title=f"{site_name()}: Around the North, weekly",
            description="Each week, one story from every Arctic country, chosen from the "
            "week's most covered news.",
        )

    def items(self, listing: Listing) -> list[DigestItem]:  # type: ignore[override]
        digests = (
            Digest.objects.published()
            .newest_first()
            .prefetch_related(
                Prefetch("lines", DigestLine.objects.shown(), to_attr="shown"),
                Prefetch(
                    "storylines", DigestStoryline.objects.shown(), to_attr="shown_week_storylines"
                ),
            )
        )
        return [
            DigestItem(d, d.shown, d.shown_week_storylines, listing.origin)
            for d in digests[:ITEMS_PER_FEED]
        ]

    def item_title(self, item: DigestItem) -> str:  # type: ignore[override]
        return plain_title(f"{item.digest.title}: {item.week.label}")

    def item_link(self, item: DigestItem) -> str:  # type: ignore[override]
        return item.digest.get_absolute_url()

    def item_guid(self, item: DigestItem) -> str:  # type: ignore[override]
        week = item.week
        return f"tag:{tag_authority()},{TAG_DATE}:digest/{week.year}-W{week.week:02d}"

    def item_description(self, item: DigestItem) -> str:  # type: ignore[override]
        return item.html

    def item_author_name(self, item: DigestItem) -> str:  # type: ignore[override]
        return site_name()

    def item_pubdate(self, item: DigestItem) -> datetime | None:  # type: ignore[override]
        return _utc(item.digest.approved_at or item.week.end)

    def item_updateddate(self, item: DigestItem) -> datetime | None:  # type: ignore[override]
        return self.item_pubdate(item)

    def item_enclosures(self, item: DigestItem) -> list[feedgenerator.Enclosure]:  # type: ignore[override]
        return []

    def item_extra_kwargs(self, item: DigestItem) -> dict:  # type: ignore[override]
        return {
            "terms": [],
            "has_primary": False,
            "external_url": "",
            "summary_html": item.html,
            "full_html": "",
            "summary_text": "; ".join(
                f"{line.country.name}: {line.headline}" for line in item.lines
            ),
            "language": "en",
            "outlet": site_name(),
        }
