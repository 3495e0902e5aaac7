"""One definition per country and per topic, read from ``feeds/tagging/data/``.

A country is one file, ``data/countries/<slug>.toml``: its name and description, languages,
how feeds label it, the outlets based there, its shape on the home page's map and its
gazetteer terms. Topics are ``data/topics.toml``. Adding a country is that one file plus a
migration creating its vocabulary row (``feeds.models.Country``).

Pure: reads TOML with the standard library, imports no Django. Every file is validated on
load; a mistake raises ``DataError`` naming the file and the entry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "COUNTRIES",
    "COUNTRY_SLUGS",
    "DATA_DIR",
    "KINDS",
    "TOPICS",
    "TOPIC_SLUGS",
    "CountryDef",
    "DataError",
    "MapShape",
    "TopicDef",
    "check_term",
    "load_countries",
    "load_topics",
    "read_toml",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

# The kinds of gazetteer term a country file may list (their weights are in rules.toml).
KINDS: tuple[str, ...] = (
    "name",
    "place",
    "institution",
    "person",
    "people",
    "capital",
    "company",
    "demonym",
    "minor",
)

_SLUG = re.compile(r"^[a-z][a-z0-9-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_WORDLIKE = re.compile(r"[^\W_]")


class DataError(ValueError):
    """A data file that cannot be used, with the file and the entry at fault."""

    def __init__(self, path: Path, entry: str, problem: str) -> None:
        self.path, self.entry, self.problem = path, entry, problem
        super().__init__(f"{path}: {entry}: {problem}")


@dataclass(frozen=True, slots=True)
class MapShape:
    order: int  # drawing order (later shapes are drawn over earlier ones)
    path: str  # SVG path data in the map's 800×800 viewBox
    label_x: int
    label_y: int
    anchor: str  # "middle"; "start" or "end" for labels set beside what they name
    dot: tuple[int, int] | None  # a leader line to this point, for small countries

    @property
    def leader_start(self) -> tuple[int, int]:
        """Where the leader line to ``dot`` leaves the label (just beside its first line)."""
        return self.label_x + (6 if self.anchor == "end" else -6), self.label_y - 8


@dataclass(frozen=True, slots=True)
class CountryDef:
    slug: str
    name: str
    description: str
    languages: tuple[str, ...]
    category_labels: tuple[str, ...]
    label_aliases: tuple[str, ...]
    outlets: tuple[str, ...]
    map: MapShape | None
    terms: Mapping[str, tuple[str, ...]]  # kind → terms, in file order
    path: Path


@dataclass(frozen=True, slots=True)
class TopicDef:
    slug: str
    name: str
    description: str
    tiers: tuple[tuple[float, tuple[str, ...]], ...]  # (weight, terms), strongest first


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, "file", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise DataError(path, "file", f"cannot be read ({exc.strerror})") from None


def check_term(path: Path, entry: str, term: Any) -> str:
    """A gazetteer term: a non-empty string with at least one letter or digit; "=" or "!"
    only as its first character; "*" only at the end of a word."""
    if not isinstance(term, str) or not term.strip():
        raise DataError(path, entry, f"{term!r} is not a non-empty string")
    body = term[1:] if term[:1] in "=!" else term
    if not _WORDLIKE.search(body):
        raise DataError(path, entry, f"{term!r} has no letter or digit to match")
    if "=" in body[:1] or "!" in body[:1]:
        raise DataError(path, entry, f"{term!r}: '=' or '!' may only start a term")
    for word in body.split():
        if "*" in word.rstrip("*") or word == "*":
            raise DataError(path, entry, f"{term!r}: '*' may only end a word")
        if term[:1] in "=!" and "*" in word:
            raise DataError(path, entry, f"{term!r}: a case-sensitive term cannot be a stem")
    return term


def _string(path: Path, entry: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, entry, f"wants a non-empty string, not {value!r}")
    return value


def _strings(path: Path, entry: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise DataError(path, entry, f"wants a list of strings, not {type(value).__name__}")
    return tuple(_string(path, f"{entry}[{i}]", v) for i, v in enumerate(value))


def _lower_case(path: Path, entry: str, value: Any) -> tuple[str, ...]:
    labels = _strings(path, entry, value)
    for i, label in enumerate(labels):
        if label != label.casefold():
            raise DataError(path, f"{entry}[{i}]", f"{label!r} must be lower case")
    return labels


def _int_pair(path: Path, entry: str, value: Any) -> tuple[int, int]:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and 0 <= v <= 800 for v in value)
    ):
        raise DataError(path, entry, f"wants [x, y] within the 800×800 map, not {value!r}")
    return value[0], value[1]


def _map(path: Path, raw: Any) -> MapShape | None:
    if raw is None:
        return None  # a country may be left off the map
    if not isinstance(raw, dict):
        raise DataError(path, "map", "wants a table")
    unknown = set(raw) - {"order", "path", "label", "anchor", "dot"}
    if unknown:
        raise DataError(path, "map", f"unknown keys {sorted(unknown)}")
    order = raw.get("order")
    if not isinstance(order, int):
        raise DataError(path, "map.order", f"wants an integer, not {order!r}")
    shape = _string(path, "map.path", raw.get("path"))
    if not re.fullmatch(r"[MLZmlz0-9 .,\-]+", shape):
        raise DataError(path, "map.path", "only M, L and Z commands with numbers are drawn")
    x, y = _int_pair(path, "map.label", raw.get("label"))
    anchor = raw.get("anchor", "middle")
    if anchor not in {"middle", "start", "end"}:
        raise DataError(path, "map.anchor", f"'middle', 'start' or 'end', not {anchor!r}")
    dot = _int_pair(path, "map.dot", raw["dot"]) if "dot" in raw else None
    return MapShape(order, shape, x, y, anchor, dot)


def _country(path: Path) -> CountryDef:
    raw = read_toml(path)
    allowed = {
        "slug",
        "name",
        "description",
        "languages",
        "category_labels",
        "label_aliases",
        "outlets",
        "map",
        "terms",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise DataError(path, "file", f"unknown keys {sorted(unknown)}")
    slug = _string(path, "slug", raw.get("slug"))
    if not _SLUG.match(slug) or slug != path.stem:
        raise DataError(path, "slug", f"{slug!r} must be lower-case and match the file name")
    languages = _strings(path, "languages", raw.get("languages", []))
    for i, code in enumerate(languages):
        if not _LANGUAGE.match(code):
            raise DataError(path, f"languages[{i}]", f"{code!r} is not an ISO 639 code")
    labels = _lower_case(path, "category_labels", raw.get("category_labels", []))
    aliases = _lower_case(path, "label_aliases", raw.get("label_aliases", []))
    terms_raw = raw.get("terms", {})
    if not isinstance(terms_raw, dict):
        raise DataError(path, "terms", "wants a table of kind = [terms]")
    terms: dict[str, tuple[str, ...]] = {}
    for kind, values in terms_raw.items():
        if kind not in KINDS:
            raise DataError(path, f"terms.{kind}", f"unknown kind (one of {', '.join(KINDS)})")
        listed = _strings(path, f"terms.{kind}", values)
        terms[kind] = tuple(check_term(path, f"terms.{kind}[{i}]", t) for i, t in enumerate(listed))
    return CountryDef(
        slug=slug,
        name=_string(path, "name", raw.get("name")),
        description=str(raw.get("description", "")),
        languages=languages,
        category_labels=labels,
        label_aliases=aliases,
        outlets=_strings(path, "outlets", raw.get("outlets", [])),
        map=_map(path, raw.get("map")),
        terms=terms,
        path=path,
    )


def load_countries(directory: Path = DATA_DIR / "countries") -> tuple[CountryDef, ...]:
    """Every ``<slug>.toml`` in ``directory``, by slug."""
    countries = tuple(_country(p) for p in sorted(directory.glob("*.toml")))
    if not countries:
        raise DataError(directory, "directory", "holds no country file")
    seen: dict[str, Path] = {}
    for country in countries:
        for label in country.category_labels:
            if label in seen:
                raise DataError(
                    country.path, "category_labels", f"{label!r} is also in {seen[label]}"
                )
            seen[label] = country.path
    named: dict[str, Path] = {}  # what a printed label can name: one country only
    for country in countries:
        for label in sorted({country.name.casefold(), *country.category_labels}):
            named[label] = country.path
    for country in countries:
        for label in country.label_aliases:
            if named.setdefault(label, country.path) != country.path:
                raise DataError(
                    country.path, "label_aliases", f"{label!r} also names {named[label]}"
                )
    orders = [c.map.order for c in countries if c.map]
    if len(orders) != len(set(orders)):
        raise DataError(directory, "map.order", "two countries share a drawing order")
    return countries


def load_topics(path: Path = DATA_DIR / "topics.toml") -> tuple[TopicDef, ...]:
    raw = read_toml(path)
    topics: list[TopicDef] = []
    for slug, spec in raw.items():
        if not _SLUG.match(slug) or not isinstance(spec, dict):
            raise DataError(path, slug, "wants a [slug] table with a lower-case slug")
        tiers: list[tuple[float, tuple[str, ...]]] = []
        for i, tier in enumerate(spec.get("tier", [])):
            entry = f"{slug}.tier[{i}]"
            weight = tier.get("weight") if isinstance(tier, dict) else None
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
                raise DataError(path, f"{entry}.weight", f"wants a positive number: {weight!r}")
            listed = _strings(path, f"{entry}.terms", tier.get("terms"))
            terms = tuple(check_term(path, f"{entry}.terms[{j}]", t) for j, t in enumerate(listed))
            if any(w == weight for w, _ in tiers):
                raise DataError(path, f"{entry}.weight", f"a second tier of weight {weight}")
            tiers.append((float(weight), terms))
        topics.append(
            TopicDef(
                slug=slug,
                name=_string(path, f"{slug}.name", spec.get("name")),
                description=str(spec.get("description", "")),
                tiers=tuple(tiers),
            )
        )
    return tuple(topics)


COUNTRIES: tuple[CountryDef, ...] = load_countries()
TOPICS: tuple[TopicDef, ...] = load_topics()
COUNTRY_SLUGS: tuple[str, ...] = tuple(c.slug for c in COUNTRIES)
TOPIC_SLUGS: tuple[str, ...] = tuple(t.slug for t in TOPICS)
