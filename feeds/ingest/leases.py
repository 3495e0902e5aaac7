"""Claiming a feed for one fetch: a short lease taken with one conditional UPDATE, a limit
of concurrent fetches per host across every worker, and the feed's fetch-state writes that
may skip waiting for the disk.

Imports the models and ``adaptations.django_rows``; nothing of the other ingest stages.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field, Q
from django.utils import timezone

from feeds.columns import column_name
from feeds.ingest.adaptations import django_rows
from feeds.models import Feed

logger = logging.getLogger(__name__)


def claim(feed_id: int, *, force: bool = False, now: datetime | None = None) -> Feed | None:
    """Take a short lease on a feed with one conditional UPDATE … RETURNING: the claimed feed,
    or None if someone else has it, it is not due (unless ``force``), or its host is busy.

    Duplicate task deliveries and two beats firing at once are harmless: only one claim wins,
    and a lease that outlives a killed worker simply expires. The row comes back with the
    claim because a 304 re-poll is little more than this and one more UPDATE.

    A host is busy while ``FEEDS_FETCHES_PER_HOST`` of its feeds hold a lease, counted across
    every worker (see ``_host_limit``). A feed skipped for that stays due, and the next beat
    enqueues it again.

    Each claim counts a run that has not finished yet (``Feed.unfinished_runs``; any recorded
    outcome clears it), committed before any work starts. A feed whose runs were claimed
    ``FEEDS_QUARANTINE_AFTER`` times without ever finishing kills its worker (out of memory,
    a crash): it is quarantined instead of claimed again (threats.md R7).
    """
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.FEEDS_LEASE_SECONDS)
    # The connection once, not through the proxy at every use: a 304 poll is short.
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        cursor.execute(
            relaxed_prefix(db) + _claim_sql(db.ops, force),
            {
                "lease": db.ops.adapt_datetimefield_value(lease),
                "id": feed_id,
                "now": db.ops.adapt_datetimefield_value(now),
                "per_host": settings.FEEDS_FETCHES_PER_HOST,
                "unfinished": settings.FEEDS_QUARANTINE_AFTER,
            },
        )
        row = cursor.fetchone()
    if row is None:
        _quarantine_if_poisoned(feed_id, now)
        return None
    if django_rows.available():
        return django_rows.row_reader(db.ops).feed(row)
    return Feed.objects.get(pk=row[0])


@functools.lru_cache(maxsize=32)
def _claim_sql(ops: BaseDatabaseOperations, force: bool) -> str:
    table = ops.quote_name(Feed._meta.db_table)
    due = "" if force else "AND next_fetch_at <= %(now)s"
    lock, host_free = _host_limit(ops.connection, table)
    return (
        f"{lock}UPDATE {table} SET lease_until = %(lease)s, "
        f"unfinished_runs = unfinished_runs + 1 "
        f"WHERE id = %(id)s AND is_active AND (lease_until IS NULL OR lease_until < %(now)s) "
        f"AND unfinished_runs < %(unfinished)s {due} {host_free} "
        f"RETURNING {_returned_columns(ops)}"
    )


def _quarantine_if_poisoned(feed_id: int, now: datetime) -> None:
    """Deactivate the feed, with the reason shown to editors, if its last runs never finished.

    Only reached when a claim fails (rare): one UPDATE that changes nothing for a feed that is
    merely leased, not due, or waiting for its host.
    """
    runs = settings.FEEDS_QUARANTINE_AFTER
    reason = (
        f"quarantined at {now:%Y-%m-%d %H:%M} UTC: {runs} runs in a row never finished "
        "(the worker was killed or crashed); re-activate to try again"
    )
    quarantined = (
        Feed.objects.filter(pk=feed_id, is_active=True, unfinished_runs__gte=runs)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(is_active=False, deactivated_reason=reason, lease_until=None)
    )
    if quarantined:
        logger.error("feed %s %s", feed_id, reason)


def _returned_columns(ops: BaseDatabaseOperations) -> str:
    if django_rows.available():
        return django_rows.row_reader(ops).columns
    return ops.quote_name(column_name(Feed._meta.pk))


# The host of a feed URL, in SQL: scheme, optional userinfo, then a name or an [IPv6] literal.
_HOST_SQL = (
    r"lower(substring({} from '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]/]*\]|[^/:?#]*)'))"
)
# The first key of our advisory locks: a namespace, so that no other user of advisory locks
# in the same database can collide with a host's hash.
_HOST_LOCK_CLASS = 0x4E455753  # "NEWS"


def _host_limit(db: BaseDatabaseWrapper, table: str) -> tuple[str, str]:
    """SQL that makes a claim wait its turn for the host and fail while the host is busy:
    a statement to run before the UPDATE, and a condition for its WHERE clause.

    Each worker process fetches one feed at a time, so the per-process slots in ``fetching``
    do not bound what many workers send one host; the leases in PostgreSQL do. The advisory
    lock lasts only for the claim's own transaction: it serialises the count and the lease of
    claims for one host, so two workers cannot both take the last slot. On SQLite (the
    embedded default runs one task at a time) there is no limit to enforce.
    """
    if db.vendor != "postgresql":
        return "", ""
    lock = (
        f"SELECT pg_advisory_xact_lock({_HOST_LOCK_CLASS}, hashtext({_HOST_SQL.format('url')})) "
        f"FROM {table} WHERE id = %(id)s; "
    )
    busy = (
        f"AND (SELECT count(*) FROM {table} busy WHERE busy.lease_until >= %(now)s "
        f"AND {_HOST_SQL.format('busy.url')} = {_HOST_SQL.format(f'{table}.url')}) < %(per_host)s"
    )
    return lock, busy


def relaxed_prefix(db: BaseDatabaseWrapper) -> str:
    """A statement prefix that skips waiting for the WAL flush when this statement commits
    on its own (PostgreSQL, autocommit).

    For the claim and a 304's fetch state, losing the write in a database crash only means the
    feed is fetched again, so waiting for a disk flush after each of them (two per 304 poll)
    buys nothing. Several statements sent in one go run as one implicit transaction, so
    SET LOCAL covers exactly the statement that follows. Inside a caller's transaction nothing
    is relaxed: that commit is not ours to weaken.
    """
    if db.vendor == "postgresql" and not db.in_atomic_block:
        return "SET LOCAL synchronous_commit TO OFF; "
    return ""


def update_feed(feed_id: int, **values: object) -> None:
    """``Feed.objects.filter(pk=…).update(…)`` with the commit relaxed as in ``relaxed_prefix``."""
    db = connections[DEFAULT_DB_ALIAS]
    prefix = relaxed_prefix(db)
    if not prefix:
        Feed.objects.filter(pk=feed_id).update(**values)
        return
    sql, fields = _feed_update(tuple(values))
    params = [f.get_db_prep_save(values[f.name], db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(prefix + sql, [*params, feed_id])


def _concrete(name: str) -> Field[Any, Any]:
    field = Feed._meta.get_field(name)
    assert isinstance(field, Field)  # Feed has no reverse relation of that name
    return field


@functools.lru_cache(maxsize=64)
def _feed_update(names: tuple[str, ...]) -> tuple[str, list[Field[Any, Any]]]:
    """The UPDATE of these Feed fields by id, and the fields: a 304 poll sends the same one."""
    fields = [_concrete(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column_name(f))} = %s" for f in fields)
    return f"UPDATE {quote(Feed._meta.db_table)} SET {assignments} WHERE id = %s", fields


def release(feed_id: int) -> None:
    Feed.objects.filter(pk=feed_id).update(lease_until=None)
