"""Language-independent anchors of a story: the places, companies, ships and things it
names, the names it capitalises (compared by how they sound, so "Мурманске" meets
"Murmansk" and "Копенгагене" meets "Copenhagen") and the numbers it quotes. An English and
a Russian story on one event share few words but many anchors. Pure: no Django, no
database, no network.

Owns: reading and checking ``data/anchors.toml``, ``fold`` (case, diacritics and Cyrillic
to Latin), ``sound`` (a name as it sounds, whatever its script and case ending), ``find``
(the anchors of a text, as keys: ``@svalbard``, ``=marman``, ``#250``), and which keys are
names and which are places.
May import: the standard library, ``feeds.text.keys`` (letter folds), ``feeds.related.words``
(stopwords, country, geographic and subject words) and ``feeds.tagging.gazetteer``
(countries' own names, which anchor nothing: every story names a country; the places,
companies and people whose names stay names at a sentence's start).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from feeds.related.words import (
    CONCEPT_OF,
    COUNTRY_WORDS,
    GENERIC_TERMS,
    GEO_TERMS,
    STOPWORDS,
    term,
)
from feeds.tagging import gazetteer
from feeds.text.keys import LETTER_FOLDS

ANCHORS_FILE: Final = Path(__file__).parent / "data" / "anchors.toml"
PLACES: Final = ("place", "capital")  # the gazetteer's kinds of names that say where
RUSSIAN_STEM: Final = 6  # storylines compare Russian words by their opening letters
NAME_LETTERS: Final = 6  # names compare by the opening of their sound: "Мурманской" ~ "Murmansk"
_WORD: Final = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
# Sentence ends, but not the point of "1.6".
_SENTENCE: Final = re.compile(r"(?:(?<!\d)\.|\.(?!\d)|[!?:;\"“”«»()\[\]—–\n])+")
_NUMBER: Final = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ ,.]\d{3})*(?:[.,]\d+)?)(?![\w])(?:\s+([^\W\d_]+))?"
)
# "500 тысяч" and "1.6 billion" are the numbers 500,000 and 1,600,000,000 whatever the language.
_MULTIPLIERS: Final = {
    "thousand": 1_000,
    "тысяч": 1_000,
    "тысячи": 1_000,
    "тыс": 1_000,
    "million": 1_000_000,
    "millions": 1_000_000,
    "миллион": 1_000_000,
    "миллиона": 1_000_000,
    "миллионов": 1_000_000,
    "млн": 1_000_000,
    "billion": 1_000_000_000,
    "миллиард": 1_000_000_000,
    "миллиарда": 1_000_000_000,
    "миллиардов": 1_000_000_000,
    "млрд": 1_000_000_000,
}
_COMBINING: Final = re.compile(r"[\u0300-\u036f]")
_POSSESSIVE: Final = re.compile(r"([^\W_]+)['’]s\b")
_FOLD_TABLE: dict[str, str | int | None] = dict(LETTER_FOLDS)
_FOLDS: Final = str.maketrans(_FOLD_TABLE)
_CYRILLIC: Final = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split(),
        strict=True,
    )
)
_LATIN_TABLE: dict[str, str | int | None] = {
    **LETTER_FOLDS,
    **{k: ("" if v == "-" else v) for k, v in _CYRILLIC.items()},
}
_LATIN: Final = str.maketrans(_LATIN_TABLE)


# Russian case endings, longest first: "Киркенеса", "Нууке", "Апатитах" name Kirkenes, Nuuk
# and Apatity. A name keeps at least three letters.
_RUSSIAN_ENDINGS: Final = tuple(
    sorted(
        "ами ями ого его ому ему ыми ими ой ей ом ем ах ях ам ям ов ев ий ый ая яя ую юю "
        "а я у ю е ы и о".split(),
        key=len,
        reverse=True,
    )
)
# How transliteration writes one sound in several ways, in order: "Копенгаген" is
# "kopengagen" and Copenhagen "copenhagen"; Хаммерфест is "khammerfest".
_SOUNDS: Final = (
    ("shch", "s"),
    ("sch", "s"),
    ("sh", "s"),
    ("zh", "z"),
    ("kh", "g"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("ts", "s"),
    ("tz", "s"),
    ("h", "g"),
    ("c", "k"),
    ("q", "k"),
    ("x", "ks"),
    ("w", "v"),
    ("j", "y"),
)
_VOWELS: Final = re.compile(r"[aeiouy]+")
_DOUBLE: Final = re.compile(r"([^\W\d_])\1+")


class AnchorError(ValueError):
    """The anchors file is malformed; the message names the entry."""


def fold(word: str) -> str:
    """Lower case, no diacritics, Cyrillic written in Latin letters: "Тромсё" → "tromse"."""
    w = word.casefold()
    if not w.isascii():
        w = w.translate(_LATIN)
        w = _COMBINING.sub("", unicodedata.normalize("NFKD", w))
    return w


def _russian_stem(word: str) -> str:
    """A Cyrillic word without its case ending (lower case in, lower case out)."""
    for ending in _RUSSIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def sound(word: str) -> str:
    """A name as it sounds: folded to Latin letters without its Russian case ending, the
    spellings of one sound made one (c/k, h/g/kh, w/v, ph/f ...), every run of vowels one
    "a", double letters single and a closing vowel dropped: "Киркенеса" and "Kirkenes" are
    "karkanas", "Люнгене" and "Lyngen" "langan", "Вардё" and "Vardø" "vard"."""
    w = word.casefold().replace("ё", "е").replace("-", "")
    if not w.isascii() and "а" <= w[-1] <= "я":
        w = _russian_stem(w)
    w = fold(w)
    for spelled, said in _SOUNDS:
        if spelled in w:
            w = w.replace(spelled, said)
    # An opening "y" is a consonant (Yakutia, Якутия); a closing vowel is an ending.
    w = w[0] + _VOWELS.sub("a", w[1:]) if w[:1] == "y" else _VOWELS.sub("a", w)
    w = _DOUBLE.sub(r"\1", w)
    return w[:-1] if len(w) > 3 and w[-1] == "a" else w


def _plain(word: str) -> str:
    """Lower case without diacritics, script kept (how anchor terms are matched)."""
    w = word.casefold().replace("ё", "е")
    if not w.isascii():
        w = _COMBINING.sub("", unicodedata.normalize("NFKD", w.replace("й", "\0"))).replace(
            "\0", "й"
        )
        w = w.translate(_FOLDS)
    return w


@dataclass(frozen=True)
class Pattern:
    anchor: str
    words: tuple[str, ...]  # a trailing "*" makes a word a prefix


def _compile(patterns: list[Pattern]) -> dict[str, list[Pattern]]:
    """Patterns by the first three letters of their first word."""
    table: dict[str, list[Pattern]] = defaultdict(list)
    for p in patterns:
        table[p.words[0].rstrip("*")[:3]].append(p)
    return dict(table)


ANCHOR_KINDS: Final = ("places", "organisations", "things")


@dataclass(frozen=True)
class Anchors:
    """The anchors file: its patterns by their opening letters, the anchors that are places,
    and the capitalised words that are no names (whole words, and stems)."""

    patterns: dict[str, list[Pattern]]
    words: frozenset[str]  # the words of the anchors' names, as matched (no stems)
    places: frozenset[str]
    named: frozenset[str]  # places and organisations: anchors that stand for a name
    not_names: frozenset[str]
    not_name_stems: tuple[str, ...]


def parse_anchors(text: str) -> Anchors:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnchorError(f"anchors: {exc}") from None
    raw = data.get("anchors")
    if not isinstance(raw, dict) or not raw:
        raise AnchorError("anchors: [anchors] must list at least one anchor")
    patterns: list[Pattern] = []
    places: set[str] = set()
    named: set[str] = set()
    for kind, table in raw.items():
        if kind not in ANCHOR_KINDS or not isinstance(table, dict):
            raise AnchorError(
                f"anchors.{kind}: anchors come in [anchors.<kind>] tables, kinds: "
                + ", ".join(ANCHOR_KINDS)
            )
        for name, names in table.items():
            if (
                not isinstance(names, list)
                or not names
                or not all(isinstance(n, str) for n in names)
            ):
                raise AnchorError(f"anchors.{kind}.{name}: must be a list of names")
            for written in names:
                words = tuple(_plain(w) for w in _WORD.findall(written.replace("*", "xstarx")))
                words = tuple(w.replace("xstarx", "*") for w in words)
                if not words or any(len(w.rstrip("*")) < 2 for w in words):
                    raise AnchorError(f"anchors.{kind}.{name}: {written!r} has no words to match")
                patterns.append(Pattern("@" + name, words))
            if kind == "places":
                places.add("@" + name)
            if kind != "things":
                named.add("@" + name)
    listed = data.get("names", {}).get("not_names", [])
    if not isinstance(listed, list) or not all(isinstance(w, str) for w in listed):
        raise AnchorError("anchors: names.not_names must be a list of words")
    whole: set[str] = set()
    stems: set[str] = set()
    for written in listed:
        word = fold(written.rstrip("*"))
        if not _WORD.fullmatch(word) or len(word) < 2:
            raise AnchorError(f"names.not_names: {written!r} is not one word")
        (stems if written.endswith("*") else whole).add(word)
    return Anchors(
        _compile(patterns),
        frozenset(w for p in patterns for w in p.words if not w.endswith("*")),
        frozenset(places),
        frozenset(named),
        frozenset(whole),
        tuple(sorted(stems)),
    )


ANCHORS: Final = parse_anchors(ANCHORS_FILE.read_text(encoding="utf-8"))
PATTERNS: Final = ANCHORS.patterns


def _country_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """Countries' names, people and adjectives, folded (whole words and stems): every
    northern story names a country, so they anchor nothing."""
    words: set[str] = set()
    stems: set[str] = set()
    for kinds in gazetteer.GAZETTEER.values():
        for kind in ("name", "demonym", "people"):
            for name in kinds.get(kind, ()):
                name = name.lstrip("=!")
                if " " in name:
                    continue
                if name.endswith("*"):
                    stems.add(fold(name[:-1]))
                else:
                    words.add(fold(name))
    return frozenset(words), tuple(sorted(s for s in stems if len(s) >= 4))


def _known_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """The gazetteer's places, companies, institutions and people, folded (Latin whole
    words, Cyrillic stems): such a name opening a sentence is still a name ("Diavik closure
    leaves ...", "Апатиты ..."). Of a name of several words, only the one beside geographic
    words ("Mary" of "Mary River"): "Power" of "Nunavut Power" is no name alone."""
    words: set[str] = set()
    stems: set[str] = set()
    tables = [
        names
        for kinds in gazetteer.GAZETTEER.values()
        for kind, names in kinds.items()
        if kind not in ("name", "demonym", "people")
    ]
    tables.append(tuple(gazetteer.SHARED_TERMS))
    for names in tables:
        for name in names:
            written = [w for w in _WORD.findall(name.lstrip("=!")) if term(w)]
            rest = [w for w in written if term(w) not in GEO_TERMS]
            if len(rest) != 1 or len(rest[0]) < 3 or not _may_name(rest[0]):
                continue
            (stems if name.endswith("*") else words).add(fold(rest[0]))
    return frozenset(words), tuple(sorted(s for s in stems if len(s) >= 4))


def _may_name(word: str) -> bool:
    """Whether a word of a place's name may stand for the place: not a subject ("Bear
    Island"), nor a word that names no one thing ("Northern Sea Route")."""
    folded = fold(word)
    return (
        term(word) not in CONCEPT_OF
        and folded not in ANCHORS.not_names
        and not folded.startswith(ANCHORS.not_name_stems)
    )


def _place_words() -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
    """The gazetteer's places, capitals and shared places, word by word: as terms (Latin),
    as Cyrillic stems (their opening letters, as storylines compare Russian words) and as
    name keys.
    Of a name of several words, only the words beside geographic ones ("Mary" of "Mary
    River"): "Power" of "Kola Nuclear Power Plant" names no place."""
    terms: set[str] = set(GEO_TERMS)
    stems: set[str] = set()
    sounds: set[str] = set()
    tables = [kinds.get(kind, ()) for kinds in gazetteer.GAZETTEER.values() for kind in PLACES]
    tables.append(tuple(gazetteer.SHARED_TERMS))  # border rivers, shared seas, regions
    for names in tables:
        for name in names:
            if name.lstrip("=!").isupper():
                continue  # "NORAD": an acronym names an organisation
            words = [w for w in _WORD.findall(name.lstrip("=!")) if term(w)]
            rest = [w for w in words if term(w) not in GEO_TERMS]
            if len(rest) != 1 or len(rest[0]) < 3 or not _may_name(rest[0]):
                continue  # "Bear Island": a bear is a subject; "federal government" no place
            word = rest[0]
            sounds.add("=" + sound(word)[:NAME_LETTERS])
            if word.isascii() or not ("а" <= word[0].lower() <= "я"):
                terms.add(term(word))
            else:
                stems.add(word.casefold()[:RUSSIAN_STEM])
    return frozenset(terms), tuple(sorted(stems)), frozenset(sounds)


_COUNTRY_WORDS, _COUNTRY_STEMS = _country_names()
_KNOWN_NAMES, _KNOWN_STEMS = _known_names()
_PLACE_TERMS, _PLACE_STEMS, _PLACE_SOUNDS = _place_words()


def is_name(key: str) -> bool:
    """Whether a key is a name: a capitalised name's (``=marman``), or an anchor of a place
    or an organisation (``@kola``, ``@rosatom``), not of a thing (``@icebreaker``)."""
    return key[0] == "=" or key in ANCHORS.named


def is_place(key: str) -> bool:
    """Whether a storyline key names a place (it says where, not what): a place anchor
    (``@kola``), the name key of a place (``=marman``), or a term of a place's name or a
    geographic word ("murmansk", "river")."""
    if key[0] == "@":
        return key in ANCHORS.places
    if key[0] == "=":
        return key in _PLACE_SOUNDS
    return key in _PLACE_TERMS or key.startswith(_PLACE_STEMS)


def names_place(key: str) -> bool:
    """Whether a key is one place's own name: a place anchor (``@kola``, not a country's such
    as ``@greenland``), a word of a place's name ("tornio") or its sound (``=tarn``), not a
    geographic word ("river") nor a sound so short that other names share it ("Sámi" and
    "Saimaa" are ``=sam``)."""
    if key[0] == "@":
        return key in ANCHORS.places and not _is_country_word(key[1:])
    if key[0] == "=":
        return len(key) > 4 and key in _PLACE_SOUNDS
    return key[0] != "#" and key not in GEO_TERMS and is_place(key) and not _is_country_word(key)


def _is_country_word(folded: str) -> bool:
    return folded in _COUNTRY_WORDS or folded.startswith(_COUNTRY_STEMS)


def _name_key(word: str) -> str:
    folded = fold(word)
    if (
        len(folded) < 3
        or _is_country_word(folded)
        or folded in ANCHORS.not_names
        or folded.startswith(ANCHORS.not_name_stems)
    ):
        return ""
    t = term(word)
    if not t or t in COUNTRY_WORDS or t in GENERIC_TERMS or t in STOPWORDS or t in GEO_TERMS:
        return ""
    return "=" + sound(word)[:NAME_LETTERS]


def _known(word: str) -> bool:
    folded = fold(word)
    return folded in _KNOWN_NAMES or folded.startswith(_KNOWN_STEMS)


def _capitalised(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


def _acronym(word: str) -> bool:
    return word.isupper() and len(word) >= 3


def _title_case(words: list[str]) -> bool:
    """A headline in Title Case ("Thawing Permafrost Damages Runway"): its capitals say
    nothing of names."""
    long = [w for w in words[1:] if len(w) >= 4 and not w.isupper()]
    return len(long) >= 3 and sum(1 for w in long if w[0].isupper()) >= 0.75 * len(long)


def capitalised_inside(text: str) -> frozenset[str]:
    """The words a text capitalises inside a sentence (names, unless a Title Case
    headline's): the same word opening another sentence is a name too."""
    out: set[str] = set()
    for sentence in _SENTENCE.split(text):
        raw = _WORD.findall(sentence)
        if _title_case(raw):
            continue
        out.update(w for w in raw[1:] if _capitalised(w))
    return frozenset(out)


def _number_key(raw: str, unit: str | None) -> str:
    digits = re.sub(r"[ ,.](?=\d{3}\b)", "", raw).replace(",", ".")
    factor = _MULTIPLIERS.get((unit or "").casefold(), 1)
    if factor > 1:
        value = float(digits) * factor
        return "#" + (str(int(value)) if value == int(value) else str(value))
    if len(digits.replace(".", "")) < 2:
        return ""
    if digits.isdigit() and 1990 <= int(digits) <= 2039:
        return ""  # a year: every story of the season quotes it
    return "#" + digits


def _matches(pattern: Pattern, words: list[str], i: int) -> bool:
    if i + len(pattern.words) > len(words):
        return False
    for want, got in zip(pattern.words, words[i : i + len(pattern.words)], strict=False):
        if want.endswith("*"):
            if not got.startswith(want[:-1]):
                return False
        elif got != want:
            return False
    return True


def find(text: str, names: frozenset[str] = frozenset()) -> dict[str, int]:
    """The anchors of a plain text with how often each occurs: curated anchors (``@kola``),
    names as they sound (``=marman``) and numbers (``#250``).

    A capitalised word inside a sentence is a name; opening a sentence (or in a Title Case
    headline), only a word the gazetteer knows as a place, company, institution or person,
    a possessive ("Vardø's"), a word capitalised inside ("PhosAgro"), or one of ``names``
    (``capitalised_inside`` the story's other text). Acronyms are names anywhere."""
    found: dict[str, int] = defaultdict(int)
    for sentence in _SENTENCE.split(text):
        raw = _WORD.findall(sentence)
        words = [_plain(w) for w in raw]
        title_case = _title_case(raw)
        possessive = set(_POSSESSIVE.findall(sentence)) if "s" in sentence else set()
        for i, word in enumerate(words):
            for pattern in PATTERNS.get(word[:3], ()):
                if _matches(pattern, words, i):
                    found[pattern.anchor] += 1
                    break
            w = raw[i]
            if _acronym(w):
                # "LNG", "NATO", "GPS", "ФСБ": words of curated anchors, which say them in
                # both scripts; a name only where no anchor does.
                name = words[i] not in ANCHORS.words
            elif not w[0].isupper():
                name = False
            elif i > 0 and not title_case:
                name = True
            else:
                name = w in names or w in possessive or _known(w) or any(c.isupper() for c in w[1:])
            if name:
                key = _name_key(w)
                if key:
                    found[key] += 1
        for m in _NUMBER.finditer(sentence):
            key = _number_key(m.group(1), m.group(2))
            if key:
                found[key] += 1
    return dict(found)
