"""/metrics in Prometheus format: django-prometheus's request metrics plus the aggregator's own.

The aggregator's numbers are read from the database and the broker when Prometheus scrapes,
so every web process answers the same whatever process did the work, in a fixed number of
queries. Request and database counters live in each process; under gunicorn
(arcticnews/gunicorn_config.py sets ``PROMETHEUS_MULTIPROC_DIR``) every worker writes them to
files there and a scrape adds up all the workers' (prometheus_client's multiprocess mode).
The endpoint needs ``Authorization: Bearer $METRICS_TOKEN``; without a token set it
does not exist (404).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from kombu.exceptions import ChannelError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from feeds.models import Feed, FetchLog, Story

WINDOW = timedelta(hours=1)


def queue_length() -> int:
    """Messages waiting in the default Celery queue (Redis list or filesystem folder)."""
    from arcticnews.celery import app

    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        try:
            declared = conn.default_channel.queue_declare(
                queue=app.conf.task_default_queue, passive=True
            )
        except ChannelError:  # Redis drops an empty queue's list: nothing waits
            return 0
        return int(declared.message_count)


class AggregatorCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        # Without describe(), registering would call collect(): queries at import time.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        since = now - WINDOW
        overdue_before = now - timedelta(seconds=2 * settings.FEEDS_POLL_SECONDS)
        feeds = Feed.objects.active().aggregate(
            active=Count("id"),
            due=Count("id", filter=Q(next_fetch_at__lte=now)),
            overdue=Count("id", filter=Q(next_fetch_at__lte=overdue_before)),
            fetched=Count("id", filter=Q(last_fetched_at__gte=since)),
            not_modified=Count(
                "id", filter=Q(last_fetched_at__gte=since, last_status__startswith="304")
            ),
        )
        # The offline demo's sample-loaded feeds fail by design: they are not "failing".
        feeds["failing"] = Feed.objects.failing().count()
        feeds["sample_loaded"] = Feed.objects.sample_loaded().count()
        for name, help_text in [
            ("active", "Active feeds"),
            ("due", "Active feeds whose next poll time has passed"),
            ("overdue", "Active feeds due for longer than two beat intervals"),
            ("failing", "Active feeds whose last fetch failed (sample-loaded ones excluded)"),
            ("sample_loaded", "Active feeds showing the bundled samples (offline demo)"),
        ]:
            yield GaugeMetricFamily(f"arcticnews_feeds_{name}", help_text, value=feeds[name])
        share = feeds["not_modified"] / feeds["fetched"] if feeds["fetched"] else 0.0
        yield GaugeMetricFamily(
            "arcticnews_feeds_not_modified_ratio",
            "Share of the feeds fetched in the last hour whose last answer was 304",
            value=share,
        )
        logs = FetchLog.objects.filter(started_at__gte=since).aggregate(
            n=Count("id"),
            avg=Avg("duration_ms"),
            max=Max("duration_ms"),
            created=Count("id", filter=Q(created__gt=0)),
        )
        latency = GaugeMetricFamily(
            "arcticnews_fetch_duration_seconds",
            "Feed fetch duration over the last hour (fetches that parsed or failed)",
            labels=["stat"],
        )
        latency.add_metric(["avg"], (logs["avg"] or 0) / 1000)
        latency.add_metric(["max"], (logs["max"] or 0) / 1000)
        yield latency
        yield GaugeMetricFamily(
            "arcticnews_fetches_last_hour", "Fetches logged in the last hour", value=logs["n"]
        )
        stories = Story.objects.aggregate(
            total=Count("id"),
            new=Count("id", filter=Q(first_seen_at__gte=since)),
            pending=Count(
                "id",
                filter=Q(
                    related_suggested_at__isnull=True,
                    related_locked=False,
                    is_hidden=False,
                    canonical__isnull=True,
                ),
            ),
        )
        yield GaugeMetricFamily("arcticnews_stories", "Stories stored", value=stories["total"])
        yield GaugeMetricFamily(
            "arcticnews_stories_ingested_last_hour",
            "Stories first seen in the last hour",
            value=stories["new"],
        )
        yield GaugeMetricFamily(
            "arcticnews_related_boxes_pending",
            "Visible stories still waiting for their related box",
            value=stories["pending"],
        )
        try:
            yield GaugeMetricFamily(
                "arcticnews_queue_length", "Tasks waiting in the broker", value=queue_length()
            )
        except Exception:  # noqa: BLE001  an unreachable broker shows as a missing series
            pass


_COLLECTOR = AggregatorCollector()
REGISTRY.register(_COLLECTOR)


def registry() -> CollectorRegistry:
    """What a scrape reports: this process's metrics, or every gunicorn worker's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    combined = CollectorRegistry()
    MultiProcessCollector(combined)
    # Read from the database at scrape time: once, not once per worker.
    combined.register(_COLLECTOR)
    return combined


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        raise Http404("metrics are off: set METRICS_TOKEN")
    if not hmac.compare_digest(given.encode(), token.encode()):
        response = HttpResponse("a valid bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
    response["X-Robots-Tag"] = "noindex"
    return response
