"""Queued jobs in bulk, and clearing those earlier measures left: the queue a measure starts from."""

from __future__ import annotations

from typing import Any


def clear_queue() -> None:
    """Nothing queued or running: the jobs earlier measures created and never ran go, with their batches
    and events, so that no worker started later runs them first, nor repairs them (its reconciler gives
    a job marked ended by hand the `complete` event it lacks). Raw deletes: no worker is running."""
    from contentgen import mongo  # noqa: PLC0415
    from jobs.core.store import jobs as collection  # noqa: PLC0415
    from jobs.models import BulkJob  # noqa: PLC0415
    from progress import events  # noqa: PLC0415

    jobs = collection()
    left = list(jobs.find({"status": {"$in": ["queued", "processing"]}}, {"bulk_job_id": 1}))
    bulks = list({doc["bulk_job_id"] for doc in left if doc.get("bulk_job_id")})
    members = [doc["_id"] for doc in jobs.find({"bulk_job_id": {"$in": bulks}}, {"_id": 1})] if bulks else []
    gone = [doc["_id"] for doc in left] + members + bulks
    # Small chunks: a delete of 1,000 jobs' events can outlast the 20 s socket timeout on SecantusDB.
    for start in range(0, len(gone), 100):
        events.collection().delete_many({"job_id": {"$in": gone[start : start + 100]}})
        jobs.delete_many({"_id": {"$in": gone[start : start + 100]}})
    if bulks:
        mongo.collection(BulkJob._meta.db_table).delete_many({"_id": {"$in": bulks}})


def fill_queue(user: Any, depth: int) -> None:
    """Exactly `depth` queued jobs (made with the ORM in bulk, as a batch would be)."""
    clear_queue()
    add_queued(user, depth)


def top_up_queue(user: Any, depth: int) -> None:
    """Back to `depth` queued jobs after some were claimed: as many new ones at the back of the queue."""
    from jobs.core.store import jobs as collection  # noqa: PLC0415

    add_queued(user, depth - collection().count_documents({"status": "queued"}))


def add_queued(user: Any, count: int) -> None:
    from django.utils import timezone  # noqa: PLC0415

    from jobs.core.claiming import spread_queue_times  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415

    stamp = timezone.now()
    jobs = spread_queue_times(
        [
            GenerationJob(
                user=user,
                mode="topic",
                topic="queue depth",
                status="queued",
                queued_at=stamp,
                created_at=stamp,
                updated_at=stamp,
            )
            for _ in range(count)
        ]
    )
    for start in range(0, count, 1000):
        GenerationJob.objects.bulk_create(jobs[start : start + 1000])
