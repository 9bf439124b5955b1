"""The JSON bodies of events (docs/contracts.md, "SSE"): built from a job, JSON-ready by construction."""

from __future__ import annotations

from typing import Any

from jobs.pipeline.stages import stages_for
from progress.events import isoformat, now

PROGRESS_FIELDS = ("percentage", "stage", "stage_progress", "message", "elapsed_seconds")
PROGRESS_TIMES = (
    "started_at",
    "completed_at",
    "estimated_completion",
    "estimated_start",
    "estimated_completion_low",
    "estimated_completion_high",
)


def progress_dict(progress: Any) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(progress, name) for name in PROGRESS_FIELDS}
    out.update({name: isoformat(getattr(progress, name)) for name in PROGRESS_TIMES})
    return out


def result_dict(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    names = ("content", "meta_title", "meta_description", "word_count", "seo_score", "readability_score")
    return {name: getattr(result, name) for name in names}


def error_dict(error: Any) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"message": error.message, "stage": error.stage, "timestamp": isoformat(error.timestamp)}


def stages_dict(job: Any) -> dict[str, dict[str, Any]]:
    """Each stage of the job's mode: state (pending, running, done, failed), percentage and seconds."""
    order = stages_for(job.mode)
    current = job.progress.stage
    timings = job.stage_timings or {}
    out: dict[str, dict[str, Any]] = {}
    for stage in order:
        timing = timings.get(stage) or {}
        if timing.get("completed_at") or current == "completed":
            state, percentage = "done", 100.0
        elif stage == current:
            state = "failed" if job.status == "failed" else "running"
            percentage = job.progress.stage_progress
        else:
            state, percentage = "pending", 0.0
        out[stage] = {"state": state, "percentage": percentage, "seconds": timing.get("seconds")}
    return out


def _job_state(job: Any) -> dict[str, Any]:
    return {
        "job_id": str(job.pk),
        "status": job.status,
        "progress": progress_dict(job.progress),
        "stages": stages_dict(job),
        "bulk_job_id": str(job.bulk_job_id) if job.bulk_job_id else None,
    }


def progress_event(job: Any) -> dict[str, Any]:
    return {**_job_state(job), "attempts": job.attempts, "timestamp": isoformat(now())}


def complete_event(job: Any) -> dict[str, Any]:
    return {
        **_job_state(job),
        "result": result_dict(job.result),
        "error": error_dict(job.error),
        "timestamp": isoformat(now()),
    }


def job_summary(job: Any) -> dict[str, Any]:
    return {
        "job_id": str(job.pk),
        "title": job.title,
        "status": job.status,
        "stage": job.progress.stage,
        "percentage": job.progress.percentage,
        "message": job.progress.message,
        "stages": stages_dict(job),
        "error": error_dict(job.error),
    }
