"""The labelled storyline sets (``tests/fixtures/storylines/*.txt``) and pairwise precision
and recall of "same storyline". Pure: no Django, no database, no network.

Owns: the set's format (events of stories by outlet, hours after the event's day, headline
and lead, or a headline alone for a feed item that has no lead; ``copy`` lines republish an
event's first story word for word, crediting its outlet), the outlets the sets use, and the
scores. ``manage.py evaluate_storylines`` stores the stories, places them
as ingest would and hands the result here.
May import: the standard library.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Final

START: Final = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Outlet:
    name: str
    country: str  # slug
    language: str
    homepage: str


OUTLETS: Final = {
    "bo-en": Outlet(
        "The Independent Barents Observer", "norway", "en", "https://thebarentsobserver.com/"
    ),
    "bo-ru": Outlet(
        "The Barents Observer (Russian)", "norway", "ru", "https://thebarentsobserver.com/ru/"
    ),
    "nrk": Outlet("NRK", "norway", "en", "https://www.nrk.no/"),
    "hnn": Outlet("High North News", "norway", "en", "https://www.highnorthnews.com/"),
    "yle": Outlet("Yle News", "finland", "en", "https://yle.fi/news"),
    "svt": Outlet("Radio Sweden", "sweden", "en", "https://sverigesradio.se/radioswedenenglish"),
    "cbc": Outlet("CBC North", "canada", "en", "https://www.cbc.ca/news/canada/north"),
    "nunatsiaq": Outlet("Nunatsiaq News", "canada", "en", "https://nunatsiaq.com/"),
    "eye": Outlet("Eye on the Arctic", "canada", "en", "https://www.rcinet.ca/eye-on-the-arctic/"),
    "knr": Outlet("KNR", "greenland", "en", "https://knr.gl/"),
    "sermitsiaq": Outlet("Sermitsiaq", "greenland", "en", "https://sermitsiaq.ag/"),
    "rvk": Outlet("RÚV English", "iceland", "en", "https://www.ruv.is/english"),
    "icelandreview": Outlet("Iceland Review", "iceland", "en", "https://www.icelandreview.com/"),
    "adn": Outlet("Anchorage Daily News", "united-states", "en", "https://www.adn.com/"),
    "apm": Outlet("Alaska Public Media", "united-states", "en", "https://alaskapublic.org/"),
    "arctictoday": Outlet("Arctic Today", "united-states", "en", "https://www.arctictoday.com/"),
    "tass": Outlet("TASS", "russia", "en", "https://tass.com/"),
    "dr": Outlet("DR News", "denmark", "en", "https://www.dr.dk/"),
}


class SetError(ValueError):
    """A labelled set is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    key: str  # unique in the set: event/n
    event: str
    outlet: str
    published_at: datetime
    title: str
    lead: str  # "" for a headline-only item (a feed item with no teaser)
    copy_of: str = ""  # the key of the story this republishes word for word
    credit: str = ""  # the outlet a copy credits in its byline (the original's)


def parse(text: str, name: str = "set") -> list[Item]:
    items: list[Item] = []
    event = ""
    day = 0.0
    first: dict[str, Item] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name}:{n}"
        if line.startswith("=="):
            parts = line[2:].split()
            if len(parts) != 2 or not parts[1].startswith("day="):
                raise SetError(f"{where}: an event line is '== <event> day=<n>'")
            event, day = parts[0], float(parts[1][4:])
            continue
        if not event:
            raise SetError(f"{where}: a story before any event")
        head, *rest = (p.strip() for p in line.split("|"))
        words = head.split()
        if len(words) < 2 or words[0] not in OUTLETS or not words[1].startswith("+"):
            raise SetError(
                f"{where}: a story line is '<outlet> +<hours> | headline | lead' "
                "(or '| headline' alone)"
            )
        when = START + timedelta(days=day, hours=float(words[1][1:]))
        key = f"{event}/{sum(1 for i in items if i.event == event)}"
        if len(words) == 3 and words[2] == "copy" and not rest:
            original = first.get(event)
            if original is None:
                raise SetError(f"{where}: a copy before the event's first story")
            credit = OUTLETS[original.outlet].name
            items.append(
                Item(
                    key, event, words[0], when, original.title, original.lead, original.key, credit
                )
            )
            continue
        if not 1 <= len(rest) <= 2 or not all(rest):
            raise SetError(f"{where}: a story needs a headline, and a lead unless it has none")
        item = Item(key, event, words[0], when, rest[0], rest[1] if len(rest) == 2 else "")
        first.setdefault(event, item)
        items.append(item)
    return items


def read(path: Path) -> list[Item]:
    return parse(path.read_text(encoding="utf-8"), path.name)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    right_pairs: int
    events: int  # events told by more than one distinct story
    stories: int

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(groups: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for members in groups.values():
        out.update(tuple(sorted(p)) for p in combinations(sorted(set(members)), 2))  # type: ignore[misc]
    return out


def _truth_and_guess(
    labels: Mapping[str, str], predicted: Mapping[str, object]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], int]:
    """Pairs of one event, pairs of one predicted storyline, and events of 2+ stories."""
    truth: dict[str, list[str]] = defaultdict(list)
    guess: dict[str, list[str]] = defaultdict(list)
    for key, event in labels.items():
        truth[event].append(key)
        got = predicted.get(key)
        guess[f"line:{got}" if got is not None else f"alone:{key}"].append(key)
    events = sum(1 for m in truth.values() if len(m) > 1)
    return _pairs(truth), _pairs(guess), events


def pairwise(labels: Mapping[str, str], predicted: Mapping[str, object]) -> Scores:
    """Precision and recall of "these two stories are one storyline" over every pair of
    the distinct stories labelled (copies are not distinct stories: they are left out)."""
    t, p, events = _truth_and_guess(labels, predicted)
    right = len(t & p)
    return Scores(
        precision=right / len(p) if p else 1.0,
        recall=right / len(t) if t else 1.0,
        true_pairs=len(t),
        predicted_pairs=len(p),
        right_pairs=right,
        events=events,
        stories=len(labels),
    )


def mistakes(
    labels: Mapping[str, str], predicted: Mapping[str, object]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Pairs wrongly together, and pairs wrongly apart."""
    t, p, _ = _truth_and_guess(labels, predicted)
    return sorted(p - t), sorted(t - p)
