"""How live is `make run`? Two figures, on the embedded default and on PostgreSQL + Redis:

* from `make run` (fresh var/ and database, installed virtualenv) to the first page served;
* from a new item on a loopback feed whose poll is due to that item on `/` (median of N), with
  beat looking for due feeds every --poll seconds (production: 60; each feed's own schedule,
  10 minutes or more, comes on top).

    python bench/live_bench.py                       # embedded default only
    python bench/live_bench.py --postgres postgres://postgres@127.0.0.1:5432/an_bench \\
        --redis redis://127.0.0.1:6379/6 --cache-redis redis://127.0.0.1:6379/7

Not a test: it prints figures (and the machine's load, which moves them).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtureserver import FixtureServer  # noqa: E402
from tests.test_live_embedded import free_port, get, rss  # noqa: E402


def make_run(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen, float, str]:
    """Start `make run`; return it, the seconds to the first page, and where they went."""
    started = time.monotonic()
    steps: list[tuple[float, str]] = []  # make echoes each command as it starts it

    def record(pipe) -> None:
        with open(log, "wb") as out:
            for line in pipe:
                out.write(line)
                out.flush()
                text = line.decode(errors="replace")
                if "manage.py " in text and not text.startswith(" "):
                    command = text.split("manage.py ", 1)[1].split()[0]
                    steps.append((time.monotonic() - started, command))

    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}", "WORKERS=1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    threading.Thread(target=record, args=(proc.stdout,), daemon=True).start()
    while "<html" not in get(f"http://127.0.0.1:{port}/"):
        if proc.poll() is not None:
            time.sleep(0.5)  # let the reader write the last lines
            # The log is in a temporary directory that is about to go: show its end.
            tail = log.read_text(errors="replace").splitlines()[-40:]
            raise SystemExit("make run exited:\n" + "\n".join(tail))
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    marks = [*steps, (elapsed, "")]
    split = ", ".join(
        f"{command} {marks[i + 1][0] - at:.1f}" for i, (at, command) in enumerate(steps)
    )
    return proc, elapsed, split


def make_due(env: dict[str, str], var: Path) -> None:
    now = datetime.now(UTC)
    if "DATABASE_URL" in env:
        import psycopg2

        with psycopg2.connect(env["DATABASE_URL"]) as db, db.cursor() as cur:
            cur.execute(
                "UPDATE feeds_feed SET next_fetch_at = %s WHERE url LIKE 'http://127.0.0.1:%%'",
                [now],
            )
    else:
        with sqlite3.connect(var / "arcticnews.sqlite3") as db:
            db.execute(
                "UPDATE feeds_feed SET next_fetch_at = ? WHERE url LIKE 'http://127.0.0.1:%'",
                (now.strftime("%Y-%m-%d %H:%M:%S.%f"),),
            )


def measure(name: str, env: dict[str, str], runs: int) -> None:
    var = Path(env["ARCTICNEWS_VAR_DIR"])
    var.mkdir(parents=True)
    port = free_port()
    proc, startup, split = make_run(env, port, var.parent / f"{name}.log")
    latencies = []
    try:
        with FixtureServer() as server:
            items = [("b0", "Bench item zero from Hammerfest")]
            server.add("/bench.xml", rss(items))
            subprocess.run(
                [
                    sys.executable,
                    "manage.py",
                    "addfeed",
                    server.url("/bench.xml"),
                    "--source",
                    "Bench",
                    "--no-check",
                ],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            for n in range(1, runs + 1):
                title = f"Bench item {n} from Hammerfest"
                items.insert(0, (f"b{n}", title))
                server.add("/bench.xml", rss(items))
                make_due(env, var)
                t0 = time.monotonic()
                while title not in get(f"http://127.0.0.1:{port}/"):
                    if time.monotonic() - t0 > 300:
                        raise SystemExit(f"{name}: item {n} never appeared")
                    time.sleep(0.1)
                latencies.append(time.monotonic() - t0)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    print(
        f"{name}: make run -> first page {startup:.1f} s; new item -> / median "
        f"{statistics.median(latencies):.1f} s (runs: {', '.join(f'{x:.1f}' for x in latencies)})"
        f"\n  first page, step by step (s): {split}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll", type=int, default=5, help="FEEDS_POLL_SECONDS")
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (created)")
    parser.add_argument("--redis")
    parser.add_argument("--cache-redis")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL"}
    }
    base.update(FEEDS_ALLOW_PRIVATE_ADDRESSES="true", FEEDS_POLL_SECONDS=str(args.poll))
    with tempfile.TemporaryDirectory() as tmp:
        measure("embedded", dict(base, ARCTICNEWS_VAR_DIR=f"{tmp}/embedded/var"), args.runs)
        if args.postgres:
            name = args.postgres.rsplit("/", 1)[1]
            subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", name])
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
            env = dict(
                base,
                ARCTICNEWS_VAR_DIR=f"{tmp}/pg/var",
                DATABASE_URL=args.postgres,
                REDIS_URL=args.redis or "redis://127.0.0.1:6379/0",
                CACHE_REDIS_URL=args.cache_redis or args.redis or "",
            )
            measure("postgresql+redis", env, args.runs)


if __name__ == "__main__":
    main()
