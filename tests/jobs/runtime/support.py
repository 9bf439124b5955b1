"""What the runtime's fault tests share: a valid job spec, a result, and a claimed member of a new batch."""

from __future__ import annotations

from typing import Any

from jobs.core import leases, services
from jobs.core.validation import parse_job
from jobs.models import BulkJob, GenerationJob
from jobs.runtime.tracker import ProgressTracker
from progress import events

RESULT = {
    "content": "# Title\n\nBody text.\n",
    "meta_title": "Title",
    "meta_description": "Body text.",
    "word_count": 3,
    "seo_score": 50,
    "readability_score": 60.0,
}


def spec(**fields: Any) -> Any:
    parsed, errors = parse_job({"mode": "topic", "topic": "Rain gardens", "word_count": 300, **fields})
    assert not errors, errors
    return parsed


def claimed_batch_member(user: Any, worker_id: str) -> tuple[BulkJob, GenerationJob, ProgressTracker]:
    bulk = services.bulk_create(user=user, specs=[spec()])
    claimed = leases.job_claim(worker_id=worker_id)
    assert claimed is not None
    job, _ = claimed
    assert job.bulk_job_id == bulk.pk
    return bulk, job, ProgressTracker(job, worker_id=worker_id, last_seq=events.last_seq(job.pk))
