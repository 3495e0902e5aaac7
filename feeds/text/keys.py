"""Recognising the same story: across fetches of one feed and across outlets.

Pure functions over strings and small records; ``feeds.ingest`` applies them to the database
(matching a feed's own items, linking copies) and ``feeds.related`` asks them which
candidates are the story itself. Imports nothing of the project.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The width of a title or URL key (Story.title_key, Story.url_key and RelatedSlot.external_key
# are declared with it) and of a lead key, a SHA-1 in hex.
KEY_LENGTH = 300
LEAD_KEY_LENGTH = 40

_QUOTES = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-", "\u00a0": " "}
)
_OUTLET_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{2,60}$")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
# Query parameters that say where a reader came from, not which page: one list for the
# links we store and the keys we compare.
_TRACKING = re.compile(r"^(utm_\w*|cmp|origin|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)

# Letters that do not decompose under NFKD but that English copy often writes without their
# marks (Tromsø → Tromso, Þingvellir → Thingvellir, Łutselk'e → Lutselk'e).
LETTER_FOLDS: dict[str, str] = {
    "ø": "o",
    "Ø": "O",
    "æ": "ae",
    "Æ": "AE",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "œ": "oe",
    "Œ": "OE",
    "ß": "ss",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ŋ": "n",
    "Ŋ": "N",
    "ı": "i",
    "ŧ": "t",
    "Ŧ": "T",
    "ĸ": "q",
}


def is_tracking_param(name: str) -> bool:
    return bool(_TRACKING.match(name))


def strip_tracking_params(url: str) -> str:
    """``url`` without the query parameters that only track where a reader came from."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def title_key(title: str) -> str:
    """Normalised title: equal keys mean "probably the same headline" (feed-sources §3)."""
    text = unicodedata.normalize("NFKC", title).translate(_QUOTES).strip()
    text = _OUTLET_SUFFIX.sub("", text) if len(text) > 40 else text
    text = _NON_WORD.sub(" ", text.casefold()).strip()
    return text[:KEY_LENGTH]


def url_key(url: str) -> str:
    """A link without scheme, www., tracking parameters, fragment or trailing slash."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not is_tracking_param(k)
        ]
    )
    key = host + parts.path.rstrip("/")
    if query:
        key += "?" + query
    return key[:KEY_LENGTH]


def outlet_name_key(name: str) -> str:
    """An outlet's name as compared: case, accents' forms, punctuation and a leading "The"
    do not count ("The Barents Observer" = "barents observer"), every other word does."""
    words = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", name).casefold()).split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


def same_outlet(a: str, b: str) -> bool:
    """Whether two names are one outlet's: the whole name, after ``outlet_name_key``.

    Never a part of a name: "CBC News" does not name an outlet called "News" (or "CBC"), or
    any outlet with "News" in its name would count as credited by every byline that says
    "News", and could take over that outlet's stories.
    """
    na, nb = outlet_name_key(a), outlet_name_key(b)
    return bool(na) and na == nb


def _words_of(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def lead_key(text: str, words: int = 20, *, byline: Sequence[str] = ()) -> str:
    """A hash of the first words of a story's text, or "" when there are too few to trust.

    Copies of one story keep its opening word for word (feed-sources §3); an exact key can be
    looked up in an index, where a fuzzy one would mean comparing every recent story. A
    republisher often opens with the credit ("By Danielle Okpik · CBC News Arviat, …") where
    the original's teaser starts with the story, so a leading "By" followed by the names in
    ``byline`` (the author, the credited outlet) is not part of the opening.
    """
    tokens = _words_of(text)
    if tokens[:1] == ["by"]:
        rest = tokens[1:]
        for name in byline:
            named = _words_of(name)
            if named and rest[: len(named)] == named:
                rest = rest[len(named) :]
        if len(rest) < len(tokens) - 1:
            tokens = rest
    tokens = tokens[:words]
    if len(tokens) < 12:
        return ""
    return hashlib.sha1(" ".join(tokens).encode(), usedforsecurity=False).hexdigest()


def shares_key(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    """Two stories' (headline, link, lead) keys: one non-empty key in common means one story."""
    return any(x and x == y for x, y in zip(a, b, strict=True))


def host_of(url: str) -> str:
    """The host of a link, lower-case, without "www."; "" when there is none."""
    try:
        return (urlsplit(url.strip()).hostname or "").rstrip(".").removeprefix("www.")
    except ValueError:
        return ""


def on_domain(url: str, homepage: str) -> bool:
    """Whether ``url`` is on the site of ``homepage`` (the same host or one under it)."""
    host, site = host_of(url), host_of(homepage)
    return bool(host and site) and (host == site or host.endswith("." + site))


# --- "the same story?" ---------------------------------------------------------------------

# Copies of one story appear within this of each other (feed-sources §3); copies found only
# by their opening words, within the shorter window (openings such as a weekly column's recur).
COPY_WINDOW = timedelta(days=2)
LEAD_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class StoryKeys:
    """What deciding "the same story?" reads of a story: its keys, when it came out, where
    it links to, whose feed carried it, and which outlet its byline credits."""

    title_key: str
    url_key: str
    lead_key: str
    published_at: datetime
    link: str = ""
    outlet: str = ""  # the name of the outlet whose feed carried it
    homepage: str = ""  # that outlet's site
    credited: str = ""  # the outlet a byline names as the writer ("original_outlet")
    first_seen_at: datetime | None = None


def _shared(a: StoryKeys, b: StoryKeys) -> frozenset[str]:
    """Which of the keys two stories share: "url", "title", "lead"."""
    return frozenset(
        kind
        for kind, mine, theirs in (
            ("url", a.url_key, b.url_key),
            ("title", a.title_key, b.title_key),
            ("lead", a.lead_key, b.lead_key),
        )
        if mine and mine == theirs
    )


def same_story(a: StoryKeys, b: StoryKeys) -> bool:
    """Two outlets' items are one story: the same link within ``COPY_WINDOW`` of each other,
    or the same opening words within ``LEAD_WINDOW`` when their credits say so, or the same
    headline within ``COPY_WINDOW`` when one credits the other's outlet.

    A headline alone never suffices: a recurring "News in brief", or a hostile outlet that
    copies a headline and links elsewhere, would otherwise take over a real outlet's story.
    Nor do the opening words alone when the links differ: an outlet copying another's item
    word for word under its own link, fetched first, would become the canonical story and
    the real one would redirect to it. So the openings count only when one item credits the
    other's outlet (a republication: "CBC News" in Eye on the Arctic's byline) or both credit
    the same outlet (one wire story carried twice); two uncredited items stay two stories.
    """
    gap = abs(a.published_at - b.published_at)
    shared = _shared(a, b)
    if "url" in shared and gap <= COPY_WINDOW:
        return True
    if "lead" in shared and gap <= LEAD_WINDOW:
        return _credits_other(a, b) or _same_credit(a, b)
    # A republisher that names the original's outlet and keeps its headline, with a teaser
    # of its own (Eye on the Arctic carrying the Barents Observer): the credit is the second
    # piece of agreement. Harmless if forged: the credited outlet stays the original.
    return "title" in shared and gap <= COPY_WINDOW and _credits_other(a, b)


def _credits_other(a: StoryKeys, b: StoryKeys) -> bool:
    """Whether one item's byline credits the outlet whose feed carried the other."""
    return _credits(a, b) or _credits(b, a)


def _same_credit(a: StoryKeys, b: StoryKeys) -> bool:
    """Whether both items credit the same outlet (one wire story carried twice)."""
    return bool(a.credited and b.credited and same_outlet(a.credited, b.credited))


def is_original(a: StoryKeys, b: StoryKeys) -> bool:
    """Of two copies of one story, whether ``a`` is the original publisher's.

    First the credits: an item whose byline or <source> credits the other item's outlet is
    that outlet's copy, never its original. A credit is a claim about someone else, so a
    forged one can only make its own item a copy; it is never evidence enough to take over
    the credited outlet's story, whatever the homepages say (an outlet added by ``addfeed``
    has none). Then the outlet whose own site the link is on; then one whose site is not
    known over one whose link is known to lead off its site (an aggregator, or an outlet
    pointing another's story elsewhere); only then whoever we saw first.
    """
    a_copies_b, b_copies_a = _credits(a, b), _credits(b, a)
    if a_copies_b != b_copies_a:
        return b_copies_a
    a_site, b_site = _link_standing(a), _link_standing(b)
    if a_site != b_site:
        return a_site > b_site
    a_seen = a.first_seen_at or a.published_at
    b_seen = b.first_seen_at or b.published_at
    return a_seen <= b_seen


def _credits(a: StoryKeys, b: StoryKeys) -> bool:
    """Whether ``a`` credits ``b``'s outlet and not its own (a byline naming the outlet
    whose feed carried it is no claim about anyone else)."""
    return bool(
        a.credited and same_outlet(a.credited, b.outlet) and not same_outlet(a.credited, a.outlet)
    )


def _link_standing(keys: StoryKeys) -> int:
    """2: the link is on its outlet's site; 1: the outlet's site is not known; 0: the link
    leads off the outlet's known site."""
    if not keys.homepage:
        return 1
    return 2 if on_domain(keys.link, keys.homepage) else 0
