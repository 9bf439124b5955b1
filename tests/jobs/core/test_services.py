"""The job lifecycle's rules, called directly: no web server, no worker process."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from contentgen.errors import ApplicationError
from jobs.core import leases, services
from jobs.models import BulkJob, GenerationJob, JobError, Stage
from progress import events
from tests.factories import BulkFactory, JobFactory

pytestmark = pytest.mark.django_db

LEASE = float(settings.CONTENTGEN_WORKER_LEASE_SECONDS)


def stored(job: GenerationJob) -> GenerationJob:
    return GenerationJob.objects.get(pk=job.pk)


def expire_lease(job: GenerationJob) -> None:
    """The holder stopped renewing: its lease ran out a second ago."""
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))


def claim(worker_id: str) -> GenerationJob:
    claimed = leases.job_claim(worker_id=worker_id)
    assert claimed is not None, f"{worker_id} found nothing to claim"
    return claimed[0]


def finish(job: GenerationJob, worker_id: str, status: str) -> None:
    job.status = status
    if status == GenerationJob.Status.FAILED:
        job.error = JobError(message="boom", stage=Stage.WRITING)
    leases.job_finish(job=job, worker_id=worker_id)


def test_create_queues_the_job_and_records_event_1(user):
    job = JobFactory(user=user)
    assert stored(job).status == GenerationJob.Status.QUEUED
    assert stored(job).progress.message == services.QUEUED_MESSAGE
    first = events.latest(job.pk)
    assert first is not None
    assert (first["seq"], first["type"], first["data"]["status"]) == (1, "progress", "queued")


def test_a_claim_leases_the_job_to_one_worker(user):
    job = JobFactory(user=user)
    before = timezone.now()
    claimed, taken_over = leases.job_claim(worker_id="w1") or (None, None)
    assert claimed is not None and claimed.pk == job.pk and taken_over is False
    job = stored(job)
    assert (job.status, job.lease_owner, job.attempts) == ("processing", "w1", 1)
    assert before + dt.timedelta(seconds=LEASE - 1) < job.lease_expires_at.replace(tzinfo=dt.UTC)
    assert leases.job_claim(worker_id="w2") is None


def test_concurrent_claimers_take_each_job_exactly_once(user):
    jobs = [JobFactory(user=user, mode="trends", word_count=100) for _ in range(12)]
    taken: dict[str, list[str]] = {f"w{n}": [] for n in range(4)}
    errors: list[BaseException] = []

    def claimer(worker_id: str) -> None:
        try:
            while (claimed := leases.job_claim(worker_id=worker_id)) is not None:
                taken[worker_id].append(str(claimed[0].pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=claimer, args=(worker_id,)) for worker_id in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    claimed = [pk for pks in taken.values() for pk in pks]
    assert sorted(claimed) == sorted(str(job.pk) for job in jobs)
    assert all(stored(job).lease_owner == owner for owner, pks in taken.items() for job in jobs if str(job.pk) in pks)


def test_renewal_keeps_the_lease_while_a_second_worker_waits(user):
    job = JobFactory(user=user)
    claim("w1")
    for _ in range(3):
        expire_lease(job)
        assert leases.job_renew_leases(worker_id="w1", job_ids=[job.pk]) == {job.pk}
        assert leases.job_claim(worker_id="w2") is None
    job = stored(job)
    assert (job.lease_owner, job.attempts) == ("w1", 1)
    assert job.lease_expires_at.replace(tzinfo=dt.UTC) > timezone.now() + dt.timedelta(seconds=LEASE - 2)
    assert leases.job_renew_leases(worker_id="w2", job_ids=[job.pk]) == set()


def test_an_expired_lease_is_taken_over_and_the_old_holders_writes_are_refused(user):
    job = JobFactory(user=user)
    old = claim("w1")
    expire_lease(job)
    claimed = leases.job_claim(worker_id="w2")
    assert claimed is not None
    new, taken_over = claimed
    assert taken_over is True and new.pk == job.pk
    assert (stored(job).lease_owner, stored(job).attempts) == ("w2", 2)
    assert leases.job_snapshot_write(job_id=job.pk, worker_id="w1", fields={"progress.message": "late"}) is False
    assert leases.job_renew_leases(worker_id="w1", job_ids=[job.pk]) == set()
    with pytest.raises(leases.LeaseLost):
        finish(old, "w1", GenerationJob.Status.COMPLETED)
    assert stored(job).status == GenerationJob.Status.PROCESSING
    assert stored(job).progress.message != "late"
    assert leases.job_snapshot_write(job_id=job.pk, worker_id="w2", fields={"progress.message": "mine"})
    assert stored(job).progress.message == "mine"


def test_release_hands_a_running_job_back_to_the_queue(user):
    job = JobFactory(user=user)
    held = claim("w1")
    held.stage_outputs = {"research": "brief"}
    GenerationJob.objects.filter(pk=job.pk).update(stage_outputs={"research": "brief"})
    assert leases.job_release(job=held, worker_id="w1", message="Worker stopped; back in the queue")
    job = stored(job)
    assert (job.status, job.lease_owner, job.stage_outputs) == ("queued", None, {"research": "brief"})
    assert job.progress.message == "Worker stopped; back in the queue"
    assert leases.job_release(job=held, worker_id="w1", message="again") is False


def test_cancelling_a_queued_job_ends_it_with_a_complete_event(user):
    job = services.job_cancel(job=JobFactory(user=user))
    assert stored(job).status == GenerationJob.Status.CANCELLED
    assert [(e["seq"], e["type"]) for e in events.after(job.pk, 0)] == [
        (1, "progress"),
        (2, "progress"),
        (3, "complete"),
    ]


def test_cancelling_a_running_job_asks_its_worker_to_stop(user):
    job = JobFactory(user=user)
    claim("w1")
    services.job_cancel(job=stored(job))
    assert stored(job).status == GenerationJob.Status.PROCESSING
    assert leases.job_cancel_requested(job_ids=[job.pk]) == {job.pk}


def test_cancelling_a_finished_job_is_refused(user):
    job = JobFactory(user=user)
    finish(claim("w1"), "w1", GenerationJob.Status.COMPLETED)
    with pytest.raises(ApplicationError) as refused:
        services.job_cancel(job=stored(job))
    assert refused.value.status == 409


def test_retry_queues_a_failed_job_again_keeping_finished_stages(user):
    job = JobFactory(user=user)
    held = claim("w1")
    held.stage_outputs = {"research": "brief"}
    finish(held, "w1", GenerationJob.Status.FAILED)
    services.job_retry(job=stored(job))
    job = stored(job)
    assert (job.status, job.attempts, job.error, job.lease_owner) == ("queued", 0, None, None)
    assert job.stage_outputs == {"research": "brief"}
    assert events.latest(job.pk)["data"]["status"] == "queued"


@pytest.mark.parametrize("status", ["queued", "processing", "completed"])
def test_retry_is_refused_unless_failed_or_cancelled(user, status):
    job = JobFactory(user=user)
    GenerationJob.objects.filter(pk=job.pk).update(status=status)
    with pytest.raises(ApplicationError) as refused:
        services.job_retry(job=stored(job))
    assert refused.value.status == 409


def test_batch_counters_follow_every_move_and_complete_once(user):
    bulk = BulkFactory(user=user, size=3)

    def counts() -> dict[str, int]:
        return BulkJob.objects.get(pk=bulk.pk).counts

    assert counts() == {"queued": 3, "processing": 0, "completed": 0, "failed": 0, "cancelled": 0}
    first = claim("w1")
    assert counts() == {"queued": 2, "processing": 1, "completed": 0, "failed": 0, "cancelled": 0}
    finish(first, "w1", GenerationJob.Status.COMPLETED)
    second = claim("w1")
    finish(second, "w1", GenerationJob.Status.FAILED)
    third = GenerationJob.objects.get(bulk_job=bulk, status=GenerationJob.Status.QUEUED)
    assert BulkJob.objects.get(pk=bulk.pk).completed_at is None
    services.job_cancel(job=third)
    assert counts() == {"queued": 0, "processing": 0, "completed": 1, "failed": 1, "cancelled": 1}
    assert BulkJob.objects.get(pk=bulk.pk).completed_at is not None
    batch_events = events.after(bulk.pk, 0)
    assert [e["type"] for e in batch_events].count("complete") == 1
    assert batch_events[-1]["type"] == "complete" and batch_events[-1]["data"]["finished"] == 3
    services.job_retry(job=stored(second))
    assert counts() == {"queued": 1, "processing": 0, "completed": 1, "failed": 0, "cancelled": 1}


def test_a_job_whose_workers_died_max_attempts_times_is_failed_not_taken_over(user):
    job = JobFactory(user=user)
    for attempt in range(1, int(settings.CONTENTGEN_MAX_ATTEMPTS) + 1):
        claim(f"w{attempt}")
        assert stored(job).attempts == attempt
        expire_lease(job)
    assert leases.job_claim(worker_id="last") is None
    job = stored(job)
    assert (job.status, job.lease_owner, job.attempts) == ("failed", None, int(settings.CONTENTGEN_MAX_ATTEMPTS))
    assert "stopped responding" in job.error.message and job.error.stage == "research"
    assert [e["type"] for e in events.after(job.pk, 0)][-2:] == ["progress", "complete"]
