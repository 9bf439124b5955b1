"""`/ops/`: staff's live view of the workers and the queue, on the pages' live stream machinery.

Workers push a heartbeat to the `ops` group every third of a lease; each open page re-renders on
those and every REFRESH_SECONDS between them, which is what shows a worker as lost when it stops
beating. The snapshot (a Redis read and a few counts) is cached for CACHE_SECONDS per process, so
viewers share it instead of each querying the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

from jobs.core import events, workers
from jobs.models import GenerationJob
from progress.sse import one_line, request_recheck, request_user, serve_live, sse_frame
from progress.streams import Item, follow_group

TEMPLATE = "jobs/ops.html"
REFRESH_SECONDS = 1.0
CACHE_SECONDS = 1.0
RATE_WINDOW_MINUTES = 5


def _job_row(job: GenerationJob) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "title": job.title,
        "mode": job.mode,
        "stage": job.progress.stage,
        "percentage": job.progress.percentage,
        "attempts": job.attempts,
        "lease_expires_at": job.lease_expires_at,
    }


def snapshot() -> dict[str, Any]:
    now = time.time()
    stamp = timezone.now()
    beats = workers.beats()
    held: dict[str, list[dict[str, Any]]] = {}
    for job in GenerationJob.objects.filter(status=GenerationJob.Status.PROCESSING).order_by("updated_at"):
        held.setdefault(job.lease_owner or "", []).append(_job_row(job))
    rows = [{**workers.as_dict(beat, now), "held": held.pop(beat.worker_id, [])} for beat in beats]
    # Processing jobs whose owner left no heartbeat at all (or it expired): also waiting for a takeover.
    orphans = [job for jobs in held.values() for job in jobs]
    queued = GenerationJob.objects.filter(status=GenerationJob.Status.QUEUED)
    oldest = queued.order_by("queued_at").values_list("queued_at", flat=True).first()
    recent = stamp - timedelta(minutes=RATE_WINDOW_MINUTES)
    completed_recently = GenerationJob.objects.filter(
        status=GenerationJob.Status.COMPLETED, updated_at__gte=recent
    ).count()
    return {
        "workers": rows,
        "live_workers": sum(1 for w in rows if not w["lost"]),
        "lost_workers": sum(1 for w in rows if w["lost"]),
        "orphans": orphans,
        "queue_depth": queued.count(),
        "oldest_queued_seconds": (stamp - oldest).total_seconds() if oldest else None,
        "jobs_per_minute": round(completed_recently / RATE_WINDOW_MINUTES, 1),
        "rate_window_minutes": RATE_WINDOW_MINUTES,
        "failures_last_hour": GenerationJob.objects.filter(
            status=GenerationJob.Status.FAILED, updated_at__gte=stamp - timedelta(hours=1)
        ).count(),
        "generated_at": stamp,
    }


_cache_lock = threading.Lock()
_cache: tuple[float, str] = (0.0, "")


def panel_html() -> str:
    global _cache
    with _cache_lock:
        expires, html = _cache
        if time.monotonic() < expires:
            return html
        html = render_to_string(f"{TEMPLATE}#ops-panel", {"ops": snapshot()})
        _cache = (time.monotonic() + CACHE_SECONDS, html)
        return html


@staff_member_required
def ops_page(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, {"ops": snapshot()})


async def _panels() -> AsyncIterator[Item]:
    render_panel = sync_to_async(panel_html, thread_sensitive=False)
    yield Item(type="progress", data={"html": await render_panel()})
    async for _item in follow_group(group=events.OPS_GROUP, ping_interval=REFRESH_SECONDS):
        yield Item(type="progress", data={"html": await render_panel()})


def _encode(item: Item) -> bytes:
    return sse_frame(item, one_line(str(item.data["html"])))


async def ops_live(request: HttpRequest) -> HttpResponseBase:
    user = await request_user(request, token=False)
    if user is None or not user.is_staff:
        return JsonResponse({"detail": "Staff only."}, status=403 if user is not None else 401)
    recheck = request_recheck(request, user, token=False, staff=True)
    return await serve_live(user, _panels(), _encode, recheck=recheck)
