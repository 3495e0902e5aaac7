"""RelatedGap: the countries a box leaves empty, so a new story of such a country fills the
newest boxes waiting for it (feeds.related.boxes.boxes_affected_by). The boxes of the last
30 days are given their gaps here (a new story can fill a box published up to two weeks before
it); older boxes get theirs when next refreshed."""

from datetime import timedelta

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

# Every country with no line in a recent, visible, unlocked box that was suggested. A line an
# editor cleared is counted too: the first refresh it causes leaves it cleared and drops it.
BACKFILL = """
INSERT INTO feeds_relatedgap (story_id, country_id, published_at)
SELECT s.id, c.id, s.published_at
FROM feeds_story s CROSS JOIN feeds_country c
WHERE s.related_suggested_at IS NOT NULL AND NOT s.related_locked
  AND s.canonical_id IS NULL AND NOT s.is_hidden
  AND s.published_at >= %s
  AND c.id <> COALESCE(s.primary_country_id, 0)
  AND NOT EXISTS (
      SELECT 1 FROM feeds_relatedslot r WHERE r.story_id = s.id AND r.country_id = c.id
  )
"""


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL, [timezone.now() - timedelta(days=30)])


class Migration(migrations.Migration):

    dependencies = [
        ('feeds', '0022_analyze_after_related_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='RelatedGap',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('published_at', models.DateTimeField()),
                ('country', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='feeds.country')),
                ('story', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='feeds.story')),
            ],
            options={
                'indexes': [models.Index(fields=['country', '-published_at'], name='relatedgap_wait_idx')],
                'constraints': [models.UniqueConstraint(fields=('story', 'country'), name='relatedgap_uniq')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
