"""Scoring entity linking on labelled stories. Pure.

A labelled set is a text file, one story a line: ``expected | outlet | headline | teaser``,
``expected`` being ``kind/slug`` keys comma-separated (``-`` for none); ``#`` starts a
comment. Precision and recall are over (story, entity) pairs, micro-averaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Case", "Score", "parse_cases", "score"]


@dataclass(frozen=True, slots=True)
class Case:
    line: int
    expected: frozenset[str]
    outlet: str
    title: str
    teaser: str


@dataclass(frozen=True, slots=True)
class Score:
    stories: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def parse_cases(path: Path, known: Iterable[str]) -> list[Case]:
    """The file's stories; a line that is malformed or names an unknown entity is an error
    naming the file and line (a typo must not silently lower recall)."""
    known = set(known)
    cases = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" | ")]
        if len(parts) != 4 or not parts[2]:
            raise ValueError(f"{path}:{number}: wants 'expected | outlet | headline | teaser'")
        expected = frozenset() if parts[0] == "-" else frozenset(parts[0].split(","))
        unknown = expected - known
        if unknown:
            raise ValueError(f"{path}:{number}: unknown entities {sorted(unknown)}")
        cases.append(Case(number, expected, parts[1], parts[2], parts[3]))
    return cases


def score(pairs: Sequence[tuple[frozenset[str], frozenset[str]]]) -> Score:
    """``pairs``: (expected, found) per story."""
    tp = sum(len(e & f) for e, f in pairs)
    fp = sum(len(f - e) for e, f in pairs)
    fn = sum(len(e - f) for e, f in pairs)
    return Score(len(pairs), tp, fp, fn)
