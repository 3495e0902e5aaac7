"""The offline demo: samples load once, and their feeds say so instead of "error"."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from feeds.ingest import pipeline as ingest
from feeds.models import Feed, FetchLog, Story

pytestmark = pytest.mark.django_db


def test_sample_feeds_are_shown_as_sample_loaded_and_a_failing_poll_keeps_that(
    fixture_server, allow_private
):
    call_command("load_sample_feeds", stdout=io.StringIO())
    feeds = Feed.objects.all()
    assert feeds.count() > 5
    assert set(feeds.values_list("last_status", flat=True)) == {ingest.SAMPLE_LOADED}
    # The poller still tries the real feed; offline it fails, and the admin keeps saying
    # what the feed shows, with the reason in last_error and a FetchLog row.
    feed = feeds.first()
    assert feed is not None
    fixture_server.add("/gone-for-now.xml", b"nothing here", status=404)
    Feed.objects.filter(pk=feed.pk).update(url=fixture_server.url("/gone-for-now.xml"))
    result = ingest.fetch_and_store(feed.pk, force=True)
    assert result.status == "failed"
    feed.refresh_from_db()
    assert feed.last_status == ingest.SAMPLE_LOADED
    assert "404" in feed.last_error
    assert FetchLog.objects.filter(feed=feed).count() == 1


def test_a_second_run_does_not_load_the_samples_again_nor_go_online():
    call_command("load_sample_feeds", stdout=io.StringIO())
    stories = Story.objects.count()
    titles = dict(Story.objects.values_list("pk", "published_at"))
    out = io.StringIO()
    # --unless-online would try the real feeds first; with stories present it must not.
    call_command("load_sample_feeds", "--unless-online", stdout=out)
    assert "already have stories" in out.getvalue()
    assert Story.objects.count() == stories
    assert dict(Story.objects.values_list("pk", "published_at")) == titles
    assert not FetchLog.objects.exists()
