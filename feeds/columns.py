"""Fitting values to their columns: the widths come from the model fields, in one place.

PostgreSQL refuses a value longer than its column, and one refused value would roll back a
whole feed's transaction (SQLite stores it, which hides the problem). Writers of feed data
pass their values through ``fit`` first: a required value that does not fit rejects its
record alone (``TooLong``); an optional one is dropped (a URL, which a cut would break) or
cut (text), and the reason is returned to be recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

from django.db import models


class TooLong(ValueError):
    """A required value longer than its column."""


def column_name(field: models.Field[Any, Any]) -> str:
    """The database column of a concrete field (only relations' reverse sides have none)."""
    name = field.column
    assert name is not None, field
    return name


@functools.cache
def width(model: type[models.Model], name: str) -> int | None:
    """The ``max_length`` of a model field (``None`` when it has none)."""
    return getattr(model._meta.get_field(name), "max_length", None)


def max_length(model: type[models.Model], name: str) -> int:
    """The width of a text column: where a parser caps what it hands on for that column."""
    limit = width(model, name)
    if limit is None:
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return limit


@functools.cache
def _is_url(model: type[models.Model], name: str) -> bool:
    return isinstance(model._meta.get_field(name), models.URLField)


def cut(model: type[models.Model], name: str, value: str) -> str:
    """``value`` cut to its column: for our own texts (statuses, reasons), never for links."""
    limit = width(model, name)
    return value if limit is None else value[:limit]


def fit(
    model: type[models.Model],
    values: Mapping[str, object],
    *,
    required: Collection[str] = (),
    exact: Collection[str] = (),
) -> tuple[dict[str, object], list[str]]:
    """``values`` with every string fitting its column, and what was changed and why.

    Raises ``TooLong`` if a ``required`` value does not fit. URLs, and the values named in
    ``exact`` (identifiers such as an ETag), are dropped rather than cut.
    """
    out = dict(values)
    reasons: list[str] = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        limit = width(model, name)
        if limit is None or len(value) <= limit:
            continue
        if name in required:
            raise TooLong(f"{name} has {len(value)} characters, the limit is {limit}")
        if name in exact or _is_url(model, name):
            out[name] = ""
            reasons.append(f"{name} dropped: {len(value)} characters, the limit is {limit}")
        else:
            out[name] = value[:limit]
            reasons.append(f"{name} cut from {len(value)} to {limit} characters")
    return out, reasons
