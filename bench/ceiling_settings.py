"""Settings for ``bench/pages.py``: the project's own, plus the ceiling views' URLs.

The real pages and the ceiling views are served by the same gunicorn, with the same
middleware, database connection settings and cache, so their ratios measure only what the
page views themselves cost.
"""

from arcticnews.settings import *  # noqa: F403

ROOT_URLCONF = "ceiling_urls"
