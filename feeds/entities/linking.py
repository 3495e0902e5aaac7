"""Which entities a story is about, from the terms the tagger matched in it. Pure.

The tagger reports every gazetteer term it matched, with the two folded words either side
(``TagResult.terms``); entity names are in its matcher too (``tagger.set_name_terms``). A
matched term names an entity when one of its aliases has the term's key, or, failing that,
when an alias's key is a run of the term's words (the gazetteer's "Murmansk Oblast" holds no
alias of the port but "Kirkenes Hospital" holds Kirkenes's).

Ambiguous names ("Yamal": a peninsula, an icebreaker; "Healy": a cutter, a surname;
"Арктика": the Arctic, an icebreaker) are aliases with ``needs_cue``: they count only when a
word of their kind stands beside them (``data/cues.toml``). A name that names a strong entity
(the peninsula) and a cued one (the icebreaker) is the cued one only beside its cue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from feeds.entities.catalogue import PERSON, SHIP_CLASS, Cues
from feeds.tagging.tagger import fold, term_key
from feeds.types import TermMatch

__all__ = ["Alias", "Index", "link", "normalized_key"]

Key = tuple[tuple[str, bool], ...]
_AND = frozenset({"and", "or", "и", "или", "og", "och", "ja"})
# Kinds whose cue words are a port's: a town is "in Churchill" as a port is.
_CUE_KIND = {"vessel": "vessel", "port": "port", "place": "port"}


@dataclass(frozen=True, slots=True)
class Alias:
    target: int  # the entity's id (merged entities' aliases point at what they merged into)
    kind: str
    needs_cue: bool


@dataclass(slots=True)
class Index:
    """Aliases by the matcher's key, and the cue words by kind."""

    by_key: dict[Key, list[Alias]] = field(default_factory=dict)
    cues: Mapping[str, Cues] = field(default_factory=dict)
    _sub: dict[Key, tuple[Alias, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, aliases: Iterable[tuple[str, Alias]], cues: Mapping[str, Cues]) -> Index:
        index = cls(cues=cues)
        for term, alias in aliases:
            found = index.by_key.setdefault(normalized_key(term), [])
            if alias not in found:
                found.append(alias)
        return index

    def lookup(self, term: str) -> tuple[Alias, ...]:
        key = normalized_key(term)
        cached = self._sub.get(key)
        if cached is None:
            found = list(self.by_key.get(key, ()))
            # Another entity's stem may name the same words ("Мурманск" is the icebreaker's
            # name as written and the port's "мурманск*"): the matcher kept only one term.
            found += [a for a in self._stems(key) if a not in found]
            cached = self._sub[key] = tuple(found) or self._inner(key)
        return cached

    def _stems(self, key: Key) -> list[Alias]:
        out: list[Alias] = []
        for alias_key, aliases in self.by_key.items():
            if alias_key == key or len(alias_key) != len(key) or not any(s for _, s in alias_key):
                continue
            if all(
                word.startswith(k) if stem else word == k
                for (k, stem), (word, _) in zip(alias_key, key, strict=True)
            ):
                out += aliases
        return out

    def _inner(self, key: Key) -> tuple[Alias, ...]:
        """The aliases of the longest run of the term's words that is an alias's key."""
        for length in range(len(key) - 1, 0, -1):
            for start in range(len(key) - length + 1):
                found = self.by_key.get(key[start : start + length])
                if found:
                    return tuple(found)
        return ()


def normalized_key(term: str) -> Key:
    """The term's key with case-sensitive and exact words folded too: the gazetteer's "=Healy"
    and an alias "Healy" are one name here (the matcher has already decided the match)."""
    return tuple((fold(k[1:]) if k[:1] in "=!" else k, stem) for k, stem in term_key(term))


def _is(word: str, words: Sequence[str]) -> bool:
    for w in words:
        if w.endswith("*"):
            if word.startswith(w[:-1]):
                return True
        elif word == w:
            return True
    return False


def _cued(match: TermMatch, cues: Cues | None) -> bool:
    if cues is None:
        return False
    before, after = match.before, match.after
    if before and _is(before[-1], cues.before):
        return True
    if len(before) == 2 and _is(before[-1], cues.fillers) and _is(before[0], cues.before):
        return True
    return bool(after) and _is(after[0], cues.after)


def link(terms: Sequence[TermMatch], index: Index) -> dict[int, tuple[bool, str]]:
    """Entity id → (named in the headline, the term that named it first), for every entity
    the matched terms name."""
    out: dict[int, tuple[bool, str]] = {}
    previous_vessel = False
    for match in terms:
        aliases = index.lookup(match.term)
        if aliases and _cued(match, index.cues.get(SHIP_CLASS)):
            aliases = ()  # "a Taymyr-class icebreaker" is no ship called Taymyr
        if aliases and _cued(match, index.cues.get(PERSON)):
            aliases = tuple(a for a in aliases if not a.needs_cue)  # "Senator Healy arrived"
        if not aliases:
            previous_vessel = False
            continue
        cued_kinds = {
            kind
            for kind in {_CUE_KIND.get(a.kind) for a in aliases}
            if kind and _cued(match, index.cues.get(kind))
        }
        if previous_vessel and match.before and match.before[-1] in _AND:
            cued_kinds.add("vessel")  # "icebreakers Sibir and Ural"
        chosen: list[Alias] = []
        if "vessel" in cued_kinds:
            chosen = [a for a in aliases if a.kind == "vessel"]
        if not chosen:
            chosen = [
                a
                for a in aliases
                if not a.needs_cue or _CUE_KIND.get(a.kind) in (cued_kinds - {"vessel"})
            ]
        previous_vessel = any(a.kind == "vessel" for a in chosen)
        for alias in chosen:
            title, term = out.get(alias.target, (False, match.term))
            out[alias.target] = (title or match.in_title, term)
    return out
