"""ANALYZE the story table after migration 0021 built ``story_related_idx`` on an expression.

PostgreSQL keeps no statistics for an expression index until the table is analysed; on a big
existing archive the planner then guesses the selectivity of the related box's week-bounded
search and may read the window's stories instead of the index until autovacuum gets round to
it. PostgreSQL only (SQLite has no such index)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ANALYZE feeds_story")


class Migration(migrations.Migration):
    dependencies = [("feeds", "0021_related_week_index")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
