"""Public URLs. Every listing page P has its feeds at P/feed/, P/feed/atom/, P/feed/json/."""

from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from feeds.syndication import feeds as syndication
from feeds.web import views
from feeds.web.sitemaps import SITEMAPS, NewsSitemap

app_name = "feeds"


def listing(route: str, view, name: str, feed_class) -> list:
    """A listing page plus its RSS, Atom and JSON Feed twins, named name, name_rss, ..."""
    return [
        path(route, view, name=name),
        path(route + "feed/", feed_class(), name=f"{name}_rss"),
        path(route + "feed/atom/", feed_class.atom(), name=f"{name}_atom"),
        path(route + "feed/json/", feed_class.json(), name=f"{name}_json"),
    ]


urlpatterns = [
    *listing("", views.home, "home", syndication.LatestStoriesFeed),
    *listing("country/<slug:slug>/", views.country_detail, "country", syndication.CountryFeed),
    *listing(
        "country/<slug:slug>/topic/<slug:topic>/",
        views.country_topic,
        "country_topic",
        syndication.CountryTopicFeed,
    ),
    *listing("topic/<slug:slug>/", views.topic_detail, "topic", syndication.TopicFeed),
    *listing("source/<slug:slug>/", views.source_detail, "source", syndication.SourceFeed),
    *listing("search/", views.search, "search", syndication.SearchFeed),
    path("story/<int:pk>/", views.story_detail, name="story"),
    path("feeds.opml", syndication.opml, name="opml"),
    path("robots.txt", views.robots_txt, name="robots"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path(
        "sitemap-news.xml",
        sitemap,
        {"sitemaps": {"news": NewsSitemap}, "template_name": "sitemaps/news.xml"},
        name="sitemap_news",
    ),
]

# Editors: the related-box editor (feeds/related/urls.py).
urlpatterns += [path("editor/", include("feeds.related.urls"))]
