"""The related box's candidate index, on PostgreSQL only: each visible story's search vector
with one more lexeme, its week (``related_week``), so the candidate query finds the stories
of a few weeks that share the story's words without a bitmap of every such story in the
archive (feeds.related.candidates.WEEKS_VECTOR)."""

from django.db import migrations

# Weeks since 1970 as a lexeme ("~w2970"). IMMUTABLE: an instant's epoch does not depend on
# the time zone, so the value never changes for a row (the index needs that).
FUNCTION = """
CREATE OR REPLACE FUNCTION related_week(ts timestamptz) RETURNS tsvector
IMMUTABLE PARALLEL SAFE LANGUAGE sql AS $$
    SELECT array_to_tsvector(ARRAY['~w' || floor(extract(epoch FROM ts) / 604800)::bigint::text])
$$
"""
INDEX = """
CREATE INDEX IF NOT EXISTS story_related_idx ON feeds_story
USING gin ((search_vector || related_week(published_at)))
WHERE canonical_id IS NULL AND NOT is_hidden
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    schema_editor.execute(INDEX)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS story_related_idx")
    schema_editor.execute("DROP FUNCTION IF EXISTS related_week(timestamptz)")


class Migration(migrations.Migration):
    dependencies = [("feeds", "0020_entities")]
    operations = [migrations.RunPython(forwards, backwards)]
