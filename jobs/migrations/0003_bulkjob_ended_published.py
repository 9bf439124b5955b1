from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import F


def count_ended(apps: Any, schema_editor: Any) -> None:
    bulk_job = apps.get_model("jobs", "BulkJob")
    bulk_job.objects.update(ended_published=F("count_completed") + F("count_failed") + F("count_cancelled"))


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_progress_estimated_start")]

    operations = [
        migrations.AddField(model_name="bulkjob", name="ended_published", field=models.IntegerField(default=0)),
        migrations.RunPython(count_ended, migrations.RunPython.noop),
    ]
