"""The worker: claims jobs, runs the pipeline, keeps its leases alive, and shuts down gracefully.

Any number of workers on any hosts: a job is claimed with one conditional update that sets a lease
(owner, expiry). The owner renews it every third of the lease; a job whose lease expires was held
by a dead worker and is taken over by any other, resuming after its last completed stage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from contentgen.redisconn import client
from contentgen.resilience import Backoff, is_transient
from jobs.core import leases, workers
from jobs.core.logs import job_log_context
from jobs.models import GenerationJob
from jobs.runtime import retention
from jobs.runtime.attempt import RunningJob, execute
from jobs.runtime.sidecars import Sidecars
from progress.layer import sender

logger = logging.getLogger("contentgen.worker")

IDLE_MIN, IDLE_MAX = 0.5, 5.0
STOP_CHECK_SECONDS = 0.2


class Worker:
    def __init__(
        self,
        *,
        concurrency: int = 1,
        burst: bool = False,
        worker_id: str | None = None,
        metrics_port: int | None = None,
        metrics_address: str = "127.0.0.1",
    ) -> None:
        self.metrics_port, self.metrics_address = metrics_port, metrics_address
        self.concurrency = max(1, concurrency)
        self.burst = burst
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self.running: dict[Any, RunningJob] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="job")
        self.futures: set[Future[None]] = set()
        self.lease_seconds = float(settings.CONTENTGEN_WORKER_LEASE_SECONDS)
        self._pubsub: Any = None
        # Set once the lease watch has made its first pass: the first claim comes after it, so a burst
        # worker started after a crash finds the dead worker's jobs back in the queue.
        self._watched = threading.Event()

    # Signals -------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info(
            "worker %s: %s received, handing running jobs back", self.worker_id, signal.Signals(signum).name
        )
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for running in self.running.values():
                running.handback.set()

    # Loop ----------------------------------------------------------------------------------

    def run(self) -> int:
        logger.info("worker %s started (concurrency %d)", self.worker_id, self.concurrency)
        heart = threading.Thread(target=self._heartbeat, name="lease-heartbeat", daemon=True)
        heart.start()
        watch = threading.Thread(target=self._watch_abandoned, name="abandoned-watch", daemon=True)
        watch.start()
        self._watched.wait(self.lease_seconds)
        sidecars = Sidecars(
            self, metrics_port=self.metrics_port, metrics_address=self.metrics_address
        ).start()
        self._subscribe()
        idle = IDLE_MIN
        outage = Backoff(base=0.5, cap=IDLE_MAX * 2)
        outage_since: float | None = None
        quiet = False  # a burst worker's last claim found nothing, nor any expired lease to put back
        try:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    claimed = self._free_slots() and self._claim_one()
                except Exception as exc:
                    # The loop outlives any outage: log once, back off with jitter, resume when it returns.
                    if outage_since is None:
                        outage_since = time.monotonic()
                        if is_transient(exc):
                            logger.warning(
                                "worker %s: store unreachable (%s: %s); backing off",
                                self.worker_id,
                                type(exc).__name__,
                                exc,
                            )
                        else:
                            logger.exception("worker %s: claim loop error; backing off", self.worker_id)
                    self.stopping.wait(outage.next_delay())
                    continue
                if outage_since is not None:
                    logger.info(
                        "worker %s: store reachable again after %.1f s",
                        self.worker_id,
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
                    outage.reset()
                if claimed:
                    idle, quiet = IDLE_MIN, False
                    continue
                if self.burst and not self._busy() and not self._abandoned_pending():
                    # Nothing claimed and no lease left to put back. The lease watch may have put a job back
                    # in the queue between that claim and this read of the leases: a second claim decides.
                    if quiet:
                        break
                    quiet = True
                    continue
                quiet = False
                self._wait_for_work(self._idle_timeout(idle))
                idle = min(IDLE_MAX, idle * 2)
        finally:
            self.stopping.set()
            self.stop()
            for future in list(self.futures):
                future.exception(timeout=self.lease_seconds + 30)
            self.pool.shutdown(wait=True)
            self.finished.set()
            sidecars.stop()
            if self._pubsub is not None:
                with contextlib.suppress(redis.RedisError):
                    self._pubsub.close()
            sender().flush()
            close_old_connections()
        logger.info("worker %s stopped", self.worker_id)
        return 0

    def _idle_timeout(self, idle: float) -> float:
        if not self._free_slots():
            return idle
        return idle * random.uniform(0.8, 1.2)

    def _free_slots(self) -> bool:
        with self.lock:
            return len(self.running) < self.concurrency

    def _busy(self) -> bool:
        with self.lock:
            return bool(self.running)

    def _abandoned_pending(self) -> bool:
        """Whether a lease held by another worker has run out and its job is not back in the queue yet. A
        burst worker drains dead workers' jobs too, so it waits for its lease watch then: the watch skips
        a job that a transaction holds, and a worker killed inside one leaves it open until the server
        reaps it (within its transaction lifetime)."""
        expiry = leases.next_lease_expiry(worker_id=self.worker_id)
        return expiry is not None and expiry <= timezone.now()

    def _claim_one(self) -> bool:
        # No takeovers here: the lease watch puts dead workers' jobs back in the queue (see _watch_abandoned).
        claimed = leases.job_claim(worker_id=self.worker_id, take_over=False)
        if claimed is None:
            return False
        job, taken_over = claimed
        running = RunningJob(job)
        with self.lock:
            self.running[job.pk] = running
        logger.info("worker %s claimed job %s (attempt %d%s)", self.worker_id, job.pk, job.attempts,
                    ", takeover" if taken_over else "")  # fmt: skip
        future = self.pool.submit(self._run_job, job, taken_over, running)
        self.futures.add(future)
        future.add_done_callback(self.futures.discard)
        return True

    def _run_job(self, job: GenerationJob, taken_over: bool, running: RunningJob) -> None:
        try:
            with job_log_context(job, worker_id=self.worker_id):
                execute(job, worker_id=self.worker_id, taken_over=taken_over, running=running)
        finally:
            with self.lock:
                # Only this run: the job may have been handed back and claimed again by this worker.
                if self.running.get(job.pk) is running:
                    del self.running[job.pk]
            close_old_connections()
            self._wake()

    # Waking up -----------------------------------------------------------------------------

    def _subscribe(self) -> None:
        try:
            self._pubsub = client().pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(workers.QUEUE_CHANNEL, workers.CANCEL_CHANNEL)
        except redis.RedisError as exc:
            logger.warning("no queue notifications (%s); polling with backoff instead", exc)
            self._pubsub = None

    def _wake(self) -> None:
        with contextlib.suppress(redis.RedisError):
            client().publish(workers.QUEUE_CHANNEL, b"slot")

    def _wait_for_work(self, timeout: float) -> None:
        """Until a notification, `timeout`, or a stop. The wait for a notification is cut in slices of
        STOP_CHECK_SECONDS: a signal does not end it (Python resumes the interrupted select), and an idle
        worker would otherwise take up to IDLE_MAX to obey SIGTERM or Ctrl-C."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not self.stopping.is_set():
            if self._pubsub is None:
                self.stopping.wait(left)
                return
            try:
                message = self._pubsub.get_message(timeout=min(left, STOP_CHECK_SECONDS))
            except redis.RedisError:
                self._pubsub = None
                continue
            if message:
                if message.get("channel") == workers.CANCEL_CHANNEL.encode():
                    self._cancel(message.get("data", b"").decode())
                return

    def _cancel(self, job_id: str) -> None:
        with self.lock:
            for pk, running in self.running.items():
                if str(pk) == job_id:
                    running.cancel.set()

    # Leases --------------------------------------------------------------------------------

    def _watch_abandoned(self) -> None:
        """Requeue the jobs of dead workers as their leases run out: this thread wakes when the next lease
        held by another worker expires (at least every third of a lease), busy or not, so a dead worker's
        job goes back to the queue about a lease after its last renewal even when no slot is free here.
        The requeue wakes the idle claimers, and a job back in the queue keeps its age, so it is at the
        head of the queue. This is the worker's only way to take a dead worker's job: its claims skip the
        read of expired leases."""
        while not self.finished.is_set():
            wait = self.lease_seconds / 3.0
            try:
                with self.lock:
                    running = set(self.running)
                leases.job_requeue_abandoned(worker_id=self.worker_id, running=running)
                expiry = leases.next_lease_expiry(worker_id=self.worker_id)
                if expiry is not None:
                    # A lease that ran out and is still held (its owner alive but cut off from MongoDB, or
                    # every claimer just skipped it as contended) is tried again after a jittered pause:
                    # the workers' watches must not spin against each other on the same job.
                    until = (expiry - timezone.now()).total_seconds()
                    wait = min(wait, max(random.uniform(0.3, 1.0), until + random.uniform(0.05, 0.3)))
            except Exception as exc:
                logger.warning(
                    "worker %s: requeueing dead workers' jobs failed (%s: %s)",
                    self.worker_id,
                    type(exc).__name__,
                    exc,
                )
            finally:
                close_old_connections()
                self._watched.set()
            self.finished.wait(wait)

    def _heartbeat(self) -> None:
        renewal_failing = False
        while not self.finished.wait(self.lease_seconds / 3.0):
            try:
                retention.maybe_prune()
            except Exception:
                logger.exception("event retention pass failed")
            renewal_failing = self._renew_leases(renewal_failing)

    def _renew_leases(self, failing: bool) -> bool:
        """Renew the leases of the jobs running here and pass on lost leases and cancel requests; returns
        whether renewal is failing. A verdict reaches only the run it was asked for: a job handed back and
        claimed again by this worker meanwhile is a new run, and its lease was not what was read."""
        with self.lock:
            runs = dict(self.running)
        if not runs:
            return failing
        try:
            held = leases.job_renew_leases(worker_id=self.worker_id, job_ids=list(runs))
            cancelled = leases.job_cancel_requested(job_ids=list(runs))
        except Exception as exc:
            if not failing:
                logger.warning("worker %s: lease renewal failed (%s); retrying", self.worker_id, exc)
            return True
        finally:
            close_old_connections()
        if failing:
            logger.info("worker %s: lease renewal works again", self.worker_id)
        with self.lock:
            for pk, asked in runs.items():
                run = self.running.get(pk)
                if run is None or run is not asked:
                    continue
                if pk not in held:
                    run.lost.set()
                if pk in cancelled:
                    run.cancel.set()
        return False
