"""`make screenshots`: the README's pictures of what a reader and an editor see.

Builds a throwaway site from the bundled sample feeds (SQLite and media in a temporary
directory, nothing from your environment's database), serves it, and has Debian's Chromium
take docs/screenshots/home.png, story.png and editor.png at 1280 px.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}


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


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="arcticnews-shots-") as var:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(ARCTICNEWS_VAR_DIR=var, MEDIA_ROOT=str(Path(var) / "media"))
        manage(env, "migrate", "--no-input")
        manage(env, "load_default_sources")
        manage(env, "load_sample_feeds")
        password = secrets.token_urlsafe(12)
        script = (
            "from django.contrib.auth import get_user_model;"
            "from feeds.permissions import ensure_editors_group;"
            f"u = get_user_model().objects.create_user('editor', password='{password}',"
            " is_staff=True); u.groups.add(ensure_editors_group());"
            "from django.db.models import Count; from feeds.models import Story;"
            "s = Story.objects.visible().articles().exclude(image_file='')"
            ".annotate(n=Count('related_slots')).order_by('-n', '-published_at').first();"
            "print(s.pk)"
        )
        story = manage(env, "shell", "-c", script).strip().splitlines()[-1]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(base + "/")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(base + "/")
                page.screenshot(
                    path=str(OUT / "home.png"), clip={"x": 0, "y": 0, **VIEWPORT, "height": 1500}
                )
                page.goto(f"{base}/story/{story}/")
                page.screenshot(path=str(OUT / "story.png"), full_page=True)
                page.goto(base + "/admin/login/")
                page.fill("#id_username", "editor")
                page.fill("#id_password", password)
                page.click("input[type=submit]")
                page.goto(f"{base}/editor/story/{story}/related/")
                page.screenshot(
                    path=str(OUT / "editor.png"), clip={"x": 0, "y": 0, **VIEWPORT, "height": 1500}
                )
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    sys.stdout.write(f"screenshots in {OUT.relative_to(ROOT)}: home.png, story.png, editor.png\n")


if __name__ == "__main__":
    main()
