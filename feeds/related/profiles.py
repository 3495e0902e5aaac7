"""What a story is about, as weighted terms: profiles, term statistics and their similarity.
Pure: no Django, no database, no network.

Owns: ``Profile`` (headline-and-lead terms: words lightly stemmed, word pairs, headline words
three times a lead word's weight, names half as much again, country words a third), the
per-process cache of candidates' profiles, ``Corpus`` (document frequencies, idf), the
weighted vectors and their cosine, the words asked of the full-text index, and a story's
profile as stored with it (``stored_columns``: its terms for the index and its weights,
under ``PROFILE_VERSION``).
May import: the standard library, ``feeds.related.words`` and ``feeds.text.keys`` (its
letter folds, part of what a stored profile depends on).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from feeds.related.words import (
    CONCEPT_OF,
    CONCEPT_WORDS,
    COUNTRY_WORDS,
    GENERIC_TERMS,
    GEO_TERMS,
    PLACE_TERMS,
    STOPWORDS,
    THEME_OF,
    WORD,
    term,
)
from feeds.text.keys import LETTER_FOLDS

# Term weights.
TITLE_WEIGHT: Final = 3.0
TITLE_WORDS: Final = 60
LEAD_WORDS: Final = 90  # the lead: what a story is about; later words are passing mentions
# What a profile reads, cut in the database (HTML, so a little more than 90 words): the
# teaser, and the body's opening only when the teaser is short.
SUMMARY_CHARS: Final = 1200
CONTENT_CHARS: Final = 1500
SHORT_SUMMARY: Final = 400  # HTML characters
SHORT_LEAD: Final = 200  # plain-text characters
PAIR_WEIGHT: Final = 0.6
NAME_BOOST: Final = 1.5
COUNTRY_WORD_WEIGHT: Final = 0.3
GENERIC_WEIGHT: Final = 0.3
CONCEPT_WEIGHT: Final = 1.0
PLACE_WEIGHT: Final = 0.4  # a town's name says where, not what ("Tromsø hospital")

# The index query.
QUERY_TERMS: Final = 10  # most informative terms in the index query
QUERY_CONCEPTS: Final = 2  # … plus the commonest words of the story's main subjects
QUERY_CONCEPT_WORDS: Final = 3
QUERY_MAX_DF: Final = 0.05  # words in more of the recent stories than this are not asked for …
QUERY_MIN_DF: Final = 50  # … unless the corpus is so small that this many is more

IDF_MIN_STORIES: Final = 200
PROFILE_CACHE: Final = 8000

_TAG: Final = re.compile(r"<[^>]*>")
_SENTENCES: Final = re.compile(r"[.!?:;\"“”«»()\[\]—–\n]+")


def plain_text(fragment: str) -> str:
    """Text of an HTML fragment, line breaks kept: they end a sentence for word pairs."""
    if "<" in fragment:
        fragment = _TAG.sub(" ", fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    return fragment


def _kind_factor(t: str, names: set[str], place_weight: float = PLACE_WEIGHT) -> float:
    if t[0] == "~":
        return CONCEPT_WEIGHT
    if " " in t:
        a, b = t.split(" ", 1)
        if a in COUNTRY_WORDS or b in COUNTRY_WORDS:
            return COUNTRY_WORD_WEIGHT
        if a in GENERIC_TERMS or b in GENERIC_TERMS:
            return GENERIC_WEIGHT
        if a in PLACE_TERMS and b in PLACE_TERMS:
            return PLACE_WEIGHT if a in GEO_TERMS or b in GEO_TERMS else place_weight
        return NAME_BOOST if a in names and b in names else 1.0
    if t in COUNTRY_WORDS:
        return COUNTRY_WORD_WEIGHT
    if t in GENERIC_TERMS:
        return GENERIC_WEIGHT
    if t in PLACE_TERMS:
        return PLACE_WEIGHT if t in GEO_TERMS else place_weight
    return NAME_BOOST if t in names else 1.0


@dataclass
class Vector:
    weights: dict[str, float]
    norm: float


@dataclass
class Profile:
    """What a story is about: its headline-and-lead terms, weighted before rarity (idf)."""

    base: dict[str, float]  # term → log(1 + count) × kind factor
    surface: dict[str, str] = field(default_factory=dict)  # term → a word as written
    vector: Vector | None = None  # with idf, for the corpus generation below
    generation: int = -1

    _themes: dict[str, float] | None = None

    @property
    def themes(self) -> dict[str, float]:
        """Broad themes ("security") and their share of the profile's theme words (sum 1)."""
        if self._themes is None:
            found: dict[str, float] = {}
            for t, weight in self.base.items():
                for theme in THEME_OF.get(t, ()):
                    found[theme] = found.get(theme, 0.0) + weight
            total = sum(found.values())
            self._themes = {k: v / total for k, v in found.items()} if total else {}
        return self._themes

    def main_themes(self, share: float) -> set[str]:
        """The themes weighing at least ``share`` of the strongest one."""
        themes = self.themes
        top = max(themes.values(), default=0.0)
        return {k for k, v in themes.items() if top and v >= share * top}

    @classmethod
    def of(
        cls,
        title: str,
        summary: str,
        content: str = "",
        *,
        surface: bool = False,
        place_weight: float = PLACE_WEIGHT,
    ) -> Profile:
        """``summary`` and ``content`` are HTML; the content counts only if the teaser is short.
        ``place_weight``: a named place's weight beside a word's (storylines weigh places as
        words: where an event happened is part of which event it is); "river", "region" and
        the other geographic words keep ``PLACE_WEIGHT``."""
        tf: dict[str, float] = {}
        names: set[str] = set()
        words: dict[str, str] | None = {} if surface else None
        lead = plain_text(summary or "")
        if len(lead) < SHORT_LEAD and content:
            lead = (lead + " " + plain_text(content[:CONTENT_CHARS])).strip()
        _count(title or "", TITLE_WEIGHT, TITLE_WORDS, tf, None, words)
        _count(lead, 1.0, LEAD_WORDS, tf, names, words)
        base = {t: math.log1p(c) * _kind_factor(t, names, place_weight) for t, c in tf.items()}
        return cls(base, words or {})


def candidate_profile(title: str, summary: str, content: str) -> Profile:
    """The profile of a stored story as a candidate reads it: the teaser's first
    ``SUMMARY_CHARS`` characters, and the body's first ``CONTENT_CHARS`` only when the teaser
    is shorter than ``SHORT_SUMMARY`` (``candidates.text_columns`` cuts the same in SQL)."""
    summary = summary or ""
    body = (content or "")[:CONTENT_CHARS] if len(summary) < SHORT_SUMMARY else ""
    return Profile.of(title or "", summary[:SUMMARY_CHARS], body)


def story_profile(title: str, summary: str, content: str) -> Profile:
    """The profile of the story a box is for (its whole teaser, words as written kept)."""
    summary = (summary or "")[:2000]
    body = (content or "")[:3000] if len(summary) < SHORT_SUMMARY else ""
    return Profile.of(title, summary, body, surface=True)


def _count(
    text: str,
    weight: float,
    limit: int,
    tf: dict[str, float],
    names: set[str] | None,
    surface: dict[str, str] | None,
) -> None:
    """Add a text's terms, word pairs and concepts to ``tf``. Names are words capitalised
    inside a sentence; pairs never span a sentence boundary or a stopword."""
    n = 0
    for sentence in _SENTENCES.split(text):
        prev = ""
        first = True
        for m in WORD.finditer(sentence):
            if n >= limit:
                return
            n += 1
            word = m.group()
            t = term(word)
            if not t:
                prev = ""
                first = False
                continue
            tf[t] = tf.get(t, 0.0) + weight
            for concept in CONCEPT_OF.get(t, ()):
                tf[concept] = tf.get(concept, 0.0) + weight
            if names is not None and not first and word[0].isupper():
                names.add(t)
            if surface is not None and t not in surface:
                surface[t] = word.casefold()
            if prev:
                pair = prev + " " + t
                tf[pair] = tf.get(pair, 0.0) + weight * PAIR_WEIGHT
                for concept in CONCEPT_OF.get(pair, ()):
                    tf[concept] = tf.get(concept, 0.0) + weight
            prev = t
            first = False


# --- Profiles of stories seen lately ---------------------------------------------------------
# By id and text signature: a worker suggesting boxes meets the same candidates again and again.
_PROFILES: OrderedDict[int, tuple[object, Profile]] = OrderedDict()


def clear() -> None:
    """Forget the profiles of stories seen (tests; the cache bounds itself in a worker)."""
    _PROFILES.clear()


def signature(content_hash: str, title: str, summary: str, content: str) -> object:
    """What identifies a story's text. Ingest recomputes content_hash whenever the outlet
    changes the story; an editor may change the headline, and stories made elsewhere
    (tests, admin) may have no hash."""
    return (content_hash, title) if content_hash else (title, summary, content)


def profile(
    pk: int, sig: object, title: str, summary: str, content: str, stored: Profile | None = None
) -> Profile:
    """The profile of a stored story, from the cache when its text is unchanged; else the
    one stored with the story (``stored``), else made from the text."""
    hit = _PROFILES.get(pk)
    if hit is not None and hit[0] == sig:
        _PROFILES.move_to_end(pk)
        return hit[1]
    prof = stored if stored is not None else Profile.of(title, summary, content)
    _PROFILES[pk] = (sig, prof)
    if len(_PROFILES) > PROFILE_CACHE:
        _PROFILES.popitem(last=False)
    return prof


def is_cached(pk: int, content_hash: str, title: str) -> bool:
    """Is the profile of this story (as it is now) in the cache? Only stories with a
    content hash can be told apart without their text."""
    hit = _PROFILES.get(pk)
    return bool(content_hash) and hit is not None and hit[0] == (content_hash, title)


# --- Term statistics -------------------------------------------------------------------------


@dataclass
class Corpus:
    """Document frequencies of terms in a sample of recent stories."""

    n: int
    df: dict[str, int]
    generation: int
    # Where and when the sample was read (the cache's business): database, newest story id,
    # number of stories, monotonic time.
    db: tuple[object, ...] = ()
    top: int = 0
    size: int = 0
    at: float = 0.0
    # Every term's idf, made once per corpus, and the one idf of all the terms it lacks: a
    # cold box weighs the terms of a few hundred profiles, a dictionary lookup each.
    _idf: dict[str, float] | None = field(default=None, repr=False, compare=False)
    _unseen: float = field(default=0.0, repr=False, compare=False)

    def _rarity(self, df: int) -> float:
        # Rarity cannot be judged from a handful of stories (a new site): count as if there
        # were at least IDF_MIN_STORIES, the others not containing the term.
        n = max(self.n, IDF_MIN_STORIES)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def idfs(self) -> tuple[dict[str, float], float]:
        """Each term's idf, and the idf of a term in none of the stories."""
        if self._idf is None:
            self._idf = {t: self._rarity(df) for t, df in self.df.items()}
            self._unseen = self._rarity(0)
        return self._idf, self._unseen

    def idf(self, t: str) -> float:
        known, unseen = self.idfs()
        return known.get(t, unseen)


def vector(prof: Profile, corpus: Corpus) -> Vector:
    """The profile weighted by rarity; kept on the profile until the corpus changes."""
    if prof.vector is None or prof.generation != corpus.generation:
        known, unseen = corpus.idfs()
        weights = {t: b * known.get(t, unseen) for t, b in prof.base.items()}
        prof.vector = Vector(weights, math.sqrt(sum(w * w for w in weights.values())) or 1.0)
        prof.generation = corpus.generation
    return prof.vector


def cosine(a: Vector, b: Vector) -> float:
    small, big = (a, b) if len(a.weights) < len(b.weights) else (b, a)
    bw = big.weights
    dot = sum(w * bw[t] for t, w in small.weights.items() if t in bw)
    return dot / (a.norm * b.norm)


def query_words(prof: Profile, vec: Vector, corpus: Corpus) -> list[str]:
    """Words for the index query: the story's most informative words as written, plus the
    commonest words of its main subjects ("capelin" also asks for "fishing" and "cod").

    Only selective words: one that is in more than ``QUERY_MAX_DF`` of recent stories would
    make the index return (and ``ts_rank`` score) a large part of the table.
    """
    limit = max(QUERY_MAX_DF * corpus.n, QUERY_MIN_DF)

    def selective(t: str) -> bool:
        return corpus.df.get(t, 0) <= limit

    ranked = sorted(vec.weights, key=lambda t: -vec.weights[t])
    singles = [
        t
        for t in ranked
        if " " not in t and t[0] != "~" and t not in COUNTRY_WORDS and selective(t)
    ]
    words: list[str] = []
    for t in singles[:QUERY_TERMS]:
        for w in (prof.surface.get(t, t), t):
            if WORD.fullmatch(w):
                words.append(w)
    concepts = [t for t in ranked if t[0] == "~"][:QUERY_CONCEPTS]
    for concept in concepts:
        members = [w for w in CONCEPT_WORDS[concept] if selective(term(w))]
        members.sort(key=lambda w: -corpus.df.get(term(w), 0))
        words += [w for w in members[:QUERY_CONCEPT_WORDS] if term(w) in corpus.df]
    return list(dict.fromkeys(words))


# --- A profile stored with its story -------------------------------------------------------
# Each story row keeps its candidate profile (``Story.related_profile``) and its single terms
# as a tsvector (``Story.related_terms``), written with its text: a box then neither reads
# nor re-derives the texts of its candidates, and the candidate index holds only the words
# a profile is made of (not every word of every body). A stored profile is valid only under
# the vocabulary and weights that made it: ``PROFILE_VERSION`` fingerprints them (the word
# tables are stemmed, so a change of the stemmer that touches their words shows too; bump
# ``PROFILE_CODE`` when the counting code, or the stemmer otherwise, changes); one made under
# another is read as missing, and the profile is made from the text again.
PROFILE_CODE: Final = 1
# ts_rank's weights of a stored term (A 1.0, B 0.4, C 0.2, D 0.1), from its profile weight:
# A for a headline word (log(1 + 3) × 1), B for a lead word, C for a weak one (a town's name,
# a generic or country word), D for the weakest. The index orders its matches with them.
TERM_CLASSES: Final = ((1.2, "A"), (0.6, "B"), (0.25, "C"))


def _fingerprint() -> str:
    parts = (
        PROFILE_CODE,
        WORD.pattern,
        _SENTENCES.pattern,
        sorted(STOPWORDS),
        sorted(COUNTRY_WORDS),
        sorted(GENERIC_TERMS),
        sorted(PLACE_TERMS),
        sorted(CONCEPT_OF.items()),
        sorted(THEME_OF.items()),
        sorted(LETTER_FOLDS.items()),
        (TITLE_WEIGHT, TITLE_WORDS, LEAD_WORDS, SUMMARY_CHARS, CONTENT_CHARS, SHORT_SUMMARY),
        (SHORT_LEAD, PAIR_WEIGHT, NAME_BOOST, COUNTRY_WORD_WEIGHT, GENERIC_WEIGHT),
        (CONCEPT_WEIGHT, PLACE_WEIGHT, TERM_CLASSES),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


PROFILE_VERSION: Final = _fingerprint()


def _lexeme(t: str) -> str:
    return "'" + t.replace("\\", "\\\\").replace("'", "''") + "'"


def stored_columns(title: str, summary: str, content: str) -> tuple[str, str]:
    """A story's terms (tsvector text: each single term once, weighted by ``TERM_CLASSES``)
    and its candidate profile (``PROFILE_VERSION``, a tab, then as JSON its weights, in the
    profile's own order, and its themes, floats exact), from its headline, teaser and body."""
    made = candidate_profile(title, summary, content)
    base = made.base
    lexemes: list[str] = []
    for t, weight in base.items():
        if " " in t or t[0] == "~":
            continue  # word pairs and concepts are scored, never looked up
        label = next((label for floor, label in TERM_CLASSES if weight >= floor), "D")
        lexemes.append(f"{_lexeme(t)}:{len(lexemes) + 1}{label}")
    stored = json.dumps([base, made.themes], ensure_ascii=False, separators=(",", ":"))
    return " ".join(lexemes), f"{PROFILE_VERSION}\t{stored}"


def from_stored(stored: str | None) -> Profile | None:
    """The profile stored with a story, or None when there is none or it is out of date."""
    if not stored:
        return None
    version, tab, weights = stored.partition("\t")
    if not tab or version != PROFILE_VERSION:
        return None
    base, themes = json.loads(weights)
    return Profile(base, _themes=themes)


def query_lexemes(words: list[str]) -> str:
    """The index query (tsquery text) for words as written: their terms, OR-ed."""
    terms = dict.fromkeys(t for t in map(term, words) if t)
    return " | ".join(_lexeme(t) for t in terms)
