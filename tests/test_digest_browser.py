"""The digest as readers see it, at 1280 and 390 px in Debian's Chromium: the week's page and
the archive, and the email sign-up from the form to "You are subscribed" with the link read
from a real SMTP server. Screenshots in test-artifacts/ (digest-*.png); axe-core checks each
page (no serious or critical violation)."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from feeds.digest import drafting, publishing
from feeds.digest.weeks import IsoWeek
from feeds.generation import bump_generation
from feeds.models import Story, Subscriber
from tests import test_pages_browser
from tests.conftest import CHROMIUM, restore_vocabularies
from tests.smtpserver import DEFAULT_PORT, SmtpServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed at {CHROMIUM}"),
]

SMTP_PORT = DEFAULT_PORT + 2  # apart from test_digest.py's and the worker test's
# The reader pages' fixture: one tab at 1280 px and one at 390 px.
tabs = test_pages_browser.tabs


@pytest.fixture
def week(live_server, settings):
    """The sample feeds' newest week, drafted and approved."""
    restore_vocabularies()
    call_command("load_sample_feeds", stdout=StringIO())
    newest = Story.objects.visible().articles().latest("published_at")
    iso = IsoWeek.of(newest.published_at)
    digest = drafting.draft_week(iso).digest
    approver = get_user_model().objects.create_user("anna", password="x-approver-pass-1")
    publishing.approve(digest, approver)
    bump_generation()
    return digest


@pytest.fixture
def smtp(settings, live_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.SITE_URL = live_server.url
    # Every run signs up from 127.0.0.1, and the counters live in Redis for an hour.
    settings.DIGEST_SIGNUP_RATE_LIMIT = settings.DIGEST_SIGNUP_ADDRESS_RATE_LIMIT = "1000/h"
    with SmtpServer(SMTP_PORT) as server:
        yield server


def test_the_week_and_the_archive_at_both_widths(tabs, week):
    lines = list(week.lines.select_related("country", "target__source"))
    assert len(lines) >= 3
    for tab in tabs:
        tab.goto(week.get_absolute_url())
        tab.page.screenshot(path=_artifact(f"digest-week-{tab.name}"), full_page=True)
        tab.no_horizontal_scroll()
        tab.axe("digest week")
        items = tab.page.locator("#digest-lines + .related__list .related__item").all_inner_texts()
        # Credited as listings and related boxes are: "The outlet via the feed's source".
        assert [re.sub(r"\s+", " ", t).strip() for t in items] == [
            f"{line.country.name}: {line.target.title}, {line.target.outlet}"
            + (
                f" via {line.target.source.name}"
                if line.target.outlet != line.target.source.name
                else ""
            )
            for line in lines
        ]
        feeds = tab.js(
            "[...document.querySelectorAll('link[rel=alternate]')].map(l => l.getAttribute('href'))"
        )
        assert feeds == ["/digest/feed/", "/digest/feed/atom/", "/digest/feed/json/"]
        tab.goto("/digest/")
        tab.page.screenshot(path=_artifact(f"digest-archive-{tab.name}"), full_page=True)
        tab.no_horizontal_scroll()
        tab.axe("digest archive")
        assert tab.page.locator(".digest-archive a").count() == 1
        tab.goto("/")
        tab.page.get_by_role("link", name="read Around the North, our weekly digest").click()
        assert urlsplit(tab.page.url).path == "/digest/"
        assert tab.errors == []


def test_subscribing_from_the_form_to_the_confirmation(tabs, week, smtp):
    for n, tab in enumerate(tabs):
        page = tab.page
        tab.goto(week.get_absolute_url())
        # A bad address first: the answer is next to the field, the value kept.
        page.fill("#digest-email", "reader at example.org")
        page.get_by_role("button", name="Subscribe").click()
        error = page.locator("#digest-email-error")
        assert "spaces" in error.inner_text()
        assert page.locator("#digest-email").get_attribute("aria-invalid") == "true"
        page.screenshot(path=_artifact(f"digest-signup-error-{tab.name}"), full_page=True)
        tab.axe("sign-up error")

        address = f"reader{n}@example.org"
        page.fill("#digest-email", address)
        page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading", name="Check your inbox").is_visible()
        page.screenshot(path=_artifact(f"digest-signup-sent-{tab.name}"), full_page=True)
        (received,) = smtp.to(address)
        link = re.search(r"http://\S+/digest/confirm/\S+/", received.part("text/plain"))
        assert link is not None
        page.goto(link.group(0))
        page.screenshot(path=_artifact(f"digest-confirm-{tab.name}"), full_page=True)
        tab.axe("confirm")
        page.get_by_role("button", name="Yes, subscribe me").click()
        assert page.get_by_role("heading", name="You are subscribed").is_visible()
        page.screenshot(path=_artifact(f"digest-subscribed-{tab.name}"), full_page=True)
        tab.no_horizontal_scroll()
        assert Subscriber.objects.filter(email=address).exists()
        # The only error the console saw is the bad address's 400 answer.
        assert [e for e in tab.errors if "status of 400" not in e] == []
        assert len(tab.errors) == 1


def _artifact(label: str) -> str:
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{label}.png")


def test_an_editor_edits_and_approves_a_draft_in_the_admin(browser, live_server, editor, week):
    from feeds.models import Digest

    draft = drafting.draft_week(IsoWeek(week.year, week.week - 1)).digest
    assert draft.status == Digest.Status.DRAFT
    tab = test_pages_browser.Tab(browser, live_server.url, test_pages_browser.DESKTOP, "1280")
    try:
        tab.sign_in()
        tab.goto(reverse("admin:feeds_digest_change", args=[week.pk]))
        tab.page.screenshot(path=_artifact("digest-admin-approved-1280"), full_page=True)
        tab.goto(reverse("admin:feeds_digest_change", args=[draft.pk]))
        tab.page.screenshot(path=_artifact("digest-admin-draft-1280"), full_page=True)
        tab.no_horizontal_scroll()
        tab.axe("digest admin")
        # Reorder: the last line first, then approve where the lines were checked: the
        # draft's own page (the list's action is test_digest.py's).
        positions = "input[name^='lines-'][name$='-position']:not([name*='__prefix__'])"
        tab.page.locator(positions).last.fill("0")
        for field in tab.page.locator(positions).all()[:-1]:
            field.fill(str(int(field.input_value()) + 1))
        tab.page.get_by_role("button", name="Save and approve (then mailed to subscribers)").click()
        tab.page.wait_for_url(f"**{reverse('admin:feeds_digest_change', args=[draft.pk])}")
        assert "published" in tab.page.locator(".messagelist").inner_text()
        tab.page.screenshot(path=_artifact("digest-admin-approved-now-1280"), full_page=True)
        draft.refresh_from_db()
        assert draft.status == Digest.Status.APPROVED and draft.approved_by == editor
        assert [c.action for c in draft.changes.order_by("at")] == ["edit", "approve"]
        # Approved, the page is locked: no button to save or approve again.
        assert tab.page.locator("input[name=_approve], input[name=_save]").count() == 0
        tab.goto(reverse("admin:feeds_digest_changelist"))
        tab.page.screenshot(path=_artifact("digest-admin-list-1280"), full_page=True)
    finally:
        tab.close()
