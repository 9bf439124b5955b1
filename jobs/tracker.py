"""Turns what the crew is doing into persisted, pushed progress for one job attempt.

Keeps the API of the original story (docs/story.md): `update`, `complete`, `fail`. Every change is
written to the job's snapshot (`jobs.services.job_snapshot_write`, only while this worker holds the
lease) and published as an event (`jobs.services.job_emit`: the event log, then the channel layer).
Events are merged to at most ~5/s and snapshots to ~2/s per job, because a 1,000-word article streams
thousands of chunks; stage changes and the final state are never merged away.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from jobs import eta, payloads
from jobs.models import GenerationJob, JobError, Result, Stage
from jobs.pipeline import stages
from jobs.services import LeaseLost, bulk_member_changed, job_emit, job_finish, job_snapshot_write
from progress.events import now

EVENT_INTERVAL = 0.2
SNAPSHOT_INTERVAL = 0.5

# Below 100 until the job is really complete, even when the last stage reports 100%.
MAX_RUNNING_PERCENTAGE = 99.9


class ProgressTracker:
    def __init__(self, job: GenerationJob, *, worker_id: str, last_seq: int) -> None:
        self.job = job
        self.worker_id = worker_id
        self.seq = last_seq
        self.current_stage: str = job.progress.stage
        self._last_event = 0.0
        self._last_snapshot = 0.0
        self._dirty_event = False
        self._dirty_snapshot = False
        self._stage_started_mono: float = time.monotonic()
        self.estimator = eta.JobEta(job)

    # The story's API -------------------------------------------------------------------------

    def update(self, stage: str, progress: float, message: str, stage_progress: float | None = None) -> None:
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
        self._flush(force=stage_changed or p.stage_progress >= 100)
        if stage_changed and self.job.bulk_job_id:
            bulk_member_changed(job=self.job)

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
        self.update(stage, stages.overall_percentage(self.job.mode, stage, 0), message, 0)

    def stage_progress(self, stage: str, stage_progress: float, message: str) -> None:
        self.update(
            stage, stages.overall_percentage(self.job.mode, stage, stage_progress), message, stage_progress
        )

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
        if self._dirty_event and (force or clock - self._last_event >= EVENT_INTERVAL):
            self._publish("progress")
            self._last_event = clock
            self._dirty_event = False

    def _snapshot_fields(self) -> dict[str, Any]:
        fields = {f"progress.{name}": getattr(self.job.progress, name) for name in payloads.PROGRESS_FIELDS}
        fields.update(
            {f"progress.{name}": getattr(self.job.progress, name) for name in payloads.PROGRESS_TIMES}
        )
        fields["updated_at"] = self.job.updated_at
        return fields

    def _persist(self, fields: dict[str, Any]) -> None:
        if not job_snapshot_write(job_id=self.job.pk, worker_id=self.worker_id, fields=fields):
            raise LeaseLost(f"job {self.job.pk} is no longer held by {self.worker_id}")

    def _publish(self, type: str) -> None:
        self.seq = job_emit(job=self.job, type=type, after=self.seq)

    def _terminal(self) -> None:
        job_finish(job=self.job, worker_id=self.worker_id)
        self._publish("progress")
        self._publish("complete")
        self._dirty_event = self._dirty_snapshot = False
