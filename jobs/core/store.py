"""Raw reads and writes of jobs in pymongo, and the rule that calls for them.

The rule: on the embedded SecantusDB an ORM filter on `_id` plus another field, or a status filter sorted
and limited, reads the whole collection, while a raw filter on `_id` is a point lookup and a range on an
index reads only the entries inside it. So every job move (a conditional update on `_id` and its expected
state) and every read on a hot path (claims, leases, batch members, the queue's head) is written here, in
raw pymongo on Django's connection, joining the caller's transaction (contentgen.mongo.atomic) when there
is one. Real MongoDB answers either form quickly; these forms cost it nothing.

Every ORM update of jobs and batches also runs inside contentgen.mongo.atomic, even a single one: the
ORM's update() is an update_many, and a SecantusDB multi-update that meets a write conflict retries while
holding its collection lock, deadlocking against open transactions. In a transaction a conflict fails at
once and atomic() retries it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from contentgen import mongo
from jobs.models import BulkJob, GenerationJob

logger = logging.getLogger("jobs.services")

QUEUED = GenerationJob.Status.QUEUED.value
PROCESSING = GenerationJob.Status.PROCESSING.value
# A contended write retries a write conflict this many times before the caller moves on.
CONFLICT_ATTEMPTS = 3
T = TypeVar("T")


def jobs() -> Collection[dict[str, Any]]:
    return mongo.collection(GenerationJob._meta.db_table)


def aware(value: dt.datetime) -> dt.datetime:
    """A stored time as read back (naive UTC) made aware."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def bson_time(value: dt.datetime) -> dt.datetime:
    """As a read returns it: naive UTC, to the millisecond."""
    value = value.astimezone(dt.UTC) if value.tzinfo else value
    return value.replace(tzinfo=None, microsecond=value.microsecond // 1000 * 1000)


def update_job(where: dict[str, Any], *, inc: dict[str, int] | None = None, **changes: Any) -> int:
    """One conditional update of a job, `where` a raw filter on its `_id` (stored names), `changes` by
    field name, stored as the ORM stores them. Returns how many matched: 0 or 1."""
    update: dict[str, Any] = {"$set": mongo.db_values(GenerationJob, changes)}
    if inc:
        update["$inc"] = inc
    return jobs().update_one(where, update, session=mongo.session()).matched_count


def held(job_id: Any, worker_id: str) -> dict[str, Any]:
    """The filter of a job that `worker_id` holds the lease of."""
    return {"_id": job_id, "lease_owner": worker_id, "status": PROCESSING}


def status_of(job_id: Any) -> str | None:
    doc = jobs().find_one({"_id": job_id}, {"status": 1})
    return None if doc is None else doc.get("status")


def ids_where(job_ids: Sequence[Any], **where: Any) -> set[Any]:
    """Which of `job_ids` match `where` (stored names)."""
    if not job_ids:
        return set()
    return {doc["_id"] for doc in jobs().find({"_id": {"$in": list(job_ids)}, **where}, {"_id": 1})}


def members(bulk: BulkJob, statuses: Sequence[str]) -> list[GenerationJob]:
    """The batch's members in `statuses`, oldest first: a range on the batch index."""
    docs = jobs().find({"bulk_job_id": bulk.pk, "status": {"$in": [str(s) for s in statuses]}})
    return [mongo.instance(GenerationJob, doc) for doc in sorted(docs, key=lambda doc: doc["created_at"])]


def running(fields: list[str]) -> list[dict[str, Any]]:
    """The processing jobs, with only `fields`: the status prefix of the queue indexes. There are at most
    as many as the workers have slots."""
    return list(jobs().find({"status": PROCESSING}, dict.fromkeys(fields, 1)))


def uncontended(body: Callable[[], T]) -> T | None:
    """`body` as one transaction, or None when another transaction holds the job or its batch: the caller
    moves on (the next candidate of a claim) rather than wait. A worker killed inside a transaction leaves
    it open until the server reaps it, and waiting on it would stall every claimer behind one job."""
    try:
        return mongo.atomic(body, attempts=CONFLICT_ATTEMPTS)
    except (PyMongoError, DatabaseError) as exc:
        if not mongo.conflicted(exc):
            raise
        logger.info("skipped a job another transaction holds: %s", exc)
        return None
