"""Measuring the tagger against labelled stories: per-country precision and recall,
primary-country accuracy, topic precision and recall, and speed.

Used by ``manage.py evaluate_tagging`` and the tests. Pure: no Django, no database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from feeds.tagging.countries import COUNTRY_SLUGS
from feeds.tagging.tagger import tag
from feeds.types import TagInput

__all__ = [
    "evaluate",
    "evaluate_file",
    "format_report",
    "item_input",
    "load_jsonl",
    "measure_speed",
]


def item_input(item: Mapping[str, Any]) -> TagInput:
    """A labelled JSONL item (title, teaser, outlet, source, …) → the public TagInput."""
    return TagInput(
        title=item.get("title", ""),
        text=item.get("teaser", item.get("text", "")) or "",
        categories=tuple(item.get("categories") or ()),
        outlet=item.get("outlet", "") or "",
        source_name=item.get("source", item.get("source_name", "")) or "",
        source_country=item.get("source_country", "") or "",
        language=item.get("language", "") or "",
    )


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-country P/R/F1 over full country sets, macro F1, primary accuracy, topic micro
    P/R/F1 and n. ``misses`` lists the stories whose primary was wrong."""
    counts = {c: [0, 0, 0] for c in COUNTRY_SLUGS}  # tp, fp, fn
    support = dict.fromkeys(COUNTRY_SLUGS, 0)
    ttp = tfp = tfn = 0
    n = correct = 0
    misses: list[dict[str, Any]] = []
    for item in items:
        gold = list(item.get("countries") or [])
        result = tag(item_input(item))
        n += 1
        pred = set(result.countries)
        for c in COUNTRY_SLUGS:
            in_gold, in_pred = c in gold, c in pred
            support[c] += in_gold
            if in_gold and in_pred:
                counts[c][0] += 1
            elif in_pred:
                counts[c][1] += 1
            elif in_gold:
                counts[c][2] += 1
        if gold and result.primary == gold[0]:
            correct += 1
        elif gold:
            misses.append(
                {"title": item.get("title", ""), "gold": gold, "predicted": list(result.countries)}
            )
        gt, pt = set(item.get("topics") or ()), set(result.topics)
        ttp += len(gt & pt)
        tfp += len(pt - gt)
        tfn += len(gt - pt)
    per_country: dict[str, dict[str, float]] = {}
    for c in COUNTRY_SLUGS:
        p, r, f = _prf(*counts[c])
        per_country[c] = {"precision": p, "recall": r, "f1": f, "support": support[c]}
    present = [c for c in COUNTRY_SLUGS if support[c] or counts[c][1]]
    macro = sum(per_country[c]["f1"] for c in present) / len(present) if present else 0.0
    tp_, tr_, tf_ = _prf(ttp, tfp, tfn)
    return {
        "n": n,
        "primary_accuracy": correct / n if n else 0.0,
        "macro_f1": macro,
        "countries": per_country,
        "topics": {"precision": tp_, "recall": tr_, "f1": tf_},
        "misses": misses,
    }


def format_report(report: Mapping[str, Any]) -> str:
    """An aligned plain-text table of an ``evaluate`` report."""
    lines = [f"{'country':<15}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for c in COUNTRY_SLUGS:
        row = report["countries"][c]
        lines.append(
            f"{c:<15}{row['precision']:>10.3f}{row['recall']:>10.3f}"
            f"{row['f1']:>10.3f}{row['support']:>9d}"
        )
    t = report["topics"]
    lines += [
        "-" * 54,
        f"{'macro F1 (countries)':<35}{report['macro_f1']:>8.3f}",
        f"{'primary-country accuracy':<35}{report['primary_accuracy']:>8.3f}",
        f"{'topics micro P / R / F1':<35}{t['precision']:>8.3f}{t['recall']:>8.3f}{t['f1']:>8.3f}",
        f"{'stories':<35}{report['n']:>8d}",
    ]
    return "\n".join(lines)


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def measure_speed(items: Sequence[Mapping[str, Any]], min_seconds: float = 0.5) -> float:
    """Stories per second of ``tag`` on these items (inputs built beforehand)."""
    inputs = [item_input(i) for i in items]
    if not inputs:
        return 0.0
    done, started = 0, time.perf_counter()
    while True:
        for inp in inputs:
            tag(inp)
        done += len(inputs)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def evaluate_file(path: str | Path) -> dict[str, Any]:
    return evaluate(load_jsonl(path))
