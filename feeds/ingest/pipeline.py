"""Coordinates one feed's fetch → parse → store → tag, and records the outcome on the feed.

The only entry points are ``fetch_and_store`` (a poll) and ``store_parsed`` (bytes we already
have, e.g. the bundled sample feeds). Stories, their tags and the feed's validators are
written in ONE transaction, so a crash can never leave an ETag that hides unstored stories.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Q
from django.utils import timezone

from feeds.ingest import scheduling
from feeds.ingest.fetching import FetchError, fetch
from feeds.ingest.parsing import parse_feed
from feeds.models import Feed, FetchLog, Story
from feeds.related import boxes
from feeds.search import create_stories, set_search_vector
from feeds.tagging.store import TEXT_LIMIT, Vocabulary, apply_tags, pretag, vocabulary
from feeds.text import keys as dedupe
from feeds.text.sanitizing import leading_text
from feeds.types import FetchResult, ParsedEntry, ParsedFeed

logger = logging.getLogger(__name__)

# A date later than this past "now" is a publisher's clock or typo, not news from the future.
FUTURE_SKEW = timedelta(minutes=10)
DUPLICATE_WINDOW = timedelta(days=2)
# A feed's status while it shows the bundled sample feed because the real one is unreachable.
SAMPLE_LOADED = "sample loaded"
# Columns an upsert never reads back (the large ones): it overwrites them or leaves them be.
_UNREAD = ("summary", "content", "raw_content", "search_vector")


@dataclass
class FeedRunResult:
    feed_id: int
    status: str  # ok, not-modified, unchanged, failed, gone, skipped
    created: int = 0
    updated: int = 0
    error: str = ""
    new_story_ids: list[int] = field(default_factory=list)
    changed_story_ids: list[int] = field(default_factory=list)

    def line(self, feed: Feed | None = None) -> str:
        name = str(feed) if feed else f"feed {self.feed_id}"
        if self.status in {"failed", "gone"}:
            return f"{name}: {self.status}: {self.error}"
        if self.status == "ok":
            return f"{name}: ok, {self.created} new, {self.updated} updated"
        return f"{name}: {self.status}"


# --- claiming -------------------------------------------------------------------------------


def claim(feed_id: int, *, force: bool = False, now: datetime | None = None) -> Feed | None:
    """Take a short lease on a feed with one conditional UPDATE … RETURNING: the claimed feed,
    or None if someone else has it, it is not due (unless ``force``), or its host is busy.

    Duplicate task deliveries and two beats firing at once are harmless: only one claim wins,
    and a lease that outlives a killed worker simply expires. The row comes back with the
    claim because a 304 re-poll is little more than this and one more UPDATE.

    A host is busy while ``FEEDS_FETCHES_PER_HOST`` of its feeds hold a lease, counted across
    every worker (see ``_host_limit``). A feed skipped for that stays due, and the next beat
    enqueues it again.
    """
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.FEEDS_LEASE_SECONDS)
    # The connection once, not through the proxy at every use: a 304 poll is short.
    db = connections[DEFAULT_DB_ALIAS]
    reader = _row_reader(db.ops)
    with db.cursor() as cursor:
        cursor.execute(
            _relaxed_prefix(db) + _claim_sql(db.ops, force),
            {
                "lease": db.ops.adapt_datetimefield_value(lease),
                "id": feed_id,
                "now": db.ops.adapt_datetimefield_value(now),
                "per_host": settings.FEEDS_FETCHES_PER_HOST,
            },
        )
        row = cursor.fetchone()
    return None if row is None else reader.feed(row)


@functools.lru_cache(maxsize=32)
def _claim_sql(ops: BaseDatabaseOperations, force: bool) -> str:
    table = ops.quote_name(Feed._meta.db_table)
    due = "" if force else "AND next_fetch_at <= %(now)s"
    lock, host_free = _host_limit(ops.connection, table)
    return (
        f"{lock}UPDATE {table} SET lease_until = %(lease)s "
        f"WHERE id = %(id)s AND is_active AND (lease_until IS NULL OR lease_until < %(now)s) "
        f"{due} {host_free} RETURNING {_row_reader(ops).columns}"
    )


# The host of a feed URL, in SQL: scheme, optional userinfo, then a name or an [IPv6] literal.
_HOST_SQL = (
    r"lower(substring({} from '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]/]*\]|[^/:?#]*)'))"
)
# The first key of our advisory locks: a namespace, so that no other user of advisory locks
# in the same database can collide with a host's hash.
_HOST_LOCK_CLASS = 0x4E455753  # "NEWS"


def _host_limit(db: BaseDatabaseWrapper, table: str) -> tuple[str, str]:
    """SQL that makes a claim wait its turn for the host and fail while the host is busy:
    a statement to run before the UPDATE, and a condition for its WHERE clause.

    Each worker process fetches one feed at a time, so the per-process slots in ``fetching``
    do not bound what many workers send one host; the leases in PostgreSQL do. The advisory
    lock lasts only for the claim's own transaction: it serialises the count and the lease of
    claims for one host, so two workers cannot both take the last slot. On SQLite (the
    embedded default runs one task at a time) there is no limit to enforce.
    """
    if db.vendor != "postgresql":
        return "", ""
    lock = (
        f"SELECT pg_advisory_xact_lock({_HOST_LOCK_CLASS}, hashtext({_HOST_SQL.format('url')})) "
        f"FROM {table} WHERE id = %(id)s; "
    )
    busy = (
        f"AND (SELECT count(*) FROM {table} busy WHERE busy.lease_until >= %(now)s "
        f"AND {_HOST_SQL.format('busy.url')} = {_HOST_SQL.format(f'{table}.url')}) < %(per_host)s"
    )
    return lock, busy


@dataclass(frozen=True)
class _RowReader:
    """Turns a ``RETURNING`` row of every Feed column into a Feed, as a queryset would.

    ``Feed.objects.raw()`` does the same, but it works out the columns, their fields and their
    converters again for every query: that was a fifth of a 304 poll's Python time.
    """

    connection: BaseDatabaseWrapper
    columns: str
    attnames: list[str]
    converters: list[tuple[int, list[Callable], object]]

    def feed(self, row: Sequence[object]) -> Feed:
        values = list(row)
        for i, functions, expression in self.converters:
            for convert in functions:
                values[i] = convert(values[i], expression, self.connection)
        return Feed.from_db(self.connection.alias, self.attnames, values)


@functools.lru_cache(maxsize=16)
def _row_reader(ops: BaseDatabaseOperations) -> _RowReader:
    """One reader per database connection (each thread has its own): converters such as
    SQLite's datetime parsing are methods of that connection's operations."""
    db = ops.connection
    fields = Feed._meta.concrete_fields
    converters = []
    for i, f in enumerate(fields):
        column = f.get_col(Feed._meta.db_table)
        functions = ops.get_db_converters(column) + f.get_db_converters(db)
        if functions:
            converters.append((i, functions, column))
    return _RowReader(
        connection=db,
        columns=", ".join(ops.quote_name(f.column) for f in fields),
        attnames=[f.attname for f in fields],
        converters=converters,
    )


def _relaxed_prefix(db: BaseDatabaseWrapper) -> str:
    """A statement prefix that skips waiting for the WAL flush when this statement commits
    on its own (PostgreSQL, autocommit).

    For the claim and a 304's fetch state, losing the write in a database crash only means the
    feed is fetched again, so waiting for a disk flush after each of them (two per 304 poll)
    buys nothing. Several statements sent in one go run as one implicit transaction, so
    SET LOCAL covers exactly the statement that follows. Inside a caller's transaction nothing
    is relaxed: that commit is not ours to weaken.
    """
    if db.vendor == "postgresql" and not db.in_atomic_block:
        return "SET LOCAL synchronous_commit TO OFF; "
    return ""


def _update_feed(feed_id: int, **values: object) -> None:
    """``Feed.objects.filter(pk=…).update(…)`` with the commit relaxed as in ``_relaxed_prefix``."""
    db = connections[DEFAULT_DB_ALIAS]
    prefix = _relaxed_prefix(db)
    if not prefix:
        Feed.objects.filter(pk=feed_id).update(**values)
        return
    sql, fields = _feed_update(tuple(values))
    params = [f.get_db_prep_save(values[f.name], db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(prefix + sql, [*params, feed_id])


@functools.lru_cache(maxsize=64)
def _feed_update(names: tuple[str, ...]) -> tuple[str, list]:
    """The UPDATE of these Feed fields by id, and the fields: a 304 poll sends the same one."""
    fields = [Feed._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    return f"UPDATE {quote(Feed._meta.db_table)} SET {assignments} WHERE id = %s", fields


def release(feed_id: int) -> None:
    Feed.objects.filter(pk=feed_id).update(lease_until=None)


# --- the poll -------------------------------------------------------------------------------


def fetch_and_store(feed_id: int, *, force: bool = False) -> FeedRunResult:
    """Poll one feed if it is due (or ``force``), store what is new, schedule the next poll."""
    feed = claim(feed_id, force=force)
    if feed is None:
        return FeedRunResult(feed_id, "skipped")
    started = time.monotonic()
    try:
        result = fetch(
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            total_timeout=settings.FEEDS_FETCH_TIMEOUT,
            max_bytes=settings.FEEDS_MAX_BYTES,
        )
    except FetchError as exc:
        return record_failure(feed, exc, started)
    except Exception:
        # Whatever went wrong, the lease must not hold the feed hostage until it expires.
        release(feed_id)
        raise

    if result.not_modified:
        return _record_unchanged(feed, result, started, "not-modified", "304 not modified")
    checksum = hashlib.sha256(result.body or b"").hexdigest()
    if checksum == feed.checksum:
        return _record_unchanged(feed, result, started, "unchanged", "200 unchanged body")

    parsed = parse_feed(
        result.body or b"",
        url=result.url,
        headers=result.headers,
        max_entries=settings.FEEDS_MAX_ENTRIES,
    )
    if not parsed.entries and parsed.bozo:
        reason = f"not a usable feed: {parsed.bozo_reason or 'no entries'}"
        return record_failure(feed, FetchError(reason), started)

    try:
        run = store_parsed(feed, parsed, result=result, checksum=checksum, started=started)
    except Exception:
        release(feed_id)
        raise
    return run


def _record_unchanged(
    feed: Feed, result: FetchResult, started: float, status: str, label: str
) -> FeedRunResult:
    now = timezone.now()
    delay = scheduling.next_success_delay(
        headers=result.headers, previous_interval_minutes=feed.publish_interval_minutes
    )
    # A 304 costs no parsing and writes only the fetch state: one UPDATE, committed alone.
    _mark_unchanged(feed, result, now, delay, label)
    return FeedRunResult(feed.pk, status)


def _mark_unchanged(
    feed: Feed, result: FetchResult, now: datetime, delay: timedelta, label: str
) -> None:
    _update_feed(
        feed.pk,
        last_fetched_at=now,
        last_success_at=now,
        last_status=label,
        last_error="",
        consecutive_failures=0,
        next_fetch_at=now + delay,
        lease_until=None,
        etag=result.etag or feed.etag,
        last_modified=result.last_modified or feed.last_modified,
        **_moved(feed, result.permanent_url),
    )


def record_failure(feed: Feed, exc: FetchError, started: float) -> FeedRunResult:
    """Back off exponentially (never give up), except 410 Gone, which deactivates."""
    now = timezone.now()
    failures = feed.consecutive_failures + 1
    gone = bool(getattr(exc, "gone", False))
    status = f"HTTP {exc.status}" if getattr(exc, "status", None) else "error"
    if feed.last_success_at is None and feed.last_status.startswith(SAMPLE_LOADED):
        # The offline demo: the feed shows the bundled sample; the reason is in last_error.
        status = SAMPLE_LOADED
    updates = {
        "last_fetched_at": now,
        "last_status": status[:200],
        "last_error": exc.reason[:2000] if getattr(exc, "reason", "") else str(exc)[:2000],
        "consecutive_failures": failures,
        "next_fetch_at": now
        + scheduling.failure_delay(failures, retry_after=getattr(exc, "retry_after", None)),
        "lease_until": None,
    }
    if gone:
        updates["is_active"] = False
        updates["deactivated_reason"] = f"410 Gone at {now:%Y-%m-%d %H:%M} UTC"
    updates.update(_moved(feed, getattr(exc, "permanent_url", None)))
    with transaction.atomic():
        Feed.objects.filter(pk=feed.pk).update(**updates)
        FetchLog.objects.create(
            feed=feed,
            status=status[:200],
            error=updates["last_error"],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    logger.warning("feed %s (%s) failed: %s", feed.pk, feed.url, updates["last_error"])
    return FeedRunResult(feed.pk, "gone" if gone else "failed", error=updates["last_error"])


def _moved(feed: Feed, permanent_url: str | None) -> dict:
    """A 301/308 moves the feed, unless another feed already polls the new address."""
    if not permanent_url or permanent_url == feed.url:
        return {}
    if Feed.objects.filter(url=permanent_url).exclude(pk=feed.pk).exists():
        return {
            "is_active": False,
            "deactivated_reason": f"moved to {permanent_url}, which another feed already polls",
        }
    return {"url": permanent_url}


# --- storing ----------------------------------------------------------------------------------


def _relax_commit() -> None:
    """Skip waiting for the WAL flush at commit (PostgreSQL), for this transaction only.

    Safe here and only here: a fetch's stories and its validators commit together, so a
    transaction lost in a database crash just means the feed is fetched again; nothing that
    was acknowledged to anyone is lost. It saves a disk flush per feed.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _content_hash(entry: ParsedEntry) -> str:
    h = hashlib.sha256()
    for part in (
        entry.title,
        entry.link,
        entry.summary_html,
        entry.content_html,
        "\x1f".join(entry.categories),
        entry.byline,
        entry.image_url,
        entry.updated.isoformat() if entry.updated else "",
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


def _lead_text(entry: ParsedEntry) -> str:
    """The text a story opens with: the dedupe lead key and the tagger both read it."""
    return leading_text(entry.summary_html or entry.content_html, TEXT_LIMIT, clean=True)


def _fields(entry: ParsedEntry, now: datetime, plain: str) -> dict:
    source_published = entry.published or entry.updated
    return {
        "link": entry.link,
        "title": entry.title or "(untitled)",
        "summary": entry.summary_html,
        "content": entry.content_html,
        "raw_content": entry.raw_html,
        "byline": entry.byline[:500],
        "author": entry.author[:300],
        "original_outlet": entry.original_outlet[:300],
        "image_url": entry.image_url,
        "image_caption": entry.image_caption[:1000],
        "image_credit": entry.image_credit[:300],
        "language": entry.language[:16],
        "categories": list(entry.categories)[:50],
        "source_published_at": source_published,
        "source_updated_at": entry.updated,
        "title_key": dedupe.title_key(entry.title),
        "url_key": dedupe.url_key(entry.link),
        "lead_key": dedupe.lead_key(plain),
        "content_hash": _content_hash(entry),
    }


def _published(source_published: datetime | None, first_seen: datetime) -> datetime:
    """Never after we first saw it: a story dated next year must not top the home page."""
    if source_published is None or source_published > first_seen + FUTURE_SKEW:
        return first_seen
    return source_published


def store_parsed(
    feed: Feed,
    parsed: ParsedFeed,
    *,
    result: FetchResult | None = None,
    checksum: str = "",
    started: float | None = None,
    now: datetime | None = None,
) -> FeedRunResult:
    """Upsert a parsed feed's entries and the feed's fetch state in one transaction."""
    started = started if started is not None else time.monotonic()
    now = now or timezone.now()
    entries = _unique_entries(parsed.entries)
    with transaction.atomic():
        _relax_commit()
        # Read once, and only if a story is new or changed (a re-sent feed often has none).
        vocab = functools.cache(vocabulary)
        created, updated = _upsert(feed, entries, now, vocab)
        new_ids = [s.pk for s in created]
        changed = created + updated
        if created:
            link_copies(created)
        if changed:
            apply_tags(changed, vocab())
            boxes.store_outlet_boxes(changed, entries, vocab().countries)
            boxes.resolve_outlet_lines(created)
        _record_success(feed, parsed, result, checksum, now, len(created), len(updated), started)
    if changed:
        _after_change([s.pk for s in changed])
    return FeedRunResult(
        feed.pk,
        "ok",
        created=len(created),
        updated=len(updated),
        new_story_ids=new_ids,
        changed_story_ids=[s.pk for s in changed],
    )


def _unique_entries(entries: Sequence[ParsedEntry]) -> list[ParsedEntry]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.guid in seen:
            continue
        seen.add(entry.guid)
        unique.append(entry)
    return unique


def _upsert(
    feed: Feed, entries: list[ParsedEntry], now: datetime, vocab: Callable[[], Vocabulary]
) -> tuple[list, list]:
    # Turning HTML into text is one of the costlier steps per item; do it once and hand the
    # result to the tagger (tags.tag_input) on the story object.
    plains = {e.guid: _lead_text(e) for e in entries}
    fields = {e.guid: _fields(e, now, plains[e.guid]) for e in entries}
    # One query for the stories this feed already has under these guids, and for the same
    # items under a new guid: by link, or by headline within two weeks. A changed feed is
    # mostly stories we already have: compare their content hashes without reading their
    # bodies back (an update sets every field anyway).
    recent = now - timedelta(days=14)
    url_keys = {f["url_key"] for f in fields.values()} - {""}
    title_keys = {f["title_key"] for f in fields.values()} - {""}
    by_guid: dict[str, Story] = {}
    by_url: dict[str, Story] = {}
    by_title: dict[str, Story] = {}
    for story in (
        Story.objects.filter(feed=feed)
        .filter(
            Q(guid__in=list(fields))
            | Q(url_key__in=url_keys)
            | Q(title_key__in=title_keys, first_seen_at__gte=recent)
        )
        .defer(*_UNREAD)
    ):
        if story.guid in fields:
            by_guid[story.guid] = story
        if story.url_key:
            by_url.setdefault(story.url_key, story)
        if story.title_key and story.first_seen_at >= recent:
            by_title.setdefault(story.title_key, story)

    created: list[Story] = []
    updated: list[Story] = []
    claimed: set[int] = set()
    for entry in entries:
        values = fields[entry.guid]
        story = by_guid.get(entry.guid)
        if story is None:
            story = by_url.get(values["url_key"]) if values["url_key"] else None
            story = story or by_title.get(values["title_key"])
            if story is not None and (story.pk in claimed or story.guid in fields):
                story = None  # that row is another entry of this very fetch
        if story is None:
            first_seen = now
            created.append(
                Story(
                    feed=feed,
                    source=feed.source,
                    guid=entry.guid,
                    first_seen_at=first_seen,
                    last_seen_at=now,
                    published_at=_published(values["source_published_at"], first_seen),
                    **values,
                )
            )
            created[-1]._lead_text = plains[entry.guid]
            continue
        claimed.add(story.pk)
        if story.content_hash == values["content_hash"] and story.guid == entry.guid:
            continue  # identical: no write at all
        for name, value in values.items():
            setattr(story, name, value)
        story.guid = entry.guid
        story.last_seen_at = now
        story.published_at = _published(values["source_published_at"], story.first_seen_at)
        set_search_vector(story)
        story.save()
        story.source = feed.source  # for the tagger, without a query per story
        story._lead_text = plains[entry.guid]
        updated.append(story)
    if created:
        pretag(created, vocab())
        # An IntegrityError here means a lease expired mid-run and another worker stored the
        # same entries: the caller's transaction rolls back and the task is retried.
        create_stories(created)
    return created, updated


@dataclass
class _Near:
    """The few columns of an existing story that copy detection compares."""

    pk: int
    feed_id: int
    source_name: str
    title_key: str
    url_key: str
    lead_key: str
    published_at: datetime
    first_seen_at: datetime
    original_outlet: str


def _find_original(story: Story, near: dict[str, list[_Near]]) -> _Near | None:
    for kind, key, window in (
        ("url", story.url_key, DUPLICATE_WINDOW),
        ("title", story.title_key, DUPLICATE_WINDOW),
        ("lead", story.lead_key, timedelta(days=1)),
    ):
        for row in near.get(f"{kind}:{key}", ()) if key else ():
            if (
                row.feed_id != story.feed_id
                and row.pk != story.pk
                and abs(row.published_at - story.published_at) <= window
            ):
                return row
    return None


def link_copies(stories: Sequence[Story]) -> int:
    """Point new copies of an already-stored story at the original outlet's canonical story.

    One indexed query per batch: stories sharing a link, a normalised headline or the
    opening words with one of the new stories.
    """
    keys = {
        "url": {s.url_key for s in stories} - {""},
        "title": {s.title_key for s in stories} - {""},
        "lead": {s.lead_key for s in stories} - {""},
    }
    since = min(s.published_at for s in stories) - DUPLICATE_WINDOW
    until = max(s.published_at for s in stories) + DUPLICATE_WINDOW
    rows = (
        Story.objects.filter(canonical__isnull=True, published_at__range=(since, until))
        .filter(
            Q(url_key__in=keys["url"])
            | Q(title_key__in=keys["title"])
            | Q(lead_key__in=keys["lead"])
        )
        .exclude(feed_id__in={s.feed_id for s in stories})
        .order_by("published_at")
        .values_list(
            "id",
            "feed_id",
            "source__name",
            "title_key",
            "url_key",
            "lead_key",
            "published_at",
            "first_seen_at",
            "original_outlet",
        )
    )
    near: dict[str, list[_Near]] = defaultdict(list)
    for row in (_Near(*r) for r in rows):
        for kind, key in (("url", row.url_key), ("title", row.title_key), ("lead", row.lead_key)):
            if key:
                near[f"{kind}:{key}"].append(row)
    linked = 0
    for story in stories:
        match = _find_original(story, near)
        if match is None:
            continue
        if _is_copy_of(story, match):
            Story.objects.filter(pk=story.pk).update(canonical_id=match.pk)
            story.canonical_id = match.pk
        else:
            # The newcomer is the original: it takes over the old story's copies too.
            Story.objects.filter(Q(pk=match.pk) | Q(canonical_id=match.pk)).update(
                canonical_id=story.pk
            )
            for rows_ in near.values():
                rows_[:] = [r for r in rows_ if r.pk != match.pk]
        linked += 1
    return linked


def _is_copy_of(new: Story, old: _Near) -> bool:
    """The outlet named in a byline wrote it; otherwise whoever was first is the original."""
    if new.original_outlet and dedupe.same_outlet(new.original_outlet, old.source_name):
        return True
    if old.original_outlet and dedupe.same_outlet(old.original_outlet, new.source.name):
        return False
    return old.first_seen_at <= new.first_seen_at


def _record_success(
    feed: Feed,
    parsed: ParsedFeed,
    result: FetchResult | None,
    checksum: str,
    now: datetime,
    created: int,
    updated: int,
    started: float,
) -> None:
    dates = [e.published for e in parsed.entries if e.published and e.published <= now]
    interval = scheduling.publish_interval(dates)
    updates: dict = {
        "title": (parsed.title or feed.title)[:500],
        "hub_url": parsed.hub_url[:2000] if parsed.hub_url.startswith("http") else "",
        "lease_until": None,
    }
    if interval:
        updates["publish_interval_minutes"] = max(int(interval.total_seconds() // 60), 1)
    if result is not None:
        updates.update(
            etag=result.etag[:500],
            last_modified=result.last_modified[:100],
            checksum=checksum,
            last_fetched_at=now,
            last_success_at=now,
            last_status=f"200 ok, {created} new, {updated} updated"
            + (f" (bozo: {parsed.bozo_reason[:80]})" if parsed.bozo else ""),
            last_error="",
            consecutive_failures=0,
            next_fetch_at=now
            + scheduling.next_success_delay(
                item_dates=dates,
                ttl_minutes=parsed.ttl_minutes,
                update_period_minutes=parsed.update_period_minutes,
                headers=result.headers,
            ),
            **_moved(feed, result.permanent_url),
        )
        FetchLog.objects.create(
            feed=feed,
            status="200",
            created=created,
            updated=updated,
            duration_ms=int((time.monotonic() - started) * 1000),
            error=parsed.bozo_reason[:2000] if parsed.bozo else "",
        )
    Feed.objects.filter(pk=feed.pk).update(**updates)


def _after_change(story_ids: list[int]) -> None:
    """Once committed: pages and feeds showing these stories are rebuilt, and pushed."""
    from feeds.generation import bump_generation

    def publish() -> None:
        bump_generation()
        if settings.WEBSUB_HUB_URL:
            from feeds.tasks import publish_websub

            publish_websub.delay(story_ids)

    transaction.on_commit(publish)


def enrich(story_ids: Sequence[int]) -> int:
    """Suggest related boxes for changed stories and refresh recent boxes they may improve."""
    ids = list(story_ids)
    return boxes.refresh_boxes(ids) + boxes.refresh_boxes(boxes.boxes_affected_by(ids))
