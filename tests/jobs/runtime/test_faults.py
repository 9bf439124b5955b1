"""Store faults inside a job's terminal move, the reconciler and reopened batches: in this process, against
the real embedded MongoDB, with write errors injected in pymongo."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect

from contentgen import mongo
from jobs.core import batches, leases, services
from jobs.models import BulkJob, GenerationJob
from jobs.runtime import reconcile
from jobs.runtime.tracker import ProgressTracker
from progress import events
from tests.jobs.runtime.support import RESULT, claimed_batch_member, spec

pytestmark = pytest.mark.django_db

WRITES = ("insert_one", "update_one", "update_many")


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


class Together:
    """Makes two threads meet at the named points of a batch's counter move, each the first time it gets
    there: what runs after a meeting runs in both at once, whatever the scheduler would have done."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, points: tuple[str, ...]) -> None:
        self.barriers = {point: threading.Barrier(2, timeout=30) for point in points}
        self.passed: set[tuple[str, int]] = set()
        real_shift, real_model = batches.bulk_shift, batches.BulkJob
        meet = self.meet

        def bulk_shift(**kwargs: Any) -> Any:
            meet("shift")
            return real_shift(**kwargs)

        class Objects:
            def get(self, **kwargs: Any) -> Any:
                meet("read")
                return real_model.objects.get(**kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(real_model.objects, name)

        class Batch:
            objects = Objects()

        monkeypatch.setattr(batches, "bulk_shift", bulk_shift)
        monkeypatch.setattr(batches, "BulkJob", Batch)

    def meet(self, point: str) -> None:
        key = (point, threading.get_ident())
        if point in self.barriers and key not in self.passed:
            self.passed.add(key)
            self.barriers[point].wait()


def in_threads(*calls: Any) -> None:
    errors: list[BaseException] = []

    def run(call: Any) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [t for t in threads if t.is_alive()], "a thread is still running"
    assert not errors, errors


@pytest.mark.parametrize(
    ("transactions", "points"),
    [
        # In a transaction both moves are in flight before either touches the batch; the server orders them.
        (True, ("shift",)),
        # Without transactions both counters have moved before either reads the batch back.
        (False, ("shift", "read")),
    ],
    ids=["in-transactions", "sequential-writes"],
)
def test_two_members_ending_at_the_same_moment_count_once_each_and_complete_the_batch_once(
    user, monkeypatch, transactions, points
):
    if not transactions:
        monkeypatch.setattr(mongo, "_supported", False)
    bulk = services.bulk_create(user=user, specs=[spec(), spec(topic="Green roofs")])
    trackers = []
    for worker_id in ("w1", "w2"):
        job, _ = leases.job_claim(worker_id=worker_id)
        trackers.append(ProgressTracker(job, worker_id=worker_id, last_seq=events.last_seq(job.pk)))
    together = Together(monkeypatch, points=points)

    in_threads(*(lambda tracker=tracker: tracker.complete(RESULT) for tracker in trackers))

    assert {point for point, _ in together.passed} == set(points), "the two ends did not meet"
    stored = BulkJob.objects.get(pk=bulk.pk)
    assert stored.counts == {**dict.fromkeys(GenerationJob.Status.values, 0), "completed": 2}
    assert stored.completed_at is not None
    bulk_log = events.after(bulk.pk, 0)
    assert [e["seq"] for e in bulk_log] == list(range(1, len(bulk_log) + 1))
    assert [e["type"] for e in bulk_log].count("complete") == 1 and bulk_log[-1]["type"] == "complete"
    assert bulk_log[-1]["data"]["counts"]["completed"] == 2
    for tracker in trackers:
        log = events.after(tracker.job.pk, 0)
        assert [e["type"] for e in log].count("complete") == 1 and log[-1]["type"] == "complete"
