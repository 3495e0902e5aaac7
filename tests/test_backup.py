"""The README's backup and restore: pg_dump a database with stories and related boxes, restore
it into a new database, and the site serves the same pages from it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection

from feeds.models import RelatedSlot, Story
from tests.conftest import ROOT, wait_for
from tests.test_live_embedded import free_port, get

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def serve(database_url: str, var_dir) -> tuple[subprocess.Popen, str]:
    """A web server on ``database_url`` with a cache of its own (nothing served from the
    other server's pages)."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CACHE_REDIS_URL"}}
    env.update(DATABASE_URL=database_url, ARCTICNEWS_VAR_DIR=str(var_dir), CONN_MAX_AGE="0")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def pages(base: str, paths: list[str]) -> dict[str, str]:
    wait_for(lambda: get(base + "/healthz"), timeout=60, what=f"{base} up")
    # Relative times ("5 minutes ago") may tick between the two servers' renderings.
    return {
        p: re.sub(r"\d+\s+\w+\s+ago", "AGO", get(base + p)).replace(base, "BASE") for p in paths
    }


def test_a_restored_dump_serves_the_same_pages(vocabularies, tmp_path):
    call_command("load_default_sources", stdout=io.StringIO())
    call_command("load_sample_feeds", stdout=io.StringIO())
    assert Story.objects.count() > 50 and RelatedSlot.objects.exists()
    story = Story.objects.visible().filter(related_slots__isnull=False).first()
    assert story is not None
    paths = ["/", f"/story/{story.pk}/", "/country/norway/", "/feed/", "/sitemap.xml"]

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored"
    dump = tmp_path / "arcticnews.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _url(source)], check=True
    )
    subprocess.run(
        ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", restored], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", restored], check=True)
    try:
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={_url(restored)}",
                str(dump),
            ],
            check=True,
        )
        servers = [serve(_url(source), tmp_path / "a"), serve(_url(restored), tmp_path / "b")]
        try:
            original, copy = (pages(base, paths) for _, base in servers)
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(timeout=20)
        assert "Related stories from around the North" in copy[f"/story/{story.pk}/"]
        for path in paths:
            assert len(original[path]) > 500, path
            assert copy[path] == original[path], path
    finally:
        subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", restored])
