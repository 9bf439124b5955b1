"""The tracker's coalescing at the offline model's default pace: one real attempt, in this process."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobs.core import leases
from jobs.models import GenerationJob
from jobs.pipeline.pace import DEFAULT_TOKENS_PER_SECOND, TOKENS_PER_SECOND_ENV
from jobs.pipeline.stages import STAGE_ORDER
from jobs.runtime import tracker
from jobs.runtime.worker import RunningJob, execute
from progress import events
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The spies below read the clock a few microseconds after the tracker's own check.


def test_progress_is_merged_to_5_events_and_2_writes_a_second_keeping_every_stage_change(user, monkeypatch):
    monkeypatch.setenv(TOKENS_PER_SECOND_ENV, str(DEFAULT_TOKENS_PER_SECOND))
    writes: list[tuple[float, dict[str, Any]]] = []
    real_write = tracker.job_snapshot_write

    def counting_write(*, job_id: Any, worker_id: str, fields: dict[str, Any]) -> bool:
        writes.append((time.monotonic(), fields))
        return real_write(job_id=job_id, worker_id=worker_id, fields=fields)

    updates = 0
    forced = False  # the update being flushed is a step of real work, sent at once by design
    real_update = tracker.ProgressTracker.update

    def counting_update(self: tracker.ProgressTracker, *args: Any, **kwargs: Any) -> None:
        nonlocal updates, forced
        updates += 1
        forced = bool(kwargs.get("force"))
        real_update(self, *args, **kwargs)

    sent: list[tuple[float, str, str, float, bool]] = []
    real_emit = tracker.job_emit

    def timed_emit(
        *, job: GenerationJob, type: str = "progress", after: int | None = None, extra: dict | None = None
    ) -> int:
        nonlocal forced
        if job.status == GenerationJob.Status.PROCESSING:
            sent.append((time.monotonic(), type, job.progress.stage, job.progress.stage_progress, forced))
            forced = False  # a later flush of merged updates (the tracker's tick) is not that step
        return real_emit(job=job, type=type, after=after, extra=extra)

    monkeypatch.setattr(tracker, "job_emit", timed_emit)
    monkeypatch.setattr(tracker, "job_snapshot_write", counting_write)
    monkeypatch.setattr(tracker.ProgressTracker, "update", counting_update)

    job = JobFactory(user=user, word_count=150)
    claimed = leases.job_claim(worker_id="tracker-test")
    assert claimed is not None
    execute(claimed[0], worker_id="tracker-test", taken_over=False, running=RunningJob(claimed[0]))
    assert GenerationJob.objects.get(pk=job.pk).status == "completed"

    log = [doc for doc in events.after(job.pk, 0) if doc["data"]["status"] == "processing"]
    assert len(sent) == len(log)
    assert updates >= 2 * len(log), f"{updates} updates gave {len(log)} events: little was merged"

    # Events: a stage change, a stage's 100 % or a forced step of work is sent at once; anything else waits
    # 0.2 s after the last.
    merged = 0
    for (t0, _, stage0, _, _), (t1, _, stage1, pct1, step) in zip(sent, sent[1:], strict=False):
        if stage1 == stage0 and pct1 < 100 and not step:
            merged += 1
            # A quarter of the interval: the stamps are taken after the tracker's decision, and a loaded
            # machine delays one more than the next; unmerged, they would be a token apart (a few ms).
            assert t1 - t0 >= tracker.EVENT_INTERVAL / 4, f"two events {t1 - t0:.3f} s apart ({stage1} {pct1})"
    assert merged >= 5
    for t0, *_ in sent:
        window = [(stage, pct, step) for t, _, stage, pct, step in sent if 0 <= t - t0 < 1.0]
        at_once = sum(1 for _, pct, step in set(window) if pct in (0.0, 100.0) or step) + 1
        assert len(window) <= 5 + at_once, f"{len(window)} events within one second"

    # Snapshot writes: the same rule at 0.5 s (a stage's stored output is written on its own).
    progress_writes = [(at, f) for at, f in writes if not any(k.startswith("stage_outputs.") for k in f)]
    for (t0, f0), (t1, f1) in zip(progress_writes, progress_writes[1:], strict=False):
        if f1["progress.stage"] == f0["progress.stage"] and f1["progress.stage_progress"] < 100:
            # A quarter of the interval, for the same reason; unmerged, a write would follow every token.
            assert t1 - t0 >= tracker.SNAPSHOT_INTERVAL / 4, f"two writes {t1 - t0:.3f} s apart"
    seconds = progress_writes[-1][0] - progress_writes[0][0]
    assert len(progress_writes) <= 2 * seconds + 2 * (2 * len(STAGE_ORDER)) + 2

    # Every stage change is kept: each stage starts at 0 and ends at 100, in order.
    kept = [(e["data"]["progress"]["stage"], e["data"]["progress"]["stage_progress"]) for e in log]
    marks = [mark for mark in kept if mark[1] in (0.0, 100.0) and mark[0] in STAGE_ORDER]
    assert marks == [(stage, pct) for stage in STAGE_ORDER for pct in (0.0, 100.0)]
    assert events.latest(job.pk)["type"] == "complete"
