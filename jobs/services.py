"""Business rules of the job lifecycle. Views, consumers and the worker call these, nothing else."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from contentgen import mongo
from contentgen.errors import ApplicationError
from jobs import claiming, payloads
from jobs.bulk import bulk_emit
from jobs.eta import queue_forecast
from jobs.groups import bulk_group, job_group, user_group
from jobs.models import BulkJob, GenerationJob, JobError, Progress, Stage
from jobs.pipeline.stages import STAGE_ORDER, stage_label
from jobs.queue import client, notify_queued
from jobs.validation import JobSpec
from progress.publish import publish, publish_many

QUEUED_MESSAGE = "Queued for generation"


class LeaseLost(Exception):
    """Another worker owns the job now (our lease expired); this attempt must stop touching it."""


def job_groups(job: GenerationJob) -> list[str]:
    groups = [job_group(job.pk), user_group(job.user_id)]
    if job.bulk_job_id:
        groups.append(bulk_group(job.bulk_job_id))
    return groups


def job_emit(*, job: GenerationJob, type: str = "progress", after: int | None = None) -> int:
    data = payloads.complete_event(job) if type == "complete" else payloads.progress_event(job)
    return publish(stream_id=job.pk, scope="job", type=type, data=data, groups=job_groups(job), after=after)


def _new_job(*, user: Any, spec: JobSpec, bulk_job: BulkJob | None = None) -> GenerationJob:
    stamp = timezone.now()
    return GenerationJob(
        user=user,
        bulk_job=bulk_job,
        mode=spec.mode,
        topic=spec.topic,
        keywords=list(spec.keywords),
        source_text=spec.source_text,
        word_count=spec.word_count,
        tone=spec.tone,
        status=GenerationJob.Status.QUEUED,
        progress=Progress(message=QUEUED_MESSAGE),
        queued_at=stamp,
        created_at=stamp,
        updated_at=stamp,
    )


def _forecast(jobs: Sequence[GenerationJob]) -> None:
    """Give newly queued jobs their estimated start and completion (none while no worker runs)."""
    for job, (start, eta, low, high) in zip(jobs, queue_forecast(jobs), strict=False):
        p = job.progress
        p.estimated_start, p.estimated_completion = start, eta
        p.estimated_completion_low, p.estimated_completion_high = low, high


def job_create(*, user: Any, spec: JobSpec) -> GenerationJob:
    job = _new_job(user=user, spec=spec)
    _forecast([job])
    job.save()
    job_emit(job=job, after=0)
    notify_queued()
    return job


def bulk_create(*, user: Any, specs: Sequence[JobSpec]) -> BulkJob:
    if not 1 <= len(specs) <= 500:
        raise ApplicationError(
            "A batch holds 1 to 500 articles.", extra={"items": ["Must hold 1 to 500 jobs."]}
        )
    stamp = timezone.now()
    bulk = BulkJob.objects.create(
        user=user, total=len(specs), count_queued=len(specs), created_at=stamp, updated_at=stamp
    )
    jobs = claiming.spread_queue_times([_new_job(user=user, spec=spec, bulk_job=bulk) for spec in specs])
    _forecast(jobs)
    jobs = GenerationJob.objects.bulk_create(jobs)
    publish_many(
        [
            {"stream_id": job.pk, "scope": "job", "type": "progress", "data": payloads.progress_event(job),
             "groups": job_groups(job), "after": 0}
            for job in jobs
        ]
    )  # fmt: skip
    bulk_emit(bulk=bulk, after=0)
    notify_queued()
    return bulk


# The worker's moves. Each is one conditional update, so two workers can never both win.


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=float(settings.CONTENTGEN_WORKER_LEASE_SECONDS))


def _bulk_move(job: GenerationJob, source: str | None, target: str | None) -> None:
    if not job.bulk_job_id:
        return
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if source:
        changes[f"count_{source}"] = F(f"count_{source}") - 1
    if target:
        changes[f"count_{target}"] = F(f"count_{target}") + 1
    BulkJob.objects.filter(pk=job.bulk_job_id).update(**changes)
    bulk = BulkJob.objects.get(pk=job.bulk_job_id)
    finishing = bulk.finished >= bulk.total and (
        BulkJob.objects.filter(pk=bulk.pk, completed_at=None).update(completed_at=timezone.now()) == 1
    )
    bulk_emit(bulk=bulk, complete=finishing, trigger=job)


def bulk_member_changed(*, job: GenerationJob) -> None:
    """A batch event for a member's stage change, so each article's stage shows live on the batch page."""
    bulk_emit(bulk=BulkJob.objects.get(pk=job.bulk_job_id), trigger=job)


def _give_up(*, pk: Any, stamp: Any) -> bool:
    """Fail an abandoned job whose workers died CONTENTGEN_MAX_ATTEMPTS times. True if this call did it."""
    max_attempts = int(settings.CONTENTGEN_MAX_ATTEMPTS)
    job = GenerationJob.objects.filter(
        pk=pk, status=GenerationJob.Status.PROCESSING, lease_expires_at__lt=stamp, attempts__gte=max_attempts
    ).first()
    if job is None:
        return False
    stage = job.progress.stage if job.progress.stage in STAGE_ORDER else STAGE_ORDER[0]
    job.status = GenerationJob.Status.FAILED
    job.error = JobError(
        message=f"The worker running this job stopped responding {max_attempts} times; giving up. "
        "Check the workers' logs and memory, then retry the job.",
        stage=stage,
        timestamp=stamp,
    )
    p = job.progress
    p.message = f"Failed in the {stage_label(stage)} stage"
    p.completed_at = stamp
    p.estimated_completion = p.estimated_completion_low = p.estimated_completion_high = None
    won = GenerationJob.objects.filter(
        pk=pk, status=GenerationJob.Status.PROCESSING, lease_owner=job.lease_owner, lease_expires_at__lt=stamp
    ).update(
        status=job.status,
        error=job.error,
        progress=p,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=stamp,
    )
    if won != 1:
        return False
    _bulk_move(job, GenerationJob.Status.PROCESSING, job.status)
    seq = job_emit(job=job)
    job_emit(job=job, type="complete", after=seq)
    return True


def job_claim(*, worker_id: str) -> tuple[GenerationJob, bool] | None:
    """Take over a job whose lease expired, else one of the oldest queued. Returns (job, taken_over).

    An expired job that has used up its attempts is failed instead of taken over. Raw conditional updates
    on `_id` plus the expected state (see jobs.claiming for why not the ORM)."""
    stamp = timezone.now()
    for pk in claiming.expired_leases(stamp):
        if _give_up(pk=pk, stamp=stamp):
            continue
        if claiming.take_over(pk=pk, worker_id=worker_id, now=stamp, lease_until=_lease_until()):
            return GenerationJob.objects.get(pk=pk), True
    queued = claiming.window.oldest(stamp)
    # A random pick among the oldest few spreads concurrent claimers over different documents.
    random.shuffle(queued)
    for pk in queued:
        if claiming.take_queued(pk=pk, worker_id=worker_id, now=stamp, lease_until=_lease_until()):
            # By pk alone: select_related("user") joins the whole collection before matching on
            # SecantusDB (1.3 s at 3,000 jobs).
            job = GenerationJob.objects.get(pk=pk)
            _bulk_move(job, GenerationJob.Status.QUEUED, GenerationJob.Status.PROCESSING)
            return job, False
    return None


def job_renew_leases(*, worker_id: str, job_ids: list[Any]) -> set[Any]:
    """Extend our leases; returns the ids we still hold (a missing one was taken over or ended)."""
    if not job_ids:
        return set()
    held = {"_id": {"$in": job_ids}, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}
    jobs = claiming.collection()
    jobs.update_many(held, {"$set": {"lease_expires_at": _lease_until()}})
    return {doc["_id"] for doc in jobs.find(held, {"_id": 1})}


def job_cancel_requested(*, job_ids: list[Any]) -> set[Any]:
    if not job_ids:
        return set()
    return {
        doc["_id"] for doc in claiming.collection().find({"_id": {"$in": job_ids}, "cancel_requested": True})
    }


def job_snapshot_write(*, job_id: Any, worker_id: str, fields: dict[str, Any]) -> bool:
    """A coalesced progress write, only while we hold the lease. False means we lost the job."""
    result = mongo.collection(GenerationJob._meta.db_table).update_one(
        {"_id": job_id, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}, {"$set": fields}
    )
    return result.matched_count == 1


def _held_update(job: GenerationJob, worker_id: str, **changes: Any) -> bool:
    """One conditional update while `worker_id` holds the job's lease, as a raw filter on `_id`: the ORM's
    `$and` of the same conditions makes SecantusDB scan the collection."""
    result = claiming.collection().update_one(
        {"_id": job.pk, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING},
        {"$set": mongo.db_values(GenerationJob, changes)},
    )
    return result.matched_count == 1


def job_finish(*, job: GenerationJob, worker_id: str) -> None:
    """Store the terminal state the tracker put on `job` (completed, failed or cancelled)."""
    won = _held_update(
        job,
        worker_id,
        status=job.status,
        progress=job.progress,
        result=job.result,
        error=job.error,
        stage_outputs=job.stage_outputs,
        stage_timings=job.stage_timings,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if not won:
        raise LeaseLost(f"job {job.pk} is no longer held by {worker_id}")
    _bulk_move(job, GenerationJob.Status.PROCESSING, job.status)


def job_release(*, job: GenerationJob, worker_id: str, message: str) -> bool:
    """Hand a running job back to the queue (worker shutdown): progress and stage outputs are kept."""
    job.progress.message = message
    won = _held_update(
        job,
        worker_id,
        status=GenerationJob.Status.QUEUED,
        lease_owner=None,
        lease_expires_at=None,
        progress=job.progress,
        queued_at=job.queued_at,
        updated_at=timezone.now(),
    )
    if not won:
        return False
    job.status = GenerationJob.Status.QUEUED
    _bulk_move(job, GenerationJob.Status.PROCESSING, GenerationJob.Status.QUEUED)
    notify_queued()
    return True


CANCEL_CHANNEL = "contentgen:cancel"


def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Queued: cancelled at once. Processing: the worker holding it stops at its next step."""
    stamp = timezone.now()
    if job.status == GenerationJob.Status.QUEUED:
        job.progress.message = "Cancelled"
        job.progress.completed_at = stamp
        job.progress.estimated_completion = None
        job.progress.estimated_completion_low = job.progress.estimated_completion_high = None
        won = GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.QUEUED).update(
            status=GenerationJob.Status.CANCELLED, progress=job.progress, updated_at=stamp
        )
        if won == 1:
            job.status = GenerationJob.Status.CANCELLED
            _bulk_move(job, GenerationJob.Status.QUEUED, GenerationJob.Status.CANCELLED)
            seq = job_emit(job=job)
            job_emit(job=job, type="complete", after=seq)
            return job
        job.refresh_from_db()
    if job.status == GenerationJob.Status.PROCESSING:
        GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.PROCESSING).update(
            cancel_requested=True, updated_at=stamp
        )
        with contextlib.suppress(redis.RedisError):
            client().publish(CANCEL_CHANNEL, str(job.pk).encode())
        job.cancel_requested = True
        return job
    raise ApplicationError(f"This job is already {job.status}; there is nothing to cancel.", status=409)


RETRYABLE = frozenset({GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED})


def job_retry(*, job: GenerationJob) -> GenerationJob:
    """A failed or cancelled job goes back to the queue, keeping the stages it had finished."""
    if job.status not in RETRYABLE:
        raise ApplicationError(
            f"Only failed or cancelled jobs can be retried; this one is {job.status}.", status=409
        )
    previous = job.status
    stamp = timezone.now()
    keep = Progress(
        percentage=0,
        stage=Stage.QUEUED,
        message="Queued again (retry)",
        started_at=None,
    )
    won = GenerationJob.objects.filter(pk=job.pk, status=previous).update(
        status=GenerationJob.Status.QUEUED,
        progress=keep,
        result=None,
        error=None,
        attempts=0,
        cancel_requested=False,
        lease_owner=None,
        lease_expires_at=None,
        queued_at=stamp,
        updated_at=stamp,
    )
    if won != 1:
        raise ApplicationError("This job changed meanwhile; reload and try again.", status=409)
    job.refresh_from_db()
    _bulk_move(job, previous, GenerationJob.Status.QUEUED)
    job_emit(job=job)
    notify_queued()
    return job
