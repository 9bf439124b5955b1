"""Job metrics: counters moved by the lifecycle signals, jobs by status, and /metrics.

/metrics needs `Authorization: Bearer <CONTENTGEN_METRICS_TOKEN>` or a staff session (staff only when no token
is set). Jobs by status are one indexed count per status (the `job_queue` index starts with status), kept for
COUNTS_TTL seconds, so scrapers never make a web process scan the jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contentgen import metrics, mongo
from jobs.core import signals
from jobs.core.workers import live_worker_slots
from jobs.models import GenerationJob
from progress.hub import get_hub

COUNTS_TTL = 5.0
_counts_cache: tuple[float, dict[str, int]] | None = None


def _count(status: str) -> int:
    return GenerationJob.objects.filter(status=status).count()


def _job_counts() -> dict[str, int]:
    global _counts_cache
    if _counts_cache is not None and time.monotonic() - _counts_cache[0] < COUNTS_TTL:
        return _counts_cache[1]
    counts = {status: _count(status) for status in GenerationJob.Status.values}
    _counts_cache = (time.monotonic(), counts)
    return counts


JOBS_STARTED = Counter("contentgen_jobs_started", "Jobs claimed by a worker (takeovers included).", ["mode"])
JOBS_FINISHED = Counter(
    "contentgen_jobs_finished",
    "Jobs that ended, by mode and status (completed, failed, cancelled).",
    ["mode", "status"],
)
LEASE_TAKEOVERS = Counter(
    "contentgen_lease_takeovers",
    "Jobs taken from a worker whose lease expired (taken over by a claim, or put back in the queue).",
    ["mode"],
)
STAGE_SECONDS = Histogram(
    "contentgen_stage_duration_seconds",
    "Time spent in each pipeline stage, by mode.",
    ["mode", "stage"],
    buckets=(1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200),
)


@receiver(signals.job_claimed)
def _claimed(*, job: GenerationJob, taken_over: bool, **kwargs: Any) -> None:
    JOBS_STARTED.labels(job.mode).inc()
    if taken_over:
        LEASE_TAKEOVERS.labels(job.mode).inc()


@receiver(signals.job_abandoned)
def _abandoned(*, job: GenerationJob, **kwargs: Any) -> None:
    LEASE_TAKEOVERS.labels(job.mode).inc()


@receiver(signals.job_finished)
def _finished(*, job: GenerationJob, **kwargs: Any) -> None:
    JOBS_FINISHED.labels(job.mode, job.status).inc()
    for stage, timing in (job.stage_timings or {}).items():
        seconds = (timing or {}).get("seconds")
        if seconds is not None:
            STAGE_SECONDS.labels(job.mode, stage).observe(float(seconds))


class JobsByStatus(Collector):
    """Read at scrape time from MongoDB and Redis: every process reports the same, current numbers."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("contentgen_jobs", "Generation jobs by status.", labels=["status"])
        for status, n in _job_counts().items():
            family.add_metric([status], n)
        yield family
        yield GaugeMetricFamily(
            "contentgen_worker_slots", "Job slots of live workers.", value=live_worker_slots()
        )


def install() -> None:
    metrics.add_collector(JobsByStatus())


async def _refusal(request: HttpRequest) -> HttpResponse | None:
    if metrics.token_matches(request.headers.get("Authorization", "")):
        return None
    user: Any = await request.auser()
    if user.is_authenticated and user.is_staff:
        return None
    if user.is_authenticated:
        return JsonResponse({"detail": "Metrics are for staff and the metrics token only."}, status=403)
    response = JsonResponse(
        {"detail": "Metrics need Authorization: Bearer <CONTENTGEN_METRICS_TOKEN> or a staff session."},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


async def metrics_view(request: HttpRequest) -> HttpResponseBase:
    refusal = await _refusal(request)
    if refusal is not None:
        return refusal
    body = await sync_to_async(metrics.exposition, thread_sensitive=False)()
    hub = get_hub()
    commands = "".join(
        f'contentgen_mongodb_commands_total{{command="{name}"}} {n}\n'
        for name, n in sorted(mongo.commands.snapshot().items())
    )
    local = (
        "# HELP contentgen_stream_viewers Open progress streams in this web process (hub subscribers).\n"
        "# TYPE contentgen_stream_viewers gauge\n"
        f"contentgen_stream_viewers {hub.viewers()}\n"
        "# HELP contentgen_stream_groups Channel-layer groups this web process subscribes to.\n"
        "# TYPE contentgen_stream_groups gauge\n"
        f"contentgen_stream_groups {len(hub.feeds)}\n"
        "# HELP contentgen_streams_degraded 1 while Redis is unreachable and streams read the event log.\n"
        "# TYPE contentgen_streams_degraded gauge\n"
        f"contentgen_streams_degraded {int(hub.degraded)}\n"
        "# HELP contentgen_mongodb_commands_total Database commands this web process sent, by command.\n"
        "# TYPE contentgen_mongodb_commands_total counter\n"
        f"{commands}"
    )
    return HttpResponse(body + local.encode(), content_type=CONTENT_TYPE_LATEST)
