"""Reading candidates for a related box from the database: the related box's only SQL.

Owns: the term statistics (a sample of recent stories, cached per process behind
``clear()``), the candidate query (PostgreSQL: one OR-query over the story's most
informative words, answered by the GIN index ``story_related_idx`` a few weeks at a time, at
most ``PER_COUNTRY`` per primary country by ``ts_rank``, each with its tags and storyline;
elsewhere: the newest ``SCAN_LIMIT`` stories in the window, compared in Python), the
reverse query for boxes a new story may improve, and the countries' order. "Visible" is always
``Story.objects.visible()``, compiled once into the raw queries; a candidate is also always
one of its ``articles()`` (no newsletter, digest or podcast fills a line).
May import: ``feeds.models``, ``feeds.search`` (configurations), ``feeds.related.profiles``
and ``feeds.related.ranking`` (the records it fills).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Case, QuerySet, TextField, Value, When
from django.db.models.functions import Length, Substr
from django.utils import timezone

from feeds.models import Country, Source, Story, StoryCountry, StorylineMembership, StoryTopic
from feeds.related.profiles import (
    CONTENT_CHARS,
    SHORT_SUMMARY,
    SUMMARY_CHARS,
    Corpus,
    Profile,
    Vector,
    cosine,
    is_cached,
    profile,
    query_words,
    signature,
    story_profile,
    vector,
)
from feeds.related.ranking import Candidate, Subject, is_roundup
from feeds.search import config_for

WINDOW = timedelta(days=90)  # candidates published within this of the story
NEAR = timedelta(days=14)  # a box suggested within this of its story is suggested again later
# The index is asked for this close to the story first, the rest of WINDOW only if it finds
# too few: freshness halves every week (weights.toml), so stories further away rarely win.
FIRST = timedelta(days=7)
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


def window(story: Story, width: timedelta = WINDOW) -> tuple[datetime, datetime]:
    ref = story.published_at or timezone.now()
    return ref - width, ref + width


def configs(story: Story) -> list[str]:
    """Text search configurations to ask in: the story's own and the two that most stories
    are indexed with (``search.update_search_vectors`` picks one per story's language)."""
    return list(dict.fromkeys([config_for(story.language), "english", "simple"]))


def tsquery_sql(cfgs: Sequence[str]) -> str:
    """SQL of one OR-query over the words' lexemes in several configurations, each lexeme
    once ("ship" from english and "shipping" from simple; "gas" only once): the index reads
    each posting list a single time. %(words)s is the words separated by spaces."""
    vectors = " || ".join(f"to_tsvector('{c}'::regconfig, %(words)s)" for c in cfgs)
    return (
        "(SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery "
        f"FROM (SELECT DISTINCT unnest(tsvector_to_array({vectors})) AS lexeme) AS lexemes)"
    )


# The index ``story_related_idx`` (migration 0021) holds each visible story's search vector
# with one more lexeme, its week ("~w2970": weeks since 1970). Asked for the story's words AND
# the weeks of its window, GIN's fast scan skips along the few thousand postings of those
# weeks instead of building a bitmap of every story in ten years that has one of the words
# (140 ms at 1,000,000 stories); the date condition then only trims the edge weeks.
WEEKS_VECTOR = "(s.search_vector || related_week(s.published_at))"
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

    Bounded work: the index is first asked for stories within ``FIRST`` of the story. Only
    when that finds fewer than ``POOL`` (a rare subject, so the wider search is cheap too)
    is the rest of ``WINDOW`` searched for the remainder. A busy subject thus never makes
    PostgreSQL read and rank the vectors of months of matching stories.
    """
    near_since, near_until = window(story, FIRST)
    since, until = window(story)
    query = words_query(story, words)
    cands = _pg_query(story, query, [(near_since, near_until)], POOL, ())
    if len(cands) < POOL:
        ranges = [(since, near_since), (near_until, until)]
        cands += _pg_query(story, query, ranges, POOL - len(cands), [c.id for c in cands])
    return cands


def words_query(story: Story, words: list[str]) -> str:
    """The words' tsquery as text, made by the database (``tsquery_sql``) once per story: the
    candidate queries then carry it as a constant, which the planner can weigh (a computed
    one made it read every story of the window instead of ``story_related_idx``)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {tsquery_sql(configs(story))}::text", {"words": " ".join(words)})
        return cursor.fetchone()[0]


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
            SELECT s.id, s.primary_country_id AS pc, ts_rank(s.search_vector, q.query) AS rank
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
            (SELECT sm.storyline_id FROM {t["sm"]} sm WHERE sm.story_id = s.id)"""


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
    country, country tags, topic tags, copies, storyline), with the text of those not yet
    profiled."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        # Text only for the candidates whose profile this process has not made yet: reading
        # (and decompressing) teasers and bodies is most of the cost of a warm suggestion.
        missing = [row[0] for row in rows if not is_cached(row[0], row[3], row[4])]
        texts: dict[int, tuple[str, str]] = {}
        if missing:
            cursor.execute(
                f"""SELECT id, substr(summary, 1, {SUMMARY_CHARS}),
                        CASE WHEN length(summary) < {SHORT_SUMMARY}
                             THEN substr(content, 1, {CONTENT_CHARS}) ELSE '' END
                    FROM {Story._meta.db_table} WHERE id = ANY(%s)""",
                [missing],
            )
            texts = {pk: (summary, content) for pk, summary, content in cursor.fetchall()}
    out = []
    for row in rows:
        pk, source_id, published, chash, title, tkey, ukey, lkey, outlet, pc = row[:10]
        summary, content = texts.get(pk, ("", ""))
        cand = _candidate(
            pk, source_id, published, chash, title, summary, content, (tkey, ukey, lkey), outlet, pc
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
    sql = f"""
        WITH q AS (SELECT %(query)s::tsquery AS query)
        SELECT s.id, ts_rank(s.search_vector, q.query) AS rank
        FROM {Story._meta.db_table} s, q
        WHERE {WEEKS_VECTOR} @@ (q.query && %(weeks)s::tsquery)
          AND {visible_sql("s")} AND NOT s.related_locked
          AND s.published_at BETWEEN %(since)s AND %(until)s
          AND s.id <> ALL(%(exclude)s)
        ORDER BY rank DESC, s.id DESC
        LIMIT %(limit)s
    """
    params: dict[str, Any] = {
        "query": words_query(story, words),
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
