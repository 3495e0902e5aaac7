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
    P/R/F1 and n; how many stories got no country or no topic. ``misses`` lists the stories
    whose primary was wrong. Items whose ``topics`` is None have no topic labels and count
    for countries only."""
    counts = {c: [0, 0, 0] for c in COUNTRY_SLUGS}  # tp, fp, fn
    support = dict.fromkeys(COUNTRY_SLUGS, 0)
    ttp = tfp = tfn = 0
    n = correct = no_country = no_topic = topic_labelled = 0
    misses: list[dict[str, Any]] = []
    for item in items:
        gold = list(item.get("countries") or [])
        result = tag(item_input(item))
        n += 1
        no_country += not result.countries
        no_topic += not result.topics
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
                {
                    "title": item.get("title", ""),
                    "gold": gold,
                    "predicted": list(result.countries),
                    "why": result.why.get(result.primary or "", ""),
                }
            )
        if item.get("topics") is None:
            continue
        topic_labelled += 1
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
        "topic_labelled": topic_labelled,
        "no_country": no_country,
        "no_topic": no_topic,
        "worst": worst_countries(per_country),
        "misses": misses,
    }


def worst_countries(per_country: Mapping[str, Mapping[str, float]], k: int = 3) -> list[str]:
    """The k countries with the lowest F1 among those the set has stories about."""
    present = [c for c, row in per_country.items() if row["support"]]
    return sorted(present, key=lambda c: (per_country[c]["f1"], c))[:k]


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
        f"{'topics micro P / R / F1':<35}{t['precision']:>8.3f}{t['recall']:>8.3f}{t['f1']:>8.3f}"
        if report.get("topic_labelled", report["n"])
        else f"{'topics micro P / R / F1':<35}     n/a (no topic labels)",
        f"{'stories':<35}{report['n']:>8d}",
        f"{'  with no country / no topic':<35}{report['no_country']:>8d}{report['no_topic']:>8d}",
        f"{'worst countries (F1)':<35}  "
        + ", ".join(f"{c} {report['countries'][c]['f1']:.3f}" for c in report["worst"]),
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


# Country names as RCI's editors print them → our slugs.
_PRINTED = {"usa": "united-states", "united states": "united-states"}


def load_real_labels(path: str | Path) -> list[dict[str, Any]]:
    """The editors' labels in ``../shared/data/real-labels/`` (tab-separated, header row:
    headline, countries, category, outlet, date, teaser, kind, page_url) as labelled items.

    They were read from RCI's Eye on the Arctic, so the source is that circumpolar outlet.
    Topics are not labelled there: items carry none and count only for countries.
    """
    import csv

    items: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter="\t"), start=2):
            printed = (row.get("countries") or "").strip()
            slug = _PRINTED.get(printed.casefold(), printed.casefold())
            if slug not in COUNTRY_SLUGS:
                raise ValueError(f"{path}:{n}: unknown country {printed!r}")
            items.append(
                {
                    "title": row.get("headline") or "",
                    "teaser": row.get("teaser") or "",
                    "outlet": row.get("outlet") or "",
                    "source": "Eye on the Arctic",
                    "source_country": "",
                    "categories": [],
                    "language": "en",
                    "countries": [slug],
                    "topics": None,
                    "kind": row.get("kind") or "",
                }
            )
    return items


def evaluate_corrections(
    corrections: Iterable[tuple[TagInput, str, Sequence[str]]],
) -> dict[str, Any]:
    """Agreement with editors' corrections: each is (the story as tagged, the primary the
    editor chose, the countries the editor left). Primary agreement and country P/R."""
    n = agree = tp = fp = fn = 0
    misses: list[dict[str, Any]] = []
    for inp, primary, countries in corrections:
        result = tag(inp)
        n += 1
        if result.primary == primary:
            agree += 1
        else:
            misses.append(
                {
                    "title": inp.title,
                    "gold": list(countries) or [primary],
                    "predicted": list(result.countries),
                }
            )
        gold, pred = set(countries) | {primary}, set(result.countries)
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    p, r, f = _prf(tp, fp, fn)
    return {
        "n": n,
        "primary_agreement": agree / n if n else 0.0,
        "countries": {"precision": p, "recall": r, "f1": f},
        "misses": misses,
    }
