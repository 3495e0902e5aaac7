"""The weekly digest "Around the North": drafting from the week's coverage, approval in the
admin (audited), its pages and feeds, and the email subscription through a real SMTP server
on loopback (aiosmtpd), read back as a mail client would.
"""

from __future__ import annotations

import io
import re
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
import html5lib
import pytest
from django.core import signing
from django.utils import timezone

from feeds.digest import drafting, mailing, publishing, subscriptions
from feeds.digest.choosing import Candidate, StorylineCoverage, choose_lines, choose_storylines
from feeds.digest.weeks import IsoWeek, NoSuchWeek
from feeds.generation import bump_generation
from feeds.models import (
    Digest,
    DigestChange,
    DigestLine,
    DigestSend,
    DigestStoryline,
    Story,
    Storyline,
    StorylineMembership,
    Subscriber,
    UsedConfirmation,
)
from feeds.storylines import assign
from tests.smtpserver import DEFAULT_PORT as SMTP_PORT
from tests.smtpserver import SmtpServer
from tests.test_views import country, make_source, make_story

pytestmark = [pytest.mark.django_db]

WEEK = IsoWeek(2026, 48)  # Monday 23 November to Sunday 29 November 2026
IN_WEEK = WEEK.start + timedelta(days=2, hours=9)


@pytest.fixture(autouse=True)
def _fresh_pages():
    bump_generation()


@pytest.fixture(autouse=True)
def _generous_limits(settings):
    """The limits' counters live in Redis across runs: tests that are not about them must
    not meet them (the two limit tests set their own)."""
    settings.DIGEST_SIGNUP_RATE_LIMIT = settings.DIGEST_SIGNUP_ADDRESS_RATE_LIMIT = "100000/h"


@pytest.fixture
def smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTP_PORT
    settings.EMAIL_TIMEOUT = 10
    settings.SITE_URL = "http://testserver"
    with SmtpServer(SMTP_PORT) as server:
        yield server


@pytest.fixture
def client_address():
    """A client address of its own: rate-limit counters live in Redis across runs."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.1"


def neighbour(address: str, n: int) -> str:
    return address.rsplit(".", 1)[0] + f".{n + 2}"


def a_week_of_news() -> dict[str, object]:
    """Three countries' news in WEEK: in Norway a story three outlets in two countries
    carried and a lone one; in Russia a lone story; in Canada a story that mentions Norway."""
    barents = make_source("The Barents Observer", country=country("norway"))
    nrk = make_source("NRK", country=country("norway"))
    yle = make_source("Yle News", country=country("finland"))
    tass = make_source("Murmansk Vestnik", country=country("russia"))
    cbc = make_source("CBC North", country=country("canada"))
    covered = make_story(
        "Kirkenes port deal signed", source=barents, countries=("norway",), published=IN_WEEK
    )
    for outlet in (nrk, yle):
        make_story(
            "Kirkenes port deal signed",
            source=outlet,
            countries=("norway",),
            published=IN_WEEK + timedelta(hours=3),
            canonical=covered,
        )
    lone = make_story(
        "Tromsø library reopens",
        source=nrk,
        countries=("norway",),
        published=IN_WEEK + timedelta(days=1),
    )
    russian = make_story(
        "Murmansk shipyard hires welders",
        source=tass,
        countries=("russia",),
        published=IN_WEEK,
    )
    canadian = make_story(
        "Iqaluit council studies Norwegian ferries",
        source=cbc,
        countries=("canada", "norway"),
        published=IN_WEEK,
    )
    outside = make_story(
        "Last week's Norwegian news",
        source=barents,
        countries=("norway",),
        published=WEEK.start - timedelta(hours=1),
    )
    return {
        "covered": covered,
        "lone": lone,
        "russian": russian,
        "canadian": canadian,
        "outside": outside,
    }


def lines_of(digest: Digest) -> dict[str, int]:
    return {
        line.country.slug: line.target_id
        for line in DigestLine.objects.filter(digest=digest).select_related("country")
    }


def parse(response):
    return html5lib.parse(response.content.decode(), namespaceHTMLElements=False)


# --- Choosing (pure) ----------------------------------------------------------------------------


def _candidate(story_id, countries, outlets=1, outlet_countries=1, primary=None, storyline=None):
    return Candidate(
        story_id=story_id,
        published_at=datetime(2026, 11, 25, tzinfo=UTC) + timedelta(minutes=story_id),
        outlets=outlets,
        outlet_countries=outlet_countries,
        countries=tuple(countries),
        primary_country=primary if primary is not None else countries[0],
        storyline=storyline,
    )


def test_wider_coverage_wins_a_country_and_a_story_fills_one_line_only():
    norway, russia = 1, 2
    both = _candidate(10, [norway, russia], outlets=4, outlet_countries=3)
    lone_norway = _candidate(11, [norway])
    lone_russia = _candidate(12, [russia])
    choices = choose_lines([lone_norway, both, lone_russia], [norway, russia])
    assert [(c.country_id, c.story_id) for c in choices] == [(norway, 10), (russia, 12)]
    assert choices[0].reason == "4 outlets in 3 countries"


def test_a_storyline_counts_its_whole_coverage_and_fills_one_line_only():
    norway, russia, canada = 1, 2, 3
    line = StorylineCoverage(7, countries=4, outlets=6, stories=5, title="Port deal")
    in_line_no = _candidate(20, [norway], storyline=line)
    in_line_ru = _candidate(21, [russia], storyline=line)
    syndicated = _candidate(22, [norway], outlets=3, outlet_countries=2)
    other_ru = _candidate(23, [russia])
    canadian = _candidate(24, [canada])
    choices = {
        c.country_id: c
        for c in choose_lines(
            [syndicated, in_line_ru, other_ru, in_line_no, canadian], [norway, russia, canada]
        )
    }
    # The storyline (4 countries) beats the syndicated story (2); its second story does not
    # take Russia's line: Russia gets its own news.
    assert choices[norway].story_id in {20, 21} or choices[russia].story_id in {20, 21}
    picked_from_line = [c for c in choices.values() if c.story_id in {20, 21}]
    assert len(picked_from_line) == 1 and picked_from_line[0].reason.startswith("storyline")
    assert choices[canada].story_id == 24


def test_the_storylines_of_the_week_are_the_five_most_covered_with_more_than_one_story():
    lines = [StorylineCoverage(i, countries=i % 4 + 1, outlets=i, stories=2) for i in range(1, 9)]
    lines.append(StorylineCoverage(99, countries=9, outlets=9, stories=1))
    chosen = choose_storylines(lines)
    assert len(chosen) == 5 and 99 not in {c.storyline_id for c in chosen}
    assert [c.countries for c in chosen] == sorted((c.countries for c in chosen), reverse=True)


def test_iso_weeks():
    assert WEEK.start == datetime(2026, 11, 23, tzinfo=UTC)
    assert WEEK.end == datetime(2026, 11, 30, tzinfo=UTC)
    assert WEEK.label == "Week 48, 23–29 November 2026"
    assert IsoWeek(2026, 53).label == "Week 53, 28 December 2026 – 3 January 2027"
    assert IsoWeek.last_complete(datetime(2026, 11, 30, 5, tzinfo=UTC)) == WEEK
    with pytest.raises(NoSuchWeek):
        IsoWeek(2027, 53)
    with pytest.raises(NoSuchWeek):
        IsoWeek(2026, 0)


# --- Drafting -----------------------------------------------------------------------------------


def test_the_draft_has_a_line_per_country_from_the_most_covered_stories_once_per_week():
    world = a_week_of_news()
    made = drafting.draft_last_week(now=WEEK.end + timedelta(hours=5))
    assert made.created and made.digest.status == Digest.Status.DRAFT
    lines = lines_of(made.digest)
    assert lines == {
        "norway": world["covered"].pk,  # three outlets in two countries beat the lone ones
        "russia": world["russian"].pk,
        "canada": world["canadian"].pk,
    }
    reason = DigestLine.objects.get(digest=made.digest, country__slug="norway").reason
    assert reason == "3 outlets in 2 countries"
    # An editor changes Norway's line; the beat runs again (and again): nothing is redone.
    DigestLine.objects.filter(digest=made.digest, country__slug="norway").update(
        target=world["lone"]
    )
    again = drafting.draft_week(WEEK)
    assert not again.created and again.digest.pk == made.digest.pk
    assert lines_of(again.digest)["norway"] == world["lone"].pk
    assert Digest.objects.count() == 1


def test_the_draft_leads_with_the_weeks_storylines_and_takes_one_line_from_each(
    client, smtp, editor
):
    world = a_week_of_news()
    line = Storyline.objects.create(
        slug="murmansk-ferries",
        title="Ferries across the Barents",
        first_published_at=IN_WEEK,
        last_published_at=IN_WEEK,
        story_count=2,
        country_count=4,
        outlet_count=5,
    )
    for story in (world["russian"], world["canadian"]):
        StorylineMembership.objects.create(story=story, storyline=line)
    digest = drafting.draft_week(WEEK).digest
    assert list(digest.storylines.values_list("storyline_id", flat=True)) == [line.pk]
    chosen = set(lines_of(digest).values())
    assert len(chosen & {world["russian"].pk, world["canadian"].pk}) == 1

    publishing.approve(digest, editor)
    page = client.get(digest.get_absolute_url()).content.decode()
    assert '<a href="/storyline/murmansk-ferries/">Ferries across the Barents</a>' in page
    reader = Subscriber.objects.create(email="reader@example.org", key=secrets.token_hex(16))
    assert mailing.send_batch(digest.pk, [reader.pk]).sent == 1
    (received,) = smtp.messages
    assert "Storylines of the week:\r\n- Ferries across the Barents" in received.part("text/plain")
    assert 'href="http://testserver/storyline/murmansk-ferries/"' in received.part("text/html")


def test_the_weeks_storylines_and_lines_rank_by_that_weeks_coverage_not_all_time(
    client, smtp, editor
):
    """Last year's big storyline, continued this week by one outlet, does not lead the week:
    neither its storylines of the week nor Norway's line."""
    world = a_week_of_news()
    nrk = make_source("NRK", country=country("norway"))
    big = Storyline.objects.create(slug="pechora-oil-spill", title="Pechora oil spill")
    last_year = WEEK.start - timedelta(days=300)
    for i, home in enumerate(["norway", "russia", "finland", "sweden", "canada", "iceland"]):
        story = make_story(
            f"Pechora oil spill, report {i}",
            source=make_source(f"Outlet {i}", country=country(home)),
            countries=("norway",),
            published=last_year + timedelta(hours=i),
        )
        StorylineMembership.objects.create(story=story, storyline=big)
    for i in range(2):
        story = make_story(
            f"Pechora oil spill: a year on, part {i + 1}",
            source=nrk,
            countries=("norway",),
            published=IN_WEEK + timedelta(hours=i),
        )
        StorylineMembership.objects.create(story=story, storyline=big)
    ferries = Storyline.objects.create(slug="barents-ferries", title="Ferries across the Barents")
    for story in (world["russian"], world["canadian"]):
        StorylineMembership.objects.create(story=story, storyline=ferries)
    for line in (big, ferries):
        assign.refresh(line.pk)
    big.refresh_from_db()
    assert (big.country_count, big.outlet_count, big.story_count) == (6, 7, 8)

    digest = drafting.draft_week(WEEK).digest
    chosen = list(digest.storylines.order_by("position").values_list("storyline_id", "reason"))
    assert chosen == [
        (ferries.pk, "this week: 2 stories, 2 outlets in 2 countries"),
        (big.pk, "this week: 2 stories, 1 outlet in 1 country"),
    ]
    # Norway's line: the port deal three outlets in two countries carried this week, not a
    # story of the storyline on its all-time coverage.
    assert lines_of(digest)["norway"] == world["covered"].pk

    # Readers are told the week's coverage, as it was chosen, on the page and in the email.
    publishing.approve(digest, editor)
    page = client.get(digest.get_absolute_url()).content.decode()
    assert "2 stories from 1 country that week" in page
    assert "2 stories from 2 countries that week" in page
    reader = Subscriber.objects.create(email="reader@example.org", key=secrets.token_hex(16))
    assert mailing.send_batch(digest.pk, [reader.pk]).sent == 1
    (received,) = smtp.messages
    text = received.part("text/plain")
    assert "- Pechora oil spill (2 stories from 1 country that week)\r\n" in text
    assert "http://testserver/storyline/pechora-oil-spill/" in text
    assert "(2 stories from 1 country that week)" in received.part("text/html")


# --- Approval, pages and feeds --------------------------------------------------------------


@pytest.fixture
def draft():
    a_week_of_news()
    return drafting.draft_week(WEEK).digest


def test_a_draft_is_not_published_until_an_editor_approves_it_in_the_admin(
    client, draft, editor, staff_without_rights, django_capture_on_commit_callbacks
):
    url = f"/digest/{WEEK.year}/{WEEK.week}/"
    assert client.get(url).status_code == 404
    assert "Kirkenes" not in client.get("/digest/").content.decode()
    assert b"Kirkenes" not in client.get("/digest/feed/").content

    # Staff without the permission can neither see the action nor use it.
    client.force_login(staff_without_rights)
    client.post("/admin/feeds/digest/", {"action": "approve", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == Digest.Status.DRAFT

    client.force_login(editor)
    preview = client.get(url)
    assert preview.status_code == 200 and "Draft preview" in preview.content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the page cache's new generation
        response = client.post(
            "/admin/feeds/digest/", {"action": "approve", "_selected_action": [draft.pk]}
        )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Digest.Status.APPROVED and draft.approved_by == editor
    assert draft.approved_at is not None
    change = DigestChange.objects.get(digest=draft)
    assert (change.username, change.action) == ("edna", "approve")
    assert change.before["status"] == "draft" and change.after["status"] == "approved"
    client.logout()

    page = client.get(url)
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.content.decode())
    assert "Norway:</span> <a href=" in text and "Kirkenes port deal signed</a>, " in text
    tree = parse(page)
    alternates = {
        link.get("type"): link.get("href")
        for link in tree.iter("link")
        if link.get("rel") == "alternate"
    }
    assert alternates == {
        "application/rss+xml": "/digest/feed/",
        "application/atom+xml": "/digest/feed/atom/",
        "application/feed+json": "/digest/feed/json/",
    }
    archive = client.get("/digest/").content.decode()
    assert url in archive and "Week 48, 23–29 November 2026" in archive
    home = client.get("/").content.decode()
    assert 'href="/digest/"' in home


def test_the_digest_feeds_carry_each_published_week(client, draft, editor):
    line = Storyline.objects.create(slug="barents-ferries", title="Ferries across the Barents")
    hidden = Storyline.objects.create(
        slug="withdrawn", title="A storyline hidden since", hidden=True
    )
    for position, storyline in enumerate((line, hidden)):
        DigestStoryline.objects.create(digest=draft, storyline=storyline, position=position)
    Digest.objects.filter(pk=draft.pk).update(introduction="Ice and ships.\nAnd an election.")
    publishing.approve(draft, editor)
    for path in ("/digest/feed/", "/digest/feed/atom/"):
        parsed = feedparser.parse(client.get(path).content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        (entry,) = parsed.entries
        assert entry.title == "Around the North: Week 48, 23–29 November 2026"
        assert entry.id == "tag:arcticnews,2026:digest/2026-W48"
        assert urlsplit(entry.link).path == "/digest/2026/48/"
        assert "<strong>Norway:</strong>" in entry.summary and "Kirkenes" in entry.summary
        # The intro's lines as the page shows them; the storylines of the week, as on the
        # page and in the email (a hidden one left out).
        assert "Ice and ships.<br />And an election." in entry.summary
        assert (
            '<a href="http://testserver/storyline/barents-ferries/">Ferries across the Barents</a>'
            in entry.summary
        )
        assert "hidden since" not in entry.summary
    json_feed = client.get("/digest/feed/json/").json()
    assert json_feed["items"][0]["id"] == "tag:arcticnews,2026:digest/2026-W48"
    assert "Russia: Murmansk shipyard hires welders" in json_feed["items"][0]["summary"]
    assert "/storyline/barents-ferries/" in json_feed["items"][0]["content_html"]


def test_editors_change_a_line_and_the_order_audited_and_an_approved_digest_is_locked(
    client, draft, editor
):
    world_lone = DigestLine.objects.get(digest=draft, country__slug="norway")
    lone = make_story(
        "Svalbard mine closes", countries=("norway",), published=IN_WEEK + timedelta(hours=2)
    )
    lines = list(draft.lines.order_by("position"))
    form = {
        "title": "Around the North",
        "introduction": "A quiet week.",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "storylines-TOTAL_FORMS": "0",
        "storylines-INITIAL_FORMS": "0",
        "storylines-MIN_NUM_FORMS": "0",
        "storylines-MAX_NUM_FORMS": "5",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }
    for i, line in enumerate(lines):
        form.update(
            {
                f"lines-{i}-id": str(line.pk),
                f"lines-{i}-digest": str(draft.pk),
                f"lines-{i}-position": str(len(lines) - i),  # reversed
                f"lines-{i}-country": str(line.country_id),
                f"lines-{i}-target": str(lone.pk if line.pk == world_lone.pk else line.target_id),
            }
        )
    client.force_login(editor)
    response = client.post(f"/admin/feeds/digest/{draft.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert lines_of(draft)["norway"] == lone.pk
    order = list(draft.lines.order_by("position").values_list("pk", flat=True))
    assert order == [line.pk for line in reversed(lines)]
    edit = DigestChange.objects.get(digest=draft, action="edit")
    assert edit.username == "edna"
    norway_position = len(lines) - [line.pk for line in lines].index(world_lone.pk)
    assert {"country": "norway", "story": lone.pk, "position": norway_position} in edit.after[
        "lines"
    ]
    assert {"country": "norway", "story": world_lone.target_id, "position": 1} in edit.before[
        "lines"
    ]
    assert edit.after["introduction"] == "A quiet week."

    # A hidden story cannot be picked.
    hidden = make_story("Hidden", countries=("norway",), is_hidden=True)
    form[f"lines-{[line.pk for line in lines].index(world_lone.pk)}-target"] = str(hidden.pk)
    refused = client.post(f"/admin/feeds/digest/{draft.pk}/change/", form)
    assert refused.status_code == 200 and "Pick a story readers can see" in refused.content.decode()

    publishing.approve(draft, editor)
    assert client.post(f"/admin/feeds/digest/{draft.pk}/change/", form).status_code == 403


def test_only_holders_of_the_subscriber_permission_see_addresses(client, editor, django_user_model):
    from django.contrib.auth.models import Permission

    Subscriber.objects.create(email="reader@example.org", key="k" * 32)
    client.force_login(editor)
    assert client.get("/admin/feeds/subscriber/").status_code == 403
    assert b"reader@example.org" not in client.get("/admin/").content
    keeper = django_user_model.objects.create_user("kim", password="x-kim-pass-1", is_staff=True)
    keeper.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    client.force_login(keeper)
    page = client.get("/admin/feeds/subscriber/")
    assert page.status_code == 200 and b"reader@example.org" in page.content
    assert client.get("/admin/feeds/subscriber/add/").status_code == 403


# --- Subscribing, through a real SMTP server ---------------------------------------------------


def _links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"<>]+", text)


def _subscribe(client, address: str, client_address: str):
    return client.post("/digest/subscribe/", {"email": address}, REMOTE_ADDR=client_address)


def test_double_opt_in_through_smtp_and_a_link_that_works_once(client, smtp, client_address):
    response = _subscribe(client, "  Reader@Example.ORG ", client_address)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    assert not Subscriber.objects.exists(), "nothing is stored before the confirmation"
    (received,) = smtp.to("Reader@example.org")
    message = received.message
    assert "Confirm your subscription" in message["Subject"]
    text, html = received.part("text/plain"), received.part("text/html")
    (link,) = [u for u in _links(text) if "/digest/confirm/" in u]
    assert link in html.replace("&amp;", "&")
    path = urlsplit(link).path

    # A mail scanner's GET subscribes nobody: it shows a button.
    page = client.get(path)
    assert page.status_code == 200 and "Yes, subscribe me" in page.content.decode()
    assert not Subscriber.objects.exists()
    done = client.post(path)
    assert done.status_code == 200 and "You are subscribed" in done.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "Reader@example.org"

    # Replayed: refused, nothing changes; the link's page says so instead of offering a button.
    replay = client.post(path)
    assert replay.status_code == 410 and "already been used" in replay.content.decode()
    again = client.get(path)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert "Yes, subscribe me" not in again.content.decode()
    assert list(Subscriber.objects.values_list("pk", flat=True)) == [subscriber.pk]
    # Unsubscribed, then the old confirmation link replayed: still refused.
    assert subscriptions.unsubscribe(subscriptions.unsubscribe_token(subscriber)).name == "REMOVED"
    assert client.post(path).status_code == 410
    assert not Subscriber.objects.exists()


def test_an_expired_or_forged_confirmation_link_changes_nothing(client, settings):
    class Past(signing.TimestampSigner):
        def timestamp(self):
            born = int(time.time()) - settings.DIGEST_CONFIRM_MAX_AGE - 60
            return signing.b62_encode(born)

    expired = Past(salt=subscriptions.CONFIRM_SALT).sign_object({"e": "late@example.org"})
    for method in (client.get, client.post):
        response = method(f"/digest/confirm/{expired}/")
        assert response.status_code == 410 and "expired" in response.content.decode()
    good = subscriptions.confirmation_token("someone@example.org")
    forged = good.replace("someone", "someone")[:-3] + "abc"
    other_salt = signing.dumps({"e": "x@example.org"}, salt=subscriptions.UNSUBSCRIBE_SALT)
    for token in (forged, other_salt, "nonsense", "a" * 2000):
        response = client.post(f"/digest/confirm/{token}/")
        assert response.status_code == 400 and "not valid" in response.content.decode()
    assert not Subscriber.objects.exists() and not UsedConfirmation.objects.exists()


HOSTILE = [
    ("reader@example.org\r\nBcc: victim@example.net", "line breaks"),
    ("reader@example.org\nSubject: free money", "line breaks"),
    ("reader@example.org%0d%0aBcc:victim@example.net", "valid email"),
    ("Eve <eve@example.org>", "spaces"),
    ("a@example.org,b@example.org", "valid email"),
    ("x" * 250 + "@example.org", "at most 254"),
    ("y" * 5000, "far too long"),
    ("jörg@example.org", "Latin letters"),
    ("<script>alert(1)</script>@example.org", "valid email"),
    ("", "Enter your email address"),
    ("no-at-sign.example.org", "complete email address"),
    ("reader@exa\u0000mple.org", "controls"),
]


@pytest.mark.parametrize("address, why", HOSTILE)
def test_a_malformed_or_hostile_address_gets_a_clear_answer_and_no_mail(
    client, smtp, client_address, address, why
):
    response = _subscribe(client, address, client_address)
    assert response.status_code == 400
    body = response.content.decode()
    error = parse(response).find(".//p[@id='digest-email-error']")
    assert error is not None and why in "".join(error.itertext())
    assert "<script>alert" not in body
    assert smtp.messages == [] and not Subscriber.objects.exists()


def test_an_international_domain_is_mailed_in_its_ascii_form(client, smtp, client_address):
    assert _subscribe(client, "user@bücher.example", client_address).status_code == 200
    assert smtp.recipients() == ["user@xn--bcher-kva.example"]


def test_a_flood_of_sign_ups_from_one_client_is_limited(client, smtp, settings, client_address):
    settings.DIGEST_SIGNUP_RATE_LIMIT = "3/h"
    answers = [
        _subscribe(client, f"flood{i}@example.org", client_address).status_code for i in range(6)
    ]
    assert answers == [200, 200, 200, 429, 429, 429]
    limited = _subscribe(client, "late@example.org", client_address)
    assert limited["Retry-After"] and "Too many sign-ups" in limited.content.decode()
    assert len(smtp.messages) == 3
    # Another client is not affected.
    assert _subscribe(client, "other@example.org", neighbour(client_address, 0)).status_code == 200


def test_one_address_cannot_be_buried_in_confirmations_from_many_clients(
    client, smtp, settings, client_address
):
    settings.DIGEST_SIGNUP_ADDRESS_RATE_LIMIT = "2/d"
    target = f"victim-{secrets.token_hex(4)}@example.org"
    answers = [
        _subscribe(client, target, neighbour(client_address, i)).status_code for i in range(4)
    ]
    assert answers == [200, 200, 429, 429]
    assert len(smtp.to(target)) == 2


def test_a_mail_server_that_is_down_gets_a_clear_answer(client, settings, client_address):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 8259, 2
    response = _subscribe(client, "reader@example.org", client_address)
    assert response.status_code == 503 and "try again later" in response.content.decode()


# --- The mailing -----------------------------------------------------------------------------


def _subscribers(n: int) -> list[Subscriber]:
    return [
        Subscriber.objects.create(email=f"reader{i}@example.org", key=secrets.token_hex(16))
        for i in range(n)
    ]


def test_the_digest_email_has_both_parts_the_lines_and_one_click_unsubscribe(
    client, smtp, draft, editor
):
    publishing.approve(draft, editor)
    readers = _subscribers(3)
    smtp.refuse_rcpt.add("reader2@example.org")
    result = mailing.send_batch(draft.pk, [s.pk for s in readers])
    assert (result.sent, result.refused) == (2, 1)
    assert sorted(smtp.recipients()) == ["reader0@example.org", "reader1@example.org"]
    states = dict(DigestSend.objects.values_list("subscriber__email", "state"))
    assert states == {
        "reader0@example.org": "sent",
        "reader1@example.org": "sent",
        "reader2@example.org": "failed",
    }

    (received,) = smtp.to("reader0@example.org")
    message = received.message
    # Django folds an encoded subject onto a continuation line; clients unfold it.
    assert message["Subject"].strip() == "Around the North: Week 48, 23–29 November 2026"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith("http://testserver/digest/unsubscribe/")
    text, html = received.part("text/plain"), received.part("text/html")
    assert "Norway: Kirkenes port deal signed, The Barents Observer" in text
    assert "Russia: Murmansk shipyard hires welders, Murmansk Vestnik" in text
    assert unsubscribe in _links(text) and unsubscribe in html
    assert "http://testserver/digest/2026/48/" in text
    story_links = [u for u in _links(text) if "/story/" in u]
    assert len(story_links) == 3
    assert "<strong>Norway:</strong>" in html and "Kirkenes port deal signed</a>" in html

    # Sent again (a redelivered batch): nobody gets a second copy.
    again = mailing.send_batch(draft.pk, [s.pk for s in readers])
    assert (again.sent, again.skipped) == (0, 3) and len(smtp.messages) == 2

    # The mail client's one-click POST (RFC 8058): no cookie, no CSRF token.
    path = urlsplit(unsubscribe).path
    one_click = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200 and "deleted" in one_click.content.decode()
    assert not Subscriber.objects.filter(email="reader0@example.org").exists()
    assert DigestSend.objects.count() == 2  # the address's records went with it
    replay = client.post(path)
    assert replay.status_code == 200 and "not subscribed" in replay.content.decode()
    assert Subscriber.objects.count() == 2
    # The reader's own click on the link shows a button first (scanners follow links).
    other = urlsplit(
        smtp.to("reader1@example.org")[0].message["List-Unsubscribe"].strip().strip("<>")
    )
    assert "Unsubscribe</button>" in client.get(other.path).content.decode()
    assert Subscriber.objects.count() == 2
    assert client.post(other.path[:-5] + "xxxx/").status_code == 400
    assert Subscriber.objects.count() == 2


def test_a_draft_or_withdrawn_digest_is_never_mailed(smtp, draft, editor):
    readers = _subscribers(2)
    assert mailing.send_batch(draft.pk, [s.pk for s in readers]).sent == 0
    assert mailing.digests_to_mail() == []
    publishing.approve(draft, editor)
    assert mailing.digests_to_mail() == [draft.pk]
    publishing.withdraw(draft, editor)
    assert mailing.send_batch(draft.pk, [s.pk for s in readers]).sent == 0
    assert smtp.messages == [] and not DigestSend.objects.exists()
    assert [c.action for c in DigestChange.objects.order_by("at", "id")] == ["approve", "withdraw"]


def test_the_mailing_is_split_in_batches_of_subscribers_not_yet_mailed(settings, draft, editor):
    settings.DIGEST_BATCH_SIZE = 4
    publishing.approve(draft, editor)
    readers = _subscribers(10)
    DigestSend.objects.create(digest=draft, subscriber=readers[0], state="sent")
    planned = mailing.batches(draft)
    assert [len(b) for b in planned] == [4, 4, 1]
    assert sorted(i for b in planned for i in b) == sorted(s.pk for s in readers[1:])
    assert timezone.now() >= draft.approved_at


def test_beat_runs_the_draft_task_daily_and_it_makes_the_last_complete_week_once(settings):
    from celery.schedules import crontab

    from feeds.tasks import draft_weekly_digest, send_approved_digests

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["draft-weekly-digest"]["task"] == draft_weekly_digest.name
    assert isinstance(schedule["draft-weekly-digest"]["schedule"], crontab)
    assert schedule["send-approved-digests"]["task"] == send_approved_digests.name
    first = draft_weekly_digest.apply().get()
    second = draft_weekly_digest.apply().get()
    expected = IsoWeek.last_complete(timezone.now())
    digest = Digest.objects.get()
    assert first == second == digest.pk
    assert (digest.year, digest.week) == (expected.year, expected.week)


def test_draft_digest_drafts_a_week_now_once_and_refuses_a_bad_week():
    import subprocess
    import sys

    from django.core.management import call_command
    from django.core.management.base import CommandError

    world = a_week_of_news()
    out = io.StringIO()
    call_command("draft_digest", "--week", "2026-W48", stdout=out)
    assert out.getvalue().startswith(f"Drafted {WEEK.label}: 3 lines")
    digest = Digest.objects.get(year=2026, week=48)
    assert lines_of(digest)["norway"] == world["covered"].pk
    # Idempotent, as beat is: an editor's change survives a second run.
    DigestLine.objects.filter(digest=digest, country__slug="norway").update(target=world["lone"])
    out = io.StringIO()
    call_command("draft_digest", "--week", "2026-W48", stdout=out)
    assert "already has its digest (draft); left as it is" in out.getvalue()
    assert lines_of(digest)["norway"] == world["lone"].pk and Digest.objects.count() == 1

    call_command("draft_digest", stdout=io.StringIO())  # the last complete week
    last = IsoWeek.last_complete(timezone.now())
    assert Digest.objects.filter(year=last.year, week=last.week).exists()

    for bad in ("2026-W54", "2026-48", "last"):
        with pytest.raises(CommandError, match="ISO week") as refused:
            call_command("draft_digest", "--week", bad)
        assert refused.value.returncode == 2
    # As a shell sees it: exit status 2, the reason on stderr, nothing drafted.
    done = subprocess.run(
        [sys.executable, "manage.py", "draft_digest", "--week", "2025-W53"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "2025 has no ISO week 53" in done.stderr
    assert Digest.objects.count() == len({WEEK, last})


def test_editors_draft_last_week_now_from_the_admin(client, editor, staff_without_rights):
    client.force_login(staff_without_rights)
    assert client.post("/admin/feeds/digest/draft-last-week/").status_code == 403
    assert not Digest.objects.exists()

    client.force_login(editor)
    listing = client.get("/admin/feeds/digest/").content.decode()
    assert "Draft last week now" in listing
    # A GET (as signing in again sends) drafts nothing: back to the list, saying so.
    got = client.get("/admin/feeds/digest/draft-last-week/", follow=True)
    assert got.redirect_chain == [("/admin/feeds/digest/", 302)]
    assert "Nothing was changed" in got.content.decode() and not Digest.objects.exists()
    response = client.post("/admin/feeds/digest/draft-last-week/", follow=True)
    last = IsoWeek.last_complete(timezone.now())
    digest = Digest.objects.get()
    assert (digest.year, digest.week) == (last.year, last.week)
    assert response.redirect_chain[-1][0] == f"/admin/feeds/digest/{digest.pk}/change/"
    assert f"Drafted {last.label}." in response.content.decode()
    again = client.post("/admin/feeds/digest/draft-last-week/", follow=True)
    assert "already has its digest; left as it is" in again.content.decode()
    assert Digest.objects.count() == 1


def test_the_line_editor_offers_the_countrys_next_best_stories(client, draft, editor):
    from django.core.cache import cache

    cache.delete(f"digest:alternatives:{draft.pk}")
    client.force_login(editor)
    page = client.get(f"/admin/feeds/digest/{draft.pk}/change/").content.decode()
    tromso = Story.objects.get(title="Tromsø library reopens")
    # Norway's line has the three-outlet story; the lone Norwegian story is offered instead.
    assert (
        f'<li><a href="/story/{tromso.pk}/">{tromso.pk}</a>: Tromsø library reopens (NRK;' in page
    )
    listing = client.get("/admin/feeds/digest/").content.decode()
    assert "not sent (a draft is never mailed)" in listing


def test_the_digest_pages_cost_a_fixed_number_of_queries(
    client, draft, editor, django_assert_max_num_queries
):
    publishing.approve(draft, editor)
    for week in range(40, 48):
        more = drafting.draft_week(IsoWeek(2026, week)).digest
        Digest.objects.filter(pk=more.pk).update(status=Digest.Status.APPROVED)
    bump_generation()
    with django_assert_max_num_queries(8):
        assert client.get("/digest/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(draft.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get("/digest/feed/").status_code == 200


def test_coverage_by_outlets_without_a_home_country_says_so_plainly():
    assert _candidate(1, [1], outlets=2, outlet_countries=0).reason() == "2 outlets"


def test_a_try_later_is_retried_and_a_refusal_is_not_and_nobody_gets_two(smtp, draft, editor):
    import smtplib

    publishing.approve(draft, editor)
    readers = _subscribers(4)
    ids = [s.pk for s in readers]
    smtp.defer_rcpt.add("reader1@example.org")  # 451 at RCPT: greylisted
    smtp.refuse.add("reader3@example.org")  # 550 after DATA
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mailing.send_batch(draft.pk, ids)  # the task retries on this
    assert smtp.recipients() == ["reader0@example.org"]
    assert dict(DigestSend.objects.values_list("subscriber__email", "state")) == {
        "reader0@example.org": "sent"
    }
    smtp.defer_rcpt.clear()
    retried = mailing.send_batch(draft.pk, ids)
    assert (retried.sent, retried.refused, retried.skipped) == (2, 1, 1)
    assert Counter(smtp.recipients()) == Counter(
        {
            "reader0@example.org": 1,
            "reader1@example.org": 1,
            "reader2@example.org": 1,
            "reader3@example.org": 1,
        }
    )  # the server received reader3's message and answered 550: it will not deliver it
    assert DigestSend.objects.get(subscriber=readers[3]).state == "failed"
    assert "550" in DigestSend.objects.get(subscriber=readers[3]).error


def test_a_story_hidden_after_approval_leaves_the_page_the_feed_and_the_email(
    client, smtp, draft, editor
):
    publishing.approve(draft, editor)
    Story.objects.filter(title="Kirkenes port deal signed").update(is_hidden=True)
    bump_generation()
    assert "Kirkenes" not in client.get(draft.get_absolute_url()).content.decode()
    assert "Murmansk shipyard" in client.get(draft.get_absolute_url()).content.decode()
    assert b"Kirkenes" not in client.get("/digest/feed/json/").content
    reader = _subscribers(1)[0]
    mailing.send_batch(draft.pk, [reader.pk])
    text = smtp.messages[0].part("text/plain")
    assert "Kirkenes" not in text and "Murmansk shipyard" in text
