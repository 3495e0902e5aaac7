"""Linking copies of one story across outlets to the original publisher's story.

The decision is pure (``feeds.text.keys.same_story`` and ``is_original``); this module finds
the candidates in one indexed query per batch and writes ``Story.canonical``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Q

from feeds.models import Story
from feeds.text.keys import COPY_WINDOW, StoryKeys, is_original, same_story


def story_keys(story: Story) -> StoryKeys:
    """The keys of a story whose ``source`` is loaded (ingest sets it without a query)."""
    return StoryKeys(
        title_key=story.title_key,
        url_key=story.url_key,
        lead_key=story.lead_key,
        published_at=story.published_at,
        link=story.link,
        outlet=story.source.name,
        homepage=story.source.homepage,
        credited=story.original_outlet,
        first_seen_at=story.first_seen_at,
    )


def link_copies(stories: Sequence[Story]) -> int:
    """Point new copies of an already-stored story at the original publisher's story, or
    make a new story the original of the old one and its copies.

    One indexed query per batch: other outlets' stories sharing a link or the opening words
    with one of the new stories, or the headline with a new republication, within
    ``COPY_WINDOW``.
    """
    urls = {s.url_key for s in stories} - {""}
    leads = {s.lead_key for s in stories} - {""}
    titles = {s.title_key for s in stories} - {""}
    if not urls and not leads and not titles:
        return 0
    since = min(s.published_at for s in stories) - COPY_WINDOW
    until = max(s.published_at for s in stories) + COPY_WINDOW
    rows = (
        Story.objects.filter(canonical__isnull=True, published_at__range=(since, until))
        .filter(Q(url_key__in=urls) | Q(lead_key__in=leads) | Q(title_key__in=titles))
        .exclude(feed_id__in={s.feed_id for s in stories})
        .order_by("published_at")
        .values_list(
            "id",
            "title_key",
            "url_key",
            "lead_key",
            "published_at",
            "link",
            "source__name",
            "source__homepage",
            "original_outlet",
            "first_seen_at",
        )
    )
    near: dict[str, list[tuple[int, StoryKeys]]] = defaultdict(list)
    for pk, title, url, lead, published, link, outlet, homepage, credited, seen in rows:
        keys = StoryKeys(title, url, lead, published, link, outlet, homepage, credited, seen)
        for kind, key in _lookups(keys):
            if key:
                near[f"{kind}:{key}"].append((pk, keys))
    linked = 0
    for story in stories:
        mine = story_keys(story)
        match = _original_candidate(story.pk, mine, near)
        if match is None:
            continue
        pk, theirs = match
        if is_original(theirs, mine):
            Story.objects.filter(pk=story.pk).update(canonical_id=pk)
            story.canonical_id = pk
        else:
            # The newcomer is the original: it takes over the old story's copies too.
            Story.objects.filter(Q(pk=pk) | Q(canonical_id=pk)).update(canonical_id=story.pk)
            for candidates in near.values():
                candidates[:] = [c for c in candidates if c[0] != pk]
        linked += 1
    return linked


def _original_candidate(
    own_pk: int | None, mine: StoryKeys, near: dict[str, list[tuple[int, StoryKeys]]]
) -> tuple[int, StoryKeys] | None:
    for kind, key in _lookups(mine):
        for pk, theirs in near.get(f"{kind}:{key}", ()) if key else ():
            if pk != own_pk and same_story(mine, theirs):
                return pk, theirs
    return None


def _lookups(keys: StoryKeys) -> tuple[tuple[str, str], ...]:
    return (("url", keys.url_key), ("lead", keys.lead_key), ("title", keys.title_key))
