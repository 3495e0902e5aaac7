"""Text editors type (issue 18, the reviewer's control characters): cleaned once, when the
model is cleaned, whatever form it came through; control characters that separate words are
a space, never deleted (a title "Edited\\x0btitle" is "Edited title", not "Editedtitle").

On PostgreSQL as everywhere (`DATABASE_URL`), through the admin as an editor uses it.
"""

from __future__ import annotations

import re

import feedparser
import html5lib
import pytest
from django.urls import reverse

from feeds.generation import bump_generation
from feeds.models import Feed, Source
from feeds.text import sanitizing
from tests.test_editor_tags import form_data
from tests.test_syndication import make_story

pytestmark = pytest.mark.django_db

CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@pytest.fixture
def source() -> Source:
    outlet = Source.objects.create(
        name="Typed Outlet", slug="typed-outlet", homepage="https://outlet.example/"
    )
    Feed.objects.create(source=outlet, url="https://outlet.example/feed/")
    return outlet


def test_typed_text_makes_separating_controls_spaces():
    typed_text = sanitizing.typed_text
    assert typed_text("Edited\x0btitle") == "Edited title"
    assert typed_text("Edited\x0b\x01\x1btitle") == "Edited title"  # one space a run
    assert typed_text("\x01Edited \x1btitle\x7f") == "Edited title"  # nothing at the ends
    assert typed_text("Line one\x0b\nLine\x01two\n\ttabbed", multiline=True) == (
        "Line one\nLine two\n\ttabbed"
    )
    assert typed_text("Tromsø — «Мурманск»") == "Tromsø — «Мурманск»"


def test_a_title_an_editor_types_is_stored_and_shown_without_control_characters(
    client, editor, source
):
    story = make_story(source, "typed", title="Original title")
    client.force_login(editor)
    url = reverse("admin:feeds_story_change", args=[story.pk])
    data = form_data(client.get(url).content.decode())
    data["title"] = ["Edited\x0btitle\x01 with\x1bescape"]
    data["byline"] = ["Kari\x0bNordmann"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    story.refresh_from_db()
    assert (story.title, story.byline) == ("Edited title with escape", "Kari Nordmann")

    bump_generation()
    page = client.get(story.get_absolute_url()).content.decode()
    h1 = html5lib.parse(page, namespaceHTMLElements=False).find(".//h1")
    assert "".join(h1.itertext()).strip() == "Edited title with escape"
    assert not CONTROLS.search(page)
    titles = [e.title for e in feedparser.parse(client.get("/feed/").content).entries]
    assert "Edited title with escape" in titles


def test_an_outlets_description_keeps_its_lines_and_loses_its_controls(client, admin_user, source):
    client.force_login(admin_user)
    url = reverse("admin:feeds_source_change", args=[source.pk])
    data = form_data(client.get(url).content.decode(), form_id="source_form")
    data["name"] = ["Typed\x1bOutlet"]
    data["description"] = ["First line\x0bgoes on.\r\nSecond\x01line."]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    source.refresh_from_db()
    assert source.name == "Typed Outlet"
    assert source.description == "First line goes on.\nSecond line."


def test_a_control_character_already_stored_separates_words_in_our_feeds(client, source):
    """A title typed before the admin cleaned it: the feeds put a space where it separated
    words (they used to delete it: "Editedtitle")."""
    make_story(source, "legacy", title="Edited\x0btitle")
    bump_generation()
    titles = [e.title for e in feedparser.parse(client.get("/feed/").content).entries]
    assert "Edited title" in titles
    items = client.get("/feed/json/").json()["items"]
    assert "Edited title" in [i["title"] for i in items]
