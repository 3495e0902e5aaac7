"""The weekly draft: one line per country and the week's storylines, made once per ISO week.

``draft_week`` is idempotent: the digest row is unique per week, and a week that already has
a digest (drafted, edited or approved) is returned as it is, never re-chosen, so a beat that
runs twice, or a retried task, cannot undo an editor's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from feeds.digest import candidates
from feeds.digest.choosing import choose_lines, choose_storylines
from feeds.digest.weeks import IsoWeek
from feeds.models import Country, Digest, DigestLine, DigestStoryline


@dataclass(frozen=True)
class Drafted:
    digest: Digest
    created: bool  # False: the week already had its digest, left untouched


def draft_week(week: IsoWeek) -> Drafted:
    existing = Digest.objects.filter(year=week.year, week=week.week).first()
    if existing is not None:
        return Drafted(existing, created=False)
    try:
        with transaction.atomic():
            digest = Digest.objects.create(year=week.year, week=week.week)
            fill(digest, week)
    except IntegrityError:
        # Another run made this week's digest between our look and our insert.
        return Drafted(Digest.objects.get(year=week.year, week=week.week), created=False)
    return Drafted(digest, created=True)


def fill(digest: Digest, week: IsoWeek) -> None:
    """Choose the lines and storylines of a new digest (inside its creating transaction)."""
    countries = list(Country.objects.order_by("name").values_list("id", flat=True))
    choices = choose_lines(candidates.week_candidates(week), countries)
    DigestLine.objects.bulk_create(
        DigestLine(
            digest=digest,
            country_id=choice.country_id,
            target_id=choice.story_id,
            position=position,
            reason=choice.reason,
        )
        for position, choice in enumerate(choices)
    )
    DigestStoryline.objects.bulk_create(
        DigestStoryline(
            digest=digest,
            storyline_id=line.storyline_id,
            position=position,
            reason=line.reason(),
        )
        for position, line in enumerate(choose_storylines(candidates.week_storylines(week)))
    )


def draft_last_week(now: datetime | None = None) -> Drafted:
    """The beat's job: the draft of the newest complete ISO week."""
    return draft_week(IsoWeek.last_complete(now or timezone.now()))
