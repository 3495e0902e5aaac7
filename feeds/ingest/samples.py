"""The default sources and the bundled offline sample feeds (feeds/ingest/sample_feeds/).

The sample feeds are synthetic, written by us in the real outlets' formats, so that a fresh
clone without network still shows a lively site.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from feeds.ingest.parsing import parse_feed
from feeds.ingest.pipeline import FeedRunResult, store_parsed
from feeds.models import Country, Feed, Source
from feeds.types import ParsedFeed

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_feeds"


@dataclass(frozen=True)
class DefaultSource:
    name: str
    slug: str
    homepage: str
    country: str
    language: str
    feed_url: str
    sample_file: str
    full_text: bool


def default_sources() -> list[DefaultSource]:
    rows = json.loads((SAMPLE_DIR / "sources.json").read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(DefaultSource)}
    return [DefaultSource(**{k: v for k, v in row.items() if k in fields}) for row in rows]


@transaction.atomic
def install_default_sources() -> list[Feed]:
    """Create the default outlets and their feeds; editors' later changes are kept."""
    countries = {c.slug: c for c in Country.objects.all()}
    feeds = []
    for spec in default_sources():
        source, _ = Source.objects.get_or_create(
            slug=spec.slug,
            defaults={
                "name": spec.name,
                "homepage": spec.homepage,
                "country": countries.get(spec.country),
                "language": spec.language,
                "show_full_text": spec.full_text,
            },
        )
        feed, _ = Feed.objects.get_or_create(url=spec.feed_url, defaults={"source": source})
        feeds.append(feed)
    return feeds


def _shifted(parsed: ParsedFeed, delta: timedelta) -> ParsedFeed:
    def move(value: datetime | None) -> datetime | None:
        return value + delta if value else None

    entries = tuple(
        dataclasses.replace(e, published=move(e.published), updated=move(e.updated))
        for e in parsed.entries
    )
    return dataclasses.replace(parsed, entries=entries)


def load_samples(now: datetime | None = None) -> list[tuple[Feed, FeedRunResult]]:
    """Store every bundled sample feed through the real parse → store → tag path.

    Dates are shifted together so the newest sample story is a few minutes old: the demo
    looks current whatever day it is run.
    """
    now = now or timezone.now()
    specs = {s.feed_url: s for s in default_sources()}
    parsed_by_feed = []
    newest = None
    for feed in Feed.objects.filter(url__in=list(specs)).select_related("source"):
        body = (SAMPLE_DIR / specs[feed.url].sample_file).read_bytes()
        parsed = parse_feed(body, url=feed.url)
        parsed_by_feed.append((feed, parsed))
        dates = [e.published for e in parsed.entries if e.published]
        if dates:
            newest = max([newest, *dates]) if newest else max(dates)
    delta = (now - timedelta(minutes=5) - newest) if newest else timedelta(0)
    return [
        (feed, store_parsed(feed, _shifted(parsed, delta), now=now))
        for feed, parsed in parsed_by_feed
    ]
