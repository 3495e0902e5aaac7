import logging

from django.core.management.base import BaseCommand

from feeds.ingest import pipeline as ingest
from feeds.ingest.samples import default_sources, install_default_sources, load_samples
from feeds.models import Feed


class Command(BaseCommand):
    help = (
        "Load the bundled synthetic sample feeds. With --unless-online, first try the real "
        "feeds and load the samples only if none of them can be reached."
    )

    def add_arguments(self, parser):
        parser.add_argument("--unless-online", action="store_true")

    def handle(self, *args, unless_online: bool = False, **options):
        install_default_sources()
        if unless_online:
            urls = [s.feed_url for s in default_sources()]
            results = []
            changed: list[int] = []
            # The failures are recorded on each feed; one summary line says what happened.
            quiet = logging.getLogger("feeds.ingest.pipeline")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                for feed in Feed.objects.filter(url__in=urls, is_active=True):
                    result = ingest.fetch_and_store(feed.pk, force=True)
                    results.append((feed, result))
                    changed += result.changed_story_ids
            finally:
                quiet.setLevel(level)
            reached = [(f, r) for f, r in results if r.status not in {"failed", "gone", "skipped"}]
            if reached:
                for feed, result in results:
                    self.stdout.write(result.line(feed))
                if changed:
                    ingest.enrich(changed)
                return
            reason = results[0][1].error if results else "no default feeds"
            self.stdout.write(
                f"Real feeds unreachable ({reason}); loading the bundled sample feeds instead."
            )
        results = load_samples()
        changed = [i for _, r in results for i in r.changed_story_ids]
        boxes = ingest.enrich(changed)
        created = sum(r.created for _, r in results)
        self.stdout.write(
            f"sample feeds: {created} new stories from {len(results)} feeds, "
            f"{boxes} related boxes suggested"
        )
