"""What a fetch writes: which entries are new stories, which update a story we have, and
which change nothing. Pure (no database), like lemon24/reader's ``Decider``.

An entry is the item a feed's story was when it carries the story's guid. Under another guid
it is a different item, as in reader and Miniflux, where the guid is the identity: podcast
and show-page feeds give every item one link, and recurring items ("Daily briefing") repeat
their headline and a stock teaser, so a link or a headline alone would overwrite the earlier
item, which would then be lost. Only strong evidence that it is the same item re-issued
under a new guid (a CMS migration, a feed generator that changed its ids) makes it the known
story: two agreements, never one (the same link AND headline, the same headline AND opening
words, or a permalink guid equal to the other's link), and only when both are dated alike
(``REISSUE_WINDOW``). When in doubt, both are kept: a duplicate can be seen and hidden, a
lost item is gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# A re-issue under a new guid keeps its date (a migration or a new id format changes the ids,
# not when the story came out: the Barents Observer's move kept every instant). Items of one
# feed dated an hour or more apart are different items even with the same link and headline
# (hourly bulletins, daily briefings, weekly episodes). A migration that also mislabels its
# time zone gives duplicates, which can be seen and hidden, rather than losses.
REISSUE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Incoming:
    """One entry of the fetch, as the identity and hash of the story it would write."""

    guid: str
    link: str
    title_key: str
    lead_key: str
    content_hash: str
    published: datetime | None = None  # as the story would be dated
    # Only for an entry without a guid, whose identity is its link: the identity it is stored
    # under when the story under its link is another item (a show page's earlier episode).
    alias: str = ""


@dataclass(frozen=True)
class Known:
    """One of the feed's stories that might be an incoming entry."""

    pk: int
    guid: str
    link: str
    title_key: str
    lead_key: str
    content_hash: str
    published: datetime | None = None


def is_reissue(entry: Incoming, story: Known) -> bool:
    """Whether an entry under another guid than the story's is the story re-issued."""
    if entry.published and story.published:
        if abs(entry.published - story.published) >= REISSUE_WINDOW:
            return False
    same_title = bool(entry.title_key) and entry.title_key == story.title_key
    if same_title and entry.link and entry.link == story.link:
        return True
    if same_title and entry.lead_key and entry.lead_key == story.lead_key:
        return True
    # A feed that moves to (or from) permalink guids: the new guid is the old link.
    return bool(
        (entry.guid and entry.guid == story.link) or (story.guid and story.guid == entry.link)
    )


def same_item(entry: Incoming, story: Known) -> bool:
    """Whether the story under an entry's link-derived identity (no guid) is that entry: a
    show page gives every episode its link, so only the same headline, or a headline
    corrected within ``REISSUE_WINDOW`` of the story's date, is the same item."""
    if entry.title_key == story.title_key:
        return True
    return bool(
        entry.published
        and story.published
        and abs(entry.published - story.published) < REISSUE_WINDOW
    )


@dataclass(frozen=True)
class Plan:
    """``create``: indexes of new entries; ``update``: (entry index, story pk) whose content
    or guid changed; ``unchanged``: story pks an entry matched with nothing to write;
    ``guids``: the identity each entry is stored under (its guid, or its alias)."""

    create: tuple[int, ...]
    update: tuple[tuple[int, int], ...]
    unchanged: tuple[int, ...]
    guids: tuple[str, ...]


def decide(incoming: Sequence[Incoming], known: Iterable[Known]) -> Plan:
    """Match each entry (guids unique) to at most one known story; no story twice."""
    guids = {e.guid for e in incoming} | {e.alias for e in incoming if e.alias}
    by_guid: dict[str, Known] = {}
    others: dict[str, list[Known]] = defaultdict(list)  # by link, headline and guid
    for row in known:
        if row.guid in guids:
            by_guid[row.guid] = row
            continue  # that story is the entry under its own guid, not another's
        for key in {row.link, row.title_key, row.guid} - {""}:
            others[key].append(row)

    create: list[int] = []
    update: list[tuple[int, int]] = []
    unchanged: list[int] = []
    claimed: set[int] = set()
    stored_as: list[str] = []
    for i, entry in enumerate(incoming):
        guid = entry.guid
        story = by_guid.get(guid)
        if entry.alias and (story is None or not same_item(entry, story)):
            # The story under the link is an earlier item (kept as it is), or none is: the
            # entry is the story under its alias if there is one.
            if story is not None or entry.alias in by_guid:
                guid = entry.alias
                story = by_guid.get(guid)
        stored_as.append(guid)
        if story is None:
            candidates = (
                row
                for key in (entry.link, entry.title_key, entry.guid)
                if key
                for row in others.get(key, ())
            )
            story = next(
                (c for c in candidates if c.pk not in claimed and is_reissue(entry, c)), None
            )
        if story is None:
            create.append(i)
            continue
        claimed.add(story.pk)
        if story.content_hash == entry.content_hash and story.guid == guid:
            unchanged.append(story.pk)
        else:
            update.append((i, story.pk))
    return Plan(tuple(create), tuple(update), tuple(unchanged), tuple(stored_as))
