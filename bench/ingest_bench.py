"""Ingest benchmark: ArcticNews against the `reader` library on the same loopback feeds.

Serves N synthetic feeds from a local HTTP server, then reports as medians over rounds:
cold ingest (feeds/s, items/s: fetch + parse + sanitise + store + tag + search index, in
``--workers`` processes as a Celery prefork pool runs them), a warm re-poll where every feed
answers 304, and the same two for lemon24/reader (one thread, and ``--workers`` threads).
Ratios are computed within the run, from rounds that alternate between the two, so the
noisy shared machine cancels out.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arcticnews_bench \
    REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/ingest_bench.py --feeds 500 --rounds 3

REDIS_URL here only gives the page cache its production home (tasks still run in-process).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape as htmlescape
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
os.environ["FEEDS_ALLOW_PRIVATE_ADDRESSES"] = "true"
# Tasks in-process: we time the pipeline, not the broker. The page cache stays where
# production has it, on Redis when REDIS_URL (or CACHE_REDIS_URL) is given: after a fetch,
# invalidating the listings it changed is one pipelined set_many, and without Redis one count
# of the cache files (arcticnews.cache.FileBasedCache) and a file write per listing.
os.environ.setdefault("CACHE_REDIS_URL", os.environ.get("REDIS_URL", ""))
os.environ.pop("REDIS_URL", None)

PLACES = [
    "Murmansk",
    "Kirkenes",
    "Longyearbyen",
    "Nuuk",
    "Iqaluit",
    "Utqiaġvik",
    "Rovaniemi",
    "Kiruna",
    "Tromsø",
    "Akureyri",
    "Sabetta",
    "Inuvik",
    "Norilsk",
    "Bodø",
    "Ilulissat",
]
WORDS = """council harbour tanker quota reindeer permafrost border patrol minister mayor
village airport runway school hospital ferry bridge mine smelter turbine pipeline glacier
fjord tundra caribou walrus seal salmon cod herring budget election treaty drills radar
frigate submarine satellite station festival museum choir language elders youth housing
road winter summer storm flood wildfire drought snow ice melt record survey report""".split()
SUBJECTS = [
    "icebreaker convoy",
    "LNG tanker",
    "military exercise",
    "mining permit",
    "sea ice record",
    "Sámi reindeer herders",
    "Inuit leaders",
    "election campaign",
    "fishing quota",
    "research station",
    "music festival",
    "housing shortage",
]


def make_feed(n: int, items: int, rng: random.Random) -> bytes:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    parts = []
    for i in range(items):
        place, subject = rng.choice(PLACES), rng.choice(SUBJECTS)
        when = now - timedelta(minutes=rng.randint(1, 60 * 24 * 10))
        # Varied wording: real leads differ, and identical ones would be (rightly) merged.
        body = " ".join(
            "<p>" + " ".join(rng.choice(WORDS) for _ in range(45)).capitalize() + ".</p>"
            for _ in range(4)
        )
        title = f"{subject.capitalize()} in {place}: " + " ".join(rng.sample(WORDS, 5))
        parts.append(
            f"<item><title>{title}</title>"
            f"<link>https://news{n}.example.org/{i}/</link>"
            f'<guid isPermaLink="false">bench-{n}-{i}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<dc:creator>Reporter {i}, Outlet {n}</dc:creator>"
            f"<category>Politics</category>"
            f"<description><![CDATA[{body[:300]}]]></description>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Outlet {n}</title><link>https://news{n}.example.org/</link>"
        f"<description>bench</description>{''.join(parts)}</channel></rss>"
    ).encode()


# Words in the scripts northern outlets publish in: Sámi, Norwegian, Russian, Inuktitut.
NORTHERN = """Sámediggi čoahkkin Guovdageaidnu Kárášjohka sámegiella boazodoallu Tromsø Bodø
Øksfjord værmelding fiskekvote Мурманск Архангельск Северный морской путь ледокол
Норильск ᐃᓄᒃᑎᑐᑦ ᐃᖃᓗᐃᑦ ᓄᓇᕗᑦ Nunavut Iqaluit Utqiaġvik Ilulissat Qaqortoq""".split()


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = [rng.choice(WORDS if rng.random() > 0.1 else NORTHERN) for _ in range(70)]
        words[rng.randrange(70)] = (
            f'<a href="https://example.org/{rng.randrange(9999)}/">{rng.choice(WORDS)}</a>'
        )
        words[rng.randrange(70)] = f"<strong>{rng.choice(PLACES)}</strong>"
        words[rng.randrange(70)] = f"<em>{rng.choice(WORDS)}</em>"
        out.append("<p>" + " ".join(words).capitalize() + ".</p>")
    return out


def _article(rng: random.Random, n: int, i: int) -> str:
    """An article body as WordPress and Drupal sites send it: figures, embeds, and the
    scripts and inline handlers a sanitiser has to remove."""
    parts = _paragraphs(rng, rng.randint(8, 12))
    img = f"https://news{n}.example.org/wp-content/uploads/2026/11/photo-{i}"
    parts.insert(
        0,
        f'<figure class="wp-block-image"><img src="{img}-1024x683.jpg" '
        f'srcset="{img}-300x200.jpg 300w, {img}-1024x683.jpg 1024w" alt="{rng.choice(PLACES)}" '
        f'style="width:100%" onerror="track(this)"><figcaption>{rng.choice(PLACES)} '
        f"harbour. (Photo: Reporter {i})</figcaption></figure>",
    )
    parts.insert(
        rng.randint(3, 6),
        '<iframe src="https://www.youtube.com/embed/x" width="560" height="315"></iframe>'
        '<script>window.dataLayer.push({"event":"view"})</script>',
    )
    parts.insert(
        rng.randint(5, 8),
        "<ul>"
        + "".join(f"<li>{rng.choice(WORDS)} {rng.choice(WORDS)}</li>" for _ in range(4))
        + '</ul><blockquote onclick="share()"><p>'
        + " ".join(rng.choice(WORDS) for _ in range(25))
        + "</p></blockquote>",
    )
    return "".join(parts)


def make_realistic_feed(n: int, items: int, rng: random.Random) -> bytes:
    """One feed of the mix in performance-baselines.md: WordPress RSS (content:encoded, 3-7
    categories, media), Drupal RSS (escaped HTML in <description>, cut at 2,500 characters)
    and Atom, in the proportion 119:44:37."""
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    style = ("wordpress", "drupal", "atom")[0 if n % 200 < 119 else 1 if n % 200 < 163 else 2]
    entries = []
    for i in range(items):
        place, subject = rng.choice(PLACES), rng.choice(SUBJECTS)
        when = now - timedelta(minutes=rng.randint(1, 60 * 24 * 10))
        title = f"{subject.capitalize()} in {place}: " + " ".join(rng.sample(WORDS, 5))
        link = f"https://news{n}.example.org/2026/11/{i}-{subject.replace(' ', '-')}/"
        body = _article(rng, n, i)
        cats = rng.sample(["Politics", "Arctic", "Climate", "Business", "Society", place], 4)
        if style == "wordpress":
            entries.append(
                f"<item><title>{title}</title><link>{link}</link>"
                f"<dc:creator><![CDATA[Reporter {i}]]></dc:creator>"
                f"<pubDate>{format_datetime(when)}</pubDate>"
                + "".join(f"<category><![CDATA[{c}]]></category>" for c in cats)
                + f'<guid isPermaLink="false">https://news{n}.example.org/?p={1000 + i}</guid>'
                f"<description><![CDATA[{body[:600]}…]]></description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded>"
                f"<wfw:commentRss>{link}feed/</wfw:commentRss><slash:comments>0</slash:comments>"
                f'<media:content url="https://news{n}.example.org/img/{i}.jpg" medium="image"/>'
                "</item>"
            )
        elif style == "drupal":
            escaped = htmlescape(body[:2500])
            entries.append(
                f"<item><title>{title}</title><link>{link}</link>"
                f"<description>{escaped}</description>"
                f"<pubDate>{format_datetime(when)}</pubDate>"
                f"<dc:creator>Reporter {i}</dc:creator>"
                f'<guid isPermaLink="false">{1000 + i} at https://news{n}.example.org</guid>'
                "</item>"
            )
        else:
            entries.append(
                f'<entry><title>{title}</title><link href="{link}"/>'
                f"<id>tag:news{n}.example.org,2026:{i}</id>"
                f"<updated>{when.isoformat()}</updated><published>{when.isoformat()}</published>"
                f"<author><name>Reporter {i}</name></author>"
                + "".join(f'<category term="{c}"/>' for c in cats)
                + f'<content type="html">{htmlescape(body)}</content></entry>'
            )
    if style == "atom":
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Outlet {n}</title><id>https://news{n}.example.org/</id>"
            f"<updated>{now.isoformat()}</updated>{''.join(entries)}</feed>"
        ).encode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>Outlet {n}</title><link>https://news{n}.example.org/</link>"
        f"<description>bench</description>{''.join(entries)}</channel></rss>"
    ).encode()


def median(values: list[float]) -> float:
    return statistics.median(values)


def _ingest_one(feed_id: int) -> str:
    # As the worker runs a fetch, with its follow-up but without related boxes (timed by
    # bench/related_bench.py).
    from feeds import tasks

    return tasks.run_feed(feed_id, force=True, suggest=False).status


def setup_ours() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    import feeds.tasks  # noqa: F401  (a worker imports its tasks before the pool forks)

    call_command("migrate", verbosity=0)


_TABLES = (
    "feeds_relatedslot, feeds_storycountry, feeds_storytopic, feeds_fetchlog, feeds_story, "
    "feeds_feed"
)


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {_TABLES} CASCADE")


def prime_statistics(urls: list[str]) -> None:
    """Give PostgreSQL the column statistics a live database has, as the rounds' TRUNCATE
    keeps them: a live database has been analysed (autovacuum re-analyses a table each time
    it grows by a tenth), and cold feeds arrive into it.

    Never analysed, the planner guesses that each key in copy detection's IN lists matches
    1/200 of the table, and reads the whole story table once per feed instead: quadratic,
    and an artefact of the benchmark. Analysing empty tables would be as unreal. So a few
    feeds go in (not timed), the tables are analysed, and the rounds start from empty.
    """
    from django.db import connection

    from feeds.models import Feed, Source

    _truncate()
    source, _ = Source.objects.get_or_create(name="Bench", slug="bench")
    sample = urls[: max(1, len(urls) // 10)]
    for feed in Feed.objects.bulk_create([Feed(source=source, url=u) for u in sample]):
        _ingest_one(feed.pk)
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {_TABLES}")


def round_ours(urls: list[str], workers: int = 1) -> dict[str, float]:
    """One cold ingest and one all-304 re-poll of every feed: seconds, and stories stored."""

    from feeds.models import Feed, Source, Story, StoryEntity

    # A truly cold start each round: DELETE would leave dead rows for the next one to scan.
    # TRUNCATE empties the tables but keeps their column statistics (see prime_statistics).
    _truncate()
    source, _ = Source.objects.get_or_create(name="Bench", slug="bench")
    feeds = Feed.objects.bulk_create([Feed(source=source, url=u) for u in urls])
    ids = [feed.pk for feed in feeds]
    with _pool(workers) as poll_all:
        start = time.perf_counter()
        statuses = poll_all(ids)
        cold = time.perf_counter() - start
        assert set(statuses) == {"ok"}, set(statuses)
        start = time.perf_counter()
        statuses = poll_all(ids)
        warm = time.perf_counter() - start
        assert set(statuses) == {"not-modified"}, set(statuses)
    links = StoryEntity.objects.count()
    return {"cold": cold, "warm": warm, "items": Story.objects.count(), "links": links}


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[Callable[[list[int]], list[str]]]:
    """Celery's prefork pool in miniature: N processes, each with its own connection, started
    before the clock (a worker is up before tasks arrive) and kept for the warm pass, handed
    one feed at a time as a worker with prefetch multiplier 1 (our setting) takes them."""
    if workers == 1:
        yield lambda ids: [_ingest_one(feed_id) for feed_id in ids]
        return
    from django.db import connection

    from arcticnews.celery import freeze_startup_objects

    connection.close()  # a forked child must not share the parent's socket
    with multiprocessing.get_context("fork").Pool(
        workers, initializer=freeze_startup_objects
    ) as pool:
        yield lambda ids: pool.map(_ingest_one, ids, chunksize=1)


@contextlib.contextmanager
def without_entities() -> Iterator[None]:
    """Ingest as it was before entity linking: the tagger knows no entity names and nothing is
    linked (the baseline of ``--entities``, timed in the same run)."""
    from feeds.entities import store
    from feeds.tagging import tagger

    saved = store.prepare, store.link_stories
    store.prepare, store.link_stories = (lambda: None), (lambda *args, **kwargs: 0)
    tagger.set_name_terms(())
    try:
        yield
    finally:
        store.prepare, store.link_stories = saved
        store._state["version"] = None  # rebuild the index and the tagger's names next time


def round_reader(urls: list[str], workers: int = 1) -> dict[str, float]:
    from reader import make_reader

    # reader hands feedparser the caching headers but never Content-Type, so every feed
    # comes back flagged NonXMLContentType and reader logs a warning per feed and round:
    # its own quirk, not the feeds' (they are served as application/rss+xml).
    logging.getLogger("reader").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        reader = make_reader(str(Path(tmp) / "reader.sqlite"))
        for url in urls:
            reader.add_feed(url)
        start = time.perf_counter()
        reader.update_feeds(workers=workers)
        cold = time.perf_counter() - start
        items = reader.get_entry_counts().total
        start = time.perf_counter()
        reader.update_feeds(scheduled=False)
        warm = time.perf_counter() - start
        reader.close()
    return {"cold": cold, "warm": warm, "items": items}


def _serve(conn: Connection, feeds: int, items: int, corpus: str) -> None:
    from tests.fixtureserver import FixtureServer

    rng = random.Random(42)
    make = make_realistic_feed if corpus == "realistic" else make_feed
    with FixtureServer() as server:
        for n in range(feeds):
            server.add(f"/feed/{n}.xml", make(n, items, rng), gzip=True)
        conn.send([server.url(f"/feed/{n}.xml") for n in range(feeds)])
        conn.recv()  # serve until the benchmark is done


@contextlib.contextmanager
def _feed_host(feeds: int, items: int, corpus: str) -> Iterator[list[str]]:
    """The loopback feed server, in a process of its own: a real feed host does not share
    an interpreter lock with the poller or with the pool's dispatcher, so neither side
    should be timed waiting for the other's Python threads. Yields the feeds' URLs."""
    context = multiprocessing.get_context("fork")
    conn, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, feeds, items, corpus), daemon=True)
    process.start()
    try:
        yield conn.recv()
    finally:
        conn.send("done")
        process.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=35)
    parser.add_argument(
        "--corpus",
        choices=["realistic", "simple"],
        default="realistic",
        help="realistic: the WordPress/Drupal/Atom mix of performance-baselines.md (default); "
        "simple: short plain bodies",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ingest processes, as a Celery worker's prefork pool runs them (reader: threads)",
    )
    parser.add_argument(
        "--entities",
        action="store_true",
        help="also time each round without entity linking, and report what linking costs",
    )
    args = parser.parse_args()

    with _feed_host(args.feeds, args.items, args.corpus) as urls:
        setup_ours()
        prime_statistics(urls)
        # reader's threads share one interpreter, so more of them can be slower than one:
        # the peer is reader at its best of one thread and as many as we have processes.
        threads = sorted({1, args.workers})
        ours: list[dict[str, float]] = []
        peers: dict[int, list[dict[str, float]]] = {n: [] for n in threads}
        ratios = []
        plain: list[dict[str, float]] = []
        costs = []
        # Rounds alternate between the two, so a slow minute on the shared machine hits
        # both sides of a ratio rather than one of them.
        for i in range(args.rounds):
            if args.entities:
                # Which goes first alternates too: the first of a pair may find colder caches.
                if i % 2:
                    ours.append(round_ours(urls, args.workers))
                with without_entities():
                    plain.append(round_ours(urls, args.workers))
                if not i % 2:
                    ours.append(round_ours(urls, args.workers))
                costs.append(ours[-1]["cold"] / plain[-1]["cold"])
            else:
                ours.append(round_ours(urls, args.workers))
            for n in threads:
                peers[n].append(round_reader(urls, n))
            best_peer = max(p[-1]["items"] / p[-1]["cold"] for p in peers.values())
            ratios.append(ours[-1]["items"] / ours[-1]["cold"] / best_peer)

    def report(name: str, rounds: list[dict[str, float]]) -> tuple[float, float, float]:
        cold, warm, items = (median([r[k] for r in rounds]) for k in ("cold", "warm", "items"))
        print(
            f"{name:12} cold {cold:7.2f}s  {args.feeds / cold:8.1f} feeds/s  "
            f"{items / cold:8.1f} items/s | warm(304) {warm:6.2f}s  "
            f"{args.feeds / warm:8.1f} feeds/s | warm/cold speed-up {cold / warm:6.1f}x"
        )
        return cold, warm, items / cold

    print(
        f"{args.feeds} {args.corpus} feeds x {args.items} items, {args.rounds} rounds, medians "
        f"(database: {os.environ.get('DATABASE_URL', 'sqlite')})"
    )
    _, _, ours_ips = report(f"arcticnews/{args.workers}", ours)
    if plain:
        report("  no entities", plain)
        linked = int(median([r["links"] for r in ours]))
        print(
            "entity linking's cost: cold ingest with / without, per round: "
            + ", ".join(f"{c:.3f}" for c in costs)
            + f", median {median(costs):.3f} ({linked} story-entity links a round)"
        )
    peer_ips = max(report(f"reader/{n}", peer)[2] for n, peer in peers.items())
    print(
        f"cold items/s, arcticnews ({args.workers} process(es)) / reader at its best: "
        f"{ours_ips / peer_ips:.2f}x (medians); per round: "
        + ", ".join(f"{r:.2f}x" for r in ratios)
        + f", median {median(ratios):.2f}x"
    )


if __name__ == "__main__":
    main()
