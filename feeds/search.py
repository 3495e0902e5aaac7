"""Story search: PostgreSQL full-text search per story language, with a plain fallback.

PostgreSQL
    Each story carries a weighted vector (title A, summary B, content C) built with the text
    search configuration of its language: written with the story (``set_search_vector``, at
    ingest and on an editor's save) or rebuilt in bulk (``update_search_vectors``). Columns
    that a stage above derives from the same text in Python (the related box's stored terms)
    are registered here (``derive_from_text``) and written with the vector, by the same calls.
    ``search_stories`` parses the reader's query with ``websearch_to_tsquery`` once per
    configuration and ORs the results, so a query matches whatever language the story was
    indexed in. Results are ranked with ``ts_rank`` and carry a highlighted snippet. If
    full-text search finds nothing, titles are matched by trigram similarity (pg_trgm, index
    ``story_title_trgm_idx``), which forgives typos ("murmansk" for "Murmansk", "Kirkenss").

SQLite
    Both vector functions do nothing and ``search_stories`` finds stories with every word
    of the query in the title, summary or text, newest first: as whole words, or their
    inflections where PostgreSQL's stemming would find them too ("ice" finds "iced" and
    "icing", never "police" or "twice": ``feeds.text.stemming.forms_pattern``, through
    SQLite's REGEXP, which Django runs with Python's ``re``). Websearch's "or" between
    words and "-word" read as PostgreSQL reads them; a quoted phrase is its words.

Cost is bounded per request (threats.md, "search cost"): a query is at most
``MAX_QUERY_LENGTH`` characters and ``MAX_TERMS`` words (``check_query`` says which limit a
reader's query breaks; ``search_stories`` cuts a longer one from other callers), the trigram
fallback runs only for short queries of at least ``TRIGRAM_MIN_LENGTH`` characters and only
through the trigram index (the ``%>`` operator, its threshold a connection setting), and
``search_budget()`` runs a search in one of at most ``SEARCH_MAX_CONCURRENT`` slots shared by
every web process (PostgreSQL advisory locks), within ``SEARCH_STATEMENT_TIMEOUT_MS`` for all of
its statements together. So however many clients search, searches occupy at most that many web
workers, each for a bounded time, and the others stay free for every other page.

Snippets are escape-safe: PostgreSQL highlights plain text between two private-use sentinel
characters (removed from the story text first), and ``highlight_html`` escapes everything and
only then turns the sentinels into ``<mark>`` elements, so feed text can never inject HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from time import monotonic
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
    TrigramWordSimilarity,
)
from django.db import connection, transaction
from django.db.models import Case, F, Field, Func, Q, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Left
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from feeds.models import Country, Story, StoryQuerySet, Topic
from feeds.text.sanitizing import normalize_space, strip_controls
from feeds.text.stemming import forms_pattern

# Story.language (lower-cased, region stripped) -> PostgreSQL text search configuration.
LANGUAGE_CONFIGS = {
    "en": "english",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "ru": "russian",
    "sv": "swedish",
    "fi": "finnish",
    "da": "danish",
}
DEFAULT_CONFIG = "simple"
SEARCH_CONFIGS = ("english", "norwegian", "russian", "swedish", "finnish", "danish", "simple")

START = "\ue000"  # private-use characters: never meaningful in news text
STOP = "\ue001"
MAX_QUERY_LENGTH = 200  # characters
MAX_TERMS = 8  # words, the websearch operator "or" aside
TRIGRAM_MIN_LENGTH = 4  # shorter queries match too many headlines by trigrams to be useful
TRIGRAM_MAX_TERMS = 3  # a typo fix is for a name or two, not for a sentence
COUNT_CAP = 500  # "more than 500 results": ranking and counting further tells no more
RANK_WINDOW = COUNT_CAP + 1  # full-text matches ranked per search: the newest ones
_WORDS = re.compile(r"[^\W_]+")
SNIPPET_SOURCE_CHARS = 4000  # headline at most this much text per story


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def config_for(language: str) -> str:
    """The text search configuration for a language tag such as "nb-NO" or "EN"."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return LANGUAGE_CONFIGS.get(code, DEFAULT_CONFIG)


def _config_expression() -> Case:
    """A per-row SQL expression giving Story.language's configuration name."""
    whens = []
    for config in SEARCH_CONFIGS:
        codes = [code for code, name in LANGUAGE_CONFIGS.items() if name == config]
        if not codes:
            continue
        prefixes = [When(language__iexact=code, then=Value(config)) for code in codes]
        prefixes += [When(language__istartswith=f"{code}-", then=Value(config)) for code in codes]
        prefixes += [When(language__istartswith=f"{code}_", then=Value(config)) for code in codes]
        whens.extend(prefixes)
    return Case(*whens, default=Value(DEFAULT_CONFIG), output_field=TextField())


# Story.search_vector is built from these, weighted A, B and C, in the configuration of
# Story.language; an edit to any of the four must rebuild it.
_WEIGHTED_TEXTS = (("title", "A"), ("summary", "B"), ("content", "C"))
VECTOR_SOURCE_FIELDS = frozenset({"title", "summary", "content", "language"})


def _vector_sql(operands: Iterable[str], config: str = "%s") -> str:
    """The vector's SQL over three text operands (columns or placeholders), each preceded
    by ``config``: by default a parameter, given once per operand."""
    return " || ".join(
        f"setweight(to_tsvector({config}::regconfig, {operand}), '{weight}')"
        for operand, (_, weight) in zip(operands, _WEIGHTED_TEXTS, strict=True)
    )


# Columns derived in Python from a story's headline, teaser and body by a stage above this
# module (the related box's stored terms and profile: ``feeds.related.candidates.stored``),
# which may not be imported from here: ``feeds.apps`` registers them when the app is ready.
# Whoever writes a story's search vector writes them too (``set_search_vector``,
# ``update_search_vectors``, ingest's ``insert_stories``), so they never lag its text.
TextColumns = Callable[[str, str, str], Mapping[str, object]]
_TEXT_COLUMNS: dict[TextColumns, tuple[str, ...]] = {}


def derive_from_text(fields: Iterable[str], columns: TextColumns) -> None:
    """Write these fields, ``columns(title, summary, content)`` (field name → value), with
    every vector."""
    _TEXT_COLUMNS[columns] = tuple(fields)


def set_text_columns(story: Story) -> None:
    """Set the registered columns derived from the story's text, for its next save or INSERT
    (PostgreSQL; else nothing: only PostgreSQL's queries read them)."""
    if is_postgres():
        for columns in _TEXT_COLUMNS:
            values = columns(story.title or "", story.summary or "", story.content or "")
            for name, value in values.items():
                setattr(story, name, value)


def update_search_vectors(story_ids: Iterable[int]) -> None:
    """Recompute Story.search_vector, and the columns registered with ``derive_from_text``,
    for these stories (PostgreSQL only; no-op elsewhere)."""
    ids = list(story_ids)
    if not ids or not is_postgres():
        return
    by_config: dict[str, list[int]] = {}
    for pk, language in Story.objects.filter(pk__in=ids).values_list("pk", "language"):
        by_config.setdefault(config_for(language), []).append(pk)
    sql = _vector_sql(connection.ops.quote_name(name) for name, _ in _WEIGHTED_TEXTS)
    for config, pks in by_config.items():
        vector = RawSQL(sql, [config] * len(_WEIGHTED_TEXTS), output_field=SearchVectorField())
        Story.objects.filter(pk__in=pks).update(search_vector=vector)
    if _TEXT_COLUMNS:
        for start in range(0, len(ids), 500):
            stories = list(
                Story.objects.filter(pk__in=ids[start : start + 500]).only(
                    "id", "title", "summary", "content"
                )
            )
            for story in stories:
                set_text_columns(story)
            Story.objects.bulk_update(stories, sorted(set().union(*_TEXT_COLUMNS.values())))


_ROW_VECTOR_SQL = _vector_sql(["%s"] * len(_WEIGHTED_TEXTS))
# Shared by every row's expression: building a Field is not free, and ingest builds one
# expression per story.
_VECTOR_FIELD = SearchVectorField()


def set_search_vector(story: Story) -> None:
    """Have the story's next INSERT or save() compute its vector (PostgreSQL; else nothing).

    Ingest and the admin use this instead of ``update_search_vectors`` so that a story is
    written once: an UPDATE after the INSERT would leave a dead row version and a dead entry
    in every index for each story stored. The vector is plain SQL with parameters because
    compiling Django's SearchVector expressions once per row of a bulk INSERT cost more
    Python time than the second UPDATE cost the database.
    """
    if is_postgres():
        config = config_for(story.language)
        params = []
        for name, _ in _WEIGHTED_TEXTS:
            params += [config, getattr(story, name) or ""]
        story.search_vector = RawSQL(_ROW_VECTOR_SQL, params, output_field=_VECTOR_FIELD)
        set_text_columns(story)


def row_vector_sql(alias: str, config: str) -> str:
    """The vector's SQL over the title, summary and content columns of the row ``alias``
    (``v`` for ``SELECT … FROM UNNEST(…) AS v(…)``), in the configuration named by the SQL
    expression ``config``: for writers that INSERT stories in bulk (ingest)."""
    quote = connection.ops.quote_name
    texts = (f"{alias}.{quote(name)}" for name in _text_columns())
    return _vector_sql(texts, config=config)


def _text_columns() -> list[str]:
    columns = []
    for name, _ in _WEIGHTED_TEXTS:
        field = Story._meta.get_field(name)
        assert isinstance(field, Field) and field.column, name  # concrete text columns
        columns.append(field.column)
    return columns


class _Parsed(SearchQuery):
    """A tsquery given as the text ``websearch_to_tsquery`` made of it."""

    template = "%(expressions)s::tsquery"


def _tsquery(query: str) -> SearchQuery | None:
    """The query as every configuration parses it, each distinct parse once, ORed; None when
    every parse is empty (only stop words).

    Parsed in SQL first, then deduplicated: ORing seven copies of one lexeme (a name or a
    word no dictionary stems) made PostgreSQL estimate thousands of matches for a word that
    is in no story, and walk the newest stories in order instead of asking the full-text
    index (1.6 s at 100,000 stories, against a millisecond through the index).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT websearch_to_tsquery(c::regconfig, %s)::text "
            "FROM unnest(%s::text[]) AS c",
            [query, list(SEARCH_CONFIGS)],
        )
        parsed = sorted(text for (text,) in cursor.fetchall() if text)
    if not parsed:
        return None
    combined: SearchQuery = _Parsed(parsed[0])
    for text in parsed[1:]:
        combined = combined | _Parsed(text)
    return combined


def _plain_text(field: str) -> Func:
    """SQL: the field's HTML reduced to text, the sentinels removed, length-capped."""
    no_tags = Func(
        Left(F(field), SNIPPET_SOURCE_CHARS),
        Value("<[^>]*>"),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )
    return Func(
        no_tags, Value(START + STOP), Value(""), function="translate", output_field=TextField()
    )


def _as_datetime(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.combine(value, time.max if end else time.min)
    return timezone.make_aware(moment, timezone.get_current_timezone())


def _filtered(
    queryset: StoryQuerySet,
    *,
    country: Country | str | None,
    topic: Topic | str | None,
    since: date | datetime | None,
    until: date | datetime | None,
) -> StoryQuerySet:
    if isinstance(country, Country):
        queryset = queryset.for_country(country)
    elif country:
        queryset = queryset.filter(countries__country__slug=country, countries__rejected=False)
    if isinstance(topic, Topic):
        queryset = queryset.for_topic(topic)
    elif topic:
        queryset = queryset.filter(topics__topic__slug=topic, topics__rejected=False)
    if since := _as_datetime(since):
        queryset = queryset.filter(published_at__gte=since)
    if until := _as_datetime(until, end=True):
        queryset = queryset.filter(published_at__lte=until)
    return queryset


def normalise_query(raw: str | None) -> str:
    """A reader's query as it is searched and cached: no control characters (PostgreSQL
    refuses NUL), whitespace collapsed."""
    return normalize_space(strip_controls(raw or ""))


def query_terms(query: str) -> list[str]:
    """The words of a query, without websearch's "or" operator."""
    return [word for word in _WORDS.findall(query) if word.lower() != "or"]


def check_query(query: str) -> str | None:
    """Why a normalised reader's query cannot be searched as typed, or None when it can."""
    if len(query) > MAX_QUERY_LENGTH:
        return (
            f"Your search is {len(query):,} characters long; searches can be at most "
            f"{MAX_QUERY_LENGTH} characters. Shorten it to the words that matter."
        )
    terms = len(query_terms(query))
    if terms > MAX_TERMS:
        return (
            f"Your search has {terms} words; searches can have at most {MAX_TERMS}. "
            "Leave out the words that every story would contain."
        )
    return None


def _bounded(query: str) -> str:
    """``query`` within the limits, for callers that do not report them (the editor's search)."""
    query = normalise_query(query)[:MAX_QUERY_LENGTH]
    if len(query_terms(query)) > MAX_TERMS:
        query = " ".join(query_terms(query)[:MAX_TERMS])
    return query


class SearchBusy(Exception):
    """Every search slot is taken: ``SEARCH_MAX_CONCURRENT`` searches are running already."""


# The first key of the search slots' advisory locks (the second is the slot's number): a
# namespace apart from the ingest's per-host locks and from anyone else's.
_SEARCH_LOCK_CLASS = 0x53524348  # "SRCH"


@contextmanager
def search_budget() -> Iterator[None]:
    """Run the queries of one search in a search slot and within its time budget (PostgreSQL;
    elsewhere nothing).

    The slot: one of ``SEARCH_MAX_CONCURRENT`` transaction-level advisory locks, taken without
    waiting; when all are held by other searches (in any web process) this raises
    ``SearchBusy`` at once, and the caller turns the reader away with a Retry-After. A lock is
    released when the search's transaction ends, or when its connection does (a killed
    worker), so slots cannot leak. This is what bounds the web workers searches can occupy:
    at most that many, whatever the rate of searches or the number of clients.

    The time: every statement runs with the budget that is left of
    ``SEARCH_STATEMENT_TIMEOUT_MS`` as its statement timeout, so a search's statements together
    (match, page, count) hold the slot at most that long. A statement that runs out raises
    ``django.db.OperationalError``; the caller tells the reader.
    """
    if not is_postgres():
        yield
        return
    deadline = monotonic() + settings.SEARCH_STATEMENT_TIMEOUT_MS / 1000
    with transaction.atomic():
        with connection.cursor() as cursor:
            for slot in range(max(1, settings.SEARCH_MAX_CONCURRENT)):
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", [_SEARCH_LOCK_CLASS, slot]
                )
                if cursor.fetchone()[0]:
                    break
            else:
                raise SearchBusy
        with connection.execute_wrapper(_TimeLeft(deadline)):
            yield


class _TimeLeft:
    """An execute wrapper giving each statement what is left of the search's time budget as
    its statement timeout (local to the search's transaction)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        left_ms = max(1, int((self.deadline - monotonic()) * 1000))
        # The raw cursor: this statement is ours, not one to wrap again.
        context["cursor"].cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(left_ms)]
        )
        return execute(sql, params, many, context)


def page_of(results: StoryQuerySet, offset: int, size: int) -> list[Story]:
    """Rows ``offset`` to ``offset + size`` of ranked ``results``, in rank order.

    The ranking picks the page's ids first; only those rows are then read with their
    highlighted headline and snippet. Asked in one query, a deep page made PostgreSQL
    highlight every row it skipped (1.6 s for page 40 of a common word).
    """
    ids = list(results.values_list("pk", flat=True)[offset : offset + size])
    rows = {story.pk: story for story in results.filter(pk__in=ids)}
    return [rows[pk] for pk in ids if pk in rows]


def count_capped(results: StoryQuerySet) -> int:
    """How many stories ``results`` holds, counted up to COUNT_CAP + 1 at most."""
    # Only the ids: the rank and the highlighted snippets are for the page's rows alone.
    return results.order_by().values("pk")[: COUNT_CAP + 1].count()


def _plain_terms(query: str) -> list[list[tuple[str, bool]]]:
    """The query as the embedded default searches it: groups of (word, excluded) that are
    ORed (websearch's "or" between them), the words of a group all required ("-word":
    required absent). Words of one letter say nothing and are left out."""
    groups: list[list[tuple[str, bool]]] = [[]]
    for token in query.split():
        if token.lower() == "or":
            groups.append([])
            continue
        excluded = token.startswith("-")
        groups[-1] += [(w, excluded) for w in _WORDS.findall(token) if len(w) > 1]
    terms = 0
    kept: list[list[tuple[str, bool]]] = []
    for group in groups:
        group = group[: max(0, MAX_TERMS - terms)]
        terms += len(group)
        if group:
            kept.append(group)
    return kept


# The candidates are looked for among the newest stories first: the newest 10,000 visible
# stories, then the newest 100,000, then all (SEARCH_WINDOWS). Unbounded, the planner walked
# the visible stories newest first testing each one's vector until it had RANK_WINDOW matches:
# fine for a common word, but a word in 1 % of the stories read ~50,000 rows (593 ms at
# 1,000,000 stories, most of it from disk). Bounded by a window's first date, every plan reads
# at most the window (or its matches through story_search_idx ANDed with the date range of
# story_visible_recent_idx), and a window holding RANK_WINDOW matches holds the newest ones.
SEARCH_WINDOWS = (10_000, 100_000)
WINDOW_STARTS_SECONDS = 600  # how long a process keeps the windows' first dates
_window_starts: tuple[float, list[datetime]] | None = None


def clear() -> None:
    """Forget the kept window starts (tests: each is its own archive)."""
    global _window_starts
    _window_starts = None


def _starts() -> list[datetime]:
    """The publication dates that begin each of SEARCH_WINDOWS (the N-th newest visible
    story's), as far as the archive has that many; kept per process for a while, since they
    only creep forward (a date a little old makes its window a little larger, never wrong)."""
    global _window_starts
    now = monotonic()
    if _window_starts is None or now - _window_starts[0] > WINDOW_STARTS_SECONDS:
        newest = Story.objects.visible().order_by("-published_at", "-id")
        starts = []
        for size in SEARCH_WINDOWS:
            start = newest.values_list("published_at", flat=True)[size - 1 : size].first()
            if start is None:
                break
            starts.append(start)
        _window_starts = (now, starts)
    return _window_starts[1]


def _newest_matches(matches: StoryQuerySet) -> list[int]:
    """The ids of the newest RANK_WINDOW ``matches``, newest first: window by window (each
    query reads only the stories between its window's start and the previous one's), until
    RANK_WINDOW are found or the archive is done."""
    found: list[int] = []
    end: datetime | None = None
    for start in [*_starts(), None]:
        part = matches
        if start is not None:
            part = part.filter(published_at__gte=start)
        if end is not None:
            part = part.filter(published_at__lt=end)
        found += part.order_by("-published_at", "-id").values_list("pk", flat=True)[
            : RANK_WINDOW - len(found)
        ]
        if len(found) >= RANK_WINDOW:
            break
        end = start
    return found


def _plain_search(base: StoryQuerySet, query: str) -> StoryQuerySet:
    """The embedded default's search: every word of the query (as whole words or their
    inflections) somewhere in the headline, standfirst or text."""
    groups = _plain_terms(query)
    if not groups:
        return base.none()
    found = Q()
    for group in groups:
        every = Q()
        for word, excluded in group:
            pattern = forms_pattern(word)
            anywhere = (
                Q(title__iregex=pattern) | Q(summary__iregex=pattern) | Q(content__iregex=pattern)
            )
            every &= ~anywhere if excluded else anywhere
        found |= every
    return base.filter(found).newest_first()


def search_stories(
    query: str,
    *,
    country: Country | str | None = None,
    topic: Topic | str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> StoryQuerySet:
    """Visible stories matching ``query``, best first among the newest RANK_WINDOW matches,
    ready for listing templates.

    On PostgreSQL each story carries ``rank``, ``snippet`` and ``headline`` (plain text with
    sentinel marks; render them through ``highlight_html``). Runs two queries at once (the
    query's parse, the matching ids) and returns the rest lazily. Run it inside
    ``search_budget()`` so that its statements time out.
    """
    query = _bounded(query)
    base = _filtered(
        Story.objects.visible(), country=country, topic=topic, since=since, until=until
    )
    if not query:
        return base.none()
    if not is_postgres():
        return _plain_search(base, query)

    tsquery = _tsquery(query)
    if tsquery is None:
        return base.none()
    # Ranking reads every candidate's vector: over all the matches of a common word (tens of
    # thousands of stories) that took seconds. Rank the newest RANK_WINDOW matches instead,
    # which is also all that the pages (and the count) can show. Their ids are read here, once:
    # as a subquery, PostgreSQL joined them back to every story in a nested loop (12 s to ask
    # whether "government minister" matched anything, at 100,000 stories).
    window = _newest_matches(base.filter(search_vector=tsquery))
    found = (
        Story.objects.filter(pk__in=window)
        .annotate(
            rank=SearchRank(F("search_vector"), tsquery),
            snippet=SearchHeadline(
                Concat(
                    _plain_text("summary"),
                    Value(" "),
                    _plain_text("content"),
                    output_field=TextField(),
                ),
                tsquery,
                config=_config_expression(),
                start_sel=START,
                stop_sel=STOP,
                max_words=40,
                min_words=20,
                max_fragments=2,
                fragment_delimiter=" … ",
            ),
            # The headline with the matched words marked (all of it, not fragments).
            headline=SearchHeadline(
                Func(F("title"), Value(START + STOP), Value(""), function="translate"),
                tsquery,
                config=_config_expression(),
                start_sel=START,
                stop_sel=STOP,
                highlight_all=True,
            ),
        )
        .order_by("-rank", "-published_at", "-id")
    )
    if window:
        return found
    if len(query) < TRIGRAM_MIN_LENGTH or len(query_terms(query)) > TRIGRAM_MAX_TERMS:
        return found  # nothing, and no trigram scan for a query that would match anything
    return (
        # Word similarity: a misspelt "icebrekaer" is close to one word of a headline, not
        # to the whole headline. The %> operator (title %> query) is what the trigram index
        # answers; its cut-off is pg_trgm.word_similarity_threshold, which every connection
        # sets to settings.SEARCH_TRIGRAM_THRESHOLD (the default 0.6 misses such typos).
        base.filter(title__trigram_word_similar=query)
        .annotate(rank=TrigramWordSimilarity(query, "title"), snippet=Value("", TextField()))
        .order_by("-rank", "-published_at", "-id")
    )


SNIPPET_WORDS = 30
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def mark_matches(stories: Iterable[Any], query: str) -> None:
    """Give stories found without PostgreSQL's ts_headline (the embedded default's search) the
    same ``headline`` and ``snippet``: the query's words marked with the sentinels, in the
    headline and in about SNIPPET_WORDS words of text around the first match in the teaser or
    the body, so a reader sees why each story was found."""
    words = {w.lower() for group in _plain_terms(query) for w, excluded in group if not excluded}
    if not words:
        return
    # The words the search matched, whole (as it found them): never "pol[ice]".
    forms = (forms_pattern(w) for w in sorted(words, key=len, reverse=True))
    pattern = re.compile("|".join(forms), re.IGNORECASE)

    def marked(text: str) -> str:
        return pattern.sub(lambda m: f"{START}{m.group(0)}{STOP}", text)

    for story in stories:
        if getattr(story, "snippet", None):
            continue
        title = (story.title or "").translate({ord(START): None, ord(STOP): None})
        story.headline = marked(title) if pattern.search(title) else ""
        snippet = ""
        for field in (story.summary, story.content):
            text = html.unescape(_TAGS.sub(" ", (field or "")[:SNIPPET_SOURCE_CHARS]))
            text = _SPACES.sub(" ", text.translate({ord(START): None, ord(STOP): None}))
            found = pattern.search(text)
            if found:
                head = text[: found.start()].split(" ")
                tail = text[found.start() :].split(" ")
                before = head[-SNIPPET_WORDS // 3 :]
                after = tail[: SNIPPET_WORDS - len(before)]
                snippet = marked(" ".join(before + after).strip())
                if len(before) < len(head) and before != [""]:
                    snippet = "… " + snippet
                if len(after) < len(tail):
                    snippet += " …"
                break
        story.snippet = snippet


_MARKS = re.compile(f"([{START}{STOP}])")


def highlight_html(snippet: str) -> SafeString:
    """Escape a sentinel-marked snippet, then turn the sentinels into balanced <mark> tags.

    The text comes from feeds: it is unescaped from its HTML entities, escaped again as a
    whole, and the only markup in the result is ours.
    """
    out: list[str] = []
    open_mark = False
    for part in _MARKS.split(snippet or ""):
        if part == START:
            if not open_mark:
                out.append("<mark>")
                open_mark = True
        elif part == STOP:
            if open_mark:
                out.append("</mark>")
                open_mark = False
        elif part:
            out.append(escape(_SPACES.sub(" ", html.unescape(part))))
    if open_mark:
        out.append("</mark>")
    # Safe: every feed-derived part above went through escape(); the only tags are ours.
    return mark_safe("".join(out).strip())
