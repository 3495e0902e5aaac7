"""The root URLconf: the reader site (``feeds.urls``), the admin, health and metrics."""

import re

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from arcticnews import health, metrics
from feeds.web import pages

admin.site.site_header = "ArcticNews editors"
admin.site.site_title = "ArcticNews editors"
admin.site.index_title = "Newsroom"

urlpatterns = [
    # Operations: outside feeds' URLs, so no page cache or middleware of theirs applies.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's): no 404 for them.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("", include("feeds.urls")),
]
if settings.MEDIA_URL.startswith("/"):  # stored on this host: serve it (feeds/web/pages.py)
    urlpatterns.insert(
        0, re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.+)$", pages.media)
    )

handler400 = "feeds.web.views.bad_request"
handler403 = "feeds.web.errors.permission_denied"
handler404 = "feeds.web.views.page_not_found"
handler500 = "feeds.web.views.server_error"
