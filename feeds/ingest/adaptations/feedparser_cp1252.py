"""feedparser's Windows-1252 fix-up, made cheaper (feedparser 6.0: ``mixin._cp1252`` and
the parsers' ``decode_entities``). Same results (tests/test_parsing.py compares the whole
corpus with and without), about a fifth less parse time on northern news.

``ensure()`` is called before each parse; it decides once per process, installing the
fix-ups only if ``adaptations.enabled`` allows it for feedparser's version.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import feedparser.api
import feedparser.mixin

from feeds.ingest.adaptations import enabled

TESTED = ("6.0.",)
_decided: bool | None = None  # None: not decided yet in this process


def ensure() -> bool:
    """Install both fix-ups if allowed (decided once per process); whether they are on."""
    global _decided
    if _decided is None:
        _decided = enabled("feedparser", TESTED)
        if _decided:
            _fast_cp1252_table()
            _cheaper_cp1252_fixup()
    return _decided


def _fast_cp1252_table() -> None:
    """Give feedparser its Windows-1252 fix-up table as a string indexed by code point.

    feedparser passes every element's text through ``str.translate`` with a 27-key dict.
    For text that is not pure ASCII (most northern news: ø, á, Cyrillic, syllabics), each
    character then costs a failed dict lookup and a KeyError, about a fifth of the whole
    parse. A string covering the Basic Multilingual Plane maps the same 27 code points and
    leaves every other one as it is; characters past it raise IndexError, which translate
    also treats as "unchanged". Same output, about twice as fast.
    """
    table = getattr(feedparser.mixin, "_cp1252", None)
    if not isinstance(table, dict) or not all(
        isinstance(k, int) and 0 <= k < 0x10000 and isinstance(v, str) and len(v) == 1
        for k, v in table.items()
    ):
        return  # another feedparser version: leave it alone
    chars = [chr(i) for i in range(0x10000)]
    for code, char in table.items():
        chars[code] = char
    feedparser.mixin._cp1252 = "".join(chars)


_C1_RE = re.compile("[\x80-\x9f]")  # the only code points feedparser's fix-up table changes


class _ElementText(str):
    """An element's text between feedparser's ``decode_entities`` and the Windows-1252
    fix-up at the end of its ``pop()``: ``output.translate(_cp1252)``.

    ``str.translate`` looks every character of a non-ASCII string up in the table, one
    Python object at a time: 100 µs for a 7 KB article body, about a fifth of feedparser's
    time on northern news, although the table only changes U+0080-U+009F, which almost no
    text contains. Here the fix-up first looks for one of those (16 µs) and is the same
    ``translate`` when there is one. Either way the result is a plain ``str``: nothing of
    this class is kept in feedparser's results.
    """

    __slots__ = ()

    def translate(self, table: Any) -> str:
        if table is feedparser.mixin._cp1252 and not _C1_RE.search(self):
            return str(self)  # translate would change nothing
        return str.translate(self, table)


def _cheaper_cp1252_fixup() -> None:
    """Have both feedparser parsers hand ``pop()`` an ``_ElementText``.

    ``decode_entities`` is the last step of ``pop()`` before the fix-up that sees the text
    (feedparser 6.0: mixin.py). If a version moved things around, ``_ElementText`` would
    just be a ``str`` that checks one table's keys before translating: same results.
    """
    for parser in (feedparser.api.StrictFeedParser, feedparser.api.LooseFeedParser):
        original = inspect.getattr_static(parser, "decode_entities", None)
        if isinstance(original, staticmethod):
            decode = functools.partial(_decode_static, original.__func__)
        elif callable(original):
            decode = functools.partial(_decode_method, original)
        else:
            continue
        parser.decode_entities = functools.partialmethod(decode)
        _STOCK_DECODE_ENTITIES[parser] = original


def _decode_static(original: Any, parser: Any, element: str, data: str) -> str:
    return _ElementText(original(element, data))


def _decode_method(original: Any, parser: Any, element: str, data: str) -> str:
    return _ElementText(original(parser, element, data))


_STOCK_DECODE_ENTITIES: dict[type, Any] = {}  # what tests compare against
