"""Whether a new story continues a storyline, and which: signatures, statistics, the score
and the choice. Pure: no Django, no database, no network.

Owns: ``Signature`` (a story's headline-and-lead terms as the related box reads them, plus its
anchors), ``Stats`` (how common each key is in recent stories), ``Sketch`` (what the clusterer
knows of a storyline: its summed terms and its dates), ``score`` (shared distinctive terms,
shared anchors for stories in other languages, time proximity), ``choose`` (the best storyline
above the threshold, or none: start a new one), ``merge`` (a storyline's terms after a story
joins) and ``index_keys`` (the few keys a storyline is found by).
May import: the standard library, ``feeds.related.profiles`` and ``feeds.storylines.anchors``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from feeds.related.profiles import Profile, plain_text
from feeds.storylines.anchors import find

# A storyline is continued by stories published within WINDOW of its newest one; nearer
# counts more (events are told in days, developing subjects in weeks).
WINDOW: Final = timedelta(days=21)
NEAR: Final = timedelta(days=2)
FAR_FACTOR: Final = 0.5  # a story WINDOW after the storyline's newest counts this much
THRESHOLD: Final = 0.20  # join the best storyline scoring at least this (tuned on dev)
ANCHOR_SHARE: Final = 0.75  # anchors alone (another language) weigh this much of a full match
MIN_SHARED_ANCHORS: Final = 2
# Two stories naming people and places, none of them the same, are rarely one event, however
# alike their words ("border crossing closed" at Storskog and at Salla).
NO_SHARED_NAME: Final = 0.4
# A story about another country than every story of the storyline (the tagger's primary
# country) is another event on the same subject: Norway's cod quota is not Iceland's.
OTHER_COUNTRY: Final = 0.5
COUNTRY_KEY: Final = "^"  # a storyline's terms hold its stories' primary countries so
ANCHOR_WEIGHT: Final = 1.2  # an anchor's weight beside a word's
NAME_WEIGHT: Final = 0.8
NUMBER_WEIGHT: Final = 0.6
TITLE_ANCHOR: Final = 2.0  # an anchor in the headline counts this many times one in the lead
CYRILLIC_STEM: Final = 6  # Russian words compare by their opening letters (inflections)
SKETCH_TERMS: Final = 120  # a storyline keeps this many of its strongest terms
INDEX_KEYS: Final = 10  # … and is found by this many of them
QUERY_KEYS: Final = 12  # a new story asks the index for this many of its own
MIN_STORIES: Final = 200  # rarity is judged as if the sample had at least this many stories


@dataclass(frozen=True)
class Signature:
    """What a story is about: term → weight before rarity; keys of anchors start with
    ``@`` (curated), ``=`` (a name) or ``#`` (a number)."""

    terms: dict[str, float]
    published_at: datetime


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
    for t, w in Profile.of(title, summary, content).base.items():
        if t[0] == "~":
            continue  # broad subjects ("fishery") join unrelated events
        key = _stem(t)
        terms[key] = terms.get(key, 0.0) + w
    lead = plain_text(summary or "")
    if len(lead) < 200 and content:
        lead += " " + plain_text(content[:1500])
    counts: dict[str, float] = {}
    for text, factor in ((title or "", TITLE_ANCHOR), (lead, 1.0)):
        for key, n in find(text).items():
            counts[key] = counts.get(key, 0.0) + n * factor
    for key, count in counts.items():
        kind = {"@": ANCHOR_WEIGHT, "=": NAME_WEIGHT}.get(key[0], NUMBER_WEIGHT)
        terms[key] = terms.get(key, 0.0) + math.log1p(count) * kind
    return Signature(terms, published_at)


def weighted(terms: Mapping[str, float], stats: Stats) -> tuple[dict[str, float], float]:
    out = {t: w * stats.idf(t) for t, w in terms.items() if not _is_country(t)}
    return out, math.sqrt(sum(v * v for v in out.values())) or 1.0


def time_factor(published_at: datetime, sketch: Sketch) -> float:
    """1 within NEAR of the storyline's stories, falling to FAR_FACTOR at WINDOW; 0 beyond."""
    if published_at >= sketch.last_published_at:
        gap = published_at - sketch.last_published_at
    elif published_at <= sketch.first_published_at:
        gap = sketch.first_published_at - published_at
    else:
        gap = timedelta(0)
    if gap > WINDOW:
        return 0.0
    if gap <= NEAR:
        return 1.0
    return 1.0 - (1.0 - FAR_FACTOR) * (gap - NEAR) / (WINDOW - NEAR)


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
    words = [(t, w) for t, w in story.items() if not is_anchor(t) and not _is_country(t)]
    return sum(w for t, w in words if _cyrillic(t)) > sum(w for t, w in words if not _cyrillic(t))


def script_share(story: Mapping[str, float] | bool, line: Mapping[str, float]) -> float:
    """The share of the storyline's word weight written in the story's script (``story``:
    its terms, or whether it is in Cyrillic): 1 for an English story and an English
    storyline, 0 for a Russian story and an English storyline. Anchors stand in for words
    only across scripts: within one, shared words say more, and a storyline's anchors alone
    ("LKAB", "Kiruna", "mine") also fit its neighbours."""
    mine = story if isinstance(story, bool) else is_cyrillic_story(story)
    total = same = 0.0
    for t, w in line.items():
        if is_anchor(t):
            continue
        total += w
        if _cyrillic(t) == mine:
            same += w
    return same / total if total else 1.0


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


def score(sig: Signature, sketch: Sketch, stats: Stats, story: Weighted | None = None) -> Match:
    """How well the story continues the storyline: the cosine of their rarity-weighted terms,
    or, for a story in another language (few shared words), the share of the story's anchors
    the storyline has, when at least MIN_SHARED_ANCHORS of them; then nearness in time.
    ``story``: the story's ``Weighted`` terms, when the caller scores it more than once."""
    when = time_factor(sig.published_at, sketch)
    if not when:
        return Match(sketch.id, 0.0, 0.0, 0.0)
    story = story or Weighted.of(sig, stats)
    mine, my_norm = story.terms, story.norm
    theirs, their_norm = weighted(sketch.terms, stats)
    dot = sum(w * theirs[t] for t, w in mine.items() if t in theirs)
    text = dot / (my_norm * their_norm)
    anchors = [t for t in mine if is_anchor(t)]
    shared = [t for t in anchors if t in theirs]
    anchor_share = 0.0
    other_script = 1.0 - script_share(story.cyrillic, sketch.terms)
    if len(shared) >= MIN_SHARED_ANCHORS and other_script > 0:
        total = sum(mine[t] for t in anchors)
        # The story's anchors the storyline has, and the storyline's it has: both ways, so a
        # long storyline naming everything does not swallow every story of its region.
        theirs_anchors = sum(w for t, w in theirs.items() if is_anchor(t))
        mine_part = sum(mine[t] for t in shared) / total
        theirs_part = sum(theirs[t] for t in shared) / (theirs_anchors or 1.0)
        anchor_share = math.sqrt(mine_part * theirs_part) * other_script
    best = max(text, ANCHOR_SHARE * anchor_share)
    names = [t for t in anchors if t[0] == "="]
    if names and not any(t in theirs for t in names) and any(t[0] == "=" for t in theirs):
        best *= NO_SHARED_NAME
    mine_country = [t for t in sig.terms if _is_country(t)]
    line_countries = [t for t in sketch.terms if _is_country(t)]
    if mine_country and line_countries and mine_country[0] not in line_countries:
        best *= OTHER_COUNTRY
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
    """A storyline's terms after the story joins: summed, the strongest SKETCH_TERMS kept."""
    out = dict(terms)
    for t, w in sig.terms.items():
        out[t] = out.get(t, 0.0) + w
    strongest = sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))[:SKETCH_TERMS]
    return {t: round(w, 3) for t, w in strongest}


def top_keys(terms: Mapping[str, float], stats: Stats, limit: int) -> list[str]:
    """The most distinctive single keys (no word pairs), strongest first."""
    singles = [
        (t, w * stats.idf(t))
        for t, w in terms.items()
        if " " not in t and len(t) <= 64 and not _is_country(t)
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
