"""Waking idle workers when work arrives, instead of letting them poll the queue in a tight loop."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger("jobs.queue")

QUEUE_CHANNEL = "contentgen:queue"
_client: redis.Redis | None = None
_lock = threading.Lock()


def client() -> redis.Redis:
    global _client
    with _lock:
        if _client is None:
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        return _client


def notify_queued() -> None:
    try:
        client().publish(QUEUE_CHANNEL, b"1")
    except redis.RedisError as exc:  # workers still find the job on their next backoff pass
        logger.warning("could not notify workers: %s", exc)


WORKERS_KEY = "contentgen:workers"


def worker_heartbeat(*, worker_id: str, slots: int, ttl: float) -> None:
    """Announce a live worker and its slots; read by the queue forecast. Expires unless renewed."""
    try:
        client().hset(WORKERS_KEY, worker_id, f"{slots}:{time.time() + ttl:.0f}")
    except redis.RedisError as exc:
        logger.warning("worker heartbeat failed: %s", exc)


def worker_gone(*, worker_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        client().hdel(WORKERS_KEY, worker_id)


def live_workers() -> dict[str, int]:
    """Workers whose heartbeat has not expired, with their slots. Empty when Redis is unreachable."""
    try:
        entries = client().hgetall(WORKERS_KEY)
    except redis.RedisError:
        return {}
    now, live, stale = time.time(), {}, []
    for worker_id, value in entries.items():
        name = worker_id.decode() if isinstance(worker_id, bytes) else str(worker_id)
        text = value.decode() if isinstance(value, bytes) else str(value)
        count, _, expires = text.partition(":")
        if float(expires or 0) < now:
            stale.append(worker_id)
        else:
            live[name] = int(count or 0)
    if stale:
        with contextlib.suppress(redis.RedisError):
            client().hdel(WORKERS_KEY, *stale)
    return live


def live_worker_slots() -> int:
    return sum(live_workers().values())
