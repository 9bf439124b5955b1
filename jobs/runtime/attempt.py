"""One attempt at one job, in the calling thread: run the pipeline, feed its events to the tracker, and
settle how the attempt ended (completed, failed with its stage and a message a person can act on,
cancelled, or handed back to the queue)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from typing import Any

from django.conf import settings

from contentgen import clock
from contentgen.resilience import Unavailable, is_transient, retry
from jobs.core import leases, usage
from jobs.core.leases import LeaseLost
from jobs.models import GenerationJob
from jobs.pipeline import JobInput, PipelineCancelled, PipelineEvent, StageFailed, run_pipeline, stages
from jobs.pipeline.runner import MATERIALS, STEP, USAGE
from jobs.runtime.research import Research
from jobs.runtime.tracker import ProgressTracker
from progress import events

logger = logging.getLogger("contentgen.worker")


class RunningJob:
    def __init__(self, job: GenerationJob) -> None:
        self.job = job
        self.handback = threading.Event()
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.timed_out = threading.Event()
        self.deadline = time.monotonic() + remaining_seconds(job)

    def should_stop(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.timed_out.set()
        return self.handback.is_set() or self.cancel.is_set() or self.lost.is_set() or self.timed_out.is_set()


def remaining_seconds(job: GenerationJob) -> float:
    """CONTENTGEN_JOB_TIMEOUT_SECONDS counts from the job's first start, across attempts."""
    limit = float(settings.CONTENTGEN_JOB_TIMEOUT_SECONDS)
    started = job.progress.started_at
    if started is None:
        return limit
    return limit - (clock.now() - started).total_seconds()


def attempts_exhausted_message(attempts: int, max_attempts: int) -> str:
    return (
        f"Attempts exhausted: this job was started {attempts} times and every attempt before was cut short "
        f"(a worker died, was stopped, or lost its lease); CONTENTGEN_MAX_ATTEMPTS is {max_attempts}. "
        "Check the workers' logs and memory, then retry the job."
    )


def timeout_message(stage: str) -> str:
    limit = float(settings.CONTENTGEN_JOB_TIMEOUT_SECONDS)
    return (
        f"Timed out: the job ran longer than {limit:.0f} s (CONTENTGEN_JOB_TIMEOUT_SECONDS) and was stopped "
        f"in the {stages.stage_label(stage)} stage. Retry it, or raise the limit for long articles."
    )


def hand_back_unreachable(job: GenerationJob, *, worker_id: str, running: RunningJob) -> None:
    """The store stayed away past the write budget: hand the job back without charging the attempt.

    Retried until the store answers (the slot has nothing better to do meanwhile) or the worker stops;
    if another worker took the job over in between, the release finds nothing to do.
    """
    try:
        released = retry(
            lambda: leases.job_release(
                job=job,
                worker_id=worker_id,
                message="The database was unreachable; back in the queue",
                refund=True,
            ),
            budget=24 * 3600.0,
            what=f"job {job.pk}: hand-back",
            stop=running.handback,
        )
    except Unavailable:
        logger.warning(
            "job %s: could not hand back; its lease will expire and another worker takes it", job.pk
        )
        return
    logger.warning("job %s: %s", job.pk, "handed back, attempt not charged" if released else "no longer ours")


def execute(job: GenerationJob, *, worker_id: str, taken_over: bool, running: RunningJob) -> None:
    """One attempt at one job, in the calling thread (the only thread that touches the ORM for it)."""
    max_attempts = int(settings.CONTENTGEN_MAX_ATTEMPTS)
    stage = job.progress.stage if job.progress.stage in stages.STAGE_ORDER else stages.RESEARCH
    try:
        last_seq = retry(
            lambda: events.last_seq(job.pk),
            budget=float(settings.CONTENTGEN_WRITE_RETRY_SECONDS),
            what=f"job {job.pk}: start",
            stop=running.handback,
        )
    except Unavailable:
        hand_back_unreachable(job, worker_id=worker_id, running=running)
        return
    tracker = ProgressTracker(job, worker_id=worker_id, last_seq=last_seq, stop=running.handback)
    try:
        if job.attempts > max_attempts:
            tracker.fail(attempts_exhausted_message(job.attempts, max_attempts), stage)
            return
        if running.should_stop() and running.timed_out.is_set():
            tracker.fail(timeout_message(stage), stage)
            return
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
            elif event.kind == MATERIALS:
                tracker.keep_output(MATERIALS, event.output)
            elif event.kind == USAGE:
                try:
                    usage.record(tracker.job, json.loads(event.output or "{}"))
                except Exception:  # bookkeeping: it never fails a job that ran
                    logger.warning("job %s: its token usage was not recorded", tracker.job.pk, exc_info=True)
            elif event.kind == STEP:
                tracker.stage_progress(event.stage, event.stage_progress, event.message, force=True)
            else:
                tracker.stage_progress(
                    event.stage, event.stage_progress, event.message, event.draft_append, tokens=event.tokens
                )

        job_input = JobInput(
            mode=job.mode,
            topic=job.topic,
            keywords=list(job.keywords or []),
            source_text=job.source_text,
            word_count=job.word_count,
            tone=job.tone,
            use_knowledge_base=job.use_knowledge_base,
            use_web=job.use_web,
            source_urls=tuple(job.source_urls or ()),
        )
        result = run_pipeline(
            job_input,
            completed=dict(job.stage_outputs or {}),
            on_event=on_event,
            should_cancel=running.should_stop,
            llm_name=settings.CONTENTGEN_LLM,
            stall_seconds=float(settings.CONTENTGEN_LLM_STALL_SECONDS),
            researcher=Research(job.user_id),
        )
        # The result's usage is the job's, over every attempt (recorded as each attempt ended).
        tracker.complete({**dataclasses.asdict(result), "usage": tracker.job.usage or result.usage})
        return
    except PipelineCancelled:
        pass
    except StageFailed as exc:
        _settle(tracker.fail, exc.message, exc.stage, job=job, worker_id=worker_id, running=running)
        return
    except LeaseLost:
        logger.warning("job %s: lease lost, another worker has it now", job.pk)
        return
    except Unavailable:
        hand_back_unreachable(job, worker_id=worker_id, running=running)
        return
    except Exception as exc:
        if is_transient(exc):
            logger.warning(
                "job %s: store fault outside the write retry (%s); handing back", job.pk, exc, exc_info=True
            )
            hand_back_unreachable(job, worker_id=worker_id, running=running)
            return
        logger.exception("job %s failed unexpectedly", job.pk)
        message = f"Unexpected error in the {stages.stage_label(stage)} stage: {exc}. Retry the job."
        _settle(tracker.fail, message, stage, job=job, worker_id=worker_id, running=running)
        return
    # The pipeline stopped on request: say why, in this order of precedence.
    if running.lost.is_set():
        logger.warning("job %s: lease lost, another worker has it now", job.pk)
    elif running.cancel.is_set():
        _settle(tracker.cancelled, job=job, worker_id=worker_id, running=running)
    elif running.timed_out.is_set():
        _settle(tracker.fail, timeout_message(stage), stage, job=job, worker_id=worker_id, running=running)
    else:
        try:
            leases.job_release(job=job, worker_id=worker_id, message="Worker stopped; back in the queue")
        except Exception as exc:  # the lease expires and another worker takes the job over
            logger.warning("job %s: hand-back on shutdown failed: %s", job.pk, exc)


def _settle(end: Any, *args: str, job: GenerationJob, worker_id: str, running: RunningJob) -> None:
    """Store a terminal state; a store outage hands the job back instead, a lost lease drops it."""
    try:
        end(*args)
    except LeaseLost:
        logger.warning("job %s: lease lost, another worker has it now", job.pk)
    except Unavailable:
        hand_back_unreachable(job, worker_id=worker_id, running=running)
