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
    """Outlet names as bylines write them: "The Independent Barents Observer" ~ "Barents
    Observer"."""

    def norm(name: str) -> str:
        return _NON_WORD.sub(" ", name.casefold()).replace("the ", " ").strip()

    na, nb = norm(a), norm(b)
    return bool(na and nb) and (na == nb or na in nb or nb in na)


def simhash(text: str) -> int | None:
    """A signed 64-bit simhash of word shingles (fits PostgreSQL's bigint)."""
    grams = shingles(text, 2)
    if len(grams) < 4:
        return None
    hashes = [
        format(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big"), "064b")
        for g in grams
    ]
    half = len(hashes) / 2
    # Column sums over the bit strings: a bit is set where most shingles set it.
    bits = "".join(
        "1" if column.count("1") > half else "0"
        for column in map("".join, zip(*hashes, strict=True))
    )
    value = int(bits, 2)
    return value - (1 << 64) if value >= 1 << 63 else value


# Nine bands of about seven bits: two hashes within Hamming distance 8 share at least one
# band exactly, so near duplicates are found by lookup instead of by comparing every pair.
_BANDS = [(i * 7, 7 if i < 8 else 8) for i in range(9)]


def bands(value: int) -> list[tuple[int, int]]:
    unsigned = value & ((1 << 64) - 1)
    return [
        (i, (unsigned >> start) & ((1 << width) - 1)) for i, (start, width) in enumerate(_BANDS)
    ]


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def title_overlap(a: str, b: str) -> float:
    """Share of headline words in common (on title keys), ignoring numbers."""
    wa = {w for w in a.split() if not w.isdigit()}
    wb = {w for w in b.split() if not w.isdigit()}
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))
