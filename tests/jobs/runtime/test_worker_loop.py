"""The worker's own rules: the attempts cap, hand-backs, the job deadline, reconciling at start, and stopping
while idle."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from jobs.core import leases, services, workers
from jobs.models import GenerationJob
from jobs.runtime import reconcile
from jobs.runtime.worker import RunningJob, Worker, execute
from progress import events
from tests.jobs.runtime.support import spec
from tests.stack import burst_here

pytestmark = pytest.mark.django_db


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


def test_an_idle_worker_stops_when_told_to_in_a_long_wait_for_work(monkeypatch):
    """SIGTERM and Ctrl-C call `stop()`; Python resumes the select of the wait for a notification after the
    handler, so an idle worker used to obey only when its wait ran out (up to IDLE_MAX)."""
    from jobs.runtime import worker as worker_module  # noqa: PLC0415

    monkeypatch.setattr(worker_module, "IDLE_MIN", 600.0)  # the first wait for work: 8 to 12 minutes
    # Channels of its own: another test's queue notification must not end the wait in place of the stop.
    monkeypatch.setattr(workers, "QUEUE_CHANNEL", f"test-queue-{ObjectId()}")
    monkeypatch.setattr(workers, "CANCEL_CHANNEL", f"test-cancel-{ObjectId()}")
    listening = threading.Event()
    real_subscribe = Worker._subscribe

    def subscribe(self: Worker) -> None:
        """The worker's subscription, telling the test when the worker waits on it."""
        real_subscribe(self)
        real_get = self._pubsub.get_message

        def get_message(*, timeout: float = 0.0, **kwargs: Any) -> Any:
            if timeout:
                listening.set()
            return real_get(timeout=timeout, **kwargs)

        self._pubsub.get_message = get_message

    monkeypatch.setattr(Worker, "_subscribe", subscribe)
    worker = Worker()
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        assert listening.wait(60), "the worker never waited for work"
        worker.stop()
        runner.join(timeout=30)  # a long way short of the wait's 8 minutes
        stopped = not runner.is_alive()
    finally:
        worker.stop()
        runner.join(timeout=60)
    assert stopped, "the idle worker did not stop until its wait ran out"
