"""The registry of output formats: adding a format to the site is one entry here.

A *listing* format exists for every listing page P (home, country, country × topic, topic,
source, search) at ``P + route``, named ``<listing>_<name>``; a *site* format is one document
for the whole site at ``route``, named ``<name>``. The URLconf (``feeds.urls``), WebSub's
topic URLs (``websub``), the pages' ``<link rel="alternate">`` and subscribe links
(``feeds.syndication.templatetags``) and the OPML's outlines are all derived from ``FORMATS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse

from feeds.syndication.feeds import AtomFeed, JsonFeed, RssFeed, SafeFeed, opml


@dataclass(frozen=True)
class ListingFormat:
    """A feed of every listing page P, at ``P + route``, named ``<listing>_<name>``."""

    name: str  # the URL name's suffix: "rss" -> "country_rss"
    label: str  # what readers see: "RSS", "Atom", "JSON Feed"
    media_type: str  # the type attribute of <link rel="alternate"> and <a type=...>
    route: str  # after the listing page's path: "feed/atom/"
    generator: type[SafeFeed]


@dataclass(frozen=True)
class SiteFormat:
    """One document for the whole site, at ``route``, named ``<name>``."""

    name: str
    label: str
    media_type: str
    route: str
    view: Callable[..., HttpResponse]


FORMATS: tuple[ListingFormat | SiteFormat, ...] = (
    ListingFormat("rss", "RSS", "application/rss+xml", "feed/", RssFeed),
    ListingFormat("atom", "Atom", "application/atom+xml", "feed/atom/", AtomFeed),
    ListingFormat("json", "JSON Feed", "application/feed+json", "feed/json/", JsonFeed),
    SiteFormat("opml", "All feeds (OPML)", "text/x-opml", "feeds.opml", opml),
)

LISTING_FORMATS = tuple(f for f in FORMATS if isinstance(f, ListingFormat))
SITE_FORMATS = tuple(f for f in FORMATS if isinstance(f, SiteFormat))
# The listing format that site documents point at (OPML's outlines): the first one. Site views
# get its name as the ``feed_format`` keyword.
PRIMARY = LISTING_FORMATS[0]
