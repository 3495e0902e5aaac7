"""Entities as readers see them: /vessel/, /port/, /route/, /org/, /place/ pages with their
facts, stories and feeds; chips on story pages; search offering an entity's page; the home
page's pins; /shipping/. Constant query counts; the pages in Chromium at 1280 and 390 px."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from feeds import generation
from feeds.entities import editing
from feeds.entities.store import current_index, link_stories, sync_catalogue
from feeds.models import Entity, Story, StoryEntity
from feeds.tagging import tagger
from feeds.tagging.store import apply_tags
from feeds.web.params import Cursor
from tests.conftest import ARTIFACTS, CHROMIUM, restore_vocabularies
from tests.test_syndication import hub  # noqa: F401  (the local WebSub hub fixture)
from tests.test_views import _count_queries as count_queries
from tests.test_views import make_source, make_story

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ATOM = "{http://www.w3.org/2005/Atom}"
BLOCKING = {"serious", "critical"}

WEEK = [
    (
        "Nuclear icebreaker Yamal escorts Christophe de Margerie to Sabetta",
        "The convoy crossed the Kara Sea on the Northern Sea Route, Atomflot said.",
    ),
    (
        "Record cargo through the Northern Sea Route, says Rosatom",
        "Shipments from Murmansk and Sabetta grew as the ice retreated.",
    ),
    (
        "Port of Churchill ships its first grain of the season",
        "The Hudson Bay port expects a longer season; the Canadian Coast Guard will escort.",
    ),
    ("USCGC Healy heads north through the Bering Strait", "The cutter will map the Chukchi Sea."),
    ("Murmansk hosts Arctic shipping forum", "Officials from Novatek and Sovcomflot spoke."),
    ("Kirkenes port hopes for more Northern Sea Route traffic", "Norway's border town waits."),
]


def build_week(extra: int = 0) -> list:
    """The week's shipping stories, tagged and linked as ingest does."""
    sync_catalogue()
    source = make_source("The Barents Observer")
    now = timezone.now()
    stories = []
    specs = WEEK + [(f"Murmansk port story {i}", "Cargo at Murmansk.") for i in range(extra)]
    for i, (title, teaser) in enumerate(specs):
        stories.append(
            make_story(
                title,
                source=source,
                summary=f"<p>{teaser}</p>",
                published=now - timedelta(hours=i + 1),
            )
        )
    current_index()
    results: dict = {}
    apply_tags(stories, results=results)
    link_stories(stories, results)
    generation.bump_generation()
    return stories


@pytest.fixture(autouse=True)
def _names():
    yield
    tagger.set_name_terms(())


def test_an_entity_page_has_facts_stories_and_feeds(client, db):
    stories = build_week()
    html = client.get("/vessel/christophe-de-margerie/").content.decode()
    assert '<h1 class="page-head__title">Christophe de Margerie</h1>' in html
    for fact in ("9737187", "Arc7", "Sovcomflot", "Кристоф де Маржери"):
        assert fact in html
    assert stories[0].title in html and stories[4].title not in html
    for fmt in ("feed/", "feed/atom/", "feed/json/"):  # advertised in the page
        assert f'href="/vessel/christophe-de-margerie/{fmt}"' in html
    rss = client.get("/vessel/christophe-de-margerie/feed/")
    assert rss.status_code == 200
    titles = [t.text for t in ElementTree.fromstring(rss.content).iter("title")]
    assert stories[0].title in titles
    atom = ElementTree.fromstring(client.get("/port/sabetta/feed/atom/").content)
    assert {e.findtext(f"{ATOM}title") for e in atom.iter(f"{ATOM}entry")} == {
        stories[0].title,
        stories[1].title,
    }
    port = client.get("/port/murmansk/").content.decode()
    assert "68.97° N, 33.10° E" in port and "GeoNames" in port
    assert client.get("/route/northern-sea-route/").status_code == 200
    assert client.get("/org/rosatom/").status_code == 200
    assert client.get("/place/yamal-peninsula/").status_code == 200
    assert client.get("/port/no-such-port/").status_code == 404
    assert client.get("/vessel/murmansk/").status_code == 404  # the kind is part of the address


def test_feed_json_of_an_entity(client, db):
    stories = build_week()
    body = json.loads(client.get("/route/bering-strait/feed/json/").content)
    assert [item["title"] for item in body["items"]] == [stories[3].title]


def test_merged_entities_redirect_and_hidden_ones_are_gone(client, db):
    build_week()
    editing.merge(Entity.objects.get(slug="rosatom"), [Entity.objects.get(slug="atomflot")])
    generation.bump_generation()
    response = client.get("/org/atomflot/")
    assert response.status_code == 301 and response["Location"] == "/org/rosatom/"
    assert StoryEntity.objects.filter(entity__slug="rosatom").count() == 2
    Entity.objects.filter(slug="sabetta").update(hidden=True)
    generation.bump_generation()
    assert client.get("/port/sabetta/").status_code == 404
    assert client.get("/port/sabetta/feed/").status_code == 404


def test_story_pages_show_entity_chips(client, db):
    stories = build_week()
    html = client.get(f"/story/{stories[0].pk}/").content.decode()
    for url in ("/vessel/yamal/", "/vessel/christophe-de-margerie/", "/port/sabetta/"):
        assert f'href="{url}"' in html
    assert 'href="/place/yamal-peninsula/"' not in html  # the icebreaker, not the peninsula


def test_search_offers_the_entity_page_first(client, db):
    build_week()
    html = client.get("/search/?q=Sabetta").content.decode()
    assert html.index('href="/port/sabetta/"') < html.index("search-results")
    assert (
        'href="/route/northern-sea-route/"' in client.get("/search/?q=Севморпуть").content.decode()
    )


def test_home_map_pins_and_the_shipping_page(client, db):
    build_week()
    html = client.get("/").content.decode()
    pin = 'href="/port/murmansk/" aria-label="Murmansk: 2 stories this week"'
    assert f'class="map__pin map__pin--port" {pin}' in html
    assert 'class="map__country map__country--russia"' in html  # the country totals stay
    shipping = client.get("/shipping/").content.decode()
    assert 'class="map__route" href="/route/northern-sea-route/"' in shipping
    assert 'href="/vessel/healy/"' in shipping and "Vessels in the news" in shipping


def test_entity_pages_run_the_same_queries_whatever_their_size(client, db):
    build_week()
    small = count_queries(client, "/port/murmansk/")
    more = build_week(extra=40)
    large = count_queries(client, "/port/murmansk/")
    # the entity 1, its names 1, the navigation 2, the stories 1, their tags 2
    assert small == large <= 7, (small, large)
    assert count_queries(client, f"/port/murmansk/?before={Cursor.of(more[20])}") <= 7
    shipping = count_queries(client, "/shipping/")
    assert shipping <= 7, shipping


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM}")
def test_entity_pages_the_map_and_shipping_in_chromium(browser, live_server) -> None:
    from axe_playwright_python.sync_playwright import Axe

    restore_vocabularies()
    stories = build_week()
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        for name, path in (
            ("home", "/"),
            ("shipping", "/shipping/"),
            ("vessel", "/vessel/christophe-de-margerie/"),
            ("story", f"/story/{stories[0].pk}/"),
        ):
            response = page.goto(live_server.url + path)
            assert response is not None and response.status == 200
            scroll, client_width = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= client_width, (name, width, scroll, client_width)
            page.screenshot(path=str(ARTIFACTS / f"entities-{name}-{width}.png"), full_page=True)
            violations = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in Axe().run(page).response["violations"]
                if v["impact"] in BLOCKING
            ]
            assert not violations, (name, width, violations)
        # A pin is reached by the keyboard, named, and leads to its page; no script needed.
        page.goto(live_server.url + "/")
        pin = page.get_by_role("link", name="Murmansk: 2 stories this week")
        pin.first.focus()
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/port/murmansk/"
        page.keyboard.press("Enter")
        page.wait_for_url("**/port/murmansk/")
        context.close()


def test_entity_pages_are_in_the_sitemap_and_the_opml_and_their_feeds_pinged(
    client,
    db,
    hub,  # noqa: F811
):
    from feeds.syndication import websub

    stories = build_week()
    Entity.objects.filter(kind="port", slug="churchill").update(hidden=True)
    sitemap = ElementTree.fromstring(client.get("/sitemap-entities.xml").content)
    locs = {el.text for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")}
    assert "http://testserver/vessel/christophe-de-margerie/" in locs
    assert "http://testserver/route/northern-sea-route/" in locs
    assert "http://testserver/port/churchill/" not in locs  # hidden by an editor

    opml = ElementTree.fromstring(client.get("/feeds.opml").content)
    outlines = {o.get("xmlUrl"): o.get("htmlUrl") for o in opml.iter("outline")}
    assert (
        outlines["http://testserver/vessel/christophe-de-margerie/feed/"]
        == "http://testserver/vessel/christophe-de-margerie/"
    )
    assert "http://testserver/port/churchill/feed/" not in outlines

    # The convoy story changes the Yamal's, the Christophe de Margerie's and Sabetta's feeds.
    linked = {
        f"https://arctic.example{entity.get_absolute_url()}"
        for entity in Entity.objects.filter(
            story_links__story=stories[0], story_links__rejected=False
        )
    }
    assert "https://arctic.example/vessel/christophe-de-margerie/" in linked
    urls = websub.changed_feed_urls(stories[0])
    pinged = websub.publish_changes([stories[0]])
    for page in linked:
        for fmt in ("feed/", "feed/atom/", "feed/json/"):
            assert page + fmt in urls and page + fmt in pinged
    sent = [url for _, _, form in hub.received for url in form["hub.url"]]
    assert "https://arctic.example/vessel/christophe-de-margerie/feed/atom/" in sent


def test_the_sitemap_lists_only_entity_pages_that_have_a_story(client, db):
    stories = build_week()

    def listed() -> set[str]:
        sitemap = ElementTree.fromstring(client.get("/sitemap-entities.xml").content)
        return {
            el.text or "" for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
        }

    linked = Entity.objects.shown().filter(story_links__rejected=False).distinct()
    quiet = Entity.objects.shown().exclude(story_links__isnull=False)
    assert linked.exists() and quiet.exists()  # the catalogue knows more than the week's news
    found = listed()
    assert {f"http://testserver{e.get_absolute_url()}" for e in linked} <= found
    assert not {f"http://testserver{e.get_absolute_url()}" for e in quiet} & found
    # USCGC Healy is in one story: hidden by an editor, the page has no story left to list.
    (healy,) = Entity.objects.filter(story_links__story=stories[3], kind="vessel")
    assert Entity.objects.filter(story_links__entity=healy).count() == 1
    assert f"http://testserver{healy.get_absolute_url()}" in found
    Story.objects.filter(pk=stories[3].pk).update(is_hidden=True)
    generation.bump_generation()
    assert f"http://testserver{healy.get_absolute_url()}" not in listed()
    # Kirkenes: its one link removed by an editor.
    Story.objects.filter(pk=stories[3].pk).update(is_hidden=False)
    kirkenes = StoryEntity.objects.get(story=stories[5], entity__slug="kirkenes")
    assert StoryEntity.objects.filter(entity=kirkenes.entity).count() == 1
    StoryEntity.objects.filter(pk=kirkenes.pk).update(rejected=True)
    generation.bump_generation()
    found = listed()
    assert f"http://testserver{healy.get_absolute_url()}" in found
    assert f"http://testserver{kirkenes.entity.get_absolute_url()}" not in found
