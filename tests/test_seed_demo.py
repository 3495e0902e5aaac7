"""seed_demo: a synthetic archive that looks like ten years of the default outlets.

The generator is pure and checked for its distributions without a database; the command is
checked on PostgreSQL (the only database it fills) for counts, search vectors equal to the
ones ingest writes, the indexes and constraints put back, refusal on a non-empty archive,
and pages that render from what it wrote.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from feeds.ingest.demo import COPY_SHARE, SPAN, Generator, Outlet
from feeds.models import RelatedSlot, Story, StoryCountry, StoryTopic

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
COUNTRIES = {
    slug: pk
    for pk, slug in enumerate(
        ["canada", "denmark", "finland", "greenland", "iceland", "norway", "russia", "sweden"]
        + ["united-states"],
        start=1,
    )
}
TOPICS = {
    slug: pk
    for pk, slug in enumerate(
        ["shipping", "security", "energy", "environment", "indigenous-peoples", "politics"]
        + ["business", "science", "society", "culture"],
        start=1,
    )
}
OUTLETS = [
    Outlet(1, 11, "North Desk", "https://north.example.org", "norway", "en"),
    Outlet(2, 12, "Polar Wire", "https://polar.example.org", "", "en"),
    Outlet(3, 13, "Tundra Times", "https://tundra.example.org", "canada", "en"),
]


def generate(n: int, seed: int = 7):
    gen = Generator(
        outlets=OUTLETS, countries=COUNTRIES, topics=TOPICS, stories=n, now=NOW, seed=seed
    )
    stories, countries, topics, slots = [], [], [], []
    for batch in gen.batches(size=1000):
        stories += batch.stories
        countries += batch.countries
        topics += batch.topics
        slots += batch.slots
    return stories, countries, topics, slots


def test_the_generator_is_deterministic_for_a_seed():
    first, second, other = generate(300), generate(300), generate(300, seed=8)
    assert [s.title for s in first[0]] == [s.title for s in second[0]]
    assert [s.title for s in first[0]] != [s.title for s in other[0]]


def test_ten_years_of_stories_with_more_in_recent_years():
    stories, *_ = generate(5000)
    dates = sorted(s.published_at for s in stories)
    assert NOW - SPAN <= dates[0] < NOW - SPAN + timedelta(days=30)
    assert NOW - timedelta(days=7) < dates[-1] <= NOW
    oldest_year = sum(d < NOW - SPAN + timedelta(days=365) for d in dates)
    newest_year = sum(d > NOW - timedelta(days=365) for d in dates)
    assert 1.5 < newest_year / oldest_year < 2.5  # density doubles over the span
    assert all(s.first_seen_at > s.published_at for s in stories)
    assert len({s.id for s in stories}) == len(stories) == 5000
    assert len({(s.feed_id, s.guid) for s in stories}) == 5000  # the ingest key is unique


def test_outlets_write_mostly_about_home_and_tag_countries_and_topics():
    stories, countries, topics, _ = generate(5000)
    names = {pk: slug for slug, pk in COUNTRIES.items()}
    home = [s for s in stories if s.source_id == 1 and s.canonical_id is None]
    share = sum(names[s.primary_country_id] == "norway" for s in home) / len(home)
    assert 0.6 < share < 0.85
    assert {names[s.primary_country_id] for s in stories} == set(COUNTRIES)
    main = {(t.story_id, t.tag_id) for t in countries if t.score >= 4}
    assert main == {(s.id, s.primary_country_id) for s in stories}
    per_story = Counter(t.story_id for t in countries)
    assert 1.2 < statistics.mean(per_story.values()) < 1.35
    assert len({(t.story_id, t.tag_id) for t in countries}) == len(countries)  # uniq
    origins = Counter((t.origin, t.rejected) for t in countries)
    assert origins[("editor", True)] > 0 and origins[("editor", False)] > 0
    topic_counts = Counter(t.tag_id for t in topics)
    assert set(topic_counts) == set(TOPICS.values())
    assert len({(t.story_id, t.tag_id) for t in topics}) == len(topics)


def test_copies_repeat_an_earlier_story_of_another_outlet():
    stories, *_ = generate(5000)
    by_id = {s.id: s for s in stories}
    copies = [s for s in stories if s.canonical_id is not None]
    assert COPY_SHARE / 2 < len(copies) / len(stories) < COPY_SHARE * 1.5
    for copy in copies:
        original = by_id[copy.canonical_id]
        assert original.canonical_id is None and original.id < copy.id
        assert original.source_id != copy.source_id
        assert (copy.title, copy.summary, copy.lead_key) == (
            original.title,
            original.summary,
            original.lead_key,
        )
        assert copy.original_outlet == next(
            o.name for o in OUTLETS if o.source_id == original.source_id
        )
    hidden = [s for s in stories if s.is_hidden]
    assert 0 < len(hidden) < len(stories) * 0.01


def test_related_boxes_point_at_earlier_visible_stories_of_other_countries():
    stories, _, _, slots = generate(5000)
    by_id = {s.id: s for s in stories}
    boxed = {s.story_id for s in slots}
    originals = [s for s in stories if s.canonical_id is None and not s.is_hidden]
    assert len(boxed) > 0.8 * len(originals)
    assert len({(s.story_id, s.country_id) for s in slots}) == len(slots)  # one per country
    for slot in slots:
        story = by_id[slot.story_id]
        assert slot.country_id != story.primary_country_id
        if slot.target_id is None:
            assert slot.origin == "source" and slot.external_url.startswith("https://")
            assert slot.external_key and slot.external_headline
        else:
            target = by_id[slot.target_id]
            assert target.id < story.id and target.canonical_id is None
            assert not target.is_hidden and target.primary_country_id == slot.country_id
    assert {s.origin for s in slots} == {"system", "editor", "source"}


# --- The command, on PostgreSQL --------------------------------------------------------------


@pytest.fixture
def postgresql(transactional_db):  # the command VACUUMs: outside any transaction
    if connection.vendor != "postgresql":
        pytest.skip("seed_demo fills PostgreSQL only")


def _index_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('feeds_story', 'feeds_storycountry', 'feeds_storytopic', 'feeds_relatedslot')"
        )
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid IN ('feeds_story'::regclass, "
            "'feeds_storycountry'::regclass, 'feeds_storytopic'::regclass, "
            "'feeds_relatedslot'::regclass)"
        )
        return indexes | {row[0] for row in cursor.fetchall()}


def test_seed_demo_fills_an_empty_archive_that_pages_render(postgresql, vocabularies, client):
    before = _index_names()
    call_command("seed_demo", stories=400, seed=3, verbosity=0)
    assert _index_names() == before  # every index and constraint put back
    assert Story.objects.count() == 400
    assert StoryCountry.objects.count() >= 400 and StoryTopic.objects.count() >= 400
    assert RelatedSlot.objects.count() > 400
    assert Story.objects.exclude(canonical=None).exists()
    assert Story.objects.filter(search_vector=None).count() == 0
    assert Story.objects.order_by("-id").values_list("id", flat=True)[0] == 400
    with connection.cursor() as cursor:
        # The concatenated vectors are exactly what to_tsvector over the whole texts gives.
        cursor.execute(
            "SELECT count(*) FROM feeds_story WHERE search_vector <> ("
            "setweight(to_tsvector('english', title), 'A') || "
            "setweight(to_tsvector('english', summary), 'B') || "
            "setweight(to_tsvector('english', content), 'C'))"
        )
        assert cursor.fetchone()[0] == 0
    # A new story gets the next id: the sequence was moved past the seeded ones.
    copy = Story.objects.order_by("id").first()
    copy.pk, copy.guid = None, "new-guid"
    copy.save()
    assert copy.pk == 401

    boxed = (
        Story.objects.visible()
        .filter(related_slots__target__isnull=False)
        .order_by("-published_at")
        .first()
    )
    line = boxed.related_slots.exclude(target=None).select_related("target").first()
    for url in ["/", "/country/norway/", "/topic/shipping/", "/feed/", boxed.get_absolute_url()]:
        response = client.get(url)
        assert response.status_code == 200, url
    assert line.target.title in response.content.decode()  # the story page's related box
    newest = Story.objects.visible().order_by("-published_at").first()
    assert newest.title in client.get("/").content.decode()
    place = newest.title.split()[0]
    found = client.get("/search/", {"q": place}).content.decode()
    assert "<mark>" in found and 'href="/story/' in found


def test_seed_demo_refuses_a_non_empty_archive_and_loses_nothing(postgresql, vocabularies):
    call_command("seed_demo", stories=50, verbosity=0)
    titles = set(Story.objects.values_list("title", flat=True))
    with pytest.raises(CommandError, match="not empty"):
        call_command("seed_demo", stories=50, seed=9, verbosity=0)
    assert set(Story.objects.values_list("title", flat=True)) == titles
    call_command("seed_demo", stories=60, seed=9, replace=True, verbosity=0)
    assert Story.objects.count() == 60
    assert set(Story.objects.values_list("title", flat=True)) != titles


def test_rows_made_ahead_arrive_in_order_and_a_failure_reaches_the_caller():
    from feeds.management.commands.seed_demo import _ahead

    assert list(_ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("generator broke")

    got = []
    with pytest.raises(ValueError, match="generator broke"):
        for item in _ahead(failing()):
            got.append(item)
    assert got == [1]
