"""Tagging benchmark: stories per second of ``feeds.tagging.tagger.tag`` in one process.

Two corpora, reported apart: "sets", every labelled story in tests/data/ (headline and
teaser, as ``evaluate_tagging`` measures), and "feeds", every item of the fixture and sample
feeds (headline, the first 800 characters of teaser/body, categories, byline), tagged as
ingest tags them. With ``--baseline REV`` the same corpus is also tagged by the tagger at
git revision REV (extracted to a temporary directory), in a second process, in rounds that
alternate between the two, so the shared machine's noise hits both alike; the report gives
the medians and their ratio. Each round is timed twice: by the wall clock, and by the
process's own CPU time ("cpu"), which other processes on a busy shared machine barely
disturb (stories per CPU-second of one process: what one worker can tag when it has a core).
``--profile`` instead runs this tree's tagger under pyinstrument and prints where time goes.

    .venv/bin/python bench/tagging_bench.py --rounds 7 --baseline main
    .venv/bin/python bench/tagging_bench.py --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT_LIMIT = 800  # as feeds.tagging.store.TEXT_LIMIT


def corpus() -> dict[str, list[dict[str, object]]]:
    """The stories as TagInput fields (built with Django, which parsing needs)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
    import django

    django.setup()
    from feeds.ingest.parsing import parse_feed
    from feeds.text.sanitizing import leading_text

    items: list[dict[str, object]] = []
    out = {"sets": items}
    for path in sorted((ROOT / "tests" / "data").glob("tagging_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                raw = json.loads(line)
                items.append(
                    {
                        "title": raw.get("title", ""),
                        "text": raw.get("teaser", ""),
                        "categories": list(raw.get("categories") or ()),
                        "outlet": raw.get("outlet", ""),
                        "source_name": raw.get("source", ""),
                        "source_country": raw.get("source_country", ""),
                        "language": raw.get("language", ""),
                    }
                )
    items = out["feeds"] = []
    feeds = sorted((ROOT / "tests" / "fixtures").rglob("*.xml"))
    feeds += sorted((ROOT / "feeds" / "ingest" / "sample_feeds").glob("*.xml"))
    for path in feeds:
        parsed = parse_feed(path.read_bytes(), url="https://bench.example.org/feed")
        for e in parsed.entries:
            items.append(
                {
                    "title": e.title,
                    "text": leading_text(e.summary_html or e.content_html, TEXT_LIMIT),
                    "categories": list(e.categories),
                    "outlet": e.original_outlet,
                    "source_name": "",
                    "source_country": "",
                    "language": e.language,
                }
            )
    return out


def worker(root: str, corpus_path: str, seconds: float) -> None:
    """Tag each corpus once per line read from stdin; print {corpus: stories/s} per round."""
    sys.path.insert(0, root)
    from feeds.tagging.tagger import tag
    from feeds.types import TagInput

    raw = json.loads(Path(corpus_path).read_text(encoding="utf-8"))
    corpora = {
        name: [TagInput(**{**r, "categories": tuple(r["categories"])}) for r in rows]
        for name, rows in raw.items()
    }
    for inputs in corpora.values():  # warm the per-word caches, as a long-running worker has
        for inp in inputs:
            tag(inp)
    print("ready", flush=True)
    for _ in sys.stdin:
        speeds = {}
        for name, inputs in corpora.items():
            done, started, cpu = 0, time.perf_counter(), time.process_time()
            while True:
                for inp in inputs:
                    tag(inp)
                done += len(inputs)
                elapsed = time.perf_counter() - started
                if elapsed >= seconds:
                    break
            speeds[name] = done / elapsed
            speeds[name + " cpu"] = done / max(time.process_time() - cpu, 1e-9)
        print(json.dumps(speeds), flush=True)


def profile(corpus_path: str, seconds: float) -> None:
    """Where this tree's tagger spends its time on both corpora (pyinstrument)."""
    from pyinstrument import Profiler

    sys.path.insert(0, str(ROOT))
    from feeds.tagging.tagger import tag
    from feeds.types import TagInput

    raw = json.loads(Path(corpus_path).read_text(encoding="utf-8"))
    inputs = [
        TagInput(**{**r, "categories": tuple(r["categories"])})
        for rows in raw.values()
        for r in rows
    ]
    for inp in inputs:
        tag(inp)
    profiler = Profiler(interval=0.0002)
    profiler.start()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for inp in inputs:
            tag(inp)
    profiler.stop()
    print(profiler.output_text(color=False, show_all=False))


def start(root: Path, corpus_path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(root), str(corpus_path), str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"the tagger under {root} did not start")
    return proc


def ask(proc: subprocess.Popen[str]) -> dict[str, float]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    speeds: dict[str, float] = json.loads(proc.stdout.readline())
    return speeds


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and variant")
    parser.add_argument("--baseline", help="a git revision to compare with, e.g. main")
    parser.add_argument("--profile", action="store_true", help="profile this tree instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        items = corpus()
        corpus_path = Path(tmp) / "corpus.json"
        corpus_path.write_text(json.dumps(items), encoding="utf-8")
        if args.profile:
            profile(str(corpus_path), args.seconds)
            return
        variants = {"this tree": start(ROOT, corpus_path, args.seconds)}
        if args.baseline:
            base = Path(tmp) / "baseline"
            base.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.baseline, "feeds"], cwd=ROOT, capture_output=True
            )
            if archive.returncode:
                raise SystemExit(archive.stderr.decode())
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
            variants[args.baseline] = start(base, corpus_path, args.seconds)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        names = list(variants)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                results[name].append(ask(variants[name]))
        for proc in variants.values():
            proc.terminate()
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in items.items())
    print(f"stories: {sizes}; {args.rounds} rounds of {args.seconds:.1f} s per corpus")
    for corpus_name in [f"{c}{clock}" for c in items for clock in ("", " cpu")]:
        for name, runs in results.items():
            speeds = [run[corpus_name] for run in runs]
            print(
                f"{corpus_name:<10} {name:<12} median {statistics.median(speeds):>8.0f} stories/s"
                f" (min {min(speeds):.0f}, max {max(speeds):.0f})"
            )
        if args.baseline:
            ratios = [
                a[corpus_name] / b[corpus_name]
                for a, b in zip(results["this tree"], results[args.baseline], strict=True)
            ]
            print(
                f"{corpus_name:<10} this tree / {args.baseline}: median ratio"
                f" {statistics.median(ratios):.3f}"
            )


if __name__ == "__main__":
    main()
