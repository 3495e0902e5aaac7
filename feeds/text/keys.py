"""Recognising the same story: across fetches of one feed and across outlets.

Pure functions over strings; the ingest module applies them to the database.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

_QUOTES = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-", "\u00a0": " "}
)
_OUTLET_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{2,60}$")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_TRACKING = re.compile(r"^(utm_\w+|cmp|origin|ref|fbclid|gclid|mc_cid|mc_eid)$", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


def title_key(title: str) -> str:
    """Normalised title: equal keys mean "probably the same headline" (feed-sources §3)."""
    text = unicodedata.normalize("NFKC", title).translate(_QUOTES).strip()
    text = _OUTLET_SUFFIX.sub("", text) if len(text) > 40 else text
    text = _NON_WORD.sub(" ", text.casefold()).strip()
    return text[:300]


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
            if not _TRACKING.match(k)
        ]
    )
    key = host + parts.path.rstrip("/")
    if query:
        key += "?" + query
    return key[:300]


def same_outlet(a: str, b: str) -> bool:
    """Outlet names as bylines write them: "The Independent Barents Observer" ~ "Barents
    Observer"."""

    def norm(name: str) -> str:
        return _NON_WORD.sub(" ", name.casefold()).replace("the ", " ").strip()

    na, nb = norm(a), norm(b)
    return bool(na and nb) and (na == nb or na in nb or nb in na)


def lead_key(text: str, words: int = 20) -> str:
    """A hash of the first words of a story's text, or "" when there are too few to trust.

    Copies of one story keep its opening word for word (feed-sources §3); an exact key can be
    looked up in an index, where a fuzzy one would mean comparing every recent story.
    """
    tokens = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())[:words]
    if len(tokens) < 12:
        return ""
    return hashlib.sha1(" ".join(tokens).encode(), usedforsecurity=False).hexdigest()


def shares_key(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    """Two stories' (headline, link, lead) keys: one non-empty key in common means one story."""
    return any(x and x == y for x, y in zip(a, b, strict=True))
