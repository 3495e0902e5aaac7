"""Where a latitude and longitude fall on the home page's circumpolar map. Pure.

The map (templates/feeds/includes/circumpolar_map.html) is an azimuthal equidistant
projection centred on the North Pole in an 800×800 viewBox: the pole at (400, 400), 9.6 units
per degree of latitude (the rim, 52°N, at radius 364.8; the Arctic Circle at 225), longitude
0° straight down and east to the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["RIM_LATITUDE", "on_map", "pin_radius", "project", "svg_path"]

CENTRE = 400.0
UNITS_PER_DEGREE = 9.6
RIM_LATITUDE = 52.0


def project(latitude: float, longitude: float) -> tuple[float, float]:
    r = (90.0 - latitude) * UNITS_PER_DEGREE
    a = math.radians(longitude)
    return round(CENTRE + r * math.sin(a), 1), round(CENTRE + r * math.cos(a), 1)


def on_map(latitude: float | None) -> bool:
    return latitude is not None and latitude > RIM_LATITUDE


def pin_radius(count: int, most: int, smallest: float = 5.0, largest: float = 14.0) -> float:
    """A pin's radius: its area grows with its story count, the most covered pin the largest."""
    if most <= 0:
        return smallest
    return round(smallest + (largest - smallest) * math.sqrt(max(count, 0) / most), 1)


def svg_path(points: Sequence[tuple[float, float]]) -> str:
    """A route's course as SVG path data (its [lat, lon] points, projected, joined by lines)."""
    xy = [project(lat, lon) for lat, lon in points]
    return " ".join(f"{'M' if i == 0 else 'L'}{x} {y}" for i, (x, y) in enumerate(xy))


LABEL_HEIGHT = 26.0  # a pin's name in the map's units (its CSS font is 22 units)
LABEL_CHAR = 12.5  # an average letter's width at that size


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _clear(box: Box, placed: Sequence[Box]) -> bool:
    return all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in placed)


def place_labels(
    pins: Sequence[tuple[float, float, float, str]], most: int, taken: Sequence[Box] = ()
) -> list[tuple[float, float, str] | None]:
    """Where each pin's name goes, in order (most covered first): (x, y, text-anchor) to its
    right ("start"), left ("end"), above or below ("middle"); None when its circle would
    cover a name or a circle already placed, or every place for its name would (Murmansk and
    Kirkenes are 200 km apart; Longyearbyen is on Svalbard), or ``taken`` (the countries'
    names), or ``most`` names are placed. A pin without a name is not drawn: a circle a
    reader cannot name tells nothing (the list under the map names every place).
    ``pins``: (x, y, radius, name)."""
    placed: list[Box] = list(taken)
    out: list[tuple[float, float, str] | None] = []
    half = LABEL_HEIGHT / 2
    for x, y, r, name in pins:
        width = LABEL_CHAR * len(name)
        circle = (x - r, y - r, x + r, y + r)
        choice = None
        if sum(o is not None for o in out) < most and _clear(circle, placed):
            # (text x, text middle y, anchor, its box); the text is drawn centred on y.
            above, below = y - r - 2 - half, y + r + 2 + half
            places = (
                (x + r + 4, y, "start", (x + r + 4, y - half, x + r + 4 + width, y + half)),
                (x - r - 4, y, "end", (x - r - 4 - width, y - half, x - r - 4, y + half)),
                (x, above, "middle", (x - width / 2, above - half, x + width / 2, above + half)),
                (x, below, "middle", (x - width / 2, below - half, x + width / 2, below + half)),
            )
            for tx, ty, anchor, box in places:
                if _clear(box, placed):
                    choice = (round(tx, 1), round(ty, 1), anchor)
                    placed += [box, circle]
                    break
        out.append(choice)
    return out
