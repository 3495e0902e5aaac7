"""Storylines as readers see them: the storyline page (timeline, coverage by country, its
feeds), "Part of" on story pages, "Storylines this week" on the home page; constant query
counts; and the pages in Chromium at 1280 and 390 px."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from feeds import generation
from feeds.models import Country, Story, Storyline, StorylineMembership
from feeds.storylines import assign
from tests.conftest import ARTIFACTS, CHROMIUM, restore_vocabularies
from tests.test_syndication import hub  # noqa: F401  (the local WebSub hub fixture)
from tests.test_views import _count_queries as count_queries
from tests.test_views import make_source, make_story

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ATOM = "{http://www.w3.org/2005/Atom}"


def outlet(name: str, country: str, language: str = "en"):
    return make_source(name, country=Country.objects.get(slug=country), language=language)


def build_storyline(extra: int = 0) -> tuple[Storyline, list[Story]]:
    """The cod quota told by the Barents Observer in English and Russian, Eye on the Arctic
    and Yle; ``extra`` more follow-ups by NRK. Placed as the worker places them."""
    now = timezone.now() - timedelta(days=1)
    specs = [
        (
            outlet("The Barents Observer", "norway"),
            "Norway and Russia agree on lower cod quota for Barents Sea",
            "The joint fisheries commission set the Northeast Arctic cod quota at 340,000 "
            "tonnes, down 25 percent.",
        ),
        (
            outlet("The Barents Observer (Russian)", "norway", "ru"),
            "Россия и Норвегия снизили квоту на треску в Баренцевом море",
            "Смешанная комиссия по рыболовству установила квоту на треску в Баренцевом море "
            "в 340 тысяч тонн.",
        ),
        (
            outlet("Eye on the Arctic", "canada"),
            "Barents Sea cod quota cut by a quarter",
            "Norwegian and Russian negotiators agreed on a cod quota of 340,000 tonnes for the "
            "Barents Sea, the lowest in 30 years.",
        ),
        (
            outlet("Yle News", "finland"),
            "Barents Sea cod quota falls to 340,000 tonnes",
            "The Norwegian-Russian fisheries commission cut the Barents Sea cod quota to "
            "340,000 tonnes for next year.",
        ),
    ]
    nrk = outlet("NRK", "norway")
    for i in range(extra):
        specs.append(
            (
                nrk,
                f"Barents Sea cod quota: fishermen in Finnmark react, part {i + 1}",
                "Coastal fishermen say the cod quota of 340,000 tonnes in the Barents Sea "
                "hits small boats hardest.",
            )
        )
    stories = [
        make_story(title, summary=lead, source=source, published=now + timedelta(hours=i))
        for i, (source, title, lead) in enumerate(specs)
    ]
    for story in stories:
        assign.assign([story.pk])
    line = Storyline.objects.get(memberships__story=stories[0])
    assert line.story_count == len(stories), "the set's stories are one storyline"
    return line, stories


@pytest.mark.services
@pytest.mark.django_db
def test_the_storyline_page_has_its_timeline_coverage_and_feeds(client) -> None:
    line, stories = build_storyline()
    page = client.get(line.get_absolute_url()).content.decode()
    assert line.title in page
    # Timeline: newest first, the first report marked once, on the first story.
    order = [page.index(f'href="/story/{s.pk}/"') for s in reversed(stories)]
    assert order == sorted(order)
    assert page.count("First report") == 1
    first_item = page[page.index("timeline__item--first") :]
    assert f'href="/story/{stories[0].pk}/"' in first_item[:1500]
    # Coverage: every Arctic country has a row; the covering ones first, with outlets,
    # languages; the others say so.
    table = page[page.index('<table class="coverage"') :]
    rows = table.split('<tr class="coverage__row')[1:]
    assert len(rows) == 9
    assert "Norway" in rows[0] and "Russian" in rows[0] and "English" in rows[0]
    assert "The Barents Observer (Russian)" in rows[0]
    assert "Canada" in rows[1] and "Eye on the Arctic" in rows[1]
    assert "Finland" in rows[2] and "Yle News" in rows[2]
    assert all("Not covered yet" in row for row in rows[3:])
    assert "Not covered yet" not in "".join(rows[:3])
    # Its feeds, advertised on the page and served through the format registry.
    for suffix, media in (
        ("feed/", "application/rss+xml"),
        ("feed/atom/", "application/atom+xml"),
        ("feed/json/", "application/feed+json"),
    ):
        url = line.get_absolute_url() + suffix
        assert f'<link rel="alternate" type="{media}"' in page and f'href="{url}"' in page
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith(media)
    atom = ElementTree.fromstring(client.get(line.get_absolute_url() + "feed/atom/").content)
    titles = [e.findtext(f"{ATOM}title") for e in atom.iter(f"{ATOM}entry")]
    assert titles == [s.title for s in reversed(stories)]
    feed = json.loads(client.get(line.get_absolute_url() + "feed/json/").content)
    assert line.title in feed["title"] and len(feed["items"]) == len(stories)


@pytest.mark.services
@pytest.mark.django_db
def test_story_pages_say_which_storyline_they_are_part_of(client) -> None:
    line, stories = build_storyline()
    page = client.get(f"/story/{stories[1].pk}/").content.decode()
    assert "Part of:" in page and f'href="{line.get_absolute_url()}"' in page
    assert "4 stories from 3 countries" in page
    alone = make_story("A story of its own about Tromsø's film festival", summary="Films.")
    assign.assign([alone.pk])
    assert "Part of:" not in client.get(f"/story/{alone.pk}/").content.decode()


@pytest.mark.services
@pytest.mark.django_db
def test_the_home_page_ranks_the_weeks_storylines_by_countries_then_outlets(client) -> None:
    line, _ = build_storyline()
    now = timezone.now() - timedelta(hours=3)
    smaller = Storyline.objects.create(
        slug="one-country", title="A storyline of one country", last_published_at=now
    )
    for i in range(3):  # more stories, fewer countries: ranked below
        story = make_story(f"Kiruna moves, part {i}", source=outlet("Radio Sweden", "sweden"))
        StorylineMembership.objects.create(story=story, storyline=smaller)
    assign.refresh(smaller.pk)
    old = Storyline.objects.create(
        slug="old", title="Last month's storyline", last_published_at=now - timedelta(days=30)
    )
    Storyline.objects.filter(pk=old.pk).update(story_count=9, country_count=9, outlet_count=9)
    page = client.get("/").content.decode()
    section = page[page.index("Storylines this week") :]
    assert section.index(line.title) < section.index(smaller.title)
    assert old.title not in section
    assert "3 countries · 4 outlets · 4 stories" in section


def a_storyline(slug: str, titles: list[str], published, *, hidden: bool = False) -> Storyline:
    """A storyline of these stories, one outlet of its own each (in Norway, Canada, Finland,
    Sweden ... in turn), an hour apart from ``published``; counted as the clusterer counts."""
    countries = ["norway", "canada", "finland", "sweden", "russia", "iceland"]
    line = Storyline.objects.create(slug=slug, title=titles[0], hidden=hidden)
    for i, title in enumerate(titles):
        story = make_story(
            title,
            source=outlet(f"{slug} outlet {i}", countries[i % len(countries)]),
            published=published + timedelta(hours=i),
        )
        StorylineMembership.objects.create(story=story, storyline=line)
    assign.refresh(line.pk)
    return Storyline.objects.get(pk=line.pk)


SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.mark.services
@pytest.mark.django_db
def test_listed_storylines_are_in_the_sitemap_and_the_opml(client) -> None:
    line, stories = build_storyline()
    now = timezone.now()
    once = a_storyline("told-once", ["Kiruna church moves east"], now - timedelta(hours=2))
    hidden = a_storyline(
        "hidden-by-an-editor", ["Rumour one", "Rumour two"], now - timedelta(hours=5), hidden=True
    )
    old = a_storyline(
        "last-winters-strike",
        ["Dock strike in Narvik", "Narvik dockers strike on"],
        now - timedelta(days=90),
    )
    assert (once.story_count, hidden.story_count, old.story_count) == (1, 2, 2)

    sitemap = ElementTree.fromstring(client.get("/sitemap-storylines.xml").content)
    dated = {
        url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod")
        for url in sitemap.iter(f"{SITEMAP}url")
    }
    newest = max(story.published_at for story in stories)
    assert dated[f"http://testserver{line.get_absolute_url()}"] == (
        timezone.localtime(newest).date().isoformat()
    )
    # A finished storyline's page is still worth a crawler's visit, dated by its last story.
    assert dated[f"http://testserver{old.get_absolute_url()}"] == (
        timezone.localtime(old.last_published_at).date().isoformat()
    )
    assert not [loc for loc in dated if "/storyline/told-once" in loc or "/storyline/hidden" in loc]

    opml = ElementTree.fromstring(client.get("/feeds.opml").content)
    feeds = {o.get("xmlUrl"): o for o in opml.iter("outline") if o.get("xmlUrl")}
    outline = feeds[f"http://testserver{line.get_absolute_url()}feed/"]
    assert outline.get("htmlUrl") == f"http://testserver{line.get_absolute_url()}"
    assert line.title in outline.get("text")
    # Only storylines still told lately: not one of one story, a hidden one, last winter's.
    storylines = [url for url in feeds if "/storyline/" in url]
    assert storylines == [outline.get("xmlUrl")]
    assert client.get(outline.get("xmlUrl").removeprefix("http://testserver")).status_code == 200


@pytest.mark.services
@pytest.mark.django_db
def test_the_sitemaps_storylines_are_read_on_their_own_index() -> None:
    """Most storylines are one story's and never listed: the sitemap's page of storylines
    and its paginator's count read storyline_listed_idx, not every storyline."""
    from django.db import connection, transaction

    from feeds.web.sitemaps import StorylineSitemap

    items = StorylineSitemap().items()
    with transaction.atomic(), connection.cursor() as cursor:
        # A table scan then costs so much that the planner takes any usable index.
        cursor.execute("SET LOCAL enable_seqscan TO off")
        for plan in (items[:10_000].explain(), items.order_by().values("pk").explain()):
            # Read through the partial index (a plain or a bitmap scan, the listed rows then
            # sorted if the planner prefers): never every storyline.
            assert "storyline_listed_idx" in plan and "Seq Scan" not in plan, plan


@pytest.mark.services
@pytest.mark.django_db
def test_a_story_joining_a_storyline_pings_the_storylines_feeds(hub) -> None:  # noqa: F811
    from feeds.syndication import websub
    from feeds.syndication.formats import LISTING_FORMATS

    line, stories = build_storyline()
    feeds = [
        f"https://arctic.example{line.get_absolute_url()}{fmt.route}" for fmt in LISTING_FORMATS
    ]
    late = make_story(
        "Barents Sea cod quota: Finnmark fishermen protest the cut to 340,000 tonnes",
        summary="Coastal fishermen in Finnmark protest the Barents Sea cod quota of 340,000 "
        "tonnes.",
        source=outlet("NRK", "norway"),
    )
    watched = generation.watched(["latest", f"story:{late.pk}", f"story:{stories[0].pk}"])
    before = generation.versions({}, watched)
    placed = assign.assign([late.pk])
    assert [p.storyline_id for p in placed] == [line.pk]
    pinged = websub.publish_storylines([line.pk], [late.pk])
    assert pinged == feeds
    assert [url for _, _, form in hub.received for url in form["hub.url"]] == feeds
    after = generation.versions({}, watched)
    # Storyline pages, their feeds and the home page are rebuilt, and the story's own page
    # ("Part of: ..."); the storyline's other stories' pages are not.
    assert after[1] > before[1] and after[2] > before[2] and after[3] == before[3]

    # A storyline of one story is no storyline to subscribe to: no ping.
    hub.received.clear()
    alone = make_story("Tromsø film festival opens with a Sámi drama", summary="Films.")
    (placed_alone,) = assign.assign([alone.pk])
    assert placed_alone.created
    assert websub.publish_storylines([placed_alone.storyline_id], [alone.pk]) == []
    assert hub.received == []

    # A story of the storyline that changes later (edited, re-tagged, hidden) pings its feeds
    # with its countries' and topics'.
    assert set(feeds) <= set(websub.changed_feed_urls(stories[1]))
    assert set(feeds) <= set(websub.publish_changes([stories[1]]))


@pytest.mark.services
@pytest.mark.django_db
def test_the_home_page_ranks_storylines_by_this_weeks_coverage_not_all_time(client) -> None:
    line, _ = build_storyline()  # this week: 4 outlets in 3 countries
    long_ago = timezone.now() - timedelta(days=300)
    big = a_storyline(
        "last-years-big-one",
        [f"Pechora oil spill, report {i}" for i in range(6)],
        long_ago,
    )
    continued = make_story(
        "Pechora oil spill: a year on", source=outlet("NRK", "norway"), published=timezone.now()
    )
    StorylineMembership.objects.create(story=continued, storyline=big)
    assign.refresh(big.pk)
    big.refresh_from_db()
    assert (big.country_count, big.outlet_count) == (6, 7)  # all time: more than the cod's
    wire = Storyline.objects.create(slug="wire", title="Wire reports on Arctic Council talks")
    for i in range(2):  # an outlet of no country of its own (a wire service)
        story = make_story(f"Arctic Council talks, day {i + 1}", source=make_source("The Wire"))
        StorylineMembership.objects.create(story=story, storyline=wire)
    assign.refresh(wire.pk)
    page = client.get("/").content.decode()
    section = page[page.index("Storylines this week") :]
    assert section.index(line.title) < section.index(big.title)
    assert "3 countries · 4 outlets · 4 stories this week" in section
    assert "1 country · 1 outlet · 1 story this week" in section
    assert '<span class="storylines__meta">1 outlet · 2 stories this week' in section


@pytest.mark.services
@pytest.mark.django_db
def test_hidden_storylines_are_gone_and_merged_ones_redirect(client) -> None:
    line, _ = build_storyline()
    other = Storyline.objects.create(slug="merged-away", title="Merged away", merged_into=line)
    response = client.get(other.get_absolute_url())
    assert response.status_code == 301 and response["Location"] == line.get_absolute_url()
    Storyline.objects.filter(pk=line.pk).update(hidden=True)
    generation.bump_generation()
    assert client.get(line.get_absolute_url()).status_code == 404
    assert client.get(line.get_absolute_url() + "feed/").status_code == 404
    assert client.get("/storyline/no-such-storyline/").status_code == 404


@pytest.mark.services
@pytest.mark.django_db
def test_storyline_pages_run_the_same_few_queries_whatever_their_size(client) -> None:
    line, stories = build_storyline()
    small = count_queries(client, line.get_absolute_url())
    story_small = count_queries(client, f"/story/{stories[0].pk}/")
    more = make_story  # the same storyline, told by 12 more stories: same queries
    for i in range(12):
        story = more(
            f"Barents Sea cod quota of 340,000 tonnes: reaction {i + 1} from Finnmark",
            summary="Fishermen in Finnmark say the Barents Sea cod quota of 340,000 tonnes "
            "hits small boats hardest.",
            source=outlet(f"Northern outlet {i}", "norway"),
            published=stories[-1].published_at + timedelta(hours=i + 1),
        )
        assign.assign([story.pk])
    big = Storyline.objects.get(pk=line.pk)
    assert big.story_count == 16
    large = count_queries(client, big.get_absolute_url())
    story_large = count_queries(client, f"/story/{stories[0].pk}/")
    # The navigation (2), the storyline, its stories with their outlets and countries.
    assert small == large <= 4, (small, large)
    # 8: the story page also reads its entities (ships, ports, places).
    assert story_small == story_large <= 8, (story_small, story_large)
    feed_small = count_queries(client, line.get_absolute_url() + "feed/")
    feed_large = count_queries(client, big.get_absolute_url() + "feed/")
    assert feed_small == feed_large, (feed_small, feed_large)


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM}")
def test_the_storyline_page_reads_at_1280_and_390_px(browser, live_server) -> None:
    restore_vocabularies()
    line, stories = build_storyline(extra=2)
    generation.bump_generation()
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        response = page.goto(live_server.url + line.get_absolute_url())
        assert response is not None and response.status == 200
        scroll, client_width = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client_width, (width, scroll, client_width)
        first = page.locator(".timeline__item--first")
        assert first.count() == 1 and first.is_visible()
        assert stories[0].title in first.inner_text()
        coverage = page.locator("table.coverage")
        box = coverage.bounding_box()
        assert box is not None and box["x"] + box["width"] <= client_width
        if width == 390:  # one column: the coverage table follows the timeline
            timeline = page.locator(".timeline").bounding_box()
            assert timeline is not None and box["y"] > timeline["y"] + timeline["height"]
        page.screenshot(path=str(ARTIFACTS / f"storyline-{width}.png"), full_page=True)
        page.goto(live_server.url + f"/story/{stories[2].pk}/")
        page.get_by_role("link", name=line.title).click()
        page.wait_for_url(f"**{line.get_absolute_url()}")
        context.close()
