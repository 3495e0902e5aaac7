"""Build a large synthetic archive for demos and benchmarks: ``manage.py seed_demo --stories N``.

PostgreSQL only, into an empty archive (``--replace`` empties it first). The rows come from
``feeds.ingest.demo`` and go in with COPY, in one transaction: the tables' secondary indexes
and their unique and foreign-key constraints are dropped first and rebuilt at the end (one
sort per index and one join per constraint instead of a lookup per row), then the tables are
analysed. Search vectors are written with the rows: each shared body's vector is computed
once and concatenated to the story's own, so the vectors equal what ``search.update_search_vectors``
builds (the same lexemes and weights) without ``to_tsvector`` over every body; so are the
related box's stored terms and profiles (``feeds.related.profiles.stored_columns``).
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from feeds import generation
from feeds.ingest.demo import Batch, Body, Generator, Outlet
from feeds.ingest.samples import default_sources, install_default_sources
from feeds.models import (
    Country,
    Feed,
    RelatedChange,
    RelatedSlot,
    Story,
    StoryCountry,
    StoryTopic,
    Topic,
)
from feeds.related import profiles as related
from feeds.search import config_for

T = TypeVar("T")
TABLES = [m._meta.db_table for m in (Story, StoryCountry, StoryTopic, RelatedSlot)]
STORY_COLUMNS = (
    "id, feed_id, source_id, guid, link, title, summary, original_outlet, language, "
    "categories, published_at, first_seen_at, content_hash, title_key, url_key, lead_key, "
    "is_hidden, canonical_id, primary_country_id, tagged_at, related_suggested_at, "
    "body, config, related_terms, related_profile"
)
TAG_COLUMNS = "story_id, {kind}_id, origin, rejected, score, changed_at, reason"
SLOT_COLUMNS = (
    "story_id, country_id, position, target_id, external_url, external_headline, "
    "external_outlet, external_key, origin, pinned, score, changed_at"
)
# The content is the lead and a pool body; its vector the lead's and the body's, joined (the
# body's vector is weighted C already).
INSERT_STORIES = """
INSERT INTO feeds_story (
    id, feed_id, source_id, guid, link, title, summary, content, raw_content, byline, author,
    original_outlet, image_url, image_caption, image_credit, language, categories,
    published_at, source_published_at, first_seen_at, last_seen_at, content_hash, title_key,
    url_key, lead_key, is_hidden, canonical_id, primary_country_id, primary_set_by_editor,
    tagged_at, tag_basis, related_locked, related_suggested_at, image_file, image_source, kind,
    search_vector, related_terms, related_profile)
SELECT s.id, s.feed_id, s.source_id, s.guid, s.link, s.title, s.summary, v.content, v.content, '',
    '', s.original_outlet, '', '', '', s.language, s.categories::jsonb, s.published_at,
    s.published_at, s.first_seen_at, s.first_seen_at, s.content_hash, s.title_key, s.url_key,
    s.lead_key, s.is_hidden, s.canonical_id, s.primary_country_id, false, s.tagged_at, '', false,
    s.related_suggested_at, '', '',
    -- About one item in fifty is a newsletter or a podcast, as in the outlets' real feeds.
    CASE s.id % 97 WHEN 0 THEN 'digest' WHEN 1 THEN 'podcast' ELSE 'story' END,
    setweight(to_tsvector(s.config::regconfig, s.title), 'A')
    || setweight(v.lead, 'B')
    || setweight(v.lead, 'C')
    || b.vector,
    s.related_terms::tsvector, s.related_profile
FROM demo_story s
JOIN demo_body b ON b.config = s.config AND b.id = s.body
CROSS JOIN LATERAL (
    SELECT to_tsvector(s.config::regconfig, s.summary) AS lead, s.summary || b.html AS content
) v
"""


def _text(value: object) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _buffer(rows: Iterable[Sequence[object]]) -> io.StringIO:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_text(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    return buffer


def _copy(cursor, table: str, columns: str, rows: Iterable[Sequence[object]]) -> None:
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", _buffer(rows))


def _ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced by a thread of their own while the caller works on earlier ones.

    The rows are made in Python and stored by the database: psycopg2 releases the GIL while
    it waits for the server, so the next batch is built during the current one's INSERT.
    """
    done = object()
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except Exception as error:  # noqa: BLE001 - raised again in the consuming thread
            failure.append(error)
        handoff.put(done)

    worker = threading.Thread(target=produce, name="seed_demo rows", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()


class Command(BaseCommand):
    help = (
        "Fill an empty PostgreSQL archive with N synthetic stories of the default outlets "
        "(ten years, tags, related boxes, copies, search vectors)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stories", type=int, required=True, help="how many stories")
        parser.add_argument(
            "--seed", type=int, default=2026, help="random seed (same seed, same archive)"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="DELETE every story first, with all that refers to one (tags, boxes, histories)",
        )

    def handle(self, *args, **options) -> None:
        count: int = options["stories"]
        if count < 1:
            raise CommandError("--stories must be at least 1")
        if connection.vendor != "postgresql":
            raise CommandError("seed_demo needs PostgreSQL (set DATABASE_URL)")
        have = Story.objects.count()
        if have and not options["replace"]:
            raise CommandError(
                f"the archive is not empty ({have} stories): seed_demo only fills an empty one. "
                "Use a fresh database, or --replace to delete every story first."
            )
        started = time.perf_counter()
        with transaction.atomic():
            if have:
                tables = [
                    m._meta.db_table
                    for m in (RelatedChange, RelatedSlot, StoryCountry, StoryTopic, Story)
                ]
                with connection.cursor() as cursor:
                    cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            install_default_sources()
            generator = Generator(
                outlets=self._outlets(),
                countries=dict(Country.objects.values_list("slug", "pk")),
                topics=dict(Topic.objects.values_list("slug", "pk")),
                stories=count,
                now=timezone.now(),
                seed=options["seed"],
                first_id=1,
            )
            self._load(generator, count, started)
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"VACUUM ANALYZE {table}")
        generation.bump_generation()
        self.stdout.write(f"{count} stories in {time.perf_counter() - started:.0f} s")

    def _outlets(self) -> list[Outlet]:
        order = [spec.feed_url for spec in default_sources()]
        feeds = Feed.objects.filter(url__in=order).select_related("source__country")
        by_url = {feed.url: feed for feed in feeds}
        return [
            Outlet(
                source_id=feed.source_id,
                feed_id=feed.pk,
                name=feed.source.name,
                homepage=feed.source.homepage,
                country=feed.source.country.slug if feed.source.country else "",
                language=feed.source.language,
            )
            for url in order
            if (feed := by_url.get(url)) is not None
        ]

    def _load(self, generator: Generator, count: int, started: float) -> None:
        progress: Callable[[str], None] = lambda what: self.stdout.write(  # noqa: E731
            f"  {time.perf_counter() - started:6.1f} s  {what}"
        )
        configs = sorted({config_for(o.language) for o in generator.outlets})
        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor  # psycopg2's, for COPY
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            # The outlets just created have deferred foreign-key checks pending, and a table
            # with pending checks cannot be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            rebuild = _drop_indexes_and_constraints(cursor, TABLES)
            cursor.execute(
                "CREATE TEMPORARY TABLE demo_body (config text, id int, html text, "
                "vector tsvector, PRIMARY KEY (config, id)) ON COMMIT DROP"
            )
            pool: list[Body] = generator.pool
            _copy(
                cursor,
                "demo_body",
                "config, id, html",
                ((config, b.id, b.html) for config in configs for b in pool),
            )
            cursor.execute(
                "UPDATE demo_body SET vector = setweight(to_tsvector(config::regconfig, html), 'C')"
            )
            cursor.execute("ANALYZE demo_body")
            cursor.execute(
                "CREATE TEMPORARY TABLE demo_story (id bigint, feed_id bigint, source_id bigint, "
                "guid text, link text, title text, summary text, original_outlet text, "
                "language text, categories text, published_at timestamptz, "
                "first_seen_at timestamptz, content_hash text, title_key text, url_key text, "
                "lead_key text, is_hidden boolean, canonical_id bigint, "
                "primary_country_id bigint, tagged_at timestamptz, "
                "related_suggested_at timestamptz, body int, config text, related_terms text, "
                "related_profile text) ON COMMIT DROP"
            )
            progress(f"{len(pool)} shared bodies")
            done, writing = 0, 0.0
            bodies = {b.id: b.html for b in pool}
            prepared = ((len(b.stories), self._prepare(b, bodies)) for b in generator.batches())
            for size, copies in _ahead(prepared):
                start = time.perf_counter()
                self._write(cursor, copies)
                writing += time.perf_counter() - start
                done += size
                if done % 100_000 < size or done == count:
                    progress(f"{done} stories ({writing:.0f} s of it writing)")
            for table in TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            for statement in rebuild:
                cursor.execute(statement)
            progress("indexes and constraints rebuilt")

    def _write(self, cursor, copies: list[tuple[str, str, io.StringIO]]) -> None:
        """Store one batch: its stories through the staging table, then their rows."""
        for table, columns, buffer in copies:
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
            if table == "demo_story":
                cursor.execute(INSERT_STORIES)
                cursor.execute("TRUNCATE demo_story")

    def _prepare(self, batch: Batch, bodies: dict[int, str]) -> list[tuple[str, str, io.StringIO]]:
        """One batch's rows as COPY text, table by table; each story with the related box's
        terms and profile of its text (the content is its lead and its pool body)."""
        stories = _buffer(
            (
                (
                    s.id,
                    s.feed_id,
                    s.source_id,
                    s.guid,
                    s.link,
                    s.title,
                    s.summary,
                    s.original_outlet,
                    s.language,
                    s.categories,
                    s.published_at,
                    s.first_seen_at,
                    s.content_hash,
                    s.title_key,
                    s.url_key,
                    s.lead_key,
                    s.is_hidden,
                    s.canonical_id,
                    s.primary_country_id,
                    s.tagged_at,
                    s.related_suggested_at,
                    s.body,
                    config_for(s.language),
                    *related.stored_columns(s.title, s.summary, s.summary + bodies[s.body]),
                )
                for s in batch.stories
            ),
        )
        copies = [("demo_story", STORY_COLUMNS, stories)]
        for table, kind, rows in (
            (StoryCountry._meta.db_table, "country", batch.countries),
            (StoryTopic._meta.db_table, "topic", batch.topics),
        ):
            tags = _buffer(
                (t.story_id, t.tag_id, t.origin, t.rejected, t.score, t.changed_at, "")
                for t in rows
            )
            copies.append((table, TAG_COLUMNS.format(kind=kind), tags))
        slots = _buffer(
            (
                (
                    r.story_id,
                    r.country_id,
                    r.position,
                    r.target_id,
                    r.external_url,
                    r.external_headline,
                    r.external_outlet,
                    r.external_key,
                    r.origin,
                    r.pinned,
                    r.score,
                    r.changed_at,
                )
                for r in batch.slots
            ),
        )
        copies.append((RelatedSlot._meta.db_table, SLOT_COLUMNS, slots))
        return copies


def _drop_indexes_and_constraints(cursor, tables: list[str]) -> list[str]:
    """Drop the tables' unique and foreign-key constraints and other non-primary indexes;
    return the statements that put them back (indexes first, then constraints)."""
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('u', 'f')
        ORDER BY c.contype DESC, c.conname
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in constraints
    ]
