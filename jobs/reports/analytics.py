"""Where the time goes: per mode over a period, from the stored jobs and their progress history.

Computed in Python from one projected read of the period's jobs (bounded by MAX_JOBS) and, for ETA
accuracy, the event logs of up to ETA_SAMPLE finished jobs: a page view costs a few queries, not one
per job per day.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from jobs.models import GenerationJob
from jobs.pipeline import STAGES_BY_MODE
from progress import events

MAX_JOBS = 5000
ETA_SAMPLE = 200
ETA_POINTS = (25, 50, 75)
TOP_ERRORS = 5
PERIODS = (7, 30, 90)


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (index - low), 2)


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def eta_errors(job: GenerationJob) -> dict[int, float]:
    """|estimated - actual completion| / actual duration, at the first event at or past 25, 50, 75% done."""
    started, finished = job.progress.started_at, job.progress.completed_at
    if not started or not finished or finished <= started:
        return {}
    total = (finished - started).total_seconds()
    out: dict[int, float] = {}
    for event in events.after(job.pk, 0):
        progress = (event.get("data") or {}).get("progress") or {}
        estimate = _parse(progress.get("estimated_completion"))
        done = float(progress.get("percentage") or 0)
        for point in ETA_POINTS:
            if point not in out and done >= point and estimate is not None:
                out[point] = abs((estimate - finished).total_seconds()) / total
    return out


def _empty_mode(mode: str) -> dict[str, Any]:
    return {
        "mode": mode,
        "stages": list(STAGES_BY_MODE.get(mode, ())),
        "days": {},
        "counts": Counter(),
        "errors": Counter(),
        "eta": defaultdict(list),
        "eta_jobs": 0,
    }


def compute(
    *, user: Any, mode: str | None = None, days: int = 30, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Figures for `user`'s jobs, or everyone's for staff; per mode (or one mode) over the last `days`."""
    now = now or timezone.now()
    since = (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    qs = GenerationJob.objects.filter(created_at__gte=since)
    if not getattr(user, "is_staff", False):
        qs = qs.filter(user=user)
    if mode:
        qs = qs.filter(mode=mode)
    jobs = list(
        qs.order_by("-created_at").only("mode", "status", "created_at", "stage_timings", "error", "progress")[
            :MAX_JOBS
        ]
    )
    modes: dict[str, dict[str, Any]] = {}
    for job in jobs:
        entry = modes.setdefault(job.mode, _empty_mode(job.mode))
        day = entry["days"].setdefault(
            job.created_at.date().isoformat(),
            {"completed": 0, "failed": 0, "stage_seconds": defaultdict(list)},
        )
        entry["counts"][job.status] += 1
        if job.status in (GenerationJob.Status.COMPLETED, GenerationJob.Status.FAILED):
            day[job.status] += 1
        for stage, timing in (job.stage_timings or {}).items():
            if isinstance(timing, dict) and timing.get("seconds") is not None:
                day["stage_seconds"][stage].append(float(timing["seconds"]))
        if job.status == GenerationJob.Status.FAILED and job.error is not None:
            entry["errors"][(job.error.stage or "-", job.error.message[:160])] += 1
        if job.status == GenerationJob.Status.COMPLETED and entry["eta_jobs"] < ETA_SAMPLE:
            errors = eta_errors(job)
            if errors:
                entry["eta_jobs"] += 1
                for point, error in errors.items():
                    entry["eta"][point].append(error)
    return {
        "period_days": days,
        "since": since.isoformat(),
        "scope": "everyone" if getattr(user, "is_staff", False) else "mine",
        "modes": [_summary(entry) for _, entry in sorted(modes.items())],
    }


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    counts = entry["counts"]
    ended = sum(counts[s] for s in GenerationJob.TERMINAL)
    days = []
    for day, figures in sorted(entry["days"].items()):
        days.append(
            {
                "day": day,
                "completed": figures["completed"],
                "failed": figures["failed"],
                "stages": {
                    stage: {
                        "median": _percentile(figures["stage_seconds"].get(stage, []), 0.5),
                        "p90": _percentile(figures["stage_seconds"].get(stage, []), 0.9),
                    }
                    for stage in entry["stages"]
                },
            }
        )
    return {
        "mode": entry["mode"],
        "stages": entry["stages"],
        "jobs": sum(counts.values()),
        "counts": {status: counts[status] for status in GenerationJob.Status.values},
        "success_rate": round(counts[GenerationJob.Status.COMPLETED] / ended, 3) if ended else None,
        "failure_rate": round(counts[GenerationJob.Status.FAILED] / ended, 3) if ended else None,
        "days": days,
        "top_errors": [
            {"stage": stage, "message": message, "count": n}
            for (stage, message), n in entry["errors"].most_common(TOP_ERRORS)
        ],
        "eta_accuracy": {
            "jobs": entry["eta_jobs"],
            **{
                f"median_error_at_{point}": (
                    round(statistics.median(entry["eta"][point]), 3) if entry["eta"][point] else None
                )
                for point in ETA_POINTS
            },
        },
    }
