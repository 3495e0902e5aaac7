"""Tagging measured the way outsiders measure it: headlines in a feed, primary country out.

The held-out set (written before the tagger was tuned, never tuned on) is served as RSS
with only headline, teaser and outlet; the primary country is read from the first country
<category> of each item in our output feed.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser
import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

HOLDOUT = Path(__file__).resolve().parent / "data" / "tagging_holdout.jsonl"
BATCH = 40  # below the output feed's 50 items, so every ingested item is visible


def rss(items: list[dict], start: int) -> str:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    parts = []
    for n, item in enumerate(items):
        when = format_datetime(now - timedelta(minutes=n))
        creator = f"<dc:creator>{escape(item['outlet'])}</dc:creator>" if item["outlet"] else ""
        parts.append(
            f"<item><title>{escape(item['title'])}</title>"
            f"<link>https://news.example.org/{start + n}/</link>"
            f'<guid isPermaLink="false">holdout-{start + n}</guid><pubDate>{when}</pubDate>'
            f"{creator}<description>{escape(item['teaser'])}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Held-out wire</title>'
        "<link>https://news.example.org/</link><description>test</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def test_primary_country_through_the_public_interface(client, fixture_server, allow_private):
    items = [json.loads(line) for line in HOLDOUT.read_text().splitlines() if line.strip()]
    right = total = 0
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        path = f"/holdout-{start}.xml"
        fixture_server.add(path, rss(batch, start))
        name = f"Held-out wire {start}"
        call_command("addfeed", fixture_server.url(path), source=name, stdout=io.StringIO())
        call_command("fetchfeeds", stdout=io.StringIO())
        slug = name.lower().replace(" ", "-")
        parsed = feedparser.parse(client.get(f"/source/{slug}/feed/").content)
        assert not parsed.bozo
        assert len(parsed.entries) == len(batch)
        by_title = {e.title: e for e in parsed.entries}
        for item in batch:
            entry = by_title[item["title"]]
            countries = [t.term for t in entry.get("tags", []) if "/country/" in t.scheme]
            total += 1
            right += bool(countries) and countries[0] == _name(item["countries"][0])
    accuracy = right / total
    assert accuracy >= 0.9, f"held-out primary-country accuracy {accuracy:.3f} over {total}"


def _name(slug: str) -> str:
    return "United States" if slug == "united-states" else slug.capitalize()
