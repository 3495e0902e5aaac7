"""System checks for configuration mistakes that would otherwise only show in production."""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def deploy_settings_check(app_configs, **kwargs):
    errors = []
    if not settings.SECRET_KEY_FROM_ENV:
        errors.append(
            Warning(
                "SECRET_KEY is not set: this checkout generated its own in var/secret-key.",
                hint="Set SECRET_KEY in the environment, the same for every web process "
                "and worker.",
                id="arcticnews.W001",
            )
        )
    if settings.FEEDS_ALLOW_PRIVATE_ADDRESSES:
        errors.append(
            Warning(
                "FEEDS_ALLOW_PRIVATE_ADDRESSES is on: feeds may reach internal addresses.",
                hint="Only tests and the offline demo need it.",
                id="arcticnews.W002",
            )
        )
    return errors
