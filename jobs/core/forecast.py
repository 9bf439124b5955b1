"""When queued work starts and ends: each queued job's estimated start and completion, and a batch's.

The queue is simulated on the live workers' slots: the jobs in flight free their slots as their estimates
say, and each queued job goes, oldest first, to the slot that frees first, as the workers' claims do. A
job's own duration is jobs.core.eta's expectation for its mode, stages and word count.
"""

from __future__ import annotations

import datetime as dt
import heapq
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from contentgen import mongo
from jobs.core import claiming, events, store, workers
from jobs.core.eta import Estimator
from jobs.models import GenerationJob, Progress
from progress.ttlcache import Recent


def forecast_lanes(
    *, lanes: Sequence[float], ahead: Sequence[float], own: Sequence[float]
) -> list[tuple[float, float]]:
    """Start and end offsets (seconds from now) for `own` jobs queued after `ahead` jobs.

    `lanes` holds, per worker slot, the seconds until it is free (0 for an idle slot). Each job goes
    to the slot that frees first, like the workers' claims do.
    """
    heap = list(lanes) or [0.0]
    heapq.heapify(heap)
    for seconds in ahead:
        heapq.heappush(heap, heapq.heappop(heap) + seconds)
    out = []
    for seconds in own:
        start = heapq.heappop(heap)
        out.append((start, start + seconds))
        heapq.heappush(heap, start + seconds)
    return out


def worker_slots() -> int:
    """Slots of live workers, from their heartbeats in Redis (0 when no worker runs)."""
    return workers.live_worker_slots()


@dataclass(frozen=True)
class _Queued:
    """What a forecast needs of a job ahead in the queue."""

    mode: str
    word_count: int


def queue_forecast(jobs: Sequence[Any]) -> list[tuple[dt.datetime, dt.datetime, dt.datetime, dt.datetime]]:
    """(estimated_start, completion, low, high) for each of the newly queued `jobs` (not yet saved), in
    order; [] while no worker runs."""
    slots = worker_slots()
    if not jobs or slots <= 0:
        return []
    now = dt.datetime.now(dt.UTC)
    first = min(job.queued_at for job in jobs)
    ahead = claiming.queued_before(first, ["mode", "word_count"])[:2000]
    ahead_jobs = [_Queued(doc["mode"], doc["word_count"]) for doc in ahead]
    in_flight = [
        max(0.0, (store.aware(ends) - now).total_seconds())
        for doc in store.running(["progress.estimated_completion"])[:1000]
        if (ends := (doc.get("progress") or {}).get("estimated_completion"))
    ]
    lanes = sorted(in_flight)[:slots] + [0.0] * max(0, slots - len(in_flight))
    estimators = [Estimator.for_job(job) for job in jobs]
    own = [estimator.total_expected() for estimator in estimators]
    spans = forecast_lanes(
        lanes=lanes, ahead=[Estimator.for_job(j).total_expected() for j in ahead_jobs], own=own
    )
    out = []
    for estimator, (start, end) in zip(estimators, spans, strict=True):
        spread = sum(estimator.stage_expected(s) * estimator.models[s].spread for s in estimator.models)
        out.append(
            (
                now + dt.timedelta(seconds=start),
                now + dt.timedelta(seconds=end),
                now + dt.timedelta(seconds=max(start, end - spread)),
                now + dt.timedelta(seconds=end + spread * 1.5),
            )
        )
    return out


# Every batch event (a member's stage change) estimates the batch again. The expected durations of its
# queued members are kept per batch for BULK_QUEUED_TTL seconds instead of read each time: a 500-job batch
# read 500 documents per event. A member claimed meanwhile counts as queued for at most that long.
BULK_QUEUED_TTL = 1.0
_bulk_queued: Recent[Any, list[float]] = Recent(ttl=BULK_QUEUED_TTL)


def _queued_durations(bulk_pk: Any) -> list[float]:
    """Expected seconds of each queued member of the batch, in no particular order."""
    queued = GenerationJob.objects.filter(bulk_job_id=bulk_pk, status=GenerationJob.Status.QUEUED)
    return [Estimator.for_job(job).total_expected() for job in queued.only("mode", "word_count")]


def estimate_bulk_completion(*, bulk: Any, in_flight: Sequence[Any]) -> dt.datetime | None:
    """When the batch's last job ends: in-flight jobs finish, queued ones run on the slots it gets now."""
    now = dt.datetime.now(dt.UTC)
    queued = _bulk_queued.get(bulk.pk, lambda: _queued_durations(bulk.pk))
    if not queued and not in_flight:
        return None
    flight_left = [
        max(0.0, (job.progress.estimated_completion - now).total_seconds())
        for job in in_flight
        if job.progress.estimated_completion
    ]
    parallelism = max(1, len(in_flight), min(worker_slots(), len(queued) + len(in_flight)))
    lanes = sorted(flight_left)[:parallelism] + [0.0] * max(0, parallelism - len(flight_left))
    spans = forecast_lanes(lanes=lanes, ahead=[], own=queued)
    last = max([end for _, end in spans] + lanes)
    return now + dt.timedelta(seconds=last)


# The queue moves whenever a job is claimed or finishes: every queued job's estimated start (and finish)
# is recomputed then. Bounded: the first REFRESH_LIMIT queued jobs, at most once per REFRESH_INTERVAL
# per process, and only a job whose start moved by MIN_SHIFT or more is written and sent an event.
REFRESH_LIMIT = 200
REFRESH_INTERVAL = 2.0
MIN_SHIFT = dt.timedelta(seconds=10)


class Throttle:
    """True at most once per `interval` seconds in this process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._lock = threading.Lock()

    def due(self, *, force: bool = False) -> bool:
        with self._lock:
            clock = time.monotonic()
            if not force and clock - self._last < self.interval:
                return False
            self._last = clock
            return True


refresh_throttle = Throttle(REFRESH_INTERVAL)


def queue_refresh_estimates(*, force: bool = False) -> int:
    """Fresh estimates for the queued jobs; returns how many changed. A job claimed meanwhile is left alone
    (the update is conditional on it still being queued)."""
    if not refresh_throttle.due(force=force):
        return 0
    docs = claiming.window.head(REFRESH_LIMIT, timezone.now())
    queued = [mongo.instance(GenerationJob, doc) for doc in docs]
    changed = 0
    for job, (start, eta, low, high) in zip(queued, queue_forecast(queued), strict=False):
        p = job.progress
        if p.estimated_start is not None and abs(start - p.estimated_start) < MIN_SHIFT:
            continue
        p.estimated_start, p.estimated_completion = start, eta
        p.estimated_completion_low, p.estimated_completion_high = low, high

        def estimate(job: GenerationJob = job, p: Progress = p) -> int:
            return store.update_job({"_id": job.pk, "status": store.QUEUED}, progress=p)

        # Like a claim, skipped when another transaction holds the job: a plain write would wait it out.
        if store.uncontended(estimate) == 1:
            events.job_emit(job=job)
            changed += 1
    return changed
