"""A feed whose fetch kills the worker process: quarantined after N unfinished runs, with a real
Celery worker on Redis and PostgreSQL (threats.md R7).

The feed's server SIGKILLs the worker's pool process while it waits for the answer, every
time, as an out-of-memory kill or a crash in a C extension would. Such a run records nothing
(no exception reaches our code), so only the claim's own counter (``Feed.unfinished_runs``,
committed before the fetch starts) can tell. Each kill, Celery redelivers the task
(``reject_on_worker_lost``) and beat keeps enqueueing the feed once its lease has expired; the
feed must still be fetched exactly N times, then stay quarantined with the reason in the admin.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.utils import timezone

from feeds.models import Feed, Story
from feeds.tasks import enqueue_due_feeds
from tests.conftest import Worker, wait_for
from tests.test_hostile_feeds import add_feed, item, rss

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUARANTINE_AFTER = 3  # N: the unfinished runs that quarantine a feed
LEASE_SECONDS = 4  # short, so that the test sees leases of killed runs expire


def _pool_processes(master_pid: int) -> list[int]:
    """The worker's pool processes: the children of its main process (Linux /proc)."""
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as children:
        return [int(pid) for pid in children.read().split()]


class Killer:
    """A feed URL whose every request SIGKILLs the worker's pool process mid-fetch."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.lock = threading.Lock()
        self.kills = 0  # requests answered by killing the worker's pool

    def __call__(self, handler) -> None:
        assert self.worker is not None and self.worker.proc is not None
        # One pool process (concurrency 1) runs tasks: the one waiting for this answer. A
        # replacement being forked right now, with no task yet, may be listed and killed too.
        for pid in _pool_processes(self.worker.proc.pid):
            os.kill(pid, signal.SIGKILL)
        with self.lock:
            self.kills += 1
        # No answer: the process that asked is gone; the connection closes with the handler.
        time.sleep(0.2)


def test_a_feed_that_kills_its_worker_is_quarantined_after_n_runs(
    vocabularies, fixture_server, allow_private, worker_env, settings, client, admin_user
):
    from arcticnews.celery import app

    settings.FEEDS_QUARANTINE_AFTER = QUARANTINE_AFTER
    killer = Killer()
    fixture_server.add_handler("/poison.xml", killer)
    poison = add_feed(fixture_server, "/poison.xml", outlet="Poison Outlet")
    healthy = add_feed(fixture_server, "/healthy.xml", rss(item(1)), outlet="Healthy Outlet")

    app.control.purge()
    env = dict(
        worker_env,
        FEEDS_QUARANTINE_AFTER=str(QUARANTINE_AFTER),
        CELERY_TASK_SOFT_TIME_LIMIT="2",
        CELERY_TASK_TIME_LIMIT="3",
        FEEDS_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    worker = killer.worker = Worker(env, concurrency=1, name="poison").start()
    try:

        def beat_until_quarantined() -> bool:
            enqueue_due_feeds()  # beat's job: every due feed whose lease has expired
            return not Feed.objects.get(pk=poison.pk).is_active

        wait_for(
            beat_until_quarantined,
            timeout=120,
            interval=1,
            what="the poison feed quarantined",
        )
        # Beat goes on for longer than a lease, and the worker keeps serving other feeds:
        # the quarantined feed is never fetched again.
        deadline = time.monotonic() + LEASE_SECONDS + 4
        while time.monotonic() < deadline:
            Feed.objects.filter(pk=healthy.pk).update(next_fetch_at=timezone.now())
            enqueue_due_feeds()
            time.sleep(1)
        wait_for(
            lambda: Story.objects.filter(feed=healthy).exists(),
            timeout=30,
            what="the healthy feed fetched by the same worker\n" + worker.log()[-3000:],
        )
    finally:
        worker.stop()

    # Fetched exactly N times, each one killing the worker mid-task; never an (N+1)th time.
    log = worker.log()[-6000:]
    assert fixture_server.count("/poison.xml") == QUARANTINE_AFTER, log
    assert killer.kills == QUARANTINE_AFTER, log
    lost = "Task handler raised error: WorkerLostError('Worker exited prematurely: signal 9"
    assert worker.log().count(lost) == QUARANTINE_AFTER, log  # Celery saw each task's worker die
    poison.refresh_from_db()
    reason = f"{QUARANTINE_AFTER} runs in a row never finished"
    assert not poison.is_active and reason in poison.deactivated_reason
    assert poison.lease_until is None
    assert not Story.objects.filter(feed=poison).exists()
    assert fixture_server.count("/healthy.xml") >= 2  # served again after the quarantine

    # The editor sees why, in the feed list and on the feed's page.
    client.force_login(admin_user)
    listing = client.get("/admin/feeds/feed/").content.decode()
    assert reason in listing
    page = client.get(f"/admin/feeds/feed/{poison.pk}/change/").content.decode()
    assert reason in page
