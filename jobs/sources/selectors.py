"""Reads of the knowledge base, scoped to a user: another user's source is indistinguishable from a missing
one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jobs.core.selectors import owned
from jobs.models import Source


def sources_for_user(*, user: Any) -> QuerySet[Source]:
    return Source.objects.filter(user=user).order_by("-created_at")


def source_for_user(*, user: Any, source_id: Any) -> Source | None:
    return owned(Source, user=user, object_id=source_id)


def ready_sources(*, user: Any) -> bool:
    return Source.objects.filter(user=user, status=Source.Status.READY).exists()
