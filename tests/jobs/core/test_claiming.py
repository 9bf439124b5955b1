"""The claim's reads and its conditional update, against the embedded MongoDB."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from contentgen import mongo
from jobs.core import claiming, leases, store
from jobs.models import GenerationJob, JobError, Progress
from tests.factories import JobFactory
from tests.stack import CounterDelta

pytestmark = pytest.mark.django_db


def queue(user, count: int) -> list[GenerationJob]:
    """`count` queued jobs, one millisecond of queue time apart, oldest first."""
    stamp = timezone.now()
    jobs = claiming.spread_queue_times(
        [
            GenerationJob(user=user, mode="topic", topic=f"job {n}", status="queued", queued_at=stamp)
            for n in range(count)
        ]
    )
    GenerationJob.objects.bulk_create(jobs)
    return jobs


def fresh_window() -> None:
    """As in a new process, with no floor left in Redis by an earlier claimer (another test's)."""
    claiming.window.reset()
    claiming.redis_client().delete(claiming.FLOOR_KEY)


def stored_values(job: GenerationJob) -> dict:
    """Every field as the ORM would store it: embedded models compared by their stored documents."""
    names = [field.attname for field in GenerationJob._meta.concrete_fields]
    return mongo.db_values(GenerationJob, {name: getattr(job, name) for name in names})


def test_the_head_of_the_queue_is_its_oldest_jobs_in_order_across_several_windows(user):
    jobs = queue(user, 60)
    fresh_window()
    claiming.window.oldest(timezone.now())  # a window of about CANDIDATES jobs: the head reads on past it
    assert claiming.window.width < dt.timedelta(milliseconds=60)

    head = claiming.window.head(45, timezone.now())

    assert [doc["_id"] for doc in head] == [job.pk for job in jobs[:45]]


def test_a_short_queue_widens_its_windows_only_so_far(user):
    """Every window of a one-job queue runs thin and widens; uncapped, the 38th passed datetime's range."""
    [job] = queue(user, 1)
    fresh_window()

    for _ in range(60):
        assert [doc["_id"] for doc in claiming.window.oldest(timezone.now())] == [job.pk]

    assert claiming.window.width <= claiming.MAX_WIDTH
    assert [doc["_id"] for doc in claiming.window.head(200, timezone.now())] == [job.pk]


def test_a_claimed_job_is_exactly_the_stored_job(user):
    job = JobFactory(user=user, keywords=["soil", "worms"], tone="casual")
    progress = Progress(message="Queued for generation", estimated_start=timezone.now())
    GenerationJob.objects.filter(pk=job.pk).update(
        progress=progress, error=JobError(message="earlier", stage="writing"), stage_outputs={"research": "x"}
    )

    claimed, _ = leases.job_claim(worker_id="w1", take_over=False)

    assert claimed.pk == job.pk
    assert claimed.user_id == user.pk and claimed.user.username == user.username
    fresh = GenerationJob.objects.get(pk=job.pk)
    assert stored_values(claimed) == stored_values(fresh)
    assert (claimed.status, claimed.lease_owner, claimed.attempts) == ("processing", "w1", 1)


def test_a_claim_does_not_take_a_job_that_moved_after_its_window_was_read(user):
    # Outside a transaction, as on a standalone mongod: the conditional update names the `updated_at` read.
    job = JobFactory(user=user)
    fresh_window()
    [doc] = [doc for doc in claiming.window.oldest(timezone.now()) if doc["_id"] == job.pk]
    # Meanwhile another worker claimed it, and it came back to the queue (a retry, a hand-back).
    claim = leases.job_claim(worker_id="other", take_over=False)
    assert claim is not None and claim[0].pk == job.pk
    GenerationJob.objects.filter(pk=job.pk).update(
        status="queued", lease_owner=None, lease_expires_at=None, updated_at=timezone.now()
    )

    now = timezone.now()
    taken = claiming.take_queued(doc=doc, worker_id="late", now=now, lease_until=now)

    assert taken is None
    after = GenerationJob.objects.get(pk=job.pk)
    assert (after.status, after.lease_owner, after.attempts) == ("queued", None, 1)


def test_a_workers_claim_leaves_expired_leases_to_its_lease_watch(user):
    job = JobFactory(user=user)
    leases.job_claim(worker_id="dead")
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert leases.job_claim(worker_id="w2", take_over=False) is None
    takeovers = CounterDelta("contentgen_lease_takeovers_total", mode=job.mode)
    assert leases.job_requeue_abandoned(worker_id="w2") == 1
    assert takeovers.grown == 1
    claimed, taken_over = leases.job_claim(worker_id="w2", take_over=False)
    assert (claimed.pk, taken_over, claimed.attempts) == (job.pk, False, 2)


def test_a_claim_that_meets_a_write_to_its_pick_aborts_and_takes_another_job(user, monkeypatch):
    """The claim reads its pick and updates it by `_id` in one transaction: a write to the pick in between
    (another claimer winning it) must abort the transaction with a write conflict, as MongoDB's snapshot
    isolation has it. Without that conflict the update would take the other claimer's job."""
    first, second = queue(user, 2)
    fresh_window()
    real = store.jobs
    raced: list = []

    class Racing:
        """The jobs collection, where another worker claims the first job the claim reads by `_id`, right
        after that read (outside the claim's transaction)."""

        def __init__(self) -> None:
            self.jobs = real()

        def find_one(self, *args, **kwargs):
            doc = self.jobs.find_one(*args, **kwargs)
            if doc is not None and not raced:
                raced.append(doc["_id"])
                self.jobs.update_one(
                    {"_id": doc["_id"]}, {"$set": {"status": "processing", "lease_owner": "other"}}
                )
            return doc

        def __getattr__(self, name):
            return getattr(self.jobs, name)

    monkeypatch.setattr(store, "jobs", Racing)
    claimed = leases.job_claim(worker_id="w1", take_over=False)

    [lost] = raced
    assert claimed is not None
    assert claimed[0].pk in {first.pk, second.pk} - {lost}
    after = GenerationJob.objects.get(pk=lost)
    assert (after.status, after.lease_owner, after.attempts) == ("processing", "other", 0)
    won = GenerationJob.objects.get(pk=claimed[0].pk)
    assert (won.status, won.lease_owner, won.attempts) == ("processing", "w1", 1)


def counting_window_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    real = claiming.window.oldest

    def oldest(now):
        reads.append(1)
        return real(now)

    monkeypatch.setattr(claiming.window, "oldest", oldest)
    return reads


def test_the_next_claim_takes_a_spare_candidate_without_reading_the_window(user, monkeypatch):
    jobs = queue(user, 3)
    fresh_window()
    first, _ = leases.job_claim(worker_id="w1", take_over=False)
    spares = [job.pk for job in jobs if job.pk != first.pk]
    # Another process's claimer takes one of them meanwhile: this claim must skip it, not take it again.
    store.jobs().update_one({"_id": spares[0]}, {"$set": {"status": "processing", "lease_owner": "other"}})
    reads = counting_window_reads(monkeypatch)

    second, _ = leases.job_claim(worker_id="w1", take_over=False)

    assert (second.pk, reads) == (spares[1], [])
    assert GenerationJob.objects.get(pk=spares[0]).lease_owner == "other"
    # No spare left: the next claim reads the window, and finds the queue empty.
    assert leases.job_claim(worker_id="w1", take_over=False) is None
    assert reads == [1]


def test_spare_candidates_older_than_spare_seconds_are_not_used(user, monkeypatch):
    queue(user, 3)
    fresh_window()
    leases.job_claim(worker_id="w1", take_over=False)
    monkeypatch.setattr(claiming, "SPARE_SECONDS", 0.0)
    reads = counting_window_reads(monkeypatch)

    assert leases.job_claim(worker_id="w1", take_over=False) is not None
    assert reads == [1]


def test_a_claim_goes_on_past_a_window_whose_every_job_another_transaction_holds(user):
    """A window of one job, held by an open transaction (a worker killed inside one leaves it until the server
    reaps it): the claim must take the next queued job, not come back empty while one waits behind it."""
    held, free = queue(user, 2)
    fresh_window()
    # A window as narrow as a dense batch leaves it: only the held job fits in the first one.
    store.jobs().update_one({"_id": free.pk}, {"$set": {"queued_at": held.queued_at + dt.timedelta(seconds=1)}})
    claiming.window.floor, claiming.window.width = held.queued_at, claiming.MIN_WIDTH
    with mongo.database().client.start_session() as holder:
        holder.start_transaction()
        store.jobs().update_one({"_id": held.pk}, {"$set": {"lease_owner": "holder"}}, session=holder)
        try:
            claimed = leases.job_claim(worker_id="w1", take_over=False)
        finally:
            holder.abort_transaction()

    assert claimed is not None and claimed[0].pk == free.pk
    assert GenerationJob.objects.get(pk=held.pk).status == "queued"
