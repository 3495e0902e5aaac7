"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) in the shape feedparser gives.

feedparser 6.0 reads RSS and Atom only. Turning a JSON Feed into the same dictionaries lets
``parsing._map_feed`` treat every format alike, so sanitising, URL checks, dates, bylines and
related-box extraction have one implementation. Nothing here trusts the input: every value
is type-checked, and anything that is not a JSON Feed comes back ``bozo`` with a reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["looks_like_json_feed", "parse_json_feed"]

_VERSION_PREFIX = "https://jsonfeed.org/version/"


class NotAJSONFeed(ValueError):
    """The body is JSON (or claims to be) but not a JSON Feed."""


def looks_like_json_feed(body: bytes) -> bool:
    """The body opens like a JSON object. Decided by the bytes, not the Content-Type, which
    servers get wrong both ways (RSS as application/json, JSON Feed as text/plain)."""
    return (body or b"")[:512].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def parse_json_feed(body: bytes) -> dict[str, Any]:
    """A feedparser-shaped result: ``feed``, ``entries``, ``version``, ``bozo``."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
        if not isinstance(doc, dict):
            raise NotAJSONFeed("a JSON Feed is an object at the top level")
        version = _text(doc.get("version"))
        if not version.startswith(_VERSION_PREFIX):
            raise NotAJSONFeed(f"not a JSON Feed (version {version[:80]!r})")
        items = doc.get("items")
        if not isinstance(items, list):
            raise NotAJSONFeed("a JSON Feed has an items list")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return {"feed": {}, "entries": [], "bozo": True, "bozo_exception": exc}
    feed_authors = _authors(doc)
    return {
        "version": "json" + version.removeprefix(_VERSION_PREFIX),
        "bozo": False,
        "feed": {
            "title": _text(doc.get("title")),
            "link": _text(doc.get("home_page_url")),
            "language": _text(doc.get("language")),
            "links": [
                {"rel": "hub", "href": _text(hub.get("url"))}
                for hub in _objects(doc.get("hubs"))
                if _text(hub.get("url"))
            ],
        },
        "entries": [_entry(item, feed_authors) for item in _objects(items)],
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # ids are strings in 1.1, but 1.0 feeds often use numbers
    return _text(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _authors(obj: dict[str, Any]) -> list[str]:
    # 1.1 has "authors"; 1.0 had a single "author".
    people = _objects(obj.get("authors"))
    if isinstance(obj.get("author"), dict):
        people.append(obj["author"])
    return [name for person in people if (name := _text(person.get("name")).strip())]


def _struct_time(value: Any):
    """RFC 3339 → UTC struct_time, as feedparser's *_parsed; None if absent or unreadable."""
    text = _text(value).strip()
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    try:
        return stamp.astimezone(UTC).timetuple()
    except (OverflowError, ValueError):
        return None


def _entry(item: dict[str, Any], feed_authors: list[str]) -> dict[str, Any]:
    content = []
    if html := _text(item.get("content_html")):
        content.append({"type": "text/html", "value": html})
    if text := _text(item.get("content_text")):
        content.append({"type": "text/plain", "value": text})
    authors = _authors(item) or feed_authors
    links = [
        {
            "rel": "enclosure",
            "href": _text(attachment.get("url")),
            "type": _text(attachment.get("mime_type")),
        }
        for attachment in _objects(item.get("attachments"))
    ]
    image = _text(item.get("image")) or _text(item.get("banner_image"))
    entry: dict[str, Any] = {
        "id": _id(item.get("id")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "title": _text(item.get("title")),
        "title_detail": {"type": "text/plain", "language": _text(item.get("language"))},
        "content": content,
        "links": links,
        "media_content": [{"url": image, "medium": "image"}] if image else [],
        "tags": [{"term": tag} for tag in _list(item.get("tags")) if isinstance(tag, str)],
        "published_parsed": _struct_time(item.get("date_published")),
        "updated_parsed": _struct_time(item.get("date_modified")),
        "published": _text(item.get("date_published")),
        "updated": _text(item.get("date_modified")),
    }
    if summary := _text(item.get("summary")):
        entry["summary"] = summary
        entry["summary_detail"] = {"type": "text/plain"}
    if authors:
        entry["author"] = ", ".join(authors)
    return entry
