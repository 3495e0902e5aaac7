"""The one module in ArcticNews that talks to the network.

Every outbound HTTP request (feeds today; favicons or thumbnails if we ever fetch them) goes
through :func:`fetch`, so the whole fetch policy lives here and nowhere else
(docs/threats.md, section 1, "The design that follows"):

* only ``http``/``https``, no credentials in the URL;
* the host is resolved once and *every* address must be global (no loopback, private,
  link-local/metadata, CGNAT, unique-local, multicast ...) unless private addresses are
  explicitly allowed (S1, S2);
* the TCP connection is made to exactly the address that was validated, and the peer address
  is checked again before any byte is sent, so a second DNS answer cannot redirect us
  (DNS rebinding, S4);
* redirects are followed by hand, each hop re-validated, at most ``max_redirects`` of them, no
  https -> http downgrade, and only an all-301/308 chain is reported as a permanent move (S3);
* a connect timeout, a per-read timeout *and* a wall-clock deadline for the whole fetch: a
  watchdog shuts the socket down at the deadline, so a server that drips headers or body one
  byte at a time cannot hold a worker (D3; requests' timeouts are per socket read only);
* a cap on the *decoded* body size, checked while streaming, plus a pre-check of
  Content-Length, so a gzip bomb stops at the cap with little memory (D1, D2);
* conditional GET (If-None-Match / If-Modified-Since, 304 -> ``body=None``) (R9);
* at most :data:`PER_HOST_CONCURRENCY` requests in flight per host from this process (across
  processes and machines, ``ingest.claim`` limits how many feeds of a host are fetched at once).

The result is a :class:`feeds.types.FetchResult`; every failure is a :class:`FetchError` whose
fields (``status``, ``retry_after``, ``gone``, ``transient``, ``permanent_url``) are what the
scheduler needs for backoff, 410-disabling and URL updates (R8).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import re
import socket
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
import urllib3.util.connection

from feeds.types import FetchResult

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "PER_HOST_CONCURRENCY",
    "FetchError",
    "URLNotAllowed",
    "close_session",
    "fetch",
    "parse_retry_after",
    "resolve",
    "validate_feed_url",
]

DEFAULT_USER_AGENT = "ArcticNews/1.0 (+https://github.com/arcticnews/arcticnews; feed fetcher)"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# Politeness: how many requests this process keeps in flight to one host at a time. Feeds from
# the same outlet share a server; hammering it with the whole worker pool gets us rate limited.
PER_HOST_CONCURRENCY = 2

# gzip and deflate only. urllib3 would also advertise br/zstd when those packages happen to be
# installed; a fixed list keeps the decoders we expose to hostile servers predictable.
_ACCEPT_ENCODING = "gzip, deflate"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json;q=0.9, "
    "application/json;q=0.8, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_CHUNK_SIZE = 64 * 1024
_HOSTNAME_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class FetchError(Exception):
    """A fetch that produced no usable response.

    ``reason`` is short and human-readable; it is stored on the feed and shown to editors.
    ``transient`` tells the scheduler whether a quick retry with backoff can help (timeouts,
    connection errors, 5xx, 429) or not (4xx, refused addresses, oversized bodies).
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        gone: bool = False,
        transient: bool = False,
        permanent_url: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.gone = gone
        self.transient = transient
        # Set when every redirect followed before the failure was a 301/308, so the caller can
        # still move the feed to its new address.
        self.permanent_url = permanent_url

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.reason!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, gone={self.gone!r}, "
            f"transient={self.transient!r}, permanent_url={self.permanent_url!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields are lost by Exception's default pickling (it replays only
        # ``args``); Celery and multiprocessing pickle exceptions, so keep them all.
        return (_rebuild_error, (type(self), self.reason, self.__dict__.copy()))


class URLNotAllowed(FetchError):
    """The URL or one of its addresses is refused by policy (never transient).

    A subclass so that forms can show "address not allowed" without string matching, while
    callers that only know :class:`FetchError` still handle it.
    """


class AddressNotAllowed(URLNotAllowed):
    """The host is (or resolves to) a loopback, private or otherwise non-global address.

    Refused by default, allowed by settings: ``FEEDS_ALLOW_PRIVATE_ADDRESSES`` (every such
    address, for tests and offline demos) or ``FEEDS_ALLOWED_PRIVATE_ENDPOINTS`` (one
    ``host:port``), so a command can tell the operator which setting would change the answer.
    """


def _rebuild_error(cls: type[FetchError], reason: str, state: dict[str, Any]) -> FetchError:
    error = cls(reason)
    error.__dict__.update(state)
    return error


def _too_large(max_bytes: int) -> FetchError:
    return FetchError(f"response too large (> {max_bytes} bytes)", transient=False)


def _exceeded(total_timeout: float) -> FetchError:
    return FetchError(f"download exceeded {total_timeout:g}s", transient=True)


# --------------------------------------------------------------------------------------------
# Address policy
# --------------------------------------------------------------------------------------------

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to, if any.

    Python 3.11 calls ``64:ff9b::7f00:1`` (NAT64), ``2002:7f00:1::`` (6to4) and ``::127.0.0.1``
    "global", yet each reaches the embedded IPv4 address, so that is the one to judge.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_problem(ip: _IPAddress) -> str | None:
    """Why ``ip`` may not be fetched from, or None if it is a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = _address_problem(embedded)
            return f"{ip} embeds {inner}" if inner else None
    if ip.is_unspecified:
        return f"{ip} is unspecified"
    if ip.is_loopback:
        return f"{ip} is loopback"
    if ip in _METADATA_ADDRESSES:
        return f"{ip} is link-local (cloud metadata)"
    if ip.is_link_local:
        return f"{ip} is link-local"
    if ip.version == 4 and ip in _CGNAT:
        return f"{ip} is shared address space (CGNAT)"
    if ip.version == 6 and ip in _UNIQUE_LOCAL:
        return f"{ip} is unique-local"
    if ip.is_multicast:
        return f"{ip} is multicast"
    if ip.is_private:
        return f"{ip} is private"
    if ip.is_reserved or not ip.is_global:
        return f"{ip} is not globally routable"
    return None


def _parse_ip(text: str) -> _IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _parse_endpoint(text: str) -> tuple[_IPAddress, int]:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` -> (address, port)."""
    host, sep, port = text.strip().rpartition(":")
    ip = _parse_ip(host)
    if not sep or ip is None or not port.isdigit():
        raise ValueError(f"allowed endpoint must be 'ip:port' or '[ipv6]:port', not {text!r}")
    return ip, int(port)


@dataclass(frozen=True)
class _Policy:
    allow_private: bool
    # (address, port) pairs allowed although not global: the test fixture server, a local hub.
    endpoints: frozenset[tuple[_IPAddress, int]] = frozenset()

    def problem(self, address: str, port: int) -> str | None:
        if self.allow_private:
            return None
        ip = _parse_ip(address)
        if ip is None:
            return f"{address} is not an IP address"
        if (ip, port) in self.endpoints:
            return None
        return _address_problem(ip)


def _django_setting(name: str, default: Any) -> Any:
    """A Django setting if Django is set up, else ``default``; never configures Django.

    Imported lazily so this module also works in scripts and benchmarks without Django.
    """
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return default
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return default
    try:
        return getattr(settings, name, default)
    except (ImproperlyConfigured, ImportError):
        # A DJANGO_SETTINGS_MODULE that cannot be imported: fail closed.
        return default


def _policy(allow_private: bool | None, allow_endpoints: Collection[str] | None) -> _Policy:
    if allow_private is None:
        # Only a literal True enables it: a stray non-empty string must not open the door.
        allow_private = _django_setting("FEEDS_ALLOW_PRIVATE_ADDRESSES", False) is True
    if allow_endpoints is None:
        allow_endpoints = _django_setting("FEEDS_ALLOWED_PRIVATE_ENDPOINTS", ()) or ()
    endpoints = frozenset(_parse_endpoint(entry) for entry in allow_endpoints)
    return _Policy(allow_private=bool(allow_private), endpoints=endpoints)


# --------------------------------------------------------------------------------------------
# URL validation
# --------------------------------------------------------------------------------------------


def resolve(host: str, port: int) -> list[str]:
    """Resolve ``host`` to its addresses, in resolver order, without duplicates.

    The single place DNS is consulted. Tests may replace this function: DNS is part of the
    outside world (docs/threats.md, section 3).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Target:
    """A validated request target: the URL and the only addresses we may connect to."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, lower case, no brackets
    port: int
    addresses: tuple[str, ...]

    def allows_peer(self, address: str) -> bool:
        peer = _parse_ip(address.split("%", 1)[0])
        return peer is not None and any(
            _parse_ip(allowed.split("%", 1)[0]) == peer for allowed in self.addresses
        )


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        import idna  # a requests dependency; IDNA 2008 + UTS 46, as requests itself encodes

        return idna.encode(host, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError) as exc:
        # idna.IDNAError subclasses UnicodeError.
        raise URLNotAllowed(f"invalid host name: {host!r}") from exc


def _prepare(url: str, policy: _Policy) -> _Target:
    """Validate ``url`` and resolve its host; raise :class:`FetchError` if refused."""
    if not isinstance(url, str):
        raise URLNotAllowed("URL must be a string")
    url = url.strip()
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        # urlsplit silently drops tabs and newlines; a URL carrying them is not a feed URL.
        raise URLNotAllowed("URL contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme:
            raise URLNotAllowed("URL must start with http:// or https://")
        raise URLNotAllowed(f"scheme {scheme!r} not allowed (http and https only)")
    if "@" in parts.netloc:
        raise URLNotAllowed("credentials in URL not allowed")
    raw_host = parts.hostname
    if not raw_host:
        raise URLNotAllowed("URL has no host")
    try:
        explicit_port = parts.port
    except ValueError:
        raise URLNotAllowed("invalid port in URL") from None
    if explicit_port == 0:
        raise URLNotAllowed("invalid port in URL")

    literal = _parse_ip(raw_host)
    if ":" in raw_host and literal is None:
        raise URLNotAllowed(f"invalid host name: {raw_host!r}")
    if literal is None:
        host = _ascii_host(raw_host).lower()
    else:
        # Canonical form ("[0:0::1]" -> "[::1]"), except zone ids, which need their "%25".
        host = raw_host if "%" in raw_host else str(literal)
    if literal is None and not _HOSTNAME_RE.match(host):
        raise URLNotAllowed(f"invalid host name: {raw_host!r}")

    default_port = 443 if scheme == "https" else 80
    port = explicit_port or default_port
    netloc = f"[{host}]" if ":" in host else host
    if explicit_port and explicit_port != default_port:
        netloc = f"{netloc}:{explicit_port}"
    normalised = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))

    if not policy.allow_private:
        bare = host.rstrip(".")
        # RFC 6761: "localhost" names are loopback whatever DNS says. Refuse them by name so
        # the reason does not depend on how the local resolver treats "localhost.".
        if bare == "localhost" or bare.endswith(".localhost"):
            raise AddressNotAllowed(f"address not allowed: {host} is loopback")

    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"DNS lookup failed for {host}: {exc}", transient=True) from exc
        if not addresses:
            raise FetchError(f"DNS lookup failed for {host}: no addresses", transient=True)

    # Every address must pass, not just the first: the OS may connect to any of them.
    for address in addresses:
        problem = policy.problem(address, port)
        if problem is not None:
            origin = "" if literal is not None else f" (resolved from {host})"
            raise AddressNotAllowed(f"address not allowed: {problem}{origin}")
    return _Target(normalised, scheme, host, port, tuple(addresses))


def validate_feed_url(
    url: str,
    *,
    allow_private: bool | None = None,
    allow_endpoints: Collection[str] | None = None,
) -> str:
    """Return the normalised ``url`` if :func:`fetch` would be allowed to request it.

    Raises :class:`FetchError` (:class:`URLNotAllowed` for policy refusals, a transient
    FetchError if DNS fails). ``allow_private=None`` reads
    ``settings.FEEDS_ALLOW_PRIVATE_ADDRESSES`` when Django is configured, else False.
    ``allow_endpoints`` lists ``"ip:port"`` pairs that are allowed although not global (None
    reads ``settings.FEEDS_ALLOWED_PRIVATE_ENDPOINTS``), so a test can allow exactly one
    fixture server and still prove that every other local address is refused.
    """
    return _prepare(url, _policy(allow_private, allow_endpoints)).url


def _redirect_target(current: _Target, location: str, policy: _Policy) -> _Target:
    """Validate a redirect's Location against ``current``; raise if it may not be followed."""
    absolute = urljoin(current.url, location.strip())
    if current.scheme == "https" and urlsplit(absolute).scheme.lower() == "http":
        raise URLNotAllowed("redirect target not allowed: https to http downgrade")
    try:
        return _prepare(absolute, policy)
    except URLNotAllowed as exc:  # the same kind of refusal (AddressNotAllowed stays one)
        raise type(exc)(f"redirect target not allowed: {exc.reason}") from exc


# --------------------------------------------------------------------------------------------
# Per-request scope: what the connection layer may connect to, and the deadline watchdog
# --------------------------------------------------------------------------------------------


class _Scope:
    """One request hop: its validated target, deadline and the sockets it is using.

    The pinned connection classes read it from a ContextVar (requests runs in the caller's
    thread), so the connection layer knows which addresses were validated for this hop.
    """

    def __init__(self, target: _Target, deadline: float) -> None:
        self.target = target
        self.deadline = deadline
        self.expired = False
        self.refused: str | None = None  # set when the connection layer refused an address
        self.connect_error: str | None = None
        self._finished = False
        self._lock = threading.Lock()
        # Duplicated descriptors of the sockets in use. Shutting down a dup tears down the
        # shared TCP connection (so a blocked recv returns at once, even inside a TLS
        # handshake), and because we own the dup its number cannot be reused by an unrelated
        # socket while we still hold it.
        self._guards: list[socket.socket] = []

    @property
    def finished(self) -> bool:
        return self._finished

    def register(self, sock: socket.socket) -> None:
        try:
            guard = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except OSError:
            return
        with self._lock:
            if self._finished:
                guard.close()
                return
            self._guards.append(guard)
            if self.expired:
                _shutdown_quietly(guard)

    def expire(self) -> None:
        """Called by the watchdog at the deadline: cut every socket of this hop."""
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for guard in self._guards:
                _shutdown_quietly(guard)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            guards, self._guards = self._guards, []
        for guard in guards:
            guard.close()


def _shutdown_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current_scope: ContextVar[_Scope | None] = ContextVar("feeds_fetch_scope", default=None)


class _Watchdog:
    """One daemon thread that expires scopes whose deadline has passed.

    A single thread with a heap instead of a ``threading.Timer`` per fetch: timers cost a
    thread start per request, which is measurable next to a ~1 ms loopback fetch.
    Finished scopes are dropped lazily when they reach the top of the heap.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Scope]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, scope: _Scope) -> None:
        with self._cond:
            heapq.heappush(self._heap, (scope.deadline, next(self._seq), scope))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="feeds-fetch-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is scope:
                # Only a new earliest deadline changes how long the thread should sleep;
                # with equal timeouts that is rare, which saves a wake-up per fetch.
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                scope = heapq.heappop(self._heap)[2]
            scope.expire()


_watchdog = _Watchdog()


@contextlib.contextmanager
def _request_scope(target: _Target, deadline: float) -> Iterator[_Scope]:
    scope = _Scope(target, deadline)
    token = _current_scope.set(scope)
    _watchdog.watch(scope)
    try:
        yield scope
    finally:
        _current_scope.reset(token)
        scope.finish()


# --------------------------------------------------------------------------------------------
# Per-host politeness
# --------------------------------------------------------------------------------------------

_host_slots: dict[str, threading.BoundedSemaphore] = {}
_host_slots_lock = threading.Lock()


@contextlib.contextmanager
def _host_slot(host: str, deadline: float, total_timeout: float) -> Iterator[None]:
    """Hold one of the host's :data:`PER_HOST_CONCURRENCY` slots for one request hop.

    The map grows by one small semaphore per distinct host, which is bounded by the number of
    feeds we follow. Waiting for a slot counts against the fetch's deadline.
    """
    with _host_slots_lock:
        slot = _host_slots.get(host)
        if slot is None:
            slot = _host_slots[host] = threading.BoundedSemaphore(PER_HOST_CONCURRENCY)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not slot.acquire(timeout=remaining):
        raise _exceeded(total_timeout)
    try:
        yield
    finally:
        slot.release()


# --------------------------------------------------------------------------------------------
# requests / urllib3 plumbing: connections pinned to the validated addresses
# --------------------------------------------------------------------------------------------


def _same_host(a: str, b: str) -> bool:
    ip_a, ip_b = _parse_ip(a), _parse_ip(b)
    if ip_a is not None or ip_b is not None:
        return ip_a == ip_b  # "::FFFF:127.0.0.1" and "::ffff:7f00:1" are one host
    return a.rstrip(".").lower() == b.rstrip(".").lower()


# The urllib3 versions whose connection internals (``HTTPConnection._new_conn``, a pool's
# ``ConnectionCls``, ``PoolManager.pool_classes_by_scheme``) the pinning below was tested
# against. It is a defence, not a speed-up, so no setting turns it off: on any other version
# every fetch is refused with a clear error until it is re-tested.
URLLIB3_TESTED = ("2.8.",)
_PINNING_TESTED = urllib3.__version__.startswith(URLLIB3_TESTED)


class _PinnedConnectionMixin:
    """Connect only to the addresses validated for the current hop.

    urllib3 would resolve the host name again at connect time: a DNS-rebinding server answers
    a public address to our check and 127.0.0.1 to the connect. Here the socket goes to the
    validated address itself (the Host header, TLS SNI and certificate check still use the
    host name, because only the socket target changes), and the peer is checked again before
    the request is written, also for a kept-alive connection taken from the pool.
    """

    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        scope = _current_scope.get()
        conn: Any = self
        if (
            scope is None
            or not _same_host(scope.target.host, self.host)
            or (scope.target.port != self.port)
        ):
            # Outside fetch(), or a host we did not validate (a proxy, say): fail closed.
            message = f"no validated address for {self.host}:{self.port}"
            if scope is not None:
                scope.refused = f"address not allowed: {message}"
            raise urllib3.exceptions.NewConnectionError(conn, message)

        last_error: OSError | None = None
        timeout: float | None = None
        for address in scope.target.addresses:
            remaining = scope.deadline - time.monotonic()
            if remaining <= 0:
                break
            configured = self.timeout if isinstance(self.timeout, int | float) else None
            timeout = remaining if configured is None else min(configured, remaining)
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port),
                    timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:  # includes socket timeouts
                last_error = exc
                continue
            peer = sock.getpeername()[0]
            if not scope.target.allows_peer(peer):  # defence in depth: cannot happen today
                sock.close()
                scope.refused = f"address not allowed: connected peer {peer} was not validated"
                raise urllib3.exceptions.NewConnectionError(conn, scope.refused)
            scope.register(sock)
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock

        if isinstance(last_error, TimeoutError) or last_error is None:
            scope.connect_error = f"connect to {self.host} timed out"
            raise urllib3.exceptions.ConnectTimeoutError(
                conn, f"Connection to {self.host} timed out. (connect timeout={timeout})"
            ) from last_error
        scope.connect_error = str(last_error)
        raise urllib3.exceptions.NewConnectionError(
            conn, f"Failed to establish a new connection: {last_error}"
        ) from last_error

    def request(self, *args: Any, **kwargs: Any) -> None:
        scope = _current_scope.get()
        sock = self.sock
        if sock is not None:
            # A kept-alive connection from the pool. It was pinned when it was opened, but
            # possibly under another policy (allow_private) or an older DNS answer: check the
            # peer against *this* hop's validated addresses, and reconnect if it is not one.
            try:
                peer = sock.getpeername()[0]
            except OSError:
                peer = ""
            if scope is None or not scope.target.allows_peer(peer):
                self.close()  # type: ignore[attr-defined]
            else:
                scope.register(sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _PinnedHTTPConnection(_PinnedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy would make the proxy, not the validated address, our TCP peer.
        raise requests.exceptions.InvalidProxyURL("the feed fetcher does not use proxies")


def _new_adapter() -> _PinnedAdapter:
    # An adapter, not a requests.Session: a session's per-request work (merging its defaults,
    # a cookie jar, hooks, walking redirects to fill Response.next) is all work we switch off,
    # and it cost as much Python time as the rest of a 304 poll. Without a session there are
    # also no proxies, .netrc credentials or CA bundles from the environment, and no cookies
    # (a jar shared by every feed fetched in this thread would leak one site's cookies into
    # another request). Redirects are followed by hand in fetch().
    adapter = _PinnedAdapter(pool_connections=32, pool_maxsize=PER_HOST_CONCURRENCY * 2)
    # When the thread ends and its adapter is collected, close pooled sockets instead of
    # leaving them to the garbage collector (and its ResourceWarning).
    weakref.finalize(adapter, adapter.poolmanager.clear)
    return adapter


_local = threading.local()


def _adapter() -> _PinnedAdapter:
    """This thread's connection pools: kept-alive connections are reused across fetches."""
    adapter: _PinnedAdapter | None = getattr(_local, "adapter", None)
    if adapter is None:
        adapter = _local.adapter = _new_adapter()
    return adapter


def _send(url: str, headers: Mapping[str, str], timeout: tuple[float, float]) -> requests.Response:
    """GET ``url`` with exactly ``headers``, streaming, never following a redirect."""
    request = requests.PreparedRequest()
    request.prepare(method="GET", url=url, headers=dict(headers))
    return _adapter().send(request, stream=True, timeout=timeout, verify=True, proxies={})


def close_session() -> None:
    """Close this thread's kept-alive connections (tests, shutdown)."""
    adapter: _PinnedAdapter | None = getattr(_local, "adapter", None)
    if adapter is not None:
        _local.adapter = None
        adapter.close()


def _reset_after_fork() -> None:
    # A Celery prefork child inherits the parent's pooled sockets, a held semaphore or the
    # watchdog's lock, but not its threads. Start from scratch in the child.
    global _local, _watchdog, _host_slots, _host_slots_lock
    _local = threading.local()
    _watchdog = _Watchdog()
    _host_slots = {}
    _host_slots_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# --------------------------------------------------------------------------------------------
# Mapping responses and errors
# --------------------------------------------------------------------------------------------


# A Retry-After longer than this says "a long time": the scheduler caps it further.
MAX_RETRY_AFTER = 999_999_999.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Any number of digits may come: more than a year is "a long time", and so is a
        # 400-digit number (which float(int(…)) would refuse with an OverflowError).
        digits = value.lstrip("0") or "0"
        return float(int(digits)) if len(digits) <= 9 else MAX_RETRY_AFTER
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _status_error(status: int, headers: Mapping[str, str]) -> FetchError:
    return FetchError(
        f"HTTP {status}",
        status=status,
        retry_after=parse_retry_after(headers.get("retry-after")),
        gone=status == 410,
        transient=status >= 500 or status in _TRANSIENT_STATUSES,
    )


def _innermost(exc: BaseException) -> BaseException:
    """Unwrap requests -> MaxRetryError -> ProtocolError -> the socket-level cause."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nested: object = None
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            nested = exc.reason
        elif isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
            nested = next((arg for arg in exc.args if isinstance(arg, BaseException)), None)
        if not isinstance(nested, BaseException):
            break
        exc = nested
    return exc


def _transport_error(
    exc: BaseException, scope: _Scope, total_timeout: float, read_timeout: float
) -> FetchError:
    if scope.refused:
        return AddressNotAllowed(scope.refused)
    if scope.expired or time.monotonic() >= scope.deadline:
        return _exceeded(total_timeout)
    inner = _innermost(exc)
    detail = str(inner) or type(inner).__name__
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(inner, ssl.SSLError):
        # Certificate and protocol failures do not fix themselves in a few minutes.
        return FetchError(f"TLS error: {detail}", transient=False)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return FetchError(f"connection failed: {scope.connect_error or detail}", transient=True)
    if isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(
        inner, urllib3.exceptions.ReadTimeoutError | TimeoutError
    ):
        return FetchError(f"read timed out (no data for {read_timeout:g}s)", transient=True)
    if scope.connect_error:
        return FetchError(f"connection failed: {scope.connect_error}", transient=True)
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return FetchError(f"invalid content encoding: {detail}", transient=False)
    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.ProtocolError
        | OSError,
    ):
        return FetchError(f"connection failed: {detail}", transient=True)
    return FetchError(f"request failed: {detail}", transient=False)


def _declared_length(value: str | None) -> int | None:
    if value is None:
        return None
    # Repeated headers arrive joined ("100, 100"); the largest value is the honest pre-check.
    lengths = [int(part) for part in value.split(",") if part.strip().isdigit()]
    return max(lengths) if lengths else None


def _read_body(
    response: requests.Response,
    scope: _Scope,
    *,
    max_bytes: int,
    total_timeout: float,
    read_timeout: float,
) -> bytes:
    declared = _declared_length(response.headers.get("content-length"))
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        # iter_content yields *decoded* bytes and urllib3 >= 2.6 decompresses at most the
        # requested amount per read, so memory stays near max_bytes whatever the ratio.
        for chunk in response.iter_content(chunk_size=_CHUNK_SIZE):
            size += len(chunk)
            # The raw count catches encoded streams that decode to little or nothing
            # (e.g. endless empty gzip members); a real feed never compresses to > 1x.
            if size > max_bytes or response.raw.tell() > max_bytes:
                raise _too_large(max_bytes)
            if time.monotonic() > scope.deadline:
                raise _exceeded(total_timeout)
            chunks.append(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _transport_error(exc, scope, total_timeout, read_timeout) from exc
    if scope.expired:
        # The watchdog's shutdown can look like a clean end of a body without
        # Content-Length: never hand back what it cut short.
        raise _exceeded(total_timeout)
    return b"".join(chunks)


def _finish_empty(response: requests.Response) -> None:
    """Mark a bodiless response (304) consumed so its connection returns to the pool.

    http.client never reads a body for a 304, whatever Content-Length says, so this reads
    nothing; without it, closing the response would close the kept-alive connection.
    """
    with contextlib.suppress(requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        for _chunk in response.iter_content(chunk_size=_CHUNK_SIZE):
            break  # never expected; closing the response then discards the connection


@dataclass(frozen=True)
class _Redirect:
    status: int
    location: str


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


def _exchange(
    target: _Target,
    headers: Mapping[str, str],
    *,
    deadline: float,
    conditional: bool,
    total_timeout: float,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> _Redirect | _Answer:
    """One request to one validated target, under a host slot and the deadline watchdog."""
    with (
        _host_slot(target.host, deadline, total_timeout),
        _request_scope(target, deadline) as scope,
    ):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _exceeded(total_timeout)
        try:
            response = _send(
                target.url,
                headers,
                timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
            )
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _transport_error(exc, scope, total_timeout, read_timeout) from exc

        with response:
            if scope.expired:
                # http.client takes EOF inside the header block for its end, so a response
                # whose headers the watchdog cut off can arrive here looking complete.
                raise _exceeded(total_timeout)
            status = response.status_code
            lowered = {key.lower(): value for key, value in response.headers.items()}
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {status} redirect without Location", status=status)
                # The redirect body is never read (it may be a bomb); closing the response
                # discards the connection, which is cheap for something as rare as a redirect.
                return _Redirect(status, location)
            if status == 304:
                if not conditional:
                    raise FetchError("HTTP 304 to an unconditional request", status=304)
                _finish_empty(response)
                return _Answer(304, None, lowered)
            if 200 <= status < 300:
                body = _read_body(
                    response,
                    scope,
                    max_bytes=max_bytes,
                    total_timeout=total_timeout,
                    read_timeout=read_timeout,
                )
                return _Answer(status, body, lowered)
            raise _status_error(status, lowered)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def fetch(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    allow_private: bool | None = None,
    allow_endpoints: Collection[str] | None = None,
    total_timeout: float = 30.0,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 5,
    user_agent: str | None = None,
) -> FetchResult:
    """Conditionally GET ``url`` under the fetch policy described in the module docstring.

    Returns a :class:`FetchResult` for 2xx (``body`` decoded) and 304 (``body=None``; ``etag``
    and ``last_modified`` fall back to the values sent). Raises :class:`FetchError` for
    everything else. ``total_timeout`` is a wall-clock limit for the whole fetch, redirects
    included. ``allow_private``/``allow_endpoints`` are as in :func:`validate_feed_url`.
    """
    if not _PINNING_TESTED:
        # Fail closed: without the pinning below, a rebinding DNS answer could reach the
        # internal network. Re-test _PinnedConnectionMixin and add the version to
        # URLLIB3_TESTED (tests/test_adaptations.py pins it).
        raise FetchError(f"urllib3 {urllib3.__version__} is not tested with address pinning")
    started = time.monotonic()
    deadline = started + total_timeout
    policy = _policy(allow_private, allow_endpoints)
    target = _prepare(url, policy)

    headers = {
        "User-Agent": user_agent or DEFAULT_USER_AGENT,
        "Accept": _ACCEPT,
        "Accept-Encoding": _ACCEPT_ENCODING,
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    redirects = 0
    permanent_url: str | None = None
    all_permanent = True
    try:
        while True:
            outcome = _exchange(
                target,
                headers,
                deadline=deadline,
                conditional=bool(etag or last_modified),
                total_timeout=total_timeout,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_bytes=max_bytes,
            )
            if isinstance(outcome, _Answer):
                break
            if redirects >= max_redirects:
                raise FetchError("too many redirects", status=outcome.status)
            target = _redirect_target(target, outcome.location, policy)
            redirects += 1
            # A 302/303/307 anywhere in the chain makes the final URL temporary: storing it
            # would let a one-off redirect (or an attacker's) rewrite the feed's address.
            all_permanent = all_permanent and outcome.status in _PERMANENT_REDIRECTS
            permanent_url = target.url if all_permanent else None
    except FetchError as exc:
        if exc.permanent_url is None:
            exc.permanent_url = permanent_url
        raise

    answer_etag = outcome.headers.get("etag", "")
    answer_modified = outcome.headers.get("last-modified", "")
    if outcome.status == 304:
        # Servers may omit validators on a 304; the ones we sent are still current.
        answer_etag = answer_etag or etag
        answer_modified = answer_modified or last_modified
    return FetchResult(
        url=target.url,
        status=outcome.status,
        body=outcome.body,
        headers=outcome.headers,
        etag=answer_etag,
        last_modified=answer_modified,
        permanent_url=permanent_url,
        elapsed=time.monotonic() - started,
    )


def post_form(url: str, data: Sequence[tuple[str, str]], *, timeout: float = 10.0) -> int:
    """POST a form to one of OUR configured endpoints (the WebSub hub); return the status.

    Not for feed data: the address comes from settings, so the private-address guard that
    protects ``fetch`` does not apply (a hub on the same network is normal). The scheme is
    still checked, redirects are not followed, and the body of the answer is never read.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) URL: {url!r}")
    try:
        response = requests.post(
            url,
            data=list(data),
            timeout=timeout,
            allow_redirects=False,
            headers={"User-Agent": DEFAULT_USER_AGENT},
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise FetchError(f"connection failed: {exc}", transient=True) from exc
    response.close()
    return response.status_code
