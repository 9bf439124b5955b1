"""The log fields that let one job be followed across processes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from django.dispatch import receiver

from contentgen import logs
from jobs.core import signals

logger = logging.getLogger("contentgen.jobs")


def job_fields(job: Any) -> dict[str, Any]:
    return {
        "job_id": str(job.pk),
        "bulk_job_id": str(job.bulk_job_id) if job.bulk_job_id else None,
        "user_id": str(job.user_id),
        "attempt": job.attempts,
    }


@contextlib.contextmanager
def job_log_context(job: Any, *, worker_id: str | None = None) -> Iterator[None]:
    with logs.bind(**job_fields(job), worker_id=worker_id):
        yield


@receiver(signals.job_claimed)
def _claimed(*, job: Any, taken_over: bool, **kwargs: Any) -> None:
    with job_log_context(job):
        logger.info("job %s claimed%s", job.pk, " (takeover)" if taken_over else "")


@receiver(signals.job_abandoned)
def _abandoned(*, job: Any, **kwargs: Any) -> None:
    with job_log_context(job):
        logger.warning("job %s requeued: its worker stopped renewing the lease", job.pk)


@receiver(signals.job_finished)
def _finished(*, job: Any, **kwargs: Any) -> None:
    with job_log_context(job):
        logger.info("job %s %s", job.pk, job.status, extra={"status": job.status, "mode": job.mode})
