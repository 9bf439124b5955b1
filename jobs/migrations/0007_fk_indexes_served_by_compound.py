# The foreign keys' single-field indexes go: the compound indexes that start with the same field
# (job_user_created, job_bulk, bulk_user_created) serve every lookup they served, and each index costs
# every write of the collection (a claim's update on SecantusDB: about 0.1-0.3 ms per index).
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_job_claim_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="bulkjob",
            name="user",
            field=models.ForeignKey(
                db_column="userId",
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="bulk_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="generationjob",
            name="bulk_job",
            field=models.ForeignKey(
                blank=True,
                db_column="bulk_job_id",
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="jobs",
                to="jobs.bulkjob",
            ),
        ),
        migrations.AlterField(
            model_name="generationjob",
            name="user",
            field=models.ForeignKey(
                db_column="userId",
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="generation_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
