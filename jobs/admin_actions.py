"""Staff actions on the jobs and batches changelists: the same services as the API, one object at a time,
with a message that says how many changed, how many were skipped, and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from contentgen.errors import ApplicationError
from jobs.core import services
from jobs.models import BulkJob, GenerationJob

JOB, BATCH = ("job", "jobs"), ("batch", "batches")


@dataclass
class Tally:
    noun: str
    plural: str
    changed: int = 0
    requested: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def message(self, verb: str) -> str:
        parts = [f"{verb} {self.changed} {self.noun if self.changed == 1 else self.plural}"]
        if self.requested:
            parts.append(
                f"asked {self.requested} running article{'' if self.requested == 1 else 's'} to stop"
            )
        text = ", ".join(parts)
        skipped = sum(self.skipped.values())
        if skipped:
            reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            text += f". Skipped {skipped}: {reasons}"
        return text + "."


def _job_reason(job: GenerationJob, exc: ApplicationError) -> str:
    job.refresh_from_db(fields=["status"])
    return f"already {job.status}" if job.status in GenerationJob.TERMINAL else f"{job.status}"


def _cancel_job(job: GenerationJob, tally: Tally) -> None:
    job = services.job_cancel(job=job)
    if job.status == GenerationJob.Status.CANCELLED:
        tally.changed += 1
    else:
        tally.requested += 1


def _retry_job(job: GenerationJob, tally: Tally) -> None:
    services.job_retry(job=job)
    tally.changed += 1


def _retry_reason(job: GenerationJob, exc: ApplicationError) -> str:
    return f"{_job_reason(job, exc)} (only failed or cancelled jobs are retried)"


def _bulk_reason(bulk: BulkJob, exc: ApplicationError) -> str:
    return exc.message.rstrip(".").lower().replace("this batch", "batch")


def _cancel_bulk(bulk: BulkJob, tally: Tally) -> None:
    outcome = services.bulk_cancel(bulk=bulk)
    tally.changed += 1
    tally.requested += outcome.requested


def _retry_bulk(bulk: BulkJob, tally: Tally) -> None:
    services.bulk_retry_failed(bulk=bulk)
    tally.changed += 1


@dataclass(frozen=True)
class Action:
    act: Callable[[Any, Tally], None]
    noun: tuple[str, str]
    verb: str
    reason: Callable[[Any, ApplicationError], str]


ACTIONS = {
    "cancel_jobs": Action(_cancel_job, JOB, "Cancelled", _job_reason),
    "retry_jobs": Action(_retry_job, JOB, "Queued again", _retry_reason),
    "cancel_batches": Action(_cancel_bulk, BATCH, "Cancelled", _bulk_reason),
    "retry_failed_members": Action(_retry_bulk, BATCH, "Requeued the failed members of", _bulk_reason),
}


def run(request: HttpRequest, name: str, objects: Iterable[Any]) -> Tally:
    """Apply one action to each object; an illegal move is skipped, with its reason counted."""
    action = ACTIONS[name]
    tally = Tally(noun=action.noun[0], plural=action.noun[1])
    for obj in objects:
        try:
            action.act(obj, tally)
        except ApplicationError as exc:
            tally.skipped[action.reason(obj, exc)] += 1
    level = messages.SUCCESS if tally.changed or tally.requested else messages.WARNING
    messages.add_message(request, level, tally.message(action.verb))
    return tally
