"""Country and topic tagging, the way a northern news editor would do it.

``tag(TagInput) -> TagResult`` is pure and fast: no Django, no network, no per-call
compilation. At import we build two word tries (countries, topics) from
``feeds.tagging.gazetteer``; tagging a story is one pass of each over its words.

How a story's countries are decided (every signal is weighed, none decides alone):

1. Words are matched against the gazetteer: place names in any script, demonyms,
   institutions, people, companies. Longest phrase wins ("Swedish Lapland" is Sweden, not
   Sweden + Finland). Case, diacritics and Russian inflections are folded away.
2. Each mention is weighted by kind (a place says more than an adjective), by zone (the
   headline counts twice the teaser; later body text fades; a dateline counts double), by
   role (the scene of a headline, "…in Tromsø", counts more; a counterpart, "…with
   Russia", less), and discounted when it is a comparison ("like Norway did",
   "Greenland-style") or one item of a participants' list in the teaser ("officers from
   Norway, Sweden, Finland and Denmark").
3. Regions that span borders (Sápmi, the Barents Sea) count only when the text names no
   country at all; then the outlet decides between the states that share them.
4. The feed's own labels ("Politics (Russia)") are an editor's verdict and weigh most.
5. The byline's outlet and the source's home country are weak priors: they decide when
   the text is silent and never outvote a named place. When nothing places a story (no
   country's outlet, source or byline place either), the source's usual country (what most
   of its recent stories were filed under, ``TagInput.usual_country``) files it, and last
   a language only one country speaks; both say so on the why line.
6. The primary is the top score (ties: first mentioned). Greenland beats Denmark and the
   United States whenever Greenland itself is substantially in the story: that is how the
   "Greenland question" is filed. Secondary countries need their own substantial evidence,
   relative to the primary's, or to be named in the headline.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from feeds.tagging import gazetteer as gz
from feeds.tagging.countries import (
    COUNTRIES,
    COUNTRY_SLUGS,
    DATA_DIR,
    TOPIC_SLUGS,
    DataError,
    check_term,
)
from feeds.text.keys import LETTER_FOLDS
from feeds.types import TagInput, TagResult, TermMatch

__all__ = ["fold", "outlet_countries", "parse_categories", "set_name_terms", "tag", "term_key"]


# --- Tunable weights (one place, with the reason for each) ----------------------------------
TITLE_WEIGHT = 2.0  # a headline names what the story is about; the teaser adds detail
TITLE_TOPIC_WEIGHT = 1.5  # topic words in a headline matter more, but less than for places
BODY_FADE = ((40, 1.0), (120, 0.6))  # (first n words of text, weight); beyond: BODY_TAIL
BODY_TAIL = 0.35  # deep body text mentions many places in passing
DATELINE_WEIGHT = 2.0  # "NUUK, Greenland (AP) —" says where the story happened
FIRST_TITLE_BONUS = 1.15  # the headline's first country is usually its grammatical subject
LOCATIVE_BOOST = 1.5  # "…opens consulate in Tromsø", "…visits Svalbard": where it happens
COMPARISON_DISCOUNT = 0.2  # "like Norway did": named, not about
LIST_DISCOUNT = 0.35  # participants' lists in the teaser
LIST_MIN = 3  # how many countries make a participants' list
REPEAT_DECAY = 0.15  # the k-th body mention of a country counts 1 / (1 + 0.15 k)
COUNTERPART_DISCOUNT = 0.6  # "border with Russia": present, but as the other side
SPEAKER_DISCOUNT = 0.5  # "Kremlin asks Helsinki…": the one who speaks is only quoted
ACTOR_WINDOW = 3  # "Norwegian Hercules plane": the actor noun within three words
RESOLVED_SPREAD = 2.0  # "Sámi herders in Sweden": a shared people counts for the state named
CATEGORY_WEIGHT = 10.0  # the feed editor's own country label
CATEGORY_TOPIC_WEIGHT = 1.5
COMPANY_BUSINESS = 1.0  # business weight of one company mention (per zone weight)
SOURCE_FACTOR_WITH_OUTLET = 0.5  # a republisher's home matters less than the byline's
SOURCE_COUNTRY_PRIOR = 1.0  # an unknown source's home country
GREENLAND_SHARE = 0.3  # Greenland's share of the top text score that makes it primary
SECONDARY_RATIO = 0.4  # a secondary country needs this share of the primary's text score
SECONDARY_MIN = 2.5  # and at least one solid teaser mention's worth of evidence
TOPIC_MIN = 1.9  # one strong topic word in the teaser, or a weaker one in the headline
TOPIC_RATIO = 0.4
TOPIC_MAX = 3


# --- Text normalisation -------------------------------------------------------------------
# Letters folded as in copy detection (feeds.text.keys), and apostrophes to one.
_FOLD_TABLE = str.maketrans(
    {
        **LETTER_FOLDS,
        "ʼ": "'",
        "’": "'",
        "‘": "'",
        "ʻ": "'",
        "`": "'",
        "´": "'",
    }
)
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Words: letters/digits; apostrophes and hyphens split words, the same in terms and text.
_WORD = re.compile(r"[^\W_]+")


def _nfkc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _strip_marks(text: str) -> str:
    """Remove diacritics but keep case: 'Utqiaġvik' → 'Utqiagvik', 'Мурманске' unchanged."""
    if text.isascii():
        return text
    # Cyrillic й/ё lose their marks too (й → и, ё → е); terms are folded the same way.
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).translate(_FOLD_TABLE)


class _Tok(NamedTuple):
    """One word's lookup keys. Interned per distinct word, so tokenizing allocates nothing."""

    fold: str  # casefolded, diacritics removed: the normal key
    cased: str  # "=" + diacritics removed, case kept: the key of "=US" terms
    exact: str  # "!" + NFKC as written: the key of "!Støre" terms


_WORDS: dict[str, _Tok] = {}  # word → its keys; words repeat a lot across stories


def _word(word: str) -> _Tok:
    tok = _WORDS.get(word)
    if tok is None:
        cased = _strip_marks(word)
        tok = _Tok(cased.casefold(), "=" + cased, "!" + word)
        if len(_WORDS) > 200_000:  # bound memory in a long-running worker
            _WORDS.clear()
        _WORDS[word] = tok
    return tok


def _tokenize(text: str) -> list[_Tok]:
    get = _WORDS.get  # the common case, a word seen before, without a call (speed)
    return [get(w) or _word(w) for w in _WORD.findall(_nfkc(text))]


def fold(text: str) -> str:
    """The key under which a term or word is looked up (public for tests and tools)."""
    return " ".join(t.fold for t in _tokenize(text))


# --- The trie -----------------------------------------------------------------------------
class _Node:
    __slots__ = ("children", "marked", "payload", "stem_index", "stems")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.stems: dict[str, _Node] = {}
        # Stem lengths to try, longest first, by the stem's first two letters: a word only
        # tries the few stems that could possibly match it (speed: one dict probe per word).
        self.stem_index: dict[str, tuple[int, ...]] = {}
        self.marked = False  # has "=" or "!" children
        self.payload: Any = None


def _term_keys(term: str) -> list[tuple[str, bool]]:
    """Split a gazetteer term into (key, is_stem) per word.

    Keys: folded word; "=" + cased word for case-sensitive terms; "!" + exact word for terms
    that must match case and diacritics as written.
    """
    mode = ""
    if term[:1] in "=!":
        mode, term = term[0], term[1:]
    keys: list[tuple[str, bool]] = []
    for piece in term.split():
        star = piece.endswith("*")
        toks = _tokenize(piece.rstrip("*"))
        for i, tok in enumerate(toks):
            is_stem = star and i == len(toks) - 1
            if mode == "=":
                keys.append((tok.cased, False))  # already "="-prefixed
            elif mode == "!":
                keys.append((tok.exact, False))  # already "!"-prefixed
            else:
                keys.append((tok.fold, is_stem))
    return keys


def _insert(
    root: _Node, term: str, payload: Any, merge: Callable[[Any, Any], Any] | None = None
) -> None:
    """Add a term; a term already present keeps its payload unless ``merge`` combines them."""
    keys = _term_keys(term)
    if not keys:
        return
    node = root
    for key, is_stem in keys:
        table = node.stems if is_stem else node.children
        nxt = table.get(key)
        if nxt is None:
            nxt = table[key] = _Node()
        node = nxt
    if merge is not None and node.payload is not None:
        payload = merge(node.payload, payload)
    node.payload = payload


def _finish(node: _Node) -> None:
    # Longest stems first, so "финнмарк*" is tried before "финн*".
    index: dict[str, set[int]] = {}
    for stem in node.stems:
        index.setdefault(stem[:2], set()).add(len(stem))
    node.stem_index = {k: tuple(sorted(v, reverse=True)) for k, v in index.items()}
    node.marked = any(k[:1] in "=!" for k in node.children)
    for child in node.children.values():
        _finish(child)
    for child in node.stems.values():
        _finish(child)


def _next_nodes(node: _Node, tok: _Tok) -> list[_Node]:
    """Children of ``node`` matching ``tok``: exact before stems, longer stems first."""
    out: list[_Node] = []
    child = node.children.get(tok.fold)
    if child is not None:
        out.append(child)
    if node.marked:
        child = node.children.get(tok.cased)
        if child is not None:
            out.append(child)
        child = node.children.get(tok.exact)
        if child is not None:
            out.append(child)
    if node.stem_index:
        word = tok.fold
        lengths = node.stem_index.get(word[:2])
        if lengths:
            size = len(word)
            for n in lengths:
                if n <= size:
                    child = node.stems.get(word[:n])
                    if child is not None:
                        out.append(child)
    return out


def _longest(root: _Node, toks: list[_Tok], i: int, first: list[_Node]) -> tuple[int, Any]:
    """The longest term starting at word i, whose first word matched ``first``:
    (number of words, payload)."""
    n = len(toks)
    if len(first) == 1:
        # The common case (speed): one way on, through plain words only, is a walk.
        node = first[0]
        best_len, best = (0, None) if node.payload is None else (1, node.payload)
        j = i + 1
        while node.children and not (node.stems or node.marked) and j < n:
            nxt = node.children.get(toks[j].fold)
            if nxt is None:
                return best_len, best
            node, j = nxt, j + 1
            if node.payload is not None:
                best_len, best = j - i, node.payload
        if not (node.stems or node.marked) or j >= n:
            return best_len, best
    best_len, best = 0, None
    # Depth-first; children are pushed in reverse so the preferred one (exact, then longer
    # stems) is explored first, and a later match of equal length never replaces it.
    stack = [(child, i + 1) for child in reversed(first)]
    while stack:
        node, j = stack.pop()
        if node.payload is not None and j - i > best_len:
            best_len, best = j - i, node.payload
        if j < n and (node.children or node.stems):
            stack.extend((child, j + 1) for child in reversed(_next_nodes(node, toks[j])))
    return best_len, best


# Per trie (by id), each word seen → the nodes a term starting with it continues from.
_ROOT_HITS: dict[int, dict[str, list[_Node]]] = {}


def _one_edit(a: str, b: str) -> bool:
    """Are a and b at most one letter apart (missing, extra, changed, or two swapped)?"""
    la, lb = len(a), len(b)
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) <= 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if abs(la - lb) != 1:
        return False
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_TypoIndex = dict[str, list[tuple[str, "_Entry"]]]


def _build_typo_index(entries: Iterable[_Entry]) -> _TypoIndex:
    """Country names, capitals and places of one word (long enough), by themselves and by
    each of their one-letter deletions: a misspelt word is found from its own deletions
    (the symmetric-delete method), so looking one up costs a few dictionary probes."""
    index: _TypoIndex = {}
    for entry in entries:
        term = entry.term
        if entry.kind not in {"name", "capital", "place"} or term[:1] in "=!" or "*" in term:
            continue
        keys = _term_keys(term)
        if len(keys) != 1 or len(keys[0][0]) < gz.TYPO_MIN_LENGTH:
            continue
        key = keys[0][0]
        for k in {key} | _deletions(key):
            index.setdefault(k, []).append((key, entry))
    return index


def _typo_node(index: _TypoIndex, tok: _Tok) -> _Node | None:
    """A node for a capitalised word one letter away (not the first) from exactly one
    country's place term ("Stokholm"), its weight discounted; None when none or several."""
    word = tok.fold
    found: dict[str, _Entry] = {}
    for k in {word} | _deletions(word):
        for key, entry in index.get(k, ()):
            # Typists rarely miss a first letter, and words that differ there are too often
            # other words ("Listing" is no Wisting).
            if key[0] == word[0] and _one_edit(word, key):
                found[key] = entry
    countries = {tuple(sorted(c for c, _ in e.weights)) for e in found.values()}
    if len(countries) != 1:
        return None
    entry = max(found.values(), key=lambda e: max(w for _, w in e.weights))
    node = _Node()
    node.payload = _Entry(
        tuple((c, w * gz.TYPO_WEIGHT) for c, w in entry.weights),
        entry.kind,
        f"{entry.term} (spelt {tok.cased[1:]})",
    )
    return node


def _first_nodes(root: _Node, hits: dict[str, list[_Node]], tok: _Tok) -> list[_Node]:
    first = _next_nodes(root, tok)
    if (
        not first
        and root is _COUNTRY_TRIE
        and len(tok.fold) >= gz.TYPO_MIN_LENGTH
        and tok.cased[1:2].isupper()
    ):
        typo = _typo_node(_TYPO_INDEX, tok)
        if typo is not None:
            first = [typo]
    if len(hits) > 200_000:  # bound memory in a long-running worker
        hits.clear()
    hits[tok.exact] = first
    return first


def _scan(root: _Node, toks: list[_Tok]) -> Iterator[tuple[int, int, Any]]:
    """Non-overlapping longest matches, left to right: (start, end, payload)."""
    hits = _ROOT_HITS.get(id(root))
    if hits is None:
        hits = _ROOT_HITS[id(root)] = {}
    get = hits.get
    # Most words start no term: find the few that do in one pass (speed), then match there.
    firsts = [get(t.exact) for t in toks]
    if None in firsts:
        firsts = [
            f if f is not None else _first_nodes(root, hits, toks[j]) for j, f in enumerate(firsts)
        ]
    end = 0
    for i, first in enumerate(firsts):
        if first and i >= end:
            length, payload = _longest(root, toks, i, first)
            if length:
                end = i + length
                yield i, end, payload


# --- Building the matchers from the gazetteer ----------------------------------------------
@dataclass(frozen=True, slots=True)
class _Entry:
    weights: tuple[tuple[str, float], ...]
    kind: str  # a KIND_WEIGHTS key, "shared", "spread", "neutral" or "entity" (a name only)
    term: str

    @property
    def top(self) -> float:
        return max((w for _, w in self.weights), default=0.0)

    @property
    def is_country_name(self) -> bool:
        return self.kind in {"name", "demonym"}


# How Nordic and German letters are written where they are missing ("Tromsoe", "Malmoe",
# "Baatsfjord"): the folded spelling (Tromso) is matched anyway, these are the other one.
_DIGRAPHS = str.maketrans(
    {
        "ø": "oe",
        "Ø": "Oe",
        "æ": "ae",
        "Æ": "Ae",
        "å": "aa",
        "Å": "Aa",
        "ä": "ae",
        "Ä": "Ae",
        "ö": "oe",
        "Ö": "Oe",
        "ü": "ue",
        "Ü": "Ue",
    }
)


def _spellings(term: str) -> tuple[str, ...]:
    """A term, and its transliteration with digraphs when it has such letters (not for the
    "!" terms, which must match as written)."""
    if term.isascii() or term[:1] == "!":
        return (term,)
    other = term.translate(_DIGRAPHS)
    return (term,) if other == term else (term, other)


def _build_country_trie(
    extra: Sequence[tuple[str, str, str]] = (), names: Sequence[str] = ()
) -> tuple[_Node, _TypoIndex]:
    root = _Node()
    entries: dict[tuple[tuple[str, bool], ...], _Entry] = {}
    spelt: dict[tuple[tuple[str, bool], ...], str] = {}  # key → the spelling inserted

    def put(term: str, entry: _Entry, combine: bool) -> None:
        key = tuple(_term_keys(term))
        spelt.setdefault(key, term)
        old = entries.get(key)
        if combine and old is not None and old.kind not in {"shared", "spread", "neutral"}:
            # The same word listed under two countries (rare): it counts for both.
            merged = dict(old.weights)
            for c, w in entry.weights:
                merged[c] = max(w, merged.get(c, 0.0))
            entry = _Entry(tuple(merged.items()), old.kind, old.term)
        entries[key] = entry

    for country, kinds in gz.GAZETTEER.items():
        for kind, terms in kinds.items():
            weight = gz.KIND_WEIGHTS[kind]
            for term in terms:
                for spelling in _spellings(term):
                    put(spelling, _Entry(((country, weight),), kind, term), combine=True)
    for country, kind, term in extra:
        for spelling in _spellings(term):
            entry = _Entry(((country, gz.KIND_WEIGHTS[kind]),), kind, term)
            put(spelling, entry, combine=True)
    # Later tables override: a shared or spread definition is deliberate.
    for term, weights in gz.SHARED_TERMS.items():
        put(term, _Entry(tuple(weights.items()), "shared", term), combine=False)
    for term, weights in gz.SPREAD_TERMS.items():
        put(term, _Entry(tuple(weights.items()), "spread", term), combine=False)
    for term in gz.NEUTRAL_TERMS:
        put(term, _Entry((), "neutral", term), combine=False)
    typos = _build_typo_index(entries.values())
    if names:
        # Names of things (ships, terminals) that are no gazetteer term are matched too, so
        # the story's matched terms name them; they give no country. A name that holds a
        # gazetteer term ("Port of Sabetta") keeps that term's evidence, so adding names never
        # takes country evidence away.
        base = _Node()
        for key, entry in entries.items():
            _insert(base, spelt[key], entry)
        _finish(base)
        for term in names:
            for spelling in _spellings(term):
                key = tuple(_term_keys(spelling))
                if not key or key in entries:
                    continue
                # Scanned as written, so a case-sensitive term inside it counts ("LKAB" the
                # company is "=LKAB", "Nome" the port "=Nome"): scanning the folded key
                # missed those, and the name, matched first, gave such stories no country.
                words = _tokenize(spelling) if term[:1] not in "=!" else []
                inner = [e for _, _, e in _scan(base, words) if e.kind != "neutral"]
                best = max(inner, key=lambda e: e.top, default=None)
                entry = (
                    _Entry(best.weights, best.kind, term) if best else _Entry((), "entity", term)
                )
                put(spelling, entry, combine=False)
        _ROOT_HITS.pop(id(base), None)
    for key, entry in entries.items():
        _insert(root, spelt[key], entry)
    _finish(root)
    return root, typos


def _merge_topic(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = max(v, out.get(k, 0.0))
    return out


def _build_topic_trie() -> _Node:
    root = _Node()
    for topic, tiers in gz.TOPIC_TERMS.items():
        for weight, terms in tiers.items():
            for term in terms:
                _insert(root, term, {topic: weight}, merge=_merge_topic)
    _finish(root)
    return root


_COUNTRY_TRIE, _TYPO_INDEX = _build_country_trie()
_TOPIC_TRIE = _build_topic_trie()
_OUTLETS: dict[str, dict[str, float]] = {fold(k): v for k, v in gz.OUTLETS.items()}
_OUTLET_KEYS_BY_LENGTH = sorted(_OUTLETS, key=len, reverse=True)
_COMPARE_BEFORE = frozenset(fold(w) for w in gz.COMPARISON_BEFORE | gz.OPINION_BEFORE)
_COMPARE_GLUE = frozenset(fold(w) for w in gz.COMPARISON_GLUE)
_COMPARE_AFTER = frozenset(fold(w) for w in gz.COMPARISON_AFTER)
_COMPARE_AFTER_POSSESSIVE = frozenset(fold(w) for w in gz.COMPARISON_AFTER_POSSESSIVE)
_JOINERS = frozenset(fold(w) for w in gz.LIST_JOINERS)
_LOCATIVE = frozenset(fold(w) for w in gz.LOCATIVE_BEFORE)
_COUNTERPART = frozenset(fold(w) for w in gz.COUNTERPART_BEFORE)
_SPEAKER = frozenset(fold(w) for w in gz.SPEAKER_AFTER)
_ACTOR = frozenset(fold(w) for w in gz.ACTOR_AFTER)
_EXPERT = frozenset(fold(w) for w in gz.EXPERT_AFTER)
_FINDING = frozenset(fold(w) for w in gz.FINDING_VERBS)
_ACTOR_FACTOR = gz.KIND_WEIGHTS["people"] / gz.KIND_WEIGHTS["demonym"]
_REALM = gz.REALM
# Capitals and institutions speak for a government ("Moscow warns…"); a named person who
# speaks ("Lavrov accuses…") is the story's own actor.
_SPEAKER_KINDS = frozenset({"capital", "institution"})
_HOMES: dict[str, str] = {fold(k): v for k, v in gz.HOMES.items()}
_PLACE_KINDS = frozenset({"place", "capital", "shared"})
_NAMES: dict[str, str] = {c.slug: c.name for c in COUNTRIES}
_LANGUAGES: dict[str, tuple[str, ...]] = {c.slug: c.languages for c in COUNTRIES}
_CATEGORY_RE = re.compile(r"^(?P<topic>[^()]+?)\s*\((?P<country>[^)]+)\)$")
# "NUUK, Greenland (AP) —", "OSLO —", "ANCHORAGE, Alaska –", optionally after the
# "By Becky Bohrer" line that RCI bodies start with (§2.1).
_DATELINE_RE = re.compile(
    r"^\s*(?:By [^\n·]{2,60}?(?:\s*·\s*[^\n]{2,40}?)?(?:\n|\s{2,}))?"
    r"[A-ZÆØÅÄÖÜÉÍÓÚÞÐА-ЯЁ][A-ZÆØÅÄÖÜÉÍÓÚÞÐА-ЯЁ .'\-]{1,40}"
    r"(?:,\s*[A-Z][\w .]{1,30}?)?\s*(?:\([^)]{1,40}\))?\s*[—–-]{1,2}\s"
)


_EXTRA: list[tuple[str, str, str]] = []
_ENTITY_NAMES: list[str] = []


def set_extra_terms(terms: Iterable[tuple[str, str, str]]) -> None:
    """Add editors' terms, (country slug, kind, term), on top of the data files: the matcher
    is rebuilt (tens of milliseconds), so call it only when the terms changed. A term the
    data files already hold keeps its own entry and gains the editor's country."""
    checked = []
    for country, kind, term in terms:
        if country not in COUNTRY_SLUGS or kind not in gz.KIND_WEIGHTS:
            raise ValueError(f"{term!r}: unknown country {country!r} or kind {kind!r}")
        checked.append((country, kind, check_term(Path("<editors' terms>"), term, term)))
    _EXTRA[:] = checked
    _rebuild()


def set_name_terms(terms: Iterable[str]) -> None:
    """Names the matcher should report without their giving any country (``feeds.entities``:
    ships, terminals, routes). Same syntax and cost as ``set_extra_terms``."""
    _ENTITY_NAMES[:] = sorted({check_term(Path("<entity names>"), t, t) for t in terms})
    _rebuild()


def _rebuild() -> None:
    global _COUNTRY_TRIE, _TYPO_INDEX
    _COUNTRY_TRIE, _TYPO_INDEX = _build_country_trie(_EXTRA, _ENTITY_NAMES)
    _ROOT_HITS.clear()


def term_key(term: str) -> tuple[tuple[str, bool], ...]:
    """The matcher's key of a term: two terms with one key are one term ("Tromso", "Tromsø")."""
    return tuple(_term_keys(term))


# --- Outlets and categories ----------------------------------------------------------------
@lru_cache(maxsize=4096)
def outlet_countries(outlet: str) -> dict[str, float] | None:
    """The prior of a byline or source name; {} for known circumpolar/wire outlets, None
    for unknown ones. "Atle Staalesen, The Independent Barents Observer" → the outlet part.
    """
    raw = re.sub(r"\s+@\w+\s*$", "", outlet.strip())
    if not raw:
        return None
    candidates = [raw]
    if "," in raw:
        candidates.append(raw.rsplit(",", 1)[1])
    if "·" in raw:
        candidates.append(raw.rsplit("·", 1)[1])
    for cand in candidates:
        key = fold(cand)
        if key in _OUTLETS:
            return _OUTLETS[key]
    key = " " + fold(raw) + " "
    for name in _OUTLET_KEYS_BY_LENGTH:
        # Three letters suffice for a whole word of a byline ("CBC Nunavut", "NRK Troms").
        if len(name) >= 3 and " " + name + " " in key:
            return _OUTLETS[name]
    return None


@lru_cache(maxsize=4096)
def outlet_home(outlet: str) -> str | None:
    """The home country of a circumpolar outlet (Eye on the Arctic → Canada), used only when
    nothing else places a story; None for outlets without one."""
    raw = outlet.strip()
    if not raw:
        return None
    for cand in (raw, raw.rsplit(",", 1)[-1], raw.rsplit("·", 1)[-1]):
        home = _HOMES.get(fold(cand))
        if home:
            return home
    return None


def byline_place(byline: str) -> str | None:
    """A country from a place named in a byline or dateline ("Staff, Nuuk"), else None."""
    best: tuple[float, str] | None = None
    for _start, _end, entry in _scan(_COUNTRY_TRIE, _tokenize(byline)):
        if entry.kind in _PLACE_KINDS or entry.kind == "name":
            for country, weight in entry.weights:
                if best is None or weight > best[0]:
                    best = (weight, country)
    return best[1] if best else None


def parse_categories(labels: Iterable[str]) -> tuple[list[str], list[str]]:
    """Feed labels → (country labels, topic slugs). Country labels are CATEGORY_COUNTRIES
    keys; "denmark/greenland" is resolved later from the text (§4.10)."""
    countries: list[str] = []
    topics: list[str] = []
    for label in labels:
        text = " ".join(label.replace("&amp;", "&").split()).casefold()
        if not text or text in gz.CATEGORY_NOISE or text.startswith(("featured", "newsroom")):
            continue
        m = _CATEGORY_RE.match(text)
        if m:
            country, topic = m.group("country").strip(), m.group("topic").strip()
            if country in gz.CATEGORY_COUNTRIES:
                countries.append(country)
            topics.extend(gz.CATEGORY_TOPICS.get(topic, ()))
        elif text in gz.CATEGORY_COUNTRIES:
            countries.append(text)
        else:
            topics.extend(gz.CATEGORY_TOPICS.get(text, ()))
    return countries, topics


# --- Scoring ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Mention:
    entry: _Entry
    start: int  # word index within its zone
    end: int
    pos: int  # global order: title words first, then text words
    weight: float  # zone × position multiplier before kind weights
    in_title: bool
    compared: bool = False
    listed: bool = False
    quoted: bool = False  # a government speaking to another: "[Kremlin] asks Helsinki"
    actor: bool = False  # the headline's subject: "[Russian] general warns Finland"


def _zone_weight(i: int) -> float:
    for limit, weight in BODY_FADE:
        if i < limit:
            return weight
    return BODY_TAIL


def _is_comparison(toks: list[_Tok], start: int, end: int) -> bool:
    """Is the mention toks[start:end] a comparison rather than a subject?"""
    before = [t.fold for t in toks[max(0, start - 2) : start]]
    # "like Norway", "unlike Sweden,", "than in Finland"
    if before and (
        before[-1] in _COMPARE_BEFORE
        or (len(before) == 2 and before[-1] in _COMPARE_GLUE and before[-2] in _COMPARE_BEFORE)
    ):
        return True
    after = [t.fold for t in toks[end : end + 4]]
    # "the way Iceland did", "Greenland-style quotas"
    if after and after[0] in _COMPARE_AFTER:
        return True
    # "Norway's oil fund as model", "Norway's approach"
    return after[:1] == ["s"] and any(w in _COMPARE_AFTER_POSSESSIVE for w in after[1:])


def _mentions(
    toks: list[_Tok], in_title: bool, offset: int, dateline_words: int, found: list[TermMatch]
) -> list[_Mention]:
    out: list[_Mention] = []
    for start, end, entry in _scan(_COUNTRY_TRIE, toks):
        found.append(
            TermMatch(
                entry.term,
                in_title,
                tuple(t.fold for t in toks[max(0, start - 2) : start]),
                tuple(t.fold for t in toks[end : end + 2]),
            )
        )
        if entry.kind in {"neutral", "entity"}:
            continue
        if in_title:
            weight = TITLE_WEIGHT
            if start and entry.kind in _PLACE_KINDS and toks[start - 1].fold in _LOCATIVE:
                weight *= LOCATIVE_BOOST
        else:
            weight = _zone_weight(start)
            if start < dateline_words:
                weight *= DATELINE_WEIGHT
        if start and toks[start - 1].fold in _COUNTERPART:
            weight *= COUNTERPART_DISCOUNT
        out.append(
            _Mention(
                entry,
                start,
                end,
                offset + start,
                weight,
                in_title,
                compared=_is_comparison(toks, start, end),
            )
        )
    if in_title and out:
        _mark_actor(out, toks)
    _mark_speakers(out, toks)
    if not in_title:
        _mark_lists(out, toks)
    return out


def _mark_actor(mentions: list[_Mention], toks: list[_Tok]) -> None:
    """A headline that opens with a demonym and an actor noun ("A Russian general warns…",
    "Finnish herders protest…"): that nationality is the subject, whose people or decisions
    the story is about, so it weighs as the country's people, not as an adjective.
    Researchers and experts are not when what follows is their finding about another
    country's place ("Canadian researchers warn of ice loss in Greenland"): a study is filed
    under the place studied."""
    first = mentions[0]
    if first.entry.kind != "demonym":
        return
    nouns = [t.fold for t in toks[first.end : first.end + ACTOR_WINDOW]]
    if not any(n in _ACTOR for n in nouns):
        if not any(n in _EXPERT for n in nouns):
            return
        own = {c for c, _ in first.entry.weights}
        other = next((m for m in mentions[1:] if {c for c, _ in m.entry.weights} - own), None)
        if other is not None and any(t.fold in _FINDING for t in toks[first.end : other.start]):
            return
    first.actor = True
    first.weight *= _ACTOR_FACTOR


def _mark_speakers(mentions: list[_Mention], toks: list[_Tok]) -> None:
    """One government speaking to another ("Kremlin asks Helsinki to…", "Moscow warns
    Oslo"): the story is about the one addressed, whose decision it is; the speaker is only
    quoted. A capital or institution speaking with no addressee is left alone."""
    for i, (speaker, addressed) in enumerate(zip(mentions, mentions[1:], strict=False)):
        if addressed.entry.weights == speaker.entry.weights:
            continue
        if (
            speaker.entry.kind in _SPEAKER_KINDS
            and addressed.start == speaker.end + 1
            and toks[speaker.end].fold in _SPEAKER
        ):
            speaker.weight *= SPEAKER_DISCOUNT
            speaker.quoted = True
            addressed.weight *= LOCATIVE_BOOST
        elif (
            (speaker.actor or speaker.entry.kind == "person")
            and speaker.end < addressed.start <= speaker.end + ACTOR_WINDOW + 1
            and toks[addressed.start - 1].fold in _SPEAKER
        ):
            # A person speaking to a country ("Lavrov accuses Norway of militarising
            # Svalbard", "A Russian general warns Finland…"): the person's country acts (it
            # counts as the scene would); the one addressed, and what is said about it, are
            # the other side.
            speaker.weight *= LOCATIVE_BOOST
            own = {c for c, _ in speaker.entry.weights}
            for later in mentions[i + 1 :]:
                if not own & {c for c, _ in later.entry.weights}:
                    later.weight *= COUNTERPART_DISCOUNT
            return


def _mark_lists(mentions: list[_Mention], toks: list[_Tok]) -> None:
    """Flag runs like "Norway, Sweden, Finland and Denmark" (≥ LIST_MIN countries)."""
    run: list[_Mention] = []

    def close() -> None:
        if len(run) < 2:  # one name is no list (and most runs are that)
            return
        countries = {c for m in run for c, _ in m.entry.weights}
        if len(countries) >= LIST_MIN:
            for m in run:
                m.listed = True

    for m in mentions:
        if not m.entry.is_country_name:
            close()
            run = []
            continue
        if run and all(t.fold in _JOINERS for t in toks[run[-1].end : m.start]):
            run.append(m)
        else:
            close()
            run = [m]
    close()


@dataclass(slots=True)
class _Evidence:
    text: dict[str, float]  # all text evidence (discounted mentions included, discounted)
    solid: dict[str, float]  # evidence that may make a country secondary
    named: set[str]  # countries named (not just as an adjective) in the headline
    placed: set[str]  # countries with a town/region/site of theirs in the headline
    spread: dict[str, float]
    first: dict[str, int]
    best: dict[str, tuple[float, str, bool]]  # country → its strongest mention (w, term, title)
    companies: float = 0.0  # zone-weighted company mentions: evidence for "business"
    terms: list[TermMatch] = field(default_factory=list)  # every term matched, in order


_NO_MENTION = (0.0, "", False)


def _country_evidence(title: list[_Tok], body: list[_Tok], dateline_words: int) -> _Evidence:
    ev = _Evidence({}, {}, set(), set(), {}, {}, {})
    mentions = _mentions(title, True, 0, 0, ev.terms) + _mentions(
        body, False, 10_000, dateline_words, ev.terms
    )
    seen_in_body: dict[str, int] = {}
    first_title_country: str | None = None
    spread: list[_Mention] = []
    for m in mentions:
        if m.entry.kind == "company":
            ev.companies += m.weight
        if m.entry.kind == "spread":
            spread.append(m)
            for country, kind_weight in m.entry.weights:
                ev.spread[country] = ev.spread.get(country, 0.0) + kind_weight * m.weight
            continue
        for country, kind_weight in m.entry.weights:
            w = kind_weight * m.weight
            if m.in_title and first_title_country is None and not (m.compared or m.quoted):
                first_title_country = country
            if not m.in_title:
                k = seen_in_body.get(country, 0)
                seen_in_body[country] = k + 1
                w /= 1.0 + REPEAT_DECAY * k
            solid = not (m.compared or m.listed)
            if m.compared:
                w *= COMPARISON_DISCOUNT
            elif m.listed:
                w *= LIST_DISCOUNT
            ev.text[country] = ev.text.get(country, 0.0) + w
            if w > ev.best.get(country, _NO_MENTION)[0]:
                term = m.entry.term + (" (the headline's subject)" if m.actor else "")
                ev.best[country] = (w, term, m.in_title)
            if solid:
                ev.solid[country] = ev.solid.get(country, 0.0) + w
                # A shared term names in the headline only the states it is most about
                # ("the federal government" is Ottawa's first; Washington's is a guess).
                if (
                    m.in_title
                    and m.entry.kind not in {"demonym", "minor"}
                    and (m.entry.kind != "shared" or kind_weight >= m.entry.top)
                ):
                    ev.named.add(country)
                    if m.entry.kind == "place":
                        ev.placed.add(country)
            if solid or country not in ev.first:
                ev.first[country] = min(ev.first.get(country, m.pos), m.pos)
    if first_title_country is not None:
        ev.text[first_title_country] *= FIRST_TITLE_BONUS
        if first_title_country in ev.solid:
            ev.solid[first_title_country] *= FIRST_TITLE_BONUS
    if spread and ev.solid:
        _resolve_spread(ev, spread)
    return ev


def _resolve_spread(ev: _Evidence, spread: list[_Mention]) -> None:
    """A people or region shared by several states ("Sámi", "Inuit", "the Barents Sea")
    counts for the states among them that the story names; a shared people in a story that
    names only a state holding none of them is that state's realm's ("Inuit hunters travel to
    Copenhagen" are Greenlanders)."""
    named = set(ev.solid)
    for m in spread:
        # Its lean (more Sámi live in Norway) is no evidence once the story names states.
        weights = dict(m.entry.weights)
        chosen = [c for c in weights if c in named]
        if not chosen and m.entry.term in gz.REALM_PEOPLES:
            chosen = [h for s, h in _REALM.items() if s in named and h in weights]
        w = RESOLVED_SPREAD * m.weight
        for c in chosen:
            ev.text[c] = ev.text.get(c, 0.0) + w
            ev.solid[c] = ev.solid.get(c, 0.0) + w
            if w > ev.best.get(c, _NO_MENTION)[0]:
                ev.best[c] = (w, m.entry.term, m.in_title)
            ev.first[c] = min(ev.first.get(c, m.pos), m.pos)


def _priors(item: TagInput) -> dict[str, float]:
    prior: dict[str, float] = {}
    outlet = outlet_countries(item.outlet) if item.outlet else None
    for c, w in (outlet or {}).items():
        prior[c] = prior.get(c, 0.0) + w
    factor = SOURCE_FACTOR_WITH_OUTLET if outlet else 1.0
    source = outlet_countries(item.source_name) if item.source_name else None
    if source is not None:
        for c, w in source.items():
            prior[c] = prior.get(c, 0.0) + w * factor
    elif item.source_country in COUNTRY_SLUGS:
        c = item.source_country
        prior[c] = prior.get(c, 0.0) + SOURCE_COUNTRY_PRIOR * factor
    return prior


def _topic_scores(title: list[_Tok], body: list[_Tok], cat_topics: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for toks, in_title in ((title, True), (body, False)):
        for start, _end, payload in _scan(_TOPIC_TRIE, toks):
            zone = TITLE_TOPIC_WEIGHT if in_title else _zone_weight(start)
            for topic, w in payload.items():
                scores[topic] = scores.get(topic, 0.0) + w * zone
    for topic in cat_topics:
        scores[topic] = scores.get(topic, 0.0) + CATEGORY_TOPIC_WEIGHT
    return scores


def _pick_topics(scores: Mapping[str, float]) -> tuple[str, ...]:
    if not scores:
        return ()
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], TOPIC_SLUGS.index(kv[0])))
    top = ranked[0][1]
    chosen = [t for t, s in ranked if s >= TOPIC_MIN and s >= TOPIC_RATIO * top][:TOPIC_MAX]
    return tuple(chosen) if chosen else (ranked[0][0],)


@dataclass(slots=True)
class _Analysis:
    title: list[_Tok]
    body: list[_Tok]
    ev: _Evidence
    cat_topics: list[str]
    text_scores: dict[str, float]
    category: dict[str, float]
    prior: dict[str, float]
    total: dict[str, float]
    ranked: list[str]  # countries with any evidence, by total, ties: first mentioned


def _analyse(item: TagInput) -> _Analysis:
    title = _tokenize(item.title or "")
    text = item.text or ""
    dateline = _DATELINE_RE.match(_nfkc(text[:200]))
    body = _tokenize(text)
    dateline_words = len(_WORD.findall(dateline.group())) if dateline else 0
    ev = _country_evidence(title, body, dateline_words)
    cat_countries, cat_topics = parse_categories(item.categories)

    text_scores = dict(ev.text)
    if not any(v > 0 for v in text_scores.values()):
        # Only cross-border regions named (Sápmi, the Barents Sea): they nudge, the outlet
        # or source decides between the states that share them.
        text_scores = dict(ev.spread)

    category: dict[str, float] = {}
    for label in cat_countries:
        if label == "denmark/greenland":
            # §4.10: Greenland when the text is about Greenland, else Denmark.
            greenlandic = ev.solid.get("greenland", 0.0)
            chosen = "greenland" if greenlandic >= 1.5 else "denmark"
            category[chosen] = CATEGORY_WEIGHT
        else:
            for c in gz.CATEGORY_COUNTRIES[label]:
                category[c] = CATEGORY_WEIGHT

    prior = _priors(item)
    total: dict[str, float] = {}
    for part in (text_scores, category, prior):
        for c, w in part.items():
            total[c] = total.get(c, 0.0) + w
    total = {c: w for c, w in total.items() if w > 0}
    never = 1 << 30
    ranked = sorted(
        total, key=lambda c: (-total[c], ev.first.get(c, never), COUNTRY_SLUGS.index(c))
    )
    return _Analysis(title, body, ev, cat_topics, text_scores, category, prior, total, ranked)


def tag(item: TagInput) -> TagResult:
    """Countries (primary first), topics and relative scores for one story."""
    a = _analyse(item)
    title, body, ev, cat_topics = a.title, a.body, a.ev, a.cat_topics
    terms = tuple(ev.terms)
    text_scores, category, prior, total = a.text_scores, a.category, a.prior, a.total

    topic_scores = _topic_scores(title, body, cat_topics)
    if ev.companies:
        # A named company (Equinor, Nornickel, LKAB…) makes a story partly a business story.
        topic_scores["business"] = topic_scores.get("business", 0.0) + COMPANY_BUSINESS * min(
            ev.companies, TITLE_WEIGHT
        )
    topics = _pick_topics(topic_scores)
    top_topic = max(topic_scores.values(), default=0.0)
    scores: dict[str, float] = {
        t: round(s / top_topic, 3) for t, s in topic_scores.items() if top_topic
    }
    why: dict[str, str] = {}
    if not topics and gz.FALLBACK_TOPIC:
        # Editors give every story a topic; one that names none is general news.
        topics = (gz.FALLBACK_TOPIC,)
        why[gz.FALLBACK_TOPIC] = "no topic words: general news"
    if not total:
        # The text names no country and the outlet is not a country's own: the home of a
        # circumpolar outlet or source, a place in the byline, the source's usual country,
        # the story's language (editors' last resorts, in their order).
        fallback = _fallback(item)
        if fallback is None:
            return TagResult(
                countries=(), topics=topics, scores=scores, basis="none", why=why, terms=terms
            )
        country, reason, basis = fallback
        why[country] = reason
        scores[country] = 1.0
        return TagResult(
            countries=(country,),
            topics=topics,
            scores=scores,
            basis=basis,
            margin=0.0,
            why=why,
            terms=terms,
        )

    never = 1 << 30
    ranked = a.ranked
    primary = ranked[0]
    runner_up = total[ranked[1]] if len(ranked) > 1 else 0.0
    margin = round(max(0.0, total[primary] - runner_up) / total[primary], 3)
    learned = None
    if MODEL is not None and len(ranked) > 1 and margin < MODEL.gate:
        # The rules were close: the model fitted on labelled stories and editors'
        # corrections decides between the leading candidates.
        learned = _model_choice(MODEL, a, item)
        primary = learned[0]
    # The Greenland question: a story about Greenland that Copenhagen or Washington speaks
    # in is filed under Greenland (Denmark/US secondary), unless an editor labelled it, or
    # the headline puts the story in a Danish or American place ("…meet in Utqiaġvik").
    green = ev.solid.get("greenland", 0.0)
    greenland_rule = (
        primary in {"denmark", "united-states"}
        and green > 0
        and primary not in ev.placed
        and not (category.get(primary) and "greenland" not in category)
        and green >= GREENLAND_SHARE * text_scores.get(primary, 0.0)
    )
    if greenland_rule:
        primary = "greenland"

    reference = max(text_scores.get(primary, 0.0), max(ev.solid.values(), default=0.0))
    secondary: list[str] = []
    for c in ranked:
        if c == primary:
            continue
        solid = ev.solid.get(c, 0.0)
        if (
            c in category
            or c in ev.named
            or (solid >= SECONDARY_MIN and solid >= SECONDARY_RATIO * reference)
        ):
            secondary.append(c)
    secondary.sort(key=lambda c: (c not in category, -total[c], ev.first.get(c, never)))
    countries = (primary, *secondary)
    top = total[ranked[0]] or 1.0
    scores.update({c: round(total.get(c, 0.0) / top, 3) for c in countries})
    for c in countries:
        why[c] = _reason(c, ev, category, prior, item)
    if learned is not None:
        why[primary] += f"; {learned[1]}"
    if greenland_rule:
        why["greenland"] += "; the Greenland question: a story about Greenland is filed there"
    if learned is not None:
        basis = "model"
    elif category.get(primary):
        basis = "label"
    elif text_scores.get(primary, 0.0) > 0:
        basis = "text"
    else:
        basis = "outlet"
    return TagResult(
        countries=countries,
        topics=topics,
        scores=scores,
        basis=basis,
        margin=margin,
        why=why,
        terms=terms,
    )


# --- The learned model --------------------------------------------------------------------
# Features of one candidate country, from the tagger's own evidence. fit_tagger learns one
# weight per feature; the names are checked against the saved model when it is loaded.
FEATURES: tuple[str, ...] = (
    "rule_rank_1",  # the rules' first choice
    "total_share",  # its total evidence / the leader's
    "text_share",  # text evidence / the strongest country's
    "solid_share",  # evidence that is neither compared nor a list item / the strongest
    "headline_named",  # named (not as an adjective) in the headline
    "headline_place",  # one of its places in the headline
    "first_in_text",  # mentioned before any other country
    "feed_label",  # the feed editor's own country label
    "outlet_prior",  # the outlet's or source's home
    "spread_share",  # cross-border regions (Sápmi, Barents) leaning its way
    "language",  # the story is in one of its languages
)


@dataclass(frozen=True, slots=True)
class Model:
    version: str
    weights: tuple[float, ...]
    bias: float
    gate: float  # the rules decide alone when their margin is at least this


def features(item: TagInput) -> list[tuple[str, tuple[float, ...]]]:
    """Each candidate country (by the rules' ranking) with its features: what fit_tagger
    learns from and what the model scores."""
    a = _analyse(item)
    return [(c, _features(a, item, c)) for c in a.ranked[:MODEL_CANDIDATES]]


MODEL_CANDIDATES = 4


def _features(a: _Analysis, item: TagInput, c: str) -> tuple[float, ...]:
    ev = a.ev
    top_total = a.total[a.ranked[0]] if a.ranked else 1.0
    top_text = max(a.text_scores.values(), default=0.0) or 1.0
    top_solid = max(ev.solid.values(), default=0.0) or 1.0
    top_spread = max(ev.spread.values(), default=0.0) or 1.0
    first = min(ev.first.values(), default=-1)
    return (
        1.0 if a.ranked and a.ranked[0] == c else 0.0,
        a.total.get(c, 0.0) / top_total,
        a.text_scores.get(c, 0.0) / top_text,
        ev.solid.get(c, 0.0) / top_solid,
        1.0 if c in ev.named else 0.0,
        1.0 if c in ev.placed else 0.0,
        1.0 if ev.first.get(c, -2) == first else 0.0,
        1.0 if a.category.get(c) else 0.0,
        min(a.prior.get(c, 0.0), 2.0) / 2.0,
        ev.spread.get(c, 0.0) / top_spread,
        1.0 if item.language and item.language[:2] in _LANGUAGES.get(c, ()) else 0.0,
    )


def _model_choice(model: Model, a: _Analysis, item: TagInput) -> tuple[str, str]:
    best, best_score = a.ranked[0], float("-inf")
    best_feats: tuple[float, ...] = ()
    for c in a.ranked[:MODEL_CANDIDATES]:
        feats = _features(a, item, c)
        score = model.bias + sum(w * x for w, x in zip(model.weights, feats, strict=True))
        if score > best_score:
            best, best_score, best_feats = c, score, feats
    # The two features that pushed hardest for the choice, for the "why" line.
    pushes = sorted(
        ((w * x, name) for w, x, name in zip(model.weights, best_feats, FEATURES, strict=True)),
        reverse=True,
    )
    top = ", ".join(name.replace("_", " ") for value, name in pushes[:2] if value > 0)
    return best, f"close call settled by the learned model {model.version} ({top})"


def load_model(path: Path) -> Model | None:
    """The saved model (``manage.py fit_tagger`` writes it), or None if there is none."""
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    names = tuple(raw.get("features", ()))
    if names != FEATURES:
        raise DataError(path, "features", f"fitted for {names}, the tagger has {FEATURES}")
    weights = tuple(float(w) for w in raw["weights"])
    return Model(str(raw["version"]), weights, float(raw["bias"]), float(raw["gate"]))


MODEL_PATH = DATA_DIR / "model.json"
MODEL: Model | None = load_model(MODEL_PATH)


def _fallback(item: TagInput) -> tuple[str, str, str] | None:
    """Editors' order when the text is silent: outlet's home, source's country, source's
    home, a place in the byline, the source's usual country, and last the story's language
    where only one country speaks it: (country, why, basis)."""
    home = outlet_home(item.outlet) if item.outlet else None
    if home:
        return home, f"no place named; outlet {item.outlet} is based in {_NAMES[home]}", "fallback"
    if item.source_country in COUNTRY_SLUGS:
        c = item.source_country
        why = f"no place named; source {item.source_name or ''} is in {_NAMES[c]}"
        return c, why.replace("  ", " "), "fallback"
    home = outlet_home(item.source_name) if item.source_name else None
    if home:
        why = f"no place named; source {item.source_name} is based in {_NAMES[home]}"
        return home, why, "fallback"
    place = byline_place(item.outlet) if item.outlet else None
    if place:
        why = f"no place named in the text; the byline names a place in {_NAMES[place]}"
        return place, why, "fallback"
    usual = item.usual_country
    if usual in COUNTRY_SLUGS:
        # What an editor does with a regular contributor's placeless story: file it where
        # that source's stories usually are.
        why = f"no place named; filed by the source's usual country, {_NAMES[usual]}"
        return usual, why, "fallback"
    spoken = _SPOKEN_ONLY_IN.get(item.language[:2].casefold()) if item.language else None
    if spoken:
        why = f"no place named; weak evidence: written in {item.language}, spoken only in"
        return spoken, f"{why} {_NAMES[spoken]}", "weak"
    return None


# Languages one country alone speaks (Finnish, Icelandic, Russian, Greenlandic…): weak
# evidence of where a story that names no place is from. Danish, Swedish, English are shared.
def _spoken_only_in() -> dict[str, str]:
    speakers: dict[str, set[str]] = {}
    for c in COUNTRIES:
        for code in c.languages:
            speakers.setdefault(code, set()).add(c.slug)
    return {code: next(iter(cs)) for code, cs in speakers.items() if len(cs) == 1}


_SPOKEN_ONLY_IN = _spoken_only_in()


def _reason(
    country: str,
    ev: _Evidence,
    category: Mapping[str, float],
    prior: Mapping[str, float],
    item: TagInput,
) -> str:
    """One line an editor can check: the evidence that gave this country."""
    parts: list[str] = []
    if category.get(country):
        parts.append("the feed's own label")
    weight, term, in_title = ev.best.get(country, _NO_MENTION)
    if term:
        where = "headline" if in_title else "text"
        parts.append(f"{where} names {term.lstrip('=!').replace('*', '…')}")
    elif ev.spread.get(country):
        parts.append("a cross-border region, shared")
    if prior.get(country):
        outlet = item.outlet if outlet_countries(item.outlet) else item.source_name
        parts.append(f"outlet {outlet or item.source_name} is based here".strip())
    return "; ".join(parts) or "evidence below the threshold"
