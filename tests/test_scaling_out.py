"""Scaling out (README, "Scaling out"): two real `celery worker` processes on separate queues,
one fetching and one enriching, against one Redis and one PostgreSQL, share the work without
fetching anything twice, and the web process's cached pages follow what they store."""

from __future__ import annotations

import re

import pytest
from django.db.models import Count
from django.utils.html import escape

from feeds.models import Feed, FetchLog, Story
from feeds.tasks import enqueue_due_feeds
from tests.conftest import Worker, wait_for
from tests.test_worker_e2e import FIXTURE_FEEDS, _add_fixture_feeds, _all_fetched

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _tasks_received(log: str) -> set[str]:
    return set(re.findall(r"Task (feeds\.\w+)\[[^\]]+\] received", log))


def test_a_fetching_and_an_enriching_worker_share_the_work(
    vocabularies, fixture_server, allow_private, worker_env, client
):
    from arcticnews.celery import app

    _add_fixture_feeds(fixture_server)
    fixture_server.reset_log()  # addfeed fetched each feed once to check it
    before = client.get("/country/finland/")  # cached by the web process before any story
    assert before.status_code == 200
    app.control.purge()
    fetcher = Worker(worker_env, concurrency=2, name="fetcher", queues="fetch").start()
    enricher = Worker(worker_env, concurrency=1, name="enricher", queues="enrich,celery").start()
    try:
        # Two beats at once (or a redelivered message): every due feed is enqueued twice.
        assert enqueue_due_feeds() == len(FIXTURE_FEEDS)
        assert enqueue_due_feeds() == len(FIXTURE_FEEDS)
        wait_for(_all_fetched, timeout=120, what="every feed fetched\n" + fetcher.log())
        wait_for(
            lambda: not Story.objects.visible().filter(related_suggested_at__isnull=True).exists(),
            timeout=120,
            what="related boxes suggested by the enriching worker\n" + enricher.log(),
        )
    finally:
        fetcher.stop()
        enricher.stop()

    # Each feed was requested and fetched once, although it was queued twice.
    for feed in Feed.objects.all():
        assert FetchLog.objects.filter(feed=feed).count() == 1, feed.url
    for name, _outlet, _country in FIXTURE_FEEDS:
        assert fixture_server.count("/" + name) == 1, name
    dupes = Story.objects.values("feed", "guid").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()

    # Each worker did only its queue's work.
    fetched, enriched = _tasks_received(fetcher.log()), _tasks_received(enricher.log())
    assert fetched == {"feeds.fetch_feed"}, fetched
    assert "feeds.suggest_related" in enriched and "feeds.fetch_feed" not in enriched, enriched
    assert Story.objects.filter(related_slots__isnull=False).exists()

    # The web process's cached Finland page was rebuilt for the stories the fetcher stored.
    finnish = Story.objects.visible().filter(countries__country__slug="finland").first()
    assert finnish is not None and escape(finnish.title) not in before.content.decode()
    assert escape(finnish.title) in client.get("/country/finland/").content.decode()
