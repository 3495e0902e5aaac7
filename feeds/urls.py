"""Public URLs. Every listing page P has its feeds at P + each listing format's route
(``feeds.syndication.formats``), named ``<listing>_<format>``."""

from django.urls import include, path

from feeds.digest import views as digest
from feeds.digest.feeds import DigestFeed
from feeds.syndication import feeds as syndication
from feeds.syndication.formats import LISTING_FORMATS, PRIMARY, SITE_FORMATS
from feeds.web import entities, pages, views
from feeds.web.sitemaps import SITEMAPS, NewsSitemap

app_name = "feeds"


def listing(route: str, view, name: str, feed_class) -> list:
    """A listing page plus one twin per listing format, named name, name_rss, name_atom, ..."""
    return [
        path(route, view, name=name),
        *(
            path(route + fmt.route, feed_class(fmt.generator), name=f"{name}_{fmt.name}")
            for fmt in LISTING_FORMATS
        ),
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
    *listing(
        "storyline/<slug:slug>/", views.storyline_detail, "storyline", syndication.StorylineFeed
    ),
    # Entities: ships, ports, routes and waters, organisations, places (feeds/entities).
    *listing("vessel/<slug:slug>/", entities.vessel_detail, "vessel", syndication.EntityFeed),
    *listing("port/<slug:slug>/", entities.port_detail, "port", syndication.EntityFeed),
    *listing("route/<slug:slug>/", entities.route_detail, "route", syndication.EntityFeed),
    *listing("org/<slug:slug>/", entities.org_detail, "org", syndication.EntityFeed),
    *listing("place/<slug:slug>/", entities.place_detail, "place", syndication.EntityFeed),
    path("shipping/", entities.shipping, name="shipping"),
    *(path(f.route, f.view, {"feed_format": PRIMARY.name}, name=f.name) for f in SITE_FORMATS),
    path("story/<int:pk>/", views.story_detail, name="story"),
    # The weekly digest: the archive (with its feeds), each week, and the email subscription.
    *listing("digest/", digest.archive, "digest", DigestFeed),
    path("digest/<int:year>/<int:week>/", digest.week, name="digest_week"),
    path("digest/subscribe/", digest.subscribe, name="digest_subscribe"),
    path("digest/confirm/<str:token>/", digest.confirm, name="digest_confirm"),
    path("digest/unsubscribe/<str:token>/", digest.unsubscribe, name="digest_unsubscribe"),
    path("outlets/", pages.outlets, name="outlets"),
    path("roundups/", pages.roundups, name="roundups"),
    path("robots.txt", views.robots_txt, name="robots"),
    # An index of one sitemap per section (and per page of a long one: a sitemap holds at most
    # 50,000 addresses, and a ten-year archive has more stories than that).
    path("sitemap.xml", views.sitemap_index, {"sitemaps": SITEMAPS}, name="sitemap"),
    path(
        "sitemap-news.xml",
        views.sitemap,
        {"sitemaps": {"news": NewsSitemap}, "template_name": "sitemaps/news.xml"},
        name="sitemap_news",
    ),
    # After the news sitemap, whose address this pattern would take.
    path(
        "sitemap-<slug:section>.xml",
        views.sitemap,
        {"sitemaps": SITEMAPS},
        name="sitemap_section",
    ),
]

# Editors: the related-box editor (feeds/related/urls.py).
urlpatterns += [path("editor/", include("feeds.related.urls"))]
