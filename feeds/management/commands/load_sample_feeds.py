import logging

from django.core.management.base import BaseCommand

from feeds import tasks
from feeds.ingest import images
from feeds.ingest.samples import install_default_sources, load_samples
from feeds.models import SAMPLE_LOADED, Feed, Story


class Command(BaseCommand):
    help = (
        "Load the bundled synthetic sample feeds. With --unless-online, do nothing if the "
        "default feeds already have stories (a running worker keeps them current), else try "
        "the real feeds first and load the samples only if none of them can be reached."
    )

    def add_arguments(self, parser):
        parser.add_argument("--unless-online", action="store_true")

    def handle(self, *args, unless_online: bool = False, **options):
        feeds = install_default_sources()
        reason = ""
        if unless_online:
            if Story.objects.filter(feed__in=feeds).exists():
                self.stdout.write("default feeds already have stories: samples not loaded")
                return
            reason = self._try_real_feeds([f for f in feeds if f.is_active])
            if not reason:
                return
            self.stdout.write(
                f"Real feeds unreachable ({reason}); loading the bundled sample feeds instead."
            )
        results = load_samples()
        for _, result in results:
            tasks.after_fetch(result, suggest=False)
        changed = [i for _, r in results for i in r.changed_story_ids]
        boxes = tasks.enrich(changed)
        images.store_images(changed, offline=True)  # the bundled stand-ins, no network
        created = sum(r.created for _, r in results)
        # What the admin shows for these feeds until a real fetch succeeds; a failing poll
        # keeps this status (see pipeline.record_failure) and says why in last_error.
        Feed.objects.filter(pk__in=[f.pk for f, _ in results], last_success_at=None).update(
            last_status=SAMPLE_LOADED,
            last_error=f"offline: {reason}" if reason else "",
            consecutive_failures=0,
        )
        self.stdout.write(
            f"sample feeds: {created} new stories from {len(results)} feeds, "
            f"{boxes} related boxes suggested"
        )

    def _try_real_feeds(self, feeds: list[Feed]) -> str:
        """Fetch the real feeds once: "" if any was reached, else the first failure's reason."""
        results = []
        changed: list[int] = []
        # The failures are recorded on each feed; one summary line says what happened.
        quiet = logging.getLogger("feeds.ingest.pipeline")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            for feed in feeds:
                result = tasks.run_feed(feed.pk, force=True, suggest=False)
                results.append((feed, result))
                changed += result.changed_story_ids
        finally:
            quiet.setLevel(level)
        if any(r.status not in {"failed", "gone", "skipped"} for _, r in results):
            for feed, result in results:
                self.stdout.write(result.line(feed))
            if changed:
                tasks.enrich(changed)
                images.store_images(changed)
            return ""
        return results[0][1].error if results else "no default feeds"
