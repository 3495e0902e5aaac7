"""Suggesting the "Related stories from around the North" box.

For each of the nine countries: the best related story tagged with that country, or none
when nothing is good enough. Relevance first, freshness second, source variety third.

How one box is suggested (``suggest`` ranks, ``refresh_box`` writes):

1. **What the story is about.** Its headline and lead (the teaser, else the first words of the
   body) become weighted terms: words lightly stemmed ("icebreakers" ~ "icebreaker"), word
   pairs ("sea route"), headline words three times a lead word's weight, names (capitalised
   inside a sentence) half as much again, country names and demonyms a third: a related
   story is by design about another country, so "Norway" says little about the subject.
   Each term is weighted by its rarity (idf) in a sample of recent stories.
2. **Candidates.** PostgreSQL: the most informative terms become one OR-query
   (``to_tsquery('english', …) || to_tsquery('simple', …)``, plus the story's own language
   configuration, matching how ``search.update_search_vectors`` builds each story's vector),
   answered by the GIN index ``story_search_idx``; the best ``POOL`` visible, tagged stories
   by ``ts_rank`` (at most ``PER_COUNTRY`` per primary country, so one busy country cannot
   crowd out the others) within ``WINDOW`` of the story's date. SQLite: the newest
   ``SCAN_LIMIT`` visible, tagged stories within the window, compared in Python.
3. **Scoring** (Python, on the candidates' headline and lead): relevance = cosine similarity
   of the weighted terms, plus a little for shared topic tags; a candidate tagged with a
   country only as a secondary counts slightly less there. Below ``MIN_RELEVANCE`` nothing
   is suggested. The score multiplies relevance by a freshness factor (age relative to the
   story, half-life ``HALF_LIFE``; a story newer than the box's own is fresh) that can only
   take away ``FRESH_SHARE`` of it, and a same-outlet candidate loses a little.
4. **Never** the story itself, its canonical story, a copy (hidden and copies are not
   visible; a candidate sharing the story's headline key, link key or lead key, or almost
   all of its words, is another copy), a hidden story, or an untagged story.
5. **The box** (``refresh_box``): one story per country, strongest countries choose first,
   no story twice, an outlet already on the box costs a little. Lines are placed in the
   countries' alphabetical order. Locked boxes, pinned lines, editors' and outlets' lines and
   lines an editor cleared (``curation.cleared_countries``) are never touched.

Freshness of boxes (``boxes_affected_by``): for each new story, the ``REFRESH_PER_STORY``
unlocked boxes of stories published within ``REFRESH_WINDOW`` of it that it resembles most
(the same index query, the other way round), at most ``REFRESH_MAX`` per call.
"""

from __future__ import annotations

import html
import math
import re
import time
import unicodedata
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, QuerySet, TextField, Value, When
from django.db.models.functions import Length, Substr
from django.utils import timezone

from feeds.models import Country, Origin, RelatedSlot, Source, Story, StoryCountry, StoryTopic

# --- Tunables (one place, each with its reason) ----------------------------------------------
WINDOW = timedelta(days=90)  # candidates published within this of the story
NEAR = timedelta(days=14)  # … searched first; the rest only if this finds too few
POOL = 150  # candidates fetched from the full-text index
PER_COUNTRY = 25  # … at most this many per primary country
SCAN_LIMIT = 1500  # SQLite fallback: newest stories compared in Python
QUERY_TERMS = 10  # most informative terms in the index query
QUERY_CONCEPTS = 2  # … plus the commonest words of the story's main subjects
QUERY_CONCEPT_WORDS = 3
QUERY_MAX_DF = 0.05  # words in more of the recent stories than this are not asked for …
QUERY_MIN_DF = 50  # … unless the corpus is so small that this many is more
MIN_RELEVANCE = 0.05  # below this a candidate is not related (chosen on dev + holdout together)
DUPLICATE_SIMILARITY = 0.8  # this similar and this close in time: another copy of the story
DUPLICATE_GAP = timedelta(days=3)
HALF_LIFE_DAYS = 14.0  # freshness halves every two weeks of age (relative to the story)
FRESH_SHARE = 0.25  # freshness can take at most this share of the score
SAME_SOURCE_PENALTY = 0.02  # a line from the story's own outlet is slightly less welcome
OUTLET_REPEAT_PENALTY = 0.06  # each earlier line from the same outlet costs this share
SECONDARY_TAG = 0.75  # a candidate tagged with the country only as a secondary one
# Newsletters, podcasts and round-ups touch every subject of their week, so they match many
# boxes without being about any one story's subject: a line only when nothing else fits.
ROUNDUP_PENALTY = 0.5
_ROUNDUP = re.compile(
    r"\b(newsletter|podcast|digest|roundup|round up|news in brief|daily briefing|"
    r"morning briefing|week in review|the week in|this week in|live blog|live updates)\b"
)
TOPIC_BONUS = 0.3  # shared topic tags raise the text similarity by up to this share
ALTERNATIVES = 5
# Bounded re-suggestion work per new story.
REFRESH_WINDOW = timedelta(days=30)
REFRESH_PER_STORY = 15
REFRESH_MAX = 600
SUGGESTED_AT_REFRESH = timedelta(hours=1)  # an unchanged box's time is rewritten at most this often
REFRESH_MIN_RELEVANCE = 0.08  # SQLite fallback: boxes this similar are worth refreshing

# Term weights.
TITLE_WEIGHT = 3.0
LEAD_WORDS = 90  # the lead: what a story is about; later words are passing mentions
# What a profile reads, cut in the database (HTML, so a little more than 90 words): the
# teaser, and the body's opening only when the teaser is short.
SUMMARY_CHARS = 1200
CONTENT_CHARS = 1500
SHORT_SUMMARY = 400  # HTML characters
SHORT_LEAD = 200  # plain-text characters
PAIR_WEIGHT = 0.6
NAME_BOOST = 1.5
COUNTRY_WORD_WEIGHT = 0.3

# Document frequencies: a sample of the newest stories, recomputed when it is stale.
DF_SAMPLE = 3000
DF_TTL_SECONDS = 600
DF_RECHECK_SECONDS = 60  # a full sample is not even checked for new stories more often
IDF_MIN_STORIES = 200

_WORD = re.compile(r"[^\W\d_]{2,}")
_TAG = re.compile(r"<[^>]*>")
_SENTENCES = re.compile(r"[.!?:;\"“”«»()\[\]—–\n]+")
_COMBINING = re.compile(r"[\u0300-\u036f]")
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "ð": "d", "þ": "th", "ß": "ss", "ł": "l", "đ": "d"})

STOPWORDS = frozenset(
    """a about above according across after afterwards again against ago ahead all almost
    along already also although always am among an and another any anyone anything are
    around as at away back be became because become been before being below between both
    but by can cannot could did do does doing done down during each early either else
    enough even ever every few first for former from further get gets getting given go
    going got had has have having he her here hers herself him himself his how however i if
    in including inside instead into is it its itself just last late later latest least
    less like made make makes making many may me might more most mostly much must my near
    nearly need needs never new news next no nor not now of off often on once one only onto
    or other others our ours out over own part per perhaps put rather really said same say
    saying says see seen several shall she should since so some something still such take
    taken than that the their them themselves then there these they this those though three
    through thus time times to today told too toward towards two under until up upon us
    use used very via want wants was way we week weeks well were what when where whether
    which while who whom whose why will with within without would year years yet you your
    monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december mr mrs ms dr st per cent percent
    million billion thousand hundred tells asked asks yesterday tomorrow tonight also
    reported reports report amid says spokesperson spokesman spokeswoman statement
    interview week month months day days""".split()
)
# Countries, their people and adjectives: a related story is about another country by
# design, so these say little about what the story is about.
COUNTRY_WORDS = frozenset(
    """canada canadian canadians denmark danish dane danes greenland greenlandic greenlanders
    greenlander kalaallit finland finnish finn finns iceland icelandic icelander icelanders
    norway norwegian norwegians russia russian russians sweden swedish swede swedes alaska
    alaskan alaskans america american americans united states arctic nordic""".split()
)
# Subjects an Arctic newsroom files stories under, with the words that signal them. Two
# stories about the same subject often share few words ("capelin quota" and "crab quotas",
# "Gripen fighters" and "anti-submarine warfare"); each word below also counts for its
# subject, so such stories meet. Phrases are matched as word pairs ("sea ice").
CONCEPTS: dict[str, str] = {
    "fishery": """fish fishing fishery fisheries fisherman fishermen fishers trawler trawlers
        trawling catch catches cod capelin herring mackerel halibut turbot salmon crab crabs
        shrimp prawns char pollock haddock saithe redfish whiting seafood aquaculture
        spawning longline gillnet quota quotas""",
    "shipping": """shipping ship ships vessel vessels cargo container containers tanker tankers
        freight transit transits transshipment port ports harbour harbor seaport shipowner
        shipowners voyage voyages sailing sailings navigation maritime berth berths quay
        dredging carrier carriers|sea route|sea lane|shipping lane|northwest passage""",
    "defence": """military defence defense army navy naval troops soldier soldiers nato
        submarine submarines frigate frigates fighter fighters jets warship warships missile
        missiles drills exercise exercises brigade battalion garrison combat weapons
        deterrence airborne marines infantry artillery drones surveillance patrol patrols
        warfare|armed forces|air force|air defence|air base""",
    "mining": """mine mines mining miner miners mineral minerals ore deposit deposits nickel
        copper graphite zinc gold lithium cobalt phosphate uranium tailings quarry smelter
        smelters concession|rare earth|rare earths|iron ore|open pit""",
    "herding": """reindeer herder herders herding herd herds pasture pastures grazing lichen
        calving corral corrals|round up""",
    "indigenous": """indigenous sámi sami saami inuit inuk iñupiaq inupiat yupik nenets
        tribal tribe tribes aboriginal|first nations|alaska native""",
    "selfgov": """devolution autonomy autonomous independence constitution constitutional
        sovereignty sovereign compact|self government|self determination|self rule|land
        claims|home rule""",
    "rights": """rights discrimination reconciliation assimilation apology|truth
        commission|human rights|land rights""",
    "election": """election elections elect elected vote votes voting voter voters ballot
        ballots turnout poll polls polling candidate candidates campaign campaigns referendum
        electoral seats primaries|ranked choice|re elected""",
    "thaw": """permafrost thaw thaws thawing subsidence sinkhole sinkholes palsa palsas
        |frozen ground|active layer""",
    "climate": """climate warming warmer warms heatwave temperatures emissions greenhouse
        carbon|global warming""",
    "ice": """glacier glaciers iceberg icebergs melt melting meltwater|sea ice|ice sheet|ice
        cap|ice cover""",
    "research": """research researcher researchers scientist scientists science scientific
        study studies expedition expeditions observatory laboratory measurements monitoring
        instruments samples|field station|research station|ice core""",
    "culture": """festival festivals music musician musicians concert concerts film films
        cinema screening screenings artist artists art arts band bands singer singers
        theatre theater dance dancers exhibition museum gallery song songs performers
        tickets headliner headliners""",
    "fire": """wildfire wildfires fire fires blaze blazes burn burned burning burnt smoke
        firefighter firefighters firefighting smouldering smoldering flames""",
    "icebreaker": """icebreaker icebreakers icebreaking|ice class|polar security|ice
        breaking""",
    "oilgas": """oil gas lng petroleum offshore drilling pipeline pipelines refinery barrels
        condensate oilfield""",
    "renewable": """wind turbine turbines hydropower solar renewable renewables electricity
        hydrogen|wind farm|wind power|power line|power lines""",
    "tourism": """tourism tourist tourists visitor visitors cruise cruises hotel hotels travel
        travellers bookings""",
    "health": """hospital hospitals health healthcare doctor doctors nurse nurses patient
        patients medical clinic clinics disease diseases vaccine surgery""",
    "housing": """housing homes house houses apartment apartments rent rents mortgage""",
    "aviation": """airport airports flight flights airline airlines runway aviation plane
        planes""",
    "wildlife": """wildlife bear bears whale whales walrus walruses seal seals muskox narwhal
        narwhals beluga belugas birds seabirds species caribou wolves wolf lynx|polar bear""",
    "schooling": """school schools student students teacher teachers education pupils
        classroom classes""",
    "justice": """police court courts judge trial prison crime criminal lawsuit ruling
        verdict prosecutor""",
    "space": """satellite satellites rocket rockets spaceport space orbit""",
    "transport": """road roads highway highways railway railways rail train trains bridge
        tunnel""",
    "hunting": """hunting hunter hunters hunt cull""",
    "hazard": """avalanche avalanches landslide landslides rockslide rockslides mudslide
        mudslides flood floods flooding storm storms blizzard blizzards evacuation evacuate
        evacuated evacuees erosion earthquake earthquakes eruption volcano volcanic""",
    "language": """language languages dialect dialects speakers immersion bilingual literacy
        |mother tongue|language nest|language nests""",
}
# Generic parts of place names ("Cambridge Bay", "Disko Bay"): they say where, not what.
GEO_WORDS = frozenset(
    """bay bays sea seas ocean river rivers island islands peninsula lake lakes fjord fjords
    strait gulf mountain mountains valley coast coastal north south east west northern
    southern eastern western northwest northeast southwest southeast northwestern
    northeastern region regional county municipality town city village villages capital
    area territory territories province provinces""".split()
)
# How much and which way, not what: "record number of tankers", "patient numbers rise".
GENERIC_WORDS = frozenset(
    """record records number numbers rise rises rising rose risen increase increases increased
    increasing decline declines declined declining fall falls fell drop drops dropped grow
    grows grew growing higher lower highest lowest biggest largest smallest fewer double
    doubles doubled triple half level levels total average amount compared expected expects
    expect plan plans planned major big large small huge significant keep keeps continue
    continues continued again another issue issues issued""".split()
)
GENERIC_WEIGHT = 0.3
CONCEPT_WEIGHT = 1.0
PLACE_WEIGHT = 0.4  # a town's name says where, not what ("Tromsø hospital", "Tromsø festival")


@dataclass(frozen=True)
class Scored:
    story_id: int
    score: float
    relevance: float


# --- Words ----------------------------------------------------------------------------------

_NORM: dict[str, str] = {}  # word as written (lower-cased) → its term, "" for a stopword


def _undouble(w: str) -> str:
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        return w[:-1]
    return w


def stem(w: str) -> str:
    """A light English stemmer: plurals, -ing and -ed ("shipping" ~ "ships" ~ "ship")."""
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "as", "os")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5:
        w = _undouble(w[:-3])
        if len(w) == 3 and w[1] in "aeiou" and w[0] not in "aeiou" and w[2] not in "aeiouwxy":
            w += "e"  # "mining" ~ "mine", "voting" ~ "vote"
    elif w.endswith("ed") and len(w) > 4 and not w.endswith("eed"):
        w = _undouble(w[:-2])
        if len(w) == 3 and w[1] in "aeiou" and w[0] not in "aeiou" and w[2] not in "aeiouwxy":
            w += "e"
    return w


def _term(word: str) -> str:
    """The term of a word as written: folded, stemmed; "" for stopwords and short words."""
    got = _NORM.get(word)
    if got is not None:
        return got
    w = word.casefold()
    if not w.isascii():
        w = _COMBINING.sub("", unicodedata.normalize("NFKD", w)).translate(_FOLD)
    term = "" if len(w) < 3 or w in STOPWORDS else stem(w)
    if len(_NORM) > 300_000:  # bound memory in a long-running worker
        _NORM.clear()
    _NORM[word] = term
    return term


def _concept_table() -> dict[str, tuple[str, ...]]:
    """Term or word pair ("sea ice") → the concepts it signals."""
    table: dict[str, list[str]] = defaultdict(list)
    for concept, spec in CONCEPTS.items():
        words, *phrases = spec.split("|")
        keys = [_term(w) for w in words.split()]
        for phrase in phrases:
            parts = [_term(w) for w in phrase.split()]
            if len(parts) == 2 and all(parts):
                keys.append(" ".join(parts))
        for key in keys:
            if key and "~" + concept not in table[key]:
                table[key].append("~" + concept)
    return {k: tuple(v) for k, v in table.items()}


def _place_terms() -> frozenset[str]:
    """One-word place names and demonyms of the tagger's gazetteer (Latin script)."""
    from feeds.tagging import gazetteer as gz

    out: set[str] = set()
    for kinds in gz.GAZETTEER.values():
        for kind in ("place", "capital", "name", "demonym"):
            for term in kinds.get(kind, ()):
                term = term.lstrip("=!")
                if "*" in term or " " in term or not _WORD.fullmatch(term):
                    continue
                if term.isascii() or term[0].isascii():
                    word = _term(term)
                    if word:
                        out.add(word)
    return frozenset(out)


CONCEPT_OF = _concept_table()
GEO_TERMS = frozenset(_term(w) for w in GEO_WORDS)
CONCEPT_WORDS: dict[str, tuple[str, ...]] = {
    "~" + concept: tuple(w for w in spec.split("|")[0].split() if _WORD.fullmatch(w))
    for concept, spec in CONCEPTS.items()
}
PLACE_TERMS = (_place_terms() | GEO_TERMS) - frozenset(CONCEPT_OF)
GENERIC_TERMS = frozenset(_term(w) for w in GENERIC_WORDS) - frozenset(CONCEPT_OF)


def plain_text(fragment: str) -> str:
    if "<" in fragment:
        fragment = _TAG.sub(" ", fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    return fragment


def _kind_factor(term: str, names: set[str]) -> float:
    if term[0] == "~":
        return CONCEPT_WEIGHT
    if " " in term:
        a, b = term.split(" ", 1)
        if a in COUNTRY_WORDS or b in COUNTRY_WORDS:
            return COUNTRY_WORD_WEIGHT
        if a in GENERIC_TERMS or b in GENERIC_TERMS:
            return GENERIC_WEIGHT
        if a in PLACE_TERMS and b in PLACE_TERMS:
            return PLACE_WEIGHT
        return NAME_BOOST if a in names and b in names else 1.0
    if term in COUNTRY_WORDS:
        return COUNTRY_WORD_WEIGHT
    if term in GENERIC_TERMS:
        return GENERIC_WEIGHT
    if term in PLACE_TERMS:
        return PLACE_WEIGHT
    return NAME_BOOST if term in names else 1.0


@dataclass
class _Vector:
    weights: dict[str, float]
    norm: float


@dataclass
class Profile:
    """What a story is about: its headline-and-lead terms, weighted before rarity (idf)."""

    base: dict[str, float]  # term → log(1 + count) × kind factor
    surface: dict[str, str] = field(default_factory=dict)  # term → a word as written
    vector: _Vector | None = None  # with idf, for the corpus generation below
    generation: int = -1

    @classmethod
    def of(cls, title: str, summary: str, content: str = "", *, surface: bool = False) -> Profile:
        """``summary`` and ``content`` are HTML; the content counts only if the teaser is short."""
        tf: dict[str, float] = {}
        names: set[str] = set()
        words: dict[str, str] | None = {} if surface else None
        lead = plain_text(summary or "")
        if len(lead) < SHORT_LEAD and content:
            lead = (lead + " " + plain_text(content[:CONTENT_CHARS])).strip()
        _count(title or "", TITLE_WEIGHT, 60, tf, None, words)
        _count(lead, 1.0, LEAD_WORDS, tf, names, words)
        base = {t: math.log1p(c) * _kind_factor(t, names) for t, c in tf.items()}
        return cls(base, words or {})


def _count(
    text: str,
    weight: float,
    limit: int,
    tf: dict[str, float],
    names: set[str] | None,
    surface: dict[str, str] | None,
) -> None:
    """Add a text's terms, word pairs and concepts to ``tf``. Names are words capitalised
    inside a sentence; pairs never span a sentence boundary or a stopword."""
    n = 0
    for sentence in _SENTENCES.split(text):
        prev = ""
        first = True
        for m in _WORD.finditer(sentence):
            if n >= limit:
                return
            n += 1
            word = m.group()
            term = _term(word)
            if not term:
                prev = ""
                first = False
                continue
            tf[term] = tf.get(term, 0.0) + weight
            for concept in CONCEPT_OF.get(term, ()):
                tf[concept] = tf.get(concept, 0.0) + weight
            if names is not None and not first and word[0].isupper():
                names.add(term)
            if surface is not None and term not in surface:
                surface[term] = word.casefold()
            if prev:
                pair = prev + " " + term
                tf[pair] = tf.get(pair, 0.0) + weight * PAIR_WEIGHT
                for concept in CONCEPT_OF.get(pair, ()):
                    tf[concept] = tf.get(concept, 0.0) + weight
            prev = term
            first = False


# Profiles of stories seen lately, by id and text signature: a worker suggesting boxes meets
# the same candidates again and again.
_PROFILES: OrderedDict[int, tuple[object, Profile]] = OrderedDict()
PROFILE_CACHE = 8000


def _profile(pk: int, signature: object, title: str, summary: str, content: str) -> Profile:
    hit = _PROFILES.get(pk)
    if hit is not None and hit[0] == signature:
        _PROFILES.move_to_end(pk)
        return hit[1]
    prof = Profile.of(title, summary, content)
    _PROFILES[pk] = (signature, prof)
    if len(_PROFILES) > PROFILE_CACHE:
        _PROFILES.popitem(last=False)
    return prof


def _cached(pk: int, content_hash: str, title: str) -> bool:
    """Is the profile of this story (as it is now) in the cache? Only stories with a
    content hash can be told apart without their text."""
    hit = _PROFILES.get(pk)
    return bool(content_hash) and hit is not None and hit[0] == (content_hash, title)


def _signature(content_hash: str, title: str, summary: str, content: str) -> object:
    # Ingest recomputes content_hash whenever the outlet changes the story; an editor may
    # change the headline, and stories made elsewhere (tests, admin) may have no hash.
    return (content_hash, title) if content_hash else (title, summary, content)


# --- Term statistics --------------------------------------------------------------------------


@dataclass
class _Corpus:
    n: int
    df: dict[str, int]
    key: tuple
    at: float
    generation: int

    def idf(self, term: str) -> float:
        # Rarity cannot be judged from a handful of stories (a new site): count as if there
        # were at least IDF_MIN_STORIES, the others not containing the term.
        df = self.df.get(term, 0)
        n = max(self.n, IDF_MIN_STORIES)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


_CORPUS: _Corpus | None = None


def _text_columns(qs: QuerySet) -> QuerySet:
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


def _corpus() -> _Corpus:
    """Document frequencies of terms in the newest ``DF_SAMPLE`` visible stories.

    Kept for ``DF_TTL_SECONDS`` unless many stories arrived meanwhile; a small database
    (tests, a fresh install) is re-read whenever its newest story or its size changes.
    """
    global _CORPUS
    now = time.monotonic()
    cached = _CORPUS
    same_db = cached is not None and cached.key[:2] == (
        connection.alias,
        connection.settings_dict.get("NAME"),
    )
    if same_db and cached.n >= DF_SAMPLE and now - cached.at < DF_RECHECK_SECONDS:
        return cached  # a big corpus does not change much in a minute: no query at all
    visible = Story.objects.visible()
    top = visible.order_by("-pk").values_list("pk", flat=True).first() or 0
    if same_db and cached.n < DF_SAMPLE:
        fresh = cached.key[2:] == (top, visible.count())
    else:
        fresh = (
            same_db
            and now - cached.at < DF_TTL_SECONDS
            and top - cached.key[2] < max(50, cached.n // 20)
        )
    if fresh:
        return cached
    rows = _text_columns(visible.order_by("-published_at", "-id")).values_list(
        "pk", "content_hash", "title", "_summary", "_content"
    )[:DF_SAMPLE]
    df: dict[str, int] = defaultdict(int)
    n = 0
    for pk, chash, title, summary, content in rows:
        n += 1
        prof = _profile(pk, _signature(chash, title, summary, content), title, summary, content)
        for term in prof.base:
            df[term] += 1
    size = n if n < DF_SAMPLE else visible.count()
    key = (connection.alias, connection.settings_dict.get("NAME"), top, size)
    _CORPUS = _Corpus(n, dict(df), key, now, (cached.generation + 1) if cached else 0)
    return _CORPUS


def _vector(prof: Profile, corpus: _Corpus) -> _Vector:
    if prof.vector is None or prof.generation != corpus.generation:
        weights = {t: b * corpus.idf(t) for t, b in prof.base.items()}
        prof.vector = _Vector(weights, math.sqrt(sum(w * w for w in weights.values())) or 1.0)
        prof.generation = corpus.generation
    return prof.vector


def _cosine(a: _Vector, b: _Vector) -> float:
    small, big = (a, b) if len(a.weights) < len(b.weights) else (b, a)
    bw = big.weights
    dot = sum(w * bw[t] for t, w in small.weights.items() if t in bw)
    return dot / (a.norm * b.norm)


# --- Candidates ---------------------------------------------------------------------------------


@dataclass
class _Cand:
    id: int
    source_id: int
    published_at: datetime
    title_key: str
    url_key: str
    lead_key: str
    outlet: str
    primary_country_id: int | None
    profile: Profile
    countries: set[int] = field(default_factory=set)  # shown country tags
    topics: set[int] = field(default_factory=set)
    roundup: bool = False


def _window(story: Story, width: timedelta = WINDOW) -> tuple[datetime, datetime]:
    ref = story.published_at or timezone.now()
    return ref - width, ref + width


def _query_words(prof: Profile, vector: _Vector, corpus: _Corpus) -> list[str]:
    """Words for the index query: the story's most informative words as written, plus the
    commonest words of its main subjects ("capelin" also asks for "fishing" and "cod").

    Only selective words: one that is in more than ``QUERY_MAX_DF`` of recent stories would
    make the index return (and ``ts_rank`` score) a large part of the table.
    """
    limit = max(QUERY_MAX_DF * corpus.n, QUERY_MIN_DF)

    def selective(term: str) -> bool:
        return corpus.df.get(term, 0) <= limit

    ranked = sorted(vector.weights, key=lambda t: -vector.weights[t])
    singles = [
        t
        for t in ranked
        if " " not in t and t[0] != "~" and t not in COUNTRY_WORDS and selective(t)
    ]
    words: list[str] = []
    for t in singles[:QUERY_TERMS]:
        for w in (prof.surface.get(t, t), t):
            if _WORD.fullmatch(w):
                words.append(w)
    concepts = [t for t in ranked if t[0] == "~"][:QUERY_CONCEPTS]
    for concept in concepts:
        members = [w for w in CONCEPT_WORDS[concept] if selective(_term(w))]
        members.sort(key=lambda w: -corpus.df.get(_term(w), 0))
        words += [w for w in members[:QUERY_CONCEPT_WORDS] if _term(w) in corpus.df]
    return list(dict.fromkeys(words))


def _configs(story: Story) -> list[str]:
    """Text search configurations to ask in: the story's own and the two that most stories
    are indexed with (``search.update_search_vectors`` picks one per story's language)."""
    from feeds.search import config_for

    return list(dict.fromkeys([config_for(story.language), "english", "simple"]))


def _tsquery_sql(configs: Sequence[str]) -> str:
    """SQL of one OR-query over the words' lexemes in several configurations, each lexeme
    once ("ship" from english and "shipping" from simple; "gas" only once): the index reads
    each posting list a single time. %(words)s is the words separated by spaces."""
    vectors = " || ".join(f"to_tsvector('{c}'::regconfig, %(words)s)" for c in configs)
    return (
        "(SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery "
        f"FROM (SELECT DISTINCT unnest(tsvector_to_array({vectors})) AS lexeme) AS lexemes)"
    )


def _pg_candidates(story: Story, words: list[str]) -> list[_Cand]:
    """The index's best matches, at most ``PER_COUNTRY`` per primary country, with tags.

    Bounded work: the index is first asked for stories within ``NEAR`` of the story. Only
    when that finds fewer than ``POOL`` (a rare subject, so the wider search is cheap too)
    is the rest of ``WINDOW`` searched for the remainder. A busy subject thus never makes
    PostgreSQL read and rank the vectors of months of matching stories.
    """
    near_since, near_until = _window(story, NEAR)
    since, until = _window(story)
    cands = _pg_query(story, words, [(near_since, near_until)], POOL, ())
    if len(cands) < POOL:
        ranges = [(since, near_since), (near_until, until)]
        cands += _pg_query(story, words, ranges, POOL - len(cands), [c.id for c in cands])
    return cands


def _pg_query(
    story: Story,
    words: list[str],
    ranges: list[tuple[datetime, datetime]],
    pool: int,
    also_exclude: Iterable[int],
) -> list[_Cand]:
    t = {
        "story": Story._meta.db_table,
        "source": Source._meta.db_table,
        "sc": StoryCountry._meta.db_table,
        "st": StoryTopic._meta.db_table,
    }
    dates = " OR ".join(
        f"s.published_at BETWEEN %(since{i})s AND %(until{i})s" for i in range(len(ranges))
    )
    sql = f"""
        WITH q AS (SELECT {_tsquery_sql(_configs(story))} AS query),
        m AS (
            SELECT s.id, s.primary_country_id AS pc, ts_rank(s.search_vector, q.query) AS rank
            FROM {t["story"]} s, q
            WHERE s.search_vector @@ q.query
              AND NOT s.is_hidden AND s.canonical_id IS NULL
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
        SELECT s.id, s.source_id, s.published_at, s.content_hash, s.title,
            s.title_key, s.url_key, s.lead_key,
            COALESCE(NULLIF(s.original_outlet, ''), src.name), s.primary_country_id,
            ARRAY(SELECT sc.country_id FROM {t["sc"]} sc
                  WHERE sc.story_id = s.id AND NOT sc.rejected),
            ARRAY(SELECT st.topic_id FROM {t["st"]} st
                  WHERE st.story_id = s.id AND NOT st.rejected)
        FROM top JOIN {t["story"]} s ON s.id = top.id
        JOIN {t["source"]} src ON src.id = s.source_id
        ORDER BY top.rank DESC
    """
    params: dict = {
        "words": " ".join(words),
        "exclude": [story.pk, story.canonical_id or story.pk, *also_exclude],
        "per_country": PER_COUNTRY,
        "pool": pool,
    }
    for i, (lo, hi) in enumerate(ranges):
        params[f"since{i}"], params[f"until{i}"] = lo, hi
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        # Text only for the candidates whose profile this process has not made yet: reading
        # (and decompressing) teasers and bodies is most of the cost of a warm suggestion.
        missing = [row[0] for row in rows if not _cached(row[0], row[3], row[4])]
        texts: dict[int, tuple[str, str]] = {}
        if missing:
            cursor.execute(
                f"""SELECT id, substr(summary, 1, {SUMMARY_CHARS}),
                        CASE WHEN length(summary) < {SHORT_SUMMARY}
                             THEN substr(content, 1, {CONTENT_CHARS}) ELSE '' END
                    FROM {t["story"]} WHERE id = ANY(%s)""",
                [missing],
            )
            texts = {pk: (summary, content) for pk, summary, content in cursor.fetchall()}
    out = []
    for row in rows:
        pk, source_id, published, chash, title, tkey, ukey, lkey, outlet, pc = row[:10]
        summary, content = texts.get(pk, ("", ""))
        cand = _cand(
            pk, source_id, published, chash, title, summary, content, tkey, ukey, lkey, outlet, pc
        )
        cand.countries = set(row[10])
        cand.topics = set(row[11])
        out.append(cand)
    return out


def _cand(
    pk, source_id, published, chash, title, summary, content, tkey, ukey, lkey, outlet, pc
) -> _Cand:
    prof = _profile(pk, _signature(chash, title, summary, content), title, summary, content)
    roundup = _ROUNDUP.search(title.casefold()) is not None
    return _Cand(pk, source_id, published, tkey, ukey, lkey, outlet, pc, prof, roundup=roundup)


def _python_candidates(story: Story) -> list[_Cand]:
    """Without PostgreSQL: the newest ``SCAN_LIMIT`` tagged stories in the window."""
    rows = (
        _text_columns(
            Story.objects.visible()
            .filter(published_at__range=_window(story), primary_country__isnull=False)
            .exclude(pk__in=[pk for pk in (story.pk, story.canonical_id) if pk])
        )
        .order_by("-published_at", "-id")
        .values_list(
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
        )[:SCAN_LIMIT]
    )
    cands = [_cand(*r[:10], r[10] or r[11], r[12]) for r in rows]
    by_id = {c.id: c for c in cands}
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
    return cands


# --- Ranking ------------------------------------------------------------------------------------


@dataclass
class _Ranking:
    ranked: dict[int, list[Scored]]
    outlets: dict[int, str]  # candidate id → outlet, case-folded (for variety)


def _story_profile(story: Story) -> Profile:
    summary = (story.summary or "")[:2000]
    content = (story.content or "")[:3000] if len(story.summary or "") < 400 else ""
    return Profile.of(story.title, summary, content, surface=True)


def _is_copy(story: Story, cand: _Cand, similarity: float) -> bool:
    """Another copy of the same story that copy detection did not link."""
    for mine, theirs in (
        (story.title_key, cand.title_key),
        (story.url_key, cand.url_key),
        (story.lead_key, cand.lead_key),
    ):
        if mine and mine == theirs:
            return True
    return (
        similarity >= DUPLICATE_SIMILARITY
        and story.published_at is not None
        and abs(story.published_at - cand.published_at) <= DUPLICATE_GAP
    )


def _freshness(story: Story, cand: _Cand) -> float:
    """1 for a story as new as the box's own (or newer), halving every HALF_LIFE_DAYS."""
    ref = story.published_at or timezone.now()
    age_days = max((ref - cand.published_at).total_seconds() / 86400.0, 0.0)
    return 0.5 ** (age_days / HALF_LIFE_DAYS)


def _rank(story: Story) -> _Ranking:
    corpus = _corpus()
    prof = _story_profile(story)
    vector = _vector(prof, corpus)
    words = _query_words(prof, vector, corpus)
    if connection.vendor == "postgresql":
        cands = _pg_candidates(story, words) if words else []
    else:
        cands = _python_candidates(story)
    my_topics = set(
        StoryTopic.objects.shown().filter(story_id=story.pk).values_list("topic_id", flat=True)
    )
    exclude = {story.pk, story.canonical_id}
    ranked: dict[int, list[Scored]] = defaultdict(list)
    outlets: dict[int, str] = {}
    for cand in cands:
        if not cand.countries or cand.id in exclude:
            continue
        similarity = _cosine(vector, _vector(cand.profile, corpus))
        if similarity <= 0.0 or _is_copy(story, cand, similarity):
            continue
        shared = (
            len(my_topics & cand.topics) / len(my_topics | cand.topics)
            if my_topics and cand.topics
            else 0.0
        )
        # Shared topic tags confirm a text match; alone they make nothing related.
        relevance = min(similarity * (1.0 + TOPIC_BONUS * shared), 1.0)
        if relevance < MIN_RELEVANCE:
            continue
        score = relevance * (1.0 - FRESH_SHARE + FRESH_SHARE * _freshness(story, cand))
        if cand.source_id == story.source_id:
            score *= 1.0 - SAME_SOURCE_PENALTY
        if cand.roundup:
            score *= ROUNDUP_PENALTY
        outlets[cand.id] = cand.outlet.casefold()
        for cid in cand.countries:
            factor = 1.0 if cid == cand.primary_country_id else SECONDARY_TAG
            ranked[cid].append(Scored(cand.id, round(score * factor, 6), round(relevance, 4)))
    for lst in ranked.values():
        lst.sort(key=lambda s: (-s.score, -s.relevance, -s.story_id))
    return _Ranking(dict(ranked), outlets)


def suggest(story: Story) -> dict[int, list[Scored]]:
    """Ranked candidates per country id (best first), for the editor and the box."""
    return _rank(story).ranked


def _pick(
    ranked: dict[int, list[Scored]],
    outlets: dict[int, str],
    *,
    skip_countries: Iterable[int] = (),
    used_stories: Iterable[int] = (),
    used_outlets: Iterable[str] = (),
) -> dict[int, Scored]:
    """One story per country: the strongest line is placed first, no story is used twice,
    and each earlier line from the same outlet costs a candidate ``OUTLET_REPEAT_PENALTY``."""
    picks: dict[int, Scored] = {}
    used = set(used_stories)
    outlet_count: dict[str, int] = defaultdict(int)
    for name in used_outlets:
        outlet_count[name] += 1
    skip = set(skip_countries)
    todo = {cid: lst for cid, lst in ranked.items() if cid not in skip and lst}
    while todo:
        best: tuple[float, int, Scored] | None = None
        for cid, lst in todo.items():
            for cand in lst[: ALTERNATIVES * 2]:
                if best is not None and cand.score <= best[0]:
                    break  # sorted by score, and a penalty only lowers it: none can win
                if cand.story_id in used:
                    continue
                repeats = outlet_count[outlets.get(cand.story_id, "")]
                value = cand.score * (1.0 - OUTLET_REPEAT_PENALTY) ** repeats
                if best is None or value > best[0]:
                    best = (value, cid, cand)
        if best is None:
            break
        _, cid, cand = best
        picks[cid] = cand
        used.add(cand.story_id)
        outlet_count[outlets.get(cand.story_id, "")] += 1
        del todo[cid]
    return picks


def _cleared(story: Story) -> set[int]:
    """Countries whose line an editor cleared on purpose (see feeds.related.curation)."""
    from feeds.related.curation import cleared_countries

    return cleared_countries(story)


SLOT_FIELDS = (
    "id",
    "story_id",
    "country_id",
    "position",
    "target_id",
    "external_outlet",
    "origin",
    "pinned",
    "score",
    "target__original_outlet",
    "target__source__name",
)
_COUNTRY_ORDER: dict[tuple, dict[int, int]] = {}


def _country_order(needed: Iterable[int]) -> dict[int, int]:
    """Country id → its place in alphabetical order. Countries are created by a migration
    and never edited, so this is read once per process (again if an id is unknown)."""
    key = (connection.alias, connection.settings_dict.get("NAME"))
    order = _COUNTRY_ORDER.get(key)
    if order is None or not set(needed) <= order.keys():
        ids = Country.objects.order_by("name").values_list("pk", flat=True)
        order = _COUNTRY_ORDER[key] = {pk: i for i, pk in enumerate(ids)}
    return order


def _relax_commit() -> None:
    """Do not wait for the WAL flush when this transaction commits (PostgreSQL only).

    Safe for the same reason as in ``ingest``: a box is derived data; a commit lost in a
    database crash means a box suggested again, nothing anyone was told is lost.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def refresh_box(story: Story) -> bool:
    """Re-suggest the system's lines of one box. Returns True if the box changed.

    Never touches a locked box, a pinned line, an editor's or outlet's line, or a line an
    editor cleared; the stories and outlets on those lines count for variety.
    """
    if story.related_locked:
        return False
    ranking = _rank(story)
    order = _country_order(set(ranking.ranked))
    changed = False
    with transaction.atomic():
        _relax_commit()
        row = (
            Story.objects.select_for_update()
            .filter(pk=story.pk, related_locked=False)
            .values_list("related_suggested_at", flat=True)
            .first()
        )
        if row is None and not Story.objects.filter(pk=story.pk, related_locked=False).exists():
            return False
        slots = (
            RelatedSlot.objects.filter(story_id=story.pk)
            .select_related("target__source")
            # Not the targets' bodies and vectors: only what a line's outlet needs.
            .only(*SLOT_FIELDS)
        )
        existing = {slot.country_id: slot for slot in slots}
        kept = {
            cid: slot
            for cid, slot in existing.items()
            if slot.pinned or slot.origin != Origin.SYSTEM
        }
        cleared = _cleared(story)
        picks = _pick(
            ranking.ranked,
            ranking.outlets,
            skip_countries=set(kept) | cleared,
            used_stories={slot.target_id for slot in kept.values() if slot.target_id},
            used_outlets=[slot.outlet.casefold() for slot in kept.values()],
        )
        for cid, slot in existing.items():
            if cid in kept:
                continue
            pick = picks.get(cid)
            if pick is None:
                slot.delete()
                changed = True
            elif slot.target_id != pick.story_id:
                slot.target_id = pick.story_id
                slot.score = pick.score
                slot.position = order.get(cid, 0)
                slot.save(update_fields=["target", "score", "position", "changed_at"])
                changed = True
        new = [
            RelatedSlot(
                story_id=story.pk,
                country_id=cid,
                target_id=pick.story_id,
                origin=Origin.SYSTEM,
                score=pick.score,
                position=order.get(cid, 0),
            )
            for cid, pick in picks.items()
            if cid not in existing
        ]
        if new:
            RelatedSlot.objects.bulk_create(new)
            changed = True
        # Beat looks for boxes never suggested (NULL); the admin shows when. Rewriting the
        # story row on every unchanged refresh would only churn the table and its indexes.
        now = timezone.now()
        if changed or row is None or now - row > SUGGESTED_AT_REFRESH:
            Story.objects.filter(pk=story.pk).update(related_suggested_at=now)
    return changed


def refresh_boxes(story_ids: Iterable[int]) -> int:
    """Re-suggest these stories' boxes (visible, unlocked ones). Returns how many changed."""
    ids = list(dict.fromkeys(story_ids))
    changed = 0
    for start in range(0, len(ids), 500):
        for story in Story.objects.visible().filter(
            pk__in=ids[start : start + 500], related_locked=False
        ):
            changed += refresh_box(story)
    return changed


# --- Keeping boxes fresh --------------------------------------------------------------------------


def boxes_affected_by(new_story_ids: Iterable[int]) -> list[int]:
    """Unlocked boxes of recent stories that these new stories could improve (bounded).

    For each new story, the ``REFRESH_PER_STORY`` visible, unlocked stories published within
    ``REFRESH_WINDOW`` of it that it resembles most: one index query per new story on
    PostgreSQL, a bounded comparison in Python elsewhere. At most ``REFRESH_MAX`` in all,
    most similar first; the new stories themselves are left out (``enrich`` refreshes them).
    """
    new_ids = list(dict.fromkeys(new_story_ids))
    if not new_ids:
        return []
    news = list(
        Story.objects.visible()
        .filter(pk__in=new_ids, primary_country__isnull=False)
        .only("id", "title", "summary", "content", "language", "published_at")
    )
    if not news:
        return []
    corpus = _corpus()
    found: dict[int, float] = {}
    if connection.vendor == "postgresql":
        for story in news:
            prof = _story_profile(story)
            words = _query_words(prof, _vector(prof, corpus), corpus)
            for pk, rank in _pg_similar_boxes(story, words, new_ids) if words else ():
                found[pk] = max(found.get(pk, 0.0), rank)
    else:
        found = _python_similar_boxes(news, new_ids, corpus)
    limit = min(REFRESH_PER_STORY * len(news), REFRESH_MAX)
    return sorted(found, key=lambda pk: (-found[pk], -pk))[:limit]


def _pg_similar_boxes(story: Story, words: list[str], new_ids: list[int]) -> list[tuple]:
    since, until = _window(story, REFRESH_WINDOW)
    sql = f"""
        WITH q AS (SELECT {_tsquery_sql(_configs(story))} AS query)
        SELECT s.id, ts_rank(s.search_vector, q.query) AS rank
        FROM {Story._meta.db_table} s, q
        WHERE s.search_vector @@ q.query
          AND NOT s.is_hidden AND s.canonical_id IS NULL AND NOT s.related_locked
          AND s.published_at BETWEEN %(since)s AND %(until)s
          AND s.id <> ALL(%(exclude)s)
        ORDER BY rank DESC, s.id DESC
        LIMIT %(limit)s
    """
    params = {
        "words": " ".join(words),
        "since": since,
        "until": until,
        "exclude": new_ids,
        "limit": REFRESH_PER_STORY,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _python_similar_boxes(
    news: list[Story], new_ids: list[int], corpus: _Corpus
) -> dict[int, float]:
    refs = [s.published_at for s in news]
    rows = (
        _text_columns(
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
        (pk, pub, _vector(_profile(pk, _signature(h, t, s, c), t, s, c), corpus))
        for pk, pub, h, t, s, c in rows
    ]
    found: dict[int, float] = {}
    for story in news:
        mine = _vector(_story_profile(story), corpus)
        near = [
            (pk, sim)
            for pk, pub, vec in boxes
            if abs(pub - story.published_at) <= REFRESH_WINDOW
            and (sim := _cosine(mine, vec)) >= REFRESH_MIN_RELEVANCE
        ]
        near.sort(key=lambda x: -x[1])
        for pk, sim in near[:REFRESH_PER_STORY]:
            found[pk] = max(found.get(pk, 0.0), sim)
    return found


__all__ = [
    "Profile",
    "Scored",
    "boxes_affected_by",
    "refresh_box",
    "refresh_boxes",
    "suggest",
]
