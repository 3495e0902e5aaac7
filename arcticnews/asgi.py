"""The ASGI entry point (the site is served by gunicorn through ``wsgi``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcticnews.settings")
application = get_asgi_application()
