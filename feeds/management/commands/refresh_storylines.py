"""Re-read the open storylines' stories as the clusterer reads them now.

    python manage.py refresh_storylines [--days N]

A storyline keeps the terms of its stories (its profile) and is found by a few of them (the
term index). When the way stories are read changes (``feeds/storylines/data/anchors.toml``
edited, a release that keys names or anchors differently), storylines made before keep the
old keys, and a new story on their event would not meet them until they close. This
rebuilds the profile and index rows of every storyline with a story in the last ``--days``
(default: the clusterer's window, the only storylines a new story can join). Memberships,
titles and editors' pins are not touched.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from feeds.storylines import assign, scoring


class Command(BaseCommand):
    help = "Rebuild the terms and index rows of the storylines new stories can still join."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=scoring.WINDOW.days,
            help=f"storylines with a story this recent (default {scoring.WINDOW.days})",
        )

    def handle(self, *args, days: int, **options) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        count = assign.refresh_recent(timezone.now() - timedelta(days=days))
        self.stdout.write(f"re-read {count} storyline{'' if count == 1 else 's'}")
