"""Every setting the code (feeds/, arcticnews/) reads is declared in arcticnews/settings.py,
and every environment variable that settings.py reads is documented in the README's table.

A setting read with ``getattr(settings, "X", default)`` but never declared works until someone
sets X in the environment and nothing happens; an undocumented variable is one an operator
cannot find. Both are checked from the source text, so a new read fails here at once.
"""

from __future__ import annotations

import re

from tests.conftest import ROOT

SETTINGS = (ROOT / "arcticnews" / "settings.py").read_text()
GUNICORN = (ROOT / "arcticnews" / "gunicorn_config.py").read_text()
README = (ROOT / "README.md").read_text()

_READ = re.compile(
    r"""getattr\(\s*settings\s*,\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|\bsettings\.([A-Z][A-Z0-9_]*)\b"""
    # Helpers that read a setting named by their argument (web.caching, ingest.fetching).
    r"""|\b_(?:django_)?setting\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
_ENV = re.compile(
    r"""(?:environ\.get|environ\.setdefault|envbool|envint|envlist|environ\[)\(?\s*"""
    r"""["']([A-Z][A-Z0-9_]*)["']"""
)
# Django's and third-party settings with defaults of their own: declared by their library.
LIBRARY_DEFAULTS = {"AUTH_USER_MODEL", "DEBUG", "STATIC_URL", "MEDIA_ROOT", "MEDIA_URL"}


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    code = [*(ROOT / "feeds").rglob("*.py"), *(ROOT / "arcticnews").glob("*.py")]
    for path in code:
        if "migrations" in path.parts or path.name == "settings.py":
            continue
        for match in _READ.finditer(path.read_text()):
            names.add(next(group for group in match.groups() if group))
    return names


def test_the_detectors_see_reads_and_environment_variables():
    sample = 'getattr(settings, "A_B", 1); settings.C_D; _django_setting("E_F", 0); _setting("G")'
    assert {next(g for g in m.groups() if g) for m in _READ.finditer(sample)} == {
        "A_B",
        "C_D",
        "E_F",
        "G",
    }
    assert _ENV.findall('os.environ.get("X_Y", ""); envint("Z", 1)') == ["X_Y", "Z"]


def test_every_setting_the_code_reads_is_declared_in_settings_py():
    read = settings_read_by_the_code()
    assert len(read) > 10
    declared = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*[:=]", SETTINGS, re.MULTILINE))
    missing = sorted(read - declared - LIBRARY_DEFAULTS)
    assert not missing, f"read by the code but not declared in arcticnews/settings.py: {missing}"


def test_every_environment_variable_is_in_the_readme():
    variables = set(_ENV.findall(SETTINGS + GUNICORN))
    assert {"REDIS_URL", "SECRET_KEY", "FEEDS_MAX_BYTES", "PROMETHEUS_MULTIPROC_DIR"} <= variables
    missing = sorted(name for name in variables if f"`{name}`" not in README)
    assert not missing, f"environment variables missing from the README's table: {missing}"


def test_the_readme_says_how_soon_a_new_item_shows():
    """The polling bounds are constants, not settings: the README states them as they are, and
    names the admin action an editor uses not to wait."""
    from feeds.admin import FeedAdmin
    from feeds.ingest import scheduling

    def said(delta) -> str:
        minutes = int(delta.total_seconds() // 60)
        return f"{minutes // 60} hours" if minutes >= 120 else f"{minutes} minutes"

    section = README[README.index("**How soon a new item shows.**") :][:1200]
    for bound in (scheduling.MIN_INTERVAL, scheduling.MAX_INTERVAL, scheduling.DEFAULT_INTERVAL):
        assert said(bound) in section, said(bound)
    assert "`FEEDS_POLL_SECONDS`" in section and "`FEEDS_POLL_SECONDS`" in README[:20000]
    assert FeedAdmin.fetch_now.short_description == "Fetch now"
    assert '"Fetch now" action' in section
