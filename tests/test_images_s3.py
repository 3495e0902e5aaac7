"""Story images in an S3-compatible bucket (MEDIA_S3_BUCKET), through django-storages.

The store is moto's server mode on a loopback port, standing in for MinIO or S3. The settings
come from arcticnews/settings.py itself, read in a child process with the environment an operator
would set, so what is tested is what the variables do.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import boto3
import pytest
import requests
from django.core.files.storage import default_storage

from feeds import generation
from feeds.ingest.images import content_key, store_images
from tests.conftest import ROOT
from tests.test_images import jpeg
from tests.test_views import make_story, parse

pytestmark = [pytest.mark.django_db]

# The URLconf reads MEDIA_URL once, when imported (no /media/ route for a bucket's URL): load it
# now, with the default settings, so the S3 MEDIA_URL below cannot take the route from the
# tests that run after this module.
importlib.import_module("arcticnews.urls")

MOTO_PORT = 8281  # in h21c's loopback range
BUCKET = "arcticnews-media"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def settings_from_environment(**env: str) -> dict:
    """MEDIA_URL, STORAGES["default"] and the CSP as settings.py computes them from ``env``."""
    program = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'MEDIA_URL': s.MEDIA_URL, 'default': s.STORAGES['default'], "
        "'CONTENT_SECURITY_POLICY': s.CONTENT_SECURITY_POLICY}))"
    )
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arcticnews.settings", **env}
    done = subprocess.run(
        [sys.executable, "-c", program], env=child_env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def s3_store(monkeypatch):
    from moto.server import ThreadedMotoServer

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{MOTO_PORT}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    # As an operator makes the bucket readable by browsers .
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    try:
        yield endpoint, client
    finally:
        server.stop()


def test_without_a_bucket_images_stay_in_media_root():
    local = settings_from_environment(MEDIA_S3_BUCKET="", MEDIA_URL="/media/")
    assert local["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert local["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"] == ["'self'"]


def test_a_bucket_without_a_public_url_is_a_clear_error():
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "arcticnews.settings"}
    child_env |= {"MEDIA_S3_BUCKET": BUCKET, "MEDIA_S3_PUBLIC_URL": ""}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=child_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "MEDIA_S3_PUBLIC_URL" in done.stderr


def test_story_images_go_to_the_bucket_and_pages_link_its_public_url(
    client, settings, s3_store, fixture_server, allow_private
):
    endpoint, s3 = s3_store
    public = f"{endpoint}/{BUCKET}"
    computed = settings_from_environment(
        MEDIA_S3_BUCKET=BUCKET, MEDIA_S3_ENDPOINT_URL=endpoint, MEDIA_S3_PUBLIC_URL=public
    )
    assert computed["MEDIA_URL"] == public + "/"
    assert computed["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert public + "/" in computed["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"]
    settings.STORAGES = {**settings.STORAGES, "default": computed["default"]}
    settings.MEDIA_URL = computed["MEDIA_URL"]
    settings.CONTENT_SECURITY_POLICY = computed["CONTENT_SECURITY_POLICY"]
    settings.MEDIA_ROOT = "/nonexistent/media-root"  # nothing may be written there
    generation.bump_generation()

    photo = jpeg()
    fixture_server.add("/photo.jpg", photo, content_type="image/jpeg")
    story = make_story("Ice road opens", image_url=fixture_server.url("/photo.jpg"))
    assert store_images([story.pk]) == 1
    story.refresh_from_db()
    assert story.image_file.endswith(content_key(photo))

    listed = s3.list_objects_v2(Bucket=BUCKET)
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    assert keys == [f"{story.image_file}-{w}.jpg" for w in (1440, 480, 960)]
    head = s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ContentType"] == "image/jpeg" and "immutable" in head["CacheControl"]
    assert default_storage.exists(keys[0])

    page = client.get(f"/story/{story.pk}/")
    assert public + "/" in page["Content-Security-Policy"]
    img = parse(page).find(".//figure[@class='story__figure']/img")
    sources = [part.split()[0] for part in img.get("srcset").split(",")]
    assert sources == [f"{public}/{key}" for key in (keys[1], keys[2], keys[0])]
    assert img.get("src") == f"{public}/{keys[2]}"
    # What the browser then loads: the bucket's public object, the re-encoded JPEG.
    served = requests.get(img.get("src"), timeout=10)
    assert served.status_code == 200 and served.content[:3] == b"\xff\xd8\xff"
    assert served.content == s3.get_object(Bucket=BUCKET, Key=keys[2])["Body"].read()
