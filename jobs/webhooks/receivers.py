"""Turns job and batch endings into webhook deliveries, with the resource as the API returns it."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from jobs.api.serializers import JobOutputSerializer, bulk_resource
from jobs.core import signals
from jobs.models import BulkJob, GenerationJob, WebhookEvent
from jobs.webhooks import services

JOB_EVENTS: dict[str, str] = {
    GenerationJob.Status.COMPLETED: WebhookEvent.JOB_COMPLETED,
    GenerationJob.Status.FAILED: WebhookEvent.JOB_FAILED,
    GenerationJob.Status.CANCELLED: WebhookEvent.JOB_CANCELLED,
}


@receiver(signals.job_finished)
def job_finished(*, job: GenerationJob, **kwargs: Any) -> None:
    event_type = JOB_EVENTS.get(job.status)
    if event_type is None:
        return

    def resource() -> dict[str, Any]:
        # Read back: the stored document is what `GET /api/jobs/<id>/` answers with, to the millisecond.
        return dict(JobOutputSerializer(GenerationJob.objects.get(pk=job.pk)).data)

    services.event_record(user_id=job.user_id, event_type=event_type, data=resource)


@receiver(signals.bulk_finished)
def bulk_finished(*, bulk: BulkJob, **kwargs: Any) -> None:
    services.event_record(
        user_id=bulk.user_id,
        event_type=WebhookEvent.BULK_COMPLETED,
        data=lambda: bulk_resource(BulkJob.objects.get(pk=bulk.pk)),
    )
