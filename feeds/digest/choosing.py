"""Which story fills each country's line of a week's digest, and which storylines lead it
(pure: records in, choices out).

Coverage is what ranks: how many countries' outlets carried an event and how many outlets.
A story alone counts its own copies (republications by other outlets, with their home
countries); a story in a storyline counts the storyline's whole coverage, so an event that
five countries covered outranks a story that one outlet syndicated twice. Lines are filled
greedily from the best-covered (country, story) pair down: a story fills one line at most,
and so does a storyline (the digest, like a related box, never shows one event twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

STORYLINES_PER_DIGEST = 5


@dataclass(frozen=True)
class StorylineCoverage:
    """A storyline's coverage in the week: distinct countries, outlets and stories."""

    storyline_id: int
    countries: int
    outlets: int
    stories: int
    title: str = ""

    def summary(self) -> str:
        """What readers are told of its week: "3 stories from 2 countries"."""
        text = _count(self.stories, "story", "stories")
        if self.countries:  # outlets without a home country count for none
            text += f" from {_count(self.countries, 'country', 'countries')}"
        return text

    def reason(self) -> str:
        """Why it is one of the week's storylines, for editors."""
        return (
            f"this week: {_count(self.stories, 'story', 'stories')}, "
            f"{_count(self.outlets, 'outlet')} in {_count(self.countries, 'country', 'countries')}"
        )


@dataclass(frozen=True)
class Candidate:
    """A canonical, visible story of the week, with who else carried it."""

    story_id: int
    published_at: datetime
    outlets: int  # the story's outlet and its copies' distinct outlets
    outlet_countries: int  # distinct home countries of those outlets
    countries: tuple[int, ...]  # the country ids it is tagged with (shown tags)
    primary_country: int | None
    storyline: StorylineCoverage | None = None

    def coverage(self) -> tuple[int, int]:
        """(countries, outlets): the storyline's when it has one and it is wider."""
        own = (self.outlet_countries, self.outlets)
        line = self.storyline
        if line is None:
            return own
        return max(own, (line.countries, line.outlets))

    def reason(self) -> str:
        countries, outlets = self.coverage()
        what = _count(outlets, "outlet")
        if countries:  # outlets without a home country count for none
            what += f" in {_count(countries, 'country', 'countries')}"
        if self.storyline is not None and self.coverage() != (
            self.outlet_countries,
            self.outlets,
        ):
            return f"storyline: {_count(self.storyline.stories, 'story', 'stories')}, {what}"
        return what


@dataclass(frozen=True)
class Choice:
    country_id: int
    story_id: int
    reason: str


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _key(candidate: Candidate, country_id: int) -> tuple[int, int, bool, datetime, int]:
    countries, outlets = candidate.coverage()
    # Wider coverage first; then a story about the country (its primary) over one that
    # merely mentions it; then the newer; the id last so equal ranks are stable.
    return (
        countries,
        outlets,
        candidate.primary_country == country_id,
        candidate.published_at,
        candidate.story_id,
    )


def choose_lines(candidates: Iterable[Candidate], country_ids: Sequence[int]) -> list[Choice]:
    """One choice per country that has an eligible story, in ``country_ids`` order.

    A story is eligible for the countries it is tagged with (and its primary country).
    """
    wanted = set(country_ids)
    pairs = [
        (_key(c, country), country, c)
        for c in candidates
        for country in {*c.countries, *((c.primary_country,) if c.primary_country else ())}
        if country in wanted
    ]
    pairs.sort(key=lambda pair: pair[0], reverse=True)
    chosen: dict[int, Choice] = {}
    used_stories: set[int] = set()
    used_storylines: set[int] = set()
    for _, country, candidate in pairs:
        if country in chosen or candidate.story_id in used_stories:
            continue
        line = candidate.storyline
        if line is not None and line.storyline_id in used_storylines:
            continue
        chosen[country] = Choice(country, candidate.story_id, candidate.reason())
        used_stories.add(candidate.story_id)
        if line is not None:
            used_storylines.add(line.storyline_id)
        if len(chosen) == len(wanted):
            break
    return [chosen[c] for c in country_ids if c in chosen]


def choose_storylines(
    storylines: Iterable[StorylineCoverage], limit: int = STORYLINES_PER_DIGEST
) -> list[StorylineCoverage]:
    """The week's best-covered storylines (more than one story each), best first."""
    grouped = [s for s in storylines if s.stories > 1]
    grouped.sort(key=lambda s: (s.countries, s.outlets, s.stories, s.storyline_id), reverse=True)
    return grouped[:limit]


def alternatives(
    candidates: Iterable[Candidate], country_id: int, exclude: set[int], limit: int = 3
) -> list[Candidate]:
    """The next best stories for a country's line (what an editor may pick instead)."""
    eligible = [
        c
        for c in candidates
        if c.story_id not in exclude
        and (country_id in c.countries or c.primary_country == country_id)
    ]
    eligible.sort(key=lambda c: _key(c, country_id), reverse=True)
    return eligible[:limit]
