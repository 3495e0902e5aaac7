"""What every page's template may read: the site name, the countries' names, the navigation."""

from django.conf import settings
from django.http import HttpRequest

from feeds.models import Country, Topic
from feeds.tagging.countries import COUNTRIES

# For the pages' default description: from the country files, so a new country needs no edit.
COUNTRY_NAMES = ", ".join(sorted(c.name for c in COUNTRIES))


def navigation(request: HttpRequest) -> dict:
    # Lazy: pages that never render the navigation pay no query for it.
    return {
        "site_name": settings.SITE_NAME,
        "country_names": COUNTRY_NAMES,
        "nav_countries": Country.objects.all,
        "nav_topics": Topic.objects.all,
    }
