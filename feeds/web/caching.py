"""The one HTTP cache of public GET responses: pages, feeds, sitemaps and OPML alike.

A response is rendered once per *identity* (the origin, the path and the query parameters the
view reads, already normalised by the caller; anything else in the query string never reaches
the key, so made-up parameters cannot multiply the entries) and kept with the versions of the
generations it depends on (``feeds.generation``): the global one and its listing's
(``scopes_of``: a country page depends on that country's counter, a story page on its own, every
other page on ``latest``). So a new Norway story rebuilds the home page, /feed/ and Norway's
pages, and leaves Finland's and every other story's page in the cache.

Every response carries a strong ETag (a digest of its bytes) and a Last-Modified that moves
only when the bytes do: a rebuild that renders the same bytes (a change elsewhere) keeps
answering conditional requests with 304. That date is kept per identity, in its own key,
for as long as the policy says (long for a fixed page, short for a search anyone can mint).

Entries are fresh for a while (reader pages carry relative times such as "2 hours ago", so at
most ``BUCKET_SECONDS``), each for a randomly shortened span, so entries stored together do
not all go stale at the same second. An out-of-date entry (stale, or of older versions) is
rebuilt by ONE request, which takes a short lock; requests for it meanwhile get the old entry
(stale-while-revalidate), so a change or an expiry never sends every worker to the database
for the same page at once. Policies differ only in numbers and in who bypasses the cache:
signed-in editors always get a fresh, private page so their changes show at once. A cache
outage never breaks a page: it is rendered every time, still with validators.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date

from feeds import generation

# Headers that belong to one response, or that are set again on the way out.
# The global generation the request being served read with its page (``serve``), so that what
# a page keeps per process (``feeds.web.views.Navigation``) is checked against it without a
# second round trip. None outside ``serve`` or when the cache is down.
_seen_generation: ContextVar[int | None] = ContextVar("seen_generation", default=None)


def global_generation() -> int | None:
    """The global generation this request's page was read against; read from the cache when
    the request did not go through ``serve`` (None when the cache is down)."""
    seen = _seen_generation.get()
    return seen if seen is not None else generation.generation()


_NOT_STORED = frozenset({"etag", "last-modified", "cache-control", "expires", "vary"})


@dataclass(frozen=True)
class Policy:
    """How one kind of response is cached."""

    timeout: Callable[[], int]  # seconds an entry is fresh (at most; each is shortened at random)
    max_age: Callable[[], int]  # seconds a browser or proxy may reuse it unasked
    state_timeout: Callable[[], int]  # how long Last-Modified is remembered per identity
    bucket: int = 0  # > 0: entries are fresh for at most `bucket` seconds (relative times)
    fresh_for_editors: bool = False  # signed-in users bypass the cache, privately
    max_bytes: int = 4 * 1024 * 1024  # bigger bodies (full-text feeds) are rebuilt per request


@dataclass(frozen=True)
class Entry:
    """A response as the cache keeps it: bytes, headers, and its two validators."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    etag: str
    last_modified: int  # epoch seconds


@dataclass(frozen=True)
class Stored:
    """An entry in the cache, with what it was rendered against and until when it is fresh."""

    entry: Entry
    versions: tuple[int, ...]
    fresh_until: float  # epoch seconds


# How long one request may hold the right to rebuild an entry (others get the old one
# meanwhile); a rebuild that dies holds it no longer than this.
REBUILD_LOCK_SECONDS = 30
# An entry stays in the cache this long after it goes stale, to be served while rebuilt.
STALE_SECONDS = 120
# The share of its freshness an entry may lose at random (so entries stored together expire
# spread over this share of their lifetime, never all at once).
JITTER = 0.25


def _setting(name: str) -> Callable[[], int]:
    # Read at call time so tests (and a settings override) take effect without a reload.
    return lambda: int(getattr(settings, name))


def _fixed(seconds: int) -> Callable[[], int]:
    return lambda: seconds


BUCKET_SECONDS = 300  # relative times and "this week" counts are at most this stale
MONTH = 30 * 24 * 3600

PAGES = Policy(
    timeout=_fixed(BUCKET_SECONDS),
    max_age=_setting("PAGES_MAX_AGE"),
    state_timeout=_fixed(MONTH),
    bucket=BUCKET_SECONDS,
    fresh_for_editors=True,
)
# Anyone can mint new searches: their pages and dates leave the cache with the bucket.
SEARCH_PAGES = Policy(
    timeout=_fixed(BUCKET_SECONDS),
    max_age=_setting("PAGES_MAX_AGE"),
    state_timeout=_fixed(BUCKET_SECONDS),
    bucket=BUCKET_SECONDS,
    fresh_for_editors=True,
)
# Changes bump the generation; the timeout only bounds how long a change that forgot to bump
# it (a raw SQL fix, say) can stay invisible.
FEEDS = Policy(
    timeout=_setting("FEEDS_CACHE_SECONDS"),
    max_age=_setting("FEEDS_MAX_AGE"),
    state_timeout=_fixed(MONTH),
)
# Anyone can mint new search URLs: what they put in the cache must leave it soon.
SEARCH_FEEDS = Policy(
    timeout=lambda: min(FEEDS.timeout(), BUCKET_SECONDS),
    max_age=_setting("FEEDS_MAX_AGE"),
    state_timeout=_fixed(BUCKET_SECONDS),
)
# Countries and topics come from migrations and never change at runtime.
FIXED = Policy(
    timeout=_fixed(24 * 3600), max_age=_setting("FEEDS_MAX_AGE"), state_timeout=_fixed(MONTH)
)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def identity_of(request: HttpRequest, params: str = "", *extra: str) -> str:
    """What a response depends on: origin, path, the normalised parameters read, and extras."""
    return "|".join((origin(request), request.path, params, *extra))


def entry_of(identity: str, response: HttpResponse, policy: Policy) -> Entry:
    """An entry for a rendered 200 response; its Last-Modified is when these bytes first showed.

    The date is kept per identity across generations, so a rebuild that renders the same bytes
    keeps the old date and conditional requests still get 304.
    """
    body = response.content
    etag = f'"{hashlib.sha256(body).hexdigest()[:40]}"'
    state_key = f"feeds:http:state:{digest(identity)}"
    state = cache.get(state_key)
    if isinstance(state, tuple) and len(state) == 2 and state[0] == etag:
        last_modified = int(state[1])
    else:
        last_modified = int(time.time())
        cache.set(state_key, (etag, last_modified), policy.state_timeout())
    headers = tuple(
        (name, value) for name, value in response.items() if name.lower() not in _NOT_STORED
    )
    return Entry(body, headers, etag, last_modified)


def respond(request: HttpRequest, entry: Entry, policy: Policy) -> HttpResponse:
    """The entry as a response, or a 304 when the request's validators match it."""
    response = HttpResponse(entry.body)
    for name, value in entry.headers:
        response[name] = value
    response["ETag"] = entry.etag
    response["Last-Modified"] = http_date(entry.last_modified)
    patch_cache_control(response, public=True, max_age=policy.max_age())
    answer = get_conditional_response(
        request, etag=entry.etag, last_modified=entry.last_modified, response=response
    )
    return response if answer is None else answer


def scopes_of(request: HttpRequest) -> tuple[str, ...]:
    """The listing generations a page depends on, from the URL it answers (``feeds.urls``):
    one country's, topic's or source's pages (and their feeds), a story's page, or ``latest``
    (home, /feed/, search, storylines, sitemaps: anything that can list any story)."""
    match = request.resolver_match
    name = (match.url_name or "") if match else ""
    kwargs = match.kwargs if match else {}
    kind = name.split("_", 1)[0]  # country_topic_atom -> country: its stories are Norway's
    if kind in ("country", "topic", "source") and "slug" in kwargs:
        return (f"{kind}:{kwargs['slug']}",)
    if name == "story" and "pk" in kwargs:
        return (f"story:{kwargs['pk']}",)
    return (generation.LATEST,)


def entry_key(identity: str) -> str:
    return f"feeds:http:{generation.LAYOUT_VERSION}:{digest(identity)}"


def rebuild_key(identity: str) -> str:
    """The lock held by the one request rebuilding this entry."""
    return f"feeds:http:rebuild:{digest(identity)}"


def _fresh_until(policy: Policy) -> float:
    lifetime = policy.bucket or policy.timeout()
    return time.time() + lifetime * (1 - JITTER * random.random())  # spread, not secret


def serve(
    request: HttpRequest,
    identity: str,
    render: Callable[[], HttpResponse],
    policy: Policy,
) -> HttpResponse:
    """A GET response for ``identity``: from the cache, or rendered once and stored.

    Only 200 responses are stored and given validators; anything else (404, a redirect, a 400)
    goes out as ``render`` made it.
    """
    if policy.fresh_for_editors and request.user.is_authenticated:
        response = _rendered(render())
        patch_cache_control(response, private=True, no_cache=True)
        return response
    key = entry_key(identity)
    counters = generation.watched(scopes_of(request))
    values = cache.get_many([key, *counters])  # one round trip: the entry and its versions
    current = generation.versions(values, counters)  # None: the cache is down, render
    token = _seen_generation.set(current[0] if current is not None else None)
    try:
        return _serve_with(request, identity, render, policy, key, values.get(key), current)
    finally:
        _seen_generation.reset(token)


def _serve_with(
    request: HttpRequest,
    identity: str,
    render: Callable[[], HttpResponse],
    policy: Policy,
    key: str,
    stored: object,
    current: tuple[int, ...] | None,
) -> HttpResponse:
    if current is not None and isinstance(stored, Stored):
        if stored.versions == current and time.time() < stored.fresh_until:
            return respond(request, stored.entry, policy)
        lock = rebuild_key(identity)
        if not cache.add(lock, 1, REBUILD_LOCK_SECONDS):  # another request is rebuilding it
            return respond(request, stored.entry, policy)
        try:
            return _render_and_store(request, identity, render, policy, key, current)
        finally:
            cache.delete(lock)
    return _render_and_store(request, identity, render, policy, key, current)


def _render_and_store(
    request: HttpRequest,
    identity: str,
    render: Callable[[], HttpResponse],
    policy: Policy,
    key: str,
    current: tuple[int, ...] | None,
) -> HttpResponse:
    response = _rendered(render())
    if response.status_code != 200 or response.streaming:
        return response
    entry = entry_of(identity, response, policy)
    if current is not None and len(entry.body) <= policy.max_bytes:
        stored = Stored(entry, current, _fresh_until(policy))
        cache.set(key, stored, (policy.bucket or policy.timeout()) + STALE_SECONDS)
    return respond(request, entry, policy)


def _rendered(response: HttpResponse) -> HttpResponse:
    if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
        response.render()
    return response


class Params(Protocol):
    """What a page read from its query string, in canonical form."""

    def cache_key(self) -> str: ...


def public_page(
    parse: Callable[[HttpRequest], Params] | None = None, *, policy: Policy = PAGES
) -> Callable:
    """Decorate a GET view so it is served through ``serve``.

    ``parse(request)`` reads and checks the parameters the view reads (``feeds.web.params``;
    a bad one raises ``BadParameter``, a 400) and the view gets them as ``params``; their
    ``cache_key()`` is the page's identity. Without ``parse`` the view reads no parameter and
    its query string is ignored.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            key = ""
            if parse is not None:
                params = parse(request)
                kwargs["params"] = params
                key = params.cache_key()
            return serve(
                request,
                identity_of(request, key),
                lambda: view(request, *args, **kwargs),
                policy,
            )

        return wrapper

    return decorator
