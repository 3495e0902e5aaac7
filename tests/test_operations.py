"""Health, readiness, metrics, request ids, login throttling and private pages."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.urls import reverse

from arcticnews.health import BEAT_SEEN_KEY, record_beat
from feeds.models import Feed, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_seen():
    record_beat()
    yield
    from django.core.cache import cache

    cache.delete(BEAT_SEEN_KEY)


# --- health and readiness -------------------------------------------------------------------


def test_healthz_answers_without_caching_or_indexing(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex"


def test_readyz_checks_database_cache_broker_beat_and_overdue_feeds(client, beat_seen):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "cache", "broker", "beat", "feeds"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert "no-store" in response["Cache-Control"]


def test_readyz_fails_when_beat_was_never_seen(client):
    from django.core.cache import cache

    cache.delete(BEAT_SEEN_KEY)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {
        "status": "fail",
        "detail": "RuntimeError: beat has not been seen",
    }


def test_readyz_fails_when_most_feeds_are_overdue(client, beat_seen, settings):
    from datetime import timedelta

    from django.utils import timezone

    source = Source.objects.create(name="North", slug="north")
    long_ago = timezone.now() - timedelta(hours=1)
    for n in range(3):
        Feed.objects.create(
            source=source, url=f"https://north.example/{n}.xml", next_fetch_at=long_ago
        )
    Feed.objects.create(
        source=source,
        url="https://north.example/fresh.xml",
        next_fetch_at=timezone.now() + timedelta(minutes=5),
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["feeds"]["detail"].endswith("3 of 4 feeds overdue (75%)")


def test_robots_txt_keeps_crawlers_off_operations_and_editor_pages(client):
    text = client.get("/robots.txt").content.decode()
    for path in ("/healthz", "/readyz", "/metrics", "/editor/", "/admin/"):
        assert f"Disallow: {path}\n" in text


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_need_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_show_requests_and_the_aggregator_state(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    source = Source.objects.create(name="North", slug="north")
    Feed.objects.create(source=source, url="https://north.example/a.xml")
    Feed.objects.create(source=source, url="https://north.example/b.xml", consecutive_failures=2)
    client.get("/")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("arcticnews_") and " " in line
    }
    assert values["arcticnews_feeds_active"] == 2
    assert values["arcticnews_feeds_failing"] == 1
    assert values["arcticnews_feeds_due"] == 2
    assert values["arcticnews_stories"] == 0
    assert "arcticnews_queue_length" in values
    assert "arcticnews_related_boxes_pending" in values
    assert 'arcticnews_fetch_duration_seconds{stat="avg"}' in values
    # django-prometheus's request metrics.
    assert "django_http_requests_total_by_view_transport_method_total" in text


def metric_values(client) -> dict[str, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.content.decode().splitlines()
        if line and not line.startswith("#")
    }


def test_sample_loaded_feeds_are_not_counted_as_failing(
    client, settings, fixture_server, allow_private
):
    """The offline demo: every default feed shows its bundled sample and keeps failing to
    reach the real outlet. That is expected, not an alarm; a real failure still counts."""
    import time

    from feeds.ingest.fetching import FetchError
    from feeds.ingest.pipeline import record_failure

    settings.METRICS_TOKEN = "s3cret-metrics-token"
    call_command("load_sample_feeds", stdout=io.StringIO())
    samples = list(Feed.objects.active())
    assert samples
    for feed in samples:  # what the worker's poll of an unreachable real feed records
        record_failure(feed, FetchError("DNS lookup failed", transient=True), time.monotonic())
    fixture_server.add("/down.xml", b"", status=503)
    Feed.objects.create(source=samples[0].source, url=fixture_server.url("/down.xml"))
    with pytest.raises(CommandError, match="all 1 feeds failed"):  # the due one: ours
        call_command("fetchfeeds", "--quiet", stdout=io.StringIO(), stderr=io.StringIO())
    assert fixture_server.count("/down.xml") == 1

    values = metric_values(client)
    assert values["arcticnews_feeds_sample_loaded"] == len(samples)
    assert values["arcticnews_feeds_failing"] == 1
    assert values["arcticnews_feeds_active"] == len(samples) + 1


def test_metrics_count_database_queries_by_vendor(client, settings):
    """django-prometheus's database wrapper (DATABASES' ENGINE) counts every statement."""
    from django.db import connection

    settings.METRICS_TOKEN = "s3cret-metrics-token"
    key = f'django_db_execute_total{{alias="default",vendor="{connection.vendor}"}}'
    before = metric_values(client).get(key, 0.0)
    client.get("/")
    after = metric_values(client)[key]
    assert after > before
    assert connection.vendor in {"postgresql", "sqlite"}  # the wrapper keeps Django's vendor


# --- request ids ---------------------------------------------------------------------------


def test_every_response_carries_a_request_id_and_a_proxys_is_kept(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-1234abcd")["X-Request-ID"] == (
        "edge-1234abcd"
    )
    # A header that could forge log lines is replaced, not copied.
    forged = client.get("/healthz", HTTP_X_REQUEST_ID='x" injected\nline')["X-Request-ID"]
    assert forged != 'x" injected\nline' and len(forged) == 32


# --- admin and editor pages ----------------------------------------------------------------------


def test_admin_and_editor_pages_are_private_and_never_stored(client, editor):
    assert_private(client.get("/admin/login/"))
    client.force_login(editor)
    assert_private(client.get("/admin/"))
    assert_private(client.get("/admin/feeds/story/"))
    # The public pages keep their own caching.
    client.logout()
    assert "private" not in client.get("/").get("Cache-Control", "")


def assert_private(response):
    control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= control, response["Cache-Control"]
    assert "public" not in control


def test_logins_are_throttled_and_the_lock_out_can_be_reset(login_client, editor):
    client = login_client
    login = reverse("admin:login")
    for _ in range(4):
        response = client.post(login, {"username": "edna", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    # The fifth wrong password (AXES_FAILURE_LIMIT) locks the username on this client out.
    lockout = client.post(login, {"username": "edna", "password": "wrong"})
    assert lockout.status_code == 429
    cool_off = settings.AXES_COOLOFF_MINUTES * 60
    assert cool_off - 5 <= int(lockout["Retry-After"]) <= cool_off
    # Ten minutes into the cool-off, a try (django-axes' default) restarts it: the answer says
    # the whole cool-off again.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    locked = client.post(login, {"username": "edna", "password": "x-editor-pass-1"})
    assert locked.status_code == 429, "the right password is refused while locked out"
    assert cool_off - 5 <= int(locked["Retry-After"]) <= cool_off
    call_command("axes_reset", stdout=io.StringIO())
    ok = client.post(login, {"username": "edna", "password": "x-editor-pass-1"})
    assert ok.status_code == 302


def test_a_lock_outs_retry_after_is_the_cool_off_left(login_client, editor, settings):
    client = login_client
    settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
    login = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(login, {"username": "edna", "password": "wrong"})
    assert response.status_code == 429
    # Ten minutes into the cool-off, with tries during it not recorded, the rest is left.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10))
    locked = client.post(login, {"username": "edna", "password": "wrong"})
    assert locked.status_code == 429
    left = settings.AXES_COOLOFF_MINUTES * 60 - 600
    assert left - 5 <= int(locked["Retry-After"]) <= left


def _address() -> str:
    """A client address of its own: the per-client login counter lives in the shared cache
    for its window, beyond one test's transaction."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


@pytest.fixture
def login_client(client):
    client.defaults["REMOTE_ADDR"] = _address()
    return client


@pytest.fixture
def fast_hashing(settings):
    """Passwords hashed cheaply for the users these tests make and the unknown usernames they
    try (Django hashes even those, against timing); the editor's own hash still verifies."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


def test_one_client_cycling_usernames_is_limited_per_client(login_client, editor, fast_hashing):
    """django-axes locks a username out per client; a client trying one password for each of
    many usernames never reaches that. The per-client limit (LOGIN_CLIENT_RATE_LIMIT) stops
    it, with Retry-After, while another client still signs in."""
    limit = int(settings.LOGIN_CLIENT_RATE_LIMIT.split("/")[0])
    login = reverse("admin:login")
    answers = [
        login_client.post(login, {"username": f"user{n}", "password": "guess"}).status_code
        for n in range(60)
    ]
    assert answers[:limit] == [200] * limit  # each the form again, with its error
    assert set(answers[limit:]) == {429}
    refused = login_client.post(login, {"username": "edna", "password": "x-editor-pass-1"})
    assert refused.status_code == 429, "the right password is refused while the client is limited"
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in login_client.session
    # Another client (another address) is not affected.
    elsewhere = login_client.post(
        login, {"username": "edna", "password": "x-editor-pass-1"}, REMOTE_ADDR=_address()
    )
    assert elsewhere.status_code == 302


def test_a_newsroom_behind_one_address_is_not_locked_out_by_one_editors_typos(
    login_client, editor, django_user_model, settings, fast_hashing
):
    """Every editor of a newsroom behind one NAT shares its address: one editor's typos lock
    out that editor (django-axes, per username), never the others, and signing in counts
    nothing against the address (here a limit of 10: 9 typos, then 12 colleagues sign in)."""
    settings.LOGIN_CLIENT_RATE_LIMIT = "10/15m"
    login = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        login_client.post(login, {"username": "edna", "password": "typo"})
    assert login_client.post(login, {"username": "edna", "password": "typo"}).status_code == 429
    for n in range(12):  # colleagues signing in all morning
        name = f"colleague{n}"
        django_user_model.objects.create_user(name, password="colleague-pass-1", is_staff=True)
        ok = login_client.post(login, {"username": name, "password": "colleague-pass-1"})
        assert ok.status_code == 302, n
        login_client.logout()


def test_the_login_limit_counts_the_client_behind_trusted_proxies(client, editor, settings):
    """As the rest of the site: behind TRUSTED_PROXY_COUNT proxies the client is the address
    the nearest proxy saw, so two clients behind one proxy are counted apart."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_CLIENT_RATE_LIMIT = "3/15m"
    login, proxy = reverse("admin:login"), _address()
    one, two = _address(), _address()
    for n in range(3):
        answer = client.post(
            login,
            {"username": f"user{n}", "password": "guess"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"10.9.9.9, {one}",
        )
        assert answer.status_code == 200
    headers = {"REMOTE_ADDR": proxy, "HTTP_X_FORWARDED_FOR": one}
    assert client.post(login, {"username": "x", "password": "y"}, **headers).status_code == 429
    headers["HTTP_X_FORWARDED_FOR"] = f"{one}, {two}"  # whatever the client wrote before it
    assert client.post(login, {"username": "x", "password": "y"}, **headers).status_code == 200


# --- the Source admin's feed inline ----------------------------------------------------------


def test_the_source_admins_feed_inline_applies_the_feed_url_policy(client, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Sneaky",
        "slug": "sneaky",
        "language": "en",
        "feeds-TOTAL_FORMS": "1",
        "feeds-INITIAL_FORMS": "0",
        "feeds-MIN_NUM_FORMS": "0",
        "feeds-MAX_NUM_FORMS": "1000",
        "feeds-0-url": "http://169.254.169.254/latest/meta-data/",
        "feeds-0-is_active": "on",
    }
    response = client.post(reverse("admin:feeds_source_add"), data)
    assert response.status_code == 200
    assert "not allowed" in response.content.decode()
    assert not Source.objects.exists() and not Feed.objects.exists()


# --- Redis: the cache can be evicted without touching the broker ----------------------------


@pytest.mark.services
def test_every_page_cache_entry_in_redis_expires_so_volatile_lru_evicts_only_cache(client):
    """Redis runs with maxmemory-policy volatile-lru (README, compose.yaml): only keys with a
    lifetime are evicted. The broker's keys have none; every cache entry must have one, except
    the page-cache generation counter, which must survive (and is a few bytes)."""
    from django.core.cache import cache
    from django_redis import get_redis_connection

    from feeds.generation import CHANGED_AT_KEY, GENERATION_KEY

    for path in ("/", "/feed/", "/country/norway/", "/sitemap.xml", "/readyz"):
        client.get(path)
    redis = get_redis_connection("default")
    prefix = cache.make_key("")
    keys = [k.decode() for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
    assert len(keys) > 3, keys
    permanent = {cache.make_key(GENERATION_KEY), cache.make_key(CHANGED_AT_KEY)}
    lasting = [k for k in keys if k not in permanent and redis.ttl(k) < 0]
    assert not lasting, f"cache keys without a lifetime: {lasting[:10]}"
