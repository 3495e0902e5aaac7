"""Outgoing feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for every listing, OPML, WebSub.

Every feed must parse cleanly (feedparser's bozo flag stays False for RSS and Atom, JSON Feed
checked against its 1.1 spec), whatever the stories contain; ids never change; only canonical,
visible stories appear; conditional GET and the cache spare the database; the WebSub hub hears
about changes.
"""

from __future__ import annotations

import email.utils
import io
import json
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import feedparser
import pytest
from django.core.cache import cache
from django.db import connection
from django.utils.http import http_date

from feeds.generation import bump_generation, generation
from feeds.models import Country, Feed, Source, Story, StoryCountry, StoryTopic, Topic
from feeds.syndication import feeds as syndication
from feeds.syndication import websub
from feeds.syndication.formats import LISTING_FORMATS

pytestmark = pytest.mark.django_db

FORMATS = ("feed/", "feed/atom/", "feed/json/")
CONTENT_TYPES = {
    "feed/": "application/rss+xml; charset=utf-8",
    "feed/atom/": "application/atom+xml; charset=utf-8",
    "feed/json/": "application/feed+json; charset=utf-8",
}
ORIGIN = "http://testserver"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# --- World --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_search_rate_limit(settings):
    """These tests fetch search feeds far more often than a reader would."""
    settings.SEARCH_RATE_LIMIT = "100000/m"


@pytest.fixture(autouse=True)
def _fresh_generation():
    # Test databases reuse primary keys, so a feed cached by an earlier test could match this
    # one's URL and content: start every test on a new generation. (Not cache.clear(): with
    # REDIS_URL the cache may share its Redis database with the Celery broker.)
    bump_generation()


@pytest.fixture
def source():
    outlet = Source.objects.create(
        name="Barents Test Observer", slug="barents-test", homepage="https://outlet.example/"
    )
    Feed.objects.create(source=outlet, url="https://outlet.example/feed/")
    return outlet


def make_story(source, guid: str, *, countries=(), topics=(), primary=None, **fields) -> Story:
    defaults = {
        "title": f"Story {guid}",
        "link": f"https://outlet.example/{guid}/",
        "summary": f"<p>Summary of {guid}.</p>",
        "published_at": NOW,
    }
    defaults.update(fields)
    story = Story.objects.create(
        feed=source.feeds.get(),
        source=source,
        guid=guid,
        primary_country=Country.objects.get(slug=primary) if primary else None,
        **defaults,
    )
    for slug in countries:
        StoryCountry.objects.create(story=story, country=Country.objects.get(slug=slug))
    for slug in topics:
        StoryTopic.objects.create(story=story, topic=Topic.objects.get(slug=slug))
    return story


@pytest.fixture
def world(source):
    """A tagged lead story, a republished copy of it, a hidden story and an untagged one."""
    lead = make_story(
        source,
        "convoy",
        title="Icebreaker convoy reaches Murmansk",
        summary="<p>The convoy <em>arrived</em> at dawn.</p>",
        author="Kari Nordmann",
        image_url="https://outlet.example/img/convoy.png",
        countries=("norway", "russia", "finland"),
        topics=("shipping", "security"),
        primary="russia",
        published_at=NOW - timedelta(hours=1),
        source_updated_at=NOW - timedelta(minutes=10),
    )
    copy = make_story(
        source,
        "convoy-copy",
        title="Icebreaker convoy reaches Murmansk (republished)",
        countries=("russia",),
        topics=("shipping",),
        primary="russia",
        canonical=lead,
    )
    hidden = make_story(
        source,
        "hidden",
        title="Icebreaker story an editor hid",
        countries=("russia",),
        topics=("shipping",),
        primary="russia",
        is_hidden=True,
    )
    plain = make_story(source, "plain", title="Plain story", published_at=NOW - timedelta(days=1))
    from feeds.search import update_search_vectors

    update_search_vectors([lead.pk, copy.pk, hidden.pk, plain.pk])
    return {"lead": lead, "copy": copy, "hidden": hidden, "plain": plain}


LISTINGS = [
    "/",
    "/country/russia/",
    "/country/russia/topic/shipping/",
    "/topic/shipping/",
    "/source/barents-test/",
    "/search/",
]


def feed_url(listing: str, fmt: str) -> str:
    if listing == "/search/":
        return f"/search/{fmt}?q=icebreaker"
    return listing + fmt


def parse(response):
    assert response.status_code == 200, response.content[:500]
    return feedparser.parse(
        io.BytesIO(response.content), response_headers={"content-type": response["Content-Type"]}
    )


def check_json_feed(doc: dict) -> None:
    """The JSON Feed 1.1 rules a reader relies on."""
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and doc["title"]
    assert doc["home_page_url"].startswith(ORIGIN)
    assert doc["feed_url"].startswith(ORIGIN)
    assert isinstance(doc["items"], list)
    for author in doc.get("authors", []):
        assert author["name"]
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_html" in item or "content_text" in item
        for key in ("date_published", "date_modified"):
            if key in item:
                assert RFC3339.match(item[key]), item[key]
                datetime.fromisoformat(item[key].replace("Z", "+00:00"))
        assert all(isinstance(tag, str) for tag in item.get("tags", []))
        for key in ("url", "external_url", "image"):
            if key in item:
                assert item[key].startswith(("http://", "https://"))


def ids_in(response, fmt: str) -> list[str]:
    if fmt == "feed/json/":
        return [item["id"] for item in json.loads(response.content)["items"]]
    return [entry.id for entry in parse(response).entries]


# --- Every listing, every format ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("listing", LISTINGS)
def test_it_serves_every_listing_in_every_format(client, world, listing, fmt):
    response = client.get(feed_url(listing, fmt))

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    lead_id = syndication.story_tag_uri(world["lead"].pk)
    if fmt == "feed/json/":
        doc = json.loads(response.content)
        check_json_feed(doc)
        assert doc["items"][0]["id"] == lead_id
        assert doc["items"][0]["url"] == f"{ORIGIN}/story/{world['lead'].pk}/"
        assert doc["items"][0]["external_url"] == "https://outlet.example/convoy/"
    else:
        parsed = parse(response)
        assert parsed.bozo is False, parsed.get("bozo_exception")
        assert parsed.version == ("rss20" if fmt == "feed/" else "atom10")
        assert parsed.entries[0].id == lead_id
        assert parsed.entries[0].link == f"{ORIGIN}/story/{world['lead'].pk}/"
        assert "https://outlet.example/convoy/" in parsed.entries[0].summary
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["self"] == ORIGIN + feed_url(listing, fmt)


def test_it_gives_the_plain_story_only_to_the_feeds_it_belongs_to(client, world):
    plain_id = syndication.story_tag_uri(world["plain"].pk)

    assert plain_id in ids_in(client.get("/feed/"), "feed/")
    assert plain_id in ids_in(client.get("/source/barents-test/feed/json/"), "feed/json/")
    assert plain_id not in ids_in(client.get("/country/russia/feed/"), "feed/")
    assert plain_id not in ids_in(client.get("/topic/shipping/feed/atom/"), "feed/atom/")
    assert ids_in(client.get("/country/greenland/feed/"), "feed/") == []
    assert ids_in(client.get("/search/feed/?q=zzzznothing"), "feed/") == []
    assert ids_in(client.get("/search/feed/"), "feed/") == []


def test_it_keeps_the_search_pages_filters_in_the_search_feed(client, world):
    lead = syndication.story_tag_uri(world["lead"].pk)
    doc = json.loads(
        client.get(
            "/search/feed/json/?q=icebreaker&country=russia&topic=shipping"
            "&since=2026-03-01&page=2&utm_source=x"
        ).content
    )
    search = "q=icebreaker&country=russia&topic=shipping&since=2026-03-01"
    assert doc["feed_url"] == f"{ORIGIN}/search/feed/json/?{search}"
    assert doc["home_page_url"] == f"{ORIGIN}/search/?{search}"
    assert [item["id"] for item in doc["items"]] == [lead]

    assert ids_in(client.get("/search/feed/?q=icebreaker&since=2026-03-03"), "feed/") == []
    assert ids_in(client.get("/search/feed/?q=icebreaker&until=2026-03-01"), "feed/") == []
    assert ids_in(client.get("/search/feed/?q=icebreaker&country=greenland"), "feed/") == []
    # A country the search page refuses is refused here too (once silently dropped: a reader
    # subscribed to "Atlantis" got every country's stories).
    assert client.get("/search/feed/json/?q=icebreaker&country=atlantis").status_code == 400


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "url",
    [
        "/country/atlantis/",
        "/topic/knitting/",
        "/source/nobody/",
        "/country/norway/topic/knitting/",
        "/country/atlantis/topic/shipping/",
    ],
)
def test_it_404s_unknown_terms(client, world, url, fmt):
    assert client.get(url + fmt).status_code == 404


def test_it_only_answers_get_and_head(client, world):
    refused = client.post("/feed/")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"
    assert "This address cannot do that" in refused.content.decode()  # our page, not a blank
    head = client.head("/feed/")
    assert head.status_code == 200
    assert head["ETag"]


# --- Items ----------------------------------------------------------------------------------


def test_it_lists_countries_primary_first_then_topics_with_term_urls(client, world):
    expected = [
        ("Russia", f"{ORIGIN}/country/russia/"),
        ("Finland", f"{ORIGIN}/country/finland/"),
        ("Norway", f"{ORIGIN}/country/norway/"),
        ("Security", f"{ORIGIN}/topic/security/"),
        ("Shipping", f"{ORIGIN}/topic/shipping/"),
    ]

    rss = client.get("/feed/")
    entry = parse(rss).entries[0]
    assert [(tag.term, tag.scheme) for tag in entry.tags] == expected
    item = ET.fromstring(rss.content).find("channel/item")
    assert [(c.text, c.get("domain")) for c in item.findall("category")] == expected

    atom = parse(client.get("/feed/atom/")).entries[0]
    assert [(tag.term, tag.scheme) for tag in atom.tags] == expected

    item = json.loads(client.get("/feed/json/").content)["items"][0]
    assert item["tags"] == [name for name, _ in expected]
    assert item["_arcticnews"]["primary_country"] == "russia"
    assert [c["url"] for c in item["_arcticnews"]["countries"]] == [u for _, u in expected[:3]]


def test_it_puts_the_primary_country_first_even_without_its_tag(client, source):
    make_story(source, "x", countries=("sweden", "canada"), primary="norway")
    make_story(source, "y", countries=("sweden", "canada"), published_at=NOW - timedelta(hours=2))

    first, second = parse(client.get("/feed/")).entries
    assert [tag.term for tag in first.tags] == ["Norway", "Canada", "Sweden"]
    assert [tag.term for tag in second.tags] == ["Canada", "Sweden"]


def test_it_leaves_rejected_tags_out(client, source):
    story = make_story(source, "x", countries=("sweden", "canada"), topics=("energy",))
    StoryCountry.objects.filter(story=story, country__slug="canada").update(rejected=True)

    assert [tag.term for tag in parse(client.get("/feed/")).entries[0].tags] == [
        "Sweden",
        "Energy",
    ]
    assert ids_in(client.get("/country/canada/feed/"), "feed/") == []


def test_it_describes_each_item_fully(client, world):
    rss = client.get("/feed/")
    item = ET.fromstring(rss.content).find("channel/item")
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.find("{http://purl.org/dc/elements/1.1/}creator").text == "Kari Nordmann"
    enclosure = item.find("enclosure")
    assert enclosure.attrib == {
        "url": "https://outlet.example/img/convoy.png",
        "length": "0",
        "type": "image/png",
    }
    description = item.find("description").text
    assert "<em>arrived</em>" in description
    assert 'Originally published by <a href="https://outlet.example/convoy/"' in description
    assert "Barents Test Observer" in description

    atom = parse(client.get("/feed/atom/")).entries[0]
    rels = {(link.rel, link.href) for link in atom.links}
    assert ("related", "https://outlet.example/convoy/") in rels
    assert ("enclosure", "https://outlet.example/img/convoy.png") in rels
    assert atom.author == "Kari Nordmann"
    assert atom.published_parsed[:5] == (2026, 3, 2, 11, 0)
    assert atom.updated_parsed[:5] == (2026, 3, 2, 11, 50)

    item = json.loads(client.get("/feed/json/").content)["items"][0]
    assert item["image"] == "https://outlet.example/img/convoy.png"
    assert item["authors"] == [{"name": "Kari Nordmann"}]
    assert item["summary"] == "The convoy arrived at dawn."
    assert item["date_published"] == "2026-03-02T11:00:00Z"
    assert item["date_modified"] == "2026-03-02T11:50:00Z"
    assert item["_arcticnews"]["outlet"] == "Barents Test Observer"


def test_it_credits_the_original_outlet_and_shows_full_text_only_where_allowed(client, source):
    make_story(
        source,
        "x",
        original_outlet="CBC News",
        summary="<p>Teaser.</p>",
        content="<p>The whole article.</p>",
    )
    description = parse(client.get("/feed/")).entries[0].summary
    assert "Teaser." in description and "whole article" not in description
    assert "CBC News</a> via Barents Test Observer" in description

    Source.objects.filter(pk=source.pk).update(show_full_text=True)
    bump_generation()
    entry = parse(client.get("/feed/atom/")).entries[0]
    assert "whole article" in entry.content[0].value
    assert "Teaser." in entry.summary
    assert "whole article" in parse(client.get("/feed/")).entries[0].summary


def test_it_carries_a_teaser_not_a_whole_article_put_in_the_summary(client, source):
    article = "<p>Ice closed the port of Kirkenes again on Monday. " * 30 + "</p>"
    article += "<p>Later paragraph of the article.</p>" * 2000
    make_story(source, "x", summary=article)
    for fmt in ("feed/", "feed/atom/"):
        entry = parse(client.get(f"/{fmt}")).entries[0]
        assert "Later paragraph" not in entry.summary, fmt
        assert "Ice closed the port" in entry.summary and "…" in entry.summary, fmt
    item = json.loads(client.get("/feed/json/").content)["items"][0]
    assert "Later paragraph" not in item["content_html"] + item["summary"]
    assert len(item["summary"]) <= 401 and item["summary"].endswith("…")

    Source.objects.filter(pk=source.pk).update(show_full_text=True)
    bump_generation()
    assert "Later paragraph" in parse(client.get("/feed/atom/")).entries[0].summary


def test_it_keeps_ids_stable_when_a_story_is_edited(client, world):
    lead = world["lead"]
    before = {fmt: ids_in(client.get(f"/country/russia/{fmt}"), fmt) for fmt in FORMATS}

    lead.title = "Icebreaker convoy reaches Murmansk, two days late"
    lead.summary = "<p>Rewritten.</p>"
    lead.link = "https://outlet.example/convoy-updated/"
    lead.source_updated_at = NOW
    lead.save()
    bump_generation()

    for fmt in FORMATS:
        response = client.get(f"/country/russia/{fmt}")
        assert ids_in(response, fmt) == before[fmt]
        assert b"two days late" in response.content
    assert before["feed/"] == [f"tag:arcticnews,2026:story/{lead.pk}"]


def test_it_uses_the_configured_tag_authority(client, world, settings):
    settings.SITE_TAG_AUTHORITY = "arcticnews.example"
    assert ids_in(client.get("/feed/"), "feed/")[0] == (
        f"tag:arcticnews.example,2026:story/{world['lead'].pk}"
    )


def test_it_leaves_out_hidden_stories_and_republished_copies(client, world):
    hidden = syndication.story_tag_uri(world["hidden"].pk)
    copy = syndication.story_tag_uri(world["copy"].pk)
    for listing in LISTINGS:
        for fmt in FORMATS:
            ids = ids_in(client.get(feed_url(listing, fmt)), fmt)
            assert hidden not in ids and copy not in ids, (listing, fmt)
            assert syndication.story_tag_uri(world["lead"].pk) in ids


def test_it_caps_items_and_orders_newest_first(client, source):
    for n in range(syndication.ITEMS_PER_FEED + 5):
        make_story(source, f"s{n}", published_at=NOW - timedelta(minutes=n))
    entries = parse(client.get("/feed/")).entries
    assert len(entries) == syndication.ITEMS_PER_FEED
    assert [e.title for e in entries[:2]] == ["Story s0", "Story s1"]


# --- Hostile content --------------------------------------------------------------------------

# PostgreSQL rejects NUL in text and caps the title column at 1,000 characters; SQLite stores
# both, so there the feed itself must cope with them (threats.md finding 5).
_ON_SQLITE = connection.vendor == "sqlite"


@pytest.fixture
def hostile(source):
    nul = "\x00" if _ON_SQLITE else ""
    long_title = "Ice " * (750 if _ON_SQLITE else 250)  # 3,000 / 1,000 characters
    stories = [
        make_story(
            source,
            "controls",
            title=f"Bad{nul}\x0b\x01\x1f\x7f title ]]> & <b>bold</b> \ufffe",
            summary=f"<p>Broken{nul}\x0b <b>html ]]> <script>alert(1)</script>"
            "<img src=x onerror=x ",
            content="<div><p>unclosed",
            author=f"Auth\x0bor{nul}",
            original_outlet="Out]]>let\x01",
            countries=("norway",),
            primary="norway",
            topics=("shipping",),
        ),
        make_story(
            source,
            "long",
            title=long_title,
            summary="]]>" * 100,
            published_at=NOW - timedelta(minutes=1),
            countries=("norway",),
            topics=("shipping",),
        ),
        make_story(
            source,
            "cdata",
            title="]]><![CDATA[ x ]]>",
            summary="<![CDATA[ <p>x</p> ]]>",
            link="https://outlet.example/a?b=1&c=<2>",
            published_at=NOW - timedelta(minutes=2),
            countries=("norway",),
            topics=("shipping",),
        ),
    ]
    Source.objects.filter(pk=source.pk).update(show_full_text=True, name="Barents <Test> & Co")
    return stories


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("listing", ["/", "/country/norway/topic/shipping/", "/search/"])
def test_it_survives_hostile_story_content(client, hostile, listing, fmt):
    url = f"/search/{fmt}?q=%5D%5D%3E" if listing == "/search/" else listing + fmt
    response = client.get(url)

    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    if fmt == "feed/json/":
        doc = json.loads(text)
        check_json_feed(doc)
        items = doc["items"]
        titles = [item["title"] for item in items]
        bodies = [item["content_html"] for item in items]
    else:
        parsed = parse(response)
        assert parsed.bozo is False, parsed.get("bozo_exception")
        ET.fromstring(response.content)  # strict XML parser too
        items = parsed.entries
        titles = [entry.title for entry in items]
        bodies = [entry.summary for entry in items]
    if listing != "/search/":
        assert len(items) == 3
        assert titles[0].startswith("Bad title ]]> & ")
        assert titles[2] == "]]><![CDATA[ x ]]>"
        assert len(titles[1]) <= Story._meta.get_field("title").max_length
    assert all("<script" not in body and "onerror" not in body for body in bodies)


def test_it_cleans_what_the_database_cannot_hold_at_output():
    """Belt and braces: values that never reach the DB (NUL on PostgreSQL) are still cleaned."""
    # Where they stood between two characters they are a space, never nothing ("Edited\x0btitle"
    # is "Edited title"): a control character inside a word cannot be told from one between.
    assert syndication.plain_title("A\x00B\x0bC\ufffe" + "x" * 3000).startswith("A B C x")
    assert len(syndication.plain_title("word " * 1000)) <= Story._meta.get_field("title").max_length
    assert syndication.plain_title("\x00\x01") == "(untitled)"
    feed = syndication.RssFeed(title="T\x00", link="http://x/", description="D\x0b")
    feed.add_item(
        title="t\x00\x0b",
        link="http://x/1",
        description="<p>d\x01</p>",
        author_name="a\x02",
        unique_id="tag:x,2026:1",
        terms=[syndication.Term("country", "no", "No\x03rway", "http://x/c/")],
    )
    parsed = feedparser.parse(io.BytesIO(feed.writeString("utf-8").encode()))
    assert parsed.bozo is False
    assert parsed.entries[0].title == "t"
    assert parsed.entries[0].tags[0].term == "No rway"


# --- Format conformance ---------------------------------------------------------------------


@pytest.mark.parametrize("listing", LISTINGS)
def test_it_writes_atom_that_rfc_4287_requires(client, world, listing):
    root = ET.fromstring(client.get(feed_url(listing, "feed/atom/")).content)

    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
    assert root.find(f"{ATOM}author/{ATOM}name").text == "ArcticNews"
    rels = {link.get("rel") for link in root.findall(f"{ATOM}link")}
    assert {"self", "alternate"} <= rels
    assert RFC3339.match(root.find(f"{ATOM}updated").text)
    assert root.find(f"{ATOM}id").text.startswith("tag:arcticnews,2026:feed/")
    entries = root.findall(f"{ATOM}entry")
    assert entries
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert RFC3339.match(entry.find(f"{ATOM}updated").text)
        assert RFC3339.match(entry.find(f"{ATOM}published").text)
        assert entry.find(f"{ATOM}author/{ATOM}name").text
        links = entry.findall(f"{ATOM}link")
        alternates = [link for link in links if link.get("rel") == "alternate"]
        assert len(alternates) == 1
        assert alternates[0].get("href").startswith(f"{ORIGIN}/story/")
        assert entry.find(f"{ATOM}summary").get("type") == "html"
        for category in entry.findall(f"{ATOM}category"):
            assert category.get("term") and category.get("scheme").startswith(ORIGIN)


def test_it_dates_rss_in_rfc_822(client, world):
    channel = ET.fromstring(client.get("/feed/").content).find("channel")
    dates = [channel.find("lastBuildDate").text] + [
        item.find("pubDate").text for item in channel.findall("item")
    ]
    for value in dates:
        assert re.match(
            r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$", value
        )
        assert email.utils.parsedate_to_datetime(value).tzinfo is not None
    # The newest change of a shown story: the lead's update, ten minutes before NOW.
    assert email.utils.parsedate_to_datetime(channel.find("lastBuildDate").text) == (
        NOW - timedelta(minutes=10)
    )


@pytest.mark.parametrize("listing", LISTINGS)
def test_it_writes_json_feed_1_1(client, world, listing):
    response = client.get(feed_url(listing, "feed/json/"))
    doc = json.loads(response.content)

    check_json_feed(doc)
    assert doc["feed_url"] == ORIGIN + feed_url(listing, "feed/json/")
    assert "hubs" not in doc
    item = doc["items"][0]
    assert {"id", "url", "title", "content_html", "date_published", "tags"} <= set(item)


def test_it_dates_an_empty_feed_stably(client, db):
    first = client.get("/country/iceland/feed/atom/")
    bump_generation()
    second = client.get("/country/iceland/feed/atom/")
    assert first.content == second.content
    assert first["ETag"] == second["ETag"]
    assert parse(first).bozo is False


# --- Cheap to poll --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_answers_conditional_requests_with_304(client, world, fmt):
    url = f"/country/russia/{fmt}"
    first = client.get(url)
    assert first["Cache-Control"] == "public, max-age=300"
    assert re.fullmatch(r'"[0-9a-f]{40}"', first["ETag"])
    assert first["Last-Modified"]

    by_etag = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag["ETag"] == first["ETag"]
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_it_changes_etag_when_the_feed_changes_and_only_then(client, world):
    url = "/country/russia/feed/"
    first = client.get(url)

    # A change elsewhere: new generation, same bytes, so same validators and still a 304.
    make_story(world["lead"].source, "greenland", countries=("greenland",))
    bump_generation()
    same = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert same.status_code == 304
    assert same["Last-Modified"] == first["Last-Modified"]

    world["lead"].title = "Convoy: a new title"
    world["lead"].save()
    bump_generation()
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert b"a new title" in changed.content


def test_it_keeps_last_modified_honest_for_if_modified_since(client, world):
    url = "/feed/json/"
    first = client.get(url)
    world["lead"].title = "Edited"
    world["lead"].save()
    bump_generation()
    # The edit happened after the client's copy, so Last-Modified may not go backwards.
    later = http_date(datetime.now(UTC).timestamp() - 3600)
    response = client.get(url, HTTP_IF_MODIFIED_SINCE=later)
    assert response.status_code == 200
    assert b"Edited" in response.content
    assert email.utils.parsedate_to_datetime(
        response["Last-Modified"]
    ) >= email.utils.parsedate_to_datetime(first["Last-Modified"])


@pytest.mark.parametrize(
    "url", ["/feed/", "/country/russia/feed/atom/", "/search/feed/json/?q=icebreaker"]
)
def test_it_serves_a_generated_feed_from_the_cache(client, world, url, django_assert_num_queries):
    first = client.get(url)
    assert first.status_code == 200

    with django_assert_num_queries(0):
        again = client.get(url)
        not_modified = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.content == first.content
    assert not_modified.status_code == 304


@pytest.mark.parametrize(
    "url",
    [
        "/feed/",
        "/country/russia/feed/atom/",
        "/topic/shipping/feed/json/",
        "/country/russia/topic/shipping/feed/",
        "/source/barents-test/feed/atom/",
    ],
)
def test_a_listings_feed_is_built_from_one_query_whatever_its_items(
    client, world, source, url, django_assert_max_num_queries
):
    # Every kind of item: tagged, untagged, with an image, full text, republished by-line.
    Source.objects.filter(pk=source.pk).update(show_full_text=True)
    for i in range(5):
        make_story(
            source,
            f"more-{i}",
            content="<p>The whole article.</p>",
            original_outlet="The Wire",
            countries=("russia",),
            topics=("shipping",),
            primary="russia",
            published_at=NOW - timedelta(hours=2 + i),
        )
    bump_generation()
    # The navigation (read again after the bump, then kept) and the items with their tags;
    # an outlet's feed reads the outlet first.
    with django_assert_max_num_queries(3 if "/source/" in url else 2):
        response = client.get(url)
    assert response.status_code == 200 and b"The whole article." in response.content


def test_it_generates_once_per_change_not_per_request(client, world, django_assert_num_queries):
    client.get("/topic/shipping/feed/")
    world["lead"].title = "Changed without telling anyone"
    world["lead"].save()
    with django_assert_num_queries(0):
        stale = client.get("/topic/shipping/feed/")
    assert b"Changed without" not in stale.content

    before = generation()
    bump_generation()
    assert generation() > before
    fresh = client.get("/topic/shipping/feed/")
    assert b"Changed without telling anyone" in fresh.content


def test_it_still_serves_feeds_when_the_cache_is_down(client, world, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    for fmt in FORMATS:
        response = client.get(f"/country/russia/{fmt}")
        assert response.status_code == 200
        assert response["ETag"]
        assert syndication.story_tag_uri(world["lead"].pk) in ids_in(response, fmt)


def test_it_keeps_cache_entries_apart_per_host_and_search(client, world):
    a = client.get("/search/feed/?q=icebreaker")
    b = client.get("/search/feed/?q=plain")
    assert a.content != b.content
    assert client.get("/search/feed/?q=icebreaker&utm_source=x").content == a.content
    other_host = client.get("/feed/", HTTP_HOST="localhost")
    assert b"http://localhost/story/" in other_host.content
    assert b"http://testserver/" not in other_host.content


def test_a_search_feed_beyond_the_search_limits_is_refused(client, world):
    response = client.get("/search/feed/", {"q": "ice " * 100})
    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    words = client.get("/search/feed/json/", {"q": " ".join(f"w{i}" for i in range(30))})
    assert words.status_code == 400
    # A NUL is refused as on the search page (it was once dropped here, and answered 200).
    assert client.get("/search/feed/", {"q": "ice\x00"}).status_code == 400


SEARCH_PATHS = ("/search/", "/search/feed/", "/search/feed/atom/", "/search/feed/json/")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "a", "country": "\x00"}, "We don’t cover a country called"),
        ({"q": "a", "topic": "\x00"}, "There is no topic called"),
        ({"q": "ice", "country": "narnia"}, "We don’t cover a country called “narnia”"),
        ({"q": "ice", "topic": "nope"}, "There is no topic called “nope”"),
        ({"q": "ice", "since": "2026-02-01", "until": "2026-01-01"}, "before the start"),
        ({"q": "ice", "since": "2026-02-30"}, "Use a date."),
        ({"q": "ice\x00"}, "Null characters are not allowed."),
        ({"q": "ice", "since": "2026\x00-01-01"}, "Use a date."),
    ],
    ids=[
        "nul-country",
        "nul-topic",
        "country",
        "topic",
        "reversed",
        "no-such-day",
        "nul-q",
        "nul-since",
    ],
)
def test_search_feeds_refuse_the_parameters_the_search_page_refuses(client, world, params, message):
    """One validation for the search page and its feeds (feeds.web.params): a filter the page
    refuses is never silently dropped from a feed, and a NUL never reaches PostgreSQL."""
    for path in SEARCH_PATHS:
        response = client.get(path, params)
        assert response.status_code == 400, (path, response.status_code)
        assert message in response.content.decode(), path
        assert "\x00" not in response.content.decode(), path


def test_search_feeds_accept_what_the_search_page_accepts(client, world):
    params = {"q": "icebreaker", "country": "russia", "since": "2020-01-01", "page": "2"}
    for path in SEARCH_PATHS[1:]:  # a feed has no pages: its page parameter is ignored
        assert client.get(path, params).status_code == 200, path


def test_search_feeds_cannot_flood_the_cache(client, world):
    """Anyone can mint search feed URLs: what each leaves in the cache expires within the page
    cache's five-minute bucket (once: a 30-day key per query), and unknown parameters add
    nothing at all."""
    from feeds.web import caching

    identity = None
    for n in range(5):
        response = client.get("/search/feed/", {"q": f"icebreaker{n}", "utm_source": n})
        assert response.status_code == 200
        identity = f"{ORIGIN}|/search/feed/|q=icebreaker{n}|"
    state_key = f"feeds:http:state:{caching.digest(identity)}"
    assert cache.get(state_key) is not None
    if hasattr(cache, "ttl"):  # django-redis: the real expiry
        assert 0 < cache.ttl(state_key) <= caching.BUCKET_SECONDS
    assert caching.SEARCH_FEEDS.state_timeout() <= caching.BUCKET_SECONDS
    assert caching.SEARCH_FEEDS.timeout() <= caching.BUCKET_SECONDS


def test_search_feeds_are_rate_limited_per_client(client, world, settings):
    settings.SEARCH_RATE_LIMIT = "2/h"  # a long window: the test never straddles two
    address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    for n in range(2):
        assert client.get("/search/feed/", {"q": f"ice{n}"}, REMOTE_ADDR=address).status_code == 200
    assert client.get("/search/feed/", {"q": "ice0"}, REMOTE_ADDR=address).status_code == 200
    limited = client.get("/search/feed/", {"q": "ice9"}, REMOTE_ADDR=address)
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    assert client.get("/feed/", REMOTE_ADDR=address).status_code == 200


# --- OPML -----------------------------------------------------------------------------------


def test_it_lists_every_country_and_topic_feed_in_opml(client, db):
    response = client.get("/feeds.opml")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/x-opml")
    assert response["ETag"] and response["Cache-Control"].startswith("public")
    root = ET.fromstring(response.content)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title").text
    feeds = [o for o in root.iter("outline") if o.get("xmlUrl")]
    from feeds.models import Entity

    assert len(feeds) == 1 + 9 + 10 + Entity.objects.shown().count()
    assert all(o.get("type") == "rss" and o.get("text") for o in feeds)
    xml_urls = [o.get("xmlUrl") for o in feeds]
    assert xml_urls[0] == f"{ORIGIN}/feed/"
    assert f"{ORIGIN}/country/greenland/feed/" in xml_urls
    assert f"{ORIGIN}/topic/indigenous-peoples/feed/" in xml_urls
    assert f"{ORIGIN}/country/greenland/" in [o.get("htmlUrl") for o in feeds]
    assert client.get("/feeds.opml", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    for url in xml_urls[:3]:
        assert client.get(url.removeprefix(ORIGIN)).status_code == 200


# --- WebSub -----------------------------------------------------------------------------------


class _HubHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.received.append((self.path, self.headers.get("Content-Type"), parse_qs(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def hub(settings):
    """A small local WebSub hub that records every publish request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
    server.received = []
    server.status = 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.WEBSUB_HUB_URL = f"http://127.0.0.1:{server.server_address[1]}/hub"
    settings.SITE_URL = "https://arctic.example"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_it_advertises_the_hub_in_every_format(client, world, hub):
    rss = ET.fromstring(client.get("/country/russia/feed/").content).find("channel")
    links = {link.get("rel"): link.get("href") for link in rss.findall(f"{ATOM}link")}
    assert links == {"hub": hub_url(hub), "self": f"{ORIGIN}/country/russia/feed/"}

    atom = parse(client.get("/country/russia/feed/atom/"))
    assert {link.rel: link.href for link in atom.feed.links}["hub"] == hub_url(hub)

    doc = json.loads(client.get("/country/russia/feed/json/").content)
    assert doc["hubs"] == [{"type": "WebSub", "url": hub_url(hub)}]


def test_it_advertises_no_hub_when_none_is_configured(client, world, settings):
    settings.WEBSUB_HUB_URL = ""
    assert b'rel="hub"' not in client.get("/feed/").content
    assert b'rel="hub"' not in client.get("/feed/atom/").content


def hub_url(hub) -> str:
    return f"http://127.0.0.1:{hub.server_address[1]}/hub"


def test_it_pings_the_hub(hub):
    topic = "https://arctic.example/country/russia/feed/"
    websub.ping_hub([topic, topic])

    assert len(hub.received) == 1
    path_, content_type, form = hub.received[0]
    assert path_ == "/hub"
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {"hub.mode": ["publish"], "hub.url": [topic]}


def test_it_pings_in_batches(hub, settings):
    settings.WEBSUB_URLS_PER_REQUEST = 2
    websub.ping_hub([f"https://arctic.example/{n}/feed/" for n in range(5)])
    assert [len(form["hub.url"]) for _, _, form in hub.received] == [2, 2, 1]


def test_it_names_every_feed_a_story_changes(world, settings):
    settings.SITE_URL = "https://arctic.example/"
    urls = websub.changed_feed_urls(world["lead"])

    base = "https://arctic.example"
    for path_ in (
        "/",
        "/source/barents-test/",
        "/country/russia/",
        "/country/norway/",
        "/topic/security/",
        "/country/finland/topic/shipping/",
    ):
        for fmt in LISTING_FORMATS:  # every format of the registry, whatever it holds
            assert base + path_ + fmt.route in urls
    assert len(urls) == len(set(urls)) == len(LISTING_FORMATS) * (1 + 1 + 3 + 2 + 3 * 2)
    assert not any("greenland" in url for url in urls)


def test_it_publishes_changes_to_the_hub(client, world, hub, settings, django_assert_num_queries):
    from feeds import generation as generations

    watched = generations.watched(["country:russia", "latest", "country:greenland"])
    before = generations.versions({}, watched)
    with django_assert_num_queries(5):  # countries, topics, entities, storylines, stories
        pinged = websub.publish_changes([world["lead"].pk, world["plain"]])

    after = generations.versions({}, watched)
    assert after[1] > before[1] and after[2] > before[2]  # the stories' listings, rebuilt
    assert after[3] == before[3]  # a country neither story is in keeps its pages
    per_request = settings.WEBSUB_URLS_PER_REQUEST
    assert len(hub.received) == -(-len(pinged) // per_request)  # as few requests as fit them
    topics = [url for _, _, form in hub.received for url in form["hub.url"]]
    assert topics == pinged
    assert "https://arctic.example/country/russia/feed/atom/" in topics
    assert "https://arctic.example/feed/json/" in topics
    assert topics.count("https://arctic.example/feed/") == 1


def test_it_shrugs_off_a_hub_that_is_down_or_refuses(hub, settings, caplog):
    hub.status = 500
    websub.ping_hub(["https://arctic.example/feed/"])
    assert "answered 500" in caplog.text

    settings.WEBSUB_HUB_URL = "http://127.0.0.1:9/hub"  # discard port: connection refused
    websub.ping_hub(["https://arctic.example/feed/", "https://arctic.example/feed/atom/"])
    assert "unreachable" in caplog.text


def test_it_pings_nothing_without_a_hub(world, settings):
    settings.WEBSUB_HUB_URL = ""
    assert websub.publish_changes([world["lead"]]) == []
