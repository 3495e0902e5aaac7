"""Story images, served from our origin: fetched once by a worker, re-encoded, stored.

A reader's browser never calls an outlet's image host (privacy, and no broken image when the
host is down): a worker fetches the feed's image through the same guarded fetcher as feeds
(``fetching.fetch``: SSRF rules, redirects, a size cap), Pillow decodes it (JPEG, PNG, WebP or
GIF only: SVG and anything else is refused, so is a decompression bomb), and re-encodes it as
JPEG at a few widths with no metadata (no EXIF, no GPS, no ICC comments). The files go to the
default storage (MEDIA_ROOT, or an S3-compatible bucket when MEDIA_S3_BUCKET is set); the story
records their common name and the largest size, from which pages build ``srcset``. The name
is a hash of the image's bytes: a file never changes under its name, so browsers may keep it
for a year (``feeds.web.pages.media``), and a changed image gets a new name.

A story whose image cannot be fetched or decoded keeps no image: pages then show none.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from feeds.generation import bump_listings
from feeds.ingest.fetching import FetchError, fetch
from feeds.models import IMAGE_WIDTHS, Story, image_name

logger = logging.getLogger(__name__)

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
ALLOWED_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is the largest plausible; bombs are bigger
JPEG_QUALITY = 82
SAMPLE_IMAGES = Path(__file__).resolve().parent / "sample_feeds" / "images"


class ImageRefused(Exception):
    """The bytes are not an image we serve (wrong type, undecodable, too large)."""


@dataclass(frozen=True)
class Encoded:
    width: int  # of the largest variant
    height: int
    variants: dict[int, bytes]  # width -> JPEG bytes


def image_key(url: str) -> str:
    """The bundled sample image's name for an image URL (feeds/ingest/sample_feeds/images/)."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def content_key(data: bytes) -> str:
    """The stored name of an image: what it is, not where it came from."""
    return hashlib.sha256(data).hexdigest()[:32]


def encode(data: bytes) -> Encoded:
    """Decode ``data`` and re-encode it at IMAGE_WIDTHS (never wider than the original)."""
    with warnings.catch_warnings():
        # Pillow only warns between MAX_PIXELS and twice that: refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ALLOWED_FORMATS:
                    raise ImageRefused(f"{image.format or 'unknown'} images are not served")
                image.seek(0)  # a GIF's first frame
                picture = ImageOps.exif_transpose(image)
                picture.load()
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
            raise ImageRefused(f"not a usable image: {exc}") from None
        except Image.DecompressionBombWarning as exc:
            raise ImageRefused(f"too many pixels: {exc}") from None
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    if picture.mode not in ("RGB", "L"):
        rgba = picture.convert("RGBA")
        picture = Image.new("RGB", rgba.size, (255, 255, 255))
        picture.paste(rgba, mask=rgba.getchannel("A"))
    elif picture.mode == "L":
        picture = picture.convert("RGB")
    largest = min(picture.width, IMAGE_WIDTHS[-1])
    if largest < 120:
        raise ImageRefused(f"too small to show ({picture.width} px wide)")
    variants: dict[int, bytes] = {}
    height = 0
    for width in variant_widths(largest):
        h = max(1, round(picture.height * width / picture.width))
        resized = (
            picture
            if width == picture.width
            else picture.resize((width, h), Image.Resampling.LANCZOS)
        )
        out = io.BytesIO()
        # No exif=, icc_profile= or comment: Pillow writes none of the original's metadata.
        resized.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        variants[width] = out.getvalue()
        height = h
    return Encoded(width=largest, height=height, variants=variants)


def variant_widths(largest: int) -> list[int]:
    return [w for w in IMAGE_WIDTHS if w < largest] + [largest]


def _store(key: str, encoded: Encoded) -> str:
    name = f"stories/{key[:2]}/{key}"
    for width, data in encoded.variants.items():
        path = image_name(name, width)
        if not default_storage.exists(path):  # the same bytes are stored under this name
            default_storage.save(path, ContentFile(data))
    return name


def download(url: str) -> bytes:
    result = fetch(
        url,
        max_bytes=settings.FEEDS_IMAGE_MAX_BYTES,
        total_timeout=20.0,
        max_redirects=3,
    )
    kind = result.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ALLOWED_TYPES:
        raise ImageRefused(f"content type {kind or 'missing'} is not an image we serve")
    return result.body or b""


def sample_image(url: str) -> bytes | None:
    """The bundled stand-in for a sample feed's image (the offline demo), if there is one."""
    path = SAMPLE_IMAGES / f"{image_key(url)}.jpg"
    return path.read_bytes() if path.exists() else None


def store_images(story_ids: Iterable[int], *, offline: bool = False) -> int:
    """Fetch, re-encode and store the images of these stories; returns how many were stored.

    ``offline``: take the bundled sample images instead of the network (load_sample_feeds).
    Stories whose image is already stored from the same URL are skipped.
    """
    stored: list[int] = []
    stories = Story.objects.filter(pk__in=list(story_ids)).exclude(image_url="")
    for story in stories.only("pk", "image_url", "image_file", "image_source"):
        if story.image_file and story.image_source == story.image_url:
            continue
        try:
            data = sample_image(story.image_url) if offline else download(story.image_url)
            if data is None:
                raise ImageRefused("no bundled sample image")
            encoded = encode(data)
        except (FetchError, ImageRefused) as exc:
            logger.info("story %s: no image from %s: %s", story.pk, story.image_url, exc)
            Story.objects.filter(pk=story.pk).update(
                image_file="", image_source=story.image_url, image_checked_at=timezone.now()
            )
            continue
        name = _store(content_key(data), encoded)
        Story.objects.filter(pk=story.pk).update(
            image_file=name,
            image_width=encoded.width,
            image_height=encoded.height,
            image_source=story.image_url,
            image_checked_at=timezone.now(),
        )
        stored.append(story.pk)
    if stored:  # the pages showing these stories now have their images; no other page
        bump_listings(Story.objects.filter(pk__in=stored).listed_on())
    return len(stored)
