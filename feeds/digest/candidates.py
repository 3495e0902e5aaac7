"""A week's coverage, read from the database: the only SQL of the digest's drafting.

Four small queries, whatever the archive's size: the week's canonical stories (on the
visible-stories index), their copies, their country tags, and their storylines.
"""

from __future__ import annotations

from collections import defaultdict

from feeds.digest.choosing import Candidate, StorylineCoverage
from feeds.digest.weeks import IsoWeek
from feeds.models import (
    Story,
    StoryCountry,
    Storyline,
    StorylineMembership,
    StoryQuerySet,
)


def week_stories(week: IsoWeek) -> StoryQuerySet:
    """The week's stories proper that readers can see (canonical copies, not round-ups)."""
    return (
        Story.objects.visible()
        .articles()
        .filter(published_at__gte=week.start, published_at__lt=week.end)
    )


def week_storylines(week: IsoWeek) -> list[StorylineCoverage]:
    """Shown storylines that more than one story tells and that had a story this week."""
    rows = (
        Storyline.objects.shown()
        .filter(
            last_published_at__gte=week.start,
            first_published_at__lt=week.end,
            story_count__gte=2,
        )
        .ranked()
        .values_list("id", "country_count", "outlet_count", "story_count", "title")
    )
    return [StorylineCoverage(*row) for row in rows]


def week_candidates(week: IsoWeek) -> list[Candidate]:
    stories = list(
        week_stories(week).values_list(
            "id", "published_at", "source_id", "source__country_id", "primary_country_id"
        )
    )
    ids = [row[0] for row in stories]
    outlets: dict[int, set[int]] = defaultdict(set)
    outlet_countries: dict[int, set[int]] = defaultdict(set)
    for story_id, _, source_id, country_id, _ in stories:
        outlets[story_id].add(source_id)
        if country_id:
            outlet_countries[story_id].add(country_id)
    # Copies count wherever they were published (a republication may come a week later).
    for canonical_id, source_id, country_id in Story.objects.filter(
        canonical_id__in=ids
    ).values_list("canonical_id", "source_id", "source__country_id"):
        outlets[canonical_id].add(source_id)
        if country_id:
            outlet_countries[canonical_id].add(country_id)
    tagged: dict[int, list[int]] = defaultdict(list)
    for story_id, country_id in (
        StoryCountry.objects.shown().filter(story_id__in=ids).values_list("story_id", "country_id")
    ):
        tagged[story_id].append(country_id)
    lines = {line.storyline_id: line for line in week_storylines(week)}
    storyline_of = {
        story_id: lines[line_id]
        for story_id, line_id in StorylineMembership.objects.filter(
            story_id__in=ids, storyline_id__in=list(lines)
        ).values_list("story_id", "storyline_id")
    }
    return [
        Candidate(
            story_id=story_id,
            published_at=published_at,
            outlets=len(outlets[story_id]),
            outlet_countries=len(outlet_countries[story_id]),
            countries=tuple(sorted(tagged[story_id])),
            primary_country=primary_id,
            storyline=storyline_of.get(story_id),
        )
        for story_id, published_at, _, _, primary_id in stories
    ]
