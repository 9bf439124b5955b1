"""Store faults inside a job's terminal move, the reconciler, reopened batches, the attempts cap and the
job deadline: in this process, against the real embedded MongoDB, with write errors injected in pymongo."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect

from contentgen import mongo, secantus_server
from jobs.core import leases, services, workers
from jobs.core.validation import parse_job
from jobs.models import BulkJob, GenerationJob
from jobs.runtime import reconcile
from jobs.runtime.tracker import ProgressTracker
from jobs.runtime.worker import RunningJob, Worker, execute
from progress import events
from tests.stack import burst_here, child_mongodb_uri, wait_until

pytestmark = pytest.mark.django_db

RESULT = {
    "content": "# Title\n\nBody text.\n",
    "meta_title": "Title",
    "meta_description": "Body text.",
    "word_count": 3,
    "seo_score": 50,
    "readability_score": 60.0,
}
WRITES = ("insert_one", "update_one", "update_many")


def spec(**fields: Any) -> Any:
    parsed, errors = parse_job({"mode": "topic", "topic": "Rain gardens", "word_count": 300, **fields})
    assert not errors, errors
    return parsed


class Injector:
    """Raises AutoReconnect on the n-th write (or commit) from now: a connection dropped at that step."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.fail_at: int | None = None
        self.after_commit = False
        self.fired: list[str] = []
        for name in WRITES:
            self._wrap(monkeypatch, Collection, name)
        self._wrap(monkeypatch, ClientSession, "commit_transaction")

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        original = getattr(owner, name)
        injector = self

        def wrapper(this: Any, *args: Any, **kwargs: Any) -> Any:
            injector.calls += 1
            trip = injector.calls == injector.fail_at
            if trip and not (injector.after_commit and name == "commit_transaction"):
                injector.fired.append(name)
                raise AutoReconnect(f"injected before {name}")
            result = original(this, *args, **kwargs)
            if trip:
                injector.fired.append(f"{name} (applied)")
                raise AutoReconnect(f"injected after {name}")
            return result

        monkeypatch.setattr(owner, name, wrapper)

    @contextmanager
    def armed(self, at: int | None, *, after_commit: bool = False) -> Iterator[None]:
        self.calls, self.fail_at, self.after_commit, self.fired = 0, at, after_commit, []
        try:
            yield
        finally:
            self.fail_at = None


def claimed_batch_member(user: Any, worker_id: str) -> tuple[BulkJob, GenerationJob, ProgressTracker]:
    bulk = services.bulk_create(user=user, specs=[spec()])
    claimed = leases.job_claim(worker_id=worker_id)
    assert claimed is not None
    job, _ = claimed
    assert job.bulk_job_id == bulk.pk
    return bulk, job, ProgressTracker(job, worker_id=worker_id, last_seq=events.last_seq(job.pk))


def assert_finished_once(job: GenerationJob, bulk: BulkJob, status: str) -> None:
    stored = GenerationJob.objects.get(pk=job.pk)
    assert stored.status == status and stored.lease_owner is None
    log = events.after(job.pk, 0)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["type"] for e in log].count("complete") == 1 and log[-1]["type"] == "complete"
    assert log[-1]["data"]["status"] == status
    bulk = BulkJob.objects.get(pk=bulk.pk)
    assert bulk.counts == {**dict.fromkeys(GenerationJob.Status.values, 0), status: 1}
    assert bulk.completed_at is not None
    bulk_log = events.after(bulk.pk, 0)
    assert [e["type"] for e in bulk_log].count("complete") == 1 and bulk_log[-1]["type"] == "complete"


def test_a_write_error_at_any_step_of_the_terminal_move_still_ends_with_exactly_one_complete(
    user, monkeypatch
):
    injector = Injector(monkeypatch)
    bulk, job, tracker = claimed_batch_member(user, "w-count")
    with injector.armed(None):
        tracker.complete(RESULT)
    steps = injector.calls
    assert steps >= 5, f"job, batch counters, batch completion, events and commit: {steps} writes seen"
    assert_finished_once(job, bulk, "completed")
    # Each step failing before it is applied, and the commit also failing after it was applied (reply lost).
    for step, after_commit in [*((n, False) for n in range(1, steps + 1)), (steps, True)]:
        GenerationJob.objects.all().delete()
        bulk, job, tracker = claimed_batch_member(user, f"w-{step}")
        with injector.armed(step, after_commit=after_commit):
            tracker.complete(RESULT)
        assert injector.fired, f"step {step}: nothing injected"
        assert_finished_once(job, bulk, "completed")


def test_without_transactions_a_write_error_at_any_step_is_repaired_to_exactly_one_complete(
    user, monkeypatch
):
    # A standalone mongod has no transactions: the terminal move is sequential writes, retried, and
    # whatever a crash between them leaves is the reconciler's to make whole.
    monkeypatch.setattr(mongo, "_supported", False)
    injector = Injector(monkeypatch)
    bulk, job, tracker = claimed_batch_member(user, "w-count")
    with injector.armed(None):
        tracker.complete(RESULT)
    steps = injector.calls
    assert "commit_transaction" not in str(injector.fired)
    assert_finished_once(job, bulk, "completed")
    for step in range(1, steps + 1):
        GenerationJob.objects.all().delete()
        BulkJob.objects.all().delete()
        bulk, job, tracker = claimed_batch_member(user, f"w-{step}")
        # The error comes after the write was applied (the reply lost). The retry then finds the job no
        # longer held when the first write went through, and the worker logs a lost lease.
        with injector.armed(step, after_commit=True), contextlib.suppress(leases.LeaseLost):
            tracker.complete(RESULT)
        assert injector.fired, f"step {step}: nothing injected"
        reconcile.run()
        assert_finished_once(job, bulk, "completed")


def test_the_reconciler_repairs_counters_completion_and_missing_complete_events(user):
    bulk = services.bulk_create(user=user, specs=[spec(), spec(topic="Green roofs")])
    first, second = GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at")
    # A crash between writes, made on purpose: both jobs stored as finished, no counters moved,
    # no complete events, and a counter off by itself.
    GenerationJob.objects.filter(pk=first.pk).update(status="completed")
    GenerationJob.objects.filter(pk=second.pk).update(status="failed")
    BulkJob.objects.filter(pk=bulk.pk).update(count_queued=7)

    repaired = reconcile.run()

    assert repaired == {
        "complete_events": 2,
        "batch_counters": 1,
        "batch_completed_at": 1,
        "batch_complete_events": 0,
    }
    bulk = BulkJob.objects.get(pk=bulk.pk)
    assert bulk.counts == {"queued": 0, "processing": 0, "completed": 1, "failed": 1, "cancelled": 0}
    assert bulk.completed_at is not None
    assert [e["type"] for e in events.after(bulk.pk, 0)][-1] == "complete"
    for job, status in ((first, "completed"), (second, "failed")):
        log = events.after(job.pk, 0)
        assert log[-1]["type"] == "complete" and log[-1]["data"]["status"] == status
    assert set(reconcile.run().values()) == {0}


def test_a_workers_reconciler_reads_only_what_moved_since_its_previous_pass(user):
    old, new = (services.job_create(user=user, spec=spec(topic=t)) for t in ("Old", "New"))
    reconciler = reconcile.Reconciler()
    assert reconciler.run()["complete_events"] == 0
    # Broken on purpose: finished with no complete event, one before the previous pass's window.
    before = reconciler.since - reconcile.OVERLAP
    GenerationJob.objects.filter(pk=old.pk).update(status="completed", updated_at=before)
    GenerationJob.objects.filter(pk=new.pk).update(status="completed")

    assert reconciler.run()["complete_events"] == 1
    assert events.latest(new.pk)["type"] == "complete"
    assert events.latest(old.pk)["type"] != "complete"
    # A full pass (a worker's first) still reaches back LOOKBACK.
    assert reconcile.run()["complete_events"] == 1


def test_the_reconciler_reopens_a_batch_marked_complete_too_early(user):
    bulk = services.bulk_create(user=user, specs=[spec()])
    BulkJob.objects.filter(pk=bulk.pk).update(completed_at=bulk.created_at)
    assert reconcile.run()["batch_completed_at"] == 1
    assert BulkJob.objects.get(pk=bulk.pk).completed_at is None


def test_a_retry_inside_a_finished_batch_reopens_it_and_it_completes_again(user):
    bulk, job, tracker = claimed_batch_member(user, "w1")
    tracker.fail("The model refused", "writing")
    assert BulkJob.objects.get(pk=bulk.pk).completed_at is not None

    services.job_retry(job=GenerationJob.objects.get(pk=job.pk))
    reopened = BulkJob.objects.get(pk=bulk.pk)
    assert reopened.completed_at is None
    assert reopened.counts["queued"] == 1 and reopened.counts["failed"] == 0
    assert events.latest(bulk.pk)["type"] == "progress"

    job, _ = leases.job_claim(worker_id="w2")
    ProgressTracker(job, worker_id="w2", last_seq=events.last_seq(job.pk)).complete(RESULT)
    done = BulkJob.objects.get(pk=bulk.pk)
    assert done.completed_at is not None and done.counts["completed"] == 1
    bulk_log = events.after(bulk.pk, 0)
    assert [e["type"] for e in bulk_log].count("complete") == 2 and bulk_log[-1]["type"] == "complete"
    assert bulk_log[-1]["data"]["counts"]["completed"] == 1


def test_hand_backs_count_as_attempts_and_past_the_cap_the_job_fails_saying_why(user, settings):
    settings.CONTENTGEN_MAX_ATTEMPTS = 3
    job = services.job_create(user=user, spec=spec())
    for attempt in (1, 2, 3):
        claimed, _ = leases.job_claim(worker_id="w")
        assert claimed.attempts == attempt
        assert leases.job_release(job=claimed, worker_id="w", message="Worker stopped; back in the queue")
    claimed, _ = leases.job_claim(worker_id="w")
    execute(claimed, worker_id="w", taken_over=False, running=RunningJob(claimed))
    stored = GenerationJob.objects.get(pk=job.pk)
    assert stored.status == "failed"
    assert stored.error.message.startswith("Attempts exhausted")
    assert (
        "started 4 times" in stored.error.message and "CONTENTGEN_MAX_ATTEMPTS is 3" in stored.error.message
    )
    messages = [e["data"]["progress"]["message"] for e in events.after(job.pk, 0) if "progress" in e["data"]]
    assert not any("of 3)" in m and "attempt 4" in m for m in messages)


def test_a_hand_back_for_an_unreachable_store_is_not_charged(user):
    job = services.job_create(user=user, spec=spec())
    claimed, _ = leases.job_claim(worker_id="w")
    assert claimed.attempts == 1
    assert leases.job_release(
        job=claimed, worker_id="w", message="The database was unreachable", refund=True
    )
    stored = GenerationJob.objects.get(pk=job.pk)
    assert (stored.status, stored.attempts) == ("queued", 0)


def test_a_job_past_its_deadline_fails_with_a_timeout_message(user, settings, monkeypatch):
    settings.CONTENTGEN_JOB_TIMEOUT_SECONDS = 2
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "50")
    job = services.job_create(user=user, spec=spec())
    claimed, _ = leases.job_claim(worker_id="w")
    execute(claimed, worker_id="w", taken_over=False, running=RunningJob(claimed))
    stored = GenerationJob.objects.get(pk=job.pk)
    assert stored.status == "failed"
    assert (
        stored.error.message.startswith("Timed out")
        and "CONTENTGEN_JOB_TIMEOUT_SECONDS" in stored.error.message
    )
    assert stored.progress.elapsed_seconds < 15
    assert events.latest(job.pk)["type"] == "complete"


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


def test_a_worker_reconciles_at_start_beside_its_jobs(user):
    broken = services.job_create(user=user, spec=spec(topic="Finished with no complete event"))
    GenerationJob.objects.filter(pk=broken.pk).update(status="completed")
    queued = services.job_create(user=user, spec=spec(topic="Still to write"))

    burst_here(timeout=90, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="0")

    assert events.latest(broken.pk)["type"] == "complete"
    assert GenerationJob.objects.get(pk=queued.pk).status == "completed"


def test_a_reconciler_that_keeps_failing_does_not_hold_up_claiming(user, monkeypatch, settings):
    settings.CONTENTGEN_OFFLINE_TOKENS_PER_SECOND = 0
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")
    passes: list[int] = []

    def failing(self: reconcile.Reconciler) -> dict[str, int]:
        passes.append(1)
        raise AutoReconnect("injected: the reconciler's store is unreachable")

    monkeypatch.setattr(reconcile.Reconciler, "run", failing)
    job = services.job_create(user=user, spec=spec())
    burst_here(timeout=90)  # raises if the burst worker did not finish
    assert passes, "the reconciler never ran"
    assert GenerationJob.objects.get(pk=job.pk).status == "completed"


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


def test_an_idle_worker_stops_at_once_when_told_to_in_a_long_wait_for_work(monkeypatch):
    """SIGTERM and Ctrl-C call `stop()`; Python resumes the select of the wait for a notification after the
    handler, so an idle worker used to obey only when its wait ran out (up to IDLE_MAX)."""
    from jobs.runtime import worker as worker_module  # noqa: PLC0415

    monkeypatch.setattr(worker_module, "IDLE_MIN", 6.0)  # the first wait for work: 4.8-7.2 s
    waiting = threading.Event()
    real_wait = Worker._wait_for_work

    def wait_for_work(self: Worker, timeout: float) -> None:
        waiting.set()
        real_wait(self, timeout)

    monkeypatch.setattr(Worker, "_wait_for_work", wait_for_work)
    worker = Worker()
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        assert waiting.wait(30), "the worker never waited for work"
        time.sleep(0.3)  # well into the wait: not a synchronisation, the wait is at least 4.8 s
        told = time.monotonic()
        worker.stop()
        runner.join(timeout=10)
        stopped_in = time.monotonic() - told
    finally:
        worker.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert stopped_in < 1.5, f"the idle worker took {stopped_in:.1f} s to stop"


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


def test_a_transaction_left_open_by_a_dead_worker_is_skipped_by_claims_and_reaped_within_seconds(user):
    if "secantusVersion" not in mongo.database().client.admin.command("buildInfo"):
        pytest.skip("the transaction lifetime is set on the embedded server only (docs/deploy.md: MongoDB)")
    held = services.job_create(user=user, spec=spec(topic="Held by a dead transaction"))
    free = services.job_create(user=user, spec=spec(topic="Free to claim"))
    subprocess.run(
        [sys.executable, "-c", DIES_IN_A_TRANSACTION, child_mongodb_uri(), str(held.pk)],
        timeout=30,
        check=True,
    )
    started = time.monotonic()

    claimed = leases.job_claim(worker_id="w1")
    assert claimed is not None and claimed[0].pk == free.pk
    assert time.monotonic() - started < 5, "the claim waited on the contended job"

    # The server reaps the dead transaction; then the held job is claimable too.
    again = wait_until(lambda: leases.job_claim(worker_id="w2"), timeout=30, interval=0.2, what="a claim")
    waited = time.monotonic() - started
    assert again[0].pk == held.pk
    assert waited <= secantus_server.TRANSACTION_LIFETIME_SECONDS + 3, waited


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
