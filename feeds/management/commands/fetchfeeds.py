import logging

from django.core.management.base import BaseCommand, CommandError

from feeds import tasks
from feeds.ingest import images, leases
from feeds.models import Feed


class Command(BaseCommand):
    help = (
        "Run the whole pipeline in-process for every due feed (or every active feed with "
        "--all): fetch, parse, sanitise, store, tag, suggest related boxes. One line per feed "
        "and a summary; --quiet prints the failures only (on stderr), -v 2 adds the related "
        "boxes. Exit status 1 when every feed fetched failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="every active feed, due or not")
        parser.add_argument(
            "-q", "--quiet", action="store_true", help="print failures only (same as -v 0)"
        )

    def handle(self, *args, all: bool = False, quiet: bool = False, **options):
        verbosity = 0 if quiet else options["verbosity"]
        feeds = Feed.objects.active() if all else Feed.objects.due()
        changed: list[int] = []
        ok = failed = 0
        # The pipeline also logs each failure; here the command's own line is the report.
        pipeline_log = logging.getLogger("feeds.ingest.pipeline")
        level = pipeline_log.level
        pipeline_log.setLevel(logging.ERROR)
        try:
            for feed in feeds.select_related("source").order_by("source__name", "url"):
                try:
                    result = tasks.run_feed(feed.pk, force=all, suggest=False)
                except Exception as exc:  # noqa: BLE001  one failing feed never stops the others
                    leases.release(feed.pk)
                    self._failure(f"{feed}: failed: {type(exc).__name__}: {exc}", verbosity)
                    failed += 1
                    continue
                if result.status in {"failed", "gone"}:
                    self._failure(result.line(feed), verbosity)
                    failed += 1
                    continue
                if result.status != "skipped":
                    ok += 1
                if verbosity >= 1:
                    self.stdout.write(result.line(feed))
                changed += result.changed_story_ids
        finally:
            pipeline_log.setLevel(level)
        if changed:
            boxes = tasks.enrich(changed)
            images.store_images(changed)
            if verbosity >= 2:
                self.stdout.write(f"related boxes updated: {boxes}")
        if verbosity >= 1:
            self.stdout.write(f"done: {ok} feeds fetched, {failed} failed")
        if failed and not ok:
            raise CommandError(f"all {failed} feeds failed", returncode=1)

    def _failure(self, line: str, verbosity: int) -> None:
        # Quiet output is for cron: only what needs a look, on stderr.
        (self.stderr if verbosity == 0 else self.stdout).write(line)
