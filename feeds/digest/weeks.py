"""ISO weeks: the digest's unit of time (pure).

A digest covers Monday 00:00 UTC to the next Monday 00:00 UTC of one ISO week, the week
``date.isocalendar()`` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

WEEK = timedelta(days=7)
_ISO_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")


class NoSuchWeek(ValueError):
    """A year and week that name no ISO week (week 53 of a 52-week year, week 0...)."""


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError:
            raise NoSuchWeek(f"{self.year} has no ISO week {self.week}") from None

    @classmethod
    def of(cls, moment: datetime | date) -> IsoWeek:
        day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W48`` (ISO 8601's week notation); ``NoSuchWeek`` for anything else."""
        found = _ISO_WEEK_RE.fullmatch(text.strip())
        if not found:
            raise NoSuchWeek(f"{text!r} is not an ISO week such as 2026-W48")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def last_complete(cls, now: datetime) -> IsoWeek:
        """The newest week that has ended by ``now``: the one the weekly draft covers."""
        return cls.of(now.astimezone(UTC) - WEEK)

    @property
    def start(self) -> datetime:
        return datetime.combine(
            date.fromisocalendar(self.year, self.week, 1), datetime.min.time(), tzinfo=UTC
        )

    @property
    def end(self) -> datetime:
        """The first moment after the week (exclusive bound)."""
        return self.start + WEEK

    @property
    def label(self) -> str:
        """ "Week 49, 30 November – 6 December 2026"."""
        first, last = self.start.date(), (self.end - timedelta(days=1)).date()
        if first.year != last.year:
            span = f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"
        elif first.month != last.month:
            span = f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
        else:
            span = f"{first.day}–{last.day} {last:%B %Y}"
        return f"Week {self.week}, {span}"
