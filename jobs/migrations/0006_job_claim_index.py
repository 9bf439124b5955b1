from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0005_remove_bulkjob_ended_published")]

    operations = [
        migrations.AddIndex(
            model_name="generationjob",
            index=models.Index(fields=["status", "queued_at"], name="job_claim"),
        ),
    ]
