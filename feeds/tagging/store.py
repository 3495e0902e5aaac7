"""Storing automatic country and topic tags without ever overriding an editor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from feeds.bulk import insert_columns
from feeds.models import Country, Origin, Story, StoryCountry, StoryTopic, Topic
from feeds.tagging.tagger import tag
from feeds.text.sanitizing import leading_text
from feeds.types import TagInput, TagResult

# What a story is about is in its headline, teaser and first paragraphs; reading whole
# bodies costs time and adds passing mentions.
TEXT_LIMIT = 800


def tag_input(story: Story) -> TagInput:
    # Ingest has already turned the same HTML into text (ingest._lead_text). Stored bodies
    # are what clean_html returned, so their text needs no second parse (clean=True).
    lead = getattr(story, "_lead_text", None)
    if lead is None:
        lead = leading_text(story.summary or story.content, TEXT_LIMIT, clean=True)
    text = lead[:TEXT_LIMIT]
    if story.content and len(text) < 400:
        more = leading_text(story.content, TEXT_LIMIT - len(text), clean=True)
        text = (text + " " + more).strip()
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


class Vocabulary(NamedTuple):
    countries: dict[str, Country]
    topics: dict[str, Topic]


def vocabulary() -> Vocabulary:
    """The countries and topics by slug: read once per feed, not once per step."""
    return Vocabulary(
        {c.slug: c for c in Country.objects.all()},
        {t.slug: t for t in Topic.objects.all()},
    )


def pretag(stories: Iterable[Story], vocab: Vocabulary | None = None) -> None:
    """Tag unsaved stories so their INSERT already carries the primary country."""
    countries = {slug: c.pk for slug, c in (vocab or vocabulary()).countries.items()}
    now = timezone.now()
    for story in stories:
        result = tag(tag_input(story))
        story._pretagged = result
        story.primary_country_id = next(
            (countries[s] for s in result.countries if s in countries), None
        )
        story.tagged_at = now


def apply_tags(stories: Iterable[Story], vocab: Vocabulary | None = None) -> int:
    """Tag stories automatically. Editor rows (added or rejected) are left as they are.

    A constant number of queries per batch, not per story: ingest tags whole feeds at once.
    Returns the number of stories whose tags changed.
    """
    stories = list(stories)
    if not stories:
        return 0
    countries, topics = vocab or vocabulary()
    ids = [s.pk for s in stories]
    existing_c: dict[int, dict[int, StoryCountry]] = {i: {} for i in ids}
    existing_t: dict[int, dict[int, StoryTopic]] = {i: {} for i in ids}
    # Stories tagged before their INSERT are new: they have no tag rows to look up.
    old = [s.pk for s in stories if getattr(s, "_pretagged", None) is None]
    if old:
        for row in StoryCountry.objects.filter(story_id__in=old):
            existing_c[row.story_id][row.country_id] = row
        for row in StoryTopic.objects.filter(story_id__in=old):
            existing_t[row.story_id][row.topic_id] = row

    now = timezone.now()
    plan = _Plan()
    changed = 0
    stale: list[Story] = []
    for story in stories:
        # New stories were tagged before their INSERT (see pretag), so their row already
        # holds the primary country; only the tag rows are left to write.
        result: TagResult | None = getattr(story, "_pretagged", None)
        already = result is not None
        if result is None:
            result = tag(tag_input(story))
        before = story.primary_country_id
        wanted_c = {
            countries[s].pk: result.scores.get(s, 0.0) for s in result.countries if s in countries
        }
        wanted_t = {topics[s].pk: result.scores.get(s, 0.0) for s in result.topics if s in topics}
        did = plan.sync(StoryCountry, story, existing_c[story.pk], wanted_c)
        did |= plan.sync(StoryTopic, story, existing_t[story.pk], wanted_t)
        if not story.primary_set_by_editor:
            primary = _primary(result, countries, existing_c[story.pk])
            if primary != story.primary_country_id:
                story.primary_country_id = primary
                did = True
        if not already or story.primary_country_id != before:
            stale.append(story)
        story.tagged_at = now
        changed += did
    # One UPDATE per distinct primary country (at most ten), not one per story.
    by_primary: dict[int | None, list[int]] = defaultdict(list)
    for story in stale:
        by_primary[story.primary_country_id].append(story.pk)
    # Inside ingest's transaction a savepoint would only add two round trips per feed: an
    # error here aborts that whole transaction anyway.
    with transaction.atomic(savepoint=False):
        plan.apply()
        for primary, pks in by_primary.items():
            Story.objects.filter(pk__in=pks).update(primary_country_id=primary, tagged_at=now)
    return changed


class _Plan:
    """The rows to delete and create, gathered for the whole batch."""

    def __init__(self) -> None:
        self.delete: dict[type, list[int]] = {StoryCountry: [], StoryTopic: []}
        # New system rows as (story id, country or topic id, score).
        self.create: dict[type, list[tuple[int, int, float]]] = {StoryCountry: [], StoryTopic: []}

    def sync(self, model, story: Story, existing: dict, wanted: dict[int, float]) -> bool:
        changed = False
        for vid, row in existing.items():
            if row.origin == Origin.SYSTEM and vid not in wanted:
                self.delete[model].append(row.pk)
                changed = True
        for vid, score in wanted.items():
            if vid not in existing:
                self.create[model].append((story.pk, vid, score))
                changed = True
        return changed

    def apply(self) -> None:
        for model, pks in self.delete.items():
            if pks:
                model.objects.filter(pk__in=pks, origin=Origin.SYSTEM).delete()
        for model, rows in self.create.items():
            if not rows:
                continue
            story_ids, value_ids, scores = zip(*rows, strict=True)
            insert_columns(
                model,
                {"story_id": story_ids, _VALUE_COLUMN[model]: value_ids, "score": scores},
                constants={"origin": Origin.SYSTEM},
                # A row an editor or a racing run wrote meanwhile wins, as before.
                ignore_conflicts=True,
            )


_VALUE_COLUMN = {StoryCountry: "country_id", StoryTopic: "topic_id"}


def _primary(
    result: TagResult, countries: dict[str, Country], existing: dict[int, StoryCountry]
) -> int | None:
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
