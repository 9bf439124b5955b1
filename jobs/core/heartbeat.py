"""Worker heartbeats in Redis: who runs, where, since when, with which jobs, and when it last beat.

Redis rather than MongoDB: a beat is a small overwrite every few seconds per worker that nobody needs
after the worker is gone, Redis is already where workers announce their slots (jobs.core.workers), and it
keeps those writes off the database that claims and progress snapshots contend for. A worker that
stops beating for a lease is shown as lost; entries older than KEEP_SECONDS are dropped on read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from jobs.core.workers import client
from progress.layer import sender

logger = logging.getLogger("jobs.heartbeat")

BEATS_KEY = "contentgen:worker-beats"
OPS_GROUP = "ops"
KEEP_SECONDS = 3600.0


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


def beat(record: Beat, *, jobs: list[str]) -> None:
    record.jobs = jobs
    record.last_beat = time.time()
    data = asdict(record)
    try:
        client().hset(BEATS_KEY, record.worker_id, json.dumps(data))
    except redis.RedisError as exc:
        logger.warning("worker heartbeat not recorded: %s", exc)
        return
    # Pages following the ops group re-render on each beat.
    sender().send(
        OPS_GROUP, {"type": "progress.event", "event": "heartbeat", "stream_id": OPS_GROUP, "data": data}
    )


def forget(worker_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client().hdel(BEATS_KEY, worker_id)
    sender().send(
        OPS_GROUP,
        {
            "type": "progress.event",
            "event": "stopped",
            "stream_id": OPS_GROUP,
            "data": {"worker_id": worker_id},
        },
    )


def beats() -> list[Beat]:
    """Every worker that beat within KEEP_SECONDS, newest first; older entries are removed."""
    try:
        entries = client().hgetall(BEATS_KEY)
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
            client().hdel(BEATS_KEY, *stale)
    return sorted(out, key=lambda b: b.started, reverse=True)


def as_dict(record: Beat, now: float | None = None) -> dict[str, Any]:
    return {**asdict(record), "age": round(record.age(now), 1), "lost": record.lost(now)}
