from __future__ import annotations

from django.db import models
from django.utils import timezone
from django_mongodb_backend.fields import ObjectIdField


class ProgressEvent(models.Model):
    """The append-only event log (`progress_events`): the source of SSE ids and of every replay.

    `job_id` holds a GenerationJob's id, or a BulkJob's id for a batch's own events (`scope`).
    """

    class Type(models.TextChoices):
        PROGRESS = "progress", "Progress"
        COMPLETE = "complete", "Complete"

    job_id = ObjectIdField()
    scope = models.CharField(max_length=8, default="job")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=16, choices=Type.choices)
    data = models.JSONField()
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "progress_events"
        ordering = ("job_id", "seq")
        # The unique (job_id, seq) index is created by migration 0002 with pymongo: Django's
        # UniqueConstraint becomes a partial index here (only documents whose seq is stored as a
        # 64-bit long), which would let two writers store the same seq.

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.type}"
