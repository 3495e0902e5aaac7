"""Ingest's adaptations of library internals: pinned to the versions they were tested
against, and switched off by ``FEEDS_LIBRARY_ADAPTATIONS`` with the same results.

When one of these fails after an upgrade, re-run the test of that adaptation against the
new version (tests/test_parsing.py compares the corpus with and without the feedparser
fix-up; tests/test_pipeline.py compares a claimed feed with the stored row) and add the
version to its ``TESTED``.
"""

from __future__ import annotations

import importlib.metadata
from datetime import timedelta

import pytest
import urllib3
from django.utils import timezone

from feeds.ingest import adaptations, fetching, leases
from feeds.ingest.adaptations import django_rows, feedparser_cp1252
from feeds.models import Feed, Source


@pytest.mark.parametrize(
    ("distribution", "tested"),
    [("feedparser", feedparser_cp1252.TESTED), ("django", django_rows.TESTED)],
)
def test_the_installed_library_is_one_the_adaptation_was_tested_against(distribution, tested):
    installed = importlib.metadata.version(distribution)
    assert installed.startswith(tested), (
        f"{distribution} {installed} is not in {tested}: re-test its adaptation"
    )
    assert adaptations.enabled(distribution, tested)


def test_the_fetchers_address_pinning_was_tested_against_the_installed_urllib3():
    assert urllib3.__version__.startswith(fetching.URLLIB3_TESTED)
    assert fetching._PINNING_TESTED


def test_an_untested_version_or_the_setting_switches_an_adaptation_off(settings):
    assert not adaptations.enabled("feedparser", ("0.1.",))
    settings.FEEDS_LIBRARY_ADAPTATIONS = False
    assert not adaptations.enabled("feedparser", feedparser_cp1252.TESTED)
    assert not adaptations.enabled("django", django_rows.TESTED)


@pytest.mark.django_db
def test_without_the_row_reader_a_claim_returns_the_same_feed(settings):
    source = Source.objects.create(name="Outlet", slug="outlet")
    feed = Feed.objects.create(source=source, url="https://example.org/rss", etag='"v1"')
    now = timezone.now()
    Feed.objects.filter(pk=feed.pk).update(next_fetch_at=now - timedelta(minutes=1))

    def claimed() -> Feed | None:
        django_rows.available.cache_clear()
        leases._claim_sql.cache_clear()
        try:
            found = leases.claim(feed.pk, now=now)
        finally:
            leases.release(feed.pk)
        return found

    with_reader = claimed()
    settings.FEEDS_LIBRARY_ADAPTATIONS = False
    try:
        without = claimed()
    finally:
        settings.FEEDS_LIBRARY_ADAPTATIONS = True
        django_rows.available.cache_clear()
        leases._claim_sql.cache_clear()
    assert with_reader is not None and without is not None
    for f in Feed._meta.concrete_fields:
        if f.name not in {"lease_until", "unfinished_runs"}:  # claimed twice
            assert getattr(with_reader, f.attname) == getattr(without, f.attname), f.name
    assert without.etag == '"v1"' and without.lease_until > now
