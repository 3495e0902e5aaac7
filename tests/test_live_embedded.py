"""`make run`'s processes on the embedded default: a live aggregator with no second command.

The web server, a real Celery worker and beat (`manage.py runall`) run on SQLite, kombu's
filesystem broker and the file cache under a fresh var/ directory; a loopback server stands in
for an outlet. Nothing here touches the test database: the processes have their own.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT, wait_for

pytestmark = [pytest.mark.slow]


def rss(items: list[tuple[str, str]]) -> bytes:
    """A synthetic outlet feed, newest first: (guid, headline) pairs one hour apart."""
    now = datetime.now(UTC)
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://north.example/{guid}</link>"
        f"<description>{title}: a report from Tromsø about the sea ice.</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i))}</pubDate></item>"
        for i, (guid, title) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>North Example</title><link>https://north.example/</link>"
        f"<description>Synthetic</description>{entries}</channel></rss>"
    ).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.pop("CACHE_REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("FILE_CACHE_DIR", None)
    env.update(
        ARCTICNEWS_VAR_DIR=str(var_dir),
        FEEDS_ALLOW_PRIVATE_ADDRESSES="true",
        FEEDS_POLL_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_runall_polls_a_feed_and_pages_show_a_new_item_without_a_manual_step(
    tmp_path, fixture_server
):
    env = embedded_env(tmp_path / "var")
    env.pop("SITE_URL", None)  # as `make run PORT=...` is started
    fixture_server.add("/north.xml", rss([("n1", "Sea ice returns to the fjord")]))
    manage(env, "migrate", "--no-input")
    manage(
        env, "addfeed", fixture_server.url("/north.xml"), "--source", "North", "--country", "norway"
    )
    database = tmp_path / "var" / "arcticnews.sqlite3"
    # What a crash leaves: a feed held by a worker that no longer exists.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE feeds_feed SET lease_until = ?", (_iso(timedelta(hours=1)),))

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "runall-embedded.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runall", "--port", str(port), "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: "Sea ice returns to the fjord" in get(base + "/"),
            timeout=90,
            what="the first item on / (worker and beat polled the feed)\n"
            + log_path.read_text(errors="replace"),
        )
        # A sign-up's confirmation link (the console backend prints the email) leads back to
        # this server, not to SITE_URL's default port.
        signup = urllib.parse.urlencode({"email": "reader@north.example"}).encode()
        with urllib.request.urlopen(base + "/digest/subscribe/", signup, timeout=10) as answer:
            assert answer.status == 200
        wait_for(
            lambda: base + "/digest/confirm/" in log_path.read_text(errors="replace"),
            timeout=30,
            what="a confirmation link to this server\n" + log_path.read_text(errors="replace"),
        )
        # Both pages are now cached by the web process; the worker must invalidate them.
        assert "Sea ice returns to the fjord" in get(base + "/feed/")
        fixture_server.add(
            "/north.xml",
            rss([("n2", "Polar night begins in Longyearbyen"), ("n1", "Sea ice returns")]),
        )
        # The feed's own schedule says "in ten minutes or more"; move the clock, not a lever.
        with sqlite3.connect(database) as db:
            db.execute("UPDATE feeds_feed SET next_fetch_at = ?", (_iso(-timedelta(seconds=1)),))
        wait_for(
            lambda: "Polar night begins in Longyearbyen" in get(base + "/"),
            timeout=60,
            what="the new item on /\n" + log_path.read_text(errors="replace"),
        )
        assert "Polar night begins in Longyearbyen" in get(base + "/feed/")
        assert "Polar night begins in Longyearbyen" in get(base + "/country/norway/")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    log = log_path.read_text(errors="replace")
    assert "released 1 feed(s) a previous run held" in log
    assert "runall: stopped" in log
    # make run's logs are for a person: plain lines (LOG_FORMAT=json is production's).
    assert re.search(r"^\S+ \S+ INFO celery\.app\.trace: Task feeds\.fetch_feed\[", log, re.M)
    assert not re.search(r"^\{", log, re.M)
    assert proc.returncode == 0
    # Ctrl-C stopped every process: nobody serves the port any more.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_make_run_prepares_the_site_then_starts_runall():
    """What the tests here start is what `make run` starts, after its preparation steps."""
    done = subprocess.run(
        ["make", "-n", "run", "PORT=8123", "HOST=127.0.0.1", "WORKERS=3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if "manage.py" in line]
    wanted = [
        "manage.py migrate --no-input",
        "manage.py load_default_sources",
        "manage.py load_sample_feeds --unless-online",
        "manage.py runall --host 127.0.0.1 --port 8123 --concurrency 3",
    ]
    found = [next((i for i, line in enumerate(steps) if w in line), -1) for w in wanted]
    assert -1 not in found and found == sorted(found), done.stdout
    assert steps[-1].endswith(wanted[-1])  # the processes run last, once all is ready


def test_runall_leaves_no_process_behind_when_it_is_killed(tmp_path):
    env = embedded_env(tmp_path / "var")
    manage(env, "migrate", "--no-input")
    port = free_port()
    log_path = tmp_path / "runall.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runall", "--port", str(port), "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    first = wait_for(
        lambda: re.search(
            r"web \(pid (\d+)\).*worker \(pid (\d+)\).*beat "
            r"\(pid (\d+)\)",
            log_path.read_text(),
        ),
        timeout=60,
        what="runall started",
    )
    children = [int(pid) for pid in first.groups()]
    wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz") or _listening(port), timeout=60)
    proc.kill()
    proc.wait()
    wait_for(
        lambda: not any(_alive(pid) for pid in children),
        timeout=30,
        what="web, worker and beat to stop after their supervisor was killed",
    )


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%d %H:%M:%S.%f")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, only not yet reaped by init.
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "Z"
    )
    return status != "Z"
