"""/metrics in Prometheus' text format: jobs by status, live worker slots, and this process's streams."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from contentgen import mongo
from jobs.models import GenerationJob
from jobs.queue import live_worker_slots
from progress.hub import get_hub


def _job_counts() -> dict[str, int]:
    pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
    counts = dict.fromkeys(GenerationJob.Status.values, 0)
    for row in mongo.collection(GenerationJob._meta.db_table).aggregate(pipeline):
        counts[str(row["_id"])] = int(row["n"])
    return counts


async def metrics(request: HttpRequest) -> HttpResponse:
    started = time.monotonic()
    counts = await sync_to_async(_job_counts, thread_sensitive=False)()
    slots = await sync_to_async(live_worker_slots, thread_sensitive=False)()
    hub = get_hub()
    lines = [
        "# HELP contentgen_jobs Generation jobs by status.",
        "# TYPE contentgen_jobs gauge",
        *(f'contentgen_jobs{{status="{status}"}} {n}' for status, n in counts.items()),
        "# HELP contentgen_worker_slots Job slots of live workers.",
        "# TYPE contentgen_worker_slots gauge",
        f"contentgen_worker_slots {slots}",
        "# HELP contentgen_stream_viewers Open progress streams in this web process.",
        "# TYPE contentgen_stream_viewers gauge",
        f"contentgen_stream_viewers {hub.viewers()}",
        "# HELP contentgen_stream_groups Channel-layer groups this web process subscribes to.",
        "# TYPE contentgen_stream_groups gauge",
        f"contentgen_stream_groups {len(hub.feeds)}",
        "# HELP contentgen_streams_degraded 1 while Redis is unreachable and streams read the event log.",
        "# TYPE contentgen_streams_degraded gauge",
        f"contentgen_streams_degraded {int(hub.degraded)}",
        "# HELP contentgen_mongodb_commands_total Database commands this process sent, by command.",
        "# TYPE contentgen_mongodb_commands_total counter",
        *(
            f'contentgen_mongodb_commands_total{{command="{name}"}} {n}'
            for name, n in sorted(mongo.commands.snapshot().items())
        ),
        "# HELP contentgen_metrics_scrape_seconds Time taken to gather these metrics.",
        "# TYPE contentgen_metrics_scrape_seconds gauge",
        f"contentgen_metrics_scrape_seconds {time.monotonic() - started:.6f}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
