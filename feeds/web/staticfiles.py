"""Static files with content-hashed, pre-compressed names once ``collectstatic`` has run.

WhiteNoise serves hashed names with a ten-year ``immutable`` max-age and their gzip/brotli
copies. Before ``collectstatic`` (a fresh clone, the test suite) there is no manifest: then
the plain names are used and WhiteNoise serves them from static/ (WHITENOISE_USE_FINDERS).
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def url(self, name: str | None, force: bool = False) -> str:
        if not self.hashed_files and not force:  # no manifest: collectstatic has not run
            return StaticFilesStorage.url(self, name)
        return super().url(name, force)
