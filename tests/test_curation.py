"""Editors curate a story's related box: the domain operations, the editor page, permissions.

Every change is the editor's (origin "editor"), is recorded (RelatedChange + the admin's
history of the story), and survives the system's re-suggestion; a locked box, a pinned line
and a cleared line are never touched by ``related.refresh_box``. Runs on SQLite and, with
DATABASE_URL set, on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from feeds import generation
from feeds.models import Origin, RelatedChange, RelatedSlot, Story
from feeds.related import boxes as related
from feeds.related import curation
from feeds.related.curation import CurationError
from feeds.search import update_search_vectors
from tests.test_views import country, make_source, make_story

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
HOSTILE = "<script>alert('owned')</script> Ice <b>news</b>"


# --- Data -------------------------------------------------------------------------------------


def make_box() -> dict[str, Story]:
    """A Norwegian story about drones over the Arctic, with related stories in five countries.

    The box starts as the system left it: a Canada line and a Finland line, both "system".
    """
    now = timezone.now()
    hnn = make_source("High North News", country=country("norway"))
    cbc = make_source("CBC North", country=country("canada"))
    yle = make_source("Yle News", country=country("finland"))
    barents = make_source("The Barents Observer", country=country("russia"))
    kng = make_source("KNR", country=country("greenland"))

    def story(title, src, countries, hours, lead="", topics=("security",)):
        return make_story(
            title,
            source=src,
            countries=countries,
            topics=topics,
            published=now - timedelta(hours=hours),
            language="en",
            summary=f"<p>{lead or title}</p>",
        )

    stories = {
        "main": story(
            "Norway to station long-range surveillance drones at Andøya",
            hnn,
            ("norway",),
            1,
            "The air force will fly unmanned surveillance aircraft over the Barents Sea.",
        ),
        "ca1": story(
            "Canada tests Arctic surveillance drones over Inuvik",
            cbc,
            ("canada",),
            3,
            "Unmanned aircraft will patrol the Beaufort Sea from the Inuvik air base.",
        ),
        "ca2": story(
            "Canadian Rangers train with drones in Nunavut",
            cbc,
            ("canada",),
            9,
            "Rangers fly small unmanned surveillance aircraft on long-range patrols.",
        ),
        "ca3": story(
            "Inuvik runway upgrade to host patrol drones",
            cbc,
            ("canada",),
            20,
            "The air force runway will host long-range surveillance drones.",
        ),
        "fi1": story(
            "Finland buys surveillance drones for the Lapland border",
            yle,
            ("finland",),
            4,
            "The border guard will fly unmanned aircraft along the eastern border.",
        ),
        "fi2": story(
            "Finnish air force tests drones in Lapland",
            yle,
            ("finland",),
            12,
            "The air force flies unmanned surveillance aircraft over Rovaniemi.",
        ),
        "ru1": story(
            "Russia flies surveillance drones from Kola bases",
            barents,
            ("russia",),
            5,
            "Unmanned aircraft from the Northern Fleet patrol the Barents Sea.",
        ),
        "ru2": story(
            "Northern Fleet drones shadow patrol aircraft",
            barents,
            ("russia",),
            14,
            "Unmanned aircraft followed allied surveillance flights over the Barents Sea.",
        ),
        "gl1": story(
            "Greenland weighs surveillance drones for Pituffik",
            kng,
            ("greenland",),
            6,
            "Unmanned aircraft could watch the sea lanes north of the air base.",
        ),
        "other": story(
            "Reindeer herders meet over grazing rights",
            yle,
            ("sweden",),
            2,
            "Sámi villages discuss winter pastures and the new wind farms.",
            topics=("society",),
        ),
    }
    fillers = [
        ("Cod quotas cut again in the Barents Sea", ("norway",), "business"),
        ("Nuuk opens a new harbour for cruise ships", ("greenland",), "business"),
        ("Iqaluit elects a new mayor", ("canada",), "politics"),
        ("Reykjavik hosts the Arctic Circle assembly", ("iceland",), "politics"),
        ("Alaska salmon season ends early", ("united-states",), "business"),
        ("Kiruna moves its church to make way for the mine", ("sweden",), "society"),
        ("Danish parliament debates Greenland fisheries", ("denmark",), "politics"),
        ("Murmansk heating prices rise", ("russia",), "society"),
    ]
    for i, (title, countries, topic) in enumerate(fillers):
        story(title, hnn, countries, 30 + i, f"{title}, residents say.", topics=(topic,))
    update_search_vectors(s.pk for s in stories.values())
    main = stories["main"]
    RelatedSlot.objects.create(
        story=main, country=country("canada"), target=stories["ca1"], origin=Origin.SYSTEM
    )
    RelatedSlot.objects.create(
        story=main,
        country=country("finland"),
        target=stories["fi1"],
        origin=Origin.SYSTEM,
        position=1,
    )
    return stories


@pytest.fixture
def box():
    return make_box()


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("sue", password="x-super-pass-1")


def slot(story: Story, slug: str) -> RelatedSlot | None:
    return RelatedSlot.objects.filter(story=story, country__slug=slug).first()


def lines(story: Story) -> list[str]:
    return list(
        RelatedSlot.objects.filter(story=story)
        .order_by("position", "country__name")
        .values_list("country__slug", flat=True)
    )


def box_url(story: Story) -> str:
    return reverse("feeds:curation:box", args=[story.pk])


def change_url(story: Story, action: str) -> str:
    return reverse("feeds:curation:change", args=[story.pk, action])


# --- Permissions ------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, box):
    main = box["main"]
    response = client.get(box_url(main))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
    response = client.post(change_url(main, "clear"), {"country": country("canada").pk})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert slot(main, "canada") is not None


def test_staff_outside_the_editors_group_get_403(client, box, staff_without_rights):
    main = box["main"]
    client.force_login(staff_without_rights)
    assert client.get(box_url(main)).status_code == 403
    response = client.post(change_url(main, "clear"), {"country": country("canada").pk}, **JSON)
    assert response.status_code == 403
    search = reverse("feeds:curation:search", args=[main.pk])
    assert client.get(search, {"country": country("canada").pk, "q": "drones"}).status_code == 403
    assert slot(main, "canada") is not None
    assert not RelatedChange.objects.exists()


@pytest.mark.parametrize("who", ["editor", "superuser"])
def test_editors_and_superusers_may_curate(client, box, who, request):
    user = request.getfixturevalue(who)
    main = box["main"]
    client.force_login(user)
    page = client.get(box_url(main))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]
    response = client.post(change_url(main, "lock"), **JSON)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert Story.objects.get(pk=main.pk).related_locked


def test_gets_do_not_change_anything(client, box, editor):
    client.force_login(editor)
    response = client.get(change_url(box["main"], "lock"))
    assert response.status_code == 302 and response["Location"] == box_url(box["main"])
    assert not Story.objects.get(pk=box["main"].pk).related_locked


# --- The page -----------------------------------------------------------------------------------


def test_the_page_shows_eight_lines_with_their_picks_and_alternatives(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    html = client.get(box_url(main)).content.decode()
    # One line for every country but the story's own (Norway).
    assert len(re.findall(r"<li class=\"cur-slot[ \"]", html)) == 8
    assert "other than the story's own, Norway," in html
    assert "Canada tests Arctic surveillance drones over Inuvik" in html
    assert "Lock box" in html
    assert 'src="/static/js/related-editor.js"' in html
    assert "<script>" not in html.split("</head>")[1]  # no inline script anywhere in the body


def test_box_state_lists_countries_in_box_order_with_alternatives(box, monkeypatch):
    main = box["main"]
    canada, russia = country("canada"), country("russia")
    ranked = {
        canada.pk: [
            related.Scored(box[key].pk, 1.0 - i / 10, 0.5 - i / 10)
            for i, key in enumerate(["ca1", "ca2", "ca3", "fi1", "fi2", "ru1", "ru2"])
        ],
        russia.pk: [related.Scored(box["ru1"].pk, 0.4, 0.3)],
    }
    monkeypatch.setattr(related, "suggest", lambda story: ranked)
    views = curation.box_state(main)
    assert [v.country.slug for v in views[:2]] == ["canada", "finland"]
    assert [v.place for v in views[:2]] == [1, 2]
    assert views[0].is_first and views[1].is_last
    # Norway is the story's own country: it has no line.
    assert [v.country.slug for v in views[2:]] == [
        "denmark",
        "greenland",
        "iceland",
        "russia",
        "sweden",
        "united-states",
    ]
    assert all(v.slot is None and v.place is None for v in views[2:])
    first = views[0]
    assert first.headline == box["ca1"].title and first.outlet == "CBC North"
    assert first.origin == Origin.SYSTEM and first.origin_label == "System"
    # Best first, never the current pick, at most five; a story shown on another line says so.
    assert [a.story.pk for a in first.alternatives] == [
        box[key].pk for key in ["ca2", "ca3", "fi1", "fi2", "ru1"]
    ]
    assert first.alternatives[2].in_box == country("finland")
    assert first.alternatives[0].relevance_percent == 40
    assert [a.story.pk for a in views[5].alternatives] == [box["ru1"].pk]


def test_the_same_headline_is_suggested_once(box, monkeypatch):
    """One outlet's story carried again by another's feed, not recognised as a copy, is one
    suggestion, not two; nor is the line's current story offered again under another id."""
    main = box["main"]
    canada = country("canada")
    again = make_story(
        box["ca2"].title, source=make_source("Eye on the Arctic"), countries=("canada",)
    )
    current_again = make_story(box["ca1"].title, countries=("canada",))
    ranked = {
        canada.pk: [
            related.Scored(pk, 1.0 - i / 10, 0.5)
            for i, pk in enumerate(
                [current_again.pk, box["ca2"].pk, again.pk, box["ca3"].pk, box["fi1"].pk]
            )
        ]
    }
    monkeypatch.setattr(related, "suggest", lambda story: ranked)
    line = curation.box_state(main)[0]
    assert line.country == canada and line.slot.target_id == box["ca1"].pk
    assert [a.story.pk for a in line.alternatives] == [box["ca2"].pk, box["ca3"].pk, box["fi1"].pk]


def test_box_state_uses_the_systems_suggestions(box):
    views = curation.box_state(box["main"])
    assert any(view.alternatives for view in views)
    for view in views:
        for alternative in view.alternatives:
            assert view.country.slug in alternative.story.countries.values_list(
                "country__slug", flat=True
            )
            assert alternative.story.pk != box["main"].pk


# --- Operations -------------------------------------------------------------------------------


def test_pick_replaces_the_line_and_records_who_when_before_after(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    response = client.post(
        change_url(main, "pick"),
        {"country": country("canada").pk, "target": box["ca2"].pk},
        **JSON,
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["ok"] and data["focus"] == f"slot:{country('canada').pk}"
    assert "Canadian Rangers train with drones in Nunavut" in data["html"]
    assert "Canada now shows" in data["message"]

    line = slot(main, "canada")
    assert line.target_id == box["ca2"].pk
    assert line.origin == Origin.EDITOR
    change = RelatedChange.objects.get()
    assert change.action == RelatedChange.Action.PICK
    assert change.user == editor and change.username == "edna"
    assert change.country.slug == "canada"
    assert change.at <= timezone.now()
    assert change.before["target"] == box["ca1"].pk and change.before["origin"] == "system"
    assert change.after["target"] == box["ca2"].pk and change.after["origin"] == "editor"
    assert change.after["headline"] == "Canadian Rangers train with drones in Nunavut"

    # The admin's history of the story says so too.
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Story), object_id=str(main.pk)
    )
    assert entry.user == editor
    assert "Related box: Canada" in entry.get_change_message()
    history = client.get(reverse("admin:feeds_story_history", args=[main.pk])).content.decode()
    assert "Related box: Canada: picked" in history


def test_pick_into_an_empty_line_adds_it_at_the_end(box, editor):
    main = box["main"]
    curation.pick(main, country("russia"), box["ru1"], editor)
    assert lines(main) == ["canada", "finland", "russia"]
    change = RelatedChange.objects.get()
    assert change.before is None and change.after["target"] == box["ru1"].pk


def test_picking_the_same_story_again_records_nothing(box, editor):
    main = box["main"]
    assert curation.pick(main, str(country("canada").pk), box["ca2"].pk, editor)
    assert curation.pick(main, country("canada"), box["ca2"], editor) is None
    assert RelatedChange.objects.count() == 1


def test_pick_refuses_the_story_itself_and_hidden_stories_and_links_copies_originals(box, editor):
    main = box["main"]
    with pytest.raises(CurationError):
        curation.pick(main, country("canada"), main, editor)
    Story.objects.filter(pk=box["ca3"].pk).update(is_hidden=True)
    with pytest.raises(CurationError):
        curation.pick(main, country("canada"), box["ca3"].pk, editor)
    copy = make_story("Copy of the Kola drones story", countries=("russia",))
    Story.objects.filter(pk=copy.pk).update(canonical=box["ru1"])
    curation.pick(main, country("russia"), copy.pk, editor)
    assert slot(main, "russia").target_id == box["ru1"].pk
    assert RelatedChange.objects.count() == 1


def test_external_link_is_stored_as_the_editors(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    response = client.post(
        change_url(main, "external"),
        {
            "country": country("iceland").pk,
            "url": "www.ruv.is/frett/drones",
            "headline": "  Iceland   follows the drone debate ",
            "outlet": "",
        },
        **JSON,
    )
    assert response.status_code == 200, response.content
    line = slot(main, "iceland")
    assert line.target_id is None
    assert line.external_url == "https://www.ruv.is/frett/drones"
    assert line.external_headline == "Iceland follows the drone debate"
    assert line.external_outlet == "ruv.is"  # from the address when left empty
    assert line.origin == Origin.EDITOR
    change = RelatedChange.objects.get()
    assert change.action == RelatedChange.Action.EXTERNAL
    assert change.before is None
    assert change.after["url"] == "https://www.ruv.is/frett/drones"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "mailto:desk@example.org",
        "https://",
        "",
    ],
)
def test_external_links_must_be_http(client, box, editor, url):
    main = box["main"]
    client.force_login(editor)
    data = {"country": country("canada").pk, "url": url, "headline": "A headline", "outlet": "X"}
    response = client.post(change_url(main, "external"), data, **JSON)
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert "http" in response.json()["message"]
    assert response.json()["field"] == "url"
    assert slot(main, "canada").target_id == box["ca1"].pk  # unchanged
    assert not RelatedChange.objects.exists()
    # Without JavaScript: the page again, with the reason and what was typed.
    response = client.post(change_url(main, "external"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "starting with https://" in html
    assert 'value="A headline"' in html
    assert 'aria-invalid="true"' in html.split('name="url"')[1].split(">")[0]
    assert not RelatedChange.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # "…/\u202egnp.exe" is shown as "…/exe.png": a program disguised as a picture.
        ("https://files.example/\u202egnp.exe", "change the direction"),
        ("https://files.example/\u2066a\u2069", "change the direction"),
        ("https://editor:secret@files.example/a", "user name or password"),
        ("https://nrk.no@evil.example/a", "user name or password"),
    ],
    ids=["rlo", "isolate", "user-and-password", "host-lookalike"],
)
def test_external_links_that_disguise_where_they_lead_are_refused(client, box, editor, url, reason):
    main = box["main"]
    client.force_login(editor)
    data = {"country": country("canada").pk, "url": url, "headline": "A headline", "outlet": "X"}
    answer = client.post(change_url(main, "external"), data, **JSON).json()
    assert answer["ok"] is False and answer["field"] == "url"
    assert reason in answer["message"]
    response = client.post(change_url(main, "external"), data)
    assert response.status_code == 400 and reason in response.content.decode()
    assert slot(main, "canada").target_id == box["ca1"].pk  # unchanged
    assert not RelatedChange.objects.exists()


def test_control_characters_an_editor_types_in_a_line_separate_words(box, editor):
    curation.set_external(
        box["main"],
        country("canada"),
        "https://x.example/a",
        "Edited\x0bheadline\x01 with\x1bescape",
        "Out\x0blet",
        editor,
    )
    line = slot(box["main"], "canada")
    assert (line.external_headline, line.external_outlet) == (
        "Edited headline with escape",
        "Out let",
    )


def test_external_link_needs_a_headline(box, editor):
    with pytest.raises(CurationError, match="headline"):
        curation.set_external(
            box["main"], country("canada"), "https://x.example/", " \x00 ", "", editor
        )


def test_hostile_headline_is_escaped_on_the_story_page_and_the_editor_page(client, box, editor):
    main = box["main"]
    curation.set_external(
        main,
        country("canada"),
        "https://evil.example/x",
        HOSTILE,
        "<img src=x onerror=alert(1)>",
        editor,
    )
    line = slot(main, "canada")
    assert line.external_headline == HOSTILE  # kept as text, never as markup

    generation.bump_generation()
    story_page = client.get(reverse("feeds:story", args=[main.pk])).content.decode()
    client.force_login(editor)
    editor_page = client.get(box_url(main)).content.decode()
    for html in (story_page, editor_page):
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in html
        assert "<script>alert(" not in html
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_clear_empties_the_line_and_the_system_does_not_refill_it(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    canada = country("canada")
    response = client.post(change_url(main, "clear"), {"country": canada.pk}, **JSON)
    assert response.status_code == 200
    assert slot(main, "canada") is None
    assert curation.cleared_countries(main) == {canada.pk}
    change = RelatedChange.objects.get()
    assert change.action == RelatedChange.Action.CLEAR
    assert change.before["target"] == box["ca1"].pk and change.after is None

    # The system re-suggests the box: Canada stays empty, other countries may fill.
    related.refresh_box(Story.objects.get(pk=main.pk))
    assert slot(main, "canada") is None
    assert "Kept empty" in client.get(box_url(main)).content.decode()

    # Clearing it again changes nothing; "let the system choose" hands it back.
    assert curation.clear(main, canada, editor) is None
    curation.release(main, canada, editor)
    assert curation.cleared_countries(main) == set()
    refilled = slot(main, "canada")
    assert refilled is not None and refilled.origin == Origin.SYSTEM
    assert [c.action for c in RelatedChange.objects.order_by("at", "id")] == ["clear", "release"]


def test_a_picked_line_after_a_clear_is_no_longer_cleared(box, editor):
    main = box["main"]
    curation.clear(main, country("canada"), editor)
    curation.pick(main, country("canada"), box["ca3"], editor)
    assert curation.cleared_countries(main) == set()


def test_move_reorders_lines_and_keeps_the_others_order(client, box, editor):
    main = box["main"]
    curation.pick(main, country("russia"), box["ru1"], editor)
    assert lines(main) == ["canada", "finland", "russia"]
    client.force_login(editor)
    russia = country("russia")
    response = client.post(change_url(main, "move"), {"country": russia.pk, "to": "up"}, **JSON)
    assert response.status_code == 200
    assert response.json()["focus"] == f"move-up:{russia.pk}"
    assert lines(main) == ["canada", "russia", "finland"]
    curation.move(main, russia, "up", editor)
    assert lines(main) == ["russia", "canada", "finland"]
    assert slot(main, "russia").origin == Origin.EDITOR
    assert slot(main, "finland").origin == Origin.SYSTEM  # renumbered, not chosen
    # At the top already: nothing to do, nothing recorded.
    assert curation.move(main, russia, "up", editor) is None
    curation.move(main, russia, 3, editor)
    assert lines(main) == ["canada", "finland", "russia"]
    moves = RelatedChange.objects.filter(action="move").order_by("at", "id")
    assert [(m.before["place"], m.after["place"]) for m in moves] == [(3, 2), (2, 1), (1, 3)]
    with pytest.raises(CurationError):
        curation.move(main, country("iceland"), "up", editor)


def test_pin_and_unpin(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    finland = country("finland")
    response = client.post(change_url(main, "pin"), {"country": finland.pk}, **JSON)
    assert response.status_code == 200
    line = slot(main, "finland")
    assert line.pinned and line.origin == Origin.EDITOR
    client.post(change_url(main, "unpin"), {"country": finland.pk}, **JSON)
    assert not slot(main, "finland").pinned
    actions = list(RelatedChange.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions == ["pin", "unpin"]
    first = RelatedChange.objects.order_by("at", "id").first()
    assert first.before["pinned"] is False and first.after["pinned"] is True


def test_a_pinned_system_line_is_untouched_by_refresh(box):
    main = box["main"]
    # The system's own choice for Canada would differ: pin an unrelated story there.
    RelatedSlot.objects.filter(story=main, country__slug="canada").update(
        target=box["other"], pinned=True
    )
    related.refresh_box(Story.objects.get(pk=main.pk))
    line = slot(main, "canada")
    assert line.target_id == box["other"].pk and line.pinned and line.origin == Origin.SYSTEM


def test_a_locked_box_is_untouched_by_refresh(client, box, editor):
    main = box["main"]
    RelatedSlot.objects.filter(story=main, country__slug="canada").update(target=box["other"])
    client.force_login(editor)
    response = client.post(change_url(main, "lock"), **JSON)
    assert response.status_code == 200
    assert "Unlock box" in response.json()["html"]
    before = list(RelatedSlot.objects.filter(story=main).values_list("country_id", "target_id"))

    assert related.refresh_box(Story.objects.get(pk=main.pk)) is False
    assert related.refresh_boxes([main.pk]) == 0
    after = list(RelatedSlot.objects.filter(story=main).values_list("country_id", "target_id"))
    assert after == before
    change = RelatedChange.objects.get()
    assert (change.action, change.before, change.after) == (
        "lock",
        {"locked": False},
        {"locked": True},
    )
    assert change.country is None

    # Unlocked, the system replaces its unrelated Canada pick.
    client.post(change_url(main, "unlock"), **JSON)
    assert not Story.objects.get(pk=main.pk).related_locked
    related.refresh_box(Story.objects.get(pk=main.pk))
    line = slot(main, "canada")
    assert line is None or line.target_id != box["other"].pk


def test_editor_lines_survive_refresh(box, editor):
    main = box["main"]
    curation.pick(main, country("canada"), box["ca3"], editor)
    curation.set_external(
        main, country("iceland"), "https://ruv.is/a", "Iceland line", "RÚV", editor
    )
    related.refresh_box(Story.objects.get(pk=main.pk))
    assert slot(main, "canada").target_id == box["ca3"].pk
    assert slot(main, "iceland").external_url == "https://ruv.is/a"


def test_the_box_has_no_line_for_the_storys_own_country(client, box, editor):
    """One line for every country but the story's primary one (Norway here): the system
    removes its own line there and never suggests one; an outlet's line for that country
    stays stored but readers and the editor page do not see it; an editor cannot set one."""
    main = box["main"]
    norway = country("norway")
    cod = Story.objects.get(title="Cod quotas cut again in the Barents Sea")
    RelatedSlot.objects.create(story=main, country=norway, target=cod, origin=Origin.SYSTEM)
    related.refresh_box(Story.objects.get(pk=main.pk))
    assert slot(main, "norway") is None
    assert "norway" not in lines(main) and len(lines(main)) >= 3
    assert norway.pk not in related.suggest(main)

    RelatedSlot.objects.create(story=main, country=norway, target=cod, origin=Origin.SOURCE)
    related.refresh_box(Story.objects.get(pk=main.pk))
    assert slot(main, "norway").origin == Origin.SOURCE  # the outlet's, kept as it came
    page = client.get(main.get_absolute_url()).content.decode()
    assert "Related stories from around the North:" in page
    assert cod.title not in page
    assert [v.country.slug for v in curation.box_state(main)].count("norway") == 0
    with pytest.raises(CurationError, match="own country"):
        curation.pick(main, norway, box["ca1"], editor)
    with pytest.raises(CurationError, match="own country"):
        curation.set_external(main, norway, "https://nrk.no/a", "A line", "NRK", editor)


def test_changes_bump_the_page_cache_generation_once_committed(
    box, editor, django_capture_on_commit_callbacks
):
    start = generation.generation()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        curation.pin(box["main"], country("canada"), True, editor)
    assert callbacks
    assert generation.generation() > start


# --- Without JavaScript ----------------------------------------------------------------------


def test_every_form_works_without_javascript(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    canada = country("canada")
    response = client.post(
        change_url(main, "pick"), {"country": canada.pk, "target": box["ca2"].pk}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{box_url(main)}#slot-canada"
    page = client.get(response["Location"]).content.decode()
    assert "Canada now shows “Canadian Rangers train with drones in Nunavut”." in page
    assert slot(main, "canada").target_id == box["ca2"].pk

    # Search is a GET form on the page itself; its results have "Use this" buttons.
    page = client.get(box_url(main), {"country": country("russia").pk, "q": "Kola"})
    html = page.content.decode()
    assert "Russia flies surveillance drones from Kola bases" in html
    assert f'name="target" value="{box["ru1"].pk}"' in html

    response = client.post(change_url(main, "move"), {"country": canada.pk, "to": "down"})
    assert response.status_code == 302
    assert lines(main) == ["finland", "canada"]
    response = client.post(change_url(main, "lock"))
    assert response.status_code == 302 and response["Location"] == box_url(main)
    page = client.get(box_url(main)).content.decode()
    assert "Box locked" in page and "Unlock box" in page

    # An impossible change comes back with the reason.
    response = client.post(change_url(main, "pin"), {"country": country("iceland").pk})
    assert response.status_code == 302
    assert "nothing to pin" in client.get(response["Location"]).content.decode()
    assert RelatedChange.objects.count() == 3


def test_unknown_changes_and_countries(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    assert client.post(change_url(main, "explode"), **JSON).status_code == 404
    response = client.post(change_url(main, "clear"), {"country": "999999"}, **JSON)
    assert response.json() == {"ok": False, "message": "There is no such country.", "field": ""}
    response = client.post(change_url(main, "pick"), {"country": country("canada").pk}, **JSON)
    assert response.json() == {"ok": False, "message": "That story does not exist.", "field": ""}
    assert not RelatedChange.objects.exists()


# --- Search -------------------------------------------------------------------------------------


def test_search_finds_stories_by_headline_or_number(client, box, editor):
    main = box["main"]
    found = curation.search_candidates("drones", main)
    assert main not in found
    assert box["ru1"] in found
    assert len(found) <= curation.SEARCH_LIMIT
    assert curation.search_candidates(str(box["gl1"].pk), main) == [box["gl1"]]
    assert curation.search_candidates(f"https://arctic.example/story/{box['gl1'].pk}/", main) == [
        box["gl1"]
    ]
    assert curation.search_candidates("   ", main) == []

    client.force_login(editor)
    url = reverse("feeds:curation:search", args=[main.pk])
    response = client.get(url, {"country": country("greenland").pk, "q": "Pituffik"}, **JSON)
    data = response.json()
    assert data["count"] == 1
    assert "Greenland weighs surveillance drones for Pituffik" in data["html"]
    assert f'name="target" value="{box["gl1"].pk}"' in data["html"]
    assert data["message"] == "1 story found."


# --- History and admin ----------------------------------------------------------------------------


def test_history_on_the_page_and_in_the_admin(client, box, editor):
    main = box["main"]
    curation.pick(main, country("canada"), box["ca2"], editor)
    curation.lock(main, True, editor)
    client.force_login(editor)
    html = client.get(box_url(main)).content.decode()
    section = html.split('id="cur-history-title"')[1]
    assert "edna" in section
    assert "Picked a story" in section and "Locked the box" in section
    assert "Canada tests Arctic surveillance drones over Inuvik (CBC North)" in section
    assert "Canadian Rangers train with drones in Nunavut (CBC North)" in section

    # The read-only change log in the admin, open to editors.
    changelist = client.get(reverse("admin:feeds_relatedchange_changelist"))
    assert changelist.status_code == 200
    assert "Picked a story" in changelist.content.decode()
    assert client.get(reverse("admin:feeds_relatedchange_add")).status_code == 403
    change = RelatedChange.objects.first()
    detail = client.get(reverse("admin:feeds_relatedchange_change", args=[change.pk]))
    assert detail.status_code == 200
    assert 'name="action"' not in detail.content.decode()  # nothing editable
    response = client.post(reverse("admin:feeds_relatedchange_delete", args=[change.pk]))
    assert response.status_code == 403


def test_the_admin_story_page_links_to_the_editor(client, box, editor):
    client.force_login(editor)
    html = client.get(reverse("admin:feeds_story_change", args=[box["main"].pk])).content.decode()
    assert f'href="{box_url(box["main"])}"' in html
    assert "Edit the related box" in html


def test_the_page_costs_a_bounded_number_of_queries(
    client, box, editor, django_assert_max_num_queries
):
    main = box["main"]
    for key, slug in (("ru1", "russia"), ("gl1", "greenland")):
        curation.pick(main, country(slug), box[key], editor)
    client.force_login(editor)
    client.get(box_url(main))  # warm the navigation and the system's term statistics
    with django_assert_max_num_queries(25):
        response = client.get(box_url(main))
    assert response.status_code == 200


def test_search_without_javascript_goes_back_to_the_page(client, box, editor):
    main = box["main"]
    client.force_login(editor)
    url = reverse("feeds:curation:search", args=[main.pk])
    response = client.get(url, {"country": country("russia").pk, "q": "Kola & co"})
    assert response.status_code == 302
    assert response["Location"] == (
        f"{box_url(main)}?country={country('russia').pk}&q=Kola+%26+co#slot-russia"
    )


def test_changes_made_in_the_admin_are_recorded_too(client, box, editor):
    from tests.test_editor_tags import form_data

    main = box["main"]
    client.force_login(editor)
    url = reverse("admin:feeds_story_change", args=[main.pk])
    data = form_data(client.get(url).content.decode())
    rows = {
        data[key.replace("-id", "-country")][0]: key.removesuffix("-id")
        for key, value in data.items()
        if key.startswith("related_slots-") and key.endswith("-id") and value != [""]
    }
    canada, finland = rows[str(country("canada").pk)], rows[str(country("finland").pk)]
    data[f"{canada}-target"] = [str(box["ca2"].pk)]  # another story on Canada's line
    data[f"{finland}-DELETE"] = ["on"]  # Finland's line cleared
    data["related_locked"] = ["on"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    changes = {
        (c.action, c.country.slug if c.country else None): c
        for c in RelatedChange.objects.filter(story=main)
    }
    assert set(changes) == {
        (RelatedChange.Action.PICK, "canada"),
        (RelatedChange.Action.CLEAR, "finland"),
        (RelatedChange.Action.LOCK, None),
    }
    pick = changes[(RelatedChange.Action.PICK, "canada")]
    assert pick.username == "edna"
    assert pick.before["target"] == box["ca1"].pk and pick.after["target"] == box["ca2"].pk
    assert changes[(RelatedChange.Action.CLEAR, "finland")].after is None
    main.refresh_from_db()
    assert main.related_locked
    assert slot(main, "canada").origin == Origin.EDITOR and slot(main, "finland") is None
    # A line cleared in the admin stays empty, as one cleared on the editor page does.
    assert country("finland").pk in curation.cleared_countries(main)

    # Saving the form again unchanged records nothing more.
    data = form_data(client.get(url).content.decode())
    assert client.post(url, data).status_code == 302
    assert RelatedChange.objects.filter(story=main).count() == 3
