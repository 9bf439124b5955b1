"""The log fields that let one job be followed across processes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from contentgen import logs


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
