"""Request parameters of the reader pages: each page's are read and checked here, in one place.

A page reads only the parameters its class names; everything else in a query string (utm_*,
junk) is ignored and never reaches the page cache key (``cache_key()`` is the canonical form
of what was read). A parameter that is present but wrong raises ``BadParameter``: a 400 with
the friendly error page saying what was wrong, never a 500 and never a silent page 1. The
search form reports its problems next to the form instead (``SearchParams.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.core.exceptions import BadRequest
from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.utils.http import urlencode

from feeds.models import Country, Story, Topic
from feeds.search import check_query, normalise_query
from feeds.text.sanitizing import normalize_space

SEARCH_MAX_PAGE = 25  # PAGE_SIZE results a page: the COUNT_CAP newest matches
CURSOR_MAX_LENGTH = 64
# PostgreSQL's timestamptz accepts offsets up to ±15:59; Python's datetime up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
MAX_PK = 2**63 - 1  # bigint


class BadParameter(BadRequest):
    """A query parameter that is present but cannot be used; the message is shown to readers."""


# --- Listings: keyset cursors ----------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first listing: a story's publication time and id."""

    published_at: datetime
    pk: int

    @classmethod
    def parse(cls, raw: str) -> Cursor:
        """``2026-01-05T10:00:00.000000Z,123`` -> Cursor; anything else raises BadParameter."""
        raw = raw.strip()
        stamp, sep, pk = raw.rpartition(",")
        # isdigit() alone admits "²" and other non-ASCII digits that int() refuses.
        if not sep or len(raw) > CURSOR_MAX_LENGTH or not (pk.isascii() and pk.isdigit()):
            raise BadParameter("This page link is not valid: its position marker is damaged.")
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            raise BadParameter("This page link is not valid: its date is damaged.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        offset = moment.utcoffset() or timedelta(0)
        if abs(offset) > MAX_UTC_OFFSET or int(pk) > MAX_PK:
            raise BadParameter("This page link is not valid: its position is out of range.")
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved across midnight by its offset
            raise BadParameter("This page link is not valid: its date is out of range.") from None
        return cls(moment, int(pk))

    @classmethod
    def of(cls, story: Story) -> Cursor:
        return cls(story.published_at, story.pk)

    def __str__(self) -> str:
        return f"{self.published_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ},{self.pk}"

    def older(self) -> Q:
        return Q(published_at__lt=self.published_at) | Q(
            published_at=self.published_at, pk__lt=self.pk
        )

    def newer(self) -> Q:
        return Q(published_at__gt=self.published_at) | Q(
            published_at=self.published_at, pk__gt=self.pk
        )


@dataclass(frozen=True)
class NoParams:
    """A page that reads no parameter: its query string is ignored."""

    @classmethod
    def parse(cls, request: HttpRequest) -> NoParams:
        return cls()

    def cache_key(self) -> str:
        return ""


@dataclass(frozen=True)
class ListingParams:
    """``?before=<cursor>`` (older stories) or ``?after=<cursor>`` (newer); ``before`` wins."""

    before: Cursor | None = None
    after: Cursor | None = None

    @classmethod
    def parse(cls, request: HttpRequest) -> ListingParams:
        before = _cursor(request.GET, "before")
        after = None if before else _cursor(request.GET, "after")
        return cls(before, after)

    def cache_key(self) -> str:
        if self.before:
            return f"before={self.before}"
        return f"after={self.after}" if self.after else ""


def _cursor(query: QueryDict, name: str) -> Cursor | None:
    raw = query.get(name)
    if raw is None or not raw.strip():
        return None
    return Cursor.parse(raw)


@dataclass(frozen=True)
class SitemapParams:
    """Django's sitemap view reads ``?p=`` (the page of a long sitemap) and answers 404 itself
    for a page that does not exist; anything that is not a number is refused here."""

    page: str = ""

    @classmethod
    def parse(cls, request: HttpRequest) -> SitemapParams:
        raw = request.GET.get("p", "").strip()
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) < 6):
            raise BadParameter("There is no such sitemap page.")
        return cls(raw)

    def cache_key(self) -> str:
        return f"p={self.page}" if self.page else ""


# --- Search ----------------------------------------------------------------------------------


QUOTED_VALUE_CHARS = 60


def printable(text: str) -> str:
    """``text`` as a page may show it back to the reader who sent it: each control character
    (a NUL among them) shown as �, never echoed into the page."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def quoted(value: object) -> str:
    """A sent value as a message quotes it: ``printable``, at most ``QUOTED_VALUE_CHARS``."""
    text = printable(str(value))
    return text if len(text) <= QUOTED_VALUE_CHARS else text[: QUOTED_VALUE_CHARS - 1] + "…"


class QuotingChoiceField(forms.ChoiceField):
    """A choice whose refusal quotes the sent value through ``quoted``."""

    def validate(self, value: object) -> None:
        try:
            super().validate(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": quoted(value)},
            ) from None


class SearchForm(forms.Form):
    """The search page's parameters. Messages are written for readers: they appear next to
    the form. ``q`` is normalised before these checks (``feeds.search.normalise_query``)."""

    q = forms.CharField(required=False, strip=True)
    country = QuotingChoiceField(required=False)
    topic = QuotingChoiceField(required=False)
    since = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": "Use a date."}
    )
    until = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": "Use a date."}
    )
    page = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=SEARCH_MAX_PAGE,
        error_messages={
            "invalid": "There is no such page of results.",
            "min_value": "There is no such page of results.",
            "max_value": f"Results are shown up to page {SEARCH_MAX_PAGE}; narrow the search.",
        },
    )

    def __init__(self, data: QueryDict, countries: list[Country], topics: list[Topic]):
        super().__init__(data)
        country = self.fields["country"]
        topic = self.fields["topic"]
        assert isinstance(country, forms.ChoiceField) and isinstance(topic, forms.ChoiceField)
        country.choices = [("", "All countries")] + [(c.slug, c.name) for c in countries]
        country.error_messages["invalid_choice"] = "We don’t cover a country called “%(value)s”."
        topic.choices = [("", "All topics")] + [(t.slug, t.name) for t in topics]
        topic.error_messages["invalid_choice"] = "There is no topic called “%(value)s”."

    def clean_q(self) -> str:
        query = normalise_query(self.cleaned_data.get("q"))
        problem = check_query(query)
        if problem:
            raise forms.ValidationError(problem)
        return query

    def clean(self) -> dict:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data


SEARCH_NAMES = ("q", "country", "topic", "since", "until", "page")
# A search feed is the search without its pages: ``page`` is not read (nor checked).
SEARCH_FEED_NAMES = tuple(name for name in SEARCH_NAMES if name != "page")


@dataclass(frozen=True)
class SearchRequest:
    """The search page's parameters as sent, whitespace collapsed, not yet checked:
    reading them needs no database, so a cached result page is found without one."""

    values: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, request: HttpRequest, names: tuple[str, ...] = SEARCH_NAMES) -> SearchRequest:
        values = []
        for name in names:
            value = request.GET.get(name, "")
            # Whitespace only: a NUL or other control character is for the form to refuse.
            value = normalize_space(value)
            if value:  # an empty value is the same as no value
                values.append((name, value))
        return cls(tuple(values))

    def cache_key(self) -> str:
        return urlencode(self.values)


@dataclass
class SearchParams:
    """The search page's parameters once read: valid values, or the errors to show."""

    query: str = ""
    raw_query: str = ""  # as typed (normalised, ``printable``), shown in the form even when refused
    country: Country | None = None
    topic: Topic | None = None
    since: date | None = None
    until: date | None = None
    page: int = 1
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def check(
        cls, sent: SearchRequest, countries: list[Country], topics: list[Topic]
    ) -> SearchParams:
        data = QueryDict(mutable=True)
        data.update(dict(sent.values))
        form = SearchForm(data, countries, topics)
        raw_query = printable(data.get("q", ""))
        if not form.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            return cls(raw_query=raw_query, errors=errors)
        clean = form.cleaned_data
        return cls(
            query=clean["q"],
            raw_query=raw_query,
            country=next((c for c in countries if c.slug == clean["country"]), None),
            topic=next((t for t in topics if t.slug == clean["topic"]), None),
            since=clean["since"],
            until=clean["until"],
            page=clean["page"] or 1,
        )

    def problem(self) -> str:
        """Every error in one sentence, for answers that have no form to show them next to
        (the search feeds' 400)."""
        return " ".join(message for messages in self.errors.values() for message in messages)

    def filters(self) -> dict[str, str]:
        """The search's own parameters (no page), canonical: for links, feeds and the cache."""
        values = [
            ("q", self.query),
            ("country", self.country.slug if self.country else ""),
            ("topic", self.topic.slug if self.topic else ""),
            ("since", self.since.isoformat() if self.since else ""),
            ("until", self.until.isoformat() if self.until else ""),
        ]
        return {key: value for key, value in values if value}

    def query_string(self, page: int | None = None) -> str:
        params = self.filters()
        if page and page > 1:
            params["page"] = str(page)
        return urlencode(params)
