"""The process's Redis client for the apps' short calls (queue wake-ups, the workers' registry, hints and
locks): one connection pool, 2 s timeouts, so an unreachable Redis costs a call seconds, never a hang."""

from __future__ import annotations

import functools

import redis
from django.conf import settings

TIMEOUT_SECONDS = 2.0


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
