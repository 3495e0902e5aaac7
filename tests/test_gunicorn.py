"""The web service as production runs it: the Procfile's gunicorn command with several workers.

/metrics adds up every worker's request and database counters, whichever worker answers the
scrape and however many workers have come and gone (prometheus_client's multiprocess mode,
arcticnews/gunicorn_config.py); the aggregator's gauges are counted once. With LOG_FORMAT=json
every line gunicorn and Django write is a JSON object, and each request's access line carries
its request id, as do Django's own lines for that request. A change committed by another
process (`manage.py fetchfeeds` in a second terminal) is on the next page any worker serves,
with the shared file cache of the embedded default and with Redis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT, wait_for
from tests.test_deploy import BIN
from tests.test_live_embedded import embedded_env, free_port, manage, rss

pytestmark = [pytest.mark.slow]

TOKEN = "gunicorn-metrics-token"
AGGREGATOR_GAUGES = (
    "arcticnews_feeds_active",
    "arcticnews_feeds_due",
    "arcticnews_feeds_overdue",
    "arcticnews_feeds_failing",
    "arcticnews_feeds_sample_loaded",
    "arcticnews_feeds_not_modified_ratio",
    "arcticnews_fetch_duration_seconds",
    "arcticnews_stories_ingested_last_hour",
    "arcticnews_queue_length",
    "arcticnews_related_boxes_pending",
)
EXPECTED_SERIES = {"arcticnews_fetch_duration_seconds": 2}  # stat="avg", stat="max"
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
        try:  # Django logs a 404 ("Not Found") inside the request: the same id as the access line
            request(base + "/no-such-page/", **{"X-Request-ID": "edge-req-0404abcd"})
        except urllib.error.HTTPError as error:
            assert error.code == 404

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
            assert values["arcticnews_feeds_due"] == 1  # added, never fetched
            assert values["arcticnews_feeds_failing"] == 0
            assert values["arcticnews_stories_ingested_last_hour"] == 0
            for name in AGGREGATOR_GAUGES:
                assert [s.split("{")[0] for s in values].count(name) == EXPECTED_SERIES.get(
                    name, 1
                ), name

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
    missing = [e for e in events if e.get("request_id") == "edge-req-0404abcd"]
    assert {e["logger"] for e in missing} == {"django.request", "gunicorn.access"}, missing
    served_by = Counter(e["pid"] for e in healthz)
    assert len(served_by) >= REQUESTS // MAX_REQUESTS, served_by  # workers came and went
    assert any(e["logger"] == "gunicorn.error" for e in events)  # gunicorn's own, as JSON


def serve(env: dict[str, str], log_name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    proc = start(env, port, log_path)
    base = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: _answers(base + "/robots.txt"),
        timeout=90,
        what="gunicorn up\n" + log_path.read_text(errors="replace"),
    )
    return proc, base


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def assert_a_change_by_another_process_is_on_the_next_request(env, fixture_server) -> None:
    """Two gunicorn workers cache / and /feed/; `manage.py fetchfeeds` in "a second terminal"
    changes a story's headline; every next request, whichever worker answers, shows it."""
    fixture_server.add("/north.xml", rss([("c1", "Harbour in Nuuk gets a new quay")]))
    manage(env, "addfeed", fixture_server.url("/north.xml"), "--source", "North")
    manage(env, "fetchfeeds", "--all", "--quiet")
    proc, base = serve(env, "gunicorn-coherence.log")
    try:
        for _ in range(4):  # cached by both workers (and in the shared cache)
            assert "Harbour in Nuuk gets a new quay" in request(base + "/")[2]
            assert "Harbour in Nuuk gets a new quay" in request(base + "/feed/")[2]
        fixture_server.add("/north.xml", rss([("c1", "Harbour in Nuuk opens its new quay")]))
        manage(env, "fetchfeeds", "--all", "--quiet")
        for _ in range(4):  # no waiting: the very next requests
            for path in ("/", "/feed/"):
                page = request(base + path)[2]
                assert "Harbour in Nuuk opens its new quay" in page, path
                assert "Harbour in Nuuk gets a new quay" not in page, path
    finally:
        stop(proc)


def test_a_change_by_another_process_is_on_the_next_page_with_the_file_cache(
    tmp_path, fixture_server
):
    env = dict(embedded_env(tmp_path / "var"), WEB_CONCURRENCY="2")
    manage(env, "migrate", "--no-input")
    assert_a_change_by_another_process_is_on_the_next_request(env, fixture_server)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_change_by_another_process_is_on_the_next_page_with_redis(
    vocabularies, fixture_server, worker_env, tmp_path
):
    env = dict(
        worker_env,
        WEB_CONCURRENCY="2",
        ARCTICNEWS_VAR_DIR=str(tmp_path / "var"),
        CELERY_TASK_ALWAYS_EAGER="true",  # fetchfeeds runs the pipeline in its own process
    )
    assert_a_change_by_another_process_is_on_the_next_request(env, fixture_server)


def _answers(url: str) -> bool:
    try:
        return request(url)[0] == 200
    except OSError:
        time.sleep(0.2)
        return False


def test_an_over_long_search_reaches_our_page_not_gunicorns_414(tmp_path):
    """The issue's 5,000-character query under the Procfile's gunicorn: the search page
    answers it (400, with the message next to the form), not gunicorn's bare 414."""
    env = embedded_env(tmp_path / "var")
    manage(env, "migrate", "--no-input")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    proc = start(env, port, log_path)
    try:
        wait_for(lambda: _answers(base + "/robots.txt"), timeout=90, what="gunicorn up")
        with pytest.raises(urllib.error.HTTPError) as refused:
            request(base + "/search/?q=Murmansk" + "x" * 4992)
        assert refused.value.code == 400
        page = refused.value.read().decode()
        assert 'id="search-q-error"' in page and "5,000 characters" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
