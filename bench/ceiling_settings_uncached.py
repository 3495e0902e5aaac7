"""``bench/pages.py``'s uncached server: the same as ``ceiling_settings``, except that the page
cache never finds a page, so that every request renders its page from the database.

With Redis (``REDIS_URL``) this is a real miss, as production has one after a change to a
listing: the same cache answers everything else (the generations a page is checked against,
its Last-Modified, what each process keeps while the global generation holds), and only the
stored pages are never found nor stored (``MissingPages``). Without Redis, Django's
``DummyCache``: nothing is ever found, the generations included.
"""

import os

from ceiling_settings import *  # noqa: F403

if os.environ.get("REDIS_URL"):
    CACHES["default"]["BACKEND"] = "miss_cache.MissingPages"  # noqa: F405
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
