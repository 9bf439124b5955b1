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
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections

from jobs import services
from jobs.models import GenerationJob
from jobs.pipeline import JobInput, PipelineCancelled, PipelineEvent, StageFailed, run_pipeline, stages
from jobs.queue import QUEUE_CHANNEL, client, worker_gone, worker_heartbeat
from jobs.services import LeaseLost
from jobs.tracker import ProgressTracker
from progress import events
from progress.layer import sender

logger = logging.getLogger("contentgen.worker")

IDLE_MIN, IDLE_MAX = 0.5, 5.0


class RunningJob:
    def __init__(self, job: GenerationJob) -> None:
        self.job = job
        self.handback = threading.Event()
        self.cancel = threading.Event()
        self.lost = threading.Event()

    def should_stop(self) -> bool:
        return self.handback.is_set() or self.cancel.is_set() or self.lost.is_set()


def execute(job: GenerationJob, *, worker_id: str, taken_over: bool, running: RunningJob) -> None:
    """One attempt at one job, in the calling thread (the only thread that touches the ORM for it)."""
    max_attempts = int(settings.CONTENTGEN_MAX_ATTEMPTS)
    tracker = ProgressTracker(job, worker_id=worker_id, last_seq=events.last_seq(job.pk))
    stage = job.progress.stage if job.progress.stage in stages.STAGE_ORDER else stages.RESEARCH
    try:
        if taken_over:
            tracker.announce(f"Worker lost, retrying (attempt {job.attempts} of {max_attempts})")
        elif job.attempts > 1:
            tracker.announce(f"Resuming (attempt {job.attempts} of {max_attempts})")
        else:
            tracker.announce("Starting generation")

        def on_event(event: PipelineEvent) -> None:
            nonlocal stage
            stage = event.stage
            if event.kind == "stage_started":
                tracker.stage_started(event.stage, event.message)
            elif event.kind == "stage_completed":
                tracker.stage_completed(event.stage, event.output, event.message)
            else:
                tracker.stage_progress(event.stage, event.stage_progress, event.message)

        job_input = JobInput(
            mode=job.mode,
            topic=job.topic,
            keywords=list(job.keywords or []),
            source_text=job.source_text,
            word_count=job.word_count,
            tone=job.tone,
        )
        result = run_pipeline(
            job_input,
            completed=dict(job.stage_outputs or {}),
            on_event=on_event,
            should_cancel=running.should_stop,
            llm_name=settings.CONTENTGEN_LLM,
        )
        tracker.complete(
            {
                "content": result.content,
                "meta_title": result.meta_title,
                "meta_description": result.meta_description,
                "word_count": result.word_count,
                "seo_score": result.seo_score,
                "readability_score": result.readability_score,
            }
        )
    except PipelineCancelled:
        if running.lost.is_set():
            logger.warning("job %s: lease lost, another worker has it now", job.pk)
        elif running.cancel.is_set():
            tracker.cancelled()
        else:
            if services.job_release(
                job=job, worker_id=worker_id, message="Worker stopped; back in the queue"
            ):
                tracker.seq = services.job_emit(job=job, after=tracker.seq)
    except StageFailed as exc:
        tracker.fail(exc.message, exc.stage)
    except LeaseLost:
        logger.warning("job %s: lease lost, another worker has it now", job.pk)
    except Exception as exc:
        logger.exception("job %s failed unexpectedly", job.pk)
        with contextlib.suppress(LeaseLost):
            tracker.fail(
                f"Unexpected error in the {stages.stage_label(stage)} stage: {exc}. Retry the job.", stage
            )


class Worker:
    def __init__(self, *, concurrency: int = 1, burst: bool = False, worker_id: str | None = None) -> None:
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
        self._subscribe()
        idle = IDLE_MIN
        try:
            while not self.stopping.is_set():
                close_old_connections()
                if self._free_slots() and self._claim_one():
                    idle = IDLE_MIN
                    continue
                if self.burst and not self._busy():
                    break
                self._wait_for_work(idle if not self._free_slots() else idle * random.uniform(0.8, 1.2))
                idle = min(IDLE_MAX, idle * 2)
        finally:
            self.stopping.set()
            self.stop()
            for future in list(self.futures):
                future.exception(timeout=self.lease_seconds + 30)
            self.pool.shutdown(wait=True)
            self.finished.set()
            worker_gone(worker_id=self.worker_id)
            if self._pubsub is not None:
                with contextlib.suppress(redis.RedisError):
                    self._pubsub.close()
            sender().flush()
            close_old_connections()
        logger.info("worker %s stopped", self.worker_id)
        return 0

    def _free_slots(self) -> bool:
        with self.lock:
            return len(self.running) < self.concurrency

    def _busy(self) -> bool:
        with self.lock:
            return bool(self.running)

    def _claim_one(self) -> bool:
        claimed = services.job_claim(worker_id=self.worker_id)
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
            execute(job, worker_id=self.worker_id, taken_over=taken_over, running=running)
        finally:
            with self.lock:
                self.running.pop(job.pk, None)
            close_old_connections()
            self._wake()

    # Waking up -----------------------------------------------------------------------------

    def _subscribe(self) -> None:
        try:
            self._pubsub = client().pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(QUEUE_CHANNEL, services.CANCEL_CHANNEL)
        except redis.RedisError as exc:
            logger.warning("no queue notifications (%s); polling with backoff instead", exc)
            self._pubsub = None

    def _wake(self) -> None:
        with contextlib.suppress(redis.RedisError):
            client().publish(QUEUE_CHANNEL, b"slot")

    def _wait_for_work(self, timeout: float) -> None:
        if self._pubsub is None:
            self.stopping.wait(timeout)
            return
        try:
            message = self._pubsub.get_message(timeout=timeout)
        except redis.RedisError:
            self._pubsub = None
            self.stopping.wait(timeout)
            return
        if message and message.get("channel") == services.CANCEL_CHANNEL.encode():
            self._cancel(message.get("data", b"").decode())

    def _cancel(self, job_id: str) -> None:
        with self.lock:
            for pk, running in self.running.items():
                if str(pk) == job_id:
                    running.cancel.set()

    # Leases --------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        ttl = self.lease_seconds
        worker_heartbeat(worker_id=self.worker_id, slots=self.concurrency, ttl=ttl)
        while not self.finished.wait(self.lease_seconds / 3.0):
            if not self.stopping.is_set():
                worker_heartbeat(worker_id=self.worker_id, slots=self.concurrency, ttl=ttl)
            else:
                worker_gone(worker_id=self.worker_id)
            with self.lock:
                ids = list(self.running)
            if not ids:
                continue
            try:
                held = services.job_renew_leases(worker_id=self.worker_id, job_ids=ids)
                cancelled = services.job_cancel_requested(job_ids=ids)
            except Exception:
                logger.exception("lease renewal failed")
                continue
            finally:
                close_old_connections()
            with self.lock:
                for pk in ids:
                    running = self.running.get(pk)
                    if running is None:
                        continue
                    if pk not in held:
                        running.lost.set()
                    if pk in cancelled:
                        running.cancel.set()
