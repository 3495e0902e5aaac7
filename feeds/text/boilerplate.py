"""Feed boilerplate removal and story kinds, by the rules in boilerplate.toml.

Pure functions, no Django. ``strip_boilerplate`` takes HTML that ``clean_html`` returned
(html5ever's serialisation: lower-case tags, double-quoted attributes, no comments) and only
ever removes from its end, where feeds put their tails: "The post … appeared first on …",
"[…]", "Continue reading", share and subscribe lines. ``story_kind`` tells a digest, newsletter,
round-up or podcast from a story, so that pages can keep them out of the lead and of related
boxes.
"""

from __future__ import annotations

import functools
import html as htmllib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DIGEST",
    "KINDS",
    "PODCAST",
    "STORY",
    "Rules",
    "rules",
    "story_kind",
    "strip_boilerplate",
]

RULES_PATH = Path(__file__).with_name("boilerplate.toml")
STORY = "story"
DIGEST = "digest"
PODCAST = "podcast"
KINDS = (STORY, DIGEST, PODCAST)

# Tails sit at the very end: only this much of a body is searched for them, so that a
# 512 KB body costs the same as a short one.
_WINDOW = 4000
_MAX_PASSES = 8
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
_SENTENCE_END = frozenset(".!?…»\"”’')]:;")
_FLAGS = re.IGNORECASE | re.DOTALL


Patterns = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class KindRule:
    kind: str
    titles: Patterns
    categories: frozenset[str]  # case-folded
    links: Patterns


# The only characters that Python's case-insensitive matching takes for an ASCII letter and
# str.lower() does not turn into it: "İ" and "ı" (i), "ſ" (s). Text holding one is tested for
# a tail's words by the regex itself; other text by lower() and a substring test, ~20x faster.
_NOT_LOWERED = ("\u0130", "\u0131", "\u017f")


@dataclass(frozen=True)
class Tail:
    """A tail pattern, and words (lower-case ASCII) of which every text it matches contains one:
    it is searched for only in text that holds one. No words: always searched for."""

    pattern: re.Pattern[str]
    words: tuple[str, ...] = ()
    words_pattern: re.Pattern[str] | None = None  # the same test, as the pattern would match

    def may_match(self, text: str) -> bool:
        if self.words_pattern is None:
            return True
        if any(c in text for c in _NOT_LOWERED):
            return self.words_pattern.search(text) is not None
        lowered = text.lower()
        return any(word in lowered for word in self.words)


@dataclass(frozen=True)
class Rules:
    paragraphs: Patterns
    tails: tuple[Tail, ...]
    links: Patterns
    kinds: tuple[KindRule, ...]  # in file order: the first that matches wins


def _compiled(patterns: Iterable[str], template: str = "{}") -> Patterns:
    return tuple(re.compile(template.format(p), _FLAGS) for p in patterns)


def _tail(entry: str | dict[str, Any], path: Path) -> Tail:
    """A tail, searched for as ``P\\s*\\Z``, only in text that holds one of its ``needs``
    words if it lists them: a pattern that starts with optional parts ("…", spaces) gives the
    regex engine no first character to skip to, and costs ~0.3 ms per 4,000 characters."""
    if isinstance(entry, str):
        entry = {"pattern": entry}
    pattern: str = entry["pattern"]
    words = tuple(entry.get("needs", ()))
    for word in words:
        if not (word.isascii() and word == word.lower() and word in pattern.lower()):
            raise ValueError(
                f"{path}: tail {pattern!r} needs {word!r}: a needed word is lower-case ASCII "
                "and part of the pattern"
            )
    compiled = re.compile(rf"(?:{pattern})\s*\Z", _FLAGS)
    if not words:
        return Tail(compiled)
    return Tail(compiled, words, re.compile("|".join(map(re.escape, words)), _FLAGS))


@functools.cache
def rules(path: Path = RULES_PATH) -> Rules:
    """The rules file, compiled once per process (a bad pattern fails loudly at first use)."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    kinds = []
    for kind, spec in data.get("kinds", {}).items():
        if kind not in KINDS:
            raise ValueError(f"{path}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        kinds.append(
            KindRule(
                kind,
                _compiled(spec.get("title", [])),
                frozenset(c.casefold() for c in spec.get("categories", [])),
                _compiled(spec.get("link", [])),
            )
        )
    return Rules(
        paragraphs=_compiled(data["paragraphs"]["patterns"], r"(?:{})\Z"),
        tails=tuple(_tail(entry, path) for entry in data["tails"]["patterns"]),
        links=_compiled(data["links"]["patterns"], r"(?:{})\Z"),
        kinds=tuple(kinds),
    )


def _text(fragment: str) -> str:
    return _SPACE_RE.sub(" ", htmllib.unescape(_TAG_RE.sub(" ", fragment))).strip()


def _last_paragraph(html: str) -> int | None:
    """Where the last top-level paragraph starts, if the HTML ends with one (p never nests)."""
    if not html.endswith("</p>"):
        return None
    start = max(html.rfind("<p>"), html.rfind("<p "))
    return start if start >= 0 else None


def _drop_last_paragraph(html: str, patterns: Patterns) -> str:
    start = _last_paragraph(html)
    if start is None:
        return html
    text = _text(html[start:])
    if text and any(p.match(text) for p in patterns):
        return html[:start].rstrip()
    return html


def _space_before(text: str, end: int) -> int:
    """Where the run of spaces, no-break spaces and ``&nbsp;`` that ends at ``end`` starts: a
    tail takes the spaces before it. (Searched for after the match, not as part of the
    pattern: a leading ``(?:\\s|&nbsp;)*`` is tried at every position of the window.)"""
    while end > 0:
        if text[end - 1].isspace():
            end -= 1
        elif text.endswith("&nbsp;", 0, end):
            end -= len("&nbsp;")
        else:
            break
    return end


def _trim_end(html: str, r: Rules) -> str:
    """Remove a tail or a last "Read more" link from the end of the text, inside a closing </p>."""
    closing = "</p>" if html.endswith("</p>") else ""
    core = html[: len(html) - len(closing)].rstrip()
    cut = len(core)
    if core.endswith("</a>"):
        start = core.rfind("<a ")
        start = start if start >= 0 else core.rfind("<a>")
        if start >= 0 and any(p.match(_text(core[start:])) for p in r.links):
            cut = start
    if cut == len(core):
        offset = max(0, len(core) - _WINDOW)
        window = core[offset:]
        for tail in r.tails:
            if not tail.may_match(window):
                continue
            found = tail.pattern.search(window)
            if found is not None:
                cut = offset + _space_before(window, found.start())
                break
    if cut == len(core):
        return html
    kept = core[:cut].rstrip()
    paragraph = _last_paragraph(kept + closing)
    if paragraph is not None and "<img" not in kept[paragraph:] and not _text(kept[paragraph:]):
        return kept[:paragraph].rstrip()  # the tail was all the paragraph had
    plain = _text(kept)
    if plain and plain[-1] not in _SENTENCE_END:
        kept += "…"  # the feed cut the sentence: say so, as "[…]" did
    return kept + closing


def strip_boilerplate(html: str) -> str:
    """``html`` without the feed's boilerplate tails (sanitised HTML in, sanitised HTML out)."""
    if not html:
        return html
    r = rules()
    current = html.rstrip()
    for _ in range(_MAX_PASSES):
        trimmed = _trim_end(_drop_last_paragraph(current, r.paragraphs), r)
        if trimmed == current:
            break
        current = trimmed
    return current if current != html.rstrip() else html


def story_kind(title: str, categories: Iterable[str] = (), link: str = "") -> str:
    """STORY, or DIGEST (newsletters, digests, round-ups) or PODCAST, by the rules file."""
    labels = {c.casefold().strip() for c in categories}
    for rule in rules().kinds:
        if (
            any(p.search(title) for p in rule.titles)
            or labels & rule.categories
            or (link and any(p.search(link) for p in rule.links))
        ):
            return rule.kind
    return STORY
