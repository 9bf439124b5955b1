"""A batch's own event stream: X of Y done, the combined percentage and each article in flight."""

from __future__ import annotations

from typing import Any

from jobs.core.eta import estimate_bulk_completion
from jobs.core.events import job_summary
from jobs.core.groups import bulk_group, user_group
from jobs.models import BulkJob, GenerationJob
from progress.events import isoformat, now
from progress.publish import publish

CURRENT_LIMIT = 50


def bulk_snapshot(bulk: BulkJob) -> dict[str, Any]:
    in_flight = list(
        GenerationJob.objects.filter(bulk_job=bulk, status=GenerationJob.Status.PROCESSING).order_by(
            "created_at"
        )[:CURRENT_LIMIT]
    )
    fraction = sum(job.progress.percentage for job in in_flight) / 100.0
    percentage = 100.0 if bulk.total == 0 else min(100.0, (bulk.finished + fraction) * 100.0 / bulk.total)
    if bulk.finished < bulk.total:
        percentage = min(percentage, 99.9)
    eta = bulk_eta(bulk, in_flight)
    return {
        "bulk_job_id": str(bulk.pk),
        "total": bulk.total,
        "counts": bulk.counts,
        "finished": bulk.finished,
        "percentage": round(percentage, 1),
        "estimated_completion": isoformat(eta),
        "current": [
            {"job_id": str(job.pk), "stage": job.progress.stage, "percentage": job.progress.percentage}
            for job in in_flight
        ],
        "timestamp": isoformat(now()),
    }


def bulk_eta(bulk: BulkJob, in_flight: list[GenerationJob]) -> Any:
    if bulk.finished >= bulk.total:
        return None
    return estimate_bulk_completion(bulk=bulk, in_flight=in_flight)


def bulk_emit(
    *,
    bulk: BulkJob,
    complete: bool = False,
    after: int | None = None,
    trigger: Any = None,
    progress: bool = True,
) -> int:
    """A batch progress event, and its `complete` once (the caller won the batch's completed_at);
    `progress=False` sends the `complete` alone."""
    data = bulk_snapshot(bulk)
    if trigger is not None:
        data["job"] = job_summary(trigger)
    if complete:
        data["percentage"] = 100.0
        data["status"] = "completed"
    groups = [bulk_group(bulk.pk), user_group(bulk.user_id)]
    seq = after
    if progress:
        seq = publish(stream_id=bulk.pk, scope="bulk", type="progress", data=data, groups=groups, after=after)
    if complete:
        seq = publish(stream_id=bulk.pk, scope="bulk", type="complete", data=data, groups=groups, after=seq)
    return int(seq or 0)
