"""ArcticNews data model: sources and their feeds, stories, tags and related-story boxes.

Queries live on the querysets below; views, tasks and commands call these verbs rather
than building filters of their own.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.urls import reverse
from django.utils import timezone

from feeds.text import boilerplate
from feeds.text.keys import KEY_LENGTH, LEAD_KEY_LENGTH, url_key
from feeds.text.sanitizing import teaser_html, typed_text, typed_url_problem

HTTP_URL = Q(link="") | Q(link__startswith="http://") | Q(link__startswith="https://")
# Our copies of story images are stored at these widths (never wider than the original).
IMAGE_WIDTHS = (480, 960, 1440)
# A feed's status while it shows the bundled sample feed because the real one is unreachable
# (the offline demo): its failures are expected, so it is never counted as failing.
SAMPLE_LOADED = "sample loaded"


def image_name(name: str, width: int) -> str:
    """The stored file of one width of a story image (feeds.ingest.images writes them)."""
    return f"{name}-{width}.jpg"


class Origin(models.TextChoices):
    """Who set a tag or a related-box slot. Editors always win over the system."""

    SYSTEM = "system", "System"
    EDITOR = "editor", "Editor"
    SOURCE = "source", "Outlet's own box"


class TypedTextModel(models.Model):
    """A model whose text editors type, in the admin or on the editors' pages. Its text is
    cleaned in this one place, when the model is cleaned (every ModelForm cleans its model
    before saving it): control characters separate words and are never kept (``typed_text``:
    "Edited\x0btitle" is "Edited title"), text fields keep their line breaks, and an address
    that disguises where it leads is refused (``typed_url_problem``). Ingest writes stories
    without cleaning the model: its own sanitising has run by then."""

    class Meta:
        abstract = True

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        skip = set(exclude or ())
        problems: dict[str, list[str]] = {}
        for field in self._meta.concrete_fields:
            if field.name in skip or not isinstance(field, models.CharField | models.TextField):
                continue
            value = getattr(self, field.attname)
            if not isinstance(value, str) or not value:
                continue
            value = typed_text(value, multiline=isinstance(field, models.TextField))
            setattr(self, field.attname, value)
            problem = typed_url_problem(value) if isinstance(field, models.URLField) else None
            if problem:
                problems[field.name] = [problem]
        errors: dict[str, list[str]] = {}
        try:
            super().clean_fields(exclude=skip | set(problems))
        except ValidationError as exc:
            errors = exc.message_dict
        if errors or problems:
            raise ValidationError({**errors, **problems})


class Country(TypedTextModel):
    """One of the nine Arctic states. Created by a migration; never edited at runtime."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("feeds:country", args=[self.slug])


class Topic(TypedTextModel):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("feeds:topic", args=[self.slug])


class SourceQuerySet(models.QuerySet["Source"]):
    def with_stories(self) -> SourceQuerySet:
        """Outlets whose page shows a story. A semi-join (each outlet's first visible story
        by ``story_source_recent_idx``), not a join of every story then DISTINCT: 2 s at a
        million stories."""
        return self.filter(Exists(Story.objects.visible().filter(source=OuterRef("pk"))))


class Source(TypedTextModel):
    """A news outlet. One outlet may publish several feeds."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    homepage = models.URLField(blank=True)
    country = models.ForeignKey(
        Country,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="The outlet's home country: weak evidence when a story names no place.",
    )
    language = models.CharField(max_length=16, blank=True, default="en")
    show_full_text = models.BooleanField(
        default=False,
        help_text="Show the full article text (only where the outlet allows it); "
        "otherwise an excerpt with a link to the original.",
    )
    description = models.TextField(blank=True)

    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("feeds:source", args=[self.slug])


class FeedQuerySet(models.QuerySet):
    def active(self) -> FeedQuerySet:
        return self.filter(is_active=True)

    def due(self, now: datetime | None = None) -> FeedQuerySet:
        now = now or timezone.now()
        return (
            self.active()
            .filter(next_fetch_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        )

    def sample_loaded(self) -> FeedQuerySet:
        """Active feeds showing the bundled samples because the real feed is unreachable."""
        return self.active().filter(last_status__startswith=SAMPLE_LOADED)

    def failing(self) -> FeedQuerySet:
        """Active feeds whose last fetch failed, except the offline demo's sample-loaded ones."""
        return (
            self.active()
            .filter(consecutive_failures__gt=0)
            .exclude(last_status__startswith=SAMPLE_LOADED)
        )


class Feed(TypedTextModel):
    """A feed URL we poll, with its fetch state (conditional GET, backoff, lease)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="feeds")
    url = models.URLField(max_length=2000)  # unique: feed_url_uniq
    title = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=500, blank=True)

    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Runs claimed but never finished (a worker killed mid-run): counted when a claim is
    # taken, cleared when any outcome is recorded. Enough of them quarantine the feed.
    unfinished_runs = models.PositiveIntegerField(default=0, editable=False)
    next_fetch_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    hub_url = models.URLField(max_length=2000, blank=True)
    publish_interval_minutes = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    objects = FeedQuerySet.as_manager()

    class Meta:
        ordering = ["source__name", "url"]
        constraints = [
            # A constraint, not unique=True: that also adds a LIKE-pattern copy of the index,
            # which nothing uses and every poll's two non-HOT UPDATEs of the row maintain.
            models.UniqueConstraint(fields=["url"], name="feed_url_uniq"),
        ]
        indexes = [
            # enqueue_due_feeds: active feeds whose next_fetch_at has passed.
            models.Index(
                fields=["next_fetch_at"], name="feed_due_idx", condition=Q(is_active=True)
            ),
            # A claim counts the feeds of its host that hold a lease: the few in flight.
            models.Index(
                fields=["lease_until"],
                name="feed_leased_idx",
                condition=Q(lease_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.url


def visible_q(prefix: str = "") -> Q:
    """``StoryQuerySet.visible()`` as a condition, for rows that point at a story: with
    ``prefix="story__"`` a tag row counts only when its story is visible."""
    return Q(**{f"{prefix}is_hidden": False, f"{prefix}canonical__isnull": True})


class StoryKind(models.TextChoices):
    """What a feed item is (feeds/text/boilerplate.toml has the signs of each)."""

    STORY = boilerplate.STORY, "Story"
    DIGEST = boilerplate.DIGEST, "Newsletter or round-up"
    PODCAST = boilerplate.PODCAST, "Podcast"


class StoryQuerySet(models.QuerySet["Story"]):
    def visible(self) -> StoryQuerySet:
        """What readers and subscribers see: canonical copies that editors have not hidden."""
        return self.filter(visible_q())

    def articles(self) -> StoryQuerySet:
        """Stories proper: what may lead a page or fill a related box (no digests, podcasts)."""
        return self.filter(kind=StoryKind.STORY)

    def roundups(self) -> StoryQuerySet:
        """Newsletters, digests, round-ups and podcasts: listed in their own place."""
        return self.exclude(kind=StoryKind.STORY)

    def for_country(self, country: Country) -> StoryQuerySet:
        return self.filter(countries__country=country, countries__rejected=False)

    def for_topic(self, topic: Topic) -> StoryQuerySet:
        return self.filter(topics__topic=topic, topics__rejected=False)

    def for_entity(self, entity_id: int) -> StoryQuerySet:
        """Stories linked to an entity (not removed by an editor)."""
        return self.filter(entity_links__entity_id=entity_id, entity_links__rejected=False)

    def recent_primaries(self, source_id: int, bases: Sequence[str], limit: int) -> list[str]:
        """The primary countries (slugs) of a source's newest ``limit`` stories whose primary
        was decided on one of ``bases``: a walk of story_source_recent_idx."""
        return list(
            self.filter(source_id=source_id, tag_basis__in=bases, primary_country__isnull=False)
            .order_by("-published_at")
            .values_list("primary_country__slug", flat=True)[:limit]
        )

    def newest_first(self) -> StoryQuerySet:
        return self.order_by("-published_at", "-id")

    def older_than(self, published_at: datetime, pk: int) -> StoryQuerySet:
        """Stories after this position in newest-first order.

        A row-value comparison, ``(published_at, id) < (X, Y)``: PostgreSQL applies it as
        the start of a scan of an index on (published_at, id), so a page far back reads
        about as many rows as the first. Spelled with OR it is only a filter, and page 50 of
        a country read 7,411 rows for 21.
        """
        return self.filter(TupleLessThan(Tuple(F("published_at"), F("id")), (published_at, pk)))

    def newer_than(self, published_at: datetime, pk: int) -> StoryQuerySet:
        """Stories before this position in newest-first order (see ``older_than``)."""
        return self.filter(TupleGreaterThan(Tuple(F("published_at"), F("id")), (published_at, pk)))

    def for_listing(self) -> StoryQuerySet:
        """Everything a listing or a feed renders, in a constant number of queries.

        Never the unsanitised copy or the search vector: they are never shown, and they
        are most of a row's width.
        """
        return (
            self.defer(*UNSHOWN)
            .select_related("source", "primary_country")
            .prefetch_related(
                models.Prefetch(
                    "countries",
                    queryset=StoryCountry.objects.filter(rejected=False).select_related("country"),
                    to_attr="shown_countries",
                ),
                models.Prefetch(
                    "topics",
                    queryset=StoryTopic.objects.filter(rejected=False).select_related("topic"),
                    to_attr="shown_topics",
                ),
            )
        )

    def without_bodies(self) -> StoryQuerySet:
        """Rows for a link or a compact card: without the body, the unsanitised copy and the
        search vector, which are most of a row's width and which such a card never shows."""
        return self.defer(*UNSHOWN, "content")

    def listed_on(self) -> dict[str, set]:
        """The listings these stories can appear on, for ``generation.bump_listings``: their
        countries', topics' and sources' slugs (rejected tags too: a story just taken off a
        country must leave its page), and the pages of the stories and of their originals
        (a copy shows on its original's page). Three queries."""
        countries = StoryCountry.objects.filter(story__in=self.values("pk")).values_list(
            "country__slug", flat=True
        )
        topics = StoryTopic.objects.filter(story__in=self.values("pk")).values_list(
            "topic__slug", flat=True
        )
        stories: set = set()
        sources: set = set()
        for pk, source, canonical in self.values_list("pk", "source__slug", "canonical_id"):
            stories.add(pk)
            sources.add(source)
            if canonical is not None:
                stories.add(canonical)
        return {
            "country": set(countries),
            "topic": set(topics),
            "source": sources,
            "story": stories,
        }

    def for_cards(self) -> StoryQuerySet:
        """What a page's story cards render: a listing without the story's body (cards show
        the headline, the teaser and the tags; at 1.5 KB a row the body was most of what a
        listing read)."""
        return self.for_listing().defer("content")


# Columns no reader-facing page or feed shows.
UNSHOWN = ("raw_content", "search_vector", "related_terms", "related_profile")


class Story(TypedTextModel):
    """One item from one feed. Copies of the same story point at their canonical story."""

    # Not columns: set on the stories of one page by the view that shows them (search marks,
    # the related-box editor's country names, a story's prefetched copies).
    country_names: list[str]
    headline_html: str
    snippet_html: str
    copy_list: list[Story]
    # Cards read in one query (feeds.web.cards): the shown tags' countries and topics.
    tag_countries: list[Country]
    tag_topics: list[Topic]

    # No single-column indexes: (feed, guid) and (source, published_at) lead with them.
    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="stories", db_index=False)
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="stories", db_index=False
    )
    guid = models.CharField(max_length=500)
    link = models.URLField(max_length=2000, blank=True)
    title = models.CharField(max_length=1000)
    summary = models.TextField(blank=True, help_text="Sanitised HTML teaser.")
    content = models.TextField(blank=True, help_text="Sanitised HTML body.")
    raw_content = models.TextField(
        blank=True, editable=False, help_text="Unsanitised, never rendered; kept to re-sanitise."
    )
    byline = models.CharField(max_length=500, blank=True)
    author = models.CharField(max_length=300, blank=True)
    original_outlet = models.CharField(
        max_length=300, blank=True, help_text="The outlet that wrote it, if a republication."
    )
    image_url = models.URLField(max_length=2000, blank=True)
    image_caption = models.CharField(max_length=1000, blank=True)
    image_credit = models.CharField(max_length=300, blank=True)
    # Our copy of image_url (feeds.ingest.images): its stored name, and its largest size.
    image_file = models.CharField(max_length=200, blank=True, editable=False)
    image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_source = models.URLField(
        max_length=2000, blank=True, editable=False, help_text="The URL image_file came from."
    )
    image_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    language = models.CharField(max_length=16, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="The feed's own labels.")
    kind = models.CharField(
        max_length=12,
        choices=StoryKind.choices,
        default=StoryKind.STORY,
        help_text="Newsletters, round-ups and podcasts never lead a page or fill a related box.",
    )

    published_at = models.DateTimeField(
        help_text="When the outlet published it (clamped: never after we first saw it)."
    )
    source_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Indexed in Meta: equality lookups only, so without the LIKE-pattern copies that
    # db_index=True adds on PostgreSQL.
    title_key = models.CharField(max_length=KEY_LENGTH, blank=True, editable=False)
    url_key = models.CharField(max_length=KEY_LENGTH, blank=True, editable=False)
    # Hash of the opening words: republished copies repeat the lead word for word.
    lead_key = models.CharField(max_length=LEAD_KEY_LENGTH, blank=True, editable=False)

    is_hidden = models.BooleanField(
        default=False, help_text="Hidden stories are gone for readers and never come back."
    )
    canonical = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        db_index=False,  # story_copies_idx
        help_text="Set when this is a copy of a story another outlet published first.",
    )
    primary_country = models.ForeignKey(
        Country, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    primary_set_by_editor = models.BooleanField(default=False)
    tagged_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What decided the automatic primary ("text", "label", "outlet", "fallback", "none") and
    # by how much it led the runner-up: editors review stories decided on weak evidence.
    tag_basis = models.CharField(max_length=10, blank=True, default="", editable=False)
    tag_margin = models.FloatField(null=True, blank=True, editable=False)
    related_locked = models.BooleanField(
        default=False, help_text="Locked boxes are never changed by the system."
    )
    related_suggested_at = models.DateTimeField(null=True, blank=True, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)
    # The related box's view of the headline and lead, written with the search vector
    # (feeds.related.candidates.stored): the single terms of its profile, weighted, which the
    # candidate index ``story_related_terms_idx`` holds; and the profile itself, stamped with
    # the vocabulary's fingerprint, so a box neither reads nor re-derives its candidates'
    # texts. Empty: not written yet (``manage.py refresh_related_terms``).
    related_terms = SearchVectorField(null=True, editable=False)
    related_profile = models.TextField(blank=True, default="", editable=False)

    objects = StoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "stories"
        ordering = ["-published_at", "-id"]
        constraints = [
            # The idempotency key of ingestion: re-fetching a feed updates, never duplicates.
            models.UniqueConstraint(fields=["feed", "guid"], name="story_feed_guid_uniq"),
            # No code path, the admin included, may store a javascript: or data: link.
            models.CheckConstraint(condition=HTTP_URL, name="story_link_http"),
            models.CheckConstraint(
                condition=Q(image_url="")
                | Q(image_url__startswith="http://")
                | Q(image_url__startswith="https://"),
                name="story_image_http",
            ),
        ]
        indexes = [
            # Home page and /feed/: visible stories, newest first.
            models.Index(
                fields=["-published_at", "-id"],
                name="story_visible_recent_idx",
                condition=Q(is_hidden=False, canonical__isnull=True),
            ),
            # The home page's newsletters and round-ups box and /roundups/: a few in a hundred
            # stories, so the index above would be read back to the first round-up (all of it
            # when there is none: 2 s at 1,000,000 stories). This one holds only them.
            models.Index(
                fields=["-published_at", "-id"],
                name="story_roundup_recent_idx",
                condition=Q(is_hidden=False, canonical__isnull=True) & ~Q(kind=StoryKind.STORY),
            ),
            # Source pages and feeds.
            models.Index(fields=["source", "-published_at"], name="story_source_recent_idx"),
            # A related box's line for a country with nothing on the story's subject: the
            # country's newest visible stories (feeds.related.candidates.recent_by_country).
            models.Index(
                fields=["primary_country", "-published_at"],
                name="story_country_recent_idx",
                condition=Q(is_hidden=False, canonical__isnull=True),
            ),
            # Copy detection and re-keyed items: the same link, headline or opening words.
            models.Index(fields=["title_key"], name="story_title_key_idx"),
            models.Index(fields=["url_key"], name="story_url_key_idx"),
            models.Index(fields=["lead_key"], name="story_lead_key_idx"),
            # A story's copies. Only copies are in it: nearly every story is an original, and
            # an index of all of them offered the planner "canonical IS NULL" as a lookup. On
            # tables without statistics yet it took it, and copy detection read the whole
            # index once per feed (48 million entries in a 500-feed benchmark run).
            models.Index(
                fields=["canonical"],
                name="story_copies_idx",
                condition=Q(canonical__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("feeds:story", args=[self.pk])

    @property
    def outlet(self) -> str:
        """The outlet that wrote the story: the byline's outlet for republications."""
        return self.original_outlet or self.source.name

    @property
    def standfirst(self) -> str:
        """The summary as pages and our feeds show it: whole where the outlet allows full
        text, otherwise its opening, since some feeds put the whole article in it."""
        if self.source.show_full_text:
            return self.summary
        return teaser_html(self.summary)

    def countries_primary_first(self) -> list[Country]:
        """The story's shown countries: the primary country first (also when it has no tag
        row), then the others by name. Uses ``tag_countries`` when read with the story
        (``feeds.web.cards``), or ``shown_countries`` when prefetched
        (``StoryQuerySet.for_listing``)."""
        countries = getattr(self, "tag_countries", None)
        if countries is None:
            tags = getattr(self, "shown_countries", None)
            if tags is None:
                tags = list(self.countries.filter(rejected=False).select_related("country"))
            countries = [tag.country for tag in tags]
        else:
            countries = list(countries)
        primary_id = self.primary_country_id
        if primary_id and all(c.pk != primary_id for c in countries):
            primary = self.primary_country
            if primary is not None:
                countries.append(primary)
        countries.sort(key=lambda c: (c.pk != primary_id, c.name))
        return countries

    def _image_widths(self) -> list[int]:
        if not (self.image_file and self.image_width):
            return []
        largest = self.image_width
        return [w for w in IMAGE_WIDTHS if w < largest] + [largest]

    @property
    def image_src(self) -> str:
        """Our copy of the image at the middle width, or "" (then pages show no image)."""
        widths = self._image_widths()
        if not widths:
            return ""
        return default_storage.url(image_name(self.image_file, widths[min(1, len(widths) - 1)]))

    @property
    def image_srcset(self) -> str:
        return ", ".join(
            f"{default_storage.url(image_name(self.image_file, w))} {w}w"
            for w in self._image_widths()
        )

    @property
    def was_updated(self) -> bool:
        return bool(
            self.source_updated_at
            and self.source_updated_at - self.first_seen_at > timedelta(minutes=5)
        )


class TagQuerySet(models.QuerySet):
    def shown(self) -> TagQuerySet:
        return self.filter(rejected=False)


class Tag(models.Model):
    """A country or topic tag. An editor's row (added or rejected) always beats the system's."""

    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.EDITOR)
    rejected = models.BooleanField(
        default=False, help_text="An editor removed this tag: the system may not add it again."
    )
    score = models.FloatField(default=0.0, editable=False)
    # Why the system gave the tag ("headline names Tromsø; outlet NRK is based here").
    reason = models.CharField(max_length=300, blank=True, default="", editable=False)
    changed_at = models.DateTimeField(auto_now=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        abstract = True


class StoryCountry(Tag):
    # Both directions are covered by the two composite indexes below.
    story = models.ForeignKey(
        Story, on_delete=models.CASCADE, related_name="countries", db_index=False
    )
    country = models.ForeignKey(
        Country, on_delete=models.CASCADE, related_name="story_tags", db_index=False
    )

    class Meta:
        verbose_name = "country tag"
        constraints = [
            models.UniqueConstraint(fields=["story", "country"], name="storycountry_uniq"),
        ]
        indexes = [
            # Country listings: stories tagged with a country.
            models.Index(fields=["country", "story"], name="storycountry_country_idx"),
        ]

    def __str__(self) -> str:
        return str(self.country)


class StoryTopic(Tag):
    # Both directions are covered by the two composite indexes below.
    story = models.ForeignKey(
        Story, on_delete=models.CASCADE, related_name="topics", db_index=False
    )
    topic = models.ForeignKey(
        Topic, on_delete=models.CASCADE, related_name="story_tags", db_index=False
    )

    class Meta:
        verbose_name = "topic tag"
        constraints = [
            models.UniqueConstraint(fields=["story", "topic"], name="storytopic_uniq"),
        ]
        indexes = [
            # Topic listings: stories tagged with a topic.
            models.Index(fields=["topic", "story"], name="storytopic_topic_idx"),
        ]

    def __str__(self) -> str:
        return str(self.topic)


class RelatedSlotQuerySet(models.QuerySet["RelatedSlot"]):
    def boxes_showing_twice(self, storyline_ids: Sequence[int]) -> list[int]:
        """The stories whose box has two lines or more to stories of one of these storylines
        (after an editor joined two events, a box may tell the same one twice)."""
        return list(
            self.filter(target__storyline_membership__storyline_id__in=list(storyline_ids))
            .order_by()  # the model's ordering would join the GROUP BY
            .values("story_id", "target__storyline_membership__storyline_id")
            .annotate(lines=Count("id"))
            .filter(lines__gte=2)
            .values_list("story_id", flat=True)
            .distinct()
        )

    def shown_in(self, story: Story) -> RelatedSlotQuerySet:
        """The lines readers see in ``story``'s box: one for each country other than the
        story's primary country (a line kept for that country, e.g. an outlet's or one set
        before an editor changed the primary country, stays stored but unseen), never a
        line to a hidden story, nor to a newsletter or podcast (one marked since the line was
        made, until ``boxes.withdraw_roundups`` has removed the line)."""
        shown = self.filter(
            Q(target__isnull=True) | Q(target__is_hidden=False, target__kind=StoryKind.STORY)
        )
        if story.primary_country_id is not None:
            shown = shown.exclude(country_id=story.primary_country_id)
        return shown


class RelatedSlot(TypedTextModel):
    """One line of a story's "Related stories from around the North" box: one for each
    country other than the story's primary country."""

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="related_slots")
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    target = models.ForeignKey(
        Story, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A story we do not carry: an editor's or the outlet's own external link.
    external_url = models.URLField(max_length=2000, blank=True)
    external_headline = models.CharField(max_length=1000, blank=True)
    external_outlet = models.CharField(max_length=300, blank=True)
    # external_url as dedupe.url_key has it: an outlet's line to a story we do not carry yet is
    # found by this when that story arrives, and then points at ours.
    external_key = models.CharField(max_length=KEY_LENGTH, blank=True, editable=False)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.EDITOR)
    pinned = models.BooleanField(
        default=False, help_text="Pinned slots are kept when the system re-suggests the box."
    )
    score = models.FloatField(default=0.0, editable=False)
    changed_at = models.DateTimeField(auto_now=True)

    objects = RelatedSlotQuerySet.as_manager()

    class Meta:
        ordering = ["position", "country__name"]
        indexes = [
            models.Index(
                fields=["external_key"],
                name="relatedslot_external_key",
                condition=~Q(external_key=""),
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["story", "country"], name="relatedslot_uniq"),
            models.CheckConstraint(
                condition=Q(target__isnull=False) | ~Q(external_url=""),
                name="relatedslot_has_target",
            ),
            models.CheckConstraint(
                condition=Q(external_url="")
                | Q(external_url__startswith="http://")
                | Q(external_url__startswith="https://"),
                name="relatedslot_external_http",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.headline}"

    def save(self, *args, **kwargs) -> None:
        self.external_key = url_key(self.external_url)[:300] if self.external_url else ""
        fields = kwargs.get("update_fields")
        if fields is not None and "external_url" in fields:
            kwargs["update_fields"] = {*fields, "external_key"}
        super().save(*args, **kwargs)

    def _target(self) -> Story | None:
        return self.target if self.target_id else None  # no query for an external line

    @property
    def headline(self) -> str:
        # A null foreign key reads as None without a query, so this costs what target_id did.
        target = self.target
        return target.title if target is not None else self.external_headline

    @property
    def outlet(self) -> str:
        target = self.target
        return target.outlet if target is not None else self.external_outlet

    @property
    def url(self) -> str:
        target = self.target
        return target.get_absolute_url() if target is not None else self.external_url


class RelatedGapQuerySet(models.QuerySet["RelatedGap"]):
    def waiting_for(
        self, country_id: int, since: datetime, until: datetime, limit: int
    ) -> list[int]:
        """Unlocked, visible boxes of stories published between ``since`` and ``until`` that
        have no line for this country, newest first, at most ``limit`` (relatedgap_wait_idx)."""
        return list(
            self.filter(
                country_id=country_id,
                published_at__range=(since, until),
                story__related_locked=False,
                story__in=Story.objects.visible(),
            )
            # The index's own order, no tie-breaker: the scan stops after ``limit`` rows
            # instead of sorting every gap of the country in the range (2,435 rows, 44 ms at
            # 1,000,000 stories with seed_demo's partial boxes; now 2.7 ms).
            .order_by("-published_at")
            .values_list("story_id", flat=True)[:limit]
        )


class RelatedGap(models.Model):
    """A country whose line a box leaves empty (no story of it to show when the box was made,
    and no editor cleared it): a new story of that country fills the newest such boxes at once
    (``feeds.related.boxes.boxes_affected_by``). Written only by ``boxes.refresh_box``; the
    story's date is copied here so the newest gaps of a country are one index range."""

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Both are the first column of an index below.
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="+", db_index=False)
    published_at = models.DateTimeField()

    objects = RelatedGapQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["story", "country"], name="relatedgap_uniq"),
        ]
        indexes = [models.Index(fields=["country", "-published_at"], name="relatedgap_wait_idx")]

    def __str__(self) -> str:
        return f"{self.story_id}: no line for {self.country_id}"


class FetchLog(models.Model):
    """One fetch attempt, so editors can see what a feed did and why it failed."""

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="fetch_logs")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=200)
    error = models.TextField(blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["feed", "-started_at"], name="fetchlog_feed_idx")]

    def __str__(self) -> str:
        return f"{self.feed} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class RelatedChangeQuerySet(models.QuerySet):
    def cleared_countries(self, story_id: int) -> set[int]:
        """Country ids whose line an editor cleared on purpose: the system must not refill them.

        The newest change that decides what a line shows wins: a later pick, external link or
        "let the system choose" on the line ends the clearing.
        """
        newest: dict[int, str] = {}
        for country_id, action in (
            self.filter(
                story_id=story_id,
                country__isnull=False,
                action__in=RelatedChange.CONTENT_ACTIONS,
            )
            .order_by("-at", "-id")
            .values_list("country_id", "action")
        ):
            newest.setdefault(country_id, action)
        return {cid for cid, action in newest.items() if action == RelatedChange.Action.CLEAR}

    def replacements(self) -> list[tuple[int, int, int | None, int]]:
        """Editors' choices, newest first: (story, country, the system's story shown or None
        for an empty line, the story the editor chose instead)."""
        out = []
        for story_id, country_id, before, after in (
            self.filter(action=RelatedChange.Action.PICK, country__isnull=False)
            .order_by("-at", "-id")
            .values_list("story_id", "country_id", "before", "after")
            .iterator()
        ):
            if before is not None and before.get("origin") != Origin.SYSTEM:
                continue  # an editor changing an editor's line says nothing of the ranking
            if after and after.get("target"):
                shown = before.get("target") if before else None
                out.append((story_id, country_id, shown, after["target"]))
        return out


class EditorChange(models.Model):
    """What an editor changed, audited: who (the name kept when the account is deleted), when,
    and the state before and after. Each kind of record adds what it changed and its actions."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="Kept when the user account is deleted."
    )
    at = models.DateTimeField(default=timezone.now)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-at", "-id"]

    @staticmethod
    def by(user: Any) -> dict[str, Any]:
        """The ``user`` and ``username`` fields for whoever made the change (none when
        anonymous or not a user, e.g. a management command)."""
        real = user if getattr(user, "is_authenticated", False) else None
        return {"user": real, "username": real.get_username() if real is not None else ""}


class RelatedChange(EditorChange):
    """One editor's change to a story's related box: who, when, what, before and after.

    Written by feeds.related.curation for every operation. The newest change to a country's line
    also records an editor's decision to leave it empty (``objects.cleared_countries``).
    """

    class Action(models.TextChoices):
        PICK = "pick", "Picked a story"
        EXTERNAL = "external", "Set an external link"
        CLEAR = "clear", "Cleared"
        RELEASE = "release", "Handed back to the system"
        MOVE = "move", "Moved"
        PIN = "pin", "Pinned"
        UNPIN = "unpin", "Unpinned"
        LOCK = "lock", "Locked the box"
        UNLOCK = "unlock", "Unlocked the box"

    # Changes that decide what a country's line shows; the newest one wins.
    CONTENT_ACTIONS = (Action.PICK, Action.EXTERNAL, Action.CLEAR, Action.RELEASE)

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="related_changes")
    action = models.CharField(max_length=10, choices=Action.choices)
    country = models.ForeignKey(
        Country, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    objects = RelatedChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["story", "-at"], name="relatedchange_story_idx")]

    def __str__(self) -> str:
        where = f" ({self.country})" if self.country_id else ""
        return f"{self.get_action_display()}{where} by {self.username or 'someone'}"


class TagCorrection(models.Model):
    """An editor changed a story's countries or primary country: who, when, before, after.
    Corrections are labels: ``evaluate_tagging --corrections`` measures the tagger against
    them and ``fit_tagger --corrections`` learns from them."""

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="tag_corrections")
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    primary_before = models.CharField(max_length=50, blank=True)
    primary_after = models.CharField(max_length=50, blank=True)
    countries_before = models.JSONField(default=list)  # country slugs, primary first
    countries_after = models.JSONField(default=list)
    confirmed = models.BooleanField(
        default=False, help_text="The editor confirmed the system's choice without changing it."
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.primary_before or '—'} → {self.primary_after or '—'}"


class ReviewStory(Story):
    """Stories whose primary country was decided on weak evidence, for the review queue."""

    class Meta:
        proxy = True
        verbose_name = "story to review"
        verbose_name_plural = "tag review queue"


class GazetteerTerm(TypedTextModel):
    """A term an editor added to a country (a new mine, a vessel's home port), on top of the
    data files in feeds/tagging/data/. Effective for new stories at once; ``retag`` applies
    it to old ones."""

    class Kind(models.TextChoices):
        PLACE = "place", "place (town, region, site, mine, port)"
        INSTITUTION = "institution", "institution"
        PERSON = "person", "person"
        COMPANY = "company", "company"
        NAME = "name", "another name of the country"
        DEMONYM = "demonym", "adjective (Norwegian, норвежск*)"
        MINOR = "minor", "weak or ambiguous"

    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PLACE)
    term = models.CharField(
        max_length=200,
        help_text='Whole words, any case. "=ABC" matches that case only; "мурманск*" any '
        "word starting so (for inflections).",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "gazetteer term"
        constraints = [
            models.UniqueConstraint(fields=["country", "term"], name="gazetteerterm_uniq"),
        ]

    def __str__(self) -> str:
        return self.term


# --- Storylines: one event or developing subject across outlets, countries, languages -------


class StorylineQuerySet(models.QuerySet["Storyline"]):
    def shown(self) -> StorylineQuerySet:
        """What readers see: storylines editors have not hidden nor merged into another."""
        return self.filter(hidden=False, merged_into__isnull=True)

    def listed(self) -> StorylineQuerySet:
        """What is offered to readers beyond its own page (the sitemap, the OPML, WebSub
        pings, "Storylines this week", a story page's "Part of"): shown storylines that more
        than one visible story tells. A storyline of one story is just that story."""
        return self.shown().filter(story_count__gte=2)

    def ranked(self) -> StorylineQuerySet:
        """Most covered first: by countries, then outlets, then stories, then newest."""
        return self.order_by(
            "-country_count", "-outlet_count", "-story_count", "-last_published_at", "-id"
        )

    def covered_between(self, start: datetime, end: datetime | None = None) -> StorylineQuerySet:
        """Listed storylines with a visible story published in [start, end), each annotated
        with what covered it IN that window (``window_countries``: the outlets' home
        countries, ``window_outlets``, ``window_stories``), most covered in the window first.

        The window's counts, not the all-time ones (``country_count`` ...): a storyline that
        nine countries told last year and one outlet continued this week is one outlet's
        story this week, and must not lead the week's storylines."""
        story = "memberships__story"
        in_window = Q(
            visible_q(f"{story}__"),
            **{f"{story}__published_at__gte": start, f"{story}__kind": StoryKind.STORY},
        )
        # The storylines' own dates bound the window first (storyline_recent_idx), so only
        # the members of storylines active in it are read.
        lines = self.listed().filter(last_published_at__gte=start)
        if end is not None:
            in_window &= Q(**{f"{story}__published_at__lt": end})
            lines = lines.filter(first_published_at__lt=end)
        return (
            # One filter() call: the annotations below count only the members it matched.
            lines.filter(in_window)
            .annotate(
                window_countries=Count(f"{story}__source__country", distinct=True),
                window_outlets=Count(f"{story}__source", distinct=True),
                window_stories=Count(story, distinct=True),
            )
            .order_by(
                "-window_countries",
                "-window_outlets",
                "-window_stories",
                "-last_published_at",
                "-id",
            )
        )

    def this_week(self, now: datetime | None = None, days: int = 7) -> StorylineQuerySet:
        """The home page's "Storylines this week": listed storylines with a story in the last
        ``days``, ranked by that week's coverage (``covered_between``)."""
        now = now or timezone.now()
        return self.covered_between(now - timedelta(days=days))


class Storyline(TypedTextModel):
    """Stories about one event or developing subject, across outlets, countries and
    languages. Stories join through ``StorylineMembership`` (one storyline per story);
    copies (``Story.canonical``) never join: their canonical story does.

    The counts and dates are kept by ``feeds.storylines`` whenever membership changes, so
    listings rank storylines without reading their stories.
    """

    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=300)
    title_set_by_editor = models.BooleanField(
        default=False, help_text="An editor's title is never replaced by the system's."
    )
    hidden = models.BooleanField(default=False, help_text="Hidden storylines are gone for readers.")
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Set when an editor merged this storyline into another (its page redirects).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    first_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    story_count = models.PositiveIntegerField(default=0, editable=False)
    country_count = models.PositiveIntegerField(default=0, editable=False)
    outlet_count = models.PositiveIntegerField(default=0, editable=False)
    # What the storyline is about, for the clusterer: term → weight (its stories' profiles
    # summed, the strongest kept). Never shown.
    profile = models.JSONField(default=dict, blank=True, editable=False)

    stories = models.ManyToManyField(
        Story, through="StorylineMembership", related_name="storylines", blank=True
    )

    objects = StorylineQuerySet.as_manager()

    class Meta:
        ordering = ["-last_published_at", "-id"]
        indexes = [
            # "Storylines this week" and the clusterer's recent window.
            models.Index(
                fields=["-last_published_at"],
                name="storyline_recent_idx",
                condition=Q(hidden=False, merged_into__isnull=True),
            ),
            # The sitemap's storylines (listed(), newest first, counted by its paginator):
            # most storylines are one story's, never listed, and their profiles make the
            # table large, so a scan of it per sitemap rebuild would read them all.
            models.Index(
                fields=["-last_published_at", "-id"],
                name="storyline_listed_idx",
                condition=Q(hidden=False, merged_into__isnull=True, story_count__gte=2),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("feeds:storyline", args=[self.slug])


class StorylineMembership(models.Model):
    """A story's place in a storyline. ``pinned`` rows were set by an editor: the clusterer
    never moves or removes them."""

    story = models.OneToOneField(
        Story, on_delete=models.CASCADE, primary_key=True, related_name="storyline_membership"
    )
    storyline = models.ForeignKey(Storyline, on_delete=models.CASCADE, related_name="memberships")
    pinned = models.BooleanField(default=False)
    score = models.FloatField(default=0.0, editable=False)
    joined_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["storyline", "story"], name="storylinemember_line_idx")]

    def __str__(self) -> str:
        return f"Story {self.story_id}{' (pinned by an editor)' if self.pinned else ''}"


class StorylineTerm(models.Model):
    """The clusterer's index: a storyline's distinctive terms and anchors, with the date of
    its newest story, so a new story's candidate storylines are an index range per term
    (recent ones only), never a scan of the archive."""

    storyline = models.ForeignKey(Storyline, on_delete=models.CASCADE, related_name="+")
    term = models.CharField(max_length=64)
    last_published_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["storyline", "term"], name="storylineterm_uniq"),
        ]
        indexes = [
            models.Index(fields=["term", "-last_published_at"], name="storylineterm_recent_idx")
        ]

    def __str__(self) -> str:
        return self.term


class StorylineChange(EditorChange):
    """One editor's change to storylines: who, when, what, before and after. Written by
    ``feeds.storylines.editing`` for every operation."""

    class Action(models.TextChoices):
        RENAME = "rename", "Renamed"
        HIDE = "hide", "Hidden"
        SHOW = "show", "Shown again"
        MERGE = "merge", "Merged"
        SPLIT = "split", "Split"
        MOVE = "move", "Moved a story"
        REMOVE = "remove", "Took a story out"

    storyline = models.ForeignKey(
        Storyline, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    story = models.ForeignKey(
        Story, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["storyline", "-at"], name="storylinechange_line_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.username or 'someone'}"


# --- The weekly digest ("Around the North") -------------------------------------------------


class DigestQuerySet(models.QuerySet["Digest"]):
    def published(self) -> DigestQuerySet:
        """What readers and subscribers see: digests an editor approved."""
        return self.filter(status=Digest.Status.APPROVED)

    def newest_first(self) -> DigestQuerySet:
        return self.order_by("-year", "-week")


class Digest(TypedTextModel):
    """One ISO week's "Around the North": a draft until an editor approves it.

    Made by ``feeds.digest.drafting`` (one per week: the unique constraint makes the beat task
    idempotent); published and mailed only once approved (``feeds.digest.publishing``).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved and published"

    year = models.PositiveSmallIntegerField(help_text="ISO year.")
    week = models.PositiveSmallIntegerField(help_text="ISO week (1-53).")
    title = models.CharField(max_length=200, default="Around the North")
    introduction = models.TextField(
        blank=True, help_text="Plain text shown above the lines (optional)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Set once, by the first sweep that queues the mailing (a conditional UPDATE), so the
    # mailing is queued once however many sweeps run.
    mailing_queued_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = DigestQuerySet.as_manager()

    class Meta:
        ordering = ["-year", "-week"]
        constraints = [
            models.UniqueConstraint(fields=["year", "week"], name="digest_week_uniq"),
            models.CheckConstraint(
                condition=Q(week__gte=1, week__lte=53), name="digest_week_range"
            ),
        ]
        permissions = [("approve_digest", "Can approve and publish a weekly digest")]

    def __str__(self) -> str:
        return f"{self.title}, week {self.week} of {self.year}"

    def get_absolute_url(self) -> str:
        return reverse("feeds:digest_week", args=[self.year, self.week])

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.APPROVED

    def shown_lines(self) -> models.QuerySet[DigestLine]:
        """The lines readers and subscribers get, in order: a story hidden since is left out."""
        return self.lines.shown()

    def shown_storylines(self) -> models.QuerySet[DigestStoryline]:
        """The storylines of the week readers get: none hidden or merged away since."""
        return self.storylines.shown()


class DigestLineQuerySet(models.QuerySet["DigestLine"]):
    def shown(self) -> DigestLineQuerySet:
        """Lines as readers and subscribers get them, in order: a story hidden since a
        digest was approved is left out."""
        return (
            self.filter(target__is_hidden=False)
            .select_related("country", "target__source")
            .order_by("position", "country__name")
        )


class DigestLine(models.Model):
    """One country's line of a digest, ``Country: Headline, Source`` like a related-box line
    (rendered by the same template: ``target``, ``headline`` and ``outlet`` as RelatedSlot's)."""

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="lines")
    country = models.ForeignKey(Country, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    target = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="+")
    # Why the system chose it ("3 outlets in 2 countries"): shown to editors.
    reason = models.CharField(max_length=200, blank=True, editable=False)
    external_url = ""  # the related-box template's external line: digests have none

    objects = DigestLineQuerySet.as_manager()

    class Meta:
        ordering = ["position", "country__name"]
        constraints = [
            models.UniqueConstraint(fields=["digest", "country"], name="digestline_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.headline}"

    @property
    def headline(self) -> str:
        return self.target.title

    @property
    def outlet(self) -> str:
        return self.target.outlet


class DigestStorylineQuerySet(models.QuerySet["DigestStoryline"]):
    def shown(self) -> DigestStorylineQuerySet:
        """The storylines of the week as readers get them, in order: none hidden or merged
        away since."""
        return (
            self.filter(storyline__hidden=False, storyline__merged_into__isnull=True)
            .select_related("storyline")
            .order_by("position", "id")
        )


class DigestStoryline(models.Model):
    """One of the (up to five) storylines of the week a digest leads with."""

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="storylines")
    storyline = models.ForeignKey(Storyline, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    # Why the system chose it ("this week: 6 stories, 4 outlets in 3 countries"): shown to
    # editors.
    reason = models.CharField(max_length=200, blank=True, editable=False)

    objects = DigestStorylineQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["digest", "storyline"], name="digeststoryline_uniq"),
        ]

    def __str__(self) -> str:
        return str(self.storyline)


class DigestChange(EditorChange):
    """An editor's change to a digest: who, when, what, before and after (the audit trail)."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved and published"
        WITHDRAW = "withdraw", "Withdrawn"
        EDIT = "edit", "Edited"

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=10, choices=Action.choices)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.username or 'someone'}"


class Subscriber(models.Model):
    """A confirmed address of the weekly digest's email. Only confirmed addresses are stored
    (the sign-up's address travels in its signed link until then); unsubscribing deletes the
    row. Shown only to users with ``view_subscriber`` (not in the Editors group by default)."""

    email = models.EmailField(max_length=254, unique=True)
    confirmed_at = models.DateTimeField(default=timezone.now, editable=False)
    # The secret in this subscriber's unsubscribe links: a signed id alone would outlive a
    # re-subscription of the same address by someone else.
    key = models.CharField(max_length=32, editable=False)

    class Meta:
        ordering = ["-confirmed_at"]

    def __str__(self) -> str:
        # Not the address: str() ends up in the admin's action log and in messages that
        # people without view_subscriber may see.
        return f"subscriber {self.pk}"


class UsedConfirmation(models.Model):
    """A confirmation link that has been used, by the hash of its token (not the address):
    the same link cannot subscribe again, after an unsubscribe, say. Rows older than the
    links' lifetime are deleted (a link that old is refused anyway)."""

    token_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"confirmation used at {self.used_at:%Y-%m-%d %H:%M}"


class DigestSend(models.Model):
    """The mailing of one digest to one subscriber.

    Written and committed BEFORE the message is handed to the mail server (state "sending"),
    and marked "sent" after: a worker killed in between leaves "sending", and no run ever
    sends to that subscriber again (a second copy is worse than a lost one; editors see the
    count). The unique constraint makes the claim atomic between workers.
    """

    class State(models.TextChoices):
        SENDING = "sending", "Handed to the mail server, outcome unknown"
        SENT = "sent", "Sent"
        FAILED = "failed", "Refused by the mail server"

    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="sends")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["digest", "subscriber"], name="digestsend_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.digest_id} to {self.subscriber_id}: {self.state}"


# --- Entities: the ships, ports, routes, organisations and places stories are about -------


class EntityKind(models.TextChoices):
    """Each kind has its own page path: /vessel/<slug>/, /port/<slug>/, …"""

    VESSEL = "vessel", "Vessel"
    PORT = "port", "Port or terminal"
    ROUTE = "route", "Sea route or waters"
    ORG = "org", "Company or institution"
    PLACE = "place", "Place"


class EntityQuerySet(models.QuerySet["Entity"]):
    def shown(self) -> EntityQuerySet:
        """What readers see: entities editors have neither hidden nor merged into another."""
        return self.filter(hidden=False, merged_into__isnull=True)

    def with_stories(self) -> EntityQuerySet:
        """Those whose page lists a story: linked (the link not removed by an editor) to a
        visible story proper. The catalogue seeds every ship and port it knows; a page
        without a story is not worth a crawler's visit."""
        linked = StoryEntity.objects.filter(
            visible_q("story__"), entity=OuterRef("pk"), rejected=False, story__kind=StoryKind.STORY
        )
        return self.filter(Exists(linked))


class Entity(TypedTextModel):
    """A named thing stories are about. Seeded from ``feeds/entities/data/*.toml`` (``data_key``
    set; the data's facts are refreshed on migrate unless an editor changed the entity) and
    added, merged, aliased and hidden by editors in the admin."""

    kind = models.CharField(max_length=10, choices=EntityKind.choices)
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    country = models.ForeignKey(
        Country, null=True, blank=True, on_delete=models.SET_NULL, related_name="entities"
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    imo = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="IMO number", help_text="Vessels: only when known."
    )
    ice_class = models.CharField(max_length=40, blank=True, default="")
    operator = models.CharField(max_length=200, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    source = models.CharField(
        max_length=500, blank=True, default="", help_text="Where the facts come from."
    )
    data_key = models.CharField(
        max_length=120,
        blank=True,
        default="",
        editable=False,
        help_text="kind/slug of the data file entry it came from; empty for editors' own.",
    )
    edited = models.BooleanField(
        default=False,
        editable=False,
        help_text="An editor changed it: the data file no longer overwrites its facts.",
    )
    hidden = models.BooleanField(
        default=False, help_text="Hidden entities get no page and no new stories."
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Set when an editor merged this entity into another (its page redirects).",
    )

    objects = EntityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "slug"], name="entity_kind_slug_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(f"feeds:{self.kind}", args=[self.slug])


class EntityAlias(TypedTextModel):
    """A name an entity goes by, in the tagger's term syntax ("Sabetta", "сабетт*", "=NSR").
    ``needs_cue``: the name is also an ordinary word or another thing's name ("Yamal",
    "Healy", "Arktika"), so it counts only next to a word of its kind ("icebreaker Yamal")."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="aliases")
    term = models.CharField(max_length=200)
    needs_cue = models.BooleanField(default=False)
    # The term as search compares it: folded like the tagger folds words, the stars dropped
    # (written by feeds.entities, never by hand).
    folded = models.CharField(max_length=200, blank=True, default="", editable=False)
    stem = models.BooleanField(default=False, editable=False)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.EDITOR)

    class Meta:
        verbose_name_plural = "entity aliases"
        constraints = [
            models.UniqueConstraint(fields=["entity", "term"], name="entityalias_uniq"),
        ]
        indexes = [models.Index(fields=["folded"], name="entityalias_folded_idx")]

    def __str__(self) -> str:
        return self.term


class StoryEntityQuerySet(TagQuerySet):
    def shown(self) -> StoryEntityQuerySet:
        """Links readers see: not removed by an editor, to an entity that is shown."""
        return self.filter(rejected=False, entity__hidden=False, entity__merged_into__isnull=True)

    def most_covered(
        self, since: datetime, kinds: Sequence[str], topic: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The shown entities of these kinds by their visible stories published since
        ``since`` (of one topic, by slug, if given), most first: one query, for the maps."""
        rows = self.shown().filter(
            visible_q("story__"), story__published_at__gte=since, entity__kind__in=kinds
        )
        if topic:
            rows = rows.filter(story__topics__topic__slug=topic, story__topics__rejected=False)
        values: Any = (
            rows.values(
                "entity_id",
                "entity__kind",
                "entity__slug",
                "entity__name",
                "entity__data_key",
                "entity__latitude",
                "entity__longitude",
            )
            .annotate(n=Count("story_id", distinct=True))
            .order_by("-n", "entity__name")[:limit]
        )
        return list(values)


class StoryEntity(Tag):
    """A story is about an entity: a tag like a country's. The system's rows come from the
    tagger's matched terms at ingest (``feeds.entities.linking``; ``reason`` names the term);
    an editor's rows (added, or ``rejected``: removed) always win and are never touched."""

    story = models.ForeignKey(
        Story, on_delete=models.CASCADE, related_name="entity_links", db_index=False
    )
    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="story_links", db_index=False
    )
    in_title = models.BooleanField(default=False, editable=False)

    objects: ClassVar = StoryEntityQuerySet.as_manager()

    class Meta:
        verbose_name = "story's entity"
        verbose_name_plural = "story's entities"
        constraints = [
            models.UniqueConstraint(fields=["story", "entity"], name="storyentity_uniq"),
        ]
        indexes = [
            # Entity listings and the map's weekly counts: stories linked to an entity.
            models.Index(fields=["entity", "story"], name="storyentity_entity_idx"),
        ]

    def __str__(self) -> str:
        return str(self.entity)
