"""The one HTTP cache of public GET responses: pages, feeds, sitemaps and OPML alike.

A response is rendered once per cache generation (``feeds.generation``, bumped by every change
readers can see) and per *identity*: the origin, the path and the query parameters the view
reads, already normalised by the caller. Anything else in the query string never reaches the
key, so made-up parameters cannot multiply the entries.

Every response carries a strong ETag (a digest of its bytes) and a Last-Modified that moves
only when the bytes do: a new generation that renders the same bytes (a change elsewhere)
keeps answering conditional requests with 304. That date is kept per identity, in its own key,
for as long as the policy says (long for a fixed page, short for a search anyone can mint).

Policies differ only in numbers and in who bypasses the cache: reader pages carry relative
times ("2 hours ago"), so their entries also turn over every ``bucket`` seconds; signed-in
editors always get a fresh, private page so their changes show at once. A cache outage never
breaks a page: it is rendered every time, still with validators.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
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
_NOT_STORED = frozenset({"etag", "last-modified", "cache-control", "expires", "vary"})


@dataclass(frozen=True)
class Policy:
    """How one kind of response is cached."""

    timeout: Callable[[], int]  # seconds an entry lives in the cache
    max_age: Callable[[], int]  # seconds a browser or proxy may reuse it unasked
    state_timeout: Callable[[], int]  # how long Last-Modified is remembered per identity
    bucket: int = 0  # > 0: entries also turn over every `bucket` seconds (relative times)
    fresh_for_editors: bool = False  # signed-in users bypass the cache, privately
    max_bytes: int = 4 * 1024 * 1024  # bigger bodies (full-text feeds) are rebuilt per request


@dataclass(frozen=True)
class Entry:
    """A response as the cache keeps it: bytes, headers, and its two validators."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    etag: str
    last_modified: int  # epoch seconds


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
    current = generation.generation()  # None: the cache is down, render every time
    key = None
    if current is not None:
        bucket = int(time.time()) // policy.bucket if policy.bucket else 0
        key = f"feeds:http:{generation.LAYOUT_VERSION}.{current}.{bucket}:{digest(identity)}"
        entry = cache.get(key)
        if isinstance(entry, Entry):
            return respond(request, entry, policy)
    response = _rendered(render())
    if response.status_code != 200 or response.streaming:
        return response
    entry = entry_of(identity, response, policy)
    if key is not None and len(entry.body) <= policy.max_bytes:
        cache.set(key, entry, policy.timeout())
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
