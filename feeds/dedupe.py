"""Recognising the same story: across fetches of one feed and across outlets.

Pure functions over strings; the ingest module applies them to the database.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"',
                         "–": "-", "—": "-", "\u00a0": " "})
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
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    )
    key = host + parts.path.rstrip("/")
    if query:
        key += "?" + query
    return key[:300]


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) < size:
        return frozenset(words)
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def lead(text: str, limit: int = 300) -> str:
    """The opening of a story: where republished copies agree word for word."""
    return " ".join(text.split())[:limit]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def same_outlet(a: str, b: str) -> bool:
    """Outlet names as bylines write them: "The Independent Barents Observer" ~ "Barents Observer"."""
    def norm(name: str) -> str:
        return _NON_WORD.sub(" ", name.casefold()).replace("the ", " ").strip()

    na, nb = norm(a), norm(b)
    return bool(na and nb) and (na == nb or na in nb or nb in na)


def simhash(text: str) -> int | None:
    """A signed 64-bit simhash of word shingles (fits PostgreSQL's bigint)."""
    grams = shingles(text, 2)
    if len(grams) < 4:
        return None
    weights = [0] * 64
    for gram in grams:
        h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if h >> bit & 1 else -1
    value = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()
