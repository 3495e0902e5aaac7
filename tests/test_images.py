"""Story images: fetched by workers through the guarded fetcher, re-encoded, served by us.

The outside world is the local fixture server; the images are drawn here with Pillow.
"""

from __future__ import annotations

import io
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from feeds import generation
from feeds.ingest.images import ImageRefused, content_key, encode, store_images
from feeds.models import Story
from tests.test_views import make_story, parse

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    generation.bump_generation()


def jpeg(width: int = 1600, height: int = 900, *, gps: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), (40, 90, 140))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x9286] = "a private comment"  # UserComment
    if gps:
        exif[0x8825] = {1: "N", 2: (69.0, 39.0, 0.0)}  # GPSInfo: latitude
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_with_alpha(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 0)).save(out, "PNG")
    return out.getvalue()


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
)


def test_it_re_encodes_at_a_few_widths_without_metadata():
    encoded = encode(jpeg(gps=True))
    assert sorted(encoded.variants) == [480, 960, 1440]
    assert (encoded.width, encoded.height) == (1440, 810)
    for width, data in encoded.variants.items():
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and image.width == width
            assert not image.getexif()  # no camera, comment or GPS
            assert "exif" not in image.info and "comment" not in image.info


def test_a_small_original_is_never_enlarged_and_transparency_goes_on_white():
    encoded = encode(png_with_alpha(700, 400))
    assert sorted(encoded.variants) == [480, 700]
    with Image.open(io.BytesIO(encoded.variants[700])) as image:
        assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    "data",
    [SVG, b"GIF89a not really", b"<html>Not found</html>", b""],
    ids=["svg", "broken-gif", "html", "empty"],
)
def test_it_refuses_what_is_not_an_image_we_serve(data):
    with pytest.raises(ImageRefused):
        encode(data)


def test_it_refuses_a_decompression_bomb():
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 megapixels, a few KB
    with pytest.raises(ImageRefused, match="pixels|usable"):
        encode(out.getvalue())


def test_workers_fetch_through_the_guarded_fetcher_and_pages_serve_our_copy(
    client, fixture_server, allow_private
):
    photo = jpeg()
    fixture_server.add("/photo.jpg", photo, content_type="image/jpeg")
    fixture_server.add("/same-photo.jpg", photo, content_type="image/jpeg")
    fixture_server.add("/logo.svg", SVG, content_type="image/svg+xml")
    fixture_server.add("/lie.jpg", SVG, content_type="image/jpeg")
    fixture_server.add("/gone.jpg", b"", status=404, content_type="image/jpeg")
    good = make_story(
        "Ice road opens",
        countries=("canada",),
        image_url=fixture_server.url("/photo.jpg"),
        image_caption="Trucks on the ice road near Inuvik.",
    )
    others = [
        make_story(title, image_url=fixture_server.url(path))
        for title, path in (("Logo", "/logo.svg"), ("Lie", "/lie.jpg"), ("Gone", "/gone.jpg"))
    ]
    assert store_images([good.pk, *(s.pk for s in others)]) == 1
    good.refresh_from_db()
    # Named by its bytes: the same picture at another address is the same file.
    assert good.image_file.endswith(content_key(photo))
    again = make_story("Ice road, day two", image_url=fixture_server.url("/same-photo.jpg"))
    assert store_images([again.pk]) == 1
    again.refresh_from_db()
    assert again.image_file == good.image_file
    assert (good.image_width, good.image_height) == (1440, 810)
    for story in others:
        story.refresh_from_db()
        assert story.image_file == "" and story.image_checked_at is not None

    # Fetched once: a second run skips what is stored.
    fetched = fixture_server.count("/photo.jpg")
    store_images([good.pk])
    assert fixture_server.count("/photo.jpg") == fetched

    page = client.get(f"/story/{good.pk}/")
    assert "img-src 'self'" in page["Content-Security-Policy"]
    img = parse(page).find(".//figure[@class='story__figure']/img")
    assert img.get("src").startswith("/media/stories/")
    assert img.get("width") == "1440" and img.get("height") == "810"
    assert "480w" in img.get("srcset") and "1440w" in img.get("srcset")
    assert img.get("alt") == ""
    # The lead image is above the fold: never lazy, fetched first.
    assert (img.get("loading"), img.get("fetchpriority")) == ("eager", "high")
    assert len(parse(page).findall(".//main//img[@fetchpriority='high']")) == 1
    caption = parse(page).find(".//figure[@class='story__figure']/figcaption")
    assert "Trucks on the ice road" in "".join(caption.itertext())
    assert fixture_server.url("/") not in page.content.decode()  # no third-party image
    served = client.get(img.get("src"))
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    # A name never changes its bytes: browsers keep it a year without asking again.
    control = served["Cache-Control"]
    assert "immutable" in control and int(control.split("max-age=")[1].split(",")[0]) >= 31536000

    # A story whose image could not be fetched shows none (never a broken one).
    logo = client.get(f"/story/{others[0].pk}/").content.decode()
    assert "<figure" not in logo and "logo.svg" not in logo


def test_the_offline_demo_shows_the_bundled_images():
    call_command("load_sample_feeds", stdout=StringIO())
    with_url = Story.objects.exclude(image_url="")
    assert with_url.count() > 20
    assert not with_url.filter(image_file="").exists()
    story = with_url.first()
    assert default_storage.exists(story.image_file + f"-{story.image_width}.jpg")


def test_pages_show_no_image_of_an_outlets_own_in_the_summary_or_body(client):
    """CBC North's descriptions open with the outlet's <img> (the sample's too), WordPress bodies
    hold figures: the CSP lets only our copies load, so such an image would be a broken one
    whose alt text reads the headline a second time. Pages leave them out; our feeds keep them."""
    call_command("load_sample_feeds", stdout=StringIO())
    cbc = Story.objects.filter(source__slug="cbc-north", summary__contains="<img").first()
    assert cbc is not None  # the sample carries CBC's real description markup
    body = (
        '<p>Intro.</p><figure class="wp-caption"><a href="https://x.example/big.jpg">'
        '<img src="https://x.example/p-1024x678.jpg" alt="A slug-like alt"></a>'
        "<figcaption>Caption (Photographer / Agency)</figcaption></figure><p>More text.</p>"
    )
    full = make_story("Full text with a figure", content=body, summary="<p>Deck.</p>")
    full.source.show_full_text = True
    full.source.save()
    for story in (cbc, full):
        page = client.get(f"/story/{story.pk}/")
        tree = parse(page)
        sources = [img.get("src") for img in tree.iter("img")]
        assert all(src.startswith("/") for src in sources), sources
        assert not [a for a in tree.iter("a") if not "".join(a.itertext()).strip()]
        text = page.content.decode()
        assert f'alt="{story.title}"' not in text and "slug-like" not in text
    assert len(list(parse(client.get(f"/story/{cbc.pk}/")).iter("img"))) == 1
    full_text = client.get(f"/story/{full.pk}/").content.decode()
    assert "Intro." in full_text and "More text." in full_text
