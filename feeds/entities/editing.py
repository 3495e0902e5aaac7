"""Editors' changes to entities that touch more than one row: merging. (Adding, aliasing and
hiding are plain admin edits; the admin calls ``store.entities_changed`` after each.)"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Exists, OuterRef

from feeds.entities.store import entities_changed
from feeds.models import Entity, StoryEntity

__all__ = ["merge"]


@transaction.atomic
def merge(target: Entity, others: Sequence[Entity]) -> Entity:
    """Merge ``others`` into ``target``: their pages redirect to it, their names find it,
    their stories are its (a story linked to both keeps the target's link, editor's or not)."""
    others = [o for o in others if o.pk != target.pk]
    ids = [o.pk for o in others]
    moving = StoryEntity.objects.filter(entity_id__in=ids)
    both = Exists(StoryEntity.objects.filter(entity_id=target.pk, story_id=OuterRef("story_id")))
    moving.filter(both).delete()
    # Two merged entities may share a story: keep one row per story.
    seen: set[int] = set()
    duplicate = []
    for pk, story_id in moving.order_by("pk").values_list("pk", "story_id"):
        if story_id in seen:
            duplicate.append(pk)
        seen.add(story_id)
    StoryEntity.objects.filter(pk__in=duplicate).delete()
    moving.update(entity_id=target.pk)
    Entity.objects.filter(pk__in=ids).update(merged_into=target, edited=True)
    Entity.objects.filter(merged_into__in=ids).update(merged_into=target)  # no chains
    entities_changed()
    return target
