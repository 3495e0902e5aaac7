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


def place_labels(
    pins: Sequence[tuple[float, float, float, str]], most: int, taken: Sequence[Box] = ()
) -> list[tuple[float, str] | None]:
    """Where each pin's name goes, in order (most covered first): (x, "start") to its right,
    (x, "end") to its left, or None when both would cover a name already placed (Murmansk
    and Kirkenes are 200 km apart) or ``taken`` (the countries' names). At most ``most``
    names. ``pins``: (x, y, radius, name)."""
    placed: list[Box] = list(taken)
    out: list[tuple[float, str] | None] = []
    for x, y, r, name in pins:
        width = LABEL_CHAR * len(name)
        choice = None
        if sum(o is not None for o in out) < most:
            for anchor, left in (("start", x + r + 4), ("end", x - r - 4 - width)):
                box = (left, y - LABEL_HEIGHT / 2, left + width, y + LABEL_HEIGHT / 2)
                clear = all(
                    box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in placed
                )
                if clear:
                    choice = (round(x + r + 4 if anchor == "start" else x - r - 4, 1), anchor)
                    placed.append(box)
                    break
        # A pin's own circle is no place for another's name either.
        placed.append((x - r, y - r, x + r, y + r))
        out.append(choice)
    return out
