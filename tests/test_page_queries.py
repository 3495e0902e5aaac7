"""The pages' queries read what they show and no more, on an index, whatever the archive's size.

Behaviour on every database; plans on PostgreSQL (SQLite's planner is not production's).
Speed itself is measured in bench/pages.py, not here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from feeds.models import Story, StoryCountry
from tests.test_views import country, make_story

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_seq_scans():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A table scan then costs so much that the planner takes any usable index.
            cursor.execute("SET LOCAL enable_seqscan TO off")
        yield


def _sections(since, size):
    from feeds.web.views import Navigation

    nav = Navigation.read()
    names = {c.pk: c.slug for c in nav.countries}
    return {
        names[country_id]: [story.title for story in stories]
        for country_id, stories in nav.cards().per_country(since, size).items()
    }


def test_newest_per_country_takes_each_countrys_newest_shown_stories():
    now = timezone.now()
    for i in range(5):
        make_story(f"Norway {i}", countries=("norway",), published=now - timedelta(hours=i))
    make_story("Both", countries=("russia", "norway"), published=now - timedelta(minutes=30))
    make_story("Hidden", countries=("russia",), published=now, is_hidden=True)
    original = make_story("Original", countries=("russia",), published=now - timedelta(hours=9))
    make_story("Copy", countries=("russia",), published=now, canonical=original)
    rejected = make_story("Rejected", countries=("sweden",), published=now)
    StoryCountry.objects.filter(story=rejected).update(rejected=True)
    make_story("Too old", countries=("sweden",), published=now - timedelta(days=30))

    sections = _sections(now - timedelta(days=7), 3)

    assert sections == {
        "norway": ["Norway 0", "Both", "Norway 1"],
        "russia": ["Both", "Original"],
    }


def test_newest_per_country_is_one_query_without_the_body(django_assert_num_queries):
    from feeds.web.views import Navigation

    # Dated explicitly: make_story's default date moves further back with every story that
    # earlier tests made, which took this one out of the one-day window in a long run.
    make_story(
        "Norway",
        countries=("norway", "russia"),
        topics=("energy",),
        content="<p>Long body</p>",
        published=timezone.now() - timedelta(minutes=5),
    )
    cards, norway = Navigation.read().cards(), country("norway")
    with django_assert_num_queries(1):
        sections = cards.per_country(timezone.now() - timedelta(1), 4)
        story = sections[norway.pk][0]
        # The outlet and the tags come in the same query.
        assert story.source.name
        assert [c.slug for c in story.countries_primary_first()] == ["norway", "russia"]
    sql, _ = cards.per_country_sql(timezone.now(), 4)
    for column in ("content", "raw_content", "search_vector"):
        assert f"s.{column}" not in sql


def test_newest_per_country_walks_the_recent_index_not_a_window(no_seq_scans):
    from feeds.web.views import Navigation

    sql, params = Navigation.read().cards().per_country_sql(timezone.now(), 4)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "WindowAgg" not in plan, plan
    assert "story_visible_recent_idx" in plan, plan


def test_keyset_bounds_include_ties_on_the_time():
    same = timezone.now() - timedelta(hours=1)
    stories = [make_story(f"Tie {i}", countries=("norway",), published=same) for i in range(3)]
    stories.sort(key=lambda s: s.pk)
    middle = stories[1]
    visible = Story.objects.visible()
    older = visible.older_than(middle.published_at, middle.pk).newest_first()
    newer = visible.newer_than(middle.published_at, middle.pk).newest_first()
    assert list(older) == [stories[0]]
    assert list(newer) == [stories[2]]


def test_keyset_bound_is_an_index_condition(no_seq_scans):
    plan = (
        Story.objects.visible()
        .for_country(country("norway"))
        .older_than(timezone.now(), 10)
        .newest_first()[:21]
        .explain()
    )
    assert "Index Cond: (ROW(published_at, id) < ROW(" in plan, plan


def test_cards_and_feeds_never_read_the_unsanitised_copy_or_the_vector():
    cards = str(Story.objects.visible().for_cards().query)
    feeds = str(Story.objects.visible().for_listing().query)
    for column in ("raw_content", "search_vector"):
        assert f'"feeds_story"."{column}"' not in cards
        assert f'"feeds_story"."{column}"' not in feeds
    assert '"feeds_story"."content"' not in cards
    assert '"feeds_story"."content"' in feeds  # full-text feeds show it


def test_page_queries_are_never_jit_compiled():
    """A stale row estimate once pushed the home page's 1 ms per-country query past
    jit_above_cost, and it spent ~250 ms compiling: pages' connections run without the JIT."""
    from django.conf import settings
    from django.db import connection

    if not settings.IS_POSTGRES:
        pytest.skip("PostgreSQL's JIT")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW pg_trgm.word_similarity_threshold")
        assert float(cursor.fetchone()[0]) == settings.SEARCH_TRIGRAM_THRESHOLD


def _navigation():
    from feeds.web.views import Navigation

    return Navigation.read()


def _cards(**listing):
    return _navigation().cards(**listing)


def _orm_view(stories):
    """What a card shows of each story, read through the ORM's prefetches (the reference)."""
    from feeds.web.templatetags import countries_in_order, topics_in_order

    return [
        (
            s.pk,
            s.title,
            s.summary,
            s.published_at,
            s.outlet,
            s.source.slug,
            s.image_src,
            [c.slug for c in countries_in_order(s)],
            [t.slug for t in topics_in_order(s)],
        )
        for s in stories
    ]


def test_cards_show_what_the_orm_reads(django_assert_num_queries):
    from feeds.models import Source, StoryKind, StoryTopic

    now = timezone.now()
    other = Source.objects.create(name="Other Outlet", slug="other-outlet")
    mixed = make_story(
        "Mixed",
        countries=("russia", "norway", "finland"),
        topics=("energy", "shipping"),
        primary="norway",
        published=now - timedelta(minutes=1),
        original_outlet="The Wire",
        image_file="stories/ab/cd",
        image_width=1200,
        image_height=800,
    )
    StoryCountry.objects.filter(story=mixed, country__slug="finland").update(rejected=True)
    StoryTopic.objects.filter(story=mixed, topic__slug="shipping").update(rejected=True)
    make_story("Untagged primary", primary="sweden", published=now - timedelta(minutes=2))
    make_story("Other", source=other, countries=("norway",), published=now - timedelta(minutes=3))
    make_story("Hidden", countries=("norway",), is_hidden=True, published=now)
    make_story("Letter", countries=("norway",), kind=StoryKind.DIGEST, published=now)
    orm = Story.objects.visible().articles().for_cards().newest_first()

    listing = _cards()
    with django_assert_num_queries(1):
        cards = listing.read(10)
        shown = _orm_view(cards)
    assert shown == _orm_view(orm[:10])
    assert shown[0][-2:] == (["norway", "russia"], ["energy"])  # primary first; none rejected

    norway = country("norway")
    assert _orm_view(_cards(country_id=norway.pk).read(10)) == _orm_view(
        orm.for_country(norway)[:10]
    )
    assert _orm_view(_cards(source_id=other.pk).read(10)) == _orm_view(orm.filter(source=other))
    letters = _cards(kinds="roundups").read(10)
    assert [s.title for s in letters] == ["Letter"]
    # Keyset bounds, both ways (ties on the time included, as older_than/newer_than).
    middle = cards[1]
    older = _cards().older_than(middle.published_at, middle.pk).read(10)
    newer = _cards().newer_than(middle.published_at, middle.pk).read(10, oldest_first=True)
    assert [s.pk for s in older] == [s.pk for s in cards[2:]]
    assert [s.pk for s in newer] == [cards[0].pk]


def test_cards_walk_the_recent_indexes(no_seq_scans):
    norway = country("norway")
    far_back = _cards(country_id=norway.pk).older_than(timezone.now(), 10)
    for listing, expected in (
        (far_back, ("story_visible_recent_idx", "Index Cond: (ROW(published_at, id) < ROW(")),
        (_cards(kinds="roundups"), ("story_roundup_recent_idx",)),
    ):
        sql, params = listing.sql(21)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert all(part in plan for part in expected), plan
        assert "Sort" not in plan, plan


def test_the_maps_counts_are_the_visible_stories_of_the_week_by_shown_country():
    from feeds.models import StoryKind
    from feeds.models import visible_q as visible

    now = timezone.now()
    make_story("Both", countries=("norway", "russia"), published=now - timedelta(hours=1))
    make_story("Letter", countries=("norway",), kind=StoryKind.DIGEST, published=now)
    original = make_story("Original", countries=("russia",), published=now - timedelta(days=2))
    make_story("Copy", countries=("russia",), canonical=original, published=now)
    make_story("Hidden", countries=("norway",), is_hidden=True, published=now)
    make_story("Old", countries=("norway",), published=now - timedelta(days=9))
    rejected = make_story("Rejected", countries=("sweden",), published=now)
    StoryCountry.objects.filter(story=rejected).update(rejected=True)
    since = now - timedelta(days=7)

    counts = _cards(kinds="all").count_per_country(since)

    names = {c.pk: c.slug for c in _navigation().countries}
    assert {names[k]: n for k, n in counts.items()} == {"norway": 2, "russia": 2}
    reference = StoryCountry.objects.filter(
        visible("story__"), rejected=False, story__published_at__gte=since
    ).values_list("country__slug", flat=True)
    assert sorted(reference) == sorted(names[k] for k, n in counts.items() for _ in range(n))


def test_a_story_page_reads_what_the_querysets_chose(django_assert_num_queries):
    from django.db.models import Prefetch, prefetch_related_objects

    from feeds.models import (
        Entity,
        RelatedSlot,
        StoryEntity,
        StoryKind,
        Storyline,
        StorylineMembership,
        StoryTopic,
    )
    from feeds.web import storypage

    now = timezone.now()
    story = make_story(
        "Convoy",
        countries=("russia", "norway", "finland"),
        topics=("shipping", "energy"),
        primary="russia",
        published=now - timedelta(hours=2),
    )
    StoryCountry.objects.filter(story=story, country__slug="finland").update(rejected=True)
    StoryTopic.objects.filter(story=story, topic__slug="energy").update(
        reason="oil", origin="editor"
    )
    shown = make_story("Shown", countries=("canada",), original_outlet="The Wire")
    hidden = make_story("Hidden", countries=("sweden",), is_hidden=True)
    letter = make_story("Letter", countries=("iceland",), kind=StoryKind.DIGEST)
    # A line to each; the hidden story's, the round-up's and the primary country's are unseen.
    for slug, target in (
        ("canada", shown),
        ("sweden", hidden),
        ("iceland", letter),
        ("russia", shown),
    ):
        RelatedSlot.objects.create(story=story, country=country(slug), target=target, position=1)
    RelatedSlot.objects.create(
        story=story,
        country=country("greenland"),
        position=0,
        external_url="https://x.example/",
        external_headline="Elsewhere",
        external_outlet="KNR",
    )
    RelatedSlot.objects.create(story=story, country=country("denmark"), target=shown, position=1)
    port = Entity.objects.create(kind="port", slug="test-port", name="Test port")
    ship = Entity.objects.create(kind="vessel", slug="test-ship", name="Test ship")
    gone = Entity.objects.create(kind="place", slug="test-gone", name="Gone", hidden=True)
    for entity, in_title in ((port, False), (ship, True), (gone, True)):
        StoryEntity.objects.create(story=story, entity=entity, in_title=in_title)
    for i in range(3):
        make_story(
            f"Copy {i}", canonical=story, is_hidden=i == 1, published=now - timedelta(minutes=i)
        )
    line = Storyline.objects.create(slug="convoys", title="Convoys", last_published_at=now)
    StorylineMembership.objects.create(story=story, storyline=line)

    nav = _navigation()
    with django_assert_num_queries(5):
        page = storypage.read(
            story.pk, {c.pk: c for c in nav.countries}, {t.pk: t for t in nav.topics}
        )
    read = page.story
    assert page.storyline == line and read.source.name and read.primary_country.slug == "russia"

    orm = Story.objects.get(pk=story.pk)
    prefetch_related_objects(
        [orm],
        Prefetch("countries", StoryCountry.objects.shown().select_related("country"), "c"),
        Prefetch("topics", StoryTopic.objects.shown().select_related("topic"), "t"),
        Prefetch(
            "related_slots",
            RelatedSlot.objects.shown_in(orm)
            .select_related("country", "target__source")
            .order_by("position", "country__name"),
            "r",
        ),
        Prefetch(
            "entity_links",
            StoryEntity.objects.shown()
            .select_related("entity")
            .order_by("-in_title", "entity__kind", "entity__name"),
            "e",
        ),
        Prefetch(
            "copies",
            Story.objects.filter(is_hidden=False)
            .select_related("source")
            .order_by("published_at", "id"),
            "k",
        ),
    )
    tags = [(t.pk, t.country.slug, t.origin, t.reason) for t in read.shown_countries]
    assert sorted(tags) == sorted((t.pk, t.country.slug, t.origin, t.reason) for t in orm.c)
    topics = [(t.pk, t.topic.slug, t.origin, t.reason) for t in read.shown_topics]
    assert sorted(topics) == sorted((t.pk, t.topic.slug, t.origin, t.reason) for t in orm.t)
    lines = [(s.pk, s.country.slug, s.headline, s.outlet, s.url) for s in read.related_lines]
    assert lines == [(s.pk, s.country.slug, s.headline, s.outlet, s.url) for s in orm.r]
    assert [s.headline for s in read.related_lines] == ["Elsewhere", "Shown", "Shown"]
    assert [e.entity.name for e in read.shown_entities] == [e.entity.name for e in orm.e]
    assert [e.entity.name for e in read.shown_entities] == ["Test ship", "Test port"]
    copies = [(c.pk, c.link, c.source.name) for c in read.copy_list]
    assert copies == [(c.pk, c.link, c.source.name) for c in orm.k] and len(copies) == 2
