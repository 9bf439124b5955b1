"""Every event of a job or a batch: its channel-layer groups, its JSON body (docs/contracts.md, "SSE"),
and its publication through progress.publish. Bodies are built here and nowhere else, from the job or the
batch in hand, JSON-ready by construction; a page, the API and a webhook read the same shapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from contentgen.clock import isoformat, now
from jobs.pipeline.stages import stages_for
from progress.publish import publish, publish_many

# Groups: a job's viewers, a batch's viewers, a user's dashboard, and the staff's /ops/ page.
OPS_GROUP = "ops"


def job_group(job_id: Any) -> str:
    return f"job_{job_id}"


def bulk_group(bulk_id: Any) -> str:
    return f"bulk_{bulk_id}"


def user_group(user_id: Any) -> str:
    return f"user_{user_id}"


def job_groups(job: Any) -> list[str]:
    groups = [job_group(job.pk), user_group(job.user_id)]
    if job.bulk_job_id:
        groups.append(bulk_group(job.bulk_job_id))
    return groups


# A job's body.

PROGRESS_FIELDS = ("percentage", "stage", "stage_progress", "message", "elapsed_seconds")
PROGRESS_TIMES = (
    "started_at",
    "completed_at",
    "estimated_completion",
    "estimated_start",
    "estimated_completion_low",
    "estimated_completion_high",
)
RESULT_FIELDS = (
    "content", "meta_title", "meta_description", "word_count", "seo_score", "readability_score", "sources",
    "usage",
)  # fmt: skip


def progress_dict(progress: Any) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(progress, name) for name in PROGRESS_FIELDS}
    out.update({name: isoformat(getattr(progress, name)) for name in PROGRESS_TIMES})
    return out


def result_dict(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    return {name: getattr(result, name) for name in RESULT_FIELDS}


def error_dict(error: Any) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"message": error.message, "stage": error.stage, "timestamp": isoformat(error.timestamp)}


def stages_dict(job: Any) -> dict[str, dict[str, Any]]:
    """Each stage of the job's mode: state (pending, running, done, failed), percentage and seconds."""
    current = job.progress.stage
    timings = job.stage_timings or {}
    out: dict[str, dict[str, Any]] = {}
    for stage in stages_for(job.mode):
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
    """One article as a batch event, a batch page row or a dashboard row shows it."""
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


def job_emit(
    *, job: Any, type: str = "progress", after: int | None = None, extra: dict[str, Any] | None = None
) -> int:
    """Publish the job's `progress` (or `complete`) event; `after` is the last seq known to the caller."""
    data = complete_event(job) if type == "complete" else progress_event(job)
    data.update(extra or {})
    return publish(stream_id=job.pk, scope="job", type=type, data=data, groups=job_groups(job), after=after)


def jobs_queued(jobs: Sequence[Any]) -> None:
    """Every new job's first event, in one write."""
    publish_many(
        [
            {"stream_id": job.pk, "scope": "job", "type": "progress", "data": progress_event(job),
             "groups": job_groups(job), "after": 0}
            for job in jobs
        ]
    )  # fmt: skip


# A batch's body: X of Y done, the combined percentage and each article in flight.


def bulk_body(bulk: Any, *, in_flight: Sequence[Any], eta: dt.datetime | None) -> dict[str, Any]:
    fraction = sum(job.progress.percentage for job in in_flight) / 100.0
    percentage = 100.0 if bulk.total == 0 else min(100.0, (bulk.finished + fraction) * 100.0 / bulk.total)
    if bulk.finished < bulk.total:
        percentage = min(percentage, 99.9)
    return {
        "bulk_job_id": str(bulk.pk),
        "total": bulk.total,
        "counts": bulk.counts,
        "finished": bulk.finished,
        "percentage": round(percentage, 1),
        "estimated_completion": isoformat(eta),
        "current": [
            {"job_id": str(job.pk), "stage": job.progress.stage, "percentage": job.progress.percentage}
            for job in in_flight
        ],
        "timestamp": isoformat(now()),
    }


def bulk_emit(
    *,
    bulk: Any,
    body: dict[str, Any],
    trigger: Any = None,
    complete: bool = False,
    after: int | None = None,
) -> int:
    """Publish a batch's `progress` event (with the member that changed, `trigger`) and, once (the caller
    won the batch's completed_at), its `complete`."""
    data = dict(body)
    if trigger is not None:
        data["job"] = job_summary(trigger)
    if complete:
        data["percentage"] = 100.0
        data["status"] = "completed"
    groups = [bulk_group(bulk.pk), user_group(bulk.user_id)]
    seq = publish(stream_id=bulk.pk, scope="bulk", type="progress", data=data, groups=groups, after=after)
    if complete:
        seq = publish(stream_id=bulk.pk, scope="bulk", type="complete", data=data, groups=groups, after=seq)
    return int(seq or 0)


# A knowledge-base source's body: its state and its ingestion's progress.


def source_group(source_id: Any) -> str:
    return f"source_{source_id}"


def sources_group(user_id: Any) -> str:
    """The user's /sources/ page: every source of theirs."""
    return f"sources_{user_id}"


def source_event(source: Any, *, stage: str, percentage: float, message: str) -> dict[str, Any]:
    return {
        "source_id": str(source.pk),
        "title": source.title,
        "kind": source.kind,
        "status": source.status,
        "passages": source.passages,
        "error": source.error or None,
        "progress": {"stage": stage, "percentage": round(percentage, 1), "message": message},
        "timestamp": isoformat(now()),
    }


def source_emit(
    *,
    source: Any,
    stage: str,
    percentage: float,
    message: str,
    type: str = "progress",
    after: int | None = None,
) -> int:
    data = source_event(source, stage=stage, percentage=percentage, message=message)
    groups = [source_group(source.pk), sources_group(source.user_id)]
    return publish(stream_id=source.pk, scope="source", type=type, data=data, groups=groups, after=after)
