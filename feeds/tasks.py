"""Celery tasks: thin, named, taking ids, each one call into a plain function.

Safe under late acknowledgement because every task is idempotent: fetches claim the feed
with a conditional UPDATE, and storing is an upsert on (feed, guid).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from feeds.ingest import pipeline as ingest
from feeds.models import Feed, Story
from feeds.related import boxes

logger = logging.getLogger(__name__)

# Only errors that a retry can cure: a database restart or a dropped connection.
TRANSIENT = (OperationalError, InterfaceError)


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


@shared_task(
    name="feeds.fetch_feed",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def fetch_feed(feed_id: int, force: bool = False) -> str:
    try:
        result = ingest.fetch_and_store(feed_id, force=force)
    except Feed.DoesNotExist:
        return "gone"
    except TRANSIENT:
        ingest.release(feed_id)
        raise
    if result.changed_story_ids:
        ids = result.changed_story_ids
        transaction.on_commit(lambda: suggest_related.delay(ids))
    return result.status


@shared_task(
    name="feeds.suggest_related",
    ignore_result=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def suggest_related(story_ids: list[int]) -> int:
    return ingest.enrich(story_ids)


@shared_task(
    name="feeds.refresh_related",
    ignore_result=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def refresh_related(story_ids: list[int]) -> int:
    """Re-suggest these boxes (no cascade to similar boxes: nothing new was published)."""
    return boxes.refresh_boxes(story_ids)


@shared_task(name="feeds.publish_websub", ignore_result=True, acks_late=True)
def publish_websub(story_ids: list[int]) -> int:
    """Ping the WebSub hub for the feeds these stories changed (best effort)."""
    from feeds.syndication.websub import publish_changes

    return len(publish_changes(story_ids))
