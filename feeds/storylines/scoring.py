"""Whether a new story continues a storyline, and which: signatures, statistics, the score
and the choice. Pure: no Django, no database, no network.

Owns: ``Signature`` (a story's headline-and-lead terms as the related box reads them, plus its
anchors, its headline's names and whether it has a lead at all), ``Stats`` (how common each
key is in recent stories), ``Sketch`` (what the clusterer knows of a storyline: its summed
terms, its marks and its dates), ``score`` (shared distinctive terms, shared anchors for
stories in other languages, time proximity; stronger evidence for a headline alone),
``choose`` (the best storyline above the threshold, or none: start a new one), ``merge`` (a
storyline's terms after a story joins) and ``index_keys`` (the few keys a storyline is found
by).
May import: the standard library, ``feeds.related`` (profiles, words) and
``feeds.storylines.anchors``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from feeds.related.profiles import Profile, plain_text
from feeds.related.words import COUNTRY_WORDS, GENERIC_TERMS, WORD
from feeds.storylines.anchors import (
    RUSSIAN_STEM,
    capitalised_inside,
    find,
    is_name,
    is_place,
    names_place,
)

# A storyline is continued by stories published within WINDOW of its newest one; nearer
# counts more (events are told in days, developing subjects in weeks).
WINDOW: Final = timedelta(days=21)
NEAR: Final = timedelta(days=2)
FAR_FACTOR: Final = 0.5  # a story WINDOW after the storyline's newest counts this much
THRESHOLD: Final = 0.20  # join the best storyline scoring at least this (tuned on dev)
ANCHOR_SHARE: Final = 0.75  # anchors alone (another language) weigh this much of a full match
MIN_SHARED_ANCHORS: Final = 2
# A story whose headline names people, places or organisations the storyline never names is
# rarely its event, however alike their words ("border crossing closed" at Salla against
# Storskog's; "Ilulissat's new airport" against Nuuk's). Names in the lead do not count:
# they are often in passing (the university a study came from).
NO_SHARED_NAME: Final = 0.4
# A story about another country than every story of the storyline (the tagger's primary
# country) is another event on the same subject: Norway's cod quota is not Iceland's; unless
# its headline names a place the storyline names ("Tornio–Haparanda rail link electrified"
# in Finland, of the Swedish story on the border line).
OTHER_COUNTRY: Final = 0.5
COUNTRY_KEY: Final = "^"  # a storyline's terms hold its stories' primary countries so
HEADLINES_KEY: Final = "+headlines"  # … and this mark while all its stories are headlines
# Stories whose words in common are all places ("Lapland", "Nuuk") are two events there:
# a pair needs a thing in common that says what (not a place, a country's word, "record").
# A headline alone is a few words: a place and a common word shared by chance make a high
# cosine ("Severomorsk gets a new head of administration" against a Severomorsk fire). When
# the story or the storyline is headlines only, the pair needs THIN_SHARED distinct words in
# common (anchors across scripts), and its score counts THIN_FACTOR.
THIN_SHARED: Final = 2
THIN_FACTOR: Final = 0.85
# … and is told within days: a headline has too little in it to tie it to a subject that
# develops over weeks.
THIN_WINDOW: Final = timedelta(days=7)
LEAD_MIN_WORDS: Final = 6  # a teaser adding fewer words than this to the headline is no lead
ANCHOR_WEIGHT: Final = 1.2  # an anchor's weight beside a word's
NAME_WEIGHT: Final = 0.8
PLACE_WEIGHT: Final = 1.0  # a place's name as a word (the related box's profiles weigh it less)
NUMBER_WEIGHT: Final = 0.6
TITLE_ANCHOR: Final = 2.0  # an anchor in the headline counts this many times one in the lead
CYRILLIC_STEM: Final = RUSSIAN_STEM  # Russian words compare by their opening letters
SKETCH_TERMS: Final = 120  # a storyline keeps this many of its strongest terms
INDEX_KEYS: Final = 10  # … and is found by this many of them
QUERY_KEYS: Final = 12  # a new story asks the index for this many of its own
MIN_STORIES: Final = 200  # rarity is judged as if the sample had at least this many stories


@dataclass(frozen=True)
class Signature:
    """What a story is about: term → weight before rarity; keys of anchors start with
    ``@`` (curated), ``=`` (a name) or ``#`` (a number). ``headline_only``: the story has no
    lead (a feed item with no teaser, or one repeating the headline)."""

    terms: dict[str, float]
    published_at: datetime
    headline_only: bool = False
    headline_names: frozenset[str] = frozenset()  # its headline's names and named anchors
    country: str = ""  # its primary country's key ("^norway"), also in ``terms``


@dataclass
class Sketch:
    """A storyline as the clusterer knows it."""

    id: int
    terms: dict[str, float]
    first_published_at: datetime
    last_published_at: datetime
    title: str = ""
    title_set_by_editor: bool = False


@dataclass(frozen=True)
class Stats:
    """How many of ``n`` recent stories have each key."""

    n: int
    df: Mapping[str, int]
    _memo: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def idf(self, key: str) -> float:
        got = self._memo.get(key)
        if got is None:
            n = max(self.n, MIN_STORIES)
            df = self.df.get(key, 0)
            got = self._memo[key] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return got


def is_anchor(key: str) -> bool:
    return key[0] in "@=#"


def _is_country(key: str) -> bool:
    return key[0] == COUNTRY_KEY


def _is_mark(key: str) -> bool:
    """A storyline's marks (its countries, headlines only), not terms of what it is about."""
    return key[0] in "^+"


def _has_lead(title: str, lead: str) -> bool:
    seen = {w.casefold() for w in WORD.findall(title)}
    return sum(1 for w in WORD.findall(lead) if w.casefold() not in seen) >= LEAD_MIN_WORDS


def _stem(t: str) -> str:
    """Russian words by their opening letters; word pairs word by word."""
    if t.isascii():
        return t
    if " " in t:
        return " ".join(_stem(p) for p in t.split(" "))
    return t[:CYRILLIC_STEM] if "а" <= t[0] <= "я" or t[0] == "ё" else t


def signature(
    title: str, summary: str, content: str, published_at: datetime, country: str = ""
) -> Signature:
    """``summary`` and ``content`` are HTML, as stored; ``country`` the story's primary
    country (its slug), if it has one."""
    terms: dict[str, float] = {COUNTRY_KEY + country: 1.0} if country else {}
    for t, w in Profile.of(title, summary, content, place_weight=PLACE_WEIGHT).base.items():
        if t[0] == "~":
            continue  # broad subjects ("fishery") join unrelated events
        key = _stem(t)
        terms[key] = terms.get(key, 0.0) + w
    lead = plain_text(summary or "")
    if len(lead) < 200 and content:
        lead += " " + plain_text(content[:1500])
    names = capitalised_inside(f"{title}\n{lead}")
    counts = {key: n * TITLE_ANCHOR for key, n in find(title or "", names).items()}
    headline_names = frozenset(key for key in counts if is_name(key))
    for key, n in find(lead, names).items():
        counts[key] = counts.get(key, 0.0) + n
    for key, count in counts.items():
        kind = {"@": ANCHOR_WEIGHT, "=": NAME_WEIGHT}.get(key[0], NUMBER_WEIGHT)
        terms[key] = terms.get(key, 0.0) + math.log1p(count) * kind
    return Signature(
        terms,
        published_at,
        not _has_lead(title or "", lead),
        headline_names,
        COUNTRY_KEY + country if country else "",
    )


def weighted(terms: Mapping[str, float], stats: Stats) -> tuple[dict[str, float], float]:
    out = {t: w * stats.idf(t) for t, w in terms.items() if not _is_mark(t)}
    return out, math.sqrt(sum(v * v for v in out.values())) or 1.0


def time_factor(published_at: datetime, sketch: Sketch, window: timedelta = WINDOW) -> float:
    """1 within NEAR of the storyline's stories, falling to FAR_FACTOR at ``window``; 0
    beyond."""
    if published_at >= sketch.last_published_at:
        gap = published_at - sketch.last_published_at
    elif published_at <= sketch.first_published_at:
        gap = sketch.first_published_at - published_at
    else:
        gap = timedelta(0)
    if gap > window:
        return 0.0
    if gap <= NEAR:
        return 1.0
    return 1.0 - (1.0 - FAR_FACTOR) * (gap - NEAR) / (window - NEAR)


def better_title(sketch: Sketch, story_title: str) -> bool:
    """Should the storyline take this story's headline? Only a system title in Cyrillic, for a
    headline in Latin letters: the site's readers read English (a Russian first report names
    the storyline until an English one arrives)."""
    return (
        not sketch.title_set_by_editor
        and _mostly_cyrillic(sketch.title)
        and not _mostly_cyrillic(story_title)
    )


def _mostly_cyrillic(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if "а" <= c.lower() <= "я" or c in "ёЁ") > len(letters) / 2


def _cyrillic(t: str) -> bool:
    return not t.isascii() and ("а" <= t[0] <= "я" or t[0] == "ё")


def is_cyrillic_story(story: Mapping[str, float]) -> bool:
    words = [(t, w) for t, w in story.items() if not is_anchor(t) and not _is_mark(t)]
    return sum(w for t, w in words if _cyrillic(t)) > sum(w for t, w in words if not _cyrillic(t))


@dataclass(frozen=True)
class Line:
    """A storyline's terms read once for scoring a story against it, in one pass: weighted
    by rarity, their norm, its word weight by script, its anchors' weight, its countries and
    whether it names anyone."""

    terms: dict[str, float]
    norm: float
    cyrillic_words: float
    latin_words: float
    anchor_weight: float
    countries: frozenset[str]
    names: bool

    @classmethod
    def of(cls, raw: Mapping[str, float], stats: Stats) -> Line:
        terms: dict[str, float] = {}
        squares = cyrillic = latin = anchors = 0.0
        countries: list[str] = []
        names = False
        idf = stats.idf
        for t, w in raw.items():
            kind = t[0]
            if kind in "^+":
                if kind == COUNTRY_KEY:
                    countries.append(t)
                continue
            v = terms[t] = w * idf(t)
            squares += v * v
            if kind in "@=#":
                anchors += v
                names = names or kind == "="
            elif _cyrillic(t):
                cyrillic += w
            else:
                latin += w
        norm = math.sqrt(squares) or 1.0
        return cls(terms, norm, cyrillic, latin, anchors, frozenset(countries), names)

    def script_share(self, cyrillic: bool) -> float:
        """The share of the storyline's word weight written in the story's script: 1 for an
        English story and an English storyline, 0 for a Russian story and an English
        storyline. Anchors stand in for words only across scripts: within one, shared words
        say more, and a storyline's anchors alone ("LKAB", "Kiruna", "mine") also fit its
        neighbours."""
        total = self.cyrillic_words + self.latin_words
        if not total:
            return 1.0
        return (self.cyrillic_words if cyrillic else self.latin_words) / total


@dataclass(frozen=True)
class Match:
    storyline_id: int
    score: float
    text: float
    anchors: float


@dataclass(frozen=True)
class Weighted:
    """A story's terms weighted by rarity, once for all the storylines it is scored against."""

    terms: dict[str, float]
    norm: float
    cyrillic: bool

    @classmethod
    def of(cls, sig: Signature, stats: Stats) -> Weighted:
        terms, norm = weighted(sig.terms, stats)
        return cls(terms, norm, is_cyrillic_story(sig.terms))


def shared_things(
    mine: Mapping[str, float], theirs: Mapping[str, float], cross: bool
) -> tuple[int, bool]:
    """How many distinct things the story and the storyline both name (words, single, not
    pairs; across scripts, anchors), and whether one of them at least says what, not where
    (not a place, a country's word, nor a word of quantity such as "record")."""
    if cross:
        shared = [t for t in mine if is_anchor(t) and t in theirs]
    else:
        shared = [t for t in mine if " " not in t and not is_anchor(t) and t in theirs]
    what = (t for t in shared if t not in GENERIC_TERMS and t not in COUNTRY_WORDS)
    return len(shared), any(not is_place(t) for t in what)


def score(sig: Signature, sketch: Sketch, stats: Stats, story: Weighted | None = None) -> Match:
    """How well the story continues the storyline: the cosine of their rarity-weighted terms,
    or, for a story in another language (few shared words), the share of the story's anchors
    the storyline has, when at least MIN_SHARED_ANCHORS of them; less when its headline names
    what the storyline never does or it is another country's; nothing with only places in
    common; then nearness in time. A headline alone (or a storyline of headlines) needs more
    in common, counts less and stays near in time. ``story``: the story's ``Weighted``
    terms, when the caller scores it more than once."""
    thin = sig.headline_only or HEADLINES_KEY in sketch.terms
    when = time_factor(sig.published_at, sketch, THIN_WINDOW if thin else WINDOW)
    if not when:
        return Match(sketch.id, 0.0, 0.0, 0.0)
    story = story or Weighted.of(sig, stats)
    line = Line.of(sketch.terms, stats)
    mine, theirs = story.terms, line.terms
    dot = sum(w * theirs[t] for t, w in mine.items() if t in theirs)
    text = dot / (story.norm * line.norm)
    anchors = [t for t in mine if is_anchor(t)]
    shared = [t for t in anchors if t in theirs]
    anchor_share = 0.0
    other_script = 1.0 - line.script_share(story.cyrillic)
    if len(shared) >= MIN_SHARED_ANCHORS and other_script > 0:
        total = sum(mine[t] for t in anchors)
        # The story's anchors the storyline has, and the storyline's it has: both ways, so a
        # long storyline naming everything does not swallow every story of its region.
        mine_part = sum(mine[t] for t in shared) / total
        theirs_part = sum(theirs[t] for t in shared) / (line.anchor_weight or 1.0)
        anchor_share = math.sqrt(mine_part * theirs_part) * other_script
    best = max(text, ANCHOR_SHARE * anchor_share)
    if sig.headline_names and line.names and not any(t in theirs for t in sig.headline_names):
        best *= NO_SHARED_NAME
    country = sig.country
    if (
        country
        and line.countries
        and country not in line.countries
        and not any(t in theirs and names_place(t) for t in sig.headline_names)
    ):
        best *= OTHER_COUNTRY
    count, what = shared_things(mine, theirs, other_script > 0.5)
    if not what or (thin and count < THIN_SHARED):
        best = 0.0  # only places in common (or a headline's single word): chance
    if thin:
        best *= THIN_FACTOR
    return Match(sketch.id, round(best * when, 4), round(text, 4), round(anchor_share, 4))


def choose(
    sig: Signature, sketches: Iterable[Sketch], stats: Stats, threshold: float | None = None
) -> Match | None:
    """The storyline the story joins: the best scoring at least ``threshold`` (default
    THRESHOLD), or None."""
    threshold = THRESHOLD if threshold is None else threshold
    best: Match | None = None
    story = Weighted.of(sig, stats)
    for sketch in sketches:
        m = score(sig, sketch, stats, story)
        if m.score >= threshold and (best is None or m.score > best.score):
            best = m
    return best


def merge(terms: Mapping[str, float], sig: Signature) -> dict[str, float]:
    """A storyline's terms after the story joins: summed, the strongest SKETCH_TERMS kept,
    and its marks (its countries; headlines only, while every story is)."""
    out = {t: w for t, w in terms.items() if t != HEADLINES_KEY}
    for t, w in sig.terms.items():
        out[t] = out.get(t, 0.0) + w
    marks = {t: w for t, w in out.items() if _is_mark(t)}
    strongest = sorted(
        ((t, w) for t, w in out.items() if not _is_mark(t)), key=lambda kv: (-kv[1], kv[0])
    )[:SKETCH_TERMS]
    if sig.headline_only and (not terms or HEADLINES_KEY in terms):
        marks[HEADLINES_KEY] = 1.0
    return {t: round(w, 3) for t, w in strongest + sorted(marks.items())}


def top_keys(terms: Mapping[str, float], stats: Stats, limit: int) -> list[str]:
    """The most distinctive single keys (no word pairs), strongest first."""
    singles = [
        (t, w * stats.idf(t))
        for t, w in terms.items()
        if " " not in t and len(t) <= 64 and not _is_mark(t)
    ]
    singles.sort(key=lambda kv: (-kv[1], kv[0]))
    return [t for t, _ in singles[:limit]]


def _anchor_keys(terms: Mapping[str, float], stats: Stats, limit: int) -> list[str]:
    named = [t for t in terms if t[0] in "@="]
    named.sort(key=lambda t: (-terms[t] * stats.idf(t), t))
    return named[:limit]


def index_keys(terms: Mapping[str, float], stats: Stats) -> list[str]:
    """The keys a storyline is found by: its most distinctive words and anchors, and its
    strongest anchors (a story in another language finds it by them)."""
    return list(dict.fromkeys(top_keys(terms, stats, INDEX_KEYS) + _anchor_keys(terms, stats, 8)))


def query_keys(sig: Signature, stats: Stats) -> list[str]:
    """The keys a new story asks the index for: its most distinctive, and all its anchors
    but numbers (a story in another language meets its storyline only through them)."""
    keys = top_keys(sig.terms, stats, QUERY_KEYS)
    return list(dict.fromkeys(keys + _anchor_keys(sig.terms, stats, QUERY_KEYS)))
