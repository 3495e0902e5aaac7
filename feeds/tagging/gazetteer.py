"""The tagger's knowledge, read from the data files in ``feeds/tagging/data/``.

Editors and contributors extend the data, not this module (``data/README.md`` explains the
files and the term syntax). Everything is validated when it is read: a bad entry raises
``DataError`` naming its file and entry, so a mistake stops start-up instead of silently
tagging wrong. This module turns the files into the plain tables ``feeds.tagging.tagger``
builds its matchers from.

Pure: standard library only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from feeds.tagging.countries import (
    COUNTRIES,
    COUNTRY_SLUGS,
    DATA_DIR,
    KINDS,
    TOPIC_SLUGS,
    TOPICS,
    DataError,
    check_term,
    read_toml,
)

__all__ = [
    "ACTOR_AFTER",
    "EXPERT_AFTER",
    "FINDING_VERBS",
    "CATEGORY_COUNTRIES",
    "CATEGORY_NOISE",
    "CATEGORY_TOPICS",
    "COMPARISON_AFTER",
    "COMPARISON_AFTER_POSSESSIVE",
    "COMPARISON_BEFORE",
    "COMPARISON_GLUE",
    "COUNTERPART_BEFORE",
    "FALLBACK_TOPIC",
    "GAZETTEER",
    "HOMES",
    "KIND_WEIGHTS",
    "LIST_JOINERS",
    "LOCATIVE_BEFORE",
    "NEUTRAL_TERMS",
    "OPINION_BEFORE",
    "OUTLETS",
    "OUTLET_STRONG",
    "REALM",
    "REALM_PEOPLES",
    "SHARED_TERMS",
    "SPEAKER_AFTER",
    "SPREAD_TERMS",
    "TOPIC_TERMS",
    "TYPO_MIN_LENGTH",
    "TYPO_WEIGHT",
    "DataError",
]


def _positive(path: Path, entry: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise DataError(path, entry, f"wants a positive number, not {value!r}")
    return float(value)


def _weights(path: Path, entry: str, value: Any) -> dict[str, float]:
    """{country slug: positive weight}, as in ``{ norway = 0.6 }``."""
    if not isinstance(value, dict):
        raise DataError(path, entry, f"wants a table of country = weight, not {value!r}")
    out: dict[str, float] = {}
    for country, weight in value.items():
        if country not in COUNTRY_SLUGS:
            raise DataError(path, entry, f"unknown country {country!r}")
        out[country] = _positive(path, f"{entry}.{country}", weight)
    return out


def _words(path: Path, entry: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
        raise DataError(path, entry, "wants a list of words")
    return frozenset(value)


def _table(path: Path, raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise DataError(path, key, "missing table")
    return value


# --- rules.toml: kind weights and the small words that change a mention's role -----------
_RULES = DATA_DIR / "rules.toml"
_rules = read_toml(_RULES)
_kinds = _table(_RULES, _rules, "kinds")
if set(_kinds) != set(KINDS):
    raise DataError(_RULES, "kinds", f"wants a weight for each of {', '.join(KINDS)}")
KIND_WEIGHTS: Final[dict[str, float]] = {
    k: _positive(_RULES, f"kinds.{k}", v) for k, v in _kinds.items()
}
_word_lists = _table(_RULES, _rules, "words")
COMPARISON_BEFORE: Final = _words(
    _RULES, "words.comparison_before", _word_lists.get("comparison_before")
)
COMPARISON_GLUE: Final = _words(_RULES, "words.comparison_glue", _word_lists.get("comparison_glue"))
COMPARISON_AFTER: Final = _words(
    _RULES, "words.comparison_after", _word_lists.get("comparison_after")
)
COMPARISON_AFTER_POSSESSIVE: Final = _words(
    _RULES, "words.comparison_after_possessive", _word_lists.get("comparison_after_possessive")
)
LOCATIVE_BEFORE: Final = _words(_RULES, "words.locative_before", _word_lists.get("locative_before"))
COUNTERPART_BEFORE: Final = _words(
    _RULES, "words.counterpart_before", _word_lists.get("counterpart_before")
)
LIST_JOINERS: Final = _words(_RULES, "words.list_joiners", _word_lists.get("list_joiners"))
OPINION_BEFORE: Final = _words(_RULES, "words.opinion_before", _word_lists.get("opinion_before"))
SPEAKER_AFTER: Final = _words(_RULES, "words.speaker_after", _word_lists.get("speaker_after"))
ACTOR_AFTER: Final = _words(_RULES, "words.actor_after", _word_lists.get("actor_after"))
EXPERT_AFTER: Final = _words(_RULES, "words.expert_after", _word_lists.get("expert_after"))
FINDING_VERBS: Final = _words(_RULES, "words.finding_verbs", _word_lists.get("finding_verbs"))
_typos = _table(_RULES, _rules, "typos")
TYPO_MIN_LENGTH: Final[int] = int(_positive(_RULES, "typos.min_length", _typos.get("min_length")))
TYPO_WEIGHT: Final[float] = _positive(_RULES, "typos.weight", _typos.get("weight"))
FALLBACK_TOPIC: Final[str] = _table(_RULES, _rules, "topics").get("fallback", "")
if FALLBACK_TOPIC not in TOPIC_SLUGS:
    raise DataError(_RULES, "topics.fallback", f"{FALLBACK_TOPIC!r} is not a topic slug")

# --- countries/<slug>.toml: each country's terms by kind -----------------------------------
GAZETTEER: Final[dict[str, dict[str, tuple[str, ...]]]] = {c.slug: dict(c.terms) for c in COUNTRIES}

# --- shared.toml: terms of several countries, spread over several, or of none -------------
_SHARED = DATA_DIR / "shared.toml"
_shared = read_toml(_SHARED)
SHARED_TERMS: Final[dict[str, dict[str, float]]] = {
    check_term(_SHARED, f"shared.{t!r}", t): _weights(_SHARED, f"shared.{t!r}", w)
    for t, w in _table(_SHARED, _shared, "shared").items()
}
SPREAD_TERMS: Final[dict[str, dict[str, float]]] = {
    check_term(_SHARED, f"spread.{t!r}", t): _weights(_SHARED, f"spread.{t!r}", w)
    for t, w in _table(_SHARED, _shared, "spread").items()
}
_realm = _table(_SHARED, _shared, "realm")
REALM: Final[dict[str, str]] = {}
for _state, _home in _table(_SHARED, _realm, "states").items():
    if _state not in COUNTRY_SLUGS or _home not in COUNTRY_SLUGS:
        raise DataError(_SHARED, f"realm.states.{_state}", f"wants country slugs, not {_home!r}")
    REALM[_state] = _home
REALM_PEOPLES: Final[frozenset[str]] = _words(_SHARED, "realm.peoples", _realm.get("peoples"))
if not REALM_PEOPLES <= set(SPREAD_TERMS):
    raise DataError(_SHARED, "realm.peoples", "wants terms of the [spread] table")
_neutral = _table(_SHARED, _shared, "neutral").get("terms")
if not isinstance(_neutral, list):
    raise DataError(_SHARED, "neutral.terms", "wants a list of terms")
NEUTRAL_TERMS: Final[tuple[str, ...]] = tuple(
    check_term(_SHARED, f"neutral.terms[{i}]", t) for i, t in enumerate(_neutral)
)

# --- outlets: a country's own (strong prior), then outlets.toml ----------------------------
_OUTLETS_FILE = DATA_DIR / "outlets.toml"
_outlets = read_toml(_OUTLETS_FILE)
OUTLET_STRONG: Final[float] = _positive(_OUTLETS_FILE, "strong", _outlets.get("strong"))
OUTLETS: Final[dict[str, dict[str, float]]] = {
    outlet: {c.slug: OUTLET_STRONG} for c in COUNTRIES for outlet in c.outlets
}
for _name, _prior in _table(_OUTLETS_FILE, _outlets, "outlets").items():
    if _name in OUTLETS:
        raise DataError(_OUTLETS_FILE, f"outlets.{_name!r}", "already a country's own outlet")
    OUTLETS[_name] = _weights(_OUTLETS_FILE, f"outlets.{_name!r}", _prior) if _prior else {}

HOMES: Final[dict[str, str]] = {}
for _name, _home in _outlets.get("homes", {}).items():
    if _home not in COUNTRY_SLUGS:
        raise DataError(_OUTLETS_FILE, f"homes.{_name!r}", f"unknown country {_home!r}")
    HOMES[_name] = _home

# --- categories.toml, and each country's category_labels -----------------------------------
_CATEGORIES = DATA_DIR / "categories.toml"
_categories = read_toml(_CATEGORIES)
CATEGORY_COUNTRIES: Final[dict[str, tuple[str, ...]]] = {
    label: (c.slug,) for c in COUNTRIES for label in c.category_labels
}
for _label, _members in _table(_CATEGORIES, _categories, "joint_countries").items():
    if not isinstance(_members, list) or any(m not in COUNTRY_SLUGS for m in _members):
        raise DataError(_CATEGORIES, f"joint_countries.{_label!r}", "wants country slugs")
    CATEGORY_COUNTRIES[_label] = tuple(_members)
CATEGORY_TOPICS: Final[dict[str, tuple[str, ...]]] = {}
for _label, _topics in _table(_CATEGORIES, _categories, "topics").items():
    if not isinstance(_topics, list) or any(t not in TOPIC_SLUGS for t in _topics):
        raise DataError(_CATEGORIES, f"topics.{_label!r}", f"wants topic slugs, not {_topics!r}")
    CATEGORY_TOPICS[_label] = tuple(_topics)
_noise = _table(_CATEGORIES, _categories, "noise").get("labels")
CATEGORY_NOISE: Final[frozenset[str]] = _words(_CATEGORIES, "noise.labels", _noise)

# --- topics.toml ---------------------------------------------------------------------------
TOPIC_TERMS: Final[dict[str, dict[float, tuple[str, ...]]]] = {
    t.slug: dict(t.tiers) for t in TOPICS
}
