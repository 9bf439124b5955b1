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


def _per_minute(*, user: Any, bucket: str, what: str) -> None:
    """One more ``what`` against CONTENTGEN_RATE_JOBS_PER_MINUTE, in a bucket of its own."""
    limit = int(settings.CONTENTGEN_RATE_JOBS_PER_MINUTE)
    wait = ratelimit.take(f"{bucket}:{user.pk}", amount=1, limit=limit, window=MINUTE)
    if wait:
        raise RateLimited(
            f"You can {what.format(limit=limit)}. Try again in {_wait_text(wait)}.", retry_after=wait
        )


def charge_sources(*, user: Any) -> None:
    """Knowledge-base sources against the same CONTENTGEN_RATE_JOBS_PER_MINUTE as jobs, counted apart."""
    _per_minute(user=user, bucket="sources", what="add at most {limit} sources per minute")


def charge_analyses(*, user: Any) -> None:
    """SEO analyses (``POST /api/seo/analyze/``) against CONTENTGEN_RATE_JOBS_PER_MINUTE, counted apart from
    jobs: an analysis costs CPU in the web process, where a job's work happens in a worker."""
    _per_minute(user=user, bucket="seo-analyses", what="analyse at most {limit} drafts per minute")
