"""Writing "Related stories from around the North" boxes: the only writer of the system's and
the outlets' lines (editors' lines are written by ``feeds.related.curation``).

Owns: ``suggest`` (a story's candidates ranked per country: its profile, the candidate query,
the ranking), ``refresh_box``/``refresh_boxes`` (the system's lines of a box: one story for
each country other than the story's primary country, strongest countries choose first, lines
in the countries' alphabetical order; locked boxes, pinned lines, editors' and outlets'
lines and lines an editor cleared are never touched; the lines it leaves empty are recorded as
``RelatedGap``), ``boxes_affected_by`` (the bounded set of recent boxes new stories may
improve: the most similar, and the newest with an empty line for the story's country), and
an outlet's own box as published in its feed (``store_outlet_boxes``,
``resolve_outlet_lines``). ``clear()`` empties every per-process
cache of the related box.
May import: ``feeds.models``, ``feeds.types``, ``feeds.text`` and the related modules below it
(words, profiles, ranking, candidates). Ingest calls it; it never calls ingest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from feeds.bulk import relax_commit
from feeds.columns import fit
from feeds.models import (
    Country,
    Origin,
    RelatedChange,
    RelatedGap,
    RelatedSlot,
    Story,
    StoryKind,
)
from feeds.related import candidates, profiles, words
from feeds.related.candidates import NEAR, REFRESH_PER_STORY, WIDE_WINDOW, WINDOW
from feeds.related.profiles import Corpus, Vector
from feeds.related.ranking import (
    THEME_SHARE,
    WEIGHTS,
    Candidate,
    Ranking,
    Scored,
    Subject,
    Weights,
    pick,
    rank,
)
from feeds.text import keys
from feeds.types import ParsedEntry

REFRESH_MAX = 600  # boxes re-suggested per call of boxes_affected_by, at most
# Boxes with an empty line for a new story's country, newest first, refreshed per new story
# at most (the next story of that country fills the next ones; beat's stale_boxes the rest).
GAPS_PER_STORY = 15
STALE_BATCH = 100  # stale boxes found per call of stale_boxes (beat calls it every minute)
SUGGESTED_AT_REFRESH = timedelta(hours=1)  # an unchanged box's time is rewritten at most this often

SLOT_FIELDS = (
    "id",
    "story_id",
    "country_id",
    "position",
    "target_id",
    "external_outlet",
    "origin",
    "pinned",
    "score",
    "target__original_outlet",
    "target__source__name",
    "target__kind",
    "target__title",
)

__all__ = [
    "GAPS_PER_STORY",
    "REFRESH_MAX",
    "REFRESH_PER_STORY",
    "Scored",
    "boxes_affected_by",
    "clear",
    "refresh_box",
    "refresh_boxes",
    "resolve_outlet_lines",
    "line_state",
    "stale_boxes",
    "store_outlet_boxes",
    "suggest",
    "withdraw_roundups",
]


def clear() -> None:
    """Forget everything the related box cached in this process (tests call this)."""
    words.clear()
    profiles.clear()
    candidates.clear()


@dataclass
class Gathered:
    """What ranking a story's box reads from the database: the index's matches and the
    recent stories of the countries with none on the subject."""

    story: Story
    subject: Subject
    vec: Vector
    themes: set[str]
    topics: set[int]
    corpus: Corpus
    found: list[Candidate]
    recent: list[Candidate]
    now: datetime
    first: Ranking | None = None  # ``found`` ranked under ``weights``, until used
    weights: Weights = WEIGHTS


def gather(story: Story, *, every_country: bool = False, weights: Weights = WEIGHTS) -> Gathered:
    """The candidates of a story's box. Bounded: two index queries and one per-country query
    for the countries with no candidate on the subject (``every_country``: for all of them,
    as ``fit_related`` needs to rank under other weights)."""
    prof, vec, query, corpus = candidates.profile_of(story)
    subject, topics = candidates.subject(story)
    themes = prof.main_themes(THEME_SHARE)
    now = timezone.now()
    found = candidates.candidates(story, query)  # each with its storyline
    found += candidates.storyline_stories(story, subject.storyline, [c.id for c in found])
    first = rank(subject, vec, themes, found, corpus, topics, now, weights)
    lacking = [
        cid
        for cid in candidates.country_order(())
        if cid != story.primary_country_id and (every_country or not first.has_subject(cid))
    ]
    recent = candidates.recent_by_country(story, lacking, [c.id for c in found]) if lacking else []
    return Gathered(story, subject, vec, themes, topics, corpus, found, recent, now, first, weights)


def ranked_from(g: Gathered, weights: Weights = WEIGHTS) -> Ranking:
    """Every country's candidates, best first (pure, given what ``gather`` read): the index's
    matches, and for countries with none on the same subject, their recent stories. Never the
    story's primary country: the box has one line for each of the others."""
    own = g.story.primary_country_id or 0
    if g.first is not None and g.weights == weights:
        result, g.first = g.first, None  # ranked once; used once: ``merge`` below changes it
    else:
        result = rank(g.subject, g.vec, g.themes, g.found, g.corpus, g.topics, g.now, weights)
    result.own_storyline = g.subject.storyline
    result.ranked.pop(own, None)
    lacking = {cid for cid in candidates.country_order(()) if not result.has_subject(cid)}
    if g.recent:
        more = rank(g.subject, g.vec, g.themes, g.recent, g.corpus, g.topics, g.now, weights)
        more.ranked = {cid: lst for cid, lst in more.ranked.items() if cid in lacking - {own}}
        result.merge(more)
    return result


def ranking(story: Story, weights: Weights = WEIGHTS) -> Ranking:
    """Every country's candidates for the story's box, best first (``gather``, then
    ``ranked_from``)."""
    return ranked_from(gather(story, weights=weights), weights)


def suggest(story: Story) -> dict[int, list[Scored]]:
    """Ranked candidates per country id (best first), for the editor and the box."""
    return ranking(story).ranked


def refresh_box(story: Story) -> bool:
    """Re-suggest the system's lines of one box. Returns True if the box changed.

    Never touches a locked box, a pinned line, an editor's or outlet's line, or a line an
    editor cleared; the stories and outlets on those lines count for variety.
    """
    if story.related_locked:
        return False
    ranked = ranking(story)
    order = candidates.country_order(set(ranked.ranked))
    changed = False
    with transaction.atomic():
        relax_commit()  # a box is derived data: one lost in a crash is suggested again
        row = (
            Story.objects.select_for_update()
            .filter(pk=story.pk, related_locked=False)
            .values_list("related_suggested_at", flat=True)
            .first()
        )
        if row is None and not Story.objects.filter(pk=story.pk, related_locked=False).exists():
            return False
        slots = (
            RelatedSlot.objects.filter(story_id=story.pk)
            .select_related("target__source")
            # Not the targets' bodies and vectors: only what a line's outlet needs.
            .only(*SLOT_FIELDS)
        )
        existing = {}
        for slot in slots:
            target = slot._target()
            if target is not None and target.kind != StoryKind.STORY:
                # A newsletter or podcast never fills a line, whoever chose it.
                _drop([slot])
                changed = True
            else:
                existing[slot.country_id] = slot
        # The story's own country has no line: the system's is removed below; an editor's or
        # outlet's stays stored, unseen (RelatedSlotQuerySet.shown_in), and counts for nothing.
        kept = {
            cid: slot
            for cid, slot in existing.items()
            if (slot.pinned or slot.origin != Origin.SYSTEM) and cid != story.primary_country_id
        }
        cleared = RelatedChange.objects.cleared_countries(story.pk)
        picks = pick(
            ranked.ranked,
            ranked.outlets,
            skip_countries=set(kept) | cleared | {story.primary_country_id or 0},
            used_stories={slot.target_id for slot in kept.values() if slot.target_id},
            used_outlets=[slot.outlet.casefold() for slot in kept.values()],
            vectors=ranked.vectors,
            published=ranked.published,
            storylines=ranked.storylines,
            own_storyline=ranked.own_storyline,
            used_storylines={
                ranked.storylines[slot.target_id]
                for slot in kept.values()
                if slot.target_id in ranked.storylines
            },
        )
        for cid, slot in existing.items():
            if cid in kept or (cid == story.primary_country_id and slot.origin != Origin.SYSTEM):
                continue
            chosen = picks.get(cid)
            if chosen is None:
                slot.delete()
                changed = True
            elif slot.target_id != chosen.story_id:
                slot.target_id = chosen.story_id
                slot.score = chosen.score
                slot.position = order.get(cid, 0)
                slot.save(update_fields=["target", "score", "position", "changed_at"])
                changed = True
        new = [
            RelatedSlot(
                story_id=story.pk,
                country_id=cid,
                target_id=chosen.story_id,
                origin=Origin.SYSTEM,
                score=chosen.score,
                position=order.get(cid, 0),
            )
            for cid, chosen in picks.items()
            if cid not in existing
        ]
        if new:
            RelatedSlot.objects.bulk_create(new)
            changed = True
        _record_gaps(story, set(kept) | set(picks) | cleared)
        # Beat looks for boxes never suggested (NULL); the admin shows when. Rewriting the
        # story row on every unchanged refresh would only churn the table and its indexes.
        now = timezone.now()
        if changed or row is None or now - row > SUGGESTED_AT_REFRESH:
            Story.objects.filter(pk=story.pk).update(related_suggested_at=now)
    return changed


def _record_gaps(story: Story, filled: set[int]) -> None:
    """Keep ``RelatedGap`` to the countries this box leaves empty (neither a line nor an
    editor's clearing, never its primary country): one read, writes only when they change."""
    own = story.primary_country_id
    empty = {cid for cid in candidates.country_order(()) if cid != own and cid not in filled}
    stored = set(RelatedGap.objects.filter(story_id=story.pk).values_list("country_id", flat=True))
    if stored - empty:
        RelatedGap.objects.filter(story_id=story.pk, country_id__in=stored - empty).delete()
    if empty - stored:
        RelatedGap.objects.bulk_create(
            RelatedGap(story_id=story.pk, country_id=cid, published_at=story.published_at)
            for cid in sorted(empty - stored)
        )


def refresh_boxes(story_ids: Iterable[int]) -> int:
    """Re-suggest these stories' boxes (visible, unlocked ones). Returns how many changed."""
    ids = list(dict.fromkeys(story_ids))
    changed = 0
    for start in range(0, len(ids), 500):
        for story in Story.objects.visible().filter(
            pk__in=ids[start : start + 500], related_locked=False
        ):
            changed += refresh_box(story)
    return changed


def boxes_affected_by(new_story_ids: Iterable[int]) -> list[int]:
    """Unlocked boxes of recent stories that these new stories could improve (bounded).

    For each new story, the ``REFRESH_PER_STORY`` visible, unlocked stories published within
    ``REFRESH_WINDOW`` of it that it resembles most: one index query per new story on
    PostgreSQL, a bounded comparison in Python elsewhere. At most ``REFRESH_MAX`` in all,
    most similar first; then the boxes with an empty line for a new story's country
    (``gaps_filled_by``, at most ``GAPS_PER_STORY`` more per new story). The new stories
    themselves are left out (``enrich`` refreshes them).
    """
    new_ids = list(dict.fromkeys(new_story_ids))
    if not new_ids:
        return []
    news = list(
        Story.objects.visible()
        .filter(pk__in=new_ids, primary_country__isnull=False)
        .only("id", "title", "summary", "content", "language", "published_at")
    )
    if not news:
        return []
    found = candidates.similar_boxes(news, new_ids)
    limit = min(REFRESH_PER_STORY * len(news), REFRESH_MAX)
    similar = sorted(found, key=lambda pk: (-found[pk], -pk))[:limit]
    return list(dict.fromkeys(similar + gaps_filled_by(news, new_ids)))[:REFRESH_MAX]


def gaps_filled_by(news: Sequence[Story], new_ids: Sequence[int]) -> list[int]:
    """Boxes with an empty line for a new story's primary country that the story may fill:
    unlocked boxes of visible stories published from ``NEAR`` before it (a box takes a
    country's recent story up to ``NEAR`` after its own) to ``WIDE_WINDOW`` after it, newest
    first, ``GAPS_PER_STORY`` per new story (one indexed query each). Whatever its words: a
    country's only story fills the line even when it is on another subject."""
    out: list[int] = []
    skip = set(new_ids)
    for story in news:
        if story.primary_country_id is None:
            continue
        ref = story.published_at
        waiting = RelatedGap.objects.waiting_for(
            story.primary_country_id, ref - NEAR, ref + WIDE_WINDOW, GAPS_PER_STORY + len(skip)
        )
        out += [pk for pk in waiting if pk not in skip][:GAPS_PER_STORY]
    return out


def stale_boxes(limit: int = STALE_BATCH) -> list[int]:
    """Unlocked boxes of visible stories that need suggesting again, at most ``limit``:

    * a system line points at a story since hidden or merged into another (a copy), or a
      line of any origin at one since marked a newsletter, digest or podcast;
    * the box was suggested before its story's ``NEAR`` window closed, and that window has
      closed (within ``WINDOW``): stories published meanwhile may make better lines.
    """
    now = timezone.now()
    shown = Story.objects.visible().filter(related_locked=False)
    broken = list(
        RelatedSlot.objects.filter(
            Q(origin=Origin.SYSTEM, pinned=False)
            & (Q(target__is_hidden=True) | Q(target__canonical__isnull=False))
            | Q(target__isnull=False) & ~Q(target__kind=StoryKind.STORY)
        )
        .filter(story__in=shown)
        .order_by("-story_id")
        .values_list("story_id", flat=True)
        .distinct()[:limit]
    )
    early = list(
        shown.filter(
            related_suggested_at__lt=F("published_at") + NEAR,
            published_at__lt=now - NEAR,
            published_at__gte=now - WINDOW,
        )
        .exclude(pk__in=broken)
        .order_by("-published_at")
        .values_list("pk", flat=True)[: max(limit - len(broken), 0)]
    )
    return broken + early


# --- Newsletters, digests and podcasts leave every box -----------------------------------------


def withdraw_roundups(target_ids: Iterable[int] | None = None) -> list[int]:
    """Drop every line that points at a newsletter, digest, round-up or podcast (``Story.kind``
    other than a story), whoever made it and even in a locked box: such items never fill a
    related box. ``target_ids`` limits it to lines pointing at these stories (those whose kind
    just changed); None sweeps every box. The unlocked boxes that lost a line are suggested
    again at once; a locked one stays as its editor left it, one line shorter.

    Returns the ids of the boxes that lost a line.
    """
    lines = RelatedSlot.objects.filter(target__isnull=False).exclude(target__kind=StoryKind.STORY)
    if target_ids is not None:
        ids = list(dict.fromkeys(target_ids))
        if not ids:
            return []
        lines = lines.filter(target_id__in=ids)
    gone = list(lines.select_related("target__source").only(*SLOT_FIELDS))
    if not gone:
        return []
    with transaction.atomic():
        _drop(gone)
    touched = sorted({slot.story_id for slot in gone})
    refresh_boxes(touched)
    return touched


def _drop(slots: Sequence[RelatedSlot]) -> None:
    """Delete these lines; an editor's is recorded in its box's history as handed back to
    the system, with what it showed, so the editor can see where their choice went."""
    RelatedChange.objects.bulk_create(
        RelatedChange(
            story_id=slot.story_id,
            action=RelatedChange.Action.RELEASE,
            country_id=slot.country_id,
            before=line_state(slot),
            after=None,
        )
        for slot in slots
        if slot.origin == Origin.EDITOR
    )
    RelatedSlot.objects.filter(pk__in=[slot.pk for slot in slots]).delete()


def line_state(slot: RelatedSlot | None) -> dict | None:
    """What a line showed, as JSON for the change log; None for an empty line."""
    if slot is None:
        return None
    return {
        "target": slot.target_id,
        "headline": slot.headline,
        "outlet": slot.outlet,
        "url": slot.url,
        "origin": slot.origin,
        "pinned": slot.pinned,
        "position": slot.position,
    }


# --- The outlet's own box, as its feed publishes it --------------------------------------------


def store_outlet_boxes(
    stories: Sequence[Story], entries: Sequence[ParsedEntry], countries: Mapping[str, Country]
) -> None:
    """Keep an outlet's own related box as suggestions, resolved to our stories if we have them.

    ``countries`` maps a country's slug to its row. Editors' and pinned lines are kept.
    """
    lines = {e.guid: e.related_lines for e in entries if e.related_lines}
    if not lines:
        return
    boxed = [s for s in stories if lines.get(s.guid) and not s.related_locked]
    if not boxed:
        return
    order = {c.pk: i for i, c in enumerate(sorted(countries.values(), key=lambda c: c.name))}
    # Once per feed, not per story: every link of every box, and every existing line.
    targets = shown_ids_at({keys.url_key(ln.url) for s in boxed for ln in lines[s.guid] if ln.url})
    lines_of: dict[int, dict[int, RelatedSlot]] = defaultdict(dict)
    for slot in RelatedSlot.objects.filter(story__in=boxed):
        lines_of[slot.story_id][slot.country_id] = slot
    for story in boxed:
        box = lines[story.guid]
        existing = lines_of[story.pk]
        for line in box:
            country = countries.get(line.country_slug or "")
            if country is None:
                continue
            current = existing.get(country.pk)
            if current and (current.origin == Origin.EDITOR or current.pinned):
                continue
            target = targets.get(keys.url_key(line.url)) if line.url else None
            if target == story.pk:
                target = None
            if target is None and not line.url:
                continue
            # Fitted to the columns (feeds.columns): a link too long for its column is
            # dropped with the line, never sent to fail the whole feed's transaction.
            values, _ = fit(
                RelatedSlot,
                {
                    "target_id": target,
                    "external_url": "" if target else line.url,
                    "external_headline": "" if target else line.headline,
                    "external_outlet": "" if target else line.outlet,
                    "origin": Origin.SOURCE,
                    "position": order[country.pk],
                },
            )
            if not (values["target_id"] or values["external_url"]):
                continue
            RelatedSlot.objects.update_or_create(story=story, country=country, defaults=values)


def shown_ids_at(url_keys: set[str]) -> dict[str, int]:
    """Our story at each link, as readers see it: a republished copy gives way to its original."""
    rows = list(
        Story.objects.filter(url_key__in=url_keys - {""}, is_hidden=False)
        .order_by("pk")
        .values_list("url_key", "pk", "canonical_id")
    )
    originals = {canonical for _, _, canonical in rows if canonical}
    shown_originals = (
        set(Story.objects.visible().filter(pk__in=originals).values_list("pk", flat=True))
        if originals
        else set()
    )
    shown: dict[str, int] = {}
    for key, pk, canonical in rows:
        if canonical is None or canonical in shown_originals:
            shown.setdefault(key, canonical or pk)
    return shown


def resolve_outlet_lines(stories: Sequence[Story]) -> None:
    """An outlet's box line to a story we did not carry points at ours once we carry it."""
    url_keys = {s.url_key for s in stories if s.url_key}
    if not url_keys:
        return
    # Usually nothing waits: one indexed query, and only then the stories.
    waiting = list(
        RelatedSlot.objects.filter(
            origin=Origin.SOURCE,
            target__isnull=True,
            external_key__in=url_keys,
            story__related_locked=False,
        )
    )
    if not waiting:
        return
    targets = shown_ids_at({slot.external_key for slot in waiting})
    for slot in waiting:
        target_id = targets.get(slot.external_key)
        if target_id is None or target_id == slot.story_id:
            continue
        slot.target_id = target_id
        slot.external_url = slot.external_headline = slot.external_outlet = ""
        slot.save(update_fields=["target", "external_url", "external_headline", "external_outlet"])
