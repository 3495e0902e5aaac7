"""The entity catalogue: ``data/<kind>s.toml`` read and validated once. Pure (no Django).

A mistake raises ``DataError`` naming the file and the entry, so a bad edit stops start-up
(and ``tests/test_entities_data.py``) instead of linking stories wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from feeds.tagging.countries import COUNTRY_SLUGS, DataError, check_term, read_toml

__all__ = ["DATA_DIR", "FILES", "Cues", "EntityDef", "imo_valid", "load_catalogue", "load_cues"]

DATA_DIR = Path(__file__).resolve().parent / "data"
# File → the kind of entity it holds (kinds are feeds.models.EntityKind's values).
FILES: Mapping[str, str] = {
    "vessels.toml": "vessel",
    "ports.toml": "port",
    "routes.toml": "route",
    "orgs.toml": "org",
    "places.toml": "place",
}
SHIP_CLASS = "ship-class"  # cues.toml's table of words after a class's name
PERSON = "person"  # cues.toml's table of titles before a person's name
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KEYS = frozenset(
    {
        "slug",
        "name",
        "country",
        "names",
        "cue_names",
        "latitude",
        "longitude",
        "geonameid",
        "path",
        "imo",
        "ice_class",
        "operator",
        "description",
        "source",
    }
)
_WITH_PLACE = frozenset({"port", "place", "route"})  # kinds that must have coordinates


@dataclass(frozen=True, slots=True)
class EntityDef:
    kind: str
    slug: str
    name: str
    country: str  # a country slug or ""
    names: tuple[str, ...]  # terms that name it by themselves
    cue_names: tuple[str, ...]  # terms that name it only beside a word of its kind
    latitude: float | None
    longitude: float | None
    geonameid: int | None
    path: tuple[tuple[float, float], ...]  # a route's course, [lat, lon] points
    imo: int | None
    ice_class: str
    operator: str
    description: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.slug}"


@dataclass(frozen=True, slots=True)
class Cues:
    """Folded words that make an ambiguous name a thing of one kind (see data/cues.toml)."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    fillers: tuple[str, ...]


def imo_valid(number: int) -> bool:
    """An IMO ship number: seven digits whose last is the check digit (the first six
    weighted 7..2, summed, modulo 10)."""
    digits = str(number)
    if len(digits) != 7 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(digits[6])


def _text(path: Path, entry: str, raw: Mapping[str, Any], key: str, required: bool) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise DataError(path, entry, f"{key} wants a non-empty string, not {value!r}")
    return value.strip()


def _terms(path: Path, entry: str, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise DataError(path, entry, f"{key} wants a list of terms")
    return tuple(check_term(path, f"{entry}.{key}", t) for t in value)


def _coordinate(path: Path, entry: str, value: Any, limit: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > limit:
        raise DataError(path, entry, f"{what} wants a number within ±{limit}, not {value!r}")
    return float(value)


def _entity(path: Path, kind: str, index: int, raw: Any) -> EntityDef:
    entry = f"entity[{index}]"
    if not isinstance(raw, dict):
        raise DataError(path, entry, "wants a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DataError(path, entry, f"unknown keys {sorted(unknown)}")
    slug = _text(path, entry, raw, "slug", True)
    entry = f"{entry} ({slug})"
    if not _SLUG.match(slug):
        raise DataError(path, entry, f"slug {slug!r} wants lower-case letters, digits, hyphens")
    country = _text(path, entry, raw, "country", False)
    if country and country not in COUNTRY_SLUGS:
        raise DataError(path, entry, f"unknown country {country!r}")
    names, cue_names = _terms(path, entry, raw, "names"), _terms(path, entry, raw, "cue_names")
    if not names and not cue_names:
        raise DataError(path, entry, "has no names to be found by")
    lat, lon = raw.get("latitude"), raw.get("longitude")
    if (lat is None) != (lon is None):
        raise DataError(path, entry, "wants both latitude and longitude, or neither")
    if lat is not None:
        lat = _coordinate(path, entry, lat, 90.0, "latitude")
        lon = _coordinate(path, entry, lon, 180.0, "longitude")
    elif kind in _WITH_PLACE:
        raise DataError(path, entry, f"a {kind} wants latitude and longitude")
    points = raw.get("path", [])
    if not isinstance(points, list) or any(not isinstance(p, list) or len(p) != 2 for p in points):
        raise DataError(path, entry, "path wants a list of [latitude, longitude] pairs")
    course = tuple(
        (_coordinate(path, entry, a, 90.0, "path"), _coordinate(path, entry, b, 180.0, "path"))
        for a, b in points
    )
    imo = raw.get("imo")
    if imo is not None and (kind != "vessel" or not isinstance(imo, int) or not imo_valid(imo)):
        raise DataError(path, entry, f"imo {imo!r} is no valid IMO number of a vessel")
    geonameid = raw.get("geonameid")
    if geonameid is not None and (not isinstance(geonameid, int) or geonameid <= 0):
        raise DataError(path, entry, f"geonameid {geonameid!r} wants a positive integer")
    for key in ("ice_class", "operator"):
        if raw.get(key) and kind != "vessel":
            raise DataError(path, entry, f"{key} is a vessel's fact")
    return EntityDef(
        kind=kind,
        slug=slug,
        name=_text(path, entry, raw, "name", True),
        country=country,
        names=names,
        cue_names=cue_names,
        latitude=lat,
        longitude=lon,
        geonameid=geonameid,
        path=course,
        imo=imo,
        ice_class=_text(path, entry, raw, "ice_class", False),
        operator=_text(path, entry, raw, "operator", False),
        description=_text(path, entry, raw, "description", False),
        source=_text(path, entry, raw, "source", True),
    )


def load_catalogue(data_dir: Path = DATA_DIR) -> tuple[EntityDef, ...]:
    """Every entry of every kind's file, validated: slugs unique per kind, terms in the
    tagger's syntax, coordinates in range, IMO numbers with a valid check digit."""
    out: list[EntityDef] = []
    for filename, kind in FILES.items():
        path = data_dir / filename
        raw = read_toml(path)
        unknown = set(raw) - {"entity"}
        if unknown:
            raise DataError(path, "(top level)", f"unknown tables {sorted(unknown)}")
        seen: set[str] = set()
        for i, item in enumerate(raw.get("entity", [])):
            entity = _entity(path, kind, i, item)
            if entity.slug in seen:
                raise DataError(path, entity.slug, "slug listed twice")
            seen.add(entity.slug)
            out.append(entity)
    return tuple(out)


def load_cues(data_dir: Path = DATA_DIR) -> Mapping[str, Cues]:
    """Cue words by entity kind (``vessel``, ``port``; a port's cues serve places too)."""
    path = data_dir / "cues.toml"
    raw = read_toml(path)
    out = {}
    for kind, table in raw.items():
        if (kind not in FILES.values() and kind not in {SHIP_CLASS, PERSON}) or not isinstance(
            table, dict
        ):
            raise DataError(path, kind, "wants a table named after a kind of entity")
        lists = []
        for key in ("before", "after", "fillers"):
            words = table.get(key, [])
            if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
                raise DataError(path, f"{kind}.{key}", "wants a list of words")
            lists.append(tuple(words))
        out[kind] = Cues(*lists)
    return out


@cache
def catalogue() -> tuple[EntityDef, ...]:
    return load_catalogue()
