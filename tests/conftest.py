"""Shared test fixtures: the outside world (a local HTTP server), real services, personas."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def services_available() -> tuple[bool, str]:
    from django.conf import settings

    if not settings.IS_POSTGRES:
        return False, "DATABASE_URL is not a PostgreSQL URL"
    if not settings.REDIS_URL:
        return False, "REDIS_URL is not set"
    return True, ""


def pytest_configure(config):
    """Static files as a fresh clone sees them (plain names, served from static/), whatever
    `make run`'s collectstatic left in var/static (hashed names in a manifest)."""
    import tempfile

    from django.test.utils import override_settings

    root = tempfile.mkdtemp(prefix="arcticnews-static-")
    override_settings(STATIC_ROOT=root).enable()
    config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))


def pytest_report_header(config):
    ok, why = services_available()
    if ok:
        return "services: PostgreSQL + Redis + real Celery worker tests enabled"
    return (
        f"services: {why}: PostgreSQL/Redis/worker tests will be skipped "
        "(see README, 'The whole suite')"
    )


def pytest_collection_modifyitems(config, items):
    ok, why = services_available()
    have_browser = shutil.which("chromium") is not None
    for item in items:
        if "services" in item.keywords and not ok:
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL and Redis: {why}"))
        if "browser" in item.keywords and not have_browser:
            item.add_marker(
                pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)")
            )


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test is its own newsroom. Rolled-back tests reuse primary keys on SQLite, and
    their on_commit hooks (which bump the page-cache generation) never run, so nothing cached
    in this process may outlive a test: not the related suggester's term statistics and
    profiles, not the navigation, not the search windows, not pages in the local-memory or
    file cache. (Redis is not flushed: the broker shares it; the generation is bumped
    instead.)"""
    related = sys.modules.get("feeds.related.boxes")  # never imported: nothing cached
    if related is not None:
        related.clear()
    views = sys.modules.get("feeds.web.views")  # the navigation it keeps per process
    if views is not None:
        views.clear()
    search = sys.modules.get("feeds.search")  # the search windows' starts it keeps
    if search is not None:
        search.clear()
    storylines = sys.modules.get("feeds.storylines.assign")
    if storylines is not None:
        storylines.clear()
    if "django.core.cache" in sys.modules:
        from django.core.cache import caches
        from django.core.cache.backends.filebased import FileBasedCache
        from django.core.cache.backends.locmem import LocMemCache

        shared = False
        for cache in caches.all(initialized_only=True):
            if isinstance(cache, LocMemCache | FileBasedCache):
                cache.clear()
            else:
                shared = True
        if shared:
            # Pages a previous test cached in Redis are keyed by generations that a rolled-back
            # test's writes never bumped: a new generation makes them unreachable.
            from feeds import generation

            generation.bump_generation()
    yield


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def restore_vocabularies() -> None:
    """Put back the countries and topics that migration 0002 creates.

    Transactional tests flush every table afterwards, including those migrated rows, so a
    transactional test that follows another one must restore them.
    """
    import importlib

    from django.apps import apps

    importlib.import_module("feeds.migrations.0002_vocabularies").create(apps, None)


@pytest.fixture
def vocabularies(transactional_db):
    restore_vocabularies()


@pytest.fixture
def fixture_server():
    """A loopback HTTP server standing in for the outlets' web servers."""
    from tests.fixtureserver import FixtureServer

    with FixtureServer() as server:
        yield server


@pytest.fixture
def allow_private(settings):
    # The fixture server lives on 127.0.0.1, which the fetcher refuses by default.
    settings.FEEDS_ALLOW_PRIVATE_ADDRESSES = True
    return settings


@pytest.fixture
def editor(django_user_model):
    from feeds.permissions import ensure_editors_group

    user = django_user_model.objects.create_user("edna", password="x-editor-pass-1", is_staff=True)
    user.groups.add(ensure_editors_group())
    return user


@pytest.fixture
def staff_without_rights(django_user_model):
    return django_user_model.objects.create_user("stan", password="x-staff-pass-1", is_staff=True)


class Worker:
    """A real `celery worker` process on the real Redis, using the test database."""

    def __init__(
        self, env: dict[str, str], concurrency: int = 2, name: str = "w1", queues: str = ""
    ):
        self.env = env
        self.concurrency = concurrency
        self.name = name
        self.queues = queues  # -Q: comma-separated queues; empty: every queue (settings)
        self.proc: subprocess.Popen | None = None
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"celery-{name}.log"

    def start(self) -> Worker:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "arcticnews",
                "worker",
                "-l",
                "info",
                "-c",
                str(self.concurrency),
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *(["-Q", self.queues] if self.queues else []),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: parent and pool children die mid-task."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def worker_env(django_db_blocker, settings):
    """Environment for a worker process that shares this test's database and broker."""
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=settings.REDIS_URL,
        FEEDS_ALLOW_PRIVATE_ADDRESSES="true",
        CONN_MAX_AGE="0",
        CELERY_VISIBILITY_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def celery_worker(worker_env):
    from arcticnews.celery import app

    app.control.purge()
    worker = Worker(worker_env).start()
    yield worker
    worker.stop()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
