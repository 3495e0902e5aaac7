"""`make run`'s last step: the web server, a Celery worker and beat, started and stopped together.

Without REDIS_URL the worker and beat use kombu's filesystem transport under var/broker/, so
the embedded default runs the same task code as production. Ctrl-C (or SIGTERM) stops every
process; if one of them dies, the others are stopped too, and if this process is killed
outright, the kernel tells its children to stop (PR_SET_PDEATHSIG), so no orphan keeps the
port or the broker.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from feeds.models import Feed

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 15


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: a SIGKILLed supervisor must not leave a
    # runserver holding the port or a worker holding a feed.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def site_url(host: str, port: int) -> str:
    """The origin the web process serves, for links made outside a request (the digest's
    confirmation and mailing links): without it they named SITE_URL's default port 8000."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def commands(host: str, port: int, concurrency: int) -> dict[str, list[str]]:
    """The three processes, by name. The Procfile and compose.yaml run the same programs."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "arcticnews"]
    return {
        "web": [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"],
        "worker": [
            *celery,
            "worker",
            "-l",
            "info",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        "beat": [*celery, "beat", "-l", "info"],
    }


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and beat together until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args, host: str, port: int, concurrency: int, **options):
        embedded = settings.CELERY_BROKER_URL.startswith("filesystem:")
        if embedded:
            self._clean_embedded_state()
        env = dict(os.environ)
        # The children use the broker; only a bare `manage.py` runs tasks in-process.
        env["CELERY_TASK_ALWAYS_EAGER"] = "false"
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("SITE_URL", site_url(host, port))
        procs: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, argv in commands(host, port, concurrency).items():
                procs[name] = subprocess.Popen(
                    argv,
                    cwd=settings.BASE_DIR,
                    env=env,
                    # Each in its own group: Ctrl-C reaches only us, and we stop them in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            self.stdout.write(
                f"runall: web (pid {procs['web'].pid}), worker (pid {procs['worker'].pid}), "
                f"beat (pid {procs['beat'].pid}); Ctrl-C stops them all"
            )
            dead = None
            while not stopping and dead is None:
                time.sleep(0.2)
                dead = next((n for n, p in procs.items() if p.poll() is not None), None)
        finally:
            _stop_all(procs)
        if dead is not None:
            raise CommandError(
                f"{dead} exited with status {procs[dead].returncode}; stopped the others"
            )
        self.stdout.write("runall: stopped")

    def _clean_embedded_state(self) -> None:
        """Nothing a crashed run left behind may hold up this one.

        The embedded default is one machine's only poller, so every lease on a feed belongs
        to a process that is gone; waiting messages stay (fetches are idempotent), but the
        broadcast bindings of dead workers are dropped.
        """
        released = Feed.objects.filter(lease_until__isnull=False).update(lease_until=None)
        if released:
            self.stdout.write(f"runall: released {released} feed(s) a previous run held")
        control = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["control_folder"]))
        shutil.rmtree(control, ignore_errors=True)
        control.mkdir(parents=True, exist_ok=True)


def _stop_all(procs: dict[str, subprocess.Popen]) -> None:
    # The web server first, so no request queues work for a worker that is leaving.
    for name in ("web", "beat", "worker"):
        proc = procs.get(name)
        if proc is not None and proc.poll() is None:
            # The leader only: a worker stops its own pool children after a warm shutdown.
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
