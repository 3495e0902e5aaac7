"""Coordinates one feed's fetch → parse → store → tag, and records the outcome on the feed.

The only entry points are ``fetch_and_store`` (a poll) and ``store_parsed`` (bytes we already
have, e.g. the bundled sample feeds). Stories, their tags and the feed's validators are
written in ONE transaction, so a crash can never leave an ETag that hides unstored stories.
What to write is decided without the database (``decide``); claiming is ``leases``, linking
copies across outlets ``copies``, the INSERT ``stories``. The follow-up of a fetch (page
cache, WebSub, related boxes) is queued by the caller, ``feeds.tasks.after_fetch``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from feeds.bulk import relax_commit
from feeds.columns import TooLong, cut, fit, width
from feeds.entities import store as entities
from feeds.ingest import scheduling
from feeds.ingest.copies import link_copies
from feeds.ingest.decide import REISSUE_WINDOW, Incoming, Known, decide
from feeds.ingest.fetching import FetchError, fetch
from feeds.ingest.leases import claim, release, update_feed
from feeds.ingest.parsing import parse_feed
from feeds.ingest.stories import insert_stories
from feeds.models import SAMPLE_LOADED, Feed, FetchLog, Story
from feeds.related import boxes
from feeds.search import set_search_vector
from feeds.tagging.store import TEXT_LIMIT, Vocabulary, apply_tags, pretag, vocabulary
from feeds.text import keys
from feeds.text.boilerplate import story_kind
from feeds.text.sanitizing import leading_text
from feeds.types import FetchResult, ParsedEntry, ParsedFeed

__all__ = ["FeedRunResult", "claim", "fetch_and_store", "record_failure", "release", "store_parsed"]

logger = logging.getLogger(__name__)

# A date later than this past "now" is a publisher's clock or typo, not news from the future.
FUTURE_SKEW = timedelta(minutes=10)
# A date before this is a publisher's bug (the epoch, year 1), not news: and date arithmetic on
# it (the copy search's window, published - 2 days) would overflow and fail the whole feed.
PAST_FLOOR = datetime(1990, 1, 1, tzinfo=UTC)
# How far back an item under a new guid is looked for by its headline and opening words.
RECENT = timedelta(days=14)
# An entry is refused rather than stored without these; the others may be dropped or cut.
_REQUIRED = frozenset({"guid", "title"})
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


# --- the poll -------------------------------------------------------------------------------


def fetch_and_store(feed_id: int, *, force: bool = False) -> FeedRunResult:
    """Poll one feed if it is due (or ``force``), store what is new, schedule the next poll.

    Whatever goes wrong in the run is recorded on the feed (status, error, a FetchLog) and
    backs it off: a fetch error, and just as much any exception of ours, so that no input
    can make a feed fail unseen and be polled again at once. Only a lost database
    connection is left to the caller (the task retries it), with the lease released.
    """
    feed = claim(feed_id, force=force)
    if feed is None:
        return FeedRunResult(feed_id, "skipped")
    started = time.monotonic()
    try:
        return _run(feed, started)
    except FetchError as exc:
        return record_failure(feed, exc, started)
    except (OperationalError, InterfaceError):
        release(feed_id)
        raise
    except Exception as exc:
        logger.exception("feed %s (%s): the run failed", feed.pk, feed.url)
        return record_failure(feed, RunError(exc), started)


class RunError(FetchError):
    """An exception of ours in a feed's run (parsing, storing, tagging): a failure of the
    run like a fetch error, named by its type so that a repeat is recognised."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.exception = exc


def _run(feed: Feed, started: float) -> FeedRunResult:
    result = fetch(
        feed.url,
        etag=feed.etag,
        last_modified=feed.last_modified,
        total_timeout=settings.FEEDS_FETCH_TIMEOUT,
        max_bytes=settings.FEEDS_MAX_BYTES,
    )
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
        raise FetchError(f"not a usable feed: {parsed.bozo_reason or 'no entries'}")
    return store_parsed(feed, parsed, result=result, checksum=checksum, started=started)


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
    update_feed(
        feed.pk,
        last_fetched_at=now,
        last_success_at=now,
        last_status=label,
        last_error="",
        consecutive_failures=0,
        unfinished_runs=0,
        next_fetch_at=now + delay,
        lease_until=None,
        etag=_fitting(Feed, "etag", result.etag) or feed.etag,
        last_modified=_fitting(Feed, "last_modified", result.last_modified) or feed.last_modified,
        **_moved(feed, result.permanent_url),
    )


def record_failure(feed: Feed, exc: FetchError, started: float) -> FeedRunResult:
    """Back off exponentially (never give up), except 410 Gone, which deactivates."""
    now = timezone.now()
    failures = feed.consecutive_failures + 1
    gone = bool(exc.gone)
    status = f"HTTP {exc.status}" if exc.status else "error"
    if feed.last_success_at is None and feed.last_status.startswith(SAMPLE_LOADED):
        # The offline demo: the feed shows the bundled sample; the reason is in last_error.
        status = SAMPLE_LOADED
    error = exc.reason or str(exc)
    updates: dict[str, object] = {
        "last_fetched_at": now,
        "last_status": cut(Feed, "last_status", status),
        "last_error": cut(Feed, "last_error", error),
        "consecutive_failures": failures,
        "unfinished_runs": 0,
        "next_fetch_at": now + scheduling.failure_delay(failures, retry_after=exc.retry_after),
        "lease_until": None,
    }
    if gone:
        updates["is_active"] = False
        updates["deactivated_reason"] = f"410 Gone at {now:%Y-%m-%d %H:%M} UTC"
    elif _poisoned(feed, exc, failures):
        # Our own code fails on this feed's input the same way every time: backing off would
        # only repeat it. An editor re-activates the feed once it is fixed.
        updates["is_active"] = False
        updates["deactivated_reason"] = cut(
            Feed,
            "deactivated_reason",
            f"quarantined at {now:%Y-%m-%d %H:%M} UTC after {failures} failures in a row "
            f"with the same error: {error}",
        )
    updates.update(_moved(feed, exc.permanent_url))
    with transaction.atomic():
        Feed.objects.filter(pk=feed.pk).update(**updates)
        FetchLog.objects.create(
            feed=feed,
            status=cut(FetchLog, "status", status),
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    logger.warning("feed %s (%s) failed: %s", feed.pk, feed.url, error)
    return FeedRunResult(feed.pk, "gone" if gone else "failed", error=str(updates["last_error"]))


def _poisoned(feed: Feed, exc: FetchError, failures: int) -> bool:
    """An exception of ours (not a fetch error: a server may come back) of the same type as
    the last run's, for the ``FEEDS_QUARANTINE_AFTER``-th time in a row."""
    return (
        isinstance(exc, RunError)
        and failures >= settings.FEEDS_QUARANTINE_AFTER
        and feed.last_status == "error"
        and feed.last_error.partition(":")[0] == exc.reason.partition(":")[0]
    )


def _fitting(model: type[Feed], name: str, value: str) -> str:
    """``value`` if it fits its column, else "" (an identifier must not be cut)."""
    limit = width(model, name)
    return value if limit is None or len(value) <= limit else ""


def _moved(feed: Feed, permanent_url: str | None) -> dict[str, object]:
    """A 301/308 moves the feed, unless another feed already polls the new address, or the
    address does not fit the column (the feed then stays where it was)."""
    if not permanent_url or permanent_url == feed.url:
        return {}
    if not _fitting(Feed, "url", permanent_url):
        logger.warning("feed %s: not moved to a %d-character URL", feed.pk, len(permanent_url))
        return {}
    if Feed.objects.filter(url=permanent_url).exclude(pk=feed.pk).exists():
        reason = f"moved to {permanent_url}, which another feed already polls"
        return {"is_active": False, "deactivated_reason": cut(Feed, "deactivated_reason", reason)}
    return {"url": permanent_url}


# --- storing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """One entry ready to store: the story's column values and its opening text (read by the
    keys and the tagger alike, so HTML becomes text once)."""

    entry: ParsedEntry
    values: dict[str, object]
    lead: str
    notes: tuple[str, ...] = ()  # values dropped or cut to fit their columns

    def incoming(self, now: datetime) -> Incoming:
        v = self.values
        return Incoming(
            guid=self.entry.guid,
            link=str(v["link"]),
            title_key=str(v["title_key"]),
            lead_key=str(v["lead_key"]),
            content_hash=str(v["content_hash"]),
            published=_published(v["source_published_at"], now),
            alias=_alias(self.entry, str(v["title_key"])) if self.entry.guid_is_link else "",
        )


def _alias(entry: ParsedEntry, title_key: str) -> str:
    """The identity of an entry without a guid whose link is an earlier item's: its link and
    its date, which a corrected headline keeps (its headline when it is undated)."""
    when = entry.published.isoformat() if entry.published else ""
    material = "\x1f".join((entry.guid, when, "" if when else title_key))
    return "link+date:" + hashlib.sha256(material.encode("utf-8", "replace")).hexdigest()


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
        relax_commit()
        # Read once, and only if a story is new or changed (a re-sent feed often has none).
        vocab = functools.cache(vocabulary)
        notes: list[str] = []
        if entries:
            entities.prepare()  # the tagger must know the current entity names
        created, updated, leads, stored = _upsert(feed, entries, now, vocab, notes)
        changed = created + updated
        if created:
            link_copies(created)
        if changed:
            tags: dict = {}
            apply_tags(changed, vocab(), leads=leads.by_id, pretagged=leads.pretagged, results=tags)
            entities.link_stories(changed, tags, new=(s.pk for s in created))
            boxes.store_outlet_boxes(changed, stored, vocab().countries)
            boxes.resolve_outlet_lines(created)
        _record_success(
            feed, parsed, result, checksum, now, len(created), len(updated), started, notes
        )
    for note in notes:
        logger.warning("feed %s: %s", feed.pk, note)
    return FeedRunResult(
        feed.pk,
        "ok",
        created=len(created),
        updated=len(updated),
        new_story_ids=[s.pk for s in created],
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


@dataclass
class _Tagging:
    """What the tagger gets beside the stories: their opening texts, and the tags new
    stories were given before their INSERT, by story id."""

    by_id: dict[int, str] = field(default_factory=dict)
    pretagged: dict = field(default_factory=dict)


def _upsert(
    feed: Feed,
    entries: list[ParsedEntry],
    now: datetime,
    vocab: Callable[[], Vocabulary],
    notes: list[str],
) -> tuple[list[Story], list[Story], _Tagging, list[ParsedEntry]]:
    """Store the entries; ``notes`` gets what had to be refused, dropped or cut. Returns the
    stories created and updated, and the stored entries under their stories' guids."""
    prepared = []
    for entry in entries:
        try:
            prepared.append(_prepare(entry, now))
        except TooLong as exc:
            notes.append(f"entry {entry.guid[:200]!r} refused: {exc}")
            continue
        notes.extend(f"entry {entry.guid[:200]!r}: {n}" for n in prepared[-1].notes)
    incoming = [p.incoming(now) for p in prepared]
    known = _known(feed, incoming, now)
    plan = decide(incoming, (_as_known(s) for s in known.values()))
    # The entries under the identities their stories have (an alias, see decide.Incoming).
    stored = [replace(p.entry, guid=guid) for p, guid in zip(prepared, plan.guids, strict=True)]
    tagging = _Tagging()

    updated: list[Story] = []
    for i, pk in plan.update:
        item, story = prepared[i], known[pk]
        for name, value in item.values.items():
            setattr(story, name, value)
        story.guid = plan.guids[i]
        story.last_seen_at = now
        story.published_at = _published(item.values["source_published_at"], story.first_seen_at)
        set_search_vector(story)
        story.save()
        story.source = feed.source  # for the tagger, without a query per story
        tagging.by_id[story.pk] = item.lead
        updated.append(story)

    created = [
        Story(
            feed=feed,
            source=feed.source,
            guid=plan.guids[i],
            first_seen_at=now,
            last_seen_at=now,
            published_at=_published(prepared[i].values["source_published_at"], now),
            **prepared[i].values,
        )
        for i in plan.create
    ]
    if created:
        leads = [prepared[i].lead for i in plan.create]
        results = pretag(created, leads, vocab())
        # An IntegrityError here means a lease expired mid-run and another worker stored the
        # same entries: the caller's transaction rolls back and the task is retried.
        insert_stories(created)
        for story, lead, tags in zip(created, leads, results, strict=True):
            tagging.by_id[story.pk] = lead
            tagging.pretagged[story.pk] = tags
    return created, updated, tagging, stored


def _known(feed: Feed, incoming: Sequence[Incoming], now: datetime) -> dict[int, Story]:
    """The feed's stories that an incoming entry might be, by id, in one query: under the
    same guid, or dated within ``REISSUE_WINDOW`` of an entry and at the same link, under the
    same (recent) headline, or with a guid or link equal to an entry's link or guid
    (``decide.is_reissue`` says which are). A changed feed is mostly stories we already have:
    their content hashes are compared without reading their bodies back (an update sets every
    field anyway)."""
    guids = [e.guid for e in incoming]
    links = {e.link for e in incoming} - {""}
    url_keys = {
        keys.url_key(u) for u in links | {g for g in guids if g.startswith(("http:", "https:"))}
    } - {""}
    title_keys = {e.title_key for e in incoming if e.lead_key} - {""}
    reissued = Q(url_key__in=url_keys) | Q(guid__in=links)
    if title_keys:
        reissued |= Q(title_key__in=title_keys, first_seen_at__gte=now - RECENT)
    # A show page's link is every episode's: only those dated near an entry can be it.
    dates = [e.published for e in incoming if e.published]
    if dates:
        reissued &= Q(
            published_at__range=(min(dates) - REISSUE_WINDOW, max(dates) + REISSUE_WINDOW)
        )
    query = Q(guid__in=guids + [e.alias for e in incoming if e.alias]) | reissued
    return {s.pk: s for s in Story.objects.filter(feed=feed).filter(query).defer(*_UNREAD)}


def _as_known(story: Story) -> Known:
    return Known(
        pk=story.pk,
        guid=story.guid,
        link=story.link,
        title_key=story.title_key,
        lead_key=story.lead_key,
        content_hash=story.content_hash,
        published=story.published_at,
    )


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


def _prepare(entry: ParsedEntry, now: datetime) -> _Prepared:
    lead = leading_text(entry.summary_html or entry.content_html, TEXT_LIMIT, clean=True)
    source_published = entry.published or entry.updated
    values: dict[str, object] = {
        "link": entry.link,
        "title": entry.title or "(untitled)",
        "summary": entry.summary_html,
        "content": entry.content_html,
        "raw_content": entry.raw_html,
        "byline": entry.byline,
        "author": entry.author,
        "original_outlet": entry.original_outlet,
        "image_url": entry.image_url,
        "image_caption": entry.image_caption,
        "image_credit": entry.image_credit,
        "language": entry.language,
        "categories": list(entry.categories),
        "kind": story_kind(entry.title, entry.categories, entry.link),
        "source_published_at": source_published,
        "source_updated_at": entry.updated,
        "title_key": keys.title_key(entry.title),
        "url_key": keys.url_key(entry.link),
        "lead_key": keys.lead_key(lead, byline=(entry.author, entry.original_outlet)),
        "content_hash": _content_hash(entry),
    }
    # Every string checked against its column: a required one that does not fit rejects
    # this entry alone (TooLong), an optional one is dropped or cut, and the feed is kept.
    fitted, notes = fit(Story, values, required=_REQUIRED)
    return _Prepared(entry, fitted, lead, tuple(notes))


def _published(source_published: object, first_seen: datetime) -> datetime:
    """Never after we first saw it: a story dated next year must not top the home page; a
    story dated before the web had news feeds is dated as an undated one."""
    if not isinstance(source_published, datetime):
        return first_seen
    if source_published > first_seen + FUTURE_SKEW or source_published < PAST_FLOOR:
        return first_seen
    return source_published


def _record_success(
    feed: Feed,
    parsed: ParsedFeed,
    result: FetchResult | None,
    checksum: str,
    now: datetime,
    created: int,
    updated: int,
    started: float,
    notes: Sequence[str] = (),
) -> None:
    dates = [e.published for e in parsed.entries if e.published and e.published <= now]
    interval = scheduling.publish_interval(dates)
    updates: dict[str, object] = {
        "title": parsed.title or feed.title,
        "hub_url": parsed.hub_url if parsed.hub_url.startswith("http") else "",
        "lease_until": None,
    }
    if interval:
        updates["publish_interval_minutes"] = max(int(interval.total_seconds() // 60), 1)
    if result is not None:
        status = f"200 ok, {created} new, {updated} updated"
        if parsed.bozo:
            status += f" (bozo: {parsed.bozo_reason[:80]})"
        if notes:
            status += f", {len(notes)} value(s) refused, dropped or cut"
        updates.update(
            etag=result.etag,
            last_modified=result.last_modified,
            checksum=checksum,
            last_fetched_at=now,
            last_success_at=now,
            last_status=status,
            last_error="",
            consecutive_failures=0,
            unfinished_runs=0,
            next_fetch_at=now
            + scheduling.next_success_delay(
                item_dates=dates,
                ttl_minutes=parsed.ttl_minutes,
                update_period_minutes=parsed.update_period_minutes,
                headers=result.headers,
            ),
            **_moved(feed, result.permanent_url),
        )
    updates, feed_notes = fit(Feed, updates, exact={"etag", "last_modified"})
    notes = [*notes, *(f"feed: {n}" for n in feed_notes)]
    if result is not None:
        errors = ([parsed.bozo_reason] if parsed.bozo else []) + notes
        FetchLog.objects.create(
            feed=feed,
            status="200",
            created=created,
            updated=updated,
            duration_ms=int((time.monotonic() - started) * 1000),
            error="\n".join(errors),
        )
    Feed.objects.filter(pk=feed.pk).update(**updates)
