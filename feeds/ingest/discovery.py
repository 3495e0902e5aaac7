"""Feed autodiscovery: the feeds a web page advertises with ``<link rel="alternate">``."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/xml",
        "text/xml",
    }
)
# Autodiscovery links sit in <head>; a page's first 512 KiB is more than enough.
MAX_HTML = 512 * 1024


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def advertised_feeds(html: bytes, base_url: str) -> list[str]:
    """Absolute http(s) URLs of the feeds ``html`` advertises, in page order, no repeats."""
    soup = BeautifulSoup(html[:MAX_HTML], "html.parser")
    found: list[str] = []
    for link in soup.find_all("link", href=True):
        rel = {value.lower() for value in (link.get("rel") or [])}
        kind = str(link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rel or kind not in FEED_TYPES:
            continue
        url = urljoin(base_url, str(link["href"]).strip())
        if urlsplit(url).scheme in {"http", "https"} and url not in found:
            found.append(url)
    return found
