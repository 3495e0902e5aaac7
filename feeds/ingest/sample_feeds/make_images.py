"""Draw the sample feeds' stand-in images (run once; the JPEGs are committed).

The bundled sample feeds name the outlets' image URLs; the offline demo shows these instead:
simple northern landscapes drawn here, one per URL, named by feeds.ingest.images.image_key.
Run from the repository root: python feeds/ingest/sample_feeds/make_images.py
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")

import django  # noqa: E402

django.setup()

from feeds.ingest.images import image_key  # noqa: E402
from feeds.ingest.parsing import parse_feed  # noqa: E402

SIZE = (720, 405)
SKIES = [((24, 44, 84), (244, 170, 120)), ((16, 38, 66), (120, 180, 210)),
         ((40, 60, 90), (210, 220, 230)), ((10, 20, 45), (60, 110, 140))]  # fmt: skip


def draw(seed: str) -> Image.Image:
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    top, bottom = rng.choice(SKIES)
    w, h = SIZE
    image = Image.new("RGB", SIZE)
    pen = ImageDraw.Draw(image)
    horizon = int(h * rng.uniform(0.5, 0.68))
    for y in range(horizon):
        t = y / horizon
        pen.line(
            [(0, y), (w, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    if rng.random() < 0.6:  # a low sun or moon
        x, r = rng.randint(80, w - 80), rng.randint(18, 34)
        pen.ellipse([x - r, horizon - r * 2, x + r, horizon], fill=(255, 236, 200))
    for layer in range(3):  # mountain ridges, lighter far away
        shade = 70 + layer * 40
        points = [(0, horizon)]
        x = 0
        while x < w:
            x += rng.randint(40, 110)
            points.append((x, horizon - rng.randint(10, 90 - layer * 25)))
        points += [(w, horizon), (w, h), (0, h)]
        pen.polygon(points, fill=(shade, shade + 15, shade + 30))
    for y in range(horizon, h):  # sea ice and open water
        t = (y - horizon) / (h - horizon)
        pen.line([(0, y), (w, y)], fill=(int(200 - 90 * t), int(220 - 80 * t), int(235 - 60 * t)))
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randint(0, w), rng.randint(horizon + 10, h)
        pen.ellipse([x - 60, y - 6, x + 60, y + 6], fill=(236, 242, 246))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def main() -> None:
    sources = json.loads((HERE / "sources.json").read_text())
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    urls = set()
    for spec in sources:
        body = (HERE / spec["sample_file"]).read_bytes()
        for entry in parse_feed(body, url=spec["feed_url"]).entries:
            if entry.image_url:
                urls.add(entry.image_url)
    for url in sorted(urls):
        draw(url).save(out / f"{image_key(url)}.jpg", "JPEG", quality=70, optimize=True)
    sys.stdout.write(f"{len(urls)} images in {out}\n")


if __name__ == "__main__":
    main()
