"""Measure the country and topic tagger against labelled stories.

    python manage.py evaluate_tagging                      # every set, tuned and held-out
    python manage.py evaluate_tagging tests/data/x.jsonl   # any labelled JSONL set(s)
    python manage.py evaluate_tagging --misses             # also list wrong primaries
    python manage.py evaluate_tagging --corrections        # agreement with editors' corrections

Without paths it reports, each under its own heading, the sets the tagger was tuned on
(development, real-style development), the sets it never was (held-out, real-style held-out)
and the real editors' labels at ``TAGGING_REAL_LABELS`` (read from there, never copied).
Pure computation on files, no database, except for ``--corrections``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from feeds.models import TagCorrection
from feeds.tagging.evaluate import (
    evaluate,
    evaluate_corrections,
    format_report,
    load_jsonl,
    load_real_labels,
    measure_speed,
)
from feeds.tagging.store import tag_input

DATA = Path("tests") / "data"
DEFAULT_SETS = (
    ("tuned", DATA / "tagging_devset.jsonl"),
    ("tuned", DATA / "tagging_realstyle_dev.jsonl"),
    ("held-out", DATA / "tagging_holdout.jsonl"),
    ("held-out", DATA / "tagging_realstyle_holdout.jsonl"),
)


class Command(BaseCommand):
    help = "Evaluate automatic country/topic tagging on labelled sets (and editors' corrections)."
    # No model or database checks: without --corrections this command only reads files.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", help="labelled JSONL files (default: every set)")
        parser.add_argument(
            "--misses", action="store_true", help="list the stories whose primary is wrong"
        )
        parser.add_argument(
            "--corrections",
            action="store_true",
            help="also report agreement with the corrections editors made (database)",
        )
        parser.add_argument(
            "--seconds",
            type=float,
            default=1.0,
            help="how long to run the speed measurement (default 1 s; 0 skips it)",
        )

    def handle(
        self,
        *args: Any,
        paths: list[str],
        misses: bool,
        corrections: bool,
        seconds: float,
        **options: Any,
    ) -> None:
        base = Path(settings.BASE_DIR)
        runs: list[tuple[str, Path, list[dict[str, Any]]]] = []
        chosen = [("given", Path(p)) for p in paths] or [(k, base / p) for k, p in DEFAULT_SETS]
        for kind, path in chosen:
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            try:
                runs.append((kind, path, load_jsonl(path)))
            except ValueError as exc:
                raise CommandError(f"{path}: not JSON lines ({exc})") from None
        real = Path(settings.TAGGING_REAL_LABELS)
        if not paths:
            if real.is_file():
                try:
                    runs.append(("real editors", real, load_real_labels(real)))
                except ValueError as exc:
                    raise CommandError(str(exc)) from None
            else:
                self.stdout.write(f"(no real labels at {real}: set TAGGING_REAL_LABELS)\n")
        for kind, path, items in runs:
            report = evaluate(items)
            self.stdout.write(f"== {path} ({kind}) ==")
            self.stdout.write(format_report(report))
            self.write_by_kind(items)
            if seconds > 0:
                speed = measure_speed(items, min_seconds=seconds)
                self.stdout.write(f"{'speed (headline + teaser)':<35}{speed:>8.0f} stories/s")
            if misses:
                self.write_misses(report["misses"])
            self.stdout.write("")
        if corrections:
            self.report_corrections(misses)

    def write_by_kind(self, items: list[dict[str, Any]]) -> None:
        """Primary accuracy per kind of item, when a set has several (the real labels:
        listings with headline, teaser and outlet; round-up summaries with neither)."""
        kinds = sorted({str(i.get("kind") or "") for i in items} - {""})
        if len(kinds) < 2:
            return
        parts = []
        for k in kinds:
            sub = evaluate([i for i in items if i.get("kind") == k])
            parts.append(f"{k} {sub['primary_accuracy']:.3f} ({sub['n']})")
        self.stdout.write(f"{'  primary accuracy by kind':<35}  " + ", ".join(parts))

    def write_misses(self, missed: list[dict[str, Any]]) -> None:
        for miss in missed:
            self.stdout.write(
                f"  miss: {miss['title']!r}: gold {miss['gold']}, tagged {miss['predicted']}"
                f" ({miss.get('why', '')})"
            )

    def report_corrections(self, misses: bool) -> None:
        latest: dict[int, TagCorrection] = {}
        rows = TagCorrection.objects.select_related("story__source__country").order_by("at", "id")
        for correction in rows:
            latest[correction.story_id] = correction
        labelled = [
            (tag_input(c.story), c.primary_after, c.countries_after)
            for c in latest.values()
            if c.primary_after
        ]
        report = evaluate_corrections(labelled)
        self.stdout.write("== editors' corrections (latest per story) ==")
        c = report["countries"]
        self.stdout.write(f"{'stories corrected or confirmed':<35}{report['n']:>8d}")
        self.stdout.write(
            f"{'primary agrees with the editor':<35}{report['primary_agreement']:>8.3f}"
        )
        self.stdout.write(
            f"{'countries P / R / F1':<35}{c['precision']:>8.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}"
        )
        if misses:
            self.write_misses(report["misses"])
