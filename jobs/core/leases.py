"""The lease protocol: a worker claims a job (a lease: owner and expiry), renews it, writes its snapshot and
finishes it only while it holds the lease, and hands it back when it stops. A job whose lease runs out was
held by a dead worker: the lease watch puts it back in the queue, or fails it once its workers died
CONTENTGEN_MAX_ATTEMPTS times. Each move is one conditional update (jobs.core.store), so two workers never
both win, and a job's move, its batch's counters and its events commit in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Collection
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from contentgen import mongo
from jobs.core import batches, claiming, events, forecast, signals, store, workers
from jobs.models import GenerationJob, JobError
from jobs.pipeline.stages import STAGE_ORDER, stage_label
from progress import events as event_log

logger = logging.getLogger("jobs.services")


class LeaseLost(Exception):
    """Another worker owns the job now (our lease expired); this attempt must stop touching it."""


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=float(settings.CONTENTGEN_WORKER_LEASE_SECONDS))


ABANDONED_MESSAGE = "Worker lost; back in the queue"


def abandoned_jobs(
    *, worker_id: str, now: Any, running: Collection[Any] | None = None
) -> list[tuple[Any, Any]]:
    """(pk, bulk_job_id) of running jobs whose worker stopped renewing their lease, oldest expiry first.

    An expired lease whose worker still beats in Redis is a worker that could not reach MongoDB to
    renew it: it hands the job back itself (uncharged) once MongoDB answers, so it gets that long first.
    `worker_id`'s own leases are its own to hand back, except when `running` (the jobs it runs now) is
    given and lacks the job: no thread of it will then (a run that ended with the job still `processing`
    under its lease), and nothing else would put it back while it beats.
    """

    def mine_and_run(doc: dict[str, Any]) -> bool:
        return doc.get("lease_owner") == worker_id and (running is None or doc["_id"] in running)

    expired = claiming.expired_leases(now, keep=lambda doc: not mine_and_run(doc))
    alive = workers.live_workers() if expired else {}
    grace = timedelta(
        seconds=float(settings.CONTENTGEN_WRITE_RETRY_SECONDS)
        + float(settings.CONTENTGEN_WORKER_LEASE_SECONDS)
    )

    def in_grace(doc: dict[str, Any]) -> bool:
        owner = doc.get("lease_owner")
        return owner != worker_id and owner in alive and doc["lease_expires_at"] > now - grace

    return [(doc["_id"], doc.get("bulk_job_id")) for doc in expired if not in_grace(doc)]


def job_requeue_abandoned(*, worker_id: str, running: Collection[Any] | None = None) -> int:
    """Put jobs of dead workers back in the queue, where their age puts them first; with `running`, also
    the worker's own whose run ended without handing them back (see abandoned_jobs).

    Every worker's heartbeat does this, busy or not, so a dead worker is noticed within about a
    lease even when no worker has a free slot to take its jobs over at once.
    """
    stamp = timezone.now()
    requeued = 0
    for pk, _ in abandoned_jobs(worker_id=worker_id, now=stamp, running=running):
        if store.uncontended(partial(_give_up, pk=pk, stamp=stamp)):
            continue

        def requeue(pk: Any = pk) -> bool:
            expired = {"_id": pk, "status": store.PROCESSING, "lease_expires_at": {"$lt": stamp}}
            back = store.update_job(
                expired,
                status=GenerationJob.Status.QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=stamp,
            )
            if back != 1:
                return False
            job = GenerationJob.objects.select_related("user").get(pk=pk)
            job.progress.message = ABANDONED_MESSAGE
            GenerationJob.objects.filter(pk=pk).update(progress=job.progress)
            batches.member_moved(job, GenerationJob.Status.PROCESSING, GenerationJob.Status.QUEUED)
            events.job_emit(job=job)
            signals.emit(signals.job_abandoned, job=job)
            return True

        requeued += bool(store.uncontended(requeue))
    if requeued:
        workers.notify_queued()
    return requeued


def _give_up(*, pk: Any, stamp: Any) -> bool:
    (
        """Fail an abandoned job whose workers died CONTENTGEN_MAX_ATTEMPTS times. True if this call did it.

    Called inside contentgen.mongo.atomic: the failure, the batch counters and both events together.
    """
        ""
    )
    max_attempts = int(settings.CONTENTGEN_MAX_ATTEMPTS)
    expired = {"_id": pk, "status": store.PROCESSING, "lease_expires_at": {"$lt": stamp}}
    doc = store.jobs().find_one(
        {**expired, "attempts": {"$gte": max_attempts}}, session=mongo.session()
    )
    if doc is None:
        return False
    job = mongo.instance(GenerationJob, doc)
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
    won = store.update_job(
        {**expired, "lease_owner": job.lease_owner},
        status=job.status,
        error=job.error,
        progress=p,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=stamp,
    )
    if won != 1:
        return False
    batches.member_moved(job, GenerationJob.Status.PROCESSING, job.status)
    seq = events.job_emit(job=job)
    events.job_emit(job=job, type="complete", after=seq)
    signals.emit(signals.job_finished, job=job)
    return True


def job_claim(*, worker_id: str, take_over: bool = True) -> tuple[GenerationJob, bool] | None:
    """Take over a job whose lease expired, else one of the oldest queued. Returns (job, taken_over).

    An expired job that has used up its attempts is failed instead of taken over. The candidates come
    from cheap index reads, or are the untried ones of this process's last claim if it was under a second
    ago (jobs.core.claiming); each claim is one transaction (a read of the candidate, its update, and the
    batch's counters for a batch member), and counts an attempt. `take_over=False` skips the read of
    expired leases: a worker passes it, because its lease watch puts dead workers' jobs back in the queue
    as their leases run out, at its head.
    """
    stamp = timezone.now()
    for pk, _ in abandoned_jobs(worker_id=worker_id, now=stamp) if take_over else ():
        if store.uncontended(partial(_give_up, pk=pk, stamp=stamp)):
            continue

        def take(pk: Any = pk) -> bool:
            return claiming.take_over(pk=pk, worker_id=worker_id, now=stamp, lease_until=_lease_until())

        if store.uncontended(take):
            job = GenerationJob.objects.get(pk=pk)
            signals.emit(signals.job_claimed, job=job, taken_over=True)
            return job, True
    for queued in claiming.window.picks(stamp):
        # A random pick among the oldest few spreads concurrent claimers over different documents.
        random.shuffle(queued)
        for tried, doc in enumerate(queued, start=1):
            # A batch member's claim also moves its batch's counters: one transaction, or neither.
            claimed = store.uncontended(partial(_take_queued, doc=doc, worker_id=worker_id, stamp=stamp))
            if claimed is not None:
                claiming.window.leave(queued[tried:])
                signals.emit(signals.job_claimed, job=claimed, taken_over=False)
                forecast.queue_refresh_estimates()
                return claimed, False
    return None


def _take_queued(*, doc: dict[str, Any], worker_id: str, stamp: Any) -> GenerationJob | None:
    taken = claiming.take_queued(doc=doc, worker_id=worker_id, now=stamp, lease_until=_lease_until())
    if taken is None:
        return None
    # Built from the document as the claim read it and the update's changes: no read more.
    job = mongo.instance(GenerationJob, taken)
    batches.member_moved(job, GenerationJob.Status.QUEUED, GenerationJob.Status.PROCESSING)
    return job


def next_lease_expiry(*, worker_id: str) -> dt.datetime | None:
    """When the next lease held by another worker runs out (None if none): an idle worker wakes then,
    so a dead worker's job is taken over within about a lease, not a lease plus an idle backoff.

    A raw read of the processing jobs (jobs.core.store): every worker's lease watch asks this every third of
    a lease."""
    leases = [
        store.aware(doc["lease_expires_at"])
        for doc in store.running(["lease_owner", "lease_expires_at"])
        if doc.get("lease_expires_at") is not None and doc.get("lease_owner") != worker_id
    ]
    return min(leases, default=None)


def job_renew_leases(*, worker_id: str, job_ids: list[Any]) -> set[Any]:
    """Extend our leases; returns the ids we still hold (a missing one was taken over or ended)."""
    if not job_ids:
        return set()
    held = {"_id": {"$in": job_ids}, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}
    jobs = store.jobs()
    mongo.atomic(
        lambda: jobs.update_many(
            held, {"$set": {"lease_expires_at": _lease_until()}}, session=mongo.session()
        )
    )
    return {doc["_id"] for doc in jobs.find(held, {"_id": 1})}


def job_cancel_requested(*, job_ids: list[Any]) -> set[Any]:
    if not job_ids:
        return set()
    return {
        doc["_id"]
        for doc in store.jobs().find({"_id": {"$in": job_ids}, "cancel_requested": True}, {"_id": 1})
    }


def job_snapshot_write(*, job_id: Any, worker_id: str, fields: dict[str, Any]) -> bool:
    """A coalesced progress write, only while we hold the lease. False means we lost the job."""
    result = mongo.collection(GenerationJob._meta.db_table).update_one(
        {"_id": job_id, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}, {"$set": fields}
    )
    return result.matched_count == 1


def _held_update(
    job: GenerationJob, worker_id: str, *, inc: dict[str, int] | None = None, **changes: Any
) -> bool:
    """One conditional update while `worker_id` holds the job's lease."""
    held = {"_id": job.pk, "lease_owner": worker_id, "status": store.PROCESSING}
    return store.update_job(held, inc=inc, **changes) == 1


def job_finish(*, job: GenerationJob, worker_id: str) -> int:
    """Store the terminal state the tracker put on `job` (completed, failed or cancelled).

    One transaction: the job's state, its batch's counters (and the batch's own `complete`), the
    job's last `progress` and its `complete` event. A fault at any step leaves none of them, so a
    finished job always has exactly one `complete`. Returns the `complete` event's seq.
    """

    def finish() -> int:
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
            return _finished_already(job, worker_id)
        batches.member_moved(job, GenerationJob.Status.PROCESSING, job.status)
        seq = events.job_emit(job=job)
        return events.job_emit(job=job, type="complete", after=seq)

    seq = mongo.atomic(finish)
    signals.emit(signals.job_finished, job=job)
    forecast.queue_refresh_estimates()
    return seq


def _finished_already(job: GenerationJob, worker_id: str) -> int:
    """A retried finish whose first commit went through but whose reply was lost: done, not lost."""
    stored = GenerationJob.objects.filter(pk=job.pk).values_list("status", "updated_at").first()
    last = event_log.latest(job.pk)
    if stored and stored[0] == job.status and last is not None and last["type"] == "complete":
        return int(last["seq"])
    raise LeaseLost(f"job {job.pk} is no longer held by {worker_id}")


def job_release(*, job: GenerationJob, worker_id: str, message: str, refund: bool = False) -> bool:
    """Hand a running job back to the queue, with an event saying why; progress and stage outputs are kept.

    `refund`: the attempt is not charged (the store was unreachable, which is not the job's fault).
    A worker shutdown is charged: a job whose workers keep stopping must end some time.
    """
    job.progress.message = message

    def release() -> bool:
        won = _held_update(
            job,
            worker_id,
            inc={"attempts": -1} if refund else None,
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
        batches.member_moved(job, GenerationJob.Status.PROCESSING, GenerationJob.Status.QUEUED)
        events.job_emit(job=job)
        return True

    if not mongo.atomic(release):
        return False
    workers.notify_queued()
    return True
