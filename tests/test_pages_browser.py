"""Reader pages and the newsroom as a reader and an editor see them, at 1280 and 390 px.

Debian's Chromium drives the live server loaded with the bundled sample feeds (the offline
demo). Every page leaves a screenshot in test-artifacts/ (pages-*.png), and axe-core
(axe-playwright-python) checks each one: no serious or critical violation.
"""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from feeds.generation import bump_generation
from feeds.models import Feed, Source, Story
from tests.conftest import ARTIFACTS, CHROMIUM, restore_vocabularies

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM}"),
]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}


@pytest.fixture(autouse=True)
def samples(live_server):
    restore_vocabularies()
    call_command("load_sample_feeds", stdout=StringIO())
    bump_generation()


def blocking_violations(page, impacts=BLOCKING) -> list[tuple[str, str, list]]:
    """axe-core's violations of these impacts (serious and critical unless told) on the page:
    (rule, impact, first targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in impacts
    ]


class Tab:
    def __init__(self, browser, base_url: str, viewport: dict, name: str):
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.base_url = base_url
        self.name = name
        self.errors: list[str] = []
        self.page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )

    def goto(self, path: str, status: int = 200):
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == status, (path, response.status)
        return response

    def sign_in(self) -> None:
        """Sign in as the editor fixture's edna, from the login page."""
        self.goto("/admin/login/")
        self.page.fill("#id_username", "edna")
        self.page.fill("#id_password", "x-editor-pass-1")
        self.page.click("input[type=submit]")

    def shot(self, label: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"pages-{label}-{self.name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def js(self, script: str, *args):
        return self.page.evaluate(script, *args)

    def no_horizontal_scroll(self) -> None:
        width, viewport = self.js(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width <= viewport, (self.page.url, width, viewport)

    def axe(self, label: str) -> None:
        blocking = blocking_violations(self.page)
        assert not blocking, (label, self.page.url, blocking)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser, live_server):
    opened = [
        Tab(browser, live_server.url, DESKTOP, "1280"),
        Tab(browser, live_server.url, PHONE, "390"),
    ]
    yield opened
    for tab in opened:
        tab.close()


def test_the_home_page_fills_both_columns_and_fits_a_phone(tabs):
    desktop, phone = tabs
    for tab in tabs:
        tab.goto("/")
        tab.shot("home")
        tab.no_horizontal_scroll()
        tab.axe("home")
        # No broken image, ever: every image the page shows has loaded.
        broken = tab.js(
            "[...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)"
        )
        assert broken == []
        # Every listing item names its outlet with a link to the outlet's page.
        cards = tab.js(
            "[...document.querySelectorAll('main article.card')].map(a =>"
            " !!a.querySelector('a[href^=\"/source/\"]'))"
        )
        assert cards and all(cards)
        assert tab.errors == []

    # 1280: the side column (map, storylines, newsletters) ends near the main column: no
    # empty strip; and it is beside the latest stories, not below them.
    main, side, top = desktop.js(
        "[document.querySelector('.home-latest').getBoundingClientRect().bottom,"
        " Math.max(...[...document.querySelectorAll('.home-side')].map(s =>"
        " s.getBoundingClientRect().bottom)),"
        " document.querySelector('.home-side').getBoundingClientRect().top"
        " - document.querySelector('.home-latest').getBoundingClientRect().top]"
    )
    assert abs(main - side) < 450, (main, side)
    assert abs(top) < 5, top
    # The newsletter is in its own box, never the lead.
    lead = desktop.page.locator(".card--lead .card__title").inner_text()
    assert "Newsletter" not in lead
    assert (
        "Newsletter: The week in the High North" in desktop.page.locator(".roundups").inner_text()
    )

    # 390: the first country section ends within three screens.
    first_country_end = phone.js(
        "document.querySelector('.country-box').getBoundingClientRect().bottom + scrollY"
    )
    assert first_country_end <= 3 * PHONE["height"], first_country_end
    # The country bar overflows, and says so with a visible chevron.
    overflow, chevron = phone.js(
        "(() => { const l = document.querySelector('.site-nav__list');"
        " return [l.scrollWidth > l.clientWidth,"
        " getComputedStyle(document.querySelector('.site-nav'), '::after').content]; })()"
    )
    assert overflow and chevron == '"›"'
    # Map names are drawn at least 14 px high on a phone.
    heights = phone.js(
        "[...document.querySelectorAll('.map__name')].map(t => t.getBoundingClientRect().height)"
    )
    assert len(heights) == 9 and min(heights) >= 14, heights

    # Every circle on the map says what it is: its place's name is written beside it (a
    # circle whose name cannot be placed is not drawn; the list under the map names all).
    for tab in tabs:
        pins = tab.js(
            "[...document.querySelectorAll('.map a.map__pin')].map(a =>"
            " [a.getAttribute('aria-label').split(':')[0],"
            " (a.querySelector('text') || {}).textContent || ''])"
        )
        assert pins and all(name == text for name, text in pins), pins
        listed = tab.page.locator(".map-legend--places li").all_inner_texts()
        assert len(listed) > len(pins)  # the samples' week has places the map leaves out


def test_listings_story_pages_and_outlets_link_to_sources_and_pass_axe(tabs):
    story = Story.objects.visible().articles().filter(related_slots__isnull=False).first()
    source = Source.objects.get(slug="high-north-news")
    pages = {
        "country": "/country/norway/",
        "topic": "/topic/shipping/",
        "source": f"/source/{source.slug}/",
        "story": f"/story/{story.pk}/",
        "search": "/search/?q=Murmansk",
        "outlets": "/outlets/",
        "roundups": "/roundups/",
    }
    for tab in tabs:
        for label, path in pages.items():
            tab.goto(path)
            tab.shot(label)
            tab.no_horizontal_scroll()
            tab.axe(label)
        tab.goto("/no-such-page/", status=404)
        tab.shot("404")
        tab.axe("404")
        tab.errors.remove(
            "Failed to load resource: the server responded with a status of 404 (Not Found)"
        )

        tab.goto(f"/story/{story.pk}/")
        byline = tab.page.locator(".story__byline a")
        assert byline.get_attribute("href") == f"/source/{story.source.slug}/"
        outlets = tab.page.locator(".related__item a.related__outlet")
        assert outlets.count() >= 1
        assert all(
            href.startswith("/source/")
            for href in outlets.evaluate_all("els => els.map(e => e.getAttribute('href'))")
        )
        # Alt text and caption are never the same sentence twice.
        for figure in tab.page.locator("figure.story__figure").all():
            alt = figure.locator("img").get_attribute("alt") or ""
            assert not alt or alt not in figure.locator("figcaption").inner_text()

        tab.goto("/outlets/")
        assert tab.page.locator(".outlet").count() == Source.objects.count()
        assert tab.page.locator("footer a[href='/outlets/']").count() == 1
        tab.goto("/country/norway/")
        first = tab.page.locator("main article .card__title").first.inner_text()
        assert "Newsletter" not in first
        assert tab.errors == []


def test_the_newsroom_fits_1280_with_words_and_health_and_passes_axe(browser, live_server, editor):
    tab = Tab(browser, live_server.url, DESKTOP, "1280")
    try:
        tab.goto("/admin/login/")
        tab.shot("admin-login")
        tab.axe("admin login")
        tab.page.fill("#id_username", "edna")
        tab.page.fill("#id_password", "x-editor-pass-1")
        tab.page.click("input[type=submit]")
        # A story with every inline filled: its related slots and its entities' rows.
        story = (
            Story.objects.filter(related_slots__isnull=False, entity_links__isnull=False)
            .exclude(categories=[])
            .first()
        )
        tab.goto(reverse("admin:feeds_story_change", args=[story.pk]))
        tab.shot("admin-story")
        tab.no_horizontal_scroll()
        # Not even a minor one (the inlines' first header cell was empty).
        everything = {"minor", "moderate", "serious", "critical"}
        assert blocking_violations(tab.page, everything) == []
        categories = tab.page.locator(".field-categories_display .readonly").inner_text()
        assert "[" not in categories and story.categories[0] in categories
        tab.goto(reverse("admin:feeds_reviewstory_changelist"))
        tab.shot("admin-review-queue")
        assert tab.page.locator("select[name$='-primary_country']").count() > 0
        tab.no_horizontal_scroll()
        tab.axe("tag review queue")
        # Each row's Confirm button reads as one word on one line, not "Co / nfi / rm".
        lines = tab.js(
            "[...document.querySelectorAll('#result_list td.field-confirm_button .button')]"
            ".map(b => { const r = document.createRange(); r.selectNodeContents(b);"
            " return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; })"
        )
        assert lines and set(lines) == {1}, lines
        tab.goto(reverse("admin:feeds_story_changelist"))
        tab.shot("admin-stories")
        tab.no_horizontal_scroll()
        tab.goto(reverse("admin:feeds_feed_changelist"))
        tab.shot("admin-feeds")
        tab.no_horizontal_scroll()
        health = tab.page.locator(".an-health").all_inner_texts()
        assert health and set(health) == {"Sample loaded"}
        # With long reasons and statuses too, the list fits its box at 1280 px: no sideways
        # scrolling to find why a feed stopped.
        feeds = list(Feed.objects.order_by("pk")[:2])
        Feed.objects.filter(pk=feeds[0].pk).update(
            is_active=False,
            deactivated_reason="quarantined: the same error 5 runs in a row (410 Gone: the "
            "outlet removed this feed; its new address is on the outlet's page)",
        )
        Feed.objects.filter(pk=feeds[1].pk).update(
            last_status="error: connection refused by arctictoday.example after 3 attempts",
            consecutive_failures=3,
        )
        tab.goto(reverse("admin:feeds_feed_changelist"))
        tab.shot("admin-feeds-reasons")
        tab.no_horizontal_scroll()
        box, table = tab.js(
            "(() => { const t = document.querySelector('#result_list');"
            " const b = t.closest('.results');"
            " return [[b.scrollWidth, b.clientWidth], t.getBoundingClientRect().right"
            " - b.getBoundingClientRect().right]; })()"
        )
        assert box[0] <= box[1] and table <= 0.5, (box, table)
        notes = tab.page.locator(".an-feed-note").all_inner_texts()
        assert any("410 Gone" in note for note in notes)
        assert any("connection refused" in note for note in notes)
        tab.axe("feed list")
        tab.goto(reverse("feeds:curation:box", args=[story.pk]))
        tab.shot("editor")
        tab.axe("related-box editor")
    finally:
        tab.close()
    # The editor on a phone (its history table, wider than the phone, is
    # test_curation_browser's test_the_editor_on_a_phone).
    phone = Tab(browser, live_server.url, PHONE, "390")
    try:
        phone.sign_in()
        phone.goto(reverse("feeds:curation:box", args=[story.pk]))
        phone.shot("editor")
        phone.no_horizontal_scroll()
        phone.axe("related-box editor at 390 px")
    finally:
        phone.close()


def test_refusals_explain_themselves_and_hold_the_layout_at_both_widths(tabs):
    """An over-long query, a page beyond the results, a tampered cursor, a method an address
    does not take, an expired form and the sign-in page: each says what happened on our own
    page, and no input widens it."""
    query = "Murmansk" + "x" * 4992  # 5,000 characters, no space to break at
    for tab in tabs:
        tab.goto(f"/search/?q={query}", status=400)
        tab.shot("search-5000")
        tab.no_horizontal_scroll()
        tab.axe("search with 5,000 characters")
        error = tab.page.locator("#search-q-error").inner_text()
        assert "5,000 characters" in error and "at most 200" in error
        height = tab.js("document.documentElement.scrollHeight")
        assert height <= 3 * tab.page.viewport_size["height"], height

        tab.goto("/search/?q=Murmansk&page=9", status=404)
        tab.shot("search-beyond")
        tab.no_horizontal_scroll()
        tab.axe("a page beyond the results")
        assert tab.page.locator("#results-heading").text_content().strip() == "There is no page 9"
        tab.page.locator(".search-results p a").first.click()  # to the last page there is
        tab.page.wait_for_load_state()
        assert "q=Murmansk" in tab.page.url and tab.page.locator("main article").count() >= 1

        tab.goto("/country/norway/?before=garbage", status=400)
        tab.shot("bad-cursor")
        tab.axe("a tampered cursor")
        assert tab.page.locator("main article").count() == 0  # not page 1 in disguise

        # A method an address does not take (Django's 405 has an empty body): our page.
        tab.page.route("**/outlets/", lambda route: route.continue_(method="OPTIONS"))
        tab.goto("/outlets/", status=405)
        tab.page.unroute("**/outlets/")
        tab.shot("405")
        tab.no_horizontal_scroll()
        tab.axe("a method the address does not take")
        assert tab.page.locator("h1").inner_text() == "This address cannot do that"

        tab.goto("/admin/login/")
        tab.shot("login")
        tab.no_horizontal_scroll()
        tab.axe("sign-in page")
        assert "ArcticNews" in tab.page.locator("#header").inner_text()
        assert tab.page.locator("h1").inner_text() == "Sign in to the newsroom"
        # The form outlived its token (cookies cleared): our page, saying what to do.
        tab.context.clear_cookies()
        tab.page.fill("#id_username", "edna")
        tab.page.fill("#id_password", "x-editor-pass-1")
        with tab.page.expect_response(lambda r: r.request.method == "POST") as posted:
            tab.page.click("input[type=submit]")
        assert posted.value.status == 403
        tab.shot("csrf")
        tab.no_horizontal_scroll()
        tab.axe("CSRF failure")
        assert tab.page.locator("h1").inner_text() == "Your form has expired"
        tab.errors = [e for e in tab.errors if "status of 40" not in e]
        assert tab.errors == []


def test_listings_without_a_side_column_use_the_whole_width(tabs):
    """The source page and the older-stories pages have no side column: their stories fill
    both halves of the page at 1280 px, never one column beside an empty strip."""
    desktop, _ = tabs
    desktop.goto("/")
    desktop.page.locator(".pager__link--older").first.click()
    desktop.page.wait_for_load_state()
    assert "before=" in desktop.page.url
    older = desktop.page.url.removeprefix(desktop.base_url)
    for label, path in (("source", "/source/high-north-news/"), ("older", older)):
        desktop.goto(path)
        desktop.shot(f"width-{label}")
        left, right, cards = desktop.js(
            "(() => { const w = document.querySelector('main .wrap, main').getBoundingClientRect();"
            " const c = [...document.querySelectorAll('main article.card')]"
            ".map(a => a.getBoundingClientRect());"
            " return [w.left, w.right, c.map(r => [r.left, r.right])]; })()"
        )
        middle = (left + right) / 2
        assert cards, label
        assert any(r_left >= middle - 10 for r_left, _ in cards), (label, cards, middle)
        assert max(r_right for _, r_right in cards) >= right - 0.1 * (right - left), label
