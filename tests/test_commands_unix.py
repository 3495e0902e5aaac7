"""Management commands behave like Unix tools: clear errors, exit statuses, quiet and verbose."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feeds.models import Feed, Source
from tests.conftest import ROOT
from tests.test_pipeline import BASIC, make_feed

pytestmark = pytest.mark.django_db

PAGE = b"""<!doctype html><html><head><title>North Example</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="News" href="/news/rss.xml">
<link rel="alternate" type="application/atom+xml" href="https://elsewhere.example/atom">
</head><body><p>Welcome</p></body></html>"""


def run_manage(*args: str) -> subprocess.CompletedProcess:
    """The command as a shell user runs it: its exit status and both streams."""
    unset = {"DATABASE_URL", "REDIS_URL", "FEEDS_ALLOW_PRIVATE_ADDRESSES"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- fetchfeeds ---------------------------------------------------------------------------------


def _feed(server, path: str, body: bytes | None = None, status: int = 200) -> Feed:
    server.add(path, body if body is not None else b"", status=status)
    source, _ = Source.objects.get_or_create(slug="north", defaults={"name": "North"})
    return Feed.objects.create(source=source, url=server.url(path))


def test_fetchfeeds_fails_with_status_1_when_every_feed_failed(fixture_server, allow_private):
    _feed(fixture_server, "/down.xml", status=503)
    _feed(fixture_server, "/missing.xml", status=404)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="all 2 feeds failed") as failure:
        call_command("fetchfeeds", "--all", stdout=out, stderr=err)
    assert failure.value.returncode == 1
    # Each failure once: the command's line, not also the pipeline's log line.
    assert out.getvalue().count("503") == 1 and out.getvalue().count("404") == 1
    assert "done: 0 feeds fetched, 2 failed" in out.getvalue()


def test_fetchfeeds_quiet_prints_only_the_failures_on_stderr(fixture_server, allow_private):
    _feed(fixture_server, "/good.xml", make_feed(BASIC).encode())
    _feed(fixture_server, "/down.xml", status=503)
    out, err = io.StringIO(), io.StringIO()
    call_command("fetchfeeds", "--all", "--quiet", stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert err.getvalue().count("\n") == 1 and "503" in err.getvalue()
    assert Feed.objects.get(url=fixture_server.url("/good.xml")).stories.count() == 3


def test_fetchfeeds_with_some_failures_succeeds_and_verbose_adds_detail(
    fixture_server, allow_private
):
    _feed(fixture_server, "/good.xml", make_feed(BASIC).encode())
    _feed(fixture_server, "/down.xml", status=503)
    out = io.StringIO()
    call_command("fetchfeeds", "--all", "-v", "2", stdout=out, stderr=io.StringIO())
    assert "ok, 3 new" in out.getvalue()
    assert "related boxes updated" in out.getvalue()
    assert "done: 1 feeds fetched, 1 failed" in out.getvalue()


# --- bad input: a clear error, status 2, no traceback ------------------------------------------


def test_retag_with_an_impossible_date_says_so_with_status_2():
    done = run_manage("retag", "--since", "2026-13-45")
    assert done.returncode == 2, done.stderr
    assert "--since wants a date like 2026-11-01, not '2026-13-45'" in done.stderr
    assert "Traceback" not in done.stderr


def test_addfeed_with_an_over_long_url_is_a_clear_error():
    url = "https://ok.example/" + "a" * 2100
    done = run_manage("addfeed", url, "--source", "Long", "--no-check")
    assert done.returncode == 2, done.stderr
    assert "at most 2000" in done.stderr
    assert "Traceback" not in done.stderr


def test_addfeed_with_an_over_long_source_name_is_a_clear_error_before_any_network(
    fixture_server, allow_private
):
    # Source.name is 200 characters: PostgreSQL refused the row with a DataError traceback
    # after the feed had been fetched (SQLite stored it).
    fixture_server.add("/rss.xml", make_feed(BASIC))
    with pytest.raises(CommandError, match="at most 200") as failure:
        call_command(
            "addfeed", fixture_server.url("/rss.xml"), source="S" * 300, stdout=io.StringIO()
        )
    assert failure.value.returncode == 2
    assert fixture_server.count() == 0
    assert not Source.objects.filter(slug="s" * 300).exists()
    assert not Feed.objects.filter(url=fixture_server.url("/rss.xml")).exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/feed.xml", "http://localhost:9/rss"])
def test_addfeed_refuses_a_loopback_url_and_names_the_setting_that_allows_it(url):
    done = run_manage("addfeed", url, "--source", "Local")
    assert done.returncode == 2, done.stderr
    assert "is loopback" in done.stderr
    assert "FEEDS_ALLOW_PRIVATE_ADDRESSES=true" in done.stderr
    assert "Traceback" not in done.stderr


def test_addfeed_names_the_setting_when_a_feed_redirects_to_a_private_address(
    fixture_server, settings
):
    # The fixture server itself is allowed as one endpoint; where it redirects to is not.
    host, port = fixture_server.url("/").split("/")[2].split(":")
    settings.FEEDS_ALLOWED_PRIVATE_ENDPOINTS = [f"{host}:{port}"]
    fixture_server.add("/moved.xml", b"", status=301, headers={"Location": "http://10.1.2.3/"})
    with pytest.raises(CommandError, match="FEEDS_ALLOW_PRIVATE_ADDRESSES") as failure:
        call_command("addfeed", fixture_server.url("/moved.xml"), source="X", stdout=io.StringIO())
    assert "10.1.2.3 is private" in str(failure.value)
    assert failure.value.returncode == 2
    assert not Feed.objects.exists()


def test_addfeed_checks_the_country_before_any_network(fixture_server, allow_private):
    fixture_server.add("/rss.xml", make_feed(BASIC))
    with pytest.raises(CommandError, match="unknown country 'narnia'") as failure:
        call_command("addfeed", fixture_server.url("/rss.xml"), source="X", country="narnia")
    assert failure.value.returncode == 2
    assert fixture_server.count() == 0
    assert not Feed.objects.exists()


# --- addfeed checks what it adds ---------------------------------------------------------------


def test_addfeed_fetches_and_parses_the_feed_before_saving(fixture_server, allow_private):
    fixture_server.add("/rss.xml", make_feed(BASIC))
    out = io.StringIO()
    call_command("addfeed", fixture_server.url("/rss.xml"), source="North", stdout=out)
    assert "added" in out.getvalue()
    assert fixture_server.count("/rss.xml") == 1
    assert Feed.objects.filter(url=fixture_server.url("/rss.xml")).exists()


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/missing.xml", b"no", 404, "404"),
        ("/page.html", b"<!doctype html><html><body>Hi</body></html>", 200, "advertises no feed"),
        ("/junk.xml", b"\x00\x01 not xml at all", 200, "not a usable feed"),
    ],
)
def test_addfeed_refuses_what_is_not_a_feed_with_the_reason(
    fixture_server, allow_private, path, body, status, reason
):
    fixture_server.add(path, body, status=status, content_type="text/html; charset=utf-8")
    if path.endswith(".xml"):
        fixture_server.add(path, body, status=status)
    with pytest.raises(CommandError, match=reason) as failure:
        call_command("addfeed", fixture_server.url(path), source="North", stdout=io.StringIO())
    assert failure.value.returncode == 1
    assert not Feed.objects.exists() and not Source.objects.exists()


def test_addfeed_no_check_adds_a_feed_that_is_down_without_fetching(fixture_server, allow_private):
    call_command(
        "addfeed", fixture_server.url("/down.xml"), "--no-check", source="N", stdout=io.StringIO()
    )
    assert Feed.objects.filter(url=fixture_server.url("/down.xml")).exists()
    assert fixture_server.count() == 0


def test_addfeed_offers_the_feeds_a_web_page_advertises(fixture_server, allow_private):
    fixture_server.add("/", PAGE, content_type="text/html; charset=utf-8")
    with pytest.raises(CommandError) as failure:
        call_command("addfeed", fixture_server.url("/"), source="North", stdout=io.StringIO())
    message = str(failure.value)
    assert "is a web page, not a feed" in message
    assert fixture_server.url("/news/rss.xml") in message
    assert "https://elsewhere.example/atom" in message
    assert "--discover" in message
    assert not Feed.objects.exists()


def test_addfeed_discover_takes_the_advertised_feed(fixture_server, allow_private):
    fixture_server.add("/", PAGE, content_type="text/html; charset=utf-8")
    fixture_server.add("/news/rss.xml", make_feed(BASIC))
    out = io.StringIO()
    call_command("addfeed", fixture_server.url("/"), "--discover", source="North", stdout=out)
    feed = Feed.objects.get()
    assert feed.url == fixture_server.url("/news/rss.xml")
    assert fixture_server.count("/news/rss.xml") == 1
