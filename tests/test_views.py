"""Reader pages: what each page shows, how it links, how it caches, and how many queries it runs.

Countries and topics come from migration 0002; sources, feeds, stories, tags and related
slots are created here with the ORM. Runs on SQLite by default and on PostgreSQL when
DATABASE_URL is set (search then goes through full-text search and trigrams).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import time
from datetime import timedelta
from xml.etree import ElementTree

import html5lib
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feeds import generation
from feeds.models import (
    Country,
    Feed,
    Origin,
    RelatedSlot,
    Source,
    Story,
    StoryCountry,
    StoryTopic,
    Topic,
)
from feeds.search import highlight_html, search_stories, update_search_vectors
from feeds.tagging.countries import COUNTRIES
from feeds.web.sitemaps import NewsSitemap

pytestmark = [pytest.mark.django_db]

_serial = itertools.count(1)
SVG = "{http://www.w3.org/2000/svg}"
# A story's default date is a minute older for each story the same test made before it. Counted
# per test: a run-wide count pushed later tests' stories out of "this week" in a whole run.
_ages: dict[str, itertools.count] = {}


def _default_age() -> timedelta:
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if test not in _ages:
        _ages.clear()
        _ages[test] = itertools.count(1)
    return timedelta(minutes=next(_ages[test]))


# --- Building data --------------------------------------------------------------------------


def country(slug: str) -> Country:
    return Country.objects.get(slug=slug)


def topic(slug: str) -> Topic:
    return Topic.objects.get(slug=slug)


def make_source(name: str = "The Barents Observer", **fields) -> Source:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    source, _ = Source.objects.get_or_create(
        name=name, defaults={"slug": slug, "homepage": f"https://{slug}.example/", **fields}
    )
    return source


def make_story(
    title: str,
    *,
    source: Source | None = None,
    countries: tuple[str, ...] = (),
    topics: tuple[str, ...] = (),
    primary: str | None = None,
    published=None,
    **fields,
) -> Story:
    source = source or make_source()
    feed = source.feeds.first() or Feed.objects.create(
        source=source, url=f"https://{source.slug}.example/feed-{next(_serial)}.xml"
    )
    n = next(_serial)
    fields.setdefault("link", f"https://{source.slug}.example/news/{n}")
    fields.setdefault("summary", f"<p>Summary of {title} &amp; more.</p>")
    story = Story.objects.create(
        feed=feed,
        source=source,
        guid=f"guid-{n}",
        title=title,
        published_at=published or timezone.now() - _default_age(),
        primary_country=country(primary or countries[0]) if (primary or countries) else None,
        **fields,
    )
    for slug in countries:
        StoryCountry.objects.create(story=story, country=country(slug), origin=Origin.SYSTEM)
    for slug in topics:
        StoryTopic.objects.create(story=story, topic=topic(slug), origin=Origin.SYSTEM)
    return story


def make_many(n: int, *, country_slug: str = "norway", topic_slug: str = "energy") -> list[Story]:
    """n stories over two sources, each with tags and a two-line related box."""
    sources = [make_source("High North News"), make_source("Nunatsiaq News")]
    other = make_story("Anchor in Canada", countries=("canada",), topics=("politics",))
    stories = []
    now = timezone.now()
    for i in range(n):
        story = make_story(
            f"Story {i}",
            source=sources[i % 2],
            countries=(country_slug, "russia"),
            topics=(topic_slug, "shipping"),
            published=now - timedelta(hours=i + 1),
            content="<p>Body</p>",
        )
        RelatedSlot.objects.create(story=story, country=country("canada"), target=other)
        RelatedSlot.objects.create(
            story=story,
            country=country("iceland"),
            external_url="https://ruv.example/x",
            external_headline="Icelandic line",
            external_outlet="RÚV",
        )
        stories.append(story)
    update_search_vectors([s.pk for s in stories] + [other.pk])
    return stories


def parse(response) -> ElementTree.Element:
    return html5lib.parse(response.content.decode(), namespaceHTMLElements=False)


def text_of(element: ElementTree.Element) -> str:
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


@pytest.fixture(autouse=True)
def _no_search_rate_limit(settings):
    """These tests search far more often than a reader would; the limit has its own test."""
    settings.SEARCH_RATE_LIMIT = "100000/m"


@pytest.fixture(autouse=True)
def _fresh_pages():
    """Start from a new cache generation: no page cached by an earlier test is reachable.

    (Never cache.clear(): with REDIS_URL set it would flush the Celery broker's database.)
    """
    generation.bump_generation()


# --- Home ------------------------------------------------------------------------------------


def test_it_shows_the_latest_stories_country_sections_and_the_map(client):
    make_story(
        "Old Norway story", countries=("norway",), published=timezone.now() - timedelta(days=30)
    )
    for i in range(6):
        make_story(f"Norway story {i}", countries=("norway",), topics=("energy",))
    make_story("Greenland mine", countries=("greenland",), topics=("energy",))
    hidden = make_story("Hidden", countries=("norway",), is_hidden=True)

    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Norway story 0" in body and "Greenland mine" in body
    assert hidden.title not in body
    tree = parse(response)
    # Country sections: the newest four per country, one box per country.
    box = tree.find(".//section[@aria-labelledby='country-norway']")
    assert box is not None
    titles = [text_of(a) for a in box.findall(".//article/*[@class='card__title']/a")]
    assert titles == ["Norway story 0", "Norway story 1", "Norway story 2", "Norway story 3"]
    # The map: every country is a link to its page with this week's count.
    svg = tree.find(f".//{SVG}svg[@class='map']")
    links = {a.get("href"): a.get("aria-label") for a in svg.iter(f"{SVG}a") if a.get("aria-label")}
    assert len(links) == 9
    assert links["/country/norway/"] == "Norway: 6 stories this week"
    assert links["/country/greenland/"] == "Greenland: 1 story this week"
    assert links["/country/united-states/"] == "United States: 0 stories this week"
    # One h1, headings never skip a level.
    assert_heading_order(tree)


def test_it_renders_an_empty_home(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No stories yet" in response.content.decode()
    # The default description names every country of the country files (none written out).
    description = re.search(
        r'<meta name="description" content="([^"]*)"', response.content.decode()
    )
    assert description is not None
    names = [country.name for country in COUNTRIES]
    assert all(name in description[1] for name in names), description[1]


def assert_heading_order(tree: ElementTree.Element) -> None:
    levels = [int(el.tag[1]) for el in tree.iter() if el.tag in {"h1", "h2", "h3", "h4", "h5"}]
    assert levels.count(1) == 1 and levels[0] == 1, levels
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, levels


# --- Listings --------------------------------------------------------------------------------


def test_it_lists_a_country_newest_first_with_its_description_and_topic_filter(client):
    old = make_story("Older", countries=("norway",), published=timezone.now() - timedelta(days=2))
    new = make_story("Newer", countries=("norway",), published=timezone.now() - timedelta(hours=1))
    make_story("Swedish", countries=("sweden",))
    rejected = make_story("Rejected tag", countries=("sweden",))
    StoryCountry.objects.create(story=rejected, country=country("norway"), rejected=True)

    response = client.get("/country/norway/")
    assert response.status_code == 200
    tree = parse(response)
    headlines = [text_of(a) for a in tree.findall(".//main//article/h3/a")]
    assert headlines == [new.title, old.title]
    assert tree.find(".//h1").text == "Norway"
    assert country("norway").description[:40] in response.content.decode()
    filters = {a.get("href") for a in tree.findall(".//aside//a")}
    assert "/country/norway/topic/energy/" in filters
    assert len([h for h in filters if h.startswith("/country/norway/topic/")]) == 10
    # Each headline links to its story page.
    assert tree.find(".//main//article/h3/a").get("href") == f"/story/{new.pk}/"
    assert_heading_order(tree)


def test_it_lists_a_topic_with_country_filters(client):
    make_story("Ice road", countries=("canada",), topics=("society",))
    make_story("Pipeline", countries=("canada",), topics=("energy",))
    response = client.get("/topic/society/")
    body = response.content.decode()
    assert "Ice road" in body and "Pipeline" not in body
    assert topic("society").description in body
    assert 'href="/country/canada/topic/society/"' in body


def test_it_lists_a_country_and_topic(client):
    make_story("Both", countries=("russia",), topics=("shipping",))
    make_story("Only country", countries=("russia",), topics=("energy",))
    make_story("Only topic", countries=("norway",), topics=("shipping",))
    response = client.get("/country/russia/topic/shipping/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Both" in body and "Only country" not in body and "Only topic" not in body
    assert "Shipping in Russia" in body
    assert 'href="/country/norway/topic/shipping/"' in body
    assert client.get("/country/russia/topic/nope/").status_code == 404
    assert client.get("/country/atlantis/").status_code == 404


def test_it_lists_a_source(client):
    source = make_source("Arctic Today", description="News from across the Arctic.")
    make_story("From Arctic Today", source=source, countries=("united-states",))
    make_story("From elsewhere", countries=("norway",))
    response = client.get(f"/source/{source.slug}/")
    body = response.content.decode()
    assert "From Arctic Today" in body and "From elsewhere" not in body
    assert "News from across the Arctic." in body
    assert client.get("/source/nobody/").status_code == 404


@pytest.mark.parametrize(
    ("path", "name", "args"),
    [
        ("/", "home", []),
        ("/country/norway/", "country", ["norway"]),
        ("/topic/energy/", "topic", ["energy"]),
        ("/country/norway/topic/energy/", "country_topic", ["norway", "energy"]),
        ("/source/high-north-news/", "source", ["high-north-news"]),
    ],
)
def test_every_listing_advertises_its_feeds(client, path, name, args):
    make_many(2)
    tree = parse(client.get(path))
    alternates = {
        link.get("type"): link.get("href")
        for link in tree.findall(".//head/link[@rel='alternate']")
    }
    assert alternates == {
        "application/rss+xml": reverse(f"feeds:{name}_rss", args=args),
        "application/atom+xml": reverse(f"feeds:{name}_atom", args=args),
        "application/feed+json": reverse(f"feeds:{name}_json", args=args),
    }
    assert alternates["application/rss+xml"] == path + "feed/"


def test_search_page_advertises_the_feed_of_that_search(client):
    tree = parse(client.get("/search/", {"q": "ice", "country": "norway"}))
    rss = tree.find(".//head/link[@type='application/rss+xml']").get("href")
    assert rss == "/search/feed/?q=ice&country=norway"


# --- Pagination ------------------------------------------------------------------------------


def test_listings_page_with_stable_keyset_links(client):
    stories = make_many(45)  # newest first: Story 0 … Story 44
    first = client.get("/country/norway/")
    tree = parse(first)
    assert [text_of(a) for a in tree.findall(".//main//article/h3/a")][:2] == ["Story 0", "Story 1"]
    assert len(tree.findall(".//main//article")) == 20
    assert tree.find(".//head/link[@rel='prev']") is None
    next_href = tree.find(".//head/link[@rel='next']").get("href")
    assert next_href.startswith("/country/norway/?before=")
    assert tree.find(".//a[@rel='next']").get("href") == next_href
    assert (
        tree.find(".//head/link[@rel='canonical']").get("href")
        == "http://testserver/country/norway/"
    )

    # New stories arriving do not shift what page two shows.
    make_story("Breaking", countries=("norway",), published=timezone.now())
    generation.bump_generation()  # as ingest does after storing
    second = parse(client.get(next_href))
    titles = [text_of(a) for a in second.findall(".//main//article/h3/a")]
    assert titles[0] == "Story 20" and titles[-1] == "Story 39"
    assert second.find(".//head/link[@rel='canonical']").get("href").endswith(next_href)

    third_href = second.find(".//head/link[@rel='next']").get("href")
    third = parse(client.get(third_href))
    assert [text_of(a) for a in third.findall(".//main//article/h3/a")] == [
        f"Story {i}" for i in range(40, 45)
    ]
    assert third.find(".//head/link[@rel='next']") is None

    # Back: "newer" from page three is page two exactly.
    prev_href = third.find(".//head/link[@rel='prev']").get("href")
    assert "after=" in prev_href
    back = parse(client.get(prev_href))
    assert [text_of(a) for a in back.findall(".//main//article/h3/a")] == titles
    # Newer from page two: the twenty stories just above it, then the top of the list.
    above = parse(client.get(back.find(".//head/link[@rel='prev']").get("href")))
    assert [text_of(a) for a in above.findall(".//main//article/h3/a")] == [
        f"Story {i}" for i in range(20)
    ]
    top = parse(client.get(above.find(".//head/link[@rel='prev']").get("href")))
    assert text_of(top.find(".//main//article/h3/a")) == "Breaking"
    assert top.find(".//head/link[@rel='prev']") is None
    assert top.find(".//head/link[@rel='canonical']").get("href") == (
        "http://testserver/country/norway/"
    )
    assert len(stories) == 45


MALFORMED_CURSORS = [
    "x",
    "2026-13-45T00:00:00Z,1",
    ",",
    "2026-01-01T00:00:00Z,abc",
    "9" * 100,
    # Offsets Python accepts and PostgreSQL refuses (beyond ±15:59): once a public 500.
    "2026-01-01T00:00:00+20:00,1",
    "2026-01-01T00:00:00-23:59,1",
    # Digits that str.isdigit() accepts and int() refuses: once a public 500.
    "2026-01-01T00:00:00,\u00b2",
    "2026-01-01T00:00:00,\u0663",  # ARABIC-INDIC DIGIT THREE: int() takes it, ASCII does not
    # Out of range once moved to UTC, and a key beyond bigint.
    "0001-01-01T00:00:00+01:00,1",
    "9999-12-31T23:59:59-01:00,1",
    "2026-01-01T00:00:00Z," + "9" * 20,
    "2026-01-01T00:00:00Z,1\x00",
]


@pytest.mark.parametrize("name", ["before", "after"])
def test_a_malformed_cursor_answers_400_with_the_friendly_page(client, name):
    make_many(3)
    for bad in MALFORMED_CURSORS:
        for path in ("/", "/country/norway/"):
            response = client.get(path, {name: bad})
            assert response.status_code == 400, (path, bad)
            page = response.content.decode()
            assert "This page link is not valid" in page, bad
            assert "Story 0" not in page  # never a silent first page
            assert "Browse the North" in page  # our page, with its way back


def test_a_valid_cursor_with_an_offset_pages_from_that_moment(client):
    make_many(3)
    stories = list(Story.objects.filter(title__startswith="Story ").order_by("-published_at"))
    moment = stories[0].published_at.astimezone(timezone.get_fixed_timezone(15 * 60 + 59))
    response = client.get("/country/norway/", {"before": f"{moment.isoformat()},{stories[0].pk}"})
    assert response.status_code == 200
    titles = [text_of(a) for a in parse(response).findall(".//main//article/h3/a")]
    assert titles == [s.title for s in stories[1:]]


def test_home_pages_back_through_all_stories(client):
    make_many(25)
    tree = parse(client.get("/"))
    older = tree.find(".//head/link[@rel='next']").get("href")
    page2 = parse(client.get(older))
    assert page2.find(".//h1").text == "Latest stories"
    assert len(page2.findall(".//main//article")) == 13  # 25 + the Canadian anchor − 13


# --- Story page ------------------------------------------------------------------------------


@pytest.fixture
def story_page():
    source = make_source("Nordic Wire", show_full_text=False)
    story = make_story(
        "Icebreaker reaches Svalbard",
        source=source,
        countries=("sweden", "norway", "finland"),
        primary="norway",
        topics=("shipping", "science"),
        original_outlet="NRK",
        author="Kari Nordmann",
        image_url="https://img.example/ice.jpg",
        # Our copy, as feeds.ingest.images stores it (pages never show the outlet's URL).
        image_source="https://img.example/ice.jpg",
        image_file="stories/ab/ab12",
        image_width=960,
        image_height=540,
        image_caption="The icebreaker in Longyearbyen",
        image_credit="Kari Nordmann / NRK",
        summary="<p>The <strong>icebreaker</strong> arrived on Tuesday.</p>",
        content="<p>The full text we may not show.</p>",
        source_updated_at=timezone.now(),
        first_seen_at=timezone.now() - timedelta(hours=3),
    )
    canada_story = make_story(
        "Arctic Bay welcomes ship", source=make_source("CBC North"), countries=("canada",)
    )
    RelatedSlot.objects.create(
        story=story, country=country("canada"), target=canada_story, position=1
    )
    RelatedSlot.objects.create(
        story=story,
        country=country("iceland"),
        position=1,
        external_url="https://ruv.example/a",
        external_headline="Coast guard ship <b>docks</b>",
        external_outlet="RÚV English",
    )
    RelatedSlot.objects.create(
        story=story,
        country=country("russia"),
        position=0,
        external_url="https://tass.example/b",
        external_headline="Nuclear icebreaker on trial",
        external_outlet="The Independent Barents Observer",
    )
    gone = make_story("Hidden target", countries=("denmark",), is_hidden=True)
    RelatedSlot.objects.create(story=story, country=country("denmark"), target=gone, position=2)
    copy = make_story(
        "Icebreaker reaches Svalbard (copy)",
        source=make_source("Svalbardposten"),
        countries=("norway",),
        canonical=story,
    )
    return story, canada_story, copy


def test_story_page_shows_everything_a_reader_needs(client, story_page):
    story, canada_story, copy = story_page
    response = client.get(f"/story/{story.pk}/")
    assert response.status_code == 200
    tree = parse(response)
    body = response.content.decode()

    assert text_of(tree.find(".//h1")) == "Icebreaker reaches Svalbard"
    assert "<strong>icebreaker</strong>" in body  # the sanitised standfirst
    assert "The full text we may not show." not in body
    assert text_of(tree.find(".//p[@class='story__byline']")) == (
        "By Kari Nordmann, NRK, via Nordic Wire"
    )
    original = tree.find(".//p[@class='story__original']")
    assert text_of(original).startswith("Originally published by NRK")
    assert original.find("a").get("href") == story.link
    assert any(
        text_of(a).startswith("Read the full story") and a.get("href") == story.link
        for a in tree.iter("a")
    )
    assert "Updated" in text_of(tree.find(".//p[@class='story__dates']"))
    figure = tree.find(".//figure")
    img = figure.find("img")
    assert img.get("src") == "/media/stories/ab/ab12-960.jpg"
    assert img.get("srcset") == (
        "/media/stories/ab/ab12-480.jpg 480w, /media/stories/ab/ab12-960.jpg 960w"
    )
    assert (img.get("width"), img.get("height"), img.get("alt")) == ("960", "540", "")
    assert "Kari Nordmann / NRK" in text_of(figure.find("figcaption"))

    # Tags: rel=tag links, primary country first, then the others by name, then topics.
    tags = [text_of(a) for a in tree.find(".//section[@class='story__tags']").iter("a")]
    assert tags == ["Norway", "Finland", "Sweden", "Science", "Shipping"]
    assert all(
        a.get("rel") == "tag" for a in tree.find(".//section[@class='story__tags']").iter("a")
    )

    # The related box: by position, then country name; hidden targets left out.
    box = tree.find(".//section[@class='related']")
    assert text_of(box.find("h2")) == "Related stories from around the North:"
    lines = [text_of(li) for li in box.iter("li")]
    assert lines == [
        "Russia: Nuclear icebreaker on trial, The Independent Barents Observer",
        "Canada: Arctic Bay welcomes ship, CBC North",
        "Iceland: Coast guard ship <b>docks</b>, RÚV English",
    ]
    hrefs = [li.find("a").get("href") for li in box.iter("li")]
    assert hrefs == [
        "https://tass.example/b",
        f"/story/{canada_story.pk}/",
        "https://ruv.example/a",
    ]

    also = tree.find(".//section[@class='also']")
    assert [(text_of(a), a.get("href")) for a in also.iter("a")] == [("Svalbardposten", copy.link)]

    # Open Graph, Twitter and JSON-LD.
    meta = {m.get("property") or m.get("name"): m.get("content") for m in tree.iter("meta")}
    assert meta["og:type"] == "article"
    assert meta["og:title"] == story.title
    assert meta["og:image"] == "http://testserver/media/stories/ab/ab12-960.jpg"
    assert meta["twitter:card"] == "summary_large_image"
    assert tree.find(".//head/link[@rel='canonical']").get("href") == (
        f"http://testserver/story/{story.pk}/"
    )
    data = json.loads(tree.find(".//script[@type='application/ld+json']").text)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == story.title
    assert data["isBasedOn"] == story.link
    assert data["publisher"]["name"] == "NRK"
    assert_heading_order(tree)


def test_a_related_line_credits_a_carried_story_as_listings_do(client):
    """Arctic Today carries an AP story: its line reads "…, The Associated Press via Arctic
    Today", the link on Arctic Today (the outlet with a page), as its listing card does;
    never "The Associated Press" linked to Arctic Today's page."""
    carrier = make_source("Arctic Today")
    wire = make_story(
        "Alaska villages brace for a storm surge",
        source=carrier,
        countries=("united-states",),
        original_outlet="The Associated Press",
    )
    own = make_story("Nome port opens", source=carrier, countries=("united-states",))
    story = make_story("Hurtigruten cancels a call", countries=("norway",))
    RelatedSlot.objects.create(story=story, country=country("united-states"), target=wire)
    RelatedSlot.objects.create(story=wire, country=country("norway"), target=own)
    line = parse(client.get(f"/story/{story.pk}/")).find(".//section[@class='related']//li")
    assert text_of(line) == (
        "United States: Alaska villages brace for a storm surge, "
        "The Associated Press via Arctic Today"
    )
    credit = [
        (e.tag, text_of(e), e.get("href")) for e in line if e.get("class") == "related__outlet"
    ]
    assert credit == [
        ("span", "The Associated Press", None),
        ("a", "Arctic Today", "/source/arctic-today/"),
    ]
    # The listing's card credits it the same way (the same piece writes both).
    card = next(
        a
        for a in parse(client.get("/source/arctic-today/")).iterfind(".//main//article")
        if wire.title in text_of(a)
    )
    assert "The Associated Press via Arctic Today" in text_of(
        card.find(".//p[@class='card__meta']")
    )
    # A story of the outlet's own: its name alone, linked.
    line = parse(client.get(f"/story/{wire.pk}/")).find(".//section[@class='related']//li")
    assert text_of(line) == "Norway: Nome port opens, Arctic Today"
    outlet = line.find("a[@class='related__outlet']")
    assert (text_of(outlet), outlet.get("href")) == ("Arctic Today", "/source/arctic-today/")


def test_full_text_is_shown_where_the_outlet_allows_it(client):
    source = make_source("Open Outlet", show_full_text=True)
    story = make_story(
        "Open", source=source, countries=("iceland",), content="<p>Every word of it.</p>"
    )
    body = client.get(f"/story/{story.pk}/").content.decode()
    assert "Every word of it." in body
    assert "Read the full story" not in body
    assert f'Originally published by <a href="{story.link}"' in body


def test_a_story_whose_link_was_dropped_has_no_button_to_nowhere(client):
    # An over-long link is dropped at ingest and the story kept without it (feeds/columns.py).
    story = make_story("Linkless", countries=("iceland",), link="")
    tree = parse(client.get(f"/story/{story.pk}/"))
    source = tree.find(".//div[@class='story__source']")
    assert not any(text_of(a).startswith("Read the full story") for a in tree.iter("a"))
    assert all(a.get("href") for a in source.iter("a"))
    assert text_of(source.find(".//p[@class='story__nolink']")) == (
        "The outlet's link could not be kept."
    )
    linked = make_story("Linked", countries=("iceland",))
    body = client.get(f"/story/{linked.pk}/").content.decode()
    assert "Read the full story" in body and "could not be kept" not in body


def test_the_standfirst_is_a_teaser_unless_the_outlet_allows_full_text(client):
    """A feed that puts its whole article (here 5 MB of it) in <description> is not
    republished through the standfirst; an outlet that allows full text keeps it whole."""
    article = "<p>KIRKENES: " + "Ice closed the port again. " * 40 + "</p>"
    article += "<p>Later paragraph of the article.</p>" * 150_000
    closed = make_story("Closed", source=make_source("Closed Outlet"), summary=article)
    body = client.get(f"/story/{closed.pk}/").content.decode()
    standfirst = body.split('<div class="story__standfirst">')[1].split("</div>")[0]
    assert standfirst.startswith("<p>KIRKENES: Ice closed the port again.")
    assert standfirst.endswith("…</p>") and len(standfirst) < 500
    assert "Later paragraph" not in body and len(body) < 100_000

    opened = make_story(
        "Open", source=make_source("Open Outlet", show_full_text=True), summary=article[:5000]
    )
    body = client.get(f"/story/{opened.pk}/").content.decode()
    assert "Later paragraph of the article." in body


def test_feed_text_cannot_inject_markup(client):
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    source = make_source('"><img src=x onerror=alert(3)>')
    story = make_story(evil, source=source, countries=("norway",), author=evil, summary="")
    RelatedSlot.objects.create(
        story=story,
        country=country("russia"),
        external_url="https://x.example/",
        external_headline=evil,
        external_outlet=evil,
    )
    for url in [f"/story/{story.pk}/", "/", "/country/norway/", f"/source/{source.slug}/"]:
        body = client.get(url).content.decode()
        assert "<img src=x" not in body, url
        assert "<script>alert" not in body, url
        assert body.count("</script>") == body.count("<script")
    data = json.loads(
        parse(client.get(f"/story/{story.pk}/")).find(".//script[@type='application/ld+json']").text
    )
    assert data["headline"] == evil[:110]


def test_a_hidden_story_is_gone(client):
    story = make_story("Taken down", countries=("norway",), is_hidden=True)
    response = client.get(f"/story/{story.pk}/")
    assert response.status_code == 410
    assert "no longer available" in response.content.decode()
    assert client.get("/story/999999/").status_code == 404


def test_a_copy_redirects_to_its_canonical_story(client):
    original = make_story("Original", countries=("norway",))
    copy = make_story(
        "Copy", source=make_source("Other"), countries=("norway",), canonical=original
    )
    response = client.get(f"/story/{copy.pk}/")
    assert response.status_code == 301
    assert response["Location"] == f"/story/{original.pk}/"


def test_pages_have_no_inline_script_or_style_and_send_csp(client, story_page):
    story = story_page[0]
    for url in ["/", f"/story/{story.pk}/", "/country/norway/", "/search/?q=ice", "/nope/"]:
        response = client.get(url)
        body = response.content.decode()
        assert "style=" not in body and "<style" not in body, url
        scripts = re.findall(r"<script[^>]*>", body)
        assert all('type="application/ld+json"' in s for s in scripts), (url, scripts)
        assert not re.search(r"<[^>]+\son[a-z]+=", body), url
        assert "script-src 'self'" in response["Content-Security-Policy"], url


# --- Search ----------------------------------------------------------------------------------


def test_search_finds_stories_and_filters_them(client):
    make_story(
        "Icebreaker convoy on the Northern Sea Route",
        countries=("russia",),
        topics=("shipping",),
        language="en",
    )
    make_story(
        "Icebreaker order for the coast guard",
        countries=("canada",),
        topics=("security",),
        language="en",
    )
    make_story("Reindeer herders meet", countries=("norway",), language="en")
    update_search_vectors(Story.objects.values_list("pk", flat=True))

    tree = parse(client.get("/search/", {"q": "icebreaker"}))
    titles = {text_of(a) for a in tree.findall(".//main//article/h3/a")}
    assert titles == {
        "Icebreaker convoy on the Northern Sea Route",
        "Icebreaker order for the coast guard",
    }

    tree = parse(client.get("/search/", {"q": "icebreaker", "country": "canada"}))
    assert [text_of(a) for a in tree.findall(".//main//article/h3/a")] == [
        "Icebreaker order for the coast guard"
    ]
    assert tree.find(".//option[@value='canada']").get("selected") is not None

    tree = parse(client.get("/search/", {"q": "icebreaker", "topic": "shipping"}))
    assert [text_of(a) for a in tree.findall(".//main//article/h3/a")] == [
        "Icebreaker convoy on the Northern Sea Route"
    ]

    future = (timezone.now() + timedelta(days=2)).date().isoformat()
    tree = parse(client.get("/search/", {"q": "icebreaker", "since": future}))
    assert tree.findall(".//main//article") == []
    assert "No stories found" in text_of(tree.find(".//main"))

    # No query: a form, no results, no error.
    assert client.get("/search/").status_code == 200
    # Bad filters: said next to the form, never a silent "Nothing matched".
    bad = client.get("/search/", {"q": "x", "page": "abc", "since": "never"})
    assert bad.status_code == 400
    errors = parse(bad).findall(".//form//p[@class='field__error']")
    assert {e.text for e in errors} == {"Use a date.", "There is no such page of results."}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL")
def test_postgres_search_ranks_stems_highlights_and_forgives_typos(client):
    a = make_story(
        "Icebreakers head north",
        countries=("russia",),
        language="en",
        summary="<p>Two icebreakers &amp; a tanker <script>x</script>.</p>",
    )
    b = make_story(
        "Isbryter til Svalbard",
        countries=("norway",),
        language="nb",
        summary="<p>Isbryteren kom fram.</p>",
    )
    c = make_story("Murmansk port grows", countries=("russia",), language="en")
    update_search_vectors([a.pk, b.pk, c.pk])

    found = list(search_stories("icebreaker"))
    assert [s.pk for s in found] == [a.pk]
    snippet = str(highlight_html(found[0].snippet))
    assert "<mark>icebreakers</mark>" in snippet
    assert "&amp;" in snippet and "<script>" not in snippet
    assert [s.pk for s in search_stories("isbryteren")] == [b.pk]  # Norwegian stemming
    assert [s.pk for s in search_stories("icebreaker", country="norway")] == []
    # No full-text match: trigram similarity on the title.
    assert [s.pk for s in search_stories("Murmansc port")] == [c.pk]
    # The page shows the highlighted snippet, and nothing from the feed as markup.
    body = client.get("/search/", {"q": "icebreakers"}).content.decode()
    assert "<mark>icebreakers</mark>" in body
    assert "<script>x" not in body


def test_search_looks_in_the_newest_stories_first_and_finds_the_newest_matches(
    monkeypatch,
):
    if connection.vendor != "postgresql":
        pytest.skip("the candidates' windows are PostgreSQL's full-text search")
    from feeds import search

    now = timezone.now()
    stories = []
    for i in range(30):  # every third one about ice; two at the same minute each time
        about = "Sea ice survey" if i % 3 == 0 else "Harbour budget"
        published = now - timedelta(minutes=i - i % 2)
        stories.append(make_story(f"{about} {i}", countries=("norway",), published=published))
    update_search_vectors([s.pk for s in stories])

    def candidates(query):
        matches = Story.objects.visible().filter(search_vector=search._tsquery(query))
        return search._newest_matches(matches)

    unbounded = {}
    for query in ("ice", "harbour", "survey budget", "nothing"):
        monkeypatch.setattr(search, "SEARCH_WINDOWS", ())
        search.clear()
        unbounded[query] = candidates(query)
    assert len(unbounded["ice"]) == 10 and unbounded["nothing"] == []
    # Windows of the newest 4 and 12 stories; at most 3, 5 or all the newest matches wanted.
    monkeypatch.setattr(search, "SEARCH_WINDOWS", (4, 12))
    for wanted in (3, 5, search.RANK_WINDOW):
        monkeypatch.setattr(search, "RANK_WINDOW", wanted)
        search.clear()
        for query, every in unbounded.items():
            assert candidates(query) == every[:wanted], (query, wanted)


def test_highlight_html_escapes_everything_but_its_own_marks():
    raw = "A <b>bold</b> \ue000claim\ue001 &amp; \ue001stray \ue000open"
    html = str(highlight_html(raw))
    assert html == "A &lt;b&gt;bold&lt;/b&gt; <mark>claim</mark> &amp; stray <mark>open</mark>"


def test_search_on_sqlite_or_postgres_returns_visible_stories_only():
    make_story("Permafrost thaw", countries=("canada",), language="en")
    make_story("Permafrost hidden", countries=("canada",), language="en", is_hidden=True)
    update_search_vectors(Story.objects.values_list("pk", flat=True))
    assert [s.title for s in search_stories("permafrost")] == ["Permafrost thaw"]
    assert list(search_stories("   ")) == []


def test_search_matches_every_word_wherever_it_is_in_the_story():
    make_story(
        "Icebreaker season opens early",
        countries=("finland",),
        language="en",
        content="<p>Finnish icebreakers left Oulu for the Bay of Bothnia.</p>",
    )
    make_story("Icebreaker ordered for Murmansk", countries=("russia",), language="en")
    update_search_vectors(Story.objects.values_list("pk", flat=True))
    assert [s.title for s in search_stories("icebreaker Oulu")] == ["Icebreaker season opens early"]
    assert [s.title for s in search_stories("Murmansk icebreaker")] == [
        "Icebreaker ordered for Murmansk"
    ]
    assert len(search_stories("icebreaker")) == 2


# --- Caching and validators ----------------------------------------------------------------


def test_anonymous_pages_are_cached_until_the_generation_changes(client, django_assert_num_queries):
    make_many(3)
    first = client.get("/country/norway/")
    assert first.status_code == 200
    etag = first["ETag"]
    assert first["Last-Modified"]
    assert "public" in first["Cache-Control"]
    with django_assert_num_queries(0):
        again = client.get("/country/norway/")
    assert again.content == first.content
    with django_assert_num_queries(0):
        not_modified = client.get("/country/norway/", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304

    make_story("Fresh news", countries=("norway",), published=timezone.now())
    assert "Fresh news" not in client.get("/country/norway/").content.decode()
    generation.bump_generation()
    fresh = client.get("/country/norway/", HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200
    assert "Fresh news" in fresh.content.decode()
    assert fresh["ETag"] != etag


@pytest.mark.services
def test_a_new_story_rebuilds_only_the_pages_it_can_appear_on(client, django_assert_num_queries):
    """What ingest does once a new Norway story is stored (``tasks.after_fetch``): home,
    /feed/ and Norway's pages are rebuilt; Finland's page, Finland's feed and another story's
    page stay in the cache (no query), on PostgreSQL and Redis."""
    make_many(2)
    finnish = make_story("Oulu port reopens", countries=("finland",), topics=("shipping",))
    untouched = ["/country/finland/", "/country/finland/feed/", f"/story/{finnish.pk}/"]
    rebuilt = ["/", "/feed/", "/country/norway/", "/country/norway/feed/", "/topic/energy/"]
    before = {path: client.get(path) for path in untouched + rebuilt}
    assert all(r.status_code == 200 for r in before.values())

    new = make_story(
        "Hammerfest LNG restarts",
        countries=("norway",),
        topics=("energy",),
        published=timezone.now(),
    )
    assert generation.bump_listings(Story.objects.filter(pk=new.pk).listed_on())

    for path in untouched:
        with django_assert_num_queries(0):
            again = client.get(path)
        assert again.content == before[path].content, path
    for path in rebuilt:
        fresh = client.get(path)
        assert "Hammerfest LNG restarts" in fresh.content.decode(), path
        assert fresh["ETag"] != before[path]["ETag"], path


@pytest.mark.services
def test_entries_go_stale_spread_out_and_one_request_rebuilds(client):
    """No bucket boundary at which every page misses at once: each entry is fresh for its own
    share of the policy's lifetime, and while one request rebuilds an out-of-date entry, the
    others are served the old one instead of all going to the database."""
    from feeds.web import caching

    make_many(1)
    factory = RequestFactory()
    paths = ["/", "/country/norway/", "/country/russia/", "/topic/energy/", "/topic/shipping/"]
    lifetimes = []
    for path in paths:
        client.get(path)
        stored = cache.get(caching.entry_key(caching.identity_of(factory.get(path))))
        lifetimes.append(stored.fresh_until - time.time())
    assert all(0 < left <= caching.BUCKET_SECONDS for left in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 1  # not one expiry for all (spread over 75 s)

    make_story("Late news from Vardø", countries=("norway",), published=timezone.now())
    generation.bump_listings({"country": {"norway"}})
    lock = caching.rebuild_key(caching.identity_of(factory.get("/country/norway/")))
    cache.add(lock, 1, 30)  # another worker is rebuilding Norway's page right now
    try:
        stale = client.get("/country/norway/")
    finally:
        cache.delete(lock)
    assert stale.status_code == 200 and "Late news from Vardø" not in stale.content.decode()
    assert "Late news from Vardø" in client.get("/country/norway/").content.decode()


def test_editors_always_get_a_fresh_page(client, admin_user):
    make_many(1)
    client.get("/")
    make_story("Just edited", countries=("norway",), published=timezone.now())
    client.force_login(admin_user)
    response = client.get("/")
    assert "Just edited" in response.content.decode()
    assert "private" in response["Cache-Control"]


def test_generation_survives_a_flushed_cache():
    first = generation.bump_generation()
    cache.delete_many([generation.GENERATION_KEY, generation.CHANGED_AT_KEY])  # an eviction
    again = generation.generation()
    assert again is not None and again >= first - 1  # restarts from the clock, never from 0
    assert generation.bump_generation() == again + 1
    assert generation.state().changed_at <= timezone.now()


# --- Query counts ----------------------------------------------------------------------------


PAGES = [
    # The navigation (countries and topics) is one query on every page (read again here:
    # the generation is bumped before each). A listing's cards are one query, their tags
    # included (feeds.web.cards). Home: the latest cards, the country sections, the map's
    # counts and its pins, the newsletters and round-ups box and the week's storylines.
    ("/", 7),
    ("/outlets/", 3),
    ("/roundups/", 4),
    ("/country/norway/", 2),
    ("/topic/energy/", 2),
    ("/country/norway/topic/energy/", 2),
    ("/source/high-north-news/", 3),  # and the source
    # navigation 1, the search slot 1 (+ its savepoint and release under the test's
    # transaction), the query's parses 1, the newest matches' ids 1 (an archive this small is
    # one window), the page's ids 1, its rows with their tags 1, the count 1,
    # the entities named like the query 1
    ("/search/?q=story&country=norway", 10),
]


def _count_queries(client, url: str) -> int:
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    # Once first: what a process keeps for longer than a generation (the search windows'
    # starts, read once per process every few minutes) is not the page's work.
    client.get(url)
    generation.bump_generation()  # measure the page, not the page cache
    with CaptureQueriesContext(conn) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize(("url", "most"), PAGES)
def test_listing_query_count_does_not_grow_with_the_data(client, url, most):
    make_many(5)
    small = _count_queries(client, url)
    make_many(45)
    large = _count_queries(client, url)
    assert small == large <= most, (url, small, large)


def test_story_page_query_count_does_not_grow(client, django_assert_max_num_queries):
    stories = make_many(5)
    small = _count_queries(client, f"/story/{stories[0].pk}/")
    more = make_many(45)
    for other in more[:8]:  # a full related box and several copies
        RelatedSlot.objects.get_or_create(
            story=stories[0], country=other.primary_country, defaults={"target": other}
        )
        Story.objects.filter(pk=other.pk).update(canonical=stories[0])
    large = _count_queries(client, f"/story/{stories[0].pk}/")
    # The navigation, then the story (with its outlet and storyline), its tags, related box,
    # entities (ships, ports, places) and copies (feeds.web.storypage).
    assert small == large <= 6, (small, large)
    generation.bump_generation()
    with django_assert_max_num_queries(6):
        client.get(f"/story/{stories[0].pk}/")


# --- Errors, robots, sitemaps ----------------------------------------------------------------


def test_404_is_friendly(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    tree = parse(response)
    assert text_of(tree.find(".//h1")) == "We couldn’t find that page"
    assert tree.find(".//form[@role='search']") is not None
    assert tree.find(".//main//a[@href='/country/greenland/']") is not None
    assert tree.find(".//meta[@name='robots']").get("content") == "noindex"


def test_500_renders_without_a_request_or_database(rf):
    from feeds.web.views import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_favicon_ico_leads_to_our_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
    from django.contrib.staticfiles import finders

    assert finders.find("img/favicon.svg")


def test_robots_txt_points_at_both_sitemaps(client):
    response = client.get("/robots.txt")
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert "Sitemap: http://testserver/sitemap.xml" in body
    assert "Sitemap: http://testserver/sitemap-news.xml" in body
    assert "Disallow: /admin/" in body


SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _locs(client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, path
    return [
        el.text or "" for el in ElementTree.fromstring(response.content).iter(f"{SITEMAP_NS}loc")
    ]


def test_sitemap_lists_pages_countries_topics_sources_and_visible_stories(client):
    visible = make_story("Visible", countries=("norway",))
    hidden = make_story("Hidden", countries=("norway",), is_hidden=True)
    # /sitemap.xml is an index of one sitemap per section, each dated by its newest entry.
    index = client.get("/sitemap.xml")
    root = ElementTree.fromstring(index.content)
    assert root.tag == f"{SITEMAP_NS}sitemapindex"
    sections = [el.text or "" for el in root.iter(f"{SITEMAP_NS}loc")]
    assert "http://testserver/sitemap-stories.xml" in sections
    assert "http://testserver/sitemap-news.xml" not in sections  # robots.txt names it
    stories = next(
        sm
        for sm in root.iter(f"{SITEMAP_NS}sitemap")
        if sm.findtext(f"{SITEMAP_NS}loc") == "http://testserver/sitemap-stories.xml"
    )
    assert stories.findtext(f"{SITEMAP_NS}lastmod")[:10] == visible.published_at.date().isoformat()
    locs = {
        loc
        for section in sections
        for loc in _locs(client, section.removeprefix("http://testserver"))
    }
    assert "http://testserver/" in locs
    assert "http://testserver/country/united-states/" in locs
    assert "http://testserver/topic/indigenous-peoples/" in locs
    assert f"http://testserver/source/{visible.source.slug}/" in locs
    assert f"http://testserver/story/{visible.pk}/" in locs
    assert f"http://testserver/story/{hidden.pk}/" not in locs


def test_a_long_archive_is_listed_on_numbered_sitemap_pages(client, monkeypatch):
    """Every visible story is reachable by a crawler, however long the archive: the stories'
    sitemap has pages (?p=N), each in the index, oldest first, and a story stays on its page
    as the archive grows; past the last, a 404."""
    from feeds.web.sitemaps import StorySitemap

    monkeypatch.setattr(StorySitemap, "limit", 2)
    now = timezone.now()
    made = [
        make_story(f"Story {n}", countries=("norway",), published=now - timedelta(hours=n))
        for n in range(5)
    ]
    sections = _locs(client, "/sitemap.xml")
    pages = [s for s in sections if "sitemap-stories.xml" in s]
    assert pages == [
        "http://testserver/sitemap-stories.xml",
        "http://testserver/sitemap-stories.xml?p=2",
        "http://testserver/sitemap-stories.xml?p=3",
    ]
    listed = [
        loc for page in pages for loc in _locs(client, page.removeprefix("http://testserver"))
    ]
    assert sorted(listed) == sorted(f"http://testserver/story/{story.pk}/" for story in made)
    assert len(listed) == len(set(listed)) == 5
    first_page = _locs(client, "/sitemap-stories.xml")
    make_story("Later", countries=("norway",), published=now)
    generation.bump_generation()
    assert _locs(client, "/sitemap-stories.xml") == first_page
    assert client.get("/sitemap-stories.xml?p=4").status_code == 404
    assert client.get("/sitemap-nosuch.xml").status_code == 404


def test_news_sitemap_has_the_last_two_days(client):
    new = make_story("Fresh <&> news", countries=("norway",), language="nb")
    old = make_story("Old", countries=("norway",), published=timezone.now() - timedelta(days=3))
    response = client.get("/sitemap-news.xml")
    assert response.status_code == 200
    assert f"/story/{new.pk}/" in response.content.decode()
    assert f"/story/{old.pk}/" not in response.content.decode()

    # With its own template (templates/sitemaps/news.xml) it is a Google News sitemap.
    from django.contrib.sitemaps.views import sitemap

    request = RequestFactory().get("/sitemap-news.xml")
    rendered = sitemap(request, {"news": NewsSitemap}, template_name="sitemaps/news.xml")
    rendered.render()
    root = ElementTree.fromstring(rendered.content)
    ns = {
        "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
        "news": "http://www.google.com/schemas/sitemap-news/0.9",
    }
    urls = root.findall("s:url", ns)
    assert len(urls) == 1
    assert urls[0].find("news:news/news:title", ns).text == "Fresh <&> news"
    assert urls[0].find("news:news/news:publication/news:language", ns).text == "nb"
    assert urls[0].find("news:news/news:publication/news:name", ns).text == "ArcticNews"


def test_news_sitemap_stays_well_formed_whatever_an_editor_typed(client):
    # Control characters have no escape in XML 1.0: one in a headline once broke the document.
    make_story("Ice\x01 road\x0b opens\x1f\ufffe", countries=("norway",), language="en")
    response = client.get("/sitemap-news.xml")
    assert response.status_code == 200
    root = ElementTree.fromstring(response.content)  # raises on ill-formed XML
    title = root.find(".//{http://www.google.com/schemas/sitemap-news/0.9}title")
    assert title.text == "Ice road opens"


# --- Parameters and the page cache (issue 18: cache-key cardinality, parameter validation) --


def test_unknown_parameters_never_reach_the_page_cache(client, django_assert_num_queries):
    make_many(3)
    first = client.get("/country/norway/")
    # Made-up parameters are ignored: the same cached page, no new entry, no query.
    with django_assert_num_queries(0):
        for n in range(20):
            again = client.get("/country/norway/", {"junk": n, "utm_source": "x"})
            assert again.status_code == 200
            assert again.content == first.content
    # The canonical link never echoes them.
    canonical = parse(again).find(".//head/link[@rel='canonical']").get("href")
    assert canonical == "http://testserver/country/norway/"


def test_a_story_page_ignores_its_query_string(client, django_assert_num_queries):
    story = make_many(1)[0]
    first = client.get(f"/story/{story.pk}/")
    with django_assert_num_queries(0):
        assert client.get(f"/story/{story.pk}/", {"x": "1"}).content == first.content


def _search_world():
    make_story(
        "Icebreaker convoy reaches Murmansk",
        countries=("russia",),
        topics=("shipping",),
        language="en",
        summary="<p>The convoy left Arkhangelsk on Monday.</p>",
    )
    make_story(
        "Port traffic grows",
        countries=("russia",),
        language="en",
        summary="<p>Murmansk handled more cargo than ever this autumn.</p>",
    )
    for i in range(25):
        make_story(f"Tundra report {i}", countries=("norway",), language="en")
    update_search_vectors(Story.objects.values_list("pk", flat=True))


def test_search_says_how_many_stories_it_found(client):
    _search_world()
    tree = parse(client.get("/search/", {"q": "tundra"}))
    assert text_of(tree.find(".//h2[@id='results-heading']")) == "25 stories found"
    assert len(tree.findall(".//main//article")) == 20
    page2 = parse(client.get("/search/", {"q": "tundra", "page": "2"}))
    assert text_of(page2.find(".//h2[@id='results-heading']")) == "25 stories found, page 2"
    one = parse(client.get("/search/", {"q": "arkhangelsk"}))
    assert text_of(one.find(".//h2[@id='results-heading']")) == "1 story found"


def test_search_marks_the_matched_words_where_a_reader_sees_them(client):
    _search_world()
    tree = parse(client.get("/search/", {"q": "murmansk"}))
    cards = tree.findall(".//main//article")
    assert len(cards) == 2
    for card in cards:
        # The word is marked in the headline or in the snippet under it: never invisible.
        marked = [m.text for m in card.iter("mark")]
        assert [w.lower() for w in marked] == ["murmansk"], text_of(card)
    headline = next(c for c in cards if "Icebreaker" in text_of(c.find("h3")))
    assert headline.find("h3/a/mark").text == "Murmansk"
    body_only = next(c for c in cards if "Port traffic" in text_of(c.find("h3")))
    assert body_only.find("h3/a/mark") is None
    assert body_only.find(".//p[@class='card__summary']/mark").text == "Murmansk"


def test_an_over_long_query_is_refused_with_a_clear_message(client):
    _search_world()
    query = "murmansk" + "x" * 5000
    response = client.get("/search/", {"q": query})
    assert response.status_code == 400
    tree = parse(response)
    error = tree.find(".//p[@id='search-q-error']")
    assert "5,008 characters" in error.text and "at most 200" in error.text
    assert tree.findall(".//main//article") == []
    # The page never echoes the whole query in its headings.
    assert len(text_of(tree.find(".//h1"))) < 100
    assert len(tree.find(".//title").text) < 150


def test_too_many_words_are_refused_before_they_reach_the_database(
    client, django_assert_max_num_queries
):
    _search_world()
    query = " or ".join(f"w{i}" for i in range(30))
    with django_assert_max_num_queries(2):  # the navigation only
        response = client.get("/search/", {"q": query})
    assert response.status_code == 400
    assert "30 words" in text_of(parse(response).find(".//p[@id='search-q-error']"))


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"q": "ice", "country": "atlantis"}, "country", "We don’t cover a country called"),
        ({"q": "ice", "topic": "nope"}, "topic", "There is no topic called"),
        ({"q": "ice", "since": "2026-02-01", "until": "2026-01-01"}, "until", "before the start"),
        ({"q": "ice", "since": "2026-02-30"}, "since", "Use a date."),
        ({"q": "ice\x00"}, "q", "Null characters are not allowed."),
    ],
)
def test_invalid_filters_are_reported_next_to_the_form(client, params, field, message):
    response = client.get("/search/", params)
    assert response.status_code == 400
    tree = parse(response)
    error = tree.find(f".//p[@id='search-{field}-error']")
    assert error is not None and message in error.text
    control = tree.find(f".//*[@id='search-{field}']")
    assert control.get("aria-invalid") == "true"
    assert "No stories found" not in text_of(tree.find(".//main"))


def test_a_nul_anywhere_in_a_query_is_no_500(client):
    # Once: /search/?q=%00 was a 500 (PostgreSQL refuses NUL in a string), and so was the
    # editor's search, which calls search_stories directly.
    assert client.get("/search/", {"q": "\x00"}).status_code == 400
    assert list(search_stories("ice\x00breaker")) == []


def test_a_page_beyond_the_results_says_so(client):
    _search_world()
    response = client.get("/search/", {"q": "tundra", "page": "7"})
    assert response.status_code == 404
    tree = parse(response)
    assert text_of(tree.find(".//h2[@id='results-heading']")) == "There is no page 7"
    note = text_of(tree.find(".//section[@class='search-results']/p"))
    assert "25 stories, on 2 pages" in note
    assert tree.find(".//section[@class='search-results']/p/a").get("href").endswith("page=2")
    assert client.get("/search/", {"q": "tundra", "page": "51"}).status_code == 400


def test_identical_normalised_searches_share_one_cached_page(client, django_assert_num_queries):
    _search_world()
    first = client.get("/search/", {"q": "tundra  report"})
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = client.get("/search/", {"q": "  tundra report ", "utm_campaign": "x"})
    assert again.content == first.content


def test_searches_that_reach_the_database_are_rate_limited_per_client(client, settings):
    settings.SEARCH_RATE_LIMIT = "3/h"  # a long window: the test never straddles two
    _search_world()
    # The counters live in the cache for the window: fresh addresses, so a rerun starts at zero.
    address, other = (f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}" for _ in "ab")
    for n in range(3):
        assert client.get("/search/", {"q": f"tundra {n}"}, REMOTE_ADDR=address).status_code == 200
    # A cached page costs nothing and is never refused.
    assert client.get("/search/", {"q": "tundra 0"}, REMOTE_ADDR=address).status_code == 200
    limited = client.get("/search/", {"q": "tundra 9"}, REMOTE_ADDR=address)
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert "searched very often" in limited.content.decode()
    # Another client, and every other page, are unaffected.
    assert client.get("/search/", {"q": "tundra 9"}, REMOTE_ADDR=other).status_code == 200
    assert client.get("/country/norway/", REMOTE_ADDR=address).status_code == 200


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement timeouts are PostgreSQL's")
def test_a_search_that_runs_out_of_time_is_cancelled_and_explained(client, settings, monkeypatch):
    from django.db import OperationalError

    from feeds.search import search_budget
    from feeds.web import views

    settings.SEARCH_STATEMENT_TIMEOUT_MS = 100
    with pytest.raises(OperationalError), search_budget():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")

    slow = Story.objects.extra(where=["(SELECT true FROM pg_sleep(2))"])
    monkeypatch.setattr(views, "search_stories", lambda *args, **kwargs: slow)
    make_many(1)
    response = client.get("/search/", {"q": "anything"})
    assert response.status_code == 503
    assert "would take too long" in response.content.decode()
    # The connection is usable afterwards (the timeout was local to the search's transaction).
    assert client.get("/country/norway/").status_code == 200


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement timeouts are PostgreSQL's")
def test_a_search_budget_bounds_all_of_its_statements_together(settings):
    """Each statement gets what is left of the budget: three statements of 0.3 s each pass a
    per-statement timeout of 0.5 s, but not a budget of 0.5 s for the search."""
    from django.db import OperationalError

    from feeds.search import search_budget

    settings.SEARCH_STATEMENT_TIMEOUT_MS = 500
    statements = 0
    with pytest.raises(OperationalError), search_budget():
        with connection.cursor() as cursor:
            for _ in range(3):
                cursor.execute("SELECT pg_sleep(0.3)")
                statements += 1
    assert statements == 1
    with connection.cursor() as cursor:  # outside a search: no timeout left behind
        cursor.execute("SELECT pg_sleep(0.6), current_setting('statement_timeout')")
        assert cursor.fetchone()[1] == "0"


def _hold_search_slots(n: int):
    """Another database session (another web process, as far as PostgreSQL can tell) holding
    n search slots, as n long searches would."""
    import psycopg2

    from feeds.search import _SEARCH_LOCK_CLASS

    db = connection.settings_dict
    other = psycopg2.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    with other.cursor() as cursor:
        cursor.execute("SET lock_timeout = '5s'")  # a slot this test holds itself: fail, never hang
        for slot in range(n):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SEARCH_LOCK_CLASS, slot])
    return other


@pytest.mark.skipif(connection.vendor != "postgresql", reason="search slots are PostgreSQL's")
# Committed transactions, as in production: inside a test's own transaction a search's slot
# would stay taken until the test ends.
@pytest.mark.django_db(transaction=True)
def test_searches_beyond_the_slots_are_turned_away_at_once(
    vocabularies, client, settings, django_assert_max_num_queries
):
    settings.SEARCH_MAX_CONCURRENT = 2
    settings.SEARCH_RATE_LIMIT = "1000/m"
    _search_world()
    other = _hold_search_slots(2)  # two searches are running elsewhere
    try:
        # The navigation, then one try per slot (in the test's savepoint): no story is read.
        with django_assert_max_num_queries(2 + 2 + 3) as queries:
            busy = client.get("/search/", {"q": "tundra"})
        assert not [q for q in queries.captured_queries if "feeds_story" in q["sql"]]
        assert busy.status_code == 503 and busy["Retry-After"] == "5"
        assert "Many readers are searching right now" in text_of(parse(busy).find(".//main"))
        assert "Cache-Control" not in busy or "max-age" not in busy["Cache-Control"]
        feed = client.get("/search/feed/", {"q": "tundra"})
        assert feed.status_code == 503 and feed["Retry-After"] == "5"
        # Every other page is served as usual.
        assert client.get("/country/russia/").status_code == 200
    finally:
        other.close()  # a dead process's slots are released with its connection
    found = client.get("/search/", {"q": "tundra"})
    assert found.status_code == 200 and "tundra" in found.content.decode().lower()
    assert client.get("/search/feed/", {"q": "tundra"}).status_code == 200
    # One slot held: the second one serves.
    other = _hold_search_slots(1)
    try:
        assert client.get("/search/", {"q": "murmansk"}).status_code == 200
    finally:
        other.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigrams are PostgreSQL's")
def test_the_typo_fallback_is_bounded(django_assert_max_num_queries):
    make_story("Icebreaker convoy on the Northern Sea Route", countries=("russia",), language="en")
    update_search_vectors(Story.objects.values_list("pk", flat=True))
    assert [s.title for s in search_stories("icebrekaer")] == [
        "Icebreaker convoy on the Northern Sea Route"
    ]
    # Too short, or too many words, for a typo: no trigram search at all.
    assert list(search_stories("icx")) == []
    assert list(search_stories("icebrekaer convoi northren seaa")) == []
    # And it asks with the operator the trigram index answers (title %> query), never with a
    # bare similarity score that only a scan of every headline can compute.
    sql, params = search_stories("icebrekaer").query.sql_with_params()
    condition = sql.split(" WHERE ", 1)[1].split(" ORDER BY ")[0]
    assert "%>" in condition and "WORD_SIMILARITY" not in condition.upper(), condition
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'story_title_trgm_idx'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]


@pytest.mark.services
def test_the_navigation_is_read_once_per_global_generation(
    client, admin_client, django_capture_on_commit_callbacks
):
    """Each web process keeps the countries and topics until the global generation changes: a
    page rebuilt for a new story reads them no more (one query fewer, the same bytes), and an
    editor's change to a country in the admin bumps the generation, so every page shows it."""
    make_many(2)
    with CaptureQueriesContext(connection) as cold:
        first = client.get("/country/norway/")
    assert first.status_code == 200
    generation.bump_listings({"country": {"norway"}})  # the page must be rebuilt
    with CaptureQueriesContext(connection) as warm:
        again = client.get("/country/norway/")
    assert again.content == first.content
    assert len(warm) == len(cold) - 1
    assert any("UNION" in q["sql"] for q in cold.captured_queries)
    assert not any("UNION" in q["sql"] for q in warm.captured_queries)

    norway = Country.objects.get(slug="norway")
    with django_capture_on_commit_callbacks(execute=True):
        changed = admin_client.post(
            f"/admin/feeds/country/{norway.pk}/change/",
            {"name": "Norway (Noreg)", "description": norway.description},
        )
    assert changed.status_code == 302
    assert "Norway (Noreg)" in client.get("/country/finland/").content.decode()
    assert "Norway (Noreg)" in client.get("/country/norway/").content.decode()


def test_a_cache_outage_during_a_bump_is_logged_not_raised(caplog):
    """The page cache ignores Redis errors (a reader gets an uncached page, never a 500), so a
    bump lost in an outage would leave pages stale until their timeout without a trace: the
    operator must see it in the log."""
    from django.conf import settings
    from django.test import override_settings

    down = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "django_redis.cache.RedisCache",
            # A port nothing listens on: the connection is refused at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=down), caplog.at_level("ERROR"):
        generation.bump_listings({"country": {"norway"}})
    assert any(r.name == settings.DJANGO_REDIS_LOGGER for r in caplog.records)
