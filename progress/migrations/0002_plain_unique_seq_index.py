"""Replace the partial unique index Django made for (job_id, seq) with a plain one.

django-mongodb-backend turns a UniqueConstraint into a partial index on documents whose fields have
the expected BSON types (seq as a 64-bit long). Events are written with pymongo, whose ints are 32-bit,
so the partial index neither covered them nor kept their seq unique. The event log relies on that
uniqueness to settle concurrent writers, so the index must cover every document.
"""

from __future__ import annotations

from django.db import migrations


def create_index(apps, schema_editor):
    collection = schema_editor.connection.get_collection("progress_events")
    collection.create_index([("job_id", 1), ("seq", 1)], name="progress_event_seq", unique=True)


def drop_index(apps, schema_editor):
    schema_editor.connection.get_collection("progress_events").drop_index("progress_event_seq")


class Migration(migrations.Migration):
    dependencies = [("progress", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(model_name="progressevent", name="progress_event_seq"),
        migrations.RunPython(create_index, drop_index),
    ]
