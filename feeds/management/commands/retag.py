from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from feeds.entities import store as entities
from feeds.models import Story
from feeds.tagging.store import apply_tags

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-run automatic tagging and entity linking. Editors' tags, primary countries and "
        "entity links are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="only stories published on or after DATE (YYYY-MM-DD)")

    def handle(self, *args, since: str | None = None, **options):
        stories = Story.objects.select_related("source", "source__country").order_by("pk")
        if since:
            try:
                # Both raise ValueError for a well-formed but impossible date (2026-13-45).
                moment = parse_datetime(since)
                day = None if moment else parse_date(since)
            except ValueError:
                moment = day = None
            if moment is None:
                if day is None:
                    raise CommandError(
                        f"--since wants a date like 2026-11-01, not {since!r}", returncode=2
                    )
                moment = datetime.combine(day, time.min)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, timezone.get_current_timezone())
            stories = stories.filter(published_at__gte=moment)
        total = changed = linked = 0
        last = 0
        entities.prepare()
        while True:
            batch = list(stories.filter(pk__gt=last)[:BATCH])
            if not batch:
                break
            results: dict = {}
            changed += apply_tags(batch, results=results)
            linked += entities.link_stories(batch, results)
            total += len(batch)
            last = batch[-1].pk
        # Entity links are counted apart: an editor's new alias changes no tag, only links.
        self.stdout.write(
            f"retagged {total} stories, {changed} changed, "
            f"{linked} entity link{'' if linked == 1 else 's'} added"
        )
