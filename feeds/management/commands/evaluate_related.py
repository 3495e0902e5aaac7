"""Measure related-box suggestions on a labelled set: the share of slots that are right.

    python manage.py evaluate_related [DIR] [--batch] [--keep] [--with-existing] [-v 2]

DIR (default ``tests/fixtures/related``) holds feed files, ``feeds.json`` (file, outlet name,
home country, language of each feed) and ``answers.json`` ({anchor guid: {country slug: the
right story's guid, or null}}). The set goes through the real pipeline: each file is parsed
with ``feeds.ingest.parsing.parse_feed`` and stored with
``feeds.ingest.pipeline.store_parsed`` (copy detection, tagging, search vectors), then
``feeds.tasks.enrich`` suggests boxes, after each feed as the worker does
(``--batch``: once, after all feeds). No network is used.

Everything happens in one transaction that is rolled back at the end (``--keep`` commits
it instead). Stories already in the database are hidden inside that transaction so they do
not compete with the set (``--with-existing`` keeps them as extra distractors); this locks
their rows until the end, so run it on a development database, not on production.

A box has a line for every country but the anchor's primary one (issue 20), so the anchor's
own country's answer is not scored. A box is full: a country with no story on the anchor's
subject (a null answer)
still gets a line, on the same broad theme or the country's most important recent story. So
a slot is right when the box shows the right story for that country, or, where the answer
is null, shows a line. Wrong slots are split into: wrong story (where a story on the subject
was expected), empty (no line at all) and extra (a line where the set expects none; only
``--strict``, the sets' older reading, counts a line on a null slot so). The fill rate is
the share of slots with a line.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from feeds import tasks
from feeds.ingest import pipeline as ingest
from feeds.ingest.parsing import parse_feed
from feeds.models import Country, Feed, RelatedChange, RelatedSlot, Source, Story
from feeds.related import boxes, curation
from feeds.related.ranking import WEIGHTS, Weights

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
    filled_slots: int = 0  # slots with a right story in the set (not null)
    shown: int = 0  # slots with a line
    null_shown: int = 0  # null slots with a line
    missing_anchors: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.slots if self.slots else 0.0

    @property
    def fill_rate(self) -> float:
        return self.shown / self.slots if self.slots else 0.0

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
            f"fill rate: {self.shown}/{self.slots} slots with a line ({self.fill_rate:.3f})",
            f"slots with a right story: {self.filled_right}/{self.filled_slots} right "
            f"({self.filled_accuracy:.3f}); null slots: "
            f"{self.null_shown}/{self.slots - self.filled_slots} with a line",
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
        tasks.after_fetch(result, suggest=False)
        stored += result.changed_story_ids
        if not batch and result.changed_story_ids:
            tasks.enrich(result.changed_story_ids)
    if batch and stored:
        tasks.enrich(stored)
    return stored


def score_boxes(
    answers: dict[str, dict[str, str | None]],
    story_ids: list[int],
    *,
    verbose: bool = False,
    strict: bool = False,
) -> Report:
    """Compare the anchors' boxes (as stored) with the answers (``strict``: a null slot is
    right only when empty, as before boxes were full)."""
    stories = Story.objects.filter(pk__in=story_ids)
    by_guid = {
        s.guid: s
        for s in stories.only(
            "id", "guid", "title", "canonical_id", "is_hidden", "primary_country_id"
        )
    }
    guid_of = {s.pk: s.guid for s in by_guid.values()}
    title_of = {s.guid: s.title for s in by_guid.values()}
    slugs = dict(Country.objects.values_list("pk", "slug"))
    report = Report()
    for anchor_guid, expected in answers.items():
        anchor = by_guid.get(anchor_guid)
        if anchor is None or anchor.canonical_id or anchor.is_hidden:
            report.missing_anchors.append(anchor_guid)
        shown: dict[str, str] = {}
        own = ""
        if anchor is not None:
            own = slugs.get(anchor.primary_country_id or 0, "")
            for slot in RelatedSlot.objects.shown_in(anchor).filter(story=anchor):
                if slot.target_id:
                    shown[slugs[slot.country_id]] = guid_of.get(slot.target_id, "(other story)")
        for slug, want in expected.items():
            if slug == own:
                continue  # the box has a line for each country but the anchor's own
            got = shown.get(slug)
            report.slots += 1
            report.per_country[slug][1] += 1
            if want is not None:
                report.filled_slots += 1
            if got is not None:
                report.shown += 1
                report.null_shown += want is None
            if want is not None:
                right = got == want
            else:
                right = (got is None) if strict else (got is not None)
            if right:
                report.right += 1
                report.per_country[slug][0] += 1
                report.filled_right += want is not None
                continue
            if got is None:
                report.empty += 1
                kind = "empty"
            elif want is None:
                report.extra += 1
                kind = "extra"
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
    directory: Path,
    *,
    batch: bool = False,
    isolate: bool = True,
    verbose: bool = False,
    strict: bool = False,
) -> Report:
    """Ingest the set and score the boxes. The caller owns the transaction."""
    feeds, answers = load_set(directory)
    if isolate:
        Story.objects.filter(is_hidden=False).update(is_hidden=True)
    ids = ingest_set(directory, feeds, batch=batch)
    return score_boxes(answers, ids, verbose=verbose, strict=strict)


class _Rollback(Exception):
    pass


# --- Theme agreement -----------------------------------------------------------------------


@dataclass
class ThemeReport:
    slots: int = 0  # anchors × countries with a story in the set
    shown: int = 0
    on_theme: int = 0
    unlabelled: int = 0  # lines to a story the set does not label
    lines_seen: list[str] = field(default_factory=list)

    @property
    def fill_rate(self) -> float:
        return self.shown / self.slots if self.slots else 0.0

    @property
    def agreement(self) -> float:
        return self.on_theme / self.shown if self.shown else 0.0

    def lines(self, verbose: bool = False) -> list[str]:
        out = [
            f"fill rate: {self.shown}/{self.slots} ({self.fill_rate:.3f})",
            f"theme agreement: {self.on_theme}/{self.shown} lines on the anchor's broad theme "
            f"({self.agreement:.3f}); {self.unlabelled} lines to unlabelled stories",
        ]
        return out + (self.lines_seen if verbose else [])


def evaluate_themes(directory: Path, *, isolate: bool = True) -> ThemeReport:
    """A theme set: ``themes.json`` is {"anchors": [guid, …], "themes": {guid: theme}}; the
    feeds are stored as a worker would, then each anchor's box is read: a line agrees when
    its story is labelled with the anchor's theme."""
    try:
        feeds = json.loads((directory / "feeds.json").read_text(encoding="utf-8"))
        spec = json.loads((directory / "themes.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CommandError(f"{directory}: {exc.filename} is missing") from None
    if isolate:
        Story.objects.filter(is_hidden=False).update(is_hidden=True)
    ids = ingest_set(directory, feeds)
    labels: dict[str, str] = spec["themes"]
    stories = {
        s.guid: s for s in Story.objects.filter(pk__in=ids).select_related("primary_country")
    }
    guid_of = {s.pk: g for g, s in stories.items()}
    report = ThemeReport()
    countries = dict(Country.objects.values_list("pk", "slug"))
    for anchor_guid in spec["anchors"]:
        anchor = stories.get(anchor_guid)
        if anchor is None:
            raise CommandError(f"anchor {anchor_guid} was not stored")
        with_story = {
            s.primary_country_id
            for s in stories.values()
            if s.primary_country_id and s.pk != anchor.pk and s.canonical_id is None
        } - {anchor.primary_country_id}
        report.slots += len(with_story)
        for slot in RelatedSlot.objects.shown_in(anchor).filter(story=anchor, target__isnull=False):
            report.shown += 1
            label = labels.get(guid_of.get(slot.target_id or 0, ""))
            if label is None:
                report.unlabelled += 1
            report.on_theme += label == labels[anchor_guid]
            report.lines_seen.append(
                f"  [{labels[anchor_guid]}] {anchor.title[:50]} → {countries[slot.country_id]}: "
                f"{slot.headline[:60]} [{label}]"
            )
    return report


# --- Editors' choices ------------------------------------------------------------------------
# A pair (story, country, shown, chosen) is held out from fitting when its story's guid hashes
# odd: all pairs of one box fall on the same side, the same on every database.


def held_out(guid: str) -> bool:
    return zlib.crc32(guid.encode()) % 2 == 1


@dataclass
class ChoiceReport:
    pairs: int = 0  # an editor replaced the system's line (or filled an empty one)
    ranks: list[int] = field(default_factory=list)  # 1-based place among alternatives; 0 = absent
    first: int = 0  # … and the choice now ranks first: the box would show it
    above_shown: int = 0  # … and the choice now ranks above the line the editor replaced
    kept: int = 0  # lines an editor left as the system made them …
    kept_first: int = 0  # … that the box would still show

    def add(self, ranked: list[int], shown: int | None, chosen: int) -> None:
        on_top = bool(ranked) and ranked[0] == chosen
        if shown == chosen:
            self.kept += 1
            self.kept_first += on_top
            return
        offered = [pk for pk in ranked if pk != shown]  # the editor page's alternatives
        self.pairs += 1
        self.ranks.append(offered.index(chosen) + 1 if chosen in offered else 0)
        self.first += on_top
        if shown in ranked and chosen in ranked:
            self.above_shown += ranked.index(chosen) < ranked.index(shown)

    def share(self, within: int) -> float:
        return sum(1 for r in self.ranks if 0 < r <= within) / self.pairs if self.pairs else 0.0

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r) / self.pairs if self.pairs else 0.0

    @property
    def agreed(self) -> int:
        """Lines where the box would show what the editor wants (chosen or kept)."""
        return self.first + self.kept_first

    def summary(self) -> str:
        kept = f"; lines kept still shown {self.kept_first}/{self.kept}" if self.kept else ""
        return (
            f"{self.pairs} pairs: among the first three alternatives {self.share(3):.3f}, "
            f"first {self.share(1):.3f}, MRR {self.mrr:.3f}; the box would now show the choice "
            f"{self.first}/{self.pairs}; above the replaced line {self.above_shown}/{self.pairs}"
            + kept
        )

    def lines(self) -> list[str]:
        return [
            f"editors' choices: {self.pairs} (a system line replaced, or an empty line filled)",
            f"choice among the alternatives offered: first {self.share(1):.3f}, "
            f"first three {self.share(3):.3f}, first five {self.share(5):.3f}; MRR {self.mrr:.3f}",
            f"choice now ranked above the replaced line: {self.above_shown}/{self.pairs}",
            f"the box would now show the choice: {self.first}/{self.pairs}",
        ]


@dataclass
class Pair:
    story: Story
    country_id: int
    shown: int | None
    chosen: int

    @property
    def held_out(self) -> bool:
        return held_out(self.story.guid or str(self.story.pk))


def recorded_pairs(limit: int = 1000) -> list[Pair]:
    """The editors' replacements recorded in this database, newest first."""
    rows = RelatedChange.objects.replacements()[:limit]
    stories = Story.objects.in_bulk({story_id for story_id, *_ in rows})
    return [
        Pair(stories[story_id], country_id, shown, chosen)
        for story_id, country_id, shown, chosen in rows
        if story_id in stories
    ]


def choices_by_split(
    pairs: list[Pair], weights: Weights = WEIGHTS, gathered: dict | None = None
) -> dict[str, ChoiceReport]:
    """Where the ranking (with ``weights``) puts the stories editors chose instead of the
    system's line, for every pair, the pairs fitted on and those held out. ``gathered``
    (story id → ``boxes.gather``) saves reading the candidates again."""
    reports = {"all": ChoiceReport(), "fitted": ChoiceReport(), "held out": ChoiceReport()}
    for pair in pairs:
        g = gathered.get(pair.story.pk) if gathered is not None else None
        if g is None:
            g = boxes.gather(pair.story, every_country=True)
            if gathered is not None:
                gathered[pair.story.pk] = g
        ranked = [s.story_id for s in boxes.ranked_from(g, weights).ranked.get(pair.country_id, [])]
        for name in ("all", "held out" if pair.held_out else "fitted"):
            reports[name].add(ranked, pair.shown, pair.chosen)
    return reports


def editor_choices(limit: int = 1000) -> ChoiceReport:
    """Where the ranking puts the stories editors chose instead of the system's line: the
    alternatives are the ones the editor page offers (the country's candidates, without the
    line shown)."""
    return choices_by_split(recorded_pairs(limit))["all"]


def record_choice_set(directory: Path, *, isolate: bool = True) -> list[Pair]:
    """Store a labelled set (as ``evaluate``) and have an editor replace every line of an
    anchor's box that is not the set's answer (its "right" story: the editor's choice) through
    ``curation.pick``, so the choices are recorded as real ones are. Returns every labelled
    line as a pair: the replaced ones, and those the editor kept (shown is the choice). The
    caller owns (and rolls back) the transaction."""
    feeds, answers = load_set(directory)
    if isolate:
        Story.objects.filter(is_hidden=False).update(is_hidden=True)
    ids = ingest_set(directory, feeds)
    editor, _ = get_user_model().objects.get_or_create(
        username="evaluate-related-editor", defaults={"is_staff": True}
    )
    stories = {s.guid: s for s in Story.objects.filter(pk__in=ids)}
    countries = {c.slug: c for c in Country.objects.all()}
    pairs = []
    for anchor_guid, expected in answers.items():
        anchor = stories.get(anchor_guid)
        if anchor is None:
            raise CommandError(f"anchor {anchor_guid} was not stored")
        for slug, want in expected.items():
            target = stories.get(want or "")
            if target is None or countries[slug].pk == anchor.primary_country_id:
                continue
            line = RelatedSlot.objects.filter(story=anchor, country=countries[slug]).first()
            shown = line.target_id if line is not None else None
            if shown != target.pk:
                curation.pick(anchor, countries[slug], target, editor)
            pairs.append(Pair(anchor, countries[slug].pk, shown, target.pk))
    return pairs


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
        parser.add_argument(
            "--strict",
            action="store_true",
            help="a null slot is right only when left empty (the sets' reading before full boxes)",
        )
        parser.add_argument(
            "--themes",
            action="store_true",
            help="DIR is a theme set (themes.json): report fill rate and theme agreement",
        )
        parser.add_argument(
            "--editor-choices",
            action="store_true",
            help="rank editors' replacements in this database (or, with DIR, those an editor "
            "makes on a labelled set, rolled back): where their choice is",
        )
        parser.add_argument("--limit", type=int, default=1000, help="editor choices to read")

    def handle(self, *args, directory: str, batch: bool, keep: bool, **options):
        if options["editor_choices"]:
            options["keep"] = keep
            self._editor_choices(directory if directory != str(DEFAULT_DIR) else "", options)
            return
        path = Path(directory)
        if not path.is_dir():
            raise CommandError(f"{path} is not a directory")
        verbose = options.get("verbosity", 1) >= 2
        if options["themes"]:
            try:
                with transaction.atomic():
                    themes = evaluate_themes(path, isolate=not options["with_existing"])
                    if not keep:
                        raise _Rollback
            except _Rollback:
                pass
            for line in themes.lines(verbose):
                self.stdout.write(line)
            return
        try:
            with transaction.atomic():
                report = evaluate(
                    path,
                    batch=batch,
                    isolate=not options["with_existing"],
                    verbose=verbose,
                    strict=options["strict"],
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

    def _editor_choices(self, directory: str, options) -> None:
        try:
            with transaction.atomic():
                if directory:
                    made = record_choice_set(Path(directory))
                    replaced = sum(1 for p in made if p.shown != p.chosen)
                    self.stdout.write(f"{directory}: an editor replaced {replaced} lines")
                reports = choices_by_split(recorded_pairs(options["limit"]))
                if not options["keep"]:
                    raise _Rollback
        except _Rollback:
            pass
        for line in reports["all"].lines():
            self.stdout.write(line)
        for name in ("fitted", "held out"):
            self.stdout.write(f"{name}: {reports[name].summary()}")
