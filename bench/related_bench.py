"""Related-box benchmark: suggesting one box in a large PostgreSQL archive (100,000 or
1,000,000 stories).

The archive is ``manage.py seed_demo``'s (the default outlets' synthetic ten years, with tags,
copies, hidden stories and boxes): made once in the bench database when it holds fewer stories
than ``--stories`` (``--reseed`` makes it anew), kept for reruns. Then times, for ``--samples``
random visible stories of the archive's last 30 days, ``related.suggest`` (cold: the per-process
profile cache emptied before every call; warm: as a running worker has it) and
``related.refresh_box`` (warm), with median, p95 and p99 in milliseconds. The baseline, timed
in the same run on the same database, is the home page's indexed query
(``Story.objects.visible().newest_first()[:20]``), so the ratio cancels out the noisy shared
machine; the load average is printed beside the figures. Also shown: the index plan of one
candidate query (it must use ``story_related_terms_idx``) and ``boxes_affected_by`` for batches
of new stories (the bounded refresh work per new story: the similar boxes, and those with an
empty line for the new story's country).

``--read-only`` times nothing that writes (no migrate, no seeding, no ``refresh_box``): for
an archive shared with others, such as ``arcticnews_1m``.

    .venv/bin/python bench/related_bench.py                 # seed if needed, then time
    .venv/bin/python bench/related_bench.py --reseed --stories 100000 --samples 200
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arcticnews_1m \
        .venv/bin/python bench/related_bench.py --read-only --stories 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arcticnews_related_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
os.environ.pop("REDIS_URL", None)  # no broker, no shared cache: we time the database work

from bench.database import ensure_database  # noqa: E402  (ROOT is on the path from here on)


def seed(n: int, reseed: bool) -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("seed_demo", stories=n, replace=reseed or None)
    print(f"seeded {n} stories in {time.perf_counter() - started:.1f}s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reseed", action="store_true", help="make the archive anew")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--read-only", action="store_true", help="time nothing that writes")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    if not args.read_only:
        ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from feeds.models import Story
    from feeds.related import boxes as related
    from feeds.related import candidates, profiles

    if not args.read_only:
        call_command("migrate", verbosity=0)
        have = Story.objects.count()
        if args.reseed or have < args.stories:
            print(f"seeding {args.stories} stories (had {have}) …")
            seed(args.stories, args.reseed or have > 0)
    total = Story.objects.count()
    newest = (
        Story.objects.visible().order_by("-published_at").values_list("published_at", flat=True)[0]
    )
    recent = list(
        Story.objects.visible()
        .filter(published_at__gte=newest - timedelta(days=30))
        .values_list("pk", flat=True)
    )
    rng = random.Random(args.seed)
    sample = rng.sample(recent, min(args.samples, len(recent)))
    load_before = os.getloadavg()
    print(f"database: {total} stories; timing {len(sample)} stories of the last 30 days")

    corpus_ms = timed(candidates.term_statistics)  # once per process and per 10 minutes
    baseline = [timed(lambda: list(Story.objects.visible().newest_first()[:20])) for _ in sample]
    cold, warm, refresh, sizes = [], [], [], []
    for pk in sample:
        story = Story.objects.get(pk=pk)
        profiles.clear()
        cold.append(timed(related.suggest, story))
    for pk in sample:
        story = Story.objects.get(pk=pk)
        start = time.perf_counter()
        ranked = related.suggest(story)
        warm.append((time.perf_counter() - start) * 1000)
        sizes.append(sum(1 for lst in ranked.values() if lst))
    if not args.read_only:
        for pk in sample:
            story = Story.objects.get(pk=pk)
            refresh.append(timed(related.refresh_box, story))
    # The refresh work a batch of new stories brings: which boxes they may improve (one
    # index query each), and re-suggesting those boxes.
    new_batch = sorted(recent)[-20:]
    affected_ms = timed(related.boxes_affected_by, new_batch)
    affected = related.boxes_affected_by(new_batch)
    # Of which boxes with an empty line for a new story's country (RelatedGap: one indexed
    # query per new story, at most GAPS_PER_STORY boxes each).
    news = list(Story.objects.filter(pk__in=new_batch))
    gaps_ms = timed(related.gaps_filled_by, news, new_batch)
    gap_boxes = related.gaps_filled_by(news, new_batch)
    if args.read_only:
        boxes = list(Story.objects.filter(pk__in=affected))
        refresh_all_ms = sum(timed(related.suggest, story) for story in boxes)
    else:
        refresh_all_ms = timed(related.refresh_boxes, affected)
    load_after = os.getloadavg()

    # The plan of one story's candidate query, as the code sends it.
    story = Story.objects.get(pk=sample[0])
    _, _, words, _ = candidates.profile_of(story)
    with CaptureQueriesContext(connection) as captured:
        candidates.candidates(story, words)
    sql = next(q["sql"] for q in captured.captured_queries if "WITH q AS" in q["sql"])
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = "\n".join(row[0] for row in cur.fetchall())
    uses_index = "story_related_terms_idx" in plan

    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"{name:<34}{'(not timed: --read-only)':>37}"
        med, p95, p99 = (
            statistics.median(values),
            percentile(values, 0.95),
            percentile(values, 0.99),
        )
        ratio = med / statistics.median(baseline)
        return f"{name:<34}{med:>9.1f}{p95:>9.1f}{p99:>9.1f}{ratio:>9.1f}x"

    print(f"{'':<34}{'median':>9}{'p95':>9}{'p99':>9}{'vs base':>10}   (ms)")
    print(line("baseline: newest 20 visible", baseline))
    print(line("suggest(), cold profile cache", cold))
    print(line("suggest(), warm", warm))
    print(line("refresh_box(), warm", refresh))
    print(f"term statistics (once per 10 min): {corpus_ms:.0f} ms")
    n = len(new_batch)
    print(
        f"{n} new stories: boxes_affected_by {affected_ms:.0f} ms ({affected_ms / n:.0f} ms a "
        f"story), {len(affected)} boxes to refresh (at most "
        f"{related.REFRESH_PER_STORY} + {related.GAPS_PER_STORY} a story), "
        f"refreshing them {refresh_all_ms:.0f} ms"
        + (" (suggest only: --read-only)" if args.read_only else "")
    )
    print(
        f"  of which {len(gap_boxes)} boxes with an empty line for a new story's country "
        f"(found in {gaps_ms:.1f} ms, {gaps_ms / n:.2f} ms a story)"
    )
    print(f"refresh cost per new story: {(affected_ms + refresh_all_ms) / n:.0f} ms")
    print(f"countries with a candidate per box: median {statistics.median(sizes):.0f} of 8")
    print(
        f"query words in the sample plan: {len(words)}; story_related_terms_idx used: {uses_index}"
    )
    print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; after "
        + ", ".join(f"{v:.2f}" for v in load_after)
    )
    if args.json:
        figures = {
            "stories": total,
            "samples": len(sample),
            "baseline_median_ms": statistics.median(baseline),
            "suggest_cold_median_ms": statistics.median(cold),
            "suggest_cold_p95_ms": percentile(cold, 0.95),
            "suggest_cold_p99_ms": percentile(cold, 0.99),
            "suggest_warm_median_ms": statistics.median(warm),
            "suggest_warm_p99_ms": percentile(warm, 0.99),
            "boxes_affected_by_ms_per_story": affected_ms / n,
            "gap_boxes": len(gap_boxes),
            "gaps_filled_by_ms_per_story": gaps_ms / n,
            "refresh_per_new_story_ms": (affected_ms + refresh_all_ms) / n,
            "gin_index_used": uses_index,
            "load_average": [load_before, load_after],
        }
        if refresh:
            figures["refresh_box_median_ms"] = statistics.median(refresh)
            figures["refresh_box_p99_ms"] = percentile(refresh, 0.99)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
