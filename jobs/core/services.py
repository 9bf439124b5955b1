"""The user's actions on jobs and batches: create, cancel, retry. Views, the API, the CLI and the admin
call these, and nothing else moves a job on a user's behalf. Each checks the current status and raises one
ApplicationError on an illegal move; each move is one conditional update with its event (jobs.core.store,
jobs.core.events), its batch's counters in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from contentgen import mongo
from contentgen.errors import ApplicationError, InvalidInput
from jobs.core import batches, claiming, events, forecast, limits, signals, store, workers
from jobs.core.logs import job_log_context
from jobs.core.validation import JobSpec, parse_batch, parse_job
from jobs.models import BulkJob, GenerationJob, Progress, Source, Stage

logger = logging.getLogger("jobs.services")


QUEUED_MESSAGE = "Queued for generation"


@dataclass(frozen=True)
class ResearchDefaults:
    """What research uses when a job does not say: the knowledge base when the user has ready sources, the
    web when a search is configured. Read once per request, for every job of a batch."""

    knowledge_base: bool
    web: bool

    @classmethod
    def for_user(cls, user: Any) -> ResearchDefaults:
        ready = Source.objects.filter(user=user, status=Source.Status.READY).exists()
        return cls(knowledge_base=ready, web=bool(settings.CONTENTGEN_SEARCH_URL))


def _new_job(
    *, user: Any, spec: JobSpec, defaults: ResearchDefaults, bulk_job: BulkJob | None = None
) -> GenerationJob:
    stamp = timezone.now()
    researching = spec.mode != GenerationJob.Mode.SPIN  # spin mode has no research stage
    use_kb = defaults.knowledge_base if spec.use_knowledge_base is None else spec.use_knowledge_base
    use_web = defaults.web if spec.use_web is None else spec.use_web
    return GenerationJob(
        user=user,
        bulk_job=bulk_job,
        mode=spec.mode,
        topic=spec.topic,
        keywords=list(spec.keywords),
        source_text=spec.source_text,
        word_count=spec.word_count,
        tone=spec.tone,
        use_knowledge_base=researching and use_kb,
        use_web=researching and use_web,
        source_urls=list(spec.source_urls) if researching else [],
        status=GenerationJob.Status.QUEUED,
        progress=Progress(message=QUEUED_MESSAGE),
        queued_at=stamp,
        created_at=stamp,
        updated_at=stamp,
    )


def _forecast(jobs: Sequence[GenerationJob]) -> None:
    """Give newly queued jobs their estimated start and completion (none while no worker runs)."""
    for job, (start, eta, low, high) in zip(jobs, forecast.queue_forecast(jobs), strict=False):
        p = job.progress
        p.estimated_start, p.estimated_completion = start, eta
        p.estimated_completion_low, p.estimated_completion_high = low, high


def job_create(*, user: Any, spec: JobSpec) -> GenerationJob:
    job = _new_job(user=user, spec=spec, defaults=ResearchDefaults.for_user(user))
    _forecast([job])
    job.save()
    events.job_emit(job=job, after=0)
    workers.notify_queued()
    with job_log_context(job):
        logger.info("job %s queued (%s)", job.pk, job.mode)
    return job


def bulk_create(*, user: Any, specs: Sequence[JobSpec], notify_email: bool = False) -> BulkJob:
    if not 1 <= len(specs) <= 500:
        raise ApplicationError(
            "A batch holds 1 to 500 articles.", extra={"items": ["Must hold 1 to 500 jobs."]}
        )
    stamp = timezone.now()
    bulk = BulkJob.objects.create(
        user=user,
        total=len(specs),
        count_queued=len(specs),
        created_at=stamp,
        updated_at=stamp,
        notify_email=notify_email,
    )
    defaults = ResearchDefaults.for_user(user)
    new = [_new_job(user=user, spec=spec, defaults=defaults, bulk_job=bulk) for spec in specs]
    jobs = claiming.spread_queue_times(new)
    _forecast(jobs)
    events.jobs_queued(GenerationJob.objects.bulk_create(jobs))
    batches.bulk_emit(bulk=bulk, after=0)
    workers.notify_queued()
    return bulk


def job_submit(*, user: Any, data: Any, charge: bool = True) -> GenerationJob:
    """A job from its input as the API takes it: validated (InvalidInput: a message per field), charged
    against the user's rate when `charge` (RateLimited), then created. Nothing is stored on a refusal."""
    spec, errors = parse_job(data)
    if spec is None:
        raise InvalidInput(errors)
    if charge:
        limits.charge_jobs(user=user)
    return job_create(user=user, spec=spec)


def bulk_submit(*, user: Any, data: Any, charge: bool = True, notify_email: bool = False) -> BulkJob:
    """A batch from its input as the API takes it (`items`, `defaults`), as `job_submit` does a job.
    `notify_email`: email the owner when it finishes (only if they have an address)."""
    specs, errors = parse_batch(data)
    if errors:
        raise InvalidInput(errors)
    if charge:
        limits.charge_batch_items(user=user, count=len(specs))
    return bulk_create(user=user, specs=specs, notify_email=notify_email and bool(getattr(user, "email", "")))


def _cancel_queued(job: GenerationJob) -> bool:
    """A queued job ends at once (one conditional update) and sends its final events. The caller moves
    the batch counters."""
    stamp = timezone.now()
    job.progress.message = "Cancelled"
    job.progress.completed_at = stamp
    job.progress.estimated_completion = None
    job.progress.estimated_completion_low = job.progress.estimated_completion_high = None
    won = mongo.atomic(
        lambda: store.update_job(
            {"_id": job.pk, "status": store.QUEUED},
            status=GenerationJob.Status.CANCELLED,
            progress=job.progress,
            updated_at=stamp,
        )
    )
    if won != 1:
        return False
    job.status = GenerationJob.Status.CANCELLED
    seq = events.job_emit(job=job)
    events.job_emit(job=job, type="complete", after=seq)
    signals.emit(signals.job_finished, job=job)
    return True


def _request_cancel(job_ids: Sequence[Any]) -> set[Any]:
    """Running jobs: flag them, and tell their workers through Redis so they stop at their next step
    (the flag alone is seen at the next lease renewal, up to a third of the lease later)."""
    if not job_ids:
        return set()
    running = {"_id": {"$in": list(job_ids)}, "status": store.PROCESSING}
    flag = {"$set": mongo.db_values(GenerationJob, {"cancel_requested": True, "updated_at": timezone.now()})}
    mongo.atomic(lambda: store.jobs().update_many(running, flag, session=mongo.session()))
    flagged = store.ids_where(job_ids, status=store.PROCESSING, cancel_requested=True)
    workers.notify_cancel(flagged)
    return flagged


def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Queued: cancelled at once. Processing: the worker holding it stops at its next step."""
    if job.status == GenerationJob.Status.QUEUED:

        def cancel() -> bool:
            if not _cancel_queued(job):
                return False
            batches.member_moved(job, GenerationJob.Status.QUEUED, GenerationJob.Status.CANCELLED)
            return True

        if mongo.atomic(cancel):
            return job
        job.refresh_from_db()
    if job.status == GenerationJob.Status.PROCESSING:
        if _request_cancel([job.pk]):
            job.cancel_requested = True
            return job
        job.refresh_from_db()
    raise ApplicationError(f"This job is already {job.status}; there is nothing to cancel.", status=409)


def _requeue(job: GenerationJob) -> bool:
    """A failed or cancelled job back in the queue (one conditional update), keeping its finished stages
    so that it resumes after the last one. Sends its event; the caller moves the batch counters."""
    stamp = timezone.now()
    keep = Progress(percentage=0, stage=Stage.QUEUED, message="Queued again (retry)", started_at=None)
    won = mongo.atomic(
        lambda: store.update_job(
            {"_id": job.pk, "status": job.status},
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
    )
    if won != 1:
        return False
    job.refresh_from_db()
    events.job_emit(job=job)
    return True


RETRYABLE = (GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED)


def job_retry(*, job: GenerationJob) -> GenerationJob:
    """A failed or cancelled job goes back to the queue, keeping the stages it had finished."""
    if job.status not in RETRYABLE:
        raise ApplicationError(
            f"Only failed or cancelled jobs can be retried; this one is {job.status}.", status=409
        )
    previous = job.status

    def retry() -> None:
        if not _requeue(job):
            raise ApplicationError("This job changed meanwhile; reload and try again.", status=409)
        batches.member_moved(job, previous, GenerationJob.Status.QUEUED)

    mongo.atomic(retry)
    workers.notify_queued()
    return job


@dataclass(frozen=True)
class BulkActionResult:
    """What a batch action did: members ended or requeued at once, running members asked to stop."""

    bulk: BulkJob
    changed: int
    requested: int = 0


def bulk_cancel(*, bulk: BulkJob) -> BulkActionResult:
    """Every unfinished member: queued ones end at once, running ones stop at their worker's next step."""
    members = store.members(bulk, [GenerationJob.Status.QUEUED, GenerationJob.Status.PROCESSING])
    if not members:
        raise ApplicationError(
            "Every article in this batch has already ended; there is nothing to cancel.", status=409
        )
    cancelled = [job for job in members if job.status == GenerationJob.Status.QUEUED and _cancel_queued(job)]
    # A queued member claimed meanwhile lost the update above and is processing now: it is asked here.
    requested = _request_cancel([job.pk for job in members if job.status != GenerationJob.Status.CANCELLED])
    if cancelled:
        bulk = batches.bulk_shift(
            bulk_id=bulk.pk,
            deltas={
                GenerationJob.Status.QUEUED: -len(cancelled),
                GenerationJob.Status.CANCELLED: len(cancelled),
            },
        )
    if not cancelled and not requested:
        raise ApplicationError(
            "Every article in this batch has already ended; there is nothing to cancel.", status=409
        )
    return BulkActionResult(bulk=bulk, changed=len(cancelled), requested=len(requested))


def bulk_retry_failed(*, bulk: BulkJob, charge: bool = True) -> BulkActionResult:
    """The failed and cancelled members go back to the queue; each resumes after its last finished stage.

    Requeued members are charged as batch items when `charge` (RateLimited): otherwise create, cancel and
    retry would run any number of articles past CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR."""
    members = store.members(bulk, RETRYABLE)
    if not members:
        raise ApplicationError(
            "No article in this batch failed or was cancelled; there is nothing to retry.", status=409
        )
    if charge:
        limits.charge_batch_items(user=bulk.user, count=len(members), action="this retry asks for")
    moved: dict[str, int] = dict.fromkeys(RETRYABLE, 0)
    for job in members:
        previous = job.status
        if _requeue(job):
            moved[previous] += 1
    total = sum(moved.values())
    if not total:
        raise ApplicationError("This batch changed meanwhile; reload and try again.", status=409)
    bulk = batches.bulk_shift(
        bulk_id=bulk.pk, deltas={**{k: -v for k, v in moved.items()}, GenerationJob.Status.QUEUED: total}
    )
    workers.notify_queued()
    return BulkActionResult(bulk=bulk, changed=total)
