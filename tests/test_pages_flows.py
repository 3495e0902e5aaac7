"""Editor flows around refusals: signing in from a POST, CSRF and permission failures,
and the newsroom's words for feed health and categories."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from feeds.ingest.pipeline import SAMPLE_LOADED
from feeds.models import Feed
from tests.test_views import country, make_story, parse, text_of

pytestmark = [pytest.mark.django_db]


def box_url(story) -> str:
    return reverse("feeds:curation:box", args=[story.pk])


def test_signing_in_from_an_editor_post_returns_to_the_page_it_came_from(client, editor):
    story = make_story("Kirkenes braces for a quieter border", countries=("norway",))
    target = make_story("Nickel smelter fined", countries=("russia",))
    page = "http://testserver" + box_url(story)
    post = client.post(
        reverse("feeds:curation:change", args=[story.pk, "pick"]),
        {"country": country("russia").pk, "target": target.pk},
        HTTP_REFERER=page,
    )
    assert post.status_code == 302
    login = post["Location"]
    assert login.startswith(reverse("admin:login"))
    # Signing in lands on the editor page, not on the POST-only URL (a 405).
    signed_in = client.post(
        login, {"username": "edna", "password": "x-editor-pass-1", "next": page}, follow=True
    )
    assert signed_in.status_code == 200
    assert signed_in.redirect_chain[-1][0] in (page, box_url(story))

    # Without a usable Referer, the story's editor page is where the form was.
    client.logout()
    post = client.post(reverse("feeds:curation:change", args=[story.pk, "pick"]), {})
    assert box_url(story) in post["Location"]


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


def test_the_story_page_shows_categories_as_words(client, editor):
    story = make_story("Ice road opens", categories=["Society", "Defence"])
    client.force_login(editor)
    tree = parse(client.get(reverse("admin:feeds_story_change", args=[story.pk])))
    field = tree.find(".//div[@class='form-row field-categories_display']")
    text = text_of(field)
    assert "Society, Defence" in text and "[" not in text
