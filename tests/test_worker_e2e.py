"""End to end on the real parts: a loopback feed server, Redis, a Celery worker, PostgreSQL."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from email.utils import format_datetime

import feedparser
import html5lib
import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from feeds.models import Feed, RelatedSlot, Story, Storyline
from feeds.syndication.feeds import hub_url
from feeds.syndication.formats import LISTING_FORMATS
from feeds.tasks import enqueue_due_feeds
from tests.conftest import FIXTURES, Worker, wait_for
from tests.test_pipeline import make_feed
from tests.test_syndication import hub  # noqa: F401  (the local WebSub hub fixture)

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXTURE_FEEDS = [
    ("rci_eye_on_the_arctic.xml", "Eye on the Arctic", "canada"),
    ("barents_observer_en_legacy.xml", "The Independent Barents Observer", "norway"),
    ("cbc_north.xml", "CBC North", "canada"),
    ("yle_news.xml", "Yle News", "finland"),
    ("radio_sweden.atom.xml", "Radio Sweden", "sweden"),
]


def _add_fixture_feeds(server):
    server.add_file_tree(FIXTURES / "feeds", "/")
    for name, outlet, country in FIXTURE_FEEDS:
        call_command(
            "addfeed", server.url("/" + name), source=outlet, country=country, stdout=io.StringIO()
        )


def _all_fetched() -> bool:
    return not Feed.objects.filter(last_success_at__isnull=True).exists()


def test_a_real_worker_ingests_through_redis(
    vocabularies, fixture_server, allow_private, celery_worker, client
):
    _add_fixture_feeds(fixture_server)
    # Beat's job, run here: it enqueues one fetch per due feed onto Redis.
    assert enqueue_due_feeds() == len(FIXTURE_FEEDS)
    wait_for(
        _all_fetched, timeout=90, what="every feed fetched by the worker\n" + celery_worker.log()
    )
    wait_for(
        lambda: not Story.objects.visible().filter(related_suggested_at__isnull=True).exists(),
        timeout=90,
        what="related boxes suggested",
    )
    assert Story.objects.count() > 20
    dupes = Story.objects.values("feed", "guid").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()

    # The story page: tags as rel=tag links, the original article, the related box.
    story = (
        Story.objects.visible()
        .filter(related_slots__isnull=False)
        .filter(primary_country__isnull=False)
        .first()
    )
    assert story is not None
    page = client.get(story.get_absolute_url())
    assert page.status_code == 200
    tree = html5lib.parse(page.content.decode(), namespaceHTMLElements=False)
    tag_links = [a for a in tree.iter("a") if "tag" in (a.get("rel") or "").split()]
    assert any(a.get("href") == f"/country/{story.primary_country.slug}/" for a in tag_links)
    assert any(a.get("href") == story.link for a in tree.iter("a")) or not story.link
    text = page.content.decode()
    assert "Related stories from around the North" in text
    slot = RelatedSlot.objects.shown_in(story).filter(story=story).select_related("country").first()
    assert slot is not None
    assert f"{slot.country.name}:" in text and slot.headline in text

    # A country page and the feeds.
    country = story.primary_country.slug
    listing = client.get(f"/country/{country}/")
    assert listing.status_code == 200 and story.title.split()[0] in listing.content.decode()
    for url in ["/feed/", f"/country/{country}/feed/"]:
        parsed = feedparser.parse(client.get(url).content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.entries
        first_country = [
            t for t in parsed.entries[0].tags if "/country/" in (t.get("scheme") or "")
        ]
        assert first_country, "each item carries country categories with their page as domain"

    # Second round: every feed answers 304, nothing is duplicated.
    fixture_server.reset_log()
    count = Story.objects.count()
    Feed.objects.update(next_fetch_at="2000-01-01T00:00:00Z")
    enqueue_due_feeds()
    wait_for(
        lambda: Feed.objects.filter(last_status__startswith="304").count() == len(FIXTURE_FEEDS),
        timeout=60,
        what="all feeds re-polled with 304",
    )
    assert Story.objects.count() == count
    assert all(
        r.headers.get("If-None-Match") or r.headers.get("If-Modified-Since")
        for r in fixture_server.requests
    )


class _Gauge:
    """Counts the requests a host is answering at once (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def slow_feed(self, body: bytes, seconds: float = 0.8):
        def serve(handler) -> None:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                time.sleep(seconds)
                handler.send_response(200)
                handler.send_header("Content-Type", "application/rss+xml")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)
            finally:
                with self.lock:
                    self.now -= 1

        return serve


def test_four_worker_processes_send_one_host_at_most_two_requests_at_once(
    vocabularies, fixture_server, allow_private, worker_env
):
    from arcticnews.celery import app

    gauge = _Gauge()
    source = "Slow Outlet"
    for n in range(6):
        item = {
            "n": n,
            "title": f"Story {n} from Kirkenes",
            "date": "Mon, 23 Nov 2026 10:00:00 +0000",
            "body": "<p>Kirkenes.</p>",
        }
        fixture_server.add_handler(f"/slow/{n}.xml", gauge.slow_feed(make_feed([item]).encode()))
        call_command(
            "addfeed",
            fixture_server.url(f"/slow/{n}.xml"),
            "--no-check",  # the gauge counts the worker's fetches only
            source=source,
            stdout=io.StringIO(),
        )
    app.control.purge()
    worker = Worker(
        dict(worker_env, FEEDS_FETCHES_PER_HOST="2"), concurrency=4, name="perhost"
    ).start()
    try:

        def all_fetched() -> bool:
            enqueue_due_feeds()  # beat's job: a feed skipped while its host was busy is still due
            return _all_fetched()

        wait_for(all_fetched, timeout=90, interval=0.5, what="every slow feed\n" + worker.log())
    finally:
        worker.stop()
    assert gauge.peak == 2, gauge.peak  # the limit, and no lower: both slots were used
    assert [fixture_server.count(f"/slow/{n}.xml") for n in range(6)] == [1] * 6
    assert Story.objects.count() == 6


def test_a_story_that_joins_a_storyline_on_the_worker_pings_the_storylines_feeds(
    vocabularies,
    fixture_server,
    allow_private,
    worker_env,
    hub,  # noqa: F811
):
    """Two outlets' stories of one event, fetched and placed by a real worker: once the
    second joins the first's storyline, the hub hears of the storyline's feeds."""
    from arcticnews.celery import app

    recent = format_datetime(timezone.now() - timedelta(hours=3))
    reports = [
        (
            "The Barents Observer",
            "norway",
            "Norway and Russia agree on lower cod quota for Barents Sea",
            "The joint fisheries commission set the Northeast Arctic cod quota at 340,000 "
            "tonnes, down 25 percent.",
        ),
        (
            "Yle News",
            "finland",
            "Barents Sea cod quota falls to 340,000 tonnes",
            "The Norwegian-Russian fisheries commission cut the Barents Sea cod quota to "
            "340,000 tonnes for next year.",
        ),
    ]
    for n, (outlet, home, title, lead) in enumerate(reports, start=1):
        item = {"n": n, "title": title, "date": recent, "body": f"<p>{lead}</p>"}
        fixture_server.add(f"/cod-{n}.xml", make_feed([item]))
        call_command(
            "addfeed",
            fixture_server.url(f"/cod-{n}.xml"),
            source=outlet,
            country=home,
            stdout=io.StringIO(),
        )
    app.control.purge()
    env = dict(worker_env, WEBSUB_HUB_URL=hub_url(), SITE_URL="https://arctic.example")
    worker = Worker(env, name="websub").start()

    def storyline_pings() -> list[str]:
        return [
            url
            for _, _, form in list(hub.received)
            for url in form.get("hub.url", [])
            if "/storyline/" in url
        ]

    try:
        assert enqueue_due_feeds() == 2
        wait_for(storyline_pings, timeout=90, what="a storyline ping\n" + worker.log())
    finally:
        worker.stop()
    (line,) = Storyline.objects.listed()
    assert line.story_count == 2
    assert set(storyline_pings()) == {
        f"https://arctic.example{line.get_absolute_url()}{fmt.route}" for fmt in LISTING_FORMATS
    }
