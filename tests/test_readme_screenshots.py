"""`make screenshots` draws the README's pictures (home, a story with its related box, the
related-box editor) from the bundled sample feeds, so they show what the code does."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_make_screenshots_draws_the_readme_pictures_from_the_sample_feeds(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("home", "story", "editor"):
        with Image.open(tmp_path / f"{name}.png") as picture:
            assert picture.width == 1280 and picture.height >= 900, name
            # A page, not a blank or an error page: many colours (images, map, text).
            assert len(picture.convert("RGB").getcolors(1 << 20) or ()) > 500, name
