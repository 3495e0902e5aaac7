"""Language-independent anchors of a story: the places, companies, ships and things it
names, the names it capitalises (compared by their transliterated opening letters, so
"Мурманске" meets "Murmansk") and the numbers it quotes. An English and a Russian story on
one event share few words but many anchors. Pure: no Django, no database, no network.

Owns: reading and checking ``data/anchors.toml``, ``fold`` (case, diacritics and Cyrillic
to Latin), ``find`` (the anchors of a text, as keys: ``@svalbard``, ``=murma``, ``#250``).
May import: the standard library, ``feeds.text.keys`` (letter folds), ``feeds.related.words``
(stopwords and country words) and ``feeds.tagging.gazetteer`` (countries' own names, which
anchor nothing: every story names a country).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from feeds.related.words import COUNTRY_WORDS, GENERIC_TERMS, STOPWORDS, term
from feeds.tagging import gazetteer
from feeds.text.keys import LETTER_FOLDS

ANCHORS_FILE: Final = Path(__file__).parent / "data" / "anchors.toml"
NAME_LETTERS: Final = 5  # names compare by their first letters: "Мурманской" ~ "Murmansk"
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


class AnchorError(ValueError):
    """The anchors file is malformed; the message names the entry."""


def fold(word: str) -> str:
    """Lower case, no diacritics, Cyrillic written in Latin letters: "Тромсё" → "tromse"."""
    w = word.casefold()
    if not w.isascii():
        w = w.translate(_LATIN)
        w = _COMBINING.sub("", unicodedata.normalize("NFKD", w))
    return w


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


def parse_anchors(text: str) -> dict[str, list[Pattern]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnchorError(f"anchors: {exc}") from None
    raw = data.get("anchors")
    if not isinstance(raw, dict) or not raw:
        raise AnchorError("anchors: [anchors] must list at least one anchor")
    patterns: list[Pattern] = []
    for name, names in raw.items():
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise AnchorError(f"anchors.{name}: must be a list of names")
        for written in names:
            words = tuple(_plain(w) for w in _WORD.findall(written.replace("*", "xstarx")))
            words = tuple(w.replace("xstarx", "*") for w in words)
            if not words or any(len(w.rstrip("*")) < 2 for w in words):
                raise AnchorError(f"anchors.{name}: {written!r} has no words to match")
            patterns.append(Pattern("@" + name, words))
    return _compile(patterns)


PATTERNS: Final = parse_anchors(ANCHORS_FILE.read_text(encoding="utf-8"))


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


_COUNTRY_WORDS, _COUNTRY_STEMS = _country_names()
# Capitalised words that name no one thing: the region, the compass, titles.
_NOT_NAMES: Final = frozenset(
    fold(w)
    for w in (
        "arctic north northern south east west high far european union eu president minister "
        "prime government governor ministry foreign defence defense council parliament "
        "арктик арктическ север северн президент министр правительств губернатор"
    ).split()
)


def _is_country_word(folded: str) -> bool:
    return folded in _COUNTRY_WORDS or folded.startswith(_COUNTRY_STEMS)


def _name_key(word: str) -> str:
    folded = fold(word)
    if len(folded) < 3 or _is_country_word(folded) or folded.startswith(tuple(_NOT_NAMES)):
        return ""
    t = term(word)
    if not t or t in COUNTRY_WORDS or t in GENERIC_TERMS or t in STOPWORDS:
        return ""
    return "=" + folded.replace("-", "")[:NAME_LETTERS]


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


def find(text: str) -> dict[str, int]:
    """The anchors of a plain text with how often each occurs: curated anchors (``@kola``),
    names as transliterated openings (``=murma``) and numbers (``#250``)."""
    found: dict[str, int] = defaultdict(int)
    for sentence in _SENTENCE.split(text):
        raw = _WORD.findall(sentence)
        words = [_plain(w) for w in raw]
        for i, word in enumerate(words):
            for pattern in PATTERNS.get(word[:3], ()):
                if _matches(pattern, words, i):
                    found[pattern.anchor] += 1
                    break
            w = raw[i]
            if i > 0 and w[0].isupper() and not w.isupper() or (w.isupper() and len(w) >= 3):
                key = _name_key(w)
                if key:
                    found[key] += 1
        for m in _NUMBER.finditer(sentence):
            key = _number_key(m.group(1), m.group(2))
            if key:
                found[key] += 1
    return dict(found)
