"""Celery tasks: thin, named, taking ids, each one call into a plain function; and ALL the
follow-up after a fetch, queued from one place (``after_fetch``).

Safe under late acknowledgement because every task is idempotent: fetches claim the feed
with a conditional UPDATE, and storing is an upsert on (feed, guid).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from feeds.digest import drafting, mailing
from feeds.generation import bump_listings
from feeds.ingest import images, leases
from feeds.ingest import pipeline as ingest
from feeds.models import Digest, Feed, Story
from feeds.related import boxes
from feeds.storylines import assign as storylines

logger = logging.getLogger(__name__)

# Only errors that a retry can cure: a database restart or a dropped connection.
TRANSIENT = (OperationalError, InterfaceError)


def retried_task(name: str, *, max_retries: int = 5, **options: Any) -> Any:
    """An idempotent task, acknowledged once done, retried with backoff on TRANSIENT errors
    (``options``: Celery's, added or overriding these)."""
    return shared_task(
        **{
            "name": name,
            "ignore_result": True,
            "acks_late": True,
            "autoretry_for": TRANSIENT,
            "retry_backoff": True,
            "max_retries": max_retries,
            **options,
        }
    )


def after_fetch(result: ingest.FeedRunResult, *, suggest: bool = True) -> None:
    """Everything a fetch that changed stories sets off, once its transaction commits:
    the pages and feeds they can appear on are rebuilt (their listings' generations: home,
    /feed/, their countries, topics, source and story pages; no other page), the WebSub hub is
    pinged, and (``suggest``) their related boxes are suggested and refreshed in a task.

    Callers that suggest boxes themselves, in-process (the management commands, the admin's
    "fetch now"), pass ``suggest=False``.
    """
    ids = list(result.changed_story_ids)
    if not ids:
        return

    def queue() -> None:
        bump_listings(Story.objects.filter(pk__in=ids).listed_on())
        if settings.WEBSUB_HUB_URL:
            publish_websub.delay(ids)
        if suggest:
            suggest_related.delay(ids)
            fetch_images.delay(ids)  # in-process callers store images themselves

    transaction.on_commit(queue)


def run_feed(feed_id: int, *, force: bool = False, suggest: bool = True) -> ingest.FeedRunResult:
    """Poll one feed (``pipeline.fetch_and_store``) and queue its follow-up."""
    result = ingest.fetch_and_store(feed_id, force=force)
    after_fetch(result, suggest=suggest)
    return result


def enrich(story_ids: Sequence[int]) -> int:
    """Place changed stories in storylines, then suggest their related boxes and refresh
    recent boxes they may improve; a changed story now marked a newsletter or podcast leaves
    every box it was in. Storylines first: a box never shows two stories of one storyline,
    so it must know the new story's."""
    ids = list(story_ids)
    storylines_joined(storylines.assign(ids))
    withdrawn = boxes.withdraw_roundups(ids)  # refreshes the boxes it changes
    return (
        len(withdrawn)
        + boxes.refresh_boxes(ids)
        + boxes.refresh_boxes(boxes.boxes_affected_by(ids))
    )


def storylines_joined(placed: Sequence[storylines.Placed]) -> None:
    """What stories joining storylines sets off, once committed: the pages that show them
    are rebuilt (after_fetch bumped them before the stories had a storyline) and the WebSub
    hub is pinged for the storylines' feeds."""
    if not placed:
        return
    joined = sorted({p.storyline_id for p in placed})
    stories = sorted({p.story_id for p in placed})

    def queue() -> None:
        bump_listings({"story": stories})
        if settings.WEBSUB_HUB_URL:
            publish_storylines.delay(joined, stories)

    transaction.on_commit(queue)


@shared_task(name="feeds.enqueue_due_feeds", ignore_result=True, acks_late=True)
def enqueue_due_feeds(limit: int = 500) -> int:
    """Beat fans out one fetch per due feed. The database, not Redis, knows what is due."""
    ids = list(Feed.objects.due().order_by("next_fetch_at").values_list("id", flat=True)[:limit])
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    # Suggestions whose task a broker restart lost: stories still without a box attempt.
    stale = timezone.now() - timedelta(minutes=2)
    pending = list(
        Story.objects.visible()
        .filter(related_suggested_at__isnull=True, related_locked=False, first_seen_at__lt=stale)
        .values_list("id", flat=True)[:100]
    )
    if pending:
        suggest_related.delay(pending)
    # Boxes with a line to a story since hidden or merged, or older than their window.
    stale_boxes = boxes.stale_boxes()
    if stale_boxes:
        refresh_related.delay(stale_boxes)
    return len(ids)


@retried_task(
    "feeds.fetch_feed",
    max_retries=8,
    reject_on_worker_lost=True,
    retry_backoff_max=300,
    retry_jitter=True,
)
def fetch_feed(feed_id: int, force: bool = False) -> str:
    try:
        result = run_feed(feed_id, force=force)
    except Feed.DoesNotExist:
        return "gone"
    except TRANSIENT:
        leases.release(feed_id)
        raise
    return result.status


@retried_task("feeds.suggest_related")
def suggest_related(story_ids: list[int]) -> int:
    return enrich(story_ids)


@retried_task("feeds.refresh_related")
def refresh_related(story_ids: list[int]) -> int:
    """Re-suggest these boxes (no cascade to similar boxes: nothing new was published)."""
    return boxes.refresh_boxes(story_ids)


@retried_task("feeds.fetch_images", max_retries=3)
def fetch_images(story_ids: list[int]) -> int:
    return images.store_images(story_ids)


@shared_task(name="feeds.publish_websub", ignore_result=True, acks_late=True)
def publish_websub(story_ids: list[int]) -> int:
    """Ping the WebSub hub for the feeds these stories changed (best effort)."""
    from feeds.syndication.websub import publish_changes

    return len(publish_changes(story_ids))


@shared_task(name="feeds.publish_storylines", ignore_result=True, acks_late=True)
def publish_storylines(storyline_ids: list[int], story_ids: list[int]) -> int:
    """Ping the WebSub hub for the feeds of storylines stories just joined (best effort)."""
    from feeds.syndication.websub import publish_storylines

    return len(publish_storylines(storyline_ids, story_ids))


# --- The weekly digest ------------------------------------------------------------------------


@retried_task("feeds.draft_weekly_digest")
def draft_weekly_digest() -> int:
    """Beat, daily: the draft of the newest complete ISO week, made once (idempotent)."""
    return drafting.draft_last_week().digest.pk


@shared_task(name="feeds.send_approved_digests", ignore_result=True, acks_late=True)
def send_approved_digests() -> int:
    """Beat: queue the mailing of every newly approved digest, and the WebSub ping of the
    digest's feeds (they advertise the hub, and subscribers of the feed are owed the same
    push as those of the email). Queued before it is marked, so a crash in between queues it
    twice at worst, and the send records dedupe that."""
    ids = mailing.digests_to_mail()
    for digest_id in ids:
        send_digest.delay(digest_id)
        mailing.mark_queued(digest_id)
    if ids and settings.WEBSUB_HUB_URL:
        publish_digest_feeds.delay()
    return len(ids)


@shared_task(name="feeds.publish_digest_feeds", ignore_result=True, acks_late=True)
def publish_digest_feeds() -> int:
    """Ping the WebSub hub for the digest's feeds (best effort)."""
    from feeds.syndication.websub import publish_listing

    return len(publish_listing("digest"))


@retried_task("feeds.send_digest")
def send_digest(digest_id: int) -> int:
    """Fan a published digest's mailing out in batches of subscribers not yet mailed."""
    planned = mailing.batches(Digest.objects.get(pk=digest_id))
    for batch in planned:
        send_digest_batch.delay(digest_id, batch)
    return len(planned)


@retried_task(
    "feeds.send_digest_batch",
    max_retries=8,
    reject_on_worker_lost=True,
    autoretry_for=(*TRANSIENT, OSError, smtplib.SMTPException),
    retry_backoff_max=600,
)
def send_digest_batch(digest_id: int, subscriber_ids: list[int]) -> int:
    """Record, send, mark, per subscriber (``mailing.send_batch``): a redelivered or retried
    batch skips every subscriber already recorded."""
    return mailing.send_batch(digest_id, subscriber_ids).sent
