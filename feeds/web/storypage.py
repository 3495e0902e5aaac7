"""What a story page shows, in five written-out statements: the story with its outlet and
storyline, its tags, its related box, its entities and its copies.

Through the ORM the page was six queries (the story, then five prefetches) costing ~8 ms of
Python for ~1 ms of SQL at 100,000 stories (docs/performance.md). Here each statement is
written once and its rows made into the instances the template reads (``cards.Fields``),
with countries and topics the navigation's own. What each statement chooses is what the
querysets chose: the shown tags (``TagQuerySet.shown``), the related lines readers see
(``RelatedSlotQuerySet.shown_in``), the shown entities (``StoryEntityQuerySet.shown``), the
visible copies; in the same orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model

from feeds.models import (
    UNSHOWN,
    Country,
    Entity,
    RelatedSlot,
    Source,
    Story,
    StoryCountry,
    StoryEntity,
    StoryKind,
    Storyline,
    StorylineMembership,
    StoryTopic,
    Topic,
)
from feeds.web.cards import Fields

_STORY = Fields(Story, "s", {f.attname for f in Story._meta.concrete_fields} - set(UNSHOWN))
_SOURCE = Fields(Source, "src")
_LINE = Fields(Storyline, "l")
_COUNTRY_TAG = Fields(StoryCountry, "t")
_TOPIC_TAG = Fields(StoryTopic, "t")
_SLOT = Fields(RelatedSlot, "r")
# A related line's story: its headline, credit and address (RelatedSlot.headline, outlet, url).
_TARGET = Fields(Story, "ts", {"id", "title", "original_outlet", "source_id", "kind"})
_TARGET_SOURCE = Fields(Source, "tsrc", {"id", "name", "slug"})
_LINK = Fields(StoryEntity, "e")
_ENTITY = Fields(Entity, "en")
_COPY = Fields(Story, "c", {"id", "link", "source_id", "published_at"})
_COPY_SOURCE = Fields(Source, "csrc", {"id", "name", "slug"})


@dataclass(frozen=True)
class StoryPage:
    story: Story  # with shown_countries, shown_topics, related_lines, shown_entities, copy_list
    storyline: Storyline | None  # the storyline it is a member of (shown or not)


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table(model: type[Model]) -> str:
    return model._meta.db_table


def read(
    pk: int, countries: Mapping[int, Country], topics: Mapping[int, Topic]
) -> StoryPage | None:
    """The story ``pk`` as its page shows it, or None; a hidden story or a copy comes back
    with nothing more read (its page is a 410 or a redirect)."""
    found = _rows(
        f"SELECT {_STORY.select()}, {_SOURCE.select()}, {_LINE.select()} "
        f"FROM {_table(Story)} s JOIN {_table(Source)} src ON src.id = s.source_id "
        f"LEFT JOIN {_table(StorylineMembership)} m ON m.story_id = s.id "
        f"LEFT JOIN {_table(Storyline)} l ON l.id = m.storyline_id WHERE s.id = %s",
        [pk],
    )
    if not found:
        return None
    row = found[0]
    story: Story = _STORY.make(row[: len(_STORY)])
    rest = row[len(_STORY) :]
    story.source = _SOURCE.make(rest[: len(_SOURCE)])
    line_values = rest[len(_SOURCE) :]
    storyline = _LINE.make(line_values) if line_values[0] is not None else None
    if story.primary_country_id is not None and story.primary_country_id in countries:
        story.primary_country = countries[story.primary_country_id]
    if story.is_hidden or story.canonical_id:
        return StoryPage(story, storyline)
    _read_tags(story, countries, topics)
    _read_related(story, countries)
    _read_entities(story)
    _read_copies(story)
    return StoryPage(story, storyline)


def _read_tags(story: Story, countries: Mapping[int, Country], topics: Mapping[int, Topic]) -> None:
    """The shown country and topic tags, rows and all (``tag_reasons`` reads their origins
    and reasons), in one statement; ordered as the prefetches left them (by id)."""
    country_tags, topic_tags = _table(StoryCountry), _table(StoryTopic)
    rows = _rows(
        f"SELECT 0, {_COUNTRY_TAG.select()} FROM {country_tags} t "
        "WHERE t.story_id = %s AND NOT t.rejected "
        f"UNION ALL SELECT 1, {_TOPIC_TAG.select()} FROM {topic_tags} t "
        "WHERE t.story_id = %s AND NOT t.rejected ORDER BY 1, 2",
        [story.pk, story.pk],
    )
    shown_countries: list[StoryCountry] = []
    shown_topics: list[StoryTopic] = []
    for kind, *values in rows:
        if kind == 0:
            tag = _COUNTRY_TAG.make(values)
            tag.country = countries[tag.country_id]
            shown_countries.append(tag)
        else:
            tag = _TOPIC_TAG.make(values)
            tag.topic = topics[tag.topic_id]
            shown_topics.append(tag)
    story.shown_countries = shown_countries  # type: ignore[attr-defined]
    story.shown_topics = shown_topics  # type: ignore[attr-defined]


def _read_related(story: Story, countries: Mapping[int, Country]) -> None:
    """The related box's lines readers see (RelatedSlotQuerySet.shown_in), by position then
    country name, each with its story and that story's outlet."""
    params: list[Any] = [story.pk, StoryKind.STORY]
    other_countries = ""
    if story.primary_country_id is not None:
        other_countries = "AND r.country_id <> %s "
        params.append(story.primary_country_id)
    rows = _rows(
        f"SELECT {_SLOT.select()}, {_TARGET.select()}, {_TARGET_SOURCE.select()} "
        f"FROM {_table(RelatedSlot)} r JOIN {_table(Country)} co ON co.id = r.country_id "
        f"LEFT JOIN {_table(Story)} ts ON ts.id = r.target_id "
        f"LEFT JOIN {_table(Source)} tsrc ON tsrc.id = ts.source_id "
        "WHERE r.story_id = %s "
        "AND (r.target_id IS NULL OR (NOT ts.is_hidden AND ts.kind = %s)) "
        f"{other_countries}ORDER BY r.position, co.name",
        params,
    )
    lines = []
    for row in rows:
        slot: RelatedSlot = _SLOT.make(row[: len(_SLOT)])
        slot.country = countries[slot.country_id]
        if slot.target_id is not None:
            rest = row[len(_SLOT) :]
            target = _TARGET.make(rest[: len(_TARGET)])
            target.source = _TARGET_SOURCE.make(rest[len(_TARGET) :])
            slot.target = target
        lines.append(slot)
    story.related_lines = lines  # type: ignore[attr-defined]


def _read_entities(story: Story) -> None:
    """The story's shown entity links (StoryEntityQuerySet.shown), those in its headline
    first, then by kind and name, each with its entity."""
    story.shown_entities = _joined(  # type: ignore[attr-defined]
        _LINK,
        _ENTITY,
        "entity",
        f"FROM {_table(StoryEntity)} e JOIN {_table(Entity)} en ON en.id = e.entity_id "
        "WHERE e.story_id = %s AND NOT e.rejected AND NOT en.hidden "
        "AND en.merged_into_id IS NULL ORDER BY e.in_title DESC, en.kind, en.name",
        story.pk,
    )


def _read_copies(story: Story) -> None:
    """The visible copies of the story (other outlets' republications), oldest first."""
    story.copy_list = _joined(
        _COPY,
        _COPY_SOURCE,
        "source",
        f"FROM {_table(Story)} c JOIN {_table(Source)} csrc ON csrc.id = c.source_id "
        "WHERE c.canonical_id = %s AND NOT c.is_hidden ORDER BY c.published_at, c.id",
        story.pk,
    )


def _joined(first: Fields, second: Fields, attr: str, rest: str, pk: int) -> list[Any]:
    """Instances of ``first`` with their ``attr`` set to the row's instance of ``second``:
    ``SELECT`` both's columns ``rest`` (FROM ... WHERE ... = %s: ``pk``)."""
    rows = _rows(f"SELECT {first.select()}, {second.select()} {rest}", [pk])
    out = []
    for row in rows:
        instance = first.make(row[: len(first)])
        setattr(instance, attr, second.make(row[len(first) :]))
        out.append(instance)
    return out
