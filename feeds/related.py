"""Suggesting the "Related stories from around the North" box.

For each of the nine countries: the best related story tagged with that country, or none.
Relevance first (shared words and topics), freshness second, source variety third.
Editors' slots, outlet-curated slots, pinned slots and locked boxes are never touched.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import Country, Origin, RelatedSlot, Story, StoryCountry, StoryTopic
from .sanitizing import html_to_text

WINDOW = timedelta(days=60)
MAX_CANDIDATES = 3000
MIN_RELEVANCE = 0.12
ALTERNATIVES = 5
# Bounded re-suggestion work per new story (DEVELOPERS: "bounded work per new story").
REFRESH_RECENT = timedelta(days=3)
REFRESH_LIMIT = 40

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    """the and for with from that this into over after about says said will have has are was
    were been their its new more than also but not they them what when where which while who
    how why all can could would should may might one two three year years week day days
    arctic north northern says told news report reports story stories amid after before""".split()
)


def keywords(text: str) -> frozenset[str]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    # A crude stem (drop plural s) makes "icebreakers" meet "icebreaker".
    return frozenset(
        w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words if w not in _STOP
    )


@dataclass(frozen=True)
class Scored:
    story_id: int
    score: float
    relevance: float


@dataclass
class _Cand:
    id: int
    source_id: int
    published_at: object
    words: frozenset[str]
    countries: set[int]
    topics: set[int]
    title_key: str


def _story_words(title: str, summary: str) -> frozenset[str]:
    # The headline says what a story is about; count its words twice as strongly.
    return keywords(title) | keywords(html_to_text(summary)[:600])


def _load_candidates(story: Story) -> list[_Cand]:
    since = timezone.now() - WINDOW
    rows = list(
        Story.objects.visible()
        .filter(published_at__gte=since)
        .exclude(pk=story.pk)
        .exclude(pk=story.canonical_id or 0)
        .order_by("-published_at")
        .values_list("id", "source_id", "published_at", "title", "summary", "title_key")[
            :MAX_CANDIDATES
        ]
    )
    ids = [r[0] for r in rows]
    countries: dict[int, set[int]] = defaultdict(set)
    topics: dict[int, set[int]] = defaultdict(set)
    for sid, cid in (
        StoryCountry.objects.shown().filter(story_id__in=ids).values_list("story_id", "country_id")
    ):
        countries[sid].add(cid)
    for sid, tid in (
        StoryTopic.objects.shown().filter(story_id__in=ids).values_list("story_id", "topic_id")
    ):
        topics[sid].add(tid)
    return [
        _Cand(i, src, pub, _story_words(title, summary), countries[i], topics[i], tk)
        for i, src, pub, title, summary, tk in rows
    ]


def suggest(story: Story) -> dict[int, list[Scored]]:
    """Ranked candidates per country id (best first), for the editor and the box."""
    my_words = _story_words(story.title, story.summary or story.content)
    my_topics = set(
        StoryTopic.objects.shown().filter(story=story).values_list("topic_id", flat=True)
    )
    now = timezone.now()
    ranked: dict[int, list[Scored]] = defaultdict(list)
    for cand in _load_candidates(story):
        if not cand.countries or (story.title_key and cand.title_key == story.title_key):
            continue
        shared = len(my_words & cand.words)
        word_score = shared / math.sqrt(max(len(my_words), 1) * max(len(cand.words), 1))
        topic_score = (
            len(my_topics & cand.topics) / len(my_topics | cand.topics)
            if my_topics and cand.topics
            else 0.0
        )
        relevance = 0.65 * word_score + 0.35 * topic_score
        if relevance < MIN_RELEVANCE:
            continue
        age_days = max((now - cand.published_at).total_seconds() / 86400, 0)
        freshness = math.exp(-age_days / 10)
        variety = -0.03 if cand.source_id == story.source_id else 0.0
        score = relevance + 0.08 * freshness + variety
        for cid in cand.countries:
            ranked[cid].append(Scored(cand.id, score, relevance))
    for cid in ranked:
        ranked[cid].sort(key=lambda s: -s.score)
    return ranked


def _pick(ranked: dict[int, list[Scored]], sources: dict[int, int]) -> dict[int, Scored]:
    """One story per country, preferring not to repeat a story or an outlet across lines."""
    picks: dict[int, Scored] = {}
    used_stories: set[int] = set()
    used_sources: dict[int, int] = defaultdict(int)
    # Countries with the strongest best candidate choose first.
    for cid in sorted(ranked, key=lambda c: -ranked[c][0].score):
        best = None
        best_value = -1.0
        for cand in ranked[cid][: ALTERNATIVES * 2]:
            if cand.story_id in used_stories:
                continue
            value = cand.score - 0.04 * used_sources[sources.get(cand.story_id, 0)]
            if value > best_value:
                best, best_value = cand, value
        if best:
            picks[cid] = best
            used_stories.add(best.story_id)
            used_sources[sources.get(best.story_id, 0)] += 1
    return picks


def refresh_box(story: Story) -> bool:
    """Re-suggest the system's slots of one box. Returns True if the box changed."""
    if story.related_locked:
        return False
    ranked = suggest(story)
    sources = dict(
        Story.objects.filter(
            pk__in={s.story_id for lst in ranked.values() for s in lst[: ALTERNATIVES * 2]}
        ).values_list("id", "source_id")
    )
    picks = _pick(ranked, sources)
    order = {c.pk: i for i, c in enumerate(Country.objects.order_by("name"))}
    changed = False
    with transaction.atomic():
        locked = Story.objects.select_for_update().filter(pk=story.pk, related_locked=False)
        if not locked.exists():
            return False
        existing = {slot.country_id: slot for slot in story.related_slots.all()}
        for cid, slot in existing.items():
            keep = slot.pinned or slot.origin != Origin.SYSTEM
            if keep:
                continue
            pick = picks.get(cid)
            if pick is None:
                slot.delete()
                changed = True
            elif slot.target_id != pick.story_id:
                slot.target_id = pick.story_id
                slot.score = pick.score
                slot.save(update_fields=["target", "score", "changed_at"])
                changed = True
        for cid, pick in picks.items():
            if cid not in existing:
                RelatedSlot.objects.create(
                    story=story,
                    country_id=cid,
                    target_id=pick.story_id,
                    origin=Origin.SYSTEM,
                    score=pick.score,
                    position=order.get(cid, 0),
                )
                changed = True
        Story.objects.filter(pk=story.pk).update(related_suggested_at=timezone.now())
    return changed


def refresh_boxes(story_ids: Iterable[int]) -> int:
    changed = 0
    for story in Story.objects.filter(pk__in=list(story_ids), related_locked=False).select_related(
        "source"
    ):
        changed += refresh_box(story)
    return changed


def boxes_affected_by(new_story_ids: Iterable[int]) -> list[int]:
    """Recent unlocked boxes that a batch of new stories could improve (bounded)."""
    new_ids = list(new_story_ids)
    if not new_ids:
        return []
    since = timezone.now() - REFRESH_RECENT
    limit = min(REFRESH_LIMIT * len(new_ids), 400)
    return list(
        Story.objects.visible()
        .filter(published_at__gte=since, related_locked=False)
        .exclude(pk__in=new_ids)
        .order_by("-published_at")
        .values_list("id", flat=True)[:limit]
    )
