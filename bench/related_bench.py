"""Related-box benchmark: suggesting one box with 100,000 stories in PostgreSQL.

Seeds a bench database once (kept for reruns; ``--reseed`` starts over), then times, for 200
random recent stories, ``related.suggest`` (cold: the per-process profile cache emptied
before every call; warm: as a running worker has it) and ``related.refresh_box`` (warm),
and reports median and p95 in milliseconds. The baseline, timed in the same run on the same
database, is the home page's indexed query (``Story.objects.visible().newest_first()[:20]``),
so the ratio cancels out the noisy shared machine. Also shown: the index plan of one
candidate query (it must use ``story_search_idx``) and ``boxes_affected_by`` for a batch of
new stories (the bounded refresh work per new story).

The seeded stories are synthetic: headlines, teasers and bodies from subject vocabularies
(the suggester's own concept lexicon, places from the tagger's gazetteer, common news
words), 274 a day over a year, 1-2 country and topic tags each, 3% linked copies, 0.5%
hidden; search vectors are built with one UPDATE per configuration, as
``search.update_search_vectors`` builds them.

    .venv/bin/python bench/related_bench.py                 # seed if needed, then time
    .venv/bin/python bench/related_bench.py --reseed --stories 100000 --samples 200
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python bench/related_bench.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/arcticnews_related_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
os.environ.pop("REDIS_URL", None)  # no broker, no shared cache: we time the database work

from bench.database import ensure_database  # noqa: E402  (ROOT is on the path from here on)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GENERIC = """government minister ministry council plan plans new report year people local
regional national says said according officials company project million support decision
meeting week agreement local residents community communities leaders future work workers
jobs money budget funding cost costs price prices state public private international
region area town city municipality director chairman president spokesperson expert
experts proposal law rules change changes increase growth record first largest small
important problem problems concern concerns question questions issue issues process
response criticism warning warnings official talks cooperation development investment
investors industry market markets economy data figures numbers time season summer winter
autumn spring month months years decade history future""".split()
VERBS = """announces approves rejects plans opens closes expands cuts raises warns seeks
wins loses faces signs launches delays backs blocks starts ends boosts""".split()


class Generator:
    """Synthetic stories: a subject (from the concept lexicon) in a country's places."""

    def __init__(self, rng: random.Random) -> None:
        from feeds.related.words import VOCABULARY
        from feeds.tagging import gazetteer as gz

        self.rng = rng
        self.subjects = [
            [w for w in concept.words if w.isalpha()] for concept in VOCABULARY.concepts
        ]
        self.places = {
            country: [t for t in kinds.get("place", ()) if t.isascii() and t.isalpha()][:60]
            for country, kinds in gz.GAZETTEER.items()
        }
        self.countries = list(self.places)
        self.weights = [1.0 / (i + 1) for i in range(len(GENERIC))]  # Zipf-like

    def words(self, subject: list[str], place: str, n: int, share: float) -> list[str]:
        rng = self.rng
        k = max(1, int(n * share))
        out = rng.choices(subject, k=k) + rng.choices(GENERIC, weights=self.weights, k=n - k)
        rng.shuffle(out)
        out.insert(rng.randrange(len(out)), place)
        return out

    def story(self) -> tuple[str, str, str, str, int, int]:
        rng = self.rng
        country = rng.choice(self.countries)
        subject_i = rng.randrange(len(self.subjects))
        subject = self.subjects[subject_i]
        place = rng.choice(self.places[country])
        title = " ".join(
            [place, rng.choice(VERBS), *rng.choices(subject, k=3), rng.choice(GENERIC)]
        ).capitalize()
        teaser = ". ".join(
            " ".join(self.words(subject, place, rng.randint(12, 20), 0.3)).capitalize()
            for _ in range(2)
        )
        body = "".join(
            "<p>" + " ".join(self.words(subject, place, rng.randint(30, 60), 0.15)) + ".</p>"
            for _ in range(rng.randint(2, 5))
        )
        return country, title, f"<p>{teaser}.</p>", body, subject_i, len(body)


def seed(n: int, rng: random.Random) -> None:
    from django.db import connection

    from feeds.models import (
        Country,
        Feed,
        RelatedSlot,
        Source,
        Story,
        StoryCountry,
        StoryTopic,
        Topic,
    )

    started = time.perf_counter()
    with connection.cursor() as cur:
        for model in (RelatedSlot, StoryCountry, StoryTopic, Story, Feed, Source):
            cur.execute(f"TRUNCATE {model._meta.db_table} RESTART IDENTITY CASCADE")
    countries = {c.slug: c.pk for c in Country.objects.all()}
    topics = list(Topic.objects.values_list("pk", flat=True))
    gen = Generator(rng)
    sources = []
    for i in range(40):
        home = gen.countries[i % len(gen.countries)]
        source = Source.objects.create(
            name=f"Bench Outlet {i}", slug=f"bench-outlet-{i}", country_id=countries[home]
        )
        feed = Feed.objects.create(source=source, url=f"https://bench{i}.example.org/feed/")
        sources.append((source.pk, feed.pk, home))

    stories, tags, topic_rows = io.StringIO(), io.StringIO(), io.StringIO()
    span = timedelta(days=365)
    canonical_pool: list[tuple[int, datetime]] = []

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")

    for pk in range(1, n + 1):
        country, title, teaser, body, subject_i, _ = gen.story()
        source_id, feed_id, home = rng.choice(sources)
        published = NOW - span * (1 - pk / n) - timedelta(minutes=rng.randint(0, 600))
        canonical = ""
        hidden = "f"
        roll = rng.random()
        if roll < 0.03 and canonical_pool:
            canonical = str(rng.choice(canonical_pool[-200:])[0])
        elif roll < 0.035:
            hidden = "t"
        else:
            canonical_pool.append((pk, published))
        language = "en" if rng.random() < 0.85 else ""
        row = [
            str(pk),
            str(feed_id),
            str(source_id),
            f"bench-{pk}",
            f"https://bench.example.org/{pk}",
            esc(title),
            esc(teaser),
            esc(body),
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            language,
            "[]",
            published.isoformat(),
            published.isoformat(),
            published.isoformat(),
            published.isoformat(),
            f"{pk:064x}",
            esc(title.lower())[:300],
            f"bench.example.org/{pk}",
            "",
            hidden,
            canonical or "\\N",
            str(countries[country]),
            "f",
            published.isoformat(),
            "f",
        ]
        stories.write("\t".join(row) + "\n")
        tags.write(f"{pk}\t{countries[country]}\tsystem\tf\t1.0\t{published.isoformat()}\n")
        if rng.random() < 0.25:
            other = rng.choice([c for c in countries if c != country])
            tags.write(f"{pk}\t{countries[other]}\tsystem\tf\t0.5\t{published.isoformat()}\n")
        for topic in rng.sample(topics, rng.randint(1, 2)):
            topic_rows.write(f"{pk}\t{topic}\tsystem\tf\t0.0\t{published.isoformat()}\n")
    columns = (
        "id, feed_id, source_id, guid, link, title, summary, content, raw_content, byline, "
        "author, original_outlet, image_url, image_caption, image_credit, language, "
        "categories, published_at, source_published_at, first_seen_at, last_seen_at, "
        "content_hash, title_key, url_key, lead_key, is_hidden, canonical_id, "
        "primary_country_id, primary_set_by_editor, tagged_at, related_locked"
    )
    with connection.cursor() as cur:
        raw = cur.cursor
        cur.execute("DROP INDEX IF EXISTS story_search_idx")
        for table, cols, buf in (
            (Story._meta.db_table, columns, stories),
            (
                StoryCountry._meta.db_table,
                "story_id, country_id, origin, rejected, score, changed_at",
                tags,
            ),
            (
                StoryTopic._meta.db_table,
                "story_id, topic_id, origin, rejected, score, changed_at",
                topic_rows,
            ),
        ):
            buf.seek(0)
            raw.copy_expert(f"COPY {table} ({cols}) FROM STDIN", buf)
        for model in (Story, StoryCountry, StoryTopic):
            table = model._meta.db_table
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        print(f"  copied {n} stories in {time.perf_counter() - started:.1f}s")
        vectors = time.perf_counter()
        for config, where in (("english", "language = 'en'"), ("simple", "language <> 'en'")):
            cur.execute(
                f"UPDATE {Story._meta.db_table} SET search_vector = "
                f"setweight(to_tsvector('{config}', title), 'A') || "
                f"setweight(to_tsvector('{config}', summary), 'B') || "
                f"setweight(to_tsvector('{config}', content), 'C') WHERE {where}"
            )
        cur.execute(
            f"CREATE INDEX story_search_idx ON {Story._meta.db_table} USING gin (search_vector)"
        )
        print(f"  search vectors and GIN index in {time.perf_counter() - vectors:.1f}s")
    connection.close()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
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
    parser.add_argument("--reseed", action="store_true", help="drop the seeded stories first")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from feeds.models import Story
    from feeds.related import boxes as related
    from feeds.related import candidates, profiles

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    have = Story.objects.count()
    if args.reseed or have < args.stories:
        print(f"seeding {args.stories} stories (had {have}) …")
        seed(args.stories, rng)
    total = Story.objects.count()
    recent = list(
        Story.objects.visible()
        .filter(published_at__gte=NOW - timedelta(days=30))
        .values_list("pk", flat=True)
    )
    sample = random.Random(args.seed + 1).sample(recent, min(args.samples, len(recent)))
    print(f"database: {total} stories; timing {len(sample)} recent stories")

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
    for pk in sample:
        story = Story.objects.get(pk=pk)
        refresh.append(timed(related.refresh_box, story))
    new_batch = sample[:20]
    affected_ms = timed(related.boxes_affected_by, new_batch)
    affected = related.boxes_affected_by(new_batch)

    story = Story.objects.get(pk=sample[0])
    _, _, words, _ = candidates.profile_of(story)
    with connection.cursor() as cur:
        tsq = candidates.tsquery_sql(candidates.configs(story))
        cur.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM feeds_story s "
            f"WHERE s.search_vector @@ ({tsq}) AND NOT s.is_hidden",
            {"words": " ".join(words)},
        )
        plan = "\n".join(row[0] for row in cur.fetchall())
    uses_index = "story_search_idx" in plan

    def line(name: str, values: list[float]) -> str:
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
    print(
        f"boxes_affected_by({len(new_batch)} new stories): {affected_ms:.0f} ms, "
        f"{len(affected)} boxes to refresh (at most {related.REFRESH_PER_STORY} per story)"
    )
    print(f"countries with a candidate per box: median {statistics.median(sizes):.0f} of 9")
    print(f"query words in the sample plan: {len(words)}; GIN index used: {uses_index}")
    if args.json:
        figures = {
            "stories": total,
            "samples": len(sample),
            "baseline_median_ms": statistics.median(baseline),
            "suggest_cold_median_ms": statistics.median(cold),
            "suggest_cold_p95_ms": percentile(cold, 0.95),
            "suggest_cold_p99_ms": percentile(cold, 0.99),
            "suggest_warm_median_ms": statistics.median(warm),
            "suggest_warm_p95_ms": percentile(warm, 0.95),
            "refresh_box_median_ms": statistics.median(refresh),
            "refresh_box_p95_ms": percentile(refresh, 0.95),
            "refresh_box_p99_ms": percentile(refresh, 0.99),
            "gin_index_used": uses_index,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
