"""Apply feeds/text/boilerplate.toml to the stories already stored.

Ingest applies the rules to every story it stores; this brings older stories up to the
current rules: boilerplate tails removed from summaries and bodies, the story's kind set
(story, digest, podcast), search vectors and automatic tags recomputed where the text changed.
Editors' tags are never touched (``apply_tags`` keeps them). Every related-box line that points
at a newsletter, digest or podcast (marked now or before) is dropped and its box, unless
locked, suggested again (``boxes.withdraw_roundups``).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from feeds.generation import bump_generation
from feeds.models import RelatedSlot, Story, StoryKind
from feeds.related import boxes
from feeds.search import update_search_vectors
from feeds.tagging.store import apply_tags
from feeds.text.boilerplate import story_kind, strip_boilerplate

BATCH = 500


class Command(BaseCommand):
    help = "Remove feed boilerplate from stored stories and mark digests and podcasts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )

    def handle(self, *args, dry_run: bool = False, **options):
        stories = Story.objects.select_related("source", "source__country").order_by("pk")
        total = cleaned = rekinded = 0
        marked: list[int] = []  # stories this run marks a newsletter, digest or podcast
        last = 0
        while True:
            batch = list(stories.filter(pk__gt=last)[:BATCH])
            if not batch:
                break
            last = batch[-1].pk
            total += len(batch)
            text_changed: list[Story] = []
            kind_changed: list[Story] = []
            for story in batch:
                summary = strip_boilerplate(story.summary)
                content = strip_boilerplate(story.content)
                kind = story_kind(story.title, story.categories or (), story.link)
                if (summary, content) != (story.summary, story.content):
                    story.summary, story.content = summary, content
                    text_changed.append(story)
                if kind != story.kind:
                    story.kind = kind
                    kind_changed.append(story)
                    if kind != StoryKind.STORY:
                        marked.append(story.pk)
            cleaned += len(text_changed)
            rekinded += len(kind_changed)
            if dry_run or not (text_changed or kind_changed):
                continue
            with transaction.atomic():
                if text_changed:
                    Story.objects.bulk_update(text_changed, ["summary", "content"])
                    update_search_vectors(s.pk for s in text_changed)
                    apply_tags(text_changed)
                if kind_changed:
                    Story.objects.bulk_update(kind_changed, ["kind"])
        if dry_run:
            # Lines to stories marked before, and to those this run would mark.
            lines = RelatedSlot.objects.filter(target__isnull=False).filter(
                ~Q(target__kind=StoryKind.STORY) | Q(target_id__in=marked)
            )
            dropped = lines.values("story_id").distinct().count()
        else:
            dropped = len(boxes.withdraw_roundups())
        if (cleaned or rekinded or dropped) and not dry_run:
            bump_generation()
        verb = "would change" if dry_run else "changed"
        self.stdout.write(
            f"reclean: {total} stories read; {verb} the text of {cleaned} "
            f"and the kind of {rekinded}; {verb} the related boxes of {dropped} "
            "(lines to newsletters and podcasts)"
        )
