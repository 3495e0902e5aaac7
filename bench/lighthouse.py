"""`make lighthouse`: Lighthouse's four scores for the home, a country and a story page,
served as production serves them.

A throwaway site from the bundled sample feeds (scripts/sample_site.py: SQLite in a
temporary directory), under gunicorn with DEBUG off and collectstatic's hashed, compressed
files served by WhiteNoise. Lighthouse (npm, pinned in bench/npm/package.json and installed
there by `make lighthouse`, never globally) drives Debian's Chromium headless, as a phone
(its default: simulated slow 4G and a slower CPU) and, with --desktop, as a desktop too.

A report, not a test: scores move with the machine's load. Each page is audited --runs
times and the median run is printed; the text-compression and cache-lifetime audits are
printed beside the scores, and every audit that did not pass is listed under the table.
The JSON reports are kept in test-artifacts/lighthouse/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from sample_site import CHROMIUM, build, serve, stop  # noqa: E402

LIGHTHOUSE = ROOT / "bench" / "npm" / "node_modules" / ".bin" / "lighthouse"
OUT = ROOT / "test-artifacts" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
AUDITS = {"uses-text-compression": "text compr.", "uses-long-cache-ttl": "cache TTL"}
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"


def audit(url: str, name: str, desktop: bool, run: int, chrome_port: int = 0) -> dict:
    """One Lighthouse run; a run whose trace Chromium lost (NO_NAVSTART and the like, on a
    busy machine) is tried again, twice at most."""
    path = OUT / f"{name}{'-desktop' if desktop else ''}-{run}.json"
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={path}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--port={chrome_port}",  # Chromium's debugging port; 0: any free one
    ]
    if desktop:
        command.append("--preset=desktop")
    for attempt in range(3):
        done = subprocess.run(command, env={**os.environ, "CHROME_PATH": CHROMIUM})
        if done.returncode == 0:
            return json.loads(path.read_text())
        print(f"{url}: Lighthouse failed (attempt {attempt + 1}), trying again", file=sys.stderr)
    raise SystemExit(f"{url}: Lighthouse failed three times")


def scores(report: dict) -> dict[str, int]:
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}


def failing(report: dict) -> list[str]:
    """The audits of the four categories that did not pass, with what they say."""
    out = []
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            result = report["audits"][ref["id"]]
            score = result.get("score")
            if (
                score is None
                or score >= 1
                or result.get("scoreDisplayMode")
                in {
                    "notApplicable",
                    "informative",
                    "manual",
                }
            ):
                continue
            shown = result.get("displayValue") or ""
            out.append(f"{category}: {ref['id']} ({score:.2f}) {result['title']} {shown}".strip())
    return out


def verdict(report: dict, audit_id: str) -> str:
    result = report["audits"][audit_id]
    if result.get("scoreDisplayMode") == "notApplicable":
        return "n/a"
    return "pass" if (result.get("score") or 0) >= 1 else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per page (median shown)")
    parser.add_argument("--desktop", action="store_true", help="also audit as a desktop")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="serve the site on this port and give Chromium the next for its debugging "
        "protocol (default: any free ports)",
    )
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("Lighthouse is not installed: run `make lighthouse` (npm ci in bench/npm)")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="arcticnews-lighthouse-") as var:
        site = build(var)
        server = serve(site, production=True, port=args.port or None)
        try:
            pages = {
                "home": "/",
                "country": "/country/norway/",
                "story": f"/story/{site.story}/",
            }
            rows = []
            notes: list[str] = []
            for desktop in (False, True) if args.desktop else (False,):
                for name, path in pages.items():
                    chrome = args.port + 1 if args.port else 0
                    runs = [
                        audit(site.base + path, name, desktop, i, chrome) for i in range(args.runs)
                    ]
                    runs.sort(key=lambda r: scores(r)["performance"])
                    report = runs[len(runs) // 2]
                    perf = [scores(r)["performance"] for r in runs]
                    rows.append(
                        (
                            f"{name} {path}",
                            "desktop" if desktop else "mobile",
                            scores(report),
                            {a: verdict(report, a) for a in AUDITS},
                            statistics.median(perf),
                        )
                    )
                    notes += [f"{name} ({rows[-1][1]}): {line}" for line in failing(report)]
        finally:
            stop(server)
    version = subprocess.run(
        [str(LIGHTHOUSE), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"Lighthouse {version}, Chromium {CHROMIUM}, gunicorn with DEBUG off, {args.runs} run(s)")
    head = ["page", "as", *CATEGORIES, *AUDITS.values()]
    table = [head] + [
        [page, form, *(str(s[c]) for c in CATEGORIES), *(v[a] for a in AUDITS)]
        for page, form, s, v, _ in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("-|-".join("-" * w for w in widths))
    if notes:
        print("\nAudits that did not pass:")
        for note in notes:
            print("  " + note)
    print(f"\nreports: {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
