"""The worker's own rules: the attempts cap, hand-backs, the job deadline, reconciling at start, and stopping
while idle."""

from __future__ import annotations

import threading
import time

import pytest
from pymongo.errors import AutoReconnect

from jobs.core import leases, services
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
