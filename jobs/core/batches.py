"""A batch's counters and its events: members move between counters inside the transaction that moves
them, and the batch sends `complete` exactly once when its last member ends."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from contentgen import mongo
from jobs.core import events, forecast, signals, store
from jobs.models import BulkJob, GenerationJob

CURRENT_LIMIT = 50


def bulk_snapshot(bulk: BulkJob) -> dict[str, Any]:
    """The batch's event body as it stands: its counters, the members in flight (up to CURRENT_LIMIT) and
    its estimated completion."""
    in_flight = list(
        GenerationJob.objects.filter(bulk_job=bulk, status=GenerationJob.Status.PROCESSING).order_by(
            "created_at"
        )[:CURRENT_LIMIT]
    )
    eta = None
    if bulk.finished < bulk.total:
        eta = forecast.estimate_bulk_completion(bulk=bulk, in_flight=in_flight)
    return events.bulk_body(bulk, in_flight=in_flight, eta=eta)


def bulk_emit(*, bulk: BulkJob, trigger: Any = None, complete: bool = False, after: int | None = None) -> int:
    body = bulk_snapshot(bulk)
    return events.bulk_emit(bulk=bulk, body=body, trigger=trigger, complete=complete, after=after)


def member_moved(job: GenerationJob, source: str | None, target: str | None) -> None:
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
    if not finishing and bulk.finished >= bulk.total:
        # Another member's move finished the batch, and its `complete` (read after every move) carries these
        # counts: no batch event may follow `complete`, which only a write order without transactions allows.
        return bulk
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


def member_stage_changed(*, job: GenerationJob) -> None:
    """A batch event for a member's stage change, so each article's stage shows live on the batch page.

    crewAI delivers pipeline events from its own threads, so a stage change can arrive after the job was
    cancelled and the batch completed: such a late one is dropped, as no batch event may follow `complete`.
    """
    bulk = BulkJob.objects.get(pk=job.bulk_job_id)
    if bulk.completed_at is None and store.status_of(job.pk) == GenerationJob.Status.PROCESSING:
        bulk_emit(bulk=bulk, trigger=job)
