"""Nothing lost, nothing duplicated: the real worker, Redis and PostgreSQL under faults.

threats.md §5 on the real parts. A loopback "outside world" serves F feeds of E entries with
deterministic guids, ETags and slow answers (so work is in flight when the fault hits); real
`celery worker` processes on the real Redis and PostgreSQL ingest them; the test plays beat,
calling ``enqueue_due_feeds()`` every couple of seconds. Faults, each from a clean database:

* (a) SIGKILL the worker's process group after k requests, restart it (R1), then publish five
  more entries per feed and kill it again;
* (b) ``redis-cli shutdown nosave`` with messages queued: the queue is gone (R2);
* (c) PostgreSQL restarted in the middle of ingestion (R3);
* (d) every fetch published twice, two workers at once (R4);
* R5: a worker blocked inside its transaction by ``LOCK TABLE`` and killed there: the feed's
  validators must not have moved without their entries.

After each: every fixture guid stored exactly once, no feed leased or failing, each feed's
ETag the one served with the stored entries, and a second round that costs only 304s.
Figures (convergence time, duplicate executions) go to test-artifacts/nothing-lost.txt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Count, Max
from django.utils import timezone

from feeds.models import Feed, Source, Story
from feeds.tasks import enqueue_due_feeds, fetch_feed
from tests.conftest import ARTIFACTS, Worker

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

F = 30  # feeds
E = 20  # entries per feed
MORE = 5  # entries added between runs
KILL_AFTER = 10  # requests seen by the fixture server before the fault
BEAT_EVERY = 2.0  # seconds between enqueue_due_feeds() calls (beat does it every minute)
CONVERGE_TIMEOUT = 90.0
REPORT = ARTIFACTS / "nothing-lost.txt"

# Short timings so that a dead worker's lease and its unacknowledged messages come back within
# the test's patience. Their order is the production one (test_worker_timings_... checks it):
# fetch deadline < soft < hard task limit < visibility timeout (10 s, conftest) < lease. The
# lease is what bounds the wait for a feed whose worker was SIGKILLed.
FAST = {
    "FEEDS_FETCH_TIMEOUT": "5",
    "CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "CELERY_TASK_TIME_LIMIT": "9",
    "FEEDS_LEASE_SECONDS": "15",
    # The 30 feeds stand in for 30 outlets but share the loopback host; at two per host the
    # workers would mostly wait their turn. The limit itself is tested in test_worker_e2e.
    "FEEDS_FETCHES_PER_HOST": "4",
}

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
]
WORDS = ["budget", "library", "choir", "chess", "garden", "museum", "bakery", "tennis", "pottery"]
TRANSIENT_DB = (OperationalError, InterfaceError)


# --- the outside world --------------------------------------------------------------------------


def guid(feed_no: int, n: int) -> str:
    return f"nothing-lost-{feed_no:02d}-{n:03d}"


def feed_body(feed_no: int, entries: int) -> bytes:
    """RSS with ``entries`` synthetic items, newest first; the same bytes for the same input.

    The text names no place: the stories get no country, so the related-box task that follows
    every fetch has no candidates to rank and the test measures ingestion, not ranking.
    """
    base = datetime(2026, 3, 1, 6, 0, tzinfo=UTC) + timedelta(minutes=7 * feed_no)
    items = []
    for n in range(entries, 0, -1):
        word = WORDS[(feed_no * 7 + n) % len(WORDS)]
        date = base + timedelta(hours=3 * n)
        items.append(
            f"<item><title>Bulletin {feed_no:02d}-{n:03d}: the {word} committee meets again"
            f"</title><link>https://outlet{feed_no:02d}.example.org/news/{n}/</link>"
            f'<guid isPermaLink="false">{guid(feed_no, n)}</guid>'
            f"<pubDate>{date:%a, %d %b %Y %H:%M:%S +0000}</pubDate>"
            f"<description>&lt;p&gt;Item {feed_no:02d}/{n:03d}: synthetic text about the "
            f"{word} committee of outlet {feed_no}.&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Synthetic outlet {feed_no:02d}</title>"
        f"<link>https://outlet{feed_no:02d}.example.org/</link>"
        "<description>Synthetic nothing-lost feed</description><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest() + '"'  # what FixtureServer.add(etag=True) sends


class World:
    """F feeds on the fixture server and in the database, and what each one serves now."""

    def __init__(self, server, feeds: int = F, entries: int = E) -> None:
        self.server = server
        self.count = feeds
        self.entries = dict.fromkeys(range(feeds), entries)
        self.path = {i: f"/nothing-lost/{i:02d}.xml" for i in range(feeds)}
        for i in range(feeds):
            self.publish(i, entries)
        source = Source.objects.create(name="Synthetic Outlet", slug="synthetic-outlet")
        Feed.objects.bulk_create(
            Feed(source=source, url=server.url(self.path[i])) for i in range(feeds)
        )
        self.feed_no = {Feed.objects.get(url=server.url(self.path[i])).pk: i for i in range(feeds)}

    def delay(self, feed_no: int) -> float:
        return 0.3 + 0.1 * (feed_no % 8)  # 0.3 .. 1.0 s, so work is in flight

    def publish(self, feed_no: int, entries: int) -> None:
        self.entries[feed_no] = entries
        self.server.add(
            self.path[feed_no],
            feed_body(feed_no, entries),
            content_type="application/rss+xml; charset=utf-8",
            delay=self.delay(feed_no),
        )

    def etag(self, feed_no: int) -> str:
        return etag_of(feed_body(feed_no, self.entries[feed_no]))

    def expected(self) -> set[tuple[int, str]]:
        return {
            (pk, guid(i, n))
            for pk, i in self.feed_no.items()
            for n in range(1, self.entries[i] + 1)
        }

    def make_all_due(self) -> None:
        Feed.objects.update(next_fetch_at=timezone.now() - timedelta(seconds=1))


# --- processes ----------------------------------------------------------------------------------


@pytest.fixture
def env(worker_env):
    return dict(worker_env, **FAST)


@pytest.fixture
def workers(env) -> Iterator[Callable[..., Worker]]:
    """Start workers with fresh logs; every one is stopped (or killed) at the end."""
    from arcticnews.celery import app

    clean_broker(app)
    started: list[Worker] = []

    def start(name: str, concurrency: int = 2, **extra: str) -> Worker:
        worker = Worker(dict(env, **extra), concurrency=concurrency, name=name)
        worker.log_path.unlink(missing_ok=True)
        started.append(worker.start())
        return worker

    start.started = started  # type: ignore[attr-defined]
    yield start
    for worker in started:
        worker.stop()
    with contextlib.suppress(Exception):
        clean_broker(app)


def clean_broker(app) -> None:
    """Empty the queue and the unacknowledged messages a killed worker left in Redis.

    Otherwise an earlier test's messages come back after the visibility timeout, in the middle
    of the next test (harmless, but they blur its figures).
    """
    app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete("unacked", "unacked_index")


def redis_ping() -> bool:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout.strip() == "PONG"


def ensure_redis() -> None:
    """Start Redis as CI does if it is down, and wait for PONG (up to 30 s)."""
    deadline = time.monotonic() + 30
    if not redis_ping():
        subprocess.run(REDIS_START, check=False, timeout=30)
    while not redis_ping():
        if time.monotonic() > deadline:
            raise AssertionError("Redis did not come back within 30 s")
        time.sleep(0.2)


def pg_cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[0]


def pg_ready() -> bool:
    result = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False, timeout=10
    )
    return result.returncode == 0


def ensure_postgres(timeout: float = 60.0) -> None:
    """Start the cluster if it is down and wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    if not pg_ready():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", pg_cluster(), "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )
    while not pg_ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL not ready within {timeout:.0f} s")
        time.sleep(0.25)


# --- waiting like beat --------------------------------------------------------------------------


def _db_safely(predicate: Callable[[], bool]) -> bool:
    """Evaluate a database predicate; a dropped connection (PostgreSQL restart) is "not yet"."""
    try:
        return bool(predicate())
    except TRANSIENT_DB:
        connection.close()
        return False


def beat_until(predicate: Callable[[], bool], what: str, timeout: float = CONVERGE_TIMEOUT):
    """Call enqueue_due_feeds() every BEAT_EVERY s until ``predicate``; return seconds taken."""
    started = time.monotonic()
    deadline = started + timeout
    next_beat = started
    beats = failed_beats = 0
    while True:
        now = time.monotonic()
        if now >= next_beat:
            next_beat = now + BEAT_EVERY
            try:
                enqueue_due_feeds()
                beats += 1
            except Exception:  # noqa: BLE001  beat fails too while Redis/PostgreSQL is down
                failed_beats += 1
                connection.close()
        if _db_safely(predicate):
            return time.monotonic() - started
        if now > deadline:
            raise AssertionError(
                f"no convergence within {timeout:.0f} s ({beats} beats, {failed_beats} failed): "
                f"{what}; state: {state()}"
            )
        time.sleep(0.25)


def state() -> str:
    try:
        now = timezone.now()
        return (
            f"{Story.objects.count()} stories, "
            f"{Feed.objects.filter(lease_until__gt=now).count()} leased, "
            f"{Feed.objects.filter(last_success_at__isnull=True).count()} never fetched, "
            f"{Feed.objects.filter(consecutive_failures__gt=0).count()} failing, "
            f"statuses {Counter(Feed.objects.values_list('last_status', flat=True))}"
        )
    except TRANSIENT_DB as exc:
        connection.close()
        return f"(database unavailable: {exc})"


def converged(world: World) -> Callable[[], bool]:
    total = sum(world.entries.values())

    def check() -> bool:
        if Story.objects.count() != total:
            return False
        if Feed.objects.filter(lease_until__gt=timezone.now()).exists():
            return False
        etags = dict(Feed.objects.values_list("pk", "etag"))
        return all(etags[pk] == world.etag(i) for pk, i in world.feed_no.items())

    return check


# --- the invariants -----------------------------------------------------------------------------


def assert_invariants(world: World) -> None:
    expected = world.expected()
    assert Story.objects.count() == len(expected)
    dupes = list(Story.objects.values("feed", "guid").annotate(n=Count("id")).filter(n__gt=1)[:5])
    assert not dupes, f"duplicated (feed, guid): {dupes}"
    stored = set(Story.objects.values_list("feed_id", "guid"))
    assert stored == expected, (
        f"missing {sorted(expected - stored)[:5]}, unexpected {sorted(stored - expected)[:5]}"
    )
    now = timezone.now()
    assert not Feed.objects.filter(lease_until__gt=now).exists(), "a feed is still leased"
    failing = list(
        Feed.objects.exclude(consecutive_failures=0, last_error="").values_list(
            "url", "last_status", "last_error"
        )
    )
    assert not failing, f"failing feeds: {failing[:5]}"
    assert not Feed.objects.filter(is_active=False).exists()
    # The validators stored are those served with the stored entries (R5).
    for pk, etag in Feed.objects.values_list("pk", "etag"):
        assert etag == world.etag(world.feed_no[pk]), f"feed {pk}: stored ETag {etag}"


def second_round_is_only_304s(world: World) -> float:
    """Every feed polled again: only conditional requests answered 304, nothing written."""
    world.server.reset_log()
    stories = Story.objects.count()
    last_write = Story.objects.aggregate(m=Max("last_seen_at"))["m"]
    tagged = Story.objects.aggregate(m=Max("tagged_at"))["m"]
    world.make_all_due()
    took = beat_until(
        lambda: (
            Feed.objects.filter(last_status__startswith="304").count() == world.count
            and not Feed.objects.filter(lease_until__gt=timezone.now()).exists()
        ),
        what="every feed re-polled with a 304",
        timeout=60,
    )
    assert Story.objects.count() == stories, "the 304 round stored new stories"
    assert Story.objects.aggregate(m=Max("last_seen_at"))["m"] == last_write, "rows updated"
    assert Story.objects.aggregate(m=Max("tagged_at"))["m"] == tagged, "stories re-tagged"
    by_path = {path: world.etag(i) for i, path in world.path.items()}
    requests = list(world.server.requests)
    assert {r.path for r in requests} == set(world.path.values()), "every feed polled once more"
    for r in requests:
        # The fixture answers 304 exactly when If-None-Match carries the current ETag.
        assert r.headers.get("If-None-Match") == by_path[r.path], (
            f"{r.path} was not a conditional request for the current ETag: {r.headers}"
        )
    return took


# --- figures ------------------------------------------------------------------------------------

_RECEIVED = re.compile(r"Task feeds\.fetch_feed\[([0-9a-f-]+)\] received")
_SUCCEEDED = re.compile(r"Task feeds\.fetch_feed\[[0-9a-f-]+\] succeeded in [0-9.]+s: '([a-z-]+)'")
_RETRY = re.compile(r"Task feeds\.fetch_feed\[[0-9a-f-]+\] retry")
_RAISED = re.compile(r"Task feeds\.fetch_feed\[[0-9a-f-]+\] raised unexpected: .*")


def log_marks(workers: list[Worker]) -> dict[str, int]:
    return {str(w.log_path): len(w.log()) for w in workers}


def task_figures(workers: list[Worker], since: dict[str, int] | None = None) -> dict[str, object]:
    """fetch_feed executions in the worker logs (from ``since`` on): duplicates are the skips.

    A fetch_feed task that raised (rather than recording the failure on its feed, or retrying
    a transient database error) is a bug: the assertion names it.
    """
    logs = "".join(w.log()[(since or {}).get(str(w.log_path), 0) :] for w in workers)
    raised = _RAISED.findall(logs)
    assert not raised, f"fetch_feed raised: {raised[:3]}"
    return {
        "fetch_feed received": len(_RECEIVED.findall(logs)),
        "fetch_feed results": dict(Counter(_SUCCEEDED.findall(logs))),
        "fetch_feed retries": len(_RETRY.findall(logs)),
    }


def http_figures(world: World) -> dict[str, object]:
    per_path = Counter(r.path for r in world.server.requests)
    return {
        "HTTP requests": sum(per_path.values()),
        "feeds fetched more than once": sum(1 for n in per_path.values() if n > 1),
    }


def report(scenario: str, world: World, took: float, figures: dict[str, object]) -> None:
    """One line per scenario in test-artifacts/nothing-lost.txt (and on stderr with -s)."""
    ARTIFACTS.mkdir(exist_ok=True)
    sizes = sorted(set(world.entries.values()))
    line = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {scenario} [F={world.count}, E={sizes}]: "
        f"beat loop until convergence {took:.1f} s; "
        + "; ".join(f"{k}: {v}" for k, v in figures.items())
    )
    with REPORT.open("a") as out:
        out.write(line + "\n")
    sys.stderr.write(line + "\n")


def wait_requests(world: World, n: int, timeout: float = 60.0) -> None:
    assert world.server.wait_for_requests(n, timeout=timeout), (
        f"only {world.server.count()} requests within {timeout:.0f} s"
    )


def _params() -> dict[str, object]:
    db = connection.settings_dict
    return {
        "dbname": db["NAME"],
        "user": db["USER"],
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
    }


def _backends(monitor, condition: str) -> list[tuple]:
    """Other backends of this database matching ``condition`` (the monitor is autocommit, so
    pg_stat_activity is read afresh each time, not from a transaction's cached snapshot)."""
    with monitor.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, left(query, 80) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND " + condition
        )
        return cursor.fetchall()


BLOCKED_INSERT = "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"feeds_story\"%%'"


# --- scenarios ----------------------------------------------------------------------------------


_SETTINGS_PROBE = (
    "import django; django.setup()\n"
    "from arcticnews.celery import app\n"
    "from django.conf import settings\n"
    "from feeds import tasks\n"
    "tasks_ = (tasks.fetch_feed, tasks.suggest_related)\n"
    "backoff = max(getattr(t, 'retry_backoff_max', 600) for t in tasks_)  # 600: default\n"
    "with app.connection_for_write() as conn:\n"
    "    print(settings.FEEDS_FETCH_TIMEOUT, app.conf.task_soft_time_limit,"
    " app.conf.task_time_limit, conn.default_channel.visibility_timeout,"
    " settings.FEEDS_LEASE_SECONDS, backoff)\n"
)


def worker_timings(env: dict[str, str]) -> tuple[float, ...]:
    """(fetch deadline, soft and hard task limits, visibility timeout, lease, longest retry
    countdown) as a worker sees them."""
    out = subprocess.run(
        [sys.executable, "-c", _SETTINGS_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return tuple(float(x) for x in out.stdout.split())


@pytest.mark.parametrize("which", ["test", "production defaults"])
def test_worker_timings_are_in_the_safe_order(env, which):
    """The fetch deadline < soft < hard task limit < visibility timeout, and the lease > hard.

    The visibility timeout is read from the Redis channel a worker really uses, so a setting
    that never reaches the transport (celery#7651) fails here.
    """
    if which == "production defaults":
        env = {k: v for k, v in env.items() if k not in FAST and k != "CELERY_VISIBILITY_TIMEOUT"}
    fetch, soft, hard, visibility, lease, backoff = worker_timings(env)
    assert fetch < soft < hard < visibility, (fetch, soft, hard, visibility)
    assert lease > hard, "a lease shorter than a task lets two workers run one feed"
    if which == "test":
        assert visibility == 10 and lease == int(FAST["FEEDS_LEASE_SECONDS"])
    else:
        # R6: a retry's ETA beyond the visibility timeout is redelivered again and again.
        assert backoff < visibility, (backoff, visibility)


def test_a_killed_worker_loses_nothing_and_then_new_entries_arrive(
    vocabularies, fixture_server, workers
):
    world = World(fixture_server)
    worker = workers("nl-a1")
    enqueue_due_feeds()
    wait_requests(world, KILL_AFTER)
    worker.kill()
    killed_at = time.monotonic()
    stored_at_kill = Story.objects.count()
    workers("nl-a2")
    took = beat_until(converged(world), "all entries after a SIGKILL")
    figures = {
        "stored at kill": stored_at_kill,
        "converged s after kill": round(time.monotonic() - killed_at, 1),
        **http_figures(world),
        **task_figures(workers.started),
    }
    assert_invariants(world)
    figures["304 round s"] = round(second_round_is_only_304s(world), 1)
    report("(a) SIGKILL", world, took, figures)

    # Five more entries per feed, and the worker is killed again in the middle of it.
    tagged = dict(Story.objects.values_list("guid", "tagged_at"))
    first_seen = dict(Story.objects.values_list("guid", "first_seen_at"))
    marks = log_marks(workers.started)
    for i in range(world.count):
        world.publish(i, E + MORE)
    world.server.reset_log()
    world.make_all_due()
    enqueue_due_feeds()
    wait_requests(world, KILL_AFTER)
    workers.started[-1].kill()
    killed_at = time.monotonic()
    workers("nl-a3")
    took = beat_until(converged(world), "the five new entries per feed after a second SIGKILL")
    figures = {
        "converged s after kill": round(time.monotonic() - killed_at, 1),
        **http_figures(world),
        **task_figures(workers.started, since=marks),
    }
    assert_invariants(world)
    assert Story.objects.count() == world.count * (E + MORE)
    old = Story.objects.filter(guid__in=tagged)
    assert dict(old.values_list("guid", "tagged_at")) == tagged, "old stories were re-tagged"
    assert dict(old.values_list("guid", "first_seen_at")) == first_seen, "old stories re-created"
    figures["304 round s"] = round(second_round_is_only_304s(world), 1)
    report("(a) SIGKILL again after E -> E+5", world, took, figures)


def test_a_redis_restart_that_loses_the_queue_loses_nothing(vocabularies, fixture_server, workers):
    world = World(fixture_server)
    workers("nl-b1")
    try:
        enqueue_due_feeds()
        wait_requests(world, KILL_AFTER // 2)
        broker = redis.Redis.from_url(settings.REDIS_URL)
        queued = sum(broker.llen(queue.name) for queue in settings.CELERY_TASK_QUEUES)
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
            capture_output=True,
            timeout=30,
        )
        down_at = time.monotonic()
        time.sleep(2)  # beat and the worker find Redis gone
        subprocess.run(REDIS_START, check=True, timeout=30)
        ensure_redis()
        took = beat_until(converged(world), "all entries after Redis lost its queue")
    finally:
        ensure_redis()
    figures = {
        "messages queued at shutdown": queued,
        "converged s after shutdown": round(time.monotonic() - down_at, 1),
        **http_figures(world),
        **task_figures(workers.started),
    }
    assert queued > 0, "the fault hit an empty queue: nothing was at stake"
    assert_invariants(world)
    figures["304 round s"] = round(second_round_is_only_304s(world), 1)
    report("(b) Redis shutdown nosave + restart", world, took, figures)


def restart_postgres() -> None:
    """pg_ctlcluster restart, retried; PostgreSQL is left running whatever happens."""
    errors = []
    try:
        for attempt in range(3):
            result = subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", pg_cluster(), "main", "restart"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if result.returncode == 0:
                return
            errors.append(result.stderr.strip())
            time.sleep(2 * (attempt + 1))
        raise AssertionError(f"pg_ctlcluster restart failed: {errors}")
    finally:
        ensure_postgres()
        connection.close()  # this process's connection died with the old server


def test_a_postgres_restart_during_ingestion_loses_nothing(vocabularies, fixture_server, workers):
    """R3. A LOCK TABLE makes sure a worker is inside its upsert transaction at the restart."""
    import psycopg2

    world = World(fixture_server)
    workers("nl-c1")
    enqueue_due_feeds()
    wait_requests(world, KILL_AFTER)
    locker = psycopg2.connect(**_params())
    monitor = psycopg2.connect(**_params())
    monitor.autocommit = True
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE feeds_story IN EXCLUSIVE MODE")
        deadline = time.monotonic() + 30
        while not _backends(monitor, BLOCKED_INSERT):
            assert time.monotonic() < deadline, "no worker blocked inserting stories"
            time.sleep(0.1)
        stored_before = Story.objects.count()
        connection.close()
        restart_at = time.monotonic()
        restart_postgres()  # fast shutdown: the blocked transaction and the lock both end
    finally:
        for conn in (locker, monitor):
            with contextlib.suppress(psycopg2.Error):
                conn.close()
    took = beat_until(converged(world), "all entries after a PostgreSQL restart")
    figures = {
        "stored before restart": stored_before,
        "converged s after restart": round(time.monotonic() - restart_at, 1),
        **http_figures(world),
        **task_figures(workers.started),
    }
    assert figures["fetch_feed retries"] >= 1, "no task noticed the restart"
    assert_invariants(world)
    figures["304 round s"] = round(second_round_is_only_304s(world), 1)
    report("(c) PostgreSQL restart", world, took, figures)


def test_duplicate_messages_and_two_workers_store_each_entry_once(
    vocabularies, fixture_server, workers
):
    world = World(fixture_server)
    workers("nl-d1")
    workers("nl-d2")
    for pk in world.feed_no:
        fetch_feed.delay(pk)
        fetch_feed.delay(pk)
    took = beat_until(converged(world), "all entries with every message twice, two workers")
    figures = {**http_figures(world), **task_figures(workers.started)}
    assert_invariants(world)
    assert figures["feeds fetched more than once"] == 0, "two runs of one feed overlapped"
    figures["304 round s"] = round(second_round_is_only_304s(world), 1)
    report("(d) every message twice, two workers", world, took, figures)


def test_validators_commit_with_their_entries_when_killed_inside_the_transaction(
    vocabularies, fixture_server, workers
):
    """R5: a worker killed between storing validators and entries must not hide the entries."""
    import psycopg2

    world = World(fixture_server, feeds=3)
    workers("nl-r5a")
    enqueue_due_feeds()
    beat_until(converged(world), "the first fetch of three feeds", timeout=60)
    old_etags = dict(Feed.objects.values_list("pk", "etag"))
    for i in range(world.count):
        world.publish(i, E + MORE)

    locker = psycopg2.connect(**_params())
    monitor = psycopg2.connect(**_params())
    monitor.autocommit = True
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE feeds_story IN EXCLUSIVE MODE")
        world.make_all_due()
        enqueue_due_feeds()
        deadline = time.monotonic() + 60
        # The worker has fetched the new entries and waits to insert them, in its transaction.
        while not _backends(monitor, BLOCKED_INSERT):
            assert time.monotonic() < deadline, "no worker blocked inserting stories"
            time.sleep(0.1)
        workers.started[-1].kill()
        killed_at = time.monotonic()
        locker.rollback()  # the lock goes; the dead worker's transaction can only roll back
        deadline = time.monotonic() + 30
        while lingering := _backends(monitor, "xact_start IS NOT NULL"):
            assert time.monotonic() < deadline, f"the killed worker's backends: {lingering}"
            time.sleep(0.1)
    finally:
        locker.close()
        monitor.close()

    assert dict(Feed.objects.values_list("pk", "etag")) == old_etags, "ETag moved alone"
    assert Story.objects.count() == world.count * E
    workers("nl-r5b")
    took = beat_until(converged(world), "the new entries after the lock and the kill")
    figures = {
        "converged s after kill": round(time.monotonic() - killed_at, 1),
        **task_figures(workers.started),
    }
    assert_invariants(world)
    report("R5 LOCK TABLE + SIGKILL", world, took, figures)
