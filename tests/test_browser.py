"""A reader in a real browser: Debian's Chromium driven by Playwright against the live server.

Covers the journeys the pages exist for: home → a country → a story → a related story in
another country → back; search with a filter; paging through a listing; the map's links.
Every page must load without a single console error (CSP violations included), and each
step leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from feeds.generation import bump_generation
from feeds.models import RelatedSlot
from feeds.search import update_search_vectors
from tests.conftest import ARTIFACTS, CHROMIUM, restore_vocabularies
from tests.test_views import country, make_source, make_story

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
# itself (creating data) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM}"),
]


class Reader:
    """One browser tab that records console errors and saves screenshots."""

    def __init__(self, browser, base_url: str, *, width: int = 1280, height: int = 900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, (path, response and response.status)
        return response

    def shot(self, name: str, *, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)

    def headlines(self) -> list[str]:
        return self.page.locator("main article h3 a").all_inner_texts()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(autouse=True)
def vocabularies(live_server):
    """Serialized rollback does not bring the migrated rows back once Playwright's event loop
    runs in this thread (the connection is looked up in another context): restore them."""
    restore_vocabularies()


@pytest.fixture
def reader(browser, live_server):
    bump_generation()  # no page cached by an earlier test is served
    tab = Reader(browser, live_server.url)
    yield tab
    tab.close()


@pytest.fixture
def north():
    """A small North: stories in several countries, a related box across borders."""
    barents = make_source("The Barents Observer", country=country("norway"))
    nunatsiaq = make_source("Nunatsiaq News", country=country("canada"))
    now = timezone.now()
    kirkenes = make_story(
        "Kirkenes braces for a quieter border",
        source=barents,
        countries=("norway", "russia"),
        topics=("security",),
        published=now - timedelta(hours=1),
        language="en",
        author="Atle Staalesen",
    )
    iqaluit = make_story(
        "Iqaluit approves a new water plan",
        source=nunatsiaq,
        countries=("canada",),
        topics=("society",),
        published=now - timedelta(hours=2),
        language="en",
    )
    icebreaker_ca = make_story(
        "Coast guard orders a new icebreaker",
        source=nunatsiaq,
        countries=("canada",),
        topics=("shipping",),
        published=now - timedelta(hours=3),
        language="en",
    )
    icebreaker_ru = make_story(
        "Nuclear icebreaker escorts a tanker",
        source=barents,
        countries=("russia",),
        topics=("shipping",),
        published=now - timedelta(hours=4),
        language="en",
    )
    make_story(
        "Nuuk airport opens its long runway",
        source=make_source("KNR"),
        countries=("greenland",),
        topics=("business",),
        published=now - timedelta(hours=5),
        language="en",
    )
    RelatedSlot.objects.create(story=kirkenes, country=country("canada"), target=iqaluit)
    RelatedSlot.objects.create(story=kirkenes, country=country("russia"), target=icebreaker_ru)
    RelatedSlot.objects.create(story=iqaluit, country=country("norway"), target=kirkenes)
    update_search_vectors([kirkenes.pk, iqaluit.pk, icebreaker_ca.pk, icebreaker_ru.pk])
    return {"kirkenes": kirkenes, "iqaluit": iqaluit, "icebreaker_ca": icebreaker_ca}


def test_a_reader_goes_from_home_to_a_related_story_abroad_and_back(reader, north):
    page = reader.page
    reader.goto("/")
    assert page.locator("h2", has_text="Latest from the North").is_visible()
    reader.shot("home")

    page.locator("nav[aria-label='Countries'] a", has_text="Norway").click()
    page.wait_for_url("**/country/norway/")
    assert page.locator("h1").inner_text() == "Norway"
    assert reader.headlines() == ["Kirkenes braces for a quieter border"]
    reader.shot("country")

    page.get_by_role("link", name="Kirkenes braces for a quieter border").click()
    page.wait_for_url(f"**/story/{north['kirkenes'].pk}/")
    assert page.locator("h1").inner_text() == "Kirkenes braces for a quieter border"
    tags = page.locator(".story__tags a[rel='tag']").all_inner_texts()
    assert tags[:2] == ["Norway", "Russia"]
    box = page.locator("section.related")
    assert box.locator("h2").inner_text() == "Related stories from around the North:"
    lines = [re.sub(r"\s+", " ", t).strip() for t in box.locator("li").all_inner_texts()]
    assert lines == [
        "Canada: Iqaluit approves a new water plan, Nunatsiaq News",
        "Russia: Nuclear icebreaker escorts a tanker, The Barents Observer",
    ]
    reader.shot("story")

    box.get_by_role("link", name="Iqaluit approves a new water plan").click()
    page.wait_for_url(f"**/story/{north['iqaluit'].pk}/")
    assert page.locator(".story__kicker").inner_text().startswith("CANADA")
    reader.shot("related-story")

    page.go_back()
    page.wait_for_url(f"**/story/{north['kirkenes'].pk}/")
    assert page.locator("h1").inner_text() == "Kirkenes braces for a quieter border"
    assert reader.errors == []


def test_a_reader_searches_with_a_country_filter(reader, north):
    page = reader.page
    reader.goto("/")
    page.locator("#site-search-q").fill("icebreaker")
    page.locator("form.site-search button").click()
    page.wait_for_url("**/search/?q=icebreaker")
    assert sorted(reader.headlines()) == [
        "Coast guard orders a new icebreaker",
        "Nuclear icebreaker escorts a tanker",
    ]
    page.locator("#search-country").select_option("canada")
    page.locator("form.search-form button").click()
    page.wait_for_url("**/search/?q=icebreaker&country=canada*")
    assert reader.headlines() == ["Coast guard orders a new icebreaker"]
    assert page.locator("#search-country").input_value() == "canada"
    reader.shot("search")
    assert reader.errors == []


def test_a_reader_pages_through_a_listing(reader):
    source = make_source("High North News")
    now = timezone.now()
    for i in range(45):
        make_story(
            f"Barents story {i}",
            source=source,
            countries=("norway",),
            published=now - timedelta(hours=i + 1),
        )
    page = reader.page
    reader.goto("/country/norway/")
    assert reader.headlines()[0] == "Barents story 0"
    assert len(reader.headlines()) == 20

    page.locator("nav.pager a[rel='next']").click()
    page.wait_for_url("**/country/norway/?before=*")
    assert reader.headlines()[0] == "Barents story 20"
    assert len(reader.headlines()) == 20
    reader.shot("listing-page-2")

    page.locator("nav.pager a[rel='next']").click()
    page.wait_for_url("**/country/norway/?before=*")
    assert reader.headlines() == [f"Barents story {i}" for i in range(40, 45)]
    assert page.locator("nav.pager a[rel='next']").count() == 0

    page.locator("nav.pager a[rel='prev']").click()
    assert reader.headlines()[0] == "Barents story 20"
    page.locator("nav.pager a[rel='prev']").click()
    assert reader.headlines()[0] == "Barents story 0"
    assert page.locator("nav.pager a[rel='prev']").count() == 0
    assert reader.errors == []


def test_the_map_links_to_every_country(reader, north):
    page = reader.page
    reader.goto("/")
    regions = page.locator("svg.map a.map__country")
    assert regions.count() == 9
    labels = regions.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert "Greenland: 1 story this week" in labels
    assert "Canada: 2 stories this week" in labels
    hrefs = regions.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert sorted(hrefs) == sorted(
        f"/country/{c}/"
        for c in [
            "canada",
            "denmark",
            "finland",
            "greenland",
            "iceland",
            "norway",
            "russia",
            "sweden",
            "united-states",
        ]
    )
    reader.shot("map", full_page=False)

    # A mouse click on a country's shape and its label.
    page.locator("svg.map a.map__label", has_text="Greenland").click()
    page.wait_for_url("**/country/greenland/")
    assert page.locator("h1").inner_text() == "Greenland"

    # Keyboard: each country shape is focusable and opens its page with Enter.
    for href in hrefs:
        reader.goto("/")
        page.locator(f"svg.map a.map__country[href='{href}']").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"**{href}")
    assert reader.errors == []


def test_pages_work_on_a_phone(browser, live_server, north):
    bump_generation()
    phone = Reader(browser, live_server.url, width=390, height=844)
    try:
        phone.goto("/")
        phone.shot("home-phone")
        phone.goto(f"/story/{north['kirkenes'].pk}/")
        phone.shot("story-phone")
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the story page scrolls sideways on a phone"
        assert phone.errors == []
    finally:
        phone.close()
