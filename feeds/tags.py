"""Storing automatic country and topic tags without ever overriding an editor."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Country, Origin, Story, StoryCountry, StoryTopic, Topic
from .sanitizing import html_to_text
from .tagging import tag
from .types import TagInput, TagResult

_TEXT_LIMIT = 3000


def tag_input(story: Story) -> TagInput:
    text = html_to_text(story.summary or story.content)[:_TEXT_LIMIT]
    if story.content and len(text) < 400:
        text = (text + " " + html_to_text(story.content)[:_TEXT_LIMIT]).strip()
    source = story.source
    return TagInput(
        title=story.title,
        text=text,
        categories=tuple(story.categories or ()),
        outlet=story.original_outlet,
        source_name=source.name,
        source_country=source.country.slug if source.country_id else "",
        language=story.language,
    )


def _vocab() -> tuple[dict[str, Country], dict[str, Topic]]:
    return (
        {c.slug: c for c in Country.objects.all()},
        {t.slug: t for t in Topic.objects.all()},
    )


def apply_tags(stories: Iterable[Story]) -> int:
    """Tag stories automatically. Editor rows (added or rejected) are left as they are.

    Returns the number of stories whose tags changed.
    """
    stories = list(stories)
    if not stories:
        return 0
    countries, topics = _vocab()
    ids = [s.pk for s in stories]
    existing_c: dict[int, dict[int, StoryCountry]] = {i: {} for i in ids}
    for row in StoryCountry.objects.filter(story_id__in=ids):
        existing_c[row.story_id][row.country_id] = row
    existing_t: dict[int, dict[int, StoryTopic]] = {i: {} for i in ids}
    for row in StoryTopic.objects.filter(story_id__in=ids):
        existing_t[row.story_id][row.topic_id] = row

    changed = 0
    now = timezone.now()
    with transaction.atomic():
        for story in stories:
            result: TagResult = tag(tag_input(story))
            wanted_c = {countries[s].pk: result.scores.get(s, 0.0) for s in result.countries
                        if s in countries}
            wanted_t = {topics[s].pk: 0.0 for s in result.topics if s in topics}
            did = _sync(StoryCountry, "country_id", story, existing_c[story.pk], wanted_c)
            did |= _sync(StoryTopic, "topic_id", story, existing_t[story.pk], wanted_t)
            if not story.primary_set_by_editor:
                primary = _primary(result, countries, existing_c[story.pk])
                if primary != story.primary_country_id:
                    story.primary_country_id = primary
                    did = True
            story.tagged_at = now
            Story.objects.filter(pk=story.pk).update(
                primary_country_id=story.primary_country_id, tagged_at=now
            )
            changed += did
    return changed


def _primary(result: TagResult, countries: dict[str, Country],
             existing: dict[int, StoryCountry]) -> int | None:
    """The system's primary, skipping countries an editor rejected."""
    rejected = {cid for cid, row in existing.items() if row.rejected}
    for slug in result.countries:
        country = countries.get(slug)
        if country and country.pk not in rejected:
            return country.pk
    # Fall back to a tag an editor added, so a tagged story always has a primary.
    for cid, row in existing.items():
        if row.origin == Origin.EDITOR and not row.rejected:
            return cid
    return None


def _sync(model, key: str, story: Story, existing: dict, wanted: dict[int, float]) -> bool:
    changed = False
    for vid, row in existing.items():
        if row.origin == Origin.SYSTEM and vid not in wanted:
            row.delete()
            changed = True
    create = []
    for vid, score in wanted.items():
        row = existing.get(vid)
        if row is None:
            create.append(model(story=story, origin=Origin.SYSTEM, score=score, **{key: vid}))
        elif row.origin == Origin.SYSTEM and abs(row.score - score) > 1e-6:
            model.objects.filter(pk=row.pk).update(score=score)
    if create:
        model.objects.bulk_create(create, ignore_conflicts=True)
        changed = True
    return changed
