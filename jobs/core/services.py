"""Business rules of the job lifecycle. Views, consumers and the worker call these, nothing else."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone
from pymongo.errors import PyMongoError

from contentgen import mongo
from contentgen.errors import ApplicationError
from jobs.core import claiming, signals
from jobs.core import events as payloads
from jobs.core.batches import bulk_emit
from jobs.core.eta import queue_forecast
from jobs.core.groups import bulk_group, job_group, user_group
from jobs.core.logs import job_log_context
from jobs.core.validation import JobSpec
from jobs.core.workers import client, live_workers, notify_queued
from jobs.models import BulkJob, GenerationJob, JobError, Progress, Stage
from jobs.pipeline.stages import STAGE_ORDER, stage_label
from progress import events
from progress.publish import publish, publish_many

logger = logging.getLogger("jobs.services")

QUEUED_MESSAGE = "Queued for generation"


class LeaseLost(Exception):
    """Another worker owns the job now (our lease expired); this attempt must stop touching it."""


def job_groups(job: GenerationJob) -> list[str]:
    groups = [job_group(job.pk), user_group(job.user_id)]
    if job.bulk_job_id:
        groups.append(bulk_group(job.bulk_job_id))
    return groups


def job_emit(
    *,
    job: GenerationJob,
    type: str = "progress",
    after: int | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    data = payloads.complete_event(job) if type == "complete" else payloads.progress_event(job)
    data.update(extra or {})
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
    with job_log_context(job):
        logger.info("job %s queued (%s)", job.pk, job.mode)
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
    # Every member's first event in one write.
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
#
# Every ORM update of jobs and batches runs inside contentgen.mongo.atomic, even a single one: the
# ORM's update() is an update_many, and on SecantusDB 0.7.0b3 a plain multi-update that meets a write
# conflict retries while holding its collection lock, which deadlocked the server against open
# transactions in the chaos run (bench/chaos.py). Inside a transaction a conflict fails at once and
# atomic() retries it.
#
# The hot conditional writes (claim, lease renewal, finish, hand-back) are raw pymongo updates on `_id`
# plus the expected state, passed the transaction's session (contentgen.mongo.session): the ORM's `$and`
# of the same conditions makes SecantusDB scan the collection. They stay inside atomic() all the same.


def _lease_until() -> Any:
    return timezone.now() + timedelta(seconds=float(settings.CONTENTGEN_WORKER_LEASE_SECONDS))


def _bulk_move(job: GenerationJob, source: str | None, target: str | None) -> None:
    """Move a member between its batch's counters; called inside the transaction that moves the job."""
    if not job.bulk_job_id:
        return
    deltas: dict[str, int] = {}
    if source:
        deltas[source] = deltas.get(source, 0) - 1
    if target:
        deltas[target] = deltas.get(target, 0) + 1
    bulk_shift(bulk_id=job.bulk_job_id, deltas=deltas, trigger=job)


def bulk_shift(*, bulk_id: Any, deltas: dict[str, int], trigger: GenerationJob | None = None) -> BulkJob:
    """Move a batch's counters by `deltas` (status -> +/-n) in one F() update, then publish its event.

    Called inside the transaction that moves the members, so two members ending at once are serialised
    by the server and exactly one of them sends the batch's `complete` (see bulk_settle).
    """
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    for status, delta in deltas.items():
        if delta:
            changes[f"count_{status}"] = F(f"count_{status}") + delta
    mongo.atomic(lambda: BulkJob.objects.filter(pk=bulk_id).update(**changes))
    bulk = BulkJob.objects.get(pk=bulk_id)
    finishing = bulk_settle(bulk=bulk)
    bulk_emit(bulk=bulk, complete=finishing, trigger=trigger)
    if finishing:
        signals.emit(signals.bulk_finished, bulk=bulk)
    return bulk


def bulk_settle(*, bulk: BulkJob) -> bool:
    """Make `completed_at` agree with the counts. True when this call finished the batch (send `complete`).

    A retry inside a finished batch reopens it: `completed_at` is cleared, and the batch sends a
    new `complete` when it ends again.
    """
    if bulk.finished >= bulk.total:
        stamp = timezone.now()
        won = mongo.atomic(
            lambda: BulkJob.objects.filter(pk=bulk.pk, completed_at=None).update(completed_at=stamp)
        )
        if won == 1:
            bulk.completed_at = stamp
        return won == 1
    if bulk.completed_at is not None:
        mongo.atomic(
            lambda: BulkJob.objects.filter(pk=bulk.pk).exclude(completed_at=None).update(completed_at=None)
        )
        bulk.completed_at = None
    return False


def bulk_member_changed(*, job: GenerationJob) -> None:
    """A batch event for a member's stage change, so each article's stage shows live on the batch page.

    crewAI delivers pipeline events from its own threads, so a stage change can arrive after the job was
    cancelled and the batch completed: such a late one is dropped, as no batch event may follow `complete`.
    """
    bulk = BulkJob.objects.get(pk=job.bulk_job_id)
    if bulk.completed_at is None and _stored_status(job.pk) == GenerationJob.Status.PROCESSING:
        bulk_emit(bulk=bulk, trigger=job)


def _stored_status(pk: Any) -> str | None:
    """A read by `_id` alone: the ORM's filter on `_id` and status reads the whole collection on
    SecantusDB."""
    doc = claiming.collection().find_one({"_id": pk}, {"status": 1})
    return None if doc is None else doc.get("status")


# A claim retries a write conflict this many times before it moves on to the next candidate.
CLAIM_CONFLICT_ATTEMPTS = 3
T = TypeVar("T")
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
    alive = live_workers() if expired else {}
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
        if _uncontended(partial(_give_up, pk=pk, stamp=stamp)):
            continue

        def requeue(pk: Any = pk) -> bool:
            expired = {"_id": pk, "status": claiming.PROCESSING, "lease_expires_at": {"$lt": stamp}}
            back = _update_job(
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
            _bulk_move(job, GenerationJob.Status.PROCESSING, GenerationJob.Status.QUEUED)
            job_emit(job=job)
            signals.emit(signals.job_abandoned, job=job)
            return True

        requeued += bool(_uncontended(requeue))
    if requeued:
        notify_queued()
    return requeued


def _give_up(*, pk: Any, stamp: Any) -> bool:
    (
        """Fail an abandoned job whose workers died CONTENTGEN_MAX_ATTEMPTS times. True if this call did it.

    Called inside contentgen.mongo.atomic: the failure, the batch counters and both events together.
    """
        ""
    )
    max_attempts = int(settings.CONTENTGEN_MAX_ATTEMPTS)
    expired = {"_id": pk, "status": claiming.PROCESSING, "lease_expires_at": {"$lt": stamp}}
    doc = claiming.collection().find_one(
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
    won = _update_job(
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
    _bulk_move(job, GenerationJob.Status.PROCESSING, job.status)
    seq = job_emit(job=job)
    job_emit(job=job, type="complete", after=seq)
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
        if _uncontended(partial(_give_up, pk=pk, stamp=stamp)):
            continue

        def take(pk: Any = pk) -> bool:
            return claiming.take_over(pk=pk, worker_id=worker_id, now=stamp, lease_until=_lease_until())

        if _uncontended(take):
            job = GenerationJob.objects.get(pk=pk)
            signals.emit(signals.job_claimed, job=job, taken_over=True)
            return job, True
    for queued in claiming.window.picks(stamp):
        # A random pick among the oldest few spreads concurrent claimers over different documents.
        random.shuffle(queued)
        for tried, doc in enumerate(queued, start=1):
            # A batch member's claim also moves its batch's counters: one transaction, or neither.
            claimed = _uncontended(partial(_take_queued, doc=doc, worker_id=worker_id, stamp=stamp))
            if claimed is not None:
                claiming.window.leave(queued[tried:])
                signals.emit(signals.job_claimed, job=claimed, taken_over=False)
                queue_refresh_estimates()
                return claimed, False
    return None


def _take_queued(*, doc: dict[str, Any], worker_id: str, stamp: Any) -> GenerationJob | None:
    taken = claiming.take_queued(doc=doc, worker_id=worker_id, now=stamp, lease_until=_lease_until())
    if taken is None:
        return None
    # Built from the document as the claim read it and the update's changes: no read more.
    job = mongo.instance(GenerationJob, taken)
    _bulk_move(job, GenerationJob.Status.QUEUED, GenerationJob.Status.PROCESSING)
    return job


def _uncontended(body: Callable[[], T]) -> T | None:
    """One claim's transaction, or None when another transaction holds the job or its batch: the claimer
    moves on to the next candidate rather than wait. (A worker killed inside a transaction leaves it open
    until the server reaps it; waiting on it would stall every claimer behind one job.)"""
    try:
        return mongo.atomic(body, attempts=CLAIM_CONFLICT_ATTEMPTS)
    except (PyMongoError, DatabaseError) as exc:
        if not mongo.conflicted(exc):
            raise
        logger.info("skipped a job another transaction holds: %s", exc)
        return None


def next_lease_expiry(*, worker_id: str) -> dt.datetime | None:
    """When the next lease held by another worker runs out (None if none): an idle worker wakes then,
    so a dead worker's job is taken over within about a lease, not a lease plus an idle backoff.

    A raw read of the processing jobs: every worker's lease watch asks this every third of a lease, and the
    ORM's filter of the same reads the whole collection on SecantusDB (0.28 s with 10,000 jobs stored)."""
    leases = [
        claiming.aware(doc["lease_expires_at"])
        for doc in claiming.running(["lease_owner", "lease_expires_at"])
        if doc.get("lease_expires_at") is not None and doc.get("lease_owner") != worker_id
    ]
    return min(leases, default=None)


def job_renew_leases(*, worker_id: str, job_ids: list[Any]) -> set[Any]:
    """Extend our leases; returns the ids we still hold (a missing one was taken over or ended)."""
    if not job_ids:
        return set()
    held = {"_id": {"$in": job_ids}, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}
    jobs = claiming.collection()
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
        for doc in claiming.collection().find({"_id": {"$in": job_ids}, "cancel_requested": True}, {"_id": 1})
    }


def job_snapshot_write(*, job_id: Any, worker_id: str, fields: dict[str, Any]) -> bool:
    """A coalesced progress write, only while we hold the lease. False means we lost the job."""
    result = mongo.collection(GenerationJob._meta.db_table).update_one(
        {"_id": job_id, "lease_owner": worker_id, "status": GenerationJob.Status.PROCESSING}, {"$set": fields}
    )
    return result.matched_count == 1


def _update_job(where: dict[str, Any], *, inc: dict[str, int] | None = None, **changes: Any) -> int:
    """One conditional update of a job, `where` a raw filter on its `_id` (stored names), inside the
    caller's transaction if there is one (`changes` by field name, stored as the ORM stores them). Returns
    how many matched: 0 or 1. The ORM's filter on `_id` and another field reads the whole collection on
    SecantusDB (0.19 s with 10,000 jobs stored); a raw one is a point lookup."""
    update: dict[str, Any] = {"$set": mongo.db_values(GenerationJob, changes)}
    if inc:
        update["$inc"] = inc
    return claiming.collection().update_one(where, update, session=mongo.session()).matched_count


def _held_update(
    job: GenerationJob, worker_id: str, *, inc: dict[str, int] | None = None, **changes: Any
) -> bool:
    """One conditional update while `worker_id` holds the job's lease."""
    held = {"_id": job.pk, "lease_owner": worker_id, "status": claiming.PROCESSING}
    return _update_job(held, inc=inc, **changes) == 1


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
        _bulk_move(job, GenerationJob.Status.PROCESSING, job.status)
        seq = job_emit(job=job)
        return job_emit(job=job, type="complete", after=seq)

    seq = mongo.atomic(finish)
    signals.emit(signals.job_finished, job=job)
    queue_refresh_estimates()
    return seq


# The queue moves whenever a job is claimed or finishes: every queued job's estimated start (and finish)
# is recomputed then. Bounded: the first REFRESH_LIMIT queued jobs, at most once per REFRESH_INTERVAL
# per process, and only a job whose start moved by MIN_SHIFT or more is written and sent an event.
REFRESH_LIMIT = 200
REFRESH_INTERVAL = 2.0
MIN_SHIFT = dt.timedelta(seconds=10)
_last_refresh = [0.0]


def queue_refresh_estimates(*, force: bool = False) -> int:
    """Fresh estimates for the queued jobs; returns how many changed. A job claimed meanwhile is left alone
    (the update is conditional on it still being queued)."""
    clock = time.monotonic()
    if not force and clock - _last_refresh[0] < REFRESH_INTERVAL:
        return 0
    _last_refresh[0] = clock
    # Raw range reads and updates on `_id`: the ORM's filters read the whole queue on SecantusDB (0.9 s
    # for the first 200 of 10,000 queued jobs, in the claim loop).
    docs = claiming.window.head(REFRESH_LIMIT, timezone.now())
    queued = [mongo.instance(GenerationJob, doc) for doc in docs]
    changed = 0
    for job, (start, eta, low, high) in zip(queued, queue_forecast(queued), strict=False):
        p = job.progress
        if p.estimated_start is not None and abs(start - p.estimated_start) < MIN_SHIFT:
            continue
        p.estimated_start, p.estimated_completion = start, eta
        p.estimated_completion_low, p.estimated_completion_high = low, high

        def estimate(job: GenerationJob = job, p: Progress = p) -> int:
            return (
                claiming.collection()
                .update_one(
                    {"_id": job.pk, "status": claiming.QUEUED},
                    {"$set": mongo.db_values(GenerationJob, {"progress": p})},
                    session=mongo.session(),
                )
                .modified_count
            )

        # Like a claim, skipped when another transaction holds the job: a plain write would wait it out.
        if _uncontended(estimate) == 1:
            job_emit(job=job)
            changed += 1
    return changed


def _finished_already(job: GenerationJob, worker_id: str) -> int:
    """A retried finish whose first commit went through but whose reply was lost: done, not lost."""
    stored = GenerationJob.objects.filter(pk=job.pk).values_list("status", "updated_at").first()
    last = events.latest(job.pk)
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
        _bulk_move(job, GenerationJob.Status.PROCESSING, GenerationJob.Status.QUEUED)
        job_emit(job=job)
        return True

    if not mongo.atomic(release):
        return False
    notify_queued()
    return True


CANCEL_CHANNEL = "contentgen:cancel"


def _cancel_queued(job: GenerationJob) -> bool:
    """A queued job ends at once (one conditional update) and sends its final events. The caller moves
    the batch counters."""
    stamp = timezone.now()
    job.progress.message = "Cancelled"
    job.progress.completed_at = stamp
    job.progress.estimated_completion = None
    job.progress.estimated_completion_low = job.progress.estimated_completion_high = None
    won = mongo.atomic(
        lambda: _update_job(
            {"_id": job.pk, "status": claiming.QUEUED},
            status=GenerationJob.Status.CANCELLED,
            progress=job.progress,
            updated_at=stamp,
        )
    )
    if won != 1:
        return False
    job.status = GenerationJob.Status.CANCELLED
    seq = job_emit(job=job)
    job_emit(job=job, type="complete", after=seq)
    signals.emit(signals.job_finished, job=job)
    return True


def _request_cancel(job_ids: Sequence[Any]) -> set[Any]:
    """Running jobs: flag them, and tell their workers through Redis so they stop at their next step
    (the flag alone is seen at the next lease renewal, up to a third of the lease later)."""
    if not job_ids:
        return set()
    # Raw filters on `_id`, as in _update_job.
    running = {"_id": {"$in": list(job_ids)}, "status": claiming.PROCESSING}
    jobs = claiming.collection()
    flag = {"$set": mongo.db_values(GenerationJob, {"cancel_requested": True, "updated_at": timezone.now()})}
    mongo.atomic(lambda: jobs.update_many(running, flag, session=mongo.session()))
    flagged = {doc["_id"] for doc in jobs.find({**running, "cancel_requested": True}, {"_id": 1})}
    with contextlib.suppress(redis.RedisError):
        pipe = client().pipeline(transaction=False)
        for pk in flagged:
            pipe.publish(CANCEL_CHANNEL, str(pk).encode())
        pipe.execute()
    return flagged


def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Queued: cancelled at once. Processing: the worker holding it stops at its next step."""
    if job.status == GenerationJob.Status.QUEUED:

        def cancel() -> bool:
            if not _cancel_queued(job):
                return False
            _bulk_move(job, GenerationJob.Status.QUEUED, GenerationJob.Status.CANCELLED)
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
        lambda: _update_job(
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
    job_emit(job=job)
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
        _bulk_move(job, previous, GenerationJob.Status.QUEUED)

    mongo.atomic(retry)
    notify_queued()
    return job


@dataclass(frozen=True)
class BulkActionResult:
    """What a batch action did: members ended or requeued at once, running members asked to stop."""

    bulk: BulkJob
    changed: int
    requested: int = 0


def bulk_cancel(*, bulk: BulkJob) -> BulkActionResult:
    """Every unfinished member: queued ones end at once, running ones stop at their worker's next step."""
    members = _members(bulk, [GenerationJob.Status.QUEUED, GenerationJob.Status.PROCESSING])
    if not members:
        raise ApplicationError(
            "Every article in this batch has already ended; there is nothing to cancel.", status=409
        )
    cancelled = [job for job in members if job.status == GenerationJob.Status.QUEUED and _cancel_queued(job)]
    # A queued member claimed meanwhile lost the update above and is processing now: it is asked here.
    requested = _request_cancel([job.pk for job in members if job.status != GenerationJob.Status.CANCELLED])
    if cancelled:
        bulk = bulk_shift(
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


def _members(bulk: BulkJob, statuses: Sequence[str]) -> list[GenerationJob]:
    """The batch's members in `statuses`, by a raw range on the batch index (the ORM's filter of the same
    reads the whole collection on SecantusDB)."""
    docs = claiming.collection().find({"bulk_job_id": bulk.pk, "status": {"$in": [str(s) for s in statuses]}})
    return [mongo.instance(GenerationJob, doc) for doc in sorted(docs, key=lambda doc: doc["created_at"])]


def bulk_retry_failed(*, bulk: BulkJob) -> BulkActionResult:
    """The failed and cancelled members go back to the queue; each resumes after its last finished stage."""
    members = _members(bulk, RETRYABLE)
    if not members:
        raise ApplicationError(
            "No article in this batch failed or was cancelled; there is nothing to retry.", status=409
        )
    moved: dict[str, int] = dict.fromkeys(RETRYABLE, 0)
    for job in members:
        previous = job.status
        if _requeue(job):
            moved[previous] += 1
    total = sum(moved.values())
    if not total:
        raise ApplicationError("This batch changed meanwhile; reload and try again.", status=409)
    bulk = bulk_shift(
        bulk_id=bulk.pk, deltas={**{k: -v for k, v in moved.items()}, GenerationJob.Status.QUEUED: total}
    )
    notify_queued()
    return BulkActionResult(bulk=bulk, changed=total)
