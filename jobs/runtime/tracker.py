"""Turns what the crew is doing into persisted, pushed progress for one job attempt.

Keeps the API of the original story (docs/story.md): `update`, `complete`, `fail`. Every change is
written to the job's snapshot (`jobs.core.services.job_snapshot_write`, only while this worker holds the
lease) and published as an event (`jobs.core.services.job_emit`: the event log, then the channel layer).
Events are merged to at most ~5/s and snapshots to ~2/s per job, because a 1,000-word article streams
thousands of chunks; stage changes and the final state are never merged away.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings

from contentgen.clock import now
from contentgen.resilience import retry
from jobs.core import eta
from jobs.core import events as payloads
from jobs.core.batches import member_stage_changed
from jobs.core.events import job_emit
from jobs.core.leases import LeaseLost, job_finish, job_snapshot_write
from jobs.models import GenerationJob, JobError, Result, Stage
from jobs.pipeline import stages

T = TypeVar("T")

EVENT_INTERVAL = 0.2
SNAPSHOT_INTERVAL = 0.5

# Below 100 until the job is really complete, even when the last stage reports 100%.
MAX_RUNNING_PERCENTAGE = 99.9


class ProgressTracker:
    """Every write is retried through a store outage for CONTENTGEN_WRITE_RETRY_SECONDS; past that,
    `contentgen.resilience.Unavailable` goes up and the worker hands the job back."""

    def __init__(
        self, job: GenerationJob, *, worker_id: str, last_seq: int, stop: threading.Event | None = None
    ) -> None:
        self.job = job
        self.worker_id = worker_id
        self.seq = last_seq
        self._stop = stop
        self.current_stage: str = job.progress.stage
        self._last_event = 0.0
        self._last_snapshot = 0.0
        self._dirty_event = False
        self._dirty_snapshot = False
        self._stage_started_mono: float = time.monotonic()
        # The writing stage's streamed draft: offset of the text not yet published, and that text.
        self._draft_offset = 0
        self._draft_pending = ""
        self.estimator = eta.JobEta(job)
        self._tokens = 0
        self._started_mono = time.monotonic()

    # The story's API -------------------------------------------------------------------------

    def update(
        self,
        stage: str,
        progress: float,
        message: str,
        stage_progress: float | None = None,
        *,
        force: bool = False,
    ) -> None:
        p = self.job.progress
        stage_changed = stage != p.stage
        if stage_changed:
            self._stage_started_mono = time.monotonic()
        p.stage = stage
        p.percentage = round(min(MAX_RUNNING_PERCENTAGE, max(p.percentage, progress)), 1)
        p.stage_progress = round(stage_progress if stage_progress is not None else progress, 1)
        p.message = message
        self.current_stage = stage
        self._refresh_times()
        self._dirty_event = self._dirty_snapshot = True
        self._flush(force=force or stage_changed or p.stage_progress >= 100)
        if stage_changed and self.job.bulk_job_id:
            self._store("batch event", lambda: member_stage_changed(job=self.job))

    def complete(self, result: dict[str, Any]) -> None:
        p = self.job.progress
        stamp = now()
        self.job.status = GenerationJob.Status.COMPLETED
        self.job.result = Result(**result)
        p.stage, p.stage_progress, p.percentage = Stage.COMPLETED, 100.0, 100.0
        p.message = "Article ready"
        p.completed_at = stamp
        p.estimated_completion = p.estimated_completion_low = p.estimated_completion_high = stamp
        self._refresh_times(finished=True)
        self._terminal()

    def fail(self, error_message: str, stage: str) -> None:
        self.job.error = JobError(message=error_message, stage=stage, timestamp=now())
        self._stopped(GenerationJob.Status.FAILED, f"Failed in the {stages.stage_label(stage)} stage")

    def cancelled(self) -> None:
        self._stopped(GenerationJob.Status.CANCELLED, "Cancelled")

    def _stopped(self, status: str, message: str) -> None:
        """Ended without an article: no completion estimate is left standing."""
        p = self.job.progress
        self.job.status = status
        p.message = message
        p.completed_at = now()
        p.estimated_completion = p.estimated_completion_low = p.estimated_completion_high = None
        self._refresh_times(finished=True)
        self._terminal()

    # Driven by the pipeline ------------------------------------------------------------------

    def stage_started(self, stage: str, message: str) -> None:
        timings = dict(self.job.stage_timings or {})
        timings[stage] = {"started_at": now().isoformat(), "completed_at": None, "seconds": None}
        self.job.stage_timings = timings
        if stage == Stage.WRITING:
            self._draft_offset, self._draft_pending = 0, ""
        self.update(stage, stages.overall_percentage(self.job.mode, stage, 0), message, 0)

    def stage_progress(
        self,
        stage: str,
        stage_progress: float,
        message: str,
        draft_append: str = "",
        *,
        force: bool = False,
        tokens: int = 0,
    ) -> None:
        """`force`: a step of real work, sent as it happens (a handful per stage), never merged away.
        `tokens`: what the models have streamed so far in this attempt."""
        self._draft_pending += draft_append
        self._tokens = max(self._tokens, tokens)
        overall = stages.overall_percentage(self.job.mode, stage, stage_progress)
        self.update(stage, overall, message, stage_progress, force=force)

    def stage_completed(self, stage: str, output: str | None, message: str) -> None:
        timings = dict(self.job.stage_timings or {})
        entry = dict(timings.get(stage) or {"started_at": now().isoformat()})
        entry["completed_at"] = now().isoformat()
        entry["seconds"] = round(time.monotonic() - self._stage_started_mono, 3)
        timings[stage] = entry
        self.job.stage_timings = timings
        outputs = dict(self.job.stage_outputs or {})
        if output is not None:
            outputs[stage] = output
        self.job.stage_outputs = outputs
        self._persist({f"stage_outputs.{stage}": outputs.get(stage), f"stage_timings.{stage}": entry})
        self.update(stage, stages.overall_percentage(self.job.mode, stage, 100), message, 100)

    def keep_output(self, name: str, output: str | None) -> None:
        """Something a later attempt needs beside the stages' outputs (the research's gathered sources)."""
        outputs = dict(self.job.stage_outputs or {})
        outputs[name] = output
        self.job.stage_outputs = outputs
        self._persist({f"stage_outputs.{name}": output})

    def announce(self, message: str) -> None:
        """A message with no change of stage, always sent (claims, takeovers, hand-backs)."""
        self.job.progress.message = message
        self._refresh_times()
        self._dirty_event = self._dirty_snapshot = True
        self._flush(force=True)

    def tick(self) -> None:
        """Called between pipeline events: sends what was merged once its interval has passed."""
        self._flush(force=False)

    # Internals -------------------------------------------------------------------------------

    def _refresh_times(self, *, finished: bool = False) -> None:
        p = self.job.progress
        stamp = now()
        if p.started_at is None:
            p.started_at = stamp
        started = p.started_at if p.started_at.tzinfo else p.started_at.replace(tzinfo=dt.UTC)
        p.elapsed_seconds = round((stamp - started).total_seconds(), 1)
        if not finished:
            estimate = self.estimator.running(
                stage=p.stage,
                stage_progress=p.stage_progress,
                stage_elapsed=time.monotonic() - self._stage_started_mono,
                at=stamp,
            )
            if estimate is not None:
                p.estimated_completion, p.estimated_completion_low, p.estimated_completion_high = estimate
        self.job.updated_at = stamp

    def _flush(self, *, force: bool) -> None:
        clock = time.monotonic()
        if self._dirty_snapshot and (force or clock - self._last_snapshot >= SNAPSHOT_INTERVAL):
            self._persist(self._snapshot_fields())
            self._last_snapshot = clock
            self._dirty_snapshot = False
        # Timed from the publish itself, after the snapshot write above: a slow write must not let the
        # next event follow this one sooner than EVENT_INTERVAL.
        if self._dirty_event and (force or time.monotonic() - self._last_event >= EVENT_INTERVAL):
            self._last_event = time.monotonic()
            self._publish("progress")
            self._dirty_event = False

    def _snapshot_fields(self) -> dict[str, Any]:
        fields = {f"progress.{name}": getattr(self.job.progress, name) for name in payloads.PROGRESS_FIELDS}
        fields.update(
            {f"progress.{name}": getattr(self.job.progress, name) for name in payloads.PROGRESS_TIMES}
        )
        fields["updated_at"] = self.job.updated_at
        return fields

    def _store(self, what: str, call: Callable[[], T]) -> T:
        budget = float(settings.CONTENTGEN_WRITE_RETRY_SECONDS)
        return retry(call, budget=budget, what=f"job {self.job.pk}: {what}", stop=self._stop)

    def _persist(self, fields: dict[str, Any]) -> None:
        written = self._store(
            "snapshot",
            lambda: job_snapshot_write(job_id=self.job.pk, worker_id=self.worker_id, fields=fields),
        )
        if not written:
            raise LeaseLost(f"job {self.job.pk} is no longer held by {self.worker_id}")

    def _publish(self, type: str) -> None:
        extra: dict[str, Any] = {}
        if type == "progress" and self._draft_pending:
            extra["draft"] = {"offset": self._draft_offset, "text": self._draft_pending}
            self._draft_offset += len(self._draft_pending)
            self._draft_pending = ""
        if type == "progress" and self._tokens:
            seconds = max(0.001, time.monotonic() - self._started_mono)
            extra["tokens"] = {"total": self._tokens, "per_second": round(self._tokens / seconds, 1)}
        self.seq = self._store(
            "event", lambda: job_emit(job=self.job, type=type, after=self.seq, extra=extra)
        )

    def _terminal(self) -> None:
        self.seq = self._store("final state", lambda: job_finish(job=self.job, worker_id=self.worker_id))
        self._dirty_event = self._dirty_snapshot = False
