"""Editors correct tags in the admin; their choices survive re-fetching and re-tagging."""

from __future__ import annotations

import io
import re
from urllib.parse import urljoin

import html5lib
import pytest
from django.core.management import call_command
from django.utils import timezone

from feeds.ingest import pipeline as ingest
from feeds.models import Country, Feed, Origin, Source, Story, StoryCountry, Topic
from feeds.search import search_stories

pytestmark = pytest.mark.django_db

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test</title><link>https://example.org/</link>
<description>d</description>
<item><title>Murmansk port handles record coal exports to Asia</title>
<link>https://example.org/a/</link><guid>a-1</guid>
<pubDate>Tue, 24 Nov 2026 09:30:00 +0000</pubDate>
<description>Shipments from the Kola Peninsula rose again this autumn.</description></item>
</channel></rss>"""


def form_data(html: str, form_id: str = "story_form") -> dict[str, list[str]]:
    """Every field of an admin change form as the browser would submit it."""
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    form = next(f for f in tree.iter("form") if f.get("id") == form_id)
    data: dict[str, list[str]] = {}
    for field in form.iter("input"):
        name, kind = field.get("name"), (field.get("type") or "text").lower()
        if not name or kind in {"submit", "button", "file"}:
            continue
        if kind in {"checkbox", "radio"}:
            if field.get("checked") is not None:
                data.setdefault(name, []).append(field.get("value") or "on")
            continue
        data.setdefault(name, []).append(field.get("value") or "")
    for field in form.iter("select"):
        chosen = [o.get("value") for o in field.iter("option") if o.get("selected") is not None]
        data[field.get("name")] = chosen or [""]
    for field in form.iter("textarea"):
        data[field.get("name")] = [field.text or ""]
    return data


@pytest.fixture
def story(fixture_server, allow_private):
    fixture_server.add("/rss.xml", FEED)
    source = Source.objects.create(name="Test Outlet", slug="test-outlet")
    feed = Feed.objects.create(source=source, url=fixture_server.url("/rss.xml"))
    ingest.fetch_and_store(feed.pk, force=True)
    return Story.objects.get(guid="a-1")


def country_slugs(story: Story) -> list[str]:
    return sorted(story.countries.shown().values_list("country__slug", flat=True))


def test_editor_changes_win_over_the_system_and_survive_retag(client, editor, story):
    assert country_slugs(story) == ["russia"]
    client.force_login(editor)
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())

    # Remove the system's Russia tag, add Norway, and make Norway the primary.
    russia_row = StoryCountry.objects.get(story=story, country__slug="russia")
    for key, value in list(data.items()):
        if key.startswith("countries-") and key.endswith("-id") and value == [str(russia_row.pk)]:
            data[key.replace("-id", "-DELETE")] = ["on"]
    total = int(data["countries-TOTAL_FORMS"][0])
    norway = Country.objects.get(slug="norway")
    data[f"countries-{total}-country"] = [str(norway.pk)]
    data[f"countries-{total}-story"] = [str(story.pk)]
    data["countries-TOTAL_FORMS"] = [str(total + 1)]
    data["primary_country"] = [str(norway.pk)]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]

    story.refresh_from_db()
    assert country_slugs(story) == ["norway"]
    assert story.primary_country == norway and story.primary_set_by_editor
    rejected = StoryCountry.objects.get(story=story, country__slug="russia")
    assert rejected.rejected and rejected.origin == Origin.EDITOR
    assert StoryCountry.objects.get(story=story, country=norway).origin == Origin.EDITOR

    # Neither re-tagging nor re-fetching an edited item undoes the editor.
    call_command("retag", stdout=io.StringIO())
    call_command("retag", "--since", "2026-01-01", stdout=io.StringIO())
    story.refresh_from_db()
    assert country_slugs(story) == ["norway"]
    assert story.primary_country == norway

    # The story page's tag links show the editor's choice, primary first.
    tree = html5lib.parse(client.get(story.get_absolute_url()).content, namespaceHTMLElements=False)
    tags = [a.get("href") for a in tree.iter("a") if "tag" in (a.get("rel") or "").split()]
    countries = [href for href in tags if href.startswith("/country/")]
    assert countries == ["/country/norway/"]


def test_the_admin_lists_stories_whose_tags_an_editor_changed(client, editor, story):
    other = Story.objects.create(
        feed=story.feed,
        source=story.source,
        guid="b-2",
        title="Untouched story",
        published_at=story.published_at,
    )
    StoryCountry.objects.create(
        story=story, country=Country.objects.get(slug="finland"), origin=Origin.EDITOR
    )
    client.force_login(editor)
    page = client.get("/admin/feeds/story/?edited=yes").content.decode()
    assert story.title in page and other.title not in page


def test_each_tag_shows_who_set_it(client, editor, story):
    client.force_login(editor)
    page = client.get(f"/admin/feeds/story/{story.pk}/change/").content.decode()
    assert "System" in page  # the origin column of the automatic Russia tag


def test_staff_without_the_editors_group_cannot_edit(client, staff_without_rights, story):
    client.force_login(staff_without_rights)
    assert client.get(f"/admin/feeds/story/{story.pk}/change/").status_code == 403


def test_topics_an_editor_removes_stay_removed(editor, story):
    topic = Topic.objects.get(slug="business")
    from feeds.models import StoryTopic

    StoryTopic.objects.update_or_create(
        story=story, topic=topic, defaults={"origin": Origin.EDITOR, "rejected": True}
    )
    call_command("retag", stdout=io.StringIO())
    row = StoryTopic.objects.get(story=story, topic=topic)
    assert row.rejected and row.origin == Origin.EDITOR
    assert not story.topics.shown().filter(topic=topic).exists()


def test_a_headline_an_editor_corrects_is_found_by_its_new_words(client, editor, story):
    client.force_login(editor)
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())
    data["title"] = ["Murmansk port handles record nickel exports to Asia"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [s.pk for s in search_stories("nickel")] == [story.pk]
    assert not search_stories("coal").filter(pk=story.pk).exists()


def test_html_an_editor_types_is_sanitised_like_a_feeds(client, editor, story):
    client.force_login(editor)
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())
    data["summary"] = ['<p onclick="steal()">Ice <script>alert(1)</script>report</p>']
    data["content"] = [
        '<p>Read <a href="javascript:alert(1)">this</a> and <a href="/more">more</a></p>'
    ]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    story.refresh_from_db()
    assert story.summary == "<p>Ice report</p>"
    assert "javascript" not in story.content
    # Relative links resolve against the story's own link, as in a feed's body.
    assert f'href="{urljoin(story.link, "/more")}"' in story.content
    assert 'rel="noopener nofollow"' in story.content
    page = client.get(story.get_absolute_url()).content.decode()
    assert "alert(1)" not in page and "steal()" not in page

    # Saving again unchanged leaves the stored bodies as they are.
    before = (story.summary, story.content)
    assert client.post(url, form_data(client.get(url).content.decode())).status_code == 302
    story.refresh_from_db()
    assert (story.summary, story.content) == before


def test_an_editor_is_told_a_feed_is_already_there(client, editor, story, allow_private):
    client.force_login(editor)
    data = form_data(client.get("/admin/feeds/feed/add/").content.decode(), "feed_form")
    data.update(source=[str(story.source_id)], url=[story.feed.url], title=["Again"])
    response = client.post("/admin/feeds/feed/add/", data)
    assert response.status_code == 200  # the form again, with the reason
    assert "Feed with this Url already exists." in response.content.decode()
    assert Feed.objects.filter(url=story.feed.url).count() == 1


# --- Why a tag was given, editors' corrections, the review queue, editors' terms ----------
@pytest.fixture
def editors_terms_reset():
    """Editors' terms live in this process's tagger too: leave it as the data files made it."""
    from feeds.tagging import store, tagger

    yield
    store.terms_changed()
    store._loaded[0] = ""
    tagger.set_extra_terms([])


def test_the_story_page_and_the_admin_say_why_a_tag_was_given(client, editor, story):
    row = StoryCountry.objects.get(story=story, country__slug="russia")
    assert row.origin == Origin.SYSTEM and "Murmansk" in row.reason
    story.refresh_from_db()
    assert story.tag_basis == "text" and story.tag_margin == 1.0
    page = client.get(story.get_absolute_url()).content.decode()
    assert "Why these tags?" in page
    assert "primary country, chosen by the tagger: headline names Murmansk" in page
    client.force_login(editor)
    admin_page = client.get(f"/admin/feeds/story/{story.pk}/change/").content.decode()
    assert "headline names Murmansk" in admin_page


def test_an_editors_change_of_countries_is_recorded_and_evaluated(client, editor, story):
    from feeds.models import TagCorrection

    client.force_login(editor)
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())
    norway = Country.objects.get(slug="norway")
    total = int(data["countries-TOTAL_FORMS"][0])
    data[f"countries-{total}-country"] = [str(norway.pk)]
    data[f"countries-{total}-story"] = [str(story.pk)]
    data["countries-TOTAL_FORMS"] = [str(total + 1)]
    data["primary_country"] = [str(norway.pk)]
    assert client.post(url, data).status_code == 302

    (correction,) = TagCorrection.objects.all()
    assert correction.editor == editor and correction.story == story
    assert abs((timezone.now() - correction.at).total_seconds()) < 60
    assert (correction.primary_before, correction.primary_after) == ("russia", "norway")
    assert correction.countries_before == ["russia"]
    assert correction.countries_after == ["norway", "russia"]
    # Saving again without a change records nothing more.
    assert client.post(url, form_data(client.get(url).content.decode())).status_code == 302
    assert TagCorrection.objects.count() == 1

    out = io.StringIO()
    call_command("evaluate_tagging", "--corrections", "--seconds", "0", "--misses", stdout=out)
    report = out.getvalue()
    assert "stories corrected or confirmed" in report
    assert re.search(r"primary agrees with the editor\s+0\.000", report)
    assert "Murmansk port handles record coal exports" in report


def test_fit_tagger_learns_from_the_editors_corrections(client, editor, story, tmp_path):
    """fit_tagger --corrections adds each corrected story, with the editor's primary, to what
    the model is fitted on, and the saved file says so; without it, corrections are left out."""
    import json

    from feeds.tagging.tagger import MODEL_PATH

    pytest.importorskip("sklearn")
    client.force_login(editor)
    url = f"/admin/feeds/story/{story.pk}/change/"
    data = form_data(client.get(url).content.decode())
    norway = Country.objects.get(slug="norway")
    total = int(data["countries-TOTAL_FORMS"][0])
    data[f"countries-{total}-country"] = [str(norway.pk)]
    data[f"countries-{total}-story"] = [str(story.pk)]
    data["countries-TOTAL_FORMS"] = [str(total + 1)]
    data["primary_country"] = [str(norway.pk)]
    assert client.post(url, data).status_code == 302

    saved = json.loads(MODEL_PATH.read_text())
    with_corrections = tmp_path / "with.json"
    out = io.StringIO()
    call_command("fit_tagger", "--corrections", "--output", str(with_corrections), stdout=out)
    fitted = json.loads(with_corrections.read_text())
    assert fitted["fitted_on"]["corrections"] == 1
    assert fitted["fitted_on"]["stories"] == saved["fitted_on"]["stories"] + 1
    assert fitted["version"] != saved["version"]  # the version names what it was fitted on
    assert "1 corrections" in out.getvalue()
    without = tmp_path / "without.json"
    call_command("fit_tagger", "--output", str(without), stdout=io.StringIO())
    assert json.loads(without.read_text()) == saved


def test_the_review_queue_is_newest_first(client, editor, weak_story):
    from datetime import timedelta

    from feeds.tagging.store import apply_tags

    newer = Story.objects.create(
        feed=weak_story.feed,
        source=weak_story.source,
        guid="w-2",
        title="Ferry timetable changes for the winter",
        summary="<p>Fewer sailings until March.</p>",
        published_at=weak_story.published_at + timedelta(hours=1),
    )
    apply_tags(Story.objects.filter(pk=newer.pk).select_related("source__country"))
    client.force_login(editor)
    page = client.get("/admin/feeds/reviewstory/").content.decode()
    assert page.index(newer.title) < page.index(weak_story.title)


@pytest.fixture
def weak_story(story):
    """A story naming no place, filed only by its source's home country."""
    from feeds.tagging.store import apply_tags

    finland = Country.objects.get(slug="finland")
    Source.objects.filter(pk=story.source_id).update(country=finland)
    weak = Story.objects.create(
        feed=story.feed,
        source=story.source,
        guid="w-1",
        title="Avalanche warning issued for the weekend",
        summary="<p>Heavy snow raises the danger in the mountains.</p>",
        published_at=story.published_at,
    )
    apply_tags(Story.objects.filter(pk=weak.pk).select_related("source__country"))
    weak.refresh_from_db()
    return weak


def test_the_review_queue_lists_weak_evidence_and_confirms_in_one_click(
    client, editor, weak_story, story
):
    from feeds.models import TagCorrection

    assert weak_story.primary_country.slug == "finland" and weak_story.tag_basis == "outlet"
    client.force_login(editor)
    page = client.get("/admin/feeds/reviewstory/").content.decode()
    assert weak_story.title in page
    assert story.title not in page  # decided by its headline: nothing to review
    assert "the outlet only" in page

    response = client.post(f"/admin/feeds/reviewstory/{weak_story.pk}/confirm/")
    assert response.status_code == 302
    weak_story.refresh_from_db()
    assert weak_story.primary_set_by_editor
    (correction,) = TagCorrection.objects.all()
    assert correction.confirmed and correction.primary_after == "finland"
    assert correction.editor == editor
    after = client.get("/admin/feeds/reviewstory/").content.decode()
    assert f"Confirmed: {weak_story.title}" in after  # the message, not a row
    assert f"/admin/feeds/reviewstory/{weak_story.pk}/change/" not in after
    # A GET cannot confirm anything: back to the queue, saying nothing was done.
    got = client.get(f"/admin/feeds/reviewstory/{story.pk}/confirm/", follow=True)
    assert got.redirect_chain == [("/admin/feeds/reviewstory/", 302)]
    assert "Nothing was changed" in got.content.decode()
    assert TagCorrection.objects.count() == 1


def test_changing_the_country_in_the_review_queue_is_a_correction(client, editor, weak_story):
    from feeds.models import TagCorrection

    client.force_login(editor)
    page = client.get("/admin/feeds/reviewstory/").content.decode()
    data = form_data(page, "changelist-form")
    sweden = Country.objects.get(slug="sweden")
    data["form-0-primary_country"] = [str(sweden.pk)]
    data["_save"] = ["Save"]
    assert client.post("/admin/feeds/reviewstory/", data).status_code == 302
    weak_story.refresh_from_db()
    assert weak_story.primary_country == sweden and weak_story.primary_set_by_editor
    assert country_slugs(weak_story) == ["finland", "sweden"]
    (correction,) = TagCorrection.objects.all()
    assert (correction.primary_before, correction.primary_after) == ("finland", "sweden")


def test_an_editors_place_tags_new_stories_at_once_and_old_ones_on_retag(
    client, editor, story, editors_terms_reset
):
    old = Story.objects.create(
        feed=story.feed,
        source=story.source,
        guid="g-1",
        title="Protest at the Gruvefjellet mine site",
        published_at=story.published_at,
    )
    call_command("retag", stdout=io.StringIO())
    assert country_slugs(old) == []

    client.force_login(editor)
    data = form_data(
        client.get("/admin/feeds/gazetteerterm/add/").content.decode(), "gazetteerterm_form"
    )
    data.update(
        country=[str(Country.objects.get(slug="norway").pk)], kind=["place"], term=["Gruvefjellet"]
    )
    response = client.post("/admin/feeds/gazetteerterm/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]

    from feeds.tagging.store import pretag

    new = Story(feed=story.feed, source=story.source, guid="g-2", title="Gruvefjellet mine reopens")
    pretag([new])
    assert new.primary_country.slug == "norway"  # effective for new stories at once
    assert country_slugs(old) == []  # old ones wait for retag
    call_command("retag", stdout=io.StringIO())
    assert country_slugs(old) == ["norway"]
    reason = StoryCountry.objects.get(story=old).reason
    assert "Gruvefjellet" in reason

    bad = form_data(
        client.get("/admin/feeds/gazetteerterm/add/").content.decode(), "gazetteerterm_form"
    )
    bad.update(
        country=[str(Country.objects.get(slug="norway").pk)], kind=["place"], term=["Gru*ve"]
    )
    response = client.post("/admin/feeds/gazetteerterm/add/", bad)
    assert response.status_code == 200 and "may only end a word" in response.content.decode()
