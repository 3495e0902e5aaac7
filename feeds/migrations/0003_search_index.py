"""Full-text and trigram indexes, on PostgreSQL only (SQLite uses a plain fallback)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS story_search_idx ON feeds_story USING gin (search_vector)"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS story_title_trgm_idx "
        "ON feeds_story USING gin (title gin_trgm_ops)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS story_search_idx")
    schema_editor.execute("DROP INDEX IF EXISTS story_title_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("feeds", "0002_vocabularies")]
    operations = [migrations.RunPython(forwards, backwards)]
