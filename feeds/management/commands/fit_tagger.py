"""Fit the tagger's small learned model and save it as feeds/tagging/data/model.json.

    python manage.py fit_tagger                 # the development sets (never the held-out)
    python manage.py fit_tagger --corrections   # plus editors' corrections from the database

The model is a logistic regression (scikit-learn, pinned in requirements-dev.txt) over the
tagger's own evidence for each candidate country (``feeds.tagging.tagger.FEATURES``). The
tagger uses it only when its rules are close (margin below ``--gate``); the story's "why"
line then names the model and the features that decided. Same data, same file: the fit is
deterministic, and the file records what it was fitted on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from feeds.models import TagCorrection
from feeds.tagging import tagger
from feeds.tagging.evaluate import item_input, load_jsonl
from feeds.tagging.store import tag_input
from feeds.types import TagInput

TRAINING_SETS = ("tagging_devset.jsonl", "tagging_realstyle_dev.jsonl")


class Command(BaseCommand):
    help = "Fit the tagger's learned model on the development sets (and editors' corrections)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--corrections", action="store_true", help="include editors' corrections"
        )
        parser.add_argument(
            "--gate", type=float, default=0.15, help="rules' margin below which the model decides"
        )
        parser.add_argument(
            "--output", default=str(tagger.MODEL_PATH), help="where to write the model"
        )

    def handle(
        self, *args: Any, corrections: bool, gate: float, output: str, **options: Any
    ) -> None:
        try:
            import sklearn
            from sklearn.linear_model import LogisticRegression
        except ImportError:
            raise CommandError(
                "fit_tagger needs scikit-learn: pip install -r requirements-dev.txt"
            ) from None
        data_dir = Path(settings.BASE_DIR) / "tests" / "data"
        examples: list[tuple[TagInput, str]] = []
        digest = hashlib.sha256()
        for name in TRAINING_SETS:
            path = data_dir / name
            digest.update(path.read_bytes())
            for item in load_jsonl(path):
                labelled = list(item.get("countries") or [])
                if labelled:
                    examples.append((item_input(item), labelled[0]))
        n_corrections = 0
        if corrections:
            for inp, primary in corrected_examples():
                examples.append((inp, primary))
                digest.update(f"{inp.title}\t{primary}".encode())
                n_corrections += 1
        rows: list[tuple[float, ...]] = []
        labels: list[int] = []
        for inp, gold in examples:
            candidates = tagger.features(inp)
            if len(candidates) < 2 or gold not in {c for c, _ in candidates}:
                continue  # one candidate, or the right one not among them: nothing to learn
            for country, feats in candidates:
                rows.append(feats)
                labels.append(int(country == gold))
        if len(set(labels)) < 2:
            raise CommandError("not enough stories with competing countries to fit on")
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(rows, labels)
        weights = [round(float(w), 6) for w in model.coef_[0]]
        fitted: dict[str, Any] = {
            "version": "v1-" + digest.hexdigest()[:8],
            "features": list(tagger.FEATURES),
            "weights": weights,
            "bias": round(float(model.intercept_[0]), 6),
            "gate": gate,
            "fitted_on": {
                "sets": list(TRAINING_SETS),
                "corrections": n_corrections,
                "stories": len(examples),
                "candidate_rows": len(rows),
                "scikit_learn": sklearn.__version__,
            },
        }
        Path(output).write_text(
            json.dumps(fitted, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        self.stdout.write(
            f"model {fitted['version']}: {len(examples)} stories, {len(rows)} candidate rows, "
            f"{n_corrections} corrections → {output}"
        )
        for name, weight in zip(tagger.FEATURES, weights, strict=True):
            self.stdout.write(f"  {name:<16}{weight:>+9.3f}")


def corrected_examples() -> list[tuple[TagInput, str]]:
    """Each story an editor corrected, with the primary the editor left (latest correction)."""
    latest: dict[int, TagCorrection] = {}
    for c in TagCorrection.objects.select_related("story__source__country").order_by("at", "id"):
        latest[c.story_id] = c
    return [(tag_input(c.story), c.primary_after) for c in latest.values() if c.primary_after]
