"""The production stack: Procfile, compose.yaml, Dockerfile and the Makefile run the same
commands, each of which exists; honcho starts web + worker + beat on PostgreSQL and Redis and
they ingest a loopback feed; /healthz and /readyz say so."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from feeds.models import Feed
from tests.conftest import ARTIFACTS, ROOT, wait_for
from tests.test_live_embedded import get, rss

SERVICES = ("web", "worker", "beat")
MAKE_TARGETS = {"web": "serve", "worker": "worker", "beat": "beat"}
VALUE_OPTIONS = {"--bind", "--workers", "--concurrency"}
BIN = Path(sys.executable).parent


def normalise(argv: list[str]) -> list[str]:
    """The program and its flags; the values an operator tunes (address, counts) are VAR."""
    out: list[str] = []
    for i, raw in enumerate(argv):
        token = raw.removeprefix("$(VENV)/bin/")
        out.append("VAR" if i and argv[i - 1] in VALUE_OPTIONS or "$" in token else token)
    return out


def procfile_steps() -> dict[str, list[list[str]]]:
    """Each service's shell command as its steps (``a && exec b``): [a, b]."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            steps = [shlex.split(step) for step in command.split("&&")]
            entries[name.strip()] = [step[1:] if step[0] == "exec" else step for step in steps]
    return entries


def procfile() -> dict[str, list[str]]:
    """Each service's long-running program (the last step)."""
    return {name: steps[-1] for name, steps in procfile_steps().items()}


def make_recipe(target: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and its (one-line) recipe."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:(.*)\n\t(.+)$", text, re.MULTILINE)
    assert match, f"Makefile has no {target} target"
    return match.group(1).split(), shlex.split(match.group(2))


def makefile() -> dict[str, list[str]]:
    return {service: make_recipe(target)[1] for service, target in MAKE_TARGETS.items()}


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile_cmd() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match
    return json.loads(match.group(1))


def test_procfile_compose_dockerfile_and_makefile_run_the_same_commands():
    services = compose()["services"]
    proc, make = procfile(), makefile()
    assert set(proc) == set(SERVICES)
    for name in SERVICES:
        assert (
            normalise(proc[name]) == normalise(make[name]) == normalise(services[name]["command"])
        ), name
    assert normalise(dockerfile_cmd()) == normalise(proc["web"])


def python_step(argv: list[str]) -> list[str]:
    """``manage.py ...`` whichever Python runs it ($(PY), python, .venv/bin/python)."""
    assert argv[0] in {"$(PY)", "python"}, argv
    return argv[1:]


def test_the_web_service_collects_static_files_before_gunicorn_everywhere():
    """WhiteNoise serves the hashed, compressed copies collectstatic writes: every way of
    starting the web service collects them first, with the Makefile's command."""
    _, collect = make_recipe("collectstatic")
    command = python_step(collect)
    assert command[:2] == ["manage.py", "collectstatic"] and "--no-input" in command
    serve_needs, _ = make_recipe("serve")
    assert "collectstatic" in serve_needs  # make runs prerequisites before the recipe
    web = procfile_steps()["web"]
    assert len(web) == 2 and python_step(web[0]) == command
    assert web[1][0] == "gunicorn"
    # The image runs it when it is built; compose's web runs that image.
    dockerfile = (ROOT / "Dockerfile").read_text()
    run = re.search(r"python (manage\.py collectstatic[^&\\\n]*)", dockerfile)
    assert run and shlex.split(run.group(1)) == command
    assert dockerfile.index("collectstatic") < dockerfile.index("CMD ")
    assert compose()["services"]["web"]["build"] == "."


def test_every_service_command_exists():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    for name, argv in procfile().items():
        program = BIN / argv[0]
        assert program.exists(), f"{name}: {argv[0]} is not installed in {BIN}"
    # gunicorn loads the WSGI application and validates its own flags.
    web = [str(BIN / "gunicorn"), "--check-config", *procfile()["web"][1:]]
    web = [t if "$" not in t else "1" if "CONCURRENCY" in t else "127.0.0.1:0" for t in web]
    done = subprocess.run(web, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # celery loads the app, and each sub-command with its flags parses.
    for name in ("worker", "beat"):
        argv = [str(BIN / "celery"), *procfile()[name][1:]]
        argv = [t if "$" not in t else "1" for t in argv]
        done = subprocess.run(
            [*argv, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_compose_has_the_whole_stack_with_volumes_and_health_checks():
    stack = compose()
    services = stack["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert set(stack["volumes"]) == {"pgdata", "redisdata"}
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["beat"]["deploy"]["replicas"] == 1
    env = services["web"]["environment"]
    # The cache never shares the broker's database, and Redis evicts only expiring keys.
    assert env["REDIS_URL"] != env["CACHE_REDIS_URL"]
    assert "--maxmemory-policy volatile-lru" in services["redis"]["command"]
    assert "--maxmemory" in services["redis"]["command"]


def readme_production_variables() -> dict[str, str]:
    """The variables of the README's "TLS and secrets" block, placeholders filled in."""
    import secrets

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("DEBUG=false SECRET_KEY=") :]
    block = block[: block.index("```")]
    found = dict(re.findall(r"([A-Z][A-Z0-9_]*)=(<[^>]*>|\S+)", block))
    for name, value in found.items():
        if value.startswith("<"):  # <50+ random characters ...>, <random>
            found[name] = secrets.token_urlsafe(50)
        elif value.endswith("..."):  # postgres://...
            found[name] = value.replace("...", "arcticnews@db.invalid:5432/arcticnews")
    return found


def test_check_deploy_with_the_readmes_production_variables_prints_no_warning(tmp_path):
    variables = readme_production_variables()
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "SECURE_HSTS_SECONDS", "DATABASE_URL"} <= set(variables)
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env.update(variables)
    # Where this machine may write (the README's /srv/... is the server's).
    env.update(STATIC_ROOT=str(tmp_path / "static"), ARCTICNEWS_VAR_DIR=str(tmp_path / "var"))
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr
    assert "WARNING" not in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())
    except OSError:
        return {}


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_honcho_runs_web_worker_and_beat_on_postgresql_and_redis(
    vocabularies, fixture_server, allow_private, worker_env
):
    from arcticnews.celery import app

    app.control.purge()
    fixture_server.add("/north.xml", rss([("h1", "Reindeer herders meet in Kautokeino")]))
    call_command(
        "addfeed",
        fixture_server.url("/north.xml"),
        "--no-check",
        source="North",
        stdout=io.StringIO(),
    )
    port = free_port()
    env = dict(
        worker_env,
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="1",
        FEEDS_POLL_SECONDS="2",
        LOG_FORMAT="json",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "honcho.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "honcho"), "start", "-f", "Procfile"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: "Reindeer herders meet in Kautokeino" in get(base + "/"),
            timeout=90,
            what="the loopback feed's item on /\n" + log_path.read_text(errors="replace"),
        )
        assert read_json(base + "/healthz") == {"status": "ok"}
        ready = wait_for(
            lambda: (r := read_json(base + "/readyz")).get("status") == "ok" and r,
            timeout=30,
            what="/readyz ok",
        )
        assert set(ready["checks"]) == {"database", "cache", "broker", "beat", "feeds"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    feed = Feed.objects.get()
    # LOG_FORMAT=json: the worker's line for the fetch carries its task id and the feed id.
    events = [
        json.loads(line.split("| ", 1)[1])
        for line in log_path.read_text(errors="replace").splitlines()
        if "worker.1" in line and "| {" in line
    ]
    fetched = [
        e for e in events if "feeds.fetch_feed[" in e["message"] and "succeeded" in e["message"]
    ]
    assert fetched, events
    assert fetched[0]["feed_id"] == feed.pk and fetched[0]["task_id"] in fetched[0]["message"]
