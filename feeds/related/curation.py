"""Editors curate a story's "Related stories from around the North" box, line by line.

Domain functions only (no HTTP): ``box_state`` shows the lines of the eight countries other
than the story's primary one, with the system's alternatives; ``pick``, ``set_external``,
``clear``, ``release``, ``move``, ``pin`` and ``lock`` change the box. Every change:

* runs in one transaction, with the story row locked so two editors take turns;
* makes the line it changes the editor's (``Origin.EDITOR``), which the system never touches;
* is recorded as a ``RelatedChange`` (who, when, before, after) and in the admin's history of
  the story (a ``LogEntry``);
* bumps the page-cache generation once committed, so readers see it at once.

An editor who clears a line wants it empty, and ``RelatedSlot`` cannot store an empty line, so
the newest change to a country's line is the record: ``RelatedChange.objects.cleared_countries``
lists the countries whose newest change is "clear", and ``boxes.refresh_box`` leaves them alone.
``release`` hands a line back to the system.

May import: ``feeds.models``, ``feeds.search``, ``feeds.text``, ``feeds.generation`` and
``feeds.related.boxes`` (the system's suggestions); nothing in related imports it but the
editor's views.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Max

from feeds.generation import bump_generation
from feeds.models import (
    Country,
    Origin,
    RelatedChange,
    RelatedSlot,
    Story,
    StoryCountry,
    StoryKind,
)
from feeds.related import boxes
from feeds.related.ranking import ALTERNATIVES, SUBJECT, TIER_LABELS
from feeds.search import search_stories
from feeds.text.sanitizing import clean_text, safe_url, typed_text, typed_url_problem

__all__ = [
    "ALTERNATIVES",
    "SEARCH_LIMIT",
    "Alternative",
    "CurationError",
    "SlotView",
    "box_state",
    "clear",
    "cleared_countries",
    "lock",
    "move",
    "pick",
    "pin",
    "recent_changes",
    "release",
    "resolve_country",
    "search_candidates",
    "set_external",
]

SEARCH_LIMIT = 10
HISTORY_LIMIT = 20
HEADLINE_MAX = 1000  # RelatedSlot.external_headline
OUTLET_MAX = 300  # RelatedSlot.external_outlet
URL_MAX = 2000  # RelatedSlot.external_url

Action = RelatedChange.Action

_STORY_REF = re.compile(r"(?:.*/story/)?#?(\d{1,18})/?")


class CurationError(ValueError):
    """A change the editor asked for cannot be made; the message says why, in plain words.

    ``field`` names the form field at fault, if one is ("url", "headline").
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- Reading the box -------------------------------------------------------------------------


@dataclass
class Alternative:
    """A candidate story for one country's line, as ranked by ``boxes.suggest``."""

    story: Story
    score: float
    relevance: float
    in_box: Country | None = None  # already shown on another line of this box
    tier: int = SUBJECT

    @property
    def why(self) -> str:
        """Same subject, same theme, or the country's recent story (the ranking's tiers)."""
        return TIER_LABELS[self.tier].capitalize()

    @property
    def relevance_percent(self) -> int:
        return round(min(max(self.relevance, 0.0), 1.0) * 100)


@dataclass
class SlotView:
    """One country's line of the box, for the editor."""

    country: Country
    slot: RelatedSlot | None
    alternatives: list[Alternative] = field(default_factory=list)
    cleared: bool = False
    place: int | None = None  # 1-based place among the lines readers see; None when empty
    is_first: bool = False
    is_last: bool = False

    @property
    def is_empty(self) -> bool:
        return self.slot is None

    @property
    def headline(self) -> str:
        return self.slot.headline if self.slot else ""

    @property
    def outlet(self) -> str:
        return self.slot.outlet if self.slot else ""

    @property
    def url(self) -> str:
        return self.slot.url if self.slot else ""

    @property
    def target(self) -> Story | None:
        return self.slot.target if self.slot and self.slot.target_id else None

    @property
    def is_external(self) -> bool:
        return bool(self.slot and not self.slot.target_id)

    @property
    def origin(self) -> str:
        return self.slot.origin if self.slot else ""

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS.get(self.origin, "")

    @property
    def pinned(self) -> bool:
        return bool(self.slot and self.slot.pinned)


ORIGIN_LABELS: dict[str, str] = {
    Origin.SYSTEM: "System",
    Origin.EDITOR: "Editor",
    Origin.SOURCE: "Outlet",
}


def _ordered_slots(story: Story) -> list[RelatedSlot]:
    """The lines readers see, in the box's order."""
    return list(
        RelatedSlot.objects.filter(story=story)
        .select_related("country", "target__source")
        .order_by("position", "country__name", "id")
    )


def box_state(story: Story) -> list[SlotView]:
    """The lines of every country but the story's primary one (the box is about the
    others): filled lines in the box's order, then the empty ones by name.

    Each line carries up to ``ALTERNATIVES`` candidates from ``boxes.suggest`` (best first),
    never its current pick.
    """
    slots = [slot for slot in _ordered_slots(story) if slot.country_id != story.primary_country_id]
    by_country = {slot.country_id: slot for slot in slots}
    ranked = boxes.suggest(story)
    cleared = cleared_countries(story)
    shown_targets = {slot.target_id: slot.country for slot in slots if slot.target_id}

    wanted: dict[int, list] = {}
    for country_id, candidates in ranked.items():
        current = by_country.get(country_id)
        current_target = current.target_id if current else None
        # Twice as many as shown: the same headline twice (one outlet's story carried by
        # another's feed, not recognised as a copy) is shown once.
        wanted[country_id] = [c for c in candidates if c.story_id != current_target][
            : 2 * ALTERNATIVES
        ]
    ids = {c.story_id for lst in wanted.values() for c in lst}
    stories = Story.objects.select_related("source").in_bulk(ids) if ids else {}

    def alternatives(country_id: int) -> list[Alternative]:
        current = by_country.get(country_id)
        seen = {current.headline.casefold()} if current else set()
        out: list[Alternative] = []
        for c in wanted.get(country_id, []):
            found = stories.get(c.story_id)
            if found is None or found.title.casefold() in seen:
                continue
            seen.add(found.title.casefold())
            out.append(
                Alternative(
                    story=found,
                    score=c.score,
                    relevance=c.relevance,
                    in_box=shown_targets.get(c.story_id),
                    tier=c.tier,
                )
            )
            if len(out) == ALTERNATIVES:
                break
        return out

    views = [
        SlotView(
            country=slot.country,
            slot=slot,
            alternatives=alternatives(slot.country_id),
            place=i + 1,
            is_first=i == 0,
            is_last=i == len(slots) - 1,
        )
        for i, slot in enumerate(slots)
    ]
    others = Country.objects.exclude(pk__in=[*by_country, story.primary_country_id or 0])
    for country in others.order_by("name"):
        views.append(
            SlotView(
                country=country,
                slot=None,
                alternatives=alternatives(country.pk),
                cleared=country.pk in cleared,
            )
        )
    return views


def cleared_countries(story: Story | int) -> set[int]:
    """Country ids whose line an editor cleared on purpose: the system must not refill them."""
    return RelatedChange.objects.cleared_countries(story.pk if isinstance(story, Story) else story)


def recent_changes(story: Story, limit: int = HISTORY_LIMIT) -> list[RelatedChange]:
    return list(
        RelatedChange.objects.filter(story=story)
        .select_related("country", "user")
        .order_by("-at", "-id")[:limit]
    )


def search_candidates(query: str, exclude_story: Story | None = None) -> list[Story]:
    """Visible stories whose headline (or text) matches ``query``, best first, at most 10.

    A story number or a pasted story address ("/story/123/") puts that story first.
    """
    query = (query or "").strip()[:200]
    if not query:
        return []
    exclude_pk = exclude_story.pk if exclude_story else None
    found: list[Story] = []
    match = _STORY_REF.fullmatch(query)
    if match:
        by_number = Story.objects.visible().articles().select_related("source")
        if exclude_pk is not None:
            by_number = by_number.exclude(pk=exclude_pk)
        found = list(by_number.filter(pk=int(match.group(1))))
        if "/" in query:  # an address, not words
            return _with_countries(found)
    results = (
        search_stories(query)
        .filter(kind=StoryKind.STORY)
        .exclude(pk__in=[exclude_pk, *(s.pk for s in found)])
        .select_related("source")[: SEARCH_LIMIT - len(found)]
    )
    return _with_countries([*found, *results])


def _with_countries(stories: list[Story]) -> list[Story]:
    """Attach ``country_names`` (the story's shown country tags) for the result list."""
    names: dict[int, list[str]] = {s.pk: [] for s in stories}
    for story_id, name in (
        StoryCountry.objects.shown()
        .filter(story_id__in=names)
        .order_by("country__name")
        .values_list("story_id", "country__name")
    ):
        names[story_id].append(name)
    for story in stories:
        story.country_names = names[story.pk]
    return stories


# --- Changing the box ------------------------------------------------------------------------


def resolve_country(country: Country | int | str | None) -> Country:
    if isinstance(country, Country):
        return country
    if country is None:
        raise CurationError("There is no such country.")
    try:
        return Country.objects.get(pk=int(country))
    except (Country.DoesNotExist, TypeError, ValueError):
        raise CurationError("There is no such country.") from None


def _line_country(story: Story, country) -> Country:
    """The country of a line an editor fills: any but the story's own primary country."""
    country = resolve_country(country)
    if country.pk == story.primary_country_id:
        raise CurationError(
            f"{country.name} is this story's own country: the box has a line for each of the"
            " other countries."
        )
    return country


def _locked_story(story: Story) -> Story:
    """Lock the story's row for the rest of the transaction: editors of one box take turns."""
    return Story.objects.select_for_update().get(pk=story.pk)


def _slot(story: Story, country: Country) -> RelatedSlot | None:
    return (
        RelatedSlot.objects.select_related("target__source")
        .filter(story=story, country=country)
        .first()
    )


snapshot = boxes.line_state  # what a line showed, for the change log


def _quote(state: dict | None) -> str:
    if not state:
        return "nothing"
    headline = state.get("headline") or ""
    if len(headline) > 80:
        headline = headline[:79] + "…"
    return f"“{headline}”"


def _record(
    story: Story,
    user,
    action: str,
    country: Country | None,
    before: dict | None,
    after: dict | None,
    message: str,
) -> RelatedChange:
    change = RelatedChange.objects.create(
        story=story,
        **RelatedChange.by(user),
        action=action,
        country=country,
        before=before,
        after=after,
    )
    if user is not None and user.is_authenticated:
        # The admin's "History" page of the story lists it with the other edits.
        LogEntry.objects.log_actions(
            user.pk,
            Story.objects.filter(pk=story.pk),
            CHANGE,
            f"Related box: {message}",
            single_object=True,
        )
    transaction.on_commit(bump_generation)
    return change


def _next_position(story: Story) -> int:
    top = RelatedSlot.objects.filter(story=story).aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


def pick(story: Story, country, target_story: Story | int, user) -> RelatedChange | None:
    """Show ``target_story`` on ``country``'s line. Returns the change, or None if no change."""
    country = _line_country(story, country)
    target_pk = target_story.pk if isinstance(target_story, Story) else target_story
    try:
        target = Story.objects.select_related("source").get(pk=int(target_pk))
    except (Story.DoesNotExist, TypeError, ValueError):
        raise CurationError("That story does not exist.") from None
    if target.canonical_id:  # a republished copy: link the original
        target = Story.objects.select_related("source").get(pk=target.canonical_id)
    if target.is_hidden:
        raise CurationError("That story is hidden from readers, so it cannot be linked.")
    if target.kind != StoryKind.STORY:
        raise CurationError(
            f"That is a {target.get_kind_display().lower()}, not a story: it cannot fill a line."
        )
    if target.pk in (story.pk, story.canonical_id):
        raise CurationError("A story cannot be related to itself.")
    with transaction.atomic():
        story = _locked_story(story)
        slot = _slot(story, country)
        before = snapshot(slot)
        if slot and slot.target_id == target.pk and slot.origin == Origin.EDITOR:
            return None
        if slot is None:
            slot = RelatedSlot(story=story, country=country, position=_next_position(story))
        slot.target = target
        slot.external_url = slot.external_headline = slot.external_outlet = ""
        slot.origin = Origin.EDITOR
        slot.score = 0.0
        slot.save()
        after = snapshot(slot)
        verb = "picked" if before else "added"
        return _record(
            story,
            user,
            Action.PICK,
            country,
            before,
            after,
            f"{country.name}: {verb} {_quote(after)}"
            + (f" (was {_quote(before)})" if before else ""),
        )


def clean_external_url(url: str) -> str:
    """An editor's link as an http(s) URL ("nrk.no/x" becomes "https://nrk.no/x"), or ""."""
    url = (url or "").strip()
    if url and not urlsplit(url).scheme and not url.startswith("//"):
        url = "https://" + url
    cleaned = safe_url(url)
    return cleaned if len(cleaned) <= URL_MAX else ""


def set_external(
    story: Story, country, url: str, headline: str, outlet: str, user
) -> RelatedChange | None:
    """Link a story we do not carry: its address (http or https only), headline and outlet."""
    country = _line_country(story, country)
    problem = typed_url_problem(url or "")
    if problem:
        raise CurationError(problem, field="url")
    clean_url = clean_external_url(url)
    if not clean_url:
        raise CurationError(
            "Enter the story's web address, starting with https:// or http://.", field="url"
        )
    # Typed text as the models clean it (TypedTextModel): a control character separates words.
    clean_headline = clean_text(typed_text(headline or ""), HEADLINE_MAX)
    if not clean_headline:
        raise CurationError("Enter the story's headline.", field="headline")
    clean_outlet = clean_text(typed_text(outlet or ""), OUTLET_MAX)
    if not clean_outlet:
        host = urlsplit(clean_url).hostname or ""
        clean_outlet = host.removeprefix("www.")
    with transaction.atomic():
        story = _locked_story(story)
        slot = _slot(story, country)
        before = snapshot(slot)
        if (
            slot
            and not slot.target_id
            and slot.origin == Origin.EDITOR
            and (slot.external_url, slot.external_headline, slot.external_outlet)
            == (clean_url, clean_headline, clean_outlet)
        ):
            return None
        if slot is None:
            slot = RelatedSlot(story=story, country=country, position=_next_position(story))
        slot.target = None
        slot.external_url = clean_url
        slot.external_headline = clean_headline
        slot.external_outlet = clean_outlet
        slot.origin = Origin.EDITOR
        slot.score = 0.0
        slot.save()
        after = snapshot(slot)
        return _record(
            story,
            user,
            Action.EXTERNAL,
            country,
            before,
            after,
            f"{country.name}: linked {_quote(after)} at {clean_outlet}"
            + (f" (was {_quote(before)})" if before else ""),
        )


def clear(story: Story, country, user) -> RelatedChange | None:
    """Empty ``country``'s line and keep it empty: the system will not fill it again."""
    country = resolve_country(country)
    with transaction.atomic():
        story = _locked_story(story)
        slot = _slot(story, country)
        if slot is None and country.pk in cleared_countries(story):
            return None
        before = snapshot(slot)
        if slot is not None:
            slot.delete()
        return _record(
            story,
            user,
            Action.CLEAR,
            country,
            before,
            None,
            f"{country.name}: cleared"
            + (f" (was {_quote(before)})" if before else "")
            + "; kept empty",
        )


def release(story: Story, country, user) -> RelatedChange | None:
    """Hand ``country``'s line back to the system, which suggests a story for it at once.

    The editor's story or link on the line is removed; an empty line may be filled again.
    """
    country = resolve_country(country)
    with transaction.atomic():
        story = _locked_story(story)
        slot = _slot(story, country)
        was_cleared = country.pk in cleared_countries(story)
        if slot is not None and slot.origin == Origin.SYSTEM and not slot.pinned:
            return None  # already the system's
        if slot is None and not was_cleared:
            return None
        before = snapshot(slot)
        if slot is not None:
            slot.delete()
        change = _record(
            story,
            user,
            Action.RELEASE,
            country,
            before,
            None,
            f"{country.name}: handed back to the system"
            + (f" (was {_quote(before)})" if before else ""),
        )
    if boxes.refresh_box(story):
        transaction.on_commit(bump_generation)
    return change


def move(story: Story, country, to: str | int, user) -> RelatedChange | None:
    """Move ``country``'s line "up", "down", or to a 1-based place among the shown lines."""
    country = resolve_country(country)
    with transaction.atomic():
        story = _locked_story(story)
        slots = list(
            RelatedSlot.objects.filter(story=story)
            .select_related("country", "target__source")
            .order_by("position", "country__name", "id")
        )
        index = next((i for i, s in enumerate(slots) if s.country_id == country.pk), None)
        if index is None:
            raise CurationError(f"The {country.name} line is empty: there is nothing to move.")
        if to == "up":
            new_index = index - 1
        elif to == "down":
            new_index = index + 1
        else:
            try:
                new_index = int(to) - 1
            except (TypeError, ValueError):
                raise CurationError("Say where to move the line: up, down or a place.") from None
        new_index = min(max(new_index, 0), len(slots) - 1)
        if new_index == index:
            return None
        moved = slots.pop(index)
        before = {**(snapshot(moved) or {}), "place": index + 1}
        slots.insert(new_index, moved)
        for position, slot in enumerate(slots):
            if slot is moved:
                slot.position = position
                slot.origin = Origin.EDITOR
                slot.save(update_fields=["position", "origin", "changed_at"])
            elif slot.position != position:
                # Renumbering the other lines keeps their order: they stay whoever's they were.
                RelatedSlot.objects.filter(pk=slot.pk).update(position=position)
                slot.position = position
        after = {**(snapshot(moved) or {}), "place": new_index + 1}
        return _record(
            story,
            user,
            Action.MOVE,
            country,
            before,
            after,
            f"{country.name}: moved from place {index + 1} to {new_index + 1}",
        )


def pin(story: Story, country, pinned: bool, user) -> RelatedChange | None:
    """Pin (or unpin) ``country``'s line: a pinned line is kept when the box is re-suggested."""
    country = resolve_country(country)
    pinned = bool(pinned)
    with transaction.atomic():
        story = _locked_story(story)
        slot = _slot(story, country)
        if slot is None:
            raise CurationError(f"The {country.name} line is empty: there is nothing to pin.")
        if slot.pinned == pinned and slot.origin == Origin.EDITOR:
            return None
        before = snapshot(slot)
        slot.pinned = pinned
        slot.origin = Origin.EDITOR
        slot.save(update_fields=["pinned", "origin", "changed_at"])
        after = snapshot(slot)
        return _record(
            story,
            user,
            Action.PIN if pinned else Action.UNPIN,
            country,
            before,
            after,
            f"{country.name}: {'pinned' if pinned else 'unpinned'} {_quote(after)}",
        )


def lock(story: Story, locked: bool, user) -> RelatedChange | None:
    """Lock (or unlock) the whole box: the system never changes a locked box."""
    locked = bool(locked)
    with transaction.atomic():
        current = _locked_story(story)
        if current.related_locked == locked:
            story.related_locked = locked
            return None
        Story.objects.filter(pk=story.pk).update(related_locked=locked)
        story.related_locked = locked
        return _record(
            current,
            user,
            Action.LOCK if locked else Action.UNLOCK,
            None,
            {"locked": not locked},
            {"locked": locked},
            "box locked: the system will not change it" if locked else "box unlocked",
        )


def record_admin_edit(
    story: Story, user, country: Country, before: dict | None, after: dict | None
) -> RelatedChange | None:
    """Log a line an editor changed in the admin's inline, as the editor page logs its own."""
    if before == after:
        return None
    if after is None:
        action, words = Action.CLEAR, f"cleared (was {_quote(before)})"
    elif before and (before["target"], before["url"]) == (after["target"], after["url"]):
        if before["pinned"] != after["pinned"]:
            action = Action.PIN if after["pinned"] else Action.UNPIN
            words = f"{'pinned' if after['pinned'] else 'unpinned'} {_quote(after)}"
        else:
            action, words = Action.MOVE, f"moved {_quote(after)} to place {after['position']}"
    else:
        action = Action.PICK if after["target"] else Action.EXTERNAL
        words = f"set {_quote(after)}" + (f" (was {_quote(before)})" if before else "")
    return _record(story, user, action, country, before, after, f"{country.name}: {words}")
