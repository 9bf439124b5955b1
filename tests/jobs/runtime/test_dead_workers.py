"""A dead worker's jobs: leases that run out, hand-backs decided per run, and transactions a killed worker
left open on the server."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from contentgen import mongo
from jobs.core import leases, services, workers
from jobs.models import BulkJob, GenerationJob
from jobs.runtime.worker import RunningJob, Worker
from progress import events
from tests.jobs.runtime.support import claimed_batch_member, spec
from tests.stack import burst_here, child_mongodb_uri, wait_until

pytestmark = pytest.mark.django_db


def test_a_dead_workers_job_goes_back_to_the_queue_unless_its_worker_still_beats(user):
    bulk, job, _ = claimed_batch_member(user, "dead:1:x")
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=job.created_at)
    workers.beat(workers.new_beat(worker_id="dead:1:x", concurrency=1, lease_seconds=30), jobs=[])
    try:
        assert leases.job_requeue_abandoned(worker_id="alive:2:y") == 0, "a beating worker gets its grace"
    finally:
        workers.forget("dead:1:x")
    assert leases.job_requeue_abandoned(worker_id="alive:2:y") == 1
    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.lease_owner) == ("queued", None)
    assert events.latest(job.pk)["data"]["progress"]["message"] == leases.ABANDONED_MESSAGE
    assert BulkJob.objects.get(pk=bulk.pk).counts["queued"] == 1
    assert leases.job_claim(worker_id="alive:2:y")[0].pk == job.pk


def test_a_workers_own_job_that_none_of_its_runs_holds_goes_back_to_the_queue(user):
    job = services.job_create(user=user, spec=spec(topic="Left processing under a live worker's lease"))
    leases.job_claim(worker_id="mine:1:x", take_over=False)
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=job.created_at)  # its lease ran out
    workers.beat(workers.new_beat(worker_id="mine:1:x", concurrency=1, lease_seconds=30), jobs=[])
    try:
        assert leases.job_requeue_abandoned(worker_id="mine:1:x") == 0, "its own lease is its own to hand back"
        assert leases.job_requeue_abandoned(worker_id="mine:1:x", running={job.pk}) == 0, "a run of it holds it"
        assert leases.job_requeue_abandoned(worker_id="mine:1:x", running=set()) == 1, "no run of it does"
    finally:
        workers.forget("mine:1:x")
    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.lease_owner) == ("queued", None)


def test_a_lease_verdict_reaches_only_the_run_it_was_asked_for(user, monkeypatch):
    """A job handed back and claimed again by the same worker while its lease renewal was under way: the
    renewal read it queued, and that must not stop the new run (which nothing would then put back)."""
    worker = Worker()
    job = services.job_create(user=user, spec=spec(topic="Handed back and claimed again"))
    claimed, _ = leases.job_claim(worker_id=worker.worker_id, take_over=False)
    old = worker.running[job.pk] = RunningJob(claimed)
    renew = leases.job_renew_leases
    new: list[RunningJob] = []

    def renewed_while_handed_back(*, worker_id: str, job_ids: list[Any]) -> set[Any]:
        assert leases.job_release(job=claimed, worker_id=worker_id, message="Back in the queue", refund=True)
        held = renew(worker_id=worker_id, job_ids=job_ids)  # reads the job queued: not held
        again, _ = leases.job_claim(worker_id=worker_id, take_over=False)
        new.append(RunningJob(again))
        with worker.lock:
            worker.running[job.pk] = new[0]
        return held

    monkeypatch.setattr(leases, "job_renew_leases", renewed_while_handed_back)
    assert worker._renew_leases(failing=False) is False
    assert not new[0].lost.is_set(), "the new run was told its lease was lost"
    assert not old.lost.is_set()  # it ended: nothing to tell it
    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.lease_owner) == ("processing", worker.worker_id)

    monkeypatch.setattr(leases, "job_renew_leases", lambda **_: set())  # the same run, its lease gone
    worker._renew_leases(failing=False)
    assert new[0].lost.is_set()


def test_a_burst_worker_claims_a_job_the_lease_watch_puts_back_after_its_last_claim(user, monkeypatch):
    """The lease watch runs beside the claims: it can put a dead worker's job back in the queue after a claim
    found nothing and before the burst worker reads the leases, which then show nothing to put back."""
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")
    job = services.job_create(user=user, spec=spec(topic="Put back at the worst moment"))
    leases.job_claim(worker_id="dead:1:x", take_over=False)
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=job.created_at)  # its lease ran out
    requeue = leases.job_requeue_abandoned
    real_pending = Worker._abandoned_pending
    # The watch's own passes find nothing; the requeue happens right before the burst worker reads the leases.
    monkeypatch.setattr(leases, "job_requeue_abandoned", lambda **_: 0)

    def pending(self: Worker) -> bool:
        requeue(worker_id="the-watch")
        return real_pending(self)

    monkeypatch.setattr(Worker, "_abandoned_pending", pending)
    burst_here(timeout=90)  # raises if the burst worker did not finish

    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.attempts) == ("completed", 2)


DIES_IN_A_TRANSACTION = """
import os, sys
from bson import ObjectId
from pymongo import MongoClient
client = MongoClient(sys.argv[1])
session = client.start_session()
session.start_transaction()
client.get_default_database().generation_jobs.update_one(
    {"_id": ObjectId(sys.argv[2])}, {"$set": {"lease_owner": "dead"}}, session=session
)
os._exit(0)  # as kill -9 would: the transaction is left open on the server
"""


def test_a_transaction_left_open_by_a_dead_worker_is_skipped_by_claims_and_reaped_within_seconds(user, settings):
    settings.CONTENTGEN_WORKER_LEASE_SECONDS = 600  # the free job's claim holds it for the whole test
    if "secantusVersion" not in mongo.database().client.admin.command("buildInfo"):
        pytest.skip("the transaction lifetime is set on the embedded server only (docs/deploy.md: MongoDB)")
    held = services.job_create(user=user, spec=spec(topic="Held by a dead transaction"))
    free = services.job_create(user=user, spec=spec(topic="Free to claim"))
    subprocess.run(
        [sys.executable, "-c", DIES_IN_A_TRANSACTION, child_mongodb_uri(), str(held.pk)],
        timeout=30,
        check=True,
    )

    claimed = leases.job_claim(worker_id="w1")
    assert claimed is not None and claimed[0].pk == free.pk
    # Still held when that claim returned: it went past the contended job instead of waiting it out.
    assert leases.job_claim(worker_id="w2") is None, "the claim waited until the dead transaction was reaped"

    # The server reaps the dead transaction after its lifetime; then the held job is claimable too. The
    # deadline is six times the embedded server's lifetime (5 s), half of mongod's default (60 s).
    again = wait_until(lambda: leases.job_claim(worker_id="w2"), timeout=30, interval=0.2, what="a claim")
    assert again[0].pk == held.pk


def test_a_burst_worker_drains_a_dead_workers_job_that_a_transaction_it_left_open_still_holds(user):
    """A worker killed inside a transaction leaves the job held until the server reaps the transaction. A
    burst worker started in between must not find nothing to do and exit with that job still running."""
    if "secantusVersion" not in mongo.database().client.admin.command("buildInfo"):
        pytest.skip("the transaction lifetime is set on the embedded server only (docs/deploy.md: MongoDB)")
    job = services.job_create(user=user, spec=spec(topic="Its worker died in a transaction"))
    claimed = leases.job_claim(worker_id="dead:1:x", take_over=False)
    assert claimed is not None and claimed[0].pk == job.pk
    GenerationJob.objects.filter(pk=job.pk).update(lease_expires_at=job.created_at)  # its lease ran out
    subprocess.run(
        [sys.executable, "-c", DIES_IN_A_TRANSACTION, child_mongodb_uri(), str(job.pk)],
        timeout=30,
        check=True,
    )

    burst_here(timeout=90, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="0")

    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.attempts) == ("completed", 2)
