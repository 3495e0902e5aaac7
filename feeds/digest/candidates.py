"""A week's coverage, read from the database: the only SQL of the digest's drafting.

Small queries, whatever the archive's size: the week's canonical stories (on the
visible-stories index), their copies, their country tags, and their storylines with the
week's coverage of each (``Storyline.objects.covered_between``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from feeds.digest.choosing import Candidate, StorylineCoverage
from feeds.digest.weeks import IsoWeek
from feeds.models import (
    Digest,
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


def week_storylines(week: IsoWeek, ids: Collection[int] | None = None) -> list[StorylineCoverage]:
    """Listed storylines that had a story this week (of ``ids`` only, if given), with the
    week's coverage (what covered them that week, not since they began), most covered that
    week first."""
    lines = Storyline.objects.covered_between(week.start, week.end)
    if ids is not None:
        lines = lines.filter(pk__in=list(ids))
    # The window_* names are covered_between's annotations, which django-stubs cannot see
    # from here (it knows only those annotated in the same expression).
    rows = lines.values_list(  # type: ignore[misc]
        "id", "window_countries", "window_outlets", "window_stories", "title"
    )
    return [StorylineCoverage(*row) for row in rows]


@dataclass(frozen=True)
class WeekStoryline:
    """One of a digest's storylines as readers get it, with that week's coverage (none for
    a storyline an editor added that had no visible story that week)."""

    storyline: Storyline
    coverage: StorylineCoverage | None


def digest_storylines(digest: Digest) -> list[WeekStoryline]:
    """A digest's storylines of the week as its page, feed and email show them (two queries):
    the counts are the week's, as they were chosen, not what the storyline has grown to since."""
    items = list(digest.shown_storylines())
    week = IsoWeek(digest.year, digest.week)
    found = {c.storyline_id: c for c in week_storylines(week, [i.storyline_id for i in items])}
    return [WeekStoryline(i.storyline, found.get(i.storyline_id)) for i in items]


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
