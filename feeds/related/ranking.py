"""Ranking candidates for a story's related box, and choosing one line per country.
Pure: no Django, no database, no network.

Owns: relevance (cosine of the profiles, plus a little for shared topic tags; a country
tagged only as a secondary counts slightly less), the freshness factor, the penalties
(same outlet, round-ups), what counts as another copy of the story, and ``pick`` (one story
per country, strongest first, no story twice, a repeated outlet costs a little).
May import: the standard library, ``feeds.related.profiles`` and ``feeds.text.keys``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from feeds.related.profiles import Corpus, Profile, Vector, cosine, vector
from feeds.text.keys import shares_key

MIN_RELEVANCE: Final = 0.05  # below this a candidate is not related (chosen on dev + holdout)
DUPLICATE_SIMILARITY: Final = 0.8  # this similar and this close in time: another copy
DUPLICATE_GAP: Final = timedelta(days=3)
HALF_LIFE_DAYS: Final = 14.0  # freshness halves every two weeks of age (relative to the story)
FRESH_SHARE: Final = 0.25  # freshness can take at most this share of the score
SAME_SOURCE_PENALTY: Final = 0.02  # a line from the story's own outlet is slightly less welcome
OUTLET_REPEAT_PENALTY: Final = 0.06  # each earlier line from the same outlet costs this share
SECONDARY_TAG: Final = 0.75  # a candidate tagged with the country only as a secondary one
TOPIC_BONUS: Final = 0.3  # shared topic tags raise the text similarity by up to this share
ALTERNATIVES: Final = 5
# Newsletters, podcasts and round-ups touch every subject of their week, so they match many
# boxes without being about any one story's subject: a line only when nothing else fits.
ROUNDUP_PENALTY: Final = 0.5
_ROUNDUP: Final = re.compile(
    r"\b(newsletter|podcast|digest|roundup|round up|news in brief|daily briefing|"
    r"morning briefing|week in review|the week in|this week in|live blog|live updates)\b"
)


@dataclass(frozen=True)
class Scored:
    story_id: int
    score: float
    relevance: float


@dataclass(frozen=True)
class Subject:
    """The story a box is for, as ranking needs it."""

    pk: int
    canonical_id: int | None
    source_id: int | None
    published_at: datetime | None
    keys: tuple[str, str, str]  # headline, link and lead keys (feeds.text.keys)


@dataclass
class Candidate:
    id: int
    source_id: int
    published_at: datetime
    keys: tuple[str, str, str]
    outlet: str
    primary_country_id: int | None
    profile: Profile
    countries: set[int] = field(default_factory=set)  # shown country tags
    topics: set[int] = field(default_factory=set)
    roundup: bool = False


@dataclass
class Ranking:
    ranked: dict[int, list[Scored]]  # country id → candidates, best first
    outlets: dict[int, str]  # candidate id → outlet, case-folded (for variety)


def is_roundup(title: str) -> bool:
    return _ROUNDUP.search(title.casefold()) is not None


def is_copy(subject: Subject, cand: Candidate, similarity: float) -> bool:
    """Another copy of the same story that copy detection did not link."""
    if shares_key(subject.keys, cand.keys):
        return True
    return (
        similarity >= DUPLICATE_SIMILARITY
        and subject.published_at is not None
        and abs(subject.published_at - cand.published_at) <= DUPLICATE_GAP
    )


def freshness(reference: datetime, cand: Candidate) -> float:
    """1 for a story as new as the box's own (or newer), halving every HALF_LIFE_DAYS."""
    age_days = max((reference - cand.published_at).total_seconds() / 86400.0, 0.0)
    return float(0.5 ** (age_days / HALF_LIFE_DAYS))


def rank(
    subject: Subject,
    mine: Vector,
    cands: Iterable[Candidate],
    corpus: Corpus,
    topics: set[int],
    now: datetime,
) -> Ranking:
    """Candidates per country, best first. ``mine`` is the subject's vector, ``topics`` its
    shown topic tags, ``now`` the reference time of a story without a date."""
    reference = subject.published_at or now
    exclude = {subject.pk, subject.canonical_id}
    ranked: dict[int, list[Scored]] = defaultdict(list)
    outlets: dict[int, str] = {}
    for cand in cands:
        if not cand.countries or cand.id in exclude:
            continue
        similarity = cosine(mine, vector(cand.profile, corpus))
        if similarity <= 0.0 or is_copy(subject, cand, similarity):
            continue
        shared = (
            len(topics & cand.topics) / len(topics | cand.topics) if topics and cand.topics else 0.0
        )
        # Shared topic tags confirm a text match; alone they make nothing related.
        relevance = min(similarity * (1.0 + TOPIC_BONUS * shared), 1.0)
        if relevance < MIN_RELEVANCE:
            continue
        score = relevance * (1.0 - FRESH_SHARE + FRESH_SHARE * freshness(reference, cand))
        if cand.source_id == subject.source_id:
            score *= 1.0 - SAME_SOURCE_PENALTY
        if cand.roundup:
            score *= ROUNDUP_PENALTY
        outlets[cand.id] = cand.outlet.casefold()
        for cid in cand.countries:
            factor = 1.0 if cid == cand.primary_country_id else SECONDARY_TAG
            ranked[cid].append(Scored(cand.id, round(score * factor, 6), round(relevance, 4)))
    for lst in ranked.values():
        lst.sort(key=lambda s: (-s.score, -s.relevance, -s.story_id))
    return Ranking(dict(ranked), outlets)


def pick(
    ranked: dict[int, list[Scored]],
    outlets: dict[int, str],
    *,
    skip_countries: Iterable[int] = (),
    used_stories: Iterable[int] = (),
    used_outlets: Iterable[str] = (),
) -> dict[int, Scored]:
    """One story per country: the strongest line is placed first, no story is used twice,
    and each earlier line from the same outlet costs a candidate ``OUTLET_REPEAT_PENALTY``."""
    picks: dict[int, Scored] = {}
    used = set(used_stories)
    outlet_count: dict[str, int] = defaultdict(int)
    for name in used_outlets:
        outlet_count[name] += 1
    skip = set(skip_countries)
    todo = {cid: lst for cid, lst in ranked.items() if cid not in skip and lst}
    while todo:
        best: tuple[float, int, Scored] | None = None
        for cid, lst in todo.items():
            for cand in lst[: ALTERNATIVES * 2]:
                if best is not None and cand.score <= best[0]:
                    break  # sorted by score, and a penalty only lowers it: none can win
                if cand.story_id in used:
                    continue
                repeats = outlet_count[outlets.get(cand.story_id, "")]
                value = cand.score * (1.0 - OUTLET_REPEAT_PENALTY) ** repeats
                if best is None or value > best[0]:
                    best = (value, cid, cand)
        if best is None:
            break
        _, cid, chosen = best
        picks[cid] = chosen
        used.add(chosen.story_id)
        outlet_count[outlets.get(chosen.story_id, "")] += 1
        del todo[cid]
    return picks
