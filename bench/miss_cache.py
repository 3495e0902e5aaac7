"""The uncached server's cache (``ceiling_settings_uncached``): Redis, whose stored pages are
never found and never written, so every request is a page-cache miss and nothing else changes."""

from __future__ import annotations

from typing import Any

from django_redis.cache import RedisCache

from feeds.web.caching import entry_key

# Every stored page's key starts so (``feeds.web.caching.entry_key``).
PAGE_PREFIX = entry_key("").rsplit(":", 1)[0] + ":"


def _page(key: str) -> bool:
    return key.startswith(PAGE_PREFIX)


class MissingPages(RedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None, **kwargs: Any) -> Any:
        return default if _page(key) else super().get(key, default, version, **kwargs)

    def get_many(self, keys: Any, version: int | None = None, **kwargs: Any) -> dict:
        return super().get_many([k for k in keys if not _page(k)], version, **kwargs)

    def set(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        return None if _page(key) else super().set(key, value, *args, **kwargs)
