"""The ``syndication`` template library: feed links on pages, derived from the format registry.

Views in ``feeds.web`` cannot import this layer; they name the listing a page mirrors
(``feeds.web.views.FeedListing``) and the templates turn it into links here:

* ``{% alternate_links feeds title %}``: one ``<link rel="alternate">`` per listing format;
* ``{% subscribe_links feeds %}``: the same as ``<a>`` elements, for readers;
* ``{% site_feed_links %}``: the footer's list (the all-stories feeds and the site documents).

Without a listing (``feeds`` empty) the links are the home page's.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from feeds.syndication.formats import LISTING_FORMATS, SITE_FORMATS
from feeds.web.templatetags import cached_reverse

register = template.Library()


def _links(listing: Any) -> list[tuple[str, str, str]]:
    """(label, media type, URL) of every listing format of ``listing`` (home if none)."""
    name = getattr(listing, "name", "home")
    args = getattr(listing, "args", ())
    query = getattr(listing, "query", "")
    suffix = f"?{query}" if query else ""
    return [
        (fmt.label, fmt.media_type, cached_reverse(f"feeds:{name}_{fmt.name}", *args) + suffix)
        for fmt in LISTING_FORMATS
    ]


@register.simple_tag
def alternate_links(listing: Any = None, title: str = "") -> SafeString:
    title = title or f"{settings.SITE_NAME}: latest stories"
    return format_html_join(
        "\n",
        '<link rel="alternate" type="{}" title="{} ({})" href="{}">',
        ((media, title, label, url) for label, media, url in _links(listing)),
    )


@register.simple_tag
def subscribe_links(listing: Any = None) -> SafeString:
    return format_html_join(
        "\n", '<a href="{}" type="{}">{}</a>', ((u, m, label) for label, m, u in _links(listing))
    )


@register.simple_tag
def site_feed_links() -> SafeString:
    items = [
        format_html('<li><a href="{}">{}</a></li>', url, label) for label, _, url in _links(None)
    ]
    items += [
        format_html('<li><a href="{}">{}</a></li>', cached_reverse(f"feeds:{fmt.name}"), fmt.label)
        for fmt in SITE_FORMATS
    ]
    return format_html_join("\n", "{}", ((item,) for item in items))
