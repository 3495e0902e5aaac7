"""The embedded default's page-cache counters on the file cache (``arcticnews.cache``): after
a fetch, bumping every listing it changed counts the cache directory once, not once per
listing, and another process (another cache object on the same directory) sees every new
value on its next read."""

from __future__ import annotations

import pytest
from django.core.cache.backends.filebased import FileBasedCache as DjangoFileBasedCache

from arcticnews.cache import FileBasedCache
from feeds import generation


@pytest.fixture
def file_caches(tmp_path, monkeypatch):
    """Two caches on one directory, as the web worker and the ingest worker have; the
    counters are written through the first (what ``generation`` uses)."""
    writer = FileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 50}})
    reader = FileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 50}})
    monkeypatch.setattr(generation, "cache", writer)
    return writer, reader


def _count_scans(cache, monkeypatch) -> list[int]:
    scans: list[int] = []
    original = DjangoFileBasedCache._list_cache_files

    def counting(self):
        files = original(self)
        scans.append(len(files))
        return files

    monkeypatch.setattr(DjangoFileBasedCache, "_list_cache_files", counting)
    return scans


def test_bumping_many_listings_scans_the_directory_once_and_others_see_it(file_caches, monkeypatch):
    writer, reader = file_caches
    listed_on = {"country": {"norway", "finland"}, "topic": {"energy"}, "story": set(range(30))}
    keys = generation.watched(generation.listing_scopes(listed_on))
    before = generation.versions(reader.get_many(keys), keys)
    assert before is not None

    scans = _count_scans(writer, monkeypatch)
    bumped = generation.bump_listings(listed_on)

    assert len(bumped) == 1 + 2 + 1 + 30  # latest, two countries, a topic, 30 stories
    assert len(scans) == 1  # not one directory listing per counter
    after = generation.versions(reader.get_many(keys), keys)
    assert after is not None
    assert after[0] == before[0]  # the global generation is left alone
    assert all(new != old for new, old in zip(after[1:], before[1:], strict=True))
    # A second bump gives values neither bump wrote before.
    generation.bump_listings(listed_on)
    again = generation.versions(reader.get_many(keys), keys)
    assert again is not None and all(a != b for a, b in zip(again[1:], after[1:], strict=True))


def test_a_batch_still_culls_a_full_cache(file_caches):
    writer, _ = file_caches
    writer.set_many({f"page:{n}": n for n in range(60)})  # over MAX_ENTRIES (50)
    assert len(writer._list_cache_files()) == 60  # culled before the batch, not within it
    writer.set_many({f"more:{n}": n for n in range(5)})  # culls first: a third goes
    assert len(writer._list_cache_files()) < 60
    assert all(writer.get(f"more:{n}") == n for n in range(5))
