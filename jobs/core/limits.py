"""How many jobs a user may start: checked at the request edge (API and pages), after validation, before
anything is stored. Services stay free of it, so benchmarks and commands can create what they need."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from contentgen import ratelimit
from contentgen.errors import RateLimited
from jobs.core import usage

MINUTE, HOUR = 60, 3600


def _wait_text(seconds: float) -> str:
    return f"{round(seconds)} s" if seconds < 120 else f"{round(seconds / 60)} min"


def charge_jobs(*, user: Any, count: int = 1) -> None:
    """Single jobs (and retries) against CONTENTGEN_RATE_JOBS_PER_MINUTE, and the monthly token budget."""
    usage.check_budget(user=user)
    limit = int(settings.CONTENTGEN_RATE_JOBS_PER_MINUTE)
    wait = ratelimit.take(f"jobs:{user.pk}", amount=count, limit=limit, window=MINUTE)
    if wait:
        raise RateLimited(
            f"You can start at most {limit} jobs per minute. Try again in {_wait_text(wait)}.",
            retry_after=wait,
        )


def charge_batch_items(*, user: Any, count: int, action: str = "this batch has") -> None:
    """A batch's items (or a batch's members retried) against CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR, and the
    monthly token budget."""
    usage.check_budget(user=user)
    limit = int(settings.CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR)
    wait = ratelimit.take(f"batch-items:{user.pk}", amount=count, limit=limit, window=HOUR)
    if wait:
        raise RateLimited(
            f"You can submit at most {limit} batch items per hour; {action} {count}. "
            f"Try again in {_wait_text(wait)}.",
            retry_after=wait,
        )


def charge_sources(*, user: Any) -> None:
    """Knowledge-base sources against the same CONTENTGEN_RATE_JOBS_PER_MINUTE as jobs, counted apart."""
    limit = int(settings.CONTENTGEN_RATE_JOBS_PER_MINUTE)
    wait = ratelimit.take(f"sources:{user.pk}", amount=1, limit=limit, window=MINUTE)
    if wait:
        raise RateLimited(
            f"You can add at most {limit} sources per minute. Try again in {_wait_text(wait)}.",
            retry_after=wait,
        )
