"""Settings for ``bench/pages.py``: the project's own, plus the ceiling views' URLs.

The real pages and the ceiling views are served by the same gunicorn, with the same
middleware, database connection settings and cache, so their ratios measure only what the
page views themselves cost.
"""

from arcticnews.settings import *  # noqa: F403

ROOT_URLCONF = "ceiling_urls"

# wrk is one client: the per-client search limit (django-ratelimit, counted in the cache) would
# answer nearly every search 429 and measure the refusal. What bounds searches here is
# SEARCH_MAX_CONCURRENT, as in production.
SEARCH_RATE_LIMIT = "1000000/m"
