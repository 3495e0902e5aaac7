"""The embedded default's cache backend (no Redis): Django's file cache, with a ``set_many``
that counts the cache directory once per batch.

Django's ``FileBasedCache`` culls on every ``set``, and culling starts by listing every file
in the directory (up to ``MAX_ENTRIES``, thousands). ``generation.bump_listings`` writes one
counter per listing a fetch changed, dozens after every fetch, so a scan per key made the
page-cache bookkeeping most of an embedded ingest's time. Each file is still written as
Django writes it (a temporary file renamed into place, so readers in other processes see the
old value or the new one, never half); only the repeated scan is skipped.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache


class FileBasedCache(DjangoFileBasedCache):
    # Set for the duration of one set_many. A cache object belongs to one thread (Django's
    # cache handler keeps one per thread), so this flag is never shared.
    _batch = False

    # Django's own hook (every set() calls it); django-stubs does not declare private methods.
    def _cull(self) -> None:
        if not self._batch:
            super()._cull()  # type: ignore[misc]

    def set_many(
        self,
        data: dict[str, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[str]:
        self._cull()  # room for the batch, once: at most len(data) entries over MAX_ENTRIES
        self._batch = True
        try:
            return super().set_many(data, timeout, version)
        finally:
            self._batch = False
