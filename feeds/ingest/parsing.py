"""Feed bytes → ``ParsedFeed``: feedparser for the XML, then our own normalising.

feedparser runs with its sanitiser and relative-URI resolution off (performance-baselines.md
F1: it is 2.7× faster that way, and its sanitiser is not trusted anyway). Everything that
leaves this module is normalised here: HTML through nh3 (``sanitizing.clean_html``), text
without markup or control characters, URLs http(s) or "". It never fetches and never sees
HTTP: it gets the body and the response headers, and never passes feedparser a str (which
feedparser would open as a path or URL, threats.md §1.1).
"""

from __future__ import annotations

import calendar
import hashlib
import html as htmllib
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from feeds.columns import max_length
from feeds.ingest.adaptations import feedparser_cp1252
from feeds.ingest.extraction import (
    extract_lead_image,
    extract_related_box,
    has_related_box,
    image_url,
    parse_byline,
)
from feeds.ingest.jsonfeed import looks_like_json_feed, parse_json_feed
from feeds.models import Story
from feeds.text.boilerplate import strip_boilerplate
from feeds.text.keys import strip_tracking_params
from feeds.text.sanitizing import (
    MAX_HTML_LENGTH,
    clean_html,
    clean_text,
    normalize_space,
    safe_url,
    strip_controls,
)
from feeds.types import ParsedEntry, ParsedFeed, RelatedLine

__all__ = ["parse_feed"]

logger = logging.getLogger(__name__)

# Caps of values that have a column of their own come from the column (feeds.columns); these
# are ours: a feed's title is shown in a line, a byline is parsed for a person and an outlet.
MAX_FEED_TITLE_LENGTH = 300
MAX_BYLINE_LENGTH = 300
MAX_CATEGORY_LENGTH = 200
MAX_CATEGORIES = 50
MAX_BOZO_REASON_LENGTH = 500
MAX_TTL_MINUTES = 60 * 24 * 365

# Only the headers that change how the bytes are read; the rest would end up in feedparser's
# result for nothing.
_PASSED_HEADERS = ("content-type", "content-language")
_UPDATE_PERIOD_MINUTES = {
    "hourly": 60,
    "daily": 60 * 24,
    "weekly": 60 * 24 * 7,
    "monthly": 60 * 24 * 30,
    "yearly": 60 * 24 * 365,
}
_LANGUAGE_RE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")
_IMAGE_EXTENSION_RE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.IGNORECASE)
_FIRST_IMG_SRC_RE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_WP_SIZE_SUFFIX_RE = re.compile(r"-\d+x\d+(?=\.\w+$)")


@dataclass(frozen=True)
class _FeedContext:
    url: str  # the feed's URL (or its Content-Location): the base of last resort
    language: str
    atom: bool  # Atom declares title types; RSS titles are text/plain whatever feedparser guesses


def _get(d: Any, key: str) -> Any:
    # dict.get, not FeedParserDict.get: the latter maps "updated" to "published" with a
    # DeprecationWarning, and guesses aliases we do not want.
    return dict.get(d, key) if isinstance(d, dict) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- public API ----------------------------------------------------------------------------


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    max_entries: int = 200,
) -> ParsedFeed:
    """Parse a fetched feed body. Never raises: unreadable input comes back ``bozo``.

    ``url`` is the URL the body was fetched from (the base for relative links); ``headers``
    are the response headers (any case; content-type and content-language are used). Keeps
    the newest ``max_entries`` entries and counts the rest, and the unusable ones, in
    ``skipped``.
    """
    feedparser_cp1252.ensure()
    feed_url = safe_url(url)
    passed_headers, location = _response_headers(headers)
    base = safe_url(location, feed_url) or feed_url
    if looks_like_json_feed(body):
        result = parse_json_feed(body)
        return _map_feed(result, base, max_entries) if not result["bozo"] else _bozo(result)
    try:
        # No content-location for feedparser on purpose: with one, it rewrites relative
        # permalink guids ("12345" → "https://host/feed/12345"), so every guid would change
        # with the feed's URL. Relative links are resolved against ``base`` here instead.
        result = feedparser.parse(
            io.BytesIO(body or b""),
            response_headers=passed_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # noqa: BLE001 - any bytes must end in a recorded outcome
        return ParsedFeed(bozo=True, bozo_reason=_reason(exc))
    try:
        return _map_feed(result, base, max_entries)
    except Exception as exc:  # same promise; a bug here is logged, not raised
        logger.exception("could not map the parsed feed %s", feed_url)
        return ParsedFeed(bozo=True, bozo_reason=_reason(exc))


def _bozo(result: dict[str, Any]) -> ParsedFeed:
    return ParsedFeed(bozo=True, bozo_reason=_reason(result["bozo_exception"]))


# --- feed level ----------------------------------------------------------------------------


def _response_headers(headers: Mapping[str, str] | None) -> tuple[dict[str, str], str]:
    """(headers for feedparser, the Content-Location value or "")."""
    passed: dict[str, str] = {}
    location = ""
    for key, value in (headers or {}).items():
        name = str(key).strip().lower()
        if name in _PASSED_HEADERS:
            passed[name] = str(value)
        elif name == "content-location":
            location = str(value)
    if headers is None:
        # Without any Content-Type feedparser flags bozo; a caller with no headers at all
        # (a file, a test) has a document, not a misbehaving server. application/xml lets
        # the XML declaration pick the encoding.
        passed["content-type"] = "application/xml"
    return passed, location


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return clean_text(text, MAX_BOZO_REASON_LENGTH)


def _language(value: Any) -> str:
    m = _LANGUAGE_RE.match(_str(value))
    return m.group(1).lower() if m else ""


def _positive_int(value: Any) -> int | None:
    try:
        number = int(_str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def _update_period_minutes(feed: dict[str, Any]) -> int | None:
    period = _str(_get(feed, "sy_updateperiod")).strip().lower()
    frequency = _positive_int(_get(feed, "sy_updatefrequency"))
    if not period and frequency is None:
        return None
    # The syndication module's defaults: daily, once.
    minutes = _UPDATE_PERIOD_MINUTES.get(period or "daily")
    if minutes is None:
        return None
    return max(1, minutes // (frequency or 1))


def _hub_url(feed: dict[str, Any]) -> str:
    for link in _dicts(_get(feed, "links")):
        if _str(_get(link, "rel")).strip().lower() == "hub":
            hub = safe_url(_str(_get(link, "href")))
            if hub:
                return hub
    return ""


def _is_html_type(detail: Any) -> bool:
    return "html" in _str(_get(detail, "type")).lower()


def _map_feed(result: dict[str, Any], feed_url: str, max_entries: int) -> ParsedFeed:
    feed = _get(result, "feed") or {}
    atom = _str(_get(result, "version")).startswith("atom")
    ttl = _positive_int(_get(feed, "ttl"))
    context = _FeedContext(url=feed_url, language=_language(_get(feed, "language")), atom=atom)
    entries, skipped = _map_entries(_dicts(_get(result, "entries")), context, max_entries)
    bozo_exception = _get(result, "bozo_exception")
    return ParsedFeed(
        title=clean_text(
            _str(_get(feed, "title")),
            MAX_FEED_TITLE_LENGTH,
            is_html=atom and _is_html_type(_get(feed, "title_detail")),
        ),
        link=safe_url(_str(_get(feed, "link")), feed_url),
        language=context.language,
        ttl_minutes=min(ttl, MAX_TTL_MINUTES) if ttl else None,
        update_period_minutes=_update_period_minutes(feed),
        hub_url=_hub_url(feed),
        entries=entries,
        bozo=bool(_get(result, "bozo")),
        bozo_reason=_reason(bozo_exception) if isinstance(bozo_exception, BaseException) else "",
        skipped=skipped,
    )


# --- entry selection -----------------------------------------------------------------------


def _has_any(entry: dict[str, Any]) -> bool:
    if _str(_get(entry, "title")).strip() or _str(_get(entry, "link")).strip():
        return True
    if _str(_get(entry, "summary")).strip():
        return True
    return any(_str(_get(c, "value")).strip() for c in _dicts(_get(entry, "content")))


def _recency_key(item: tuple[int, dict[str, Any]]) -> tuple[int, float, int]:
    index, entry = item
    stamp = _get(entry, "published_parsed") or _get(entry, "updated_parsed")
    try:
        seconds = float(calendar.timegm(stamp)) if stamp else None
    except (TypeError, ValueError, OverflowError):
        seconds = None
    # Sorted descending: dated entries newest first, then the undated in document order.
    return (1, seconds, -index) if seconds is not None else (0, 0.0, -index)


def _map_entries(
    raw: Sequence[dict[str, Any]], context: _FeedContext, max_entries: int
) -> tuple[tuple[ParsedEntry, ...], int]:
    usable = [(i, e) for i, e in enumerate(raw) if _has_any(e)]
    skipped = len(raw) - len(usable)
    limit = max(max_entries, 0)
    if len(usable) > limit:
        # Rank before mapping: the mapping (nh3, extraction) is the costly part, and a
        # 100,000-item feed must not pay it for entries that are dropped anyway.
        kept = {i for i, _ in sorted(usable, key=_recency_key, reverse=True)[:limit]}
        skipped += len(usable) - limit
        usable = [(i, e) for i, e in usable if i in kept]
    entries: list[ParsedEntry] = []
    seen_guids: set[str] = set()
    for index, raw_entry in usable:
        try:
            entry = _map_entry(raw_entry, context)
        except Exception:  # one odd entry must not cost the feed its others
            logger.exception("could not map entry %d of %s", index, context.url)
            entry = None
        # One upsert batch cannot carry the same guid twice; the first (usually newest) wins.
        if entry is None or entry.guid in seen_guids:
            skipped += 1
            continue
        seen_guids.add(entry.guid)
        entries.append(entry)
    return tuple(entries), skipped


# --- one entry -----------------------------------------------------------------------------


def _datetime(stamp: Any) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime; far-future dates are kept."""
    if not stamp:
        return None
    try:
        year, month, day, hour, minute, second = tuple(stamp)[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _capped_identity(value: str) -> str:
    limit = max_length(Story, "guid")
    if len(value) <= limit:
        return value
    # Keep over-long ids distinct: a plain cut could make two of them collide.
    digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value[: limit - len(digest) - 1] + "~" + digest


def _guid(entry: dict[str, Any], link: str, title: str, summary: str) -> tuple[str, bool]:
    """The entry's identity, and whether it is its link (no guid: weak evidence, see
    ``decide.same_item``)."""
    guid = normalize_space(strip_controls(_str(_get(entry, "id"))))
    if guid:
        return _capped_identity(guid), False
    if link:
        return _capped_identity(strip_tracking_params(link)), True
    published = _str(_get(entry, "published")) or _str(_get(entry, "updated"))
    material = "\x1f".join((title, published, summary))
    return "sha256:" + hashlib.sha256(material.encode("utf-8", "replace")).hexdigest(), False


def _link(entry: dict[str, Any], base: str) -> str:
    raw = _str(_get(entry, "link"))
    if _get(entry, "guidislink") and raw == _str(_get(entry, "id")):
        # feedparser copies a permalink guid into link. Many feeds mark ids that are not URLs
        # ("12345", "12345 at https://…") as permalinks: accept an absolute URL or a path.
        return safe_url(raw, base) if raw.strip().startswith("/") else safe_url(raw)
    return safe_url(raw, base)


def _choose_content(entry: dict[str, Any]) -> tuple[str, str, bool]:
    """(value, base, is_html) of the longest HTML content, else the longest plain text."""
    best: tuple[int, int, str, str] | None = None  # (is_html, length, value, base)
    for item in _dicts(_get(entry, "content")):
        kind = _str(_get(item, "type")).lower() or "text/html"
        if "html" in kind:
            is_html = 1
        elif kind.startswith("text/"):
            is_html = 0
        else:
            continue  # images, application/xml, base64 blobs: not an article body
        value = _str(_get(item, "value"))
        if value.strip() and (best is None or (is_html, len(value)) > best[:2]):
            best = (is_html, len(value), value, _str(_get(item, "base")))
    if best is None:
        return "", "", True
    return best[2], best[3], bool(best[0])


def _plain_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{htmllib.escape(p)}</p>" for p in paragraphs)


def _html_base(declared_base: str, link: str, feed_base: str) -> str:
    # An xml:base in scope wins; without one, relative URLs in an article are most likely
    # relative to the article itself.
    declared = safe_url(declared_base, feed_base) if declared_base else ""
    return declared or link or feed_base


def _categories(entry: dict[str, Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for tag in _dicts(_get(entry, "tags")):
        term = _str(_get(tag, "term")).strip() or _str(_get(tag, "label")).strip()
        label = clean_text(term, MAX_CATEGORY_LENGTH)
        if label:
            seen.setdefault(label, None)
        if len(seen) >= MAX_CATEGORIES:
            break
    return tuple(seen)


def _looks_like_image(url: str, kind: str, medium: str = "") -> bool:
    if kind:
        return kind.lower().startswith("image/")
    if medium:
        return medium.lower() == "image"
    return _IMAGE_EXTENSION_RE.search(urlsplit(url).path) is not None


def _feed_image(entry: dict[str, Any], base: str) -> str:
    """The image the feed itself attaches: enclosure, media:content, media:thumbnail."""
    for link in _dicts(_get(entry, "links")):
        href = _str(_get(link, "href"))
        if _str(_get(link, "rel")) == "enclosure" and _looks_like_image(
            href, _str(_get(link, "type"))
        ):
            url = image_url(href, base)
            if url:
                return url
    for media in _dicts(_get(entry, "media_content")):
        href = _str(_get(media, "url"))
        if _looks_like_image(href, _str(_get(media, "type")), _str(_get(media, "medium"))):
            url = image_url(href, base)
            if url:
                return url
    for thumb in _dicts(_get(entry, "media_thumbnail")):
        url = image_url(_str(_get(thumb, "url")), base)
        if url:
            return url
    return ""


def _media_credit(entry: dict[str, Any]) -> str:
    for credit in _dicts(_get(entry, "media_credit")):
        text = clean_text(_str(_get(credit, "content")), 300)
        if text:
            return text
    return clean_text(_str(_get(entry, "credit")), 300)


def _same_image(a: str, b: str) -> bool:
    """Same picture, ignoring WordPress's "-1024x678" size variants and the query."""
    if not a or not b:
        return False
    path_a, path_b = urlsplit(a).path, urlsplit(b).path
    return _WP_SIZE_SUFFIX_RE.sub("", path_a) == _WP_SIZE_SUFFIX_RE.sub("", path_b)


def _image(
    entry: dict[str, Any], bodies: Sequence[tuple[str, str]], base: str
) -> tuple[str, str, str]:
    """(url, caption, credit). BeautifulSoup only runs on a body whose first <img> is used."""
    url = _feed_image(entry, base)
    credit = _media_credit(entry)
    for html, body_base in bodies:
        if not html:
            continue
        first_src = _FIRST_IMG_SRC_RE.search(html)
        if first_src is None:
            continue
        if url and not _same_image(url, image_url(htmllib.unescape(first_src.group(1)), body_base)):
            continue
        lead_url, caption, lead_credit = extract_lead_image(html, body_base)
        if lead_url:
            return url or lead_url, caption, credit or lead_credit
    return url, "", credit


def _byline(entry: dict[str, Any]) -> str:
    detail = _get(entry, "author_detail")
    raw = _str(_get(detail, "name")) or _str(_get(entry, "author"))
    byline = clean_text(raw, MAX_BYLINE_LENGTH)
    # A bare e-mail address (RSS <author>) is contact data, not a byline.
    return "" if "@" in byline and " " not in byline else byline


def _declared_outlet(entry: dict[str, Any]) -> str:
    source = _get(entry, "source")
    name = _str(_get(source, "title")) if isinstance(source, dict) else ""
    return clean_text(name or _str(_get(entry, "publisher")), max_length(Story, "original_outlet"))


def _map_entry(entry: dict[str, Any], context: _FeedContext) -> ParsedEntry | None:
    title_raw = _str(_get(entry, "title"))
    title = clean_text(
        title_raw,
        max_length(Story, "title"),
        is_html=context.atom and _is_html_type(_get(entry, "title_detail")),
    )
    link = _link(entry, context.url)

    content_raw, content_detail_base, content_is_html = _choose_content(entry)
    summary_original = summary_raw = _str(_get(entry, "summary"))
    summary_is_html = _is_html_type(_get(entry, "summary_detail")) or not _get(
        entry, "summary_detail"
    )
    if summary_raw == content_raw:
        summary_raw = ""  # feedparser copies content:encoded into summary when alone
    # Every later step (the outlet's box, the byline, the lead image, sanitising) reads at
    # most the capped bodies: a 10 MB body must not cost a 10 MB parse (threats.md D4).
    content_raw = content_raw[:MAX_HTML_LENGTH]
    summary_raw = summary_raw[:MAX_HTML_LENGTH]
    if content_raw and not content_is_html:
        content_raw = _plain_to_html(content_raw)
    if summary_raw and not summary_is_html:
        summary_raw = _plain_to_html(summary_raw)
    summary_detail_base = _str(_get(_get(entry, "summary_detail"), "base"))
    content_base = _html_base(content_detail_base, link, context.url)
    summary_base = _html_base(summary_detail_base, link, context.url)

    content_box_free, related = _without_related_box(content_raw, content_base)
    summary_box_free, summary_related = _without_related_box(summary_raw, summary_base)
    content_html = strip_boilerplate(clean_html(content_box_free, content_base))
    summary_html = strip_boilerplate(clean_html(summary_box_free, summary_base))

    if not (title or link or content_html.strip() or summary_html.strip()):
        return None

    byline = _byline(entry)
    person, outlet = parse_byline(byline, content_raw or summary_raw)
    if not outlet:
        # Aggregated and wire feeds name the outlet in <source> or dc:publisher instead.
        outlet = _declared_outlet(entry)
    image_url, image_caption, image_credit = _image(
        entry, ((content_raw, content_base), (summary_raw, summary_base)), content_base
    )
    title_detail = _get(entry, "title_detail")
    language = _language(_get(title_detail, "language")) or context.language
    guid, guid_is_link = _guid(entry, link, title_raw, summary_original)
    return ParsedEntry(
        guid=guid,
        link=link,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        raw_html=strip_controls(content_raw or summary_raw),
        byline=byline,
        author=person,
        original_outlet=outlet,
        published=_datetime(_get(entry, "published_parsed")),
        updated=_datetime(_get(entry, "updated_parsed")),
        categories=_categories(entry),
        image_url=image_url,
        image_caption=image_caption,
        image_credit=image_credit,
        language=language,
        related_lines=related or summary_related,
        guid_is_link=guid_is_link,
    )


def _without_related_box(html: str, base: str) -> tuple[str, tuple[RelatedLine, ...]]:
    if not html or not has_related_box(html):
        return html, ()
    return extract_related_box(html, base)
