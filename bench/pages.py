"""Page benchmark: the reader's pages under wrk, side by side with the ceiling, in one run.

Serves the project as production does (gunicorn, 2 sync workers, DEBUG off) on loopback and
loads each page with wrk (Debian's ``wrk`` package: ``apt-get install wrk``; 2 threads,
16 connections, 10 s a run, 3 rounds by default, medians over rounds, the order of the runs
rotated each round so that noise from the shared machine hits every run alike).

Two gunicorns, with the same code, settings and middleware (``bench/ceiling_settings.py``):

* **cached**: the project's cache (Redis when ``REDIS_URL`` is set). A page's first request
  fills the page cache; wrk then measures what an anonymous reader gets from it.
* **uncached**: the same, except that no page is ever found in the page cache, so every
  request renders the page (and every feed is built) from the database
  (``bench/ceiling_settings_uncached.py``). With Redis it is a real miss, as production has
  after a change to a listing: the generations, Last-Modified dates and what each process
  keeps while the global generation holds (the navigation) come from the same Redis; only
  stored pages are never found. Without Redis, Django's ``DummyCache`` (nothing is found).

And the ceilings, in the same run: ``/bench/static/`` (the same bytes every time),
``/bench/template/`` (the country listing template rendered from 20 stories held in memory)
and ``/bench/cache-page/`` (that view behind Django's ``cache_page`` from the same cache).
Ratios: uncached ÷ template-only; cached ÷ cache_page.

The database is ``DATABASE_URL`` (default: a bench database of its own). It is filled with
``seed_demo --stories N`` when its archive is empty; an archive of another size is used as it
is unless ``--reseed`` (which deletes it) is given. Every figure is a lower bound: wrk,
gunicorn, PostgreSQL and Redis share the machine's cores.

    .venv/bin/python bench/pages.py                       # 100,000 stories, 3 rounds of 10 s
    .venv/bin/python bench/pages.py --duration 5 --rounds 1 --only home,country
    .venv/bin/python bench/pages.py --explain             # query plans of every page
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from database import ensure_database

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arcticnews_pages_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")


@dataclass(frozen=True)
class Run:
    name: str
    server: str  # "cached" or "uncached"
    path: str


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def prepare(stories: int, reseed: bool) -> dict[str, str]:
    """Migrate, seed if needed, and choose the pages: name -> path."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from feeds.models import Country, Source, Story, Storyline

    call_command("migrate", verbosity=0)
    have = Story.objects.count()
    if have == 0 or reseed:
        print(f"seeding {stories} stories (had {have}) …", flush=True)
        call_command("seed_demo", stories=stories, replace=reseed)
    elif have != stories:
        print(f"note: the archive holds {have} stories, not {stories} (--reseed to rebuild)")
    norway = Country.objects.get(slug="norway")
    listing = Story.objects.visible().for_country(norway).newest_first()
    story = (
        Story.objects.visible()
        .filter(related_slots__target__isnull=False)
        .newest_first()
        .values_list("pk", flat=True)
        .first()
    )
    # The page a reader reaches after following "Older stories" 50 times (page 51).
    far = listing.values_list("published_at", "pk")[50 * 20 - 1 : 50 * 20]
    stamp, pk = far[0]
    cursor = f"{stamp.astimezone(django_utc()):%Y-%m-%dT%H:%M:%S.%fZ},{pk}"
    source = Source.objects.order_by("slug").values_list("slug", flat=True).first()
    storyline = (
        Storyline.objects.filter(hidden=False, merged_into__isnull=True)
        .order_by("-last_published_at")
        .values_list("slug", flat=True)
        .first()
    )
    connection.close()
    pages = {
        "home /": "/",
        "/country/norway/": "/country/norway/",
        "/topic/shipping/": "/topic/shipping/",
        f"/source/{source}/": f"/source/{source}/",
        "a story page": f"/story/{story}/",
        "/search/?q=icebreaker": "/search/?q=icebreaker",
        "/feed/": "/feed/",
        "country page 50 × next": f"/country/norway/?before={cursor}",
    }
    if storyline:  # seed_demo makes none; an archive that ingested real feeds has them
        pages["a storyline page"] = f"/storyline/{storyline}/"
    return pages


def django_utc():
    from datetime import UTC

    return UTC


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn arcticnews.wsgi -w 2`` (sync workers), as ``make serve`` runs it."""

    def __init__(self, settings_module: str, workers: int, port: int | None = None) -> None:
        self.port = port or free_port()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "DEBUG": "false"}
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "arcticnews.wsgi",
                "--pythonpath",
                str(BENCH),
                "-w",
                str(workers),
                "-k",
                "sync",
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.base + "/bench/static/", timeout=5).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.3)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def warm(base: str, path: str) -> None:
    """Two requests: one fills the caches, one checks the page is there."""
    for _ in range(2):
        with urllib.request.urlopen(base + path, timeout=60) as response:
            response.read()
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(url: str, duration: int, threads: int, connections: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        match = re.search(pattern, out)
        errors += int(match.group(1)) if match else 0
    if errors:
        print(f"{url}: {errors} errors or timeouts\n{out}", file=sys.stderr)
    return Result(rps, p50, p99, errors)


def median_result(results: list[Result]) -> Result:
    return Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def explain(pages: dict[str, str]) -> None:
    """Each page's queries, rendered uncached, with EXPLAIN (ANALYZE, BUFFERS)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    client = Client()
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):  # Django's test signals reset the cache handler
        for name, path in pages.items():
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            print(f"\n=== {name} ({path}): HTTP {response.status_code}, {len(captured)} queries")
            for query in captured.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                    plan = [row[0] for row in cursor.fetchall()]
                total = next((p for p in plan if p.startswith("Execution Time")), "")
                print(f"\n-- {sql[:300]}{' …' if len(sql) > 300 else ''}\n   {total}")
                print("\n".join("   " + line for line in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--reseed", action="store_true", help="delete the archive and seed again")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--only", help="comma-separated words: run only pages whose name has one")
    parser.add_argument("--explain", action="store_true", help="print query plans, no load")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--port",
        type=int,
        help="the cached gunicorn's port, the uncached one's is the next (default: free ports)",
    )
    args = parser.parse_args()

    if not args.explain and shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian's package)")
    ensure_database(os.environ["DATABASE_URL"])
    pages = prepare(args.stories, args.reseed)
    if args.only:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        pages = {name: path for name, path in pages.items() if any(w in name for w in words)}
    if args.explain:
        explain(pages)
        return

    runs = [
        Run("static bytes", "cached", "/bench/static/"),
        Run("template only (no database)", "cached", "/bench/template/"),
        Run(
            "cache_page (Redis)" if os.environ.get("REDIS_URL") else "cache_page",
            "cached",
            "/bench/cache-page/",
        ),
    ]
    for name, path in pages.items():
        runs += [Run(name, "cached", path), Run(name, "uncached", path)]
    load_before = os.getloadavg()
    # Stopped from outside: still stop the gunicorns (they run in sessions of their own).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    servers = {}
    try:
        ports = (args.port, args.port + 1) if args.port else (None, None)
        servers["cached"] = Gunicorn("ceiling_settings", args.workers, ports[0])
        servers["uncached"] = Gunicorn("ceiling_settings_uncached", args.workers, ports[1])
        for run in runs:
            warm(servers[run.server].base, run.path)
        results: dict[Run, list[Result]] = {run: [] for run in runs}
        for round_no in range(args.rounds):
            shift = round_no * len(runs) // max(args.rounds, 1)
            for run in runs[shift:] + runs[:shift]:
                url = servers[run.server].base + run.path
                results[run].append(wrk(url, args.duration, args.threads, args.connections))
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    load_after = os.getloadavg()

    figures = {run: median_result(values) for run, values in results.items()}
    template = figures[runs[1]].rps
    cache_page = figures[runs[2]].rps
    print(
        f"\n{args.stories:,} stories requested; gunicorn -w {args.workers} sync; wrk "
        f"-t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} "
        f"rounds; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"(on {os.cpu_count()} cores)\n"
    )
    print(f"{'ceiling':<30}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for run in runs[:3]:
        r = figures[run]
        print(f"{run.name:<30}{r.rps:>9.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}")
    print(
        f"\n{'page':<26}{'cached':>9}{'p99':>7}{'÷cache_page':>12}"
        f"{'uncached':>10}{'p50':>8}{'p99':>8}{'÷template':>10}{'errors':>8}"
    )
    out = {"stories": args.stories, "ceilings": {}, "pages": {}}
    for run in runs[:3]:
        out["ceilings"][run.name] = vars(figures[run])
    for name in pages:
        c = figures[Run(name, "cached", pages[name])]
        u = figures[Run(name, "uncached", pages[name])]
        print(
            f"{name:<26}{c.rps:>9.0f}{c.p99_ms:>7.0f}{c.rps / cache_page:>12.2f}"
            f"{u.rps:>10.1f}{u.p50_ms:>8.0f}{u.p99_ms:>8.0f}{u.rps / template:>10.3f}"
            f"{c.errors + u.errors:>8}"
        )
        out["pages"][name] = {
            "path": pages[name],
            "cached": vars(c),
            "uncached": vars(u),
            "cached_vs_cache_page": c.rps / cache_page,
            "uncached_vs_template": u.rps / template,
        }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
