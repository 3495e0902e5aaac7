from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "ArcticNews editors"
admin.site.site_title = "ArcticNews editors"
admin.site.index_title = "Newsroom"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's): no 404 for them.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("", include("feeds.urls")),
]

handler404 = "feeds.web.views.page_not_found"
handler500 = "feeds.web.views.server_error"
