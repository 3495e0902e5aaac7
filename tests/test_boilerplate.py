"""Feed boilerplate is removed before storage and tagging; digests and podcasts are marked.

The rules are data (feeds/text/boilerplate.toml): these tests feed the cleaner what the
outlets' feeds send (in their formats, text written by us) and check what a reader gets.
"""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from feeds import generation
from feeds.ingest.parsing import parse_feed
from feeds.models import Origin, RelatedSlot, Story, StoryKind
from feeds.text.boilerplate import (
    DIGEST,
    PODCAST,
    RULES_PATH,
    STORY,
    rules,
    story_kind,
    strip_boilerplate,
)
from feeds.text.sanitizing import clean_html
from tests.test_views import country, make_source, make_story, parse, text_of


@pytest.fixture(autouse=True)
def _fresh_pages():
    generation.bump_generation()  # no page cached by an earlier test is reachable


def cleaned(html: str) -> str:
    return strip_boilerplate(clean_html(html, "https://outlet.example/"))


@pytest.mark.parametrize(
    ("feed_html", "expected"),
    [
        (
            '<p>Tribes get a say in salmon management.</p>\n<p>The post <a href="https://'
            'www.arctictoday.com/a/">Alaska tribes gain a role</a> appeared first on <a '
            'href="https://www.arctictoday.com">Arctic Today</a>.</p>',
            "<p>Tribes get a say in salmon management.</p>",
        ),
        (
            "A new crater has opened in the tundra of the Yamal Peninsula. [&#8230;]",
            "A new crater has opened in the tundra of the Yamal Peninsula.",
        ),
        # A cut sentence keeps an ellipsis, so the reader knows it goes on.
        ("The two singers begin a rhythmic [&#8230;]", "The two singers begin a rhythmic…"),
        ("The ice came early. [...]", "The ice came early."),
        (
            '<p>The ferry sails again.</p><p><a href="/x">Continue reading &rarr;</a></p>',
            "<p>The ferry sails again.</p>",
        ),
        (
            '<p>The ferry sails again. <a href="/x">Read more</a></p>',
            "<p>The ferry sails again.</p>",
        ),
        ("<p>The ferry sails again… Continue reading »</p>", "<p>The ferry sails again…</p>"),
        (
            "<p>The ferry sails again.</p><p>Share this: Facebook, Twitter, Email</p>"
            "<p>Sign up for our weekly newsletter to get the news from the North.</p>",
            "<p>The ferry sails again.</p>",
        ),
        (
            "<p>The ferry sails again.</p><p>Read the full story at Nunatsiaq News.</p>",
            "<p>The ferry sails again.</p>",
        ),
    ],
)
def test_it_removes_feed_tails(feed_html, expected):
    assert cleaned(feed_html) == expected


@pytest.mark.parametrize(
    "story_html",
    [
        "<p>Read more about the permafrost survey in the council's report, published in May.</p>",
        "<p>The museum asked visitors to share this year's photos of the aurora.</p>",
        "<p>She signed up for the hunting lottery by e-mail before Friday.</p>",
        "<p>No tail here.</p><p>Second paragraph, also the story's.</p>",
        "A summary without markup or tail.",
    ],
)
def test_it_keeps_the_story_own_sentences(story_html):
    assert cleaned(story_html) == clean_html(story_html, "https://outlet.example/")


@pytest.mark.parametrize(
    ("feed_html", "expected"),
    [
        # The spaces, no-break spaces and &nbsp; before a tail go with it.
        ("The ice came early.&nbsp; &nbsp;\xa0[…]", "The ice came early."),
        ("The ice came early. &nbsp;Continue reading »", "The ice came early."),
        ("<p>The ice came early.\xa0\xa0Read more</p>", "<p>The ice came early.</p>"),
        # Case-insensitive as Python's regular expressions are: "İ" and "ı" are an "i" there.
        ("The ice came early. READ MORE", "The ice came early."),
        ("The ice came early. Contİnue readıng", "The ice came early."),
        # A word of a tail that is not at the end is the story's: no tail, nothing removed.
        ("Read more about the survey. The ice came early.", None),
        ("<p>Continue reading the council's report, out in May.</p>", None),
    ],
)
def test_a_tail_takes_the_spaces_before_it(feed_html, expected):
    assert strip_boilerplate(feed_html) == (feed_html if expected is None else expected)


def test_a_tail_needing_a_word_it_lacks_fails_loudly(tmp_path):
    source = RULES_PATH.read_text(encoding="utf-8").replace(
        'needs = ["continue reading"', 'needs = ["carry on reading"'
    )
    assert "carry on reading" in source  # the shipped file still names a needs word
    path = tmp_path / "boilerplate.toml"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(ValueError, match="carry on reading"):
        rules(path)


def test_a_body_of_the_largest_size_loses_its_tail_too():
    body = "<p>" + "Ice and snow. " * 30_000 + "</p><p>Continue reading</p>"
    result = cleaned(body)
    assert result.endswith("Ice and snow. </p>")
    assert len(result) == len(clean_html(body, "https://outlet.example/")) - len(
        "<p>Continue reading</p>"
    )


@pytest.mark.parametrize(
    ("title", "categories", "link", "kind"),
    [
        ("Newsletter: The week in the High North", ["Politics"], "", DIGEST),
        ("Week in review: ice, oil and elections", [], "", DIGEST),
        ("Morning briefing", ["Briefing"], "", DIGEST),
        ("Arctic news round-up for 27 November", [], "", DIGEST),
        ("Northern lights and long nights", ["Podcast"], "", PODCAST),
        ("Episode 41: The Svalbard treaty at 100", [], "", PODCAST),
        ("What the council decided", [], "https://outlet.example/newsletters/2026-11-27", DIGEST),
        # Stories that merely share a word with the signs.
        ("Wellbeing county plans to end round-the-clock emergency care", [], "", STORY),
        ("Rosatom drafts plan for year-round container line", [], "", STORY),
        ("Weekly ferry to Svalbard resumes after the storm", [], "", STORY),
    ],
)
def test_it_tells_digests_and_podcasts_from_stories(title, categories, link, kind):
    assert story_kind(title, categories, link) == kind


def test_the_model_knows_every_kind_the_rules_name():
    assert {value for value, _ in StoryKind.choices} == {STORY, DIGEST, PODCAST}


ARCTIC_TODAY_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Arctic Today</title><link>https://www.arctictoday.com</link>
<item><title>Kotzebue wind project cuts diesel use</title>
<link>https://www.arctictoday.com/kotzebue-wind/</link><guid>https://www.arctictoday.com/?p=1</guid>
<pubDate>Fri, 27 Nov 2026 10:00:00 +0000</pubDate>
<description><![CDATA[<p>New batteries let the town run on wind power alone for hours.</p>
<p>The post <a href="https://www.arctictoday.com/kotzebue-wind/">Kotzebue wind project cuts diesel
use</a> appeared first on <a href="https://www.arctictoday.com">Arctic Today</a> .</p>]]>
</description>
</item></channel></rss>"""


def test_parsing_hands_on_clean_text():
    parsed = parse_feed(ARCTIC_TODAY_ITEM.encode(), url="https://www.arctictoday.com/feed/")
    (entry,) = parsed.entries
    assert (
        entry.summary_html == "<p>New batteries let the town run on wind power alone for hours.</p>"
    )


@pytest.mark.django_db
def test_the_sample_feeds_are_stored_without_boilerplate_and_the_newsletter_is_marked():
    call_command("load_sample_feeds", stdout=StringIO())
    stories = list(Story.objects.all())
    assert len(stories) > 100
    for story in stories:
        for text in (story.summary, story.content):
            assert "appeared first on" not in text, story.title
            assert not re.search(r"\[(…|\.\.\.)\]", text), story.title
    newsletter = Story.objects.get(title="Newsletter: The week in the High North")
    assert newsletter.kind == StoryKind.DIGEST
    assert list(Story.objects.roundups()) == [newsletter]
    assert newsletter not in Story.objects.articles()


@pytest.mark.django_db
def test_reclean_cleans_stored_stories_and_marks_their_kind():
    dirty = make_story(
        "Ice road opens early",
        countries=("canada",),
        summary='<p>The road opened on Monday.</p><p>The post <a href="https://x.example/">Ice'
        ' road opens early</a> appeared first on <a href="https://x.example">Arctic Today</a>'
        ".</p>",
    )
    dirty.countries.update(origin=Origin.EDITOR)  # an editor's tag: no retag may drop it
    digest = make_story("This week in the North: a round-up", countries=("norway",))
    plain = make_story("Ferry resumes", summary="<p>The ferry resumes.</p>")
    out = StringIO()
    call_command("reclean", "--dry-run", stdout=out)
    assert "would change the text of 1 and the kind of 1" in out.getvalue()
    dirty.refresh_from_db()
    assert "appeared first" in dirty.summary  # a dry run changes nothing

    call_command("reclean", stdout=out)
    dirty.refresh_from_db()
    digest.refresh_from_db()
    plain.refresh_from_db()
    assert dirty.summary == "<p>The road opened on Monday.</p>"
    assert digest.kind == StoryKind.DIGEST
    assert plain.kind == StoryKind.STORY and plain.summary == "<p>The ferry resumes.</p>"
    # The changed text was retagged; the editor's country tag survived it.
    assert dirty.countries.filter(country=country("canada"), rejected=False).exists()


@pytest.mark.django_db
def test_digests_never_lead_a_page_and_are_listed_in_their_own_place(client):
    norway = ("norway",)
    now = timezone.now()
    story = make_story(
        "Coast guards agree to share data", countries=norway, published=now - timedelta(hours=2)
    )
    # Newer than the story: they would lead every page they were listed on.
    digest = make_story(
        "Newsletter: The week in the High North",
        countries=norway,
        kind=StoryKind.DIGEST,
        published=now - timedelta(hours=1),
    )
    podcast = make_story(
        "Arctic voices, episode 4", countries=norway, kind=StoryKind.PODCAST, published=now
    )
    for url in ("/", "/country/norway/", f"/source/{story.source.slug}/"):
        body = text_of(parse(client.get(url)).find(".//main"))
        assert story.title in body, url
        first = parse(client.get(url)).find(".//main//article//h2/a")
        first = (
            first if first is not None else parse(client.get(url)).find(".//main//article//h3/a")
        )
        assert first.text == story.title, url
    home = text_of(parse(client.get("/")).find(".//main"))
    assert "Newsletter: The week in the High North" in home  # in the side box, not the list
    listing = parse(client.get("/roundups/"))
    titles = [a.text for a in listing.findall(".//main//article//h3/a")]
    assert set(titles) == {digest.title, podcast.title}
    assert client.get("/roundups/").status_code == 200


@pytest.mark.django_db
def test_every_byline_and_listing_item_links_to_its_source(client):
    source = make_source("Nunatsiaq News")
    story = make_story("Iqaluit council approves budget", source=source, countries=("canada",))
    other = make_story(
        "Reindeer herders challenge wind farm",
        source=make_source("High North News"),
        countries=("norway",),
        original_outlet="NRK",
    )
    RelatedSlot.objects.create(story=story, country=country("norway"), target=other)
    source_url = f"/source/{source.slug}/"
    for url in ("/", "/country/canada/", "/search/?q=Iqaluit"):
        tree = parse(client.get(url))
        links = [a.get("href") for a in tree.findall(".//main//article//a")]
        assert source_url in links, url
    page = parse(client.get(f"/story/{story.pk}/"))
    byline = page.find(".//*[@class='story__byline']")
    assert source_url in [a.get("href") for a in byline.iter("a")]
    related = page.find(".//section[@class='related']")
    assert f"/source/{other.source.slug}/" in [a.get("href") for a in related.iter("a")]
    assert "NRK" in text_of(related)  # the outlet that wrote it, linked to the carrier's page


@pytest.mark.django_db
def test_the_outlets_page_lists_every_source_with_country_language_and_feeds(client):
    barents = make_source("The Barents Observer", country=country("norway"), language="en")
    yle = make_source("Yle News", country=country("finland"), language="fi")
    make_story("Murmansk port expands", source=barents)
    make_story("Kemijärvi keeps its hospital", source=yle)
    response = client.get("/outlets/")
    assert response.status_code == 200
    tree = parse(response)
    main = text_of(tree.find(".//main"))
    assert "Norway" in main and "Finland" in main and "Finnish" in main and "English" in main
    hrefs = [a.get("href") for a in tree.findall(".//main//a")]
    assert "/source/the-barents-observer/" in hrefs and "/source/yle-news/" in hrefs
    assert barents.feeds.first().url in hrefs
    footer = [a.get("href") for a in tree.findall(".//footer//a")]
    assert "/outlets/" in footer
