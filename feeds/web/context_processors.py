from django.conf import settings
from django.http import HttpRequest

from feeds.models import Country, Topic


def navigation(request: HttpRequest) -> dict:
    # Lazy: pages that never render the navigation pay no query for it.
    return {
        "site_name": settings.SITE_NAME,
        "nav_countries": Country.objects.all,
        "nav_topics": Topic.objects.all,
    }
