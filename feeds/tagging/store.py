"""Storing automatic country and topic tags without ever overriding an editor; the
editors' own terms on top of the data files; editors' corrections as labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from feeds.bulk import insert_columns
from feeds.models import (
    Country,
    GazetteerTerm,
    Origin,
    Story,
    StoryCountry,
    StoryTopic,
    TagCorrection,
    Topic,
)
from feeds.tagging import tagger
from feeds.text.sanitizing import leading_text
from feeds.types import TagInput, TagResult

# Stories decided on weak evidence go to the editors' review queue.
WEAK_BASES = ("fallback", "weak", "none", "outlet")
WEAK_MARGIN = 0.15
REASON_LENGTH = StoryCountry._meta.get_field("reason").max_length or 300

# What a story is about is in its headline, teaser and first paragraphs; reading whole
# bodies costs time and adds passing mentions.
TEXT_LIMIT = 800


def tag_input(story: Story, lead: str | None = None) -> TagInput:
    """``lead``: the story's opening text if the caller has it already (ingest turns the same
    HTML into text for its keys). Stored bodies are what clean_html returned, so their text
    needs no second parse (clean=True)."""
    if lead is None:
        lead = leading_text(story.summary or story.content, TEXT_LIMIT, clean=True)
    text = lead[:TEXT_LIMIT]
    if story.content and len(text) < 400:
        more = leading_text(story.content, TEXT_LIMIT - len(text), clean=True)
        text = (text + " " + more).strip()
    source = story.source
    country = source.country if source.country_id else None
    return TagInput(
        title=story.title,
        text=text,
        categories=tuple(story.categories or ()),
        outlet=story.original_outlet,
        source_name=source.name,
        source_country=country.slug if country else "",
        language=story.language,
    )


# --- A source's usual country -------------------------------------------------------------
# Where a story decided by its own evidence was filed; these make a source's usual country.
STRONG_BASES = ("text", "label", "model")
USUAL_SAMPLE = 100  # the source's newest stories so decided
USUAL_MIN = 2  # one story is no habit
USUAL_SECONDS = 3600  # a source's habits change slowly: one query an hour per source
USUAL_KEY = "tagging:usual:{}"


def _source_counts(source_id: int) -> Counter[str]:
    """How often each country was the primary of the source's newest strongly-evidenced
    stories: one indexed query, then the cache for an hour once the source has a habit (a
    new source is asked again at its next placeless story, so its first stories count)."""
    key = USUAL_KEY.format(source_id)
    counts = cache.get(key)
    if counts is None:
        counts = Counter(Story.objects.recent_primaries(source_id, STRONG_BASES, USUAL_SAMPLE))
        if max(counts.values(), default=0) >= USUAL_MIN:
            cache.set(key, dict(counts), USUAL_SECONDS)
    return Counter(counts)


def file_placeless(
    stories: Sequence[Story], inputs: Sequence[TagInput], results: list[TagResult]
) -> None:
    """Tag again, in place, the stories nothing placed (no country, or only their language)
    with their source's usual country as a weak prior: the country most of the source's
    recent stories decided by their own evidence got, this batch's new ones included (a new
    source's first fetch). Costs nothing when every story was placed; else one query per source at
    most per hour (cached)."""
    silent = [i for i, r in enumerate(results) if r.basis in ("none", "weak")]
    if not silent:
        return
    batch: dict[int, Counter[str]] = {}
    for story, result in zip(stories, results, strict=True):
        # Stored stories are counted already (as last tagged): only new ones are added.
        if story.pk is None and result.basis in STRONG_BASES and result.countries:
            batch.setdefault(story.source_id, Counter())[result.countries[0]] += 1
    usual: dict[int, str] = {}
    for i in silent:
        sid = stories[i].source_id
        if sid not in usual:
            counts = _source_counts(sid) + batch.get(sid, Counter())
            best = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
            usual[sid] = best[0] if best[1] >= USUAL_MIN else ""
        if usual[sid]:
            results[i] = tagger.tag(replace(inputs[i], usual_country=usual[sid]))


# --- Editors' terms -----------------------------------------------------------------------
TERMS_KEY = "tagging:terms-version"
# Every cache entry needs a lifetime (production Redis evicts only those: volatile-lru). When
# this one lapses, the next batch reads a new version and each process reloads the terms once.
TERMS_VERSION_SECONDS = 24 * 3600
_loaded: list[str] = [""]  # the version of the editors' terms this process's tagger holds


def terms_changed() -> None:
    """Call after editors' terms change: every process picks them up at its next batch."""
    cache.delete(TERMS_KEY)


def sync_terms() -> None:
    """Give this process's tagger the editors' current terms. One cache read per batch; the
    matcher is rebuilt only when the terms changed."""
    version = cache.get(TERMS_KEY)
    if version is None:
        stats = GazetteerTerm.objects.aggregate(n=Count("id"), last=Max("id"))
        version = f"{stats['n']}:{stats['last']}:{timezone.now().timestamp()}"
        if not stats["n"] and not _loaded[0]:
            version = "none"
        cache.set(TERMS_KEY, version, TERMS_VERSION_SECONDS)
    if version == _loaded[0] or (version == "none" and not _loaded[0]):
        return
    rows = GazetteerTerm.objects.select_related("country").order_by("pk")
    tagger.set_extra_terms((t.country.slug, t.kind, t.term) for t in rows)
    _loaded[0] = version


# --- Corrections --------------------------------------------------------------------------
def tag_snapshot(story: Story) -> tuple[str, list[str]]:
    """(primary slug, shown country slugs primary first) as a reader sees them now."""
    rows = StoryCountry.objects.shown().filter(story=story).select_related("country")
    slugs = sorted(r.country.slug for r in rows)
    country = story.primary_country if story.primary_country_id else None
    primary = country.slug if country else ""
    if primary in slugs:
        slugs.remove(primary)
    return primary, ([primary] if primary else []) + slugs


def record_correction(
    story: Story,
    editor: Any,
    before: tuple[str, list[str]],
    *,
    confirmed: bool = False,
) -> TagCorrection | None:
    """Record an editor's change of a story's countries (or confirmation of them)."""
    after = tag_snapshot(story)
    if after == before and not confirmed:
        return None
    return TagCorrection.objects.create(
        story=story,
        editor=editor if getattr(editor, "is_authenticated", False) else None,
        primary_before=before[0],
        primary_after=after[0],
        countries_before=before[1],
        countries_after=after[1],
        confirmed=confirmed and after == before,
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


def pretag(
    stories: Sequence[Story],
    leads: Sequence[str | None] | None = None,
    vocab: Vocabulary | None = None,
) -> list[TagResult]:
    """Tag unsaved stories so their INSERT already carries the primary country.

    ``leads[i]``, if given, is the opening text of ``stories[i]`` (else it is read from the
    story). Returns each story's tags, in order, for ``apply_tags(..., pretagged=...)`` to
    write once the stories have their keys.
    """
    countries = {slug: c.pk for slug, c in (vocab or vocabulary()).countries.items()}
    now = timezone.now()
    sync_terms()
    inputs = [
        tag_input(story, lead)
        for story, lead in zip(stories, leads or [None] * len(stories), strict=True)
    ]
    results = [tagger.tag(item) for item in inputs]
    file_placeless(stories, inputs, results)
    for story, result in zip(stories, results, strict=True):
        story.primary_country_id = next(
            (countries[s] for s in result.countries if s in countries), None
        )
        story.tag_basis, story.tag_margin = result.basis, result.margin
        story.tagged_at = now
    return results


def apply_tags(
    stories: Iterable[Story],
    vocab: Vocabulary | None = None,
    *,
    leads: Mapping[int, str] | None = None,
    pretagged: Mapping[int, TagResult] | None = None,
    results: dict[int, TagResult] | None = None,
) -> int:
    """Tag stories automatically. Editor rows (added or rejected) are left as they are.

    ``leads``: opening texts by story id, where the caller has them. ``pretagged``: the tags
    ``pretag`` gave new stories before their INSERT, by story id; those stories have no tag
    rows yet, so none are looked up. ``results``, if given, gets every story's tags by id (the
    matched terms entity linking reads).

    A constant number of queries per batch, not per story: ingest tags whole feeds at once.
    Returns the number of stories whose tags changed.
    """
    stories = list(stories)
    if not stories:
        return 0
    sync_terms()
    countries, topics = vocab or vocabulary()
    ids = [s.pk for s in stories]
    existing_c: dict[int, dict[int, Any]] = {i: {} for i in ids}
    existing_t: dict[int, dict[int, Any]] = {i: {} for i in ids}
    # Stories tagged before their INSERT are new: they have no tag rows to look up.
    leads = leads or {}
    pretagged = pretagged or {}
    old = [s.pk for s in stories if s.pk not in pretagged]
    if old:
        for c_row in StoryCountry.objects.filter(story_id__in=old):
            existing_c[c_row.story_id][c_row.country_id] = c_row
        for t_row in StoryTopic.objects.filter(story_id__in=old):
            existing_t[t_row.story_id][t_row.topic_id] = t_row

    now = timezone.now()
    plan = _Plan()
    changed = 0
    stale: list[Story] = []
    # New stories were tagged before their INSERT (see pretag), so their row already
    # holds the primary country; only the tag rows are left to write.
    todo = [s for s in stories if s.pk not in pretagged]
    inputs = [tag_input(s, leads.get(s.pk)) for s in todo]
    fresh = [tagger.tag(item) for item in inputs]
    file_placeless(todo, inputs, fresh)
    tagged = dict(pretagged) | {s.pk: r for s, r in zip(todo, fresh, strict=True)}
    for story in stories:
        result = tagged[story.pk]
        already = story.pk in pretagged
        if results is not None:
            results[story.pk] = result
        before = (story.primary_country_id, story.tag_basis, story.tag_margin)
        wanted_c = {
            countries[s].pk: (result.scores.get(s, 0.0), result.why.get(s, ""))
            for s in result.countries
            if s in countries
        }
        wanted_t = {
            topics[s].pk: (result.scores.get(s, 0.0), result.why.get(s, ""))
            for s in result.topics
            if s in topics
        }
        did = plan.sync(StoryCountry, story, existing_c[story.pk], wanted_c)
        did |= plan.sync(StoryTopic, story, existing_t[story.pk], wanted_t)
        if not story.primary_set_by_editor:
            primary = _primary(result, countries, existing_c[story.pk])
            if primary != story.primary_country_id:
                story.primary_country_id = primary
                did = True
        story.tag_basis, story.tag_margin = result.basis, result.margin
        if not already or (story.primary_country_id, story.tag_basis, story.tag_margin) != before:
            stale.append(story)
        story.tagged_at = now
        changed += did
    # Inside ingest's transaction a savepoint would only add two round trips per feed: an
    # error here aborts that whole transaction anyway.
    with transaction.atomic(savepoint=False):
        plan.apply()
        if stale:
            # One UPDATE for the batch (CASE per row), not one per story.
            Story.objects.bulk_update(
                stale, ["primary_country", "tagged_at", "tag_basis", "tag_margin"], batch_size=500
            )
    return changed


class _Plan:
    """The rows to delete and create, gathered for the whole batch."""

    def __init__(self) -> None:
        self.delete: dict[type[StoryCountry | StoryTopic], list[int]] = {
            StoryCountry: [],
            StoryTopic: [],
        }
        # New system rows as (story id, country or topic id, score, reason).
        self.create: dict[type[StoryCountry | StoryTopic], list[tuple[int, int, float, str]]] = {
            StoryCountry: [],
            StoryTopic: [],
        }
        # System rows that stay, with a new reason: re-tagging explains them afresh.
        self.explain: dict[type[StoryCountry | StoryTopic], list[Any]] = {
            StoryCountry: [],
            StoryTopic: [],
        }

    def sync(
        self,
        model: type[StoryCountry | StoryTopic],
        story: Story,
        existing: dict[int, Any],
        wanted: dict[int, tuple[float, str]],
    ) -> bool:
        changed = False
        for vid, row in existing.items():
            if row.origin == Origin.SYSTEM and vid not in wanted:
                self.delete[model].append(row.pk)
                changed = True
        for vid, (score, reason) in wanted.items():
            reason = reason[:REASON_LENGTH]
            row = existing.get(vid)
            if row is None:
                self.create[model].append((story.pk, vid, score, reason))
                changed = True
            elif row.origin == Origin.SYSTEM and row.reason != reason:
                row.reason = reason
                self.explain[model].append(row)
        return changed

    def apply(self) -> None:
        for model, pks in self.delete.items():
            if pks:
                model.objects.filter(pk__in=pks, origin=Origin.SYSTEM).delete()
        for model, rows in self.create.items():
            if not rows:
                continue
            story_ids, value_ids, scores, reasons = zip(*rows, strict=True)
            insert_columns(
                model,
                {
                    "story_id": story_ids,
                    _VALUE_COLUMN[model]: value_ids,
                    "score": scores,
                    "reason": reasons,
                },
                constants={"origin": Origin.SYSTEM},
                # A row an editor or a racing run wrote meanwhile wins, as before.
                ignore_conflicts=True,
            )
        for model, changed in self.explain.items():
            if changed:
                model.objects.bulk_update(changed, ["reason"], batch_size=500)


_VALUE_COLUMN: dict[type[StoryCountry | StoryTopic], str] = {
    StoryCountry: "country_id",
    StoryTopic: "topic_id",
}


def _primary(
    result: TagResult, countries: dict[str, Country], existing: dict[int, Any]
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


def tag_reasons(story: Story) -> list[tuple[str, str]]:
    """(tag name, why) for each shown tag, primary country first: the story page's and the
    admin's answer to "why this tag?". Uses ``shown_countries``/``shown_topics`` when the
    caller prefetched them."""
    c_rows = getattr(story, "shown_countries", None)
    if c_rows is None:
        c_rows = list(StoryCountry.objects.shown().filter(story=story).select_related("country"))
    t_rows = getattr(story, "shown_topics", None)
    if t_rows is None:
        t_rows = list(StoryTopic.objects.shown().filter(story=story).select_related("topic"))
    out: list[tuple[str, str]] = []
    for row in sorted(c_rows, key=lambda r: (r.country_id != story.primary_country_id, r.pk)):
        why = "added by an editor" if row.origin == Origin.EDITOR else row.reason
        if row.country_id == story.primary_country_id:
            who = "an editor" if story.primary_set_by_editor else "the tagger"
            why = f"primary country, chosen by {who}" + (f": {why}" if why else "")
        out.append((row.country.name, why or "tagged automatically"))
    for t_row in sorted(t_rows, key=lambda r: r.topic.name):
        why = "added by an editor" if t_row.origin == Origin.EDITOR else t_row.reason
        out.append((t_row.topic.name, why or "topic words in the headline and text"))
    return out
