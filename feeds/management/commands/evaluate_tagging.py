"""Measure the country and topic tagger against labelled JSONL sets.

    python manage.py evaluate_tagging                      # the dev set
    python manage.py evaluate_tagging tests/data/x.jsonl   # any labelled set(s)
    python manage.py evaluate_tagging --misses             # also list wrong primaries

Pure computation: it reads files and calls ``feeds.tagging.tagger``; it never touches the
database, so it runs before ``migrate`` and in CI without services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from feeds.tagging.evaluate import evaluate, format_report, load_jsonl, measure_speed

DEFAULT_SET = Path("tests") / "data" / "tagging_devset.jsonl"


class Command(BaseCommand):
    help = "Evaluate automatic country/topic tagging on labelled JSONL files (no database)."
    # No model or database checks: this command only reads files.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths", nargs="*", help=f"labelled JSONL files (default: {DEFAULT_SET})"
        )
        parser.add_argument(
            "--misses", action="store_true", help="list the stories whose primary is wrong"
        )
        parser.add_argument(
            "--seconds",
            type=float,
            default=1.0,
            help="how long to run the speed measurement (default 1 s)",
        )

    def handle(
        self, *args: Any, paths: list[str], misses: bool, seconds: float, **options: Any
    ) -> None:
        files = [Path(p) for p in paths] or [Path(settings.BASE_DIR) / DEFAULT_SET]
        for path in files:
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            try:
                items = load_jsonl(path)
            except ValueError as exc:
                raise CommandError(f"{path}: not JSON lines ({exc})") from None
            report = evaluate(items)
            self.stdout.write(f"== {path} ==")
            self.stdout.write(format_report(report))
            speed = measure_speed(items, min_seconds=seconds)
            self.stdout.write(f"{'speed (headline + teaser)':<35}{speed:>8.0f} stories/s")
            if misses:
                for miss in report["misses"]:
                    self.stdout.write(
                        f"  miss: {miss['title']!r}: gold {miss['gold']}, "
                        f"tagged {miss['predicted']}"
                    )
            self.stdout.write("")
