"""`make screenshots`: the README's pictures of what a reader and an editor see.

Builds a throwaway site from the bundled sample feeds (SQLite and media in a temporary
directory, nothing from your environment's database), serves it, and has Debian's Chromium
take docs/screenshots/home.png, story.png and editor.png at 1280 px (or into the folder
given as its argument).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_site import CHROMIUM, EDITOR, ROOT, build, serve, stop

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


def main(out: Path = OUT, port: int | None = None) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="arcticnews-shots-") as var:
        site = build(var)
        server = serve(site, production=False, port=port)
        base, story = site.base, site.story
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(base + "/")
                page.screenshot(
                    path=str(out / "home.png"), clip={"x": 0, "y": 0, **VIEWPORT, "height": 1500}
                )
                page.goto(f"{base}/story/{story}/")
                page.screenshot(path=str(out / "story.png"), full_page=True)
                page.goto(base + "/admin/login/")
                page.fill("#id_username", EDITOR)
                page.fill("#id_password", site.password)
                page.click("input[type=submit]")
                page.goto(f"{base}/editor/story/{story}/related/")
                page.screenshot(
                    path=str(out / "editor.png"), clip={"x": 0, "y": 0, **VIEWPORT, "height": 1500}
                )
                browser.close()
        finally:
            stop(server)
    sys.stdout.write(f"screenshots in {out}: home.png, story.png, editor.png\n")


if __name__ == "__main__":
    # screenshots.py [OUT] [--port N]: the site on port N (default: any free port).
    argv = sys.argv[1:]
    port = None
    if "--port" in argv:
        at = argv.index("--port")
        port = int(argv[at + 1])
        del argv[at : at + 2]
    main(Path(argv[0]) if argv else OUT, port)
