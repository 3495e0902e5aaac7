"""feeds.ingest.fetching against a real local server (docs/threats.md S1-S4, D1-D3, R8, R9).

Only the outside world is faked: HTTP through tests.fixtureserver, and DNS by replacing
``fetching.resolve`` (plus the OS resolver where a test must prove it is never consulted).
No test needs Django; every policy-sensitive call passes ``allow_private`` and
``allow_endpoints`` explicitly, so the result does not depend on the settings in use.
"""

from __future__ import annotations

import gc
import pickle
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests.adapters

from feeds.ingest import fetching
from feeds.ingest.fetching import FetchError, URLNotAllowed, fetch, validate_feed_url
from tests.fixtureserver import (
    FixtureServer,
    drip,
    gzip_bomb,
    hang,
    huge,
    status,
)

RSS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    "<title>Barents Observer</title><item><title>Ice</title></item></channel></rss>"
)
LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"
PUBLIC_IP = "93.184.216.34"  # global unicast; unreachable from the offline test box


@pytest.fixture(scope="module", autouse=True)
def _close_fetch_session() -> Iterator[None]:
    yield
    fetching.close_session()


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as srv:
        yield srv


def get(url: str, **kwargs: object) -> fetching.FetchResult:
    """fetch() with the fixture server allowed (it lives on loopback)."""
    kwargs.setdefault("allow_private", True)
    return fetch(url, **kwargs)  # type: ignore[arg-type]


def fake_dns(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Replace the resolver: successive lookups get successive answers (the last repeats)."""
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(answers[min(len(asked), len(answers)) - 1])

    monkeypatch.setattr(fetching, "resolve", resolver)
    return asked


# -- conditional GET (R9) ---------------------------------------------------------------------


def test_it_fetches_then_sends_validators_and_gets_304(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS, last_modified=LAST_MODIFIED)

    first = get(server.url("/feed.xml"))
    assert first.status == 200
    assert first.body == RSS.encode()
    assert first.etag.startswith('"') and first.last_modified == LAST_MODIFIED
    assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert all(key == key.lower() for key in first.headers)
    assert first.url == server.url("/feed.xml") and first.permanent_url is None
    assert first.elapsed > 0 and not first.not_modified

    second = get(server.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified and second.body is None
    assert (second.etag, second.last_modified) == (first.etag, LAST_MODIFIED)
    sent = server.requests[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["if-modified-since"] == LAST_MODIFIED

    # The feed changes: the old validator no longer matches.
    server.add("/feed.xml", RSS.replace("Ice", "Ice and snow"), last_modified=LAST_MODIFIED)
    third = get(server.url("/feed.xml"), etag=first.etag)
    assert third.status == 200 and b"Ice and snow" in (third.body or b"")
    assert third.etag != first.etag


def test_it_uses_if_modified_since_alone(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS, etag=None, last_modified=LAST_MODIFIED)
    first = get(server.url("/feed.xml"))
    assert first.etag == "" and first.last_modified == LAST_MODIFIED
    again = get(server.url("/feed.xml"), last_modified=first.last_modified)
    assert again.status == 304


def test_it_keeps_sent_validators_when_a_304_omits_them(server: FixtureServer) -> None:
    server.add_handler("/feed.xml", status(304))
    result = get(server.url("/feed.xml"), etag='"v1"', last_modified=LAST_MODIFIED)
    assert result.status == 304
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)


def test_it_refuses_a_304_it_did_not_ask_for(server: FixtureServer) -> None:
    server.add_handler("/feed.xml", status(304))
    with pytest.raises(FetchError) as caught:
        get(server.url("/feed.xml"))
    assert caught.value.status == 304


def test_it_reuses_the_kept_alive_connection(server: FixtureServer) -> None:
    ports: list[int] = []

    def handler(h: BaseHTTPRequestHandler) -> None:
        ports.append(h.client_address[1])
        if h.headers.get("If-None-Match") == '"v1"':
            h.send_response(304)
            h.send_header("ETag", '"v1"')
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("ETag", '"v1"')
        h.send_header("Content-Length", str(len(RSS)))
        h.end_headers()
        h.wfile.write(RSS.encode())

    server.add_handler("/feed.xml", handler)
    assert get(server.url("/feed.xml")).status == 200
    assert get(server.url("/feed.xml"), etag='"v1"').status == 304
    assert get(server.url("/feed.xml"), etag='"v1"').status == 304
    assert len(ports) == 3 and len(set(ports)) == 1


def test_it_sends_a_clear_user_agent(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS)
    get(server.url("/feed.xml"))
    get(server.url("/feed.xml"), user_agent="ArcticNews-test/0")
    agents = [r.headers["User-Agent"] for r in server.requests]
    assert agents == [fetching.DEFAULT_USER_AGENT, "ArcticNews-test/0"]
    assert agents[0].startswith("ArcticNews/1.0 (+https://")


def test_it_sends_only_its_own_headers(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS)
    first = get(server.url("/feed.xml"))
    get(server.url("/feed.xml"), etag=first.etag, last_modified=LAST_MODIFIED)
    names = [sorted(name.lower() for name in r.headers) for r in server.requests]
    basic = ["accept", "accept-encoding", "host", "user-agent"]
    assert names == [basic, sorted([*basic, "if-modified-since", "if-none-match"])]


def test_a_cookie_set_by_one_feed_is_never_sent(server: FixtureServer) -> None:
    server.add("/a.xml", RSS, headers={"Set-Cookie": "session=secret; Path=/"})
    server.add("/b.xml", RSS)
    assert get(server.url("/a.xml")).status == 200
    get(server.url("/b.xml"))
    get(server.url("/a.xml"))
    assert [r.path for r in server.requests] == ["/a.xml", "/b.xml", "/a.xml"]
    assert not any("Cookie" in r.headers for r in server.requests)


def test_it_ignores_proxies_and_credentials_from_the_environment(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A proxy would be our TCP peer instead of the validated address; nothing listens here.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login user password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    fetching.close_session()  # a fresh pool must not pick them up either
    server.add("/feed.xml", RSS)
    assert get(server.url("/feed.xml")).status == 200
    assert "Authorization" not in server.requests[0].headers


# -- encodings and size caps (D1, D2) ---------------------------------------------------------


def test_it_decodes_gzip(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS * 50, gzip=True)
    result = get(server.url("/feed.xml"))
    assert result.body == (RSS * 50).encode()
    assert result.headers["content-encoding"] == "gzip"
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_it_rejects_a_declared_length_over_the_cap_before_reading(server: FixtureServer) -> None:
    server.add_handler("/big", huge(64 * 1024, declared_length=10_000_000_000))
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        get(server.url("/big"))
    assert caught.value.reason == "response too large (> 10485760 bytes)"
    assert not caught.value.transient
    assert time.monotonic() - started < 2


def test_it_stops_an_undeclared_body_at_the_cap(server: FixtureServer) -> None:
    server.add_handler("/big", huge(8 << 20))  # chunked, no Content-Length
    with pytest.raises(FetchError, match=r"response too large \(> 1048576 bytes\)"):
        get(server.url("/big"), max_bytes=1 << 20)


def test_it_accepts_a_body_exactly_at_the_cap(server: FixtureServer) -> None:
    server.add("/feed.xml", b"x" * 1000)
    assert len(get(server.url("/feed.xml"), max_bytes=1000).body or b"") == 1000


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status_file:
        for line in status_file:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM) to its current RSS, and return that (KiB)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    peak, current = _status_kib("VmHWM"), _status_kib("VmRSS")
    assert peak <= current + 1024, "the peak RSS was not reset"
    return current


def _peak_rss_kib() -> int:
    return _status_kib("VmHWM")


def test_it_stops_a_gzip_bomb_at_the_cap_with_little_memory(server: FixtureServer) -> None:
    server.add_handler("/bomb", gzip_bomb(1 << 30))  # ~1 MB on the wire, 1 GiB inflated
    server.add("/ok", RSS)
    server.add_handler("/bomb-redirect", gzip_bomb(code=302, headers={"Location": "/ok"}))
    get(server.url("/ok"))  # warm up: build the bomb, open the connection
    gc.collect()
    # The peak RSS of this process from here on: ru_maxrss is a lifetime high-water mark, which
    # an earlier test's peak would hide a growth under. Writing 5 to clear_refs resets it.
    rss_before = _reset_peak_rss()
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(FetchError, match="response too large") as caught:
            get(server.url("/bomb"))
        elapsed = time.monotonic() - started
        # A 302 whose body is a bomb: the body is never read, the redirect is followed.
        followed = get(server.url("/bomb-redirect"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rss_growth_mb = (_peak_rss_kib() - rss_before) / 1024
    assert not caught.value.transient
    assert followed.body == RSS.encode() and followed.permanent_url is None
    assert elapsed < 5
    assert peak < 40 * 1024 * 1024, f"traced peak {peak / 1e6:.1f} MB"
    assert rss_growth_mb < 100, f"RSS grew {rss_growth_mb:.0f} MB"


# -- deadlines (D3) ---------------------------------------------------------------------------


def test_it_cuts_off_a_drip_within_the_total_timeout(server: FixtureServer) -> None:
    server.add_handler("/slow", drip(bytes_per_second=1))
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        get(server.url("/slow"), total_timeout=2)
    elapsed = time.monotonic() - started
    assert caught.value.reason == "download exceeded 2s"
    assert caught.value.transient
    assert 1.9 < elapsed < 3


def test_it_cuts_off_headers_dripped_faster_than_the_read_timeout(server: FixtureServer) -> None:
    # Every read returns within read_timeout, so only the wall-clock watchdog can stop it.
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        while not h.server.stop_event.wait(0.1):  # type: ignore[attr-defined]
            h.wfile.write(b"X-Drip: 1\r\n")

    server.add_handler("/slow-headers", handler)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^download exceeded 1\.5s$"):
        get(server.url("/slow-headers"), total_timeout=1.5, read_timeout=1)
    assert time.monotonic() - started < 2.5


def test_it_gives_up_on_a_server_that_never_answers(server: FixtureServer) -> None:
    server.add_handler("/hang", hang())
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^download exceeded 1s$"):
        get(server.url("/hang"), total_timeout=1)
    assert time.monotonic() - started < 2

    with pytest.raises(FetchError) as caught:
        get(server.url("/hang"), total_timeout=5, read_timeout=0.3)
    assert caught.value.reason == "read timed out (no data for 0.3s)"
    assert caught.value.transient


def test_it_reports_a_refused_connection_as_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as caught:
        get(f"http://127.0.0.1:{port}/feed.xml")
    assert caught.value.reason.startswith("connection failed:")
    assert caught.value.transient and caught.value.status is None


def test_it_reports_tls_failures(server: FixtureServer) -> None:
    server.add("/feed.xml", RSS)
    with pytest.raises(FetchError) as caught:
        get(f"https://127.0.0.1:{server.port}/feed.xml", total_timeout=3)
    assert caught.value.reason.startswith("TLS error:")
    assert not caught.value.transient


# -- status mapping (R8) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "headers", "transient", "gone", "retry_after"),
    [
        (404, {}, False, False, None),
        (403, {}, False, False, None),
        (500, {}, True, False, None),
        (410, {}, False, True, None),
        (429, {"Retry-After": "120"}, True, False, 120.0),
        (503, {"Retry-After": "7"}, True, False, 7.0),
    ],
)
def test_it_maps_error_statuses(
    server: FixtureServer,
    code: int,
    headers: dict[str, str],
    transient: bool,
    gone: bool,
    retry_after: float | None,
) -> None:
    server.add_handler("/feed.xml", status(code, headers))
    with pytest.raises(FetchError) as caught:
        get(server.url("/feed.xml"))
    error = caught.value
    assert error.reason == f"HTTP {code}" and str(error) == f"HTTP {code}"
    assert (error.status, error.transient, error.gone) == (code, transient, gone)
    assert error.retry_after == retry_after
    assert error.permanent_url is None


def test_it_reads_retry_after_as_an_http_date(server: FixtureServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    server.add_handler("/feed.xml", status(503, {"Retry-After": when}))
    with pytest.raises(FetchError) as caught:
        get(server.url("/feed.xml"))
    assert caught.value.retry_after is not None and 80 < caught.value.retry_after <= 90


def test_parse_retry_after_handles_odd_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert fetching.parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0
    assert fetching.parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now=now) == 0.0
    assert fetching.parse_retry_after("soon") is None
    assert fetching.parse_retry_after("") is None
    assert fetching.parse_retry_after(None) is None


def test_fetch_errors_survive_pickling() -> None:
    error = URLNotAllowed("HTTP 410", status=410, gone=True, permanent_url="https://x.test/")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is URLNotAllowed
    assert (copy.reason, copy.status, copy.gone, copy.permanent_url) == (
        "HTTP 410",
        410,
        True,
        "https://x.test/",
    )


# -- redirects (S3) ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 308])
def test_it_reports_a_permanent_redirect(server: FixtureServer, code: int) -> None:
    server.add_redirect("/old.xml", "/new.xml", status=code)  # relative Location
    server.add("/new.xml", RSS)
    result = get(server.url("/old.xml"))
    assert result.status == 200 and result.body == RSS.encode()
    assert result.url == server.url("/new.xml")
    assert result.permanent_url == server.url("/new.xml")


@pytest.mark.parametrize("chain", [[302], [303], [307], [301, 302], [302, 301], [308, 307, 301]])
def test_it_never_reports_a_temporary_redirect_as_permanent(
    server: FixtureServer, chain: list[int]
) -> None:
    for hop, code in enumerate(chain):
        server.add_redirect(f"/hop{hop}", server.url(f"/hop{hop + 1}"), status=code)
    server.add(f"/hop{len(chain)}", RSS)
    result = get(server.url("/hop0"))
    assert result.url == server.url(f"/hop{len(chain)}")
    assert result.permanent_url is None


def test_it_keeps_the_permanent_url_when_the_new_address_fails(server: FixtureServer) -> None:
    server.add_redirect("/old.xml", server.url("/moved.xml"), status=301)
    server.add_handler("/moved.xml", status(410))
    with pytest.raises(FetchError) as caught:
        get(server.url("/old.xml"))
    assert caught.value.gone
    assert caught.value.permanent_url == server.url("/moved.xml")


def test_it_follows_at_most_five_redirects(server: FixtureServer) -> None:
    for hop in range(6):
        server.add_redirect(f"/r{hop}", f"/r{hop + 1}", status=301)
    server.add("/r6", RSS)
    server.add("/r5-end", RSS)

    with pytest.raises(FetchError) as caught:
        get(server.url("/r0"))  # six redirects
    assert caught.value.reason == "too many redirects"
    assert not caught.value.transient
    assert server.count("/r6") == 0

    assert get(server.url("/r1")).url == server.url("/r6")  # five redirects are fine


def test_it_refuses_redirects_into_the_internal_network(server: FixtureServer) -> None:
    allowed = [f"127.0.0.1:{server.port}"]  # only the fixture server itself
    with FixtureServer() as internal:
        internal.add("/secret", "secret")
        targets = {
            "/to-internal": (301, internal.url("/secret")),
            "/to-metadata": (302, "http://169.254.169.254/latest/meta-data/"),
            "/to-localhost": (307, f"http://localhost:{internal.port}/secret"),
            "/to-mapped": (308, f"http://[::ffff:127.0.0.1]:{internal.port}/secret"),
            "/to-file": (302, "file:///etc/passwd"),
            "/to-credentials": (302, f"http://user:pw@127.0.0.1:{server.port}/x"),
        }
        for path, (code, location) in targets.items():
            server.add_redirect(path, location, status=code)
        server.add("/feed.xml", RSS)
        assert fetch(server.url("/feed.xml"), allow_private=False, allow_endpoints=allowed)

        for path in targets:
            with pytest.raises(URLNotAllowed) as caught:
                fetch(server.url(path), allow_private=False, allow_endpoints=allowed)
            assert caught.value.reason.startswith("redirect target not allowed: "), path
            assert not caught.value.transient
            # A refused target is never offered as the feed's new address.
            assert caught.value.permanent_url is None
        assert internal.count() == 0


def test_it_refuses_an_https_to_http_downgrade() -> None:
    # The TLS test below covers this end to end but needs the openssl CLI; this direct check
    # of the redirect rule always runs.
    policy = fetching._Policy(allow_private=True)
    current = fetching._prepare("https://127.0.0.1/feed.xml", policy)
    with pytest.raises(URLNotAllowed, match="https to http downgrade"):
        fetching._redirect_target(current, "http://127.0.0.1/feed.xml", policy)
    upgraded = fetching._redirect_target(
        fetching._prepare("http://127.0.0.1/a", policy), "https://127.0.0.1/b", policy
    )
    assert upgraded.url == "https://127.0.0.1/b"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA and a certificate for feeds.test it signed (needs the openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    tmp = tmp_path_factory.mktemp("tls")
    files = {name: tmp / name for name in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem")}
    (tmp / "ext.cnf").write_text("subjectAltName=DNS:feeds.test\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        ["req", "-x509", *ec, "-keyout", files["ca.key"], "-out", files["ca.pem"], "-days", "2"]
        + ["-subj", "/CN=ArcticNews test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign"],
        ["req", *ec, "-keyout", files["srv.key"], "-out", files["srv.csr"]]
        + ["-subj", "/CN=feeds.test"],
        ["x509", "-req", "-in", files["srv.csr"], "-CA", files["ca.pem"], "-CAkey"]
        + [files["ca.key"], "-CAcreateserial", "-out", files["srv.pem"], "-days", "2"]
        + ["-extfile", tmp / "ext.cnf"],
    ]
    for command in commands:
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


def test_it_keeps_sni_and_certificate_checks_for_the_host_name_while_pinned(
    tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(tls_files["ca.pem"]))
    fake_dns(monkeypatch, ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["srv.pem"], tls_files["srv.key"])
    server_names: list[str | None] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = record_sni  # type: ignore[assignment]

    with FixtureServer() as plain, FixtureServer() as server:
        server.enable_tls(context)
        server.add("/feed.xml", RSS)
        plain.add("/feed.xml", RSS)
        server.add_redirect("/downgrade", f"http://feeds.test:{plain.port}/feed.xml", 302)

        result = get(f"https://feeds.test:{server.port}/feed.xml")
        assert result.body == RSS.encode()
        assert server_names == ["feeds.test"]
        assert server.requests[0].headers["Host"] == f"feeds.test:{server.port}"

        with pytest.raises(FetchError) as caught:  # same address, a name the cert lacks
            get(f"https://other.test:{server.port}/feed.xml")
        assert "Hostname mismatch" in caught.value.reason
        assert caught.value.reason.startswith("TLS error:")

        with pytest.raises(URLNotAllowed, match="https to http downgrade"):
            get(f"https://feeds.test:{server.port}/downgrade")
        assert plain.count() == 0


# -- SSRF (S1, S2) ----------------------------------------------------------------------------

SSRF_URLS = [
    "http://127.0.0.1:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://localhost.:{port}/",
    "http://LOCALHOST:{port}/",
    "http://feeds.localhost:{port}/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
]
BAD_SCHEME_URLS = [
    "file:///etc/passwd",
    "/etc/passwd",
    "/etc/hostname",
    "etc/passwd",
    "ftp://127.0.0.1/",
    "gopher://127.0.0.1:70/",
    "feed://127.0.0.1:{port}/",
    "javascript:alert(1)",
    "http://user:pass@127.0.0.1:{port}/",
    "http://user@example.com/",
    "http://127.0.0.1:{port}/\r\nX-Injected: 1",
    "http:///feed.xml",
    "http://exa mple.com/",
]


@pytest.mark.parametrize("template", SSRF_URLS + BAD_SCHEME_URLS)
def test_it_refuses_ssrf_targets(server: FixtureServer, template: str) -> None:
    url = template.format(port=server.port)
    for attempt in (validate_feed_url, fetch):
        with pytest.raises(URLNotAllowed) as caught:
            attempt(url, allow_private=False, allow_endpoints=())
        assert not caught.value.transient
        if template in SSRF_URLS:
            assert caught.value.reason.startswith("address not allowed: "), caught.value.reason
    assert server.count() == 0


def test_it_explains_which_address_was_refused() -> None:
    with pytest.raises(URLNotAllowed) as caught:
        validate_feed_url("http://127.0.0.1/", allow_private=False, allow_endpoints=())
    assert caught.value.reason == "address not allowed: 127.0.0.1 is loopback"
    with pytest.raises(URLNotAllowed, match=r"169\.254\.169\.254 is link-local"):
        validate_feed_url("http://169.254.169.254/", allow_private=False, allow_endpoints=())
    with pytest.raises(URLNotAllowed, match="embeds 127.0.0.1 is loopback"):
        validate_feed_url("http://[::ffff:127.0.0.1]/", allow_private=False, allow_endpoints=())


def test_it_normalises_valid_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, [PUBLIC_IP])
    check = validate_feed_url
    assert check("HTTP://Example.COM:80", allow_private=False) == "http://example.com/"
    assert (
        check("  https://Example.com:443/a/feed?x=1#top ", allow_private=False)
        == "https://example.com/a/feed?x=1"
    )
    assert check("http://example.com:8080/f", allow_private=False) == "http://example.com:8080/f"
    assert check("http://bücher.example/", allow_private=False) == "http://xn--bcher-kva.example/"
    assert check(f"http://{PUBLIC_IP}/", allow_private=False) == f"http://{PUBLIC_IP}/"


def test_it_reports_dns_failure_as_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetching, "resolve", resolver)
    with pytest.raises(FetchError) as caught:
        fetch("http://nxdomain.example/feed.xml", allow_private=False)
    assert caught.value.reason.startswith("DNS lookup failed for nxdomain.example")
    assert caught.value.transient and not isinstance(caught.value, URLNotAllowed)


# -- DNS rebinding and pinning (S4) -----------------------------------------------------------


def test_it_refuses_a_host_with_any_private_address(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, [PUBLIC_IP, "127.0.0.1"])
    with pytest.raises(URLNotAllowed, match=r"127\.0\.0\.1 is loopback \(resolved from mixed"):
        fetch(f"http://mixed.test:{server.port}/", allow_private=False, allow_endpoints=())
    assert server.count() == 0


def test_it_connects_only_to_the_address_it_validated(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add("/feed.xml", RSS)
    fake_dns(monkeypatch, [PUBLIC_IP], ["127.0.0.1"])
    # Make the OS resolver rebind too, so any second lookup at connect time would reach us.
    real_getaddrinfo = socket.getaddrinfo

    def os_resolver(host: object, *args: object, **kwargs: object) -> object:
        if host == "rebind.test":
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", os_resolver)
    url = f"http://rebind.test:{server.port}/feed.xml"
    options = {"allow_private": False, "allow_endpoints": (), "connect_timeout": 0.5}

    with pytest.raises(FetchError) as first:  # validated 93.184.216.34, which is unreachable
        fetch(url, total_timeout=2, **options)  # type: ignore[arg-type]
    assert not isinstance(first.value, URLNotAllowed)
    with pytest.raises(URLNotAllowed, match="127.0.0.1 is loopback"):  # the rebound answer
        fetch(url, total_timeout=2, **options)  # type: ignore[arg-type]
    assert server.count() == 0


def test_it_keeps_host_header_while_pinned(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real resolver cannot resolve feeds.test: this only works if the connection goes to
    # the address our resolver returned, with the host name kept for the Host header.
    server.add("/feed.xml", RSS)
    asked = fake_dns(monkeypatch, ["127.0.0.1"])
    result = get(f"http://feeds.test:{server.port}/feed.xml")
    assert result.body == RSS.encode()
    assert server.requests[0].headers["Host"] == f"feeds.test:{server.port}"
    assert asked == ["feeds.test"]


def test_it_rechecks_the_peer_of_a_kept_alive_connection(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add("/feed.xml", RSS)
    url = f"http://pooled.test:{server.port}/feed.xml"
    fake_dns(monkeypatch, ["127.0.0.1"], [PUBLIC_IP])
    assert get(url).status == 200  # leaves a kept-alive connection to 127.0.0.1 in the pool
    with pytest.raises(FetchError):
        # Validated as 93.184.216.34 now: the pooled loopback connection must not be used.
        fetch(url, allow_private=False, allow_endpoints=(), connect_timeout=0.5, total_timeout=2)
    assert server.count() == 1


# -- politeness -------------------------------------------------------------------------------


def test_it_limits_concurrent_requests_per_host(server: FixtureServer) -> None:
    lock = threading.Lock()
    in_flight = 0
    peak = 0

    def slow(h: BaseHTTPRequestHandler) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.25)
        with lock:
            in_flight -= 1
        h.send_response(200)
        h.send_header("Content-Length", "6")
        h.end_headers()
        h.wfile.write(b"<rss/>")

    server.add_handler("/feed.xml", slow)
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            get(server.url("/feed.xml"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            fetching.close_session()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert server.count() == 5
    assert peak == fetching.PER_HOST_CONCURRENCY == 2


# -- defaults without Django ------------------------------------------------------------------


def test_it_defaults_to_refusing_private_addresses_and_reads_the_setting() -> None:
    script = (
        "import feeds.ingest.fetching as f\n"
        "try:\n"
        "    f.validate_feed_url('http://127.0.0.1/')\n"
        "    print('allowed')\n"
        "except f.URLNotAllowed:\n"
        "    print('refused')\n"
        "from django.conf import settings\n"
        "settings.configure(FEEDS_ALLOW_PRIVATE_ADDRESSES=True)\n"
        "print(f.validate_feed_url('http://127.0.0.1/'))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", "http://127.0.0.1/"]


# -- the fixture server itself (other test modules build on it) --------------------------------


def test_fixture_server_matches_query_strings_then_paths(server: FixtureServer) -> None:
    server.add("/feed.xml?page=2", "second page")
    server.add("/feed.xml", "any page")
    assert get(server.url("/feed.xml?page=2")).body == b"second page"
    assert get(server.url("/feed.xml?page=3")).body == b"any page"
    assert (server.count("/feed.xml"), server.count("/feed.xml?page=2"), server.count()) == (
        2,
        1,
        2,
    )
    with pytest.raises(FetchError, match="HTTP 404"):
        get(server.url("/missing"))
    server.reset_log()
    assert server.count() == 0 and server.requests == []


def test_fixture_server_serves_a_file_tree(server: FixtureServer, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.rss").write_text("<rss/>")
    (tmp_path / "sub" / "b b.atom").write_text("<feed/>")
    server.add_file_tree(tmp_path, prefix="/corpus/")
    first = get(server.url("/corpus/a.rss"))
    assert first.body == b"<rss/>" and first.headers["content-type"].startswith("application/rss")
    second = get(server.url("/corpus/sub/b%20b.atom"))
    assert second.body == b"<feed/>"
    assert second.headers["content-type"].startswith("application/atom+xml")


def test_fixture_server_stop_ends_hung_requests_promptly() -> None:
    server = FixtureServer().start()
    server.add_handler("/hang", hang())
    outcome: list[BaseException] = []

    def client() -> None:
        try:
            get(server.url("/hang"), total_timeout=10)
        except FetchError as exc:
            outcome.append(exc)
        finally:
            fetching.close_session()

    thread = threading.Thread(target=client)
    thread.start()
    assert server.wait_for_requests(1, path="/hang", timeout=5)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert len(outcome) == 1 and outcome[0].transient  # type: ignore[attr-defined]
