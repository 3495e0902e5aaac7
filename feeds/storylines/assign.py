"""Putting new stories into storylines as they arrive: the storylines' only SQL besides the
editors' operations (``editing``).

Owns: the statistics of recent stories' keys (cached per process behind ``clear()``), the
candidate query (storylines sharing one of the story's distinctive keys, newest story within
``scoring.WINDOW``: an index range per key on ``storylineterm_recent_idx``, never a scan of
the archive), writing a membership, and ``refresh`` (a storyline's counts, dates, terms and
index rows from its members; ``refresh_recent`` for every storyline still open, after the
way stories are read changed). Never full re-clustering: each story is placed once; an
editor's pinned membership is never touched.
May import: ``feeds.models``, ``feeds.storylines.scoring`` and ``feeds.storylines.anchors``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils.text import slugify

from feeds.models import (
    Story,
    StoryKind,
    Storyline,
    StorylineMembership,
    StorylineTerm,
    visible_q,
)
from feeds.storylines import scoring
from feeds.storylines.anchors import fold

CANDIDATES = 40  # storylines scored per new story at most (those sharing most keys)
STATS_SAMPLE = 1500  # recent stories whose keys give the statistics …
STATS_TTL_SECONDS = 1800  # … re-read this often (or when a small archive changes)
LOCK_KEY = 0x5705_1E  # PostgreSQL advisory lock: one placement at a time

_STATS: dict[tuple[object, ...], tuple[float, int, scoring.Stats]] = {}


def clear() -> None:
    """Forget the cached statistics (tests: each is its own newsroom)."""
    _STATS.clear()


def _db_key() -> tuple[object, ...]:
    return (connection.alias, connection.settings_dict.get("NAME"))


def _story_rows(qs) -> Iterable[tuple[int, str, str, str, object, str | None]]:
    return qs.values_list(
        "pk", "title", "summary", "content", "published_at", "primary_country__slug"
    )


def statistics() -> scoring.Stats:
    """How common each key is among the newest ``STATS_SAMPLE`` visible stories."""
    key = _db_key()
    now = time.monotonic()
    cached = _STATS.get(key)
    visible = Story.objects.filter(visible_q())
    if cached is not None:
        at, size, stats = cached
        if stats.n >= STATS_SAMPLE and now - at < STATS_TTL_SECONDS:
            return stats
        if stats.n < STATS_SAMPLE and size == visible.count() and now - at < STATS_TTL_SECONDS:
            return stats
    df: dict[str, int] = defaultdict(int)
    n = 0
    rows = visible.order_by("-published_at", "-id").values_list("title", "summary", "published_at")[
        :STATS_SAMPLE
    ]
    for title, summary, published in rows:
        n += 1
        for t in scoring.signature(title, summary[:1500], "", published).terms:
            df[t] += 1
    stats = scoring.Stats(n, dict(df))
    _STATS[key] = (now, n if n < STATS_SAMPLE else 0, stats)
    return stats


def story_signature(
    title: str, summary: str, content: str, published, country: str = ""
) -> scoring.Signature:
    return scoring.signature(title, summary or "", content or "", published, country)


def sketches_near(keys: Sequence[str], sig: scoring.Signature) -> list[scoring.Sketch]:
    """Storylines shown to readers sharing most of ``keys``, with a story within the window:
    one query, answered by ``storylineterm_recent_idx`` (term, newest story)."""
    if not keys:
        return []
    since = sig.published_at - scoring.WINDOW
    ids = (
        StorylineTerm.objects.filter(term__in=list(keys), last_published_at__gte=since)
        .values("storyline_id")
        .annotate(n=Count("id"))
        .order_by("-n", "-storyline_id")
        .values_list("storyline_id", flat=True)[:CANDIDATES]
    )
    rows = (
        Storyline.objects.shown()
        .filter(pk__in=ids)  # one query: the index range is a subquery
        .values_list(
            "pk",
            "profile",
            "first_published_at",
            "last_published_at",
            "title",
            "title_set_by_editor",
        )
    )
    return [
        scoring.Sketch(
            pk, profile or {}, first or sig.published_at, last or sig.published_at, title, edited
        )
        for pk, profile, first, last, title, edited in rows
    ]


@dataclass(frozen=True)
class Placed:
    story_id: int
    storyline_id: int
    created: bool
    score: float


def assign(story_ids: Iterable[int]) -> list[Placed]:
    """Place each new visible story (not a copy, not a round-up) that has no storyline yet:
    into the best storyline above the threshold, or a new one. Stories are placed oldest
    first; copies that have a storyline hand it to their canonical story."""
    ids = list(dict.fromkeys(story_ids))
    if not ids:
        return []
    _release_copies(ids)
    stories = list(
        Story.objects.filter(
            visible_q(),
            pk__in=ids,
            kind=StoryKind.STORY,
            storyline_membership__isnull=True,
        )
        .order_by("published_at", "id")
        .select_related("primary_country")
        .only("pk", "title", "summary", "content", "published_at", "primary_country__slug")
    )
    placed = []
    for story in stories:
        placed.append(place(story))
    return placed


def place(story: Story) -> Placed:
    """Place one story (see ``assign``)."""
    stats = statistics()
    country = story.primary_country.slug if story.primary_country else ""
    sig = story_signature(story.title, story.summary, story.content, story.published_at, country)
    with transaction.atomic():
        _lock()
        sketches = {s.id: s for s in sketches_near(scoring.query_keys(sig, stats), sig)}
        match = scoring.choose(sig, sketches.values(), stats)
        created = match is None
        if match is None:
            line = Storyline.objects.create(
                title=story.title[:300],
                slug=new_slug(story.title, story.pk),
                first_published_at=story.published_at,
                last_published_at=story.published_at,
            )
            terms: dict[str, float] = {}
        else:
            line = Storyline(pk=match.storyline_id)
            sketch = sketches[match.storyline_id]
            terms = sketch.terms
            if scoring.better_title(sketch, story.title):
                Storyline.objects.filter(pk=line.pk).update(title=story.title[:300])
        StorylineMembership.objects.create(
            story=story, storyline=line, score=match.score if match else 1.0
        )
        refresh(line.pk, scoring.merge(terms, sig), stats)
    return Placed(story.pk, line.pk, created, match.score if match else 1.0)


def _lock() -> None:
    """One placement (or re-reading) at a time, until the transaction ends: two workers
    placing two stories of one new event would each start it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def new_slug(title: str, story_id: int) -> str:
    base = slugify(fold(title))[:80].strip("-") or "storyline"
    slug = f"{base}-{story_id}"
    n = 1
    while Storyline.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{story_id}-{n}"
    return slug


def refresh(
    storyline_id: int,
    terms: dict[str, float] | None = None,
    stats: scoring.Stats | None = None,
) -> None:
    """A storyline's counts and dates from its visible members, and (given ``terms``, or
    rebuilt from every member) its terms and index rows."""
    members = Story.objects.filter(
        visible_q(), kind=StoryKind.STORY, storyline_membership__storyline_id=storyline_id
    )
    agg = members.aggregate(
        stories=Count("id"),
        outlets=Count("source_id", distinct=True),
        countries=Count("source__country_id", distinct=True),
        first=Min("published_at"),
        last=Max("published_at"),
    )
    stats = stats or statistics()
    if terms is None:
        terms = {}
        for _, title, summary, content, published, country in _story_rows(
            members.order_by("published_at")
        ):
            sig = story_signature(title, summary, content, published, country or "")
            terms = scoring.merge(terms, sig)
    Storyline.objects.filter(pk=storyline_id).update(
        story_count=agg["stories"],
        outlet_count=agg["outlets"],
        country_count=agg["countries"],
        first_published_at=agg["first"],
        last_published_at=agg["last"],
        profile=terms,
    )
    StorylineTerm.objects.filter(storyline_id=storyline_id).delete()
    if agg["last"] is not None:
        StorylineTerm.objects.bulk_create(
            StorylineTerm(storyline_id=storyline_id, term=t, last_published_at=agg["last"])
            for t in scoring.index_keys(terms, stats)
        )


def refresh_recent(since: datetime) -> int:
    """Re-read the storylines shown with a story since ``since`` (those new stories can
    still join): their terms and index rows as the clusterer reads stories now, after
    ``anchors.toml`` or the scoring changed (a name's key, a new anchor). Memberships stay
    as they are. Returns how many storylines were re-read."""
    clear()
    ids = list(
        Storyline.objects.shown()
        .filter(last_published_at__gte=since)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    stats = statistics()
    for pk in ids:
        with transaction.atomic():
            _lock()  # a story placed meanwhile is in the members read, or waits
            refresh(pk, stats=stats)
    return len(ids)


def refresh_for(story_ids: Iterable[int]) -> int:
    """Recount the storylines of these stories (an editor hid or showed them, or made one a
    round-up): "N stories from K countries" counts what readers see."""
    lines = set(
        StorylineMembership.objects.filter(story_id__in=list(story_ids)).values_list(
            "storyline_id", flat=True
        )
    )
    for line_id in lines:
        refresh(line_id)
    return len(lines)


def _release_copies(ids: list[int]) -> None:
    """A story that became a copy (its original arrived later) hands its storyline to its
    canonical story, unless that one has a storyline of its own: copies stay copies."""
    moved = list(
        StorylineMembership.objects.filter(
            story_id__in=ids, story__canonical__isnull=False, pinned=False
        ).values_list("story_id", "story__canonical_id", "storyline_id")
    )
    for story_id, canonical_id, line_id in moved:
        if canonical_id is None:
            continue
        taken = StorylineMembership.objects.filter(story_id=canonical_id).exists()
        if taken:
            StorylineMembership.objects.filter(story_id=story_id).delete()
        else:
            StorylineMembership.objects.filter(story_id=story_id).update(story_id=canonical_id)
        refresh(line_id)
