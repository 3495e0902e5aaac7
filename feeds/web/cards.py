"""Story cards read in ONE query: the rows a listing page renders, with their tags' ids.

A listing's cards need a few columns of each story, its outlet's name and address, and the
ids of its shown countries and topics. Through the ORM that was three queries (the stories,
then each kind of tag with its country or topic, two model instances per tag row) and ~6 ms
of Python per page, mostly building querysets and compiling them, for 0.3 ms of SQL
(docs/performance.md). Here the statement is written once, its tags come back as id lists
(``ARRAY(...)`` on PostgreSQL, ``group_concat`` on SQLite), and the countries and topics are
the navigation's own instances (``feeds.web.views.Navigation``): no query and no instance per
tag. Pages see ordinary ``Story`` instances (with their ``Source``), whose ``tag_countries``
and ``tag_topics`` say the tags (``Story.countries_primary_first``).

The WHERE clause is ``StoryQuerySet.visible()``'s, and the order and cursors are the
listings' keyset (``(published_at, id)``, as ``older_than``/``newer_than``), so the plans
are the ORM's: ``story_visible_recent_idx`` (or ``story_source_recent_idx``) newest first,
each story's tag looked up by ``storycountry_uniq``/``storytopic_uniq``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import RawSQL

from feeds.models import (
    Country,
    Source,
    Story,
    StoryCountry,
    StoryKind,
    StoryQuerySet,
    StoryTopic,
    Topic,
)


class Fields:
    """Some of a model's fields as columns of a written-out statement (under ``alias``), and
    their values made into an instance as the ORM makes one: in the model's order of fields
    (``Model.from_db``'s), each through the database's converters (SQLite's dates and
    booleans), which are worked out once per database vendor."""

    def __init__(self, model: type[Model], alias: str, names: set[str] | None = None) -> None:
        self.model, self.alias = model, alias
        fields = model._meta.concrete_fields
        self.names = tuple(f.attname for f in fields if names is None or f.attname in names)
        self._converters: dict[str, list[tuple[int, Callable[[object], object]]]] = {}

    def __len__(self) -> int:
        return len(self.names)

    def select(self) -> str:
        return ", ".join(f"{self.alias}.{name}" for name in self.names)

    def make(self, values: Sequence[object]) -> Any:
        """The instance of a row's values of these fields (``select``'s)."""
        values = list(values)
        for index, convert in self._converters_now():
            values[index] = convert(values[index])
        return self.model.from_db(connection.alias, self.names, values)

    def _converters_now(self) -> list[tuple[int, Callable[[object], object]]]:
        vendor = connection.vendor
        if vendor not in self._converters:
            out = []
            fields = {f.attname: f for f in self.model._meta.concrete_fields}
            for index, name in enumerate(self.names):
                field = fields[name]
                col = field.get_col(self.model._meta.db_table)
                functions = connection.ops.get_db_converters(col)
                functions += field.get_db_converters(connection)
                if functions:
                    out.append((index, _apply(functions, col)))
            self._converters[vendor] = out
        return self._converters[vendor]


class Columns:
    """What a listing reads of each story and of its outlet."""

    def __init__(self, story: set[str], source: set[str]) -> None:
        self.story = Fields(Story, "s", story)
        self.source = Fields(Source, "src", source)

    def select(self) -> str:
        """The columns of a row (``stories_of`` reads them): the story's, its outlet's, and its
        shown countries' and topics' ids."""
        countries = _tag_ids(StoryCountry._meta.db_table, "country_id")
        topics = _tag_ids(StoryTopic._meta.db_table, "topic_id")
        return f"{self.story.select()}, {self.source.select()}, {countries}, {topics}"


# A card (``feeds.web.templatetags._card``): headline, teaser, outlet, time, the lead image,
# and what a page's cursor reads.
CARD = Columns(
    {
        "id",
        "title",
        "summary",
        "published_at",
        "original_outlet",
        "primary_country_id",
        "image_file",
        "image_width",
        "image_height",
    },
    {"id", "name", "slug"},
)
# A feed's item (``feeds.syndication.feeds.StoryFeed``'s item methods): its title, teaser
# and body (shown where the outlet allows), credit and link, author, dates, image and
# language, with its outlet's.
FEED_ITEM = Columns(
    {
        "id",
        "link",
        "title",
        "summary",
        "content",
        "author",
        "original_outlet",
        "image_url",
        "language",
        "published_at",
        "source_updated_at",
        "primary_country_id",
    },
    {"id", "name", "slug", "language", "show_full_text"},
)


def _ids(value: object) -> list[int]:
    """A tag column as ids: PostgreSQL gives a list, SQLite a comma-separated string."""
    if not value:
        return []
    if isinstance(value, str):
        return [int(part) for part in value.split(",")]
    return list(value)  # type: ignore[call-overload]


def _tag_ids(table: str, column: str, story_id: str = "s.id") -> str:
    """The story's shown tags of one kind, as one value per row (``story_id``: the outer
    query's story id)."""
    rows = f"FROM {table} x WHERE x.story_id = {story_id} AND NOT x.rejected"
    if connection.vendor == "postgresql":
        return f"ARRAY(SELECT x.{column} {rows})"
    return f"(SELECT group_concat(x.{column}) {rows})"


ARTICLES, ROUNDUPS, ALL = "articles", "roundups", "all"  # Cards.kinds


@dataclass(frozen=True)
class Cards:
    """The visible stories of one listing, newest first: all of them (home), or one
    country's, topic's, both, or one outlet's; stories proper (``ARTICLES``: what pages
    list), only newsletters, digests and podcasts (``ROUNDUPS``), or every kind (``ALL``:
    the feeds)."""

    country_id: int | None = None
    topic_id: int | None = None
    source_id: int | None = None
    kinds: str = "articles"  # ARTICLES, ROUNDUPS or ALL
    bound: tuple[str, datetime, int] | None = None  # ("<" or ">", published_at, pk)
    columns: Columns = CARD  # what is read of each story
    # Every country and topic by id (the navigation's): what the tags' ids are read into.
    countries: Mapping[int, Country] = field(default_factory=dict, compare=False, repr=False)
    topics: Mapping[int, Topic] = field(default_factory=dict, compare=False, repr=False)

    def older_than(self, published_at: datetime, pk: int) -> Cards:
        return replace(self, bound=("<", published_at, pk))

    def newer_than(self, published_at: datetime, pk: int) -> Cards:
        return replace(self, bound=(">", published_at, pk))

    def _of_kinds(self, where: list[str], params: list[Any]) -> None:
        if self.kinds != ALL:
            where.append("NOT (s.kind = %s)" if self.kinds == ROUNDUPS else "s.kind = %s")
            params.append(StoryKind.STORY)

    def sql(self, limit: int, oldest_first: bool = False) -> tuple[str, list[Any]]:
        joins = [f"JOIN {Source._meta.db_table} src ON src.id = s.source_id"]
        where: list[str] = [_VISIBLE]
        params: list[Any] = []
        self._of_kinds(where, params)
        if self.country_id is not None:
            joins.append(f"JOIN {StoryCountry._meta.db_table} c ON c.story_id = s.id")
            where += ["c.country_id = %s", "NOT c.rejected"]
            params.append(self.country_id)
        if self.topic_id is not None:
            joins.append(f"JOIN {StoryTopic._meta.db_table} t ON t.story_id = s.id")
            where += ["t.topic_id = %s", "NOT t.rejected"]
            params.append(self.topic_id)
        if self.source_id is not None:
            where.append("s.source_id = %s")
            params.append(self.source_id)
        if self.bound is not None:
            # A row-value comparison: the start of the index scan, not a filter on it.
            op, published_at, pk = self.bound
            where.append(f"(s.published_at, s.id) {op} (%s, %s)")
            params += [connection.ops.adapt_datetimefield_value(published_at), pk]
        order = "ASC" if oldest_first else "DESC"
        sql = (
            f"SELECT {self.columns.select()} FROM {Story._meta.db_table} s {' '.join(joins)} "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY s.published_at {order}, s.id {order} LIMIT %s"
        )
        return sql, [*params, limit]

    def read(self, limit: int, oldest_first: bool = False) -> list[Story]:
        """Up to ``limit`` stories, newest first (or oldest first), each with its source, its
        primary country and its shown tags. One query."""
        rows = _fetch(*self.sql(limit, oldest_first))
        return stories_of(rows, self.columns, self.countries, self.topics)

    def per_country_sql(self, since: datetime, size: int) -> tuple[str, list[Any]]:
        story, tag = Story._meta.db_table, StoryCountry._meta.db_table
        # Each row also says the country whose section it is in (a story may be in several).
        columns = f"{self.columns.select()}, top.country_id"
        source = Source._meta.db_table
        joins = f"JOIN {story} s ON s.id = top.id JOIN {source} src ON src.id = s.source_id"
        newest = "ORDER BY s.published_at DESC, s.id DESC"
        recent = f"{_VISIBLE} AND s.kind = %s AND s.published_at >= %s"
        params: list[Any] = [StoryKind.STORY, connection.ops.adapt_datetimefield_value(since)]
        if connection.vendor != "postgresql":
            # The embedded default (SQLite) has no LATERAL; its archives are small.
            ranked = (
                "SELECT s.id, t.country_id, "
                f"ROW_NUMBER() OVER (PARTITION BY t.country_id {newest}) AS row "
                f"FROM {story} s JOIN {tag} t ON t.story_id = s.id AND NOT t.rejected "
                f"WHERE {recent}"
            )
            sql = (
                f"SELECT {columns} FROM ({ranked}) top {joins} WHERE top.row <= %s "
                f"ORDER BY top.country_id, s.published_at DESC, s.id DESC"
            )
            return sql, [*params, size]
        # Per country, walk the visible stories newest first and stop at ``size`` tagged
        # with it: a few index entries per country, never a window over every tag row
        # (179 ms at 100,000 stories).
        lateral = (
            f"SELECT s.id, c.id AS country_id FROM {story} s "
            f"JOIN {tag} t ON t.story_id = s.id AND t.country_id = c.id AND NOT t.rejected "
            f"WHERE {recent} {newest} LIMIT %s"
        )
        sql = (
            f"SELECT {columns} FROM {Country._meta.db_table} c CROSS JOIN LATERAL ({lateral}) top "
            f"{joins} ORDER BY top.country_id, s.published_at DESC, s.id DESC"
        )
        return sql, [*params, size]

    def count_per_country(self, since: datetime) -> dict[int, int]:
        """How many of the visible stories published since ``since`` each country is tagged
        with (the home page's map), by country id. One query: the visible stories' index
        from ``since``, each story's tags by ``storycountry_uniq``."""
        where = [_VISIBLE, "s.published_at >= %s"]
        params: list[Any] = [connection.ops.adapt_datetimefield_value(since)]
        self._of_kinds(where, params)
        sql = (
            f"SELECT t.country_id, COUNT(*) FROM {Story._meta.db_table} s "
            f"JOIN {StoryCountry._meta.db_table} t ON t.story_id = s.id AND NOT t.rejected "
            f"WHERE {' AND '.join(where)} GROUP BY t.country_id"
        )
        return dict(_fetch(sql, params))

    def per_country(self, since: datetime, size: int) -> dict[int, list[Story]]:
        """Each country's ``size`` newest visible stories published since ``since`` (the home
        page's sections), newest first, by country id. One query."""
        rows = _fetch(*self.per_country_sql(since, size))
        sections: dict[int, list[Story]] = {}
        stories = stories_of(rows, self.columns, self.countries, self.topics)
        for row, story in zip(rows, stories, strict=True):
            sections.setdefault(row[-1], []).append(story)
        return sections


def with_tag_ids(stories: StoryQuerySet) -> StoryQuerySet:
    """``stories`` with the ids of their shown countries and topics in the same query (for
    ``read_tags``), instead of two more queries of tag rows (``StoryQuerySet.for_listing``):
    for stories chosen otherwise than a listing's (search results)."""
    story_id = f'"{Story._meta.db_table}"."id"'
    return stories.annotate(
        shown_country_ids=RawSQL(_tag_ids(StoryCountry._meta.db_table, "country_id", story_id), ()),
        shown_topic_ids=RawSQL(_tag_ids(StoryTopic._meta.db_table, "topic_id", story_id), ()),
    )


def read_tags(
    stories: list[Story], countries: Mapping[int, Country], topics: Mapping[int, Topic]
) -> None:
    """Each story's ``tag_countries`` and ``tag_topics`` from the ids ``with_tag_ids`` read,
    and its primary country from ``countries``."""
    for story in stories:
        primary = countries.get(story.primary_country_id)  # type: ignore[arg-type]
        if primary is not None:
            story.primary_country = primary
        ids = story.shown_country_ids  # type: ignore[attr-defined]
        story.tag_countries = [countries[i] for i in _ids(ids) if i in countries]
        story.tag_topics = [
            topics[i]
            for i in _ids(story.shown_topic_ids)  # type: ignore[attr-defined]
            if i in topics
        ]


def _fetch(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# StoryQuerySet.visible(), spelled as the partial indexes' conditions so that they apply.
_VISIBLE = "NOT s.is_hidden AND s.canonical_id IS NULL"


def stories_of(
    rows: list[tuple],
    columns: Columns,
    countries: Mapping[int, Country],
    topics: Mapping[int, Topic],
) -> list[Story]:
    """``Story`` instances, each with its ``Source``, from rows of ``columns.select()``."""
    sources: dict[int, Source] = {}
    stories = []
    width, source_width = len(columns.story), len(columns.source)
    for row in rows:
        story = columns.story.make(row[:width])
        source_values = row[width : width + source_width]
        source = sources.get(source_values[0])  # its id: the first field
        if source is None:
            source = columns.source.make(source_values)
            sources[source.pk] = source
        story.source = source  # sets source_id too
        primary = countries.get(story.primary_country_id)
        if primary is not None:
            story.primary_country = primary
        country_ids, topic_ids = row[width + source_width : width + source_width + 2]
        story.tag_countries = [countries[i] for i in _ids(country_ids) if i in countries]
        story.tag_topics = [topics[i] for i in _ids(topic_ids) if i in topics]
        stories.append(story)
    return stories


def _apply(functions: list, expression: object) -> Callable[[object], object]:
    def convert(value: object) -> object:
        for function in functions:
            value = function(value, expression, connection)
        return value

    return convert
