"""An editor curates a related box in a real browser (Debian's Chromium through Playwright).

From the admin's story page to the box editor; picks a suggestion, reorders with the keyboard,
searches, links an external story, locks the box: each without a page load (the page's
JavaScript state survives every change), focus staying where the editor works, and not one
console error (CSP violations included). Screenshots go to test-artifacts/editor-*.png.
"""

from __future__ import annotations

import pytest

from feeds.generation import bump_generation
from feeds.models import RelatedChange, RelatedSlot, Story

# The marks (browser, transactional db, skip without Chromium), the restored vocabularies
# and the recording tab are the reader tests'; the browser is conftest's.
from tests.conftest import ARTIFACTS
from tests.test_browser import Reader as Tab
from tests.test_browser import pytestmark, vocabularies  # noqa: F401 (a mark list, a fixture)
from tests.test_curation import make_box
from tests.test_pages_browser import blocking_violations
from tests.test_views import country


@pytest.fixture
def tab(browser, live_server):
    bump_generation()
    t = Tab(browser, live_server.url)
    yield t
    t.close()


def sign_in(page, base_url: str, next_path: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", "edna")
    page.fill("#id_password", "x-editor-pass-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


def slot_order(page) -> list[str]:
    return page.locator("#curation-box .cur-slot").evaluate_all("els => els.map(e => e.id)")


def focused_slot(page) -> str | None:
    return page.evaluate(
        "() => { const s = document.activeElement && document.activeElement.closest('.cur-slot');"
        " return s ? s.id : null; }"
    )


def test_an_editor_curates_a_box_without_leaving_the_page(tab, editor):
    from playwright.sync_api import expect

    box = make_box()
    main = box["main"]
    page = tab.page
    status = page.locator("#cur-status")

    # From the admin's story page to the editor.
    sign_in(page, tab.base_url, f"/admin/feeds/story/{main.pk}/change/")
    page.get_by_role("link", name="Edit the related box").click()
    editor_url = f"{tab.base_url}/editor/story/{main.pk}/related/"
    page.wait_for_url(editor_url)
    tab.errors.clear()  # the admin pages' own favicon request is not this page's business
    assert page.locator("#curation").get_attribute("data-enhanced") == "true"
    assert page.locator("#curation-box .cur-slot").count() == 8  # every country but the story's own
    assert slot_order(page)[:2] == ["slot-canada", "slot-finland"]
    page.evaluate("window.__sameDocument = 'still here'")
    tab.shot("editor-page")
    tab.shot("editor-page-top", full_page=False)

    # Pick another story for Canada: its first "Use this" suggestion.
    canada = page.locator("#slot-canada")
    first_choice = canada.locator(".cur-alt").first
    chosen = first_choice.locator(".cur-alt__headline").inner_text()
    first_choice.get_by_role("button").click()
    expect(status).to_contain_text(f"Canada now shows “{chosen}”")
    expect(canada.locator(".cur-pick__headline")).to_have_text(chosen)
    expect(canada.locator(".cur-badge--editor")).to_have_text("Editor")
    assert page.evaluate("window.__sameDocument") == "still here", "the page was reloaded"
    assert page.url == editor_url
    assert focused_slot(page) == "slot-canada"
    line = RelatedSlot.objects.get(story=main, country=country("canada"))
    assert line.target.title == chosen and line.origin == "editor"
    tab.shot("editor-after-pick", full_page=False)

    # Reorder with the keyboard: Finland up, focus stays with Finland.
    page.locator("#slot-finland [data-move=up]").focus()
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Finland moved to place 1")
    assert slot_order(page)[:2] == ["slot-finland", "slot-canada"]
    assert focused_slot(page) == "slot-finland"
    # At the top "Move up" is disabled, so the focus is on Finland's "Move down".
    assert page.evaluate("document.activeElement.dataset.move") == "down"
    # Alt+Down moves the line the focus is in.
    page.keyboard.press("Alt+ArrowDown")
    expect(status).to_contain_text("Finland moved to place 2")
    assert slot_order(page)[:2] == ["slot-canada", "slot-finland"]
    assert focused_slot(page) == "slot-finland"
    assert list(
        RelatedSlot.objects.filter(story=main)
        .order_by("position")
        .values_list("country__slug", flat=True)
    ) == ["canada", "finland"]

    # Search any story for Russia, choose a result with the keyboard.
    russia = page.locator("#slot-russia")
    russia.get_by_text("Search stories…").click()
    search = russia.locator("input[name=q]")
    expect(search).to_be_focused()
    search.type("Kola")
    result = russia.locator(".cur-results .cur-alt").first
    expect(result).to_contain_text("Russia flies surveillance drones from Kola bases")
    tab.shot("editor-search", full_page=False)
    page.keyboard.press("ArrowDown")
    expect(result.get_by_role("button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Russia now shows “Russia flies surveillance drones")
    expect(russia.locator(".cur-pick__headline")).to_have_text(
        "Russia flies surveillance drones from Kola bases"
    )
    assert focused_slot(page) == "slot-russia"

    # An external link: a javascript: address is refused, an https one is used.
    iceland = page.locator("#slot-iceland")
    iceland.get_by_text("External link…").click()
    iceland.get_by_label("Headline").fill("<script>alert(1)</script> Drones over Iceland?")
    iceland.get_by_label("Outlet").fill("RÚV")
    iceland.get_by_label("Address").fill("javascript:alert(1)")
    iceland.get_by_role("button", name="Use link").click()
    expect(iceland.locator(".cur-error")).to_contain_text("https://")
    expect(status).to_contain_text("web address")
    address = iceland.get_by_label("Address")
    expect(address).to_be_focused()
    expect(address).to_have_attribute("aria-invalid", "true")
    assert not RelatedSlot.objects.filter(story=main, country=country("iceland")).exists()
    tab.shot("editor-external-error", full_page=False)
    address.fill("https://www.ruv.is/frett/drones")
    iceland.get_by_role("button", name="Use link").click()
    expect(status).to_contain_text("Iceland now links to")
    expect(iceland.locator(".cur-pick__headline")).to_have_text(
        "<script>alert(1)</script> Drones over Iceland?"
    )

    # Lock the box.
    page.get_by_role("button", name="Lock box").click()
    expect(status).to_contain_text("Box locked")
    expect(page.get_by_role("button", name="Unlock box")).to_be_focused()
    assert Story.objects.get(pk=main.pk).related_locked

    # The history shows every change, newest first, with who made it.
    rows = page.locator(".cur-history__table tbody tr")
    expect(rows).to_have_count(6)
    assert "Locked the box" in rows.first.inner_text()
    assert "edna" in rows.first.inner_text()
    assert RelatedChange.objects.filter(user=editor).count() == 6
    assert page.evaluate("window.__sameDocument") == "still here"
    assert int(page.locator("#curation").get_attribute("data-updates")) == 6
    tab.shot("editor-locked")
    assert tab.errors == []


def test_the_editor_on_a_phone(browser, live_server, editor):
    """At 390 px the page fits, passes axe (no serious or critical violation) with its history
    of changes shown, and that table, wider than the phone, scrolls from the keyboard."""
    from playwright.sync_api import expect

    box = make_box()
    phone = Tab(browser, live_server.url, width=390, height=844)
    page = phone.page
    try:
        sign_in(page, phone.base_url, f"/editor/story/{box['main'].pk}/related/")
        phone.errors.clear()
        page.reload()
        page.get_by_role("button", name="Lock box").click()
        expect(page.locator("#cur-status")).to_contain_text("Box locked")
        page.reload()  # the page as it loads, with its history
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the editor scrolls sideways on a phone"
        assert blocking_violations(page) == []
        history = page.get_by_role("region", name="Recent changes to this box")
        assert history.evaluate("e => e.scrollWidth > e.clientWidth"), "nothing to scroll?"
        history.focus()  # reached by Tab like any control (tabindex=0)
        expect(history).to_be_focused()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('.cur-history__scroll').scrollLeft > 0", timeout=5000
        )
        phone.shot("editor-phone")
        phone.shot("editor-phone-history", full_page=False)
        assert phone.errors == []
    finally:
        phone.close()


def test_without_javascript_every_form_still_works(browser, live_server, editor):
    """Progressive enhancement: with scripting off the same forms post and come back."""
    from playwright.sync_api import expect

    box = make_box()
    main = box["main"]
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server.url, f"/editor/story/{main.pk}/related/")
        assert page.locator("#curation").get_attribute("data-enhanced") is None
        russia = page.locator("#slot-russia")
        russia.locator(".cur-alt").first.get_by_role("button", name="Use this").click()
        page.wait_for_url(f"**/editor/story/{main.pk}/related/#slot-russia")
        expect(page.locator("#cur-status")).to_contain_text("Russia now shows")
        assert RelatedSlot.objects.filter(story=main, country=country("russia")).exists()

        page.locator("#slot-finland [data-move=up]").click()
        page.wait_for_url("**#slot-finland")
        expect(page.locator("#cur-status")).to_contain_text("Finland moved to place 1")

        page.locator("#slot-greenland summary", has_text="Search stories").click()
        page.locator("#q-greenland").fill("Pituffik")
        page.locator("#q-greenland").press("Enter")
        page.wait_for_url("**q=Pituffik#slot-greenland")
        page.locator("#slot-greenland .cur-results").get_by_role("button", name="Use this").click()
        expect(page.locator("#cur-status")).to_contain_text("Greenland now shows")

        page.get_by_role("button", name="Lock box").click()
        expect(page.locator("#cur-status")).to_contain_text("Box locked")
        assert Story.objects.get(pk=main.pk).related_locked
        assert RelatedChange.objects.count() == 4
    finally:
        context.close()


def test_signing_in_again_after_a_lock_without_javascript_comes_back_to_the_box(
    browser, live_server, editor
):
    """The session expired while the box's page was open, JavaScript off: "Lock box" asks to
    sign in, and signing in returns to the box's page saying the box was not locked and to do
    it again: never a blank page (the login's ``next`` is the POST-only lock address)."""
    from playwright.sync_api import expect

    main = make_box()["main"]
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        box = f"/editor/story/{main.pk}/related/"
        sign_in(page, live_server.url, box)
        context.clear_cookies(name="sessionid")  # the session expired; the CSRF cookie stays
        page.get_by_role("button", name="Lock box").click()
        page.wait_for_url(f"**/admin/login/?next=/editor/story/{main.pk}/related/lock/")
        page.fill("#id_username", "edna")
        page.fill("#id_password", "x-editor-pass-1")
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}{box}")
        status = page.locator("#cur-status")
        expect(status).to_contain_text("Nothing was changed")
        expect(status).to_contain_text("Please do it again")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "editor-back-after-sign-in.png"))
        assert not Story.objects.get(pk=main.pk).related_locked
        # Doing it again works.
        page.get_by_role("button", name="Lock box").click()
        expect(page.locator("#cur-status")).to_contain_text("Box locked")
        assert Story.objects.get(pk=main.pk).related_locked
    finally:
        context.close()
