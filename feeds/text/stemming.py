"""Words and their inflections: a light English stemmer, and the pattern of a word's forms.

``stem`` reduces plurals, -ing and -ed ("shipping" ~ "ships" ~ "ship"): the related box's
terms (``feeds.related.words``). ``forms_pattern`` turns a searched word into a regular
expression of the whole words that share its stem, for the embedded default's search
(``feeds.search``), which has no PostgreSQL stemming: "ice" finds "ice", "ices", "iced" and
"icing" but not "police" or "twice", as PostgreSQL's english configuration does. Cyrillic
words take the Russian case endings the russian configuration removes. Pure: the standard
library only.
"""

from __future__ import annotations

import re
from typing import Final

_VOWELS: Final = "aeiou"
# Words PostgreSQL's english (Snowball) stemmer keeps as they are although they look like
# plurals: "news" is not a form of "new".
_INVARIANT: Final = frozenset({"news", "atlas", "cosmos", "bias", "andes"})
_LATIN_WORD: Final = re.compile(r"[a-z]+")
_CYRILLIC_WORD: Final = re.compile(r"[а-яё]+")
# Noun and adjective endings PostgreSQL's russian (Snowball) stemmer removes, longest first:
# "Мурманске", "Мурманска", "Мурманском" are all "мурманск"; "Норвегией" is "норвег".
_RUSSIAN_ENDINGS: Final = sorted(
    set(
        "а ев ов ие ье е иями ями ами еи ии и ией ей ой ий й иям ям ием ем ам ом о у ах иях ях "
        "ы ь ию ью ю ия ья я ее ые ое ими ыми ый им ым его ого ему ому их ых ую юю ая яя ою "
        "ею".split()
    ),
    key=lambda ending: (-len(ending), ending),
)
_RUSSIAN_MIN_STEM: Final = 3  # "лес" keeps its letters; only what follows a stem is an ending


def _undouble(w: str) -> str:
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        return w[:-1]
    return w


def _has_vowel(w: str) -> bool:
    return any(c in _VOWELS + "y" for c in w)


def _short_syllable(w: str) -> bool:
    """Consonant, vowel, consonant (not w, x or y): "min(e)", "vot(e)", "ship"."""
    return len(w) == 3 and w[1] in _VOWELS and w[0] not in _VOWELS and w[2] not in _VOWELS + "wxy"


def stem(w: str) -> str:
    """A light English stemmer: plurals, -ing and -ed ("shipping" ~ "ships" ~ "ship")."""
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "as", "os")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5:
        w = _undouble(w[:-3])
        if _short_syllable(w):
            w += "e"  # "mining" ~ "mine", "voting" ~ "vote"
    elif w.endswith("ed") and len(w) > 4 and not w.endswith("eed"):
        w = _undouble(w[:-2])
        if _short_syllable(w):
            w += "e"
    return w


def _inflections(base: str) -> set[str]:
    """A stem's regular inflections: plural, third person, -ed, -ing, -ings."""
    forms = {base, base + "s", base + "ed", base + "ing", base + "ings"}
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):  # fish: fishes; cargo: cargoes
        forms.add(base + "es")
    if base.endswith("e") and (len(base) > 4 or not base.endswith("ee")):  # ice: iced, icing
        forms |= {base + "d", base[:-1] + "ing", base[:-1] + "ings"}
    if base.endswith("y") and len(base) > 2 and base[-2] not in _VOWELS:  # country: countries
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if len(base) >= 3 and base[-1] not in _VOWELS + "wxy" and base[-2] in _VOWELS:
        if base[-3] not in _VOWELS:  # ship: shipped, shipping
            forms |= {base + base[-1] + suffix for suffix in ("ed", "ing", "ings")}
    return forms


def _english_forms(word: str) -> set[str]:
    """The whole words PostgreSQL's english stemmer gives the stem of ``word`` (its
    inflections; not its derivations, "announced" ~ "announcements", which it also joins)."""
    if word in _INVARIANT:
        return {word}
    base = stem(word)
    bases = {base}
    if word.endswith("s") and not word.endswith(("ss", "us")):
        if any(c in _VOWELS for c in word[:-2]):  # as Snowball reads plurals: "areas", "ideas"
            bases.add(word[:-1])
    if word.endswith("ied") and len(word) > 4:  # "allied": "ally"
        bases.add(word[:-3] + "y")
    if word.endswith("oes") and len(word) > 4:  # "cargoes": "cargo"
        bases.add(word[:-2])
    if word.endswith("eed") and len(word) > 5:  # "agreed": "agree" (not "feed", "speed")
        bases.add(word[:-1])
    if word.endswith("lled") and len(word) > 7:  # "controlled", "travelled" (not "filled")
        bases.add(word[:-3])
    for suffix in ("ed", "ing"):
        core = word[: -len(suffix)]
        if not word.endswith(suffix) or word.endswith("eed") or not _has_vowel(core):
            continue
        if len(core) > 1 and core[-1] == core[-2] and core[-1] not in _VOWELS:  # "planned"
            bases.add(core if core[-1] in "lsz" else core[:-1])  # ("passed": "pass")
        else:  # "hunted": "hunt"; "approved", "iced", "icing": "approve", "ice"
            bases |= {core, core + "e"} if len(core) > 3 else {core + "e"}
    return {word}.union(*(_inflections(b) - _INVARIANT for b in bases))


def _russian_forms(word: str) -> tuple[str, str]:
    """(stem, ending pattern): the word without its case ending, and any ending."""
    word = word.replace("ё", "е")  # as Snowball reads it
    for ending in _RUSSIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _RUSSIAN_MIN_STEM:
            word = word[: -len(ending)]
            break
    return word, "(?:" + "|".join(_RUSSIAN_ENDINGS) + ")?"


def forms_pattern(word: str) -> str:
    """A regular expression (Python's ``re``, case to be ignored) matching the whole words
    that are forms of ``word``: its English inflections for a Latin-script word, its Russian
    case endings for a Cyrillic one, else the word itself. Never a part of a longer word."""
    w = word.casefold()
    if _LATIN_WORD.fullmatch(w):
        body = "|".join(re.escape(f) for f in sorted(_english_forms(w), key=len, reverse=True))
        body = f"(?:{body})"
    elif _CYRILLIC_WORD.fullmatch(w.replace("ё", "е")):
        base, endings = _russian_forms(w)
        body = (re.escape(base) + endings).replace("е", "[её]")  # written with ё or without
    else:
        body = re.escape(w)
    return rf"\b{body}\b"
