"""A synthetic news archive for demos and benchmarks (``manage.py seed_demo``).

Pure: rows as plain tuples, no ORM, no database. The command streams them into PostgreSQL
with COPY. Everything is written by us from the vocabularies below and the tagger's
gazetteer; no real article text is used.

The archive looks like ten years of the default outlets: more stories in recent years
(density grows linearly, twice as many a day at the end as at the start), each outlet
mostly about its home country, topics in the proportions of a regional desk, a second
country on a quarter of the stories, a few editors' tags and rejections, republished copies
of another outlet's story (same headline and lead, ``canonical_id`` set), a few hidden
stories, and a related box on most originals (system lines to earlier stories about other
countries, some editors' lines and some outlets' own external links).

Story bodies are the story's own lead paragraph followed by one of a pool of shared bodies
(``Body``, three paragraphs): the command computes each pool body's search vector once and
concatenates vectors, so a million stories do not each pay for ``to_tsvector`` over 1.5 KB.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate

from feeds.tagging.gazetteer import GAZETTEER
from feeds.text.keys import lead_key, title_key, url_key

SPAN = timedelta(days=3652)  # ten years
COPY_SHARE = 0.04  # republished copies of another outlet's recent story
HIDDEN_SHARE = 0.003
SECOND_COUNTRY_SHARE = 0.25
SECOND_TOPIC_SHARE = 0.4
BOX_SHARE = 0.9  # originals with a related box
EDITOR_TAG_SHARE = 0.01  # an editor added a country
REJECTED_TAG_SHARE = 0.01  # an editor rejected the system's country
HOME_SHARE = 0.65  # an outlet's story about its home country
POOL_MAX = 20_000  # shared bodies (vectors computed once each)

# How often each country and topic is the subject of a story at a regional desk.
COUNTRY_WEIGHTS = {
    "norway": 18,
    "russia": 16,
    "canada": 14,
    "united-states": 14,
    "greenland": 10,
    "finland": 8,
    "sweden": 8,
    "iceland": 6,
    "denmark": 6,
}
TOPIC_WORDS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    # slug: (weight, nouns for headlines, words for sentences)
    "shipping": (
        10,
        ("icebreaker", "cargo traffic", "port expansion", "tanker convoy", "shipping season"),
        ("icebreaker", "vessel", "cargo", "port", "convoy", "navigation", "tanker", "route"),
    ),
    "security": (
        12,
        ("military exercise", "border patrol", "naval base", "air defence", "submarine"),
        ("military", "defence", "border", "navy", "exercise", "patrol", "radar", "alliance"),
    ),
    "energy": (
        10,
        ("gas field", "mining licence", "oil terminal", "wind farm", "power line"),
        ("gas", "oil", "mine", "minerals", "power", "pipeline", "drilling", "licence"),
    ),
    "environment": (
        14,
        ("sea ice", "permafrost thaw", "polar bear count", "glacier melt", "wildfire"),
        ("ice", "permafrost", "climate", "wildlife", "glacier", "pollution", "warming", "snow"),
    ),
    "indigenous-peoples": (
        8,
        ("land rights", "language school", "reindeer herding", "self-government", "treaty"),
        ("Sámi", "Inuit", "reindeer", "language", "rights", "elders", "land", "hunters"),
    ),
    "politics": (
        14,
        ("election", "budget vote", "Arctic Council", "coalition talks", "new premier"),
        ("minister", "parliament", "election", "vote", "council", "policy", "party", "mayor"),
    ),
    "business": (
        10,
        ("fish quota", "tourism record", "airline route", "salmon farm", "harbour deal"),
        ("company", "investment", "fisheries", "tourism", "jobs", "market", "quota", "exports"),
    ),
    "science": (
        8,
        ("research station", "ice core", "expedition", "ocean survey", "satellite data"),
        ("researchers", "study", "data", "expedition", "samples", "survey", "scientists"),
    ),
    "society": (
        9,
        ("housing shortage", "health clinic", "school year", "food prices", "ferry service"),
        ("housing", "health", "school", "residents", "families", "clinic", "prices", "nurses"),
    ),
    "culture": (
        5,
        ("film festival", "music award", "museum", "dog sled race", "art exhibition"),
        ("festival", "music", "film", "artists", "museum", "race", "exhibition", "audience"),
    ),
}
VERBS = (
    "plans",
    "approves",
    "rejects",
    "opens",
    "delays",
    "expands",
    "debates",
    "welcomes",
    "questions",
    "backs",
    "warns over",
    "prepares for",
)
GENERIC = (
    "officials said on Tuesday that the decision would be reviewed next year",
    "the municipality has asked the regional government for more money",
    "local residents have followed the case closely since the spring",
    "critics say the process has been too slow and too expensive",
    "the company expects a final decision before the end of the season",
    "according to figures published this week the numbers are the highest in a decade",
    "the plan still needs the approval of the national authorities",
    "several organisations have called for a broader public consultation",
    "the mayor said the community had waited long enough for an answer",
    "experts warn that the costs could rise further if the work is delayed",
    "the ministry did not respond to a request for comment",
    "a report from last year pointed to the same problems",
)
SENTENCE_FORMS = (
    "The {a} in {place} is the {b} story of the year, and {generic}.",
    "In {place}, {a} and {b} have dominated the debate, and {generic}.",
    "{A} near {place} affects the {b} plans of the region; {generic}.",
    "Those working on {a} in {place} say the {b} question is urgent, but {generic}.",
)
OUTLET_WEIGHTS = (3.0, 2.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Outlet:
    """A stored source and its feed, as the generator needs them."""

    source_id: int
    feed_id: int
    name: str
    homepage: str
    country: str  # slug, or "" for a circumpolar outlet
    language: str


@dataclass(frozen=True)
class Body:
    """What follows a story's lead: two paragraphs on its topic and a general one."""

    id: int
    topic: str
    html: str


@dataclass(frozen=True)
class StoryRow:
    """One story: its columns, and the pool body that follows its lead."""

    id: int
    feed_id: int
    source_id: int
    guid: str
    link: str
    title: str
    summary: str  # "<p>lead</p>": also the body's first paragraph
    original_outlet: str
    language: str
    categories: str  # JSON
    published_at: datetime
    first_seen_at: datetime
    content_hash: str
    title_key: str
    url_key: str
    lead_key: str
    is_hidden: bool
    canonical_id: int | None
    primary_country_id: int
    tagged_at: datetime
    related_suggested_at: datetime | None
    body: int  # a Body's id
    topic: str  # its main topic's slug (a copy keeps the original's)


@dataclass(frozen=True)
class TagRow:
    story_id: int
    tag_id: int  # country or topic id
    origin: str
    rejected: bool
    score: float
    changed_at: datetime


@dataclass(frozen=True)
class SlotRow:
    story_id: int
    country_id: int
    position: int
    target_id: int | None
    external_url: str
    external_headline: str
    external_outlet: str
    external_key: str
    origin: str
    pinned: bool
    score: float
    changed_at: datetime


@dataclass
class Batch:
    stories: list[StoryRow] = field(default_factory=list)
    countries: list[TagRow] = field(default_factory=list)
    topics: list[TagRow] = field(default_factory=list)
    slots: list[SlotRow] = field(default_factory=list)


def _two(rng: random.Random, words: Sequence[str]) -> tuple[str, str]:
    """Two different words (``rng.sample`` costs an ABC check per call)."""
    i = int(rng.random() * len(words))
    j = (i + 1 + int(rng.random() * (len(words) - 1))) % len(words)
    return words[i], words[j]


def _places() -> dict[str, list[str]]:
    """Latin-script place names per country (headlines need no stemming stars)."""
    return {
        country: [
            term
            for term in kinds.get("place", ())
            if term.replace(" ", "").replace("-", "").isalpha()
            and term.isascii()
            and not term.startswith("=")
        ][:80]
        or [country.replace("-", " ").title()]
        for country, kinds in GAZETTEER.items()
    }


class Generator:
    """Deterministic for a seed: the same arguments give the same archive."""

    def __init__(
        self,
        *,
        outlets: Sequence[Outlet],
        countries: dict[str, int],
        topics: dict[str, int],
        stories: int,
        now: datetime,
        seed: int = 2026,
        first_id: int = 1,
    ) -> None:
        if not outlets:
            raise ValueError("no outlets: load the default sources first")
        self.rng = random.Random(seed)
        self.outlets = list(outlets)
        self.outlet_weights = list(
            accumulate(OUTLET_WEIGHTS[i % len(OUTLET_WEIGHTS)] for i in range(len(outlets)))
        )
        # url_key of a link under the outlet's homepage, without parsing every link.
        self.url_prefix = {
            o.source_id: url_key(o.homepage.rstrip("/") + "/x")[:-1] for o in outlets
        }
        self.country_ids = {slug: countries[slug] for slug in COUNTRY_WEIGHTS if slug in countries}
        self.country_slugs = list(self.country_ids)
        self.country_weights = list(accumulate(COUNTRY_WEIGHTS[s] for s in self.country_slugs))
        self.topic_ids = {slug: topics[slug] for slug in TOPIC_WORDS if slug in topics}
        self.topic_slugs = list(self.topic_ids)
        self.topic_weights = list(accumulate(TOPIC_WORDS[slug][0] for slug in self.topic_slugs))
        if not self.country_slugs or not self.topic_slugs:
            raise ValueError("the countries and topics of migration 0002 are missing")
        places = _places()
        self.places = {slug: places.get(slug, [slug.title()]) for slug in self.country_slugs}
        self.total = stories
        self.now = now
        self.first_id = first_id
        self.pool = self._pool(min(max(stories // 5, 60), POOL_MAX))
        self.pool_by_topic: dict[str, list[int]] = {}
        for body in self.pool:
            self.pool_by_topic.setdefault(body.topic, []).append(body.id)

    # --- text ----------------------------------------------------------------------------

    def _sentence(self, topic: str, place: str) -> str:
        rng = self.rng
        words = TOPIC_WORDS[topic][2]
        a, b = _two(rng, words)
        form = rng.choice(SENTENCE_FORMS)
        return form.format(
            a=a, A=a[:1].upper() + a[1:], b=b, place=place, generic=rng.choice(GENERIC)
        )

    def _paragraph(self, topic: str) -> str:
        rng = self.rng
        country = rng.choice(self.country_slugs)
        sentences = []
        for _ in range(rng.randint(3, 5)):
            place = rng.choice(self.places[country])
            if topic:
                sentences.append(self._sentence(topic, place))
            else:
                sentences.append(f"In {place}, {rng.choice(GENERIC)}.")
        return "<p>" + " ".join(sentences) + "</p>"

    def _pool(self, size: int) -> list[Body]:
        """Bodies shared by many stories, the same number for every topic."""
        return [
            Body(pk, topic, self._paragraph(topic) + self._paragraph(topic) + self._paragraph(""))
            for pk in range(1, size + 1)
            for topic in [self.topic_slugs[pk % len(self.topic_slugs)]]
        ]

    def _pick_country(self, outlet: Outlet) -> str:
        if outlet.country in self.country_ids and self.rng.random() < HOME_SHARE:
            return outlet.country
        return self.rng.choices(self.country_slugs, cum_weights=self.country_weights)[0]

    def _moment(self, index: int) -> datetime:
        """Density grows linearly over the span: F(s) = (s + s²/2) / 1.5, inverted."""
        x = (index + self.rng.random()) / self.total
        s: float = -1 + math.sqrt(1 + 3 * x)
        return self.now - SPAN * (1 - s)

    # --- rows ----------------------------------------------------------------------------

    def batches(self, size: int = 20_000) -> Iterator[Batch]:
        rng = self.rng
        recent: deque[StoryRow] = deque(maxlen=300)  # originals a copy may repeat
        by_country: dict[int, deque[int]] = {
            pk: deque(maxlen=40) for pk in self.country_ids.values()
        }
        outlet_by_source = {o.source_id: o for o in self.outlets}
        batch = Batch()
        for index in range(self.total):
            pk = self.first_id + index
            outlet = rng.choices(self.outlets, cum_weights=self.outlet_weights)[0]
            published = self._moment(index)
            seen = published + timedelta(minutes=rng.randint(1, 40))
            country = self._pick_country(outlet)
            topic = rng.choices(self.topic_slugs, cum_weights=self.topic_weights)[0]
            original = None
            if recent and rng.random() < COPY_SHARE:
                original = rng.choice(recent)
                if original.source_id == outlet.source_id:
                    original = None
            if original is not None:
                title, summary = original.title, original.summary
                body = original.body
                country_id = original.primary_country_id
                topic = original.topic
                credit = outlet_by_source[original.source_id].name
            else:
                place = rng.choice(self.places[country])
                noun = rng.choice(TOPIC_WORDS[topic][1])
                title = f"{place} {rng.choice(VERBS)} {noun}"
                if rng.random() < 0.3:
                    title += f" as {rng.choice(GENERIC).split(' that ')[0]}"
                title = title[:1].upper() + title[1:]
                lead = " ".join(self._sentence(topic, place) for _ in range(2))
                summary = f"<p>{lead}</p>"
                body = rng.choice(self.pool_by_topic[topic])
                country_id = self.country_ids[country]
                credit = ""
            key = title_key(title)
            path = f"{published:%Y/%m}/{'-'.join(key.split()[:8])}-{pk}"
            link = f"{outlet.homepage.rstrip('/')}/{path}/"
            hidden = original is None and rng.random() < HIDDEN_SHARE
            boxed = original is None and not hidden and rng.random() < BOX_SHARE
            story = StoryRow(
                id=pk,
                feed_id=outlet.feed_id,
                source_id=outlet.source_id,
                guid=link,
                link=link,
                title=title,
                summary=summary,
                original_outlet=credit,
                language=outlet.language or "en",
                categories=f'["{topic.replace("-", " ").title()}"]',
                published_at=published,
                first_seen_at=seen,
                content_hash=hashlib.sha256(f"{title}|{summary}|{body}".encode()).hexdigest(),
                title_key=key,
                url_key=self.url_prefix[outlet.source_id] + path,
                lead_key=lead_key(summary[3:-4]),
                is_hidden=hidden,
                canonical_id=original.id if original is not None else None,
                primary_country_id=country_id,
                tagged_at=seen,
                related_suggested_at=seen if boxed else None,
                body=body,
                topic=topic,
            )
            batch.stories.append(story)
            self._tags(batch, story, topic)
            if boxed:
                self._box(batch, story, by_country, outlet)
            if original is None and not hidden:
                recent.append(story)
                by_country[country_id].append(pk)
            if len(batch.stories) >= size:
                yield batch
                batch = Batch()
        if batch.stories:
            yield batch

    def _tags(self, batch: Batch, story: StoryRow, topic: str) -> None:
        rng = self.rng
        at = story.tagged_at
        main = story.primary_country_id
        batch.countries.append(TagRow(story.id, main, "system", False, rng.uniform(4, 12), at))
        others = [pk for pk in self.country_ids.values() if pk != main]
        roll = rng.random()
        if roll < SECOND_COUNTRY_SHARE:
            batch.countries.append(
                TagRow(story.id, rng.choice(others), "system", False, rng.uniform(1.5, 3.9), at)
            )
        elif roll < SECOND_COUNTRY_SHARE + EDITOR_TAG_SHARE:
            batch.countries.append(TagRow(story.id, rng.choice(others), "editor", False, 0.0, at))
        elif roll < SECOND_COUNTRY_SHARE + EDITOR_TAG_SHARE + REJECTED_TAG_SHARE:
            # The system suggested it and an editor said no: kept so it is never re-added.
            batch.countries.append(TagRow(story.id, rng.choice(others), "editor", True, 0.0, at))
        topic_id = self.topic_ids[topic]
        batch.topics.append(TagRow(story.id, topic_id, "system", False, rng.uniform(3, 9), at))
        if rng.random() < SECOND_TOPIC_SHARE:
            other = rng.choice([pk for pk in self.topic_ids.values() if pk != topic_id])
            batch.topics.append(TagRow(story.id, other, "system", False, rng.uniform(1, 4), at))

    def _box(
        self, batch: Batch, story: StoryRow, by_country: dict[int, deque[int]], outlet: Outlet
    ) -> None:
        rng = self.rng
        at = story.first_seen_at
        lines = [
            pk
            for pk in self.country_ids.values()
            if pk != story.primary_country_id and by_country[pk]
        ]
        wanted = min(len(lines), 2 + int(rng.random() * 3))
        for i in range(wanted):  # the first ``wanted`` of a partial shuffle
            j = i + int(rng.random() * (len(lines) - i))
            lines[i], lines[j] = lines[j], lines[i]
        chosen = lines[:wanted]
        for position, country_id in enumerate(chosen):
            pool = by_country[country_id]
            target = pool[int(rng.random() * len(pool))]
            roll = rng.random()
            if roll < 0.03:
                url = f"{outlet.homepage.rstrip('/')}/related/{story.id}-{country_id}/"
                batch.slots.append(
                    SlotRow(
                        story.id,
                        country_id,
                        position,
                        None,
                        url,
                        f"More from {outlet.name}",
                        outlet.name,
                        url_key(url),
                        "source",
                        False,
                        0.0,
                        at,
                    )
                )
                continue
            editor = roll < 0.06
            batch.slots.append(
                SlotRow(
                    story.id,
                    country_id,
                    position,
                    target,
                    "",
                    "",
                    "",
                    "",
                    "editor" if editor else "system",
                    editor and rng.random() < 0.5,
                    0.0 if editor else rng.uniform(0.1, 0.9),
                    at,
                )
            )
