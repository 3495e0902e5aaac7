"""The related-box editor, under /editor/ (included from feeds.urls: names "feeds:curation:*")."""

from django.urls import path

from feeds.related import views as curation_views

app_name = "curation"

urlpatterns = [
    path("story/<int:pk>/related/", curation_views.box, name="box"),
    path("story/<int:pk>/related/search/", curation_views.search, name="search"),
    path("story/<int:pk>/related/<slug:action>/", curation_views.change, name="change"),
]
