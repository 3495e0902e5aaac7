"""Every story gets a primary country, through the public interface: a feed from a source we
do not know, its outlet unknown too (in dc:creator), read back from /source/<slug>/feed/ and
from the story pages. A story that names no place is filed under the source's usual country
(or, for a story in a language only one country speaks, that country), the why line says so,
and it waits in the editors' review queue.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import feedparser
import pytest
from django.core.cache import cache
from django.core.management import call_command

from feeds.models import Story
from feeds.tagging import store, tagger
from feeds.types import TagInput

pytestmark = pytest.mark.django_db

OUTLET = "Polar Desk Collective"  # no outlet of ours: no home, no place in the byline

# (headline, teaser): the first three place themselves in Norway, the others name no place.
PLACED = [
    (
        "Hammerfest hospital gets new emergency ward",
        "The new ward in Hammerfest opens in the spring after years of planning.",
    ),
    (
        "Tromsø students protest tuition plan",
        "Hundreds gathered outside the university in Tromsø on Tuesday.",
    ),
    (
        "Finnmark county council approves wind park",
        "The council in Vadsø voted 24 to 11 for the project.",
    ),
]
PLACELESS = [
    (
        "Researchers track thinning sea ice with new buoys",
        "A network of drifting sensors reports ice thickness every hour.",
    ),
    (
        "Youth mental health services expand in small communities",
        "Counsellors will travel to villages that have had none.",
    ),
]
LATER = (
    "Elders share stories of the old trapping trails",
    "A winter evening of storytelling drew a full house.",
)


def rss(items: list[tuple[str, str]], start: int, language: str = "en") -> str:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    parts = []
    for n, (title, teaser) in enumerate(items):
        when = format_datetime(now - timedelta(minutes=start + n))
        parts.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://polardesk.example.org/{language}/{start + n}/</link>"
            f'<guid isPermaLink="false">polar-{language}-{start + n}</guid>'
            f"<pubDate>{when}</pubDate><dc:creator>{OUTLET}</dc:creator>"
            f"<description>{escape(teaser)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Polar Desk</title>'
        f"<link>https://polardesk.example.org/</link><language>{language}</language>"
        "<description>test</description>" + "".join(parts) + "</channel></rss>"
    )


def read_back(client, slug: str) -> dict[str, tuple[list[str], list[str]]]:
    """Each entry of our feed for the source: (countries, topics) by headline."""
    parsed = feedparser.parse(client.get(f"/source/{slug}/feed/").content)
    assert not parsed.bozo
    out = {}
    for entry in parsed.entries:
        tags = entry.get("tags", [])
        countries = [t.term for t in tags if "/country/" in t.scheme]
        topics = [t.term for t in tags if "/topic/" in t.scheme]
        out[entry.title] = (countries, topics)
    return out


@pytest.fixture
def no_usual_cache():
    """The source's usual country is cached per source id; ids repeat across tests."""
    cache.delete_many([store.USUAL_KEY.format(i) for i in range(1, 200)])
    yield
    cache.delete_many([store.USUAL_KEY.format(i) for i in range(1, 200)])


def test_an_unknown_source_files_placeless_stories_by_its_usual_country(
    client, editor, fixture_server, allow_private, no_usual_cache
):
    # Without a source, an outlet, a byline place or a usual country there is nothing to go
    # on: what the public path did for these stories before.
    silent = tagger.tag(TagInput(title=PLACELESS[0][0], text=PLACELESS[0][1], outlet=OUTLET))
    assert silent.countries == () and silent.basis == "none"

    fixture_server.add("/polar.xml", rss(PLACED + PLACELESS, 0))
    call_command(
        "addfeed", fixture_server.url("/polar.xml"), source="Polar Desk", stdout=io.StringIO()
    )
    call_command("fetchfeeds", stdout=io.StringIO())

    seen = read_back(client, "polar-desk")
    assert set(seen) == {t for t, _ in PLACED + PLACELESS}
    for title, (countries, topics) in seen.items():
        assert countries and topics, f"{title!r}: countries {countries}, topics {topics}"
        assert countries[0] == "Norway", f"{title!r} filed under {countries}"

    for title, _ in PLACELESS:
        story = Story.objects.get(title=title)
        assert story.tag_basis == "fallback"
        page = client.get(story.get_absolute_url()).content.decode()
        assert (
            "primary country, chosen by the tagger: no place named; filed by the source"
            "&#x27;s usual country, Norway" in page
        )
    placed = Story.objects.get(title=PLACED[0][0])
    assert placed.tag_basis == "text"
    assert "filed by the source" not in client.get(placed.get_absolute_url()).content.decode()

    # A later fetch with only a placeless story: the source's habit is read from the stored
    # stories now (one indexed query, then cached).
    fixture_server.add("/polar.xml", rss([LATER], 10))
    call_command("fetchfeeds", "--all", stdout=io.StringIO())
    later = Story.objects.get(title=LATER[0])
    # (Read from its page: the source's feed is cached until the transaction commits, which a
    # test's never does.)
    page = client.get(later.get_absolute_url()).content.decode()
    assert "filed by the source&#x27;s usual country, Norway" in page
    assert later.primary_country.slug == "norway" and later.topics.exists()
    assert cache.get(store.USUAL_KEY.format(later.source_id)) == {"norway": 3}

    # The editors' review queue lists them as weakly decided, and only them.
    client.force_login(editor)
    queue = client.get("/admin/feeds/reviewstory/").content.decode()
    for title, _ in [*PLACELESS, LATER]:
        assert escape(title) in queue
    assert "the source&#x27;s usual country" in queue
    for title, _ in PLACED:
        assert escape(title) not in queue


def test_a_new_source_with_no_habit_yet_files_by_the_strongest_weak_evidence(
    client, fixture_server, allow_private, no_usual_cache
):
    # A brand-new source whose first stories name no place at all: Russian is spoken by one
    # of our countries only, so the language is the evidence left, said as such.
    items = [
        ("Учёные измеряют толщину льда новыми буями", "Датчики передают данные каждый час."),
        ("Школьники собрали деньги на новую библиотеку", "Книги привезут к весне."),
    ]
    fixture_server.add("/ledovy.xml", rss(items, 0, language="ru"))
    call_command(
        "addfeed", fixture_server.url("/ledovy.xml"), source="Ledovy Vestnik", stdout=io.StringIO()
    )
    call_command("fetchfeeds", stdout=io.StringIO())
    seen = read_back(client, "ledovy-vestnik")
    assert set(seen) == {t for t, _ in items}
    for title, (countries, topics) in seen.items():
        assert countries[:1] == ["Russia"] and topics, title
        story = Story.objects.get(title=title)
        assert story.tag_basis == "weak" and story.tag_basis in store.WEAK_BASES
        page = client.get(story.get_absolute_url()).content.decode()
        assert "no place named; weak evidence: written in ru, spoken only in Russia" in page


def test_the_usual_country_never_outvotes_a_place_named() -> None:
    item = TagInput(
        title="Kiruna mine extends shifts", text="LKAB says output rises.", usual_country="norway"
    )
    result = tagger.tag(item)
    assert result.primary == "sweden" and result.basis == "text"
    assert "usual" not in result.why["sweden"]
