"""Typed value objects passed between the ingest stages.

Stages never hand each other feedparser dicts or HTTP responses: fetching returns a
``FetchResult``, parsing returns a ``ParsedFeed`` of ``ParsedEntry``, tagging takes a
``TagInput`` and returns a ``TagResult``. All datetimes are timezone-aware (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one conditional GET that did not fail."""

    url: str  # the URL finally answered (after temporary and permanent redirects)
    status: int  # 200 or 304
    body: bytes | None  # decoded (gunzipped) body; None on 304
    headers: Mapping[str, str]  # final response headers, keys lower-cased
    etag: str = ""
    last_modified: str = ""
    # Set when every hop to the final URL was a 301/308: the feed's URL should change.
    permanent_url: str | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class RelatedLine:
    """One line of a related-stories box an outlet published inside its article."""

    country_label: str  # as printed, e.g. "United States (Alaska)"
    country_slug: str | None  # one of our nine country slugs, or None if unknown
    headline: str
    url: str  # http(s) only, else ""
    outlet: str


@dataclass(frozen=True)
class ParsedEntry:
    guid: str  # stable identity within the feed (guid, else link, else content hash)
    link: str  # http(s) URL or ""
    title: str  # plain text, no markup, no control characters
    summary_html: str = ""  # nh3-sanitised
    content_html: str = ""  # nh3-sanitised, outlet's related box removed
    raw_html: str = ""  # the unsanitised content, stored for re-sanitising, never rendered
    byline: str = (
        ""  # raw dc:creator / author, e.g. "Atle Staalesen, The Independent Barents Observer"
    )
    author: str = ""  # the person, e.g. "Atle Staalesen"
    original_outlet: str = ""  # the outlet named in the byline, e.g. "CBC News", else ""
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    image_url: str = ""
    image_caption: str = ""
    image_credit: str = ""
    language: str = ""
    related_lines: tuple[RelatedLine, ...] = ()
    # No guid: the identity is the link, which a show page gives every episode (weak evidence).
    guid_is_link: bool = False


@dataclass(frozen=True)
class ParsedFeed:
    title: str = ""
    link: str = ""
    language: str = ""
    ttl_minutes: int | None = None  # RSS <ttl>
    update_period_minutes: int | None = None  # sy:updatePeriod / sy:updateFrequency
    hub_url: str = ""  # WebSub hub, if advertised
    entries: tuple[ParsedEntry, ...] = ()
    bozo: bool = False
    bozo_reason: str = ""
    skipped: int = 0  # entries dropped (over the cap, or unusable), for the fetch log


@dataclass(frozen=True)
class TagInput:
    title: str
    text: str = ""  # plain-text teaser/body (may be empty)
    categories: tuple[str, ...] = ()  # the feed's own labels, e.g. "Politics (Russia)"
    outlet: str = ""  # the original outlet from the byline, e.g. "Yle News"
    source_name: str = ""  # the outlet whose feed we read
    source_country: str = ""  # that source's home country slug, or ""
    language: str = ""
    # The primary country most of this source's recent stories with strong evidence got
    # (store.usual_countries): a weak prior, used only when nothing else places a story.
    usual_country: str = ""


class TermMatch(NamedTuple):
    """One gazetteer term the tagger matched: the term as written in the data, where, and the
    folded words either side (what ``feeds.entities`` links stories from)."""

    term: str
    in_title: bool
    before: tuple[str, ...]  # up to two folded words before the match, nearest last
    after: tuple[str, ...]  # up to two folded words after it, nearest first


@dataclass(frozen=True)
class TagResult:
    countries: tuple[str, ...] = ()  # country slugs, primary first
    topics: tuple[str, ...] = ()  # topic slugs
    scores: Mapping[str, float] = field(default_factory=dict)
    # What decided the primary: "label" (the feed editor's), "text", "outlet" (its prior),
    # "fallback" (the text names no country: outlet's or source's home, byline, the source's
    # usual country), "weak" (only the story's language) or "none".
    basis: str = ""
    margin: float = 1.0  # the primary's lead over the runner-up, as a share of its score
    why: Mapping[str, str] = field(default_factory=dict)  # country or topic slug → why
    terms: tuple[TermMatch, ...] = ()  # every gazetteer term matched, in text order

    @property
    def primary(self) -> str | None:
        return self.countries[0] if self.countries else None
