"""Reads. Ownership is part of every query, so another user's job is indistinguishable from a missing one."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from django.db.models import QuerySet

from jobs.models import BulkJob, GenerationJob


def parse_id(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        return None


def jobs_for_user(
    *, user: Any, status: str | None = None, bulk_job: ObjectId | None = None
) -> QuerySet[GenerationJob]:
    qs = GenerationJob.objects.filter(user=user)
    if status:
        qs = qs.filter(status=status)
    if bulk_job:
        qs = qs.filter(bulk_job_id=bulk_job)
    return qs.order_by("-created_at")


def job_for_user(*, user: Any, job_id: Any) -> GenerationJob | None:
    oid = parse_id(job_id)
    if oid is None or not getattr(user, "is_authenticated", False):
        return None
    return GenerationJob.objects.filter(pk=oid, user=user).first()


def bulk_for_user(*, user: Any, bulk_id: Any) -> BulkJob | None:
    oid = parse_id(bulk_id)
    if oid is None or not getattr(user, "is_authenticated", False):
        return None
    return BulkJob.objects.filter(pk=oid, user=user).first()


def bulks_for_user(*, user: Any) -> QuerySet[BulkJob]:
    return BulkJob.objects.filter(user=user).order_by("-created_at")


def bulk_jobs(*, bulk: BulkJob) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at")
