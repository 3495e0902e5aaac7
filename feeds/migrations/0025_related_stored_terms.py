"""The related box's stored terms and profiles (issue 20: one box under 50 ms at 1,000,000
stories): ``Story.related_terms`` (the single terms of a story's headline-and-lead profile, as
a small weighted tsvector) and ``Story.related_profile`` (the profile's weights and themes),
written for every story here, then the candidate index over the terms and their week,
``story_related_terms_idx``, in place of 0021's over the whole search vector
(``story_related_idx``, which nothing reads any more; dropped first, so that the rewrite
below does not enter every row's hundred lexemes in it again).

Not atomic: the stories are rewritten a few thousand per transaction, newest first
(``feeds.related.candidates.refresh_stored``, which ``manage.py refresh_related_terms`` also
runs), and the index is built once they all have terms. The table stays readable and
writable throughout; a story stored meanwhile by a worker already running this code gets its
terms from ingest (one stored by a worker still running the code before has none: run
``manage.py refresh_related_terms`` once every worker runs this code). Measured on a
2-core machine shared with other engineers (load average 6-8): 1 min 55 s at 100,000
stories, 19 min at 1,000,000 (2.5 min of it Python, the rest rewriting rows and their index
entries; the index itself builds in 17 s). Every row gets a new version, so the table and its
indexes grow to about twice their size on disk (1.9 to 3.6 GB of heap at 1,000,000 stories
after VACUUM): the space is reused by later writes, or given back by ``VACUUM FULL`` (which
locks the table) or pg_repack. On PostgreSQL only: SQLite reads neither column.
"""

import django.contrib.postgres.search
from django.db import migrations, models

INDEX = """
CREATE INDEX IF NOT EXISTS story_related_terms_idx ON feeds_story
USING gin ((related_terms || related_week(published_at)))
WHERE canonical_id IS NULL AND NOT is_hidden
"""
# 0021's, put back when this migration is reversed.
OLD_INDEX = """
CREATE INDEX IF NOT EXISTS story_related_idx ON feeds_story
USING gin ((search_vector || related_week(published_at)))
WHERE canonical_id IS NULL AND NOT is_hidden
"""


def unindex_search_vector(apps, schema_editor):
    # First: every row is rewritten below, and each new row version would be entered in
    # this GIN index too (a hundred lexemes a story) only to be dropped afterwards.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS story_related_idx")


def reindex_search_vector(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_INDEX)


def fill(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The code that writes the columns at ingest, so both give the same profile.
    from feeds.related.candidates import refresh_stored

    refresh_stored()


def index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(INDEX)
    # An expression index has no statistics until the table is analysed (as in 0022).
    schema_editor.execute("ANALYZE feeds_story")


def unindex(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS story_related_terms_idx")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("feeds", "0024_storyline_listed_index")]
    operations = [
        migrations.AddField(
            model_name="story",
            name="related_profile",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="story",
            name="related_terms",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(unindex_search_vector, reindex_search_vector),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(index, unindex),
    ]
