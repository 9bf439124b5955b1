"""The channel-layer groups a job's, a batch's and a user's events are pushed to."""

from __future__ import annotations

from typing import Any


def job_group(job_id: Any) -> str:
    return f"job_{job_id}"


def bulk_group(bulk_id: Any) -> str:
    return f"bulk_{bulk_id}"


def user_group(user_id: Any) -> str:
    return f"user_{user_id}"
