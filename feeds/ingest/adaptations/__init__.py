"""Adaptations of libraries that reach into their private internals, one module each.

Each one is switched on only when the installed version is one it was tested against
(``TESTED``; tests/test_adaptations.py pins them) and while ``FEEDS_LIBRARY_ADAPTATIONS`` is
on. Switched off, the library runs as shipped: the adaptations make ingest faster, or read
rows more cheaply, and change no result.
"""

from __future__ import annotations

from importlib.metadata import version

from django.conf import settings


def enabled(distribution: str, tested: tuple[str, ...]) -> bool:
    """Whether an adaptation of ``distribution`` may run: the setting is on, and the
    installed version starts with one of the ``tested`` prefixes ("6.0." for 6.0.x)."""
    if not settings.FEEDS_LIBRARY_ADAPTATIONS:
        return False
    installed = version(distribution)
    return any(installed == t or installed.startswith(t) for t in tested)
