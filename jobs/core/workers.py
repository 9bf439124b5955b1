"""The one registry of live workers, and the Redis channels that wake them.

Each `run_worker` process keeps one record here, rewritten by its heartbeat three times per lease: who it
is, where, since when, its slots and the jobs it runs. The queue forecast counts the slots of the workers
that beat and are not stopping; the lease watch gives a job whose worker still beats time to hand it back;
/ops/ shows them all. A worker silent for a lease is lost; records older than KEEP_SECONDS are dropped.

Redis rather than MongoDB: a beat is a small overwrite that nobody needs once the worker is gone, and it
stays off the database that claims and progress snapshots contend for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from contentgen.redisconn import client
from jobs.core.events import OPS_GROUP
from progress.layer import sender

logger = logging.getLogger("jobs.heartbeat")
queue_logger = logging.getLogger("jobs.queue")

REGISTRY_KEY = "contentgen:worker-beats"
KEEP_SECONDS = 3600.0
# A job was queued or a slot came free: idle workers claim.
QUEUE_CHANNEL = "contentgen:queue"
# Job ids whose cancel was requested: the worker running one stops it at its next step.
CANCEL_CHANNEL = "contentgen:cancel"
# A knowledge-base source was added, or an index needs building: idle ingestion loops look.
SOURCES_CHANNEL = "contentgen:sources"


@dataclass
class Beat:
    worker_id: str
    host: str
    pid: int
    started: float
    concurrency: int
    lease_seconds: float
    jobs: list[str] = field(default_factory=list)
    last_beat: float = 0.0
    stopping: bool = False

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.last_beat

    def lost(self, now: float | None = None) -> bool:
        return self.age(now) > self.lease_seconds


def new_beat(*, worker_id: str, concurrency: int, lease_seconds: float) -> Beat:
    return Beat(
        worker_id=worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        started=time.time(),
        concurrency=concurrency,
        lease_seconds=lease_seconds,
    )


def _to_ops(event: str, data: dict[str, Any]) -> None:
    """/ops/ pages following the ops group re-render on each beat."""
    sender().send(OPS_GROUP, {"type": "progress.event", "event": event, "stream_id": OPS_GROUP, "data": data})


def beat(record: Beat, *, jobs: list[str], stopping: bool = False) -> None:
    record.jobs, record.stopping, record.last_beat = jobs, stopping, time.time()
    data = asdict(record)
    try:
        client().hset(REGISTRY_KEY, record.worker_id, json.dumps(data))
    except redis.RedisError as exc:
        logger.warning("worker heartbeat not recorded: %s", exc)
        return
    _to_ops("heartbeat", data)


def forget(worker_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client().hdel(REGISTRY_KEY, worker_id)
    _to_ops("stopped", {"worker_id": worker_id})


def beats() -> list[Beat]:
    """Every worker that beat within KEEP_SECONDS, newest first; older entries are removed."""
    try:
        entries = client().hgetall(REGISTRY_KEY)
    except redis.RedisError as exc:
        logger.warning("worker heartbeats unreadable: %s", exc)
        return []
    now, out, stale = time.time(), [], []
    for key, value in entries.items():
        try:
            record = Beat(**json.loads(value))
        except (TypeError, ValueError):
            stale.append(key)
            continue
        if record.age(now) > KEEP_SECONDS:
            stale.append(key)
        else:
            out.append(record)
    if stale:
        with contextlib.suppress(redis.RedisError):
            client().hdel(REGISTRY_KEY, *stale)
    return sorted(out, key=lambda b: b.started, reverse=True)


def live_workers() -> dict[str, int]:
    """Workers that beat within their lease and are not stopping, with their slots. Empty when Redis is
    unreachable."""
    now = time.time()
    return {b.worker_id: b.concurrency for b in beats() if not b.lost(now) and not b.stopping}


def live_worker_slots() -> int:
    return sum(live_workers().values())


def as_dict(record: Beat, now: float | None = None) -> dict[str, Any]:
    return {**asdict(record), "age": round(record.age(now), 1), "lost": record.lost(now)}


def notify_queued() -> None:
    try:
        client().publish(QUEUE_CHANNEL, b"1")
    except redis.RedisError as exc:  # workers still find the job on their next backoff pass
        queue_logger.warning("could not notify workers: %s", exc)


def notify_sources() -> None:
    try:
        client().publish(SOURCES_CHANNEL, b"1")
    except redis.RedisError as exc:  # the ingestion loops still look on their next pass
        queue_logger.warning("could not notify the ingestion loops: %s", exc)


def notify_cancel(job_ids: Iterable[Any]) -> None:
    """The flag in MongoDB is the truth; this only makes the worker see it before its next lease renewal."""
    with contextlib.suppress(redis.RedisError):
        pipe = client().pipeline(transaction=False)
        for pk in job_ids:
            pipe.publish(CANCEL_CHANNEL, str(pk).encode())
        pipe.execute()
