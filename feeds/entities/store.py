"""Entities in the database: the catalogue synced into ``Entity`` rows, the alias index every
process links with, and ``StoryEntity`` links written without ever touching an editor's.

Editors' changes (an alias, a merge, a hidden entity) bump a version in the shared cache;
each process rebuilds its index and the tagger's name list at its next batch, so they are
effective for new stories at once, and for old ones through ``manage.py retag``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from feeds.bulk import insert_columns
from feeds.entities import linking
from feeds.entities.catalogue import EntityDef, catalogue, load_cues
from feeds.models import Country, Entity, EntityAlias, Origin, Story, StoryEntity
from feeds.tagging import tagger
from feeds.types import TagResult

__all__ = [
    "current_index",
    "entities_changed",
    "find_by_name",
    "link_stories",
    "prepare",
    "sync_catalogue",
]

VERSION_KEY = "entities:version"
VERSION_SECONDS = 24 * 3600  # every cache entry needs a lifetime (volatile-lru eviction)
_state: dict[str, Any] = {"version": None, "index": None}


def entities_changed() -> None:
    """Call after entities or aliases change: every process reloads at its next batch. Once
    now (this process, inside its transaction, sees the change at once) and once when the
    transaction commits (a process that reloaded meanwhile read the old rows)."""
    cache.delete(VERSION_KEY)
    transaction.on_commit(lambda: cache.delete(VERSION_KEY))


def _facts(entity: EntityDef, countries: Mapping[str, int]) -> dict[str, Any]:
    return {
        "name": entity.name,
        "country_id": countries.get(entity.country),
        "latitude": entity.latitude,
        "longitude": entity.longitude,
        "imo": entity.imo,
        "ice_class": entity.ice_class,
        "operator": entity.operator,
        "description": entity.description,
        "source": entity.source,
    }


@transaction.atomic
def sync_catalogue(defs: Sequence[EntityDef] | None = None) -> tuple[int, int]:
    """Create the catalogue's entities that are missing, refresh the facts of those no editor
    changed, and make their data aliases the file's. Editors' entities and aliases are kept.
    Returns (created, updated)."""
    defs = catalogue() if defs is None else defs
    countries = dict(Country.objects.values_list("slug", "pk"))
    existing = {e.data_key: e for e in Entity.objects.exclude(data_key="")}
    taken = set(Entity.objects.filter(data_key="").values_list("kind", "slug"))
    create, update = [], []
    for entity in defs:
        facts = _facts(entity, countries)
        row = existing.get(entity.key)
        if row is None:
            if (entity.kind, entity.slug) not in taken:  # an editor's own entity keeps its slug
                create.append(
                    Entity(kind=entity.kind, slug=entity.slug, data_key=entity.key, **facts)
                )
        elif not row.edited and any(getattr(row, k) != v for k, v in facts.items()):
            for k, v in facts.items():
                setattr(row, k, v)
            update.append(row)
    Entity.objects.bulk_create(create)
    if update:
        Entity.objects.bulk_update(update, list(_facts(defs[0], countries)))
    ids = dict(Entity.objects.exclude(data_key="").values_list("data_key", "pk"))
    wanted = {
        (ids[e.key], term, cue)
        for e in defs
        if e.key in ids
        for names, cue in ((e.names, False), (e.cue_names, True))
        for term in names
    }
    have = {
        (a.entity_id, a.term, a.needs_cue): a.pk
        for a in EntityAlias.objects.filter(origin=Origin.SYSTEM)
    }
    stale = [pk for key, pk in have.items() if key not in wanted]
    if stale:
        EntityAlias.objects.filter(pk__in=stale).delete()
    new = sorted(wanted - set(have))
    if new:
        entity_ids, terms, cues = zip(*new, strict=True)
        insert_columns(
            EntityAlias,
            {
                "entity_id": entity_ids,
                "term": terms,
                "needs_cue": cues,
                "folded": [folded(t) for t in terms],
                "stem": ["*" in t for t in terms],
            },
            constants={"origin": Origin.SYSTEM},
            ignore_conflicts=True,  # an editor's alias of the same name stays the editor's
        )
    entities_changed()
    return len(create), len(update)


def _load() -> linking.Index:
    entities = {
        pk: (kind, hidden, merged)
        for pk, kind, hidden, merged in Entity.objects.values_list(
            "pk", "kind", "hidden", "merged_into_id"
        )
    }

    def final(pk: int) -> int | None:
        seen = set()
        while entities[pk][2] is not None and pk not in seen:
            seen.add(pk)
            pk = entities[pk][2]
        return None if entities[pk][1] else pk

    aliases = []
    for entity_id, term, needs_cue in EntityAlias.objects.values_list(
        "entity_id", "term", "needs_cue"
    ):
        target = final(entity_id)
        if target is not None:
            aliases.append((term, linking.Alias(target, entities[target][0], needs_cue)))
    tagger.set_name_terms(term for term, _ in aliases)
    return linking.Index.build(aliases, load_cues())


def current_index() -> linking.Index:
    """This process's alias index, rebuilt (with the tagger's name list) when editors or a
    sync changed entities since it was built. One cache read when nothing changed."""
    version = cache.get(VERSION_KEY)
    if version is None:
        version = str(timezone.now().timestamp())
        cache.set(VERSION_KEY, version, VERSION_SECONDS)
    if version != _state["version"] or _state["index"] is None:
        _state["index"] = _load()
        _state["version"] = version
    index: linking.Index = _state["index"]
    return index


def prepare() -> None:
    """Before tagging a batch: the tagger must know the current entity names."""
    current_index()


def link_stories(
    stories: Iterable[Story], results: Mapping[int, TagResult], *, new: Iterable[int] = ()
) -> int:
    """Link stories to the entities their tagger results name. System links no longer named
    go; an editor's links (added, or removed: ``rejected``) are never touched. ``new``: ids of
    stories just inserted, which have no links to look up. Two queries per batch at most.
    Returns the number of links added."""
    index = current_index()
    wanted = {s.pk: linking.link(results[s.pk].terms, index) for s in stories if s.pk in results}
    if not wanted:
        return 0
    fresh = set(new)
    existing: dict[int, dict[int, StoryEntity]] = {pk: {} for pk in wanted}
    old = [pk for pk in wanted if pk not in fresh]
    if old:
        for row in StoryEntity.objects.filter(story_id__in=old):
            existing[row.story_id][row.entity_id] = row
    stale = [
        row.pk
        for pk, rows in existing.items()
        for entity_id, row in rows.items()
        if row.origin == Origin.SYSTEM and not row.rejected and entity_id not in wanted[pk]
    ]
    rows = [
        (pk, entity_id, in_title, f"{'headline' if in_title else 'text'} names {term}"[:300])
        for pk, named in wanted.items()
        for entity_id, (in_title, term) in named.items()
        if entity_id not in existing[pk]
    ]
    with transaction.atomic(savepoint=False):
        if stale:
            StoryEntity.objects.filter(pk__in=stale, origin=Origin.SYSTEM).delete()
        if rows:
            story_ids, entity_ids, titles, reasons = zip(*rows, strict=True)
            insert_columns(
                StoryEntity,
                {
                    "story_id": story_ids,
                    "entity_id": entity_ids,
                    "in_title": titles,
                    "reason": reasons,
                },
                constants={"origin": Origin.SYSTEM, "rejected": False},
                ignore_conflicts=True,  # an editor's row written meanwhile wins
            )
    return len(rows)


def folded(term: str) -> str:
    """An alias as search compares it: "=NSR" → "nsr", "мурманск*" → "мурманск"."""
    return tagger.fold(term.lstrip("=!").replace("*", " "))[:200]


def find_by_name(query: str) -> list[Entity]:
    """The shown entities one of whose names is the whole query, case and diacritics aside
    ("sabetta", "Tromso", "Мурманске" by the stem "мурманск*"; "Yamal": the peninsula and the
    icebreaker). One query; merged entities' names find what they were merged into."""
    key = tagger.fold(query)[:200]
    if not key:
        return []
    rows = (
        EntityAlias.objects.annotate(query=Value(key))
        .filter(Q(folded=key) | Q(stem=True, query__startswith=F("folded")))
        .exclude(folded="")
        .select_related("entity", "entity__merged_into")
        .order_by("entity__kind", "entity__name")
    )
    found: dict[int, Entity] = {}
    for alias in rows:
        entity = alias.entity.merged_into or alias.entity
        if not entity.hidden and entity.merged_into_id is None:
            found.setdefault(entity.pk, entity)
    return list(found.values())
