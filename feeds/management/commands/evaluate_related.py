"""Measure related-box suggestions on a labelled set: the share of slots that are right.

    python manage.py evaluate_related [DIR] [--batch] [--keep] [--with-existing] [-v 2]

DIR (default ``tests/fixtures/related``) holds feed files, ``feeds.json`` (file, outlet name,
home country, language of each feed) and ``answers.json`` ({anchor guid: {country slug: the
right story's guid, or null}}). The set goes through the real pipeline: each file is parsed
with ``feeds.ingest.parsing.parse_feed`` and stored with
``feeds.ingest.pipeline.store_parsed`` (copy detection, tagging, search vectors), then
``feeds.ingest.pipeline.enrich`` suggests boxes, after each feed as the worker does
(``--batch``: once, after all feeds). No network is used.

Everything happens in one transaction that is rolled back at the end (``--keep`` commits
it instead). Stories already in the database are hidden inside that transaction so they do
not compete with the set (``--with-existing`` keeps them as extra distractors); this locks
their rows until the end, so run it on a development database, not on production.

A slot is right when the box shows the right story for that country, or shows nothing where
the answer is null. Wrong slots are split into: wrong story, empty (a story was expected)
and extra (nothing was expected).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from feeds.ingest import pipeline as ingest
from feeds.ingest.parsing import parse_feed
from feeds.models import Country, Feed, RelatedSlot, Source, Story

DEFAULT_DIR = Path(settings.BASE_DIR) / "tests" / "fixtures" / "related"


@dataclass
class Report:
    slots: int = 0
    right: int = 0
    wrong: int = 0  # a story, but not the right one
    empty: int = 0  # nothing, where a story was expected
    extra: int = 0  # a story, where nothing was expected
    per_country: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    filled_right: int = 0
    filled_slots: int = 0
    missing_anchors: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.slots if self.slots else 0.0

    @property
    def filled_accuracy(self) -> float:
        return self.filled_right / self.filled_slots if self.filled_slots else 0.0

    def lines(self) -> list[str]:
        out = [f"{'country':<15}{'right':>7}{'slots':>7}{'share':>8}"]
        for slug in sorted(self.per_country):
            right, total = self.per_country[slug]
            out.append(f"{slug:<15}{right:>7}{total:>7}{right / total if total else 0:>8.3f}")
        out += [
            "-" * 37,
            f"{'overall':<15}{self.right:>7}{self.slots:>7}{self.accuracy:>8.3f}",
            f"slots with a right story: {self.filled_right}/{self.filled_slots} right "
            f"({self.filled_accuracy:.3f}); null slots: "
            f"{self.slots - self.filled_slots - self.extra}/{self.slots - self.filled_slots} "
            "left empty",
            f"mistakes: {self.wrong} wrong story, {self.empty} empty, {self.extra} extra",
        ]
        if self.missing_anchors:
            out.append(f"anchors not found or not visible: {', '.join(self.missing_anchors)}")
        return out


def load_set(directory: Path) -> tuple[list[dict], dict[str, dict[str, str | None]]]:
    try:
        feeds = json.loads((directory / "feeds.json").read_text(encoding="utf-8"))
        answers = json.loads((directory / "answers.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CommandError(f"{directory}: {exc.filename} is missing") from None
    return feeds, answers


def ingest_set(directory: Path, feeds: list[dict], *, batch: bool = False) -> list[int]:
    """Store the set's feeds through the real pipeline; returns the stored story ids."""
    countries = {c.slug: c for c in Country.objects.all()}
    stored: list[int] = []
    for spec in feeds:
        name = spec["source"]
        source, _ = Source.objects.get_or_create(
            slug=slugify(name),
            defaults={
                "name": name,
                "country": countries.get(spec.get("country") or ""),
                "language": spec.get("language") or "",
            },
        )
        url = f"https://fixtures.arcticnews.invalid/{directory.name}/{spec['file']}"
        feed, _ = Feed.objects.get_or_create(url=url, defaults={"source": source})
        parsed = parse_feed((directory / spec["file"]).read_bytes(), url=url)
        result = ingest.store_parsed(feed, parsed)
        stored += result.changed_story_ids
        if not batch and result.changed_story_ids:
            ingest.enrich(result.changed_story_ids)
    if batch and stored:
        ingest.enrich(stored)
    return stored


def score_boxes(
    answers: dict[str, dict[str, str | None]], story_ids: list[int], *, verbose: bool = False
) -> Report:
    """Compare the anchors' boxes (as stored) with the answers."""
    stories = Story.objects.filter(pk__in=story_ids)
    by_guid = {s.guid: s for s in stories.only("id", "guid", "title", "canonical_id", "is_hidden")}
    guid_of = {s.pk: s.guid for s in by_guid.values()}
    title_of = {s.guid: s.title for s in by_guid.values()}
    slugs = dict(Country.objects.values_list("pk", "slug"))
    report = Report()
    for anchor_guid, expected in answers.items():
        anchor = by_guid.get(anchor_guid)
        if anchor is None or anchor.canonical_id or anchor.is_hidden:
            report.missing_anchors.append(anchor_guid)
        shown: dict[str, str] = {}
        if anchor is not None:
            for slot in RelatedSlot.objects.filter(story=anchor):
                if slot.target_id:
                    shown[slugs[slot.country_id]] = guid_of.get(slot.target_id, "(other story)")
        for slug, want in expected.items():
            got = shown.get(slug)
            report.slots += 1
            report.per_country[slug][1] += 1
            if want is not None:
                report.filled_slots += 1
            if got == want:
                report.right += 1
                report.per_country[slug][0] += 1
                report.filled_right += want is not None
                continue
            if want is None:
                report.extra += 1
                kind = "extra"
            elif got is None:
                report.empty += 1
                kind = "empty"
            else:
                report.wrong += 1
                kind = "wrong"
            if verbose:
                head = title_of.get(anchor_guid, anchor_guid)
                report.mistakes.append(
                    f"[{kind}] {head[:60]} → {slug}: got {title_of.get(got or '', got)!r}, "
                    f"want {title_of.get(want or '', want)!r}"
                )
    return report


def evaluate(
    directory: Path, *, batch: bool = False, isolate: bool = True, verbose: bool = False
) -> Report:
    """Ingest the set and score the boxes. The caller owns the transaction."""
    feeds, answers = load_set(directory)
    if isolate:
        Story.objects.filter(is_hidden=False).update(is_hidden=True)
    ids = ingest_set(directory, feeds, batch=batch)
    return score_boxes(answers, ids, verbose=verbose)


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Share of related-box slots that are right on a labelled set (rolled back)."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=str(DEFAULT_DIR))
        parser.add_argument(
            "--batch", action="store_true", help="suggest once after all feeds are stored"
        )
        parser.add_argument("--keep", action="store_true", help="commit instead of rolling back")
        parser.add_argument(
            "--with-existing",
            action="store_true",
            help="let stories already in the database compete as distractors",
        )

    def handle(self, *args, directory: str, batch: bool, keep: bool, **options):
        path = Path(directory)
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory")
        verbose = options.get("verbosity", 1) >= 2
        try:
            with transaction.atomic():
                report = evaluate(
                    path, batch=batch, isolate=not options["with_existing"], verbose=verbose
                )
                if not keep:
                    raise _Rollback
        except _Rollback:
            pass
        mode = "batch" if batch else "incremental (after each feed)"
        self.stdout.write(f"{path}: {len(report.per_country)} countries, suggestions {mode}")
        for line in report.lines():
            self.stdout.write(line)
        for line in report.mistakes:
            self.stdout.write(line)
