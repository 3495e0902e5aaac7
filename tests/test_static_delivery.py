"""What a browser downloads: compressed HTML, and static files under hashed names with a long
max-age once collectstatic has run (WhiteNoise's compressed manifest storage)."""

from __future__ import annotations

import gzip
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from feeds import generation
from tests.test_views import make_story, parse

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fresh_pages():
    generation.bump_generation()


def test_html_is_compressed_for_browsers_that_ask(client):
    make_story("Ice road opens", countries=("canada",))
    response = client.get("/", HTTP_ACCEPT_ENCODING="gzip, br")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert b"Ice road opens" in gzip.decompress(response.content)
    plain = client.get("/")
    assert "Content-Encoding" not in plain and b"Ice road opens" in plain.content


def test_collected_static_files_get_hashed_names_a_long_max_age_and_compressed_copies(
    settings, tmp_path
):
    settings.STATIC_ROOT = str(tmp_path / "static")
    call_command("collectstatic", "--no-input", verbosity=0, stdout=StringIO())
    client = Client()  # a new handler: WhiteNoise scans the new STATIC_ROOT
    make_story("Ice road opens", countries=("canada",))
    page = parse(client.get("/"))
    css = next(link.get("href") for link in page.iter("link") if link.get("rel") == "stylesheet")
    assert css.startswith("/static/css/site.") and css != "/static/css/site.css"
    response = client.get(css, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    control = response["Cache-Control"]
    assert "immutable" in control and int(control.split("max-age=")[1].split(",")[0]) >= 31536000
    body = b"".join(response.streaming_content)
    assert b".card" in gzip.decompress(body)
