"""A throwaway ArcticNews site built from the bundled sample feeds, for the pictures
(`make screenshots`) and the page audits (`make lighthouse`, `make walkthrough`).

Everything lives in a temporary directory (SQLite database, media, collected static files):
nothing is read from or written to the environment's database. ``serve`` starts it either as
`make run` does (runserver) or as production does (gunicorn, DEBUG off, collectstatic's
hashed and compressed files served by WhiteNoise).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
EDITOR = "editor"


@dataclass
class Site:
    env: dict[str, str]
    password: str  # the editor's
    story: int  # a story with an image and the fullest related box
    base: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the site did not answer at {url}")


def build(var: str) -> Site:
    """Migrate, load the default sources and the sample feeds, and make an editor."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        ARCTICNEWS_VAR_DIR=var,
        MEDIA_ROOT=str(Path(var) / "media"),
        STATIC_ROOT=str(Path(var) / "static"),
    )
    manage(env, "migrate", "--no-input")
    manage(env, "load_default_sources")
    manage(env, "load_sample_feeds")
    password = secrets.token_urlsafe(12)
    script = (
        "from django.contrib.auth import get_user_model;"
        "from feeds.permissions import ensure_editors_group;"
        f"u = get_user_model().objects.create_user('{EDITOR}', password='{password}',"
        " is_staff=True); u.groups.add(ensure_editors_group());"
        "from django.db.models import Count; from feeds.models import Story;"
        "s = Story.objects.visible().articles().exclude(image_file='')"
        ".annotate(n=Count('related_slots')).order_by('-n', '-published_at').first();"
        "print(s.pk)"
    )
    story = int(manage(env, "shell", "-c", script).strip().splitlines()[-1])
    return Site(env=env, password=password, story=story)


def serve(site: Site, *, production: bool, port: int | None = None) -> subprocess.Popen:
    """Start the site; ``site.base`` is set to its address. The caller stops the process."""
    port = port or free_port()
    site.base = f"http://127.0.0.1:{port}"
    env = dict(site.env)
    if production:
        env.update(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), LOG_LEVEL="ERROR")
        manage(env, "collectstatic", "--no-input", "-v0")
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "arcticnews.wsgi",
            "--config",
            "arcticnews/gunicorn_config.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ]
    else:
        command = [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{port}"]
        command.append("--noreload")
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(site.base + "/")
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
