"""The web service as production runs it: the Procfile's gunicorn command with several workers.

/metrics adds up every worker's request and database counters, whichever worker answers the
scrape and however many workers have come and gone (prometheus_client's multiprocess mode,
arcticnews/gunicorn_config.py); the aggregator's gauges are counted once. With LOG_FORMAT=json
every line gunicorn and Django write is a JSON object, and each request's access line carries
its request id. Runs on the embedded default (SQLite in a fresh var/), so it needs no service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT, wait_for
from tests.test_deploy import BIN
from tests.test_live_embedded import embedded_env, free_port, manage

pytestmark = [pytest.mark.slow]

TOKEN = "gunicorn-metrics-token"
REQUESTS = 20
# Each worker exits after this many requests and the master forks a new one, so the
# requests are served by several processes, most of them gone by the time of the scrape.
MAX_REQUESTS = 6


def gunicorn_command() -> str:
    """The Procfile's web command, from `exec gunicorn` on (collectstatic is tested apart)."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    command = line.split("&&")[-1].strip()
    assert command.startswith("exec gunicorn "), command
    return command


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    env = dict(env, PATH=f"{BIN}:{env.get('PATH', '')}", HOST="127.0.0.1", PORT=str(port))
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["sh", "-c", gunicorn_command()],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def request(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=20) as r:
        return r.status, dict(r.headers), r.read().decode()


def scrape(base: str) -> dict[str, float]:
    _, _, text = request(base + "/metrics", Authorization=f"Bearer {TOKEN}")
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


def total(values: dict[str, float], name: str, *labels: str) -> float:
    return sum(
        v
        for series, v in values.items()
        if series.split("{")[0] == name and all(label in series for label in labels)
    )


def test_metrics_add_up_every_gunicorn_worker_and_access_logs_are_json(tmp_path, fixture_server):
    var = tmp_path / "var"
    env = embedded_env(var)
    env.update(
        METRICS_TOKEN=TOKEN,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        WEB_CONCURRENCY="2",
        GUNICORN_CMD_ARGS=f"--max-requests {MAX_REQUESTS}",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    manage(env, "migrate", "--no-input")
    manage(env, "addfeed", fixture_server.url("/north.xml"), "--source", "North", "--no-check")
    # What a previous run leaves: its workers' counter files, unreadable to this one.
    (var / "metrics").mkdir(parents=True)
    (var / "metrics" / "counter_999999.db").write_bytes(b"left by a crashed run")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "gunicorn-json.log"
    proc = start(env, port, log_path)
    try:
        wait_for(
            lambda: _answers(base + "/robots.txt"),  # not the page whose requests we count
            timeout=90,
            what="gunicorn up\n" + log_path.read_text(errors="replace"),
        )
        assert not (var / "metrics" / "counter_999999.db").exists()
        # One request id from a proxy, the others made by the site.
        status, headers, _ = request(base + "/healthz", **{"X-Request-ID": "edge-req-0001abcd"})
        assert status == 200 and headers["X-Request-ID"] == "edge-req-0001abcd"
        made = [request(base + "/healthz")[1]["X-Request-ID"] for _ in range(REQUESTS - 1)]
        for _ in range(3):
            request(base + "/")  # pages read the database

        # Whichever worker answers (and workers keep being replaced), the totals are all of
        # them: read several times.
        for _ in range(4):
            values = scrape(base)
            healthz = total(
                values,
                "django_http_requests_total_by_view_transport_method_total",
                'view="healthz"',
            )
            assert healthz == REQUESTS, values
            assert total(values, "django_db_execute_total", 'vendor="sqlite"') > 0
            # The aggregator's gauges come from the database once, not once per worker.
            assert values["arcticnews_feeds_active"] == 1
            assert list(values).count("arcticnews_feeds_active") == 1

        # Two gunicorns on one metrics directory would count each other's requests.
        other = start(env, free_port(), tmp_path / "second.log")
        assert other.wait(timeout=60) != 0
        assert "another gunicorn uses PROMETHEUS_MULTIPROC_DIR" in (
            tmp_path / "second.log"
        ).read_text(errors="replace")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line]
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    access = [e for e in events if e["logger"] == "gunicorn.access"]
    healthz = [e for e in access if e["path"] == "/healthz" and e["status"] == 200]
    assert len(healthz) >= REQUESTS
    assert healthz[0]["request_id"] == "edge-req-0001abcd"
    assert made[0] in {e["request_id"] for e in healthz}
    assert {e["method"] for e in healthz} == {"GET"} and all(e["time"] for e in healthz)
    served_by = Counter(e["pid"] for e in healthz)
    assert len(served_by) >= REQUESTS // MAX_REQUESTS, served_by  # workers came and went
    assert any(e["logger"] == "gunicorn.error" for e in events)  # gunicorn's own, as JSON


def _answers(url: str) -> bool:
    try:
        return request(url)[0] == 200
    except OSError:
        time.sleep(0.2)
        return False
