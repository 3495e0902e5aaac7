"""How one storyline was covered around the North: its timeline and one row per Arctic
country (which of its outlets covered it, when, in which language, or that none did).
Pure: no Django, no database, no network.

Owns: ``Report`` (a storyline's stories as the page shows them), ``timeline`` and
``coverage``. The view reads the rows in one query and hands them here.
May import: the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

LANGUAGES = {
    "en": "English",
    "ru": "Russian",
    "no": "Norwegian",
    "nb": "Norwegian",
    "nn": "Norwegian",
    "sv": "Swedish",
    "fi": "Finnish",
    "da": "Danish",
    "kl": "Greenlandic",
    "is": "Icelandic",
    "fr": "French",
    "se": "Northern Sami",
}


def language_name(code: str) -> str:
    code = (code or "").lower()
    return LANGUAGES.get(code) or LANGUAGES.get(code.split("-")[0]) or (code or "unknown")


@dataclass(frozen=True)
class Report:
    """One story of the storyline, as the page shows it."""

    story_id: int
    title: str
    url: str
    published_at: datetime
    outlet: str
    outlet_url: str
    language: str  # its language's name
    country_slug: str  # the outlet's home country, "" if unknown
    first: bool = False  # the first report of the storyline


@dataclass
class OutletCoverage:
    name: str
    url: str
    first_at: datetime
    stories: int
    languages: list[str] = field(default_factory=list)


@dataclass
class CountryRow:
    slug: str
    name: str
    url: str
    outlets: list[OutletCoverage]

    @property
    def covered(self) -> bool:
        return bool(self.outlets)

    @property
    def first_at(self) -> datetime | None:
        return min((o.first_at for o in self.outlets), default=None)


def timeline(reports: Sequence[Report]) -> list[Report]:
    """Newest first; the earliest report (ties: the lower id) marked ``first``."""
    if not reports:
        return []
    earliest = min(reports, key=lambda r: (r.published_at, r.story_id))
    marked = [replace(r, first=r.story_id == earliest.story_id) for r in reports]
    return sorted(marked, key=lambda r: (r.published_at, r.story_id), reverse=True)


def coverage(
    reports: Sequence[Report], countries: Sequence[tuple[str, str, str]]
) -> tuple[list[CountryRow], list[OutletCoverage]]:
    """One row per Arctic country (``countries``: slug, name, URL, in display order): covering
    countries first, by when they first reported, then the others by name; and outlets of no
    Arctic country (none known), apart."""
    outlets: dict[tuple[str, str], OutletCoverage] = {}
    for r in sorted(reports, key=lambda r: (r.published_at, r.story_id)):
        key = (r.country_slug, r.outlet)
        got = outlets.get(key)
        if got is None:
            outlets[key] = OutletCoverage(r.outlet, r.outlet_url, r.published_at, 1, [r.language])
        else:
            got.stories += 1
            if r.language not in got.languages:
                got.languages.append(r.language)
    rows = [
        CountryRow(slug, name, url, [o for (c, _), o in outlets.items() if c == slug])
        for slug, name, url in countries
    ]
    known = {slug for slug, _, _ in countries}
    elsewhere = [o for (c, _), o in outlets.items() if c not in known]
    covered = sorted(
        (r for r in rows if r.covered), key=lambda r: (min(o.first_at for o in r.outlets), r.name)
    )
    return covered + [r for r in rows if not r.covered], elsewhere
