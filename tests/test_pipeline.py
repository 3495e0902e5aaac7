"""The ingest pipeline in-process, through the real fetcher against a local HTTP server."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import feedparser
import html5lib
import pytest
from django.core.management import call_command
from django.utils import timezone

from feeds.generation import bump_generation
from feeds.ingest import pipeline as ingest
from feeds.models import Feed, RelatedSlot, Source, Story, StoryCountry
from feeds.search import search_stories
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db

FEED_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Test Outlet</title><link>https://example.org/</link>
<description>Synthetic test feed</description><language>en</language>
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><link>https://example.org/{n}/</link>
<guid isPermaLink="false">example-{n}</guid><pubDate>{date}</pubDate>
<dc:creator>Kari Nordmann, Test Outlet</dc:creator>
<description><![CDATA[{body}]]></description></item>"""


def make_feed(items: list[dict]) -> str:
    return FEED_TEMPLATE.format(items="\n".join(ITEM.format(**i) for i in items))


BASIC = [
    {
        "n": 1,
        "title": "Icebreaker escorts tankers along the Northern Sea Route to Sabetta",
        "date": "Mon, 23 Nov 2026 10:00:00 +0000",
        "body": "<p>A nuclear icebreaker from Murmansk led three LNG tankers east.</p>",
    },
    {
        "n": 2,
        "title": "Nuuk council debates new harbour for Greenland's capital",
        "date": "Tue, 24 Nov 2026 09:30:00 +0000",
        "body": "<p>Naalakkersuisut wants the harbour in Nuuk finished by 2029.</p>",
    },
    {
        "n": 3,
        "title": "Yukon First Nations sign land-use plan with Ottawa",
        "date": "Wed, 25 Nov 2026 14:00:00 +0000",
        "body": "<p>The plan covers the Peel watershed in northern Canada.</p>"
        "<script>alert(1)</script><img src=x onerror=alert(2)>",
    },
]


@pytest.fixture
def outlet_feed(fixture_server, allow_private):
    fixture_server.add("/rss.xml", make_feed(BASIC))
    call_command(
        "addfeed", fixture_server.url("/rss.xml"), source="Test Outlet", stdout=io.StringIO()
    )
    return Feed.objects.get(url=fixture_server.url("/rss.xml"))


def test_a_claim_returns_the_feed_as_stored_and_only_once(outlet_feed):
    now = timezone.now()
    Feed.objects.filter(pk=outlet_feed.pk).update(
        next_fetch_at=now - timedelta(minutes=1),
        last_success_at=now - timedelta(hours=2),
        etag='"v7"',
        consecutive_failures=3,
        is_active=True,
    )
    claimed = ingest.claim(outlet_feed.pk, now=now)
    stored = Feed.objects.get(pk=outlet_feed.pk)
    assert isinstance(claimed, Feed) and claimed.lease_until > now
    for f in Feed._meta.concrete_fields:
        assert getattr(claimed, f.attname) == getattr(stored, f.attname), f.name
    assert isinstance(claimed.last_success_at, type(now)) and claimed.is_active is True
    assert claimed.source.name == "Test Outlet"
    # A second delivery of the same task, or the next beat, finds it leased.
    assert ingest.claim(outlet_feed.pk, now=now) is None
    assert ingest.claim(outlet_feed.pk, now=now, force=True) is None
    ingest.release(outlet_feed.pk)
    Feed.objects.filter(pk=outlet_feed.pk).update(next_fetch_at=now + timedelta(hours=1))
    assert ingest.claim(outlet_feed.pk, now=now) is None  # not due
    assert ingest.claim(outlet_feed.pk, now=now, force=True) is not None


def test_a_host_gets_at_most_its_share_of_claims_at_once(settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the per-host limit is counted in PostgreSQL; SQLite runs one task at a time")
    settings.FEEDS_FETCHES_PER_HOST = 2
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    now = timezone.now()
    urls = [
        "https://news.example.org/a.xml",
        "https://News.Example.org:8443/b.xml",  # the same host: case and port do not matter
        "https://editor:pw@news.example.org/c.xml",
        "https://other.example.net/feed",
    ]
    a, b, c, other = (
        Feed.objects.create(source=source, url=url, next_fetch_at=now - timedelta(minutes=1))
        for url in urls
    )
    assert ingest.claim(a.pk, now=now) and ingest.claim(b.pk, now=now)
    assert ingest.claim(c.pk, now=now) is None  # due, free, but its host has two in flight
    assert ingest.claim(c.pk, now=now, force=True) is None  # "fetch now" waits its turn too
    assert ingest.claim(other.pk, now=now) is not None  # another host is not held up
    assert Feed.objects.due(now).filter(pk=c.pk).exists()  # so the next beat enqueues it
    ingest.release(a.pk)
    assert ingest.claim(c.pk, now=now) is not None
    # A lease that outlived a killed worker stops counting when it expires.
    Feed.objects.filter(pk=b.pk).update(lease_until=now - timedelta(seconds=1))
    Feed.objects.filter(pk=a.pk).update(next_fetch_at=now - timedelta(minutes=1))
    assert ingest.claim(a.pk, now=now) is not None


def test_new_stories_get_their_pks_where_the_insert_returns_none(
    outlet_feed, fixture_server, monkeypatch
):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's INSERT always returns the new ids")
    # SQLite before 3.35 has no RETURNING: bulk_create leaves the pks unset.
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    result = ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert result.created == 3
    stored = dict(Story.objects.values_list("pk", "guid"))
    assert sorted(result.new_story_ids) == sorted(stored)
    assert StoryCountry.objects.filter(story_id__in=stored).exists()  # tagged by those pks


def test_it_stores_tags_and_is_idempotent(outlet_feed, fixture_server):
    first = ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert first.status == "ok" and first.created == 3
    seen = dict(Story.objects.values_list("guid", "first_seen_at"))

    # Same body again (the server ignores validators): checksum says unchanged, no writes.
    fixture_server.add("/rss.xml", make_feed(BASIC), etag=None)
    second = ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert second.status in {"unchanged", "not-modified"}
    assert Story.objects.count() == 3
    assert dict(Story.objects.values_list("guid", "first_seen_at")) == seen

    slugs = {s.guid: {t.country.slug for t in s.countries.all()} for s in Story.objects.all()}
    assert "russia" in slugs["example-1"]
    assert "greenland" in slugs["example-2"]
    assert "canada" in slugs["example-3"]
    assert Story.objects.get(guid="example-1").primary_country.slug == "russia"


def test_it_sends_validators_and_a_304_costs_nothing(outlet_feed, fixture_server):
    ingest.fetch_and_store(outlet_feed.pk, force=True)
    outlet_feed.refresh_from_db()
    assert outlet_feed.etag
    before = Story.objects.order_by("pk").values_list("pk", "last_seen_at")
    before = list(before)
    result = ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert result.status == "not-modified"
    last = fixture_server.requests[-1]
    assert last.headers.get("If-None-Match") == outlet_feed.etag
    assert list(Story.objects.order_by("pk").values_list("pk", "last_seen_at")) == before
    outlet_feed.refresh_from_db()
    assert outlet_feed.last_status.startswith("304")


def test_it_updates_an_edited_story_instead_of_duplicating(outlet_feed, fixture_server):
    ingest.fetch_and_store(outlet_feed.pk, force=True)
    edited = [
        dict(
            BASIC[0],
            title="Icebreaker escorts four tankers along the Northern Sea Route",
            body="<p>The convoy reached Sabetta after a stop off Dikson.</p>",
        )
    ]
    fixture_server.add("/rss.xml", make_feed(edited + BASIC[1:]))
    result = ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert (result.created, result.updated) == (0, 1)
    story = Story.objects.get(guid="example-1")
    assert story.title.startswith("Icebreaker escorts four")
    # The upsert compares without reading bodies back; the new body is still what is stored.
    assert "Dikson" in story.summary and "Dikson" in story.raw_content
    assert [s.pk for s in search_stories("Dikson")] == [story.pk]
    assert not search_stories("Murmansk").filter(pk=story.pk).exists()


def test_a_lead_behind_heavy_markup_is_still_read_by_the_tagger(fixture_server, allow_private):
    # A short teaser sends the tagger on into the body, and WordPress bodies can open with
    # kilobytes of figure, srcset and embed markup before the first sentence.
    gallery = "".join(
        f'<img src="https://example.org/wp-content/uploads/2026/11/harbour-photo-{n}-1024x683.jpg"'
        ' alt="">'
        for n in range(120)
    )
    opening = f"<figure>{gallery}<figcaption>Photos</figcaption></figure>"
    body = opening + "<p>The harbour in Nuuk will be finished by 2029, Naalakkersuisut says.</p>"
    item = (
        "<item><title>Council approves the new harbour</title>"
        "<link>https://example.org/h/</link><guid>h</guid>"
        "<description>A decision at last, after years of delay.</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
    )
    fixture_server.add("/heavy.xml", FEED_TEMPLATE.format(items=item))
    source = Source.objects.create(name="Heavy Markup Weekly", slug="heavy")
    feed = Feed.objects.create(source=source, url=fixture_server.url("/heavy.xml"))
    ingest.fetch_and_store(feed.pk, force=True)
    story = Story.objects.get(guid="h")
    assert len(story.content) > 10_000 and story.content.index("Nuuk") > 10_000
    assert story.primary_country.slug == "greenland"


def test_it_keeps_a_hidden_story_hidden(outlet_feed, fixture_server):
    ingest.fetch_and_store(outlet_feed.pk, force=True)
    Story.objects.filter(guid="example-2").update(is_hidden=True)
    edited = [BASIC[0], dict(BASIC[1], body="<p>Changed text.</p>"), BASIC[2]]
    fixture_server.add("/rss.xml", make_feed(edited))
    ingest.fetch_and_store(outlet_feed.pk, force=True)
    assert Story.objects.filter(guid="example-2").count() == 1
    assert Story.objects.get(guid="example-2").is_hidden


def test_no_script_from_a_feed_reaches_the_story_page(outlet_feed, client):
    ingest.fetch_and_store(outlet_feed.pk, force=True)
    story = Story.objects.get(guid="example-3")
    page = client.get(story.get_absolute_url()).content.decode()
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    scripts = [s for s in tree.iter("script") if s.get("src") is None and "alert" in (s.text or "")]
    assert not scripts
    assert not [e for e in tree.iter() if any(k.lower().startswith("on") for k in e.attrib)]
    assert "alert(1)" not in page


def test_failures_back_off_and_are_recorded(fixture_server, allow_private):
    fixture_server.add("/broken.xml", b"oops", status=500)
    source = Source.objects.create(name="Flaky", slug="flaky")
    feed = Feed.objects.create(source=source, url=fixture_server.url("/broken.xml"))
    result = ingest.fetch_and_store(feed.pk, force=True)
    assert result.status == "failed"
    feed.refresh_from_db()
    assert feed.consecutive_failures == 1 and feed.is_active
    assert "500" in feed.last_status
    assert feed.next_fetch_at > feed.last_fetched_at
    first_delay = feed.next_fetch_at - feed.last_fetched_at
    ingest.fetch_and_store(feed.pk, force=True)
    feed.refresh_from_db()
    assert feed.consecutive_failures == 2
    assert feed.next_fetch_at - feed.last_fetched_at > first_delay


def test_gone_deactivates_with_reason(fixture_server, allow_private):
    fixture_server.add("/gone.xml", b"", status=410)
    source = Source.objects.create(name="Closed", slug="closed")
    feed = Feed.objects.create(source=source, url=fixture_server.url("/gone.xml"))
    assert ingest.fetch_and_store(feed.pk, force=True).status == "gone"
    feed.refresh_from_db()
    assert not feed.is_active and "410" in feed.deactivated_reason


def test_fetchfeeds_prints_a_line_per_feed_and_survives_failures(outlet_feed, fixture_server):
    fixture_server.add("/down.xml", b"", status=503)
    Feed.objects.create(source=outlet_feed.source, url=fixture_server.url("/down.xml"))
    out = io.StringIO()
    call_command("fetchfeeds", "--all", stdout=out)
    lines = out.getvalue().splitlines()
    assert any("ok, 3 new" in line for line in lines)
    assert any("failed" in line and "503" in line for line in lines)
    assert re.search(r"done: 1 feeds fetched, 1 failed", out.getvalue())


def test_addfeed_refuses_private_addresses_by_default(settings):
    settings.FEEDS_ALLOW_PRIVATE_ADDRESSES = False
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not allowed"):
        call_command("addfeed", "http://127.0.0.1:9/feed", source="Sneaky")
    assert not Feed.objects.exists()


def test_the_offline_demo_path_loads_samples_with_related_boxes():
    out = io.StringIO()
    call_command("load_default_sources", stdout=out)
    call_command("load_sample_feeds", stdout=out)
    assert Story.objects.visible().count() >= 80
    countries = set(StoryCountry.objects.values_list("country__slug", flat=True))
    assert len(countries) == 9
    assert RelatedSlot.objects.exists()
    assert Story.objects.filter(canonical__isnull=False).exists(), "republished copies linked"
    # Loading twice changes nothing.
    n = Story.objects.count()
    call_command("load_sample_feeds", stdout=out)
    assert Story.objects.count() == n


def test_the_rss_feed_of_the_fixture_set_parses(fixture_server, allow_private, client):
    fixture_server.add_file_tree(FIXTURES / "feeds", "/")
    for name, outlet in [
        ("rci_eye_on_the_arctic.xml", "Eye on the Arctic"),
        ("barents_observer_en_legacy.xml", "The Independent Barents Observer"),
        ("cbc_north.xml", "CBC North"),
        ("yle_news.xml", "Yle News"),
    ]:
        call_command("addfeed", fixture_server.url("/" + name), source=outlet, stdout=io.StringIO())
    call_command("fetchfeeds", "--all", stdout=io.StringIO())
    assert Story.objects.count() > 20
    bump_generation()  # what the fetch's commit does; a test's transaction never commits
    for url in ["/feed/", "/country/russia/feed/", "/country/canada/feed/"]:
        response = client.get(url)
        assert response.status_code == 200
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert parsed.entries
        for entry in parsed.entries:
            assert entry.link.startswith("http://testserver/story/")
            assert entry.tags


def test_a_json_feed_goes_through_the_whole_pipeline(fixture_server, allow_private, client):
    from tests.test_parsing import JSON_FEED

    fixture_server.add("/feed.json", JSON_FEED, content_type="application/feed+json")
    call_command(
        "addfeed", fixture_server.url("/feed.json"), source="North JSON", stdout=io.StringIO()
    )
    call_command("fetchfeeds", "--all", stdout=io.StringIO())
    feed = Feed.objects.get(url=fixture_server.url("/feed.json"))
    assert feed.consecutive_failures == 0, feed.last_error
    story = Story.objects.get(feed=feed, guid="1001")
    assert story.title == "Ferry to Longyearbyen <b>cancelled</b>"
    assert "norway" in {t.country.slug for t in StoryCountry.objects.filter(story=story)}
    page = client.get(story.get_absolute_url()).content.decode()
    assert "Ferry to Longyearbyen &lt;b&gt;cancelled&lt;/b&gt;" in page
    assert "alert(" not in page and "javascript:" not in page
    # A second poll of the unchanged feed is a 304 and stores nothing new.
    call_command("fetchfeeds", "--all", stdout=io.StringIO())
    feed.refresh_from_db()
    assert feed.last_status.startswith("304"), feed.last_status
    assert Story.objects.filter(feed=feed).count() == 2  # the item with nothing usable is skipped
