"""``bench/pages.py``'s uncached server: the same as ``ceiling_settings``, with a cache that
never finds anything, so that every request renders its page from the database."""

from ceiling_settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
