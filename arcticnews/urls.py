from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "ArcticNews editors"
admin.site.site_title = "ArcticNews editors"
admin.site.index_title = "Newsroom"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("feeds.urls")),
]

handler404 = "feeds.views.page_not_found"
handler500 = "feeds.views.server_error"
