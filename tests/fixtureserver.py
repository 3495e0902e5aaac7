"""A local HTTP server that stands in for "the outside world" in tests.

DEVELOPERS.md says to fake only the outside world, so tests fetch real bytes over real sockets
from this server instead of mocking our fetcher. It binds 127.0.0.1 on a free port, speaks
HTTP/1.1 with keep-alive, and records every request::

    with FixtureServer() as server:
        server.add("/feed.xml", rss_bytes)                 # ETag + 304 handling built in
        server.add_redirect("/old", server.url("/feed.xml"))
        server.add_handler("/slow", drip(bytes_per_second=1))
        fetch(server.url("/feed.xml"), allow_private=True)
        assert server.count("/feed.xml") == 1

Re-adding a path replaces its response, so a test can "publish" new items between polls.

Handler factories for faults (docs/threats.md, "Transport, resource and output faults"):
:func:`drip`, :func:`gzip_bomb`, :func:`huge`, :func:`hang`, :func:`status`, :func:`truncated`.
A custom handler is any ``fn(handler: BaseHTTPRequestHandler) -> None``; it may wait on
``handler.server.stop_event`` so that :meth:`FixtureServer.stop` ends it promptly.

Performance note (docs/performance-baselines.md, F2): ``disable_nagle_algorithm = True``.
Without TCP_NODELAY, Nagle plus delayed ACK adds ~40 ms to every keep-alive request.
"""

from __future__ import annotations

import functools
import gzip as gzip_module
import hashlib
import mimetypes
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = [
    "FixtureServer",
    "Handler",
    "RecordedRequest",
    "drip",
    "gzip_bomb",
    "hang",
    "huge",
    "status",
    "truncated",
]

Handler = Callable[[BaseHTTPRequestHandler], None]


class _Headers(dict[str, str]):
    """Request headers as sent (original case) with case-insensitive lookups.

    ``r.headers["If-None-Match"]``, ``r.headers["if-none-match"]`` and ``"user-agent" in
    r.headers`` all work; iterating shows the names as the client wrote them.
    """

    def _key(self, key: object) -> object:
        if isinstance(key, str):
            lowered = key.lower()
            for existing in dict.keys(self):
                if existing.lower() == lowered:
                    return existing
        return key

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, self._key(key))  # type: ignore[index]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._key(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, self._key(key), default)  # type: ignore[call-overload]


@dataclass
class RecordedRequest:
    path: str  # path and query string as requested, e.g. "/feed.xml?page=2"
    method: str
    headers: dict[str, str]  # case-insensitive lookups, see _Headers
    time: float  # time.time() when the request line and headers had been read


@dataclass
class _Static:
    body: bytes
    status: int
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzipped: bytes | None = None
    delay: float = 0.0


_Route = _Static | Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # fetch benchmarks run 16-32 requests in flight

    def __init__(self, address: tuple[str, int], fixture: FixtureServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.fixture = fixture
        self.stop_event = threading.Event()
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds on a machine without network. The name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            self._active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._active_lock:
            self._active.discard(request)
        super().shutdown_request(request)

    def close_active_connections(self) -> None:
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (the fetcher enforcing a cap or a deadline) are
        # the point of many tests; only report real handler bugs.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY: see the module docstring
    timeout = 60  # idle keep-alive connections end on their own eventually
    server: _Server
    server_version = "ArcticNewsFixture/1.0"

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            # TLS handshake here, in the connection's thread with its timeout, rather than
            # in accept(), where one silent client would stall the whole server.
            self.request.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read server.requests; no access log on stderr

    def _dispatch(self) -> None:
        self._discard_request_body()
        fixture = self.server.fixture
        fixture._record(self)
        route = fixture._lookup(self.path)
        if route is None:
            self.send_plain(404, b"not found\n")
        elif isinstance(route, _Static):
            self._serve_static(route)
        else:
            route(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _discard_request_body(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(int(length))
        elif self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # not worth parsing chunked uploads here

    def send_plain(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a complete small response (usable from custom handlers)."""
        self.send_response(code)
        names = {name.lower() for name in headers or {}}
        if "content-type" not in names:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and code not in (204, 304):
            self.wfile.write(body)

    def _not_modified(self, route: _Static) -> bool:
        if not 200 <= route.status < 300:
            return False
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            # RFC 9110: If-None-Match wins over If-Modified-Since; weak comparison.
            if route.etag is None:
                return False
            wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in wanted or route.etag.removeprefix("W/") in wanted
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since and route.last_modified:
            try:
                return parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(
                    route.last_modified
                )
            except (TypeError, ValueError):
                return False
        return False

    def _serve_static(self, route: _Static) -> None:
        if route.delay and self.server.stop_event.wait(route.delay):
            self.close_connection = True
            return
        validators: dict[str, str] = {}
        if route.etag is not None:
            validators["ETag"] = route.etag
        if route.last_modified is not None:
            validators["Last-Modified"] = route.last_modified

        if self._not_modified(route):
            self.send_response(304)
            for name, value in {**validators, **route.headers}.items():
                if name.lower() not in ("content-length", "content-type"):
                    self.send_header(name, value)
            self.end_headers()
            return

        body = route.body
        headers: dict[str, str] = {}
        if route.content_type is not None:
            headers["Content-Type"] = route.content_type
        accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        if route.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip:
                body = route.gzipped
                headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        headers.update(validators)
        # Extra headers replace defaults of the same name (e.g. a different Content-Type).
        overrides = {name.lower() for name in route.headers}
        self.send_response(route.status)
        for name, value in headers.items():
            if name.lower() not in overrides:
                self.send_header(name, value)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and route.status not in (204, 304):
            self.wfile.write(body)


class FixtureServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (port 0 = any free port); a context manager.

    The socket is bound in the constructor, so :attr:`base_url` is known before
    :meth:`start` (handy for redirects that point at another server).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self._stopped = False
        bound_host, bound_port = self._server.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self.host = str(bound_host)
        self.port = int(bound_port)
        self.base_url = f"http://{shown}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------

    def enable_tls(self, context: ssl.SSLContext) -> None:
        """Serve HTTPS with ``context`` (server side, certificate loaded); call before start().

        :attr:`base_url` becomes ``https://...``. The fetcher verifies certificates, so a test
        must also make it trust the issuing CA.
        """
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.base_url = "https" + self.base_url.removeprefix("http")

    def start(self) -> FixtureServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fixture-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every open connection, including hung handlers."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stop_event.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.close_active_connections()
        self._server.server_close()

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- routes --------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None | bool = True,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Serve ``body`` at ``path`` (replacing any previous response there).

        ``etag=True`` sends a quoted SHA-1 of the body, a string is sent as given, None/False
        sends none. A 2xx answers 304 when If-None-Match matches the ETag or, without
        If-None-Match, when If-Modified-Since >= ``last_modified``. ``gzip=True`` sends the
        body gzipped to clients that accept gzip. ``delay`` waits before answering.
        """
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if etag is True:
            tag: str | None = '"' + hashlib.sha1(data).hexdigest() + '"'
        elif isinstance(etag, str):
            tag = etag
        else:
            tag = None
        route = _Static(
            body=data,
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            etag=tag,
            last_modified=last_modified,
            gzipped=gzip_module.compress(data, mtime=0) if gzip else None,
            delay=delay,
        )
        with self._lock:
            self._routes[path] = route

    def add_redirect(self, path: str, location: str, status: int = 301) -> None:
        self.add(
            path,
            b"",
            status=status,
            content_type="text/plain; charset=utf-8",
            headers={"Location": location},
            etag=None,
        )

    def add_handler(self, path: str, fn: Handler) -> None:
        """Full custom behaviour: ``fn(handler)`` writes the whole response itself."""
        with self._lock:
            self._routes[path] = fn

    def add_file_tree(self, directory: str | Path, prefix: str = "/") -> None:
        """Serve every file under ``directory`` at ``prefix`` + its relative POSIX path."""
        root = Path(directory)
        base = "/" + prefix.strip("/")
        base = "" if base == "/" else base
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = file.relative_to(root).as_posix()
            self.add(
                f"{base}/{relative}",
                file.read_bytes(),
                content_type=_guess_type(file.name),
            )

    # -- request log ---------------------------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests seen, for ``path`` or all. A path without "?" matches any query string."""
        with self._lock:
            return self._count_locked(path)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def wait_for_requests(self, n: int, *, path: str | None = None, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` requests (for ``path``) arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self._count_locked(path) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._arrived.wait(remaining)
            return True

    def _count_locked(self, path: str | None) -> int:
        if path is None:
            return len(self.requests)
        if "?" in path:
            return sum(1 for r in self.requests if r.path == path)
        return sum(1 for r in self.requests if r.path.split("?", 1)[0] == path)

    def _record(self, handler: BaseHTTPRequestHandler) -> None:
        headers = _Headers()
        for name, value in handler.headers.items():
            headers[name] = value
        recorded = RecordedRequest(
            path=handler.path, method=handler.command, headers=headers, time=time.time()
        )
        with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()

    def _lookup(self, raw_path: str) -> _Route | None:
        path_only = raw_path.split("?", 1)[0]
        with self._lock:
            for candidate in (raw_path, path_only, unquote(raw_path), unquote(path_only)):
                route = self._routes.get(candidate)
                if route is not None:
                    return route
        return None


_FEED_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/json",
}


def _guess_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _FEED_TYPES:
        return _FEED_TYPES[suffix]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# ----------------------------------------------------------------------------------------------
# Ready-made fault handlers
# ----------------------------------------------------------------------------------------------


def _write_quietly(handler: BaseHTTPRequestHandler, data: bytes) -> bool:
    """Write; False once the client has gone away."""
    try:
        handler.wfile.write(data)
        return True
    except OSError:
        return False


def drip(bytes_per_second: float = 1, total: int = 1_000_000) -> Handler:
    """Headers at once, then one byte every 1/``bytes_per_second`` s (slowloris, D3).

    Declares ``Content-Length: total`` (below the fetch cap) so only a wall-clock deadline
    can stop it.
    """
    interval = 1.0 / bytes_per_second

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        stop = h.server.stop_event  # type: ignore[attr-defined]
        for _ in range(total):
            if not _write_quietly(h, b" ") or stop.wait(interval):
                return

    return handler


@functools.lru_cache(maxsize=8)
def _gzip_zeros(decoded_size: int) -> bytes:
    """A gzip member that inflates to ``decoded_size`` zero bytes, built in about a second.

    Compressing 1 GiB takes ~6 s. After a Z_FULL_FLUSH the deflate state is reset, so every
    further full chunk of zeros compresses to the same bytes: compress two chunks and repeat
    the second. The CRC is computed over the zeros chunk by chunk; nothing holds 1 GiB.
    """
    chunk = min(decoded_size, 1 << 22) or 1
    zeros = bytes(chunk)
    full, rest = divmod(decoded_size, chunk)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; we write the wrapper
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]  # gzip header, mtime 0, unix
    crc = 0
    if full:
        parts.append(compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH))
        if full > 1:
            repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
            parts.append(repeated * (full - 1))
        for _ in range(full):
            crc = zlib.crc32(zeros, crc)
    tail = bytes(rest)
    parts.append(compressor.compress(tail) + compressor.flush(zlib.Z_FINISH))
    crc = zlib.crc32(tail, crc)
    parts.append(struct.pack("<II", crc & 0xFFFFFFFF, decoded_size & 0xFFFFFFFF))
    return b"".join(parts)


def gzip_bomb(
    decoded_size: int = 1 << 30, *, code: int = 200, headers: dict[str, str] | None = None
) -> Handler:
    """A ~1 MB gzip body (``Content-Encoding: gzip``) that inflates to ``decoded_size`` (D1).

    ``code``/``headers`` make other bomb carriers, e.g. a 302 whose body is the bomb:
    ``gzip_bomb(code=302, headers={"Location": "/feed.xml"})``.
    """
    extra = dict(headers or {})

    def handler(h: BaseHTTPRequestHandler) -> None:
        body = _gzip_zeros(decoded_size)
        h.close_connection = True
        h.send_response(code)
        h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            h.send_header(name, value)
        h.end_headers()
        view = memoryview(body)
        for start in range(0, len(body), 64 * 1024):
            if not _write_quietly(h, view[start : start + 64 * 1024]):
                return

    return handler


def huge(size: int, declared_length: int | None = None) -> Handler:
    """``size`` bytes of filler, streamed in 64 KiB writes (D2).

    ``declared_length=None`` sends no Content-Length (chunked transfer encoding); an int is
    sent as Content-Length whether or not it is true (``huge(50 << 20, 100)`` lies low,
    ``huge(1000, 10**10)`` lies high).
    """

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        if declared_length is None:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(declared_length))
        h.end_headers()
        block = b"<!-- filler -->\n" * 4096  # 64 KiB
        sent = 0
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            data = b"%x\r\n%b\r\n" % (len(piece), piece) if declared_length is None else piece
            if not _write_quietly(h, data):
                return
            sent += len(piece)
        if declared_length is None:
            _write_quietly(h, b"0\r\n\r\n")

    return handler


def hang() -> Handler:
    """Accept the request and never answer, until the server stops (D3)."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.server.stop_event.wait()  # type: ignore[attr-defined]

    return handler


def status(code: int, headers: dict[str, str] | None = None) -> Handler:
    """A plain response with ``code`` (e.g. 410, or 429 with Retry-After) and ``headers``."""
    fixed = dict(headers or {})

    def handler(h: BaseHTTPRequestHandler) -> None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Status"
        assert isinstance(h, _RequestHandler)
        h.send_plain(code, f"{code} {phrase}\n".encode(), fixed)

    return handler


def truncated(body: bytes | str, declared_length: int | None = None) -> Handler:
    """Declare more than is sent (default: twice the body), send ``body``, then hang up."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        h.send_header("Content-Length", str(declared_length or 2 * len(data) + 1))
        h.end_headers()
        _write_quietly(h, data)

    return handler
