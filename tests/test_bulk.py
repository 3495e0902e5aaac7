"""feeds.bulk.insert_columns: the rows bulk_create would write, from columns, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from feeds.bulk import insert_columns
from feeds.models import Country, Feed, Origin, Source, Story, StoryCountry

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def stories() -> list[Story]:
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    feed = Feed.objects.create(source=source, url="https://example.org/rss.xml")
    return [
        Story.objects.create(
            feed=feed, source=source, guid=f"g{i}", title=f"Story {i}", published_at=NOW
        )
        for i in range(3)
    ]


def rows() -> set[tuple]:
    return set(
        StoryCountry.objects.values_list(
            "story_id", "country__slug", "score", "origin", "rejected", "changed_at"
        )
    )


def test_it_writes_what_bulk_create_would(stories):
    started = timezone.now()
    norway, russia = Country.objects.get(slug="norway"), Country.objects.get(slug="russia")
    insert_columns(
        StoryCountry,
        {
            "story_id": [stories[0].pk, stories[0].pk, stories[1].pk],
            "country_id": [norway.pk, russia.pk, norway.pk],
            "score": [1.0, 0.25, 0.5],
        },
        constants={"origin": Origin.SYSTEM},
    )
    ours = rows()
    StoryCountry.objects.all().delete()
    StoryCountry.objects.bulk_create(
        StoryCountry(story_id=s, country_id=c, score=score, origin=Origin.SYSTEM)
        for s, c, score in (
            (stories[0].pk, norway.pk, 1.0),
            (stories[0].pk, russia.pk, 0.25),
            (stories[1].pk, norway.pk, 0.5),
        )
    )
    theirs = rows()
    # The same rows, defaults (rejected=False) included; auto_now stamps them both.
    assert {r[:5] for r in ours} == {r[:5] for r in theirs} and len(ours) == 3
    assert all(r[5] >= started for r in ours | theirs)


def test_rows_that_conflict_are_skipped_when_asked(stories):
    norway = Country.objects.get(slug="norway")
    StoryCountry.objects.create(story=stories[0], country=norway, origin=Origin.EDITOR)
    columns = {"story_id": [stories[0].pk, stories[2].pk], "country_id": [norway.pk] * 2}
    constants = {"origin": Origin.SYSTEM}
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - IntegrityError either way
        insert_columns(StoryCountry, columns, constants=constants)
    insert_columns(StoryCountry, columns, constants=constants, ignore_conflicts=True)
    # The editor's row stays the editor's; the other story gets the system's.
    assert dict(StoryCountry.objects.values_list("story_id", "origin")) == {
        stories[0].pk: Origin.EDITOR,
        stories[2].pk: Origin.SYSTEM,
    }


def test_a_value_too_long_is_an_error_not_cut(stories):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce a varchar's length")
    norway = Country.objects.get(slug="norway")
    with pytest.raises(DataError), transaction.atomic():
        insert_columns(
            StoryCountry,
            {"story_id": [stories[0].pk], "country_id": [norway.pk]},
            constants={"origin": "x" * 11},
        )


def test_it_refuses_what_is_not_a_column_or_rows_of_different_lengths(stories):
    with pytest.raises(ValueError, match="different lengths"):
        insert_columns(StoryCountry, {"story_id": [1, 2], "country_id": [1]})
    with pytest.raises(ValueError, match="not a column"):
        insert_columns(Story, {"countries": [1]})
    insert_columns(StoryCountry, {"story_id": [], "country_id": []})  # nothing to do
    assert not StoryCountry.objects.exists()
