"""Editors' changes to storylines: rename, hide and show, merge, split, and move a story.

Every operation runs in one transaction and writes a ``StorylineChange`` (who, when, before,
after). What an editor decides stays decided: a story an editor moved, merged or split off
has a pinned membership, which the clusterer never changes (it places only stories without
a storyline); an editor's title is never replaced; a hidden or merged storyline takes no new
story. Counts, dates and terms are rebuilt by ``assign.refresh``.
May import: ``feeds.models``, ``feeds.generation`` and ``feeds.storylines.assign``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from feeds.generation import bump_generation
from feeds.models import RelatedSlot, Story, Storyline, StorylineChange, StorylineMembership
from feeds.related import boxes
from feeds.storylines.assign import new_slug, refresh


class EditError(ValueError):
    """An operation that cannot be done; the message says why, for the editor."""


def _state(line: Storyline) -> dict[str, Any]:
    return {
        "id": line.pk,
        "slug": line.slug,
        "title": line.title,
        "hidden": line.hidden,
        "merged_into": line.merged_into_id,
        "stories": sorted(
            StorylineMembership.objects.filter(storyline=line).values_list("story_id", flat=True)
        ),
    }


def _record(
    user: Any,
    action: str,
    line: Storyline | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    story: Story | None = None,
) -> StorylineChange:
    return StorylineChange.objects.create(
        storyline=line,
        story=story,
        **StorylineChange.by(user),
        action=action,
        before=before,
        after=after,
    )


def _changed() -> None:
    transaction.on_commit(bump_generation)  # pages showing storylines are rebuilt


def _one_event_per_box(storyline_id: int) -> None:
    """A box never shows two stories of one storyline: where joining stories into this one
    made a box show it twice, the box is suggested again once the change is committed (locked
    boxes and editors' lines are left as they are, as every refresh does)."""

    def refresh_boxes() -> None:
        boxes.refresh_boxes(RelatedSlot.objects.boxes_showing_twice([storyline_id]))

    transaction.on_commit(refresh_boxes)


@transaction.atomic
def rename(line: Storyline, title: str, user: Any) -> Storyline:
    title = " ".join(title.split())[:300]
    if not title:
        raise EditError("A storyline needs a title.")
    before = {"title": line.title, "title_set_by_editor": line.title_set_by_editor}
    line.title, line.title_set_by_editor = title, True
    line.save(update_fields=["title", "title_set_by_editor", "updated_at"])
    _record(user, StorylineChange.Action.RENAME, line, before, {"title": title})
    _changed()
    return line


@transaction.atomic
def set_hidden(line: Storyline, hidden: bool, user: Any) -> Storyline:
    if line.hidden == hidden:
        return line
    before = {"hidden": line.hidden}
    line.hidden = hidden
    line.save(update_fields=["hidden", "updated_at"])
    action = StorylineChange.Action.HIDE if hidden else StorylineChange.Action.SHOW
    _record(user, action, line, before, {"hidden": hidden})
    _changed()
    return line


@transaction.atomic
def merge(target: Storyline, others: Iterable[Storyline], user: Any) -> Storyline:
    """Every story of ``others`` joins ``target`` (pinned); the others point at it, so their
    pages redirect there, and take no new story."""
    merged = [o for o in others if o.pk != target.pk]
    if not merged:
        raise EditError("Choose at least one other storyline to merge.")
    if target.merged_into_id:
        raise EditError(f"{target} was itself merged into another storyline.")
    if target.hidden:
        # The others' pages would redirect to a page readers cannot open (as move refuses).
        raise EditError(f"{target} is hidden from readers: show it first, or merge into another.")
    before_target = _state(target)
    for other in merged:
        before = _state(other)
        StorylineMembership.objects.filter(storyline=other).update(storyline=target, pinned=True)
        other.merged_into = target
        other.save(update_fields=["merged_into", "updated_at"])
        refresh(other.pk)
        after = {**_state(other), "into": target.pk}
        _record(user, StorylineChange.Action.MERGE, other, before, after)
    refresh(target.pk)
    target.refresh_from_db()
    _record(user, StorylineChange.Action.MERGE, target, before_target, _state(target))
    _one_event_per_box(target.pk)
    _changed()
    return target


@transaction.atomic
def split(line: Storyline, story_ids: Sequence[int], user: Any, title: str = "") -> Storyline:
    """The given stories of ``line`` leave it for a new storyline of their own (pinned)."""
    members = list(
        StorylineMembership.objects.filter(storyline=line, story_id__in=list(story_ids))
        .select_related("story")
        .order_by("story__published_at", "story_id")
    )
    if not members:
        raise EditError("Choose the stories to split off.")
    if len(members) == StorylineMembership.objects.filter(storyline=line).count():
        raise EditError("Splitting off every story would leave the storyline empty.")
    first = members[0].story
    before = _state(line)
    new = Storyline.objects.create(
        title=(title or first.title)[:300],
        title_set_by_editor=bool(title),
        slug=new_slug(title or first.title, first.pk),
    )
    StorylineMembership.objects.filter(pk__in=[m.pk for m in members]).update(
        storyline=new, pinned=True
    )
    refresh(line.pk)
    refresh(new.pk)
    new.refresh_from_db()
    after = {**_state(line), "split_into": new.pk}
    _record(user, StorylineChange.Action.SPLIT, line, before, after)
    _record(user, StorylineChange.Action.SPLIT, new, None, _state(new))
    _changed()
    return new


@transaction.atomic
def move(story: Story, target: Storyline, user: Any) -> StorylineMembership:
    """Put a story in ``target`` (pinned), out of the storyline it was in, if any."""
    if target.hidden or target.merged_into_id:
        raise EditError(f"{target} is hidden or merged: move the story to a storyline readers see.")
    if story.canonical_id:
        raise EditError("A copy follows its original story: move the original instead.")
    old = StorylineMembership.objects.filter(story=story).select_related("storyline").first()
    before = {"storyline": old.storyline_id if old else None, "pinned": old.pinned if old else None}
    if old is not None:
        old_line = old.storyline
        old.storyline, old.pinned = target, True
        old.save(update_fields=["storyline", "pinned"])
        membership = old
        refresh(old_line.pk)
    else:
        membership = StorylineMembership.objects.create(story=story, storyline=target, pinned=True)
    refresh(target.pk)
    _record(
        user,
        StorylineChange.Action.MOVE,
        target,
        before,
        {"storyline": target.pk, "pinned": True},
        story=story,
    )
    _one_event_per_box(target.pk)
    _changed()
    return membership
