"""Fit the related box's ranking weights to editors' choices: ``manage.py fit_related``.

    python manage.py fit_related [DIR ...] [--write] [--limit N]

The pairs are the editors' replacements recorded in this database (``RelatedChange``: the
system's line shown, the story the editor chose instead), or, with DIRs, every line an editor
sets on labelled sets (``evaluate_related.record_choice_set``, rolled back afterwards): the
lines replaced, and the lines kept as the system made them, which a fit must not lose. Half
of the boxes are held out by a fixed hash of their story's guid (``evaluate_related.held_out``).

A grid search over the weights within a tier (freshness and its half-life, on a subject and on
a theme, and how much a subject line's agreement with the story's themes counts): each pair's
candidates are read once and ranked again under every combination (ranking is pure). Only
weights under which every fitted line the editors kept is still ranked first are considered;
of those, the ones under which the box would show the most of the fitted pairs' choices, then
ranks them above the replaced line most often, then the best mean reciprocal rank; ties
go to the combination nearest the current weights, so a run is reproducible. Both splits are
reported before and after; ``--write`` saves the weights to ``feeds/related/weights.toml``.
"""

from __future__ import annotations

import itertools
from dataclasses import fields, replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from feeds.management.commands.evaluate_related import (
    ChoiceReport,
    choices_by_split,
    record_choice_set,
    recorded_pairs,
)
from feeds.related import boxes
from feeds.related.ranking import WEIGHTS, WEIGHTS_FILE, Weights

GRID: dict[str, tuple[float, ...]] = {
    "fresh_share": (0.1, 0.25, 0.4, 0.6, 0.8, 1.0),
    "half_life_days": (2.0, 3.5, 7.0, 14.0, 28.0),
    "subject_theme_share": (0.0, 0.3, 0.6),
    "theme_fresh_share": (0.4, 0.6, 0.8),
}


def objective(report: ChoiceReport) -> tuple[int, int, float]:
    return (report.first, report.above_shown, round(report.mrr, 6))


def distance(weights: Weights, base: Weights) -> float:
    """How far ``weights`` moved from ``base``: the sum of relative changes."""
    return sum(
        abs(getattr(weights, name) - getattr(base, name)) / (getattr(base, name) or 1.0)
        for name in GRID
    )


class Command(BaseCommand):
    help = "Fit the related ranking's weights to editors' choices (grid search)."

    def add_arguments(self, parser):
        parser.add_argument("directories", nargs="*", help="labelled sets an editor works on")
        parser.add_argument("--write", action="store_true", help="save the weights")
        parser.add_argument("--limit", type=int, default=1000, help="pairs to read at most")

    def handle(self, *args, directories: list[str], write: bool, limit: int, **options):
        for directory in directories:
            if not Path(directory).is_dir():
                raise CommandError(f"{directory} is not a directory")
        with transaction.atomic():
            sid = transaction.savepoint()
            pairs = [] if directories else recorded_pairs(limit)
            gathered: dict = {}
            for directory in directories:
                # Each set alone in the archive (the earlier ones hidden): its candidates are
                # read now, before the next set is stored.
                made = record_choice_set(Path(directory))
                for pair in made:
                    if pair.story.pk not in gathered:
                        gathered[pair.story.pk] = boxes.gather(pair.story, every_country=True)
                replaced = sum(1 for p in made if p.shown != p.chosen)
                self.stdout.write(
                    f"{directory}: {len(made)} labelled lines, an editor replaced {replaced}"
                )
                pairs += made
            if not pairs:
                raise CommandError("no editors' choices to fit on")
            before = choices_by_split(pairs, WEIGHTS, gathered)
            floor = before["fitted"].kept_first
            best, best_key = WEIGHTS, None
            names = list(GRID)
            tried = 0
            for values in itertools.product(*(GRID[n] for n in names)):
                candidate = replace(WEIGHTS, **dict(zip(names, values, strict=True)))
                fitted = choices_by_split(
                    [p for p in pairs if not p.held_out], candidate, gathered
                )["all"]
                if fitted.kept_first < floor:
                    continue  # it loses a line editors were content with
                key = (*objective(fitted), -distance(candidate, WEIGHTS))
                tried += 1
                if best_key is None or key > best_key:
                    best, best_key = candidate, key
            after = choices_by_split(pairs, best, gathered)
            transaction.savepoint_rollback(sid)
        self.stdout.write(f"{len(pairs)} pairs; {tried} combinations of {', '.join(names)}")
        for name in ("fitted", "held out"):
            self.stdout.write(f"{name} before: {before[name].summary()}")
            self.stdout.write(f"{name} after:  {after[name].summary()}")
        changed = [
            f.name for f in fields(Weights) if getattr(best, f.name) != getattr(WEIGHTS, f.name)
        ]
        self.stdout.write(
            "weights: "
            + ", ".join(f"{n} {getattr(WEIGHTS, n)} -> {getattr(best, n)}" for n in changed)
            if changed
            else "weights: unchanged"
        )
        if write:
            WEIGHTS_FILE.write_text(self._toml(best, after, directories), encoding="utf-8")
            self.stdout.write(f"written to {WEIGHTS_FILE}")

    @staticmethod
    def _toml(weights: Weights, after: dict[str, ChoiceReport], directories: list[str]) -> str:
        source = (
            f"the lines an editor sets on {', '.join(directories)}"
            if directories
            else "the recorded pairs"
        )
        return (
            "# Weights of the related box's ranking (feeds/related/ranking.py reads them), fitted\n"
            "# to editors' choices by `manage.py fit_related --write` (a grid search; see there).\n"
            f"# Fitted on {source}: {after['fitted'].summary()}.\n"
            f"# Held out: {after['held out'].summary()}.\n\n" + weights.to_toml()
        )
