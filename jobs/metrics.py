"""/metrics in Prometheus' text format: jobs by status, live worker slots, and this process's streams.

Only for `Authorization: Bearer <CONTENTGEN_METRICS_TOKEN>` or a staff session (staff only when no token is
set). Job counts are one indexed count per status (the `job_queue` index starts with status), kept for
COUNTS_TTL seconds, so scrapers never make a web process scan the jobs.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from contentgen import mongo
from jobs.models import GenerationJob
from jobs.queue import live_worker_slots
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


def _bearer_ok(request: HttpRequest) -> bool:
    token = str(settings.CONTENTGEN_METRICS_TOKEN or "")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


async def _refusal(request: HttpRequest) -> HttpResponse | None:
    if _bearer_ok(request):
        return None
    user: Any = await request.auser()
    if user.is_authenticated and user.is_staff:
        return None
    if user.is_authenticated:
        return JsonResponse({"detail": "Metrics are for staff and the metrics token only."}, status=403)
    response = JsonResponse({"detail": "Send Authorization: Bearer <CONTENTGEN_METRICS_TOKEN>."}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


async def metrics(request: HttpRequest) -> HttpResponse:
    refusal = await _refusal(request)
    if refusal is not None:
        return refusal
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
