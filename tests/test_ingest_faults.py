"""Faults a hostile-input review found in ingest (issue 18, items 1–5), each through the real
fetcher and pipeline against the loopback fixture server.

Column limits only bite on PostgreSQL (SQLite stores any length): run with DATABASE_URL set,
as `make test` and .ci/run do. The assertions are the same on both.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import feedparser
import html5lib
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from feeds import tasks
from feeds.ingest import extraction, leases, parsing, scheduling
from feeds.ingest import pipeline as ingest
from feeds.models import Feed, FetchLog, Source, Story
from feeds.text import keys
from feeds.text.sanitizing import MAX_HTML_LENGTH
from tests.fixtureserver import status
from tests.test_hostile_feeds import add_feed, item, rss

pytestmark = pytest.mark.django_db

LONG_LINK = "https://ok.example/" + "a" * 2020  # passes the URL check, longer than the column
LEAD = (
    "The harbour board in Tromsø met on Monday evening to decide on the new quay for the "
    "coastal ferries, the fishing fleet and the visiting cruise ships"
)


@pytest.fixture(autouse=True)
def _private(allow_private):
    """The fixture server is on loopback."""


def entry(guid: str, *, title: str, link: str, body: str, extra: str = "", hours: int = 1) -> str:
    """An RSS item dated ``hours`` before a fixed instant; without a guid when ``guid`` is ""."""
    date = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) - timedelta(hours=hours)
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        + (f'<guid isPermaLink="false">{guid}</guid>' if guid else "")
        + f"<pubDate>{date:%a, %d %b %Y %H:%M:%S +0000}</pubDate>"
        f"<description>{body}</description>{extra}</item>"
    )


# --- 1. over-long values -------------------------------------------------------------------


def test_an_over_long_link_drops_that_link_and_keeps_every_story(fixture_server):
    long_item = entry("long-1", title="A story with a very long link", link=LONG_LINK, body=LEAD)
    feed = add_feed(
        fixture_server, "/long.xml", rss(long_item + "".join(item(n) for n in range(2, 7)))
    )
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.status, run.created) == ("ok", 6), run
    story = Story.objects.get(guid="long-1")
    assert story.link == "" and story.title == "A story with a very long link"
    log = FetchLog.objects.get(feed=feed)
    assert "link dropped: 2039 characters, the limit is 2000" in log.error
    feed.refresh_from_db()
    assert (
        feed.consecutive_failures == 0 and "1 value(s) refused, dropped or cut" in feed.last_status
    )


def test_an_over_long_enclosure_drops_the_image_and_keeps_the_story(fixture_server):
    enclosure = f'<enclosure url="{LONG_LINK}.jpg" type="image/jpeg" length="1"/>'
    body = rss(
        entry(
            "img-1",
            title="Story with a long image",
            link="https://ok.example/1",
            body=LEAD,
            extra=enclosure,
        )
        + item(2)
    )
    feed = add_feed(fixture_server, "/image.xml", body)
    assert ingest.fetch_and_store(feed.pk, force=True).created == 2
    story = Story.objects.get(guid="img-1")
    assert story.image_url == "" and story.link == "https://ok.example/1"
    assert "image_url dropped" in FetchLog.objects.get(feed=feed).error


def test_an_over_long_required_value_refuses_that_entry_alone(fixture_server, monkeypatch):
    # The parser caps titles itself; a parser that did not must still lose only that entry.
    real = parsing.parse_feed

    def long_title(*args, **kwargs):
        parsed = real(*args, **kwargs)
        first, *rest = parsed.entries
        return dataclasses.replace(
            parsed, entries=[dataclasses.replace(first, title="T" * 1001), *rest]
        )

    monkeypatch.setattr(ingest, "parse_feed", long_title)
    feed = add_feed(fixture_server, "/title.xml", rss(item(1) + item(2) + item(3)))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.status, run.created) == ("ok", 2)
    assert (
        "refused: title has 1001 characters, the limit is 1000"
        in FetchLog.objects.get(feed=feed).error
    )


def test_a_301_to_an_over_long_url_stores_the_feed_and_does_not_move_it(fixture_server):
    feed = add_feed(fixture_server, "/moving.xml")
    target = "/" + "b" * 2100
    fixture_server.add(target, rss(item(1) + item(2)))
    fixture_server.add_redirect("/moving.xml", fixture_server.url(target), status=301)
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.status, run.created) == ("ok", 2), run
    feed.refresh_from_db()
    assert feed.url == fixture_server.url("/moving.xml") and feed.is_active


def test_addfeed_refuses_an_over_long_url_with_a_clear_error():
    long_url = "http://127.0.0.1:9/" + "a" * 2020  # resolvable, allowed here, within 2,048
    with pytest.raises(CommandError, match="2039 characters long; a feed URL has at most 2000"):
        call_command("addfeed", long_url, source="Long Outlet", stdout=io.StringIO())
    assert not Feed.objects.exists()


# --- 2. identity: recurring headlines and colliding keys ------------------------------------


@pytest.mark.parametrize(
    "lead",
    [
        "",  # briefs too short for a lead key
        # Long enough for a lead key: the headline is looked for, and must not be enough.
        " The harbour master said the crossing would resume when the storm over the Varanger"
        " peninsula has passed and the coast guard has checked the quay in the morning.",
    ],
    ids=["short", "with-lead"],
)
def test_a_recurring_headline_is_a_new_story_and_the_old_one_is_kept(fixture_server, lead):
    monday = entry(
        "brief-mon",
        title="News in brief",
        link="https://ok.example/brief/mon",
        body="Monday: the ferry to Vardø is cancelled." + lead,
    )
    feed = add_feed(fixture_server, "/brief.xml", rss(monday))
    ingest.fetch_and_store(feed.pk, force=True)
    tuesday = entry(
        "brief-tue",
        title="News in brief",
        link="https://ok.example/brief/tue",
        body="Tuesday: the airport in Kirkenes reopens." + lead.replace("harbour", "airport"),
    )
    fixture_server.add("/brief.xml", rss(tuesday))  # Monday's item has left the feed
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (1, 0)
    assert "ferry to Vardø" in Story.objects.get(guid="brief-mon").summary
    assert "Kirkenes reopens" in Story.objects.get(guid="brief-tue").summary


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("https://ok.example/live#update-1", "https://ok.example/live#update-2"),
        ("https://ok.example/" + "x" * 300 + "/one", "https://ok.example/" + "x" * 300 + "/two"),
    ],
    ids=["fragment", "long-shared-prefix"],
)
def test_links_that_share_a_url_key_are_different_stories(fixture_server, first, second):
    one = entry("one", title="First update", link=first, body="First body.")
    feed = add_feed(fixture_server, "/keys.xml", rss(one))
    ingest.fetch_and_store(feed.pk, force=True)
    two = entry("two", title="Second update", link=second, body="Second body.")
    fixture_server.add("/keys.xml", rss(two))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    assert Story.objects.get(guid="one").title == "First update"
    assert Story.objects.get(guid="two").link == second


def test_the_same_item_under_a_new_guid_keeps_its_story_by_headline_and_lead(fixture_server):
    old = entry("cms-1", title="Quay decision in Tromsø", link="https://ok.example/1", body=LEAD)
    feed = add_feed(fixture_server, "/cms.xml", rss(old))
    ingest.fetch_and_store(feed.pk, force=True)
    first_seen = Story.objects.get(guid="cms-1").first_seen_at
    new = entry(
        "urn:new-cms:1",
        title="Quay decision in Tromsø",
        link="https://ok.example/news/quay",
        body=LEAD,
    )
    fixture_server.add("/cms.xml", rss(new))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (0, 1)
    story = Story.objects.get()
    assert story.guid == "urn:new-cms:1" and story.first_seen_at == first_seen


@pytest.mark.parametrize("days_apart", [7, 0], ids=["a-week-later", "same-day"])
def test_a_new_guid_at_the_same_link_is_a_new_item_and_the_old_one_is_kept(
    fixture_server, days_apart
):
    """Podcast and show-page feeds give every item one link: a new guid with another headline
    at that link is a new episode, whenever it comes, never the last one overwritten."""
    show = "https://pod.example/show"
    one = entry("pod-1", title="Arctic Hour episode 1", link=show, body="Episode one.")
    feed = add_feed(fixture_server, "/pod.xml", rss(one))
    ingest.fetch_and_store(feed.pk, force=True)
    two = entry(
        "pod-2",
        title="Arctic Hour episode 2",
        link=show,
        body="Episode two.",
        hours=-24 * days_apart,
    )
    fixture_server.add("/pod.xml", rss(two))  # episode 1 has left the feed
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (1, 0)
    assert Story.objects.get(guid="pod-1").title == "Arctic Hour episode 1"
    assert Story.objects.get(guid="pod-2").title == "Arctic Hour episode 2"


STOCK_TEASER = (
    "Your morning round-up of the news from across the circumpolar North, read by our "
    "newsroom in Tromsø"
)


@pytest.mark.parametrize("same_link", [False, True], ids=["own-links", "one-link"])
@pytest.mark.parametrize("days_apart", [1, 3])
def test_a_recurring_item_with_a_stock_teaser_is_a_new_story_days_later(
    fixture_server, days_apart, same_link
):
    """ "Daily briefing" with the same stock teaser every day: the same headline and opening
    words (and even the same link) days apart are two items, not a re-issue of one."""

    def briefing(guid: str, day: int) -> str:
        link = "https://brief.example/daily" if same_link else f"https://brief.example/{guid}"
        return entry(guid, title="Daily briefing", link=link, body=STOCK_TEASER, hours=-24 * day)

    feed = add_feed(fixture_server, "/daily.xml", rss(briefing("bl-1", 0)))
    ingest.fetch_and_store(feed.pk, force=True)
    fixture_server.add("/daily.xml", rss(briefing("bl-2", days_apart)))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (1, 0)
    assert set(Story.objects.values_list("guid", flat=True)) == {"bl-1", "bl-2"}


@pytest.mark.parametrize(
    ("old_guid", "old_link", "new_guid", "new_link", "new_title"),
    [
        # The CMS starts giving permalink guids; the headline was edited on the way.
        ("cms-7", "https://ok.example/7", "https://ok.example/7", "https://ok.example/7", "Edited"),
        # The same link and headline under a CMS's new guid format.
        ("cms-7", "https://ok.example/7", "urn:cms:7", "https://ok.example/7", "Quay decision"),
    ],
    ids=["permalink-guid", "same-link-and-headline"],
)
def test_a_reissued_item_under_a_new_guid_keeps_its_story(
    fixture_server, old_guid, old_link, new_guid, new_link, new_title
):
    old = entry(old_guid, title="Quay decision", link=old_link, body="First text.")
    feed = add_feed(fixture_server, "/reissue.xml", rss(old))
    ingest.fetch_and_store(feed.pk, force=True)
    first_seen = Story.objects.get().first_seen_at
    new = entry(new_guid, title=new_title, link=new_link, body="First text, edited.")
    fixture_server.add("/reissue.xml", rss(new))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (0, 1)
    story = Story.objects.get()
    assert (story.guid, story.title, story.first_seen_at) == (new_guid, new_title, first_seen)


def test_the_same_link_and_headline_days_apart_are_two_items(fixture_server):
    """A weekly show whose items all say "Arctic Hour" at one link: a week apart, two items."""
    show = "https://pod.example/show"
    feed = add_feed(
        fixture_server, "/weekly.xml", rss(entry("wk-1", title="Arctic Hour", link=show, body="1"))
    )
    ingest.fetch_and_store(feed.pk, force=True)
    later = entry("wk-2", title="Arctic Hour", link=show, body="2", hours=-24 * 7)
    fixture_server.add("/weekly.xml", rss(later))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    assert set(Story.objects.values_list("guid", "summary")) == {("wk-1", "1"), ("wk-2", "2")}


def test_a_new_item_at_the_same_link_without_guids_is_a_new_story(fixture_server):
    """No guids and one link for every item: the link is weak evidence of identity, so a new
    headline days later is a new episode, and the earlier one is kept under its identity."""
    show = "https://pod.example/daily"
    one = entry("", title="Briefing: ice at record low", link=show, body="Day one.", hours=48)
    feed = add_feed(fixture_server, "/noguid.xml", rss(one))
    ingest.fetch_and_store(feed.pk, force=True)
    two = entry("", title="Briefing: ferry strike", link=show, body="Day three.", hours=0)
    fixture_server.add("/noguid.xml", rss(two))  # episode 1 has left the feed
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (1, 0)
    assert Story.objects.get(guid=show).title == "Briefing: ice at record low"
    run = ingest.fetch_and_store(feed.pk, force=True)  # episode 2 again: its own story
    assert (run.created, run.updated) == (0, 0)
    fixed = entry("", title="Briefing: ferry strike ends", link=show, body="Day three.", hours=0)
    fixture_server.add("/noguid.xml", rss(fixed))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (0, 1)
    assert set(Story.objects.values_list("title", "summary")) == {
        ("Briefing: ice at record low", "Day one."),
        ("Briefing: ferry strike ends", "Day three."),
    }


@pytest.mark.parametrize(
    ("title", "counts"),
    [("Quay decision", (0, 0)), ("Quay decision postponed", (0, 1))],
    ids=["unchanged", "headline-corrected-same-hour"],
)
def test_an_item_without_a_guid_keeps_its_story(fixture_server, title, counts):
    """Re-fetched unchanged, or with its headline corrected (its date kept), an item without a
    guid is still its story, under the identity stories stored before had: its link."""
    link = "https://ok.example/quay"
    feed = add_feed(
        fixture_server, "/one.xml", rss(entry("", title="Quay decision", link=link, body="Text."))
    )
    ingest.fetch_and_store(feed.pk, force=True)
    fixture_server.add("/one.xml", rss(entry("", title=title, link=link, body="Text.")))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == counts
    story = Story.objects.get()
    assert (story.guid, story.title) == (link, title)


# --- 3. huge numbers in response headers, and any exception -----------------------------------


def test_a_huge_max_age_on_a_200_stores_the_feed_within_the_bounds(fixture_server):
    feed = add_feed(
        fixture_server,
        "/age.xml",
        rss(item(1)),
        headers={"Cache-Control": "max-age=99999999999999999999"},
    )
    before = timezone.now()
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    feed.refresh_from_db()
    assert feed.next_fetch_at <= before + scheduling.MAX_INTERVAL * 1.1 + timedelta(seconds=5)


@pytest.mark.parametrize("retry_after", ["100000000000000", "9" * 400, "7200"])
def test_429_with_any_retry_after_is_recorded_and_backs_off(fixture_server, retry_after):
    fixture_server.add_handler("/busy.xml", status(429, {"Retry-After": retry_after}))
    feed = add_feed(fixture_server, "/busy.xml")
    before = timezone.now()
    assert ingest.fetch_and_store(feed.pk, force=True).status == "failed"
    feed.refresh_from_db()
    assert feed.lease_until is None and feed.consecutive_failures == 1 and "429" in feed.last_status
    wait = feed.next_fetch_at - before
    assert timedelta(seconds=7200) * 0.99 <= wait <= scheduling.MAX_BACKOFF + timedelta(seconds=5)
    assert FetchLog.objects.filter(feed=feed, status="HTTP 429").count() == 1


def test_any_exception_in_a_run_is_recorded_on_the_feed_and_backs_it_off(
    fixture_server, monkeypatch
):
    def broken(*args, **kwargs):
        raise OverflowError("a number our code could not take")

    monkeypatch.setattr(ingest, "parse_feed", broken)
    feed = add_feed(fixture_server, "/broken.xml", rss(item(1)))
    before = timezone.now()
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert run.status == "failed" and "OverflowError" in run.error
    feed.refresh_from_db()
    assert feed.consecutive_failures == 1 and feed.lease_until is None
    assert "OverflowError: a number our code could not take" in feed.last_error
    assert feed.next_fetch_at >= before + timedelta(minutes=9)
    assert FetchLog.objects.get(feed=feed).error.startswith("OverflowError")


def test_a_poison_feed_is_quarantined_and_fetched_at_most_n_times(
    fixture_server, monkeypatch, settings
):
    settings.FEEDS_QUARANTINE_AFTER = 3
    calls = []

    def poison(*args, **kwargs):
        calls.append(1)
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(ingest, "parse_feed", poison)
    feed = add_feed(fixture_server, "/poison.xml", rss(item(1)))
    for _ in range(10):  # beat after beat, as soon as the feed is due again
        Feed.objects.filter(pk=feed.pk).update(next_fetch_at=timezone.now())
        for feed_id in Feed.objects.due().values_list("pk", flat=True):
            tasks.fetch_feed(feed_id)
    assert len(calls) == 3
    feed.refresh_from_db()
    assert not feed.is_active and "quarantined" in feed.deactivated_reason
    assert "RecursionError" in feed.deactivated_reason


def test_a_feed_whose_runs_never_finish_is_quarantined(fixture_server, settings):
    """A worker killed mid-run records nothing: the claim's own counter catches it (R7)."""
    settings.FEEDS_QUARANTINE_AFTER = 3
    feed = add_feed(fixture_server, "/killer.xml", rss(item(1)))
    now = timezone.now()
    for n in range(3):  # claimed, then the worker dies and the lease expires
        assert leases.claim(feed.pk, force=True, now=now + timedelta(hours=n)) is not None
    assert leases.claim(feed.pk, force=True, now=now + timedelta(hours=3)) is None
    feed.refresh_from_db()
    assert not feed.is_active and "3 runs in a row never finished" in feed.deactivated_reason
    # A run that finishes clears the count: a healthy feed never gets near it.
    healthy = add_feed(fixture_server, "/healthy.xml", rss(item(2)))
    for _ in range(5):
        assert ingest.fetch_and_store(healthy.pk, force=True).status in {"ok", "not-modified"}
    healthy.refresh_from_db()
    assert healthy.is_active and healthy.unfinished_runs == 0


# --- 4. a hostile outlet cannot take over another outlet's story -------------------------------


def outlet_feed(server, path: str, body: str, *, name: str, homepage: str) -> Feed:
    feed = add_feed(server, path, body, outlet=name)
    Source.objects.filter(pk=feed.source_id).update(homepage=homepage)
    return Feed.objects.select_related("source").get(pk=feed.pk)


def test_a_hostile_outlet_first_with_the_headline_does_not_take_over_the_real_story(
    fixture_server, client
):
    headline = "Northern Fleet exercise closes the Varanger fjord"
    phish = entry("p-1", title=headline, link="https://phish.example/varanger", body="Click here.")
    hostile = outlet_feed(
        fixture_server,
        "/phish.xml",
        rss(phish),
        name="Phish Outlet",
        homepage="https://phish.example/",
    )
    ingest.fetch_and_store(hostile.pk, force=True)
    real_item = entry("r-1", title=headline, link="https://real.example/news/varanger", body=LEAD)
    real = outlet_feed(
        fixture_server,
        "/real.xml",
        rss(real_item),
        name="Real Outlet",
        homepage="https://real.example/",
    )
    ingest.fetch_and_store(real.pk, force=True)
    story = Story.objects.get(feed=real)
    assert story.canonical_id is None
    assert Story.objects.visible().filter(pk=story.pk).exists()
    page = client.get(story.get_absolute_url())
    assert page.status_code == 200 and b"phish.example" not in page.content


@pytest.mark.parametrize("homepages", [True, False], ids=["with-homepages", "added-by-addfeed"])
def test_a_hostile_outlet_copying_the_whole_item_first_does_not_take_over(
    fixture_server, client, homepages
):
    # The headline AND the opening words, under the hostile outlet's own link, fetched first.
    # (addfeed leaves Source.homepage empty, so neither link is known to be on its own site.)
    headline = "Fosen wind farm ruling leaves reindeer herders waiting"
    phish = entry("p-2", title=headline, link="https://phish.example/fosen", body=LEAD)
    hostile = outlet_feed(
        fixture_server,
        "/phish2.xml",
        rss(phish),
        name="Phish Outlet",
        homepage="https://phish.example/" if homepages else "",
    )
    ingest.fetch_and_store(hostile.pk, force=True)
    real_item = entry("r-2", title=headline, link="https://real.example/news/fosen", body=LEAD)
    real = outlet_feed(
        fixture_server,
        "/real2.xml",
        rss(real_item),
        name="Real Outlet",
        homepage="https://real.example/" if homepages else "",
    )
    ingest.fetch_and_store(real.pk, force=True)
    story = Story.objects.get(feed=real)
    assert story.canonical_id is None
    assert Story.objects.visible().filter(pk=story.pk).exists()
    page = client.get(story.get_absolute_url())
    assert page.status_code == 200 and b"phish.example" not in page.content


def test_the_original_publisher_is_canonical_even_when_an_aggregator_came_first(fixture_server):
    link = "https://real.example/news/quay"
    wire = entry("w-1", title="Quay decision", link=link, body=LEAD)
    aggregator = outlet_feed(
        fixture_server,
        "/wire.xml",
        rss(wire),
        name="Wire Aggregator",
        homepage="https://wire.example/",
    )
    ingest.fetch_and_store(aggregator.pk, force=True)
    own = entry("o-1", title="Quay decision", link=link, body=LEAD)
    real = outlet_feed(
        fixture_server, "/own.xml", rss(own), name="Real Outlet", homepage="https://real.example/"
    )
    ingest.fetch_and_store(real.pk, force=True)
    original, copy = Story.objects.get(feed=real), Story.objects.get(feed=aggregator)
    assert original.canonical_id is None and copy.canonical_id == original.pk


def test_a_republication_that_opens_with_its_credit_is_still_a_copy(fixture_server):
    # As Eye on the Arctic republishes CBC: its own link, the credit in dc:creator and the
    # teaser opening "By <author>" before the original's first sentence.
    own = entry("c-1", title="Quay decision", link="https://cbc.example/news/quay", body=LEAD)
    original = outlet_feed(
        fixture_server, "/cbc.xml", rss(own), name="CBC News", homepage="https://cbc.example/"
    )
    ingest.fetch_and_store(original.pk, force=True)
    again = entry(
        "r-1",
        title="Quay decision",
        link="https://rci.example/2026/03/01/quay/",
        body=f"By Danielle Okpik {LEAD} [&#8230;]",
        extra=(
            "<dc:creator>CBC News</dc:creator>"
            f"<content:encoded><![CDATA[<p>By Danielle Okpik</p><p>{LEAD}.</p>]]></content:encoded>"
        ),
    )
    namespaces = (
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/">'
    )
    republisher = outlet_feed(
        fixture_server,
        "/rci.xml",
        rss(again).replace('<rss version="2.0">', namespaces),
        name="Eye on the Arctic",
        homepage="https://rci.example/",
    )
    ingest.fetch_and_store(republisher.pk, force=True)
    first, copy = Story.objects.get(feed=original), Story.objects.get(feed=republisher)
    assert copy.author == "Danielle Okpik"
    assert first.canonical_id is None and copy.canonical_id == first.pk


@pytest.mark.parametrize("republication_first", [False, True], ids=["original-first", "copy-first"])
def test_a_credited_republication_with_its_own_teaser_is_a_copy(
    fixture_server, republication_first
):
    # Eye on the Arctic carrying The Barents Observer's story hours later: the same headline,
    # the original outlet in dc:creator, but a teaser and a link of its own.
    headline = "Kirkenes border guards log sharp rise in GPS jamming along Pasvik valley"
    own = entry("bo-1", title=headline, link="https://bo.example/news/jamming", body=LEAD)
    again = entry(
        "eota-1",
        title=headline,
        link="https://rci.example/2026/03/01/jamming/",
        body="Navigation signals failed for hours again this week, border officials say.",
        extra="<dc:creator>The Independent Barents Observer</dc:creator>",
        hours=-7,
    )
    namespaces = '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    feeds = [
        ("/bo.xml", rss(own), "The Independent Barents Observer", "https://bo.example/"),
        (
            "/eota.xml",
            rss(again).replace('<rss version="2.0">', namespaces),
            "Eye on the Arctic",
            "https://rci.example/",
        ),
    ]
    made = [
        outlet_feed(fixture_server, path, body, name=name, homepage=home)
        for path, body, name, home in feeds
    ]
    for feed in reversed(made) if republication_first else made:
        ingest.fetch_and_store(feed.pk, force=True)
    original, copy = (Story.objects.get(feed=feed) for feed in made)
    assert original.canonical_id is None and copy.canonical_id == original.pk


STRIKE = "Murmansk port workers strike over unpaid wages at the coal terminal"
STRIKE_LEAD = (
    "Dockers at the Murmansk commercial sea port stopped work on Tuesday morning, saying the "
    "terminal operator has not paid them for two months and that talks with the owners failed"
)


def _add_real_outlet_by_addfeed(server, path: str, body: str, name: str) -> Feed:
    """As an operator adds a feed: ``manage.py addfeed`` fetches it and leaves no homepage."""
    server.add(path, body)
    call_command("addfeed", server.url(path), "--source", name, stdout=io.StringIO())
    feed = Feed.objects.select_related("source").get(url=server.url(path))
    assert feed.source.homepage == ""
    return feed


@pytest.mark.parametrize("hostile_first", [True, False], ids=["hostile-first", "real-first"])
def test_a_forged_credit_never_takes_over_the_credited_outlets_story(
    fixture_server, client, hostile_first
):
    """A hostile outlet (with a homepage) carries the real outlet's headline and lead,
    credits the real outlet in <source>, and links to its own phishing page. Whatever the
    order, the real outlet's story stays the canonical one: an item crediting outlet X from
    a feed that is not X's is at most a copy of X's story."""
    real_item = entry(
        "rt-1", title=STRIKE, link="https://realtwo.example/news/murmansk-strike", body=STRIKE_LEAD
    )
    forged = entry(
        "ht-1",
        title=STRIKE,
        link="https://phish2.example/murmansk-strike?login=1",
        body=STRIKE_LEAD,
        extra='<source url="https://realtwo.example/feed">Outlet realtwo</source>',
    )

    def add_hostile() -> Feed:
        feed = outlet_feed(
            fixture_server,
            "/hostiletwo.xml",
            rss(forged),
            name="Outlet hostiletwo",
            homepage="https://phish2.example/",
        )
        ingest.fetch_and_store(feed.pk, force=True)
        return feed

    def add_real() -> Feed:
        feed = _add_real_outlet_by_addfeed(
            fixture_server, "/realtwo.xml", rss(real_item), "Outlet realtwo"
        )
        ingest.fetch_and_store(feed.pk, force=True)
        return feed

    if hostile_first:
        hostile, real = add_hostile(), add_real()
    else:
        real, hostile = add_real(), add_hostile()
    story, copy = Story.objects.get(feed=real), Story.objects.get(feed=hostile)
    assert copy.original_outlet == "Outlet realtwo"  # the forged credit was read
    assert story.canonical_id is None and copy.canonical_id == story.pk
    page = client.get(story.get_absolute_url())
    assert page.status_code == 200
    # The phishing link is shown only under the hostile outlet's own name ("Also published
    # by"), never as the story's link or under the credited outlet's name.
    anchors = [
        ("".join(a.itertext()).strip(), a.get("href", ""))
        for a in html5lib.parse(page.content, namespaceHTMLElements=False).iter("a")
    ]
    assert [href for text, href in anchors if text.startswith("Read the full story")] == [
        "https://realtwo.example/news/murmansk-strike"
    ]
    assert {text for text, href in anchors if "phish2.example" in href} == {"Outlet hostiletwo"}
    assert client.get(copy.get_absolute_url()).url == story.get_absolute_url()
    for listing in ("/", real.source.get_absolute_url()):
        assert b"phish2.example" not in client.get(listing).content


@pytest.mark.parametrize("hostile_first", [True, False], ids=["hostile-first", "real-first"])
def test_a_credit_names_one_outlet_whole_never_a_part_of_its_name(
    fixture_server, client, hostile_first
):
    """The real item credits "CBC News" (its byline); an outlet named "News" is not the
    credited one, so its copy of the headline and lead is no evidence of anything."""
    real_item = entry(
        "cbc-1",
        title=STRIKE,
        link="https://cbc.example/news/murmansk-strike",
        body=STRIKE_LEAD,
        extra="<dc:creator>Pauline Desjarlais, CBC News</dc:creator>",
    )
    copied = entry(
        "news-1", title=STRIKE, link="https://phish3.example/strike?login=1", body=STRIKE_LEAD
    )
    namespaces = '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    specs = [
        ("/news.xml", rss(copied), "News", "https://phish3.example/"),
        (
            "/cbcnorth.xml",
            rss(real_item).replace('<rss version="2.0">', namespaces),
            "CBC North",
            "https://cbc.example/",
        ),
    ]
    made = {}
    for path, body, name, home in specs if hostile_first else reversed(specs):
        made[name] = outlet_feed(fixture_server, path, body, name=name, homepage=home)
        ingest.fetch_and_store(made[name].pk, force=True)
    story = Story.objects.get(feed=made["CBC North"])
    assert story.original_outlet == "CBC News"
    assert story.canonical_id is None
    assert b"phish3.example" not in client.get(story.get_absolute_url()).content


def test_an_outlet_pointing_at_another_outlets_link_is_never_its_original(fixture_server, client):
    """The hostile outlet (its site known) carries the real outlet's exact link under a
    headline of its own, first. The real outlet, added by addfeed (no site known), is still
    the original: a link known to lead off its outlet's site is an aggregator's."""
    link = "https://realtwo.example/news/murmansk-strike"
    lure = entry("ht-2", title="Your reader account needs checking", link=link, body="Log in.")
    hostile = outlet_feed(
        fixture_server,
        "/lure.xml",
        rss(lure),
        name="Outlet hostiletwo",
        homepage="https://phish2.example/",
    )
    ingest.fetch_and_store(hostile.pk, force=True)
    real = _add_real_outlet_by_addfeed(
        fixture_server,
        "/realtwo.xml",
        rss(entry("rt-1", title=STRIKE, link=link, body=STRIKE_LEAD, hours=-1)),
        "Outlet realtwo",
    )
    ingest.fetch_and_store(real.pk, force=True)
    story, copy = Story.objects.get(feed=real), Story.objects.get(feed=hostile)
    assert story.canonical_id is None and copy.canonical_id == story.pk
    assert b"needs checking" not in client.get(story.get_absolute_url()).content


def test_outlet_names_match_whole_after_normalising():
    assert keys.same_outlet("The Independent Barents Observer", "independent barents observer")
    assert keys.same_outlet("Outlet  realtwo", "OUTLET realtwo.")
    assert not keys.same_outlet("CBC News", "News")
    assert not keys.same_outlet("News", "Nunatsiaq News")
    assert not keys.same_outlet("Breathe News", "Brea News")  # "the" only as a leading word
    assert not keys.same_outlet("", "")


def test_the_same_headline_without_a_credit_stays_two_stories(fixture_server):
    headline = "News in brief"
    made = []
    for n, (name, home) in enumerate(
        [("First Outlet", "https://one.example/"), ("Second Outlet", "https://two.example/")]
    ):
        item = entry(f"b-{n}", title=headline, link=f"{home}brief", body=f"{n} {LEAD}")
        made.append(
            outlet_feed(fixture_server, f"/brief{n}.xml", rss(item), name=name, homepage=home)
        )
        ingest.fetch_and_store(made[-1].pk, force=True)
    assert not Story.objects.filter(canonical__isnull=False).exists()


# --- 5. expensive steps only on capped input ---------------------------------------------------


def test_the_outlet_box_is_looked_for_only_in_the_capped_body(
    fixture_server, monkeypatch, settings
):
    seen: list[int] = []
    real = extraction.extract_related_box

    def spy(html: str, base_url: str = ""):
        seen.append(len(html))
        return real(html, base_url)

    monkeypatch.setattr(parsing, "extract_related_box", spy)
    body = "<p>Related stories from around the North:</p>" + "<p>filler text</p>" * 500_000
    big = rss(
        entry(
            "big-1",
            title="A very long body",
            link="https://ok.example/big",
            body=f"<![CDATA[{body}]]>",
        )
    )
    feed = add_feed(fixture_server, "/big.xml", big)
    assert len(big) < settings.FEEDS_MAX_BYTES  # within the fetcher's cap, past the HTML cap
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    assert seen and max(seen) <= MAX_HTML_LENGTH, seen


# --- reviewer's leftovers: garbage image sources, literal tags in titles -----------------------


def test_a_relative_or_garbage_image_source_never_becomes_the_story_image(fixture_server):
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    items = [
        entry("i-1", title="Probe", link="https://ok.example/1", body="&lt;img src=x&gt; Text"),
        entry("i-2", title="Hash", link="https://ok.example/2", body='&lt;img src="#"&gt; T'),
        entry("i-3", title="Query", link="https://ok.example/3", body='&lt;img src="?a"&gt; T'),
        entry(
            "i-4",
            title="Enclosure",
            link="https://ok.example/4",
            body="Text",
            extra='<enclosure url="x" type="image/jpeg" length="1"/>',
        ),
        entry(
            "i-5",
            title="Thumbnail",
            link="https://ok.example/5",
            body="Text",
            extra='<media:thumbnail url="x"/>',
        ),
        # The same relative form naming an image file is a real outlet's (Drupal's) habit.
        entry(
            "i-6",
            title="Drupal",
            link="https://ok.example/news/6",
            body='&lt;img src="/sites/default/files/heat.jpg"&gt; Text',
        ),
    ]
    # The feed's own description carries the probe too: nothing of it reaches a story.
    body = (
        rss("".join(items), extra="")
        .replace("<rss version", f"<rss {media} version", 1)
        .replace("<description>Synthetic test feed", "<description>&lt;img src=x&gt;", 1)
    )
    feed = add_feed(fixture_server, "/images.xml", body)
    assert ingest.fetch_and_store(feed.pk, force=True).created == 6
    images = dict(Story.objects.filter(feed=feed).values_list("guid", "image_url"))
    assert images == {
        "i-1": "",
        "i-2": "",
        "i-3": "",
        "i-4": "",
        "i-5": "",
        "i-6": "https://ok.example/sites/default/files/heat.jpg",
    }


def test_literal_tag_text_in_a_title_is_shown_as_text_everywhere(fixture_server, client):
    """An RSS title is text: "Use <b> tags" is what the outlet wrote and what readers see,
    on every page and in every feed: escaped once (never markup, never "&amp;lt;")."""
    title = "Use <b> tags in a headline"
    rss_feed = add_feed(
        fixture_server,
        "/titles.xml",
        rss(
            entry(
                "t-1",
                title="Use &lt;b&gt; tags in a headline",
                link="https://ok.example/t",
                body=LEAD,
            )
        ),
    )
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom outlet</title><id>urn:atom-outlet</id><updated>2026-03-01T12:00:00Z</updated>"
        "<entry><id>urn:a-1</id>"
        '<title type="html">Use &amp;lt;b&amp;gt; tags in a headline</title>'
        '<link href="https://atom.example/a-1"/><updated>2026-03-01T11:00:00Z</updated>'
        '<summary type="html">&lt;p&gt;Another lead.&lt;/p&gt;</summary></entry></feed>'
    )
    atom_feed = add_feed(
        fixture_server,
        "/titles.atom",
        atom,
        outlet="Atom Outlet",
        content_type="application/atom+xml",
    )
    for feed in (rss_feed, atom_feed):
        assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    stories = list(Story.objects.filter(feed__in=[rss_feed, atom_feed]))
    assert [s.title for s in stories] == [title, title]

    story = stories[0]
    page = client.get(story.get_absolute_url())
    html = page.content.decode()
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    h1 = tree.find(".//h1")
    assert "".join(h1.itertext()).strip() == title and h1.find(".//b") is None
    assert title in "".join(tree.find(".//title").itertext())
    assert "Use &lt;b&gt; tags" in html and "&amp;lt;" not in html
    assert not tree.findall(".//main//b")

    home = client.get("/").content.decode()
    assert "Use &lt;b&gt; tags" in home and "&amp;lt;" not in home
    found = client.get("/search/", {"q": "headline tags"}).content.decode()
    assert "Use &lt;b&gt; <mark>tags</mark>" in found or "Use &lt;b&gt; tags" in found
    assert "&amp;lt;" not in found

    parsed = feedparser.parse(client.get("/feed/").content)
    assert title in [e.title for e in parsed.entries]
    items = json.loads(client.get("/feed/json/").content)["items"]
    assert title in [i["title"] for i in items]


def test_an_over_long_link_in_an_outlets_box_drops_that_line_alone(fixture_server):
    """RelatedSlot.external_url holds 2,000 characters too: the outlet's box line with a longer
    link is left out, the story and the box's other lines are kept (L1)."""
    sweden_url = "https://www.sverigesradio.se/artikel/lulea-port-ice"
    box = (
        "<p>Ships finished the last sealift deliveries to Nunavut communities this week.</p>"
        "<p><strong>Related stories from around the North:</strong></p>"
        f'<p><strong>Finland:</strong> <a href="{LONG_LINK}">Finnish icebreakers start '
        "season early</a>, Yle News<br />"
        f'<strong>Sweden:</strong> <a href="{sweden_url}">Luleå port prepares for thick '
        "ice</a>, Radio Sweden</p>"
    )
    boxed = entry(
        "box-1",
        title="Sealift season ends in Nunavut",
        link="https://ok.example/sealift",
        body=f"<![CDATA[{box}]]>",
    )
    feed = add_feed(fixture_server, "/box.xml", rss(boxed))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    story = Story.objects.get(feed=feed)
    lines = {s.country.slug: s.external_url for s in story.related_slots.select_related("country")}
    assert lines == {"sweden": sweden_url}
