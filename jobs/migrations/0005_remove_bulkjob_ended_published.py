from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    """Batch completion is settled inside the transaction that moves a member (services.bulk_settle), so the
    separate count of published endings is no longer needed."""

    dependencies = [("jobs", "0004_webhook_endpoints_and_deliveries")]

    operations = [migrations.RemoveField(model_name="bulkjob", name="ended_published")]
