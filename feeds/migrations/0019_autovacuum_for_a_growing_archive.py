"""Autovacuum and statistics that keep up with tables that only grow (README, "Scaling out").

PostgreSQL's defaults wait for 20 % new rows before an insert-driven vacuum and 10 % changed
rows before an analyse: at 1,000,000 stories, 200,000 and 100,000 stories. Until then the
planner's statistics miss the newest stories (the ones every page reads) and the visibility
map misses their pages, so the tag tables' index-only scans visit the heap. The pages' plans
(docs/performance.md) were measured on freshly analysed tables; these keep a live archive
close to that. PostgreSQL only; a no-op elsewhere.
"""

from django.db import migrations

SETTINGS = {
    "feeds_story": {
        "autovacuum_vacuum_insert_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_vacuum_scale_factor": "0.05",
    },
    "feeds_storycountry": {
        "autovacuum_vacuum_insert_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "feeds_storytopic": {
        "autovacuum_vacuum_insert_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.02",
    },
    "feeds_relatedslot": {"autovacuum_analyze_scale_factor": "0.05"},
}


def _apply(reset):
    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        for table, options in SETTINGS.items():
            if reset:
                sql = f"ALTER TABLE {quote(table)} RESET ({', '.join(options)})"
            else:
                pairs = ", ".join(f"{name} = {value}" for name, value in options.items())
                sql = f"ALTER TABLE {quote(table)} SET ({pairs})"
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("feeds", "0018_story_roundup_recent_idx")]

    operations = [migrations.RunPython(_apply(reset=False), _apply(reset=True))]
