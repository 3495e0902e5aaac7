"""Newsletters, digests, round-ups and podcasts never fill a related box (issue 21).

The system never suggests one; an editor cannot pick one; and when a story is marked one
(``reclean`` with new rules, a re-fetched item, an editor in the admin) every line pointing
at it is dropped, in locked boxes too, and the unlocked boxes are suggested again. Lines that
already point at one (made before it was marked) are found by beat's ``stale_boxes`` and
never shown to readers meanwhile. On PostgreSQL: the candidate queries are its SQL.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from feeds import tasks
from feeds.models import Origin, RelatedChange, RelatedSlot, Story, StoryKind
from feeds.related import boxes, curation
from feeds.related.curation import CurationError
from feeds.search import update_search_vectors
from tests.test_curation import make_box, slot
from tests.test_editor_tags import form_data
from tests.test_views import country, parse, text_of

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture
def box():
    stories = make_box()
    boxes.refresh_box(Story.objects.get(pk=stories["main"].pk))
    return stories


def targets(story: Story) -> set[int]:
    return set(
        RelatedSlot.objects.filter(story=story, target__isnull=False).values_list(
            "target_id", flat=True
        )
    )


def test_the_system_never_suggests_a_roundup(box):
    main, ca1 = box["main"], box["ca1"]
    assert slot(main, "canada").target_id == ca1.pk  # the best Canadian match, as a story
    Story.objects.filter(pk=ca1.pk).update(kind=StoryKind.DIGEST)
    ranked = boxes.suggest(main)
    assert ca1.pk not in {c.story_id for cands in ranked.values() for c in cands}
    assert box["ca2"].pk in {c.story_id for c in ranked[country("canada").pk]}


def test_an_editor_cannot_pick_a_roundup(box, editor):
    Story.objects.filter(pk=box["ca3"].pk).update(kind=StoryKind.PODCAST)
    with pytest.raises(CurationError, match="podcast"):
        curation.pick(box["main"], country("canada"), box["ca3"], editor)
    found = curation.search_candidates("Inuvik runway", exclude_story=box["main"])
    assert box["ca3"].pk not in {s.pk for s in found}


def test_reclean_drops_every_line_to_a_newly_marked_newsletter(box, editor):
    main, ca1 = box["main"], box["ca1"]
    # A second box whose editor picked and pinned ca1, and a locked third one that shows it.
    other = box["fi1"]
    curation.pick(other, country("canada"), ca1, editor)
    curation.pin(other, country("canada"), True, editor)
    locked = box["gl1"]
    RelatedSlot.objects.create(
        story=locked, country=country("canada"), target=ca1, origin=Origin.SYSTEM
    )
    Story.objects.filter(pk=locked.pk).update(related_locked=True)
    # The outlet renames it as its newsletter; the stored kind still says "story".
    Story.objects.filter(pk=ca1.pk).update(title="Newsletter: the week in Arctic defence")
    update_search_vectors([ca1.pk])

    out = StringIO()
    call_command("reclean", "--dry-run", stdout=out)
    assert "would change the related boxes of 3" in out.getvalue()
    assert RelatedSlot.objects.filter(target=ca1).count() == 3  # a dry run changes nothing

    call_command("reclean", stdout=out)
    assert Story.objects.get(pk=ca1.pk).kind == StoryKind.DIGEST
    assert not RelatedSlot.objects.filter(target=ca1).exists()
    # The unlocked boxes were suggested again: Canada's line has another Canadian story.
    line = slot(main, "canada")
    assert line is not None and line.target_id in {box["ca2"].pk, box["ca3"].pk}
    assert slot(other, "canada") is not None and slot(other, "canada").target_id != ca1.pk
    # The locked box is one line shorter, not refilled.
    assert slot(locked, "canada") is None
    # The editor's line went back to the system, and its history says so.
    change = RelatedChange.objects.filter(story=other, action="release").get()
    assert change.before["target"] == ca1.pk and change.before["pinned"] is True
    assert change.after is None and change.username == ""
    assert "the related boxes of 0" in _reclean()  # nothing left to drop


def _reclean() -> str:
    out = StringIO()
    call_command("reclean", stdout=out)
    return out.getvalue()


def test_a_refetched_item_marked_a_podcast_leaves_the_boxes_it_filled(box):
    main, ca1 = box["main"], box["ca1"]
    Story.objects.filter(pk=ca1.pk).update(kind=StoryKind.PODCAST)  # as ingest stores it
    tasks.enrich([ca1.pk])  # what a fetch's follow-up runs for the changed story
    assert ca1.pk not in targets(main)
    assert slot(main, "canada").target.kind == StoryKind.STORY


def test_lines_to_stories_marked_before_are_found_by_beat_and_never_shown(client, box):
    main, ca1 = box["main"], box["ca1"]
    # Marked before this rule existed: the line still points at it, an editor's and pinned.
    RelatedSlot.objects.filter(story=main, target=ca1).update(origin=Origin.EDITOR, pinned=True)
    Story.objects.filter(pk=ca1.pk).update(kind=StoryKind.DIGEST)
    page = parse(client.get(reverse("feeds:story", args=[main.pk])))
    assert ca1.title not in text_of(page.find(".//section[@class='related']"))

    assert main.pk in boxes.stale_boxes()
    assert boxes.refresh_boxes(boxes.stale_boxes()) >= 1
    assert ca1.pk not in targets(main)
    assert slot(main, "canada") is not None
    assert main.pk not in boxes.stale_boxes()


def test_marking_a_story_a_newsletter_in_the_admin_drops_its_lines(client, box, editor):
    main, ca1 = box["main"], box["ca1"]
    client.force_login(editor)
    url = reverse("admin:feeds_story_change", args=[ca1.pk])
    data = form_data(client.get(url).content.decode())
    data["kind"] = [StoryKind.DIGEST]
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    assert Story.objects.get(pk=ca1.pk).kind == StoryKind.DIGEST
    assert ca1.pk not in targets(main)
    assert slot(main, "canada") is not None
