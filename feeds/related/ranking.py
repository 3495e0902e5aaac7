"""Ranking candidates for a story's related box, and choosing one line per country.
Pure: no Django, no database, no network.

Owns: relevance (cosine of the profiles, plus a little for shared topic tags; a country
tagged only as a secondary counts slightly less), the freshness factor, the penalties
(same outlet, round-ups), what counts as another copy of the story, ``pick`` (one story
per country, strongest first, no story twice, a repeated outlet costs a little), and the
weights within a tier (``weights.toml``, data fitted to editors' choices by
``manage.py fit_related``).
May import: the standard library, ``feeds.related.profiles`` and ``feeds.text.keys``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from feeds.related.profiles import Corpus, Profile, Vector, cosine, vector
from feeds.text.keys import shares_key

MIN_RELEVANCE: Final = 0.05  # below this a candidate is not related (chosen on dev + holdout)
DUPLICATE_SIMILARITY: Final = 0.8  # this similar and this close in time: another copy
DUPLICATE_GAP: Final = timedelta(days=3)
ALTERNATIVES: Final = 5
# Tiers, best first: an editor looks for the same subject, then the same broad theme, then
# the country's most important recent story.
SUBJECT: Final = 0
THEME: Final = 1
RECENT: Final = 2
TIER_LABELS: Final = {SUBJECT: "same subject", THEME: "same theme", RECENT: "recent"}
THEME_SHARE: Final = 0.5  # a story's main themes weigh at least this share of its strongest
# A candidate is on a theme that is among its main ones, or that has at least this share of
# its theme words: a climate story told through reindeer herding is still a climate story.
THEME_MIN_SHARE: Final = 0.25
# A few shared words ("ice", "lost", "summer") make a weak text match; on none of the story's
# themes it is no subject match unless it is at least this similar.
OFF_THEME_RELEVANCE: Final = 0.2
# Two lines on one event ("ferry ran aground", "ferry refloated") are one line too many.
SAME_EVENT_SIMILARITY: Final = 0.6
SAME_EVENT_GAP: Final = timedelta(days=3)
# A story of the box's own storyline, from the country of a line, comes first in that line:
# how each country told the event (feeds.storylines).
OWN_STORYLINE: Final = 1.0
WEIGHTS_FILE: Final = Path(__file__).with_name("weights.toml")


@dataclass(frozen=True)
class Weights:
    """The ranking's weights within a tier, as data (``weights.toml``, fitted to editors'
    choices by ``manage.py fit_related``)."""

    half_life_days: float = 14.0
    fresh_share: float = 0.25
    theme_fresh_share: float = 0.6
    subject_theme_share: float = 0.3
    same_source_penalty: float = 0.02
    outlet_repeat_penalty: float = 0.06
    secondary_tag: float = 0.75
    topic_bonus: float = 0.3
    copy_weight: float = 0.5

    @classmethod
    def parse(cls, text: str) -> Weights:
        """Weights from the text of a TOML file; ValueError names a wrong entry."""
        data = tomllib.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"weights: unknown entries {sorted(unknown)}")
        bad = [k for k, v in data.items() if not isinstance(v, int | float) or v < 0]
        if bad:
            raise ValueError(f"weights: {bad} must be numbers, not negative")
        return cls(**{k: float(v) for k, v in data.items()})

    def to_toml(self) -> str:
        return "".join(f"{f.name} = {getattr(self, f.name)!r}\n" for f in fields(self))


WEIGHTS: Final = Weights.parse(WEIGHTS_FILE.read_text(encoding="utf-8"))
# Newsletters, podcasts and round-ups touch every subject of their week: never a line.
_ROUNDUP: Final = re.compile(
    r"\b(newsletter|podcast|digest|roundup|round up|news in brief|daily briefing|"
    r"morning briefing|week in review|the week in|this week in|live blog|live updates)\b"
)


@dataclass(frozen=True)
class Scored:
    story_id: int
    score: float
    relevance: float
    tier: int = SUBJECT

    @property
    def tier_label(self) -> str:
        return TIER_LABELS[self.tier]


@dataclass(frozen=True)
class Subject:
    """The story a box is for, as ranking needs it."""

    pk: int
    canonical_id: int | None
    source_id: int | None
    published_at: datetime | None
    keys: tuple[str, str, str]  # headline, link and lead keys (feeds.text.keys)
    storyline: int | None = None  # the storyline it is part of


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
    copies: int = 0  # other outlets' copies of it that we carry
    storyline: int | None = None


@dataclass
class Ranking:
    ranked: dict[int, list[Scored]]  # country id → candidates, best first
    outlets: dict[int, str]  # candidate id → outlet, case-folded (for variety)
    vectors: dict[int, Vector] = field(default_factory=dict)  # candidate id → its vector
    published: dict[int, datetime] = field(default_factory=dict)
    storylines: dict[int, int] = field(default_factory=dict)  # candidate id → its storyline
    own_storyline: int | None = None  # the box's story's storyline

    def merge(self, other: Ranking) -> None:
        """Add another batch of ranked candidates (a story already here is not added twice)."""
        for cid, lst in other.ranked.items():
            mine = self.ranked.setdefault(cid, [])
            have = {s.story_id for s in mine}
            mine.extend(s for s in lst if s.story_id not in have)
            mine.sort(key=_order)
        self.outlets.update(other.outlets)
        self.vectors.update(other.vectors)
        self.published.update(other.published)
        self.storylines.update(other.storylines)

    def has_subject(self, country_id: int) -> bool:
        return any(s.tier == SUBJECT for s in self.ranked.get(country_id, ()))


def _order(s: Scored) -> tuple[int, float, float, int]:
    return (s.tier, -s.score, -s.relevance, -s.story_id)


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


def on_themes(prof: Profile, themes: set[str]) -> set[str]:
    """Which of ``themes`` (the story's main ones) a candidate's profile is on."""
    shares = prof.themes
    return {t for t in themes if shares.get(t, 0.0) >= THEME_MIN_SHARE} | (
        prof.main_themes(THEME_SHARE) & themes
    )


def freshness(reference: datetime, cand: Candidate, weights: Weights = WEIGHTS) -> float:
    """1 for a story as new as the box's own (or newer), halving every ``half_life_days``."""
    age_days = max((reference - cand.published_at).total_seconds() / 86400.0, 0.0)
    return float(0.5 ** (age_days / weights.half_life_days))


def importance(cand: Candidate, weights: Weights = WEIGHTS) -> float:
    """How much a story matters to its country's readers, before freshness: copies."""
    return 1.0 + weights.copy_weight * math.log1p(cand.copies)


def rank(
    subject: Subject,
    mine: Vector,
    themes: set[str],
    cands: Iterable[Candidate],
    corpus: Corpus,
    topics: set[int],
    now: datetime,
    weights: Weights = WEIGHTS,
) -> Ranking:
    """Candidates per country, best first (by tier, then score). ``mine`` is the subject's
    vector, ``themes`` its main broad themes, ``topics`` its shown topic tags, ``now`` the
    reference time of a story without a date."""
    w = weights
    reference = subject.published_at or now
    exclude = {subject.pk, subject.canonical_id}
    ranked: dict[int, list[Scored]] = defaultdict(list)
    out = Ranking({}, {})
    for cand in cands:
        if not cand.countries or cand.id in exclude or cand.roundup:
            continue
        vec = vector(cand.profile, corpus)
        similarity = cosine(mine, vec)
        if is_copy(subject, cand, similarity):
            continue
        shared = (
            len(topics & cand.topics) / len(topics | cand.topics) if topics and cand.topics else 0.0
        )
        # Shared topic tags confirm a text match; alone they make nothing related.
        relevance = min(similarity * (1.0 + w.topic_bonus * shared), 1.0) if similarity else 0.0
        fresh = freshness(reference, cand, w)
        on_theme = on_themes(cand.profile, themes)
        if relevance >= MIN_RELEVANCE and (
            on_theme or not themes or relevance >= OFF_THEME_RELEVANCE
        ):
            tier = SUBJECT
            score = relevance * (1.0 - w.fresh_share + w.fresh_share * fresh)
            # Of two stories on the subject, the one more on the story's broad themes (an
            # oil field's new production before its oil leak, for a drilling story).
            fit = sum(cand.profile.themes.get(t, 0.0) for t in themes) if themes else 1.0
            score *= 1.0 - w.subject_theme_share + w.subject_theme_share * min(fit, 1.0)
        elif on_theme:
            tier = THEME
            agreement = sum(cand.profile.themes[t] for t in on_theme)
            score = agreement * (1.0 - w.theme_fresh_share + w.theme_fresh_share * fresh)
        else:
            tier = RECENT
            score = importance(cand, w) * fresh
        if cand.source_id == subject.source_id:
            score *= 1.0 - w.same_source_penalty
        own = subject.storyline is not None and cand.storyline == subject.storyline
        if cand.storyline is not None:
            out.storylines[cand.id] = cand.storyline
        out.outlets[cand.id] = cand.outlet.casefold()
        out.vectors[cand.id] = vec
        out.published[cand.id] = cand.published_at
        for cid in cand.countries:
            factor = 1.0 if cid == cand.primary_country_id else w.secondary_tag
            if own and cid == cand.primary_country_id:
                # The story's own storyline as this country told it: first in its line.
                ranked[cid].append(Scored(cand.id, round(score + OWN_STORYLINE, 6), 1.0, SUBJECT))
                continue
            ranked[cid].append(Scored(cand.id, round(score * factor, 6), round(relevance, 4), tier))
    for lst in ranked.values():
        lst.sort(key=_order)
    out.ranked = dict(ranked)
    return out


def same_event(
    a: int, b: int, vectors: Mapping[int, Vector], published: Mapping[int, datetime]
) -> bool:
    """Two candidates telling one event: very similar and close in time."""
    va, vb = vectors.get(a), vectors.get(b)
    if va is None or vb is None or a not in published or b not in published:
        return False
    return (
        abs(published[a] - published[b]) <= SAME_EVENT_GAP
        and cosine(va, vb) >= SAME_EVENT_SIMILARITY
    )


def pick(
    ranked: dict[int, list[Scored]],
    outlets: dict[int, str],
    *,
    skip_countries: Iterable[int] = (),
    used_stories: Iterable[int] = (),
    used_outlets: Iterable[str] = (),
    vectors: Mapping[int, Vector] | None = None,
    published: Mapping[int, datetime] | None = None,
    weights: Weights = WEIGHTS,
    storylines: Mapping[int, int] | None = None,
    own_storyline: int | None = None,
    used_storylines: Iterable[int] = (),
) -> dict[int, Scored]:
    """One story per country: the strongest line (best tier, then score) is placed first, no
    story is used twice, no story of an event already in the box (given ``vectors`` and
    ``published``), never two stories of one storyline (given ``storylines``: candidate →
    storyline) but the story's own (``own_storyline``: each country's telling of it), and
    within a tier each earlier line from the same outlet costs a candidate
    ``outlet_repeat_penalty``."""
    picks: dict[int, Scored] = {}
    used = set(used_stories)
    outlet_count: dict[str, int] = defaultdict(int)
    for name in used_outlets:
        outlet_count[name] += 1
    skip = set(skip_countries)
    todo = {cid: lst for cid, lst in ranked.items() if cid not in skip and lst}
    vecs = vectors or {}
    dates = published or {}
    events = [s for s in used if s in vecs]

    lines_of = storylines or {}
    used_lines = set(used_storylines)

    def taken(story_id: int) -> bool:
        line = lines_of.get(story_id)
        if line is not None and line == own_storyline:
            return story_id in used  # the story's own event, told by another country
        if line is not None and line in used_lines:
            return True
        return story_id in used or any(same_event(story_id, e, vecs, dates) for e in events)

    while todo:
        best: tuple[tuple[int, float], int, Scored] | None = None
        for cid, lst in todo.items():
            for cand in lst:
                if best is not None and (-cand.tier, cand.score) <= best[0]:
                    break  # sorted, and a penalty only lowers a score: none can win
                if taken(cand.story_id):
                    continue
                repeats = outlet_count[outlets.get(cand.story_id, "")]
                value = (-cand.tier, cand.score * (1.0 - weights.outlet_repeat_penalty) ** repeats)
                if best is None or value > best[0]:
                    best = (value, cid, cand)
        if best is None:
            break
        _, cid, chosen = best
        picks[cid] = chosen
        used.add(chosen.story_id)
        line = lines_of.get(chosen.story_id)
        if line is None or line != own_storyline:
            events.append(chosen.story_id)
        if line is not None and line != own_storyline:
            used_lines.add(line)
        outlet_count[outlets.get(chosen.story_id, "")] += 1
        del todo[cid]
    return picks
