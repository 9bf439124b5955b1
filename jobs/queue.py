"""Waking idle workers when work arrives, instead of letting them poll the queue in a tight loop."""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

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
