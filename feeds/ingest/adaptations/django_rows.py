"""Feeds from the rows of our own ``UPDATE … RETURNING``, as a queryset would build them.

``Feed.objects.raw()`` does the same through Django's public API, but works out the
columns, their fields and their converters again for every query: that was a fifth of a
304 poll's Python time. This reader does that once per connection, using the parts of the
ORM a compiler uses (``get_db_converters``, ``Model.from_db``), which are not public API:
``TESTED`` pins the Django versions it was checked against, and without it (another version,
or ``FEEDS_LIBRARY_ADAPTATIONS`` off) ``leases`` reads the claimed row with a plain query.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations

from feeds.columns import column_name
from feeds.ingest.adaptations import enabled
from feeds.models import Feed

TESTED = ("5.2.",)


@functools.cache
def available() -> bool:
    return enabled("django", TESTED)


@dataclass(frozen=True)
class RowReader:
    """Turns a row of every Feed column (in ``columns`` order) into a Feed."""

    connection: BaseDatabaseWrapper
    columns: str
    attnames: list[str]
    converters: list[tuple[int, list[Callable[..., Any]], Any]]

    def feed(self, row: Sequence[object]) -> Feed:
        values = list(row)
        for i, functions, expression in self.converters:
            for convert in functions:
                values[i] = convert(values[i], expression, self.connection)
        return Feed.from_db(self.connection.alias, self.attnames, values)


@functools.lru_cache(maxsize=16)
def row_reader(ops: BaseDatabaseOperations) -> RowReader:
    """One reader per database connection (each thread has its own): converters such as
    SQLite's datetime parsing are methods of that connection's operations."""
    db = ops.connection
    fields = Feed._meta.concrete_fields
    converters: list[tuple[int, list[Callable[..., Any]], Any]] = []
    for i, f in enumerate(fields):
        column = f.get_col(Feed._meta.db_table)
        functions = ops.get_db_converters(column) + f.get_db_converters(db)
        if functions:
            converters.append((i, functions, column))
    return RowReader(
        connection=db,
        columns=", ".join(ops.quote_name(column_name(f)) for f in fields),
        attnames=[f.attname for f in fields],
        converters=converters,
    )
