"""The Celery application's process set-up, as a prefork pool process runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

# What a pool process has done by the time worker_process_init fires: Django set up and
# the tasks (and through them ingest, the tagger's tries and the parsers) imported.
POOL_PROCESS = """
import gc
import django
django.setup()
from celery.signals import worker_process_init
import arcticnews.celery, feeds.tasks
before = gc.get_freeze_count()
worker_process_init.send(sender=None)
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_a_pool_process_takes_its_startup_objects_out_of_gc_scans() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arcticnews.settings"}
    done = subprocess.run(
        [sys.executable, "-c", POOL_PROCESS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, frozen, still_scanned = map(int, done.stdout.split())
    assert before == 0
    # Tens of thousands of long-lived objects (Django, the gazetteer tries) frozen, and
    # nothing left for a collection to walk but what the process creates from now on.
    assert frozen > 20_000
    assert still_scanned < frozen / 100
