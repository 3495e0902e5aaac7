"""Search under attack: story-page latency while 8 clients send hostile searches.

Seeds a bench database once with ``manage.py seed_demo``'s synthetic archive (100,000 stories by
default; kept for reruns), serves the site with gunicorn on loopback as ``make serve`` does
(sync workers, DEBUG off, Redis for the page cache and the rate limits), and runs phases of
``--seconds`` each:

1. **baseline**: one probe client requests random story pages, each a page-cache miss;
2. **attack**: the same probe while ``--clients`` clients (8) send hostile searches as fast as
   they get answers, each client from its own address (``X-Forwarded-For``, read with
   ``TRUSTED_PROXY_COUNT=1`` as behind a reverse proxy);
3. **attack, no rate limit**: the same with ``SEARCH_RATE_LIMIT`` out of reach, to show what
   the per-request bounds alone (term and length caps, statement timeout, bounded trigram
   fallback, cached results) hold.

The hostile searches are the review's (issue 18): 30 OR'd words, a unique word that matches
nothing (once a trigram scan of every headline), a 5,000-character query, a NUL, the
commonest words (a huge result set to rank), deep pages, and unique queries on the search
feed (once a 30-day cache key each). Reported: the probe's median, p95 and p99 in ms for
each phase and their ratio to the baseline (the machine is shared: compare within a run),
and the attackers' answers by status.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arcticnews_search_bench \\
    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/search_load_bench.py \\
        [--stories 100000] [--seconds 30] [--clients 8] [--workers 2] [--port 8105]

The requests go to 127.0.0.1 only; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arcticnews_search_bench"
MAX_REQUESTS_PER_CLIENT = 200_000  # a bound on top of the time limit


def hostile_requests(rng: random.Random, n: int) -> str:
    """The n-th request of an attacking client: one path from the review's repertoire."""
    kind = n % 7
    unique = f"{rng.getrandbits(40):x}"
    if kind == 0:
        query = " or ".join(f"w{i}" for i in range(30))
        return "/search/?" + urlencode({"q": query})
    if kind == 1:
        return "/search/?" + urlencode({"q": f"zq{unique}xv"})  # matches nothing
    if kind == 2:
        return "/search/?" + urlencode({"q": "a" * 5000})
    if kind == 3:
        return "/search/?" + urlencode({"q": f"ice\x00{unique}"})
    if kind == 4:
        words = rng.sample(["new", "government", "year", "people", "report", "minister"], 2)
        return "/search/?" + urlencode({"q": " ".join(words), "page": rng.randint(1, 30)})
    if kind == 5:
        return "/search/feed/?" + urlencode({"q": f"arctic {unique}"})
    return "/?" + urlencode({"junk": unique})  # cache-key flooding on a listing


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def probe(port: int, story_ids: list[int], seconds: float, rng: random.Random) -> list[float]:
    """Story pages, one after another, for ``seconds``: their latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(times) < MAX_REQUESTS_PER_CLIENT:
        path = f"/story/{rng.choice(story_ids)}/"
        start = time.perf_counter()
        status = get(conn, path, {"Host": "127.0.0.1"})
        times.append((time.perf_counter() - start) * 1000)
        if status not in (200, 301):
            raise SystemExit(f"probe: {path} answered {status}")
    conn.close()
    return times


def attacker(port: int, seconds: float, index: int, results: Counter, lock: threading.Lock):
    rng = random.Random(index)
    headers = {"Host": "127.0.0.1", "X-Forwarded-For": f"203.0.113.{index + 1}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seen: Counter = Counter()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline and n < MAX_REQUESTS_PER_CLIENT:
        try:
            seen[get(conn, hostile_requests(rng, n), headers)] += 1
        except (OSError, http.client.HTTPException):
            seen["error"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n += 1
    conn.close()
    with lock:
        results.update(seen)


class Server:
    """gunicorn on loopback with the production configuration, as `make serve` runs it (its
    access log and messages in a temporary file); stopped (by its own pid) on exit."""

    def __init__(self, port: int, workers: int, env: dict[str, str]):
        self.port = port
        self.scratch = tempfile.TemporaryDirectory(prefix="search-bench-")
        self.log = open(Path(self.scratch.name) / "gunicorn.log", "wb")
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(Path(self.scratch.name) / "metrics")}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "arcticnews.wsgi",
                "--config",
                "arcticnews/gunicorn_config.py",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                get(conn, "/robots.txt", {"Host": "127.0.0.1"})
                conn.close()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.scratch.cleanup()


def phase(name: str, port: int, ids: list[int], seconds: float, clients: int) -> dict:
    results: Counter = Counter()
    lock = threading.Lock()
    threads = [
        threading.Thread(target=attacker, args=(port, seconds + 2, i, results, lock))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    if threads:
        time.sleep(2)  # let the attack reach its pace first
    times = probe(port, ids, seconds, random.Random(name))
    for thread in threads:
        thread.join(timeout=seconds + 120)
    figures = {
        "phase": name,
        "probe_requests": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "attack_answers": {str(k): v for k, v in sorted(results.items(), key=str)},
        # The machine is shared: what else ran shows in the load average (1, 5, 15 minutes).
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"{name:24} probe n={len(times):5}  median {figures['median_ms']:7.1f} ms  "
        f"p95 {figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f}  "
        f"load {figures['loadavg'][0]:.2f}  attackers: {figures['attack_answers']}",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    print(
        f"{args.workers} web workers, SEARCH_MAX_CONCURRENT="
        f"{os.environ.get('SEARCH_MAX_CONCURRENT', '1 (default)')}, {os.cpu_count()} CPUs",
        flush=True,
    )

    os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise SystemExit("set REDIS_URL: the page cache and the rate limits live there")
    from bench import related_bench  # pops REDIS_URL from this process: we seed, not serve

    related_bench.ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    from feeds.models import Story

    call_command("migrate", verbosity=0)
    if Story.objects.count() < args.stories:
        print(f"seeding {args.stories} stories …", flush=True)
        # seed_demo keeps up with the models (and builds the search vectors).
        call_command("seed_demo", stories=args.stories, replace=True, verbosity=0)
    ids = list(Story.objects.visible().values_list("pk", flat=True))
    print(f"database: {Story.objects.count()} stories, {len(ids)} visible", flush=True)

    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "CACHE_KEY_PREFIX": f"bench-{os.getpid()}",  # a fresh page cache for this run
    }
    figures = []
    server = Server(args.port, args.workers, env)
    try:
        figures.append(phase("baseline", args.port, ids, args.seconds, 0))
        figures.append(phase("attack", args.port, ids, args.seconds, args.clients))
    finally:
        server.stop()
    env["SEARCH_RATE_LIMIT"] = "1000000/m"
    env["CACHE_KEY_PREFIX"] = f"bench-{os.getpid()}-nolimit"
    server = Server(args.port, args.workers, env)
    try:
        figures.append(phase("attack, no rate limit", args.port, ids, args.seconds, args.clients))
    finally:
        server.stop()
    base = figures[0]
    for row in figures[1:]:
        print(
            f"{row['phase']:24} p99 / baseline p99 = {row['p99_ms'] / base['p99_ms']:.2f}, "
            f"median / baseline median = {row['median_ms'] / base['median_ms']:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
