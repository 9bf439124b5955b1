"""Business rules of the job lifecycle. Views, consumers and the worker call these, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from contentgen.errors import ApplicationError
from jobs.models import BulkJob, GenerationJob, Progress
from jobs.validation import JobSpec
from progress import payloads
from progress.publish import bulk_group, job_group, publish, user_group

QUEUED_MESSAGE = "Queued for generation"


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


def job_create(*, user: AbstractBaseUser, spec: JobSpec) -> GenerationJob:
    job = _new_job(user=user, spec=spec)
    job.save()
    job_emit(job=job, after=0)
    from jobs.queue import notify_queued

    notify_queued()
    return job


def bulk_create(*, user: AbstractBaseUser, specs: Sequence[JobSpec]) -> BulkJob:
    if not 1 <= len(specs) <= 500:
        raise ApplicationError("A batch holds 1 to 500 articles.", extra={"items": ["Must hold 1 to 500 jobs."]})
    stamp = timezone.now()
    bulk = BulkJob.objects.create(
        user=user, total=len(specs), count_queued=len(specs), created_at=stamp, updated_at=stamp
    )
    jobs = GenerationJob.objects.bulk_create([_new_job(user=user, spec=spec, bulk_job=bulk) for spec in specs])
    for job in jobs:
        job_emit(job=job, after=0)
    from progress.bulk import bulk_emit

    bulk_emit(bulk=bulk, after=0)
    from jobs.queue import notify_queued

    notify_queued()
    return bulk

