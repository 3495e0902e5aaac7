"""What a fetch writes: which entries are new stories, which update a story we have, and
which change nothing. Pure (no database), like lemon24/reader's ``Decider``.

A feed's entry is the same item as one of the feed's stories only on evidence that cannot
collide by accident or by design: the same guid, the same link exactly (after the tracking
parameters are stripped), or the same headline AND the same opening words. A recurring
headline ("News in brief") or links that share a long prefix or differ in a fragment are
different stories; matching them would overwrite the earlier one, which would then be lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    """One entry of the fetch, as the identity and hash of the story it would write."""

    guid: str
    link: str
    title_key: str
    lead_key: str
    content_hash: str


@dataclass(frozen=True)
class Known:
    """One of the feed's stories that might be an incoming entry."""

    pk: int
    guid: str
    link: str
    title_key: str
    lead_key: str
    content_hash: str


@dataclass(frozen=True)
class Plan:
    """``create``: indexes of new entries; ``update``: (entry index, story pk) whose content
    or guid changed; ``unchanged``: story pks an entry matched with nothing to write."""

    create: tuple[int, ...]
    update: tuple[tuple[int, int], ...]
    unchanged: tuple[int, ...]


def decide(incoming: Sequence[Incoming], known: Iterable[Known]) -> Plan:
    """Match each entry (guids unique) to at most one known story; no story twice."""
    guids = {e.guid for e in incoming}
    by_guid: dict[str, Known] = {}
    by_link: dict[str, Known] = {}
    by_text: dict[tuple[str, str], Known] = {}
    for row in known:
        if row.guid in guids:
            by_guid[row.guid] = row
            continue  # that story is the entry under its own guid, not another's
        if row.link:
            by_link.setdefault(row.link, row)
        if row.title_key and row.lead_key:
            by_text.setdefault((row.title_key, row.lead_key), row)

    create: list[int] = []
    update: list[tuple[int, int]] = []
    unchanged: list[int] = []
    claimed: set[int] = set()
    for i, entry in enumerate(incoming):
        story = by_guid.get(entry.guid)
        if story is None:
            candidates = (
                by_link.get(entry.link) if entry.link else None,
                by_text.get((entry.title_key, entry.lead_key))
                if entry.title_key and entry.lead_key
                else None,
            )
            story = next((c for c in candidates if c is not None and c.pk not in claimed), None)
        if story is None:
            create.append(i)
            continue
        claimed.add(story.pk)
        if story.content_hash == entry.content_hash and story.guid == entry.guid:
            unchanged.append(story.pk)
        else:
            update.append((i, story.pk))
    return Plan(tuple(create), tuple(update), tuple(unchanged))
