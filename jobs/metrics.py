"""Job metrics: counters moved by the lifecycle signals, and jobs by status read when scraped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.dispatch import receiver
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contentgen import metrics, mongo
from jobs import signals
from jobs.models import GenerationJob

JOBS_STARTED = Counter("contentgen_jobs_started", "Jobs claimed by a worker (takeovers included).", ["mode"])
JOBS_FINISHED = Counter(
    "contentgen_jobs_finished", "Jobs that ended, by mode and status (completed, failed, cancelled).",
    ["mode", "status"],
)  # fmt: skip
LEASE_TAKEOVERS = Counter(
    "contentgen_lease_takeovers", "Jobs taken over from a worker whose lease expired.", ["mode"]
)
STAGE_SECONDS = Histogram(
    "contentgen_stage_duration_seconds",
    "Time spent in each pipeline stage, by mode.",
    ["mode", "stage"],
    buckets=(1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200),
)
WEBHOOK_DELIVERIES = Counter(
    "contentgen_webhook_deliveries",
    "Webhook delivery attempts by outcome (succeeded, retrying, failed, refused, skipped).",
    ["outcome"],
)


@receiver(signals.job_claimed)
def _claimed(*, job: GenerationJob, taken_over: bool, **kwargs: Any) -> None:
    JOBS_STARTED.labels(job.mode).inc()
    if taken_over:
        LEASE_TAKEOVERS.labels(job.mode).inc()


@receiver(signals.job_finished)
def _finished(*, job: GenerationJob, **kwargs: Any) -> None:
    JOBS_FINISHED.labels(job.mode, job.status).inc()
    for stage, timing in (job.stage_timings or {}).items():
        seconds = (timing or {}).get("seconds")
        if seconds is not None:
            STAGE_SECONDS.labels(job.mode, stage).observe(float(seconds))


class JobsByStatus(Collector):
    """Read at scrape time from MongoDB: every process reports the same, current numbers."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("contentgen_jobs", "Generation jobs by status.", labels=["status"])
        counts = dict.fromkeys(GenerationJob.Status.values, 0)
        pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        for row in mongo.collection(GenerationJob._meta.db_table).aggregate(pipeline):
            counts[str(row["_id"])] = int(row["n"])
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family


def install() -> None:
    metrics.add_collector(JobsByStatus())
