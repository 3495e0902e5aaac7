"""Editor flows around refusals: signing in from a POST, CSRF and permission failures,
and the newsroom's words for feed health and categories."""

from __future__ import annotations

from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from feeds.ingest.pipeline import SAMPLE_LOADED
from feeds.models import Feed, RelatedSlot
from tests.conftest import ROOT
from tests.test_views import country, make_story, parse, text_of

pytestmark = [pytest.mark.django_db]


def box_url(story) -> str:
    return reverse("feeds:curation:box", args=[story.pk])


def test_signing_in_from_an_editor_post_returns_to_the_page_it_came_from(client, editor):
    """The session expired while the box's page was open: the POST goes to the login page,
    whose ``next`` is the button's (POST-only) address; signing in sends a GET there, which
    lands on the box's page saying nothing was done, not on a blank 405."""
    story = make_story("Kirkenes braces for a quieter border", countries=("norway",))
    target = make_story("Nickel smelter fined", countries=("russia",))
    pick = reverse("feeds:curation:change", args=[story.pk, "pick"])
    post = client.post(pick, {"country": country("russia").pk, "target": target.pk})
    assert post.status_code == 302
    login = post["Location"]
    assert login == f"{reverse('admin:login')}?next={quote(pick)}"
    signed_in = client.post(login, {"username": "edna", "password": "x-editor-pass-1"}, follow=True)
    assert signed_in.redirect_chain == [(pick, 302), (box_url(story), 302)]
    assert signed_in.status_code == 200
    status = text_of(parse(signed_in).find(".//*[@id='cur-status']"))
    assert "Nothing was changed" in status and "Please do it again" in status
    assert not RelatedSlot.objects.filter(story=story, country=country("russia")).exists()


@pytest.mark.parametrize(
    "name, args, page",
    [
        ("feeds:curation:change", ("story", "lock"), "feeds:curation:box"),
        ("admin:feeds_digest_draft_last_week", (), "admin:feeds_digest_changelist"),
        ("admin:feeds_reviewstory_confirm", ("story",), "admin:feeds_reviewstory_changelist"),
    ],
)
def test_every_editor_button_address_opened_as_a_page_goes_back_to_its_page(
    client, editor, name, args, page
):
    story = make_story("Ice road opens", countries=("canada",))
    args = tuple(story.pk if a == "story" else a for a in args)
    client.force_login(editor)
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"] == reverse(page, args=args[:1] if "curation" in page else ())
    # Any other method than POST and GET: the site's page, not a blank.
    refused = client.put(reverse(name, args=args))
    assert refused.status_code == 405 and refused["Allow"] == "POST"
    assert "This address cannot do that" in refused.content.decode()
    assert "no-store" in refused["Cache-Control"]  # still an editor's private page


def test_no_405_is_a_blank_page(client):
    """Django's 405s have an empty body; every one is our page with what to do."""
    make_story("Ice road opens", countries=("canada",))
    for path in ("/", "/search/?q=ice", "/country/canada/", "/feed/", "/outlets/"):
        response = client.post(path, HTTP_REFERER="http://testserver/country/canada/")
        assert response.status_code == 405, path
        tree = parse(response)
        assert text_of(tree.find(".//h1")) == "This address cannot do that", path
        assert "accept a form" in text_of(tree.find(".//main"))
        assert tree.find(".//main//a[@href='http://testserver/country/canada/']") is not None
        assert tree.find(".//header//a[@class='brand']") is not None
    assert client.options("/").status_code == 405


def test_a_csrf_failure_shows_our_page_with_what_to_do(editor):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("admin:login"), {"username": "edna", "password": "x"})
    assert response.status_code == 403
    tree = parse(response)
    assert text_of(tree.find(".//h1")) == "Your form has expired"
    body = text_of(tree.find(".//main"))
    assert "reload it, and try again" in body and "Nothing was changed" in body
    assert tree.find(".//header//a[@class='brand']") is not None  # the site's own page


def test_a_permission_failure_shows_our_page(client, staff_without_rights):
    story = make_story("Ice road opens", countries=("canada",))
    client.force_login(staff_without_rights)
    response = client.get(box_url(story))
    assert response.status_code == 403
    tree = parse(response)
    assert text_of(tree.find(".//h1")) == "This page is for editors"
    assert "signed in as stan" in text_of(tree.find(".//main"))


def test_feed_health_tells_sample_loaded_from_failing(client, editor):
    call_command("load_sample_feeds", stdout=StringIO())
    failing = Feed.objects.first()
    Feed.objects.filter(pk=failing.pk).update(
        last_status="error: connection refused", last_error="refused", consecutive_failures=3
    )
    client.force_login(editor)
    tree = parse(client.get(reverse("admin:feeds_feed_changelist")))
    health = [text_of(s) for s in tree.iter("span") if "an-health" in (s.get("class") or "")]
    assert health.count("Failing (3 attempts)") == 1
    sampled = Feed.objects.filter(last_status__startswith=SAMPLE_LOADED).count()
    assert health.count("Sample loaded") == sampled
    assert health.count("Sample loaded") == Feed.objects.count() - 1
    only_failing = parse(client.get(reverse("admin:feeds_feed_changelist") + "?health=failing"))
    assert "1 feed" in text_of(only_failing.find(".//p[@class='paginator']"))
    # Under a feed's health: why it was deactivated, or what its last run said.
    Feed.objects.filter(pk=failing.pk).update(is_active=False, deactivated_reason="410 Gone")
    tree = parse(client.get(reverse("admin:feeds_feed_changelist")))
    cell = next(
        td
        for td in tree.iterfind(".//table[@id='result_list']//td[@class='field-health']")
        if "Deactivated" in text_of(td)
    )
    assert text_of(cell) == "Deactivated410 Gone"
    assert cell.find("span[@class='an-feed-note']").text == "410 Gone"


def test_the_story_page_shows_categories_as_words(client, editor):
    story = make_story("Ice road opens", categories=["Society", "Defence"])
    client.force_login(editor)
    tree = parse(client.get(reverse("admin:feeds_story_change", args=[story.pk])))
    field = tree.find(".//div[@class='form-row field-categories_display']")
    text = text_of(field)
    assert "Society, Defence" in text and "[" not in text


@pytest.mark.django_db(False)
def test_the_admin_inline_table_override_is_djangos_but_for_its_header():
    """templates/admin/edit_inline/tabular.html is Django's own with one header cell named
    (axe: empty-table-header); a Django upgrade that changes the original fails here, to be
    copied again."""
    from pathlib import Path

    import django.contrib.admin

    ours = (ROOT / "templates/admin/edit_inline/tabular.html").read_text()
    djangos = (
        Path(django.contrib.admin.__file__).parent / "templates/admin/edit_inline/tabular.html"
    ).read_text()
    ours = ours[ours.index("{% endcomment %}") + len("{% endcomment %}") :]
    named = '<th class="original"><span class="visually-hidden">Saved as</span></th>'
    assert ours == djangos.replace('<th class="original"></th>', named)
    assert named in ours
