"""ArcticNews settings: one file, driven by the environment.

Unset variables give the embedded default the README promises (SQLite, tasks in-process);
DATABASE_URL and REDIS_URL switch the same code to PostgreSQL, Redis and Celery workers.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import dj_email_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = envbool("DEBUG", False)
VAR_DIR = Path(os.environ.get("ARCTICNEWS_VAR_DIR", BASE_DIR / "var"))


def _local_secret_key() -> str:
    """A key generated once per checkout, so a fresh clone runs without sharing a known key.

    Production sets SECRET_KEY (every web process and worker must share one); the deploy
    check arcticnews.W001 says so when it is missing.
    """
    path = VAR_DIR / "secret-key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret_key()
SECRET_KEY_FROM_ENV = "SECRET_KEY" in os.environ
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_celery_beat",
    "csp",
    "axes",
    "django_prometheus",
    "feeds",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "arcticnews.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HTML compressed too. BREACH: public pages carry no secret, and the pages with a CSRF
    # token get a fresh masked token per response and GZipMiddleware's random length padding.
    "django.middleware.gzip.GZipMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "arcticnews.middleware.PrivatePagesMiddleware",
    # Inside PrivatePagesMiddleware: the page it writes into a 405 keeps the private headers.
    "arcticnews.middleware.BrandedNotAllowedMiddleware",
    # Last but one, as django-axes asks: it turns a locked-out login into its 429 answer
    # (django-axes' own middleware, adding Retry-After: the cool-off left).
    "arcticnews.security.LockoutMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "arcticnews.urls"
WSGI_APPLICATION = "arcticnews.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "feeds.web.context_processors.navigation",
            ],
            # The tag libraries live with the layer they serve (feeds.web, feeds.syndication),
            # not in an app-level templatetags package, so each keeps to its layer's imports.
            "libraries": {
                "arctic": "feeds.web.templatetags",
                "syndication": "feeds.syndication.templatetags",
            },
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'arcticnews.sqlite3'}",
        # Reconnecting per request costs 4x throughput (performance-baselines G8).
        conn_max_age=envint("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Code asks `connection.vendor` ("postgresql", "sqlite"), which django-prometheus's wrappers
# keep; settings know the engine only here, before it is swapped for the wrapper below.
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the threaded dev server read while an in-process fetch writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Search's typo fallback matches headlines through the trigram index with the %> operator,
# whose cut-off is this session setting (pg_trgm's default 0.6 misses "icebrekaer").
SEARCH_TRIGRAM_THRESHOLD = 0.3
# PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost; a page's
# queries read a few index pages, and a stale estimate (a small table never auto-analysed)
# made the home page's per-country query spend ~250 ms compiling for 1 ms of work.
POSTGRES_JIT = envbool("POSTGRES_JIT", False)
if IS_POSTGRES:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c pg_trgm.word_similarity_threshold={SEARCH_TRIGRAM_THRESHOLD}"
        f" -c jit={'on' if POSTGRES_JIT else 'off'}"
    )
# django-prometheus's wrappers of the same backends count connections, statements, errors and
# query time for /metrics (django_db_*).
_METERED_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _METERED_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ---------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# The page cache's Redis. Give it its own logical database (or its own server), so a
# maxmemory eviction of cache entries can never take the broker's queues with it.
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL", "") or REDIS_URL
CACHE_TIMEOUT = envint("CACHE_TIMEOUT", 300)
# Without Redis the cache is files under var/: shared by the web server, the worker and any
# `manage.py` command, so a change committed by one process is seen by every other at once.
FILE_CACHE_DIR = Path(os.environ.get("FILE_CACHE_DIR", VAR_DIR / "cache"))

# The Redis cache ignores its errors (below), but an ignored error must still be seen: a cache
# bump lost in an outage leaves pages stale until their timeout, and the log is how an
# operator learns of it.
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "arcticnews.cache"

if CACHE_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "arcticnews"),
            "TIMEOUT": CACHE_TIMEOUT,
            "OPTIONS": {
                # A cache outage must degrade to uncached pages, never to errors.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "arcticnews.cache.FileBasedCache",
            "LOCATION": str(FILE_CACHE_DIR),
            "TIMEOUT": CACHE_TIMEOUT,
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }

# --- Celery (see shared/docs/threats.md §4 for each choice) --------------------------------
# Without Redis, `make run` runs a real worker and beat on kombu's filesystem transport under
# var/broker/ (the same task code path as production); a bare `manage.py` without a worker
# runs tasks in-process (CELERY_TASK_ALWAYS_EAGER, on by default only without a broker).
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = (
    os.environ.get("CELERY_BROKER_URL", "") or REDIS_URL or "filesystem://localhost//"
)
CELERY_TASK_ALWAYS_EAGER = envbool(
    "CELERY_TASK_ALWAYS_EAGER", not (REDIS_URL or os.environ.get("CELERY_BROKER_URL"))
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 180)
_VISIBILITY = envint("CELERY_VISIBILITY_TIMEOUT", 1800)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": _VISIBILITY}
if CELERY_BROKER_URL.startswith("filesystem:"):
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(BROKER_DIR / "queue"),
        data_folder_out=str(BROKER_DIR / "queue"),
        control_folder=str(BROKER_DIR / "control"),
        store_processed=False,
        # How long the worker sleeps when it may take no message (kombu's default: 1 s). With
        # one pool process and one message per wake-up, a fetch's follow-up tasks queued
        # behind each other cost a second each: a new item took ~5 s to reach the pages
        # whatever FEEDS_POLL_SECONDS said (bench/live_bench.py). A directory listing every
        # 0.1 s is cheap.
        polling_interval=0.1,
    )
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_MAX_TASKS_PER_CHILD = 500
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 300_000  # KiB
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Queues, so fetching and enrichment can be scaled apart (README, "Scaling out"): "fetch" polls
# the feeds and stores their items; "enrich" runs what a stored item sets off (storylines and
# related boxes, images, WebSub pings); "celery" (the default) has beat's own tasks and the
# digest's mailings. A worker started without -Q consumes every queue listed here, so one
# worker (make run, make worker) still does everything.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("fetch"), Queue("enrich")]
CELERY_TASK_ROUTES = {
    "feeds.fetch_feed": {"queue": "fetch"},
    "feeds.suggest_related": {"queue": "enrich"},
    "feeds.refresh_related": {"queue": "enrich"},
    "feeds.fetch_images": {"queue": "enrich"},
    "feeds.publish_websub": {"queue": "enrich"},
    "feeds.publish_storylines": {"queue": "enrich"},
}
# How often beat looks for due feeds (each feed's own schedule decides when it is due).
FEEDS_POLL_SECONDS = float(envint("FEEDS_POLL_SECONDS", 60))
# The weekly digest: the newest complete ISO week's draft, looked for daily (made once per
# week, so a missed Monday is made on Tuesday); approved digests' mailings, every few minutes.
DIGEST_DRAFT_HOUR = envint("DIGEST_DRAFT_HOUR", 5)
DIGEST_SEND_POLL_SECONDS = float(envint("DIGEST_SEND_POLL_SECONDS", 300))
CELERY_BEAT_SCHEDULE = {
    # The database, not the broker, knows which feeds are due: a lost message only delays.
    "enqueue-due-feeds": {"task": "feeds.enqueue_due_feeds", "schedule": FEEDS_POLL_SECONDS},
    "draft-weekly-digest": {
        "task": "feeds.draft_weekly_digest",
        "schedule": crontab(minute=0, hour=DIGEST_DRAFT_HOUR),
    },
    "send-approved-digests": {
        "task": "feeds.send_approved_digests",
        "schedule": DIGEST_SEND_POLL_SECONDS,
    },
}
CELERY_TIMEZONE = "UTC"

# --- Feeds ---------------------------------------------------------------------------------
FEEDS_ALLOW_PRIVATE_ADDRESSES = envbool("FEEDS_ALLOW_PRIVATE_ADDRESSES", False)
FEEDS_MAX_ENTRIES = envint("FEEDS_MAX_ENTRIES", 200)
FEEDS_FETCH_TIMEOUT = envint("FEEDS_FETCH_TIMEOUT", 30)
# At most this many feeds of one host are fetched at once, across all workers (PostgreSQL).
FEEDS_FETCHES_PER_HOST = max(1, envint("FEEDS_FETCHES_PER_HOST", 2))
FEEDS_MAX_BYTES = envint("FEEDS_MAX_BYTES", 10 * 1024 * 1024)
# host:port pairs on private addresses that the fetcher may still reach (a feed server inside
# the operator's own network), while FEEDS_ALLOW_PRIVATE_ADDRESSES stays off for all others.
FEEDS_ALLOWED_PRIVATE_ENDPOINTS = envlist("FEEDS_ALLOWED_PRIVATE_ENDPOINTS", "")
# What our own feeds tell readers' clients: Cache-Control max-age, and how long a generated
# feed document is kept in the page cache.
FEEDS_MAX_AGE = envint("FEEDS_MAX_AGE", 300)
FEEDS_CACHE_SECONDS = envint("FEEDS_CACHE_SECONDS", 900)
# How long a fetch holds its feed (Feed.lease_until). A worker killed mid-fetch leaves its lease
# behind, so this is also how long such a feed waits before beat enqueues it again. It must
# outlast the hard task time limit, or a second worker could run the same feed alongside.
FEEDS_LEASE_SECONDS = envint("FEEDS_LEASE_SECONDS", max(300, CELERY_TASK_TIME_LIMIT + 60))
if FEEDS_LEASE_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"FEEDS_LEASE_SECONDS ({FEEDS_LEASE_SECONDS}) must exceed "
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT})"
    )
# Ingest's adaptations of private library internals (feeds/ingest/adaptations/): speed-ups
# that change no result, each also off on a library version it was not tested against.
FEEDS_LIBRARY_ADAPTATIONS = envbool("FEEDS_LIBRARY_ADAPTATIONS", True)
# A feed whose runs fail this many times in a row with the same error is quarantined:
# no longer polled until an editor re-activates it (the reason is on the feed in the admin).
FEEDS_QUARANTINE_AFTER = max(1, envint("FEEDS_QUARANTINE_AFTER", 5))
SITE_NAME = "ArcticNews"
# The public origin, for absolute URLs built outside a request (WebSub pings, feeds' self links).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Feed item ids are tag: URIs under this authority. Set once; changing it re-sends every item.
SITE_TAG_AUTHORITY = os.environ.get("SITE_TAG_AUTHORITY", "arcticnews")
WEBSUB_HUB_URL = os.environ.get("WEBSUB_HUB_URL", "")
WEBSUB_URLS_PER_REQUEST = max(1, envint("WEBSUB_URLS_PER_REQUEST", 50))
WEBSUB_TIMEOUT = envint("WEBSUB_TIMEOUT", 10)
# Search (feeds.search, feeds.web.views.search): the statements of one search are cancelled
# once they have taken this many milliseconds together, and each client may run this many
# searches that reach the database (cached result pages are free), as django-ratelimit's
# "N/s|m|h" rate.
SEARCH_STATEMENT_TIMEOUT_MS = envint("SEARCH_STATEMENT_TIMEOUT_MS", 2000)
# At most this many searches run in the database at once, across every web process
# (PostgreSQL advisory locks); more are answered 503 at once. Keep it below the number of web
# workers (WEB_CONCURRENCY): the rest then always serve every other page.
SEARCH_MAX_CONCURRENT = max(1, envint("SEARCH_MAX_CONCURRENT", 1))
SEARCH_RATE_LIMIT = os.environ.get("SEARCH_RATE_LIMIT", "30/m")
# The client's address for the search limit, as for login throttling (TRUSTED_PROXY_COUNT).
# IPv6 clients are counted per /64.
RATELIMIT_IP_META_KEY = "arcticnews.security.client_ip"
RATELIMIT_IPV6_MASK = 64
# A cache outage lets searches through (their cost stays bounded by the statement timeout)
# rather than refusing every reader.
RATELIMIT_FAIL_OPEN = True
# How long browsers and proxies may reuse a reader page without asking (Cache-Control max-age;
# feeds use FEEDS_MAX_AGE). Both go through feeds.web.caching.
PAGES_MAX_AGE = envint("PAGES_MAX_AGE", 60)
# Real editors' labels that `evaluate_tagging` also measures against: read from outside the
# repository (they must not be copied into it), skipped when the file is absent.
REAL_LABELS_PATH = Path("shared") / "data" / "real-labels" / "rci_dev_labels.tsv"


def find_real_labels(checkout: Path) -> Path:
    """``../shared/data/real-labels/`` from the checkout, or from the nearest folder above it
    that has one (a worktree in ``wt/<name>/`` shares its clone's); the sibling path when
    none has it, so the command can say where it looked."""
    for folder in checkout.parents:
        if (folder / REAL_LABELS_PATH).is_file():
            return folder / REAL_LABELS_PATH
    return checkout.parent / REAL_LABELS_PATH


TAGGING_REAL_LABELS = Path(os.environ.get("TAGGING_REAL_LABELS") or find_real_labels(BASE_DIR))

# --- Email: the digest's mailing and its confirmations -------------------------------------
# EMAIL_URL (dj-email-url: smtp://user:password@host:587/?tls=True, smtps://..., console:,
# dummy:) sets the backend and the server at once; otherwise the EMAIL_* variables do.
# Unset, messages are written to the console (nothing leaves a development machine).
_EMAIL_URL = os.environ.get("EMAIL_URL", "")
_email = dj_email_url.parse(_EMAIL_URL) if _EMAIL_URL else {}
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or _email.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST") or _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = envint("EMAIL_PORT", int(_email.get("EMAIL_PORT") or 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER") or _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = (
    os.environ.get("EMAIL_HOST_PASSWORD") or _email.get("EMAIL_HOST_PASSWORD") or ""
)
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", bool(_email.get("EMAIL_USE_TLS")))
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", bool(_email.get("EMAIL_USE_SSL")))
# Seconds a mail server may take to answer; a hung server must not hold a worker forever.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", int(_email.get("EMAIL_TIMEOUT") or 30))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "digest@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Subscribers per mailing task; a confirmation link's lifetime (seconds); sign-ups per client
# and per address (django-ratelimit "N/s|m|h|d"; more answer 429).
DIGEST_BATCH_SIZE = max(1, envint("DIGEST_BATCH_SIZE", 50))
DIGEST_CONFIRM_MAX_AGE = envint("DIGEST_CONFIRM_MAX_AGE", 2 * 24 * 3600)
DIGEST_SIGNUP_RATE_LIMIT = os.environ.get("DIGEST_SIGNUP_RATE_LIMIT", "5/h")
DIGEST_SIGNUP_ADDRESS_RATE_LIMIT = os.environ.get("DIGEST_SIGNUP_ADDRESS_RATE_LIMIT", "3/d")

# --- Security ------------------------------------------------------------------------------
# Each HTTPS-only protection has its own switch so DEBUG=false also runs over plain HTTP.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# Probes call the container over plain HTTP from inside; they carry nothing secret.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Story images: our re-encoded copies (feeds/ingest/images.py), in MEDIA_ROOT unless
# MEDIA_S3_BUCKET names a bucket of an S3-compatible store (django-storages; STORAGES below).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_S3_BUCKET = os.environ.get("MEDIA_S3_BUCKET", "")
# Empty: AWS itself; else the store's API (MinIO, Ceph, R2, ...), path-style addressing.
MEDIA_S3_ENDPOINT_URL = os.environ.get("MEDIA_S3_ENDPOINT_URL", "")
MEDIA_S3_REGION = os.environ.get("MEDIA_S3_REGION", "")
# Where browsers load the objects from: the bucket's public URL or a CDN in front of it. Pages
# link there directly (no signed URLs: the images are public and named by their bytes).
MEDIA_S3_PUBLIC_URL = os.environ.get("MEDIA_S3_PUBLIC_URL", "")
if MEDIA_S3_BUCKET:
    if not MEDIA_S3_PUBLIC_URL.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            "MEDIA_S3_BUCKET needs MEDIA_S3_PUBLIC_URL, the http(s):// URL its images are read at"
        )
    MEDIA_URL = MEDIA_S3_PUBLIC_URL.rstrip("/") + "/"
FEEDS_IMAGE_MAX_BYTES = envint("FEEDS_IMAGE_MAX_BYTES", 5 * 1024 * 1024)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Story images are our own copies (feeds/ingest/images.py): no third-party host.
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if MEDIA_URL.startswith(("https://", "http://")):  # images on an S3-compatible store's host
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"].append(MEDIA_URL)

# --- i18n, static --------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `make run` and `make serve` run collectstatic into it: hashed, compressed names that
# WhiteNoise serves with a ten-year immutable max-age (feeds/web/staticfiles.py).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or str(VAR_DIR / "static")
# WhiteNoise warns about a missing STATIC_ROOT; an empty one just means "not collected yet".
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
# Before collectstatic (a fresh clone, tests), serve the plain names straight from static/.
WHITENOISE_USE_FINDERS = True
_public_media = urlsplit(MEDIA_URL)
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            # Credentials: boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a role).
            "OPTIONS": {
                "bucket_name": MEDIA_S3_BUCKET,
                "endpoint_url": MEDIA_S3_ENDPOINT_URL or None,
                "region_name": MEDIA_S3_REGION or None,
                "addressing_style": "path" if MEDIA_S3_ENDPOINT_URL else None,
                "custom_domain": _public_media.netloc + _public_media.path.rstrip("/"),
                "url_protocol": f"{_public_media.scheme}:",
                "querystring_auth": False,
                # A name never changes its bytes (images.content_key), as with /media/ here.
                "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
            },
        }
        if MEDIA_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "feeds.web.staticfiles.StaticStorage"},
}


AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
CSRF_FAILURE_VIEW = "feeds.web.errors.csrf_failure"  # our page, saying what to do

# --- Login throttling (django-axes) --------------------------------------------------------
# After AXES_FAILURE_LIMIT wrong passwords for one username from one client, that pair is
# locked out for AXES_COOLOFF_MINUTES (HTTP 429). Reset: `manage.py axes_reset` (all),
# `axes_reset_username NAME`, `axes_reset_ip IP`; or delete the row under Axes in the admin.
# axes.W002 looks for its own middleware by name; MIDDLEWARE holds our subclass of it
# (arcticnews.security, which adds Retry-After), so the check cannot see it is there.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = envint("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "arcticnews.security.client_ip"
# Beside axes' lock-out per username and client: at most this many failed sign-ins from one
# client address (all usernames together) in a window, as django-ratelimit's "N/<k>m" rate;
# then the address's sign-ins answer 429 until the window ends (arcticnews.security).
# Why 30 per 15 minutes: a newsroom behind one NAT shares one address, and one editor's
# typos must never lock the others out. One editor is locked out alone by axes after 5
# (AXES_FAILURE_LIMIT), and successful sign-ins are not counted, so the address is limited
# only after six editors have each used up their own lock-out in the same quarter hour: far
# more typos than a newsroom makes. A client cycling usernames is held to 30 guesses a
# quarter hour (it had no limit at all: 60 usernames, 60 answers of 200).
LOGIN_CLIENT_RATE_LIMIT = os.environ.get("LOGIN_CLIENT_RATE_LIMIT", "30/15m")
# Behind N reverse proxies that each append to X-Forwarded-For, the client is the Nth address
# from the right; 0 trusts no header (REMOTE_ADDR).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)

# --- Operations ----------------------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (404).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# /readyz fails when more than this share of active feeds is overdue.
READYZ_MAX_OVERDUE_SHARE = float(os.environ.get("READYZ_MAX_OVERDUE_SHARE", "0.5"))
PROMETHEUS_EXPORT_MIGRATIONS = False

# LOG_FORMAT=json: one JSON object per line (production); plain text otherwise (`make run`).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "arcticnews.observability.ContextFilter"},
        "client_errors": {"()": "arcticnews.observability.ClientErrorFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s "
            "%(task_id)s %(feed_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            # client_errors first: it drops a 4xx's traceback from the record itself, so every
            # handler after it (and pytest's caplog) sees the one-line record.
            "filters": ["client_errors", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "feeds": {"level": os.environ.get("FEEDS_LOG_LEVEL", "INFO"), "propagate": True},
    },
}
