"""Storylines benchmark: the cost of placing one new story with a large archive.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arcticnews_h22_bench \\
        .venv/bin/python bench/storylines_bench.py [--stories 100000] [--samples 300]

The database is filled once by ``manage.py seed_demo --stories N`` (an empty PostgreSQL
database; kept for reruns) and then given storylines as a running site would have them:

* the stories of the last ``scoring.WINDOW`` (three weeks: the only storylines a new story
  can join) are placed one by one by ``feeds.storylines.assign``, exactly as the worker
  places them, except the newest ``--samples``, which are the stories timed;
* every older story is given a storyline of its own in bulk SQL, with ``INDEX_TERMS`` rows
  in the term index drawn from the recent storylines' own terms, so the index holds as many
  entries per term as a real archive of that size and the window has to be found in it.

Then each of the held-back stories is placed, oldest first, and timed (``assign.place``:
signature, the candidate query, scoring, the writes, in its transaction). Reported: median,
p95, p99 and max in milliseconds, and as a ratio to the baseline timed in the same run on the
same database (the home page's indexed query), which cancels out the shared machine's noise;
plus the candidate query's plan, which must read ``storylineterm_recent_idx``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arcticnews_h22_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
os.environ.pop("REDIS_URL", None)  # no broker, no shared cache: we time the database work

from bench.database import ensure_database  # noqa: E402

INDEX_TERMS = 16  # index rows of an old storyline (scoring.index_keys gives 10-18)
BULK = "bench--"  # the bulk storylines' slugs: never a slugify() result (no double hyphen)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def seed(stories: int) -> None:
    from django.core.management import call_command

    from feeds.models import Story

    if not Story.objects.exists():
        print(f"seeding {stories:,} stories (manage.py seed_demo) …", flush=True)
        call_command("seed_demo", stories=stories)


def build_storylines(samples: int) -> list[int]:
    """Storylines as a running site has them; returns the held-back stories' ids."""
    from django.db import connection
    from django.db.models import Max

    from feeds.models import Story, Storyline, StorylineMembership, StorylineTerm
    from feeds.storylines import assign, scoring

    visible = Story.objects.visible().articles()
    newest = visible.aggregate(m=Max("published_at"))["m"]
    since = newest - scoring.WINDOW
    recent = list(
        visible.filter(published_at__gte=since)
        .order_by("published_at", "id")
        .values_list("pk", flat=True)
    )
    held, to_place = recent[-samples:], recent[:-samples]
    if Storyline.objects.filter(slug__startswith=BULK).exists():
        print("storylines already built (kept from an earlier run)")
        return held
    started = time.perf_counter()
    placed = set(
        StorylineMembership.objects.filter(story_id__in=to_place).values_list("story_id", flat=True)
    )
    to_place = [pk for pk in to_place if pk not in placed]  # a run stopped half-way resumes
    for i in range(0, len(to_place), 200):
        assign.assign(to_place[i : i + 200])
    print(
        f"placed the window's {len(to_place):,} stories one by one in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    terms = list(StorylineTerm.objects.values_list("term", flat=True).distinct()[:5000])
    old = visible.filter(published_at__lt=since).count()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # One storyline per older story, dated like it, each with INDEX_TERMS index rows of
        # terms real storylines have (so each term has its share of the old entries).
        line, member, term = (
            Storyline._meta.db_table,
            "feeds_storylinemembership",
            StorylineTerm._meta.db_table,
        )
        cursor.execute(
            f"""
            INSERT INTO {line} (slug, title, title_set_by_editor, hidden, created_at,
                updated_at, first_published_at, last_published_at, story_count,
                country_count, outlet_count, profile)
            SELECT %s || s.id, left(s.title, 300), false, false, s.published_at,
                s.published_at, s.published_at, s.published_at, 1, 1, 1, '{{}}'::jsonb
            FROM feeds_story s
            WHERE s.published_at < %s AND NOT s.is_hidden AND s.canonical_id IS NULL
              AND s.kind = 'story'
        """,
            [BULK, since],
        )
        cursor.execute(
            f"""
            INSERT INTO {member} (story_id, storyline_id, pinned, score, joined_at)
            SELECT substr(l.slug, %s)::bigint, l.id, false, 1.0, l.created_at
            FROM {line} l WHERE l.slug LIKE %s
        """,
            [len(BULK) + 1, BULK + "%"],
        )
        cursor.execute(
            f"""
            INSERT INTO {term} (storyline_id, term, last_published_at)
            SELECT l.id, (%s::text[])[1 + (abs(hashtext(l.slug || k::text)) %% %s)],
                l.last_published_at
            FROM {line} l CROSS JOIN generate_series(1, %s) k
            WHERE l.slug LIKE %s
            ON CONFLICT DO NOTHING
        """,
            [terms, len(terms), INDEX_TERMS, BULK + "%"],
        )
        cursor.execute(f"ANALYZE {line}; ANALYZE {term}; ANALYZE {member}")
    print(
        f"gave the {old:,} older stories storylines and index rows in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from feeds.models import Story, StorylineMembership, StorylineTerm
    from feeds.storylines import assign, scoring

    call_command("migrate", verbosity=0)
    seed(args.stories)
    held = build_storylines(args.samples)
    print(
        f"archive: {Story.objects.count():,} stories, "
        f"{StorylineTerm.objects.count():,} index rows; timing {len(held)} new stories"
    )

    # The candidate query's plan, for one held-back story.
    story = Story.objects.get(pk=held[0])
    stats = assign.statistics()
    sig = assign.story_signature(story.title, story.summary, story.content, story.published_at)
    keys = scoring.query_keys(sig, stats)
    ids = StorylineTerm.objects.filter(
        term__in=keys, last_published_at__gte=sig.published_at - scoring.WINDOW
    ).values("storyline_id")
    plan = ids.explain()
    print("candidate query plan:", "storylineterm_recent_idx" in plan and "uses the index" or plan)

    placed: list[float] = []
    baseline: list[float] = []
    created = 0
    try:
        with transaction.atomic():  # rolled back: the bench database stays as seeded
            for pk in held:
                s = (
                    Story.objects.select_related("primary_country")
                    .only(
                        "pk", "title", "summary", "content", "published_at", "primary_country__slug"
                    )
                    .get(pk=pk)
                )
                t0 = time.perf_counter()
                result = assign.place(s)
                placed.append((time.perf_counter() - t0) * 1000)
                created += result.created
                t0 = time.perf_counter()
                list(Story.objects.visible().newest_first().values_list("pk", flat=True)[:20])
                baseline.append((time.perf_counter() - t0) * 1000)
            joined = StorylineMembership.objects.filter(story_id__in=held).count()
            raise KeyboardInterrupt  # roll back
    except KeyboardInterrupt:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('storylineterm_recent_idx'))")
        size = cursor.fetchone()[0]
    base = statistics.median(baseline)
    print(
        f"\nplace one new story ({len(placed)} stories, {created} started a storyline, "
        f"{joined - created} joined one):"
    )
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        value = percentile(placed, q)
        print(f"  {name}: {value:7.1f} ms   ({value / base:5.1f} × the baseline)")
    print(f"baseline (home page's indexed query) median: {base:.2f} ms")
    print(f"term index size: {size}")


if __name__ == "__main__":
    main()
