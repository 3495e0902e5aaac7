"""Measure storylines on labelled sets: pairwise precision and recall of "same storyline".

    python manage.py evaluate_storylines [FILE ...] [--mistakes] [--threshold X]

Without FILE, both sets: ``tests/fixtures/storylines/dev.txt`` (the thresholds and weights
of ``feeds.storylines.scoring`` were tuned on it) and ``holdout.txt`` (never used for
tuning), each reported apart. Each set is stored as ingest would store it, in the order the
stories were published: its outlets and feeds, each story with its copy keys and the
tagger's countries, copy detection (``feeds.ingest.copies``: a word-for-word republication
becomes a copy, never a storyline's story), then placement (``feeds.storylines.assign``),
one story at a time, as the worker places stories after each fetch. Everything happens in
one transaction that is rolled back; storylines already in the database are hidden inside
it so they do not compete.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from feeds.ingest.copies import link_copies
from feeds.models import Country, Feed, Source, Story, Storyline, StorylineMembership
from feeds.storylines import assign, evaluate, scoring
from feeds.tagging.store import apply_tags
from feeds.text.keys import lead_key, title_key, url_key

SETS = Path(settings.BASE_DIR) / "tests" / "fixtures" / "storylines"
DEFAULT_SETS = (SETS / "dev.txt", SETS / "holdout.txt")


class Rollback(Exception):
    pass


def run_set(items: list[evaluate.Item]) -> tuple[dict[str, str], dict[str, int | None], int]:
    """Store and place a set's stories; returns the labels of distinct stories, their
    storylines, and how many copies were linked (and kept out of storylines)."""
    countries = {c.slug: c for c in Country.objects.all()}
    feeds: dict[str, Feed] = {}
    for key, outlet in evaluate.OUTLETS.items():
        source, _ = Source.objects.get_or_create(
            slug=slugify(outlet.name),
            defaults={
                "name": outlet.name,
                "country": countries.get(outlet.country),
                "language": outlet.language,
                "homepage": outlet.homepage,
            },
        )
        feeds[key], _ = Feed.objects.get_or_create(
            url=f"https://fixtures.arcticnews.invalid/storylines/{key}.xml",
            defaults={"source": source},
        )
    # A set stored before (kept by hand, or left by a run that crashed) is stored afresh.
    Story.objects.filter(feed__in=feeds.values()).delete()
    stored: dict[str, Story] = {}
    for item in sorted(items, key=lambda i: (i.published_at, i.key)):
        feed = feeds[item.outlet]
        outlet = evaluate.OUTLETS[item.outlet]
        link = f"{outlet.homepage}{slugify(item.key.replace('/', '-'))}/"
        story = Story(
            feed=feed,
            source=feed.source,
            guid=item.key,
            link=link,
            title=item.title,
            summary=item.lead,
            original_outlet=item.credit,  # a republication's byline names the original
            language=outlet.language,
            published_at=item.published_at,
            first_seen_at=item.published_at,
            title_key=title_key(item.title),
            url_key=url_key(link),
            lead_key=lead_key(item.lead, words=20),
        )
        story.save()
        apply_tags([story])  # as ingest tags each story before it is placed
        story.refresh_from_db(fields=["primary_country"])
        link_copies([story])
        assign.assign([story.pk])
        stored[item.key] = story
    ids = {key: s.pk for key, s in stored.items()}
    copies = set(
        Story.objects.filter(pk__in=ids.values(), canonical__isnull=False).values_list(
            "pk", flat=True
        )
    )
    lines = dict(
        StorylineMembership.objects.filter(story_id__in=ids.values()).values_list(
            "story_id", "storyline_id"
        )
    )
    if any(pk in lines for pk in copies):
        raise CommandError("a copy was placed in a storyline: copies must stay copies")
    labels = {i.key: i.event for i in items if ids[i.key] not in copies}
    predicted = {key: lines.get(ids[key]) for key in labels}
    return labels, predicted, len(copies)


class Command(BaseCommand):
    help = "Pairwise precision/recall of storylines on the labelled sets (dev and held-out)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="*", type=Path)
        parser.add_argument("--mistakes", action="store_true", help="list the wrong pairs")
        parser.add_argument(
            "--threshold", type=float, default=None, help="try another join threshold"
        )

    def handle(self, *args, files: list[Path], mistakes: bool, threshold, **options) -> None:
        paths = files or list(DEFAULT_SETS)
        if threshold is not None:
            scoring.THRESHOLD = threshold  # type: ignore[misc]  # an experiment, this process only
        for path in paths:
            if not path.exists():
                raise CommandError(f"{path}: no such file")
            try:
                items = evaluate.read(path)
            except evaluate.SetError as exc:
                raise CommandError(str(exc)) from None
            labels: dict[str, str] = {}
            predicted: dict[str, int | None] = {}
            copies = 0
            try:
                with transaction.atomic():
                    Storyline.objects.update(hidden=True)
                    assign.clear()
                    labels, predicted, copies = run_set(items)
                    raise Rollback
            except Rollback:
                pass
            finally:
                assign.clear()
            scores = evaluate.pairwise(labels, predicted)
            self.stdout.write(
                f"{path.name}: precision {scores.precision:.3f}  recall {scores.recall:.3f}  "
                f"F1 {scores.f1:.3f}  ({scores.right_pairs} of {scores.predicted_pairs} "
                f"predicted pairs right, {scores.true_pairs} true pairs; {scores.events} "
                f"events of 2+ stories, {scores.stories} distinct stories, {copies} copies "
                "kept out)"
            )
            if mistakes:
                together, apart = evaluate.mistakes(labels, predicted)
                for a, b in together:
                    self.stdout.write(f"  wrongly together: {a}  {b}")
                for a, b in apart:
                    self.stdout.write(f"  wrongly apart:    {a}  {b}")
