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
    if settings.REDIS_URL and settings.CACHE_REDIS_URL == settings.CELERY_BROKER_URL:
        errors.append(
            Warning(
                "The page cache and the Celery broker share one Redis database.",
                hint="Set CACHE_REDIS_URL to another database (redis://host:6379/1) and run "
                "Redis with maxmemory-policy volatile-lru, so evictions take cache entries "
                "only (README, 'Deploying').",
                id="arcticnews.W003",
            )
        )
    if not settings.METRICS_TOKEN:
        errors.append(
            Warning(
                "METRICS_TOKEN is not set: /metrics is off.",
                hint="Set a long random METRICS_TOKEN and give it to Prometheus.",
                id="arcticnews.W004",
            )
        )
    return errors
