"""Words of the related box: its vocabulary (data, ``vocabulary.toml``) and the term of a word
as written (folded, and stemmed by ``feeds.text.stemming``, the light stemmer search shares).
Pure: no Django, no database, no network.

Owns: reading and checking the vocabulary file, ``term``, the concept table (which
terms signal which subject) and the word classes the profile weighs differently (country
words, place names, generic words). May import: the standard library, the tagger's
gazetteer (pure data, for place names) and ``feeds.text``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from feeds.tagging import gazetteer
from feeds.text.keys import LETTER_FOLDS
from feeds.text.stemming import stem

VOCABULARY_FILE: Final = Path(__file__).with_name("vocabulary.toml")

WORD: Final = re.compile(r"[^\W\d_]{2,}")
_COMBINING: Final = re.compile(r"[\u0300-\u036f]")
_FOLD: Final = str.maketrans(LETTER_FOLDS)  # the same letters as the tagger and the keys
_NORM_LIMIT: Final = 300_000  # bound the memo's memory in a long-running worker


class VocabularyError(ValueError):
    """The vocabulary file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Concept:
    name: str
    words: tuple[str, ...]
    phrases: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Theme:
    name: str
    label: str
    concepts: tuple[str, ...]
    words: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    stopwords: frozenset[str]
    country_words: frozenset[str]
    geo_words: frozenset[str]
    generic_words: frozenset[str]
    concepts: tuple[Concept, ...]
    themes: tuple[Theme, ...] = ()


def _words(data: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, str):
        raise VocabularyError(f"{where}: {key!r} must be a string of words")
    words = tuple(value.split())
    bad = [w for w in words if w != w.lower()]
    if bad:
        raise VocabularyError(f"{where}: {key!r} must be lower-case, not {bad[:3]}")
    return words


def parse_vocabulary(text: str) -> Vocabulary:
    """The vocabulary from the text of a TOML file; ``VocabularyError`` says what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"vocabulary: {exc}") from None
    raw_concepts = data.get("concepts")
    if not isinstance(raw_concepts, dict) or not raw_concepts:
        raise VocabularyError("vocabulary: [concepts] must list at least one concept")
    concepts = []
    for name, spec in raw_concepts.items():
        where = f"concepts.{name}"
        if not isinstance(spec, dict):
            raise VocabularyError(f"{where}: must be a table with words (and phrases)")
        phrases = []
        raw_phrases = spec.get("phrases", [])
        if not isinstance(raw_phrases, list):
            raise VocabularyError(f"{where}: phrases must be a list")
        for phrase in raw_phrases:
            parts = phrase.split() if isinstance(phrase, str) else []
            if len(parts) != 2:
                raise VocabularyError(f"{where}: phrase {phrase!r} must be two words")
            phrases.append((parts[0], parts[1]))
        concepts.append(Concept(name, _words(spec, "words", where), tuple(phrases)))
    names = {c.name for c in concepts}
    themes = []
    raw_themes = data.get("themes", {})
    if not isinstance(raw_themes, dict):
        raise VocabularyError("vocabulary: [themes] must be a table of themes")
    for name, spec in raw_themes.items():
        where = f"themes.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("label"), str):
            raise VocabularyError(f"{where}: must be a table with a label, concepts and words")
        members = spec.get("concepts", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise VocabularyError(f"{where}: concepts must be a list of concept names")
        unknown = [m for m in members if m not in names]
        if unknown:
            raise VocabularyError(f"{where}: unknown concepts {unknown}")
        themes.append(Theme(name, spec["label"], tuple(members), _words(spec, "words", where)))
    return Vocabulary(
        stopwords=frozenset(_words(data, "stopwords", "vocabulary")),
        country_words=frozenset(_words(data, "country_words", "vocabulary")),
        geo_words=frozenset(_words(data, "geo_words", "vocabulary")),
        generic_words=frozenset(_words(data, "generic_words", "vocabulary")),
        concepts=tuple(concepts),
        themes=tuple(themes),
    )


VOCABULARY: Final = parse_vocabulary(VOCABULARY_FILE.read_text(encoding="utf-8"))
STOPWORDS: Final = VOCABULARY.stopwords
COUNTRY_WORDS: Final = VOCABULARY.country_words

_NORM: dict[str, str] = {}  # word as written → its term, "" for a stopword


def clear() -> None:
    """Forget the memo of words seen (tests; a worker bounds it by itself)."""
    _NORM.clear()


def term(word: str) -> str:
    """The term of a word as written: folded, stemmed; "" for stopwords and short words."""
    got = _NORM.get(word)
    if got is not None:
        return got
    w = word.casefold()
    if not w.isascii():
        w = _COMBINING.sub("", unicodedata.normalize("NFKD", w)).translate(_FOLD)
    result = "" if len(w) < 3 or w in STOPWORDS else stem(w)
    if len(_NORM) > _NORM_LIMIT:
        _NORM.clear()
    _NORM[word] = result
    return result


def _concept_table(concepts: tuple[Concept, ...]) -> dict[str, tuple[str, ...]]:
    """Term or word pair ("sea ice") → the concepts it signals ("~ice")."""
    table: dict[str, list[str]] = defaultdict(list)
    for concept in concepts:
        keys = [term(w) for w in concept.words]
        for a, b in concept.phrases:
            ta, tb = term(a), term(b)
            if ta and tb:
                keys.append(f"{ta} {tb}")
        for key in keys:
            if key and "~" + concept.name not in table[key]:
                table[key].append("~" + concept.name)
    return {k: tuple(v) for k, v in table.items()}


def _place_terms() -> frozenset[str]:
    """One-word place names and demonyms of the tagger's gazetteer (Latin script)."""
    out: set[str] = set()
    for kinds in gazetteer.GAZETTEER.values():
        for kind in ("place", "capital", "name", "demonym", "people"):
            for name in kinds.get(kind, ()):
                name = name.lstrip("=!")
                if "*" in name or " " in name or not WORD.fullmatch(name):
                    continue
                if name.isascii() or name[0].isascii():
                    word = term(name)
                    if word:
                        out.add(word)
    return frozenset(out)


CONCEPT_OF: Final = _concept_table(VOCABULARY.concepts)
# A concept's words as written, for the index query ("capelin" also asks for "fishing").
CONCEPT_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "~" + c.name: tuple(w for w in c.words if WORD.fullmatch(w)) for c in VOCABULARY.concepts
}
GEO_TERMS: Final = frozenset(term(w) for w in VOCABULARY.geo_words)
PLACE_TERMS: Final = (_place_terms() | GEO_TERMS) - frozenset(CONCEPT_OF)
GENERIC_TERMS: Final = frozenset(term(w) for w in VOCABULARY.generic_words) - frozenset(CONCEPT_OF)


def _theme_table(vocab: Vocabulary) -> dict[str, tuple[str, ...]]:
    """Term or concept ("~defence") → the broad themes it belongs to."""
    table: dict[str, list[str]] = defaultdict(list)
    for theme in vocab.themes:
        keys = ["~" + c for c in theme.concepts] + [term(w) for w in theme.words]
        for key in keys:
            if key and theme.name not in table[key]:
                table[key].append(theme.name)
    return {k: tuple(v) for k, v in table.items()}


THEME_OF: Final = _theme_table(VOCABULARY)
THEME_LABELS: Final = {t.name: t.label for t in VOCABULARY.themes}
