"""Reading candidates for a related box from the database: the related box's only SQL.

Owns: the term statistics (a sample of recent stories, cached per process behind
``clear()``), the candidate query (PostgreSQL: one OR-query over the story's most
informative terms, answered by the GIN index ``story_related_terms_idx`` over each story's
stored terms a few weeks at a time, at most ``PER_COUNTRY`` per primary country by
``ts_rank``, each with its tags, storyline and stored profile; elsewhere: the newest
``SCAN_LIMIT`` stories in the window, compared in Python), the reverse query for boxes a new
story may improve, the countries' order, and the stored terms and profiles themselves
(``stored``, written with the search vector; ``refresh_stored`` for those missing or out
of date). "Visible" is always ``Story.objects.visible()``, compiled once into the raw
queries; a candidate is also always one of its ``articles()`` (no newsletter, digest or
podcast fills a line).
May import: ``feeds.models``, ``feeds.related.profiles`` and ``feeds.related.ranking`` (the
records it fills).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, QuerySet, TextField, Value, When
from django.db.models.functions import Length, Substr
from django.utils import timezone

from feeds.models import Country, Source, Story, StoryCountry, StorylineMembership, StoryTopic
from feeds.related.profiles import (
    CONTENT_CHARS,
    PROFILE_VERSION,
    SHORT_SUMMARY,
    SUMMARY_CHARS,
    Corpus,
    Profile,
    Vector,
    cosine,
    from_stored,
    is_cached,
    profile,
    query_lexemes,
    query_words,
    signature,
    stored_columns,
    story_profile,
    vector,
)
from feeds.related.ranking import Candidate, Subject, is_roundup

WINDOW = timedelta(days=90)  # candidates published within this of the story
NEAR = timedelta(days=14)  # a box suggested within this of its story is suggested again later
# The index is asked for this close to the story first, each wider ring (up to WINDOW) only
# while it has found too few: freshness halves every week (weights.toml), so stories further
# away rarely win. Asked for the whole rest of WINDOW at once, a subject with a hundred stories
# close by had PostgreSQL read and rank six months of them for the pool's last few places
# (a quarter of the boxes at 1,000,000 stories, and their slowest).
RINGS = (timedelta(days=7), timedelta(days=21), timedelta(days=45), WINDOW)
POOL = 120  # candidates fetched from the full-text index
PER_COUNTRY = 15  # … at most this many per primary country (a line and the editor's five)
SCAN_LIMIT = 1500  # SQLite fallback: newest stories compared in Python
# Bounded re-suggestion work per new story.
# A country with no candidate on the story's subject: its newest stories, up to this many,
# published before ``NEAR`` after the story and at most ``WIDE_WINDOW`` before it (a box is
# left empty only when a country has had no story for that long).
RECENT_PER_COUNTRY = 20
STORYLINE_STORIES = 30  # the story's own storyline: its newest other stories, read as such
WIDE_WINDOW = timedelta(days=365)
REFRESH_WINDOW = timedelta(days=30)
REFRESH_PER_STORY = 15
REFRESH_MIN_RELEVANCE = 0.08  # SQLite fallback: boxes this similar are worth refreshing
# Document frequencies: a sample of the newest stories, recomputed when it is stale.
DF_SAMPLE = 3000
DF_TTL_SECONDS = 600
DF_RECHECK_SECONDS = 60  # a full sample is not even checked for new stories more often

_CORPUS: Corpus | None = None
_COUNTRY_ORDER: dict[tuple[object, ...], dict[int, int]] = {}
_VISIBLE_SQL: dict[tuple[object, ...], str] = {}


def clear() -> None:
    """Forget what this process cached from the database (tests: each is its own newsroom)."""
    global _CORPUS
    _CORPUS = None
    _COUNTRY_ORDER.clear()
    _VISIBLE_SQL.clear()


def _db_key() -> tuple[object, ...]:
    return (connection.alias, connection.settings_dict.get("NAME"))


def subject(story: Story) -> tuple[Subject, set[int]]:
    """The story as ranking needs it (with its storyline), and its shown topic tags: one
    query (a round trip costs milliseconds on a loaded database server)."""
    storyline, topics = None, set()
    tags = StoryTopic.objects.shown().filter(story_id=story.pk).annotate(kind=Value(0))
    lines = StorylineMembership.objects.filter(story_id=story.pk).annotate(kind=Value(1))
    for kind, pk in tags.values_list("kind", "topic_id").union(
        lines.values_list("kind", "storyline_id"), all=True
    ):
        if kind:
            storyline = pk
        else:
            topics.add(pk)
    keys = (story.title_key, story.url_key, story.lead_key)
    facts = (story.pk, story.canonical_id, story.source_id, story.published_at, keys)
    return Subject(*facts, storyline), topics


def with_storylines(cands: list[Candidate]) -> list[Candidate]:
    """The candidates, each with its storyline (one query): a box never shows two stories
    of one storyline. (The PostgreSQL queries read it with the candidate, ``_columns_sql``.)"""
    if cands:
        lines = dict(
            StorylineMembership.objects.filter(story_id__in=[c.id for c in cands]).values_list(
                "story_id", "storyline_id"
            )
        )
        for cand in cands:
            cand.storyline = lines.get(cand.id)
    return cands


def profile_of(story: Story) -> tuple[Profile, Vector, list[str], Corpus]:
    """The story's profile and vector, the words to ask the index for, and the statistics."""
    corpus = term_statistics()
    prof = story_profile(story.title, story.summary, story.content)
    vec = vector(prof, corpus)
    return prof, vec, query_words(prof, vec, corpus), corpus


def text_columns(qs: QuerySet) -> QuerySet:
    """Headline, teaser and (only when the teaser is short) the body's opening, truncated in
    the database: a profile reads no more than this."""
    return qs.annotate(_summary_length=Length("summary")).annotate(
        _summary=Substr("summary", 1, SUMMARY_CHARS),
        _content=Case(
            When(_summary_length__lt=SHORT_SUMMARY, then=Substr("content", 1, CONTENT_CHARS)),
            default=Value(""),
            output_field=TextField(),
        ),
    )


def term_statistics() -> Corpus:
    """Document frequencies of terms in the newest ``DF_SAMPLE`` visible stories.

    Kept for ``DF_TTL_SECONDS`` unless many stories arrived meanwhile; a small database
    (tests, a fresh install) is re-read whenever its newest story or its size changes.
    """
    global _CORPUS
    now = time.monotonic()
    cached = _CORPUS if _CORPUS is not None and _CORPUS.db == _db_key() else None
    if cached is not None and cached.n >= DF_SAMPLE and now - cached.at < DF_RECHECK_SECONDS:
        return cached  # a big corpus does not change much in a minute: no query at all
    visible = Story.objects.visible()
    top = visible.order_by("-pk").values_list("pk", flat=True).first() or 0
    if cached is not None:
        if cached.n < DF_SAMPLE:
            fresh = (cached.top, cached.size) == (top, visible.count())
        else:
            fresh = now - cached.at < DF_TTL_SECONDS and top - cached.top < max(50, cached.n // 20)
        if fresh:
            return cached
    rows = text_columns(visible.order_by("-published_at", "-id")).values_list(
        "pk", "content_hash", "title", "_summary", "_content"
    )[:DF_SAMPLE]
    df: dict[str, int] = defaultdict(int)
    n = 0
    for pk, chash, title, summary, content in rows:
        n += 1
        prof = profile(pk, signature(chash, title, summary, content), title, summary, content)
        for t in prof.base:
            df[t] += 1
    size = n if n < DF_SAMPLE else visible.count()
    generation = _CORPUS.generation + 1 if _CORPUS is not None else 0
    _CORPUS = Corpus(n, dict(df), generation, _db_key(), top, size, now)
    return _CORPUS


# --- The terms and profile stored with each story -----------------------------------------

STORED_FIELDS = ("related_terms", "related_profile")
# What a profile reads of a story's teaser and body (``text_columns``, in raw SQL).
_TEXT_SQL = f"""substr(summary, 1, {SUMMARY_CHARS}),
    CASE WHEN length(summary) < {SHORT_SUMMARY} THEN substr(content, 1, {CONTENT_CHARS})
         ELSE '' END"""
STORED_BATCH = 2000  # stories rewritten per transaction by ``refresh_stored``


def stored(title: str, summary: str, content: str) -> dict[str, str]:
    """``Story.related_terms`` and ``Story.related_profile`` for this headline, teaser and
    body: ``feeds.search`` writes them with the search vector (``feeds.apps`` registers this)."""
    terms, prof = stored_columns(title, summary, content)
    return {"related_terms": terms, "related_profile": prof}


def refresh_stored(batch: int = STORED_BATCH, report: Callable[[int], None] | None = None) -> int:
    """Write the stored terms and profile of every story that has none, or one made under
    another vocabulary (``PROFILE_VERSION``), ``batch`` stories a transaction, newest id
    first (the stories boxes are made of now); ``report`` is told the running count after
    each. Returns how many (PostgreSQL only: nothing else reads them)."""
    if connection.vendor != "postgresql":
        return 0
    table = Story._meta.db_table
    done, last = 0, 2**63 - 1
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT id, title, {_TEXT_SQL} FROM {table}
                    WHERE id < %s AND left(related_profile, %s) <> %s
                    ORDER BY id DESC LIMIT %s
                    FOR UPDATE""",  # else an edit meanwhile gets the old text's profile
                [last, len(PROFILE_VERSION) + 1, PROFILE_VERSION + "\t", batch],
            )
            rows = cursor.fetchall()
            if not rows:
                return done
            columns = [stored_columns(title, text, body) for _, title, text, body in rows]
            cursor.execute(
                f"""UPDATE {table} s
                    SET related_terms = v.terms::tsvector, related_profile = v.profile
                    FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, terms, profile)
                    WHERE s.id = v.id""",
                [[row[0] for row in rows], [c[0] for c in columns], [c[1] for c in columns]],
            )
        last = rows[-1][0]
        done += len(rows)
        if report is not None:
            report(done)


def window(story: Story, width: timedelta = WINDOW) -> tuple[datetime, datetime]:
    ref = story.published_at or timezone.now()
    return ref - width, ref + width


# The index ``story_related_terms_idx`` (migration 0025) holds each visible story's stored
# terms (``Story.related_terms``: the single terms of its headline-and-lead profile, not every
# word of its body) with one more lexeme, its week ("~w2970": weeks since 1970). Asked for the
# story's terms AND the weeks of its window, GIN's fast scan skips along the few thousand
# postings of those weeks instead of building a bitmap of every story in ten years that has
# one of the terms; the date condition then only trims the edge weeks. Each match is ranked
# on that small inline vector: ranking on the search vector read a large, compressed value
# per match (at 1,000,000 stories, most of a box's time).
WEEKS_VECTOR = "(s.related_terms || related_week(s.published_at))"
RANK = "ts_rank(s.related_terms, q.query)"
WEEK_SECONDS = 7 * 86400


def weeks_query(ranges: Sequence[tuple[datetime, datetime]]) -> str:
    """A tsquery (text) matching the week lexemes of every week the date ranges touch."""
    weeks: set[int] = set()
    for lo, hi in ranges:
        first, last = int(lo.timestamp()) // WEEK_SECONDS, int(hi.timestamp()) // WEEK_SECONDS
        weeks.update(range(first, last + 1))
    return " | ".join(f"'~w{w}'" for w in sorted(weeks))


def visible_sql(alias: str, *, articles: bool = False) -> str:
    """``Story.objects.visible()``'s condition as SQL on the story table named ``alias``;
    with ``articles``, ``visible().articles()``'s: what may fill a line of a box (never a
    newsletter, digest or podcast)."""
    key = (*_db_key(), alias, articles)
    sql = _VISIBLE_SQL.get(key)
    if sql is None:
        shown = Story.objects.visible()
        query = (shown.articles() if articles else shown).query
        where = query.where.relabeled_clone({Story._meta.db_table: alias})
        compiled, params = where.as_sql(query.get_compiler(connection=connection), connection)
        with connection.cursor() as cursor:
            sql = cursor.mogrify(compiled, params)
        sql = _VISIBLE_SQL[key] = sql.decode() if isinstance(sql, bytes) else sql
    return sql


def candidates(story: Story, words: list[str]) -> list[Candidate]:
    """Stories that may be related to ``story``, with their shown country and topic tags."""
    if connection.vendor == "postgresql":
        return _pg_candidates(story, words) if words else []
    return _python_candidates(story)


def _pg_candidates(story: Story, words: list[str]) -> list[Candidate]:
    """The index's best matches, at most ``PER_COUNTRY`` per primary country, with tags.

    Bounded work: the index is asked for the stories within ``RINGS[0]`` of the story, then
    for each wider ring of ``RINGS`` in turn only while fewer than ``POOL`` are found (a rare
    subject, so the wider search is cheap too). A busy subject thus never makes PostgreSQL
    read and rank months of matching stories, not even for the last few places of the pool.
    """
    query = query_lexemes(words)
    if not query:
        return []
    cands: list[Candidate] = []
    inner: tuple[datetime, datetime] | None = None
    for width in RINGS:
        since, until = window(story, width)
        ring = [(since, until)] if inner is None else [(since, inner[0]), (inner[1], until)]
        cands += _pg_query(story, query, ring, POOL - len(cands), [c.id for c in cands])
        if len(cands) >= POOL:
            break
        inner = (since, until)
    return cands


def _pg_query(
    story: Story,
    query: str,
    ranges: list[tuple[datetime, datetime]],
    pool: int,
    also_exclude: Iterable[int],
) -> list[Candidate]:
    t = _tables()
    dates = " OR ".join(
        f"s.published_at BETWEEN %(since{i})s AND %(until{i})s" for i in range(len(ranges))
    )
    sql = f"""
        WITH q AS (SELECT %(query)s::tsquery AS query),
        m AS (
            SELECT s.id, s.primary_country_id AS pc, {RANK} AS rank
            FROM {t["story"]} s, q
            WHERE {WEEKS_VECTOR} @@ (q.query && %(weeks)s::tsquery)
              AND {visible_sql("s", articles=True)}
              AND s.primary_country_id IS NOT NULL
              AND ({dates})
              AND s.id <> ALL(%(exclude)s)
        ),
        r AS (
            SELECT id, rank, row_number() OVER (PARTITION BY pc ORDER BY rank DESC, id DESC) AS n
            FROM m
        ),
        top AS (
            SELECT id, rank FROM r WHERE n <= %(per_country)s ORDER BY rank DESC LIMIT %(pool)s
        )
        {_columns_sql(t)}
        FROM top JOIN {t["story"]} s ON s.id = top.id
        JOIN {t["source"]} src ON src.id = s.source_id
        ORDER BY top.rank DESC
    """
    params: dict[str, Any] = {
        "query": query,
        "weeks": weeks_query(ranges),
        "exclude": [story.pk, story.canonical_id or story.pk, *also_exclude],
        "per_country": PER_COUNTRY,
        "pool": pool,
    }
    for i, (lo, hi) in enumerate(ranges):
        params[f"since{i}"], params[f"until{i}"] = lo, hi
    return _fetch(sql, params)


# Copies of a story we carry (story_copies_idx): other outlets thought it worth republishing.
_COPIES_SQL = "(SELECT count(*) FROM {story} c WHERE c.canonical_id = s.id)"


def _tables() -> dict[str, str]:
    return {
        "story": Story._meta.db_table,
        "source": Source._meta.db_table,
        "sc": StoryCountry._meta.db_table,
        "st": StoryTopic._meta.db_table,
        "sm": StorylineMembership._meta.db_table,
    }


def _columns_sql(t: dict[str, str]) -> str:
    """What ``_fetch`` reads of a candidate ``s`` (its outlet ``src``)."""
    return f"""SELECT s.id, s.source_id, s.published_at, s.content_hash, s.title,
            s.title_key, s.url_key, s.lead_key,
            COALESCE(NULLIF(s.original_outlet, ''), src.name), s.primary_country_id,
            ARRAY(SELECT sc.country_id FROM {t["sc"]} sc
                  WHERE sc.story_id = s.id AND NOT sc.rejected),
            ARRAY(SELECT st.topic_id FROM {t["st"]} st
                  WHERE st.story_id = s.id AND NOT st.rejected),
            {_COPIES_SQL.format(story=t["story"])},
            (SELECT sm.storyline_id FROM {t["sm"]} sm WHERE sm.story_id = s.id),
            s.related_profile"""


def storyline_stories(
    story: Story, storyline_id: int | None, exclude: Iterable[int]
) -> list[Candidate]:
    """The other visible stories of the story's storyline (``STORYLINE_STORIES`` newest): each
    country's telling of the event, whatever its language, which the word index may miss."""
    if storyline_id is None:
        return []
    skip = [pk for pk in (story.pk, story.canonical_id, *exclude) if pk]
    members = StorylineMembership.objects.filter(storyline_id=storyline_id).values("story_id")
    if connection.vendor != "postgresql":
        rows = (
            text_columns(
                Story.objects.visible().articles().filter(pk__in=members).exclude(pk__in=skip)
            )
            .order_by("-published_at", "-id")
            .values_list(*_PYTHON_COLUMNS)[:STORYLINE_STORIES]
        )
        return _python_tagged(rows)
    t = _tables()
    sql = f"""
        {_columns_sql(t)}
        FROM {t["story"]} s
        JOIN {t["source"]} src ON src.id = s.source_id
        WHERE s.id IN (SELECT m.story_id FROM {StorylineMembership._meta.db_table} m
                       WHERE m.storyline_id = %(line)s)
          AND {visible_sql("s", articles=True)} AND s.id <> ALL(%(exclude)s)
        ORDER BY s.published_at DESC LIMIT %(limit)s
    """
    return _fetch(sql, {"line": storyline_id, "exclude": skip, "limit": STORYLINE_STORIES})


def _fetch(sql: str, params: dict[str, Any]) -> list[Candidate]:
    """Candidates from rows of (id, source, published, hash, title, 3 keys, outlet, primary
    country, country tags, topic tags, copies, storyline, stored profile), with the text of
    those neither profiled by this process yet nor stored with an up-to-date profile."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        # Reading (and decompressing) teasers and bodies and profiling them was most of the
        # cost of a box: a profile made by this process, or stored with the story
        # (``Story.related_profile``), is taken as it is. Text only for the others: stored
        # before profiles were, or under another vocabulary.
        stored: dict[int, Profile] = {}
        missing = []
        for row in rows:
            if is_cached(row[0], row[3], row[4]):
                continue
            prof = from_stored(row[14])
            if prof is None:
                missing.append(row[0])
            else:
                stored[row[0]] = prof
        texts: dict[int, tuple[str, str]] = {}
        if missing:
            cursor.execute(
                f"SELECT id, {_TEXT_SQL} FROM {Story._meta.db_table} WHERE id = ANY(%s)",
                [missing],
            )
            texts = {pk: (summary, content) for pk, summary, content in cursor.fetchall()}
    out = []
    for row in rows:
        pk, source_id, published, chash, title, tkey, ukey, lkey, outlet, pc = row[:10]
        summary, content = texts.get(pk, ("", ""))
        made = stored.get(pk)
        # Without a content hash, the text itself tells versions apart: the stored profile
        # stands for it when it is what this row gives.
        sig = signature(chash, title, summary, content) if made is None or chash else row[14]
        cand = Candidate(
            pk,
            source_id,
            published,
            (tkey, ukey, lkey),
            outlet,
            pc,
            profile(pk, sig, title, summary, content, made),
            roundup=is_roundup(title),
        )
        cand.countries = set(row[10])
        cand.topics = set(row[11])
        cand.copies = row[12]
        cand.storyline = row[13]
        out.append(cand)
    return out


def recent_by_country(
    story: Story, country_ids: Iterable[int], exclude: Iterable[int]
) -> list[Candidate]:
    """Each country's ``RECENT_PER_COUNTRY`` newest visible stories (its primary country)
    around the story's date, for the lines no story on the same subject fills."""
    wanted = sorted(set(country_ids))
    if not wanted:
        return []
    ref = story.published_at or timezone.now()
    since, until = ref - WIDE_WINDOW, ref + NEAR
    skip = [pk for pk in (story.pk, story.canonical_id, *exclude) if pk]
    if connection.vendor != "postgresql":
        return _python_recent(wanted, since, until, skip)
    t = _tables()
    sql = f"""
        {_columns_sql(t)}
        FROM unnest(%(countries)s::integer[]) AS wanted(id)
        CROSS JOIN LATERAL (
            SELECT r.id FROM {t["story"]} r
            WHERE r.primary_country_id = wanted.id AND {visible_sql("r", articles=True)}
              AND r.published_at BETWEEN %(since)s AND %(until)s
              AND r.id <> ALL(%(exclude)s)
            ORDER BY r.published_at DESC
            LIMIT %(per_country)s
        ) AS recent
        JOIN {t["story"]} s ON s.id = recent.id
        JOIN {t["source"]} src ON src.id = s.source_id
    """
    params: dict[str, Any] = {
        "countries": wanted,
        "since": since,
        "until": until,
        "exclude": skip,
        "per_country": RECENT_PER_COUNTRY,
    }
    return _fetch(sql, params)


def _candidate(
    pk: int,
    source_id: int,
    published: datetime,
    chash: str,
    title: str,
    summary: str,
    content: str,
    keys: tuple[str, str, str],
    outlet: str,
    pc: int | None,
) -> Candidate:
    prof = profile(pk, signature(chash, title, summary, content), title, summary, content)
    return Candidate(pk, source_id, published, keys, outlet, pc, prof, roundup=is_roundup(title))


def _python_candidates(story: Story) -> list[Candidate]:
    """Without PostgreSQL: the newest ``SCAN_LIMIT`` tagged stories in the window."""
    rows = (
        text_columns(
            Story.objects.visible()
            .articles()
            .filter(published_at__range=window(story), primary_country__isnull=False)
            .exclude(pk__in=[pk for pk in (story.pk, story.canonical_id) if pk])
        )
        .order_by("-published_at", "-id")
        .values_list(*_PYTHON_COLUMNS)[:SCAN_LIMIT]
    )
    return _python_tagged(rows)


_PYTHON_COLUMNS = (
    "id",
    "source_id",
    "published_at",
    "content_hash",
    "title",
    "_summary",
    "_content",
    "title_key",
    "url_key",
    "lead_key",
    "original_outlet",
    "source__name",
    "primary_country_id",
)


def _python_recent(
    wanted: list[int], since: datetime, until: datetime, skip: list[int]
) -> list[Candidate]:
    rows: list[tuple[Any, ...]] = []
    for country_id in wanted:
        rows += (
            text_columns(
                Story.objects.visible()
                .articles()
                .filter(primary_country_id=country_id, published_at__range=(since, until))
                .exclude(pk__in=skip)
            )
            .order_by("-published_at", "-id")
            .values_list(*_PYTHON_COLUMNS)[:RECENT_PER_COUNTRY]
        )
    return _python_tagged(rows)


def _python_tagged(rows: Iterable[tuple[Any, ...]]) -> list[Candidate]:
    """Candidates from ``_PYTHON_COLUMNS`` rows, with their tags, copies and storylines."""
    cands = [
        _candidate(pk, src, pub, chash, title, summ, cont, (tk, uk, lk), orig or name, pc)
        for pk, src, pub, chash, title, summ, cont, tk, uk, lk, orig, name, pc in rows
    ]
    by_id = {c.id: c for c in cands}
    for canonical_id in Story.objects.filter(canonical_id__in=by_id).values_list(
        "canonical_id", flat=True
    ):
        by_id[canonical_id].copies += 1
    for sid, cid in (
        StoryCountry.objects.shown()
        .filter(story_id__in=by_id)
        .values_list("story_id", "country_id")
    ):
        by_id[sid].countries.add(cid)
    for sid, tid in (
        StoryTopic.objects.shown().filter(story_id__in=by_id).values_list("story_id", "topic_id")
    ):
        by_id[sid].topics.add(tid)
    return with_storylines(cands)


def country_order(needed: Iterable[int]) -> dict[int, int]:
    """Country id → its place in alphabetical order. Countries are created by a migration
    and never edited, so this is read once per process (again if an id is unknown)."""
    key = _db_key()
    order = _COUNTRY_ORDER.get(key)
    if order is None or not set(needed) <= order.keys():
        ids = Country.objects.order_by("name").values_list("pk", flat=True)
        order = _COUNTRY_ORDER[key] = {pk: i for i, pk in enumerate(ids)}
    return order


# --- Boxes a new story may improve ------------------------------------------------------------


def similar_boxes(news: list[Story], new_ids: list[int]) -> dict[int, float]:
    """For each new story, the ``REFRESH_PER_STORY`` visible, unlocked stories published
    within ``REFRESH_WINDOW`` of it that it resembles most, with how much."""
    corpus = term_statistics()
    found: dict[int, float] = {}
    if connection.vendor == "postgresql":
        for story in news:
            _, _, words, _ = profile_of(story)
            for pk, rank in _pg_similar_boxes(story, words, new_ids) if words else ():
                found[pk] = max(found.get(pk, 0.0), rank)
        return found
    return _python_similar_boxes(news, new_ids, corpus)


def _pg_similar_boxes(
    story: Story, words: list[str], new_ids: list[int]
) -> list[tuple[int, float]]:
    since, until = window(story, REFRESH_WINDOW)
    query = query_lexemes(words)
    if not query:
        return []
    sql = f"""
        WITH q AS (SELECT %(query)s::tsquery AS query)
        SELECT s.id, {RANK} AS rank
        FROM {Story._meta.db_table} s, q
        WHERE {WEEKS_VECTOR} @@ (q.query && %(weeks)s::tsquery)
          AND {visible_sql("s")} AND NOT s.related_locked
          AND s.published_at BETWEEN %(since)s AND %(until)s
          AND s.id <> ALL(%(exclude)s)
        ORDER BY rank DESC, s.id DESC
        LIMIT %(limit)s
    """
    params: dict[str, Any] = {
        "query": query,
        "weeks": weeks_query([(since, until)]),
        "since": since,
        "until": until,
        "exclude": new_ids,
        "limit": REFRESH_PER_STORY,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _python_similar_boxes(
    news: list[Story], new_ids: list[int], corpus: Corpus
) -> dict[int, float]:
    refs = [s.published_at for s in news]
    rows = (
        text_columns(
            Story.objects.visible()
            .filter(
                related_locked=False,
                published_at__range=(min(refs) - REFRESH_WINDOW, max(refs) + REFRESH_WINDOW),
            )
            .exclude(pk__in=new_ids)
        )
        .order_by("-published_at", "-id")
        .values_list("id", "published_at", "content_hash", "title", "_summary", "_content")[
            :SCAN_LIMIT
        ]
    )
    boxes = [
        (pk, pub, vector(profile(pk, signature(h, t, s, c), t, s, c), corpus))
        for pk, pub, h, t, s, c in rows
    ]
    found: dict[int, float] = {}
    for story in news:
        mine = vector(story_profile(story.title, story.summary, story.content), corpus)
        near = [
            (pk, sim)
            for pk, pub, vec in boxes
            if abs(pub - story.published_at) <= REFRESH_WINDOW
            and (sim := cosine(mine, vec)) >= REFRESH_MIN_RELEVANCE
        ]
        near.sort(key=lambda x: -x[1])
        for pk, sim in near[:REFRESH_PER_STORY]:
            found[pk] = max(found.get(pk, 0.0), sim)
    return found
