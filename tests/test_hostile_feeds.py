"""Hostile and broken feeds through the real pipeline (fetch → parse → sanitise → store → tag).

The gaps the feedparser corpus leaves (its README, "Gaps"; threats.md §3), each served by the
loopback fixture server and fetched by the real fetcher, in-process. Runs on SQLite and, with
DATABASE_URL set, on PostgreSQL, where the NUL/control-character cases matter (threats.md
finding 5): those assertions are the same on both, and PostgreSQL-only ones say so.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import pytest
from django.conf import settings as django_settings
from django.core import serializers
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from feeds.generation import bump_generation
from feeds.ingest import pipeline as ingest
from feeds.ingest import scheduling
from feeds.models import Feed, FetchLog, Source, Story
from tests.conftest import FIXTURES
from tests.fixtureserver import FixtureServer, drip, gzip_bomb, hang, huge, status
from tests.render_check import (
    Baseline,
    bad_url,
    fragment_problems,
    page_problems,
    story_page_baseline,
)

pytestmark = pytest.mark.django_db

IS_POSTGRES = django_settings.IS_POSTGRES
CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
FEEDS = ("/feed/", "/feed/atom/", "/feed/json/")


@pytest.fixture(autouse=True)
def _fresh_pages(allow_private):
    bump_generation()  # no page cached by an earlier test is served to this one


def add_feed(server: FixtureServer, path: str, body=None, *, outlet="Hostile Outlet", **kw):
    if body is not None:
        server.add(path, body, **kw)
    source, _ = Source.objects.get_or_create(
        slug=outlet.lower().replace(" ", "-"), defaults={"name": outlet, "show_full_text": True}
    )
    return Feed.objects.create(source=source, url=server.url(path))


def fixture(name: str) -> bytes:
    return (FIXTURES / "feeds" / name).read_bytes()


def rss(items: str, *, title: str = "Synthetic hostile outlet", extra: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://hostile.example.org/</link>"
        f"<description>Synthetic test feed</description>{extra}{items}</channel></rss>"
    )


def item(n: int, *, title: str = "", date: datetime | None = None, link: str = "", body="") -> str:
    date = date or datetime(2026, 3, 1, 12, 0, tzinfo=UTC) - timedelta(hours=n)
    return (
        f"<item><title>{title or f'Synthetic harbour item number {n}'}</title>"
        f"<link>{link or f'https://hostile.example.org/{n}/'}</link>"
        f'<guid isPermaLink="false">hostile-{n}</guid>'
        f"<pubDate>{format_datetime(date)}</pubDate>"
        f"<description>{body or f'Synthetic body text of item {n}.'}</description></item>"
    )


def all_text() -> str:
    """Every row a fetch can write, serialised: where a leaked secret would have to be."""
    rows = [
        *Story.objects.all(),
        *Feed.objects.all(),
        *FetchLog.objects.all(),
        *Source.objects.all(),
    ]
    return serializers.serialize("json", rows)


@pytest.fixture
def baseline(client) -> Baseline:
    """Our own script/meta/link/form/svg elements, from a story page without feed HTML.

    Every optional part of the template is switched on (standfirst, body, image, update time,
    a country tag), with benign text, so each element our template can make is in it.
    """
    return story_page_baseline(client)


def assert_pages_clean(client, baseline: Baseline, stories) -> None:
    for story in stories:
        page = client.get(story.get_absolute_url())
        assert page.status_code == 200, story.guid
        problems = page_problems(page.content.decode(), baseline)
        assert not problems, (story.guid, problems)


def assert_feeds_clean(client) -> None:
    """RSS and Atom parse strictly (bozo False); every format's links and HTML pass the check."""
    for url in FEEDS[:2]:
        response = client.get(url)
        assert response.status_code == 200, url
        parsed = feedparser.parse(io.BytesIO(response.content))
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        for entry in parsed.entries:
            assert entry.link.startswith("http://testserver/story/"), entry.link
            for text in [entry.get("summary", "")] + [c.value for c in entry.get("content", [])]:
                assert not fragment_problems(text), (url, entry.link, fragment_problems(text))
    response = client.get(FEEDS[2])
    assert response.status_code == 200
    data = json.loads(response.content)  # feedparser 6.0.14 does not read JSON Feed
    for entry in data["items"]:
        assert entry["url"].startswith("http://testserver/story/"), entry
        for key in ("external_url", "image", "banner_image"):
            assert not bad_url(entry.get(key, "")), entry
        assert not fragment_problems(entry.get("content_html", "")), entry
        assert not [c for c in CONTROLS if c in entry.get("title", "")], entry


# --- XSS through URL fields and HTML ------------------------------------------------------------


def test_xss_vectors_are_stored_defused_and_never_rendered(client, fixture_server, baseline):
    feed = add_feed(fixture_server, "/hostile.xml", fixture("hostile_xss.xml"))
    atom = add_feed(fixture_server, "/hostile.atom", fixture("hostile_xss.atom.xml"))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 11, "every item is stored"
    assert ingest.fetch_and_store(atom.pk, force=True).created == 3

    # javascript: in <link>, a permalink <guid> and <enclosure>: stored, the URL nulled.
    urls = Story.objects.get(title="javascript: in URL fields")
    assert (urls.link, urls.image_url) == ("", "")
    # Atom: " JaVaScRiPt:" and "java\nscript:" links nulled; an html title is text.
    atom_links = list(Story.objects.filter(feed=atom).values_list("title", "link"))
    assert ("x", "") in atom_links
    assert ("Newline inside the scheme", "") in atom_links
    # A relative link under a javascript: xml:base is not resolved against it.
    based = Story.objects.get(guid="xss-11")
    assert not based.link.lower().startswith("javascript")
    for story in Story.objects.all():
        assert story.link == "" or story.link.startswith(("http://", "https://")), story.link
        assert story.image_url == "" or story.image_url.startswith(("http://", "https://"))
        for html in (story.summary, story.content):
            assert not fragment_problems(html), (story.guid, fragment_problems(html))

    # The RSS title is plain text: shown literally, never as an element.
    title = Story.objects.get(guid="xss-08")
    page = client.get(title.get_absolute_url()).content.decode()
    assert "A &lt;img src=x onerror=alert(1)&gt; title" in page
    # Benign markup in our allow-list survives (the sanitiser is not deleting everything).
    benign = Story.objects.get(guid="xss-01").content
    assert '<abbr title="North Atlantic Treaty Organization">NATO</abbr>' in benign
    assert "<em>emphasis</em>" in benign

    assert_pages_clean(client, baseline, Story.objects.all())
    assert_feeds_clean(client)


def test_the_render_check_would_catch_what_it_looks_for(baseline):
    """The check is only worth something if it fails on the vectors; prove it does."""
    dirty = (
        "<!doctype html><html><head><meta http-equiv=refresh content=0></head><body>"
        '<div class="story__body"><a href="&#106;avascript:alert(1)">x</a>'
        '<svg><a xlink:href="javascript:alert(1)"></a></svg><img src=x onerror=alert(1)>'
        '<form action="https://evil.example/"></form></div></body></html>'
    )
    problems = " ".join(page_problems(dirty, baseline))
    for expected in ("onerror", "href='javascript:alert(1)'", "<svg>", "<form>", "<meta>"):
        assert expected in problems, (expected, problems)
    assert bad_url(" java\tscript:alert(1)") and bad_url("\x01data:text/html,x")


# --- XML attacks --------------------------------------------------------------------------------


def test_xxe_never_reads_a_local_file_or_fetches_a_dtd(client, fixture_server, tmp_path):
    secret = f"TOP-SECRET-{uuid.uuid4().hex}"
    path = tmp_path / "secret.txt"
    path.write_text(secret)
    with FixtureServer() as dtd_server:
        dtd_server.add("/evil.dtd", f'<!ENTITY leak SYSTEM "file://{path}">', etag=None)
        general = (
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{path}">]>\n'
            + rss(item(1, title="Entity &xxe; in a title", body="Body &xxe; here"), title="X &xxe;")
        )
        parameter = (
            '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % p SYSTEM '
            f'"{dtd_server.url("/evil.dtd")}"> %p;]>\n'
            + rss(item(2, title="Parameter entity &leak; title"))
        )
        feeds = [
            add_feed(fixture_server, "/xxe.xml", general),
            add_feed(fixture_server, "/xxe-parameter.xml", parameter),
        ]
        for feed in feeds:
            ingest.fetch_and_store(feed.pk, force=True)
        assert dtd_server.count() == 0, "the external DTD was fetched"
    for feed in Feed.objects.filter(pk__in=[f.pk for f in feeds]):
        assert feed.last_fetched_at and (feed.stories.exists() or feed.last_error)
    assert secret not in all_text()
    for story in Story.objects.all():
        assert secret not in client.get(story.get_absolute_url()).content.decode()
    for url in FEEDS:
        assert secret not in client.get(url).content.decode()


def test_billion_laughs_finishes_fast_and_is_recorded(fixture_server):
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    )
    body = f'<?xml version="1.0"?>\n<!DOCTYPE rss [{entities}]>\n' + rss(
        item(1, title="Laughing &lol9; all the way")
    )
    feed = add_feed(fixture_server, "/lol.xml", body)
    started = time.monotonic()
    ingest.fetch_and_store(feed.pk, force=True)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"billion laughs took {elapsed:.2f} s"
    feed.refresh_from_db()
    assert feed.last_fetched_at and (feed.stories.exists() or feed.last_error)
    assert all(len(s.title) < 1000 for s in feed.stories.all())
    assert "lollollol" not in all_text()


# --- transport faults: the feed records the error, the next feed is still fetched ---------------


def test_bombs_huge_and_slow_responses_fail_alone_in_a_fetchfeeds_run(fixture_server, settings):
    settings.FEEDS_FETCH_TIMEOUT = 3
    settings.FEEDS_MAX_BYTES = 2 * 1024 * 1024
    fixture_server.add_handler("/bomb.xml", gzip_bomb())
    fixture_server.add_handler("/huge.xml", huge(50 << 20))
    fixture_server.add_handler("/liar.xml", huge(20 << 20, declared_length=100))
    fixture_server.add_handler("/slow.xml", drip(bytes_per_second=2))
    fixture_server.add_handler("/hang.xml", hang())
    # Each bad feed's error must name what went wrong: one of these phrases, never just any.
    bad = {
        "/bomb.xml": ("too large",),
        "/huge.xml": ("too large",),
        # Longer than its Content-Length: cut at 100 bytes, which is not a feed.
        "/liar.xml": ("not a usable feed",),
        "/slow.xml": ("exceeded",),
        "/hang.xml": ("read timed out", "exceeded"),  # whichever comes first
    }
    for path in bad:
        add_feed(fixture_server, path, outlet="A Hostile Host")
    good = add_feed(fixture_server, "/good.xml", rss(item(1) + item(2)), outlet="Z Good Outlet")

    out = io.StringIO()
    started = time.monotonic()
    call_command("fetchfeeds", "--all", stdout=out)
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"fetchfeeds took {elapsed:.1f} s"
    assert good.stories.count() == 2, out.getvalue()
    assert "ok, 2 new" in out.getvalue()
    for path, reasons in bad.items():
        feed = Feed.objects.get(url=fixture_server.url(path))
        assert feed.consecutive_failures == 1 and feed.last_error, (path, feed.last_status)
        assert all(reasons) and any(r in feed.last_error for r in reasons), (path, feed.last_error)
        assert feed.next_fetch_at > timezone.now() and feed.lease_until is None


# --- HTTP status handling -----------------------------------------------------------------------


def test_a_301_moves_the_feed_and_the_migrated_items_are_not_duplicated(fixture_server):
    """The Barents Observer migration: /en/rss.xml answers 301 to the new site's feed."""
    legacy = add_feed(fixture_server, "/en/rss.xml", fixture("barents_observer_en_legacy.xml"))
    assert ingest.fetch_and_store(legacy.pk, force=True).created == 8
    fixture_server.add("/rss", fixture("barents_observer_en_new.xml"))
    fixture_server.add_redirect("/en/rss.xml", fixture_server.url("/rss"), status=301)
    run = ingest.fetch_and_store(legacy.pk, force=True)
    legacy.refresh_from_db()
    assert legacy.url == fixture_server.url("/rss")
    # "Fire at Novy Urengoy" is the legacy item under a new guid and link: updated, not new.
    assert (run.created, run.updated) == (2, 1)
    assert Story.objects.count() == 10
    fire = Story.objects.get(title__startswith="Fire at Novy")
    assert "/441207" in fire.link and "/441207" in fire.guid


def test_a_302_does_not_move_the_feed(fixture_server):
    feed = add_feed(fixture_server, "/moving.xml")
    fixture_server.add("/elsewhere.xml", rss(item(1)))
    fixture_server.add_redirect("/moving.xml", fixture_server.url("/elsewhere.xml"), status=302)
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    feed.refresh_from_db()
    assert feed.url == fixture_server.url("/moving.xml")


def test_410_deactivates_the_feed(fixture_server):
    fixture_server.add_handler("/gone.xml", status(410))
    feed = add_feed(fixture_server, "/gone.xml")
    assert ingest.fetch_and_store(feed.pk, force=True).status == "gone"
    feed.refresh_from_db()
    assert not feed.is_active and "410" in feed.deactivated_reason
    assert not Feed.objects.due(timezone.now() + timedelta(days=30)).filter(pk=feed.pk).exists()


def test_429_retry_after_is_honoured_even_with_the_lowest_jitter(fixture_server, monkeypatch):
    # Worst case of the ±10 % jitter: the scheduler must still wait out Retry-After.
    monkeypatch.setattr(scheduling.random, "uniform", lambda low, high: low)
    fixture_server.add_handler("/busy.xml", status(429, {"Retry-After": "7200"}))
    feed = add_feed(fixture_server, "/busy.xml")
    before = timezone.now()
    assert ingest.fetch_and_store(feed.pk, force=True).status == "failed"
    feed.refresh_from_db()
    assert feed.next_fetch_at >= before + timedelta(seconds=7200), feed.next_fetch_at - before
    assert "429" in feed.last_status and feed.is_active


def test_500_backs_off_exponentially_and_a_success_clears_it(fixture_server):
    fixture_server.add_handler("/flaky.xml", status(500))
    feed = add_feed(fixture_server, "/flaky.xml")
    delays = []
    for _ in range(3):
        ingest.fetch_and_store(feed.pk, force=True)
        feed.refresh_from_db()
        delays.append(feed.next_fetch_at - feed.last_fetched_at)
    assert feed.consecutive_failures == 3 and "500" in feed.last_status
    assert delays[0] >= timedelta(minutes=9)
    assert delays[1] > 1.5 * delays[0] and delays[2] > 1.5 * delays[1], delays
    fixture_server.add("/flaky.xml", rss(item(1)))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 1
    feed.refresh_from_db()
    assert (feed.consecutive_failures, feed.last_error) == (0, "")


# --- what reaches the database and the outgoing feeds -------------------------------------------


def test_control_characters_never_reach_the_database_or_break_our_feeds(client, fixture_server):
    feed = add_feed(fixture_server, "/controls.xml", fixture("hostile_control_chars.xml"))
    nul_title = rss(item(9, title="NUL &#0; and escape &#x1B; in a title", body="A&#0;B&#11;C"))
    nul = add_feed(fixture_server, "/nul.xml", nul_title)
    json_feed = add_feed(
        fixture_server,
        "/feed.json",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Synthetic JSON feed",
                "items": [
                    {
                        "id": "json-1",
                        "url": "https://hostile.example.org/json/1",
                        "title": "JSON\u0000 title with\u000b controls",
                        "content_html": "<p>Body\u0000 with\u0007 controls</p>",
                        "date_published": "2026-03-01T10:00:00Z",
                    }
                ],
            }
        ),
        content_type="application/feed+json",
    )
    assert ingest.fetch_and_store(feed.pk, force=True).created == 3
    assert ingest.fetch_and_store(nul.pk, force=True).created == 1
    # JSON strings carry controls as escapes (\u0000): they are cleaned as in XML feeds.
    assert ingest.fetch_and_store(json_feed.pk, force=True).created == 1
    assert json_feed.stories.get().title == "JSON title with controls"
    for story in Story.objects.all():
        for name in ("title", "summary", "content", "raw_content", "byline", "guid", "link"):
            value = getattr(story, name)
            assert not [c for c in CONTROLS if c in value], (story.guid, name, value)
    if IS_POSTGRES:
        with connection.cursor() as cursor:
            pattern = "[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f]"
            cursor.execute(
                "SELECT count(*) FROM feeds_story WHERE title ~ %s OR summary ~ %s OR content ~ %s",
                [pattern] * 3,
            )
            assert cursor.fetchone()[0] == 0
    assert Story.objects.get(guid="hostile-9").title == "NUL and escape in a title"
    assert_feeds_clean(client)
    for story in Story.objects.all():
        assert client.get(story.get_absolute_url()).status_code == 200


def test_a_story_dated_2030_does_not_top_the_home_page_or_the_feed(client, fixture_server):
    quirks = add_feed(fixture_server, "/quirk_dates.xml", fixture("quirk_dates.xml"))
    ingest.fetch_and_store(quirks.pk, force=True)
    future = Story.objects.get(source_published_at__year=2030)
    assert future.published_at <= future.first_seen_at <= timezone.now()
    # News published after we first saw the 2030 item goes above it.
    fresh = add_feed(
        fixture_server,
        "/fresh.xml",
        rss(item(1, title="Fresh harbour news", date=timezone.now() + timedelta(minutes=1))),
        outlet="Fresh Outlet",
    )
    ingest.fetch_and_store(fresh.pk, force=True)
    bump_generation()
    home = client.get("/")
    assert home.context["lead"].title == "Fresh harbour news"
    first = feedparser.parse(io.BytesIO(client.get("/feed/").content)).entries[0]
    assert first.title == "Fresh harbour news"
    for entry in feedparser.parse(io.BytesIO(client.get("/feed/").content)).entries:
        assert entry.published_parsed.tm_year < 2030


def test_an_item_dated_year_1_is_stored_with_its_feed_not_failing_it(fixture_server):
    # "Mon, 01 Jan 0001" parses; the copy search's window (published - 2 days) then raised
    # OverflowError and the whole feed failed, its other items lost, run after run.
    items = item(1, date=datetime(1, 1, 1, tzinfo=UTC)) + item(2)
    feed = add_feed(fixture_server, "/year-one.xml", rss(items))
    assert ingest.fetch_and_store(feed.pk, force=True).created == 2
    feed.refresh_from_db()
    assert (feed.consecutive_failures, feed.last_error) == (0, "")
    # Dated as an undated item is: when we first saw it.
    odd = Story.objects.get(guid="hostile-1")
    assert odd.published_at == odd.first_seen_at


def test_a_5000_item_feed_stores_only_the_newest_entries(fixture_server, settings):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    # Oldest first in the document: the cap must rank by date, not by position.
    items = "".join(item(n, date=base + timedelta(minutes=n)) for n in range(5000))
    feed = add_feed(fixture_server, "/huge-list.xml", rss(items))
    started = time.monotonic()
    run = ingest.fetch_and_store(feed.pk, force=True)
    elapsed = time.monotonic() - started
    limit = settings.FEEDS_MAX_ENTRIES
    assert run.created == limit == Story.objects.count()
    newest = {f"hostile-{n}" for n in range(5000 - limit, 5000)}
    assert set(Story.objects.values_list("guid", flat=True)) == newest
    assert elapsed < 60, f"{elapsed:.1f} s"


def test_etag_churn_with_an_identical_body_writes_nothing(fixture_server):
    body = rss(
        item(1) + item(2), extra="<lastBuildDate>Sun, 01 Mar 2026 10:00:00 +0000</lastBuildDate>"
    )
    feed = add_feed(fixture_server, "/churn.xml", body, etag='"v1"')
    assert ingest.fetch_and_store(feed.pk, force=True).created == 2
    seen = dict(Story.objects.values_list("guid", "last_seen_at"))
    tagged = dict(Story.objects.values_list("guid", "tagged_at"))
    fixture_server.add("/churn.xml", body, etag='"v2"')  # same bytes, new ETag
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert run.status == "unchanged" and (run.created, run.updated) == (0, 0)
    churned = body.replace("10:00:00", "10:05:00")  # only lastBuildDate changed
    fixture_server.add("/churn.xml", churned, etag='"v3"')
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert run.status == "ok" and (run.created, run.updated) == (0, 0)
    assert dict(Story.objects.values_list("guid", "last_seen_at")) == seen
    assert dict(Story.objects.values_list("guid", "tagged_at")) == tagged
    feed.refresh_from_db()
    assert feed.etag == '"v3"'


def test_an_editor_hidden_story_stays_hidden(client, fixture_server):
    feed = add_feed(fixture_server, "/hide.xml", rss(item(1) + item(2)))
    ingest.fetch_and_store(feed.pk, force=True)
    Story.objects.filter(guid="hostile-1").update(is_hidden=True)
    # Edited under the same guid, then re-issued under a new guid with the same link.
    fixture_server.add("/hide.xml", rss(item(1, body="Edited text.") + item(2)))
    ingest.fetch_and_store(feed.pk, force=True)
    reissued = item(1, body="Edited text.").replace("hostile-1<", "hostile-1-reissued<")
    fixture_server.add("/hide.xml", rss(reissued + item(2)))
    ingest.fetch_and_store(feed.pk, force=True)
    assert Story.objects.count() == 2
    hidden = Story.objects.get(link="https://hostile.example.org/1/")
    assert hidden.is_hidden and hidden.guid == "hostile-1-reissued"
    bump_generation()
    assert "Synthetic harbour item number 1<" not in client.get("/").content.decode()
    assert client.get(hidden.get_absolute_url()).status_code in (404, 410)
    assert all(
        "number 1" not in e.title for e in feedparser.parse(client.get("/feed/").content).entries
    )


def test_a_new_guid_and_link_with_only_the_headline_in_common_is_a_new_story(fixture_server):
    """Identity needs evidence that cannot collide: the same guid, the same link, or the same
    headline AND opening words. A headline alone (and these bodies are too short to compare)
    would let a recurring headline overwrite the earlier story (issue 18, item 2)."""
    feed = add_feed(fixture_server, "/moved-items.xml", rss(item(1) + item(2)))
    ingest.fetch_and_store(feed.pk, force=True)
    moved = item(1, link="https://hostile.example.org/section/harbour-item/1").replace(
        "hostile-1<", "urn:new-cms:1<"
    )
    fixture_server.add("/moved-items.xml", rss(moved + item(2)))
    run = ingest.fetch_and_store(feed.pk, force=True)
    assert (run.created, run.updated) == (1, 0)
    assert Story.objects.get(guid="hostile-1").link == "https://hostile.example.org/1/"
    story = Story.objects.get(guid="urn:new-cms:1")
    assert story.link == "https://hostile.example.org/section/harbour-item/1"
    assert Story.objects.count() == 3
