"""Draft a week's digest now instead of waiting for beat (``DIGEST_DRAFT_HOUR``).

The same call as beat's task (``drafting.draft_week``), so it is idempotent: a week that
already has its digest is left as it is, edits and approval included.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from feeds.digest import drafting
from feeds.digest.weeks import IsoWeek, NoSuchWeek


class Command(BaseCommand):
    help = "Draft the digest of the last complete ISO week (or of --week YYYY-Www) now."

    def add_arguments(self, parser):
        parser.add_argument(
            "--week", help="the ISO week to draft, e.g. 2026-W48 (default: the last complete one)"
        )

    def handle(self, *args, week: str | None = None, **options):
        if week is None:
            made = drafting.draft_last_week()
        else:
            try:
                chosen = IsoWeek.parse(week)
            except NoSuchWeek as error:
                raise CommandError(str(error), returncode=2) from None
            made = drafting.draft_week(chosen)
        digest = made.digest
        label = IsoWeek(digest.year, digest.week).label
        if made.created:
            lines = digest.lines.count()
            self.stdout.write(f"Drafted {label}: {lines} lines, for editors to approve.")
        else:
            status = digest.get_status_display().lower()
            self.stdout.write(f"{label} already has its digest ({status}); left as it is.")
