"""Story storage stays lean: every lookup has an index, and a new story is written once.

Migration 0007 dropped the single-column indexes that a composite index already leads with
(and the LIKE-pattern copies nothing used), to make story writes cheaper. These plans show
the composites still serve each lookup. PostgreSQL only: SQLite's planner is not the one
that runs in production.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction

from feeds.ingest import pipeline as ingest
from feeds.ingest.stories import insert_stories
from feeds.models import Feed, Source, Story, StoryCountry, StoryTopic
from feeds.related.profiles import PROFILE_VERSION
from feeds.search import search_stories, set_search_vector, update_search_vectors
from tests.test_pipeline import BASIC, make_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans, compression and row counts")


@pytest.fixture
def no_seq_scans(postgresql):
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A table scan then costs so much that the planner takes any usable index.
            cursor.execute("SET LOCAL enable_seqscan TO off")
        yield


LOOKUPS = {
    "upsert by guid": lambda: Story.objects.filter(feed_id=1, guid__in=["a", "b"]),
    "re-keyed item by link": lambda: Story.objects.filter(feed_id=1, url_key__in=["x"]),
    "copies by link": lambda: Story.objects.filter(url_key__in=["x", "y"]),
    "copies by headline": lambda: Story.objects.filter(title_key__in=["x", "y"]),
    "copies by lead": lambda: Story.objects.filter(lead_key__in=["x", "y"]),
    "a story's copies": lambda: Story.objects.filter(canonical_id=1),
    "a feed's stories (delete cascade)": lambda: Story.objects.filter(feed_id=1),
    "a source's page": lambda: Story.objects.filter(source_id=1).order_by("-published_at")[:20],
    "a story's countries": lambda: StoryCountry.objects.filter(story_id__in=[1, 2]),
    "a country's stories": lambda: StoryCountry.objects.filter(country_id=1),
    "a story's topics": lambda: StoryTopic.objects.filter(story_id__in=[1, 2]),
    "a topic's stories": lambda: StoryTopic.objects.filter(topic_id=1),
}


@pytest.mark.parametrize("name", LOOKUPS)
def test_lookup_uses_an_index(no_seq_scans, name):
    plan = LOOKUPS[name]().explain()
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan


def test_story_bodies_compress_with_lz4_where_the_server_has_it(postgresql):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
        if cursor.fetchone() is None:
            pytest.skip("this PostgreSQL was built without lz4")
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute "
            "WHERE attrelid = 'feeds_story'::regclass AND attname IN "
            "('summary', 'content', 'raw_content')"
        )
        assert dict(cursor.fetchall()) == {"summary": "l", "content": "l", "raw_content": "l"}


def test_a_new_story_is_written_once_with_its_search_vector_and_related_terms(
    postgresql, fixture_server, allow_private
):
    fixture_server.add("/rss.xml", make_feed(BASIC))
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    feed = Feed.objects.create(source=source, url=fixture_server.url("/rss.xml"))

    def writes() -> tuple[int, int]:
        with connection.cursor() as cursor:
            # This transaction's own counts: no waiting for the statistics to be flushed.
            cursor.execute(
                "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'feeds_story'"
            )
            return cursor.fetchone()

    before = writes()
    assert ingest.fetch_and_store(feed.pk, force=True).created == 3
    inserted, updated = (after - was for after, was in zip(writes(), before, strict=True))
    # An INSERT and then an UPDATE for the vector would leave a dead row version (and a dead
    # entry in each index) behind for every story stored.
    assert (inserted, updated) == (3, 0)
    assert [s.title for s in search_stories("Sabetta")] == [BASIC[0]["title"]]

    # The same vector as search.update_search_vectors builds, for any story language.
    edited = [BASIC[0], dict(BASIC[1], body="<p>Havna i Nuuk blir ferdig i 2029.</p>"), BASIC[2]]
    norwegian = make_feed(edited).replace("<language>en</language>", "<language>nb-NO</language>")
    fixture_server.add("/rss.xml", norwegian)
    assert ingest.fetch_and_store(feed.pk, force=True).updated == 1
    assert Story.objects.get(guid="example-2").language.startswith("nb")

    def vectors() -> dict[str, str]:
        rows = Story.objects.values_list("guid", "search_vector")
        return {guid: str(vector) for guid, vector in rows}

    def derived() -> dict[str, tuple[str, str]]:
        rows = Story.objects.values_list("guid", "related_terms", "related_profile")
        return {guid: (str(terms), profile) for guid, terms, profile in rows}

    stored, terms = vectors(), derived()
    update_search_vectors(Story.objects.values_list("pk", flat=True))
    assert vectors() == stored
    assert "'havn':" in stored["example-2"]  # the Norwegian stemmer's, not English's 'havna'
    # The related box's terms and profile are written with the vector, in the same INSERT
    # or UPDATE, from the same text (the edited teaser's words are there).
    assert derived() == terms
    assert all(profile.startswith(PROFILE_VERSION) for _, profile in terms.values())
    assert "'havna':" in terms["example-2"][0]


def test_create_stories_stores_what_bulk_create_would_in_one_insert(postgresql):
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    feed = Feed.objects.create(source=source, url="https://example.org/rss.xml")
    languages = ("en", "nb-NO", "ru", "sv", "xx", "")

    def batch(prefix: str) -> list[Story]:
        return [
            Story(
                feed=feed,
                source=source,
                guid=f"{prefix}-{language or 'none'}",
                title=f"Havna i Nuuk og Мурманск ({language})",
                summary="<p>Icebreakers & tankers: «Северный морской путь»</p>",
                content="<p>Reindeer herders in Kautokeino; isbryterne går.</p>" * 3,
                raw_content="<p onclick='x()'>raw</p>",
                language=language,
                categories=["Politics", "Arctic"],
                published_at=datetime(2026, 11, 28, 12, tzinfo=UTC),
                first_seen_at=datetime(2026, 11, 28, 12, 5, tzinfo=UTC),
                last_seen_at=datetime(2026, 11, 28, 12, 5, tzinfo=UTC),
                url_key=f"{prefix}/{language}",
            )
            for language in languages
        ]

    ours, theirs = batch("ours"), batch("theirs")
    with connection.cursor() as cursor:
        count = "SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'feeds_story'"
        cursor.execute(count)
        (before,) = cursor.fetchone()
        insert_stories(ours)
        cursor.execute(count)
        (after,) = cursor.fetchone()
    assert after - before == len(languages)  # one row each, in one INSERT
    assert all(not s._state.adding and s._state.db == "default" for s in ours)
    pks = {s.pk: s.guid for s in ours}
    assert dict(Story.objects.filter(pk__in=pks).values_list("pk", "guid")) == pks
    for story in theirs:
        set_search_vector(story)
    Story.objects.bulk_create(theirs)

    def stored(stories: list[Story]) -> list[dict]:
        rows = {
            row["id"]: row for row in Story.objects.filter(pk__in=[s.pk for s in stories]).values()
        }
        return [
            {
                k: str(v) if k == "search_vector" else v
                for k, v in rows[s.pk].items()
                if k not in ("id", "guid", "url_key")
            }
            for s in stories
        ]

    assert stored(ours) == stored(theirs)
    vectors = [row["search_vector"] for row in stored(ours)]
    assert "'havn':" in vectors[1] and "'havna':" in vectors[0]  # Norwegian, then English


def test_create_stories_refuses_a_value_too_long_instead_of_cutting_it(postgresql):
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    feed = Feed.objects.create(source=source, url="https://example.org/rss.xml")
    story = Story(feed=feed, source=source, guid="long", title="t", byline="x" * 501)
    with pytest.raises(DataError), transaction.atomic():
        insert_stories([story])
    assert not Story.objects.filter(guid="long").exists()


def test_only_copies_are_in_the_copies_index(postgresql):
    # An index holding every story offered "canonical IS NULL" as a lookup, and an
    # unanalysed planner took it for copy detection: a read of the whole index per feed.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'feeds_story' "
            "AND indexdef LIKE '%%(canonical_id)%%'"
        )
        assert [row[0].split(" WHERE ")[-1] for row in cursor.fetchall()] == [
            "(canonical_id IS NOT NULL)"
        ]


def test_the_round_ups_box_reads_only_round_ups(no_seq_scans):
    """The home page's newsletters box: an index of round-ups alone, never the index of every
    visible story walked back to the third round-up."""
    plan = Story.objects.visible().roundups().without_bodies()[:3].explain()
    assert "story_roundup_recent_idx" in plan, plan


def test_growing_tables_are_vacuumed_and_analysed_early(postgresql):
    tables = ["feeds_story", "feeds_storycountry", "feeds_storytopic"]
    early = {"autovacuum_vacuum_insert_scale_factor=0.02", "autovacuum_analyze_scale_factor=0.02"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [tables])
        options = dict(cursor.fetchall())
    assert all(early <= set(options[table] or ()) for table in tables), options
