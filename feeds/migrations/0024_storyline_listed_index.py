"""The storylines the site lists (shown, told by two stories or more), newest first: the
sitemap reads and counts them on this index instead of scanning every storyline (most are one
story's, each with its profile)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feeds", "0023_related_gaps"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="storyline",
            index=models.Index(
                condition=models.Q(
                    ("hidden", False), ("merged_into__isnull", True), ("story_count__gte", 2)
                ),
                fields=["-last_published_at", "-id"],
                name="storyline_listed_idx",
            ),
        ),
    ]
