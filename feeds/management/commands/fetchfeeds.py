from django.core.management.base import BaseCommand

from feeds.ingest import pipeline as ingest
from feeds.models import Feed


class Command(BaseCommand):
    help = (
        "Run the whole pipeline in-process for every due feed (or every active feed with "
        "--all): fetch, parse, sanitise, store, tag, suggest related boxes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="every active feed, due or not")

    def handle(self, *args, all: bool = False, **options):
        feeds = Feed.objects.active() if all else Feed.objects.due()
        changed: list[int] = []
        counts = {"ok": 0, "failed": 0}
        for feed in feeds.select_related("source").order_by("source__name", "url"):
            try:
                result = ingest.fetch_and_store(feed.pk, force=all)
            except Exception as exc:  # noqa: BLE001  one failing feed never stops the others
                ingest.release(feed.pk)
                self.stdout.write(f"{feed}: failed: {type(exc).__name__}: {exc}")
                counts["failed"] += 1
                continue
            self.stdout.write(result.line(feed))
            counts["failed" if result.status in {"failed", "gone"} else "ok"] += 1
            changed += result.changed_story_ids
        if changed:
            boxes = ingest.enrich(changed)
            self.stdout.write(f"related boxes updated: {boxes}")
        self.stdout.write(f"done: {counts['ok']} feeds fetched, {counts['failed']} failed")
