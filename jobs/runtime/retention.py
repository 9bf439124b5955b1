"""CONTENTGEN_EVENT_RETENTION_DAYS: the event logs of jobs and batches that finished before then are
pruned to their last event; the job's snapshot and result stay in `generation_jobs`. Webhook deliveries that
ended (succeeded or failed) before then are removed, body and attempts with them.

Not a TTL index: a TTL on an event's own timestamp would also empty the log of a job that sat in the
queue for a month, and it cannot keep each stream's final event, which its streams still send.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from contentgen.redisconn import client
from jobs.models import BulkJob, GenerationJob, WebhookDelivery
from progress import events

logger = logging.getLogger("jobs.retention")

LOCK_KEY = "contentgen:retention:lock"
WATERMARK_KEY = "contentgen:retention:watermark"
# One worker prunes, at most once an hour; each pass starts a day before the last pass's cutoff.
INTERVAL_SECONDS = 3600
OVERLAP = dt.timedelta(days=1)


def cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=float(settings.CONTENTGEN_EVENT_RETENTION_DAYS))


def prune_finished(*, before: dt.datetime, since: dt.datetime | None = None) -> int:
    """Prune the logs of jobs finished (last changed) before `before`, and of batches completed by then."""
    jobs = GenerationJob.objects.filter(status__in=list(GenerationJob.TERMINAL), updated_at__lt=before)
    batches = BulkJob.objects.filter(completed_at__lt=before)
    if since is not None:
        jobs = jobs.filter(updated_at__gte=since)
        batches = batches.filter(completed_at__gte=since)
    removed = 0
    for stream_id in [*jobs.values_list("pk", flat=True), *batches.values_list("pk", flat=True)]:
        removed += events.prune(stream_id)
    ended = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED], completed_at__lt=before
    )
    removed += ended.delete()[0]
    return removed


def maybe_prune(now: dt.datetime | None = None) -> int | None:
    """Called from every worker's heartbeat; the Redis lock lets one of them do it per interval."""
    try:
        if not client().set(LOCK_KEY, b"1", nx=True, ex=INTERVAL_SECONDS):
            return None
        raw: Any = client().get(WATERMARK_KEY)
    except redis.RedisError:
        return None
    limit = cutoff(now)
    since = dt.datetime.fromisoformat(raw.decode()) - OVERLAP if raw else None
    removed = prune_finished(before=limit, since=since)
    try:
        client().set(WATERMARK_KEY, limit.isoformat().encode())
    except redis.RedisError:
        logger.warning("could not store the retention watermark; the next pass starts from the beginning")
    if removed:
        logger.info("retention: removed %d events and deliveries ended before %s", removed, limit.isoformat())
    return removed
