"""System checks for configuration mistakes that would otherwise only show in production."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def settings_check(app_configs, **kwargs):  # noqa: ARG001
    errors = []
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        errors.append(
            Warning(
                "SECRET_KEY is the built-in development key.",
                hint="Set the SECRET_KEY environment variable in production.",
                id="arcticnews.W001",
            )
        )
    if settings.FEEDS_ALLOW_PRIVATE_ADDRESSES and not settings.DEBUG and settings.REDIS_URL:
        errors.append(
            Warning(
                "FEEDS_ALLOW_PRIVATE_ADDRESSES is on: feeds may reach internal addresses.",
                hint="Only tests and the offline demo need it.",
                id="arcticnews.W002",
            )
        )
    return errors
