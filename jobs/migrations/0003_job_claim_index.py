from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_progress_estimated_start")]

    operations = [
        migrations.AddIndex(
            model_name="generationjob",
            index=models.Index(fields=["status", "queued_at"], name="job_claim"),
        ),
    ]
